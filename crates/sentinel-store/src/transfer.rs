//! Backend-neutral row transfer for `sentinel migrate-data`: every persistent table, its columns
//! and its key, so a copy can be made table by table in key order, resumed after the last key the
//! target holds, and verified by counting.

/// A column value as both backends can read and write it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// One table to copy. `key` columns are a prefix-free unique key used for keyset paging
/// (`(k1, k2, …) > (…)`) and for resuming; rows are copied in key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub key: &'static [&'static str],
}

/// Every table `migrate-data` copies, parents before children. Column names are the same on both
/// backends; integer columns carry `Value::Int` (booleans as 0/1), ids and event ids keep their
/// values, `event_id` columns are 16-byte blobs. The inbox holds the items not yet processed.
pub const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "organizations",
        columns: &["id", "slug", "name", "created_ms"],
        key: &["id"],
    },
    TableSpec {
        name: "users",
        columns: &["id", "email", "name", "password_hash", "is_admin", "created_ms"],
        key: &["id"],
    },
    TableSpec {
        name: "organization_members",
        columns: &["org_id", "user_id", "role", "created_ms"],
        key: &["org_id", "user_id"],
    },
    TableSpec {
        name: "projects",
        columns: &[
            "id",
            "org_id",
            "name",
            "slug",
            "created_ms",
            "rate_limit_per_minute",
            "platform",
        ],
        key: &["id"],
    },
    TableSpec {
        name: "project_keys",
        columns: &[
            "id",
            "project_id",
            "public_key",
            "label",
            "active",
            "created_ms",
            "rate_limit_per_minute",
        ],
        key: &["id"],
    },
    TableSpec {
        name: "api_tokens",
        columns: &["id", "name", "token_sha256", "scope", "created_ms", "user_id"],
        key: &["id"],
    },
    TableSpec {
        name: "invitations",
        columns: &[
            "id",
            "token_sha256",
            "org_id",
            "email",
            "role",
            "invited_by",
            "created_ms",
            "expires_ms",
        ],
        key: &["id"],
    },
    TableSpec {
        name: "sessions",
        columns: &["token_sha256", "kind", "user_id", "created_ms", "expires_ms"],
        key: &["token_sha256"],
    },
    TableSpec {
        name: "compression_dicts",
        columns: &["id", "project_id", "created_ms", "dict"],
        key: &["id"],
    },
    TableSpec {
        name: "issues",
        columns: &[
            "id",
            "project_id",
            "hash",
            "title",
            "culprit",
            "message",
            "level",
            "status",
            "platform",
            "first_seen_ms",
            "last_seen_ms",
            "times_seen",
            "assignee_id",
            "is_regression",
            "resolved_in_release",
            "ignore_until_ms",
            "ignore_until_count",
            "first_release",
        ],
        key: &["id"],
    },
    TableSpec {
        name: "events",
        columns: &[
            "id",
            "project_id",
            "event_id",
            "issue_id",
            "timestamp_ms",
            "received_ms",
            "level",
            "platform",
            "title",
            "message",
            "environment",
            "release",
            "dict_id",
            "payload",
        ],
        key: &["id"],
    },
    TableSpec {
        name: "items",
        columns: &[
            "id",
            "project_id",
            "kind",
            "event_id",
            "received_ms",
            "headers_json",
            "payload",
        ],
        key: &["id"],
    },
    TableSpec {
        name: "rollups_minute",
        columns: &["project_id", "issue_id", "minute_ms", "count"],
        key: &["project_id", "issue_id", "minute_ms"],
    },
    TableSpec {
        name: "rollups_hour",
        columns: &["project_id", "issue_id", "hour_ms", "count"],
        key: &["project_id", "issue_id", "hour_ms"],
    },
    TableSpec {
        name: "issue_tag_values",
        columns: &[
            "issue_id",
            "key",
            "value",
            "count",
            "first_seen_ms",
            "last_seen_ms",
        ],
        key: &["issue_id", "key", "value"],
    },
    TableSpec {
        name: "issue_tag_keys",
        columns: &["issue_id", "key", "total", "unique_values"],
        key: &["issue_id", "key"],
    },
    TableSpec {
        name: "outcomes",
        columns: &[
            "project_id",
            "minute_ms",
            "category",
            "outcome",
            "reason",
            "quantity",
        ],
        key: &["project_id", "minute_ms", "category", "outcome", "reason"],
    },
    TableSpec {
        name: "activity",
        columns: &["id", "issue_id", "kind", "data", "user_id", "created_ms"],
        key: &["id"],
    },
    TableSpec {
        name: "comments",
        columns: &["id", "issue_id", "user_id", "body", "created_ms"],
        key: &["id"],
    },
    TableSpec {
        name: "releases",
        columns: &[
            "id",
            "project_id",
            "version",
            "first_seen_ms",
            "last_seen_ms",
            "first_event_ms",
            "last_event_ms",
            "events",
            "new_issues",
            "sessions",
            "sessions_errored",
            "sessions_abnormal",
            "sessions_crashed",
            "users",
            "users_crashed",
        ],
        key: &["id"],
    },
    TableSpec {
        name: "release_users",
        columns: &["project_id", "version", "user_hash", "crashed"],
        key: &["project_id", "version", "user_hash"],
    },
    TableSpec {
        name: "channels",
        columns: &[
            "id",
            "project_id",
            "name",
            "kind",
            "config_json",
            "secrets_json",
            "enabled",
            "created_ms",
        ],
        key: &["id"],
    },
    TableSpec {
        name: "alert_rules",
        columns: &[
            "id",
            "project_id",
            "name",
            "kind",
            "condition_json",
            "cooldown_ms",
            "reminder_ms",
            "notify_recovery",
            "enabled",
            "created_ms",
            "updated_ms",
        ],
        key: &["id"],
    },
    TableSpec {
        name: "alert_rule_channels",
        columns: &["rule_id", "channel_id"],
        key: &["rule_id", "channel_id"],
    },
    // Without `value`, the last measured value (a float, which `Value` has no variant for): it
    // is only shown, and the next evaluation measures it again.
    TableSpec {
        name: "alert_states",
        columns: &[
            "rule_id",
            "subject",
            "firing",
            "episode",
            "since_ms",
            "last_notified_ms",
            "streak",
        ],
        key: &["rule_id", "subject"],
    },
    TableSpec {
        name: "alert_triggers",
        columns: &[
            "id",
            "project_id",
            "issue_id",
            "kind",
            "at_ms",
            "claimed_until_ms",
        ],
        key: &["id"],
    },
    TableSpec {
        name: "notifications",
        columns: &[
            "id",
            "idempotency_key",
            "group_key",
            "rule_id",
            "channel_id",
            "project_id",
            "subject",
            "transition",
            "message_json",
            "status",
            "attempts",
            "next_attempt_ms",
            "created_ms",
            "delivered_ms",
            "last_error",
        ],
        key: &["id"],
    },
    TableSpec {
        name: "deliveries",
        columns: &[
            "id",
            "notification_id",
            "attempt",
            "at_ms",
            "duration_ms",
            "status_code",
            "error",
        ],
        key: &["id"],
    },
    TableSpec {
        name: "inbox",
        columns: &[
            "id",
            "project_id",
            "kind",
            "event_id",
            "received_ms",
            "sent_at",
            "headers_json",
            "dict_id",
            "payload",
        ],
        key: &["id"],
    },
];

pub fn table(name: &str) -> Option<&'static TableSpec> {
    TABLES.iter().find(|t| t.name == name)
}
