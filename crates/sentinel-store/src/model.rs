//! Domain rows. Backends map their rows to these; nothing here knows SQL.

use std::fmt;
use std::str::FromStr;

use sentinel_protocol::event::Level;
use sentinel_protocol::ids::EventId;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    pub id: i64,
    pub org_id: i64,
    pub org_slug: String,
    pub name: String,
    pub slug: String,
    /// The SDK platform shown with setup snippets (`python`, `node`, `javascript`, `rust`, `other`…).
    pub platform: String,
    pub created_ms: i64,
    /// Error events per minute accepted for the whole project; `None` means unlimited.
    pub rate_limit_per_minute: Option<u32>,
    /// Apdex's T in milliseconds: a request within T satisfies, within 4 T is tolerated.
    pub apdex_threshold_ms: u32,
}

/// Apdex's T of a new project (Sentry's default).
pub const DEFAULT_APDEX_THRESHOLD_MS: u32 = 300;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectKey {
    pub id: i64,
    pub project_id: i64,
    /// 32 lower-case hex digits: the user part of the DSN.
    pub public_key: String,
    pub label: String,
    pub active: bool,
    pub created_ms: i64,
    /// Error events per minute accepted through this key; `None` means unlimited.
    pub rate_limit_per_minute: Option<u32>,
}

/// The kinds of envelope items that reach the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    Event,
    Transaction,
    Span,
    CheckIn,
    Session,
    Sessions,
    Attachment,
    ClientReport,
    /// A batch of request events (tenant detection), from `/api/{project}/requests/` or OTLP.
    Requests,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Event => "event",
            ItemKind::Transaction => "transaction",
            ItemKind::Span => "span",
            ItemKind::CheckIn => "check_in",
            ItemKind::Session => "session",
            ItemKind::Sessions => "sessions",
            ItemKind::Attachment => "attachment",
            ItemKind::ClientReport => "client_report",
            ItemKind::Requests => "requests",
        }
    }

    /// The rate-limit / outcome data category of the item (Sentry's names).
    pub fn category(self) -> &'static str {
        match self {
            ItemKind::Event => "error",
            ItemKind::Transaction => "transaction",
            ItemKind::Span => "span",
            ItemKind::CheckIn => "monitor",
            ItemKind::Session | ItemKind::Sessions => "session",
            ItemKind::Attachment => "attachment",
            ItemKind::ClientReport => "internal",
            ItemKind::Requests => "request",
        }
    }
}

impl FromStr for ItemKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "event" => ItemKind::Event,
            "transaction" => ItemKind::Transaction,
            "span" => ItemKind::Span,
            "check_in" => ItemKind::CheckIn,
            "session" => ItemKind::Session,
            "sessions" => ItemKind::Sessions,
            "attachment" => ItemKind::Attachment,
            "client_report" => ItemKind::ClientReport,
            "requests" => ItemKind::Requests,
            other => return Err(format!("unknown item kind {other:?}")),
        })
    }
}

/// One accepted envelope item on its way into the inbox. `payload` is the item's bytes compressed
/// with zstd, so the worker never compresses again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInboxItem {
    pub project_id: i64,
    pub kind: ItemKind,
    pub event_id: Option<EventId>,
    pub received_ms: i64,
    /// The envelope's `sent_at`, for clock-drift correction.
    pub sent_at: Option<String>,
    /// Item headers worth keeping (attachment filename, content type), as compact JSON.
    pub headers_json: Option<String>,
    pub payload: Vec<u8>,
    /// The compression dictionary `payload` was compressed with; 0 means none.
    pub dict_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub id: i64,
    pub item: NewInboxItem,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InboxStats {
    pub depth: u64,
    pub oldest_received_ms: Option<i64>,
}

/// An error event ready to be stored, computed by a worker from an inbox item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub project_id: i64,
    pub event_id: EventId,
    pub grouping_hash: String,
    /// The event's own title (the issue keeps the title of its first event).
    pub title: String,
    pub culprit: String,
    pub message: Option<String>,
    pub level: Level,
    pub platform: String,
    pub timestamp_ms: i64,
    pub received_ms: i64,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub tags: Vec<(String, String)>,
    /// zstd-compressed original event JSON.
    pub payload: Vec<u8>,
    /// The compression dictionary of `payload`; 0 means none.
    pub dict_id: i64,
}

/// A non-event item kept for the features that will process it (transactions, spans, check-ins,
/// sessions, attachments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStoredItem {
    pub project_id: i64,
    pub kind: ItemKind,
    pub event_id: Option<EventId>,
    pub received_ms: i64,
    pub headers_json: Option<String>,
    pub payload: Vec<u8>,
}

/// A non-event item as stored, read back by its event id ([`crate::WorkflowStore::get_item`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    pub id: i64,
    pub project_id: i64,
    pub kind: ItemKind,
    pub event_id: Option<EventId>,
    pub received_ms: i64,
    pub headers_json: Option<String>,
    /// zstd-compressed without a dictionary, as stored.
    pub payload: Vec<u8>,
}

/// How many items of a category got a given outcome in one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeCount {
    pub project_id: i64,
    pub minute_ms: i64,
    pub category: String,
    /// `accepted`, `rate_limited`, `invalid`, `too_large`, `client_discard`, …
    pub outcome: String,
    pub reason: String,
    pub quantity: u64,
}

/// The result of processing one claimed batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessedBatch {
    /// Inbox ids this batch acknowledges (all claimed items, including ones that produced nothing).
    pub acknowledged: Vec<i64>,
    pub events: Vec<NewEvent>,
    pub items: Vec<NewStoredItem>,
    pub outcomes: Vec<OutcomeCount>,
    /// What the batch's `session` and `sessions` items add to their releases' health.
    pub sessions: Vec<SessionCounts>,
    /// The batch's request events, summarized per project and minute.
    pub request_rollups: Vec<crate::tenants::NewRequestRollup>,
}

/// What one `session`/`sessions` item adds to its release's health counters (the counting rule is
/// `sentinel_protocol::session`'s).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionCounts {
    pub project_id: i64,
    pub release: String,
    pub received_ms: i64,
    pub sessions: u64,
    pub errored: u64,
    pub abnormal: u64,
    pub crashed: u64,
    /// `(hash of the distinct id, had a crashed session)`.
    pub users: Vec<(i64, bool)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub events_stored: u64,
    pub duplicates: u64,
    pub new_issues: Vec<i64>,
    pub regressed_issues: Vec<i64>,
    pub items_stored: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueStatus {
    Unresolved,
    Resolved,
    Ignored,
}

impl IssueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Ignored => "ignored",
        }
    }
}

impl FromStr for IssueStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unresolved" => Ok(IssueStatus::Unresolved),
            "resolved" => Ok(IssueStatus::Resolved),
            "ignored" => Ok(IssueStatus::Ignored),
            other => Err(format!(
                "invalid status {other:?}: expected unresolved, resolved or ignored"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub id: i64,
    pub project_id: i64,
    pub title: String,
    pub culprit: String,
    pub message: Option<String>,
    pub level: Level,
    pub status: IssueStatus,
    pub platform: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub times_seen: u64,
    pub assignee_id: Option<i64>,
    /// Reopened by an event after it was resolved; cleared by the next status change of a user.
    pub is_regression: bool,
    /// Set with status `resolved` when resolved in the next release: events of this release do not
    /// reopen the issue.
    pub resolved_in_release: Option<String>,
    /// Set with status `ignored`: the issue reopens with the first event at or after this time…
    pub ignore_until_ms: Option<i64>,
    /// …or once `times_seen` reaches this count.
    pub ignore_until_count: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IssueSort {
    #[default]
    LastSeen,
    FirstSeen,
    TimesSeen,
    /// Recent and frequent first: Sentry's legacy score `last_seen + 600 s × ln(times_seen)`,
    /// computed in integers on both backends as [`priority_score`].
    Priority,
}

/// The priority of an issue: its last-seen second plus 416 s per doubling of its event count
/// (`600 × ln 2 ≈ 416`: Sentry's `600 × ln(times_seen)` in whole doublings, so both SQL dialects
/// compute it exactly with integer arithmetic). Ten times the events weigh about 23 minutes of
/// recency.
pub fn priority_score(last_seen_ms: i64, times_seen: u64) -> i64 {
    let doublings = if times_seen == 0 {
        0
    } else {
        63 - i64::from(times_seen.leading_zeros())
    };
    last_seen_ms / 1000 + 416 * doublings
}

impl FromStr for IssueSort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "last_seen" => Ok(IssueSort::LastSeen),
            "first_seen" => Ok(IssueSort::FirstSeen),
            "times_seen" => Ok(IssueSort::TimesSeen),
            "priority" => Ok(IssueSort::Priority),
            other => Err(format!(
                "invalid sort {other:?}: expected last_seen, first_seen, times_seen or priority"
            )),
        }
    }
}

/// Keyset position: the sort value and the id of the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub value: i64,
    pub id: i64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.value, self.id)
    }
}

impl FromStr for Cursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || format!("invalid cursor {s:?}: pass the next_cursor value of the previous page");
        let (value, id) = s.split_once(':').ok_or_else(err)?;
        Ok(Cursor {
            value: value.parse().map_err(|_| err())?,
            id: id.parse().map_err(|_| err())?,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueQuery {
    pub project_id: i64,
    pub status: Option<IssueStatus>,
    pub level: Option<Level>,
    pub environment: Option<String>,
    pub release: Option<String>,
    /// Full-text search over title, culprit and message: every word must occur, as a word or a
    /// word prefix, case-insensitively (SQLite FTS5, PostgreSQL tsvector).
    pub text: Option<String>,
    pub assigned: Option<AssignedFilter>,
    /// `key:value` pairs every listed issue has seen (exact match).
    pub tags: Vec<(String, String)>,
    /// Inclusive lower and exclusive upper bounds.
    pub first_seen: TimeRange,
    pub last_seen: TimeRange,
    pub sort: IssueSort,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignedFilter {
    /// Unassigned issues.
    Nobody,
    /// Issues assigned to anyone.
    Anybody,
    User(i64),
}

/// `[since_ms, until_ms)`; an open end is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Cursor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRow {
    pub id: i64,
    pub event_id: EventId,
    pub project_id: i64,
    pub issue_id: i64,
    pub title: String,
    pub message: Option<String>,
    pub level: Level,
    pub platform: String,
    pub timestamp_ms: i64,
    pub received_ms: i64,
    pub environment: Option<String>,
    pub release: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub row: EventRow,
    /// zstd-compressed original event JSON.
    pub payload: Vec<u8>,
    /// The compression dictionary of `payload`; 0 means none.
    pub dict_id: i64,
}

/// A zstd dictionary trained on a project's events; payloads name it by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressionDict {
    pub id: i64,
    pub project_id: i64,
    pub created_ms: i64,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagValueCount {
    pub value: String,
    pub count: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagDistribution {
    pub key: String,
    pub total: u64,
    pub unique_values: u64,
    pub top: Vec<TagValueCount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountScope {
    Project(i64),
    Issue(i64),
}
