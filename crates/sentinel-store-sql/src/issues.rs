//! Reading issues and events, and the issue workflow.

use sentinel_store::CountScope;

/// `SELECT` of issues, in the order [`issues!`] maps it.
pub const ISSUE_COLUMNS: &str = "SELECT id, project_id, title, culprit, message, level, status, platform, \
     first_seen_ms, last_seen_ms, times_seen FROM issues";

/// `SELECT` of an event's columns up to `release` (no `FROM`), in the order [`issues!`] maps it;
/// a backend reading one stored event appends `, payload, dict_id FROM events …`.
pub const EVENT_COLUMNS: &str = "SELECT id, event_id, project_id, issue_id, title, message, level, platform, \
     timestamp_ms, received_ms, environment, release";

/// Escapes `%`, `_` and `\` for a LIKE (or ILIKE) pattern used with `ESCAPE '\'`.
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The rollup rows `scope` counts: a filter on `project_id` and `issue_id` whose `$1` is the id it
/// answers.
pub fn count_filter(scope: CountScope) -> (&'static str, i64) {
    match scope {
        CountScope::Project(p) => ("project_id = $1 AND issue_id = 0", p),
        CountScope::Issue(i) => (
            "project_id = (SELECT project_id FROM issues WHERE id = $1) AND issue_id = $1",
            i,
        ),
    }
}

/// Stamps out, in the invoking module, the issue functions of a backend: `list`, `get`,
/// `set_status`, `tags`, `events` and `counts`, and the row mappings `issue`, `event_row` and
/// `stored_event` (an [`EVENT_COLUMNS`] row followed by `payload, dict_id`).
///
/// - `db`: the sqlx database (`sqlx::Sqlite`, `sqlx::Postgres`);
/// - `db_err`: the backend's `fn(sqlx::Error) -> StoreError`;
/// - `begin`: how a write transaction starts on a `&Pool<db>`, e.g. `|pool| pool.begin()`;
/// - `like`: the case-insensitive match operator of the text search (`"LIKE"` on SQLite, where
///   it already ignores ASCII case, `"ILIKE"` on PostgreSQL);
/// - `counts_sql`: a `fn(filter: &str) -> String` giving the event count query: rows of
///   `bucket, count` (as BIGINT) in bucket order, from the rollups matching `filter` (which binds
///   `$1`) between `$2` (inclusive) and `$3` in buckets of `$4` milliseconds. Bucketing is where
///   the backends' arithmetic differs.
#[macro_export]
macro_rules! issues {
    (
        db: $db:ty,
        db_err: $db_err:path,
        begin: |$pool:ident| $begin:expr,
        like: $like:literal,
        counts_sql: $counts_sql:path $(,)?
    ) => {
        fn issue(
            r: &<$db as $crate::__private::sqlx::Database>::Row,
        ) -> Result<$crate::__private::sentinel_store::Issue, $crate::__private::sentinel_store::StoreError> {
            use $crate::__private::sqlx::Row as _;
            let lvl: String = r.try_get(5).map_err($db_err)?;
            let status: String = r.try_get(6).map_err($db_err)?;
            Ok($crate::__private::sentinel_store::Issue {
                id: r.try_get(0).map_err($db_err)?,
                project_id: r.try_get(1).map_err($db_err)?,
                title: r.try_get(2).map_err($db_err)?,
                culprit: r.try_get(3).map_err($db_err)?,
                message: r.try_get(4).map_err($db_err)?,
                level: $crate::level(&lvl)?,
                status: $crate::parse_col(&status)?,
                platform: r.try_get(7).map_err($db_err)?,
                first_seen_ms: r.try_get(8).map_err($db_err)?,
                last_seen_ms: r.try_get(9).map_err($db_err)?,
                times_seen: r.try_get::<i64, _>(10).map_err($db_err)? as u64,
            })
        }

        pub async fn list(
            pool: &$crate::__private::sqlx::Pool<$db>,
            q: &$crate::__private::sentinel_store::IssueQuery,
        ) -> Result<
            $crate::__private::sentinel_store::Page<$crate::__private::sentinel_store::Issue>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::{Cursor, Issue, IssueSort, Page};
            let col = match q.sort {
                IssueSort::LastSeen => "last_seen_ms",
                IssueSort::FirstSeen => "first_seen_ms",
                IssueSort::TimesSeen => "times_seen",
            };
            let mut qb: $crate::__private::sqlx::QueryBuilder<$db> =
                $crate::__private::sqlx::QueryBuilder::new($crate::ISSUE_COLUMNS);
            qb.push(" WHERE project_id = ").push_bind(q.project_id);
            if let Some(status) = q.status {
                qb.push(" AND status = ").push_bind(status.as_str());
            }
            if let Some(level) = q.level {
                qb.push(" AND level = ").push_bind(level.as_str());
            }
            for (key, value) in [("environment", &q.environment), ("release", &q.release)] {
                if let Some(value) = value {
                    qb.push(
                        " AND EXISTS (SELECT 1 FROM issue_tag_values t WHERE t.issue_id = issues.id AND t.key = ",
                    )
                    .push_bind(key)
                    .push(" AND t.value = ")
                    .push_bind(value.clone())
                    .push(")");
                }
            }
            if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
                let pat = $crate::like_pattern(text);
                qb.push(concat!(" AND (title ", $like, " "))
                    .push_bind(pat.clone())
                    .push(concat!(" ESCAPE '\\' OR culprit ", $like, " "))
                    .push_bind(pat.clone())
                    .push(concat!(" ESCAPE '\\' OR message ", $like, " "))
                    .push_bind(pat)
                    .push(" ESCAPE '\\')");
            }
            if let Some(c) = q.cursor {
                qb.push(format_args!(" AND ({col} < "))
                    .push_bind(c.value)
                    .push(format_args!(" OR ({col} = "))
                    .push_bind(c.value)
                    .push(" AND id < ")
                    .push_bind(c.id)
                    .push("))");
            }
            let limit = q.limit.clamp(1, 1000);
            qb.push(format_args!(" ORDER BY {col} DESC, id DESC LIMIT "))
                .push_bind(limit as i64 + 1);
            let rows = qb.build().fetch_all(pool).await.map_err($db_err)?;
            let mut items: Vec<Issue> = rows.iter().map(issue).collect::<Result<_, _>>()?;
            let next_cursor = if items.len() > limit {
                items.truncate(limit);
                items.last().map(|i| Cursor {
                    value: match q.sort {
                        IssueSort::LastSeen => i.last_seen_ms,
                        IssueSort::FirstSeen => i.first_seen_ms,
                        IssueSort::TimesSeen => i.times_seen as i64,
                    },
                    id: i.id,
                })
            } else {
                None
            };
            Ok(Page { items, next_cursor })
        }

        pub async fn get(
            pool: &$crate::__private::sqlx::Pool<$db>,
            id: i64,
        ) -> Result<
            Option<$crate::__private::sentinel_store::Issue>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("{} WHERE id = $1", $crate::ISSUE_COLUMNS)))
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err($db_err)?;
            row.as_ref().map(issue).transpose()
        }

        pub async fn set_status(
            pool: &$crate::__private::sqlx::Pool<$db>,
            id: i64,
            status: $crate::__private::sentinel_store::IssueStatus,
            now_ms: i64,
        ) -> Result<$crate::__private::sentinel_store::Issue, $crate::__private::sentinel_store::StoreError> {
            use $crate::__private::sentinel_store::{IssueStatus, StoreError};
            use $crate::__private::sqlx;
            let mut tx = {
                let $pool = pool;
                $begin
            }
            .await
            .map_err($db_err)?;
            let done = sqlx::query("UPDATE issues SET status = $1 WHERE id = $2")
                .bind(status.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            if done.rows_affected() == 0 {
                tx.rollback().await.map_err($db_err)?;
                return Err(StoreError::NotFound {
                    what: "issue",
                    id: id.to_string(),
                });
            }
            let kind = match status {
                IssueStatus::Resolved => "set_resolved",
                IssueStatus::Unresolved => "set_unresolved",
                IssueStatus::Ignored => "set_ignored",
            };
            sqlx::query("INSERT INTO activity (issue_id, kind, created_ms) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(kind)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("{} WHERE id = $1", $crate::ISSUE_COLUMNS)))
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err($db_err)?;
            let updated = issue(&row)?;
            tx.commit().await.map_err($db_err)?;
            Ok(updated)
        }

        pub async fn tags(
            pool: &$crate::__private::sqlx::Pool<$db>,
            issue_id: i64,
            top: usize,
        ) -> Result<
            Vec<$crate::__private::sentinel_store::TagDistribution>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::{StoreError, TagDistribution, TagValueCount};
            use $crate::__private::sqlx::{self, Row as _};
            // Totals are kept per key by each batch, and each key's top values are the head of
            // `issue_tag_values_by_count`: a hot issue's near-unique tags (urls, users) run to
            // hundreds of thousands of values, too many to aggregate per page view.
            let totals = sqlx::query(
                "SELECT key, total, unique_values FROM issue_tag_keys WHERE issue_id = $1 ORDER BY key",
            )
            .bind(issue_id)
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            let mut out = Vec::with_capacity(totals.len());
            for t in &totals {
                let key: String = t.try_get(0).map_err($db_err)?;
                let values = sqlx::query(
                    "SELECT value, count, first_seen_ms, last_seen_ms FROM issue_tag_values \
                     WHERE issue_id = $1 AND key = $2 ORDER BY count DESC, value LIMIT $3",
                )
                .bind(issue_id)
                .bind(&key)
                .bind(top as i64)
                .fetch_all(pool)
                .await
                .map_err($db_err)?;
                let top = values
                    .iter()
                    .map(|v| {
                        Ok(TagValueCount {
                            value: v.try_get(0).map_err($db_err)?,
                            count: v.try_get::<i64, _>(1).map_err($db_err)? as u64,
                            first_seen_ms: v.try_get(2).map_err($db_err)?,
                            last_seen_ms: v.try_get(3).map_err($db_err)?,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?;
                out.push(TagDistribution {
                    key,
                    total: t.try_get::<i64, _>(1).map_err($db_err)? as u64,
                    unique_values: t.try_get::<i64, _>(2).map_err($db_err)? as u64,
                    top,
                });
            }
            Ok(out)
        }

        fn event_row(
            r: &<$db as $crate::__private::sqlx::Database>::Row,
        ) -> Result<$crate::__private::sentinel_store::EventRow, $crate::__private::sentinel_store::StoreError> {
            use $crate::__private::sqlx::Row as _;
            let lvl: String = r.try_get(6).map_err($db_err)?;
            Ok($crate::__private::sentinel_store::EventRow {
                id: r.try_get(0).map_err($db_err)?,
                event_id: $crate::event_id(r.try_get(1).map_err($db_err)?)?,
                project_id: r.try_get(2).map_err($db_err)?,
                issue_id: r.try_get(3).map_err($db_err)?,
                title: r.try_get(4).map_err($db_err)?,
                message: r.try_get(5).map_err($db_err)?,
                level: $crate::level(&lvl)?,
                platform: r.try_get(7).map_err($db_err)?,
                timestamp_ms: r.try_get(8).map_err($db_err)?,
                received_ms: r.try_get(9).map_err($db_err)?,
                environment: r.try_get(10).map_err($db_err)?,
                release: r.try_get(11).map_err($db_err)?,
            })
        }

        fn stored_event(
            r: &<$db as $crate::__private::sqlx::Database>::Row,
        ) -> Result<$crate::__private::sentinel_store::StoredEvent, $crate::__private::sentinel_store::StoreError>
        {
            use $crate::__private::sqlx::Row as _;
            Ok($crate::__private::sentinel_store::StoredEvent {
                row: event_row(r)?,
                payload: r.try_get(12).map_err($db_err)?,
                dict_id: r.try_get(13).map_err($db_err)?,
            })
        }

        pub async fn events(
            pool: &$crate::__private::sqlx::Pool<$db>,
            issue_id: i64,
            limit: usize,
            cursor: Option<&$crate::__private::sentinel_store::Cursor>,
        ) -> Result<
            $crate::__private::sentinel_store::Page<$crate::__private::sentinel_store::EventRow>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::{Cursor, EventRow, Page};
            let limit = limit.clamp(1, 1000);
            let mut qb: $crate::__private::sqlx::QueryBuilder<$db> =
                $crate::__private::sqlx::QueryBuilder::new($crate::EVENT_COLUMNS);
            qb.push(" FROM events WHERE issue_id = ").push_bind(issue_id);
            if let Some(c) = cursor {
                qb.push(" AND (timestamp_ms < ")
                    .push_bind(c.value)
                    .push(" OR (timestamp_ms = ")
                    .push_bind(c.value)
                    .push(" AND id < ")
                    .push_bind(c.id)
                    .push("))");
            }
            qb.push(" ORDER BY timestamp_ms DESC, id DESC LIMIT ")
                .push_bind(limit as i64 + 1);
            let rows = qb.build().fetch_all(pool).await.map_err($db_err)?;
            let mut items: Vec<EventRow> = rows.iter().map(event_row).collect::<Result<_, _>>()?;
            let next_cursor = if items.len() > limit {
                items.truncate(limit);
                items.last().map(|e| Cursor {
                    value: e.timestamp_ms,
                    id: e.id,
                })
            } else {
                None
            };
            Ok(Page { items, next_cursor })
        }

        pub async fn counts(
            pool: &$crate::__private::sqlx::Pool<$db>,
            scope: $crate::__private::sentinel_store::CountScope,
            since_ms: i64,
            until_ms: i64,
            bucket_ms: i64,
        ) -> Result<Vec<(i64, u64)>, $crate::__private::sentinel_store::StoreError> {
            use $crate::__private::sqlx::{self, Row as _};
            let bucket_ms = bucket_ms.max(60_000);
            let (filter, id) = $crate::count_filter(scope);
            let rows = sqlx::query(sqlx::AssertSqlSafe($counts_sql(filter)))
                .bind(id)
                .bind(since_ms)
                .bind(until_ms)
                .bind(bucket_ms)
                .fetch_all(pool)
                .await
                .map_err($db_err)?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get(0).map_err($db_err)?,
                        r.try_get::<i64, _>(1).map_err($db_err)? as u64,
                    ))
                })
                .collect()
        }
    };
}
