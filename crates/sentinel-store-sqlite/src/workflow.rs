//! The issue workflow on SQLite (`sentinel_store_sql::workflow!`): writes take the single writer
//! connection inside `BEGIN IMMEDIATE`, reads use the reader pool.

use async_trait::async_trait;
use sentinel_protocol::ids::EventId;
use sentinel_store::{
    Activity, Attachment, Comment, Cursor, EventNeighbors, EventRow, Issue, IssueChange, ItemKind, Page,
    StoreError, StoredItem, WorkflowStore,
};

use crate::SqliteStore;

sentinel_store_sql::workflow! {
    db: sqlx::Sqlite,
    db_err: crate::db_err,
    begin: |pool| pool.begin_with("BEGIN IMMEDIATE"),
    // BEGIN IMMEDIATE takes the single write lock: rows read inside need no locks of their own.
    for_update: "",
    issue_row: crate::issues::issue,
    event_row: crate::issues::event_row,
    // Through the unique (project_id, event_id) index.
    locate_event: "SELECT e.timestamp_ms, e.id FROM issues i \
        JOIN events e ON e.project_id = i.project_id AND e.event_id = $2 \
        WHERE i.id = $1 AND e.issue_id = $1",
}

#[async_trait]
impl WorkflowStore for SqliteStore {
    async fn update_issue(
        &self,
        issue_id: i64,
        change: &IssueChange,
        actor: Option<i64>,
        now_ms: i64,
    ) -> Result<Issue, StoreError> {
        update_one(&self.main_w, issue_id, change, actor, now_ms).await
    }

    async fn update_issues(
        &self,
        project_id: i64,
        issue_ids: &[i64],
        change: &IssueChange,
        actor: Option<i64>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        update_many(&self.main_w, project_id, issue_ids, change, actor, now_ms).await
    }

    async fn delete_issues(&self, project_id: i64, issue_ids: &[i64]) -> Result<u64, StoreError> {
        delete(&self.main_w, project_id, issue_ids).await
    }

    async fn add_comment(
        &self,
        issue_id: i64,
        user_id: i64,
        body: &str,
        now_ms: i64,
    ) -> Result<Comment, StoreError> {
        add_comment(&self.main_w, issue_id, user_id, body, now_ms).await
    }

    async fn list_comments(&self, issue_id: i64) -> Result<Vec<Comment>, StoreError> {
        comments(&self.main_r, issue_id).await
    }

    async fn list_activity(&self, issue_id: i64) -> Result<Vec<Activity>, StoreError> {
        activity(&self.main_r, issue_id).await
    }

    async fn list_project_events(
        &self,
        project_id: i64,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page<EventRow>, StoreError> {
        project_events(&self.main_r, project_id, limit, cursor).await
    }

    async fn event_neighbors(&self, issue_id: i64, event_id: EventId) -> Result<EventNeighbors, StoreError> {
        neighbors(&self.main_r, issue_id, event_id).await
    }

    async fn event_attachments(
        &self,
        project_id: i64,
        event_id: EventId,
    ) -> Result<Vec<Attachment>, StoreError> {
        attachments(&self.main_r, project_id, event_id).await
    }

    async fn get_item(
        &self,
        project_id: i64,
        kind: ItemKind,
        event_id: EventId,
    ) -> Result<Option<StoredItem>, StoreError> {
        stored_item(&self.main_r, project_id, kind, event_id).await
    }
}
