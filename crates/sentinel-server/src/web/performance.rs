//! The performance pages (issue 7): a project's transactions (per endpoint: throughput, failure
//! rate, p50/p95/p99 and Apdex over a window), one transaction's per-minute charts with its
//! slowest recent requests, and a stored Sentry transaction with its spans as a waterfall.
//!
//! They read what the JSON API reads: the list is `tenants::api::transactions_view`; the
//! transaction page reads the same request rollups a row at a time (a day of minutes, decoded
//! all at once, would hold every endpoint's sketches of 1,440 minutes in memory). Numbers are
//! formatted here; nothing is computed in the browser, and the charts are server-drawn SVG.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use sentinel_protocol::ids::EventId;
use sentinel_protocol::transaction_detail::{TransactionDetail, transaction_detail};
use sentinel_store::{ItemKind, OrgRole};
use serde::Deserialize;

use super::charts::{self, ChartSpec, ms_text, opt_ms_text};
use super::layout::{self, Layout};
use super::project::org_project;
use super::{SignedIn, WebError, render};
use crate::AppState;
use crate::api::ApiError;
use crate::clock::rfc3339;
use crate::tenants::api::{TransactionJson, transactions_view, window_minutes, window_param};
use crate::tenants::read::{self, MINUTE_MS, window_bounds};
use crate::tenants::report::percent;
use crate::tenants::samples::{self, Sample};
use crate::tenants::sketch::LatencySketch;
use crate::tenants::summary::{EndpointCounts, Summary};
use crate::urls::form_urlencoded_component;

/// The windows the pages offer (any window the API takes works in the URL).
const WINDOWS: [&str; 4] = ["10m", "1h", "6h", "24h"];
const DEFAULT_WINDOW: &str = "1h";
/// Points a chart shows at most: longer windows get buckets of several minutes.
const MAX_POINTS: i64 = 120;
/// Bucket widths to choose from, the first that keeps a chart within `MAX_POINTS`.
const BUCKETS_MS: [i64; 5] = [
    MINUTE_MS,
    5 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    60 * MINUTE_MS,
];
/// Waterfall indentation levels (deeper spans share the last).
const MAX_DEPTH: usize = 8;
/// The waterfall bars' coordinate width (the SVG scales it to the column).
const BAR_WIDTH: f64 = 1000.0;

/// How the transactions list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Throughput,
    P95,
    FailureRate,
}

impl Sort {
    const ALL: [Sort; 3] = [Sort::Throughput, Sort::P95, Sort::FailureRate];

    fn as_str(self) -> &'static str {
        match self {
            Sort::Throughput => "throughput",
            Sort::P95 => "p95",
            Sort::FailureRate => "failure_rate",
        }
    }

    fn parse(value: Option<&str>) -> Result<Sort, ApiError> {
        let value = value.unwrap_or("throughput");
        Sort::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "invalid sort {value:?}: expected throughput, p95 or failure_rate"
                ))
            })
    }

    /// Largest first; ties by name, so the order is stable.
    fn order(self, list: &mut [TransactionJson]) {
        let key = |t: &TransactionJson| match self {
            Sort::Throughput => t.requests as f64,
            Sort::P95 => t.p95_ms.unwrap_or(-1.0),
            Sort::FailureRate => t.failure_rate,
        };
        list.sort_by(|a, b| {
            key(b)
                .total_cmp(&key(a))
                .then_with(|| a.endpoint.cmp(&b.endpoint))
        });
    }
}

/// One transaction (endpoint) as the pages show it; numbers formatted.
pub struct TransactionLine {
    pub name: String,
    pub url: String,
    pub requests: u64,
    pub throughput: String,
    pub failure_rate: String,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    pub apdex: String,
}

impl TransactionLine {
    fn new(t: &TransactionJson, url: String) -> Self {
        TransactionLine {
            name: t.endpoint.clone(),
            url,
            requests: t.requests,
            throughput: format!("{:.2}/min", t.throughput_per_minute),
            failure_rate: percent(t.failure_rate),
            p50: opt_ms_text(t.p50_ms),
            p95: opt_ms_text(t.p95_ms),
            p99: opt_ms_text(t.p99_ms),
            apdex: t.apdex.map_or_else(|| "—".to_owned(), |a| format!("{a:.2}")),
        }
    }
}

/// A link of the window selector or a sortable column.
pub struct Choice {
    pub label: &'static str,
    pub url: String,
    pub current: bool,
}

/// The URL of the performance pages of a project.
fn base_url(app: &AppState, org: &str, project: &str) -> String {
    format!(
        "{}/orgs/{org}/projects/{project}/performance/",
        app.settings.path_prefix
    )
}

/// A window is safe in a URL as it is: `window_param` lets only digits and a unit through.
fn transaction_url(base: &str, name: &str, window: &str) -> String {
    format!(
        "{base}transaction?name={}&window={window}",
        form_urlencoded_component(name)
    )
}

fn window_choices(current: &str, url: impl Fn(&str) -> String) -> Vec<Choice> {
    WINDOWS
        .into_iter()
        .map(|w| Choice {
            label: w,
            url: url(w),
            current: w == current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "performance.html")]
struct ListPage {
    layout: Layout,
    window: String,
    windows: Vec<Choice>,
    /// The sortable columns.
    by_throughput: Choice,
    by_p95: Choice,
    by_failure_rate: Choice,
    transactions: Vec<TransactionLine>,
    apdex_ms: String,
    project_id: i64,
    public_url: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    window: Option<String>,
    sort: Option<String>,
}

/// `GET /orgs/{org}/projects/{project}/performance/`
pub async fn list(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let (window, window_ms) = window_param(p.window.as_deref(), DEFAULT_WINDOW)?;
    let sort = Sort::parse(p.sort.as_deref())?;
    let mut view = transactions_view(&app, &project, &window, window_ms).await?;
    sort.order(&mut view.transactions);
    let base = base_url(&app, &org.slug, &project.slug);
    let by = |s: Sort| Choice {
        label: s.as_str(),
        url: format!("{base}?window={window}&sort={}", s.as_str()),
        current: s == sort,
    };
    let page = ListPage {
        layout: layout::in_org(&app, &s, &org, role, Some(&project), "Performance", "performance").await?,
        windows: window_choices(&window, |w| format!("{base}?window={w}&sort={}", sort.as_str())),
        by_throughput: by(Sort::Throughput),
        by_p95: by(Sort::P95),
        by_failure_rate: by(Sort::FailureRate),
        transactions: view
            .transactions
            .iter()
            .map(|t| TransactionLine::new(t, transaction_url(&base, &t.endpoint, &window)))
            .collect(),
        apdex_ms: project.apdex_threshold_ms.to_string(),
        project_id: project.id,
        public_url: app.settings.public_base_url(),
        window,
    };
    render(&page)
}

/// One endpoint's counts and latencies over a bucket or a window.
#[derive(Default)]
struct Tally {
    counts: EndpointCounts,
    latency: LatencySketch,
}

impl Tally {
    fn add(&mut self, counts: Option<&EndpointCounts>, latency: Option<&LatencySketch>) {
        if let Some(c) = counts {
            self.counts.add(c);
        }
        if let Some(l) = latency {
            // Sketches of one configuration always merge.
            let _ = self.latency.merge(l);
        }
    }
}

/// What the transaction page reads of one endpoint over a window.
struct EndpointHistory {
    total: Tally,
    /// By bucket start.
    buckets: BTreeMap<i64, Tally>,
    slowest: Vec<Sample>,
}

/// The endpoint `name`'s requests in `[since, until)`, in buckets of `bucket_ms` from `since`.
/// Rows are decoded one at a time and only this endpoint's parts are kept.
async fn endpoint_history(
    app: &AppState,
    project_id: i64,
    name: &str,
    since: i64,
    until: i64,
    bucket_ms: i64,
) -> Result<EndpointHistory, ApiError> {
    let rows = app.store.request_rollups(project_id, since, until, true).await?;
    let mut h = EndpointHistory {
        total: Tally::default(),
        buckets: BTreeMap::new(),
        slowest: Vec::new(),
    };
    for row in read::decoded(&rows, true) {
        let (minute_ms, Summary { counts, latency }) = row?;
        let (c, l) = (counts.endpoints.get(name), latency.endpoints.get(name));
        h.total.add(c, l);
        let bucket = minute_ms - (minute_ms - since).rem_euclid(bucket_ms);
        h.buckets.entry(bucket).or_default().add(c, l);
        let mine = latency.slowest.endpoint(name);
        if !mine.is_empty() {
            h.slowest = samples::slowest(h.slowest.drain(..).chain(mine.iter().cloned()));
        }
    }
    Ok(h)
}

/// The bucket width for a window: minutes, unless that gives more than `MAX_POINTS` points.
fn bucket_for(window_ms: i64) -> i64 {
    BUCKETS_MS
        .into_iter()
        .find(|b| window_ms / b <= MAX_POINTS)
        .unwrap_or(BUCKETS_MS[BUCKETS_MS.len() - 1])
}

/// A slow request as the transaction page lists it.
pub struct SampleLine {
    pub at: String,
    pub tenant: String,
    pub method: String,
    pub status: u16,
    pub duration: String,
    pub trace_id: String,
    /// The stored transaction's page, when the request was one.
    pub event_url: Option<String>,
}

#[derive(Template)]
#[template(path = "performance_transaction.html")]
struct TransactionPage {
    layout: Layout,
    name: String,
    window: String,
    windows: Vec<Choice>,
    /// `None` without requests in the window.
    summary: Option<TransactionLine>,
    /// `1 minute`, `15 minutes`: what a chart point covers.
    bucket: String,
    throughput_chart: String,
    failure_chart: String,
    latency_chart: String,
    samples: Vec<SampleLine>,
    list_url: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct TransactionParams {
    name: Option<String>,
    window: Option<String>,
}

/// `GET /orgs/{org}/projects/{project}/performance/transaction?name=…&window=…`: the name is a
/// query parameter because endpoints contain `/`.
pub async fn transaction(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
    Query(p): Query<TransactionParams>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let name = p.name.filter(|n| !n.is_empty()).ok_or_else(|| {
        ApiError::BadRequest("name is missing: which transaction (endpoint) to show".into())
    })?;
    let (window, window_ms) = window_param(p.window.as_deref(), DEFAULT_WINDOW)?;
    let (since, until) = window_bounds(app.clock.now_ms(), window_ms);
    let bucket_ms = bucket_for(until - since);
    let h = endpoint_history(&app, project.id, &name, since, until, bucket_ms).await?;

    let per_bucket_minutes = (bucket_ms / MINUTE_MS) as f64;
    let mut throughput = Vec::new();
    let mut failures = Vec::new();
    let mut latency = Vec::new();
    let mut start = since;
    while start < until {
        let b = h.buckets.get(&start);
        let requests = b.map_or(0, |b| b.counts.requests);
        throughput.push((start, vec![Some(requests as f64 / per_bucket_minutes)]));
        let failure = b
            .filter(|b| b.counts.requests > 0)
            .map(|b| b.counts.errors as f64 / b.counts.requests as f64 * 100.0);
        failures.push((start, vec![failure]));
        let q = |q: f64| b.and_then(|b| b.latency.quantile_ms(q));
        latency.push((start, vec![q(0.5), q(0.95), q(0.99)]));
        start += bucket_ms;
    }
    let spec = |title: &'static str, unit: &'static str, series: &'static [&'static str]| ChartSpec {
        title,
        unit,
        since_ms: since,
        until_ms: until,
        bucket_ms,
        max_gap_ms: bucket_ms,
        series,
    };

    let base = base_url(&app, &org.slug, &project.slug);
    let summary = (h.total.counts.requests > 0).then(|| {
        let json = TransactionJson::of(
            name.clone(),
            &h.total.counts,
            Some(&h.total.latency),
            window_minutes(since, until),
        );
        TransactionLine::new(&json, transaction_url(&base, &name, &window))
    });
    let samples = h
        .slowest
        .iter()
        .map(|x| SampleLine {
            at: rfc3339(x.timestamp_ms),
            tenant: x.tenant.clone(),
            method: x.method.clone(),
            status: x.status,
            duration: ms_text(x.latency_ms),
            trace_id: x.trace_id.map(|t| t.to_string()).unwrap_or_default(),
            event_url: x.event_id.map(|id| format!("{base}events/{id}/")),
        })
        .collect();
    let page = TransactionPage {
        layout: layout::in_org(&app, &s, &org, role, Some(&project), &name, "performance").await?,
        windows: window_choices(&window, |w| transaction_url(&base, &name, w)),
        summary,
        bucket: match bucket_ms / MINUTE_MS {
            1 => "1 minute".to_owned(),
            n => format!("{n} minutes"),
        },
        throughput_chart: charts::line_chart(
            &spec("Throughput, requests per minute", "/min", &["requests/min"]),
            &throughput,
        )?,
        failure_chart: charts::line_chart(&spec("Failure rate (5xx)", "%", &["5xx"]), &failures)?,
        latency_chart: charts::line_chart(&spec("Latency", "ms", &["p50", "p95", "p99"]), &latency)?,
        samples,
        list_url: format!("{base}?window={window}"),
        name,
        window,
    };
    render(&page)
}

/// One row of the waterfall: the transaction itself first, then its spans.
pub struct SpanRow {
    pub op: String,
    pub description: String,
    pub status: String,
    pub offset: String,
    pub duration: String,
    /// Indentation level, 0 for the transaction.
    pub depth: usize,
    /// The bar, in a `0 0 1000 10` view box.
    pub bar_x: String,
    pub bar_w: String,
    pub root: bool,
}

fn us_text(us: i64) -> String {
    ms_text(us as f64 / 1000.0)
}

fn span_rows(t: &TransactionDetail) -> Vec<SpanRow> {
    let total = t.duration_us.max(1) as f64;
    let bar = |offset_us: i64, duration_us: Option<i64>| {
        let x = (offset_us as f64 / total * BAR_WIDTH).clamp(0.0, BAR_WIDTH);
        // A span of no measurable length (or unfinished) still shows as a sliver.
        let w = (duration_us.unwrap_or(0) as f64 / total * BAR_WIDTH).clamp(2.0, BAR_WIDTH);
        let x = x.min(BAR_WIDTH - w);
        (format!("{x:.1}"), format!("{w:.1}"))
    };
    let (bar_x, bar_w) = bar(0, Some(t.duration_us));
    let mut rows = vec![SpanRow {
        op: t.op.clone(),
        description: t.name.clone(),
        status: t.status.clone(),
        offset: us_text(0),
        duration: us_text(t.duration_us),
        depth: 0,
        bar_x,
        bar_w,
        root: true,
    }];
    rows.extend(t.spans.iter().map(|s| {
        let (bar_x, bar_w) = bar(s.offset_us, s.duration_us);
        SpanRow {
            op: s.op.clone(),
            description: s.description.clone(),
            status: s.status.clone(),
            offset: us_text(s.offset_us),
            duration: s.duration_us.map_or_else(|| "unfinished".to_owned(), us_text),
            depth: s.depth.min(MAX_DEPTH),
            bar_x,
            bar_w,
            root: false,
        }
    }));
    rows
}

#[derive(Template)]
#[template(path = "performance_event.html")]
struct EventPage {
    layout: Layout,
    event_id: String,
    name: String,
    op: String,
    status: String,
    started: String,
    duration: String,
    trace_id: String,
    tags: Vec<(String, String)>,
    rows: Vec<SpanRow>,
    spans_dropped: usize,
    /// The transaction (endpoint) page of its requests, when it counted as one.
    transaction_url: Option<String>,
    list_url: String,
}

/// `GET /orgs/{org}/projects/{project}/performance/events/{event_id}/`: a stored transaction.
pub async fn event(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project, event)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let not_found = || ApiError::NotFound(format!("transaction {event} not found"));
    let event_id: EventId = event.parse().map_err(|_| not_found())?;
    let item = app
        .store
        .get_item(project.id, ItemKind::Transaction, event_id)
        .await?
        .ok_or_else(not_found)?;
    let payload = app
        .codec
        .decompress(0, &item.payload, app.settings.ingest.max_event_bytes * 2)
        .map_err(|e| ApiError::Internal(format!("stored transaction {event_id}: {e}")))?;
    let t = transaction_detail(&payload).ok_or_else(|| {
        ApiError::Internal(format!("stored transaction {event_id} has no start or end time"))
    })?;
    let base = base_url(&app, &org.slug, &project.slug);
    let endpoint =
        sentinel_protocol::transaction::request_from_transaction(&payload, &app.settings.tenants.tenant_tag)
            .map(|r| r.endpoint);
    let page = EventPage {
        layout: layout::in_org(&app, &s, &org, role, Some(&project), &t.name, "performance").await?,
        event_id: event_id.to_string(),
        rows: span_rows(&t),
        name: t.name,
        op: t.op,
        status: t.status,
        started: rfc3339(t.start_us.div_euclid(1000)),
        duration: us_text(t.duration_us),
        trace_id: t.trace_id.map(|t| t.to_string()).unwrap_or_default(),
        tags: t.tags,
        spans_dropped: t.spans_dropped,
        transaction_url: endpoint.map(|e| transaction_url(&base, &e, DEFAULT_WINDOW)),
        list_url: base,
    };
    render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(endpoint: &str, requests: u64, p95: Option<f64>, failure_rate: f64) -> TransactionJson {
        TransactionJson {
            endpoint: endpoint.into(),
            requests,
            throughput_per_minute: requests as f64,
            failure_rate,
            p50_ms: None,
            p95_ms: p95,
            p99_ms: None,
            apdex: None,
        }
    }

    #[test]
    fn the_list_sorts_by_throughput_p95_or_failure_rate_largest_first() {
        let mut list = vec![
            tx("/a", 10, Some(50.0), 0.5),
            tx("/b", 30, None, 0.0),
            tx("/c", 20, Some(900.0), 0.1),
        ];
        let names = |l: &[TransactionJson]| l.iter().map(|t| t.endpoint.clone()).collect::<Vec<_>>();
        Sort::Throughput.order(&mut list);
        assert_eq!(names(&list), ["/b", "/c", "/a"]);
        Sort::P95.order(&mut list);
        assert_eq!(names(&list), ["/c", "/a", "/b"], "no latency sorts last");
        Sort::FailureRate.order(&mut list);
        assert_eq!(names(&list), ["/a", "/c", "/b"]);
        assert!(Sort::parse(Some("latency")).is_err());
        assert_eq!(Sort::parse(None).unwrap(), Sort::Throughput);
    }

    #[test]
    fn charts_keep_to_a_point_per_minute_up_to_120_points() {
        assert_eq!(bucket_for(10 * MINUTE_MS), MINUTE_MS);
        assert_eq!(bucket_for(120 * MINUTE_MS), MINUTE_MS);
        assert_eq!(bucket_for(121 * MINUTE_MS), 5 * MINUTE_MS);
        assert_eq!(bucket_for(6 * 60 * MINUTE_MS), 5 * MINUTE_MS);
        assert_eq!(bucket_for(10 * 60 * MINUTE_MS), 5 * MINUTE_MS);
        assert_eq!(bucket_for(24 * 60 * MINUTE_MS), 15 * MINUTE_MS);
    }
}
