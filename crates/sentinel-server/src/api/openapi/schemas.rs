//! The JSON schemas the operations refer to (`#/components/schemas/…`).

use crate::uptime::dns::RecordType;
use crate::uptime::spec::{
    CHECK_KINDS, DEFAULT_FAILURE_THRESHOLD, DEFAULT_INTERVAL_SECS, DEFAULT_RECOVERY_THRESHOLD,
    DEFAULT_TIMEOUT_SECS, MAX_INTERVAL_SECS, MAX_REDIRECTS, MAX_THRESHOLD, MAX_TIMEOUT_SECS,
    MIN_INTERVAL_SECS,
};
use sentinel_store::ChannelKind;
use serde_json::{Map, Value, json};

use super::schema_ref;
use crate::alerts::api::rules::{
    DEFAULT_COOLDOWN_MINUTES, DEFAULT_MIN_ERRORS, INSTANCE_KINDS, MAX_BASELINE_HOURS, MAX_CERT_DAYS,
    MAX_COOLDOWN_MINUTES, MAX_EVALUATIONS, MAX_LAG_SECONDS, MAX_WINDOW_MINUTES, PROJECT_KINDS,
};
use crate::alerts::tenants;
use crate::tenants::read::MIN_REQUESTS;

fn string() -> Value {
    json!({"type": "string"})
}

fn int() -> Value {
    json!({"type": "integer"})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn nullable(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

fn one_of(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn number() -> Value {
    json!({"type": "number"})
}

fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// An object schema; fields are required unless their name ends with `?`. `closed` objects
/// (request bodies) reject unknown fields.
fn object(fields: &[(&str, Value)], closed: bool) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, schema) in fields {
        match name.strip_suffix('?') {
            Some(n) => {
                props.insert(n.to_owned(), schema.clone());
            }
            None => {
                required.push(json!(name));
                props.insert((*name).to_owned(), schema.clone());
            }
        }
    }
    let mut out = json!({"type": "object", "properties": props, "required": required});
    if closed {
        out["additionalProperties"] = false.into();
    }
    out
}

fn described(mut schema: Value, doc: &str) -> Value {
    schema["description"] = doc.into();
    schema
}

/// Every schema, by name.
pub(super) fn all() -> Value {
    let level = one_of(&["debug", "info", "warning", "error", "fatal"]);
    let role = one_of(&["owner", "admin", "member"]);
    let scope = one_of(&["read", "write", "admin"]);
    let id = described(string(), "Numeric id, as a string.");
    let channel_kind = one_of(&ChannelKind::ALL.map(|k| k.as_str()));
    let condition_kinds: Vec<&str> = PROJECT_KINDS.iter().chain(INSTANCE_KINDS).copied().collect();
    let channel_config = described(
        json!({"type": "object", "additionalProperties": {"type": "string"}}),
        "The settings as entered, by kind: webhook `url`, `secret` (optional, at least 16 characters; \
         empty: generated); slack, discord, teams `url`; ntfy `topic`, `url` (server, optional), `token`, \
         `priority` (optional); pagerduty `routing_key`, `url` (optional); email `to` (comma-separated).",
    );
    let rule_channels = described(
        array(json!({"type": ["string", "integer"]})),
        "Ids of channels of the rule's project; at least one. Not for instance rules.",
    );
    let cooldown = described(
        int(),
        &format!(
            "0 to {MAX_COOLDOWN_MINUTES}: after a notification for an issue (or the project), further firings \
             within this long notify nobody. Default {DEFAULT_COOLDOWN_MINUTES}."
        ),
    );
    let reminder = nullable(described(
        int(),
        &format!(
            "1 to {MAX_COOLDOWN_MINUTES}: while the condition lasts, notify again this often; null: never (default)."
        ),
    ));
    let recovery = described(
        boolean(),
        "Notify once more when the condition is over. Default true for threshold conditions; always false \
         for new_issue and regression (which never recover), whatever is entered.",
    );
    let entries: Vec<(&str, Value)> = vec![
        ("Any", json!({"description": "Any JSON value."})),
        (
            "Error",
            object(
                &[("detail", described(string(), "What went wrong, for people."))],
                false,
            ),
        ),
        ("Health", object(&[("status", string())], false)),
        (
            "Ready",
            object(
                &[
                    ("status", one_of(&["ready", "unavailable"])),
                    ("database", string()),
                    ("inbox_depth?", int()),
                    ("inbox_lag_seconds?", json!({"type": "number"})),
                ],
                false,
            ),
        ),
        (
            "Envelope",
            described(
                string(),
                "A Sentry envelope: a JSON header line, then items (header line, payload).",
            ),
        ),
        (
            "IngestReply",
            object(
                &[(
                    "id?",
                    described(string(), "The event id, when the envelope had an event."),
                )],
                false,
            ),
        ),
        (
            "Pagination",
            object(
                &[
                    (
                        "next_cursor",
                        nullable(described(string(), "Pass as `cursor` for the next page.")),
                    ),
                    ("has_more", boolean()),
                ],
                false,
            ),
        ),
        (
            "Stats",
            object(
                &[
                    ("resolution", string()),
                    ("since", time()),
                    ("until", time()),
                    ("total", int()),
                    (
                        "data",
                        array(object(
                            &[
                                ("time", time()),
                                ("timestamp", described(int(), "Bucket start, epoch seconds.")),
                                ("count", int()),
                            ],
                            false,
                        )),
                    ),
                ],
                false,
            ),
        ),
        // auth
        (
            "LoginRequest",
            object(&[("email", string()), ("password", string())], true),
        ),
        ("RefreshRequest", object(&[("refresh_token", string())], true)),
        ("ForgotPasswordRequest", object(&[("email", string())], true)),
        (
            "Detail",
            object(
                &[("detail", described(string(), "What happened, for people."))],
                false,
            ),
        ),
        ("LogoutRequest", object(&[("refresh_token?", string())], true)),
        (
            "ResetPasswordRequest",
            object(&[("token", string()), ("password", string())], true),
        ),
        (
            "User",
            object(
                &[
                    ("id", id.clone()),
                    ("email", string()),
                    ("name", string()),
                    ("is_admin", boolean()),
                ],
                false,
            ),
        ),
        (
            "TokenPair",
            object(
                &[
                    (
                        "token",
                        described(string(), "Access token (`sna_…`) for `Authorization: Bearer`."),
                    ),
                    ("token_type", one_of(&["Bearer"])),
                    ("expires_in", described(int(), "Seconds.")),
                    (
                        "refresh_token",
                        described(string(), "Single-use refresh token (`snr_…`)."),
                    ),
                    ("refresh_expires_in", described(int(), "Seconds.")),
                    ("user", schema_ref("User")),
                ],
                false,
            ),
        ),
        (
            "Me",
            object(
                &[
                    ("user", nullable(schema_ref("User"))),
                    ("scope", scope.clone()),
                    ("organizations", array(schema_ref("Organization"))),
                ],
                false,
            ),
        ),
        // organizations and members
        (
            "Organization",
            object(
                &[
                    ("id", id.clone()),
                    ("slug", string()),
                    ("name", string()),
                    ("created", time()),
                    ("role", described(role.clone(), "The caller's role in it.")),
                ],
                false,
            ),
        ),
        (
            "OrganizationCreate",
            object(&[("name", string()), ("slug?", string())], true),
        ),
        ("OrganizationUpdate", object(&[("name", string())], true)),
        (
            "Member",
            object(
                &[
                    ("id", described(string(), "The member's user id.")),
                    ("email", string()),
                    ("name", string()),
                    ("role", role.clone()),
                    ("joined", time()),
                ],
                false,
            ),
        ),
        (
            "Invitation",
            object(
                &[
                    ("id", id.clone()),
                    ("organization", string()),
                    ("email", string()),
                    ("role", role.clone()),
                    ("invited_by", nullable(string())),
                    ("created", time()),
                    ("expires", time()),
                ],
                false,
            ),
        ),
        (
            "InviteRequest",
            object(&[("email", string()), ("role?", role.clone())], true),
        ),
        (
            "InviteCreated",
            object(
                &[
                    ("invitation", schema_ref("Invitation")),
                    (
                        "link",
                        described(string(), "The single-use invitation link; shown only once."),
                    ),
                ],
                false,
            ),
        ),
        ("RoleUpdate", object(&[("role", role)], true)),
        // projects, keys, tokens
        (
            "Project",
            object(
                &[
                    ("id", id.clone()),
                    ("slug", string()),
                    ("name", string()),
                    ("organization", described(string(), "Organization slug.")),
                    ("platform", string()),
                    ("created", time()),
                    (
                        "dsn",
                        nullable(described(string(), "DSN of the first active key.")),
                    ),
                    ("rate_limit_per_minute", nullable(int())),
                    (
                        "apdex_threshold_ms",
                        described(
                            int(),
                            "Apdex's T: a success within T satisfies, within 4 T is tolerated.",
                        ),
                    ),
                ],
                false,
            ),
        ),
        (
            "ProjectCreate",
            object(&[("name", string()), ("platform?", string())], true),
        ),
        (
            "ProjectUpdate",
            object(
                &[
                    ("name?", string()),
                    ("platform?", string()),
                    (
                        "rate_limit_per_minute?",
                        nullable(described(
                            int(),
                            "Error events per minute; null removes the limit.",
                        )),
                    ),
                    (
                        "apdex_threshold_ms?",
                        described(
                            int(),
                            "Apdex's T, 1–60000 ms; applies to the minutes rolled up from then on.",
                        ),
                    ),
                ],
                true,
            ),
        ),
        (
            "Key",
            object(
                &[
                    ("id", id.clone()),
                    ("project_id", id.clone()),
                    ("label", string()),
                    ("public_key", string()),
                    ("dsn", string()),
                    ("active", boolean()),
                    ("created", time()),
                    ("rate_limit_per_minute", nullable(int())),
                ],
                false,
            ),
        ),
        (
            "KeyCreate",
            object(&[("label", string()), ("rate_limit_per_minute?", int())], true),
        ),
        (
            "KeyUpdate",
            object(
                &[
                    ("active?", described(boolean(), "false revokes the key.")),
                    ("rate_limit_per_minute?", nullable(int())),
                ],
                true,
            ),
        ),
        (
            "Token",
            object(
                &[
                    ("id", id.clone()),
                    ("name", string()),
                    ("scope", scope.clone()),
                    ("created", time()),
                    (
                        "token?",
                        described(
                            string(),
                            "The secret (`sntl_…`): only in the answer to its creation.",
                        ),
                    ),
                ],
                false,
            ),
        ),
        (
            "TokenCreate",
            object(&[("name", string()), ("scope", scope)], true),
        ),
        // issues
        (
            "UserRef",
            object(
                &[("id", id.clone()), ("name", string()), ("email", string())],
                false,
            ),
        ),
        (
            "StatusDetails",
            object(
                &[
                    (
                        "in_next_release",
                        described(
                            boolean(),
                            "Resolved in the next release: events of `release` do not reopen it.",
                        ),
                    ),
                    ("release", nullable(string())),
                    (
                        "ignore_until",
                        nullable(described(time(), "Ignored until this time…")),
                    ),
                    (
                        "ignore_count",
                        nullable(described(int(), "…or until this many more events arrive.")),
                    ),
                ],
                false,
            ),
        ),
        (
            "TagDistribution",
            object(
                &[
                    ("key", string()),
                    ("total", int()),
                    ("unique_values", int()),
                    (
                        "top",
                        array(object(
                            &[
                                ("value", string()),
                                ("count", int()),
                                ("first_seen_ms", int()),
                                ("last_seen_ms", int()),
                            ],
                            false,
                        )),
                    ),
                ],
                false,
            ),
        ),
        (
            "Issue",
            object(
                &[
                    ("id", id.clone()),
                    ("project_id", id.clone()),
                    ("title", string()),
                    ("culprit", string()),
                    ("message", nullable(string())),
                    ("level", level.clone()),
                    ("status", one_of(&["unresolved", "resolved", "ignored"])),
                    ("platform", string()),
                    ("first_seen", time()),
                    ("last_seen", time()),
                    ("times_seen", int()),
                    ("assignee", nullable(schema_ref("UserRef"))),
                    (
                        "is_regression",
                        described(boolean(), "Reopened by an event after it was resolved."),
                    ),
                    ("status_details", schema_ref("StatusDetails")),
                    (
                        "tags?",
                        described(array(schema_ref("TagDistribution")), "Only on the issue detail."),
                    ),
                ],
                false,
            ),
        ),
        (
            "IssueUpdate",
            described(
                object(
                    &[
                        (
                            "status?",
                            one_of(&["resolved", "resolvedInNextRelease", "unresolved", "ignored"]),
                        ),
                        (
                            "statusDetails?",
                            described(
                                object(
                                    &[
                                        ("inNextRelease?", boolean()),
                                        ("ignoreDuration?", described(int(), "Minutes.")),
                                        ("ignoreCount?", int()),
                                    ],
                                    true,
                                ),
                                "Sentry's names for the status options.",
                            ),
                        ),
                        (
                            "ignore_duration_minutes?",
                            described(
                                int(),
                                "With status ignored: reopen with the first event after this many minutes.",
                            ),
                        ),
                        (
                            "ignore_count?",
                            described(
                                int(),
                                "With status ignored: reopen once this many more events arrive.",
                            ),
                        ),
                        (
                            "assignee?",
                            nullable(described(
                                json!({"type": ["string", "integer"]}),
                                "A user id, `user:<id>`, an email or `me`; null unassigns. The user must belong to the organization.",
                            )),
                        ),
                        (
                            "assignedTo?",
                            nullable(described(
                                json!({"type": ["string", "integer"]}),
                                "Sentry's name for `assignee`.",
                            )),
                        ),
                    ],
                    true,
                ),
                "At least one of status and assignee. Unknown fields are rejected.",
            ),
        ),
        (
            "Updated",
            object(&[("updated", described(int(), "Issues changed."))], false),
        ),
        (
            "Deleted",
            object(&[("deleted", described(int(), "Issues deleted."))], false),
        ),
        (
            "Comment",
            object(
                &[
                    ("id", id.clone()),
                    ("issue_id", id.clone()),
                    ("user", nullable(schema_ref("UserRef"))),
                    ("body", string()),
                    ("created", time()),
                ],
                false,
            ),
        ),
        (
            "NewComment",
            object(
                &[(
                    "body",
                    described(string(), "1 to 10,000 characters after trimming."),
                )],
                true,
            ),
        ),
        (
            "Activity",
            object(
                &[
                    ("id", id.clone()),
                    (
                        "kind",
                        described(
                            one_of(&[
                                "first_seen",
                                "set_regression",
                                "set_resolved",
                                "set_resolved_in_release",
                                "set_unresolved",
                                "set_ignored",
                                "assigned",
                                "unassigned",
                                "note",
                            ]),
                            "Sentry's activity names.",
                        ),
                    ),
                    (
                        "data",
                        described(
                            json!({"type": "object"}),
                            "Details: `release`, `reason`, `until_ms`, `more_events`, `assignee_id`, `assignee_name`, `comment_id`; `{}` when none.",
                        ),
                    ),
                    (
                        "user",
                        nullable(described(
                            schema_ref("UserRef"),
                            "null when Sentinel itself made the change.",
                        )),
                    ),
                    ("created", time()),
                ],
                false,
            ),
        ),
        // events
        (
            "Event",
            object(
                &[
                    ("id", described(string(), "The event id.")),
                    ("event_id", string()),
                    ("issue_id", id.clone()),
                    ("project_id", id.clone()),
                    ("title", string()),
                    ("message", nullable(string())),
                    ("level", level),
                    ("platform", string()),
                    ("timestamp", time()),
                    ("received", time()),
                    ("environment", nullable(string())),
                    ("release", nullable(string())),
                ],
                false,
            ),
        ),
        // releases
        (
            "Release",
            object(
                &[
                    ("version", string()),
                    ("project_id", id.clone()),
                    (
                        "first_seen",
                        described(time(), "First event or session naming the release."),
                    ),
                    (
                        "last_seen",
                        described(time(), "Last event or session naming the release."),
                    ),
                    ("first_event", nullable(time())),
                    ("last_event", nullable(time())),
                    ("events", int()),
                    (
                        "new_issues",
                        described(int(), "Issues whose first event carried this release."),
                    ),
                    ("sessions", int()),
                    (
                        "sessions_errored",
                        described(int(), "Ended with errors, neither crashed nor abnormal."),
                    ),
                    ("sessions_abnormal", int()),
                    ("sessions_crashed", int()),
                    ("users", described(int(), "Distinct session users (`did`).")),
                    ("users_crashed", int()),
                    (
                        "crash_free_sessions",
                        nullable(described(json!({"type": "number"}), "Percent.")),
                    ),
                    (
                        "crash_free_users",
                        nullable(described(json!({"type": "number"}), "Percent.")),
                    ),
                ],
                false,
            ),
        ),
        (
            "ReleaseDetail",
            json!({
                "allOf": [
                    schema_ref("Release"),
                    object(
                        &[(
                            "issues",
                            described(array(schema_ref("Issue")), "The issues it introduced, newest first (at most 100)."),
                        )],
                        false,
                    ),
                ],
            }),
        ),
        (
            "Attachment",
            object(
                &[
                    ("id", string()),
                    ("name", string()),
                    ("content_type", nullable(string())),
                    ("size", described(int(), "Bytes.")),
                ],
                false,
            ),
        ),
        (
            "EventDetail",
            described(
                json!({
                    "type": "object",
                    "required": ["event_id", "issue_id", "project_id", "received", "title", "previous_event_id", "next_event_id", "attachments"],
                    "properties": {
                        "event_id": string(), "issue_id": string(), "project_id": string(),
                        "received": time(), "title": string(),
                        "previous_event_id": nullable(described(string(), "The next older event of the issue."))
                        ,
                        "next_event_id": nullable(described(string(), "The next newer event of the issue.")),
                        "attachments": array(schema_ref("Attachment")),
                    },
                    "additionalProperties": true,
                }),
                "The normalized Sentry event payload (exception, breadcrumbs, contexts, tags, …) plus these fields.",
            ),
        ),
        // alerts
        (
            "Channel",
            object(
                &[
                    ("id", id.clone()),
                    (
                        "project_id",
                        nullable(described(id.clone(), "null for an instance channel.")),
                    ),
                    ("name", string()),
                    ("kind", channel_kind.clone()),
                    (
                        "config",
                        described(
                            json!({"type": "object"}),
                            "The settings that may be shown: `url_hint` (scheme, host and the last 4 characters of a \
                             URL that carries a credential), ntfy `topic`, email recipients…; never a secret.",
                        ),
                    ),
                    ("enabled", boolean()),
                    ("created", time()),
                    (
                        "signing_secret?",
                        described(
                            string(),
                            "The webhook signing secret Sentinel generated: only in the answer that made it.",
                        ),
                    ),
                ],
                false,
            ),
        ),
        (
            "ChannelCreate",
            object(
                &[
                    ("name", string()),
                    ("kind", channel_kind.clone()),
                    ("config", channel_config.clone()),
                    ("enabled?", described(boolean(), "Default true.")),
                ],
                true,
            ),
        ),
        (
            "ChannelUpdate",
            described(
                object(
                    &[
                        ("name?", string()),
                        ("enabled?", boolean()),
                        (
                            "config?",
                            described(channel_config, "Replaces every setting: enter them all again."),
                        ),
                        (
                            "regenerate_secret?",
                            described(
                                boolean(),
                                "With `config` of a webhook without `secret`: a new signing secret (answered once) \
                                 instead of keeping the old one.",
                            ),
                        ),
                    ],
                    true,
                ),
                "At least one of name, enabled and config.",
            ),
        ),
        (
            "ChannelTest",
            object(
                &[
                    (
                        "idempotency_key",
                        described(string(), "Names the queued notification in the delivery log."),
                    ),
                    ("notification", nullable(schema_ref("Notification"))),
                ],
                false,
            ),
        ),
        (
            "Condition",
            described(
                json!({
                    "type": "object",
                    "required": ["kind"],
                    "properties": {
                        "kind": one_of(&condition_kinds),
                        "events": described(int(), "issue_frequency: more than this many events (at least 1)…"),
                        "minutes": described(int(), &format!("…within this many minutes (1 to {MAX_WINDOW_MINUTES}); also event_rate, ingest_rejections and the tenant kinds.")),
                        "factor": described(number(), "event_rate: more than this many times the usual count (greater than 1)…; tenant_latency: a tenant's p95 more than this many times its own p95 over the hour before (greater than 1)."),
                        "baseline_hours": described(int(), &format!("…the usual count being the average over these hours before the window (1 to {MAX_BASELINE_HOURS})…")),
                        "min_events": described(int(), "…and at least this many events."),
                        "seconds": described(int(), &format!("inbox_lag: the oldest unprocessed item is older than this (1 to {MAX_LAG_SECONDS}).")),
                        "percent": described(number(), "ingest_rejections: rejected share above this (0 to 100]; disk_free: free space below this (0 to 100); tenant_share: a tenant's share of all 5xx above this (0 to 100)."),
                        "min_items": described(int(), "ingest_rejections: only windows with at least this many items."),
                        "monitors": described(array(string()), "monitor_down, cert_expiring: the monitor ids it watches; absent or empty: every monitor of the project."),
                        "days": described(int(), &format!("cert_expiring: fires when an HTTPS monitor's certificate expires within this many days (1 to {MAX_CERT_DAYS}).")),
                        "errors": described(int(), "tenant_errors: a tenant with at least this many 5xx in the window (at least 1)."),
                        "min_errors": described(int(), &format!("tenant_share: only windows with at least this many 5xx in all (at least 1; default {DEFAULT_MIN_ERRORS}).")),
                        "min_requests": described(int(), &format!("tenant_latency: only tenants with at least this many requests in the window (at least 1; default {}).", MIN_REQUESTS)),
                        "evaluations": described(int(), &format!("Tenant kinds: evaluations in a row the tenant must be over the threshold before the incident opens (1 to {MAX_EVALUATIONS}; default 1, tenant_share {}).", tenants::SHARE_EVALUATIONS)),
                        "resolve_below": described(number(), "Tenant kinds: the open incident resolves once the tenant's measure (5xx, share in %, p95 factor) is under this; at most the threshold, above 0 (above 1 for tenant_latency). Default: 80 % of the threshold (for tenant_latency, of the way from 1× to the factor)."),
                    },
                    "additionalProperties": false,
                }),
                "What a rule watches, with exactly its kind's fields. Project rules: new_issue, regression, \
                 issue_frequency (events, minutes), event_rate (factor, minutes, baseline_hours, min_events), \
                 monitor_down (monitors), cert_expiring (days, monitors), tenant_errors (errors, minutes, evaluations, resolve_below), \
                 tenant_share (percent, minutes, min_errors, evaluations, resolve_below), tenant_latency (factor, minutes, min_requests, evaluations, resolve_below). Instance rules: inbox_lag (seconds), ingest_rejections (percent, minutes, min_items), disk_free (percent).",
            ),
        ),
        (
            "AlertRule",
            object(
                &[
                    ("id", id.clone()),
                    (
                        "project_id",
                        nullable(described(id.clone(), "null for a built-in instance rule.")),
                    ),
                    ("name", string()),
                    ("condition", schema_ref("Condition")),
                    ("description", described(string(), "The condition in words.")),
                    (
                        "channels",
                        described(
                            array(id.clone()),
                            "Channel ids; empty for instance rules, which notify every enabled instance channel.",
                        ),
                    ),
                    ("cooldown_minutes", int()),
                    ("reminder_minutes", nullable(int())),
                    ("notify_recovery", boolean()),
                    ("enabled", boolean()),
                    ("created", time()),
                    ("updated", time()),
                ],
                false,
            ),
        ),
        (
            "AlertRuleCreate",
            object(
                &[
                    ("name", string()),
                    ("condition", schema_ref("Condition")),
                    ("channels", rule_channels.clone()),
                    ("cooldown_minutes?", cooldown.clone()),
                    ("reminder_minutes?", reminder.clone()),
                    ("notify_recovery?", recovery.clone()),
                    ("enabled?", described(boolean(), "Default true.")),
                ],
                true,
            ),
        ),
        (
            "AlertRuleUpdate",
            object(
                &[
                    ("name?", string()),
                    ("condition?", schema_ref("Condition")),
                    ("channels?", rule_channels),
                    ("cooldown_minutes?", cooldown),
                    ("reminder_minutes?", reminder),
                    ("notify_recovery?", recovery),
                    ("enabled?", boolean()),
                ],
                true,
            ),
        ),
        (
            "Delivery",
            object(
                &[
                    ("attempt", described(int(), "1 for the first attempt.")),
                    ("at", time()),
                    ("duration_ms", int()),
                    (
                        "status_code",
                        nullable(described(int(), "The receiver's HTTP status or SMTP reply code.")),
                    ),
                    (
                        "error",
                        nullable(described(string(), "null when the attempt succeeded.")),
                    ),
                ],
                false,
            ),
        ),
        (
            "Notification",
            object(
                &[
                    ("id", id.clone()),
                    ("idempotency_key", string()),
                    ("rule_id", nullable(id.clone())),
                    (
                        "rule_name",
                        nullable(described(
                            string(),
                            "null for test notifications and deleted rules.",
                        )),
                    ),
                    ("channel_id", id.clone()),
                    ("channel_name", string()),
                    ("channel_kind", channel_kind),
                    ("project_id", nullable(id.clone())),
                    (
                        "subject",
                        described(
                            string(),
                            "`issue:42`, `project:7`, `instance`, `channel:3` (tests).",
                        ),
                    ),
                    (
                        "transition",
                        one_of(&["triggered", "resolved", "reminder", "test"]),
                    ),
                    (
                        "message",
                        object(
                            &[
                                ("title", string()),
                                ("text", string()),
                                ("url", nullable(string())),
                                ("severity", one_of(&["critical", "error", "warning", "info"])),
                                (
                                    "fields",
                                    array(object(&[("label", string()), ("value", string())], false)),
                                ),
                            ],
                            false,
                        ),
                    ),
                    ("status", one_of(&["pending", "delivered", "failed"])),
                    ("attempts", int()),
                    (
                        "next_attempt",
                        nullable(described(time(), "When the next attempt is due, while pending.")),
                    ),
                    ("created", time()),
                    ("delivered", nullable(time())),
                    ("last_error", nullable(string())),
                    ("deliveries", array(schema_ref("Delivery"))),
                ],
                false,
            ),
        ),
        (
            "Monitor",
            described(
                json!({
                    "type": "object",
                    "properties": {
                        "id": id.clone(),
                        "project_id": id.clone(),
                        "name": string(),
                        "type": one_of(CHECK_KINDS),
                        "status": one_of(&["pending", "up", "down", "paused", "maintenance"]),
                        "status_since": time(),
                        "interval_seconds": int(),
                        "timeout_seconds": int(),
                        "failure_threshold": int(),
                        "recovery_threshold": int(),
                        "enabled": boolean(),
                        "public": boolean(),
                        "regions": array(string()),
                        "region_quorum": int(),
                        "last_check": nullable(time()),
                        "next_check": nullable(time()),
                        "uptime": object(
                            &[
                                ("24h", nullable(number())),
                                ("7d", nullable(number())),
                                ("30d", nullable(number())),
                                ("90d", nullable(number())),
                                ("avg_response_ms_24h", nullable(int())),
                                ("p50_response_ms_24h?", nullable(int())),
                                ("p95_response_ms_24h?", nullable(int())),
                            ],
                            false,
                        ),
                        "created": time(),
                        "updated": time(),
                    },
                }),
                "A monitor, with its check's own fields beside these (see MonitorInput). Uptime is the share of \
                 checks that passed, in percent, from hourly rollups (null without checks); lists carry 24h only.",
            ),
        ),
        (
            "MonitorInput",
            described(
                json!({
                    "type": "object",
                    "properties": {
                        "name": described(string(), "Default: the URL, host:port, or host and record type."),
                        "type": one_of(CHECK_KINDS),
                        "interval_seconds": described(int(), &format!("{MIN_INTERVAL_SECS} to {MAX_INTERVAL_SECS}, default {DEFAULT_INTERVAL_SECS}.")),
                        "timeout_seconds": described(int(), &format!("1 to {MAX_TIMEOUT_SECS} and at most the interval, default {DEFAULT_TIMEOUT_SECS}.")),
                        "failure_threshold": described(int(), &format!("Failures in a row that make it down (1 to {MAX_THRESHOLD}, default {DEFAULT_FAILURE_THRESHOLD}).")),
                        "recovery_threshold": described(int(), &format!("Successes in a row that make it up again (default {DEFAULT_RECOVERY_THRESHOLD}).")),
                        "enabled": described(boolean(), "false: paused."),
                        "public": described(boolean(), "Shown on the project's public status page."),
                        "regions": described(array(string()), "Checker regions (--region labels) that each check every slot; default none: any one checker."),
                        "region_quorum": described(int(), "Regions that must fail a slot for it to fail (0: a majority)."),
                        "url": described(string(), "http: http:// or https:// URL."),
                        "method": described(string(), "http: GET (default), HEAD, POST, PUT, PATCH, DELETE or OPTIONS."),
                        "headers": described(json!({"type": "object", "additionalProperties": string()}), "http: request headers."),
                        "body": described(string(), "http: request body."),
                        "expected_status": described(json!({"type": "array", "items": {"oneOf": [int(), string()]}}), "http: accepted codes (200) or classes (\"2xx\"); default [\"2xx\"]."),
                        "keyword": described(string(), "http: text the body must contain."),
                        "keyword_absent": described(string(), "http: text the body must not contain."),
                        "json_assertions": described(array(object(&[("path", string()), ("equals", json!({}))], true)), "http: values the JSON body must have, e.g. {\"path\": \"$.status\", \"equals\": \"ok\"}."),
                        "max_response_ms": described(int(), "http: slower than this fails."),
                        "follow_redirects": described(boolean(), &format!("http: follow up to {MAX_REDIRECTS} redirects (default true).")),
                        "verify_tls": described(boolean(), "http: check the certificate (default true)."),
                        "host": described(string(), "tcp: host name or IP address; dns: the name to look up."),
                        "port": described(int(), "tcp: port, 1 to 65535."),
                        "record_type": described(one_of(&RecordType::ALL.map(RecordType::as_str)), "dns: the record type asked for (default A)."),
                        "expected": described(array(string()), "dns: values the answer must include (all of them), compared without case or final dot; addresses for A and AAAA."),
                        "resolver": described(string(), "dns: the resolver asked, ip or ip:port (port 53 by default); default: the first nameserver of /etc/resolv.conf."),
                    },
                    "additionalProperties": false,
                }),
                "A monitor as written: common settings and the check's fields side by side. On create `type` is required \
                 (plus url for http, host and port for tcp, host for dns); on update absent fields keep their values and the type cannot change.",
            ),
        ),
        (
            "Incident",
            object(
                &[
                    ("id", id.clone()),
                    ("monitor_id", id.clone()),
                    ("status", one_of(&["open", "resolved"])),
                    ("opened", time()),
                    ("resolved", nullable(time())),
                    ("duration_seconds", int()),
                    (
                        "evidence",
                        described(
                            json!({"type": "object"}),
                            "The check that confirmed the outage: slot_ms, region, status_code, error, latency_ms, body_excerpt.",
                        ),
                    ),
                ],
                false,
            ),
        ),
        (
            "StatusPage",
            object(
                &[
                    ("project", described(string(), "The project's name.")),
                    (
                        "status",
                        one_of(&["operational", "partial_outage", "major_outage"]),
                    ),
                    (
                        "monitors",
                        array(object(
                            &[
                                ("id", id.clone()),
                                ("name", string()),
                                ("status", one_of(&["pending", "up", "down", "paused"])),
                                ("status_since", time()),
                                ("uptime_90d", nullable(number())),
                                (
                                    "days",
                                    described(
                                        array(object(
                                            &[
                                                ("date", json!({"type": "string", "format": "date"})),
                                                ("checks", int()),
                                                ("failures", int()),
                                                ("uptime", nullable(number())),
                                            ],
                                            false,
                                        )),
                                        "The last 90 days (UTC), oldest first, today so far last.",
                                    ),
                                ),
                            ],
                            false,
                        )),
                    ),
                    (
                        "incidents",
                        described(
                            array(object(
                                &[
                                    ("monitor_id", id.clone()),
                                    ("monitor", string()),
                                    ("opened", time()),
                                    ("resolved", nullable(time())),
                                    ("duration_seconds", int()),
                                ],
                                false,
                            )),
                            "Incidents of the public monitors open at some time in the last 90 days, newest first.",
                        ),
                    ),
                    ("generated", time()),
                ],
                false,
            ),
        ),
        (
            "CheckResult",
            object(
                &[
                    ("slot", time()),
                    ("started", time()),
                    ("region", string()),
                    ("ok", boolean()),
                    ("latency_ms", int()),
                    ("status_code", nullable(int())),
                    ("error", nullable(string())),
                    (
                        "details",
                        described(
                            json!({"type": "object"}),
                            "Phase timings (dns_ms, connect_ms, tls_ms, first_byte_ms), ip, redirects, body_excerpt of a failure.",
                        ),
                    ),
                ],
                false,
            ),
        ),
    ];
    Value::Object(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}
