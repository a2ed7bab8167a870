//! A project's request events over a rolling window of minute buckets, in bounded memory, and
//! the "which tenant is it?" ranking read from it.
//!
//! Per minute bucket: Space-Saving summaries of requests and of 5xx by tenant (so memory does not
//! grow with the number of tenants; what they do not track is the "other" share), and, for each
//! tenant the 5xx summary tracks, a small summary of its 5xx by endpoint (the dominating
//! endpoint). A tenant evicted from the 5xx summary loses its breakdown with it. The ranking
//! merges the buckets of the window (summaries are mergeable, see `topk`).

use std::collections::{BTreeMap, HashMap};

use super::rank::{Z_95, wilson_lower};
use super::topk::SpaceSaving;

/// Tenants tracked per bucket and summary.
pub const TENANTS_TRACKED: usize = 1_000;
/// Endpoints tracked per tenant for its 5xx breakdown.
pub const ENDPOINTS_TRACKED: usize = 16;
const MINUTE_MS: i64 = 60_000;

/// One request, as the batch endpoint, a transaction or an OTLP span delivers it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub tenant: &'a str,
    /// The route template (`/v1/orders/{id}`), not the raw path.
    pub endpoint: &'a str,
    pub status: u16,
    pub at_ms: i64,
}

#[derive(Debug, Clone)]
struct Bucket {
    requests: SpaceSaving,
    errors: SpaceSaving,
    /// 5xx by endpoint of each tenant `errors` tracks.
    error_endpoints: HashMap<String, SpaceSaving>,
}

impl Bucket {
    fn new() -> Self {
        Self {
            requests: SpaceSaving::new(TENANTS_TRACKED),
            errors: SpaceSaving::new(TENANTS_TRACKED),
            error_endpoints: HashMap::new(),
        }
    }

    fn add(&mut self, r: &Request<'_>) {
        self.requests.add(r.tenant, 1);
        if r.status >= 500 {
            if let Some(gone) = self.errors.add(r.tenant, 1) {
                self.error_endpoints.remove(&gone);
            }
            self.error_endpoints
                .entry(r.tenant.to_owned())
                .or_insert_with(|| SpaceSaving::new(ENDPOINTS_TRACKED))
                .add(r.endpoint, 1);
        }
    }

    fn merge(&mut self, other: &Bucket) {
        self.requests.merge(&other.requests);
        self.errors.merge(&other.errors);
        for (tenant, endpoints) in &other.error_endpoints {
            self.error_endpoints
                .entry(tenant.clone())
                .or_insert_with(|| SpaceSaving::new(ENDPOINTS_TRACKED))
                .merge(endpoints);
        }
        let errors = &self.errors;
        self.error_endpoints.retain(|t, _| errors.tracks(t));
    }
}

/// A tenant's place in the 5xx ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantErrors {
    pub tenant: String,
    /// 5xx responses (an upper bound; at most `total / TENANTS_TRACKED` too many).
    pub errors: u64,
    /// Share of all 5xx in the window, 0–1, from the 5xx the tenant surely had.
    pub share: f64,
    /// Its requests (upper bound), when tracked.
    pub requests: Option<u64>,
    /// Lower bound of its error rate (Wilson, 95 %), when its requests are tracked.
    pub error_rate_lower: Option<f64>,
    /// The endpoint with most of its 5xx, and that endpoint's share of them (0–1).
    pub endpoint: Option<(String, f64)>,
}

/// Minute buckets of one project.
#[derive(Debug, Clone, Default)]
pub struct Window {
    buckets: BTreeMap<i64, Bucket>,
}

impl Window {
    pub fn add(&mut self, r: &Request<'_>) {
        let minute = r.at_ms - r.at_ms.rem_euclid(MINUTE_MS);
        self.buckets.entry(minute).or_insert_with(Bucket::new).add(r);
    }

    /// Forgets buckets that started before `since_ms`.
    pub fn expire(&mut self, since_ms: i64) {
        self.buckets = self
            .buckets
            .split_off(&(since_ms - since_ms.rem_euclid(MINUTE_MS)));
    }

    /// Adds another node's (or a stored) window in.
    pub fn merge(&mut self, other: &Window) {
        for (minute, b) in &other.buckets {
            match self.buckets.get_mut(minute) {
                Some(mine) => mine.merge(b),
                None => {
                    self.buckets.insert(*minute, b.clone());
                }
            }
        }
    }

    /// The `k` tenants with most 5xx in `[since_ms, until_ms)`, most first, and the window's 5xx
    /// total.
    pub fn top_errors(&self, since_ms: i64, until_ms: i64, k: usize) -> (Vec<TenantErrors>, u64) {
        let mut all = Bucket::new();
        for (_, b) in self
            .buckets
            .range(since_ms - since_ms.rem_euclid(MINUTE_MS)..until_ms)
        {
            all.merge(b);
        }
        let total = all.errors.total();
        let ranked = all
            .errors
            .top(k)
            .into_iter()
            .map(|c| {
                let requests = all.requests.tracks(&c.key).then(|| {
                    all.requests
                        .top(TENANTS_TRACKED)
                        .into_iter()
                        .find(|r| r.key == c.key)
                        .map_or(0, |r| r.count)
                });
                let endpoint = all.error_endpoints.get(&c.key).and_then(|e| {
                    let top = e.top(1).into_iter().next()?;
                    Some((top.key, top.count as f64 / e.total().max(1) as f64))
                });
                TenantErrors {
                    share: c.guaranteed() as f64 / total.max(1) as f64,
                    error_rate_lower: requests.map(|n| wilson_lower(c.guaranteed(), n, Z_95)),
                    requests,
                    endpoint,
                    errors: c.count,
                    tenant: c.key,
                }
            })
            .collect();
        (ranked, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

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
    }

    /// Exact 5xx counts beside the window.
    #[derive(Default)]
    struct Truth {
        errors: HashMap<String, u64>,
        total: u64,
        acme_endpoints: HashMap<&'static str, u64>,
    }

    impl Truth {
        fn add(&mut self, w: &mut Window, tenant: &str, endpoint: &'static str, status: u16, at: i64) {
            w.add(&Request {
                tenant,
                endpoint,
                status,
                at_ms: at,
            });
            if status >= 500 {
                *self.errors.entry(tenant.to_owned()).or_default() += 1;
                self.total += 1;
                if tenant == "tenant_acme" {
                    *self.acme_endpoints.entry(endpoint).or_default() += 1;
                }
            }
        }
    }

    /// 50,000 tenants over ten minutes: background 5xx spread thinly over everyone, then
    /// tenant_acme causing 68 % of all 5xx (mostly on /v1/process) and tenant_beta 21 %.
    #[test]
    fn one_tenant_causing_most_5xx_among_50_000_is_ranked_with_its_share_and_endpoint() {
        let mut rng = Lcg(42);
        let endpoints = ["/v1/process", "/v1/orders/{id}", "/v1/users/{id}", "/health"];
        let mut window = Window::default();
        let mut truth = Truth::default();
        // Background: 300,000 requests over 50,000 tenants, 1 % of them 5xx.
        for i in 0..300_000u64 {
            let tenant = format!("tenant_{}", rng.next() % 50_000);
            let endpoint = endpoints[(rng.next() % 4) as usize];
            let status = if rng.next().is_multiple_of(100) { 503 } else { 200 };
            truth.add(
                &mut window,
                &tenant,
                endpoint,
                status,
                T0 + (i as i64 * 2) % 600_000,
            );
        }
        let background = truth.total;
        // Incident: acme gets 68 % of all 5xx, beta 21 %, the background stays 11 %.
        let total_target = background * 100 / 11;
        let acme = total_target * 68 / 100;
        let beta = total_target * 21 / 100;
        for i in 0..acme.max(beta) {
            let at = T0 + (i as i64 * 7) % 600_000;
            if i < acme {
                let endpoint = if i % 10 < 9 {
                    "/v1/process"
                } else {
                    "/v1/orders/{id}"
                };
                truth.add(&mut window, "tenant_acme", endpoint, 500, at);
                truth.add(&mut window, "tenant_acme", "/v1/process", 200, at);
            }
            if i < beta {
                truth.add(&mut window, "tenant_beta", "/v1/users/{id}", 502, at);
            }
        }
        let (top, total) = window.top_errors(T0, T0 + 600_000, 3);
        let (exact, exact_total, acme_endpoints) = (&truth.errors, truth.total, &truth.acme_endpoints);
        assert_eq!(total, exact_total);
        let names: Vec<&str> = top.iter().map(|t| t.tenant.as_str()).collect();
        assert_eq!(&names[..2], ["tenant_acme", "tenant_beta"]);
        for t in &top[..2] {
            let true_share = exact[&t.tenant] as f64 / exact_total as f64;
            assert!((t.share - true_share).abs() <= 0.01, "{t:?} against {true_share}");
        }
        assert!((top[0].share - 0.68).abs() <= 0.01, "{:?}", top[0]);
        let (endpoint, share) = top[0].endpoint.clone().unwrap();
        assert_eq!(endpoint, "/v1/process");
        let true_endpoint_share = acme_endpoints["/v1/process"] as f64 / exact["tenant_acme"] as f64;
        assert!(
            (share - true_endpoint_share).abs() <= 0.01,
            "{share} against {true_endpoint_share}"
        );
        assert_eq!(
            top[1].endpoint.as_ref().map(|e| e.0.as_str()),
            Some("/v1/users/{id}")
        );
        // acme sent as many successes as failures: its error rate's lower bound is near 50 %.
        let rate = top[0].error_rate_lower.unwrap();
        assert!((0.45..=0.5).contains(&rate), "{rate}");

        // Two nodes with one half each rank the same.
        let (mut a, mut b) = (Window::default(), Window::default());
        let mut flip = false;
        for (tenant, endpoint, status) in [
            ("tenant_acme", "/v1/process", 500),
            ("tenant_beta", "/v1/users/{id}", 502),
            ("x", "/health", 503),
        ]
        .into_iter()
        .cycle()
        .take(3_000)
        {
            flip = !flip;
            let target = if flip { &mut a } else { &mut b };
            target.add(&Request {
                tenant,
                endpoint,
                status,
                at_ms: T0,
            });
        }
        a.merge(&b);
        let (merged, total) = a.top_errors(T0, T0 + 60_000, 3);
        assert_eq!(total, 3_000);
        assert!(
            merged.iter().all(|t| (t.share - 1.0 / 3.0).abs() < 1e-9),
            "{merged:?}"
        );

        // Expired minutes are forgotten.
        window.expire(T0 + 600_000);
        assert_eq!(window.top_errors(T0, T0 + 600_000, 3).1, 0);
    }
}
