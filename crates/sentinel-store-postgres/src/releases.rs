//! Releases on PostgreSQL (`sentinel_store_sql::releases!`): written inside the batch transaction
//! in key order (`release_users`, then `releases`), read from the pool.

use async_trait::async_trait;
use sentinel_store::{Cursor, Issue, Page, Release, ReleaseStore, StoreError};

use crate::PgStore;

sentinel_store_sql::releases! {
    db: sqlx::Postgres,
    db_err: crate::db_err,
    issue_row: crate::issues::issue,
}

#[async_trait]
impl ReleaseStore for PgStore {
    async fn list_releases(
        &self,
        project_id: i64,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Release>, StoreError> {
        list(&self.pool, project_id, limit, cursor).await
    }

    async fn get_release(&self, project_id: i64, version: &str) -> Result<Option<Release>, StoreError> {
        get(&self.pool, project_id, version).await
    }

    async fn release_new_issues(
        &self,
        project_id: i64,
        version: &str,
        limit: usize,
    ) -> Result<Vec<Issue>, StoreError> {
        new_issues(&self.pool, project_id, version, limit).await
    }
}
