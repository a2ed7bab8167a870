//! Organizations' project lists, new organizations and projects, the project overview (event
//! charts, newest and loudest issues) and project settings (name, platform, keys, SDK snippets).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sentinel_store::{
    CountScope, Issue, IssueQuery, IssueSort, IssueStatus, OrgRole, Organization, Project, ProjectKey,
    TimeRange, slugify,
};
use serde::Deserialize;

use super::layout::{self, Layout};
use super::{SignedIn, WebError, render, see_other};
use crate::AppState;
use crate::api::stats::{Window, dense};
use crate::api::{ApiError, input, new_public_key};
use crate::auth::access;
use crate::clock::rfc3339;

/// The platforms of [`input::PLATFORMS`] with their display names, for select boxes.
fn platform_options() -> Vec<(&'static str, &'static str)> {
    input::PLATFORMS
        .iter()
        .map(|p| {
            let label = match *p {
                "python" => "Python",
                "node" => "Node.js",
                "javascript" => "Browser JavaScript",
                "rust" => "Rust",
                "go" => "Go",
                "java" => "Java",
                "kotlin" => "Kotlin",
                "android" => "Android",
                "cocoa" => "Apple (Cocoa)",
                "dart" => "Dart / Flutter",
                "dotnet" => ".NET",
                "elixir" => "Elixir",
                "php" => "PHP",
                "ruby" => "Ruby",
                "native" => "Native (C/C++)",
                _ => "Other",
            };
            (*p, label)
        })
        .collect()
}

/// The organization (by slug) and project (by slug) if the user may see them with `min`.
pub async fn org_project(
    app: &AppState,
    s: &SignedIn,
    org: &str,
    project: &str,
    min: OrgRole,
) -> Result<(Organization, OrgRole, Project), ApiError> {
    let (org, role) = access::organization(app, &s.principal, org, OrgRole::Member).await?;
    let project = app
        .store
        .list_org_projects(org.id)
        .await?
        .into_iter()
        .find(|p| p.slug == project)
        .ok_or_else(|| ApiError::NotFound(format!("project {project} not found")))?;
    if role < min {
        return Err(ApiError::Forbidden(format!(
            "your role in this organization is {role}; this needs {min} or higher"
        )));
    }
    Ok((org, role, project))
}

/// Chart data as JSON that is safe inside `<script type="application/json">`: `<`, `>` and `&`
/// are escaped so no `</script>` can end the element early.
pub fn chart_json(points: &[(i64, u64)], unit: &str, label: &str) -> String {
    let x: Vec<i64> = points.iter().map(|(t, _)| t / 1000).collect();
    let values: Vec<u64> = points.iter().map(|(_, v)| *v).collect();
    let json = serde_json::json!({ "x": x, "series": [{ "label": label, "values": values }], "unit": unit });
    json.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Dense per-bucket counts over the `span_ms` before the end of the bucket holding `now_ms`,
/// zeros included.
pub async fn series(
    app: &AppState,
    scope: CountScope,
    now_ms: i64,
    span_ms: i64,
    bucket_ms: i64,
) -> Result<Vec<(i64, u64)>, ApiError> {
    let until_ms = now_ms - now_ms.rem_euclid(bucket_ms) + bucket_ms;
    let window = Window {
        // Only the API's answers carry the resolution's name.
        resolution: "",
        since_ms: until_ms - span_ms,
        until_ms,
        bucket_ms,
    };
    let sparse = app
        .store
        .event_counts(scope, window.since_ms, window.until_ms, bucket_ms)
        .await?;
    Ok(dense(window, &sparse))
}

pub struct ProjectCard {
    pub slug: String,
    pub name: String,
    pub platform: String,
    pub events_24h: u64,
    pub chart: String,
}

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage {
    layout: Layout,
    name: String,
    projects: Vec<ProjectCard>,
}

pub async fn org_home(
    State(app): State<AppState>,
    s: SignedIn,
    Path(org): Path<String>,
) -> Result<Response, WebError> {
    let (org, role) = access::organization(&app, &s.principal, &org, OrgRole::Member).await?;
    let now = app.clock.now_ms();
    let mut projects = Vec::new();
    for p in app.store.list_org_projects(org.id).await? {
        let points = series(&app, CountScope::Project(p.id), now, 86_400_000, 3_600_000).await?;
        projects.push(ProjectCard {
            events_24h: points.iter().map(|(_, v)| v).sum(),
            chart: chart_json(&points, "hour", "events"),
            slug: p.slug,
            name: p.name,
            platform: p.platform,
        });
    }
    let page = OrgPage {
        layout: layout::in_org(&app, &s, &org, role, None, &org.name, "projects").await?,
        name: org.name.clone(),
        projects,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "org_new.html")]
struct OrgNewPage {
    layout: Layout,
    error: Option<String>,
    name: String,
    slug: String,
}

pub async fn org_new_form(State(app): State<AppState>, s: SignedIn) -> Result<Response, WebError> {
    let page = OrgNewPage {
        layout: layout::plain(&app, &s, "New organization", "projects").await?,
        error: None,
        name: String::new(),
        slug: String::new(),
    };
    render(&page)
}

#[derive(Deserialize)]
pub struct OrgForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
}

pub async fn org_create(
    State(app): State<AppState>,
    s: SignedIn,
    Form(form): Form<OrgForm>,
) -> Result<Response, WebError> {
    let result = async {
        let name = input::name("the organization name", &form.name)?;
        let slug = if form.slug.trim().is_empty() {
            slugify(&name)
        } else {
            form.slug.trim().to_owned()
        };
        Ok::<_, ApiError>(
            app.store
                .create_organization(&slug, &name, s.user.id, app.clock.now_ms())
                .await?,
        )
    }
    .await;
    match result {
        Ok(org) => {
            Ok(Redirect::to(&format!("{}/orgs/{}/", app.settings.path_prefix, org.slug)).into_response())
        }
        Err(e @ (ApiError::BadRequest(_) | ApiError::Conflict(_))) => {
            let page = OrgNewPage {
                layout: layout::plain(&app, &s, "New organization", "projects").await?,
                error: Some(e.to_string()),
                name: form.name,
                slug: form.slug,
            };
            let mut resp = render(&page)?;
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "project_new.html")]
struct ProjectNewPage {
    layout: Layout,
    error: Option<String>,
    name: String,
    platform: String,
    platforms: Vec<(&'static str, &'static str)>,
}

pub async fn new_form(
    State(app): State<AppState>,
    s: SignedIn,
    Path(org): Path<String>,
) -> Result<Response, WebError> {
    let (org, role) = access::organization(&app, &s.principal, &org, OrgRole::Admin).await?;
    let page = ProjectNewPage {
        layout: layout::in_org(&app, &s, &org, role, None, "New project", "projects").await?,
        error: None,
        name: String::new(),
        platform: "python".into(),
        platforms: platform_options(),
    };
    render(&page)
}

#[derive(Deserialize)]
pub struct ProjectForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    platform: String,
    /// Only on the settings form; absent when a project is created.
    #[serde(default)]
    apdex_threshold_ms: Option<String>,
}

pub async fn create(
    State(app): State<AppState>,
    s: SignedIn,
    Path(org): Path<String>,
    Form(form): Form<ProjectForm>,
) -> Result<Response, WebError> {
    let (org, role) = access::organization(&app, &s.principal, &org, OrgRole::Admin).await?;
    let result = async {
        let name = input::name("the project name", &form.name)?;
        let platform = input::platform(&form.platform)?;
        let (project, _) = app
            .store
            .create_project(&org.slug, &name, &platform, &new_public_key(), app.clock.now_ms())
            .await?;
        Ok::<_, ApiError>(project)
    }
    .await;
    match result {
        Ok(p) => Ok(Redirect::to(&format!(
            "{}/orgs/{}/projects/{}/settings/",
            app.settings.path_prefix, org.slug, p.slug
        ))
        .into_response()),
        Err(e @ (ApiError::BadRequest(_) | ApiError::Conflict(_))) => {
            let page = ProjectNewPage {
                layout: layout::in_org(&app, &s, &org, role, None, "New project", "projects").await?,
                error: Some(e.to_string()),
                name: form.name,
                platform: form.platform,
                platforms: platform_options(),
            };
            let mut resp = render(&page)?;
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

/// One issue in a compact list.
pub struct IssueLine {
    pub id: i64,
    pub title: String,
    pub culprit: String,
    pub level: &'static str,
    pub status: &'static str,
    pub times_seen: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub is_regression: bool,
}

impl From<Issue> for IssueLine {
    fn from(i: Issue) -> Self {
        IssueLine {
            id: i.id,
            title: i.title,
            culprit: i.culprit,
            level: i.level.as_str(),
            status: i.status.as_str(),
            times_seen: i.times_seen,
            first_seen: rfc3339(i.first_seen_ms),
            last_seen: rfc3339(i.last_seen_ms),
            is_regression: i.is_regression,
        }
    }
}

#[derive(Template)]
#[template(path = "project_overview.html")]
struct OverviewPage {
    layout: Layout,
    name: String,
    minute_chart: String,
    hour_chart: String,
    day_chart: String,
    events_hour: u64,
    events_week: u64,
    events_month: u64,
    newest: Vec<IssueLine>,
    loudest: Vec<IssueLine>,
}

pub async fn overview(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let now = app.clock.now_ms();
    let minutes = series(&app, CountScope::Project(project.id), now, 3_600_000, 60_000).await?;
    let hours = series(
        &app,
        CountScope::Project(project.id),
        now,
        7 * 86_400_000,
        3_600_000,
    )
    .await?;
    let days = series(
        &app,
        CountScope::Project(project.id),
        now,
        30 * 86_400_000,
        86_400_000,
    )
    .await?;
    let base = IssueQuery {
        project_id: project.id,
        status: Some(IssueStatus::Unresolved),
        limit: 5,
        ..IssueQuery::default()
    };
    let newest = app
        .store
        .list_issues(&IssueQuery {
            sort: IssueSort::FirstSeen,
            ..base.clone()
        })
        .await?;
    let loudest = app
        .store
        .list_issues(&IssueQuery {
            sort: IssueSort::TimesSeen,
            last_seen: TimeRange {
                since_ms: Some(now - 86_400_000),
                until_ms: None,
            },
            ..base
        })
        .await?;
    let page = OverviewPage {
        layout: layout::in_org(&app, &s, &org, role, Some(&project), &project.name, "overview").await?,
        name: project.name.clone(),
        events_hour: minutes.iter().map(|(_, v)| v).sum(),
        events_week: hours.iter().map(|(_, v)| v).sum(),
        events_month: days.iter().map(|(_, v)| v).sum(),
        day_chart: chart_json(&days, "day", "events"),
        minute_chart: chart_json(&minutes, "minute", "events"),
        hour_chart: chart_json(&hours, "hour", "events"),
        newest: newest.items.into_iter().map(IssueLine::from).collect(),
        loudest: loudest.items.into_iter().map(IssueLine::from).collect(),
    };
    render(&page)
}

pub struct KeyRow {
    pub id: i64,
    pub label: String,
    pub dsn: String,
    pub active: bool,
    pub created: String,
    pub rate_limit: String,
}

#[derive(Template)]
#[template(path = "project_settings.html")]
struct SettingsPage {
    layout: Layout,
    project_id: i64,
    name: String,
    platform: String,
    platforms: Vec<(&'static str, &'static str)>,
    apdex_threshold_ms: u32,
    keys: Vec<KeyRow>,
    /// The DSN of the first active key, for the snippets.
    dsn: String,
    error: Option<String>,
    notice: Option<String>,
}

async fn settings_page(
    app: &AppState,
    s: &SignedIn,
    org: &Organization,
    role: OrgRole,
    project: &Project,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let keys: Vec<ProjectKey> = app.store.project_keys(project.id).await?;
    let rows: Vec<KeyRow> = keys
        .iter()
        .map(|k| KeyRow {
            id: k.id,
            label: k.label.clone(),
            dsn: app.settings.dsn(&k.public_key, project.id),
            active: k.active,
            created: rfc3339(k.created_ms),
            rate_limit: k.rate_limit_per_minute.map(|v| v.to_string()).unwrap_or_default(),
        })
        .collect();
    let dsn = rows
        .iter()
        .find(|k| k.active)
        .map(|k| k.dsn.clone())
        .unwrap_or_default();
    let page = SettingsPage {
        layout: layout::in_org(app, s, org, role, Some(project), "Project settings", "settings").await?,
        project_id: project.id,
        name: project.name.clone(),
        platform: project.platform.clone(),
        platforms: platform_options(),
        apdex_threshold_ms: project.apdex_threshold_ms,
        keys: rows,
        dsn,
        error: error.clone(),
        notice,
    };
    let mut resp = render(&page)?;
    if error.is_some() {
        *resp.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(resp)
}

pub async fn settings(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    settings_page(&app, &s, &org, role, &project, None, None).await
}

pub async fn update(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
    Form(form): Form<ProjectForm>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Admin).await?;
    let result = async {
        let name = input::name("the project name", &form.name)?;
        let platform = input::platform(&form.platform)?;
        let apdex = form.apdex_threshold_ms.as_deref().map(parse_apdex).transpose()?;
        let updated = app.store.update_project(project.id, &name, &platform).await?;
        if let Some(ms) = apdex {
            app.store.set_project_apdex(project.id, ms).await?;
        }
        Ok::<_, ApiError>(updated)
    }
    .await;
    match result {
        Ok(p) => Ok(Redirect::to(&format!(
            "{}/orgs/{}/projects/{}/settings/",
            app.settings.path_prefix, org.slug, p.slug
        ))
        .into_response()),
        Err(e @ (ApiError::BadRequest(_) | ApiError::Conflict(_))) => {
            settings_page(&app, &s, &org, role, &project, Some(e.to_string()), None).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    label: String,
    #[serde(default)]
    rate_limit: String,
}

fn parse_apdex(raw: &str) -> Result<u32, ApiError> {
    let raw = raw.trim();
    let ms = raw.parse::<u32>().map_err(|_| {
        ApiError::BadRequest(format!(
            "invalid Apdex threshold {raw:?}: expected a whole number of milliseconds"
        ))
    })?;
    input::apdex_threshold("the Apdex threshold", ms)
}

fn parse_limit(raw: &str) -> Result<Option<u32>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<u32>()
        .ok()
        .filter(|v| *v > 0)
        .map(Some)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "invalid rate limit {raw:?}: expected a whole number of events per minute, or nothing for no limit"
            ))
        })
}

pub async fn create_key(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
    Form(form): Form<KeyForm>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Admin).await?;
    let result = async {
        let label = input::name("the key label", &form.label)?;
        let limit = parse_limit(&form.rate_limit)?;
        let key = crate::api::keys::add_key(&app, &project, &label, limit).await?;
        Ok::<_, ApiError>(key)
    }
    .await;
    match result {
        Ok(k) => {
            settings_page(
                &app,
                &s,
                &org,
                role,
                &project,
                None,
                Some(format!("Key {} created.", k.label)),
            )
            .await
        }
        Err(e @ (ApiError::BadRequest(_) | ApiError::Conflict(_))) => {
            settings_page(&app, &s, &org, role, &project, Some(e.to_string()), None).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct KeyAction {
    /// `revoke`, `enable` or `regenerate`.
    #[serde(default)]
    action: String,
}

/// Revokes, re-enables or regenerates (revoke + a new key with the same label and limit) a key.
pub async fn set_key_active(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, project, key)): Path<(String, String, String)>,
    Form(form): Form<KeyAction>,
) -> Result<Response, WebError> {
    let (org, _, project) = org_project(&app, &s, &org, &project, OrgRole::Admin).await?;
    let key_id = access::path_id("key", &key)?;
    match form.action.as_str() {
        // This node forgets the key at once; others within the key cache's lifetime.
        "revoke" => {
            let key = app.store.set_key_active(project.id, key_id, false).await?;
            app.keys.forget(&key.public_key);
        }
        "enable" => {
            let key = app.store.set_key_active(project.id, key_id, true).await?;
            app.keys.forget(&key.public_key);
        }
        "regenerate" => {
            let old = crate::api::keys::find_key(&app, &project, &key).await?;
            crate::api::keys::regenerate_key(&app, &project, &old).await?;
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "invalid action {other:?}: expected revoke, enable or regenerate"
            ))
            .into());
        }
    }
    Ok(see_other(
        &headers,
        &format!(
            "{}/orgs/{}/projects/{}/settings/",
            app.settings.path_prefix, org.slug, project.slug
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_json_cannot_close_its_script_element() {
        let json = chart_json(&[(60_000, 3)], "minute", "</script><b>");
        assert!(!json.contains('<'), "{json}");
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["series"][0]["label"], "</script><b>");
        assert_eq!(back["x"][0], 60);
    }
}
