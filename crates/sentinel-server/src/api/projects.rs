//! `/api/0/projects/…`: the project list and project-level counts.

use axum::Json;
use axum::extract::{Path, Query, State};
use sentinel_store::{CountScope, Project};
use serde::Serialize;

use super::stats::{StatsParams, StatsResponse, fill};
use super::{ApiError, Caller};
use crate::AppState;
use crate::clock::rfc3339;

#[derive(Serialize)]
pub struct ProjectJson {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub organization: String,
    pub created: String,
    /// DSN of the project's first active key.
    pub dsn: Option<String>,
    pub rate_limit_per_minute: Option<u32>,
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
        created: rfc3339(p.created_ms),
        dsn,
        rate_limit_per_minute: p.rate_limit_per_minute,
    })
}

pub async fn list(State(app): State<AppState>, _caller: Caller) -> Result<Json<Vec<ProjectJson>>, ApiError> {
    let mut out = Vec::new();
    for p in app.store.list_projects().await? {
        out.push(project_json(&app, p).await?);
    }
    Ok(Json(out))
}

/// Parses a numeric id from the path, answering 404 (not 400) for anything else: no such resource.
pub fn path_id(what: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .map_err(|_| ApiError::NotFound(format!("{what} {raw} not found")))
}

pub async fn existing_project(app: &AppState, raw: &str) -> Result<Project, ApiError> {
    let id = path_id("project", raw)?;
    app.store
        .get_project(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("project {id} not found")))
}

pub async fn stats(
    State(app): State<AppState>,
    _caller: Caller,
    Path(project): Path<String>,
    Query(params): Query<StatsParams>,
) -> Result<Json<StatsResponse>, ApiError> {
    let project = existing_project(&app, &project).await?;
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
