//! What applying a batch computes the same way on both backends, and the outcome and compression
//! dictionary tables.

use std::collections::{BTreeMap, HashMap, HashSet};

use sentinel_store::{NewEvent, StoreError};

/// An issue of a batch: `(project, grouping hash)`.
pub type IssueKey<'a> = (i64, &'a str);

/// Per-issue aggregate of the new events of one batch.
pub struct IssueAgg<'a> {
    /// The event whose title, culprit, message and platform a new issue takes.
    pub first: &'a NewEvent,
    /// The latest event by timestamp: its level becomes the issue's.
    pub last: &'a NewEvent,
    pub count: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    /// The issue's events in batch order.
    pub events: Vec<&'a NewEvent>,
}

/// The new events of a batch per issue, sorted by key.
pub fn issue_aggregates<'a>(events: &[&'a NewEvent]) -> BTreeMap<IssueKey<'a>, IssueAgg<'a>> {
    let mut aggs: BTreeMap<IssueKey, IssueAgg> = BTreeMap::new();
    for &ev in events {
        let agg = aggs
            .entry((ev.project_id, ev.grouping_hash.as_str()))
            .or_insert(IssueAgg {
                first: ev,
                last: ev,
                count: 0,
                first_seen: ev.timestamp_ms,
                last_seen: ev.timestamp_ms,
                events: Vec::new(),
            });
        agg.count += 1;
        agg.events.push(ev);
        if ev.timestamp_ms < agg.first_seen {
            agg.first_seen = ev.timestamp_ms;
        }
        if ev.timestamp_ms >= agg.last_seen {
            agg.last_seen = ev.timestamp_ms;
            agg.last = ev;
        }
    }
    aggs
}

/// An existing issue's workflow state before a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueState {
    pub status: String,
    pub times_seen: i64,
    pub resolved_in_release: Option<String>,
    pub ignore_until_ms: Option<i64>,
    pub ignore_until_count: Option<i64>,
}

/// Why a batch's events reopen an issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reopen {
    /// A resolved issue saw an event again: `set_regression`, with the release of the (newest)
    /// event that reopened it when it has one.
    Regression { release: Option<String> },
    /// An ignored issue's condition was met: `set_unresolved` for `ignore_expired`.
    IgnoreExpired,
}

impl Reopen {
    /// The activity entry that records it: kind and JSON data.
    pub fn activity(&self) -> (&'static str, Option<String>) {
        match self {
            Reopen::Regression { release } => (
                "set_regression",
                release
                    .as_ref()
                    .map(|r| serde_json::json!({ "release": r }).to_string()),
            ),
            Reopen::IgnoreExpired => (
                "set_unresolved",
                Some(serde_json::json!({ "reason": "ignore_expired" }).to_string()),
            ),
        }
    }
}

/// Whether the batch's new events of an issue (`agg`) reopen it, given its state before.
///
/// A resolved issue regresses on any event, except when it was resolved in a release: events of
/// that release or without one leave it resolved. An ignored issue reopens when an event arrives
/// at or after its `ignore_until_ms`, or when its count reaches `ignore_until_count`.
pub fn reopen(prev: &IssueState, agg: &IssueAgg) -> Option<Reopen> {
    match prev.status.as_str() {
        "resolved" => {
            let pinned = prev.resolved_in_release.as_deref();
            let reopening = |ev: &NewEvent| match (pinned, ev.release.as_deref()) {
                (Some(pinned), Some(release)) => release != pinned,
                (Some(_), None) => false,
                (None, _) => true,
            };
            // The newest reopening event names the release; ties go to the later in the batch.
            let newest = agg.events.iter().copied().filter(|ev| reopening(ev)).fold(
                None::<&NewEvent>,
                |best, ev| match best {
                    Some(b) if b.timestamp_ms > ev.timestamp_ms => Some(b),
                    _ => Some(ev),
                },
            )?;
            Some(Reopen::Regression {
                release: newest.release.clone(),
            })
        }
        "ignored" => {
            let by_time = prev
                .ignore_until_ms
                .is_some_and(|until| agg.events.iter().any(|ev| ev.received_ms >= until));
            let by_count = prev
                .ignore_until_count
                .is_some_and(|count| prev.times_seen.saturating_add(agg.count) >= count);
            (by_time || by_count).then_some(Reopen::IgnoreExpired)
        }
        _ => None,
    }
}

/// The id the batch's issue upsert gave `ev`'s issue.
pub fn issue_id(ids: &HashMap<IssueKey, i64>, ev: &NewEvent) -> Result<i64, StoreError> {
    ids.get(&(ev.project_id, ev.grouping_hash.as_str()))
        .copied()
        .ok_or_else(|| StoreError::Corrupt("event without an issue id".into()))
}

/// `(issue, key, value)` → `(count, first seen, last seen)`, sorted by key.
pub type TagCounts<'a> = BTreeMap<(i64, &'a str, &'a str), (i64, i64, i64)>;

/// The tag values of the batch's new events, counted per issue.
pub fn tag_counts<'a>(
    events: &[&'a NewEvent],
    ids: &HashMap<IssueKey, i64>,
) -> Result<TagCounts<'a>, StoreError> {
    let mut agg = TagCounts::new();
    for &ev in events {
        let issue = issue_id(ids, ev)?;
        for (k, v) in &ev.tags {
            let e =
                agg.entry((issue, k.as_str(), v.as_str()))
                    .or_insert((0, ev.timestamp_ms, ev.timestamp_ms));
            e.0 += 1;
            e.1 = e.1.min(ev.timestamp_ms);
            e.2 = e.2.max(ev.timestamp_ms);
        }
    }
    Ok(agg)
}

/// `(issue, key)` → `(tagged events, values new to the issue)`, sorted by key: what a batch adds
/// to `issue_tag_keys`.
pub type KeyTotals<'a> = BTreeMap<(i64, &'a str), (i64, i64)>;

/// What the batch's tag values `tags` add to their keys' totals, given the count the
/// `issue_tag_values` upsert left in each row (`stored`, in any order). A row whose stored count
/// is just the batch's was inserted by it: stored counts start at 1, so an existing row ends
/// above the batch's count.
pub fn key_totals<'a>(
    tags: &TagCounts<'a>,
    stored: &[(i64, String, String, i64)],
) -> Result<KeyTotals<'a>, StoreError> {
    let mut inserted: HashSet<(i64, &str, &str)> = HashSet::new();
    for (issue, key, value, count) in stored {
        let row = (*issue, key.as_str(), value.as_str());
        let &(added, _, _) = tags
            .get(&row)
            .ok_or_else(|| StoreError::Corrupt("tag value upsert returned a row it was not given".into()))?;
        if *count == added {
            inserted.insert(row);
        }
    }
    let mut totals = KeyTotals::new();
    for (&(issue, key, value), &(count, _, _)) in tags {
        let t = totals.entry((issue, key)).or_default();
        t.0 += count;
        t.1 += i64::from(inserted.contains(&(issue, key, value)));
    }
    Ok(totals)
}

/// Stamps out, in the invoking module, `outcome_totals`, `save_dict` and `dicts` for `db` (the
/// sqlx database), mapping errors with `db_err`.
#[macro_export]
macro_rules! outcomes_and_dicts {
    (db: $db:ty, db_err: $db_err:path $(,)?) => {
        pub async fn outcome_totals(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            since_ms: i64,
            until_ms: i64,
        ) -> Result<
            Vec<$crate::__private::sentinel_store::OutcomeCount>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx::Row as _;
            let rows = $crate::__private::sqlx::query(
                "SELECT category, outcome, reason, CAST(sum(quantity) AS BIGINT) FROM outcomes \
                 WHERE project_id = $1 AND minute_ms >= $2 AND minute_ms < $3 \
                 GROUP BY category, outcome, reason ORDER BY category, outcome, reason",
            )
            .bind(project_id)
            .bind(since_ms)
            .bind(until_ms)
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            rows.iter()
                .map(|r| {
                    Ok($crate::__private::sentinel_store::OutcomeCount {
                        project_id,
                        minute_ms: since_ms,
                        category: r.try_get(0).map_err($db_err)?,
                        outcome: r.try_get(1).map_err($db_err)?,
                        reason: r.try_get(2).map_err($db_err)?,
                        quantity: r.try_get::<i64, _>(3).map_err($db_err)? as u64,
                    })
                })
                .collect()
        }

        pub async fn save_dict(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            bytes: &[u8],
            now_ms: i64,
        ) -> Result<i64, $crate::__private::sentinel_store::StoreError> {
            $crate::__private::sqlx::query_scalar(
                "INSERT INTO compression_dicts (project_id, created_ms, dict) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(project_id)
            .bind(now_ms)
            .bind(bytes)
            .fetch_one(pool)
            .await
            .map_err($db_err)
        }

        pub async fn dicts(
            pool: &$crate::__private::sqlx::Pool<$db>,
        ) -> Result<
            Vec<$crate::__private::sentinel_store::CompressionDict>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx::Row as _;
            let rows = $crate::__private::sqlx::query(
                "SELECT id, project_id, created_ms, dict FROM compression_dicts ORDER BY id",
            )
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            rows.iter()
                .map(|r| {
                    Ok($crate::__private::sentinel_store::CompressionDict {
                        id: r.try_get(0).map_err($db_err)?,
                        project_id: r.try_get(1).map_err($db_err)?,
                        created_ms: r.try_get(2).map_err($db_err)?,
                        bytes: r.try_get(3).map_err($db_err)?,
                    })
                })
                .collect()
        }
    };
}

#[cfg(test)]
mod tests {
    use sentinel_protocol::event::Level;
    use sentinel_protocol::ids::EventId;

    use super::*;

    fn event(n: u8, ts: i64, release: Option<&str>) -> NewEvent {
        NewEvent {
            project_id: 1,
            event_id: EventId::from_bytes([n; 16]),
            grouping_hash: "h".into(),
            title: "t".into(),
            culprit: "c".into(),
            message: None,
            level: Level::Error,
            platform: "python".into(),
            timestamp_ms: ts,
            received_ms: ts + 1,
            environment: None,
            release: release.map(str::to_owned),
            tags: Vec::new(),
            payload: Vec::new(),
            dict_id: 0,
        }
    }

    fn state(status: &str) -> IssueState {
        IssueState {
            status: status.into(),
            times_seen: 10,
            resolved_in_release: None,
            ignore_until_ms: None,
            ignore_until_count: None,
        }
    }

    fn verdict(prev: &IssueState, events: &[NewEvent]) -> Option<Reopen> {
        let refs: Vec<&NewEvent> = events.iter().collect();
        let aggs = issue_aggregates(&refs);
        let agg = aggs.values().next().expect("one issue");
        reopen(prev, agg)
    }

    #[test]
    fn a_regression_names_the_release_of_the_newest_reopening_event() {
        let mut prev = state("resolved");
        prev.resolved_in_release = Some("1.0".into());
        let events = [
            event(1, 30, Some("1.0")),
            event(2, 20, Some("2.0")),
            event(3, 10, Some("3.0")),
            event(4, 40, None),
        ];
        assert_eq!(
            verdict(&prev, &events),
            Some(Reopen::Regression {
                release: Some("2.0".into())
            })
        );
        assert_eq!(
            verdict(&prev, &[event(1, 1, Some("1.0")), event(2, 2, None)]),
            None
        );
    }

    #[test]
    fn an_ignore_expires_at_its_time_or_count_and_not_before() {
        let mut prev = state("ignored");
        prev.ignore_until_ms = Some(100);
        prev.ignore_until_count = Some(13);
        assert_eq!(verdict(&prev, &[event(1, 98, None), event(2, 50, None)]), None);
        assert_eq!(verdict(&prev, &[event(1, 99, None)]), Some(Reopen::IgnoreExpired));
        let three = [event(1, 1, None), event(2, 2, None), event(3, 3, None)];
        assert_eq!(verdict(&prev, &three), Some(Reopen::IgnoreExpired));
        assert_eq!(verdict(&state("ignored"), &three), None, "ignored for ever");
        assert_eq!(verdict(&state("unresolved"), &three), None);
    }
}
