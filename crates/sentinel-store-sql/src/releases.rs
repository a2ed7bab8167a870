//! Releases and their health: what a batch adds to them, computed the same way on both backends,
//! and the statements that write and read them (stamped out per backend by [`releases!`]).

use std::collections::BTreeMap;

use sentinel_store::{NewEvent, SessionCounts};

/// A release of a batch: `(project, version)`.
pub type ReleaseKey<'a> = (i64, &'a str);

/// What one batch adds to one release row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseDelta {
    pub first_seen: i64,
    pub last_seen: i64,
    pub first_event: Option<i64>,
    pub last_event: Option<i64>,
    pub events: i64,
    pub new_issues: i64,
    pub sessions: i64,
    pub errored: i64,
    pub abnormal: i64,
    pub crashed: i64,
    /// Filled in by the backend once it knows which users are new to the release.
    pub users: i64,
    pub users_crashed: i64,
}

/// The delta of `key`, created as first and last seen at `at`, and marked seen at `at`.
fn seen<'a, 'b>(
    out: &'b mut BTreeMap<ReleaseKey<'a>, ReleaseDelta>,
    key: ReleaseKey<'a>,
    at: i64,
) -> &'b mut ReleaseDelta {
    let d = out.entry(key).or_insert_with(|| ReleaseDelta {
        first_seen: at,
        last_seen: at,
        ..Default::default()
    });
    d.first_seen = d.first_seen.min(at);
    d.last_seen = d.last_seen.max(at);
    d
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Per release, sorted by `(project, version)` (PostgreSQL's lock order for `releases` rows):
/// the batch's new events (by timestamp), the issues it created whose first event named the
/// release (`new_issue_releases`, one entry per issue), and its session counts (by arrival).
pub fn release_deltas<'a>(
    events: &[&'a NewEvent],
    new_issue_releases: &[ReleaseKey<'a>],
    sessions: &'a [SessionCounts],
) -> BTreeMap<ReleaseKey<'a>, ReleaseDelta> {
    let mut out: BTreeMap<ReleaseKey, ReleaseDelta> = BTreeMap::new();
    for ev in events {
        let Some(release) = ev.release.as_deref().filter(|r| !r.is_empty()) else {
            continue;
        };
        let d = seen(&mut out, (ev.project_id, release), ev.timestamp_ms);
        d.first_event = Some(d.first_event.map_or(ev.timestamp_ms, |t| t.min(ev.timestamp_ms)));
        d.last_event = Some(d.last_event.map_or(ev.timestamp_ms, |t| t.max(ev.timestamp_ms)));
        d.events += 1;
    }
    for key in new_issue_releases {
        if let Some(d) = out.get_mut(key) {
            d.new_issues += 1;
        }
    }
    for s in sessions {
        let d = seen(&mut out, (s.project_id, s.release.as_str()), s.received_ms);
        d.sessions += count(s.sessions);
        d.errored += count(s.errored);
        d.abnormal += count(s.abnormal);
        d.crashed += count(s.crashed);
    }
    out
}

/// `(project, version, user hash)` → had a crashed session, sorted (the lock order of
/// `release_users` rows).
pub fn release_users(sessions: &[SessionCounts]) -> BTreeMap<(i64, &str, i64), bool> {
    let mut out: BTreeMap<(i64, &str, i64), bool> = BTreeMap::new();
    for s in sessions {
        for &(hash, crashed) in &s.users {
            *out.entry((s.project_id, s.release.as_str(), hash)).or_default() |= crashed;
        }
    }
    out
}

/// `SELECT` of a release's columns, in the order [`releases!`] maps them.
pub const RELEASE_COLUMNS: &str = "SELECT id, project_id, version, first_seen_ms, last_seen_ms, first_event_ms, \
     last_event_ms, events, new_issues, sessions, sessions_errored, sessions_abnormal, sessions_crashed, \
     users, users_crashed FROM releases";

/// Stamps out, in the invoking module, `write_releases` (inside a batch transaction), `list`,
/// `get` and `new_issues` for `db` (the sqlx database), mapping read errors with `db_err` and
/// issue rows with `issue_row`. Writes answer `sqlx::Error`, so a backend can tell retryable
/// conflicts apart.
///
/// Within a batch, `release_users` rows are written before `releases` rows, each in key order.
#[macro_export]
macro_rules! releases {
    (db: $db:ty, db_err: $db_err:path, issue_row: $issue_row:path $(,)?) => {
        /// Rows per statement: far below both backends' limits on bound parameters.
        const RELEASE_ROWS_PER_STATEMENT: usize = 400;

        /// Adds the batch's events, new issues and sessions to their releases, and its users to
        /// `release_users` (counting the ones new to a release, and the ones newly crashed).
        pub async fn write_releases(
            conn: &mut <$db as $crate::__private::sqlx::Database>::Connection,
            events: &[&$crate::__private::sentinel_store::NewEvent],
            new_issue_releases: &[$crate::ReleaseKey<'_>],
            sessions: &[$crate::__private::sentinel_store::SessionCounts],
        ) -> Result<(), $crate::__private::sqlx::Error> {
            use $crate::__private::sqlx::{self, QueryBuilder, Row as _};
            let mut deltas = $crate::release_deltas(events, new_issue_releases, sessions);
            if deltas.is_empty() {
                return Ok(());
            }
            let users: Vec<_> = $crate::release_users(sessions).into_iter().collect();
            for chunk in users.chunks(RELEASE_ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new("INSERT INTO release_users (project_id, version, user_hash, crashed) ");
                qb.push_values(chunk, |mut b, ((p, v, h), c)| {
                    b.push_bind(*p).push_bind(v.to_string()).push_bind(*h).push_bind(*c);
                });
                qb.push(
                    " ON CONFLICT (project_id, version, user_hash) DO NOTHING \
                     RETURNING project_id, version, crashed",
                );
                for row in qb.build().fetch_all(&mut *conn).await? {
                    let project_id: i64 = row.try_get(0)?;
                    let version: String = row.try_get(1)?;
                    let crashed: bool = row.try_get(2)?;
                    let key = deltas.keys().copied().find(|k| *k == (project_id, version.as_str()));
                    if let Some(d) = key.and_then(|k| deltas.get_mut(&k)) {
                        d.users += 1;
                        d.users_crashed += i64::from(crashed);
                    }
                }
            }
            // Users known before whose session crashed now: per release, in key order.
            let mut crashed: std::collections::BTreeMap<(i64, &str), Vec<i64>> =
                std::collections::BTreeMap::new();
            for ((p, v, h), c) in &users {
                if *c {
                    crashed.entry((*p, *v)).or_default().push(*h);
                }
            }
            for ((p, v), hashes) in crashed {
                for chunk in hashes.chunks(RELEASE_ROWS_PER_STATEMENT) {
                    let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                        "UPDATE release_users SET crashed = TRUE WHERE crashed = FALSE AND project_id = ",
                    );
                    qb.push_bind(p).push(" AND version = ").push_bind(v.to_string());
                    qb.push(" AND user_hash IN (");
                    let mut sep = qb.separated(", ");
                    for h in chunk {
                        sep.push_bind(*h);
                    }
                    qb.push(")");
                    let flipped = qb.build().execute(&mut *conn).await?.rows_affected();
                    if let Some(d) = deltas.get_mut(&(p, v)) {
                        d.users_crashed += i64::try_from(flipped).unwrap_or(i64::MAX);
                    }
                }
            }
            let rows: Vec<_> = deltas.into_iter().collect();
            for chunk in rows.chunks(RELEASE_ROWS_PER_STATEMENT / 2) {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "INSERT INTO releases (project_id, version, first_seen_ms, last_seen_ms, first_event_ms, \
                     last_event_ms, events, new_issues, sessions, sessions_errored, sessions_abnormal, \
                     sessions_crashed, users, users_crashed) ",
                );
                qb.push_values(chunk, |mut b, ((p, v), d)| {
                    b.push_bind(*p)
                        .push_bind(v.to_string())
                        .push_bind(d.first_seen)
                        .push_bind(d.last_seen)
                        .push_bind(d.first_event)
                        .push_bind(d.last_event)
                        .push_bind(d.events)
                        .push_bind(d.new_issues)
                        .push_bind(d.sessions)
                        .push_bind(d.errored)
                        .push_bind(d.abnormal)
                        .push_bind(d.crashed)
                        .push_bind(d.users)
                        .push_bind(d.users_crashed);
                });
                qb.push(
                    " ON CONFLICT (project_id, version) DO UPDATE SET \
                     first_seen_ms = CASE WHEN excluded.first_seen_ms < releases.first_seen_ms \
                       THEN excluded.first_seen_ms ELSE releases.first_seen_ms END, \
                     last_seen_ms = CASE WHEN excluded.last_seen_ms > releases.last_seen_ms \
                       THEN excluded.last_seen_ms ELSE releases.last_seen_ms END, \
                     first_event_ms = CASE WHEN excluded.first_event_ms IS NULL THEN releases.first_event_ms \
                       WHEN releases.first_event_ms IS NULL OR excluded.first_event_ms < releases.first_event_ms \
                       THEN excluded.first_event_ms ELSE releases.first_event_ms END, \
                     last_event_ms = CASE WHEN excluded.last_event_ms IS NULL THEN releases.last_event_ms \
                       WHEN releases.last_event_ms IS NULL OR excluded.last_event_ms > releases.last_event_ms \
                       THEN excluded.last_event_ms ELSE releases.last_event_ms END, \
                     events = releases.events + excluded.events, \
                     new_issues = releases.new_issues + excluded.new_issues, \
                     sessions = releases.sessions + excluded.sessions, \
                     sessions_errored = releases.sessions_errored + excluded.sessions_errored, \
                     sessions_abnormal = releases.sessions_abnormal + excluded.sessions_abnormal, \
                     sessions_crashed = releases.sessions_crashed + excluded.sessions_crashed, \
                     users = releases.users + excluded.users, \
                     users_crashed = releases.users_crashed + excluded.users_crashed",
                );
                qb.build().execute(&mut *conn).await?;
            }
            Ok(())
        }

        fn release_row(
            r: &<$db as $crate::__private::sqlx::Database>::Row,
        ) -> Result<$crate::__private::sentinel_store::Release, $crate::__private::sentinel_store::StoreError> {
            use $crate::__private::sqlx::Row as _;
            let n = |i: usize| -> Result<u64, $crate::__private::sentinel_store::StoreError> {
                Ok(r.try_get::<i64, _>(i).map_err($db_err)?.max(0) as u64)
            };
            Ok($crate::__private::sentinel_store::Release {
                id: r.try_get(0).map_err($db_err)?,
                project_id: r.try_get(1).map_err($db_err)?,
                version: r.try_get(2).map_err($db_err)?,
                first_seen_ms: r.try_get(3).map_err($db_err)?,
                last_seen_ms: r.try_get(4).map_err($db_err)?,
                first_event_ms: r.try_get(5).map_err($db_err)?,
                last_event_ms: r.try_get(6).map_err($db_err)?,
                events: n(7)?,
                new_issues: n(8)?,
                sessions: n(9)?,
                sessions_errored: n(10)?,
                sessions_abnormal: n(11)?,
                sessions_crashed: n(12)?,
                users: n(13)?,
                users_crashed: n(14)?,
            })
        }

        pub async fn list(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            limit: usize,
            cursor: Option<&$crate::__private::sentinel_store::Cursor>,
        ) -> Result<
            $crate::__private::sentinel_store::Page<$crate::__private::sentinel_store::Release>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx::QueryBuilder;
            let limit = limit.max(1);
            let mut qb: QueryBuilder<$db> = QueryBuilder::new($crate::RELEASE_COLUMNS);
            qb.push(" WHERE project_id = ").push_bind(project_id);
            if let Some(c) = cursor {
                qb.push(" AND (first_seen_ms < ")
                    .push_bind(c.value)
                    .push(" OR (first_seen_ms = ")
                    .push_bind(c.value)
                    .push(" AND id < ")
                    .push_bind(c.id)
                    .push("))");
            }
            qb.push(" ORDER BY first_seen_ms DESC, id DESC LIMIT ")
                .push_bind(i64::try_from(limit + 1).unwrap_or(i64::MAX));
            let rows = qb.build().fetch_all(pool).await.map_err($db_err)?;
            let mut items = rows.iter().map(release_row).collect::<Result<Vec<_>, _>>()?;
            let next_cursor = if items.len() > limit {
                items.truncate(limit);
                items.last().map(|r| $crate::__private::sentinel_store::Cursor {
                    value: r.first_seen_ms,
                    id: r.id,
                })
            } else {
                None
            };
            Ok($crate::__private::sentinel_store::Page { items, next_cursor })
        }

        pub async fn get(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            version: &str,
        ) -> Result<
            Option<$crate::__private::sentinel_store::Release>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} WHERE project_id = $1 AND version = $2",
                $crate::RELEASE_COLUMNS
            )))
            .bind(project_id)
            .bind(version)
            .fetch_optional(pool)
            .await
            .map_err($db_err)?;
            row.as_ref().map(release_row).transpose()
        }

        pub async fn new_issues(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            version: &str,
            limit: usize,
        ) -> Result<
            Vec<$crate::__private::sentinel_store::Issue>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx;
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} WHERE project_id = $1 AND first_release = $2 ORDER BY first_seen_ms DESC, id DESC LIMIT $3",
                $crate::ISSUE_COLUMNS
            )))
            .bind(project_id)
            .bind(version)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            rows.iter().map($issue_row).collect()
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

    #[test]
    fn deltas_span_events_and_sessions_per_release_and_skip_events_without_one() {
        let events = [
            event(1, 300, Some("1.0")),
            event(2, 100, Some("1.0")),
            event(3, 200, None),
            event(4, 50, Some("")),
        ];
        let refs: Vec<&NewEvent> = events.iter().collect();
        let sessions = [SessionCounts {
            project_id: 1,
            release: "1.0".into(),
            received_ms: 500,
            sessions: 3,
            crashed: 1,
            users: vec![(7, false), (7, true), (8, false)],
            ..Default::default()
        }];
        let deltas = release_deltas(&refs, &[(1, "1.0"), (1, "2.0")], &sessions);
        assert_eq!(deltas.len(), 1);
        let d = &deltas[&(1, "1.0")];
        assert_eq!((d.first_seen, d.last_seen), (100, 500));
        assert_eq!((d.first_event, d.last_event), (Some(100), Some(300)));
        assert_eq!((d.events, d.new_issues, d.sessions, d.crashed), (2, 1, 3, 1));
        let users: Vec<_> = release_users(&sessions).into_iter().collect();
        assert_eq!(users, vec![((1, "1.0", 7), true), ((1, "1.0", 8), false)]);
    }
}
