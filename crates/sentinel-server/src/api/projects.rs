//! `/api/0/projects/…` and `/api/0/organizations/{org}/projects/`: listing, creating (admins,
//! with a first key and its DSN), renaming and re-platforming projects, and project-level counts.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use sentinel_store::{CountScope, OrgRole, Project, TokenScope, slugify};
use serde::{Deserialize, Serialize};

use super::input::{self, JsonBody, nullable};
use super::stats::{StatsParams, StatsResponse, fill};
use super::{ApiError, Caller, new_public_key};
use crate::AppState;
use crate::auth::access;
use crate::clock::rfc3339;

/// The routes of this module other than the project list and stats (registered in `router()`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/0/organizations/{org}/projects/", get(org_list).post(create))
        .route("/api/0/projects/{project_id}/", get(detail).put(update))
}

#[derive(Serialize)]
pub struct ProjectJson {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub organization: String,
    pub platform: String,
    pub created: String,
    /// DSN of the project's first active key.
    pub dsn: Option<String>,
    pub rate_limit_per_minute: Option<u32>,
    pub apdex_threshold_ms: u32,
}

pub async fn project_json(app: &AppState, p: Project) -> Result<ProjectJson, ApiError> {
    let keys = app.store.project_keys(p.id).await?;
    let dsn = keys
        .iter()
        .find(|k| k.active)
        .map(|k| app.settings.dsn(&k.public_key, p.id));
    Ok(ProjectJson {
        id: p.id.to_string(),
        slug: p.slug,
        name: p.name,
        organization: p.org_slug,
        platform: p.platform,
        created: rfc3339(p.created_ms),
        dsn,
        rate_limit_per_minute: p.rate_limit_per_minute,
        apdex_threshold_ms: p.apdex_threshold_ms,
    })
}

pub async fn list(
    State(app): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Vec<ProjectJson>>, ApiError> {
    let mut out = Vec::new();
    for p in access::visible_projects(&app, &who).await? {
        out.push(project_json(&app, p).await?);
    }
    Ok(Json(out))
}

pub async fn stats(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    Query(params): Query<StatsParams>,
) -> Result<Json<StatsResponse>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let window = params.window(app.clock.now_ms())?;
    let sparse = app
        .store
        .event_counts(
            CountScope::Project(project.id),
            window.since_ms,
            window.until_ms,
            window.bucket_ms,
        )
        .await?;
    Ok(Json(fill(window, &sparse)))
}

async fn org_list(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(org): Path<String>,
) -> Result<Json<Vec<ProjectJson>>, ApiError> {
    let (org, _) = access::organization(&app, &who, &org, OrgRole::Member).await?;
    let mut out = Vec::new();
    for p in app.store.list_org_projects(org.id).await? {
        out.push(project_json(&app, p).await?);
    }
    Ok(Json(out))
}

/// A project name that yields a slug.
fn project_name(raw: &str) -> Result<String, ApiError> {
    let name = input::name("name", raw)?;
    if slugify(&name).is_empty() {
        return Err(ApiError::BadRequest(format!(
            "name {name:?} needs at least one letter or digit (the slug is derived from it)"
        )));
    }
    Ok(name)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    /// `other` when absent.
    platform: Option<String>,
}

/// Creates a project with one key (admins); answers it with its DSN.
async fn create(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<ProjectJson>), ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let (org, _) = access::organization(&app, &who, &org, OrgRole::Admin).await?;
    let name = project_name(&body.name)?;
    let platform = match body.platform.as_deref() {
        Some(p) => input::platform(p)?,
        None => "other".to_owned(),
    };
    let (project, _) = app
        .store
        .create_project(&org.slug, &name, &platform, &new_public_key(), app.clock.now_ms())
        .await?;
    tracing::info!(project.id = project.id, org.slug = %org.slug, "project created");
    Ok((StatusCode::CREATED, Json(project_json(&app, project).await?)))
}

async fn detail(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
) -> Result<Json<ProjectJson>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    Ok(Json(project_json(&app, project).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    /// Renaming changes the slug too.
    name: Option<String>,
    platform: Option<String>,
    /// Error events per minute for the whole project; `null` removes the limit.
    #[serde(default, deserialize_with = "nullable")]
    rate_limit_per_minute: Option<Option<u32>>,
    /// Apdex's T in milliseconds, for the minutes rolled up from then on.
    apdex_threshold_ms: Option<u32>,
}

/// Changes name, platform, rate limit or Apdex T (admins); absent fields stay as they are.
async fn update(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<ProjectJson>, ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let (mut project, _) = access::project(&app, &who, &project, OrgRole::Admin).await?;
    if body.name.is_none()
        && body.platform.is_none()
        && body.rate_limit_per_minute.is_none()
        && body.apdex_threshold_ms.is_none()
    {
        return Err(ApiError::BadRequest(
            "nothing to change: expected at least one of name, platform, rate_limit_per_minute, \
             apdex_threshold_ms"
                .into(),
        ));
    }
    let name = body.name.as_deref().map(project_name).transpose()?;
    let platform = body.platform.as_deref().map(input::platform).transpose()?;
    let limit = body
        .rate_limit_per_minute
        .map(|l| {
            l.map(|v| input::rate_limit("rate_limit_per_minute", v))
                .transpose()
        })
        .transpose()?;
    let apdex = body
        .apdex_threshold_ms
        .map(|v| input::apdex_threshold("apdex_threshold_ms", v))
        .transpose()?;
    if name.is_some() || platform.is_some() {
        let name = name.unwrap_or_else(|| project.name.clone());
        let platform = platform.unwrap_or_else(|| project.platform.clone());
        project = app.store.update_project(project.id, &name, &platform).await?;
    }
    if let Some(limit) = limit {
        app.store.set_project_rate_limit(project.id, limit).await?;
        project.rate_limit_per_minute = limit;
        // Ingest on this node applies the new limit with the next event.
        app.keys.forget_project(project.id);
    }
    if let Some(ms) = apdex {
        app.store.set_project_apdex(project.id, ms).await?;
        project.apdex_threshold_ms = ms;
    }
    Ok(Json(project_json(&app, project).await?))
}
