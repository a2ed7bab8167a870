//! "Which tenant is it?": rankings read from the merged summary of a window (and, for latency,
//! of the baseline period before it).
//!
//! - **errors**: share of all 5xx in the window, from the 5xx a tenant surely had (its
//!   Space-Saving count minus the error bound), with its dominating endpoint;
//! - **error_rate**: the Wilson lower bound of its 5xx over its requests, so 1 of 2 never
//!   outranks 300 of 1,000; tenants under `min_requests` are left out;
//! - **latency**: its p95 against its own p95 over the baseline period (or, without a baseline,
//!   against all tenants' p95 now), with the endpoint that deviates most.

use serde::Serialize;

use super::rank::{Z_95, wilson_lower};
use super::sketch::LatencySketch;
use super::summary::{OTHER, Summary};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Errors,
    ErrorRate,
    Latency,
}

impl std::str::FromStr for By {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "errors" => Ok(By::Errors),
            "error_rate" | "error-rate" => Ok(By::ErrorRate),
            "latency" => Ok(By::Latency),
            other => Err(format!(
                "unknown ranking {other:?}; expected errors, error_rate or latency"
            )),
        }
    }
}

/// One tenant's line in a ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantRank {
    pub tenant: String,
    /// Its requests (an upper bound), when tracked.
    pub requests: Option<u64>,
    /// Its 5xx (an upper bound; 0 when not tracked).
    pub errors: u64,
    /// Share of all 5xx in the window, 0–1, from the 5xx it surely had.
    pub share: f64,
    /// 5xx / requests, when its requests are tracked.
    pub error_rate: Option<f64>,
    /// Lower bound of the error rate (Wilson, 95 %).
    pub error_rate_lower: Option<f64>,
    /// The endpoint with most of its 5xx and that endpoint's share of them (0–1).
    pub endpoint: Option<String>,
    pub endpoint_share: Option<f64>,
    /// Its p95 latency in the window, when sketched.
    pub p95_ms: Option<f64>,
    /// Its p95 over the baseline period.
    pub baseline_p95_ms: Option<f64>,
    /// `p95_ms / baseline_p95_ms`.
    pub vs_baseline: Option<f64>,
    /// `p95_ms` / all tenants' p95 in the window.
    pub vs_all: Option<f64>,
    /// The endpoint whose p95 deviates most (against the tenant's baseline there, else against
    /// all tenants on it), with its p95 and that factor.
    pub latency_endpoint: Option<String>,
    pub latency_endpoint_p95_ms: Option<f64>,
    pub latency_endpoint_factor: Option<f64>,
}

/// An endpoint is named beside a tenant when it holds at least this share of its 5xx.
const DOMINATING: f64 = 0.5;

impl TenantRank {
    /// The endpoint with most of the tenant's 5xx, when it holds at least half of them.
    pub fn dominating_endpoint(&self) -> Option<&str> {
        self.endpoint
            .as_deref()
            .filter(|_| self.endpoint_share.is_some_and(|s| s >= DOMINATING))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranking {
    pub by: By,
    pub requests: u64,
    pub errors: u64,
    /// All requests' p95 in the window.
    pub p95_ms: Option<f64>,
    pub tenants: Vec<TenantRank>,
}

/// Ranks the tenants of `window`; `baseline` is the period before it (latency only). Tenants
/// with fewer than `min_requests` requests are left out of the error-rate and latency rankings.
pub fn rank(window: &Summary, baseline: Option<&Summary>, by: By, k: usize, min_requests: u64) -> Ranking {
    let c = &window.counts;
    let candidates: Vec<String> = match by {
        // Only the `k` a share ranks first get a line (the order of the sort below).
        By::Errors => {
            let mut top = c.tenant_errors.top(usize::MAX);
            top.sort_by(|a, b| {
                b.guaranteed()
                    .cmp(&a.guaranteed())
                    .then_with(|| b.count.cmp(&a.count))
                    .then_with(|| a.key.cmp(&b.key))
            });
            top.into_iter().take(k).map(|t| t.key).collect()
        }
        By::ErrorRate => c
            .tenant_errors
            .top(usize::MAX)
            .into_iter()
            .map(|t| t.key)
            .collect(),
        By::Latency => window.latency.tenants.keys().cloned().collect(),
    };
    let all_p95 = window.latency.all.quantile_ms(0.95);
    let mut lines: Vec<TenantRank> = candidates
        .into_iter()
        .map(|t| line(window, baseline, &t, all_p95))
        .filter(|l| by == By::Errors || sure_requests(c, &l.tenant) >= min_requests.max(1))
        .collect();
    match by {
        // By the 5xx a tenant surely had, as its share says: the upper bound would put a small
        // tenant that merges inflated above a larger one.
        By::Errors => lines.sort_by(|a, b| {
            b.share
                .total_cmp(&a.share)
                .then_with(|| b.errors.cmp(&a.errors))
                .then_with(|| a.tenant.cmp(&b.tenant))
        }),
        By::ErrorRate => lines.sort_by(|a, b| {
            b.error_rate_lower
                .unwrap_or(0.0)
                .total_cmp(&a.error_rate_lower.unwrap_or(0.0))
                .then_with(|| a.tenant.cmp(&b.tenant))
        }),
        By::Latency => {
            lines.retain(|l| l.vs_baseline.or(l.vs_all).is_some());
            lines.sort_by(|a, b| {
                latency_score(b)
                    .total_cmp(&latency_score(a))
                    .then_with(|| a.tenant.cmp(&b.tenant))
            });
        }
    }
    lines.truncate(k);
    Ranking {
        by,
        requests: c.requests,
        errors: c.errors,
        p95_ms: all_p95,
        tenants: lines,
    }
}

/// The requests a tenant surely had (its count minus the error merges may have added): the
/// minimum-volume guard must not let a tenant through on the upper bound alone.
pub fn sure_requests(c: &super::summary::Counts, tenant: &str) -> u64 {
    c.tenants.get(tenant).map_or(0, |r| r.guaranteed())
}

fn latency_score(l: &TenantRank) -> f64 {
    l.vs_baseline.or(l.vs_all).unwrap_or(0.0)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn p95(s: &LatencySketch) -> Option<f64> {
    s.quantile_ms(0.95)
}

/// Enough samples for a p95 to mean something.
const MIN_SKETCH_SAMPLES: u64 = 20;

/// A tenant's line, whatever the ranking.
pub fn line(window: &Summary, baseline: Option<&Summary>, tenant: &str, all_p95: Option<f64>) -> TenantRank {
    let c = &window.counts;
    let requests = c.tenants.get(tenant).map(|r| r.count);
    let errors = c.tenant_errors.get(tenant);
    let sure = errors.as_ref().map_or(0, |e| e.guaranteed());
    let (endpoint, endpoint_share) = c
        .error_endpoints
        .get(tenant)
        .and_then(|e| {
            let top = e.top(1).into_iter().next()?;
            Some((top.key, top.count as f64 / e.total().max(1) as f64))
        })
        .map_or((None, None), |(k, s)| (Some(k), Some(s)));
    let sketch = window
        .latency
        .tenant(tenant)
        .filter(|s| s.count() >= MIN_SKETCH_SAMPLES);
    let base = baseline
        .and_then(|b| b.latency.tenant(tenant))
        .filter(|s| s.count() >= MIN_SKETCH_SAMPLES);
    let p95_ms = sketch.as_ref().and_then(p95);
    let baseline_p95_ms = base.as_ref().and_then(p95);
    // The endpoint that deviates most, against the tenant's own baseline there when it has
    // one, else against all tenants on that endpoint now.
    let mut worst: Option<(String, f64, f64)> = None;
    if let Some(endpoints) = window.latency.tenants.get(tenant) {
        for (endpoint, s) in endpoints {
            if endpoint == OTHER || s.count() < MIN_SKETCH_SAMPLES {
                continue;
            }
            let now = p95(s);
            let own = baseline
                .and_then(|b| b.latency.tenants.get(tenant)?.get(endpoint))
                .filter(|s| s.count() >= MIN_SKETCH_SAMPLES)
                .and_then(p95);
            let everyone = window.latency.endpoints.get(endpoint).and_then(p95);
            if let (Some(now), Some(factor)) = (now, ratio(now, own).or(ratio(now, everyone)))
                && worst.as_ref().is_none_or(|w| factor > w.2)
            {
                worst = Some((endpoint.clone(), now, factor));
            }
        }
    }
    TenantRank {
        tenant: tenant.to_owned(),
        requests,
        errors: errors.as_ref().map_or(0, |e| e.count),
        share: sure as f64 / c.errors.max(1) as f64,
        error_rate: requests.map(|n| (sure as f64 / n.max(1) as f64).min(1.0)),
        error_rate_lower: requests.map(|n| wilson_lower(sure, n, Z_95)),
        endpoint,
        endpoint_share,
        p95_ms,
        baseline_p95_ms,
        vs_baseline: ratio(p95_ms, baseline_p95_ms),
        vs_all: ratio(p95_ms, all_p95),
        latency_endpoint: worst.as_ref().map(|w| w.0.clone()),
        latency_endpoint_p95_ms: worst.as_ref().map(|w| w.1),
        latency_endpoint_factor: worst.as_ref().map(|w| w.2),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use sentinel_protocol::requests::RequestEvent;

    use super::*;

    const T0: i64 = 1_800_000_000_000;
    const ENDPOINTS: [&str; 4] = ["/v1/process", "/v1/orders/{id}", "/v1/users/{id}", "/v1/reports"];

    /// A deterministic pseudo-random stream.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
        /// 20–80 ms with a tail.
        fn latency(&mut self) -> f64 {
            let u = (self.next() % 10_000) as f64 / 10_000.0;
            20.0 / (1.0 - u * 0.99).powf(0.5)
        }
    }

    fn req(tenant: &str, endpoint: &str, status: u16, latency_ms: f64, at: i64) -> RequestEvent {
        RequestEvent {
            tenant: tenant.into(),
            endpoint: endpoint.into(),
            method: "GET".into(),
            status,
            latency_ms,
            timestamp_ms: at,
            event_id: None,
            trace_id: None,
        }
    }

    /// What workers do: parts of a few thousand events per minute, merged.
    fn summarize(events: &[RequestEvent]) -> Summary {
        let mut by_minute: BTreeMap<i64, Vec<&RequestEvent>> = BTreeMap::new();
        for e in events {
            by_minute
                .entry(e.timestamp_ms - e.timestamp_ms % 60_000)
                .or_default()
                .push(e);
        }
        let mut all = Summary::default();
        for minute in by_minute.values() {
            for part in minute.chunks(5_000) {
                all.merge(&Summary::of(part.iter().copied(), 300.0));
            }
        }
        all
    }

    fn exact_p95(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        let rank = ((0.95 * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }

    /// The accuracy scenario. 50,000 tenants over ten minutes: background requests spread
    /// thinly over everyone with 1 % 5xx; tenant_acme then causes 68 % of all 5xx (90 % of them on
    /// /v1/process) and tenant_beta 21 %; tenant_slow, a busy tenant, has a 3× latency
    /// regression on /v1/reports against the hour before.
    #[test]
    fn the_50_000_tenant_scenario_ranks_shares_endpoints_and_latency_right() {
        let mut rng = Lcg(42);
        let mut events = Vec::new();
        let mut baseline_events = Vec::new();
        for i in 0..300_000i64 {
            let tenant = format!("tenant_{}", rng.next() % 50_000);
            let endpoint = ENDPOINTS[(rng.next() % 4) as usize];
            let status = if rng.next().is_multiple_of(100) { 503 } else { 200 };
            let latency = rng.latency();
            events.push(req(&tenant, endpoint, status, latency, T0 + (i * 2) % 600_000));
        }
        // tenant_slow: 6,000 requests in the window and in the baseline hour, /v1/reports 3×
        // slower in the window.
        for i in 0..6_000i64 {
            let endpoint = ENDPOINTS[(i % 4) as usize];
            let latency = rng.latency();
            baseline_events.push(req(
                "tenant_slow",
                endpoint,
                200,
                latency,
                T0 - 3_600_000 + i * 600,
            ));
            let slow = if endpoint == "/v1/reports" { 3.0 } else { 1.0 };
            events.push(req(
                "tenant_slow",
                endpoint,
                200,
                latency * slow,
                T0 + (i * 100) % 600_000,
            ));
        }
        for i in 0..60_000i64 {
            let tenant = format!("tenant_{}", rng.next() % 50_000);
            baseline_events.push(req(
                &tenant,
                ENDPOINTS[(i % 4) as usize],
                200,
                rng.latency(),
                T0 - 3_600_000 + i * 60,
            ));
        }
        let background = events.iter().filter(|e| e.status >= 500).count() as u64;
        let total_target = background * 100 / 11;
        let (acme, beta) = (total_target * 68 / 100, total_target * 21 / 100);
        for i in 0..acme.max(beta) as i64 {
            let at = T0 + (i * 7) % 600_000;
            if (i as u64) < acme {
                let endpoint = if i % 10 < 9 {
                    "/v1/process"
                } else {
                    "/v1/orders/{id}"
                };
                events.push(req("tenant_acme", endpoint, 500, 30.0, at));
                events.push(req("tenant_acme", "/v1/process", 200, 30.0, at));
            }
            if (i as u64) < beta {
                events.push(req("tenant_beta", "/v1/users/{id}", 502, 30.0, at));
            }
        }
        // Exact answers.
        let mut errors: HashMap<&str, u64> = HashMap::new();
        let mut acme_endpoints: HashMap<&str, u64> = HashMap::new();
        for e in events.iter().filter(|e| e.status >= 500) {
            *errors.entry(&e.tenant).or_default() += 1;
            if e.tenant == "tenant_acme" {
                *acme_endpoints.entry(&e.endpoint).or_default() += 1;
            }
        }
        let total_5xx: u64 = errors.values().sum();

        let window = summarize(&events);
        let baseline = summarize(&baseline_events);
        let r = rank(&window, Some(&baseline), By::Errors, 3, 20);
        assert_eq!(r.errors, total_5xx);
        assert_eq!(r.requests, events.len() as u64);
        let names: Vec<&str> = r.tenants.iter().map(|t| t.tenant.as_str()).collect();
        assert_eq!(&names[..2], ["tenant_acme", "tenant_beta"]);
        for t in &r.tenants[..2] {
            let exact = errors[t.tenant.as_str()] as f64 / total_5xx as f64;
            assert!((t.share - exact).abs() <= 0.01, "{t:?} against {exact}");
        }
        assert!((r.tenants[0].share - 0.68).abs() <= 0.01, "{:?}", r.tenants[0]);
        assert_eq!(r.tenants[0].endpoint.as_deref(), Some("/v1/process"));
        let exact_endpoint = acme_endpoints["/v1/process"] as f64 / errors["tenant_acme"] as f64;
        let share = r.tenants[0].endpoint_share.unwrap();
        assert!(
            (share - exact_endpoint).abs() <= 0.01,
            "{share} against {exact_endpoint}"
        );
        assert_eq!(r.tenants[1].endpoint.as_deref(), Some("/v1/users/{id}"));
        // acme sent as many successes as failures.
        let rate = r.tenants[0].error_rate_lower.unwrap();
        assert!((0.45..=0.5).contains(&rate), "{rate}");

        // By error rate: beta fails every request, acme half of them.
        let r = rank(&window, None, By::ErrorRate, 3, 20);
        let names: Vec<&str> = r.tenants.iter().map(|t| t.tenant.as_str()).collect();
        assert_eq!(&names[..2], ["tenant_beta", "tenant_acme"]);

        // By latency: tenant_slow, about 3× its own baseline on /v1/reports.
        let r = rank(&window, Some(&baseline), By::Latency, 3, 20);
        let slow = &r.tenants[0];
        assert_eq!(slow.tenant, "tenant_slow", "{:?}", r.tenants);
        assert_eq!(slow.latency_endpoint.as_deref(), Some("/v1/reports"));
        let factor = slow.latency_endpoint_factor.unwrap();
        assert!((2.7..=3.3).contains(&factor), "{factor}");
        // p95s within the sketch's 1 % of the exact ones.
        let exact = exact_p95(
            events
                .iter()
                .filter(|e| e.tenant == "tenant_slow")
                .map(|e| e.latency_ms)
                .collect(),
        );
        let got = slow.p95_ms.unwrap();
        assert!(
            (got - exact).abs() <= exact * 0.01,
            "tenant p95 {got} against {exact}"
        );
        let exact = exact_p95(
            events
                .iter()
                .filter(|e| e.tenant == "tenant_slow" && e.endpoint == "/v1/reports")
                .map(|e| e.latency_ms)
                .collect(),
        );
        let got = slow.latency_endpoint_p95_ms.unwrap();
        assert!(
            (got - exact).abs() <= exact * 0.01,
            "endpoint p95 {got} against {exact}"
        );
        let exact = exact_p95(events.iter().map(|e| e.latency_ms).collect());
        let got = r.p95_ms.unwrap();
        assert!(
            (got - exact).abs() <= exact * 0.01,
            "global p95 {got} against {exact}"
        );
    }

    #[test]
    fn two_nodes_with_halves_of_the_stream_rank_as_one() {
        let mut rng = Lcg(7);
        let events: Vec<RequestEvent> = (0..40_000i64)
            .map(|i| {
                let tenant = match i % 10 {
                    0..=3 => "acme".to_owned(),
                    4 => "beta".to_owned(),
                    _ => format!("t{}", rng.next() % 5_000),
                };
                let status = if i % 10 <= 4 || rng.next().is_multiple_of(50) {
                    500
                } else {
                    200
                };
                req(
                    &tenant,
                    ENDPOINTS[(i % 4) as usize],
                    status,
                    10.0,
                    T0 + i % 600_000,
                )
            })
            .collect();
        let whole = summarize(&events);
        let (a, b): (Vec<_>, Vec<_>) = events.iter().cloned().enumerate().partition(|(i, _)| i % 2 == 0);
        let strip = |v: Vec<(usize, RequestEvent)>| v.into_iter().map(|(_, e)| e).collect::<Vec<_>>();
        let mut merged = summarize(&strip(a));
        merged.merge(&summarize(&strip(b)));
        let top = |s: &Summary| {
            rank(s, None, By::Errors, 5, 20)
                .tenants
                .into_iter()
                .map(|t| t.tenant)
                .collect::<Vec<_>>()
        };
        assert_eq!(top(&merged)[..2], top(&whole)[..2]);
        assert_eq!(merged.counts.errors, whole.counts.errors);
    }

    /// Merging summaries adds the other side's floor to a key it did not track, as count and as
    /// error. What was added must neither lift a small tenant over the error-rate guard nor rank
    /// it above tenants that surely had more 5xx.
    #[test]
    fn rankings_use_what_a_tenant_surely_had_not_what_merges_may_have_added() {
        let events = |list: &[(&str, usize, u16)]| {
            list.iter()
                .flat_map(|&(t, n, status)| (0..n).map(move |_| req(t, "/x", status, 10.0, T0)))
                .collect::<Vec<_>>()
        };
        let fillers: Vec<String> = (0..999).map(|i| format!("f{i:04}")).collect();

        // A node's summary full of 1,000 tenants with 8–9 5xx; another where `inflated` had 2.
        let mut a: Vec<(&str, usize, u16)> = fillers.iter().map(|f| (f.as_str(), 9, 500)).collect();
        a.push(("a_solid", 8, 500));
        let mut s = Summary::of(&events(&a), 300.0);
        s.merge(&Summary::of(
            &events(&[("inflated", 2, 500), ("a_solid", 1, 500)]),
            300.0,
        ));
        let inflated = s.counts.tenant_errors.get("inflated").unwrap();
        assert_eq!((inflated.count, inflated.guaranteed()), (10, 2));
        let r = rank(&s, None, By::Errors, 1_000, 20);
        assert_eq!(r.tenants[0].tenant, "a_solid", "9 sure 5xx");
        assert_eq!(
            r.tenants.last().unwrap().tenant,
            "inflated",
            "2 sure 5xx, 10 at most"
        );

        // By error rate: `tiny` (3 requests, all 5xx) reaches 20 requests only as an upper bound.
        let a: Vec<(&str, usize, u16)> = fillers
            .iter()
            .map(|f| (f.as_str(), 17, 200))
            .chain([("g", 17, 200)])
            .collect();
        let mut s = Summary::of(&events(&a), 300.0);
        s.merge(&Summary::of(
            &events(&[("tiny", 3, 500), ("steady", 70, 200), ("steady", 30, 500)]),
            300.0,
        ));
        let tiny = s.counts.tenants.get("tiny").unwrap();
        assert_eq!((tiny.count, tiny.guaranteed()), (20, 3));
        let r = rank(&s, None, By::ErrorRate, 10, 20);
        let names: Vec<&str> = r.tenants.iter().map(|t| t.tenant.as_str()).collect();
        assert_eq!(names, ["steady"]);
    }

    #[test]
    fn rankings_are_named_as_the_cli_and_api_spell_them() {
        assert_eq!("errors".parse(), Ok(By::Errors));
        assert_eq!("error-rate".parse(), Ok(By::ErrorRate));
        assert!("p99".parse::<By>().unwrap_err().contains("expected errors"));
    }
}
