//! Alert rules: what to watch (the condition), whom to tell (channels of the same project), and
//! how often (cooldown, reminders, recovery). Project rules take the project condition kinds;
//! instance rules are Sentinel's built-in self-monitoring, created by the alert engine: instance
//! admins list them and change their thresholds and options, but do not create, rename or delete
//! them.
//!
//! Every field is validated here with a message naming it (`condition.minutes must be from 1 to
//! 1440`), before the store sees the rule.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use sentinel_store::{AlertRule, Condition, NewAlertRule, OrgRole, StoreError, TokenScope};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{authorize, require_instance_admin};
use crate::AppState;
use crate::alerts::tenants;
use crate::api::input::{self, JsonBody, nullable};
use crate::api::{ApiError, Caller};
use crate::auth::{Principal, access};
use crate::clock::rfc3339;
use crate::tenants::read::MIN_REQUESTS;

/// Condition kinds a project rule may have.
pub const PROJECT_KINDS: &[&str] = &[
    "new_issue",
    "regression",
    "issue_frequency",
    "event_rate",
    "monitor_down",
    "cert_expiring",
    "tenant_errors",
    "tenant_share",
    "tenant_latency",
];
/// Condition kinds of the instance rules.
pub const INSTANCE_KINDS: &[&str] = &["inbox_lag", "ingest_rejections", "disk_free"];
/// Longest window of a threshold condition, in minutes (one day).
pub const MAX_WINDOW_MINUTES: u64 = 1440;
/// Longest baseline of an event-rate condition, in hours (30 days).
pub const MAX_BASELINE_HOURS: u64 = 720;
/// Longest cooldown or reminder interval, in minutes (one week).
pub const MAX_COOLDOWN_MINUTES: i64 = 10_080;
/// Cooldown of a rule created without one.
pub const DEFAULT_COOLDOWN_MINUTES: i64 = 60;
/// Longest inbox lag threshold, in seconds (one week).
pub const MAX_LAG_SECONDS: u64 = 604_800;
const MINUTE_MS: i64 = 60_000;
/// Longest warning ahead of a certificate's expiry, in days (certificates live at most 398).
pub const MAX_CERT_DAYS: u64 = 398;
/// Most evaluations in a row a tenant condition may ask for before opening an episode.
pub const MAX_EVALUATIONS: u64 = 60;
/// 5xx a project needs in a share condition's window, when the rule names no `min_errors`.
pub const DEFAULT_MIN_ERRORS: u64 = 10;

/// The fields (besides `kind`) of each condition kind.
pub fn condition_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "issue_frequency" => &["events", "minutes"],
        "event_rate" => &["factor", "minutes", "baseline_hours", "min_events"],
        "inbox_lag" => &["seconds"],
        "ingest_rejections" => &["percent", "minutes", "min_items"],
        "disk_free" => &["percent"],
        "monitor_down" => &["monitors"],
        "cert_expiring" => &["days", "monitors"],
        "tenant_errors" => &["errors", "minutes", "evaluations", "resolve_below"],
        "tenant_share" => &["percent", "minutes", "min_errors", "evaluations", "resolve_below"],
        "tenant_latency" => &[
            "factor",
            "minutes",
            "min_requests",
            "evaluations",
            "resolve_below",
        ],
        _ => &[],
    }
}

fn bad(msg: String) -> ApiError {
    ApiError::BadRequest(msg)
}

/// Field `name` of a condition: a whole number from `min` to `max`.
fn whole(obj: &Map<String, Value>, name: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    let v = obj
        .get(name)
        .ok_or_else(|| bad(format!("condition.{name} is required")))?;
    let n = v
        .as_u64()
        .ok_or_else(|| bad(format!("condition.{name} must be a whole number, not {v}")))?;
    match (n >= min, n <= max) {
        (true, true) => Ok(n),
        _ if max == u64::MAX => Err(bad(format!("condition.{name} must be at least {min}"))),
        _ => Err(bad(format!("condition.{name} must be from {min} to {max}"))),
    }
}

/// Field `name` of a condition: a number.
fn number(obj: &Map<String, Value>, name: &str) -> Result<f64, ApiError> {
    let v = obj
        .get(name)
        .ok_or_else(|| bad(format!("condition.{name} is required")))?;
    v.as_f64()
        .filter(|f| f.is_finite())
        .ok_or_else(|| bad(format!("condition.{name} must be a number, not {v}")))
}

fn percent(obj: &Map<String, Value>, max_inclusive: bool) -> Result<f64, ApiError> {
    let p = number(obj, "percent")?;
    let ok = p > 0.0 && (p < 100.0 || (max_inclusive && p == 100.0));
    if ok {
        Ok(p)
    } else if max_inclusive {
        Err(bad(
            "condition.percent must be greater than 0 and at most 100".into()
        ))
    } else {
        Err(bad(
            "condition.percent must be greater than 0 and less than 100".into()
        ))
    }
}

fn window(obj: &Map<String, Value>) -> Result<u32, ApiError> {
    // At most MAX_WINDOW_MINUTES, so it fits.
    Ok(whole(obj, "minutes", 1, MAX_WINDOW_MINUTES)? as u32)
}

/// Field `name` when present, read by `read`.
fn optional<T>(
    obj: &Map<String, Value>,
    name: &str,
    read: impl FnOnce(&Map<String, Value>, &str) -> Result<T, ApiError>,
) -> Result<Option<T>, ApiError> {
    obj.get(name).map(|_| read(obj, name)).transpose()
}

/// `condition.evaluations` of a tenant condition (default `default`).
fn evaluations(obj: &Map<String, Value>, default: u32) -> Result<u32, ApiError> {
    // At most MAX_EVALUATIONS, so it fits.
    Ok(optional(obj, "evaluations", |o, n| whole(o, n, 1, MAX_EVALUATIONS))?.map_or(default, |k| k as u32))
}

/// `condition.resolve_below` of a tenant condition of `kind` opening over `threshold`: above
/// `floor` (0 for counts and shares, 1× for latency) and at most the threshold, so the episode
/// can end and does not end while it still holds; by default `RESOLVE_FRACTION` of the way.
fn resolve_below(
    obj: &Map<String, Value>,
    kind: &str,
    (threshold_name, threshold): (&str, f64),
    floor: f64,
) -> Result<f64, ApiError> {
    let Some(v) = optional(obj, "resolve_below", number)? else {
        return Ok(tenants::default_resolve_below(kind, threshold));
    };
    if v > floor && v <= threshold {
        Ok(v)
    } else {
        Err(bad(format!(
            "condition.resolve_below must be greater than {floor} and at most condition.{threshold_name} \
             ({threshold}), not {v}: the incident resolves once the tenant is under it"
        )))
    }
}

/// `condition.factor`: more than 1 (1× is the usual).
fn factor(obj: &Map<String, Value>, usual: &str) -> Result<f64, ApiError> {
    let factor = number(obj, "factor")?;
    if factor <= 1.0 {
        return Err(bad(format!(
            "condition.factor must be greater than 1 ({usual}), not {factor}"
        )));
    }
    Ok(factor)
}

/// The tenant condition of `kind` from `obj`.
fn tenant_condition(obj: &Map<String, Value>, kind: &str) -> Result<Condition, ApiError> {
    Ok(match kind {
        "tenant_errors" => {
            let errors = whole(obj, "errors", 1, u64::MAX)?;
            Condition::TenantErrors {
                errors,
                minutes: window(obj)?,
                evaluations: evaluations(obj, 1)?,
                resolve_below: resolve_below(obj, kind, ("errors", errors as f64), 0.0)?,
            }
        }
        "tenant_share" => {
            let percent = percent(obj, false)?;
            Condition::TenantShare {
                percent,
                minutes: window(obj)?,
                min_errors: optional(obj, "min_errors", |o, n| whole(o, n, 1, u64::MAX))?
                    .unwrap_or(DEFAULT_MIN_ERRORS),
                evaluations: evaluations(obj, tenants::SHARE_EVALUATIONS)?,
                resolve_below: resolve_below(obj, kind, ("percent", percent), 0.0)?,
            }
        }
        _ => {
            let factor = factor(obj, "the tenant's usual p95")?;
            Condition::TenantLatency {
                factor,
                minutes: window(obj)?,
                min_requests: optional(obj, "min_requests", |o, n| whole(o, n, 1, u64::MAX))?
                    .unwrap_or(MIN_REQUESTS),
                evaluations: evaluations(obj, 1)?,
                resolve_below: resolve_below(obj, kind, ("factor", factor), 1.0)?,
            }
        }
    })
}

/// A condition as entered: an object with a `kind` of the scope (instance kinds for instance
/// rules, project kinds otherwise) and exactly that kind's fields, in range.
pub fn condition(raw: &Value, instance: bool) -> Result<Condition, ApiError> {
    let obj = raw.as_object().ok_or_else(|| {
        bad(r#"condition must be an object with a kind, e.g. {"kind": "new_issue"}"#.into())
    })?;
    let allowed = if instance { INSTANCE_KINDS } else { PROJECT_KINDS };
    let kind = obj.get("kind").and_then(Value::as_str).ok_or_else(|| {
        bad(format!(
            "condition.kind is required: one of {}",
            allowed.join(", ")
        ))
    })?;
    if !allowed.contains(&kind) {
        return Err(bad(if !instance && INSTANCE_KINDS.contains(&kind) {
            format!(
                "condition.kind {kind} watches the instance, not a project; project rules take one of {}",
                allowed.join(", ")
            )
        } else if instance && PROJECT_KINDS.contains(&kind) {
            format!(
                "condition.kind {kind} watches a project; instance rules take one of {}",
                allowed.join(", ")
            )
        } else {
            format!(
                "invalid condition.kind {kind:?}: expected one of {}",
                allowed.join(", ")
            )
        }));
    }
    let fields = condition_fields(kind);
    if let Some(extra) = obj
        .keys()
        .find(|k| k.as_str() != "kind" && !fields.contains(&k.as_str()))
    {
        return Err(bad(if fields.is_empty() {
            format!("unknown field condition.{extra}: {kind} takes no other fields")
        } else {
            format!(
                "unknown field condition.{extra}: {kind} takes {}",
                fields.join(", ")
            )
        }));
    }
    Ok(match kind {
        "new_issue" => Condition::NewIssue {},
        "regression" => Condition::Regression {},
        "issue_frequency" => Condition::IssueFrequency {
            events: whole(obj, "events", 1, u64::MAX)?,
            minutes: window(obj)?,
        },
        "tenant_errors" | "tenant_share" | "tenant_latency" => tenant_condition(obj, kind)?,
        "event_rate" => {
            let factor = factor(obj, "the usual rate")?;
            Condition::EventRate {
                factor,
                minutes: window(obj)?,
                baseline_hours: whole(obj, "baseline_hours", 1, MAX_BASELINE_HOURS)? as u32,
                min_events: whole(obj, "min_events", 0, u64::MAX)?,
            }
        }
        "monitor_down" => Condition::MonitorDown {
            monitors: monitor_ids(obj)?,
        },
        "cert_expiring" => Condition::CertExpiring {
            // At most MAX_CERT_DAYS, so it fits.
            days: whole(obj, "days", 1, MAX_CERT_DAYS)? as u32,
            monitors: monitor_ids(obj)?,
        },
        "inbox_lag" => Condition::InboxLag {
            seconds: whole(obj, "seconds", 1, MAX_LAG_SECONDS)?,
        },
        "ingest_rejections" => Condition::IngestRejections {
            percent: percent(obj, true)?,
            minutes: window(obj)?,
            min_items: whole(obj, "min_items", 0, u64::MAX)?,
        },
        _ => Condition::DiskFree {
            percent: percent(obj, false)?,
        },
    })
}

/// `condition.monitors` of a monitor rule: absent or a list of monitor ids (numbers or numeric
/// strings); empty means every monitor of the project. Which project they belong to is checked
/// with the rule's project.
fn monitor_ids(obj: &Map<String, Value>) -> Result<Vec<i64>, ApiError> {
    let Some(raw) = obj.get("monitors") else {
        return Ok(Vec::new());
    };
    let items = raw.as_array().ok_or_else(|| {
        bad("condition.monitors must be a list of monitor ids (empty: every monitor of the project)".into())
    })?;
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = match item {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .filter(|id| *id > 0)
        .ok_or_else(|| bad(format!("condition.monitors: {item} is not a monitor id")))?;
        ids.push(id);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n: u64 = n.into();
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The condition in words, for the dashboard: "an issue has more than 100 events in 60 minutes".
pub fn describe(c: &Condition) -> String {
    match c {
        Condition::NewIssue {} => "a new issue appears".into(),
        Condition::Regression {} => "a resolved issue gets a new event (regression)".into(),
        Condition::IssueFrequency { events, minutes } => format!(
            "an issue has more than {} in {}",
            plural(*events, "event", "events"),
            plural(*minutes, "minute", "minutes")
        ),
        Condition::EventRate {
            factor,
            minutes,
            baseline_hours,
            min_events,
        } => format!(
            "the project gets more than {factor}× its usual events in {} (usual: the average of the {} \
             before), and at least {}",
            plural(*minutes, "minute", "minutes"),
            plural(*baseline_hours, "hour", "hours"),
            plural(*min_events, "event", "events")
        ),
        Condition::InboxLag { seconds } => format!(
            "the oldest unprocessed inbox item is older than {}",
            plural(*seconds, "second", "seconds")
        ),
        Condition::IngestRejections {
            percent,
            minutes,
            min_items,
        } => format!(
            "more than {percent}% of ingested items are rejected in {} (with at least {})",
            plural(*minutes, "minute", "minutes"),
            plural(*min_items, "item", "items")
        ),
        Condition::DiskFree { percent } => {
            format!("less than {percent}% of the data directory's disk is free")
        }
        Condition::MonitorDown { monitors } if monitors.is_empty() => {
            "a monitor of the project is confirmed down".into()
        }
        Condition::MonitorDown { monitors } => {
            format!("monitor {} is confirmed down", monitor_list(monitors))
        }
        Condition::CertExpiring { days, monitors } if monitors.is_empty() => format!(
            "the TLS certificate of a monitor of the project expires within {}",
            plural(*days, "day", "days")
        ),
        Condition::CertExpiring { days, monitors } => format!(
            "the TLS certificate of monitor {} expires within {}",
            monitor_list(monitors),
            plural(*days, "day", "days")
        ),
        Condition::TenantErrors {
            errors,
            minutes,
            evaluations,
            resolve_below,
        } => format!(
            "a tenant has {errors} 5xx or more in {}{}; resolved under {resolve_below}",
            plural(*minutes, "minute", "minutes"),
            in_a_row(*evaluations)
        ),
        Condition::TenantShare {
            percent,
            minutes,
            min_errors,
            evaluations,
            resolve_below,
        } => format!(
            "a tenant causes more than {percent}% of the 5xx in {} (with at least {min_errors} 5xx){}; \
             resolved under {resolve_below}%",
            plural(*minutes, "minute", "minutes"),
            in_a_row(*evaluations)
        ),
        Condition::TenantLatency {
            factor,
            minutes,
            min_requests,
            evaluations,
            resolve_below,
        } => format!(
            "a tenant's p95 latency in {} is more than {factor}× its p95 over the hour before (with at \
             least {}){}; resolved under {resolve_below}×",
            plural(*minutes, "minute", "minutes"),
            plural(*min_requests, "request", "requests"),
            in_a_row(*evaluations)
        ),
    }
}

/// `, 3 evaluations in a row` (nothing for 1).
fn in_a_row(k: u32) -> String {
    if k <= 1 {
        String::new()
    } else {
        format!(", {k} evaluations in a row")
    }
}

/// `#3, #5`.
fn monitor_list(monitors: &[i64]) -> String {
    monitors
        .iter()
        .map(|m| format!("#{m}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Serialize)]
pub struct RuleJson {
    pub id: String,
    /// `null` for a built-in instance rule.
    pub project_id: Option<String>,
    pub name: String,
    /// `{"kind": "issue_frequency", "events": 100, "minutes": 60}`.
    pub condition: Condition,
    /// The condition in words.
    pub description: String,
    /// Channel ids; empty for instance rules, which notify every enabled instance channel.
    pub channels: Vec<String>,
    pub cooldown_minutes: i64,
    pub reminder_minutes: Option<i64>,
    pub notify_recovery: bool,
    pub enabled: bool,
    pub created: String,
    pub updated: String,
}

impl From<AlertRule> for RuleJson {
    fn from(r: AlertRule) -> Self {
        RuleJson {
            id: r.id.to_string(),
            project_id: r.project_id.map(|p| p.to_string()),
            name: r.name,
            description: describe(&r.condition),
            condition: r.condition,
            channels: r.channel_ids.iter().map(|c| c.to_string()).collect(),
            cooldown_minutes: r.cooldown_ms / MINUTE_MS,
            reminder_minutes: r.reminder_ms.map(|m| m / MINUTE_MS),
            notify_recovery: r.notify_recovery,
            enabled: r.enabled,
            created: rfc3339(r.created_ms),
            updated: rfc3339(r.updated_ms),
        }
    }
}

/// A rule as entered. On create, `name`, `condition` and `channels` are required; on update every
/// absent field stays as it is.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    pub name: Option<String>,
    pub condition: Option<Value>,
    /// Channel ids (numbers or numeric strings) of the rule's project.
    pub channels: Option<Vec<Value>>,
    pub cooldown_minutes: Option<i64>,
    /// `null`: no reminders.
    #[serde(default, deserialize_with = "nullable")]
    pub reminder_minutes: Option<Option<i64>>,
    pub notify_recovery: Option<bool>,
    pub enabled: Option<bool>,
}

/// Channel ids as entered: of the project's channels, at least one, without repeats.
async fn channel_ids(app: &AppState, project_id: i64, raw: &[Value]) -> Result<Vec<i64>, ApiError> {
    let mut ids = BTreeSet::new();
    for (i, v) in raw.iter().enumerate() {
        let id = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        }
        .filter(|id| *id > 0)
        .ok_or_else(|| bad(format!("channels[{i}] must be a channel id, not {v}")))?;
        ids.insert(id);
    }
    if ids.is_empty() {
        return Err(bad(
            "channels must name at least one channel of the project: a rule without channels notifies nobody"
                .into(),
        ));
    }
    let known: BTreeSet<i64> = app
        .store
        .list_channels(Some(project_id))
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    if let Some(stranger) = ids.iter().find(|id| !known.contains(id)) {
        return Err(bad(format!(
            "channels: channel {stranger} is not a channel of this project"
        )));
    }
    Ok(ids.into_iter().collect())
}

fn minutes_in(field: &str, v: i64, min: i64) -> Result<i64, ApiError> {
    if (min..=MAX_COOLDOWN_MINUTES).contains(&v) {
        Ok(v * MINUTE_MS)
    } else {
        Err(bad(format!(
            "{field} must be from {min} to {MAX_COOLDOWN_MINUTES} (one week)"
        )))
    }
}

/// The rule `body` describes, for `project_id` (`None`: an instance rule), over `current` when
/// it changes an existing rule. Shared with the dashboard.
pub async fn build(
    app: &AppState,
    body: RuleBody,
    project_id: Option<i64>,
    current: Option<&AlertRule>,
) -> Result<NewAlertRule, ApiError> {
    let instance = project_id.is_none();
    let name = match (&body.name, current) {
        (Some(n), Some(cur)) if instance && n.trim() != cur.name => {
            return Err(bad("name: the built-in instance rules keep their names".into()));
        }
        (Some(n), _) => input::name("name", n)?,
        (None, Some(cur)) => cur.name.clone(),
        (None, None) => return Err(bad("name is required".into())),
    };
    let condition = match (&body.condition, current) {
        (Some(raw), cur) => {
            let c = condition(raw, instance)?;
            if let Some(cur) = cur.filter(|_| instance)
                && cur.condition.kind() != c.kind()
            {
                return Err(bad(format!(
                    "condition.kind: a built-in instance rule keeps its kind ({})",
                    cur.condition.kind()
                )));
            }
            c
        }
        (None, Some(cur)) => cur.condition.clone(),
        (None, None) => return Err(bad("condition is required".into())),
    };
    let channel_ids = match (&body.channels, project_id, current) {
        (Some(_), None, _) => {
            return Err(bad(
                "channels: instance rules notify every enabled instance channel; they have no channels of their own"
                    .into(),
            ));
        }
        (Some(raw), Some(pid), _) => channel_ids(app, pid, raw).await?,
        (None, _, Some(cur)) => cur.channel_ids.clone(),
        (None, None, None) => Vec::new(),
        (None, Some(_), None) => {
            return Err(bad(
                "channels is required: the ids of the project's channels to notify".into(),
            ));
        }
    };
    let cooldown_ms = match (body.cooldown_minutes, current) {
        (Some(m), _) => minutes_in("cooldown_minutes", m, 0)?,
        (None, Some(cur)) => cur.cooldown_ms,
        // Every confirmed outage notifies: the verifier's thresholds already keep flapping out.
        (None, None) if condition.is_monitor() => 0,
        (None, None) => DEFAULT_COOLDOWN_MINUTES * MINUTE_MS,
    };
    let reminder_ms = match (body.reminder_minutes, current) {
        (Some(Some(m)), _) => Some(minutes_in("reminder_minutes", m, 1)?),
        (Some(None), _) => None,
        (None, Some(cur)) => cur.reminder_ms,
        (None, None) => None,
    };
    // Event-driven rules never recover, whatever was entered; threshold rules say when the spike is
    // over unless told otherwise.
    let notify_recovery = !condition.is_event_driven()
        && body
            .notify_recovery
            .or(current.map(|c| c.notify_recovery))
            .unwrap_or(true);
    let enabled = body.enabled.or(current.map(|c| c.enabled)).unwrap_or(true);
    Ok(NewAlertRule {
        project_id,
        name,
        condition,
        channel_ids,
        cooldown_ms,
        reminder_ms,
        notify_recovery,
        enabled,
    })
}

/// The store refuses a rule whose channels or condition do not suit its scope: input the caller
/// can fix (e.g. a channel deleted meanwhile).
fn refused(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(m) => ApiError::BadRequest(m),
        other => other.into(),
    }
}

/// Creates a project rule from `body`. Shared with the dashboard.
pub async fn create_rule(app: &AppState, project_id: i64, body: RuleBody) -> Result<AlertRule, ApiError> {
    let new = build(app, body, Some(project_id), None).await?;
    let rule = app
        .store
        .create_rule(&new, app.clock.now_ms())
        .await
        .map_err(refused)?;
    tracing::info!(
        rule.id = rule.id,
        project.id = project_id,
        kind = rule.condition.kind(),
        "alert rule created"
    );
    Ok(rule)
}

/// Applies `body` to `rule`. Shared with the dashboard.
pub async fn update_rule(app: &AppState, rule: &AlertRule, body: RuleBody) -> Result<AlertRule, ApiError> {
    let new = build(app, body, rule.project_id, Some(rule)).await?;
    let changed = app
        .store
        .update_rule(rule.id, &new, app.clock.now_ms())
        .await
        .map_err(refused)?;
    tracing::info!(rule.id = rule.id, "alert rule changed");
    Ok(changed)
}

/// Deletes a project rule; the built-in instance rules can only be disabled. Shared with the
/// dashboard.
pub async fn delete_rule(app: &AppState, rule: &AlertRule) -> Result<(), ApiError> {
    if rule.project_id.is_none() {
        return Err(ApiError::Conflict(
            "built-in instance rules cannot be deleted; disable them (enabled: false) instead".into(),
        ));
    }
    if !app.store.delete_rule(rule.id).await? {
        return Err(ApiError::NotFound(format!("alert rule {} not found", rule.id)));
    }
    tracing::info!(rule.id = rule.id, "alert rule deleted");
    Ok(())
}

/// The rule with the id in `raw`, if the caller may act on it with `min` (404 otherwise).
pub async fn load(app: &AppState, who: &Principal, raw: &str, min: OrgRole) -> Result<AlertRule, ApiError> {
    let id = access::path_id("alert rule", raw)?;
    let rule = app
        .store
        .get_rule(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("alert rule {id} not found")))?;
    authorize(app, who, rule.project_id, min, "alert rule", id).await?;
    Ok(rule)
}

pub async fn project_list(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
) -> Result<Json<Vec<RuleJson>>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let rules = app.store.list_rules(Some(project.id)).await?;
    Ok(Json(rules.into_iter().map(RuleJson::from).collect()))
}

pub async fn instance_list(
    State(app): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Vec<RuleJson>>, ApiError> {
    require_instance_admin(&who)?;
    let rules = app.store.list_rules(None).await?;
    Ok(Json(rules.into_iter().map(RuleJson::from).collect()))
}

pub async fn project_create(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<RuleBody>,
) -> Result<(StatusCode, Json<RuleJson>), ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let (project, _) = access::project(&app, &who, &project, OrgRole::Admin).await?;
    let rule = create_rule(&app, project.id, body).await?;
    Ok((StatusCode::CREATED, Json(RuleJson::from(rule))))
}

pub async fn detail(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(rule): Path<String>,
) -> Result<Json<RuleJson>, ApiError> {
    let rule = load(&app, &who, &rule, OrgRole::Member).await?;
    Ok(Json(RuleJson::from(rule)))
}

pub async fn update(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(rule): Path<String>,
    JsonBody(body): JsonBody<RuleBody>,
) -> Result<Json<RuleJson>, ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let rule = load(&app, &who, &rule, OrgRole::Admin).await?;
    let changed = update_rule(&app, &rule, body).await?;
    Ok(Json(RuleJson::from(changed)))
}

pub async fn remove(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(rule): Path<String>,
) -> Result<StatusCode, ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let rule = load(&app, &who, &rule, OrgRole::Admin).await?;
    delete_rule(&app, &rule).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn err(v: Value, instance: bool) -> String {
        condition(&v, instance).unwrap_err().to_string()
    }

    #[test]
    fn conditions_parse_with_their_fields() {
        assert_eq!(
            condition(
                &json!({"kind": "issue_frequency", "events": 100, "minutes": 60}),
                false
            )
            .unwrap(),
            Condition::IssueFrequency {
                events: 100,
                minutes: 60
            }
        );
        assert_eq!(
            condition(&json!({"kind": "new_issue"}), false).unwrap(),
            Condition::NewIssue {}
        );
        let rate =
            json!({"kind": "event_rate", "factor": 3, "minutes": 10, "baseline_hours": 24, "min_events": 20});
        assert!(matches!(
            condition(&rate, false).unwrap(),
            Condition::EventRate { factor, .. } if factor == 3.0
        ));
        assert_eq!(
            condition(&json!({"kind": "disk_free", "percent": 5}), true).unwrap(),
            Condition::DiskFree { percent: 5.0 }
        );
        assert_eq!(
            condition(
                &json!({"kind": "cert_expiring", "days": 14, "monitors": ["4", 3]}),
                false
            )
            .unwrap(),
            Condition::CertExpiring {
                days: 14,
                monitors: vec![3, 4]
            }
        );
    }

    #[test]
    fn cert_expiring_needs_days_in_range() {
        let e = err(json!({"kind": "cert_expiring"}), false);
        assert!(e.contains("condition.days is required"), "{e}");
        let e = err(json!({"kind": "cert_expiring", "days": 0}), false);
        assert!(e.contains("condition.days must be from 1 to 398"), "{e}");
        let e = err(json!({"kind": "cert_expiring", "days": 7, "hours": 1}), false);
        assert!(
            e.contains("unknown field condition.hours: cert_expiring takes days, monitors"),
            "{e}"
        );
        assert_eq!(
            describe(&Condition::CertExpiring {
                days: 1,
                monitors: vec![]
            }),
            "the TLS certificate of a monitor of the project expires within 1 day"
        );
    }

    #[test]
    fn out_of_range_and_unknown_condition_fields_are_named() {
        let e = err(
            json!({"kind": "issue_frequency", "events": 0, "minutes": 60}),
            false,
        );
        assert!(e.contains("condition.events must be at least 1"), "{e}");
        let e = err(
            json!({"kind": "issue_frequency", "events": 5, "minutes": 1441}),
            false,
        );
        assert!(e.contains("condition.minutes must be from 1 to 1440"), "{e}");
        let e = err(json!({"kind": "issue_frequency", "events": 5}), false);
        assert!(e.contains("condition.minutes is required"), "{e}");
        let e = err(
            json!({"kind": "issue_frequency", "events": -1, "minutes": 5}),
            false,
        );
        assert!(e.contains("condition.events must be a whole number"), "{e}");
        let e = err(
            json!({"kind": "event_rate", "factor": 1, "minutes": 10, "baseline_hours": 24, "min_events": 0}),
            false,
        );
        assert!(e.contains("condition.factor must be greater than 1"), "{e}");
        let e = err(
            json!({"kind": "event_rate", "factor": 2, "minutes": 10, "baseline_hours": 721, "min_events": 0}),
            false,
        );
        assert!(
            e.contains("condition.baseline_hours must be from 1 to 720"),
            "{e}"
        );
        let e = err(json!({"kind": "new_issue", "events": 3}), false);
        assert!(e.contains("unknown field condition.events"), "{e}");
        let e = err(json!({"kind": "nope"}), false);
        assert!(e.contains("invalid condition.kind"), "{e}");
        let e = err(json!({"events": 1}), false);
        assert!(e.contains("condition.kind is required"), "{e}");
    }

    #[test]
    fn instance_kinds_are_refused_for_projects_and_the_other_way_round() {
        let e = err(json!({"kind": "inbox_lag", "seconds": 60}), false);
        assert!(e.contains("watches the instance"), "{e}");
        let e = err(json!({"kind": "new_issue"}), true);
        assert!(e.contains("watches a project"), "{e}");
        let e = err(json!({"kind": "disk_free", "percent": 100}), true);
        assert!(e.contains("condition.percent"), "{e}");
    }

    #[test]
    fn tenant_conditions_fill_in_their_defaults_and_bound_the_lower_bound() {
        assert_eq!(
            condition(
                &json!({"kind": "tenant_errors", "errors": 100, "minutes": 10}),
                false
            )
            .unwrap(),
            Condition::TenantErrors {
                errors: 100,
                minutes: 10,
                evaluations: 1,
                resolve_below: 80.0
            }
        );
        assert_eq!(
            condition(
                &json!({"kind": "tenant_share", "percent": 50, "minutes": 10, "evaluations": 3, "min_errors": 5}),
                false
            )
            .unwrap(),
            Condition::TenantShare {
                percent: 50.0,
                minutes: 10,
                min_errors: 5,
                evaluations: 3,
                resolve_below: 40.0
            }
        );
        // The lower bound may equal the threshold (no band), never exceed it.
        assert!(
            condition(
                &json!({"kind": "tenant_share", "percent": 50, "minutes": 10, "resolve_below": 50}),
                false
            )
            .is_ok()
        );
        let e = err(
            json!({"kind": "tenant_errors", "errors": 10, "minutes": 10, "resolve_below": 0}),
            false,
        );
        assert!(
            e.contains(
                "condition.resolve_below must be greater than 0 and at most condition.errors (10), not 0"
            ),
            "{e}"
        );
        let e = err(
            json!({"kind": "tenant_share", "percent": 50, "minutes": 10}),
            true,
        );
        assert!(e.contains("watches a project"), "{e}");
        assert_eq!(
            describe(&Condition::TenantLatency {
                factor: 3.0,
                minutes: 10,
                min_requests: 20,
                evaluations: 1,
                resolve_below: 2.6
            }),
            "a tenant's p95 latency in 10 minutes is more than 3× its p95 over the hour before (with at \
             least 20 requests); resolved under 2.6×"
        );
    }

    #[test]
    fn conditions_read_as_sentences() {
        assert_eq!(
            describe(&Condition::IssueFrequency {
                events: 100,
                minutes: 60
            }),
            "an issue has more than 100 events in 60 minutes"
        );
        assert_eq!(
            describe(&Condition::IssueFrequency {
                events: 1,
                minutes: 1
            }),
            "an issue has more than 1 event in 1 minute"
        );
        assert!(
            describe(&Condition::EventRate {
                factor: 2.5,
                minutes: 10,
                baseline_hours: 24,
                min_events: 50
            })
            .contains("more than 2.5× its usual events in 10 minutes")
        );
    }
}
