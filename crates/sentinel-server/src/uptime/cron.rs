//! Heartbeat and Sentry cron monitors: monitors fed by check-ins instead of checks.
//!
//! A check-in arrives as a Sentry `check_in` envelope item (through the inbox and the worker) or
//! as a request to `/api/0/cron/{slug}/{public_key}/` (heartbeat pings, Sentry's HTTP check-in
//! API). Either way [`apply`] turns it into the store's terms:
//!
//! - `in_progress` starts a run (its deadline is start plus the longest runtime);
//! - `ok` and `error` finish the run they name (or are a run of their own) and append a check
//!   result, ok or failed, that the verifier judges like any other;
//! - every check-in moves the monitor's deadline (`next_check_ms`) to the next expected check-in
//!   plus the grace period.
//!
//! On the scheduler leader, [`sweep`] appends a failed result for each monitor whose deadline
//! passed ("run missed") and each run past its deadline ("run timed out"), and moves the
//! deadline on. Every step is idempotent (results are unique by slot, runs by check-in id,
//! deadlines move conditionally), so a check-in applied twice (a worker that crashed before
//! acknowledging its batch) changes nothing the second time.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, watch};

use sentinel_store::{CronRun, Monitor, MonitorKind, NewCheckResult, NewMonitor, Store, StoreError, slugify};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use crate::AppState;
use crate::api::ApiError;
use crate::clock::{Clock, rfc3339};

/// Sentry's default check-in margin: one minute.
pub const DEFAULT_GRACE_SECS: u64 = 60;
/// Sentry's default longest runtime: 30 minutes.
pub const DEFAULT_MAX_RUNTIME_SECS: u64 = 30 * 60;
/// Longest grace and runtime: a week.
pub const MAX_WAIT_SECS: u64 = 7 * 86_400;
/// Longest slug (Sentry's limit).
pub const MAX_SLUG_LEN: usize = 50;
/// Overdue monitors and runs handled per sweep round.
const SWEEP_BATCH: usize = 500;
const SWEEP_TICK: Duration = Duration::from_secs(1);

/// When check-ins are expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Schedule {
    /// Every `seconds` after the last check-in.
    Interval { seconds: u64 },
    /// At the times of a crontab expression (5 fields), in `timezone`.
    Crontab { value: String },
}

/// A heartbeat or cron monitor's settings: its stored `config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronCheck {
    pub schedule: Schedule,
    /// IANA time zone of a crontab schedule.
    pub timezone: String,
    /// How late a check-in may be before the run counts as missed.
    pub grace_seconds: u64,
    /// How long an `in_progress` run may last before it counts as timed out.
    pub max_runtime_seconds: u64,
}

impl CronCheck {
    fn grace_ms(&self) -> i64 {
        self.grace_seconds as i64 * 1000
    }

    /// The first expected time strictly after `t_ms`; `None` for a crontab that never fires
    /// again.
    fn expected_after(&self, t_ms: i64) -> Option<i64> {
        match &self.schedule {
            Schedule::Interval { seconds } => Some(t_ms + *seconds as i64 * 1000),
            Schedule::Crontab { value } => {
                let cron = croner::Cron::from_str(value).ok()?;
                let tz: chrono_tz::Tz = self.timezone.parse().ok()?;
                let start = tz.timestamp_millis_opt(t_ms).single()?;
                cron.find_next_occurrence(&start, false)
                    .ok()
                    .map(|d| d.timestamp_millis())
            }
        }
    }

    /// The deadline of a monitor created (or changed) at `now_ms`.
    pub fn first_deadline(&self, now_ms: i64) -> i64 {
        self.expected_after(now_ms).unwrap_or(i64::MAX / 2) + self.grace_ms()
    }

    /// The deadline after a check-in at `t_ms`. A crontab run that checks in a little early or
    /// late (within the grace) fulfils the nearest expected time, so the next one is the first
    /// after `t_ms` plus the grace.
    pub fn deadline_after_check_in(&self, t_ms: i64) -> i64 {
        let expected = match self.schedule {
            Schedule::Interval { .. } => self.expected_after(t_ms),
            Schedule::Crontab { .. } => self.expected_after(t_ms + self.grace_ms()),
        };
        expected.unwrap_or(i64::MAX / 2) + self.grace_ms()
    }

    /// The deadline after the one at `deadline_ms` passed without a check-in.
    pub fn deadline_after_miss(&self, deadline_ms: i64) -> i64 {
        self.expected_after(deadline_ms - self.grace_ms())
            .unwrap_or(i64::MAX / 2)
            + self.grace_ms()
    }

    /// The typical gap between expected check-ins (a monitor's `interval_ms`, for display).
    pub fn period_ms(&self, now_ms: i64) -> i64 {
        match &self.schedule {
            Schedule::Interval { seconds } => *seconds as i64 * 1000,
            Schedule::Crontab { .. } => self
                .expected_after(now_ms)
                .and_then(|a| Some(self.expected_after(a)? - a))
                .unwrap_or(86_400_000)
                .max(60_000),
        }
    }

    /// One line describing the schedule: "every 300 s", "0 3 * * * (Europe/Berlin)".
    pub fn describe(&self) -> String {
        match &self.schedule {
            Schedule::Interval { seconds } => format!("a check-in every {}", duration_words(*seconds)),
            Schedule::Crontab { value } => format!("check-ins at \"{value}\" ({})", self.timezone),
        }
    }
}

fn duration_words(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn validate_crontab(value: &str, timezone: &str) -> Result<(), String> {
    let fields = value.split_whitespace().count();
    if fields != 5 {
        return Err(format!(
            "schedule {value:?} must be a crontab expression of 5 fields (minute hour day month weekday), not {fields}"
        ));
    }
    croner::Cron::from_str(value)
        .map_err(|e| format!("schedule {value:?} is not a valid crontab expression: {e}"))?;
    validate_timezone(timezone)
}

fn validate_timezone(timezone: &str) -> Result<(), String> {
    timezone
        .parse::<chrono_tz::Tz>()
        .map(|_| ())
        .map_err(|_| format!("timezone {timezone:?} is not an IANA time zone (such as UTC or Europe/Berlin)"))
}

/// The check fields a heartbeat monitor takes through the API (besides `interval_seconds`, its
/// period when it has no crontab `schedule`).
pub const HEARTBEAT_FIELDS: &[&str] = &["schedule", "timezone", "grace_seconds", "max_runtime_seconds"];

/// A heartbeat check from API fields; `interval_secs` is the period when no crontab is given.
pub fn parse_heartbeat(fields: &Map<String, Value>, interval_secs: u64) -> Result<CronCheck, String> {
    let text = |name: &str| -> Result<Option<String>, String> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(format!("{name} must be a non-empty string, not {other}")),
        }
    };
    let seconds = |name: &str, default: u64| -> Result<u64, String> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|n| *n <= MAX_WAIT_SECS)
                .ok_or_else(|| format!("{name} must be a whole number from 0 to {MAX_WAIT_SECS}, not {v}")),
        }
    };
    let timezone = text("timezone")?.unwrap_or_else(|| "UTC".into());
    validate_timezone(&timezone)?;
    let schedule = match text("schedule")? {
        Some(value) => {
            validate_crontab(&value, &timezone)?;
            Schedule::Crontab { value }
        }
        None => Schedule::Interval {
            seconds: interval_secs,
        },
    };
    Ok(CronCheck {
        schedule,
        timezone,
        grace_seconds: seconds("grace_seconds", DEFAULT_GRACE_SECS)?,
        max_runtime_seconds: seconds("max_runtime_seconds", DEFAULT_MAX_RUNTIME_SECS)?.max(1),
    })
}

/// A slug as given (API, check-in): lowercase letters, digits, `-` and `_`, at most 50.
pub fn parse_slug(raw: &str) -> Result<String, String> {
    let slug = raw.trim();
    if slug.is_empty() || slug.len() > MAX_SLUG_LEN {
        return Err(format!(
            "slug must be 1 to {MAX_SLUG_LEN} characters, not {}",
            slug.len()
        ));
    }
    if !slug
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(format!(
            "slug {slug:?} may hold only lowercase letters, digits, - and _ (try {:?})",
            slugify(slug)
        ));
    }
    Ok(slug.to_owned())
}

// ---- check-ins ----

/// A check-in, as Sentry SDKs send it (`develop-docs/sdk/telemetry/check-ins.mdx`).
#[derive(Debug, Clone, Deserialize)]
pub struct CheckIn {
    #[serde(default)]
    pub check_in_id: Option<String>,
    pub monitor_slug: String,
    pub status: String,
    /// Seconds, for `ok` and `error`.
    #[serde(default)]
    pub duration: Option<f64>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub monitor_config: Option<MonitorConfig>,
}

/// A cron monitor's settings in a check-in: it creates the monitor, or updates one it created.
#[derive(Debug, Clone, Deserialize)]
pub struct MonitorConfig {
    pub schedule: SentrySchedule,
    /// Minutes.
    #[serde(default)]
    pub checkin_margin: Option<f64>,
    /// Minutes.
    #[serde(default)]
    pub max_runtime: Option<f64>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub failure_issue_threshold: Option<u32>,
    #[serde(default)]
    pub recovery_threshold: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SentrySchedule {
    Crontab { value: String },
    Interval { value: u64, unit: String },
}

impl MonitorConfig {
    fn to_check(&self) -> Result<CronCheck, String> {
        let timezone = self
            .timezone
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "UTC".into());
        let schedule = match &self.schedule {
            SentrySchedule::Crontab { value } => {
                validate_crontab(value, &timezone)?;
                Schedule::Crontab { value: value.clone() }
            }
            SentrySchedule::Interval { value, unit } => {
                let unit_secs: u64 = match unit.as_str() {
                    "minute" => 60,
                    "hour" => 3_600,
                    "day" => 86_400,
                    "week" => 7 * 86_400,
                    "month" => 30 * 86_400,
                    "year" => 365 * 86_400,
                    other => {
                        return Err(format!(
                            "schedule unit {other:?} must be one of minute, hour, day, week, month, year"
                        ));
                    }
                };
                if *value == 0 {
                    return Err("schedule value must be at least 1".into());
                }
                Schedule::Interval {
                    seconds: value.saturating_mul(unit_secs),
                }
            }
        };
        validate_timezone(&timezone)?;
        let minutes = |m: Option<f64>, default: u64| -> u64 {
            m.filter(|m| m.is_finite() && *m >= 0.0)
                .map_or(default, |m| (m * 60.0).round() as u64)
                .min(MAX_WAIT_SECS)
        };
        Ok(CronCheck {
            schedule,
            timezone,
            grace_seconds: minutes(self.checkin_margin, DEFAULT_GRACE_SECS),
            max_runtime_seconds: minutes(self.max_runtime, DEFAULT_MAX_RUNTIME_SECS).max(1),
        })
    }
}

/// Why a check-in was not applied.
#[derive(Debug, thiserror::Error)]
pub enum CheckInError {
    /// Malformed: the message says what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// No monitor has the slug, and the check-in carries no `monitor_config` to create one.
    #[error("no monitor has the slug {0:?}: create it, or send monitor_config with the check-in")]
    UnknownMonitor(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a check-in did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub monitor_id: i64,
    /// The run's id (the one given, or a new one for a run of its own).
    pub check_in_id: String,
}

/// The run id as stored: lowercase hex without dashes; `None` for the all-zero id ("the latest
/// run") or none at all.
fn run_id(raw: Option<&str>) -> Result<Option<String>, CheckInError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let id = uuid::Uuid::parse_str(raw)
        .map_err(|_| CheckInError::Invalid(format!("check_in_id {raw:?} is not a UUID")))?;
    Ok((!id.is_nil()).then(|| id.simple().to_string()))
}

/// Applies one check-in to project `project_id`, received at `received_ms`.
pub async fn apply(
    store: &dyn Store,
    project_id: i64,
    check_in: &CheckIn,
    received_ms: i64,
) -> Result<Applied, CheckInError> {
    let slug = parse_slug(&check_in.monitor_slug).map_err(CheckInError::Invalid)?;
    let status = check_in.status.as_str();
    if !matches!(status, "in_progress" | "ok" | "error") {
        return Err(CheckInError::Invalid(format!(
            "status {status:?} must be one of in_progress, ok, error"
        )));
    }
    let given_id = run_id(check_in.check_in_id.as_deref())?;
    let monitor = upsert(
        store,
        project_id,
        &slug,
        check_in.monitor_config.as_ref(),
        received_ms,
    )
    .await?;
    let cfg = config_of(&monitor).map_err(CheckInError::Invalid)?;
    if !monitor.enabled {
        // Paused: check-ins are accepted and ignored, as for a paused Sentry monitor.
        return Ok(Applied {
            monitor_id: monitor.id,
            check_in_id: given_id.unwrap_or_default(),
        });
    }
    let check_in_id = match status {
        "in_progress" => {
            let id = given_id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
            let run = CronRun {
                monitor_id: monitor.id,
                check_in_id: id.clone(),
                started_ms: received_ms,
                deadline_ms: received_ms + cfg.max_runtime_seconds as i64 * 1000,
            };
            store.start_cron_run(&run).await?;
            id
        }
        _ => {
            let ok = status == "ok";
            // The run this finishes: the one named, or with the all-zero id the latest.
            let run = match (&given_id, &check_in.check_in_id) {
                (Some(id), _) => store.cron_run(monitor.id, Some(id)).await?,
                (None, Some(_)) => store.cron_run(monitor.id, None).await?,
                (None, None) => None,
            };
            let took_ms = check_in
                .duration
                .filter(|d| d.is_finite() && *d >= 0.0)
                .map(|d| (d * 1000.0).round() as i64)
                .or_else(|| run.as_ref().map(|r| received_ms - r.started_ms))
                .unwrap_or(0);
            let error = (!ok).then(|| {
                format!(
                    "run failed: the job checked in with status error after {}",
                    crate::uptime::verifier::duration_text(took_ms)
                )
            });
            // The result first, then the run's end: a crash between the two leaves a run that a
            // replay of this check-in finds again.
            store
                .record_checks(&[NewCheckResult {
                    monitor_id: monitor.id,
                    slot_ms: received_ms,
                    region: String::new(),
                    // So that it ends when it checked in (the verifier dates a change by a
                    // check's end), whatever the SDK measured.
                    started_ms: received_ms - took_ms,
                    ok,
                    latency_ms: took_ms,
                    status_code: None,
                    error,
                    details: json!({
                        "check_in": status,
                        "environment": check_in.environment,
                    }),
                }])
                .await?;
            let id = run
                .as_ref()
                .map(|r| r.check_in_id.clone())
                .or(given_id)
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
            if run.is_some() {
                store.end_cron_run(monitor.id, &id).await?;
            }
            id
        }
    };
    advance(store, &monitor, cfg.deadline_after_check_in(received_ms)).await?;
    Ok(Applied {
        monitor_id: monitor.id,
        check_in_id,
    })
}

/// The monitor's settings; `Err` if its stored config is not a heartbeat's.
pub fn config_of(monitor: &Monitor) -> Result<CronCheck, String> {
    serde_json::from_value(monitor.config.clone())
        .map_err(|e| format!("stored {} config is invalid: {e}", monitor.kind.as_str()))
}

/// Moves the deadline forward to `to_ms` (never back: a replayed old check-in changes nothing),
/// retrying when the sweep moved it meanwhile.
async fn advance(store: &dyn Store, monitor: &Monitor, to_ms: i64) -> Result<(), StoreError> {
    let mut from = monitor.next_check_ms;
    for _ in 0..3 {
        if to_ms <= from || store.move_deadline(monitor.id, from, to_ms).await? {
            return Ok(());
        }
        match store.get_monitor(monitor.id).await? {
            Some(m) => from = m.next_check_ms,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// The monitor with the slug: created from `config` if there is none, updated if `config`
/// changes the settings of a cron monitor (heartbeats are managed in Sentinel, so a check-in
/// never changes one).
async fn upsert(
    store: &dyn Store,
    project_id: i64,
    slug: &str,
    config: Option<&MonitorConfig>,
    now_ms: i64,
) -> Result<Monitor, CheckInError> {
    let existing = store.monitor_by_slug(project_id, slug).await?;
    let Some(config) = config else {
        return existing.ok_or_else(|| CheckInError::UnknownMonitor(slug.to_owned()));
    };
    let check = config.to_check().map_err(CheckInError::Invalid)?;
    let new = |current: Option<&Monitor>| NewMonitor {
        project_id,
        name: current.map_or_else(|| slug.to_owned(), |m| m.name.clone()),
        kind: MonitorKind::Cron,
        slug: Some(slug.to_owned()),
        config: serde_json::to_value(&check).unwrap_or_default(),
        interval_ms: check.period_ms(now_ms),
        timeout_ms: check.max_runtime_seconds as i64 * 1000,
        failure_threshold: config
            .failure_issue_threshold
            .unwrap_or(1)
            .clamp(1, crate::uptime::spec::MAX_THRESHOLD),
        recovery_threshold: config
            .recovery_threshold
            .unwrap_or(1)
            .clamp(1, crate::uptime::spec::MAX_THRESHOLD),
        enabled: current.is_none_or(|m| m.enabled),
        public: current.is_some_and(|m| m.public),
        regions: Vec::new(),
        region_quorum: 0,
        next_check_ms: current.map_or_else(|| check.first_deadline(now_ms), |m| m.next_check_ms),
    };
    match existing {
        Some(m) if m.kind != MonitorKind::Cron => Ok(m),
        Some(m) => {
            let wanted = new(Some(&m));
            let same = wanted.config == m.config
                && wanted.failure_threshold == m.failure_threshold
                && wanted.recovery_threshold == m.recovery_threshold
                && wanted.timeout_ms == m.timeout_ms;
            if same {
                return Ok(m);
            }
            let wanted = NewMonitor {
                next_check_ms: check.first_deadline(now_ms),
                ..wanted
            };
            Ok(store.update_monitor(m.id, &wanted, now_ms).await?)
        }
        None => match store.create_monitor(&new(None), now_ms).await {
            Ok(m) => Ok(m),
            // Created meanwhile by a check-in handled elsewhere.
            Err(StoreError::Conflict(_)) => store
                .monitor_by_slug(project_id, slug)
                .await?
                .ok_or_else(|| CheckInError::UnknownMonitor(slug.to_owned())),
            Err(e) => Err(e.into()),
        },
    }
}

// ---- HTTP check-ins ----

/// Sentry's HTTP check-in API, which is also every heartbeat monitor's ping URL:
/// `GET|POST /api/{project_id}/cron/{slug}/{public_key}/?status=ok` (`project_id` may be `0`:
/// the key names the project).
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/{project_id}/cron/{slug}/{key}/",
        get(http_check_in).post(http_check_in_body),
    )
}

/// The fields of an HTTP check-in, in the query; a POST may send them (with `monitor_config`) as
/// a JSON body instead, which wins field by field.
#[derive(Debug, Default, Deserialize)]
pub struct CheckInFields {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    check_in_id: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    monitor_config: Option<MonitorConfig>,
}

impl CheckInFields {
    fn check_in(self, slug: String, or: CheckInFields) -> CheckIn {
        CheckIn {
            check_in_id: self.check_in_id.or(or.check_in_id),
            monitor_slug: slug,
            status: self.status.or(or.status).unwrap_or_else(|| "ok".into()),
            duration: self.duration.or(or.duration),
            environment: self.environment.or(or.environment),
            monitor_config: self.monitor_config.or(or.monitor_config),
        }
    }
}

async fn http_check_in(
    State(app): State<AppState>,
    Path((project, slug, key)): Path<(String, String, String)>,
    Query(q): Query<CheckInFields>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let check_in = q.check_in(slug, CheckInFields::default());
    http_apply(&app, &project, &key, check_in).await
}

async fn http_check_in_body(
    State(app): State<AppState>,
    Path((project, slug, key)): Path<(String, String, String)>,
    Query(q): Query<CheckInFields>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // A ping may carry any body (a script's output); only a JSON object is read.
    let parsed: CheckInFields = if body.first() == Some(&b'{') {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the check-in body is not a valid check-in: {e}")))?
    } else {
        CheckInFields::default()
    };
    http_apply(&app, &project, &key, parsed.check_in(slug, q)).await
}

async fn http_apply(
    app: &AppState,
    project: &str,
    key: &str,
    check_in: CheckIn,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let info = app
        .keys
        .lookup(key)
        .await?
        .filter(|k| k.active)
        .ok_or_else(|| ApiError::Unauthorized(format!("unknown or disabled key {key:?}")))?;
    let project_id: i64 = project
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("project id {project:?} is not a number")))?;
    if project_id != 0 && project_id != info.project_id {
        return Err(ApiError::Forbidden(format!(
            "the key does not belong to project {project_id}"
        )));
    }
    match apply(app.store.as_ref(), info.project_id, &check_in, app.clock.now_ms()).await {
        Ok(applied) => Ok((StatusCode::ACCEPTED, Json(json!({ "id": applied.check_in_id })))),
        Err(CheckInError::Invalid(m)) => Err(ApiError::BadRequest(m)),
        Err(e @ CheckInError::UnknownMonitor(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(CheckInError::Store(e)) => Err(e.into()),
    }
}

// ---- the sweep ----

/// Appends "missed" and "timed out" results while this process leads, until `shutdown`.
pub async fn sweep(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    leading: Arc<AtomicBool>,
    shutdown: watch::Receiver<bool>,
) {
    let idle = Arc::new(Notify::new());
    crate::run_rounds(
        "sweeping heartbeat and cron monitors",
        &idle,
        SWEEP_TICK,
        shutdown,
        || async {
            if !leading.load(Ordering::Relaxed) {
                return Ok(0);
            }
            Ok(sweep_once(store.as_ref(), clock.now_ms()).await?)
        },
    )
    .await;
}

/// One round of the sweep at `now_ms`; returns how many runs and deadlines it handled when
/// there may be more (a full batch), else 0.
pub async fn sweep_once(store: &dyn Store, now_ms: i64) -> Result<usize, StoreError> {
    let runs = store.overdue_cron_runs(now_ms, SWEEP_BATCH).await?;
    let monitors = store
        .get_monitors(&runs.iter().map(|r| r.monitor_id).collect::<Vec<_>>())
        .await?;
    for run in &runs {
        let Some(monitor) = monitors.iter().find(|m| m.id == run.monitor_id) else {
            continue;
        };
        let limit = run.deadline_ms - run.started_ms;
        store
            .record_checks(&[failed(
                monitor,
                run.deadline_ms,
                run.started_ms,
                format!(
                    "run timed out: started {} and did not finish within {}",
                    rfc3339(run.started_ms),
                    crate::uptime::verifier::duration_text(limit)
                ),
                "timeout",
            )])
            .await?;
        store.end_cron_run(run.monitor_id, &run.check_in_id).await?;
    }
    let overdue = store.overdue_monitors(now_ms, SWEEP_BATCH).await?;
    for monitor in &overdue {
        let deadline = monitor.next_check_ms;
        let Ok(cfg) = config_of(monitor) else {
            tracing::warn!(
                monitor.id = monitor.id,
                "heartbeat monitor with a broken config; skipped a day"
            );
            store
                .move_deadline(monitor.id, deadline, deadline + 86_400_000)
                .await?;
            continue;
        };
        // A run still in progress is not missed: its timeout decides.
        if let Some(run) = store.cron_run(monitor.id, None).await?
            && run.deadline_ms > now_ms
        {
            store
                .move_deadline(
                    monitor.id,
                    deadline,
                    run.deadline_ms.max(deadline) + cfg.grace_ms(),
                )
                .await?;
            continue;
        }
        let expected = deadline - cfg.grace_ms();
        store
            .record_checks(&[failed(
                monitor,
                deadline,
                deadline,
                format!(
                    "run missed: no check-in by {} (expected at {}, {})",
                    rfc3339(deadline),
                    rfc3339(expected),
                    cfg.describe()
                ),
                "missed",
            )])
            .await?;
        // After a long stop, the deadlines in between are skipped: one missed result, not one per
        // period that passed.
        let mut next = cfg.deadline_after_miss(deadline);
        while next <= now_ms {
            next = cfg.deadline_after_miss(next);
        }
        store.move_deadline(monitor.id, deadline, next).await?;
    }
    let handled = runs.len() + overdue.len();
    Ok(if runs.len() == SWEEP_BATCH || overdue.len() == SWEEP_BATCH {
        handled
    } else {
        0
    })
}

fn failed(monitor: &Monitor, slot_ms: i64, started_ms: i64, error: String, why: &str) -> NewCheckResult {
    NewCheckResult {
        monitor_id: monitor.id,
        slot_ms,
        region: String::new(),
        started_ms,
        ok: false,
        latency_ms: 0,
        status_code: None,
        error: Some(error),
        details: json!({ "check_in": why }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000_000; // 2027-01-15T08:00:00Z

    fn every(seconds: u64, grace: u64) -> CronCheck {
        CronCheck {
            schedule: Schedule::Interval { seconds },
            timezone: "UTC".into(),
            grace_seconds: grace,
            max_runtime_seconds: 60,
        }
    }

    fn crontab(value: &str, timezone: &str, grace: u64) -> CronCheck {
        CronCheck {
            schedule: Schedule::Crontab { value: value.into() },
            timezone: timezone.into(),
            grace_seconds: grace,
            max_runtime_seconds: 60,
        }
    }

    #[test]
    fn interval_deadlines_follow_the_last_check_in_plus_the_grace() {
        let c = every(300, 60);
        assert_eq!(c.first_deadline(T), T + 360_000);
        assert_eq!(c.deadline_after_check_in(T + 10_000), T + 370_000);
        assert_eq!(c.deadline_after_miss(T + 360_000), T + 660_000);
        assert_eq!(c.period_ms(T), 300_000);
    }

    #[test]
    fn crontab_deadlines_are_the_next_fire_time_in_the_time_zone_plus_the_grace() {
        // Daily at 03:00 in Berlin: 02:00 UTC in January.
        let c = crontab("0 3 * * *", "Europe/Berlin", 300);
        let next_day_2am = T - 6 * 3_600_000 + 86_400_000; // 2027-01-16T02:00Z
        assert_eq!(c.first_deadline(T), next_day_2am + 300_000);
        // A run that checks in a few seconds early or late fulfils its own time, not the next.
        assert_eq!(
            c.deadline_after_check_in(next_day_2am - 2_000),
            next_day_2am + 86_400_000 + 300_000
        );
        assert_eq!(
            c.deadline_after_check_in(next_day_2am + 40_000),
            next_day_2am + 86_400_000 + 300_000
        );
        assert_eq!(
            c.deadline_after_miss(next_day_2am + 300_000),
            next_day_2am + 86_400_000 + 300_000
        );
        assert_eq!(c.period_ms(T), 86_400_000);
    }

    #[test]
    fn schedules_and_slugs_are_validated_with_messages_naming_the_problem() {
        let fields = |v: Value| v.as_object().cloned().unwrap_or_default();
        let ok = parse_heartbeat(
            &fields(json!({"schedule": "*/5 * * * *", "timezone": "Asia/Tokyo"})),
            60,
        )
        .unwrap();
        assert_eq!(
            ok.schedule,
            Schedule::Crontab {
                value: "*/5 * * * *".into()
            }
        );
        assert_eq!(ok.grace_seconds, DEFAULT_GRACE_SECS);
        let interval = parse_heartbeat(&fields(json!({"grace_seconds": 0})), 120).unwrap();
        assert_eq!(interval.schedule, Schedule::Interval { seconds: 120 });
        let err = |v: Value| parse_heartbeat(&fields(v), 60).unwrap_err();
        assert!(err(json!({"schedule": "61 * * * *"})).contains("not a valid crontab"));
        assert!(err(json!({"schedule": "* * * *"})).contains("5 fields"));
        assert!(err(json!({"timezone": "Mars/Olympus"})).contains("IANA"));
        assert!(err(json!({"grace_seconds": -1})).contains("grace_seconds"));
        assert_eq!(parse_slug("nightly-backup_2").unwrap(), "nightly-backup_2");
        assert!(
            parse_slug("Nightly Backup")
                .unwrap_err()
                .contains("nightly-backup")
        );
        assert!(parse_slug(&"a".repeat(51)).is_err());
    }

    #[test]
    fn sentry_monitor_configs_become_checks() {
        let config: MonitorConfig = serde_json::from_value(json!({
            "schedule": {"type": "interval", "value": 2, "unit": "hour"},
            "checkin_margin": 5, "max_runtime": 10, "timezone": "Europe/Vienna"
        }))
        .unwrap();
        let check = config.to_check().unwrap();
        assert_eq!(check.schedule, Schedule::Interval { seconds: 7_200 });
        assert_eq!((check.grace_seconds, check.max_runtime_seconds), (300, 600));
        let bad: MonitorConfig = serde_json::from_value(
            json!({"schedule": {"type": "interval", "value": 1, "unit": "fortnight"}}),
        )
        .unwrap();
        assert!(bad.to_check().unwrap_err().contains("fortnight"));
        assert_eq!(
            run_id(Some("00000000-0000-0000-0000-000000000000")).unwrap(),
            None
        );
        assert_eq!(
            run_id(Some("6F1A9C5E-0000-4000-8000-000000000001"))
                .unwrap()
                .as_deref(),
            Some("6f1a9c5e000040008000000000000001")
        );
        assert!(run_id(Some("nope")).is_err());
    }
}
