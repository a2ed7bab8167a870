//! Releases on SQLite (`sentinel_store_sql::releases!`): written inside the batch transaction,
//! read from the reader pool.

use async_trait::async_trait;
use sentinel_store::{Cursor, Issue, Page, Release, ReleaseStore, StoreError};

use crate::SqliteStore;

sentinel_store_sql::releases! {
    db: sqlx::Sqlite,
    db_err: crate::db_err,
    issue_row: crate::issues::issue,
}

#[async_trait]
impl ReleaseStore for SqliteStore {
    async fn list_releases(
        &self,
        project_id: i64,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Release>, StoreError> {
        list(&self.main_r, project_id, limit, cursor).await
    }

    async fn get_release(&self, project_id: i64, version: &str) -> Result<Option<Release>, StoreError> {
        get(&self.main_r, project_id, version).await
    }

    async fn release_new_issues(
        &self,
        project_id: i64,
        version: &str,
        limit: usize,
    ) -> Result<Vec<Issue>, StoreError> {
        new_issues(&self.main_r, project_id, version, limit).await
    }
}
