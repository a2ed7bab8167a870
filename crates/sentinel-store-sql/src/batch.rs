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
            });
        agg.count += 1;
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
