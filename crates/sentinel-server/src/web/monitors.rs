//! The uptime pages: a project's monitors (status, a 24-hour sparkline, 24-hour uptime, the form
//! to add one, links to the incidents and maintenance pages) and one monitor (uptime over 24 hours
//! to 90 days, a response-time chart, its newest checks, incidents; pause, resume, delete). They
//! read and write through the same functions as the API.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sentinel_store::{HOUR_MS, Monitor, OrgRole, Resolution, UptimeBucket};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::charts::{self, ChartSpec};
use super::layout::{self, Layout};
use super::project::org_project;
use super::{SignedIn, WebError, render, see_other};
use crate::AppState;
use crate::api::ApiError;
use crate::clock::rfc3339;
use crate::uptime::api::{self as uptime_api, IncidentJson, UptimeJson, shown_status, shown_status_now};
use crate::uptime::series;
use crate::uptime::spec::Check;
use crate::uptime::verifier::duration_text;

const PAGE: usize = 50;
/// Checks shown on a monitor's page.
const CHECKS_SHOWN: usize = 30;
/// Hours in a sparkline.
const SPARK_HOURS: usize = 24;
/// One monitor as the pages show it.
pub struct MonitorLine {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub target: String,
    pub status: &'static str,
    pub since: String,
    pub interval: String,
    pub uptime_24h: String,
    pub avg_ms: String,
    pub last_check: String,
    pub public: bool,
    /// The last 24 hours as an inline SVG (list page only; empty elsewhere).
    pub sparkline: String,
}

fn percent(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(p) => {
            let s = format!("{p:.3}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            format!("{s} %")
        }
    }
}

impl MonitorLine {
    fn new(m: &Monitor, u: &UptimeJson) -> Self {
        MonitorLine {
            id: m.id,
            name: m.name.clone(),
            kind: m.kind.as_str(),
            target: Check::from_config(m.kind, &m.config)
                .map(|c| c.target())
                .unwrap_or_default(),
            status: shown_status(m),
            since: rfc3339(m.status_since_ms),
            interval: duration_text(m.interval_ms),
            uptime_24h: percent(u.day),
            avg_ms: u
                .avg_response_ms_24h
                .map(|v| format!("{v} ms"))
                .unwrap_or_else(|| "—".into()),
            last_check: m.last_check_ms.map(rfc3339).unwrap_or_default(),
            public: m.public,
            sparkline: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "monitors.html")]
struct MonitorsPage {
    layout: Layout,
    monitors: Vec<MonitorLine>,
    incidents_url: String,
    maintenance_url: String,
    /// The public status page, when a monitor of this page is on it.
    status_url: Option<String>,
    next_url: Option<String>,
    first_url: Option<String>,
    error: Option<String>,
    form: HashMap<String, String>,
}

impl MonitorsPage {
    fn value(&self, name: &str) -> &str {
        self.form.get(name).map(String::as_str).unwrap_or_default()
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    cursor: Option<String>,
}

async fn list_page(
    app: &AppState,
    s: &SignedIn,
    org: &str,
    project: &str,
    cursor: Option<&str>,
    error: Option<String>,
    form: HashMap<String, String>,
) -> Result<MonitorsPage, WebError> {
    let (org, role, project) = org_project(app, s, org, project, OrgRole::Member).await?;
    let after = crate::issues::id_cursor(cursor)?;
    let mut monitors = app.store.list_monitors(project.id, PAGE + 1, after).await?;
    let more = monitors.len() > PAGE;
    monitors.truncate(PAGE);
    let ids: Vec<i64> = monitors.iter().map(|m| m.id).collect();
    let uptime = uptime_api::uptime_of(app, &ids, &[1]).await?;
    // The sparklines' hours end with the current one, like the 24-hour uptime figure.
    let now = app.clock.now_ms();
    let until = now - now.rem_euclid(HOUR_MS) + HOUR_MS;
    let since = until - SPARK_HOURS as i64 * HOUR_MS;
    let mut hourly: HashMap<i64, Vec<UptimeBucket>> = HashMap::new();
    if !ids.is_empty() {
        for (id, b) in app
            .store
            .uptime_buckets(&ids, Resolution::Hour, since, until)
            .await?
        {
            hourly.entry(id).or_default().push(b);
        }
    }
    let prefix = &app.settings.path_prefix;
    let base = format!("{prefix}/orgs/{}/projects/{}/monitors/", org.slug, project.slug);
    let mut lines = Vec::with_capacity(monitors.len());
    let windows = app.store.list_maintenance(project.id).await?;
    let now = app.clock.now_ms();
    for m in &monitors {
        let mut line = MonitorLine::new(m, uptime.get(&m.id).unwrap_or(&UptimeJson::default()));
        line.status = shown_status_now(m, &windows, now);
        let buckets = hourly.remove(&m.id).unwrap_or_default();
        line.sparkline = charts::sparkline(since, HOUR_MS, SPARK_HOURS, &buckets)?;
        lines.push(line);
    }
    Ok(MonitorsPage {
        layout: layout::in_org(app, s, &org, role, Some(&project), "Monitors", "monitors").await?,
        status_url: monitors
            .iter()
            .any(|m| m.public)
            .then(|| format!("{prefix}/status/{}/{}/", org.slug, project.slug)),
        incidents_url: format!("{base}incidents/"),
        maintenance_url: format!("{base}maintenance/"),
        monitors: lines,
        next_url: more
            .then(|| ids.last().map(|id| format!("{base}?cursor={id}")))
            .flatten(),
        first_url: after.map(|_| base),
        error,
        form,
    })
}

pub async fn list(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    render(
        &list_page(
            &app,
            &s,
            &org,
            &project,
            p.cursor.as_deref(),
            None,
            HashMap::new(),
        )
        .await?,
    )
}

/// The add-monitor form's fields as the API's body: empty fields left out, numbers as numbers.
fn form_body(form: &HashMap<String, String>) -> Map<String, Value> {
    let kind = form.get("type").map(String::as_str).unwrap_or("http");
    let fields: &[&str] = match kind {
        "tcp" => &["name", "type", "host", "port", "interval_seconds"],
        "dns" => &[
            "name",
            "type",
            "host",
            "record_type",
            "expected",
            "interval_seconds",
        ],
        "heartbeat" => &[
            "name",
            "type",
            "schedule",
            "timezone",
            "grace_seconds",
            "interval_seconds",
        ],
        _ => &["name", "type", "url", "keyword", "interval_seconds"],
    };
    let mut body = Map::new();
    for f in fields {
        let Some(v) = form.get(*f).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
            continue;
        };
        let value = match *f {
            "port" | "interval_seconds" | "grace_seconds" => v
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(v.to_owned())),
            _ => Value::String(v.to_owned()),
        };
        body.insert((*f).to_owned(), value);
    }
    body
}

pub async fn create(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let (o, _, p) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    match uptime_api::create_monitor(&app, p.id, &form_body(&form)).await {
        Ok(m) => Ok(see_other(
            &headers,
            &format!("{}/orgs/{}/monitors/{}/", app.settings.path_prefix, o.slug, m.id),
        )),
        Err(ApiError::BadRequest(message)) => {
            let page = list_page(&app, &s, &org, &project, None, Some(message), form).await?;
            Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub struct CheckLine {
    pub at: String,
    pub ok: bool,
    pub latency_ms: i64,
    pub status_code: String,
    pub error: String,
    pub region: String,
}

pub struct IncidentLine {
    pub open: bool,
    pub opened: String,
    pub resolved: String,
    pub duration: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "monitor.html")]
struct MonitorPage {
    layout: Layout,
    monitor: MonitorLine,
    enabled: bool,
    uptime: [(&'static str, String); 4],
    checks: Vec<CheckLine>,
    incidents: Vec<IncidentLine>,
    /// Mean response time over the last 24 hours, an inline SVG.
    chart: String,
    /// Markdown for a README badge, when the monitor is public.
    badge_markdown: Option<String>,
    /// Where a heartbeat or cron monitor checks in.
    ping_url: Option<String>,
    action_url: String,
    list_url: String,
}

/// The monitor `id` of organization `org`, if the caller is a member (404 otherwise).
async fn monitor_in_org(
    app: &AppState,
    s: &SignedIn,
    org: &str,
    id: &str,
) -> Result<
    (
        Monitor,
        sentinel_store::Project,
        sentinel_store::Organization,
        OrgRole,
    ),
    WebError,
> {
    let (monitor, project) = uptime_api::load(app, &s.principal, id, OrgRole::Member).await?;
    let (org, role) = crate::auth::access::organization(app, &s.principal, org, OrgRole::Member).await?;
    if project.org_id != org.id {
        return Err(ApiError::NotFound(format!("monitor {id} not found")).into());
    }
    Ok((monitor, project, org, role))
}

pub async fn detail(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (monitor, project, org, role) = monitor_in_org(&app, &s, &org, &id).await?;
    let mut uptime = uptime_api::uptime_of(&app, &[monitor.id], &[1, 7, 30, 90]).await?;
    let u = uptime.remove(&monitor.id).unwrap_or_default();
    let checks = app
        .store
        .list_check_results(monitor.id, CHECKS_SHOWN, None)
        .await?
        .into_iter()
        .map(|r| CheckLine {
            at: rfc3339(r.started_ms),
            ok: r.ok,
            latency_ms: r.latency_ms,
            status_code: r.status_code.map(|c| c.to_string()).unwrap_or_default(),
            error: r.error.unwrap_or_default(),
            region: r.region,
        })
        .collect();
    let now = app.clock.now_ms();
    let incidents = app
        .store
        .list_incidents(project.id, Some(monitor.id), 20, None)
        .await?
        .into_iter()
        .map(|i| {
            let json = IncidentJson::new(i, now);
            IncidentLine {
                open: json.resolved.is_none(),
                duration: duration_text(json.duration_seconds * 1000),
                error: json.evidence["error"].as_str().unwrap_or_default().to_owned(),
                opened: json.opened,
                resolved: json.resolved.unwrap_or_default(),
            }
        })
        .collect();
    let prefix = &app.settings.path_prefix;
    let badge_markdown = monitor.public.then(|| {
        let name = monitor.name.replace(['[', ']'], "");
        let url = format!(
            "{}/api/0/monitors/{}/badge.svg",
            app.settings.public_base_url(),
            monitor.id
        );
        format!("![{name} status]({url})\n![{name} uptime]({url}?type=uptime&period=30d)")
    });
    // A heartbeat or cron monitor's ping URL, with the project's first active key.
    // (A checked monitor applied from a file has a slug too, but nothing pings it.)
    let ping_url = match monitor.slug.as_ref().filter(|_| !monitor.kind.is_active()) {
        Some(slug) => app
            .store
            .project_keys(project.id)
            .await?
            .into_iter()
            .find(|k| k.active)
            .map(|k| {
                format!(
                    "{}/api/0/cron/{slug}/{}/",
                    app.settings.public_base_url(),
                    k.public_key
                )
            }),
        None => None,
    };
    render(&MonitorPage {
        ping_url,
        chart: latency_chart(&app, &monitor).await?,
        badge_markdown,
        layout: layout::in_org(&app, &s, &org, role, Some(&project), &monitor.name, "monitors").await?,
        enabled: monitor.enabled,
        uptime: [
            ("24 hours", percent(u.day)),
            ("7 days", percent(u.week)),
            ("30 days", percent(u.month)),
            ("90 days", percent(u.quarter)),
        ],
        monitor: MonitorLine {
            status: shown_status_now(
                &monitor,
                &app.store.list_maintenance(project.id).await?,
                app.clock.now_ms(),
            ),
            ..MonitorLine::new(&monitor, &u)
        },
        checks,
        incidents,
        action_url: format!("{prefix}/orgs/{}/monitors/{}/action", org.slug, monitor.id),
        list_url: format!("{prefix}/orgs/{}/projects/{}/monitors/", org.slug, project.slug),
    })
}

/// The monitor's response times over the last 24 hours: mean, p50 and p95 per point (five
/// minutes for monitors checked at least that often, an hour for the others). Points further
/// apart than two checks (or two points) are not joined.
async fn latency_chart(app: &AppState, m: &Monitor) -> Result<String, WebError> {
    let s = series::last_day(app.store.as_ref(), m, app.clock.now_ms()).await?;
    let rows: Vec<(i64, Vec<Option<f64>>)> = s
        .points
        .iter()
        .map(|p| {
            (
                p.bucket.bucket_ms,
                vec![
                    p.mean_ms(),
                    p.p50_ms().map(|v| v as f64),
                    p.p95_ms().map(|v| v as f64),
                ],
            )
        })
        .collect();
    let spec = ChartSpec {
        title: "Response time, last 24 hours",
        unit: "ms",
        since_ms: s.since_ms,
        until_ms: s.until_ms,
        bucket_ms: s.step_ms,
        max_gap_ms: 2 * s.step_ms.max(m.interval_ms),
        series: &["mean", "p50", "p95"],
    };
    Ok(charts::line_chart(&spec, &rows)?)
}

#[derive(Deserialize)]
pub struct ActionForm {
    action: String,
}

/// Pause, resume or delete.
pub async fn action(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, WebError> {
    let (monitor, project, org, _) = monitor_in_org(&app, &s, &org, &id).await?;
    let prefix = &app.settings.path_prefix;
    let now = app.clock.now_ms();
    let enabled = match form.action.as_str() {
        "pause" => false,
        "resume" => true,
        "delete" => {
            app.store.delete_monitor(monitor.id).await?;
            tracing::info!(monitor.id = monitor.id, "monitor deleted");
            return Ok(see_other(
                &headers,
                &format!("{prefix}/orgs/{}/projects/{}/monitors/", org.slug, project.slug),
            ));
        }
        other => return Err(ApiError::BadRequest(format!("unknown action {other:?}")).into()),
    };
    let mut body = Map::new();
    body.insert("enabled".into(), Value::Bool(enabled));
    let new = uptime_api::parse_monitor(monitor.project_id, &body, Some(&monitor), now)?;
    app.store.update_monitor(monitor.id, &new, now).await?;
    Ok(see_other(
        &headers,
        &format!("{prefix}/orgs/{}/monitors/{}/", org.slug, monitor.id),
    ))
}
