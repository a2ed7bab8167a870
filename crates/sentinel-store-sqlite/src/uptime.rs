//! Uptime monitoring on SQLite (`sentinel_store_sql::uptime!`): scheduling, claims, results and
//! verification commits take the single writer connection inside `BEGIN IMMEDIATE`, which
//! already serializes schedulers and checkers, so they need no row locks; reads use the reader
//! pool.

use async_trait::async_trait;
use sentinel_store::{
    CheckJob, CheckResult, CronRun, Incident, LatencyHistogram, MaintenanceWindow, Monitor, NewCheckResult,
    NewMonitor, Resolution, StoreError, UptimeBucket, UptimeStore, VerifierCommit,
};

use crate::{SqliteStore, db_err};

sentinel_store_sql::uptime! {
    db: sqlx::Sqlite,
    db_err: crate::db_err,
    begin: |pool| pool.begin_with("BEGIN IMMEDIATE"),
    for_update: "",
    skip_locked: "",
    key_share: "",
    write_alert_commit: crate::alerts::write_alert_commit,
}

#[async_trait]
impl UptimeStore for SqliteStore {
    async fn create_monitor(&self, monitor: &NewMonitor, now_ms: i64) -> Result<Monitor, StoreError> {
        create_monitor(&self.main_w, monitor, now_ms).await
    }

    async fn get_monitor(&self, monitor_id: i64) -> Result<Option<Monitor>, StoreError> {
        get_monitor(&self.main_r, monitor_id).await
    }

    async fn get_monitors(&self, monitor_ids: &[i64]) -> Result<Vec<Monitor>, StoreError> {
        get_monitors(&self.main_r, monitor_ids).await
    }

    async fn list_monitors(
        &self,
        project_id: i64,
        limit: usize,
        after_id: Option<i64>,
    ) -> Result<Vec<Monitor>, StoreError> {
        list_monitors(&self.main_r, project_id, limit, after_id).await
    }

    async fn update_monitor(
        &self,
        monitor_id: i64,
        monitor: &NewMonitor,
        now_ms: i64,
    ) -> Result<Monitor, StoreError> {
        update_monitor(&self.main_w, monitor_id, monitor, now_ms).await
    }

    async fn delete_monitor(&self, monitor_id: i64) -> Result<bool, StoreError> {
        delete_monitor(&self.main_w, monitor_id).await
    }

    async fn schedule_due(&self, now_ms: i64, limit: usize) -> Result<Vec<CheckJob>, StoreError> {
        schedule_due(&self.main_w, now_ms, limit).await
    }

    async fn claim_check_jobs(
        &self,
        region: &str,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<(CheckJob, Monitor)>, StoreError> {
        claim_check_jobs(&self.main_w, region, limit, now_ms, lease_ms).await
    }

    async fn record_checks(&self, results: &[NewCheckResult]) -> Result<u64, StoreError> {
        if results.is_empty() {
            return Ok(0);
        }
        let mut tx = self.main_w.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let new = write_check_results(&mut tx, results).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(new)
    }

    async fn pending_check_jobs(&self) -> Result<u64, StoreError> {
        pending_check_jobs(&self.main_r).await
    }

    async fn unverified_results(&self, limit: usize) -> Result<Vec<CheckResult>, StoreError> {
        unverified_results(&self.main_r, limit).await
    }

    async fn commit_verification(&self, commit: &VerifierCommit) -> Result<u64, StoreError> {
        commit_verification(&self.main_w, commit).await
    }

    async fn list_check_results(
        &self,
        monitor_id: i64,
        limit: usize,
        before_slot_ms: Option<i64>,
    ) -> Result<Vec<CheckResult>, StoreError> {
        list_check_results(&self.main_r, monitor_id, limit, before_slot_ms).await
    }

    async fn list_incidents(
        &self,
        project_id: i64,
        monitor_id: Option<i64>,
        limit: usize,
        before_id: Option<i64>,
    ) -> Result<Vec<Incident>, StoreError> {
        list_incidents(&self.main_r, project_id, monitor_id, limit, before_id).await
    }

    async fn open_incident(&self, monitor_id: i64) -> Result<Option<Incident>, StoreError> {
        open_incident(&self.main_r, monitor_id).await
    }

    async fn uptime_buckets(
        &self,
        monitor_ids: &[i64],
        resolution: Resolution,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<(i64, UptimeBucket)>, StoreError> {
        uptime_buckets(&self.main_r, monitor_ids, resolution, since_ms, until_ms).await
    }

    async fn latency_histograms(
        &self,
        monitor_ids: &[i64],
        resolution: Resolution,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<(i64, i64, LatencyHistogram)>, StoreError> {
        latency_histograms(&self.main_r, monitor_ids, resolution, since_ms, until_ms).await
    }

    async fn monitor_by_slug(&self, project_id: i64, slug: &str) -> Result<Option<Monitor>, StoreError> {
        monitor_by_slug(&self.main_r, project_id, slug).await
    }

    async fn overdue_monitors(&self, now_ms: i64, limit: usize) -> Result<Vec<Monitor>, StoreError> {
        overdue_monitors(&self.main_r, now_ms, limit).await
    }

    async fn move_deadline(&self, monitor_id: i64, from_ms: i64, to_ms: i64) -> Result<bool, StoreError> {
        move_deadline(&self.main_w, monitor_id, from_ms, to_ms).await
    }

    async fn start_cron_run(&self, run: &CronRun) -> Result<bool, StoreError> {
        start_cron_run(&self.main_w, run).await
    }

    async fn cron_run(
        &self,
        monitor_id: i64,
        check_in_id: Option<&str>,
    ) -> Result<Option<CronRun>, StoreError> {
        cron_run(&self.main_r, monitor_id, check_in_id).await
    }

    async fn end_cron_run(&self, monitor_id: i64, check_in_id: &str) -> Result<bool, StoreError> {
        end_cron_run(&self.main_w, monitor_id, check_in_id).await
    }

    async fn overdue_cron_runs(&self, now_ms: i64, limit: usize) -> Result<Vec<CronRun>, StoreError> {
        overdue_cron_runs(&self.main_r, now_ms, limit).await
    }

    async fn create_maintenance(&self, window: &MaintenanceWindow) -> Result<MaintenanceWindow, StoreError> {
        create_maintenance(&self.main_w, window).await
    }

    async fn get_maintenance(&self, window_id: i64) -> Result<Option<MaintenanceWindow>, StoreError> {
        get_maintenance(&self.main_r, window_id).await
    }

    async fn list_maintenance(&self, project_id: i64) -> Result<Vec<MaintenanceWindow>, StoreError> {
        list_maintenance(&self.main_r, project_id).await
    }

    async fn delete_maintenance(&self, window_id: i64) -> Result<bool, StoreError> {
        delete_maintenance(&self.main_w, window_id).await
    }
}

#[cfg(test)]
mod tests {
    use sentinel_store::Store;
    use sqlx::Row;

    use crate::{SqliteOptions, SqliteStore};

    async fn plan(store: &SqliteStore, sql: &str, binds: usize) -> Vec<String> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
        for i in 1..=binds {
            query = query.bind(i as i64);
        }
        query
            .fetch_all(&store.main_r)
            .await
            .unwrap()
            .iter()
            .map(|step| step.try_get(3).unwrap())
            .collect()
    }

    /// The scheduler and the checkers poll these every second: they read the partial index of
    /// due monitors and the jobs' slot index, never a whole table, and need no sorting.
    #[tokio::test]
    async fn schedulers_and_checkers_read_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&SqliteOptions::new(dir.path())).await.unwrap();
        store.migrate().await.unwrap();
        let due = plan(&store, sentinel_store_sql::DUE_MONITORS, 2).await;
        assert_eq!(
            due,
            ["SEARCH monitors USING INDEX monitors_due (next_check_ms<?)"],
            "{due:?}"
        );
        let jobs = plan(&store, sentinel_store_sql::DUE_JOBS, 4).await;
        assert_eq!(
            jobs,
            ["SEARCH check_jobs USING INDEX check_jobs_due (slot_ms<?)"],
            "{jobs:?}"
        );
        // The deadline sweep of heartbeat and cron monitors, likewise.
        let overdue = plan(
            &store,
            &format!("SELECT id FROM monitors {}", sentinel_store_sql::OVERDUE_MONITORS),
            2,
        )
        .await;
        assert_eq!(
            overdue,
            ["SEARCH monitors USING INDEX monitors_deadline (next_check_ms<?)"],
            "{overdue:?}"
        );
        let runs = plan(
            &store,
            "SELECT monitor_id FROM cron_runs WHERE deadline_ms <= $1 ORDER BY deadline_ms, monitor_id, check_in_id LIMIT $2",
            2,
        )
        .await;
        assert_eq!(
            runs,
            ["SEARCH cron_runs USING COVERING INDEX cron_runs_by_deadline (deadline_ms<?)"],
            "{runs:?}"
        );
    }
}
