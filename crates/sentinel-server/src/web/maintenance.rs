//! The maintenance page of a project: its windows (what, when — the next occurrence of a recurring
//! one —, which monitors, whether on now), a form to plan one and a delete button per window.
//! Members of the organization only, like the monitor form. The form's fields become the body of
//! `POST /api/0/projects/{id}/maintenance/` and go through the same [`parse_window`], so the page
//! and the API accept and refuse the same windows with the same messages.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDateTime, TimeZone};
use sentinel_store::{MaintenanceWindow, OrgRole};
use serde_json::{Map, Value};

use super::layout::{self, Layout};
use super::project::org_project;
use super::{SignedIn, WebError, render, see_other};
use crate::AppState;
use crate::api::ApiError;
use crate::clock::rfc3339;
use crate::uptime::maintenance::{WindowJson, next_start, parse_window};

/// One window as the page lists it.
struct WindowLine {
    id: String,
    name: String,
    recurring: bool,
    /// One-off: start and end; recurring: the crontab and its time zone.
    starts_at: String,
    ends_at: String,
    schedule: String,
    timezone: String,
    duration: String,
    /// When the next occurrence begins (RFC 3339), or empty when none is left.
    next: String,
    /// "All monitors", or the names of those it covers.
    monitors: String,
    active: bool,
}

/// A monitor of the form's multi-select.
struct MonitorOption {
    id: i64,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "maintenance.html")]
struct MaintenancePage {
    layout: Layout,
    windows: Vec<WindowLine>,
    monitors: Vec<MonitorOption>,
    monitors_url: String,
    form_url: String,
    error: Option<String>,
    /// What was entered, kept when the form is refused.
    form: HashMap<String, String>,
}

impl MaintenancePage {
    fn value(&self, name: &str) -> &str {
        self.form.get(name).map(String::as_str).unwrap_or_default()
    }
}

/// The form as submitted: single fields, and the monitors picked in the multi-select.
struct Submitted {
    fields: HashMap<String, String>,
    monitor_ids: Vec<String>,
}

impl Submitted {
    fn new(pairs: Vec<(String, String)>) -> Self {
        let mut fields = HashMap::new();
        let mut monitor_ids = Vec::new();
        for (k, v) in pairs {
            if k == "monitor_ids" {
                monitor_ids.push(v);
            } else {
                fields.insert(k, v);
            }
        }
        Submitted { fields, monitor_ids }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The API's body: the fields of the chosen kind, empty ones left out. Times may also be
    /// entered as `2026-11-24 01:00` in the form's time zone; anything else goes to
    /// [`parse_window`] as typed, which says what it expects.
    fn body(&self) -> Map<String, Value> {
        let recurring = self.get("kind") == Some("recurring");
        let fields: &[&str] = if recurring {
            &[
                "name",
                "schedule",
                "duration_minutes",
                "timezone",
                "starts_at",
                "ends_at",
            ]
        } else {
            &["name", "timezone", "starts_at", "ends_at"]
        };
        let timezone = self.get("timezone").unwrap_or("UTC");
        let mut body = Map::new();
        for f in fields {
            let Some(v) = self.get(f) else {
                // A recurring window needs its crontab: an empty one is refused by name.
                if *f == "schedule" {
                    body.insert("schedule".into(), Value::String(String::new()));
                }
                continue;
            };
            let value = match *f {
                "duration_minutes" => v
                    .parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(v.to_owned())),
                "starts_at" | "ends_at" => Value::String(local_time(v, timezone)),
                _ => Value::String(v.to_owned()),
            };
            body.insert((*f).to_owned(), value);
        }
        if !self.monitor_ids.is_empty() {
            body.insert(
                "monitor_ids".into(),
                Value::Array(self.monitor_ids.iter().cloned().map(Value::String).collect()),
            );
        }
        body
    }
}

/// `2026-11-24 01:00` (or with `T`, or seconds) in `timezone` as RFC 3339; anything else as it is.
fn local_time(v: &str, timezone: &str) -> String {
    let Ok(tz) = timezone.parse::<chrono_tz::Tz>() else {
        return v.to_owned();
    };
    [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
    .and_then(|naive| tz.from_local_datetime(&naive).earliest())
    .map(|t| t.to_rfc3339())
    .unwrap_or_else(|| v.to_owned())
}

async fn page(
    app: &AppState,
    s: &SignedIn,
    org: &str,
    project: &str,
    error: Option<String>,
    submitted: Submitted,
) -> Result<MaintenancePage, WebError> {
    let (org, role, project) = org_project(app, s, org, project, OrgRole::Member).await?;
    let monitors = app.store.list_monitors(project.id, usize::MAX / 2, None).await?;
    let names: HashMap<i64, &str> = monitors.iter().map(|m| (m.id, m.name.as_str())).collect();
    let now = app.clock.now_ms();
    let windows = app
        .store
        .list_maintenance(project.id)
        .await?
        .into_iter()
        .map(|w| window_line(w, &names, now))
        .collect();
    let prefix = &app.settings.path_prefix;
    let monitors_url = format!("{prefix}/orgs/{}/projects/{}/monitors/", org.slug, project.slug);
    Ok(MaintenancePage {
        layout: layout::in_org(app, s, &org, role, Some(&project), "Maintenance", "monitors").await?,
        windows,
        monitors: monitors
            .iter()
            .map(|m| MonitorOption {
                id: m.id,
                name: m.name.clone(),
                selected: submitted.monitor_ids.contains(&m.id.to_string()),
            })
            .collect(),
        form_url: format!("{monitors_url}maintenance/"),
        monitors_url,
        error,
        form: submitted.fields,
    })
}

fn window_line(w: MaintenanceWindow, names: &HashMap<i64, &str>, now: i64) -> WindowLine {
    let monitors = if w.monitor_ids.is_empty() {
        "All monitors".to_owned()
    } else {
        w.monitor_ids
            .iter()
            .map(|id| match names.get(id) {
                Some(name) => (*name).to_owned(),
                None => format!("monitor {id}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let next = next_start(&w, now).map(rfc3339).unwrap_or_default();
    let json = WindowJson::new(w, now);
    WindowLine {
        id: json.id,
        name: json.name,
        recurring: json.schedule.is_some(),
        starts_at: json.starts_at,
        ends_at: json.ends_at.unwrap_or_default(),
        schedule: json.schedule.unwrap_or_default(),
        timezone: json.timezone,
        duration: json
            .duration_minutes
            .map(|m| crate::uptime::verifier::duration_text(m * 60_000))
            .unwrap_or_default(),
        next,
        monitors,
        active: json.active,
    }
}

/// `GET /orgs/{org}/projects/{project}/monitors/maintenance/`.
pub async fn list(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
) -> Result<Response, WebError> {
    render(&page(&app, &s, &org, &project, None, Submitted::new(Vec::new())).await?)
}

/// `POST` of the form: the window, or the form again with the API's message and what was entered.
pub async fn create(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let (o, _, p) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let submitted = Submitted::new(pairs);
    let monitors: Vec<i64> = app
        .store
        .list_monitors(p.id, usize::MAX / 2, None)
        .await?
        .iter()
        .map(|m| m.id)
        .collect();
    let now = app.clock.now_ms();
    match parse_window(p.id, &monitors, &submitted.body(), now) {
        Ok(window) => {
            let window = app.store.create_maintenance(&window).await?;
            tracing::info!(
                window.id = window.id,
                project.id = p.id,
                "maintenance window created"
            );
            Ok(see_other(
                &headers,
                &format!(
                    "{}/orgs/{}/projects/{}/monitors/maintenance/",
                    app.settings.path_prefix, o.slug, p.slug
                ),
            ))
        }
        Err(ApiError::BadRequest(message)) => {
            let page = page(&app, &s, &org, &project, Some(message), submitted).await?;
            Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST …/maintenance/{id}/delete`: ends the window (early).
pub async fn delete(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, project, window)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    let (o, _, p) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let id = crate::auth::access::path_id("maintenance window", &window)?;
    // A window of another project answers as a missing one.
    app.store
        .get_maintenance(id)
        .await?
        .filter(|w| w.project_id == p.id)
        .ok_or_else(|| ApiError::NotFound(format!("maintenance window {id} not found")))?;
    app.store.delete_maintenance(id).await?;
    tracing::info!(window.id = id, project.id = p.id, "maintenance window deleted");
    Ok(see_other(
        &headers,
        &format!(
            "{}/orgs/{}/projects/{}/monitors/maintenance/",
            app.settings.path_prefix, o.slug, p.slug
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submitted(pairs: &[(&str, &str)]) -> Submitted {
        Submitted::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_one_off_form_sends_only_its_fields_with_local_times_in_the_zone() {
        let body = submitted(&[
            ("csrf", "x"),
            ("kind", "once"),
            ("name", "Upgrade"),
            ("timezone", "Europe/Berlin"),
            ("starts_at", "2026-11-24 02:00"),
            ("ends_at", "2026-11-24T03:30:00Z"),
            ("schedule", "0 2 * * *"),
            ("duration_minutes", "30"),
            ("monitor_ids", "3"),
            ("monitor_ids", "4"),
        ])
        .body();
        assert_eq!(
            Value::Object(body),
            serde_json::json!({
                "name": "Upgrade",
                "timezone": "Europe/Berlin",
                "starts_at": "2026-11-24T02:00:00+01:00",
                "ends_at": "2026-11-24T03:30:00Z",
                "monitor_ids": ["3", "4"],
            })
        );
    }

    #[test]
    fn a_recurring_form_sends_its_crontab_even_when_empty_and_numbers_as_numbers() {
        let body = submitted(&[
            ("kind", "recurring"),
            ("duration_minutes", "45"),
            ("starts_at", ""),
        ])
        .body();
        assert_eq!(
            Value::Object(body),
            serde_json::json!({"schedule": "", "duration_minutes": 45})
        );
        let body = submitted(&[("kind", "recurring"), ("duration_minutes", "soon")]).body();
        assert_eq!(
            body["duration_minutes"], "soon",
            "refused by parse_window, by name"
        );
    }
}
