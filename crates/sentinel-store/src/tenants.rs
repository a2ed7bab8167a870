//! Request rollups: what the tenants aggregator keeps per project and minute.
//!
//! Workers write one row per (project, minute) a processed batch touched, in the batch's own
//! transaction (so a batch is counted exactly once, whatever crashes). A compactor then merges the
//! rows of a minute into one (`compact_request_rollups`), so a window of ten minutes reads about
//! ten rows whatever the number of workers and nodes. The blobs are opaque here: the server's
//! `tenants::summary` owns their format and their merge.

use async_trait::async_trait;

use crate::StoreError;

/// A row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequestRollup {
    pub project_id: i64,
    /// Start of the minute, epoch ms.
    pub minute_ms: i64,
    /// Requests it counts.
    pub requests: u64,
    /// The counts section (tenants, 5xx, endpoints).
    pub counts: Vec<u8>,
    /// The latency section (sketches).
    pub latency: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRollup {
    pub id: i64,
    pub project_id: i64,
    pub minute_ms: i64,
    pub requests: u64,
    pub counts: Vec<u8>,
    /// Empty unless asked for.
    pub latency: Vec<u8>,
}

#[async_trait]
pub trait TenantStore: Send + Sync {
    /// A project's rollup rows with `since_ms <= minute < until_ms`, by minute then id; the
    /// latency section only when `with_latency`.
    async fn request_rollups(
        &self,
        project_id: i64,
        since_ms: i64,
        until_ms: i64,
        with_latency: bool,
    ) -> Result<Vec<RequestRollup>, StoreError>;

    /// `(project, minute)` pairs of minutes from `since_ms` on with more than one row, oldest
    /// minute first, at most `limit`.
    async fn fragmented_request_minutes(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<(i64, i64)>, StoreError>;

    /// Replaces the rows `ids` (one project's minute) by `merged` in one transaction. Answers false,
    /// changing nothing, when any of them is gone (another compactor got there first).
    async fn compact_request_rollups(
        &self,
        ids: &[i64],
        merged: &NewRequestRollup,
    ) -> Result<bool, StoreError>;

    /// Projects with rollups at or after `since_ms`, in id order.
    async fn request_projects(&self, since_ms: i64) -> Result<Vec<i64>, StoreError>;
}
