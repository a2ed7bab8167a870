//! The forms of the alert pages: adding channels (with the fields of their kind, swapped by htmx)
//! and rules, the channel and rule buttons (test, enable, disable, delete), and the instance rules'
//! thresholds. Posted values go through the JSON API's validation.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use sentinel_store::{AlertRule, ChannelKind, OrgRole};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Ctx, Shown, Threshold, instance_ctx, project_ctx, show, threshold_label};
use crate::AppState;
use crate::alerts::api::channels as api_channels;
use crate::alerts::api::rules::{self as api_rules, RuleBody, condition_fields};
use crate::alerts::tenants;
use crate::api::ApiError;
use crate::auth::access;
use crate::tenants::read::MIN_REQUESTS;
use crate::web::{SignedIn, WebError, render, see_other};

// ---- the channel form's per-kind fields -------------------------------------------------------

/// One input of the add-channel form.
pub struct FieldInput {
    pub name: &'static str,
    pub label: &'static str,
    /// `url`, `text`, `password`, `email`.
    pub input_type: &'static str,
    pub required: bool,
    pub placeholder: &'static str,
}

const fn field(
    name: &'static str,
    label: &'static str,
    input_type: &'static str,
    required: bool,
    placeholder: &'static str,
) -> FieldInput {
    FieldInput {
        name,
        label,
        input_type,
        required,
        placeholder,
    }
}

/// What a user enters for each channel kind (the input of `alerts::channels::parse_settings`).
fn kind_inputs(kind: ChannelKind) -> Vec<FieldInput> {
    match kind {
        ChannelKind::Webhook => vec![
            field("url", "URL", "url", true, "https://example.com/hooks/sentinel"),
            field(
                "secret",
                "Signing secret (empty: Sentinel generates one and shows it once)",
                "password",
                false,
                "",
            ),
        ],
        ChannelKind::Slack => vec![field(
            "url",
            "Incoming webhook URL",
            "url",
            true,
            "https://hooks.slack.com/services/…",
        )],
        ChannelKind::Discord => vec![field(
            "url",
            "Webhook URL",
            "url",
            true,
            "https://discord.com/api/webhooks/…",
        )],
        ChannelKind::Teams => vec![field("url", "Workflow webhook URL", "url", true, "https://…")],
        ChannelKind::Ntfy => vec![
            field("topic", "Topic", "text", true, "sentinel-alerts"),
            field(
                "url",
                "Server (empty: https://ntfy.sh)",
                "url",
                false,
                "https://ntfy.sh",
            ),
            field("token", "Access token (optional)", "password", false, ""),
            field("priority", "Priority, 1–5 (optional)", "text", false, "4"),
        ],
        ChannelKind::PagerDuty => vec![
            field("routing_key", "Integration (routing) key", "password", true, ""),
            field(
                "url",
                "Events API URL (empty: PagerDuty's)",
                "url",
                false,
                "https://events.pagerduty.com/v2/enqueue",
            ),
        ],
        ChannelKind::Email => vec![field(
            "to",
            "Recipients (comma-separated)",
            "text",
            true,
            "oncall@example.com",
        )],
    }
}

/// The kind-specific inputs of the add-channel form, swapped by htmx when the kind changes.
#[derive(Template)]
#[template(path = "alerts/channel_fields.html")]
pub struct ChannelFields {
    pub kind: &'static str,
    pub inputs: Vec<FieldInput>,
}

impl ChannelFields {
    pub(super) fn of(kind: ChannelKind) -> Self {
        ChannelFields {
            kind: kind.as_str(),
            inputs: kind_inputs(kind),
        }
    }
}

#[derive(Deserialize)]
pub struct KindParam {
    #[serde(default)]
    kind: String,
}

pub(super) fn kind_or_default(raw: &str) -> ChannelKind {
    ChannelKind::parse(raw).unwrap_or(ChannelKind::Webhook)
}

pub async fn channel_fields(_s: SignedIn, Query(q): Query<KindParam>) -> Result<Response, WebError> {
    render(&ChannelFields::of(kind_or_default(&q.kind)))
}

/// The add-rule form's choice of condition: the API's project kinds, in words.
pub(super) fn rule_kinds() -> Vec<(&'static str, &'static str)> {
    api_rules::PROJECT_KINDS
        .iter()
        .map(|kind| {
            let label = match *kind {
                "new_issue" => "A new issue appears",
                "regression" => "A resolved issue comes back (regression)",
                "issue_frequency" => "An issue gets many events",
                "event_rate" => "The project's event rate spikes",
                "monitor_down" => "A monitor is down",
                "cert_expiring" => "A monitor's TLS certificate expires soon",
                "tenant_errors" => "A tenant has many 5xx",
                "tenant_share" => "A tenant causes most of the 5xx",
                "tenant_latency" => "A tenant is slower than usual",
                other => other,
            };
            (*kind, label)
        })
        .collect()
}

/// The project condition kind `raw` names, else the one the add-rule form starts with.
pub(super) fn rule_kind_or_default(raw: &str) -> &'static str {
    api_rules::PROJECT_KINDS
        .iter()
        .copied()
        .find(|k| *k == raw)
        .unwrap_or("new_issue")
}

/// Threshold inputs of the add-rule form for a condition kind, with starting values (the API's
/// defaults where it has them; an empty `resolve_below` takes the API's default).
pub(super) fn rule_inputs(kind: &str) -> Vec<Threshold> {
    let tenant = kind.starts_with("tenant_");
    condition_fields(kind)
        .iter()
        .map(|name| Threshold {
            name,
            label: threshold_label(kind, name),
            value: match (kind, *name) {
                ("tenant_share", "percent") => "50".to_owned(),
                ("tenant_share", "evaluations") => tenants::SHARE_EVALUATIONS.to_string(),
                (_, "evaluations") => "1".to_owned(),
                (_, "min_errors") => api_rules::DEFAULT_MIN_ERRORS.to_string(),
                (_, "min_requests") => MIN_REQUESTS.to_string(),
                (_, "minutes") if tenant => "10".to_owned(),
                (_, "events") => "100".to_owned(),
                (_, "errors") => "100".to_owned(),
                (_, "minutes") => "60".to_owned(),
                (_, "factor") => "3".to_owned(),
                (_, "baseline_hours") => "24".to_owned(),
                (_, "min_events") => "20".to_owned(),
                (_, "days") => "14".to_owned(),
                _ => String::new(),
            },
        })
        .collect()
}

#[derive(Template)]
#[template(path = "alerts/rule_fields.html")]
pub struct RuleFields {
    pub rule_inputs: Vec<Threshold>,
}

pub async fn rule_fields(_s: SignedIn, Query(q): Query<KindParam>) -> Result<Response, WebError> {
    render(&RuleFields {
        rule_inputs: rule_inputs(rule_kind_or_default(&q.kind)),
    })
}

// ---- forms ------------------------------------------------------------------------------------

/// A posted form as pairs: checkbox lists repeat their name.
type Fields = Vec<(String, String)>;

fn value<'a>(form: &'a Fields, name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Whether a checkbox was ticked.
fn ticked(form: &Fields, name: &str) -> bool {
    form.iter().any(|(k, v)| k == name && v != "false")
}

/// Shows a failure the user can act on (400, 409: a validation failure, a disabled channel) on the
/// page, over `shown`; anything else is an error page.
async fn show_failure(app: &AppState, ctx: Ctx, e: ApiError, mut shown: Shown) -> Result<Response, WebError> {
    match e {
        ApiError::BadRequest(_) | ApiError::Conflict(_) => {
            shown.error = Some(e.to_string());
            show(app, ctx, shown).await
        }
        e => Err(e.into()),
    }
}

/// Shows the page after a form: with `result`'s messages, or its failure over `on_error`.
async fn outcome(
    app: &AppState,
    ctx: Ctx,
    result: Result<Shown, ApiError>,
    on_error: Shown,
) -> Result<Response, WebError> {
    match result {
        Ok(shown) => show(app, ctx, shown).await,
        Err(e) => show_failure(app, ctx, e, on_error).await,
    }
}

async fn create_channel(app: &AppState, ctx: Ctx, form: Fields) -> Result<Response, WebError> {
    let kind = value(&form, "kind").to_owned();
    let result = async {
        let parsed = api_channels::kind(&kind)?;
        let config: Map<String, Value> = kind_inputs(parsed)
            .iter()
            .filter_map(|f| {
                let v = value(&form, f.name).trim();
                (!v.is_empty()).then(|| (f.name.to_owned(), Value::String(v.to_owned())))
            })
            .collect();
        let (channel, secret) =
            api_channels::create_channel(app, ctx.project_id, value(&form, "name"), &kind, &config, true)
                .await?;
        Ok(Shown {
            notice: Some(format!("Channel {} created.", channel.name)),
            signing_secret: secret,
            ..Shown::default()
        })
    }
    .await;
    let on_error = Shown {
        kind,
        ..Shown::default()
    };
    outcome(app, ctx, result, on_error).await
}

pub async fn project_create_channel(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let ctx = project_ctx(&app, &s, &org, &project, OrgRole::Admin).await?;
    create_channel(&app, ctx.into(), form).await
}

pub async fn instance_create_channel(
    State(app): State<AppState>,
    s: SignedIn,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let ctx = instance_ctx(&app, &s).await?;
    create_channel(&app, ctx, form).await
}

/// `test`, `delete`, or `enabled` (with `enabled=true|false`) on a channel of the page's scope.
async fn channel_action(
    app: &AppState,
    s: &SignedIn,
    headers: &HeaderMap,
    ctx: Ctx,
    id: &str,
    action: &str,
    form: &Fields,
) -> Result<Response, WebError> {
    let id = access::path_id("channel", id)?;
    let channel = app
        .store
        .get_channel(id)
        .await?
        .filter(|c| c.project_id == ctx.project_id)
        .ok_or_else(|| ApiError::NotFound(format!("channel {id} not found")))?;
    let back = format!("{}/", ctx.base);
    match action {
        "test" => {
            return match api_channels::queue_test(app, &channel, &s.principal).await {
                Ok(_) => Ok(see_other(headers, &format!("{back}?tested={}", channel.id))),
                // A disabled channel: say so on the page.
                Err(e) => show_failure(app, ctx, e, Shown::default()).await,
            };
        }
        "delete" => api_channels::delete_channel(app, &channel).await?,
        "enabled" => {
            api_channels::set_enabled(app, &channel, value(form, "enabled") == "true").await?;
        }
        other => {
            return Err(ApiError::NotFound(format!("no channel action {other:?}")).into());
        }
    }
    Ok(see_other(headers, &back))
}

pub async fn project_channel_action(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, project, id, action)): Path<(String, String, String, String)>,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let ctx = project_ctx(&app, &s, &org, &project, OrgRole::Admin).await?;
    channel_action(&app, &s, &headers, ctx.into(), &id, &action, &form).await
}

pub async fn instance_channel_action(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let ctx = instance_ctx(&app, &s).await?;
    channel_action(&app, &s, &headers, ctx, &id, &action, &form).await
}

/// A form number as JSON: a number when it reads as one (the validator then checks its range),
/// else the text (which the validator refuses naming the field); absent when empty.
fn form_number(raw: &str) -> Option<Value> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    Some(if let Ok(n) = raw.parse::<u64>() {
        Value::from(n)
    } else if let Some(n) = raw.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
        Value::Number(n)
    } else {
        Value::String(raw.to_owned())
    })
}

/// A whole number of minutes from a form field.
fn form_minutes(form: &Fields, name: &str) -> Result<Option<i64>, ApiError> {
    let raw = value(form, name).trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::BadRequest(format!("{name} must be a whole number of minutes, not {raw:?}")))
}

/// The condition of `kind` from the form's threshold fields.
fn form_condition(form: &Fields, kind: &str) -> Value {
    let mut obj = Map::new();
    obj.insert("kind".into(), Value::String(kind.to_owned()));
    for name in condition_fields(kind) {
        if *name == "monitors" {
            // Ids, comma-separated; none: every monitor of the project.
            let ids: Vec<Value> = value(form, name)
                .split([',', ' '])
                .filter(|id| !id.is_empty())
                .map(|id| Value::String(id.trim_start_matches('#').to_owned()))
                .collect();
            if !ids.is_empty() {
                obj.insert((*name).to_owned(), Value::Array(ids));
            }
        } else if let Some(v) = form_number(value(form, name)) {
            obj.insert((*name).to_owned(), v);
        }
    }
    Value::Object(obj)
}

pub async fn project_create_rule(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let ctx = project_ctx(&app, &s, &org, &project, OrgRole::Admin).await?;
    let kind = value(&form, "kind").to_owned();
    let result = async {
        let condition = form_condition(&form, &kind);
        let body = RuleBody {
            name: Some(value(&form, "name").to_owned()),
            channels: Some(
                form.iter()
                    .filter(|(k, _)| k == "channel")
                    .map(|(_, v)| Value::String(v.clone()))
                    .collect(),
            ),
            cooldown_minutes: form_minutes(&form, "cooldown_minutes")?,
            reminder_minutes: Some(form_minutes(&form, "reminder_minutes")?),
            // Ignored (always off) for event-driven conditions, which never recover.
            notify_recovery: Some(ticked(&form, "notify_recovery")),
            enabled: Some(true),
            condition: Some(condition),
        };
        let rule = api_rules::create_rule(&app, ctx.project_id, body).await?;
        Ok(Shown {
            notice: Some(format!("Rule {} created.", rule.name)),
            ..Shown::default()
        })
    }
    .await;
    let on_error = Shown {
        rule_kind: kind,
        ..Shown::default()
    };
    outcome(&app, ctx.into(), result, on_error).await
}

/// The rule with this id of the page's scope.
async fn scoped_rule(app: &AppState, ctx: &Ctx, id: &str) -> Result<AlertRule, ApiError> {
    let id = access::path_id("alert rule", id)?;
    app.store
        .get_rule(id)
        .await?
        .filter(|r| r.project_id == ctx.project_id)
        .ok_or_else(|| ApiError::NotFound(format!("alert rule {id} not found")))
}

/// `delete`, or `enabled` (with `enabled=true|false`) on a project rule.
pub async fn project_rule_action(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, project, id, action)): Path<(String, String, String, String)>,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let ctx: Ctx = project_ctx(&app, &s, &org, &project, OrgRole::Admin)
        .await?
        .into();
    let rule = scoped_rule(&app, &ctx, &id).await?;
    match action.as_str() {
        "delete" => api_rules::delete_rule(&app, &rule).await?,
        "enabled" => {
            let body = RuleBody {
                enabled: Some(value(&form, "enabled") == "true"),
                ..RuleBody::default()
            };
            api_rules::update_rule(&app, &rule, body).await?;
        }
        other => {
            return Err(ApiError::NotFound(format!("no rule action {other:?}")).into());
        }
    }
    Ok(see_other(&headers, &format!("{}/", ctx.base)))
}

/// Changes a built-in instance rule's thresholds and options.
pub async fn instance_update_rule(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Result<Response, WebError> {
    let ctx = instance_ctx(&app, &s).await?;
    let rule = scoped_rule(&app, &ctx, &id).await?;
    let result = async {
        let body = RuleBody {
            condition: Some(form_condition(&form, rule.condition.kind())),
            cooldown_minutes: form_minutes(&form, "cooldown_minutes")?,
            reminder_minutes: Some(form_minutes(&form, "reminder_minutes")?),
            notify_recovery: Some(ticked(&form, "notify_recovery")),
            enabled: Some(ticked(&form, "enabled")),
            ..RuleBody::default()
        };
        api_rules::update_rule(&app, &rule, body).await
    }
    .await
    // The page shows every instance rule: say which one.
    .map_err(|e| match e {
        ApiError::BadRequest(m) => ApiError::BadRequest(format!("{}: {m}", rule.name)),
        e => e,
    });
    match result {
        Ok(_) => Ok(see_other(&headers, &format!("{}/", ctx.base))),
        Err(e) => show_failure(&app, ctx, e, Shown::default()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_numbers_become_json_numbers_or_stay_text_for_the_validator() {
        assert_eq!(form_number(" 100 "), Some(Value::from(100u64)));
        assert_eq!(form_number("2.5"), Some(serde_json::json!(2.5)));
        assert_eq!(form_number("lots"), Some(Value::from("lots")));
        assert_eq!(form_number("  "), None);
    }

    #[test]
    fn monitor_ids_are_entered_comma_separated_and_may_be_left_out() {
        let form: Fields = vec![("days".into(), "7".into()), ("monitors".into(), "3, #5".into())];
        assert_eq!(
            form_condition(&form, "cert_expiring"),
            serde_json::json!({"kind": "cert_expiring", "days": 7, "monitors": ["3", "5"]})
        );
        let form: Fields = vec![("monitors".into(), " ".into())];
        assert_eq!(
            form_condition(&form, "monitor_down"),
            serde_json::json!({"kind": "monitor_down"})
        );
    }
}
