//! The shared inbox: appends in one statement, claims as leases so that any number of store
//! instances (nodes) can drain it without handing out an item twice while its lease runs.
//!
//! Acknowledging (deleting) claimed items happens inside `apply_batch`'s transaction (batch.rs).

use sentinel_store::{InboxItem, InboxStats, NewInboxItem, StoreError};
use sqlx::PgPool;

use crate::{DB_NOW_MS, db_err};

sentinel_store_sql::inbox_rows! {
    db: sqlx::Postgres,
    db_err: crate::db_err,
}

pub async fn append(pool: &PgPool, items: &[NewInboxItem]) -> Result<(), StoreError> {
    if items.is_empty() {
        return Ok(());
    }
    // Arrays keep this one statement (one implicit transaction) whatever the batch size.
    let mut project_ids = Vec::with_capacity(items.len());
    let mut kinds = Vec::with_capacity(items.len());
    let mut event_ids = Vec::with_capacity(items.len());
    let mut received = Vec::with_capacity(items.len());
    let mut sent_at = Vec::with_capacity(items.len());
    let mut headers = Vec::with_capacity(items.len());
    let mut dict_ids = Vec::with_capacity(items.len());
    let mut payloads = Vec::with_capacity(items.len());
    for it in items {
        project_ids.push(it.project_id);
        kinds.push(it.kind.as_str());
        event_ids.push(it.event_id.as_ref().map(|e| e.as_bytes().as_slice()));
        received.push(it.received_ms);
        sent_at.push(it.sent_at.as_deref());
        headers.push(it.headers_json.as_deref());
        dict_ids.push(it.dict_id);
        payloads.push(it.payload.as_slice());
    }
    sqlx::query(
        "INSERT INTO inbox (project_id, kind, event_id, received_ms, sent_at, headers_json, dict_id, payload) \
         SELECT project_id, kind, event_id, received_ms, sent_at, headers_json, dict_id, payload \
         FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::bytea[]) \
         WITH ORDINALITY AS t(project_id, kind, event_id, received_ms, sent_at, headers_json, dict_id, payload, ord) \
         ORDER BY ord",
    )
    .bind(project_ids)
    .bind(kinds)
    .bind(event_ids)
    .bind(received)
    .bind(sent_at)
    .bind(headers)
    .bind(dict_ids)
    .bind(payloads)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Leases up to `limit` of the oldest items that are free (never claimed, or their lease expired)
/// or already leased to `holder` (claimed before but not acknowledged: after a failed batch the
/// same instance gets them again). Rows another claimer is locking right now are skipped.
pub async fn claim(
    pool: &PgPool,
    holder: &str,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<InboxItem>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE inbox SET lease_holder = $1, lease_until_ms = {DB_NOW_MS} + $2 \
         WHERE id IN (SELECT id FROM inbox WHERE lease_until_ms < {DB_NOW_MS} OR lease_holder = $1 \
                      ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING id, project_id, kind, event_id, received_ms, sent_at, headers_json, payload, dict_id"
    )))
    .bind(holder)
    .bind(lease_ms)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut items = rows.iter().map(inbox_item).collect::<Result<Vec<_>, _>>()?;
    // UPDATE … RETURNING has no order of its own.
    items.sort_by_key(|i| i.id);
    Ok(items)
}

/// Every item still in the inbox, leased or not: all of them are work not yet done.
pub async fn stats(pool: &PgPool) -> Result<InboxStats, StoreError> {
    let row = sqlx::query("SELECT count(*), min(received_ms) FROM inbox")
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    inbox_stats(&row)
}
