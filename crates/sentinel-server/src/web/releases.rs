//! The releases pages: a project's releases with their events, new issues and health, and one
//! release with the issues it introduced.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use sentinel_store::{Cursor, OrgRole, Release};
use serde::Deserialize;

use super::layout::{self, Layout};
use super::project::{IssueLine, org_project};
use super::{SignedIn, WebError, render};
use crate::AppState;
use crate::api::ApiError;
use crate::clock::rfc3339;
use crate::releases::NEW_ISSUES_SHOWN;
use crate::urls::{form_urlencoded_component, path_segment};

/// One release as the pages show it; numbers already formatted.
pub struct ReleaseLine {
    pub version: String,
    /// The version as one URL path segment.
    pub path: String,
    pub first_event: String,
    pub last_event: String,
    pub events: u64,
    pub new_issues: u64,
    pub sessions: u64,
    pub sessions_crashed: u64,
    pub sessions_errored: u64,
    pub sessions_abnormal: u64,
    pub users: u64,
    pub users_crashed: u64,
    pub crash_free_sessions: String,
    pub crash_free_users: String,
}

/// `99.5 %`, `100 %`; `—` without data.
fn percent(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(p) => {
            // Two decimals at most, and only where they say something.
            let s = format!("{p:.2}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            format!("{s} %")
        }
    }
}

impl From<Release> for ReleaseLine {
    fn from(r: Release) -> Self {
        ReleaseLine {
            crash_free_sessions: percent(r.crash_free_sessions()),
            crash_free_users: percent(r.crash_free_users()),
            path: path_segment(&r.version),
            first_event: r.first_event_ms.map(rfc3339).unwrap_or_default(),
            last_event: r.last_event_ms.map(rfc3339).unwrap_or_default(),
            version: r.version,
            events: r.events,
            new_issues: r.new_issues,
            sessions: r.sessions,
            sessions_crashed: r.sessions_crashed,
            sessions_errored: r.sessions_errored,
            sessions_abnormal: r.sessions_abnormal,
            users: r.users,
            users_crashed: r.users_crashed,
        }
    }
}

#[derive(Template)]
#[template(path = "releases.html")]
struct ReleasesPage {
    layout: Layout,
    releases: Vec<ReleaseLine>,
    next_url: Option<String>,
    first_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReleaseParams {
    cursor: Option<String>,
}

pub async fn list(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
    Query(p): Query<ReleaseParams>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let cursor: Option<Cursor> = p
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(str::parse)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let page = app.store.list_releases(project.id, 50, cursor.as_ref()).await?;
    let base = format!(
        "{}/orgs/{}/projects/{}/releases/",
        app.settings.path_prefix, org.slug, project.slug
    );
    render(&ReleasesPage {
        layout: layout::in_org(&app, &s, &org, role, Some(&project), "Releases", "releases").await?,
        releases: page.items.into_iter().map(ReleaseLine::from).collect(),
        next_url: page
            .next_cursor
            .map(|c| format!("{base}?cursor={}", form_urlencoded_component(&c.to_string()))),
        first_url: cursor.map(|_| base.clone()),
    })
}

#[derive(Template)]
#[template(path = "release.html")]
struct ReleasePage {
    layout: Layout,
    release: ReleaseLine,
    first_seen: String,
    last_seen: String,
    issues: Vec<IssueLine>,
    shown: usize,
}

pub async fn detail(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project, version)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let release = app
        .store
        .get_release(project.id, &version)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("release {version:?} not found")))?;
    let issues = app
        .store
        .release_new_issues(project.id, &version, NEW_ISSUES_SHOWN)
        .await?;
    render(&ReleasePage {
        layout: layout::in_org(&app, &s, &org, role, Some(&project), &release.version, "releases").await?,
        first_seen: rfc3339(release.first_seen_ms),
        last_seen: rfc3339(release.last_seen_ms),
        release: release.into(),
        issues: issues.into_iter().map(IssueLine::from).collect(),
        shown: NEW_ISSUES_SHOWN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_show_up_to_two_decimals() {
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(100.0)), "100 %");
        assert_eq!(percent(Some(99.5)), "99.5 %");
        assert_eq!(percent(Some(200.0 / 3.0)), "66.67 %");
    }
}
