//! Maintenance windows: planned work during which a project's monitors (all, or those listed)
//! raise no alert. One-off windows cover `[starts_at, ends_at)`; recurring ones begin at the
//! times of a crontab in a time zone and last `duration_minutes`, between `starts_at` and
//! `ends_at` (if given).
//!
//! The verifier sets results judged inside a window aside: they change no status and notify
//! nobody, so planned downtime neither alarms nor ends as a "recovered" message, and a service
//! still down when the window closes is confirmed (and notified) as usual. A monitor inside a
//! window shows the status `maintenance`.

use std::str::FromStr;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use chrono::TimeZone;
use serde::Serialize;
use serde_json::{Map, Value};

use sentinel_store::{MaintenanceWindow, OrgRole, TokenScope};

use crate::AppState;
use crate::api::input::JsonBody;
use crate::api::{ApiError, Caller};
use crate::auth::access;
use crate::clock::rfc3339;

/// Longest occurrence of a recurring window: a week.
const MAX_DURATION_MINUTES: u64 = 7 * 24 * 60;

/// Whether `w` covers monitor `monitor_id` at `at_ms`.
pub fn covers(w: &MaintenanceWindow, monitor_id: i64, at_ms: i64) -> bool {
    if !(w.monitor_ids.is_empty() || w.monitor_ids.contains(&monitor_id)) {
        return false;
    }
    if at_ms < w.starts_ms || at_ms >= w.ends_ms {
        return false;
    }
    let Some(schedule) = &w.schedule else {
        return true;
    };
    // The latest occurrence that began at or before `at_ms`: is it still on?
    let (Ok(cron), Ok(tz)) = (
        croner::Cron::from_str(schedule),
        w.timezone.parse::<chrono_tz::Tz>(),
    ) else {
        return false;
    };
    let Some(at) = tz.timestamp_millis_opt(at_ms).single() else {
        return false;
    };
    cron.find_previous_occurrence(&at, true)
        .map(|began| at_ms < began.timestamp_millis() + w.duration_ms)
        .unwrap_or(false)
}

/// When the window's next occurrence begins at or after `after_ms`: the start of a one-off window
/// that has not begun, the next crontab time of a recurring one (before its end). `None` when no
/// occurrence is left.
pub fn next_start(w: &MaintenanceWindow, after_ms: i64) -> Option<i64> {
    let from = after_ms.max(w.starts_ms);
    let next = match &w.schedule {
        None => (w.starts_ms >= after_ms).then_some(w.starts_ms)?,
        Some(schedule) => {
            let cron = croner::Cron::from_str(schedule).ok()?;
            let tz = w.timezone.parse::<chrono_tz::Tz>().ok()?;
            // croner searches whole seconds: round up, or 01:00:00.001 would find 01:00:00.
            let from = from + (1000 - from.rem_euclid(1000)) % 1000;
            let from = tz.timestamp_millis_opt(from).single()?;
            cron.find_next_occurrence(&from, true).ok()?.timestamp_millis()
        }
    };
    (next < w.ends_ms).then_some(next)
}

/// Whether any of `windows` covers the monitor at `at_ms`.
pub fn in_maintenance(windows: &[MaintenanceWindow], monitor_id: i64, at_ms: i64) -> bool {
    windows.iter().any(|w| covers(w, monitor_id, at_ms))
}

/// A window as the API writes it.
#[derive(Debug, Serialize)]
pub struct WindowJson {
    pub id: String,
    pub project_id: String,
    pub name: String,
    /// Empty: every monitor of the project.
    pub monitor_ids: Vec<String>,
    pub starts_at: String,
    pub ends_at: Option<String>,
    pub schedule: Option<String>,
    pub duration_minutes: Option<i64>,
    pub timezone: String,
    /// Whether it is on now (for every monitor it covers).
    pub active: bool,
    pub created: String,
}

impl WindowJson {
    pub fn new(w: MaintenanceWindow, now_ms: i64) -> Self {
        // Any monitor it covers will do: all are covered at the same times.
        let active = covers(&w, w.monitor_ids.first().copied().unwrap_or(0), now_ms);
        WindowJson {
            id: w.id.to_string(),
            project_id: w.project_id.to_string(),
            monitor_ids: w.monitor_ids.iter().map(i64::to_string).collect(),
            starts_at: rfc3339(w.starts_ms),
            ends_at: (w.ends_ms != i64::MAX).then(|| rfc3339(w.ends_ms)),
            duration_minutes: w.schedule.as_ref().map(|_| w.duration_ms / 60_000),
            schedule: w.schedule,
            timezone: w.timezone,
            active,
            created: rfc3339(w.created_ms),
            name: w.name,
        }
    }
}

fn time(body: &Map<String, Value>, field: &str) -> Result<Option<i64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|d| Some(d.timestamp_millis()))
            .map_err(|_| {
                ApiError::BadRequest(format!(
                    "{field} must be an RFC 3339 time (2026-12-01T02:00:00Z), not {s:?}"
                ))
            }),
        Some(other) => Err(ApiError::BadRequest(format!(
            "{field} must be an RFC 3339 time, not {other}"
        ))),
    }
}

/// A window from a request body, for project `project_id` whose monitors are `monitors`.
pub fn parse_window(
    project_id: i64,
    monitors: &[i64],
    body: &Map<String, Value>,
    now_ms: i64,
) -> Result<MaintenanceWindow, ApiError> {
    let bad = |m: String| ApiError::BadRequest(m);
    const FIELDS: &[&str] = &[
        "name",
        "monitor_ids",
        "starts_at",
        "ends_at",
        "schedule",
        "duration_minutes",
        "timezone",
    ];
    if let Some(k) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(bad(format!(
            "unknown field {k}: a maintenance window takes {}",
            FIELDS.join(", ")
        )));
    }
    let name = match body.get("name") {
        Some(Value::String(n)) => crate::api::input::name("name", n)?,
        None | Some(Value::Null) => "Maintenance".to_owned(),
        Some(other) => return Err(bad(format!("name must be a string, not {other}"))),
    };
    let monitor_ids = match body.get("monitor_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => {
            let mut ids = Vec::with_capacity(list.len());
            for v in list {
                let id = match v {
                    Value::String(s) => s.parse::<i64>().ok(),
                    Value::Number(n) => n.as_i64(),
                    _ => None,
                }
                .filter(|id| monitors.contains(id))
                .ok_or_else(|| bad(format!("monitor_ids: {v} is not a monitor of this project")))?;
                ids.push(id);
            }
            ids.sort_unstable();
            ids.dedup();
            ids
        }
        Some(other) => {
            return Err(bad(format!(
                "monitor_ids must be a list of monitor ids, not {other}"
            )));
        }
    };
    let timezone = match body.get("timezone") {
        None | Some(Value::Null) => "UTC".to_owned(),
        Some(Value::String(t)) if t.parse::<chrono_tz::Tz>().is_ok() => t.clone(),
        Some(other) => {
            return Err(bad(format!(
                "timezone {other} is not an IANA time zone (such as UTC or Europe/Berlin)"
            )));
        }
    };
    let starts = time(body, "starts_at")?;
    let ends = time(body, "ends_at")?;
    let schedule = match body.get("schedule") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let s = s.trim().to_owned();
            if s.split_whitespace().count() != 5 || croner::Cron::from_str(&s).is_err() {
                return Err(bad(format!(
                    "schedule {s:?} must be a crontab expression of 5 fields (minute hour day month weekday)"
                )));
            }
            Some(s)
        }
        Some(other) => return Err(bad(format!("schedule must be a crontab string, not {other}"))),
    };
    let (starts_ms, ends_ms, duration_ms) = match &schedule {
        None => {
            let starts =
                starts.ok_or_else(|| bad("starts_at is required (or a recurring schedule)".into()))?;
            let ends = ends.ok_or_else(|| bad("ends_at is required for a one-off window".into()))?;
            if ends <= starts {
                return Err(bad("ends_at must be after starts_at".into()));
            }
            if ends <= now_ms {
                return Err(bad("ends_at is in the past: the window would never apply".into()));
            }
            if body.get("duration_minutes").is_some_and(|v| !v.is_null()) {
                return Err(bad(
                    "duration_minutes is for recurring windows (with a schedule)".into()
                ));
            }
            (starts, ends, ends - starts)
        }
        Some(_) => {
            let minutes = body
                .get("duration_minutes")
                .ok_or_else(|| bad("duration_minutes is required with a schedule".into()))?;
            let minutes = minutes
                .as_u64()
                .filter(|m| (1..=MAX_DURATION_MINUTES).contains(m))
                .ok_or_else(|| bad(format!("duration_minutes must be a whole number from 1 to {MAX_DURATION_MINUTES}, not {minutes}")))?;
            let starts = starts.unwrap_or(now_ms);
            let ends = ends.unwrap_or(i64::MAX);
            if ends <= starts {
                return Err(bad("ends_at must be after starts_at".into()));
            }
            (starts, ends, minutes as i64 * 60_000)
        }
    };
    Ok(MaintenanceWindow {
        id: 0,
        project_id,
        name,
        monitor_ids,
        starts_ms,
        ends_ms,
        schedule,
        duration_ms,
        timezone,
        created_ms: now_ms,
    })
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/0/projects/{project_id}/maintenance/",
            get(list).post(create),
        )
        .route("/api/0/maintenance/{window_id}/", delete(remove))
}

async fn list(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
) -> Result<Json<Vec<WindowJson>>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let now = app.clock.now_ms();
    let windows = app.store.list_maintenance(project.id).await?;
    Ok(Json(
        windows.into_iter().map(|w| WindowJson::new(w, now)).collect(),
    ))
}

async fn create(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<(StatusCode, Json<WindowJson>), ApiError> {
    who.require_scope(TokenScope::Write)?;
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let monitors: Vec<i64> = app
        .store
        .list_monitors(project.id, usize::MAX / 2, None)
        .await?
        .iter()
        .map(|m| m.id)
        .collect();
    let now = app.clock.now_ms();
    let window = parse_window(project.id, &monitors, &body, now)?;
    let window = app.store.create_maintenance(&window).await?;
    tracing::info!(
        window.id = window.id,
        project.id = project.id,
        "maintenance window created"
    );
    Ok((StatusCode::CREATED, Json(WindowJson::new(window, now))))
}

async fn remove(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(window): Path<String>,
) -> Result<StatusCode, ApiError> {
    who.require_scope(TokenScope::Write)?;
    let id = access::path_id("maintenance window", &window)?;
    let missing = || ApiError::NotFound(format!("maintenance window {id} not found"));
    let w = app.store.get_maintenance(id).await?.ok_or_else(missing)?;
    match access::project(&app, &who, &w.project_id.to_string(), OrgRole::Member).await {
        Ok(_) => {}
        Err(ApiError::NotFound(_)) => return Err(missing()),
        Err(e) => return Err(e),
    }
    app.store.delete_maintenance(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23 10:00:00 UTC, a Monday.
    const T0: i64 = 1_795_428_000_000;
    const MIN: i64 = 60_000;

    fn window(schedule: Option<&str>, ids: Vec<i64>) -> MaintenanceWindow {
        MaintenanceWindow {
            id: 1,
            project_id: 1,
            name: "w".into(),
            monitor_ids: ids,
            starts_ms: T0,
            ends_ms: T0 + 60 * MIN,
            schedule: schedule.map(Into::into),
            duration_ms: 30 * MIN,
            timezone: "UTC".into(),
            created_ms: T0,
        }
    }

    #[test]
    fn a_one_off_window_covers_its_monitors_between_start_and_end() {
        let w = window(None, vec![7]);
        assert!(!covers(&w, 7, T0 - 1));
        assert!(covers(&w, 7, T0));
        assert!(covers(&w, 7, T0 + 59 * MIN));
        assert!(!covers(&w, 7, T0 + 60 * MIN));
        assert!(!covers(&w, 8, T0 + MIN), "another monitor");
        assert!(covers(&window(None, vec![]), 8, T0 + MIN), "every monitor");
    }

    #[test]
    fn a_recurring_window_covers_each_occurrence_for_its_duration_in_its_time_zone() {
        // Daily at 02:00 in Berlin (01:00 UTC in November), 30 minutes, for ever.
        let w = MaintenanceWindow {
            starts_ms: T0,
            ends_ms: i64::MAX,
            timezone: "Europe/Berlin".into(),
            ..window(Some("0 2 * * *"), vec![])
        };
        let next_1am_utc = T0 + 15 * 60 * MIN; // 2026-11-24T01:00Z
        assert!(!covers(&w, 1, next_1am_utc - 1));
        assert!(covers(&w, 1, next_1am_utc));
        assert!(covers(&w, 1, next_1am_utc + 29 * MIN));
        assert!(!covers(&w, 1, next_1am_utc + 30 * MIN));
        assert!(
            covers(&w, 1, next_1am_utc + 24 * 60 * MIN + MIN),
            "the next day too"
        );
    }

    #[test]
    fn the_next_start_is_the_next_crontab_time_in_the_zone_or_the_one_off_start() {
        let w = MaintenanceWindow {
            starts_ms: T0,
            ends_ms: i64::MAX,
            timezone: "Europe/Berlin".into(),
            ..window(Some("0 2 * * *"), vec![])
        };
        let next_1am_utc = T0 + 15 * 60 * MIN;
        assert_eq!(next_start(&w, T0), Some(next_1am_utc));
        assert_eq!(next_start(&w, next_1am_utc), Some(next_1am_utc));
        assert_eq!(
            next_start(&w, next_1am_utc + 1),
            Some(next_1am_utc + 24 * 60 * MIN)
        );
        let ended = MaintenanceWindow {
            ends_ms: next_1am_utc,
            ..w
        };
        assert_eq!(next_start(&ended, T0), None, "no occurrence before the end");
        let once = window(None, vec![]);
        assert_eq!(next_start(&once, T0 - MIN), Some(T0));
        assert_eq!(next_start(&once, T0 + MIN), None, "already begun");
    }

    #[test]
    fn windows_are_validated_by_field() {
        let body = |v: Value| v.as_object().cloned().unwrap_or_default();
        let err = |v: Value| match parse_window(1, &[5], &body(v), T0) {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(err(serde_json::json!({"starts_at": "2026-11-23T11:00:00Z"})).contains("ends_at"));
        assert!(err(serde_json::json!({"starts_at": "tomorrow", "ends_at": "x"})).contains("starts_at"));
        assert!(
            err(serde_json::json!({"starts_at": "2026-11-23T11:00:00Z", "ends_at": "2026-11-23T10:30:00Z"}))
                .contains("after")
        );
        assert!(err(serde_json::json!({"schedule": "0 2 * * *"})).contains("duration_minutes"));
        assert!(err(serde_json::json!({"schedule": "often", "duration_minutes": 5})).contains("crontab"));
        assert!(
            err(serde_json::json!({"starts_at": "2026-11-23T11:00:00Z", "ends_at": "2026-11-23T12:00:00Z", "monitor_ids": ["9"]}))
                .contains("not a monitor of this project")
        );
        assert!(err(serde_json::json!({"window": 1})).contains("unknown field"));
        let ok = parse_window(
            1,
            &[5],
            &body(
                serde_json::json!({"name": "DB", "starts_at": "2026-11-23T11:00:00Z",
                                      "ends_at": "2026-11-23T13:00:00+01:00", "monitor_ids": ["5", 5]}),
            ),
            T0,
        )
        .unwrap();
        assert_eq!(
            (ok.starts_ms, ok.ends_ms, ok.monitor_ids),
            (T0 + 60 * MIN, T0 + 120 * MIN, vec![5])
        );
    }
}
