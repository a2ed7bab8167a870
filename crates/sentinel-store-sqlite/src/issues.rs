//! Reading issues and events, and the issue workflow, as on PostgreSQL
//! (`sentinel_store_sql::issues!`). Looking up one event and bucketing event counts are SQLite's.

use sentinel_protocol::ids::EventId;
use sentinel_store::{StoreError, StoredEvent};
use sentinel_store_sql::EVENT_COLUMNS;
use sqlx::SqlitePool;

use crate::db_err;

sentinel_store_sql::issues! {
    db: sqlx::Sqlite,
    db_err: crate::db_err,
    begin: |pool| pool.begin_with("BEGIN IMMEDIATE"),
    // SQLite's LIKE already ignores ASCII case.
    like: "LIKE",
    counts_sql: counts_sql,
}

pub async fn event(
    pool: &SqlitePool,
    project_id: i64,
    event_id: EventId,
) -> Result<Option<StoredEvent>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{EVENT_COLUMNS}, payload, dict_id FROM events WHERE project_id = $1 AND event_id = $2"
    )))
    .bind(project_id)
    .bind(event_id.as_bytes().to_vec())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.as_ref().map(stored_event).transpose()
}

/// Compacted history is in hourly rows; reading both keeps counts the same across compaction.
fn counts_sql(filter: &str) -> String {
    format!(
        "SELECT (at_ms / $4) * $4 AS bucket, sum(n) FROM ( \
         SELECT minute_ms AS at_ms, count AS n FROM rollups_minute \
         WHERE {filter} AND minute_ms >= $2 AND minute_ms < $3 \
         UNION ALL SELECT hour_ms, count FROM rollups_hour \
         WHERE {filter} AND hour_ms >= $2 AND hour_ms < $3) \
         GROUP BY bucket ORDER BY bucket"
    )
}
