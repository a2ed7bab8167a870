//! The durable inbox: group-committed appends, cursor-based claiming, idempotent deletes.

use sentinel_protocol::ids::EventId;
use sentinel_store::{InboxItem, InboxStats, NewInboxItem, StoreError};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::{db_err, parse_col};

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
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get(2).map_err(db_err)?;
            let event_id: Option<Vec<u8>> = r.try_get(3).map_err(db_err)?;
            let event_id = match event_id {
                Some(b) => {
                    Some(EventId::from_bytes(b.try_into().map_err(|_| {
                        StoreError::Corrupt("inbox event_id is not 16 bytes".into())
                    })?))
                }
                None => None,
            };
            Ok(InboxItem {
                id: r.try_get(0).map_err(db_err)?,
                item: NewInboxItem {
                    project_id: r.try_get(1).map_err(db_err)?,
                    kind: parse_col(&kind)?,
                    event_id,
                    received_ms: r.try_get(4).map_err(db_err)?,
                    sent_at: r.try_get(5).map_err(db_err)?,
                    headers_json: r.try_get(6).map_err(db_err)?,
                    payload: r.try_get(7).map_err(db_err)?,
                    dict_id: r.try_get(8).map_err(db_err)?,
                },
            })
        })
        .collect()
}

pub async fn stats(pool: &SqlitePool, cursor: i64) -> Result<InboxStats, StoreError> {
    let row = sqlx::query("SELECT count(*), min(received_ms) FROM inbox WHERE id > $1")
        .bind(cursor)
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    Ok(InboxStats {
        depth: row.try_get::<i64, _>(0).map_err(db_err)? as u64,
        oldest_received_ms: row.try_get(1).map_err(db_err)?,
    })
}

pub async fn delete_through(pool: &SqlitePool, max_id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM inbox WHERE id <= $1")
        .bind(max_id)
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(())
}
