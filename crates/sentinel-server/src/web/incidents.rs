//! The incidents page of a project: every monitor's outages, newest first, paged, with the
//! evidence that confirmed each (status code, error). Members of the organization only, like the
//! monitors list; it reads through the same store call as `GET /api/0/projects/{id}/incidents/`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use sentinel_store::OrgRole;
use serde::Deserialize;

use super::layout::{self, Layout};
use super::project::org_project;
use super::{SignedIn, WebError, render};
use crate::AppState;
use crate::uptime::api::IncidentJson;
use crate::uptime::verifier::duration_text;

const PAGE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// The last incident id of the newer page: older ones follow.
    cursor: Option<String>,
}

struct IncidentRow {
    monitor_id: String,
    /// Empty if the monitor is gone.
    monitor: String,
    open: bool,
    opened: String,
    resolved: String,
    duration: String,
    status_code: String,
    error: String,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    layout: Layout,
    incidents: Vec<IncidentRow>,
    monitors_url: String,
    older_url: Option<String>,
    newest_url: Option<String>,
}

/// `GET /orgs/{org}/projects/{project}/monitors/incidents/`.
pub async fn list(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
    Query(p): Query<PageQuery>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let before = crate::issues::id_cursor(p.cursor.as_deref())?;
    let mut list = app
        .store
        .list_incidents(project.id, None, PAGE + 1, before)
        .await?;
    let more = list.len() > PAGE;
    list.truncate(PAGE);
    let last = list.last().map(|i| i.id);
    let mut ids: Vec<i64> = list.iter().map(|i| i.monitor_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let names: HashMap<i64, String> = app
        .store
        .get_monitors(&ids)
        .await?
        .into_iter()
        .map(|m| (m.id, m.name))
        .collect();
    let now = app.clock.now_ms();
    let incidents = list
        .into_iter()
        .map(|i| {
            let monitor = names.get(&i.monitor_id).cloned().unwrap_or_default();
            let json = IncidentJson::new(i, now);
            let error = json.evidence["error"].as_str().unwrap_or_default().to_owned();
            // The code, unless the error already says it (`status 503, expected 2xx`).
            let status_code = json.evidence["status_code"]
                .as_i64()
                .map(|c| c.to_string())
                .filter(|c| !error.contains(c.as_str()))
                .unwrap_or_default();
            IncidentRow {
                monitor,
                open: json.resolved.is_none(),
                duration: duration_text(json.duration_seconds * 1000),
                status_code,
                error,
                monitor_id: json.monitor_id,
                opened: json.opened,
                resolved: json.resolved.unwrap_or_default(),
            }
        })
        .collect();
    let prefix = &app.settings.path_prefix;
    let monitors_url = format!("{prefix}/orgs/{}/projects/{}/monitors/", org.slug, project.slug);
    let base = format!("{monitors_url}incidents/");
    render(&IncidentsPage {
        layout: layout::in_org(&app, &s, &org, role, Some(&project), "Incidents", "monitors").await?,
        incidents,
        older_url: more
            .then(|| last.map(|id| format!("{base}?cursor={id}")))
            .flatten(),
        newest_url: before.map(|_| base),
        monitors_url,
    })
}
