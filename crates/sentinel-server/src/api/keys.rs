//! `/api/0/projects/{project_id}/keys/`: a project's DSN keys. Members see them (SDK set-up needs
//! the DSN); admins create, revoke, limit and regenerate them.
//!
//! A change takes effect on this node's ingest with the next request (its key cache forgets the
//! key); other nodes pick it up within `ingest::keys::TTL_MS` (10 s).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use sentinel_store::{OrgRole, Project, ProjectKey, TokenScope};
use serde::{Deserialize, Serialize};

use super::input::{self, JsonBody, nullable};
use super::{ApiError, Caller, new_public_key};
use crate::AppState;
use crate::auth::access;
use crate::clock::rfc3339;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/0/projects/{project_id}/keys/", get(list).post(create))
        .route("/api/0/projects/{project_id}/keys/{key_id}/", put(update))
        .route(
            "/api/0/projects/{project_id}/keys/{key_id}/regenerate",
            post(regenerate),
        )
}

#[derive(Debug, Serialize)]
pub struct KeyJson {
    pub id: String,
    pub project_id: String,
    pub label: String,
    pub public_key: String,
    pub dsn: String,
    pub active: bool,
    pub created: String,
    pub rate_limit_per_minute: Option<u32>,
}

fn key_json(app: &AppState, k: ProjectKey) -> KeyJson {
    KeyJson {
        id: k.id.to_string(),
        project_id: k.project_id.to_string(),
        dsn: app.settings.dsn(&k.public_key, k.project_id),
        label: k.label,
        public_key: k.public_key,
        active: k.active,
        created: rfc3339(k.created_ms),
        rate_limit_per_minute: k.rate_limit_per_minute,
    }
}

async fn list(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
) -> Result<Json<Vec<KeyJson>>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let keys = app.store.project_keys(project.id).await?;
    Ok(Json(keys.into_iter().map(|k| key_json(&app, k)).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    label: String,
    rate_limit_per_minute: Option<u32>,
}

/// Adds a key to the project, with its rate limit (shared with the dashboard).
pub async fn add_key(
    app: &AppState,
    project: &Project,
    label: &str,
    limit: Option<u32>,
) -> Result<ProjectKey, ApiError> {
    let mut key = app
        .store
        .create_key(project.id, label, &new_public_key(), app.clock.now_ms())
        .await?;
    if limit.is_some() {
        app.store.set_key_rate_limit(&key.public_key, limit).await?;
        key.rate_limit_per_minute = limit;
    }
    Ok(key)
}

async fn create(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<KeyJson>), ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let (project, _) = access::project(&app, &who, &project, OrgRole::Admin).await?;
    let label = input::name("label", &body.label)?;
    let limit = body
        .rate_limit_per_minute
        .map(|v| input::rate_limit("rate_limit_per_minute", v))
        .transpose()?;
    let key = add_key(&app, &project, &label, limit).await?;
    tracing::info!(project.id = project.id, key.id = key.id, "project key created");
    Ok((StatusCode::CREATED, Json(key_json(&app, key))))
}

/// The project's key with the id in `raw` (404 for any other).
pub async fn find_key(app: &AppState, project: &Project, raw: &str) -> Result<ProjectKey, ApiError> {
    let id = access::path_id("key", raw)?;
    app.store
        .project_keys(project.id)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("key {id} not found")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    /// `false` revokes the key: ingest refuses it (403).
    active: Option<bool>,
    /// `null` removes the key's limit.
    #[serde(default, deserialize_with = "nullable")]
    rate_limit_per_minute: Option<Option<u32>>,
}

async fn update(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path((project, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<KeyJson>, ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let (project, _) = access::project(&app, &who, &project, OrgRole::Admin).await?;
    let mut key = find_key(&app, &project, &key).await?;
    if body.active.is_none() && body.rate_limit_per_minute.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: expected at least one of active, rate_limit_per_minute".into(),
        ));
    }
    let limit = body
        .rate_limit_per_minute
        .map(|l| {
            l.map(|v| input::rate_limit("rate_limit_per_minute", v))
                .transpose()
        })
        .transpose()?;
    if let Some(limit) = limit {
        app.store.set_key_rate_limit(&key.public_key, limit).await?;
        key.rate_limit_per_minute = limit;
    }
    if let Some(active) = body.active {
        key = app.store.set_key_active(project.id, key.id, active).await?;
    }
    app.keys.forget(&key.public_key);
    tracing::info!(
        project.id = project.id,
        key.id = key.id,
        active = key.active,
        "project key changed"
    );
    Ok(Json(key_json(&app, key)))
}

/// Revokes the key and creates a new one with the same label and limit; answers the new one.
async fn regenerate(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path((project, key)): Path<(String, String)>,
) -> Result<(StatusCode, Json<KeyJson>), ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let (project, _) = access::project(&app, &who, &project, OrgRole::Admin).await?;
    let old = find_key(&app, &project, &key).await?;
    let new = regenerate_key(&app, &project, &old).await?;
    Ok((StatusCode::CREATED, Json(key_json(&app, new))))
}

/// Replaces `old` by a new key with the same label and limit, then revokes `old` (shared with the
/// dashboard). The new key comes first: if anything fails in between, the project still has a
/// working key.
pub async fn regenerate_key(
    app: &AppState,
    project: &Project,
    old: &ProjectKey,
) -> Result<ProjectKey, ApiError> {
    let new = add_key(app, project, &old.label, old.rate_limit_per_minute).await?;
    if old.active {
        app.store.set_key_active(project.id, old.id, false).await?;
    }
    app.keys.forget(&old.public_key);
    tracing::info!(
        project.id = project.id,
        key.id = new.id,
        revoked = old.id,
        "project key regenerated"
    );
    Ok(new)
}
