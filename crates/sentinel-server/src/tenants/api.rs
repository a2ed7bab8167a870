//! The JSON API of tenant rankings and endpoint performance. A project's members read them; a
//! project of an organization the caller does not belong to answers 404.
//!
//! - `GET /api/0/projects/{id}/tenants/?window=10m&by=errors&limit=10`: the ranking.
//! - `GET /api/0/projects/{id}/tenants/{tenant}/?window=10m`: one tenant's endpoints and its
//!   per-minute requests and 5xx.
//! - `GET /api/0/projects/{id}/transactions/?window=1h`: per endpoint, throughput, failure rate,
//!   p50/p95/p99 and Apdex.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use sentinel_store::{OrgRole, Project, Store, StoreError};
use serde::{Deserialize, Serialize};

use super::ranking::{By, Ranking, line};
use super::read::{self, MINUTE_MS, window_bounds};
use super::sketch::LatencySketch;
use super::summary::{EndpointCounts, OTHER};
use crate::AppState;
use crate::api::{ApiError, Caller};
use crate::auth::access;
use crate::clock::rfc3339;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/0/projects/{project_id}/tenants/", get(ranking))
        .route("/api/0/projects/{project_id}/tenants/{tenant}/", get(tenant))
        .route("/api/0/projects/{project_id}/transactions/", get(transactions))
}

/// The longest window a ranking or the performance view covers.
pub const MAX_WINDOW_MS: i64 = 24 * 60 * MINUTE_MS;

/// `5m`, `10m`, `1h`, … (whole minutes or hours, 1 minute to 24 hours).
pub fn parse_window(value: &str) -> Result<i64, String> {
    let bad =
        || format!("invalid window {value:?}: expected minutes or hours such as 10m or 1h, at most 24h");
    let (digits, unit) = value.split_at(value.len().saturating_sub(1));
    // Digits only: `parse` would take a sign (`+5m`), which then reads as a space in a URL.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let ms = match unit {
        "m" => n.checked_mul(MINUTE_MS),
        "h" => n.checked_mul(60 * MINUTE_MS),
        _ => None,
    }
    .ok_or_else(bad)?;
    if !(MINUTE_MS..=MAX_WINDOW_MS).contains(&ms) {
        return Err(bad());
    }
    Ok(ms)
}

#[derive(Debug, Default, Deserialize)]
pub struct RankingParams {
    pub window: Option<String>,
    pub by: Option<String>,
    pub limit: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RankingJson {
    pub window: String,
    pub since: String,
    pub until: String,
    #[serde(flatten)]
    pub ranking: Ranking,
}

/// The window asked for, or `default`, as spelled and in milliseconds; 400 when it is not one.
pub fn window_param(value: Option<&str>, default: &str) -> Result<(String, i64), ApiError> {
    let w = value.unwrap_or(default);
    Ok((w.to_owned(), parse_window(w).map_err(ApiError::BadRequest)?))
}

async fn ranking(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    Query(p): Query<RankingParams>,
) -> Result<Json<RankingJson>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let (window, window_ms) = window_param(p.window.as_deref(), "10m")?;
    let by: By =
        p.by.as_deref()
            .unwrap_or("errors")
            .parse()
            .map_err(ApiError::BadRequest)?;
    let limit = match p.limit.as_deref() {
        None => 10,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::BadRequest(format!("invalid limit {v:?}: expected 1 to 100")))?,
    };
    let now = app.clock.now_ms();
    Ok(Json(
        RankingJson::read(app.store.as_ref(), project.id, now, window, window_ms, by, limit).await?,
    ))
}

impl RankingJson {
    /// The ranking of a project over `window` (spelled as given, `window_ms` long) ending now.
    pub async fn read(
        store: &dyn Store,
        project_id: i64,
        now_ms: i64,
        window: String,
        window_ms: i64,
        by: By,
        limit: usize,
    ) -> Result<Self, StoreError> {
        let (since, until) = window_bounds(now_ms, window_ms);
        let ranking = read::ranking(store, project_id, now_ms, window_ms, by, limit).await?;
        Ok(RankingJson {
            window,
            since: rfc3339(since),
            until: rfc3339(until),
            ranking,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct WindowParams {
    pub window: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MinuteJson {
    pub time: String,
    pub requests: u64,
    pub errors: u64,
}

#[derive(Debug, Serialize)]
pub struct TenantEndpointJson {
    pub endpoint: String,
    /// Its requests whose latency was sketched there (while it was among the tenants with most
    /// requests), when any.
    pub requests: Option<u64>,
    /// Its 5xx (when the tenant is among those with most 5xx).
    pub errors: u64,
    pub p95_ms: Option<f64>,
    /// All tenants' p95 on that endpoint.
    pub all_p95_ms: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct TenantJson {
    pub window: String,
    /// `since` in milliseconds, for the dashboard's chart.
    #[serde(skip)]
    pub since_ms: i64,
    pub since: String,
    pub until: String,
    #[serde(flatten)]
    pub line: super::ranking::TenantRank,
    pub endpoints: Vec<TenantEndpointJson>,
    pub minutes: Vec<MinuteJson>,
}

/// What the drill-down shows of one tenant.
pub async fn tenant_view(
    app: &AppState,
    project_id: i64,
    tenant: &str,
    window: &str,
    window_ms: i64,
) -> Result<TenantJson, ApiError> {
    let now = app.clock.now_ms();
    let (since, until) = window_bounds(now, window_ms);
    let store = app.store.as_ref();
    // One read of the window: merged for the figures, then a counts-only pass for the tenant's
    // minutes (no minute's summary is kept).
    let rows = store.request_rollups(project_id, since, until, true).await?;
    let all = read::merge_rows(&rows, true)?;
    let baseline = read::window(store, project_id, since - read::BASELINE_MS, since, true).await?;
    let line = line(&all, Some(&baseline), tenant, all.latency.all.quantile_ms(0.95));
    let errors = all.counts.error_endpoints.get(tenant);
    let sketches = all.latency.tenants.get(tenant);
    // The endpoints it had 5xx on, and those its latency was sketched on.
    let names: std::collections::BTreeSet<String> = errors
        .map(|e| e.top(usize::MAX).into_iter().map(|c| c.key).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(sketches.into_iter().flat_map(|s| s.keys().cloned()))
        .collect();
    let mut endpoints: Vec<TenantEndpointJson> = names
        .into_iter()
        .map(|name| TenantEndpointJson {
            requests: sketches
                .and_then(|s| s.get(&name))
                .map(|s| s.count())
                .filter(|n| *n > 0),
            errors: errors.and_then(|e| e.get(&name)).map_or(0, |c| c.count),
            p95_ms: sketches
                .and_then(|s| s.get(&name))
                .and_then(|s| s.quantile_ms(0.95)),
            all_p95_ms: (name != OTHER)
                .then(|| all.latency.endpoints.get(&name).and_then(|s| s.quantile_ms(0.95)))
                .flatten(),
            endpoint: name,
        })
        .collect();
    endpoints.sort_by(|a, b| b.errors.cmp(&a.errors).then_with(|| a.endpoint.cmp(&b.endpoint)));
    let series = read::tenant_minutes(&rows, since, until, &[tenant])?
        .pop()
        .unwrap_or_default()
        .into_iter()
        .zip((since..).step_by(MINUTE_MS as usize))
        .map(|((requests, errors), minute)| MinuteJson {
            time: rfc3339(minute),
            requests,
            errors,
        })
        .collect();
    Ok(TenantJson {
        window: window.to_owned(),
        since_ms: since,
        since: rfc3339(since),
        until: rfc3339(until),
        line,
        endpoints,
        minutes: series,
    })
}

async fn tenant(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path((project, tenant)): Path<(String, String)>,
    Query(p): Query<WindowParams>,
) -> Result<Json<TenantJson>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let (window, window_ms) = window_param(p.window.as_deref(), "10m")?;
    Ok(Json(
        tenant_view(&app, project.id, &tenant, &window, window_ms).await?,
    ))
}

#[derive(Debug, Serialize)]
pub struct TransactionJson {
    pub endpoint: String,
    pub requests: u64,
    /// Requests per minute over the window.
    pub throughput_per_minute: f64,
    /// Share of 5xx, 0–1.
    pub failure_rate: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub apdex: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct TransactionsJson {
    pub window: String,
    pub since: String,
    pub until: String,
    /// Apdex's T, milliseconds.
    pub apdex_threshold_ms: f64,
    pub transactions: Vec<TransactionJson>,
}

/// The minutes of `[since, until)`, at least one: what throughput is per.
pub fn window_minutes(since: i64, until: i64) -> f64 {
    ((until - since) / MINUTE_MS).max(1) as f64
}

impl TransactionJson {
    /// An endpoint's figures from its counts and latency sketch over a window of `minutes`.
    pub fn of(endpoint: String, c: &EndpointCounts, sketch: Option<&LatencySketch>, minutes: f64) -> Self {
        let q = |q: f64| sketch.and_then(|s| s.quantile_ms(q));
        TransactionJson {
            endpoint,
            requests: c.requests,
            throughput_per_minute: c.requests as f64 / minutes,
            failure_rate: c.errors as f64 / c.requests.max(1) as f64,
            p50_ms: q(0.5),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            apdex: c.apdex(),
        }
    }
}

/// Per endpoint of the window, busiest first. Apdex counts were taken with the project's T when
/// each minute was rolled up; the answer names the T in force now.
pub async fn transactions_view(
    app: &AppState,
    project: &Project,
    window: &str,
    window_ms: i64,
) -> Result<TransactionsJson, ApiError> {
    let (since, until) = window_bounds(app.clock.now_ms(), window_ms);
    let all = read::window(app.store.as_ref(), project.id, since, until, true).await?;
    let minutes = window_minutes(since, until);
    let mut list: Vec<TransactionJson> = all
        .counts
        .endpoints
        .iter()
        .map(|(endpoint, c)| {
            TransactionJson::of(endpoint.clone(), c, all.latency.endpoints.get(endpoint), minutes)
        })
        .collect();
    list.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| a.endpoint.cmp(&b.endpoint))
    });
    Ok(TransactionsJson {
        window: window.to_owned(),
        since: rfc3339(since),
        until: rfc3339(until),
        apdex_threshold_ms: f64::from(project.apdex_threshold_ms),
        transactions: list,
    })
}

async fn transactions(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    Query(p): Query<WindowParams>,
) -> Result<Json<TransactionsJson>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let (window, window_ms) = window_param(p.window.as_deref(), "1h")?;
    Ok(Json(transactions_view(&app, &project, &window, window_ms).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_minutes_or_hours_up_to_a_day() {
        assert_eq!(parse_window("10m"), Ok(10 * MINUTE_MS));
        assert_eq!(parse_window("24h"), Ok(MAX_WINDOW_MS));
        for bad in ["0m", "25h", "10", "m", "10s", "-5m", "+5m", " 5m", ""] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }
}
