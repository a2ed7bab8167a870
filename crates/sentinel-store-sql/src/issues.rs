//! Reading issues and events; the words of a full-text search.

use sentinel_store::CountScope;

/// `SELECT` of issues, in the order [`issues!`] maps it.
pub const ISSUE_COLUMNS: &str = "SELECT id, project_id, title, culprit, message, level, status, platform, \
     first_seen_ms, last_seen_ms, times_seen, assignee_id, is_regression, resolved_in_release, \
     ignore_until_ms, ignore_until_count FROM issues";

/// `SELECT` of an event's columns up to `release` (no `FROM`), in the order [`issues!`] maps it;
/// a backend reading one stored event appends `, payload, dict_id FROM events …`.
pub const EVENT_COLUMNS: &str = "SELECT id, event_id, project_id, issue_id, title, message, level, platform, \
     timestamp_ms, received_ms, environment, release";

/// The words of a search text, each as the tokens both backends' indexes split it into.
///
/// A word is a run of letters, digits and underscores; everything else separates words and is
/// dropped, so no user text can inject query syntax. Both indexes (SQLite's `unicode61` tokenizer,
/// PostgreSQL's parser over the text with punctuation blanked) split words at underscores too:
/// `handle_request` is the tokens `handle`, `request`, which must follow each other.
pub fn search_words(text: &str) -> Vec<Vec<String>> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map(|word| {
            word.split('_')
                .filter(|t| !t.is_empty())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .filter(|tokens| !tokens.is_empty())
        .collect()
}

/// An FTS5 `MATCH` expression for `text`: every word, each token a quoted prefix (`"handle"* +
/// "req"*`); `None` when the text has no words.
pub fn fts5_query(text: &str) -> Option<String> {
    let words: Vec<String> = search_words(text)
        .iter()
        .map(|tokens| {
            tokens
                .iter()
                .map(|t| format!("\"{}\"*", t.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect();
    (!words.is_empty()).then(|| words.join(" AND "))
}

/// A `to_tsquery('simple', …)` text for `text`: every word, each token a quoted prefix
/// (`'handle':* <-> 'req':*`); `None` when the text has no words.
pub fn tsquery(text: &str) -> Option<String> {
    let words: Vec<String> = search_words(text)
        .iter()
        .map(|tokens| {
            tokens
                .iter()
                .map(|t| format!("'{}':*", t.replace('\\', "\\\\").replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    (!words.is_empty()).then(|| words.join(" & "))
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

/// SQL for [`sentinel_store::priority_score`] over an issues row: integer arithmetic only, since
/// SQLite (as bundled) has no logarithm; whole doublings of `times_seen` by comparison.
pub fn priority_expression() -> String {
    let mut doublings = String::from("(CASE");
    for bit in (1..63).rev() {
        doublings.push_str(&format!(" WHEN times_seen >= {} THEN {bit}", 1i64 << bit));
    }
    doublings.push_str(" ELSE 0 END)");
    format!("(last_seen_ms / 1000 + 416 * {doublings})")
}

/// Stamps out, in the invoking module, the issue functions of a backend: `list`, `get`, `tags`,
/// `events` and `counts`, and the row mappings `issue` (an [`ISSUE_COLUMNS`] row), `event_row`
/// and `stored_event` (an [`EVENT_COLUMNS`] row followed by `payload, dict_id`).
///
/// - `db`: the sqlx database (`sqlx::Sqlite`, `sqlx::Postgres`);
/// - `db_err`: the backend's `fn(sqlx::Error) -> StoreError`;
/// - `text_query`: a `fn(&str) -> Option<String>` turning search text into the backend's
///   full-text query ([`fts5_query`], [`tsquery`]);
/// - `text_match`: a `fn(&mut QueryBuilder<db>, String)` appending ` AND <issue matches the
///   bound query>`;
/// - `counts_sql`: a `fn(filter: &str) -> String` giving the event count query: rows of
///   `bucket, count` (as BIGINT) in bucket order, from the rollups matching `filter` (which binds
///   `$1`) between `$2` (inclusive) and `$3` in buckets of `$4` milliseconds. Bucketing is where
///   the backends' arithmetic differs.
#[macro_export]
macro_rules! issues {
    (
        db: $db:ty,
        db_err: $db_err:path,
        text_query: $text_query:path,
        text_match: $text_match:path,
        counts_sql: $counts_sql:path $(,)?
    ) => {
        pub fn issue(
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
                assignee_id: r.try_get(11).map_err($db_err)?,
                is_regression: r.try_get(12).map_err($db_err)?,
                resolved_in_release: r.try_get(13).map_err($db_err)?,
                ignore_until_ms: r.try_get(14).map_err($db_err)?,
                ignore_until_count: r
                    .try_get::<Option<i64>, _>(15)
                    .map_err($db_err)?
                    .map(|n| n.max(0) as u64),
            })
        }

        pub async fn list(
            pool: &$crate::__private::sqlx::Pool<$db>,
            q: &$crate::__private::sentinel_store::IssueQuery,
        ) -> Result<
            $crate::__private::sentinel_store::Page<$crate::__private::sentinel_store::Issue>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::{AssignedFilter, Cursor, Issue, IssueSort, Page};
            let priority;
            let col = match q.sort {
                IssueSort::LastSeen => "last_seen_ms",
                IssueSort::FirstSeen => "first_seen_ms",
                IssueSort::TimesSeen => "times_seen",
                IssueSort::Priority => {
                    priority = $crate::priority_expression();
                    priority.as_str()
                }
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
            match q.assigned {
                Some(AssignedFilter::Nobody) => {
                    qb.push(" AND assignee_id IS NULL");
                }
                Some(AssignedFilter::Anybody) => {
                    qb.push(" AND assignee_id IS NOT NULL");
                }
                Some(AssignedFilter::User(user_id)) => {
                    qb.push(" AND assignee_id = ").push_bind(user_id);
                }
                None => {}
            }
            // Each pair is one probe of issue_tag_values' primary key per candidate issue.
            let env_and_release = [("environment", &q.environment), ("release", &q.release)]
                .into_iter()
                .filter_map(|(key, value)| value.as_ref().map(|v| (key, v.as_str())));
            let tags = q.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            for (key, value) in env_and_release.chain(tags) {
                qb.push(
                    " AND EXISTS (SELECT 1 FROM issue_tag_values t WHERE t.issue_id = issues.id AND t.key = ",
                )
                .push_bind(key.to_owned())
                .push(" AND t.value = ")
                .push_bind(value.to_owned())
                .push(")");
            }
            for (col, range) in [("first_seen_ms", q.first_seen), ("last_seen_ms", q.last_seen)] {
                if let Some(since) = range.since_ms {
                    qb.push(format_args!(" AND {col} >= ")).push_bind(since);
                }
                if let Some(until) = range.until_ms {
                    qb.push(format_args!(" AND {col} < ")).push_bind(until);
                }
            }
            if let Some(query) = q.text.as_deref().and_then($text_query) {
                $text_match(&mut qb, query);
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
                        IssueSort::Priority => {
                            $crate::__private::sentinel_store::priority_score(i.last_seen_ms, i.times_seen)
                        }
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

        pub fn event_row(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_are_letters_digits_and_underscores_split_like_the_indexes() {
        assert_eq!(
            search_words("KeyError: 'user_id' café__x86_64 & ||"),
            vec![
                vec!["keyerror".to_owned()],
                vec!["user".to_owned(), "id".to_owned()],
                vec!["café".to_owned(), "x86".to_owned(), "64".to_owned()],
            ]
        );
        assert!(search_words(" _ -- \"'*: ").is_empty());
    }

    #[test]
    fn full_text_queries_quote_every_token_as_a_prefix() {
        assert_eq!(
            fts5_query("handle_req Zero").as_deref(),
            Some(r#""handle"* + "req"* AND "zero"*"#)
        );
        assert_eq!(
            tsquery("handle_req Zero").as_deref(),
            Some("'handle':* <-> 'req':* & 'zero':*")
        );
    }

    #[test]
    fn text_without_words_makes_no_query() {
        for text in ["", "&|!", "\"", "'", "***", "___"] {
            assert_eq!(fts5_query(text), None, "{text:?}");
            assert_eq!(tsquery(text), None, "{text:?}");
        }
    }

    #[test]
    fn query_syntax_in_the_text_is_only_a_separator() {
        assert_eq!(
            fts5_query(r#"foo"bar NEAR(a) -b c*"#).as_deref(),
            Some(r#""foo"* AND "bar"* AND "near"* AND "a"* AND "b"* AND "c"*"#)
        );
        assert_eq!(
            tsquery("a:b & !c | (d) 'e' \\f").as_deref(),
            Some("'a':* & 'b':* & 'c':* & 'd':* & 'e':* & 'f':*")
        );
    }
}
