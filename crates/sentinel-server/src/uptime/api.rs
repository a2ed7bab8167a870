//! The JSON API of uptime monitors: a project's members read them and manage them (tokens need
//! the `write` scope to change anything); a monitor of an organization the caller does not belong
//! to answers 404.
//!
//! - `GET|POST /api/0/projects/{id}/monitors/`
//! - `GET|PUT|DELETE /api/0/monitors/{id}/`
//! - `GET /api/0/monitors/{id}/incidents/`, `GET /api/0/projects/{id}/incidents/`
//! - `GET /api/0/monitors/{id}/checks/`
//!
//! A monitor is written flat, as in `{"name": "API", "type": "http", "url": "https://…",
//! "interval_seconds": 30}`: the common settings and the check's own fields side by side.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use sentinel_store::{
    CheckResult, DAY_MS, HOUR_MS, Incident, Monitor, MonitorKind, NewMonitor, OrgRole, Project, Resolution,
    TokenScope, UptimeBucket,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::AppState;
use crate::api::input::{self, JsonBody};
use crate::api::{ApiError, Caller};
use crate::auth::{Principal, access};
use crate::clock::rfc3339;
use crate::issues::{PageJson, PageParams, Pagination, id_cursor, limit};
use crate::uptime::cron;
use crate::uptime::spec::{
    self, CHECK_KINDS, Check, DEFAULT_FAILURE_THRESHOLD, DEFAULT_INTERVAL_SECS, DEFAULT_RECOVERY_THRESHOLD,
    DEFAULT_TIMEOUT_SECS, MAX_INTERVAL_SECS, MAX_THRESHOLD, MAX_TIMEOUT_SECS, MIN_INTERVAL_SECS,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/0/projects/{project_id}/monitors/",
            get(project_list).post(create),
        )
        .route(
            "/api/0/monitors/{monitor_id}/",
            get(detail).put(update).delete(remove),
        )
        .route("/api/0/monitors/{monitor_id}/incidents/", get(monitor_incidents))
        .route("/api/0/projects/{project_id}/incidents/", get(project_incidents))
        .route("/api/0/monitors/{monitor_id}/checks/", get(checks))
        .route(
            "/api/0/monitors/{monitor_id}/response-times/",
            get(response_times),
        )
        .route("/api/0/monitors/{monitor_id}/badge.svg", get(super::badge::badge))
        .route(
            "/api/0/status/{org_slug}/{project_slug}/",
            get(super::status::json),
        )
}

/// The settings every monitor has; the rest of a request's fields belong to its check.
const COMMON_FIELDS: &[&str] = &[
    "name",
    "type",
    "interval_seconds",
    "timeout_seconds",
    "failure_threshold",
    "recovery_threshold",
    "enabled",
    "public",
    "regions",
    "region_quorum",
];

/// The most regions a monitor is checked from.
pub const MAX_REGIONS: usize = 16;

/// Uptime over the windows the dashboard shows, in percent of checks that passed (`null` when
/// there were no checks).
#[derive(Debug, Default, Serialize)]
pub struct UptimeJson {
    #[serde(rename = "24h")]
    pub day: Option<f64>,
    #[serde(rename = "7d")]
    pub week: Option<f64>,
    #[serde(rename = "30d")]
    pub month: Option<f64>,
    #[serde(rename = "90d")]
    pub quarter: Option<f64>,
    /// Mean response time over the last 24 hours, milliseconds.
    pub avg_response_ms_24h: Option<i64>,
    /// Median and 95th percentile of the successful checks' response times over the last 24
    /// hours (one monitor's detail only), milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_response_ms_24h: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_response_ms_24h: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct MonitorJson {
    pub id: String,
    pub project_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: MonitorKind,
    /// `pending`, `up`, `down` or `paused`.
    pub status: &'static str,
    pub status_since: String,
    pub interval_seconds: i64,
    pub timeout_seconds: i64,
    pub failure_threshold: u32,
    pub recovery_threshold: u32,
    pub enabled: bool,
    pub public: bool,
    /// The checker regions each slot is checked from (empty: any one checker).
    pub regions: Vec<String>,
    /// How many regions must fail a slot for it to count (0: a majority).
    pub region_quorum: u32,
    pub last_check: Option<String>,
    pub next_check: Option<String>,
    pub uptime: UptimeJson,
    pub created: String,
    pub updated: String,
    /// A heartbeat or cron monitor's name in check-ins; any monitor's identity in a monitors file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// The check's own fields (`url`, `method`, … or `host`, `port`).
    #[serde(flatten)]
    pub check: Map<String, Value>,
}

/// The status shown: paused monitors say so whatever they were.
pub fn shown_status(m: &Monitor) -> &'static str {
    if m.enabled { m.status.as_str() } else { "paused" }
}

/// The status shown now, when `windows` are the project's maintenance windows: `maintenance`
/// while one covers the (enabled) monitor.
pub fn shown_status_now(
    m: &Monitor,
    windows: &[sentinel_store::MaintenanceWindow],
    now_ms: i64,
) -> &'static str {
    if m.enabled && crate::uptime::maintenance::in_maintenance(windows, m.id, now_ms) {
        "maintenance"
    } else {
        shown_status(m)
    }
}

impl MonitorJson {
    pub fn new(m: Monitor, uptime: UptimeJson) -> Self {
        MonitorJson {
            id: m.id.to_string(),
            project_id: m.project_id.to_string(),
            status: shown_status(&m),
            status_since: rfc3339(m.status_since_ms),
            interval_seconds: m.interval_ms / 1000,
            timeout_seconds: m.timeout_ms / 1000,
            failure_threshold: m.failure_threshold,
            recovery_threshold: m.recovery_threshold,
            enabled: m.enabled,
            public: m.public,
            region_quorum: m.region_quorum,
            last_check: m.last_check_ms.map(rfc3339),
            next_check: m.enabled.then(|| rfc3339(m.next_check_ms)),
            uptime,
            created: rfc3339(m.created_ms),
            updated: rfc3339(m.updated_ms),
            check: m.config.as_object().cloned().unwrap_or_default(),
            regions: m.regions,
            slug: m.slug,
            name: m.name,
            kind: m.kind,
        }
    }
}

fn percent(checks: u64, failures: u64) -> Option<f64> {
    (checks > 0).then(|| {
        let p = (checks - failures.min(checks)) as f64 * 100.0 / checks as f64;
        (p * 1000.0).round() / 1000.0
    })
}

/// Uptime figures of these monitors from the hourly rollups: the windows end with the current
/// hour, so "24h" covers the last 24 whole hours plus this one so far.
pub async fn uptime_of(
    app: &AppState,
    ids: &[i64],
    windows_days: &[i64],
) -> Result<HashMap<i64, UptimeJson>, ApiError> {
    let now = app.clock.now_ms();
    let until = now - now.rem_euclid(HOUR_MS) + HOUR_MS;
    let longest = windows_days.iter().copied().max().unwrap_or(1);
    let buckets = app
        .store
        .uptime_buckets(ids, Resolution::Hour, until - longest * DAY_MS, until)
        .await?;
    let mut by: HashMap<i64, Vec<UptimeBucket>> = HashMap::new();
    for (id, b) in buckets {
        by.entry(id).or_default().push(b);
    }
    let mut out = HashMap::new();
    for id in ids {
        let list = by.remove(id).unwrap_or_default();
        let window = |days: i64| {
            let since = until - days * DAY_MS;
            list.iter()
                .filter(|b| b.bucket_ms >= since)
                .fold((0u64, 0u64, 0i64), |(c, f, l), b| {
                    (c + b.checks, f + b.failures, l + b.latency_sum_ms)
                })
        };
        let pick = |days: i64| windows_days.contains(&days).then(|| window(days));
        let day = window(1);
        out.insert(
            *id,
            UptimeJson {
                day: percent(day.0, day.1),
                week: pick(7).and_then(|w| percent(w.0, w.1)),
                month: pick(30).and_then(|w| percent(w.0, w.1)),
                quarter: pick(90).and_then(|w| percent(w.0, w.1)),
                avg_response_ms_24h: (day.0 > 0).then(|| day.2 / day.0 as i64),
                ..UptimeJson::default()
            },
        );
    }
    Ok(out)
}

/// A monitor from a request body: the common settings (defaults for those absent, or the
/// current monitor's on update) and the check of its type.
pub fn parse_monitor(
    project_id: i64,
    body: &Map<String, Value>,
    current: Option<&Monitor>,
    now_ms: i64,
) -> Result<NewMonitor, ApiError> {
    let bad = |m: String| ApiError::BadRequest(m);
    let kind_raw = match (body.get("type"), current) {
        (Some(Value::String(t)), _) => t.trim().to_ascii_lowercase(),
        (Some(other), _) => return Err(bad(format!("type must be a string, not {other}"))),
        (None, Some(m)) => m.kind.as_str().to_owned(),
        (None, None) => {
            return Err(bad(format!(
                "type is required: one of {}",
                CHECK_KINDS.join(", ")
            )));
        }
    };
    // Cron monitors come from SDK check-ins; the API changes them but does not create them.
    if !CHECK_KINDS.contains(&kind_raw.as_str()) && current.is_none_or(|m| m.kind.as_str() != kind_raw) {
        return Err(bad(format!(
            "invalid type {kind_raw:?}: expected one of {}",
            CHECK_KINDS.join(", ")
        )));
    }
    if let Some(m) = current
        && m.kind.as_str() != kind_raw
    {
        return Err(bad(format!(
            "type cannot change (it is {}): create a new monitor instead",
            m.kind.as_str()
        )));
    }
    let allowed = spec::check_fields(&kind_raw);
    let mut check_fields = Map::new();
    for (k, v) in body {
        if COMMON_FIELDS.contains(&k.as_str()) {
            continue;
        }
        if !allowed.contains(&k.as_str()) {
            return Err(bad(format!(
                "unknown field {k}: a {kind_raw} monitor takes {}, {}",
                COMMON_FIELDS.join(", "),
                allowed.join(", ")
            )));
        }
        check_fields.insert(k.clone(), v.clone());
    }
    // On update, fields not given keep their values.
    if let Some(m) = current
        && let Some(old) = m.config.as_object()
    {
        for (k, v) in old {
            check_fields.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let passive = matches!(kind_raw.as_str(), "heartbeat" | "cron");
    let slug = check_fields.remove("slug");
    let check = if passive {
        // Its period when it has no crontab (validated with the other settings below).
        let period = body
            .get("interval_seconds")
            .and_then(Value::as_u64)
            .or(current.map(|m| (m.interval_ms / 1000) as u64))
            .unwrap_or(DEFAULT_INTERVAL_SECS);
        let heartbeat = cron::parse_heartbeat(&check_fields, period).map_err(bad)?;
        if kind_raw == "cron" {
            Check::Cron(heartbeat)
        } else {
            Check::Heartbeat(heartbeat)
        }
    } else {
        spec::parse_check(&kind_raw, &check_fields).map_err(bad)?
    };
    let name = match (body.get("name"), current) {
        (Some(Value::String(n)), _) => input::name("name", n)?,
        (Some(other), _) => return Err(bad(format!("name must be a string, not {other}"))),
        (None, Some(m)) => m.name.clone(),
        // Named after what it checks unless told otherwise.
        (None, None) => check.target().chars().take(100).collect(),
    };
    let whole =
        |field: &str, min: u64, max: u64, current: Option<u64>, default: u64| -> Result<u64, ApiError> {
            match body.get(field) {
                None | Some(Value::Null) => Ok(current.unwrap_or(default)),
                Some(v) => v.as_u64().filter(|n| (min..=max).contains(n)).ok_or_else(|| {
                    bad(format!(
                        "{field} must be a whole number from {min} to {max}, not {v}"
                    ))
                }),
            }
        };
    let flag = |field: &str, current: Option<bool>, default: bool| -> Result<bool, ApiError> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(current.unwrap_or(default)),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(bad(format!("{field} must be true or false, not {v}"))),
        }
    };
    let interval = whole(
        "interval_seconds",
        MIN_INTERVAL_SECS,
        MAX_INTERVAL_SECS,
        current.map(|m| (m.interval_ms / 1000) as u64),
        DEFAULT_INTERVAL_SECS,
    )?;
    let timeout = whole(
        "timeout_seconds",
        1,
        MAX_TIMEOUT_SECS,
        current.map(|m| (m.timeout_ms / 1000) as u64),
        DEFAULT_TIMEOUT_SECS.min(interval),
    )?;
    if timeout > interval {
        return Err(bad(format!(
            "timeout_seconds ({timeout}) must not be longer than interval_seconds ({interval})"
        )));
    }
    // One missed or failed run is an outage, one on-time run ends it (Sentry's defaults).
    let (default_failures, default_recoveries) = if passive {
        (1, 1)
    } else {
        (DEFAULT_FAILURE_THRESHOLD, DEFAULT_RECOVERY_THRESHOLD)
    };
    let failure_threshold = whole(
        "failure_threshold",
        1,
        u64::from(MAX_THRESHOLD),
        current.map(|m| u64::from(m.failure_threshold)),
        u64::from(default_failures),
    )? as u32;
    let recovery_threshold = whole(
        "recovery_threshold",
        1,
        u64::from(MAX_THRESHOLD),
        current.map(|m| u64::from(m.recovery_threshold)),
        u64::from(default_recoveries),
    )? as u32;
    let enabled = flag("enabled", current.map(|m| m.enabled), true)?;
    let (regions, region_quorum) = parse_regions(body, current, passive)?;
    let config = check.to_config();
    let (interval_ms, timeout_ms, next_check_ms, slug) = match &check {
        Check::Heartbeat(c) | Check::Cron(c) => {
            let slug = match (slug, current) {
                (Some(Value::String(s)), _) => s,
                (Some(other), _) => return Err(bad(format!("slug must be a string, not {other}"))),
                (None, Some(m)) => m.slug.clone().unwrap_or_default(),
                (None, None) => sentinel_store::slugify(&name),
            };
            let slug = cron::parse_slug(&slug).map_err(bad)?;
            if let Some(old) = current.and_then(|m| m.slug.as_deref())
                && old != slug
            {
                return Err(bad(format!(
                    "slug cannot change (it is {old}): check-ins and ping URLs name it"
                )));
            }
            (
                c.period_ms(now_ms),
                c.max_runtime_seconds as i64 * 1000,
                c.first_deadline(now_ms),
                Some(slug),
            )
        }
        _ => {
            let interval_ms = interval as i64 * 1000;
            let first = crate::uptime::first_slot(now_ms, interval_ms);
            (interval_ms, timeout as i64 * 1000, first, None)
        }
    };
    let mut new = NewMonitor {
        project_id,
        name,
        kind: check.kind(),
        slug,
        config,
        interval_ms,
        timeout_ms,
        failure_threshold,
        recovery_threshold,
        enabled,
        public: flag("public", current.map(|m| m.public), false)?,
        regions,
        region_quorum,
        next_check_ms,
    };
    if let Some(m) = current
        && keeps_schedule(m, &new)
    {
        new.next_check_ms = m.next_check_ms;
    }
    Ok(new)
}

/// Whether changing `current` to `new` keeps its next check: a checked monitor keeps its slot
/// grid unless its interval changed, a heartbeat or cron monitor its deadline unless its schedule
/// changed, and neither when it is paused or resumed.
pub fn keeps_schedule(current: &Monitor, new: &NewMonitor) -> bool {
    current.enabled == new.enabled
        && if new.kind.is_active() {
            current.interval_ms == new.interval_ms
        } else {
            current.config == new.config
        }
}

/// `regions` (distinct checker labels, as `--region` names them) and `region_quorum` (at most
/// their number; 0 for a majority). Check-in monitors have no checkers, hence no regions.
fn parse_regions(
    body: &Map<String, Value>,
    current: Option<&Monitor>,
    passive: bool,
) -> Result<(Vec<String>, u32), ApiError> {
    let bad = |m: String| ApiError::BadRequest(m);
    let regions = match body.get("regions") {
        None => current.map(|m| m.regions.clone()).unwrap_or_default(),
        Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => {
            let mut out: Vec<String> = Vec::with_capacity(list.len());
            for v in list {
                let label = v
                    .as_str()
                    .map(str::trim)
                    .filter(|l| crate::config::valid_region(l))
                    .ok_or_else(|| {
                        bad(format!(
                            "regions must be labels of 1 to 64 letters, digits, '-', '_' or '.', not {v}"
                        ))
                    })?;
                if out.iter().any(|o| o == label) {
                    return Err(bad(format!("region {label:?} is listed twice")));
                }
                out.push(label.to_owned());
            }
            if out.len() > MAX_REGIONS {
                return Err(bad(format!("at most {MAX_REGIONS} regions, not {}", out.len())));
            }
            out
        }
        Some(other) => {
            return Err(bad(format!(
                "regions must be a list of region labels, not {other}"
            )));
        }
    };
    if passive && !regions.is_empty() {
        return Err(bad(
            "regions apply to checked monitors (http, tcp, dns); check-ins come from anywhere".into(),
        ));
    }
    let quorum = match body.get("region_quorum") {
        None => current.map_or(0, |m| m.region_quorum),
        Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .filter(|&n| n as usize <= regions.len())
            .ok_or_else(|| {
                bad(format!(
                    "region_quorum must be a whole number from 0 (a majority) to the number of regions ({}), not {v}",
                    regions.len()
                ))
            })? as u32,
    };
    // A quorum left from a longer list of regions shrinks with it.
    let quorum = quorum.min(regions.len() as u32);
    Ok((regions, quorum))
}

/// The monitor with the id in `raw` and its project, if the caller may act on it with `min`.
pub async fn load(
    app: &AppState,
    who: &Principal,
    raw: &str,
    min: OrgRole,
) -> Result<(Monitor, Project), ApiError> {
    let id = access::path_id("monitor", raw)?;
    let missing = || ApiError::NotFound(format!("monitor {id} not found"));
    let monitor = app.store.get_monitor(id).await?.ok_or_else(missing)?;
    match access::project(app, who, &monitor.project_id.to_string(), min).await {
        Ok((project, _)) => Ok((monitor, project)),
        Err(ApiError::NotFound(_)) => Err(missing()),
        Err(e) => Err(e),
    }
}

async fn one(app: &AppState, monitor: Monitor) -> Result<Json<MonitorJson>, ApiError> {
    let mut uptime = uptime_of(app, &[monitor.id], &[1, 7, 30, 90]).await?;
    let mut u = uptime.remove(&monitor.id).unwrap_or_default();
    let day = super::series::last_day(app.store.as_ref(), &monitor, app.clock.now_ms()).await?;
    u.p50_response_ms_24h = day.total.quantile(0.5);
    u.p95_response_ms_24h = day.total.quantile(0.95);
    let windows = app.store.list_maintenance(monitor.project_id).await?;
    let status = shown_status_now(&monitor, &windows, app.clock.now_ms());
    Ok(Json(MonitorJson {
        status,
        ..MonitorJson::new(monitor, u)
    }))
}

/// `GET /api/0/projects/{id}/monitors/`: by id, `limit` (≤ 100) per page, with 24-hour uptime.
pub async fn project_list(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Json<PageJson<MonitorJson>>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let limit = limit(p.limit.as_deref())?;
    let after = id_cursor(p.cursor.as_deref())?;
    let mut monitors = app.store.list_monitors(project.id, limit + 1, after).await?;
    let more = monitors.len() > limit;
    monitors.truncate(limit);
    let ids: Vec<i64> = monitors.iter().map(|m| m.id).collect();
    let mut uptime = uptime_of(&app, &ids, &[1]).await?;
    let next = more.then(|| monitors.last().map(|m| m.id.to_string())).flatten();
    let windows = app.store.list_maintenance(project.id).await?;
    let now = app.clock.now_ms();
    Ok(Json(PageJson {
        data: monitors
            .into_iter()
            .map(|m| {
                let u = uptime.remove(&m.id).unwrap_or_default();
                let status = shown_status_now(&m, &windows, now);
                MonitorJson {
                    status,
                    ..MonitorJson::new(m, u)
                }
            })
            .collect(),
        pagination: Pagination {
            has_more: next.is_some(),
            next_cursor: next,
        },
    }))
}

/// Creates a monitor of the project from a request body; shared with the dashboard.
pub async fn create_monitor(
    app: &AppState,
    project_id: i64,
    body: &Map<String, Value>,
) -> Result<Monitor, ApiError> {
    let now = app.clock.now_ms();
    let new = parse_monitor(project_id, body, None, now)?;
    if let Some(slug) = &new.slug
        && let Some(taken) = app.store.monitor_by_slug(project_id, slug).await?
    {
        return Err(ApiError::Conflict(format!(
            "slug {slug} is taken by monitor {} ({}): choose another slug",
            taken.id, taken.name
        )));
    }
    let monitor = app.store.create_monitor(&new, now).await?;
    tracing::info!(
        monitor.id = monitor.id,
        project.id = project_id,
        kind = monitor.kind.as_str(),
        "monitor created"
    );
    Ok(monitor)
}

pub async fn create(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<(StatusCode, Json<MonitorJson>), ApiError> {
    who.require_scope(TokenScope::Write)?;
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let monitor = create_monitor(&app, project.id, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(MonitorJson::new(monitor, UptimeJson::default())),
    ))
}

pub async fn detail(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(monitor): Path<String>,
) -> Result<Json<MonitorJson>, ApiError> {
    let (monitor, _) = load(&app, &who, &monitor, OrgRole::Member).await?;
    one(&app, monitor).await
}

pub async fn update(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(monitor): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<MonitorJson>, ApiError> {
    who.require_scope(TokenScope::Write)?;
    let (monitor, _) = load(&app, &who, &monitor, OrgRole::Member).await?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "nothing to change: the body has no fields".into(),
        ));
    }
    let now = app.clock.now_ms();
    let new = parse_monitor(monitor.project_id, &body, Some(&monitor), now)?;
    let updated = app.store.update_monitor(monitor.id, &new, now).await?;
    tracing::info!(monitor.id = monitor.id, "monitor updated");
    one(&app, updated).await
}

pub async fn remove(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(monitor): Path<String>,
) -> Result<StatusCode, ApiError> {
    who.require_scope(TokenScope::Write)?;
    let (monitor, _) = load(&app, &who, &monitor, OrgRole::Member).await?;
    app.store.delete_monitor(monitor.id).await?;
    tracing::info!(monitor.id = monitor.id, "monitor deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
pub struct IncidentJson {
    pub id: String,
    pub monitor_id: String,
    /// `open` or `resolved`.
    pub status: &'static str,
    pub opened: String,
    pub resolved: Option<String>,
    /// Seconds it lasted (so far, while open).
    pub duration_seconds: i64,
    /// The check that confirmed the outage: status code, error, body excerpt.
    pub evidence: Value,
}

impl IncidentJson {
    pub fn new(i: Incident, now_ms: i64) -> Self {
        IncidentJson {
            id: i.id.to_string(),
            monitor_id: i.monitor_id.to_string(),
            status: if i.resolved_ms.is_some() {
                "resolved"
            } else {
                "open"
            },
            opened: rfc3339(i.opened_ms),
            resolved: i.resolved_ms.map(rfc3339),
            duration_seconds: (i.resolved_ms.unwrap_or(now_ms) - i.opened_ms).max(0) / 1000,
            evidence: i.evidence,
        }
    }
}

async fn incidents_page(
    app: &AppState,
    project_id: i64,
    monitor_id: Option<i64>,
    p: &PageParams,
) -> Result<Json<PageJson<IncidentJson>>, ApiError> {
    let limit = limit(p.limit.as_deref())?;
    let before = id_cursor(p.cursor.as_deref())?;
    let mut list = app
        .store
        .list_incidents(project_id, monitor_id, limit + 1, before)
        .await?;
    let more = list.len() > limit;
    list.truncate(limit);
    let next = more.then(|| list.last().map(|i| i.id.to_string())).flatten();
    let now = app.clock.now_ms();
    Ok(Json(PageJson {
        data: list.into_iter().map(|i| IncidentJson::new(i, now)).collect(),
        pagination: Pagination {
            has_more: next.is_some(),
            next_cursor: next,
        },
    }))
}

/// `GET /api/0/monitors/{id}/incidents/`: newest first.
pub async fn monitor_incidents(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(monitor): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Json<PageJson<IncidentJson>>, ApiError> {
    let (monitor, _) = load(&app, &who, &monitor, OrgRole::Member).await?;
    incidents_page(&app, monitor.project_id, Some(monitor.id), &p).await
}

/// `GET /api/0/projects/{id}/incidents/`: every monitor's, newest first.
pub async fn project_incidents(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Json<PageJson<IncidentJson>>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    incidents_page(&app, project.id, None, &p).await
}

#[derive(Debug, Serialize)]
pub struct CheckJson {
    pub slot: String,
    pub started: String,
    pub region: String,
    pub ok: bool,
    pub latency_ms: i64,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// Phase timings (`dns_ms`, `connect_ms`, `tls_ms`, `first_byte_ms`) and evidence.
    pub details: Value,
}

impl From<CheckResult> for CheckJson {
    fn from(r: CheckResult) -> Self {
        CheckJson {
            slot: rfc3339(r.slot_ms),
            started: rfc3339(r.started_ms),
            region: r.region,
            ok: r.ok,
            latency_ms: r.latency_ms,
            status_code: r.status_code,
            error: r.error,
            details: r.details,
        }
    }
}

/// `GET /api/0/monitors/{id}/checks/`: the newest results, `limit` (≤ 100).
pub async fn checks(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(monitor): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Json<Vec<CheckJson>>, ApiError> {
    let (monitor, _) = load(&app, &who, &monitor, OrgRole::Member).await?;
    let limit = limit(p.limit.as_deref())?;
    let list = app.store.list_check_results(monitor.id, limit, None).await?;
    Ok(Json(list.into_iter().map(CheckJson::from).collect()))
}

/// One point of `GET /api/0/monitors/{id}/response-times/`.
#[derive(Debug, Serialize)]
pub struct ResponsePointJson {
    pub time: String,
    pub checks: u64,
    pub failures: u64,
    /// Mean of all checks, failures included.
    pub mean_ms: Option<i64>,
    /// Percentiles of the successful checks.
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct ResponseTimesJson {
    pub since: String,
    pub until: String,
    pub step_seconds: i64,
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
    /// Points with checks only, oldest first.
    pub points: Vec<ResponsePointJson>,
}

/// `GET /api/0/monitors/{id}/response-times/`: the last 24 hours in five-minute points (hourly
/// for monitors checked less often), from the rollups.
pub async fn response_times(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(monitor): Path<String>,
) -> Result<Json<ResponseTimesJson>, ApiError> {
    let (monitor, _) = load(&app, &who, &monitor, OrgRole::Member).await?;
    let s = super::series::last_day(app.store.as_ref(), &monitor, app.clock.now_ms()).await?;
    Ok(Json(ResponseTimesJson {
        since: rfc3339(s.since_ms),
        until: rfc3339(s.until_ms),
        step_seconds: s.step_ms / 1000,
        p50_ms: s.total.quantile(0.5),
        p95_ms: s.total.quantile(0.95),
        points: s
            .points
            .iter()
            .map(|p| ResponsePointJson {
                time: rfc3339(p.bucket.bucket_ms),
                checks: p.bucket.checks,
                failures: p.bucket.failures,
                mean_ms: p.mean_ms().map(|v| v.round() as i64),
                p50_ms: p.p50_ms(),
                p95_ms: p.p95_ms(),
            })
            .collect(),
    }))
}
