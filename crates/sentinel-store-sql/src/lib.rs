//! SQL text and row mapping that both storage backends share.
//!
//! The statements here are written in the SQL that SQLite and PostgreSQL both accept (`$n`
//! placeholders, `ON CONFLICT`, `RETURNING`, `CAST(… AS BIGINT)` for sums), so they are kept once.
//! The functions that run them are stamped out per backend by `macro_rules!` over the sqlx
//! database type: each backend invokes a macro in its own module and passes what differs — its
//! error mapping, how it begins a write transaction, its full-text search, how counts are bucketed —
//! and keeps its own code for everything else (SQLite's single writer and inbox cursor,
//! PostgreSQL's leased inbox, partitions, `unnest` batches and `FOR UPDATE`). The pure helpers
//! beside the macros take values and return values.
//!
//! Depends on sqlx and the store interface (and the protocol's value types) only: no backend's
//! dialect, no server.

mod access;
mod accounts;
mod alerts;
mod batch;
mod checks;
mod cron;
mod inbox;
mod issues;
mod leases;
mod outbox;
mod projects;
mod releases;
mod tenants;
mod uptime;
mod workflow;

use std::str::FromStr;

use sentinel_protocol::event::Level;
use sentinel_protocol::ids::EventId;
use sentinel_store::StoreError;

pub use access::{INVITATION_COLUMNS, TOKEN_COLUMNS};
pub use accounts::{ORG_COLUMNS, USER_COLUMNS};
pub use alerts::{
    CHANNEL_COLUMNS, RULE_COLUMNS, RuleFilter, STATE_COLUMNS, channel_kind, condition_json, parse_condition,
    parse_object, rule_channels,
};
pub use batch::{
    IssueAgg, IssueKey, IssueState, KeyTotals, Reopen, TagCounts, issue_aggregates, issue_id, key_totals,
    reopen, tag_counts,
};
pub use cron::{MAINTENANCE_FIELDS, OVERDUE_MONITORS, PASSIVE_KINDS, ids_json, parse_ids};
pub use issues::{
    EVENT_COLUMNS, ISSUE_COLUMNS, count_filter, fts5_query, priority_expression, search_words, tsquery,
};
pub use outbox::{
    DELIVERY_COLUMNS, ISSUE_COUNTS, NOTIFICATION_COLUMNS, NotificationFilter, OUTCOME_TOTALS,
    delivery_columns, message_json, notification_status, parse_message, transition, trigger_kind,
};
pub use projects::{KEY_COLUMNS, KeyFilter, PROJECT_COLUMNS};
pub use releases::{RELEASE_COLUMNS, ReleaseDelta, ReleaseKey, release_deltas, release_users};
pub use uptime::{
    ACTIVE_KINDS, DUE_JOBS, DUE_MONITORS, INCIDENT_COLUMNS, LatencyKey, MONITOR_FIELDS, MonitorSettings,
    RESULT_FIELDS, RESULT_FIELDS_OF_R, RollupDelta, RollupKey, bucket_of, check_monitor, count_u32,
    due_slots, job_regions, latency_deltas, monitor_kind, monitor_status, parse_regions, regions_json,
    rollup_deltas,
};
pub use workflow::{IssueUpdate, note_data, plan_change};

/// What the macros name through `$crate`, so a backend needs no particular import for them.
#[doc(hidden)]
pub mod __private {
    pub use sentinel_protocol::ids::EventId;
    pub use sentinel_store;
    pub use sqlx;
}

/// A text column holding one of a Rust enum's names (`status`, `kind`).
pub fn parse_col<T: FromStr<Err = String>>(value: &str) -> Result<T, StoreError> {
    value.parse().map_err(StoreError::Corrupt)
}

/// An event's `level` column.
pub fn level(s: &str) -> Result<Level, StoreError> {
    Level::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown level {s:?}")))
}

/// An `event_id` column: 16 bytes.
pub fn event_id(bytes: Vec<u8>) -> Result<EventId, StoreError> {
    Ok(EventId::from_bytes(bytes.try_into().map_err(|_| {
        StoreError::Corrupt("event_id is not 16 bytes".into())
    })?))
}
