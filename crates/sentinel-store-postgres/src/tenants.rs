//! Request rollups (`sentinel_store_sql::tenants!`): rows written inside the batch transaction,
//! merged by the compactor in a write transaction of its own.

use async_trait::async_trait;
use sentinel_store::{NewRequestRollup, RequestRollup, StoreError, TenantStore};

use crate::{PgStore, db_err};

sentinel_store_sql::tenants! {
    db: sqlx::Postgres,
    db_err: crate::db_err,
}

#[async_trait]
impl TenantStore for PgStore {
    async fn request_rollups(
        &self,
        project_id: i64,
        since_ms: i64,
        until_ms: i64,
        with_latency: bool,
    ) -> Result<Vec<RequestRollup>, StoreError> {
        request_rollup_rows(&self.pool, project_id, since_ms, until_ms, with_latency).await
    }

    async fn fragmented_request_minutes(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        fragmented_request_minutes(&self.pool, since_ms, limit).await
    }

    async fn compact_request_rollups(
        &self,
        ids: &[i64],
        merged: &NewRequestRollup,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        if !replace_request_rollups(&mut tx, ids, merged).await? {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn request_projects(&self, since_ms: i64) -> Result<Vec<i64>, StoreError> {
        request_projects(&self.pool, since_ms).await
    }
}
