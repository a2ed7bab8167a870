//! The release API under `/api/0/`: a project's releases with their events, the issues they
//! introduced and their health (sessions and crash-free rates), and one release with those issues.
//!
//! Rows are maintained by the worker (`apply_batch`); these handlers only read. Every handler loads
//! the project through `auth::access`, so another organization's project answers 404.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use sentinel_store::{OrgRole, Release};
use serde::Serialize;

use crate::AppState;
use crate::api::{ApiError, Caller};
use crate::auth::access;
use crate::clock::rfc3339;
use crate::issues::{IssueJson, PageJson, PageParams, Pagination, Users, cursor, limit};

/// How many of a release's new issues its detail lists (newest first).
pub const NEW_ISSUES_SHOWN: usize = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/0/projects/{project_id}/releases/", get(list))
        .route("/api/0/projects/{project_id}/releases/{version}/", get(detail))
}

#[derive(Debug, Serialize)]
pub struct ReleaseJson {
    pub version: String,
    pub project_id: String,
    /// First and last time an event or a session named the release.
    pub first_seen: String,
    pub last_seen: String,
    /// Its first and last event (by event timestamp); `null` while it only has sessions.
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    pub events: u64,
    /// Issues whose first event carried this release.
    pub new_issues: u64,
    pub sessions: u64,
    pub sessions_errored: u64,
    pub sessions_abnormal: u64,
    pub sessions_crashed: u64,
    pub users: u64,
    pub users_crashed: u64,
    /// Percentages; `null` without sessions (users).
    pub crash_free_sessions: Option<f64>,
    pub crash_free_users: Option<f64>,
}

impl From<Release> for ReleaseJson {
    fn from(r: Release) -> Self {
        ReleaseJson {
            crash_free_sessions: r.crash_free_sessions(),
            crash_free_users: r.crash_free_users(),
            project_id: r.project_id.to_string(),
            first_seen: rfc3339(r.first_seen_ms),
            last_seen: rfc3339(r.last_seen_ms),
            first_event: r.first_event_ms.map(rfc3339),
            last_event: r.last_event_ms.map(rfc3339),
            version: r.version,
            events: r.events,
            new_issues: r.new_issues,
            sessions: r.sessions,
            sessions_errored: r.sessions_errored,
            sessions_abnormal: r.sessions_abnormal,
            sessions_crashed: r.sessions_crashed,
            users: r.users,
            users_crashed: r.users_crashed,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ReleaseDetailJson {
    #[serde(flatten)]
    pub release: ReleaseJson,
    /// The issues this release introduced, newest first (at most 100).
    pub issues: Vec<IssueJson>,
}

/// `GET /api/0/projects/{id}/releases/`: newest first (by first seen).
pub async fn list(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Json<PageJson<ReleaseJson>>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let (limit, cursor) = (limit(p.limit.as_deref())?, cursor(p.cursor.as_deref())?);
    let page = app
        .store
        .list_releases(project.id, limit, cursor.as_ref())
        .await?;
    Ok(Json(PageJson {
        data: page.items.into_iter().map(ReleaseJson::from).collect(),
        pagination: Pagination::from(page.next_cursor),
    }))
}

/// `GET /api/0/projects/{id}/releases/{version}/` (the version URL-encoded).
pub async fn detail(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path((project, version)): Path<(String, String)>,
) -> Result<Json<ReleaseDetailJson>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let release = app
        .store
        .get_release(project.id, &version)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("release {version:?} not found")))?;
    let mut users = Users::default();
    let mut issues = Vec::new();
    for issue in app
        .store
        .release_new_issues(project.id, &version, NEW_ISSUES_SHOWN)
        .await?
    {
        issues.push(IssueJson::load(&app, &mut users, issue).await?);
    }
    Ok(Json(ReleaseDetailJson {
        release: release.into(),
        issues,
    }))
}
