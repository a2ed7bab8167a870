//! Reading issues and events as on SQLite (`sentinel_store_sql::issues!`). Full-text search uses a
//! GIN index over a tsvector; looking up one event goes through `event_ids`; event counts read
//! minute and hourly rollups together, so retention's compaction never changes them.

use sentinel_protocol::ids::EventId;
use sentinel_store::{StoreError, StoredEvent};
use sentinel_store_sql::EVENT_COLUMNS;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::db_err;

sentinel_store_sql::issues! {
    db: sqlx::Postgres,
    db_err: crate::db_err,
    text_query: sentinel_store_sql::tsquery,
    text_match: text_match,
    counts_sql: counts_sql,
}

/// The indexed text of an issue: exactly the expression of the `issues_search` index
/// (migration 0004), or the index cannot serve the search. ASCII punctuation but `_` is blanked
/// so that the parser splits paths, hosts and versions into words, as SQLite's tokenizer does.
pub(crate) const SEARCH_VECTOR: &str = "to_tsvector('simple', regexp_replace(title || ' ' || culprit || ' ' || coalesce(message, ''), '[!-/:-@[-^`{-~]+', ' ', 'g'))";

fn text_match(qb: &mut QueryBuilder<Postgres>, query: String) {
    qb.push(" AND ")
        .push(SEARCH_VECTOR)
        .push(" @@ to_tsquery('simple', ")
        .push_bind(query)
        .push(")");
}

/// Through `event_ids`, whose `received_ms` names the one partition to look in.
pub async fn event(
    pool: &PgPool,
    project_id: i64,
    event_id: EventId,
) -> Result<Option<StoredEvent>, StoreError> {
    let received: Option<i64> =
        sqlx::query_scalar("SELECT received_ms FROM event_ids WHERE project_id = $1 AND event_id = $2")
            .bind(project_id)
            .bind(event_id.as_bytes().as_slice())
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
    let Some(received) = received else {
        return Ok(None);
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{EVENT_COLUMNS}, payload, dict_id FROM events \
         WHERE project_id = $1 AND received_ms = $2 AND event_id = $3 ORDER BY id LIMIT 1"
    )))
    .bind(project_id)
    .bind(received)
    .bind(event_id.as_bytes().as_slice())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.as_ref().map(stored_event).transpose()
}

/// Minute and hourly rollups together: a bucket is the floor of each row's start, so rows folded
/// into hours by retention keep counting in the same (hour or coarser) buckets.
fn counts_sql(filter: &str) -> String {
    format!(
        "SELECT bucket, sum(count)::bigint FROM ( \
           SELECT minute_ms - ((minute_ms % $4) + $4) % $4 AS bucket, count FROM rollups_minute \
           WHERE {filter} AND minute_ms >= $2 AND minute_ms < $3 \
           UNION ALL \
           SELECT hour_ms - ((hour_ms % $4) + $4) % $4 AS bucket, count FROM rollups_hour \
           WHERE {filter} AND hour_ms >= $2 AND hour_ms < $3 \
         ) r GROUP BY bucket ORDER BY bucket"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL uses an expression index only for the very same expression.
    #[test]
    fn searches_use_the_indexed_expression() {
        let migration = include_str!("../migrations/0004_workflow.sql");
        assert!(
            migration.contains(&format!("USING GIN (\n    {SEARCH_VECTOR}\n)")),
            "the issues_search index is built over SEARCH_VECTOR"
        );
    }
}
