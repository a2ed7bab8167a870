//! Reading issues and events, and the issue workflow, as on SQLite (`sentinel_store_sql::issues!`).
//! Looking up one event goes through `event_ids`; event counts read minute and hourly rollups
//! together, so retention's compaction never changes them.

use sentinel_protocol::ids::EventId;
use sentinel_store::{StoreError, StoredEvent};
use sentinel_store_sql::EVENT_COLUMNS;
use sqlx::PgPool;

use crate::db_err;

sentinel_store_sql::issues! {
    db: sqlx::Postgres,
    db_err: crate::db_err,
    begin: |pool| pool.begin(),
    like: "ILIKE",
    counts_sql: counts_sql,
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
