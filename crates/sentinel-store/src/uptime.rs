//! Uptime monitoring: monitors, the check jobs the scheduler creates for them, the append-only
//! check results the checkers write, the verifier's queue of results to judge, incidents, and the
//! per-monitor rollups uptime figures are read from.
//!
//! The flow, and where each step is durable:
//! 1. The scheduler calls [`UptimeStore::schedule_due`]: for every enabled monitor whose
//!    `next_check_ms` has come, one transaction inserts a [`CheckJob`] keyed by
//!    `(monitor, slot_ms, region)` (a second insert of the same slot is a no-op) and moves
//!    `next_check_ms` on, conditionally on its old value, so two schedulers, a restart or a clock
//!    jump never schedule a slot twice.
//! 2. Checkers claim due jobs with a lease ([`UptimeStore::claim_check_jobs`]), run them and call
//!    [`UptimeStore::record_checks`], which in one transaction appends the results (unique by
//!    `(monitor, slot, region)`), adds them to the minute, hour and day rollups and latency
//!    histograms, queues them for
//!    the verifier and deletes the jobs. A checker that dies leaves its jobs to be claimed again
//!    once the lease has run out.
//! 3. The verifier reads queued results ([`UptimeStore::unverified_results`]), runs each monitor's
//!    state machine and writes the outcome with [`UptimeStore::commit_verification`]: monitor
//!    states, incidents opened and resolved, alert notifications (an [`AlertCommit`]) and the
//!    dequeued results, atomically.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::alerts::AlertCommit;
pub use crate::latency::LatencyHistogram;

/// What a monitor checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorKind {
    /// An HTTP(S) request with assertions on the response.
    Http,
    /// A TCP connect.
    Tcp,
    /// A DNS lookup with an expected answer.
    Dns,
    /// Expects pings on its ping URL; a missing ping fails.
    Heartbeat,
    /// A Sentry cron monitor, created and fed by SDK check-ins.
    Cron,
}

impl MonitorKind {
    pub const ALL: [MonitorKind; 5] = [
        MonitorKind::Http,
        MonitorKind::Tcp,
        MonitorKind::Dns,
        MonitorKind::Heartbeat,
        MonitorKind::Cron,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MonitorKind::Http => "http",
            MonitorKind::Tcp => "tcp",
            MonitorKind::Dns => "dns",
            MonitorKind::Heartbeat => "heartbeat",
            MonitorKind::Cron => "cron",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Kinds a checker runs on a schedule (the others are fed by pings and check-ins).
    pub fn is_active(self) -> bool {
        matches!(self, MonitorKind::Http | MonitorKind::Tcp | MonitorKind::Dns)
    }
}

/// The verifier's verdict on a monitor. `paused` (disabled) and `maintenance` are shown instead
/// of it where they apply; they are not stored here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorStatus {
    /// New (or changed) and not yet confirmed up or down.
    Pending,
    Up,
    Down,
}

impl MonitorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorStatus::Pending => "pending",
            MonitorStatus::Up => "up",
            MonitorStatus::Down => "down",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Up, Self::Down]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Monitor {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub kind: MonitorKind,
    /// Names a heartbeat or cron monitor in check-ins (unique within its project). The kinds a
    /// checker runs have one only when made from a monitors file (their identity there), else
    /// `None`.
    pub slug: Option<String>,
    /// What and how to check, by kind (`{"url": …, "method": …}`, `{"host": …, "port": …}`), a
    /// JSON object the server validates.
    pub config: serde_json::Value,
    pub interval_ms: i64,
    pub timeout_ms: i64,
    /// Consecutive failures that make an up (or pending) monitor down.
    pub failure_threshold: u32,
    /// Consecutive successes that make a down (or pending) monitor up.
    pub recovery_threshold: u32,
    /// `false`: paused, never scheduled.
    pub enabled: bool,
    /// Shown on the project's public status page.
    pub public: bool,
    /// Checked from each of these checker regions (`--region`) every slot; empty: once per
    /// slot, by any checker.
    pub regions: Vec<String>,
    /// With regions, how many of them must fail a slot for it to count as a failure; 0 means a
    /// majority.
    pub region_quorum: u32,
    pub status: MonitorStatus,
    /// When `status` began.
    pub status_since_ms: i64,
    /// Consecutive results that disagree with `status` (failures while up or pending, successes
    /// while down or pending): the verifier's progress towards a transition.
    pub streak: u32,
    /// When the scheduler next creates a job for it.
    pub next_check_ms: i64,
    /// The slot of the newest verified result.
    pub last_check_ms: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A monitor to create, or (in `update_monitor`) the new settings of one.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMonitor {
    pub project_id: i64,
    pub name: String,
    pub kind: MonitorKind,
    /// See [`Monitor::slug`]; kept on update.
    pub slug: Option<String>,
    pub config: serde_json::Value,
    pub interval_ms: i64,
    pub timeout_ms: i64,
    pub failure_threshold: u32,
    pub recovery_threshold: u32,
    pub enabled: bool,
    pub public: bool,
    /// See [`Monitor::regions`].
    pub regions: Vec<String>,
    /// See [`Monitor::region_quorum`].
    pub region_quorum: u32,
    /// The first slot (the scheduler spreads monitors over their interval).
    pub next_check_ms: i64,
}

/// A run of a cron job that checked in `in_progress` and has not finished yet: unique by
/// `(monitor_id, check_in_id)`. A finished run leaves no row (its result is the record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CronRun {
    pub monitor_id: i64,
    /// The SDK's id for the run (a UUID, as sent).
    pub check_in_id: String,
    pub started_ms: i64,
    /// When the run times out (started plus the monitor's longest runtime).
    pub deadline_ms: i64,
}

/// A planned maintenance of a project's monitors (all of them, or those listed): results judged
/// while it is on change no monitor's status and raise no alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceWindow {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    /// The monitors it covers; empty: every monitor of the project.
    pub monitor_ids: Vec<i64>,
    /// A one-off window: `[starts_ms, ends_ms)`. A recurring one: the range in which it recurs
    /// (`ends_ms` `i64::MAX` for no end).
    pub starts_ms: i64,
    pub ends_ms: i64,
    /// A recurring window: a crontab of when each occurrence begins, in `timezone`.
    pub schedule: Option<String>,
    /// How long each occurrence of a recurring window lasts.
    pub duration_ms: i64,
    pub timezone: String,
    pub created_ms: i64,
}

/// One scheduled check: unique by `(monitor_id, slot_ms, region)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckJob {
    pub monitor_id: i64,
    /// When the check was due; names the slot.
    pub slot_ms: i64,
    /// The region whose checkers run it (one job per region of the monitor); `""`: any checker.
    pub region: String,
}

/// A check's outcome, as a checker reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewCheckResult {
    pub monitor_id: i64,
    pub slot_ms: i64,
    /// The checker's region label (`""` for the default).
    pub region: String,
    /// When the request was sent.
    pub started_ms: i64,
    pub ok: bool,
    /// From send to the end of the check (not from queue time).
    pub latency_ms: i64,
    /// The HTTP status, when there was a response.
    pub status_code: Option<i32>,
    /// Why it failed (`None` when ok).
    pub error: Option<String>,
    /// Timings of the phases that happened (`{"dns_ms": 1, "connect_ms": 2, "tls_ms": 5,
    /// "first_byte_ms": 9}`) and evidence (`"body_excerpt"`, `"cert_expires_ms"`), a JSON object.
    pub details: serde_json::Value,
}

/// A stored check result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub id: i64,
    pub monitor_id: i64,
    pub slot_ms: i64,
    pub region: String,
    pub started_ms: i64,
    pub ok: bool,
    pub latency_ms: i64,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub details: serde_json::Value,
}

/// An outage of one monitor: open while it is down.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub id: i64,
    pub monitor_id: i64,
    pub project_id: i64,
    pub opened_ms: i64,
    pub resolved_ms: Option<i64>,
    /// The check that confirmed the outage: `{"status_code", "error", "body_excerpt", "slot_ms"}`.
    pub evidence: serde_json::Value,
}

/// A monitor's new state after verification.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorState {
    pub monitor_id: i64,
    pub status: MonitorStatus,
    pub status_since_ms: i64,
    pub streak: u32,
    pub last_check_ms: Option<i64>,
    /// Check again no later than this (a faster re-check while a change is being confirmed):
    /// `next_check_ms` becomes the smaller of the two.
    pub recheck_ms: Option<i64>,
}

/// An incident change of a verification pass.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentChange {
    /// Opens an incident at `at_ms` with this evidence, unless the monitor has an open one.
    Open {
        monitor_id: i64,
        at_ms: i64,
        evidence: serde_json::Value,
    },
    /// Resolves the monitor's open incident at `at_ms`, if it has one.
    Resolve { monitor_id: i64, at_ms: i64 },
}

/// What one verification pass decided, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerifierCommit {
    pub states: Vec<MonitorState>,
    /// Incidents opened and resolved, applied in this order: a monitor can go down and come back
    /// (or come back and go down again) within one pass.
    pub incidents: Vec<IncidentChange>,
    /// Check result ids taken off the verifier's queue. If one of them is no longer queued
    /// (another verifier committed it), nothing is written and the answer is `Conflict`.
    pub verified: Vec<i64>,
    pub alerts: AlertCommit,
}

/// Uptime over a period, from the rollups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct UptimeBucket {
    /// Bucket start (epoch ms).
    pub bucket_ms: i64,
    pub checks: u64,
    pub failures: u64,
    /// Sum and maximum of the latencies of all checks in the bucket.
    pub latency_sum_ms: i64,
    pub latency_max_ms: i64,
}

/// The rollup resolutions: minute rows kept 48 h, hour rows 90 days, day rows 2 years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    Minute,
    Hour,
    Day,
}

impl Resolution {
    pub const ALL: [Resolution; 3] = [Resolution::Minute, Resolution::Hour, Resolution::Day];

    /// How long retention keeps rows of this resolution, from their bucket start.
    pub fn retention_days(self) -> u32 {
        match self {
            Resolution::Minute => 2,
            Resolution::Hour => 90,
            Resolution::Day => 730,
        }
    }

    pub fn bucket_ms(self) -> i64 {
        match self {
            Resolution::Minute => 60_000,
            Resolution::Hour => 3_600_000,
            Resolution::Day => 86_400_000,
        }
    }

    /// The `resolution` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
            Resolution::Day => "day",
        }
    }
}

#[async_trait]
pub trait UptimeStore: Send + Sync {
    // ---- monitors ----

    /// `Conflict` if the project does not exist or the interval or timeout is not positive (also
    /// in `update_monitor`).
    async fn create_monitor(&self, monitor: &NewMonitor, now_ms: i64) -> Result<Monitor, StoreError>;
    async fn get_monitor(&self, monitor_id: i64) -> Result<Option<Monitor>, StoreError>;
    /// These monitors (missing ids are left out), by id.
    async fn get_monitors(&self, monitor_ids: &[i64]) -> Result<Vec<Monitor>, StoreError>;
    /// A project's monitors by id, at most `limit`, with ids above `after_id` when given.
    async fn list_monitors(
        &self,
        project_id: i64,
        limit: usize,
        after_id: Option<i64>,
    ) -> Result<Vec<Monitor>, StoreError>;
    /// Replaces name, config, interval, timeout, thresholds, enabled and public (project and kind
    /// stay; `monitor.next_check_ms` is the next slot). If the config, interval, timeout or
    /// thresholds changed, the status starts over as pending from `now_ms` with no streak, and
    /// the open incident (if any) is resolved at `now_ms`. Pausing (`enabled: false`) deletes the
    /// monitor's queued jobs. `NotFound` if it does not exist.
    async fn update_monitor(
        &self,
        monitor_id: i64,
        monitor: &NewMonitor,
        now_ms: i64,
    ) -> Result<Monitor, StoreError>;
    /// Deletes the monitor with its jobs, results, queue entries, rollups and incidents.
    async fn delete_monitor(&self, monitor_id: i64) -> Result<bool, StoreError>;

    // ---- scheduling and checking ----

    /// For up to `limit` enabled monitors of active kinds whose `next_check_ms <= now_ms` (oldest
    /// first): inserts the job for the current slot (one per region of the monitor, see
    /// [`Monitor::regions`]) unless it exists, and moves `next_check_ms`
    /// to the first slot after `now_ms`, only if it still has the value read. Slots are the
    /// monitor's grid (`next_check_ms + k * interval_ms`); the current one is the last at or before
    /// `now_ms`, which is `next_check_ms` itself unless slots were missed (a stopped scheduler, a
    /// clock jump forward): those are skipped, not checked late. Returns the jobs inserted.
    /// Concurrent callers never insert the same slot twice.
    async fn schedule_due(&self, now_ms: i64, limit: usize) -> Result<Vec<CheckJob>, StoreError>;
    /// Up to `limit` jobs with `slot_ms <= now_ms` that nobody claimed within the last lease
    /// (oldest slot first), with their monitors; claims them until `now_ms + lease_ms`. A checker
    /// of `region` takes the jobs of that region and those any checker may run.
    async fn claim_check_jobs(
        &self,
        region: &str,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<(CheckJob, Monitor)>, StoreError>;
    /// Appends the results (a result whose `(monitor, slot, region)` exists is skipped), adds each
    /// new one to its monitor's minute, hour and day rollups (by `slot_ms`), queues it for the
    /// verifier and deletes its job, in one transaction. Results of deleted monitors are skipped.
    /// Returns how many were new.
    async fn record_checks(&self, results: &[NewCheckResult]) -> Result<u64, StoreError>;
    /// Jobs not yet done (scheduled or claimed).
    async fn pending_check_jobs(&self) -> Result<u64, StoreError>;

    // ---- verification ----

    /// Up to `limit` queued results, in id order.
    async fn unverified_results(&self, limit: usize) -> Result<Vec<CheckResult>, StoreError>;
    /// Writes a verification pass atomically (see [`VerifierCommit`]); returns how many
    /// notifications were new. The alert part is written as `AlertStore::commit_alerts` does.
    async fn commit_verification(&self, commit: &VerifierCommit) -> Result<u64, StoreError>;

    // ---- reading ----

    /// A monitor's results, newest slot first, at most `limit`, with slots below `before_slot_ms`.
    async fn list_check_results(
        &self,
        monitor_id: i64,
        limit: usize,
        before_slot_ms: Option<i64>,
    ) -> Result<Vec<CheckResult>, StoreError>;
    /// Incidents of a monitor (or, with `None`, of the whole project), newest first, at most
    /// `limit`, with ids below `before_id`.
    async fn list_incidents(
        &self,
        project_id: i64,
        monitor_id: Option<i64>,
        limit: usize,
        before_id: Option<i64>,
    ) -> Result<Vec<Incident>, StoreError>;
    /// The monitor's open incident.
    async fn open_incident(&self, monitor_id: i64) -> Result<Option<Incident>, StoreError>;
    /// Rollup buckets of these monitors at `resolution` in `[since_ms, until_ms)`: non-empty
    /// buckets only, by monitor then time.
    async fn uptime_buckets(
        &self,
        monitor_ids: &[i64],
        resolution: Resolution,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<(i64, UptimeBucket)>, StoreError>;
    /// Latency histograms of the successful checks of these monitors at `resolution` in
    /// `[since_ms, until_ms)`: `(monitor, bucket start, histogram)`, non-empty buckets only, by
    /// monitor then time.
    async fn latency_histograms(
        &self,
        monitor_ids: &[i64],
        resolution: Resolution,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<(i64, i64, LatencyHistogram)>, StoreError>;

    // ---- heartbeat and cron monitors (fed by check-ins) ----
    //
    // Their `next_check_ms` is the deadline of the next expected check-in. Every step below is
    // idempotent, so a check-in applied twice (a worker that crashed before acknowledging it)
    // changes nothing the second time: results are unique by slot, runs by check-in id, and
    // deadlines only move conditionally.

    /// The project's monitor with this slug.
    async fn monitor_by_slug(&self, project_id: i64, slug: &str) -> Result<Option<Monitor>, StoreError>;
    /// Up to `limit` enabled heartbeat and cron monitors whose deadline is at or before `now_ms`,
    /// earliest first.
    async fn overdue_monitors(&self, now_ms: i64, limit: usize) -> Result<Vec<Monitor>, StoreError>;
    /// Moves the monitor's deadline from `from_ms` to `to_ms`; `false` (and nothing written) if
    /// it is no longer `from_ms` or the monitor is gone.
    async fn move_deadline(&self, monitor_id: i64, from_ms: i64, to_ms: i64) -> Result<bool, StoreError>;
    /// Records a run as in progress; `false` if it was already (the same check-in again).
    async fn start_cron_run(&self, run: &CronRun) -> Result<bool, StoreError>;
    /// The monitor's run with this check-in id, or with `None` its latest started one.
    async fn cron_run(
        &self,
        monitor_id: i64,
        check_in_id: Option<&str>,
    ) -> Result<Option<CronRun>, StoreError>;
    /// Forgets a run (it finished or timed out, and its result is recorded); `false` if unknown.
    async fn end_cron_run(&self, monitor_id: i64, check_in_id: &str) -> Result<bool, StoreError>;
    /// Up to `limit` runs whose deadline is at or before `now_ms`, earliest first.
    async fn overdue_cron_runs(&self, now_ms: i64, limit: usize) -> Result<Vec<CronRun>, StoreError>;

    // ---- maintenance windows ----

    /// Stores a window (`id` and `created_ms` are assigned); `Conflict` if the project does not
    /// exist.
    async fn create_maintenance(&self, window: &MaintenanceWindow) -> Result<MaintenanceWindow, StoreError>;
    async fn get_maintenance(&self, window_id: i64) -> Result<Option<MaintenanceWindow>, StoreError>;
    /// A project's windows, by id.
    async fn list_maintenance(&self, project_id: i64) -> Result<Vec<MaintenanceWindow>, StoreError>;
    async fn delete_maintenance(&self, window_id: i64) -> Result<bool, StoreError>;
}
