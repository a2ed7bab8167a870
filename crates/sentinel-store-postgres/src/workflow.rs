//! The issue workflow on PostgreSQL (`sentinel_store_sql::workflow!`): issue rows are locked in
//! the order the workers' batches lock them (project, grouping hash), so neither waits on the other
//! in a cycle.

use async_trait::async_trait;
use sentinel_protocol::ids::EventId;
use sentinel_store::{
    Activity, Attachment, Comment, Cursor, EventNeighbors, EventRow, Issue, IssueChange, ItemKind, Page,
    StoreError, StoredItem, WorkflowStore,
};

use crate::PgStore;

sentinel_store_sql::workflow! {
    db: sqlx::Postgres,
    db_err: crate::db_err,
    begin: |pool| pool.begin(),
    for_update: " FOR UPDATE",
    issue_row: crate::issues::issue,
    event_row: crate::issues::event_row,
    // The event's partition and row come from `event_ids` (its `received_ms`), never from the
    // issue's events: `issue_id + 0` keeps the planner off `events_by_issue`, which for a hot
    // issue means walking hundreds of thousands of rows.
    locate_event: "SELECT e.timestamp_ms, e.id FROM events e \
        WHERE e.project_id = (SELECT project_id FROM issues WHERE id = $1) \
        AND e.received_ms = (SELECT x.received_ms FROM event_ids x \
            WHERE x.project_id = (SELECT project_id FROM issues WHERE id = $1) AND x.event_id = $2) \
        AND e.event_id = $2 AND e.issue_id + 0 = $1",
}

#[async_trait]
impl WorkflowStore for PgStore {
    async fn update_issue(
        &self,
        issue_id: i64,
        change: &IssueChange,
        actor: Option<i64>,
        now_ms: i64,
    ) -> Result<Issue, StoreError> {
        update_one(&self.pool, issue_id, change, actor, now_ms).await
    }

    async fn update_issues(
        &self,
        project_id: i64,
        issue_ids: &[i64],
        change: &IssueChange,
        actor: Option<i64>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        update_many(&self.pool, project_id, issue_ids, change, actor, now_ms).await
    }

    async fn delete_issues(&self, project_id: i64, issue_ids: &[i64]) -> Result<u64, StoreError> {
        delete(&self.pool, project_id, issue_ids).await
    }

    async fn add_comment(
        &self,
        issue_id: i64,
        user_id: i64,
        body: &str,
        now_ms: i64,
    ) -> Result<Comment, StoreError> {
        add_comment(&self.pool, issue_id, user_id, body, now_ms).await
    }

    async fn list_comments(&self, issue_id: i64) -> Result<Vec<Comment>, StoreError> {
        comments(&self.pool, issue_id).await
    }

    async fn list_activity(&self, issue_id: i64) -> Result<Vec<Activity>, StoreError> {
        activity(&self.pool, issue_id).await
    }

    async fn list_project_events(
        &self,
        project_id: i64,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page<EventRow>, StoreError> {
        project_events(&self.pool, project_id, limit, cursor).await
    }

    async fn event_neighbors(&self, issue_id: i64, event_id: EventId) -> Result<EventNeighbors, StoreError> {
        neighbors(&self.pool, issue_id, event_id).await
    }

    async fn event_attachments(
        &self,
        project_id: i64,
        event_id: EventId,
    ) -> Result<Vec<Attachment>, StoreError> {
        attachments(&self.pool, project_id, event_id).await
    }

    async fn get_item(
        &self,
        project_id: i64,
        kind: ItemKind,
        event_id: EventId,
    ) -> Result<Option<StoredItem>, StoreError> {
        stored_item(&self.pool, project_id, kind, event_id).await
    }
}
