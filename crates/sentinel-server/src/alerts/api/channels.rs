//! Channels: where notifications go. The settings a user enters are split by
//! [`parse_settings`] into what may be shown (`config`) and what is secret (URLs with tokens,
//! signing secrets, routing keys); answers carry only the first. A webhook's generated signing
//! secret is answered once, as `signing_secret`, to the request that created (or regenerated) it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use sentinel_store::{
    AlertCommit, Channel, ChannelKind, ChannelSecrets, ChannelUpdate, NewChannel, OrgRole, TokenScope,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::log::{NotificationJson, with_deliveries};
use super::{authorize, require_instance_admin, who_name};
use crate::AppState;
use crate::alerts::channels::{ParsedSettings, parse_settings};
use crate::api::input::{self, JsonBody};
use crate::api::{ApiError, Caller};
use crate::auth::{Principal, access};
use crate::clock::rfc3339;

#[derive(Debug, Serialize)]
pub struct ChannelJson {
    pub id: String,
    /// `null` for an instance channel.
    pub project_id: Option<String>,
    pub name: String,
    pub kind: ChannelKind,
    /// The settings that may be shown; secrets never are.
    pub config: Value,
    pub enabled: bool,
    pub created: String,
    /// A secret Sentinel generated (the webhook signing secret): only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

impl From<Channel> for ChannelJson {
    fn from(c: Channel) -> Self {
        ChannelJson {
            id: c.id.to_string(),
            project_id: c.project_id.map(|p| p.to_string()),
            name: c.name,
            kind: c.kind,
            config: c.config,
            enabled: c.enabled,
            created: rfc3339(c.created_ms),
            signing_secret: None,
        }
    }
}

/// The channel kind named `raw`.
pub fn kind(raw: &str) -> Result<ChannelKind, ApiError> {
    ChannelKind::parse(raw.trim()).ok_or_else(|| {
        let all: Vec<&str> = ChannelKind::ALL.iter().map(|k| k.as_str()).collect();
        ApiError::BadRequest(format!(
            "invalid kind {raw:?}: expected one of {}",
            all.join(", ")
        ))
    })
}

fn settings(kind: ChannelKind, config: &Map<String, Value>) -> Result<ParsedSettings, ApiError> {
    parse_settings(kind, config).map_err(|e| {
        // The message names the field first (`url: is required`): make it `config.url: …`.
        let names_field = e
            .split_once(": ")
            .is_some_and(|(f, _)| !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        ApiError::BadRequest(if names_field {
            format!("config.{e}")
        } else {
            format!("config: {e}")
        })
    })
}

/// Creates a channel of the project (`None`: an instance channel) from the settings as entered;
/// answers it with the secret to show once, if one was generated. Shared with the dashboard.
pub async fn create_channel(
    app: &AppState,
    project_id: Option<i64>,
    name: &str,
    kind_raw: &str,
    config: &Map<String, Value>,
    enabled: bool,
) -> Result<(Channel, Option<String>), ApiError> {
    let name = input::name("name", name)?;
    let kind = kind(kind_raw)?;
    let parsed = settings(kind, config)?;
    let channel = app
        .store
        .create_channel(
            &NewChannel {
                project_id,
                name,
                kind,
                config: parsed.config,
                secrets: parsed.secrets,
                enabled,
            },
            app.clock.now_ms(),
        )
        .await?;
    tracing::info!(
        channel.id = channel.id,
        project.id = ?project_id,
        kind = kind.as_str(),
        "alert channel created"
    );
    Ok((channel, parsed.shown_once))
}

/// New settings for `channel` from `config` as entered. A webhook entered without `secret` keeps
/// its signing secret unless `regenerate_secret`; the new secret is answered when one was made.
pub fn replace_settings(
    channel: &Channel,
    config: &Map<String, Value>,
    regenerate_secret: bool,
) -> Result<(Value, ChannelSecrets, Option<String>), ApiError> {
    let keep_old =
        channel.kind == ChannelKind::Webhook && !config.contains_key("secret") && !regenerate_secret;
    let parsed = match channel.secrets.get("secret").filter(|_| keep_old) {
        // Enter the old secret again, so receivers keep verifying signatures and none is generated.
        Some(old) => {
            let mut config = config.clone();
            config.insert("secret".into(), Value::String(old.to_owned()));
            settings(channel.kind, &config)?
        }
        // Nothing to keep (the channel had no secret): a new one is generated and shown.
        None => settings(channel.kind, config)?,
    };
    Ok((parsed.config, parsed.secrets, parsed.shown_once))
}

/// Queues a test notification to `channel` and wakes the notifier; answers its idempotency key.
/// Shared with the dashboard.
pub async fn queue_test(app: &AppState, channel: &Channel, who: &Principal) -> Result<String, ApiError> {
    if !channel.enabled {
        // The notifier does not deliver to disabled channels: the test would only fail.
        return Err(ApiError::Conflict(format!(
            "channel {} is disabled: enable it before sending a test notification",
            channel.name
        )));
    }
    let now = app.clock.now_ms();
    let n = crate::alerts::test_notification(channel, &app.settings, &who_name(who), now);
    let key = n.idempotency_key.clone();
    app.store
        .commit_alerts(&AlertCommit {
            notifications: vec![n],
            ..Default::default()
        })
        .await?;
    app.alerts.notifier_wake.notify_one();
    tracing::info!(channel.id = channel.id, "test notification queued");
    Ok(key)
}

/// The channel with the id in `raw`, if the caller may act on it with `min` (404 otherwise).
pub async fn load(app: &AppState, who: &Principal, raw: &str, min: OrgRole) -> Result<Channel, ApiError> {
    let id = access::path_id("channel", raw)?;
    let channel = app
        .store
        .get_channel(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("channel {id} not found")))?;
    authorize(app, who, channel.project_id, min, "channel", id).await?;
    Ok(channel)
}

pub async fn project_list(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
) -> Result<Json<Vec<ChannelJson>>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let channels = app.store.list_channels(Some(project.id)).await?;
    Ok(Json(channels.into_iter().map(ChannelJson::from).collect()))
}

pub async fn instance_list(
    State(app): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Vec<ChannelJson>>, ApiError> {
    require_instance_admin(&who)?;
    let channels = app.store.list_channels(None).await?;
    Ok(Json(channels.into_iter().map(ChannelJson::from).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    kind: String,
    /// The settings as entered; which fields depends on the kind.
    #[serde(default)]
    config: Map<String, Value>,
    enabled: Option<bool>,
}

async fn create_answer(
    app: &AppState,
    project_id: Option<i64>,
    body: CreateBody,
) -> Result<(StatusCode, Json<ChannelJson>), ApiError> {
    let (channel, shown_once) = create_channel(
        app,
        project_id,
        &body.name,
        &body.kind,
        &body.config,
        body.enabled.unwrap_or(true),
    )
    .await?;
    let mut json = ChannelJson::from(channel);
    json.signing_secret = shown_once;
    Ok((StatusCode::CREATED, Json(json)))
}

pub async fn project_create(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<ChannelJson>), ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let (project, _) = access::project(&app, &who, &project, OrgRole::Admin).await?;
    create_answer(&app, Some(project.id), body).await
}

pub async fn instance_create(
    State(app): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<ChannelJson>), ApiError> {
    who.require_scope(TokenScope::Admin)?;
    require_instance_admin(&who)?;
    create_answer(&app, None, body).await
}

pub async fn detail(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(channel): Path<String>,
) -> Result<Json<ChannelJson>, ApiError> {
    let channel = load(&app, &who, &channel, OrgRole::Member).await?;
    Ok(Json(ChannelJson::from(channel)))
}

/// Changes to a channel; absent fields stay as they are.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// Replaces every setting (secret ones included): enter them all again.
    pub config: Option<Map<String, Value>>,
    /// With `config` of a webhook without `secret`: make a new signing secret (answered once)
    /// instead of keeping the old one.
    #[serde(default)]
    pub regenerate_secret: bool,
}

/// Applies `body` to `channel`; answers the changed channel and the new signing secret, if one
/// was made. Shared with the dashboard (see [`set_enabled`]).
pub async fn update_channel(
    app: &AppState,
    channel: &Channel,
    body: UpdateBody,
) -> Result<(Channel, Option<String>), ApiError> {
    if body.regenerate_secret && body.config.is_none() {
        return Err(ApiError::BadRequest(
            "regenerate_secret needs config: enter the channel's settings again".into(),
        ));
    }
    if body.name.is_none() && body.enabled.is_none() && body.config.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: expected at least one of name, enabled, config".into(),
        ));
    }
    let name = body.name.as_deref().map(|n| input::name("name", n)).transpose()?;
    let mut shown_once = None;
    let mut update = ChannelUpdate {
        name,
        enabled: body.enabled,
        ..ChannelUpdate::default()
    };
    if let Some(config) = &body.config {
        let (config, secrets, shown) = replace_settings(channel, config, body.regenerate_secret)?;
        update.config = Some(config);
        update.secrets = Some(secrets);
        shown_once = shown;
    }
    let changed = app.store.update_channel(channel.id, &update).await?;
    tracing::info!(
        channel.id = channel.id,
        settings = body.config.is_some(),
        "alert channel changed"
    );
    Ok((changed, shown_once))
}

/// Enables or disables `channel`. Shared with the dashboard.
pub async fn set_enabled(app: &AppState, channel: &Channel, enabled: bool) -> Result<Channel, ApiError> {
    let body = UpdateBody {
        enabled: Some(enabled),
        ..UpdateBody::default()
    };
    Ok(update_channel(app, channel, body).await?.0)
}

/// Deletes `channel` with its notifications; rules stop notifying it. Shared with the dashboard.
pub async fn delete_channel(app: &AppState, channel: &Channel) -> Result<(), ApiError> {
    if !app.store.delete_channel(channel.id).await? {
        return Err(ApiError::NotFound(format!("channel {} not found", channel.id)));
    }
    tracing::info!(channel.id = channel.id, "alert channel deleted");
    Ok(())
}

pub async fn update(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(channel): Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<ChannelJson>, ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let channel = load(&app, &who, &channel, OrgRole::Admin).await?;
    let (changed, shown_once) = update_channel(&app, &channel, body).await?;
    let mut json = ChannelJson::from(changed);
    json.signing_secret = shown_once;
    Ok(Json(json))
}

pub async fn remove(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(channel): Path<String>,
) -> Result<StatusCode, ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let channel = load(&app, &who, &channel, OrgRole::Admin).await?;
    delete_channel(&app, &channel).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
pub struct TestJson {
    /// Unique per test; names the notification in the delivery log.
    pub idempotency_key: String,
    /// The queued notification, as the delivery log shows it.
    pub notification: Option<NotificationJson>,
}

/// Queues a test notification; the notifier delivers it like any other (with retries), and the
/// delivery log shows it with transition `test`. 409 for a disabled channel.
pub async fn test(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(channel): Path<String>,
) -> Result<(StatusCode, Json<TestJson>), ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let channel = load(&app, &who, &channel, OrgRole::Admin).await?;
    let key = queue_test(&app, &channel, &who).await?;
    let notification = match app.store.find_notification(&key).await? {
        Some(n) => with_deliveries(&app, vec![n]).await?.pop(),
        None => None,
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(TestJson {
            idempotency_key: key,
            notification,
        }),
    ))
}
