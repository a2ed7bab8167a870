use async_trait::async_trait;
use sentinel_protocol::ids::EventId;

use crate::accounts::AccountStore;
use crate::alerts::AlertStore;
use crate::maintenance::{Lease, RetentionPolicy, RetentionReport};
use crate::model::{
    BatchOutcome, CompressionDict, CountScope, EventRow, InboxItem, InboxStats, Issue, IssueQuery,
    NewInboxItem, OutcomeCount, Page, ProcessedBatch, Project, ProjectKey, StoredEvent, TagDistribution,
};
use crate::releases::ReleaseStore;
use crate::tenants::TenantStore;
use crate::transfer::{TableSpec, Value};
use crate::uptime::UptimeStore;
use crate::workflow::WorkflowStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation; callers answer 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness or validity rule of the data model was violated by the caller's input.
    #[error("{0}")]
    Conflict(String),
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    /// Stored data that cannot be decoded: a bug or a corrupted database.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// Everything Sentinel persists. Times are epoch milliseconds (UTC) supplied by the caller's clock.
///
/// Write methods that take several rows apply them in one transaction: either all of it is stored
/// or none of it.
#[async_trait]
pub trait Store:
    AccountStore + AlertStore + UptimeStore + WorkflowStore + ReleaseStore + TenantStore + Send + Sync + 'static
{
    /// Applies pending migrations. Idempotent.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Cheap round trip used by readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Closes every connection once in-flight work is done (on SQLite this checkpoints the WAL
    /// into the database files). Using the store afterwards is an error.
    async fn close(&self);

    // ---- projects, keys, tokens ----

    /// Creates a project in the organization (created on first use) together with its first key,
    /// whose public key the caller generated. The slug is derived from the name. Callers validate the
    /// platform (`other` when unknown).
    async fn create_project(
        &self,
        org_slug: &str,
        name: &str,
        platform: &str,
        public_key: &str,
        now_ms: i64,
    ) -> Result<(Project, ProjectKey), StoreError>;
    async fn list_projects(&self) -> Result<Vec<Project>, StoreError>;
    async fn get_project(&self, project_id: i64) -> Result<Option<Project>, StoreError>;
    async fn project_keys(&self, project_id: i64) -> Result<Vec<ProjectKey>, StoreError>;
    /// The key with this public key, active or not.
    async fn find_key(&self, public_key: &str) -> Result<Option<ProjectKey>, StoreError>;
    /// Sets (or with `None` removes) a project's error-event rate limit, in events per minute.
    async fn set_project_rate_limit(
        &self,
        project_id: i64,
        per_minute: Option<u32>,
    ) -> Result<(), StoreError>;
    /// Sets a project's Apdex T, in milliseconds; `NotFound` if there is no such project.
    async fn set_project_apdex(&self, project_id: i64, threshold_ms: u32) -> Result<(), StoreError>;
    /// Sets (or removes) a key's error-event rate limit, in events per minute.
    async fn set_key_rate_limit(&self, public_key: &str, per_minute: Option<u32>) -> Result<(), StoreError>;

    // ---- inbox (durable queue between ingest and workers) ----

    /// Appends items in one transaction; when this returns Ok they survive a crash.
    async fn inbox_append(&self, items: &[NewInboxItem]) -> Result<(), StoreError>;
    /// The oldest unprocessed items, at most `limit`. Items stay in the inbox until `apply_batch`
    /// acknowledges them, so a crash before that makes them come back.
    ///
    /// On a backend shared by several processes (PostgreSQL) the items are leased to this store
    /// instance for its configured inbox lease: other instances skip them meanwhile, and take them
    /// over once the lease has expired (the claimer died or stalled).
    async fn inbox_claim(&self, limit: usize) -> Result<Vec<InboxItem>, StoreError>;
    async fn inbox_stats(&self) -> Result<InboxStats, StoreError>;

    /// Stores the result of processing claimed inbox items and acknowledges them, atomically:
    /// events (duplicates by `(project, event_id)` are skipped and counted nowhere), issue upserts
    /// (with regressions), per-minute rollups, tag value counts, releases and their health, kept
    /// items and outcomes.
    /// Applying the same batch twice has the same effect as applying it once. If another instance
    /// has taken the items over since they were claimed (an expired lease), nothing is applied and
    /// the answer is `StoreError::Conflict`: that instance processes them instead.
    async fn apply_batch(&self, batch: &ProcessedBatch) -> Result<BatchOutcome, StoreError>;
    /// Adds outcome counts recorded outside the pipeline (ingest rejections).
    async fn record_outcomes(&self, outcomes: &[OutcomeCount]) -> Result<(), StoreError>;
    /// Outcome totals per (category, outcome, reason) over `[since_ms, until_ms)`; `minute_ms` of
    /// each returned row is `since_ms`. Ordered by category, outcome, reason.
    async fn outcome_totals(
        &self,
        project_id: i64,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<OutcomeCount>, StoreError>;

    // ---- compression dictionaries ----

    /// Stores a dictionary trained for a project; returns its id (never 0).
    async fn save_compression_dict(
        &self,
        project_id: i64,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<i64, StoreError>;
    /// Every dictionary, oldest first.
    async fn compression_dicts(&self) -> Result<Vec<CompressionDict>, StoreError>;
    /// The payloads (with their dictionary ids) of up to `limit` of a project's newest events.
    async fn sample_event_payloads(
        &self,
        project_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError>;

    // ---- issues and events ----

    async fn list_issues(&self, query: &IssueQuery) -> Result<Page<Issue>, StoreError>;
    async fn get_issue(&self, issue_id: i64) -> Result<Option<Issue>, StoreError>;
    /// Per tag key, the total count and the `top` most frequent values.
    async fn issue_tags(&self, issue_id: i64, top: usize) -> Result<Vec<TagDistribution>, StoreError>;
    /// An issue's events, newest first.
    async fn list_issue_events(
        &self,
        issue_id: i64,
        limit: usize,
        cursor: Option<&crate::Cursor>,
    ) -> Result<Page<EventRow>, StoreError>;
    async fn get_event(&self, project_id: i64, event_id: EventId) -> Result<Option<StoredEvent>, StoreError>;
    /// Event counts per bucket of `bucket_ms` in `[since_ms, until_ms)`, from the rollups; only
    /// non-empty buckets, ordered by time. Bucket starts are multiples of `bucket_ms`.
    ///
    /// Minute rollups older than the retention's `minute_rollup_days` are compacted into hourly
    /// ones (`apply_retention`), and the counts read both, so totals over whole hours are the same
    /// before and after compaction. Over compacted history an hour is one point in time, its start:
    /// a bucket smaller than an hour gets the whole hour's count at the hour's start, and a window
    /// edge inside such an hour includes or excludes the whole hour by its start.
    async fn event_counts(
        &self,
        scope: CountScope,
        since_ms: i64,
        until_ms: i64,
        bucket_ms: i64,
    ) -> Result<Vec<(i64, u64)>, StoreError>;

    // ---- singleton leases (leader election) ----

    /// Takes lease `name` for `holder` until `now_ms + ttl_ms` if it is free, expired, or already
    /// held by `holder` (which renews it). Returns whether `holder` holds it afterwards. Atomic:
    /// of several callers racing for a free lease exactly one gets it.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Gives lease `name` up if `holder` holds it, so another node can take it at once.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// The lease's last holder and expiry (possibly in the past); `None` if never taken or released.
    async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError>;

    // ---- maintenance (run by the leader) ----

    /// Makes sure time-partitioned tables can take rows stamped in `[from_ms, until_ms)`: on
    /// PostgreSQL creates the missing partitions; nothing to do on SQLite. Idempotent.
    async fn ensure_partitions(&self, from_ms: i64, until_ms: i64) -> Result<(), StoreError>;
    /// One retention pass: deletes events, kept items and event-id records received before each
    /// project's cutoff, issues last seen before it (with their tag values, activity and
    /// comments), folds minute rollups older than `minute_rollup_days` into hourly rollups, deletes
    /// hourly rollups and outcomes older than `hour_rollup_days`. PostgreSQL drops whole partitions where it can;
    /// row deletes go in statements of at most `policy.delete_batch` rows. Event counts
    /// (`event_counts`) stay the same across compaction.
    async fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        now_ms: i64,
    ) -> Result<RetentionReport, StoreError>;

    // ---- transfer between backends (`sentinel migrate-data`) ----

    /// Up to `limit` rows of `table` in key order, after the key `after` (exclusive) when given;
    /// values in `table.columns` order. The inbox yields only unprocessed items.
    async fn export_rows(
        &self,
        table: &TableSpec,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Vec<Value>>, StoreError>;
    /// Inserts rows exported by any backend in one transaction, keeping their ids and skipping rows
    /// whose key already exists, so a resumed copy never duplicates. Returns how many were new.
    async fn import_rows(&self, table: &TableSpec, rows: &[Vec<Value>]) -> Result<u64, StoreError>;
    /// The greatest key present in `table` (to resume a copy after it).
    async fn last_key(&self, table: &TableSpec) -> Result<Option<Vec<Value>>, StoreError>;
    /// Rows in `table` (the inbox: unprocessed items only).
    async fn count_rows(&self, table: &TableSpec) -> Result<u64, StoreError>;
    /// After imports: moves id generators past the greatest imported ids, so new rows never collide.
    async fn finish_import(&self) -> Result<(), StoreError>;
}
