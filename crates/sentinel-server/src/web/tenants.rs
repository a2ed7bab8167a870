//! The Tenants pages: "is this one tenant or everyone?" in the dashboard. The ranking of a
//! project's tenants over a recent window (by share of 5xx, error rate or latency against their
//! baseline) with a sparkline each, and one tenant's drill-down: its requests and 5xx per minute,
//! its endpoints and the error issues tagged with it.
//!
//! The figures are the JSON API's (`tenants::read`, `tenants::api::tenant_view`); nothing is
//! ranked here. A window or ranking the API would refuse answers 400 with the API's message.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use sentinel_store::{IssueQuery, OrgRole, Project};
use serde::Deserialize;

use super::charts::{ChartSpec, count_sparkline, line_chart, opt_ms_text};
use super::layout::{self, Layout};
use super::project::{IssueLine, org_project};
use super::{SignedIn, WebError, is_htmx, render};
use crate::AppState;
use crate::alerts::tenants::open_incidents;
use crate::api::ApiError;
use crate::clock::rfc3339;
use crate::issues::search::Search;
use crate::tenants::api::{TenantJson, tenant_view, window_param};
use crate::tenants::ranking::{By, Ranking, TenantRank};
use crate::tenants::read::{self, MINUTE_MS, window_bounds};
use crate::tenants::report::{describe_window, percent};
use crate::tenants::tenant_path;
use crate::urls::form_urlencoded_component;

/// The windows the selector offers (any window the API takes works in the URL).
const WINDOWS: [&str; 6] = ["5m", "10m", "30m", "1h", "6h", "24h"];
const DEFAULT_WINDOW: &str = "10m";
const RANKINGS: [(&str, &str); 3] = [
    ("errors", "Share of 5xx"),
    ("error_rate", "Error rate"),
    ("latency", "Latency vs baseline"),
];
/// Tenants in the ranking table.
const RANKED: usize = 25;
/// Issues listed on a tenant's page (the rest are a link away).
const ISSUES_SHOWN: usize = 10;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    window: Option<String>,
    by: Option<String>,
}

/// An option of a selector.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The window asked for (default 10 minutes), as spelled and in milliseconds, and the selector's
/// options (with that window among them even when it is not one of the usual ones).
fn window(raw: Option<&str>) -> Result<(String, i64, Vec<Choice>), ApiError> {
    let (w, ms) = window_param(raw.filter(|w| !w.is_empty()), DEFAULT_WINDOW)?;
    let mut values: Vec<&str> = WINDOWS.to_vec();
    if !values.contains(&w.as_str()) {
        values.push(&w);
    }
    let choices = values
        .into_iter()
        .map(|v| Choice {
            value: v.to_owned(),
            label: describe_window(v),
            selected: v == w,
        })
        .collect();
    Ok((w, ms, choices))
}

fn ranking_by(raw: Option<&str>) -> Result<(By, Vec<Choice>), ApiError> {
    let b = raw.filter(|b| !b.is_empty()).unwrap_or("errors");
    let by: By = b.parse().map_err(ApiError::BadRequest)?;
    let choices = RANKINGS
        .iter()
        .map(|(v, label)| Choice {
            value: (*v).to_owned(),
            label: (*label).to_owned(),
            selected: v.parse::<By>().ok() == Some(by),
        })
        .collect();
    Ok((by, choices))
}

fn factor(v: f64) -> String {
    format!("{v:.1}×")
}

/// The base of a project's pages.
fn project_base(app: &AppState, org: &str, project: &Project) -> String {
    format!(
        "{}/orgs/{org}/projects/{}",
        app.settings.path_prefix, project.slug
    )
}

/// A tenant's page over `window`, under the dashboard's path `prefix`.
fn tenant_url(prefix: &str, project: &Project, tenant: &str, window: &str) -> String {
    format!(
        "{prefix}{}?window={}",
        tenant_path(&project.org_slug, &project.slug, tenant),
        form_urlencoded_component(window)
    )
}

/// One line of the ranking table, formatted.
pub struct TenantRow {
    pub rank: usize,
    pub tenant: String,
    pub url: String,
    /// The figure the ranking is by: share of all 5xx, error rate or p95 factor.
    pub measure: String,
    /// What qualifies it (the Wilson lower bound, the p95 it is a factor of).
    pub measure_note: String,
    pub requests: String,
    pub errors: u64,
    pub p95: String,
    pub endpoint: String,
    /// The endpoint's share of the tenant's 5xx, or its latency factor.
    pub endpoint_note: String,
    pub sparkline: String,
}

fn measure(by: By, t: &TenantRank) -> (String, String) {
    match by {
        By::Errors => (percent(t.share), String::new()),
        By::ErrorRate => (
            t.error_rate.map_or_else(|| "—".to_owned(), percent),
            t.error_rate_lower
                .map(|l| format!("at least {}", percent(l)))
                .unwrap_or_default(),
        ),
        By::Latency => match (t.vs_baseline, t.vs_all) {
            (Some(f), _) => (
                factor(f),
                format!("its baseline p95 {}", opt_ms_text(t.baseline_p95_ms)),
            ),
            (None, Some(f)) => (factor(f), "all tenants' p95 (no baseline)".to_owned()),
            _ => ("—".to_owned(), String::new()),
        },
    }
}

fn dominating_endpoint(by: By, t: &TenantRank) -> (String, String) {
    match by {
        By::Latency => (
            t.latency_endpoint.clone().unwrap_or_default(),
            t.latency_endpoint_factor.map(factor).unwrap_or_default(),
        ),
        _ => (
            t.endpoint.clone().unwrap_or_default(),
            t.endpoint_share
                .map(|s| format!("{} of its 5xx", percent(s)))
                .unwrap_or_default(),
        ),
    }
}

#[derive(Template)]
#[template(path = "tenants.html")]
struct TenantsPage {
    layout: Layout,
    windows: Vec<Choice>,
    rankings: Vec<Choice>,
    table: TenantsTable,
}

/// The ranking table: the page's part that a selector change or the refresh replaces.
#[derive(Template)]
#[template(path = "tenants_table.html")]
struct TenantsTable {
    /// This table's own URL (polled for updates).
    self_url: String,
    /// "last 10 minutes".
    period: String,
    measure_title: &'static str,
    requests: u64,
    errors: u64,
    p95: String,
    rows: Vec<TenantRow>,
    /// How to send request events, when the window has none.
    howto: Option<Howto>,
}

/// What the empty state shows: where and how to send request events to this project.
struct Howto {
    batch_url: String,
    otlp_url: String,
    key: String,
    tenant_tag: String,
}

fn measure_title(by: By) -> &'static str {
    match by {
        By::Errors => "Share of all 5xx",
        By::ErrorRate => "Error rate (Wilson)",
        By::Latency => "p95 vs baseline",
    }
}

/// `GET …/tenants/?window=10m&by=errors`: the ranking (only the table for htmx).
pub async fn list(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let (window, window_ms, windows) = window(p.window.as_deref())?;
    let (by, rankings) = ranking_by(p.by.as_deref())?;
    let base = project_base(&app, &org.slug, &project);
    let (since, until) = window_bounds(app.clock.now_ms(), window_ms);
    let store = app.store.as_ref();
    // The window is read once per load and poll: ranked from its merged rows (with their sketches,
    // so every line has its p95), then the ranked tenants' minutes in a counts-only pass.
    let fetched = store.request_rollups(project.id, since, until, true).await?;
    let ranking = read::rank_rows(store, project.id, since, &fetched, true, by, RANKED).await?;
    let ranked: Vec<&str> = ranking.tenants.iter().map(|t| t.tenant.as_str()).collect();
    let minutes = read::tenant_minutes(&fetched, since, until, &ranked)?;
    drop(fetched);
    let rows = rows(
        &ranking,
        &minutes,
        since,
        &app.settings.path_prefix,
        &project,
        &window,
    )?;
    let howto = match ranking.requests {
        0 => Some(howto(&app, &project).await?),
        _ => None,
    };
    let table = TenantsTable {
        self_url: format!(
            "{base}/tenants/?window={}&by={}",
            form_urlencoded_component(&window),
            form_urlencoded_component(p.by.as_deref().unwrap_or("errors"))
        ),
        period: describe_window(&window),
        measure_title: measure_title(by),
        requests: ranking.requests,
        errors: ranking.errors,
        p95: opt_ms_text(ranking.p95_ms),
        rows,
        howto,
    };
    // htmx restoring a pushed URL (back button) wants the whole page, not the table.
    if is_htmx(&headers) && !headers.contains_key("hx-history-restore-request") {
        return render(&table);
    }
    render(&TenantsPage {
        layout: layout::in_org(&app, &s, &org, role, Some(&project), "Tenants", "tenants").await?,
        windows,
        rankings,
        table,
    })
}

/// The table's rows: the ranking's lines with each tenant's per-minute requests and 5xx
/// (`minutes[i]` the `i`th tenant's, from `since`) drawn.
fn rows(
    ranking: &Ranking,
    minutes: &[Vec<(u64, u64)>],
    since: i64,
    prefix: &str,
    project: &Project,
    window: &str,
) -> Result<Vec<TenantRow>, askama::Error> {
    ranking
        .tenants
        .iter()
        .zip(minutes)
        .enumerate()
        .map(|(i, (t, counts))| {
            let (measure, measure_note) = measure(ranking.by, t);
            let (endpoint, endpoint_note) = dominating_endpoint(ranking.by, t);
            Ok(TenantRow {
                rank: i + 1,
                url: tenant_url(prefix, project, &t.tenant, window),
                tenant: t.tenant.clone(),
                measure,
                measure_note,
                requests: t.requests.map_or_else(|| "—".to_owned(), |r| r.to_string()),
                errors: t.errors,
                p95: opt_ms_text(t.p95_ms),
                endpoint,
                endpoint_note,
                sparkline: count_sparkline(since, counts)?,
            })
        })
        .collect()
}

async fn howto(app: &AppState, project: &Project) -> Result<Howto, ApiError> {
    let key = app
        .store
        .project_keys(project.id)
        .await?
        .into_iter()
        .find(|k| k.active)
        .map_or_else(|| "KEY".to_owned(), |k| k.public_key);
    let api = format!("{}/api/{}", app.settings.public_base_url(), project.id);
    Ok(Howto {
        batch_url: format!("{api}/requests/"),
        otlp_url: format!("{api}/integration/otlp/v1/traces"),
        key,
        tenant_tag: app.settings.tenants.tenant_tag.clone(),
    })
}

/// One endpoint of a tenant, formatted.
pub struct EndpointRow {
    pub endpoint: String,
    pub requests: String,
    pub errors: u64,
    /// Share of the tenant's 5xx.
    pub share: String,
    pub p95: String,
    pub all_p95: String,
}

/// A tenant alert incident open for the tenant, formatted.
pub struct OpenAlert {
    pub rule: String,
    /// RFC 3339, when the incident opened.
    pub since: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "tenant.html")]
struct TenantPage {
    layout: Layout,
    tenant: String,
    alerts: Vec<OpenAlert>,
    alerts_url: String,
    windows: Vec<Choice>,
    period: String,
    back_url: String,
    requests: String,
    errors: u64,
    share: String,
    error_rate: String,
    p95: String,
    baseline_p95: String,
    chart: String,
    endpoints: Vec<EndpointRow>,
    tag: String,
    issues: Vec<IssueLine>,
    issues_shown: usize,
    issues_url: String,
}

/// `GET …/tenants/{tenant}/?window=10m`: one tenant's requests, endpoints and issues.
pub async fn detail(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project, tenant)): Path<(String, String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let (window, window_ms, windows) = window(p.window.as_deref())?;
    let base = project_base(&app, &org.slug, &project);
    let view = tenant_view(&app, project.id, &tenant, &window, window_ms).await?;
    let tag = app.settings.tenants.tenant_tag.clone();
    let issues = app
        .store
        .list_issues(&IssueQuery {
            project_id: project.id,
            tags: vec![(tag.clone(), tenant.clone())],
            limit: ISSUES_SHOWN,
            ..IssueQuery::default()
        })
        .await?;
    // The issues list's search for the tag, quoted as its parser wants it.
    let search = Search {
        tags: vec![(tag.clone(), tenant.clone())],
        ..Search::default()
    };
    let alerts = open_incidents(app.store.as_ref(), project.id, &tenant)
        .await?
        .into_iter()
        .map(|o| OpenAlert {
            value: o.value_text(),
            since: rfc3339(o.state.since_ms),
            rule: o.rule.name,
        })
        .collect();
    let line = &view.line;
    render(&TenantPage {
        layout: layout::in_org(&app, &s, &org, role, Some(&project), &tenant, "tenants").await?,
        alerts,
        alerts_url: format!("{base}/alerts/"),
        windows,
        period: describe_window(&window),
        back_url: format!("{base}/tenants/?window={}", form_urlencoded_component(&window)),
        requests: line.requests.map_or_else(|| "—".to_owned(), |r| r.to_string()),
        errors: line.errors,
        share: percent(line.share),
        error_rate: line.error_rate.map_or_else(|| "—".to_owned(), percent),
        p95: opt_ms_text(line.p95_ms),
        baseline_p95: opt_ms_text(line.baseline_p95_ms),
        chart: chart(&view, &tenant, &window)?,
        endpoints: endpoint_rows(&view),
        tag,
        issues: issues.items.into_iter().map(IssueLine::from).collect(),
        issues_shown: ISSUES_SHOWN,
        issues_url: format!(
            "{base}/issues/?query={}",
            form_urlencoded_component(&search.to_string())
        ),
        tenant,
    })
}

fn endpoint_rows(view: &TenantJson) -> Vec<EndpointRow> {
    let total = view.line.errors.max(1) as f64;
    view.endpoints
        .iter()
        .map(|e| EndpointRow {
            endpoint: e.endpoint.clone(),
            requests: e.requests.map_or_else(|| "—".to_owned(), |r| r.to_string()),
            errors: e.errors,
            share: if e.errors == 0 {
                "—".to_owned()
            } else {
                percent(e.errors as f64 / total)
            },
            p95: opt_ms_text(e.p95_ms),
            all_p95: opt_ms_text(e.all_p95_ms),
        })
        .collect()
}

/// The tenant's requests and 5xx per minute of the window.
fn chart(view: &TenantJson, tenant: &str, window: &str) -> Result<String, WebError> {
    let since = view.since_ms;
    let until = since + view.minutes.len() as i64 * MINUTE_MS;
    let rows: Vec<(i64, Vec<Option<f64>>)> = view
        .minutes
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (
                since + i as i64 * MINUTE_MS,
                vec![Some(m.requests as f64), Some(m.errors as f64)],
            )
        })
        .collect();
    let title = format!(
        "Requests and 5xx of {tenant} per minute, {}",
        describe_window(window)
    );
    Ok(line_chart(
        &ChartSpec {
            title: &title,
            unit: "",
            since_ms: since,
            until_ms: until,
            bucket_ms: MINUTE_MS,
            max_gap_ms: MINUTE_MS,
            series: &["requests", "5xx"],
        },
        &rows,
    )?)
}
