//! The scheduler role: singleton jobs run by whichever process holds the `scheduler` lease in the
//! database. Every process with the role competes for the lease; the holder renews it at a third
//! of its lifetime, so when the leader dies another process takes over within one lease, and a
//! leader that shuts down gives it up at once.
//!
//! Jobs run in lanes, each one job after another:
//! - maintenance: time partitions ahead (PostgreSQL), retention, compression-dictionary training,
//!   pruning of expired sign-in sessions and invitations;
//! - uptime: due monitors' checks queued every 100 ms, and checkers' results judged as they come
//!   (two loops of their own, `uptime::schedule` and `uptime::verifier`);
//! - alerts: the built-in instance rules (on taking the lease, then daily) and the scheduled
//!   rules (thresholds over rollups, the instance's health), so a long retention pass never
//!   delays an alert.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sentinel_store::{DAY_MS, RetentionPolicy, Store};
use tokio::sync::{Notify, watch};

use crate::alerts::engine::Engine;

use crate::clock::Clock;
use crate::codec::Trainer;
use crate::config::Settings;

pub const LEASE_NAME: &str = "scheduler";
const PARTITIONS_EVERY: Duration = Duration::from_secs(600);
const SESSIONS_EVERY: Duration = Duration::from_secs(3600);
/// How often the job loop looks for due jobs.
const JOB_TICK: Duration = Duration::from_secs(1);

/// A job that runs at most once per `every` while this process leads.
struct Job {
    name: &'static str,
    every: Duration,
    last: Option<Instant>,
}

impl Job {
    fn new(name: &'static str, every: Duration) -> Self {
        Self {
            name,
            every,
            last: None,
        }
    }

    fn due(&self) -> bool {
        self.last.is_none_or(|t| t.elapsed() >= self.every)
    }
}

pub struct Scheduler {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    pub trainer: Trainer,
    /// Identifies this process in the lease row (host, pid and a random suffix).
    pub holder: String,
    /// This process's notifier, woken when an evaluation queued notifications.
    pub notifier_wake: Option<Arc<Notify>>,
    /// This process's checkers, woken when uptime checks were queued.
    pub checker_wake: Option<Arc<Notify>>,
    /// Woken by this process's checkers when they wrote results to verify.
    pub verifier_wake: Arc<Notify>,
}

/// `host:pid:random`, unique per process start.
pub fn holder_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "sentinel".into());
    format!("{host}:{}:{:08x}", std::process::id(), rand::random::<u32>())
}

impl Scheduler {
    /// Competes for the lease until `shutdown`; runs the jobs while holding it. The lease is
    /// renewed by its own task, so a long job (a big retention pass) never lets it lapse.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let leading = Arc::new(AtomicBool::new(false));
        let lease = tokio::spawn(this.clone().hold_lease(leading.clone(), shutdown.clone()));
        // Alert evaluation has a lane of its own, so a long retention pass never delays it (the
        // inbox-lag alert matters most when the database is busy).
        let alerts = tokio::spawn(this.clone().lane(
            vec![
                // On taking the lease, then daily: the built-in rules exist before evaluating.
                Job::new("instance-rules", Duration::from_secs(86_400)),
                Job::new(
                    "alerts",
                    Duration::from_secs(this.settings.alerts.evaluate_secs.max(1)),
                ),
            ],
            leading.clone(),
            shutdown.clone(),
        ));
        // Uptime: queueing due checks and judging their results, each in a loop of its own.
        let schedule = tokio::spawn(crate::uptime::schedule(
            this.store.clone(),
            this.clock.clone(),
            leading.clone(),
            this.checker_wake.clone(),
            shutdown.clone(),
        ));
        let sweep = tokio::spawn(crate::uptime::cron::sweep(
            this.store.clone(),
            this.clock.clone(),
            leading.clone(),
            shutdown.clone(),
        ));
        let verifier = crate::uptime::verifier::Verifier {
            store: this.store.clone(),
            clock: this.clock.clone(),
            settings: this.settings.clone(),
            notifier_wake: this.notifier_wake.clone(),
        };
        let verify =
            tokio::spawn(verifier.run(this.verifier_wake.clone(), leading.clone(), shutdown.clone()));
        this.clone()
            .lane(
                vec![
                    Job::new("partitions", PARTITIONS_EVERY),
                    Job::new(
                        "retention",
                        Duration::from_secs(this.settings.retention.interval_secs),
                    ),
                    Job::new(
                        "dictionaries",
                        Duration::from_secs(this.settings.storage.dictionary_check_secs.max(1)),
                    ),
                    Job::new("sessions", SESSIONS_EVERY),
                ],
                leading.clone(),
                shutdown.clone(),
            )
            .await;
        if let Err(e) = alerts.await {
            tracing::warn!(error = %e, "scheduler alert lane failed");
        }
        for (name, task) in [
            ("uptime scheduling", schedule),
            ("heartbeat and cron sweep", sweep),
            ("uptime verification", verify),
        ] {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "{name} failed");
            }
        }
        if let Err(e) = lease.await {
            tracing::warn!(error = %e, "scheduler lease task failed");
        }
    }

    /// Runs `jobs` one after another, each when due, while this process leads; until `shutdown`.
    async fn lane(
        self: Arc<Self>,
        mut jobs: Vec<Job>,
        leading: Arc<AtomicBool>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            if leading.load(Ordering::SeqCst) {
                for job in jobs.iter_mut().filter(|j| j.due()) {
                    if !leading.load(Ordering::SeqCst) || *shutdown.borrow() {
                        break;
                    }
                    // A job that fails is retried at its next interval, not in a tight loop.
                    job.last = Some(Instant::now());
                    if let Err(e) = self.run_job(job.name).await {
                        tracing::warn!(job = job.name, error = format!("{e:#}"), "scheduled job failed");
                    }
                }
            } else {
                // After a hand-over, every job is due again on this node.
                jobs.iter_mut().for_each(|j| j.last = None);
            }
            tokio::select! {
                _ = tokio::time::sleep(JOB_TICK) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
    }

    /// Takes and renews the lease every third of its lifetime; releases it on shutdown.
    async fn hold_lease(self: Arc<Self>, leading: Arc<AtomicBool>, mut shutdown: watch::Receiver<bool>) {
        let ttl = Duration::from_secs(self.settings.scheduler.lease_secs);
        loop {
            let now = self.clock.now_ms();
            let held = self
                .store
                .acquire_lease(LEASE_NAME, &self.holder, now, ttl.as_millis() as i64)
                .await;
            let was = leading.load(Ordering::SeqCst);
            match &held {
                Ok(true) if !was => {
                    tracing::info!(holder = %self.holder, "took the scheduler lease: running singleton jobs here")
                }
                Ok(false) if was => tracing::warn!("lost the scheduler lease to another process"),
                // Unknown whether we still hold it: stop acting as leader until renewed.
                Err(e) if was => {
                    tracing::warn!(error = %e, "cannot renew the scheduler lease; pausing singleton jobs")
                }
                _ => {}
            }
            let now_leading = matches!(held, Ok(true));
            leading.store(now_leading, Ordering::SeqCst);
            metrics::gauge!("sentinel_scheduler_leader").set(if now_leading { 1.0 } else { 0.0 });
            tokio::select! {
                _ = tokio::time::sleep(ttl / 3) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        if leading.swap(false, Ordering::SeqCst) {
            metrics::gauge!("sentinel_scheduler_leader").set(0.0);
            match self.store.release_lease(LEASE_NAME, &self.holder).await {
                Ok(()) => tracing::info!("released the scheduler lease"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not release the scheduler lease; it expires by itself")
                }
            }
        }
    }

    fn engine(&self) -> Engine {
        Engine {
            store: self.store.clone(),
            clock: self.clock.clone(),
            settings: self.settings.clone(),
            notifier_wake: self.notifier_wake.clone(),
        }
    }

    async fn run_job(&self, name: &str) -> anyhow::Result<()> {
        match name {
            "partitions" => {
                let now = self.clock.now_ms();
                let ahead = i64::from(self.settings.scheduler.partition_days_ahead.max(1));
                self.store
                    .ensure_partitions(now - DAY_MS, now + ahead * DAY_MS)
                    .await?;
            }
            "retention" => {
                let policy = retention_policy(&self.settings, self.store.as_ref()).await?;
                let started = Instant::now();
                let report = self.store.apply_retention(&policy, self.clock.now_ms()).await?;
                tracing::info!(
                    events = report.events_deleted,
                    items = report.items_deleted,
                    issues = report.issues_deleted,
                    minute_rollups_compacted = report.minute_rollups_compacted,
                    hour_rollups = report.hour_rollups_deleted,
                    outcomes = report.outcomes_deleted,
                    notifications = report.notifications_deleted,
                    alert_states = report.alert_states_deleted,
                    check_results = report.check_results_deleted,
                    monitor_rollups = report.monitor_rollups_deleted,
                    partitions_dropped = report.partitions_dropped.len(),
                    seconds = started.elapsed().as_secs_f64(),
                    "retention pass done"
                );
                metrics::counter!("sentinel_retention_events_deleted_total").increment(report.events_deleted);
            }
            "dictionaries" => {
                self.trainer.run_once().await?;
            }
            "sessions" => {
                // Expired rows are already refused on lookup; this only keeps the tables small.
                let pruned = self.store.prune_sessions(self.clock.now_ms()).await?;
                tracing::debug!(pruned, "expired sessions and invitations pruned");
            }
            "instance-rules" => self.engine().ensure_instance_rules().await?,
            "alerts" => {
                let queued = self.engine().evaluate().await?;
                tracing::debug!(queued, "alert rules evaluated");
            }
            other => anyhow::bail!("unknown job {other}"),
        }
        Ok(())
    }
}

/// The retention policy of the settings, with project slugs resolved to ids. Unknown projects in
/// the overrides are reported and ignored.
pub async fn retention_policy(settings: &Settings, store: &dyn Store) -> anyhow::Result<RetentionPolicy> {
    let r = &settings.retention;
    let mut policy = RetentionPolicy {
        event_days: r.event_days,
        minute_rollup_days: r.minute_rollup_days,
        hour_rollup_days: r.hour_rollup_days,
        check_result_days: r.check_result_days,
        request_rollup_days: r.request_rollup_days,
        delete_batch: r.delete_batch,
        ..RetentionPolicy::default()
    };
    if r.projects.is_empty() {
        return Ok(policy);
    }
    let projects = store.list_projects().await?;
    for (name, days) in &r.projects {
        let found = projects
            .iter()
            .find(|p| p.slug == *name || p.id.to_string() == *name);
        match found {
            Some(p) => {
                policy.project_event_days.insert(p.id, *days);
            }
            None => tracing::warn!(
                project = %name,
                "retention.projects names a project that does not exist; ignored"
            ),
        }
    }
    Ok(policy)
}
