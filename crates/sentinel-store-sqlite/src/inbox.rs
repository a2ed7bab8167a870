//! The durable inbox: group-committed appends, cursor-based claiming, idempotent deletes.

use sentinel_store::{InboxItem, InboxStats, NewInboxItem, StoreError};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::db_err;

sentinel_store_sql::inbox_rows! {
    db: sqlx::Sqlite,
    db_err: crate::db_err,
}

/// Rows per INSERT statement: 8 binds each stays far below SQLite's variable limit.
const ROWS_PER_STATEMENT: usize = 500;

fn insert(chunk: &[NewInboxItem]) -> QueryBuilder<Sqlite> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO inbox (project_id, kind, event_id, received_ms, sent_at, headers_json, dict_id, payload) ",
    );
    qb.push_values(chunk, |mut b, it| {
        b.push_bind(it.project_id)
            .push_bind(it.kind.as_str())
            .push_bind(it.event_id.map(|e| e.as_bytes().to_vec()))
            .push_bind(it.received_ms)
            .push_bind(it.sent_at.clone())
            .push_bind(it.headers_json.clone())
            .push_bind(it.dict_id)
            .push_bind(it.payload.clone());
    });
    qb
}

pub async fn append(pool: &SqlitePool, items: &[NewInboxItem]) -> Result<(), StoreError> {
    if items.is_empty() {
        return Ok(());
    }
    // One statement is its own transaction in SQLite: a group commit that fits in one INSERT
    // needs a single round trip to the connection instead of BEGIN, INSERT and COMMIT.
    if items.len() <= ROWS_PER_STATEMENT {
        insert(items).build().execute(pool).await.map_err(db_err)?;
        return Ok(());
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    for chunk in items.chunks(ROWS_PER_STATEMENT) {
        insert(chunk).build().execute(&mut *tx).await.map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}

pub async fn claim(pool: &SqlitePool, cursor: i64, limit: usize) -> Result<Vec<InboxItem>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, project_id, kind, event_id, received_ms, sent_at, headers_json, payload, dict_id \
         FROM inbox WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(cursor)
    .bind(limit as i64)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter().map(inbox_item).collect()
}

pub async fn stats(pool: &SqlitePool, cursor: i64) -> Result<InboxStats, StoreError> {
    let row = sqlx::query("SELECT count(*), min(received_ms) FROM inbox WHERE id > $1")
        .bind(cursor)
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    inbox_stats(&row)
}

pub async fn delete_through(pool: &SqlitePool, max_id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM inbox WHERE id <= $1")
        .bind(max_id)
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(())
}
