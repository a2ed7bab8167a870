//! The storage interface of Sentinel: the `Store` trait, its error type and the domain rows it
//! reads and writes.
//!
//! No backend code lives here. Backends (SQLite, PostgreSQL) implement `Store` in their own crates
//! and own their SQL and migrations; callers only ever see these types. This crate depends on the
//! protocol crate for wire-level value types (event ids, levels) and on nothing of the server.

pub mod accounts;
pub mod alerts;
pub mod latency;
mod maintenance;
mod model;
pub mod releases;
mod slug;
mod store;
pub mod tenants;
pub mod transfer;
pub mod uptime;
pub mod workflow;

pub use accounts::{
    AccountStore, ApiToken, Invitation, Member, Membership, NewApiToken, NewUser, OrgRole, Organization,
    Session, SessionKind, TokenScope, User,
};
pub use alerts::{
    AlertCommit, AlertMessage, AlertRule, AlertState, AlertStore, AlertTrigger, Channel, ChannelKind,
    ChannelSecrets, ChannelUpdate, Condition, Delivery, DeliveryAttempt, DeliveryNext, NewAlertRule,
    NewChannel, NewNotification, Notification, NotificationStatus, Transition, TriggerKind,
};
pub use maintenance::{DAY_MS, HOUR_MS, Lease, RetentionPolicy, RetentionReport};
pub use model::{
    AssignedFilter, BatchOutcome, CompressionDict, CountScope, Cursor, DEFAULT_APDEX_THRESHOLD_MS, EventRow,
    InboxItem, InboxStats, Issue, IssueQuery, IssueSort, IssueStatus, ItemKind, NewEvent, NewInboxItem,
    NewStoredItem, OutcomeCount, Page, ProcessedBatch, Project, ProjectKey, SessionCounts, StoredEvent,
    StoredItem, TagDistribution, TagValueCount, TimeRange, priority_score,
};
pub use releases::{Release, ReleaseStore};
pub use slug::slugify;
pub use store::{Store, StoreError};
pub use tenants::{NewRequestRollup, RequestRollup, TenantStore};
pub use uptime::{
    CheckJob, CheckResult, CronRun, Incident, IncidentChange, LatencyHistogram, MaintenanceWindow, Monitor,
    MonitorKind, MonitorState, MonitorStatus, NewCheckResult, NewMonitor, Resolution, UptimeBucket,
    UptimeStore, VerifierCommit,
};
pub use workflow::{Activity, Attachment, Comment, EventNeighbors, IssueChange, StatusChange, WorkflowStore};
