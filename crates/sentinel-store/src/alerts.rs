//! Alerting: notification channels, alert rules and their per-subject state, the durable triggers
//! the worker leaves for event-driven rules, and the notification outbox with its delivery log.
//!
//! The flow, and where each step is durable:
//! 1. `apply_batch` writes an [`AlertTrigger`] (new issue, regression) in the batch transaction.
//! 2. The alert engine claims triggers, evaluates the matching rules and calls [`AlertStore::commit_alerts`],
//!    which in one transaction writes the rules' new [`AlertState`]s, the [`NewNotification`]s (the
//!    outbox) and deletes the consumed triggers. Threshold rules (evaluated by the leader over
//!    rollups) go through the same call without triggers.
//! 3. The notifier claims due notifications, delivers them and records every attempt with
//!    [`AlertStore::record_delivery`].
//!
//! A notification's `idempotency_key` is unique: committing the same firing twice (a replayed
//! trigger, two leaders during a lease hand-over) stores it once.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Generic webhook: JSON body, `X-Sentinel-Signature: sha256=<hex HMAC of the body>`.
    Webhook,
    Slack,
    Discord,
    Teams,
    Ntfy,
    PagerDuty,
    Email,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 7] = [
        ChannelKind::Webhook,
        ChannelKind::Slack,
        ChannelKind::Discord,
        ChannelKind::Teams,
        ChannelKind::Ntfy,
        ChannelKind::PagerDuty,
        ChannelKind::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Teams => "teams",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::PagerDuty => "pagerduty",
            ChannelKind::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The secret part of a channel's settings (webhook URLs that carry a token, signing secrets,
/// routing keys, access tokens), as a JSON object. It is written once, when the channel is created
/// or its secrets replaced, and never shown again: it has no `Serialize`, and `Debug` prints
/// nothing of it, so it cannot end up in an API answer or a log line.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ChannelSecrets(pub serde_json::Value);

impl fmt::Debug for ChannelSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelSecrets([redacted])")
    }
}

impl ChannelSecrets {
    /// The string field `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channel {
    pub id: i64,
    /// `None`: an instance channel, which receives Sentinel's self-monitoring alerts and is managed
    /// by instance admins.
    pub project_id: Option<i64>,
    pub name: String,
    pub kind: ChannelKind,
    /// Settings that may be shown (email recipients, ntfy topic, a masked URL hint), a JSON object.
    pub config: serde_json::Value,
    #[serde(skip)]
    pub secrets: ChannelSecrets,
    pub enabled: bool,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewChannel {
    pub project_id: Option<i64>,
    pub name: String,
    pub kind: ChannelKind,
    pub config: serde_json::Value,
    pub secrets: ChannelSecrets,
    pub enabled: bool,
}

/// Changes to a channel; `None` fields stay as they are. The kind never changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelUpdate {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub config: Option<serde_json::Value>,
    pub secrets: Option<ChannelSecrets>,
}

/// What a rule watches. Serialized with its `kind` tag (`{"kind":"issue_frequency","events":100,
/// "minutes":60}`); the store keeps the kind in a column of its own and the whole value as JSON, so
/// later rule kinds (uptime, tenants) need no migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// A new issue appears in the project. Event-driven.
    NewIssue {},
    /// A resolved issue of the project gets a new event. Event-driven.
    Regression {},
    /// An issue gets more than `events` events within `minutes`. Per issue; evaluated over the
    /// minute rollups.
    IssueFrequency { events: u64, minutes: u32 },
    /// The project's events in the last `minutes` exceed `factor` times its usual count for that
    /// long (the average over the `baseline_hours` before the window), and at least `min_events`.
    EventRate {
        factor: f64,
        minutes: u32,
        baseline_hours: u32,
        min_events: u64,
    },
    /// Instance: the oldest unprocessed inbox item is older than `seconds`.
    InboxLag { seconds: u64 },
    /// Instance: more than `percent` % of ingested items were rejected in the last `minutes`
    /// (rate-limited, invalid, too large), counting only windows with at least `min_items` items.
    IngestRejections {
        percent: f64,
        minutes: u32,
        min_items: u64,
    },
    /// Instance: free space on the data directory's file system is under `percent` %.
    DiskFree { percent: f64 },
    /// An uptime monitor of the project is confirmed down (and, with recovery notices, up again).
    /// `monitors`: the monitor ids it watches; empty: every monitor of the project. Driven by the
    /// uptime verifier's transitions, per monitor (`monitor:{id}`).
    MonitorDown {
        #[serde(default)]
        monitors: Vec<i64>,
    },
    /// The TLS certificate of an HTTPS monitor of the project expires within `days` days (and,
    /// with recovery notices, once a renewed one is further out). `monitors` as for
    /// `MonitorDown`. Evaluated by the uptime verifier on each successful check that read a
    /// certificate, per monitor (`monitor:{id}`).
    CertExpiring {
        days: u32,
        #[serde(default)]
        monitors: Vec<i64>,
    },
    /// A tenant of the project had at least `errors` 5xx in the last `minutes`, in
    /// `evaluations` evaluations in a row; its incident resolves once it has fewer than
    /// `resolve_below` 5xx in the window. Per tenant (`tenant:{name}`), over the request rollups.
    TenantErrors {
        errors: u64,
        minutes: u32,
        evaluations: u32,
        resolve_below: f64,
    },
    /// A tenant caused more than `percent` % of all 5xx of the project in the last `minutes`, in
    /// `evaluations` evaluations in a row, counting only windows with at least `min_errors` 5xx;
    /// its incident resolves once its share is under `resolve_below` % (or the window has fewer
    /// than `min_errors` 5xx). Per tenant.
    TenantShare {
        percent: f64,
        minutes: u32,
        min_errors: u64,
        evaluations: u32,
        resolve_below: f64,
    },
    /// A tenant's p95 latency in the last `minutes` is more than `factor` times its own p95 over
    /// the hour before, with at least `min_requests` requests in the window, in `evaluations`
    /// evaluations in a row; its incident resolves once the factor is under `resolve_below`.
    /// Per tenant.
    TenantLatency {
        factor: f64,
        minutes: u32,
        min_requests: u64,
        evaluations: u32,
        resolve_below: f64,
    },
}

impl Condition {
    pub fn kind(&self) -> &'static str {
        match self {
            Condition::NewIssue {} => "new_issue",
            Condition::Regression {} => "regression",
            Condition::IssueFrequency { .. } => "issue_frequency",
            Condition::EventRate { .. } => "event_rate",
            Condition::InboxLag { .. } => "inbox_lag",
            Condition::IngestRejections { .. } => "ingest_rejections",
            Condition::DiskFree { .. } => "disk_free",
            Condition::MonitorDown { .. } => "monitor_down",
            Condition::CertExpiring { .. } => "cert_expiring",
            Condition::TenantErrors { .. } => "tenant_errors",
            Condition::TenantShare { .. } => "tenant_share",
            Condition::TenantLatency { .. } => "tenant_latency",
        }
    }

    /// How many evaluations in a row a subject must be in the condition before its episode opens:
    /// the rule's `evaluations` for tenant kinds, else 1.
    pub fn evaluations(&self) -> u32 {
        match self {
            Condition::TenantErrors { evaluations, .. }
            | Condition::TenantShare { evaluations, .. }
            | Condition::TenantLatency { evaluations, .. } => (*evaluations).max(1),
            _ => 1,
        }
    }

    /// Kinds that watch the instance rather than a project.
    pub fn is_instance(&self) -> bool {
        matches!(
            self,
            Condition::InboxLag { .. } | Condition::IngestRejections { .. } | Condition::DiskFree { .. }
        )
    }

    /// Kinds fired by triggers the worker writes, rather than by scheduled evaluation.
    pub fn is_event_driven(&self) -> bool {
        matches!(self, Condition::NewIssue {} | Condition::Regression {})
    }

    /// Kinds the uptime verifier evaluates on monitors' check results.
    pub fn is_monitor(&self) -> bool {
        matches!(
            self,
            Condition::MonitorDown { .. } | Condition::CertExpiring { .. }
        )
    }

    /// Whether a monitor rule watches monitor `monitor_id`.
    pub fn watches_monitor(&self, monitor_id: i64) -> bool {
        match self {
            Condition::MonitorDown { monitors } | Condition::CertExpiring { monitors, .. } => {
                monitors.is_empty() || monitors.contains(&monitor_id)
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRule {
    pub id: i64,
    /// `None`: an instance rule (self-monitoring); it notifies every enabled instance channel.
    pub project_id: Option<i64>,
    pub name: String,
    pub condition: Condition,
    /// Channels of the same project, in id order.
    pub channel_ids: Vec<i64>,
    /// After a notification for a subject, further firings for it within this long notify nobody
    /// (their state is still tracked).
    pub cooldown_ms: i64,
    /// While a subject stays in the condition, notify again every this long; `None`: never.
    pub reminder_ms: Option<i64>,
    /// Notify once more when a subject leaves the condition.
    pub notify_recovery: bool,
    pub enabled: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAlertRule {
    pub project_id: Option<i64>,
    pub name: String,
    pub condition: Condition,
    pub channel_ids: Vec<i64>,
    pub cooldown_ms: i64,
    pub reminder_ms: Option<i64>,
    pub notify_recovery: bool,
    pub enabled: bool,
}

/// A rule's state for one subject (`issue:42`, `project:7`, `instance`, later `monitor:3`,
/// `tenant:acme`). Absent means never in the condition, or out of it for longer than
/// notifications are kept: retention deletes such states with the last notifications of their
/// episodes, so episodes may start over at 1 without meeting a stored idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertState {
    pub rule_id: i64,
    pub subject: String,
    pub firing: bool,
    /// Counts the transitions into the condition; it is part of notification idempotency keys,
    /// so each episode notifies once.
    pub episode: i64,
    /// When the current state (firing or not) began; for a subject on a streak towards firing,
    /// when the streak began.
    pub since_ms: i64,
    pub last_notified_ms: Option<i64>,
    /// Consecutive evaluations in the condition towards opening an episode (rules that need K in
    /// a row: the episode opens when it reaches K); 0 while an episode is open, and always for
    /// rules that open at once.
    pub streak: i64,
    /// The last measured value, for display.
    pub value: Option<f64>,
}

/// Why a notification was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// The subject entered the condition (or an event-driven rule fired).
    Triggered,
    /// The subject left the condition.
    Resolved,
    /// Still in the condition after the rule's reminder interval.
    Reminder,
    /// "Send test notification" from the settings.
    Test,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Triggered => "triggered",
            Transition::Resolved => "resolved",
            Transition::Reminder => "reminder",
            Transition::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Triggered, Self::Resolved, Self::Reminder, Self::Test]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// What a notification says, the same for every channel; channels render it in their own format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertMessage {
    /// One line: "New issue: ZeroDivisionError: division by zero".
    pub title: String,
    /// A few lines of plain text.
    pub text: String,
    /// A link back to the issue, project or instance page.
    pub url: Option<String>,
    /// `critical`, `error`, `warning` or `info` (`resolved` notifications are `info`).
    pub severity: String,
    /// Label/value pairs shown as a table (project, environment, events…).
    #[serde(default)]
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// Unique over all notifications: `(rule, subject, transition, episode)` and the channel; a
    /// second notification with the same key is not stored. Also sent to receivers that accept
    /// one (webhook `Idempotency-Key`, PagerDuty `dedup_key` uses the subject part).
    pub idempotency_key: String,
    /// Names the episode (rule, subject, episode) across its trigger, reminders and recovery:
    /// PagerDuty's `dedup_key`, so a resolve closes the incident its trigger opened.
    pub group_key: String,
    pub rule_id: Option<i64>,
    pub channel_id: i64,
    pub project_id: Option<i64>,
    pub subject: String,
    pub transition: Transition,
    pub message: AlertMessage,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    Pending,
    Delivered,
    /// Gave up after the last attempt failed.
    Failed,
}

impl NotificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Delivered => "delivered",
            NotificationStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub id: i64,
    pub idempotency_key: String,
    pub group_key: String,
    pub rule_id: Option<i64>,
    /// The rule's name at read time; `None` for test notifications or a deleted rule.
    pub rule_name: Option<String>,
    pub channel_id: i64,
    pub channel_name: String,
    pub channel_kind: ChannelKind,
    pub project_id: Option<i64>,
    pub subject: String,
    pub transition: Transition,
    pub message: AlertMessage,
    pub status: NotificationStatus,
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_ms: i64,
    pub created_ms: i64,
    pub delivered_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// One delivery attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub notification_id: i64,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub at_ms: i64,
    pub duration_ms: i64,
    /// The receiver's HTTP status (or SMTP reply code), when it answered.
    pub status_code: Option<i32>,
    /// `None` when the attempt succeeded.
    pub error: Option<String>,
}

/// The result of one attempt, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub at_ms: i64,
    pub duration_ms: i64,
    pub status_code: Option<i32>,
    pub error: Option<String>,
}

/// What happens to a notification after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryNext {
    Delivered,
    RetryAt(i64),
    GiveUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    NewIssue,
    Regression,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::NewIssue => "new_issue",
            TriggerKind::Regression => "regression",
        }
    }
}

/// Something that happened in a batch and may fire event-driven rules; written by `apply_batch`
/// in the batch's transaction, deleted by `commit_alerts` once evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertTrigger {
    pub id: i64,
    pub project_id: i64,
    pub issue_id: i64,
    pub kind: TriggerKind,
    /// When the batch saw it (the batch's latest receive time).
    pub at_ms: i64,
}

/// What one evaluation decided, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertCommit {
    /// Upserted by `(rule_id, subject)`.
    pub states: Vec<AlertState>,
    /// Inserted unless their idempotency key exists.
    pub notifications: Vec<NewNotification>,
    /// Trigger ids to delete.
    pub consumed_triggers: Vec<i64>,
}

#[async_trait]
pub trait AlertStore: Send + Sync {
    // ---- channels ----

    /// `Conflict` if the project does not exist.
    async fn create_channel(&self, channel: &NewChannel, now_ms: i64) -> Result<Channel, StoreError>;
    /// A project's channels (`None`: the instance channels), in id order.
    async fn list_channels(&self, project_id: Option<i64>) -> Result<Vec<Channel>, StoreError>;
    async fn get_channel(&self, channel_id: i64) -> Result<Option<Channel>, StoreError>;
    /// `NotFound` if it does not exist.
    async fn update_channel(&self, channel_id: i64, update: &ChannelUpdate) -> Result<Channel, StoreError>;
    /// Deletes the channel, removes it from rules and deletes its notifications and their
    /// deliveries. Returns whether it existed.
    async fn delete_channel(&self, channel_id: i64) -> Result<bool, StoreError>;

    // ---- rules ----

    /// `Conflict` if a channel is not one of the rule's project (or, for an instance rule, not an
    /// instance channel), or the condition's kind does not suit the scope (instance kinds only
    /// without a project, project kinds only with one).
    async fn create_rule(&self, rule: &NewAlertRule, now_ms: i64) -> Result<AlertRule, StoreError>;
    /// A project's rules (`None`: the instance rules), in id order.
    async fn list_rules(&self, project_id: Option<i64>) -> Result<Vec<AlertRule>, StoreError>;
    async fn get_rule(&self, rule_id: i64) -> Result<Option<AlertRule>, StoreError>;
    /// Replaces the rule's name, condition, channels and options (its project stays); checks as
    /// `create_rule`. A changed condition kind resets the rule's states (they measured something
    /// else): not firing since `now_ms`, never notified, no streak nor value, but each keeps its
    /// `episode`, so the next firing's idempotency keys cannot meet those of notifications still
    /// stored. `NotFound` if it does not exist.
    async fn update_rule(
        &self,
        rule_id: i64,
        rule: &NewAlertRule,
        now_ms: i64,
    ) -> Result<AlertRule, StoreError>;
    /// Deletes the rule and its states; its notifications stay in the log without it.
    async fn delete_rule(&self, rule_id: i64) -> Result<bool, StoreError>;
    /// Enabled rules of these kinds over all projects and the instance, in id order.
    async fn enabled_rules(&self, kinds: &[&str]) -> Result<Vec<AlertRule>, StoreError>;

    // ---- rule state ----

    /// The states of a rule, by subject.
    async fn alert_states(&self, rule_id: i64) -> Result<Vec<AlertState>, StoreError>;
    /// The state of one subject of a rule.
    async fn get_alert_state(&self, rule_id: i64, subject: &str) -> Result<Option<AlertState>, StoreError>;
    /// Writes an evaluation's outcome atomically (see [`AlertCommit`]); returns how many
    /// notifications were new. States of rules deleted meanwhile, and notifications of deleted
    /// rules or channels, are skipped rather than failing the whole commit.
    async fn commit_alerts(&self, commit: &AlertCommit) -> Result<u64, StoreError>;

    // ---- triggers ----

    /// Up to `limit` triggers, oldest first, that nobody claimed within the last `lease_ms`;
    /// claims them until `now_ms + lease_ms`, so a crashed evaluator's triggers come back.
    async fn claim_alert_triggers(
        &self,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<AlertTrigger>, StoreError>;

    // ---- outbox ----

    /// Up to `limit` pending notifications due at `now_ms` (oldest due first), with their
    /// channels; each is claimed by moving its `next_attempt_ms` to `now_ms + lease_ms`, so a
    /// notifier that dies mid-delivery leaves it to be retried then, by any node.
    async fn claim_notifications(
        &self,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<(Notification, Channel)>, StoreError>;
    /// Records one attempt and applies `next`, in one transaction: the attempt number is the
    /// notification's attempts + 1. Only a pending notification takes attempts: `NotFound` (a
    /// "pending notification") if it is gone (its channel deleted) or already delivered or given
    /// up, so a notifier whose lease ran out cannot turn a delivered notification into a failed one.
    async fn record_delivery(
        &self,
        notification_id: i64,
        attempt: &DeliveryAttempt,
        next: DeliveryNext,
    ) -> Result<(), StoreError>;
    async fn get_notification(&self, notification_id: i64) -> Result<Option<Notification>, StoreError>;
    /// The notification with this idempotency key (one just queued, say).
    async fn find_notification(&self, idempotency_key: &str) -> Result<Option<Notification>, StoreError>;
    /// A project's notifications (`None`: the instance's), newest first, at most `limit`, with ids
    /// below `before_id` when given.
    async fn list_notifications(
        &self,
        project_id: Option<i64>,
        limit: usize,
        before_id: Option<i64>,
    ) -> Result<Vec<Notification>, StoreError>;
    /// The attempts of these notifications, by notification then attempt.
    async fn list_deliveries(&self, notification_ids: &[i64]) -> Result<Vec<Delivery>, StoreError>;

    // ---- what threshold rules read (rollups, never raw events) ----

    /// Issues of the project with more than `more_than` events in `[since_ms, until_ms)` by the
    /// minute rollups, with their counts, by issue id.
    async fn issue_counts_over(
        &self,
        project_id: i64,
        since_ms: i64,
        until_ms: i64,
        more_than: u64,
    ) -> Result<Vec<(i64, u64)>, StoreError>;
    /// Ingest outcome totals of all projects over `[since_ms, until_ms)`: `(outcome, quantity)`
    /// per outcome name (`accepted`, `rate_limited`, `invalid`, `filtered`, …), by name.
    async fn instance_outcome_totals(
        &self,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<(String, u64)>, StoreError>;
}
