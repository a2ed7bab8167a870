//! Singleton leases: which node runs a once-per-cluster job. On SQLite there is one node, but the
//! same contract holds, so the scheduler does not care which backend it runs on.

use sentinel_store::{Lease, StoreError};
use sqlx::{Row, SqlitePool};

use crate::db_err;

/// One statement, so racing callers are ordered by the writer: the first takes a free lease, the
/// others find it held and unexpired and update nothing (no row returned).
pub async fn acquire(
    pool: &SqlitePool,
    name: &str,
    holder: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
         WHERE leases.holder = excluded.holder OR leases.expires_ms <= $4 \
         RETURNING holder",
    )
    .bind(name)
    .bind(holder)
    .bind(now_ms.saturating_add(ttl_ms))
    .bind(now_ms)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    Ok(row.is_some())
}

pub async fn release(pool: &SqlitePool, name: &str, holder: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn get(pool: &SqlitePool, name: &str) -> Result<Option<Lease>, StoreError> {
    let row = sqlx::query("SELECT name, holder, expires_ms FROM leases WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.map(|r| {
        Ok(Lease {
            name: r.try_get(0).map_err(db_err)?,
            holder: r.try_get(1).map_err(db_err)?,
            expires_ms: r.try_get(2).map_err(db_err)?,
        })
    })
    .transpose()
}
