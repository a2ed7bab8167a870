//! The embedded SQLite backend of Sentinel's `Store`.
//!
//! Two database files in the data directory: `sentinel.db` (everything) and `inbox.db` (the durable
//! queue between ingest and the workers), so that ingest commits never wait on the worker's writes.
//! Each file has exactly one writer connection; reads use a separate pool (WAL mode allows readers
//! alongside the writer). Only this crate knows SQLite's dialect.

mod accounts;
mod alerts;
mod batch;
mod inbox;
mod issues;
mod leases;
mod projects;
mod releases;
mod retention;
mod tenants;
mod transfer;
mod uptime;
mod workflow;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sentinel_protocol::ids::EventId;
use sentinel_store::transfer::{TableSpec, Value};
use sentinel_store::{
    BatchOutcome, CompressionDict, CountScope, Cursor, EventRow, InboxItem, InboxStats, Issue, IssueQuery,
    Lease, NewInboxItem, OutcomeCount, Page, ProcessedBatch, Project, ProjectKey, RetentionPolicy,
    RetentionReport, Store, StoreError, StoredEvent, TagDistribution,
};
use sentinel_store_sql::KeyFilter;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

static MAIN_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/main");
static INBOX_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/inbox");

/// How durable an inbox commit is. `Normal` survives a crash of the process (WAL pages are in the
/// OS cache); `Full` also survives power loss, at the cost of an fsync per commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    #[default]
    Normal,
    Full,
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub data_dir: PathBuf,
    pub inbox_durability: Durability,
    /// Page cache per connection, KiB.
    pub cache_kib: u32,
    pub read_connections: u32,
}

impl SqliteOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            inbox_durability: Durability::Normal,
            cache_kib: 8 * 1024,
            read_connections: 4,
        }
    }
}

pub struct SqliteStore {
    main_w: SqlitePool,
    main_r: SqlitePool,
    inbox_w: SqlitePool,
    inbox_r: SqlitePool,
    /// Mirror of `worker_cursor.inbox_id`; only this process's worker advances it.
    cursor: AtomicI64,
}

fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(d.message().to_owned()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

fn connect_options(path: &Path, sync: SqliteSynchronous, cache_kib: u32) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(sync)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        // 8 KiB pages pack the 2–4 KB compressed payloads with far less slack than 4 KiB pages.
        .page_size(8192)
        .pragma("cache_size", format!("-{cache_kib}"))
        .pragma("temp_store", "memory")
}

async fn pool(opts: SqliteConnectOptions, max: u32) -> Result<SqlitePool, StoreError> {
    SqlitePoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(opts)
        .await
        .map_err(db_err)
}

impl SqliteStore {
    /// Opens (creating if needed) the databases in `opts.data_dir`. Call `migrate` before use.
    pub async fn open(opts: &SqliteOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&opts.data_dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create data directory {}: {e}",
                opts.data_dir.display()
            ))
        })?;
        let main = opts.data_dir.join("sentinel.db");
        let inbox = opts.data_dir.join("inbox.db");
        let inbox_sync = match opts.inbox_durability {
            Durability::Normal => SqliteSynchronous::Normal,
            Durability::Full => SqliteSynchronous::Full,
        };
        let main_opts = connect_options(&main, SqliteSynchronous::Normal, opts.cache_kib);
        let inbox_opts = connect_options(&inbox, inbox_sync, 2048);
        Ok(Self {
            main_w: pool(main_opts.clone(), 1).await?,
            main_r: pool(main_opts.read_only(true), opts.read_connections.max(1)).await?,
            inbox_w: pool(inbox_opts.clone(), 1).await?,
            inbox_r: pool(inbox_opts.read_only(true), 1).await?,
            cursor: AtomicI64::new(0),
        })
    }

    /// Where `table`'s rows are read for a transfer.
    fn source(&self, table: &TableSpec) -> transfer::Source<'_> {
        if table.name == INBOX {
            transfer::Source {
                pool: &self.inbox_r,
                after_id: Some(self.cursor.load(Ordering::SeqCst)),
            }
        } else {
            transfer::Source {
                pool: &self.main_r,
                after_id: None,
            }
        }
    }

    /// Moves the worker cursor back below `lowest`, so imported inbox items with ids this store
    /// already processed (and deleted) are pending again.
    async fn reopen_inbox_from(&self, lowest: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE worker_cursor SET inbox_id = min(inbox_id, $1) WHERE id = 1")
            .bind(lowest - 1)
            .execute(&self.main_w)
            .await
            .map_err(db_err)?;
        self.cursor.fetch_min(lowest - 1, Ordering::SeqCst);
        Ok(())
    }
}

const INBOX: &str = "inbox";

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MAIN_MIGRATIONS
            .run(&self.main_w)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        INBOX_MIGRATIONS
            .run(&self.inbox_w)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let cursor: i64 = sqlx::query_scalar("SELECT inbox_id FROM worker_cursor WHERE id = 1")
            .fetch_one(&self.main_w)
            .await
            .map_err(db_err)?;
        self.cursor.store(cursor, Ordering::SeqCst);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.main_r)
            .await
            .map_err(db_err)?;
        sqlx::query("SELECT 1")
            .execute(&self.inbox_r)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn close(&self) {
        // Readers first, so the last writer connection to close can checkpoint and remove the WAL.
        self.main_r.close().await;
        self.inbox_r.close().await;
        self.main_w.close().await;
        self.inbox_w.close().await;
    }

    async fn create_project(
        &self,
        org_slug: &str,
        name: &str,
        platform: &str,
        public_key: &str,
        now_ms: i64,
    ) -> Result<(Project, ProjectKey), StoreError> {
        projects::create_project(&self.main_w, org_slug, name, platform, public_key, now_ms).await
    }

    async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        projects::list_projects(&self.main_r, None).await
    }

    async fn get_project(&self, project_id: i64) -> Result<Option<Project>, StoreError> {
        Ok(projects::list_projects(&self.main_r, Some(project_id))
            .await?
            .into_iter()
            .next())
    }

    async fn project_keys(&self, project_id: i64) -> Result<Vec<ProjectKey>, StoreError> {
        projects::keys(&self.main_r, KeyFilter::Project(project_id)).await
    }

    async fn find_key(&self, public_key: &str) -> Result<Option<ProjectKey>, StoreError> {
        Ok(projects::keys(&self.main_r, KeyFilter::Public(public_key))
            .await?
            .into_iter()
            .next())
    }

    async fn set_project_rate_limit(
        &self,
        project_id: i64,
        per_minute: Option<u32>,
    ) -> Result<(), StoreError> {
        projects::set_project_rate_limit(&self.main_w, project_id, per_minute).await
    }

    async fn set_project_apdex(&self, project_id: i64, threshold_ms: u32) -> Result<(), StoreError> {
        projects::set_project_apdex(&self.main_w, project_id, threshold_ms).await
    }

    async fn set_key_rate_limit(&self, public_key: &str, per_minute: Option<u32>) -> Result<(), StoreError> {
        projects::set_key_rate_limit(&self.main_w, public_key, per_minute).await
    }

    async fn inbox_append(&self, items: &[NewInboxItem]) -> Result<(), StoreError> {
        inbox::append(&self.inbox_w, items).await
    }

    async fn inbox_claim(&self, limit: usize) -> Result<Vec<InboxItem>, StoreError> {
        inbox::claim(&self.inbox_r, self.cursor.load(Ordering::SeqCst), limit).await
    }

    async fn inbox_stats(&self) -> Result<InboxStats, StoreError> {
        inbox::stats(&self.inbox_r, self.cursor.load(Ordering::SeqCst)).await
    }

    async fn apply_batch(&self, batch: &ProcessedBatch) -> Result<BatchOutcome, StoreError> {
        let max_id = batch.acknowledged.iter().copied().max();
        let outcome = batch::apply(&self.main_w, batch, max_id).await?;
        if let Some(max_id) = max_id {
            self.cursor.fetch_max(max_id, Ordering::SeqCst);
            // Deleting is idempotent: if we crash before this, the cursor already hides these rows
            // and the next acknowledgement deletes them.
            inbox::delete_through(&self.inbox_w, max_id).await?;
        }
        Ok(outcome)
    }

    async fn record_outcomes(&self, outcomes: &[OutcomeCount]) -> Result<(), StoreError> {
        let mut tx = self.main_w.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        batch::upsert_outcomes(&mut tx, outcomes).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn outcome_totals(
        &self,
        project_id: i64,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<OutcomeCount>, StoreError> {
        batch::outcome_totals(&self.main_r, project_id, since_ms, until_ms).await
    }

    async fn save_compression_dict(
        &self,
        project_id: i64,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        batch::save_dict(&self.main_w, project_id, bytes, now_ms).await
    }

    async fn compression_dicts(&self) -> Result<Vec<CompressionDict>, StoreError> {
        batch::dicts(&self.main_r).await
    }

    async fn sample_event_payloads(
        &self,
        project_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        batch::sample_payloads(&self.main_r, project_id, limit).await
    }

    async fn list_issues(&self, query: &IssueQuery) -> Result<Page<Issue>, StoreError> {
        issues::list(&self.main_r, query).await
    }

    async fn get_issue(&self, issue_id: i64) -> Result<Option<Issue>, StoreError> {
        issues::get(&self.main_r, issue_id).await
    }

    async fn issue_tags(&self, issue_id: i64, top: usize) -> Result<Vec<TagDistribution>, StoreError> {
        issues::tags(&self.main_r, issue_id, top).await
    }

    async fn list_issue_events(
        &self,
        issue_id: i64,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page<EventRow>, StoreError> {
        issues::events(&self.main_r, issue_id, limit, cursor).await
    }

    async fn get_event(&self, project_id: i64, event_id: EventId) -> Result<Option<StoredEvent>, StoreError> {
        issues::event(&self.main_r, project_id, event_id).await
    }

    async fn event_counts(
        &self,
        scope: CountScope,
        since_ms: i64,
        until_ms: i64,
        bucket_ms: i64,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        issues::counts(&self.main_r, scope, since_ms, until_ms, bucket_ms).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        leases::acquire(&self.main_w, name, holder, now_ms, ttl_ms).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        leases::release(&self.main_w, name, holder).await
    }

    async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        leases::get(&self.main_r, name).await
    }

    async fn ensure_partitions(&self, _from_ms: i64, _until_ms: i64) -> Result<(), StoreError> {
        Ok(())
    }

    async fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        now_ms: i64,
    ) -> Result<RetentionReport, StoreError> {
        retention::apply(&self.main_w, policy, now_ms).await
    }

    async fn export_rows(
        &self,
        table: &TableSpec,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        transfer::export(self.source(table), table, after, limit).await
    }

    async fn import_rows(&self, table: &TableSpec, rows: &[Vec<Value>]) -> Result<u64, StoreError> {
        if table.name != INBOX {
            return transfer::import(&self.main_w, table, rows, None).await;
        }
        let cursor = self.cursor.load(Ordering::SeqCst);
        let inserted = transfer::import(&self.inbox_w, table, rows, Some(cursor)).await?;
        // The inbox's first column is its id.
        let lowest = rows
            .iter()
            .filter_map(|r| match r.first() {
                Some(Value::Int(id)) => Some(*id),
                _ => None,
            })
            .min();
        if let Some(lowest) = lowest.filter(|id| *id <= cursor) {
            self.reopen_inbox_from(lowest).await?;
        }
        Ok(inserted)
    }

    async fn last_key(&self, table: &TableSpec) -> Result<Option<Vec<Value>>, StoreError> {
        transfer::last_key(self.source(table), table).await
    }

    async fn count_rows(&self, table: &TableSpec) -> Result<u64, StoreError> {
        transfer::count(self.source(table), table).await
    }

    async fn finish_import(&self) -> Result<(), StoreError> {
        // Main tables use plain INTEGER PRIMARY KEYs: new ids follow the greatest present already.
        transfer::advance_inbox_sequence(&self.inbox_w, self.cursor.load(Ordering::SeqCst)).await
    }
}
