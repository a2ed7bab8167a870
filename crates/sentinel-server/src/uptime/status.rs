//! The public status page of a project, for anyone, without signing in: its monitors marked
//! `public` (name, status, a day per bar over 90 days, 90-day uptime) and their incidents of the
//! last 90 days. This module reads it and answers `GET /api/0/status/{org}/{project}/` (JSON);
//! `web::status` renders the same data as the HTML page `/status/{org}/{project}/`.
//!
//! What it must never show: private monitors (not even their incidents), what a monitor checks
//! (URL, host) and incident evidence (status codes, errors, response bodies). An unknown
//! organization or project and a project without public monitors all answer the same 404.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sentinel_store::{DAY_MS, Incident, Monitor, Project, Resolution, UptimeBucket};
use serde::Serialize;

use crate::AppState;
use crate::api::ApiError;
use crate::clock::rfc3339;
use crate::uptime::api::{shown_status_now, uptime_of};
use crate::uptime::badge::percent_of;

/// Days of bars and of incidents.
const DAYS: i64 = 90;
/// Monitors read per store call while looking for the public ones.
const SCAN_BATCH: usize = 500;
/// At most this many public monitors are shown (the first by id).
const MAX_MONITORS: usize = 100;
/// Incidents read per store call, and how many calls at most (private monitors' incidents are
/// read and skipped).
const INCIDENT_BATCH: usize = 100;
const INCIDENT_CALLS: usize = 10;
/// At most this many incidents are shown.
const MAX_INCIDENTS: usize = 50;
/// Browsers and proxies may keep a copy of the page (and its JSON) this long.
pub const CACHE_CONTROL: &str = "max-age=60";

/// The status page as JSON (and the data of the HTML page).
#[derive(Debug, Serialize)]
pub struct StatusJson {
    /// The project's name.
    pub project: String,
    /// `operational` (nothing down), `partial_outage` (some down) or `major_outage` (every
    /// monitor that is not paused is down).
    pub status: &'static str,
    pub monitors: Vec<PublicMonitorJson>,
    /// Incidents that began or ended in the last 90 days, newest first.
    pub incidents: Vec<PublicIncidentJson>,
    pub generated: String,
}

#[derive(Debug, Serialize)]
pub struct PublicMonitorJson {
    pub id: String,
    pub name: String,
    /// `pending`, `up`, `down` or `paused`.
    pub status: &'static str,
    pub status_since: String,
    /// Percent of checks that passed over 90 days (`null` without checks), as the dashboard
    /// computes it.
    pub uptime_90d: Option<f64>,
    /// The last 90 days (UTC), oldest first; today so far last.
    pub days: Vec<DayJson>,
}

#[derive(Debug, Serialize)]
pub struct DayJson {
    pub date: String,
    pub checks: u64,
    pub failures: u64,
    /// Percent of checks that passed, three decimals (`null` without checks).
    pub uptime: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct PublicIncidentJson {
    pub monitor_id: String,
    pub monitor: String,
    pub opened: String,
    /// `null` while it is ongoing.
    pub resolved: Option<String>,
    /// Seconds it lasted (so far, while ongoing).
    pub duration_seconds: i64,
}

/// `StatusJson` of the project, or the one 404 of every page that does not exist.
pub async fn load(app: &AppState, org: &str, project: &str) -> Result<StatusJson, ApiError> {
    let missing = || ApiError::NotFound("no status page here".into());
    let org = app.store.get_organization(org).await?.ok_or_else(missing)?;
    let project: Project = app
        .store
        .list_org_projects(org.id)
        .await?
        .into_iter()
        .find(|p| p.slug == project)
        .ok_or_else(missing)?;
    let monitors = public_monitors(app, project.id).await?;
    if monitors.is_empty() {
        return Err(missing());
    }
    let now = app.clock.now_ms();
    let today = now - now.rem_euclid(DAY_MS);
    let first_day = today - (DAYS - 1) * DAY_MS;
    let ids: Vec<i64> = monitors.iter().map(|m| m.id).collect();
    let mut daily: HashMap<i64, Vec<UptimeBucket>> = HashMap::new();
    for (id, b) in app
        .store
        .uptime_buckets(&ids, Resolution::Day, first_day, today + DAY_MS)
        .await?
    {
        daily.entry(id).or_default().push(b);
    }
    let uptime = uptime_of(app, &ids, &[DAYS]).await?;
    let names: HashMap<i64, &str> = monitors.iter().map(|m| (m.id, m.name.as_str())).collect();
    let incidents = recent_incidents(app, project.id, &names, now - DAYS * DAY_MS).await?;

    let windows = app.store.list_maintenance(project.id).await?;
    let shown = |m: &Monitor| shown_status_now(m, &windows, now);
    let statuses: Vec<&str> = monitors.iter().map(shown).collect();
    let down = statuses.iter().filter(|s| **s == "down").count();
    let running = statuses.iter().filter(|s| **s != "paused").count();
    let status = match down {
        0 => "operational",
        d if d == running => "major_outage",
        _ => "partial_outage",
    };
    Ok(StatusJson {
        project: project.name,
        status,
        monitors: monitors
            .iter()
            .map(|m| PublicMonitorJson {
                id: m.id.to_string(),
                name: m.name.clone(),
                status: shown(m),
                status_since: rfc3339(m.status_since_ms),
                uptime_90d: uptime.get(&m.id).and_then(|u| u.quarter),
                days: days(first_day, daily.remove(&m.id).unwrap_or_default()),
            })
            .collect(),
        incidents: incidents
            .into_iter()
            .map(|i| PublicIncidentJson {
                monitor_id: i.monitor_id.to_string(),
                monitor: names.get(&i.monitor_id).copied().unwrap_or_default().to_owned(),
                opened: rfc3339(i.opened_ms),
                resolved: i.resolved_ms.map(rfc3339),
                duration_seconds: (i.resolved_ms.unwrap_or(now) - i.opened_ms).max(0) / 1000,
            })
            .collect(),
        generated: rfc3339(now),
    })
}

/// The project's public monitors, by id (at most [`MAX_MONITORS`]).
async fn public_monitors(app: &AppState, project_id: i64) -> Result<Vec<Monitor>, ApiError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = app.store.list_monitors(project_id, SCAN_BATCH, after).await?;
        let full = page.len() == SCAN_BATCH;
        after = page.last().map(|m| m.id);
        out.extend(page.into_iter().filter(|m| m.public));
        if out.len() >= MAX_MONITORS {
            out.truncate(MAX_MONITORS);
            return Ok(out);
        }
        if !full {
            return Ok(out);
        }
    }
}

/// Incidents of the monitors in `names` that were open at some time after `since_ms`, newest
/// first (at most [`MAX_INCIDENTS`]).
async fn recent_incidents(
    app: &AppState,
    project_id: i64,
    names: &HashMap<i64, &str>,
    since_ms: i64,
) -> Result<Vec<Incident>, ApiError> {
    let mut out = Vec::new();
    let mut before = None;
    for _ in 0..INCIDENT_CALLS {
        let page = app
            .store
            .list_incidents(project_id, None, INCIDENT_BATCH, before)
            .await?;
        let full = page.len() == INCIDENT_BATCH;
        before = page.last().map(|i| i.id);
        // Newest first: the pages after one that reaches back before the window hold only
        // incidents that began before it; those are left out even if they ended inside it.
        let mut older = false;
        for i in page {
            older |= i.opened_ms < since_ms;
            let overlaps = i.resolved_ms.is_none_or(|r| r >= since_ms);
            if overlaps && names.contains_key(&i.monitor_id) {
                out.push(i);
                if out.len() == MAX_INCIDENTS {
                    return Ok(out);
                }
            }
        }
        if older || !full {
            break;
        }
    }
    Ok(out)
}

/// One entry per day from `first_day_ms` to today, from the day rollups (in time order).
fn days(first_day_ms: i64, buckets: Vec<UptimeBucket>) -> Vec<DayJson> {
    let mut by_day: HashMap<i64, UptimeBucket> = buckets.into_iter().map(|b| (b.bucket_ms, b)).collect();
    (0..DAYS)
        .map(|d| {
            let start = first_day_ms + d * DAY_MS;
            let b = by_day.remove(&start).unwrap_or_default();
            DayJson {
                date: day_text(start),
                checks: b.checks,
                failures: b.failures,
                uptime: percent_of(b.checks, b.failures).map(|p| (p * 1000.0).round() / 1000.0),
            }
        })
        .collect()
}

fn day_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// `resp`, which caches may keep for [`CACHE_CONTROL`].
pub fn cacheable(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(CACHE_CONTROL),
    );
    resp
}

/// `GET /api/0/status/{org}/{project}/`.
pub async fn json(
    State(app): State<AppState>,
    Path((org, project)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let status = load(&app, &org, &project).await?;
    Ok(cacheable(Json(status).into_response()))
}
