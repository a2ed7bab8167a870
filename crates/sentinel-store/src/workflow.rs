//! The issue workflow: status changes with their conditions, assignees, comments, the activity log,
//! deletion; a project's events, an event's attachments, and an item (a transaction) by its id.

use async_trait::async_trait;
use sentinel_protocol::ids::EventId;
use serde::Serialize;

use crate::StoreError;
use crate::model::{Cursor, EventRow, Issue, ItemKind, Page, StoredItem};

/// A status change asked for by a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    Unresolved,
    Resolved,
    /// Resolved, but events of the release the issue was last seen in (and events without a
    /// release) do not reopen it; an event of any other release does. Without any release on the
    /// issue's events this is a plain resolve.
    ResolvedInNextRelease,
    /// Ignored until a time and/or until this many more events arrive, whichever comes first;
    /// neither means for ever. The first event after the condition is met reopens the issue.
    Ignored {
        until_ms: Option<i64>,
        more_events: Option<u64>,
    },
}

/// Changes to apply to one or several issues; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueChange {
    pub status: Option<StatusChange>,
    /// `Some(None)` unassigns. The assignee must be a member of the issue's organization
    /// (`Conflict` otherwise).
    pub assignee: Option<Option<i64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    pub id: i64,
    pub issue_id: i64,
    pub user_id: Option<i64>,
    /// The author's name at read time; empty if the user is gone.
    pub user_name: String,
    pub body: String,
    pub created_ms: i64,
}

/// One entry of an issue's activity log.
///
/// Kinds (Sentry's names): `first_seen`, `set_regression` (data `{"release"}` when known),
/// `set_resolved`, `set_resolved_in_release` (`{"release"}`), `set_unresolved` (`{"reason"}` when
/// the system reopened it, e.g. `"ignore_expired"`), `set_ignored` (`{"until_ms","more_events"}`),
/// `assigned` (`{"assignee_id","assignee_name"}`), `unassigned`, `note` (`{"comment_id"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activity {
    pub id: i64,
    pub issue_id: i64,
    pub kind: String,
    /// Compact JSON object, or `None`.
    pub data: Option<String>,
    /// Who did it; `None` for the system (ingest, regressions).
    pub user_id: Option<i64>,
    pub user_name: Option<String>,
    pub created_ms: i64,
}

/// An attachment item stored with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: i64,
    pub project_id: i64,
    pub event_id: EventId,
    /// The item headers kept at ingest (`filename`, `content_type`, …) as JSON.
    pub headers_json: Option<String>,
    /// zstd-compressed bytes, as stored.
    pub payload: Vec<u8>,
}

/// Where an event sits among its issue's events (newest first order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventNeighbors {
    /// The next older event of the issue.
    pub older: Option<EventId>,
    /// The next newer event of the issue.
    pub newer: Option<EventId>,
    pub newest: Option<EventId>,
    pub oldest: Option<EventId>,
}

#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// Applies `change` to the issue and writes one activity entry per field that actually changed
    /// (by `actor`), in one transaction. A user's status change clears the regression mark.
    async fn update_issue(
        &self,
        issue_id: i64,
        change: &IssueChange,
        actor: Option<i64>,
        now_ms: i64,
    ) -> Result<Issue, StoreError>;
    /// `update_issue` on every listed issue of the project (ids of other projects are ignored), in
    /// one transaction; returns how many issues were changed.
    async fn update_issues(
        &self,
        project_id: i64,
        issue_ids: &[i64],
        change: &IssueChange,
        actor: Option<i64>,
        now_ms: i64,
    ) -> Result<u64, StoreError>;
    /// Deletes issues of the project with their events, tag counts, rollups, comments and
    /// activity; returns how many issues went. Later events with the same fingerprint open a new
    /// issue.
    async fn delete_issues(&self, project_id: i64, issue_ids: &[i64]) -> Result<u64, StoreError>;

    /// Adds a comment and its `note` activity.
    async fn add_comment(
        &self,
        issue_id: i64,
        user_id: i64,
        body: &str,
        now_ms: i64,
    ) -> Result<Comment, StoreError>;
    /// Oldest first.
    async fn list_comments(&self, issue_id: i64) -> Result<Vec<Comment>, StoreError>;
    /// Newest first.
    async fn list_activity(&self, issue_id: i64) -> Result<Vec<Activity>, StoreError>;

    /// The project's events, newest received first.
    async fn list_project_events(
        &self,
        project_id: i64,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page<EventRow>, StoreError>;
    /// The event's older/newer siblings in its issue, and the issue's newest and oldest events.
    async fn event_neighbors(&self, issue_id: i64, event_id: EventId) -> Result<EventNeighbors, StoreError>;
    /// Attachments stored with the event, in arrival order.
    async fn event_attachments(
        &self,
        project_id: i64,
        event_id: EventId,
    ) -> Result<Vec<Attachment>, StoreError>;
    /// The item of `kind` stored under `event_id` in the project (the newest, should an SDK have
    /// sent the id twice), or `None`. Transactions are indexed by event id; other kinds are
    /// found by scanning the project's items of that kind.
    async fn get_item(
        &self,
        project_id: i64,
        kind: ItemKind,
        event_id: EventId,
    ) -> Result<Option<StoredItem>, StoreError>;
}
