//! Alert settings pages: a project's channels, rules and delivery log (its organization's admins
//! manage them, members read them), and the instance's channels, built-in rules and log (instance
//! admins only; anyone else gets 404).
//!
//! Both pages share their sections and post to the same handlers under their own base path
//! (`/orgs/{org}/projects/{project}/alerts` or `/admin/alerts`). Validation is the JSON API's
//! (`alerts::api`), so the dashboard and the API accept exactly the same channels and rules. The
//! forms and their per-kind fields are in `forms`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use sentinel_store::{
    AlertRule, Channel, ChannelKind, Condition, Notification, NotificationStatus, OrgRole, Organization,
    Project,
};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{self, Layout};
use super::project::org_project;
use super::{SignedIn, WebError, is_htmx, render};
use crate::AppState;
use crate::alerts::api::log as api_log;
use crate::alerts::api::rules::{self as api_rules, condition_fields};
use crate::api::ApiError;
use crate::clock::rfc3339;

mod forms;

use forms::{ChannelFields, kind_or_default, rule_inputs, rule_kind_or_default, rule_kinds};

/// Notifications the log shows.
const LOG_ROWS: usize = 50;

pub fn routes() -> Router<AppState> {
    const P: &str = "/orgs/{org}/projects/{project}/alerts";
    Router::new()
        .route(&format!("{P}/"), get(project_page))
        .route(&format!("{P}/log"), get(project_log))
        .route(&format!("{P}/channel-fields"), get(forms::channel_fields))
        .route(&format!("{P}/rule-fields"), get(forms::rule_fields))
        .route(&format!("{P}/channels"), post(forms::project_create_channel))
        .route(
            &format!("{P}/channels/{{id}}/{{action}}"),
            post(forms::project_channel_action),
        )
        .route(&format!("{P}/rules"), post(forms::project_create_rule))
        .route(
            &format!("{P}/rules/{{id}}/{{action}}"),
            post(forms::project_rule_action),
        )
        .route("/admin/alerts/", get(instance_page))
        .route("/admin/alerts/log", get(instance_log))
        .route("/admin/alerts/channel-fields", get(forms::channel_fields))
        .route("/admin/alerts/channels", post(forms::instance_create_channel))
        .route(
            "/admin/alerts/channels/{id}/{action}",
            post(forms::instance_channel_action),
        )
        .route("/admin/alerts/rules/{id}", post(forms::instance_update_rule))
}

// ---- what a page is about ---------------------------------------------------------------------

/// The scope a page shows and the caller's rights in it. A project page's context knows its
/// project (`Ctx<i64>`); the code both pages share takes `Ctx` (`None`: the instance).
struct Ctx<P = Option<i64>> {
    layout: Layout,
    project_id: P,
    /// Where the page's forms post, without a trailing slash.
    base: String,
    can_manage: bool,
}

impl From<Ctx<i64>> for Ctx {
    fn from(c: Ctx<i64>) -> Self {
        Ctx {
            layout: c.layout,
            project_id: Some(c.project_id),
            base: c.base,
            can_manage: c.can_manage,
        }
    }
}

fn project_base(app: &AppState, org: &Organization, project: &Project) -> String {
    format!(
        "{}/orgs/{}/projects/{}/alerts",
        app.settings.path_prefix, org.slug, project.slug
    )
}

fn instance_base(app: &AppState) -> String {
    format!("{}/admin/alerts", app.settings.path_prefix)
}

async fn project_ctx(
    app: &AppState,
    s: &SignedIn,
    org: &str,
    project: &str,
    min: OrgRole,
) -> Result<Ctx<i64>, WebError> {
    let (org, role, project) = org_project(app, s, org, project, min).await?;
    Ok(Ctx {
        base: project_base(app, &org, &project),
        layout: layout::in_org(app, s, &org, role, Some(&project), "Alerts", "alerts").await?,
        project_id: project.id,
        can_manage: role >= OrgRole::Admin,
    })
}

/// Instance admins only; to anyone else the instance's alert pages do not exist.
fn require_instance_admin(s: &SignedIn) -> Result<(), WebError> {
    if s.principal.is_instance_admin() {
        Ok(())
    } else {
        Err(ApiError::NotFound("page not found".into()).into())
    }
}

async fn instance_ctx(app: &AppState, s: &SignedIn) -> Result<Ctx, WebError> {
    require_instance_admin(s)?;
    Ok(Ctx {
        layout: layout::plain(app, s, "Instance alerts", "instance-alerts").await?,
        project_id: None,
        base: instance_base(app),
        can_manage: true,
    })
}

// ---- rows -------------------------------------------------------------------------------------

fn kind_label(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Webhook => "Webhook",
        ChannelKind::Slack => "Slack",
        ChannelKind::Discord => "Discord",
        ChannelKind::Teams => "Microsoft Teams",
        ChannelKind::Ntfy => "ntfy",
        ChannelKind::PagerDuty => "PagerDuty",
        ChannelKind::Email => "Email",
    }
}

pub struct ChannelRow {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    /// The settings that may be shown (`url: https://hooks.slack.com/…`), in one line.
    pub hint: String,
    pub enabled: bool,
}

/// The shown settings of a channel as `key: value` pairs (`url: https://hooks.slack.com/…Tm4T`).
fn hint(config: &Value) -> String {
    let Some(obj) = config.as_object() else {
        return String::new();
    };
    obj.iter()
        .filter_map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => return None,
            };
            // `url_hint` is the masked URL: call it what the user entered.
            let k = k.strip_suffix("_hint").unwrap_or(k).replace('_', " ");
            Some(format!("{k}: {v}"))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

impl From<&Channel> for ChannelRow {
    fn from(c: &Channel) -> Self {
        ChannelRow {
            id: c.id,
            name: c.name.clone(),
            kind: kind_label(c.kind),
            hint: hint(&c.config),
            enabled: c.enabled,
        }
    }
}

/// A threshold of a rule, as a form field.
pub struct Threshold {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
}

/// The label of the input `name` of a condition of `kind`.
fn threshold_label(kind: &str, name: &str) -> &'static str {
    match (kind, name) {
        ("tenant_share", "percent") => "More than this percent of all 5xx",
        ("tenant_latency", "factor") => "p95 more than this many times the tenant's usual (more than 1)",
        ("tenant_latency", "resolve_below") => {
            "Resolved under this many times its usual (empty: 80 % of the way from 1× to the factor)"
        }
        ("tenant_share", "resolve_below") => "Resolved under this percent (empty: 80 % of the threshold)",
        ("tenant_errors", "resolve_below") => "Resolved under this many 5xx (empty: 80 % of the threshold)",
        (_, "events") => "More than this many events",
        (_, "minutes") => "Window (minutes, 1–1440)",
        (_, "factor") => "Times the usual rate (more than 1)",
        (_, "baseline_hours") => "Usual rate over the previous hours (1–720)",
        (_, "min_events") => "At least this many events",
        (_, "seconds") => "Oldest unprocessed item older than (seconds)",
        (_, "percent") => "Percent",
        (_, "min_items") => "Only with at least this many items",
        (_, "days") => "Certificate expires within (days, 1–398)",
        (_, "monitors") => "Monitor ids, comma-separated (empty: every monitor of the project)",
        (_, "errors") => "At least this many 5xx",
        (_, "evaluations") => "In this many evaluations in a row",
        (_, "min_errors") => "Only with at least this many 5xx in all",
        (_, "min_requests") => "Only tenants with at least this many requests",
        _ => "",
    }
}

fn thresholds(c: &Condition) -> Vec<Threshold> {
    let value = serde_json::to_value(c).unwrap_or(Value::Null);
    condition_fields(c.kind())
        .iter()
        .map(|name| Threshold {
            name,
            label: threshold_label(c.kind(), name),
            value: value.get(*name).map(|v| v.to_string()).unwrap_or_default(),
        })
        .collect()
}

pub struct RuleRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub channels: String,
    pub cooldown_minutes: i64,
    /// Empty: no reminders.
    pub reminder_minutes: String,
    pub notify_recovery: bool,
    pub enabled: bool,
    pub thresholds: Vec<Threshold>,
}

fn rule_row(r: &AlertRule, channels: &[Channel]) -> RuleRow {
    let names: Vec<&str> = r
        .channel_ids
        .iter()
        .filter_map(|id| channels.iter().find(|c| c.id == *id).map(|c| c.name.as_str()))
        .collect();
    RuleRow {
        id: r.id,
        name: r.name.clone(),
        description: api_rules::describe(&r.condition),
        channels: if r.project_id.is_none() {
            "every enabled instance channel".into()
        } else {
            names.join(", ")
        },
        cooldown_minutes: r.cooldown_ms / 60_000,
        reminder_minutes: r
            .reminder_ms
            .map(|m| (m / 60_000).to_string())
            .unwrap_or_default(),
        notify_recovery: r.notify_recovery,
        enabled: r.enabled,
        thresholds: thresholds(&r.condition),
    }
}

pub struct AttemptRow {
    pub attempt: u32,
    pub at: String,
    pub duration_ms: i64,
    pub status_code: String,
    pub error: String,
}

pub struct LogRow {
    pub created: String,
    pub rule: String,
    pub title: String,
    pub channel: String,
    pub transition: &'static str,
    pub status: &'static str,
    pub attempts: u32,
    pub last_error: String,
    pub tries: Vec<AttemptRow>,
}

/// The delivery log section, also served alone for htmx to refresh while deliveries are pending.
#[derive(Template)]
#[template(path = "alerts/log.html")]
pub struct AlertLog {
    /// This fragment's own URL.
    pub url: String,
    pub rows: Vec<LogRow>,
    /// Whether a notification is still pending (then the section refreshes itself).
    pub pending: bool,
}

/// The delivery log of a project (`None`: the instance) whose pages are under `base`.
async fn alert_log(app: &AppState, project_id: Option<i64>, base: &str) -> Result<AlertLog, ApiError> {
    let (items, _) = api_log::page(app, project_id, LOG_ROWS, None).await?;
    let mut attempts = api_log::attempts_of(app, &items).await?;
    let pending = items.iter().any(|n| n.status == NotificationStatus::Pending);
    let rows = items
        .into_iter()
        .map(|n: Notification| LogRow {
            created: rfc3339(n.created_ms),
            rule: n.rule_name.clone().unwrap_or_else(|| {
                if n.rule_id.is_some() {
                    "(deleted rule)".into()
                } else {
                    "—".into()
                }
            }),
            title: n.message.title.clone(),
            channel: format!("{} ({})", n.channel_name, kind_label(n.channel_kind)),
            transition: n.transition.as_str(),
            status: n.status.as_str(),
            attempts: n.attempts,
            last_error: n.last_error.clone().unwrap_or_default(),
            tries: attempts
                .remove(&n.id)
                .unwrap_or_default()
                .into_iter()
                .map(|d| AttemptRow {
                    attempt: d.attempt,
                    at: rfc3339(d.at_ms),
                    duration_ms: d.duration_ms,
                    status_code: d.status_code.map(|c| c.to_string()).unwrap_or_default(),
                    error: d.error.unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    Ok(AlertLog {
        url: format!("{base}/log"),
        rows,
        pending,
    })
}

// ---- pages ------------------------------------------------------------------------------------

/// What the page shows besides the stored data: messages and the form's state.
#[derive(Default)]
struct Shown {
    error: Option<String>,
    notice: Option<String>,
    /// A webhook signing secret just generated, shown this once.
    signing_secret: Option<String>,
    /// The kind the add-channel form starts with.
    kind: String,
    /// The condition kind the add-rule form starts with.
    rule_kind: String,
}

#[derive(Template)]
#[template(path = "alerts/project.html")]
struct ProjectPage {
    layout: Layout,
    base: String,
    can_manage: bool,
    channels: Vec<ChannelRow>,
    rules: Vec<RuleRow>,
    log: AlertLog,
    kinds: Vec<(&'static str, &'static str)>,
    fields: ChannelFields,
    rule_kinds: Vec<(&'static str, &'static str)>,
    rule_kind: String,
    rule_inputs: Vec<Threshold>,
    /// `(id, name)` of the channels a rule may notify.
    channel_choices: Vec<(i64, String)>,
    error: Option<String>,
    notice: Option<String>,
    signing_secret: Option<String>,
}

#[derive(Template)]
#[template(path = "alerts/instance.html")]
struct InstancePage {
    layout: Layout,
    base: String,
    can_manage: bool,
    channels: Vec<ChannelRow>,
    rules: Vec<RuleRow>,
    log: AlertLog,
    kinds: Vec<(&'static str, &'static str)>,
    fields: ChannelFields,
    error: Option<String>,
    notice: Option<String>,
    signing_secret: Option<String>,
}

fn kind_options() -> Vec<(&'static str, &'static str)> {
    ChannelKind::ALL
        .iter()
        .map(|k| (k.as_str(), kind_label(*k)))
        .collect()
}

async fn show(app: &AppState, ctx: Ctx, shown: Shown) -> Result<Response, WebError> {
    let channels = app.store.list_channels(ctx.project_id).await?;
    let rules = app.store.list_rules(ctx.project_id).await?;
    let log = alert_log(app, ctx.project_id, &ctx.base).await?;
    let rule_rows = rules.iter().map(|r| rule_row(r, &channels)).collect();
    let fields = ChannelFields::of(kind_or_default(&shown.kind));
    let status = if shown.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut resp = match ctx.project_id {
        Some(_) => {
            let rule_kind = rule_kind_or_default(&shown.rule_kind);
            render(&ProjectPage {
                layout: ctx.layout,
                base: ctx.base,
                can_manage: ctx.can_manage,
                channel_choices: channels.iter().map(|c| (c.id, c.name.clone())).collect(),
                channels: channels.iter().map(ChannelRow::from).collect(),
                rules: rule_rows,
                log,
                kinds: kind_options(),
                fields,
                rule_kinds: rule_kinds(),
                rule_inputs: rule_inputs(rule_kind),
                rule_kind: rule_kind.to_owned(),
                error: shown.error,
                notice: shown.notice,
                signing_secret: shown.signing_secret,
            })?
        }
        None => render(&InstancePage {
            layout: ctx.layout,
            base: ctx.base,
            can_manage: ctx.can_manage,
            channels: channels.iter().map(ChannelRow::from).collect(),
            rules: rule_rows,
            log,
            kinds: kind_options(),
            fields,
            error: shown.error,
            notice: shown.notice,
            signing_secret: shown.signing_secret,
        })?,
    };
    *resp.status_mut() = status;
    Ok(resp)
}

#[derive(Deserialize)]
pub struct PageParams {
    /// The add-channel form's kind (without JavaScript, choose it by reloading with `?kind=`).
    #[serde(default)]
    kind: String,
    #[serde(default)]
    rule_kind: String,
    /// A channel a test notification was just queued for (the flash after the redirect).
    #[serde(default)]
    tested: String,
}

async fn page_with(app: &AppState, ctx: Ctx, q: PageParams) -> Result<Response, WebError> {
    let mut shown = Shown {
        kind: q.kind,
        rule_kind: q.rule_kind,
        ..Shown::default()
    };
    if let Ok(id) = q.tested.parse::<i64>()
        && let Some(c) = app.store.get_channel(id).await?
        && c.project_id == ctx.project_id
    {
        shown.notice = Some(format!(
            "Test notification queued for {}. It appears in the delivery log below, which updates until it is delivered or given up.",
            c.name
        ));
    }
    show(app, ctx, shown).await
}

pub async fn project_page(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
    Query(q): Query<PageParams>,
) -> Result<Response, WebError> {
    let ctx = project_ctx(&app, &s, &org, &project, OrgRole::Member).await?;
    page_with(&app, ctx.into(), q).await
}

pub async fn instance_page(
    State(app): State<AppState>,
    s: SignedIn,
    Query(q): Query<PageParams>,
) -> Result<Response, WebError> {
    let ctx = instance_ctx(&app, &s).await?;
    page_with(&app, ctx, q).await
}

/// The delivery log section alone, for htmx, which polls it every few seconds while deliveries
/// are pending: no page layout to build.
async fn log_fragment(app: &AppState, project_id: Option<i64>, base: &str) -> Result<Response, WebError> {
    render(&alert_log(app, project_id, base).await?)
}

pub async fn project_log(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
) -> Result<Response, WebError> {
    if is_htmx(&headers) {
        let (org, _, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
        return log_fragment(&app, Some(project.id), &project_base(&app, &org, &project)).await;
    }
    let ctx = project_ctx(&app, &s, &org, &project, OrgRole::Member).await?;
    show(&app, ctx.into(), Shown::default()).await
}

pub async fn instance_log(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if is_htmx(&headers) {
        require_instance_admin(&s)?;
        return log_fragment(&app, None, &instance_base(&app)).await;
    }
    show(&app, instance_ctx(&app, &s).await?, Shown::default()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_list_the_shown_settings() {
        let config = serde_json::json!({"topic": "ops", "to": ["a@x.test", "b@x.test"], "nested": {}});
        assert_eq!(hint(&config), "to: a@x.test, b@x.test · topic: ops");
        let config = serde_json::json!({"url_hint": "https://hooks.slack.com/…Tm4T"});
        assert_eq!(hint(&config), "url: https://hooks.slack.com/…Tm4T");
    }
}
