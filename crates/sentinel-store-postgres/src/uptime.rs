//! Uptime monitoring on PostgreSQL (`sentinel_store_sql::uptime!`): schedulers and checkers on
//! several nodes take due monitors and jobs with `FOR UPDATE SKIP LOCKED`, so no two take the same
//! one, and check results land in daily partitions that `record_checks` creates first.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use sentinel_store::{
    CheckJob, CheckResult, CronRun, Incident, LatencyHistogram, MaintenanceWindow, Monitor, NewCheckResult,
    NewMonitor, Resolution, StoreError, UptimeBucket, UptimeStore, VerifierCommit,
};

use crate::partitions::{Family, Partition};
use crate::{PgStore, db_err, sqlstate};

sentinel_store_sql::uptime! {
    db: sqlx::Postgres,
    db_err: crate::db_err,
    begin: |pool| pool.begin(),
    for_update: " FOR UPDATE",
    skip_locked: " FOR UPDATE SKIP LOCKED",
    key_share: " FOR KEY SHARE",
    write_alert_commit: crate::alerts::write_alert_commit,
}

const MAX_ATTEMPTS: u32 = 5;

impl PgStore {
    /// Creates the results' partitions, then writes them; again after a deadlock, or when a
    /// partition was dropped meanwhile (by retention on another node).
    async fn record_checks_retrying(&self, results: &[NewCheckResult]) -> Result<u64, StoreError> {
        let wanted = results
            .iter()
            .map(|r| Family::CheckResults.partition_of(r.slot_ms))
            .collect::<Result<BTreeSet<Partition>, _>>()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.partitions.ensure(&self.pool, wanted.iter().cloned()).await?;
            let written = async {
                let mut tx = self.pool.begin().await?;
                let new = write_check_results(&mut tx, results).await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(new)
            }
            .await;
            match written {
                Ok(new) => return Ok(new),
                Err(e) if attempt < MAX_ATTEMPTS => match sqlstate(&e).as_deref() {
                    Some("40P01" | "40001") => {
                        tracing::debug!(attempt, error = %e, "check results conflicted, retrying");
                        tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
                    }
                    // "no partition of relation … found for row".
                    Some("23514") => {
                        tracing::info!(error = %e, "a partition disappeared, checking partitions again");
                        self.partitions.forget_all();
                    }
                    _ => return Err(db_err(e)),
                },
                Err(e) => return Err(db_err(e)),
            }
        }
    }
}

#[async_trait]
impl UptimeStore for PgStore {
    async fn create_monitor(&self, monitor: &NewMonitor, now_ms: i64) -> Result<Monitor, StoreError> {
        create_monitor(&self.pool, monitor, now_ms).await
    }

    async fn get_monitor(&self, monitor_id: i64) -> Result<Option<Monitor>, StoreError> {
        get_monitor(&self.pool, monitor_id).await
    }

    async fn get_monitors(&self, monitor_ids: &[i64]) -> Result<Vec<Monitor>, StoreError> {
        get_monitors(&self.pool, monitor_ids).await
    }

    async fn list_monitors(
        &self,
        project_id: i64,
        limit: usize,
        after_id: Option<i64>,
    ) -> Result<Vec<Monitor>, StoreError> {
        list_monitors(&self.pool, project_id, limit, after_id).await
    }

    async fn update_monitor(
        &self,
        monitor_id: i64,
        monitor: &NewMonitor,
        now_ms: i64,
    ) -> Result<Monitor, StoreError> {
        update_monitor(&self.pool, monitor_id, monitor, now_ms).await
    }

    async fn delete_monitor(&self, monitor_id: i64) -> Result<bool, StoreError> {
        delete_monitor(&self.pool, monitor_id).await
    }

    async fn schedule_due(&self, now_ms: i64, limit: usize) -> Result<Vec<CheckJob>, StoreError> {
        schedule_due(&self.pool, now_ms, limit).await
    }

    async fn claim_check_jobs(
        &self,
        region: &str,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<(CheckJob, Monitor)>, StoreError> {
        claim_check_jobs(&self.pool, region, limit, now_ms, lease_ms).await
    }

    async fn record_checks(&self, results: &[NewCheckResult]) -> Result<u64, StoreError> {
        if results.is_empty() {
            return Ok(0);
        }
        self.record_checks_retrying(results).await
    }

    async fn pending_check_jobs(&self) -> Result<u64, StoreError> {
        pending_check_jobs(&self.pool).await
    }

    async fn unverified_results(&self, limit: usize) -> Result<Vec<CheckResult>, StoreError> {
        unverified_results(&self.pool, limit).await
    }

    async fn commit_verification(&self, commit: &VerifierCommit) -> Result<u64, StoreError> {
        commit_verification(&self.pool, commit).await
    }

    async fn list_check_results(
        &self,
        monitor_id: i64,
        limit: usize,
        before_slot_ms: Option<i64>,
    ) -> Result<Vec<CheckResult>, StoreError> {
        list_check_results(&self.pool, monitor_id, limit, before_slot_ms).await
    }

    async fn list_incidents(
        &self,
        project_id: i64,
        monitor_id: Option<i64>,
        limit: usize,
        before_id: Option<i64>,
    ) -> Result<Vec<Incident>, StoreError> {
        list_incidents(&self.pool, project_id, monitor_id, limit, before_id).await
    }

    async fn open_incident(&self, monitor_id: i64) -> Result<Option<Incident>, StoreError> {
        open_incident(&self.pool, monitor_id).await
    }

    async fn uptime_buckets(
        &self,
        monitor_ids: &[i64],
        resolution: Resolution,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<(i64, UptimeBucket)>, StoreError> {
        uptime_buckets(&self.pool, monitor_ids, resolution, since_ms, until_ms).await
    }

    async fn latency_histograms(
        &self,
        monitor_ids: &[i64],
        resolution: Resolution,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<(i64, i64, LatencyHistogram)>, StoreError> {
        latency_histograms(&self.pool, monitor_ids, resolution, since_ms, until_ms).await
    }

    async fn monitor_by_slug(&self, project_id: i64, slug: &str) -> Result<Option<Monitor>, StoreError> {
        monitor_by_slug(&self.pool, project_id, slug).await
    }

    async fn overdue_monitors(&self, now_ms: i64, limit: usize) -> Result<Vec<Monitor>, StoreError> {
        overdue_monitors(&self.pool, now_ms, limit).await
    }

    async fn move_deadline(&self, monitor_id: i64, from_ms: i64, to_ms: i64) -> Result<bool, StoreError> {
        move_deadline(&self.pool, monitor_id, from_ms, to_ms).await
    }

    async fn start_cron_run(&self, run: &CronRun) -> Result<bool, StoreError> {
        start_cron_run(&self.pool, run).await
    }

    async fn cron_run(
        &self,
        monitor_id: i64,
        check_in_id: Option<&str>,
    ) -> Result<Option<CronRun>, StoreError> {
        cron_run(&self.pool, monitor_id, check_in_id).await
    }

    async fn end_cron_run(&self, monitor_id: i64, check_in_id: &str) -> Result<bool, StoreError> {
        end_cron_run(&self.pool, monitor_id, check_in_id).await
    }

    async fn overdue_cron_runs(&self, now_ms: i64, limit: usize) -> Result<Vec<CronRun>, StoreError> {
        overdue_cron_runs(&self.pool, now_ms, limit).await
    }

    async fn create_maintenance(&self, window: &MaintenanceWindow) -> Result<MaintenanceWindow, StoreError> {
        create_maintenance(&self.pool, window).await
    }

    async fn get_maintenance(&self, window_id: i64) -> Result<Option<MaintenanceWindow>, StoreError> {
        get_maintenance(&self.pool, window_id).await
    }

    async fn list_maintenance(&self, project_id: i64) -> Result<Vec<MaintenanceWindow>, StoreError> {
        list_maintenance(&self.pool, project_id).await
    }

    async fn delete_maintenance(&self, window_id: i64) -> Result<bool, StoreError> {
        delete_maintenance(&self.pool, window_id).await
    }
}
