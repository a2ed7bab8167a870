//! Types for the work one leader does on a schedule: retention and (on PostgreSQL) partitions.

use std::collections::BTreeMap;

use serde::Serialize;

pub const DAY_MS: i64 = 86_400_000;
pub const HOUR_MS: i64 = 3_600_000;

/// What to keep. Event ages are measured from `received_ms` (the time Sentinel accepted the event,
/// which is also the partition key on PostgreSQL); rollup ages from their bucket start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Events, kept items, their de-duplication ids, issues last seen before the cutoff, and
    /// releases last seen before it.
    pub event_days: u32,
    /// Per-project overrides of `event_days`, by project id.
    pub project_event_days: BTreeMap<i64, u32>,
    /// Minute rollups older than this are folded into hourly rollups and deleted.
    pub minute_rollup_days: u32,
    /// Hourly rollups, ingest outcomes, sent (or given up) notifications and alert rule states
    /// out of their condition since before the cutoff are deleted.
    pub hour_rollup_days: u32,
    /// Uptime check results slotted before this many days ago are deleted (PostgreSQL drops their
    /// partitions). Monitor rollups are kept by resolution: minute rows 2 days, hour rows 90
    /// days, day rows 2 years.
    pub check_result_days: u32,
    /// Request rollups (tenant detection) of minutes before this many days ago are deleted.
    pub request_rollup_days: u32,
    /// Most rows one statement deletes where rows are deleted (SQLite, and PostgreSQL rows of
    /// projects whose retention is shorter than their partition's), so writers are never blocked
    /// for long.
    pub delete_batch: usize,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            event_days: 90,
            project_event_days: BTreeMap::new(),
            minute_rollup_days: 14,
            hour_rollup_days: 365,
            check_result_days: 30,
            request_rollup_days: 14,
            delete_batch: 2_000,
        }
    }
}

impl RetentionPolicy {
    pub fn event_days_for(&self, project_id: i64) -> u32 {
        self.project_event_days
            .get(&project_id)
            .copied()
            .unwrap_or(self.event_days)
    }

    /// The longest event retention of any project: partitions older than this hold nothing to keep.
    pub fn longest_event_days(&self) -> u32 {
        self.project_event_days
            .values()
            .copied()
            .chain([self.event_days])
            .max()
            .unwrap_or(self.event_days)
    }
}

/// What one retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub events_deleted: u64,
    pub items_deleted: u64,
    pub issues_deleted: u64,
    /// Minute rollup rows folded into hourly rows (and removed).
    pub minute_rollups_compacted: u64,
    pub hour_rollups_deleted: u64,
    pub outcomes_deleted: u64,
    /// Releases whose last event or session is older than their project's event retention.
    pub releases_deleted: u64,
    /// Delivered or failed notifications (with their delivery attempts) older than the hourly
    /// rollups' retention.
    pub notifications_deleted: u64,
    /// Alert rule states out of their condition since before that same cutoff (an episode's
    /// notifications are never younger than the state that ended it).
    pub alert_states_deleted: u64,
    /// Uptime check results older than `check_result_days`.
    pub check_results_deleted: u64,
    /// Monitor rollup rows (counts and latency histograms) past their resolution's retention.
    pub monitor_rollups_deleted: u64,
    /// Request rollup rows older than `request_rollup_days`.
    pub request_rollups_deleted: u64,
    /// PostgreSQL partitions dropped whole (table names).
    pub partitions_dropped: Vec<String>,
}

/// Who holds a singleton lease, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub expires_ms: i64,
}
