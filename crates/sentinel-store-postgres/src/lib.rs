//! The PostgreSQL backend of Sentinel's `Store`, for deployments where several nodes share one
//! database.
//!
//! What differs from the embedded SQLite backend lives here and nowhere else: the inbox is claimed
//! with leases (`FOR UPDATE SKIP LOCKED`) so any number of workers can drain it, events, items,
//! rollups and uptime check results are partitioned by time so retention drops whole partitions,
//! and `event_ids` keeps de-duplication exact across partitions and concurrent workers. Depends
//! on the store interface only, never on the server.

mod accounts;
mod alerts;
mod batch;
mod inbox;
mod issues;
mod leases;
mod options;
mod partitions;
mod projects;
mod releases;
mod retention;
mod tenants;
mod transfer;
mod uptime;
mod workflow;

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use sentinel_protocol::ids::EventId;
use sentinel_store::transfer::{TableSpec, Value};
use sentinel_store::{
    BatchOutcome, CompressionDict, CountScope, Cursor, DAY_MS, EventRow, InboxItem, InboxStats, Issue,
    IssueQuery, Lease, NewInboxItem, OutcomeCount, Page, ProcessedBatch, Project, ProjectKey,
    RetentionPolicy, RetentionReport, Store, StoreError, StoredEvent, TagDistribution,
};
use sentinel_store_sql::KeyFilter;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgPool};

pub use options::{PgOptions, redact_url};

/// How long `migrate` waits for its first connection.
const ACQUIRE_AT_START: Duration = Duration::from_secs(10);

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database's clock in epoch milliseconds: inbox leases are measured with it so that nodes
/// with skewed clocks agree on when a lease has expired.
const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

pub struct PgStore {
    pool: PgPool,
    /// For one direct connection at start-up, whose error says why the database is unreachable
    /// (the pool only reports that it timed out).
    connect: sqlx::postgres::PgConnectOptions,
    /// Who this instance is when it leases inbox items (a random UUID per instance).
    holder: String,
    inbox_lease_ms: i64,
    schema: Option<String>,
    partitions: partitions::Partitions,
    /// Column types per table, read from the catalog on first transfer of that table.
    column_types: Mutex<std::collections::HashMap<&'static str, Vec<transfer::ColType>>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("holder", &self.holder)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(d.message().to_owned()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(e.to_string())
        }
        sqlx::Error::PoolTimedOut => {
            StoreError::Unavailable("timed out waiting for a PostgreSQL connection".into())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// The SQLSTATE of a database error, if `e` is one.
pub(crate) fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
        _ => None,
    }
}

impl PgStore {
    /// Builds the pool without connecting, so a server can start while PostgreSQL is down: the
    /// first query (normally `migrate`) reports the failure. Invalid options are a `Conflict`.
    pub async fn connect(opts: &PgOptions) -> Result<Self, StoreError> {
        let connect = opts.connect_options()?;
        let statement_timeout = opts.statement_timeout_ms.to_string();
        let search_path = opts.schema.clone();
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(Duration::from_millis(opts.acquire_timeout_ms))
            .after_connect(move |conn, _meta| {
                let statement_timeout = statement_timeout.clone();
                let search_path = search_path.clone();
                Box::pin(async move {
                    conn.execute(
                        sqlx::query("SELECT set_config('statement_timeout', $1, false)")
                            .bind(statement_timeout),
                    )
                    .await?;
                    if let Some(schema) = search_path {
                        conn.execute(sqlx::query("SELECT set_config('search_path', $1, false)").bind(schema))
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(connect.clone());
        Ok(Self {
            pool,
            connect,
            holder: uuid::Uuid::new_v4().to_string(),
            inbox_lease_ms: opts.inbox_lease_ms.max(1),
            schema: opts.schema.clone(),
            partitions: partitions::Partitions::default(),
            column_types: Mutex::default(),
        })
    }

    /// This instance's inbox lease holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    async fn db_now_ms(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {DB_NOW_MS}")))
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let unavailable =
            |e: String| StoreError::Unavailable(format!("cannot migrate the PostgreSQL database: {e}"));
        match tokio::time::timeout(ACQUIRE_AT_START, sqlx::PgConnection::connect_with(&self.connect)).await {
            Ok(Ok(conn)) => drop(conn),
            Ok(Err(e)) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL: {e}"
                )));
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL: no answer within {} s",
                    ACQUIRE_AT_START.as_secs()
                )));
            }
        }
        if let Some(schema) = &self.schema {
            // The name was checked to be a plain identifier when the options were read.
            let created = sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
            )))
            .execute(&self.pool)
            .await;
            match created {
                // Another node created it at the same moment.
                Err(e) if !matches!(sqlstate(&e).as_deref(), Some("23505" | "42P06")) => {
                    return Err(unavailable(e.to_string()));
                }
                _ => {}
            }
        }
        MIGRATIONS
            .run(&self.pool)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let now = self.db_now_ms().await?;
        self.ensure_partitions(now - DAY_MS, now + 4 * DAY_MS).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn create_project(
        &self,
        org_slug: &str,
        name: &str,
        platform: &str,
        public_key: &str,
        now_ms: i64,
    ) -> Result<(Project, ProjectKey), StoreError> {
        projects::create_project(&self.pool, org_slug, name, platform, public_key, now_ms).await
    }

    async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        projects::list_projects(&self.pool, None).await
    }

    async fn get_project(&self, project_id: i64) -> Result<Option<Project>, StoreError> {
        Ok(projects::list_projects(&self.pool, Some(project_id))
            .await?
            .into_iter()
            .next())
    }

    async fn project_keys(&self, project_id: i64) -> Result<Vec<ProjectKey>, StoreError> {
        projects::keys(&self.pool, KeyFilter::Project(project_id)).await
    }

    async fn find_key(&self, public_key: &str) -> Result<Option<ProjectKey>, StoreError> {
        Ok(projects::keys(&self.pool, KeyFilter::Public(public_key))
            .await?
            .into_iter()
            .next())
    }

    async fn set_project_rate_limit(
        &self,
        project_id: i64,
        per_minute: Option<u32>,
    ) -> Result<(), StoreError> {
        projects::set_project_rate_limit(&self.pool, project_id, per_minute).await
    }

    async fn set_project_apdex(&self, project_id: i64, threshold_ms: u32) -> Result<(), StoreError> {
        projects::set_project_apdex(&self.pool, project_id, threshold_ms).await
    }

    async fn set_key_rate_limit(&self, public_key: &str, per_minute: Option<u32>) -> Result<(), StoreError> {
        projects::set_key_rate_limit(&self.pool, public_key, per_minute).await
    }

    async fn inbox_append(&self, items: &[NewInboxItem]) -> Result<(), StoreError> {
        inbox::append(&self.pool, items).await
    }

    async fn inbox_claim(&self, limit: usize) -> Result<Vec<InboxItem>, StoreError> {
        inbox::claim(&self.pool, &self.holder, self.inbox_lease_ms, limit).await
    }

    async fn inbox_stats(&self) -> Result<InboxStats, StoreError> {
        inbox::stats(&self.pool).await
    }

    async fn apply_batch(&self, batch: &ProcessedBatch) -> Result<BatchOutcome, StoreError> {
        batch::apply(self, batch).await
    }

    async fn record_outcomes(&self, outcomes: &[OutcomeCount]) -> Result<(), StoreError> {
        batch::record_outcomes(&self.pool, outcomes).await
    }

    async fn outcome_totals(
        &self,
        project_id: i64,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<OutcomeCount>, StoreError> {
        batch::outcome_totals(&self.pool, project_id, since_ms, until_ms).await
    }

    async fn save_compression_dict(
        &self,
        project_id: i64,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        batch::save_dict(&self.pool, project_id, bytes, now_ms).await
    }

    async fn compression_dicts(&self) -> Result<Vec<CompressionDict>, StoreError> {
        batch::dicts(&self.pool).await
    }

    async fn sample_event_payloads(
        &self,
        project_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        batch::sample_payloads(&self.pool, project_id, limit).await
    }

    async fn list_issues(&self, query: &IssueQuery) -> Result<Page<Issue>, StoreError> {
        issues::list(&self.pool, query).await
    }

    async fn get_issue(&self, issue_id: i64) -> Result<Option<Issue>, StoreError> {
        issues::get(&self.pool, issue_id).await
    }

    async fn issue_tags(&self, issue_id: i64, top: usize) -> Result<Vec<TagDistribution>, StoreError> {
        issues::tags(&self.pool, issue_id, top).await
    }

    async fn list_issue_events(
        &self,
        issue_id: i64,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page<EventRow>, StoreError> {
        issues::events(&self.pool, issue_id, limit, cursor).await
    }

    async fn get_event(&self, project_id: i64, event_id: EventId) -> Result<Option<StoredEvent>, StoreError> {
        issues::event(&self.pool, project_id, event_id).await
    }

    async fn event_counts(
        &self,
        scope: CountScope,
        since_ms: i64,
        until_ms: i64,
        bucket_ms: i64,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        issues::counts(&self.pool, scope, since_ms, until_ms, bucket_ms).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        leases::acquire(&self.pool, name, holder, now_ms, ttl_ms).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        leases::release(&self.pool, name, holder).await
    }

    async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        leases::get(&self.pool, name).await
    }

    async fn ensure_partitions(&self, from_ms: i64, until_ms: i64) -> Result<(), StoreError> {
        let wanted = partitions::covering_all(from_ms, until_ms)?;
        self.partitions.ensure(&self.pool, wanted).await
    }

    async fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        now_ms: i64,
    ) -> Result<RetentionReport, StoreError> {
        retention::apply(self, policy, now_ms).await
    }

    async fn export_rows(
        &self,
        table: &TableSpec,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        transfer::export_rows(self, table, after, limit).await
    }

    async fn import_rows(&self, table: &TableSpec, rows: &[Vec<Value>]) -> Result<u64, StoreError> {
        transfer::import_rows(self, table, rows).await
    }

    async fn last_key(&self, table: &TableSpec) -> Result<Option<Vec<Value>>, StoreError> {
        transfer::last_key(self, table).await
    }

    async fn count_rows(&self, table: &TableSpec) -> Result<u64, StoreError> {
        transfer::count_rows(self, table).await
    }

    async fn finish_import(&self) -> Result<(), StoreError> {
        transfer::finish_import(self).await
    }
}
