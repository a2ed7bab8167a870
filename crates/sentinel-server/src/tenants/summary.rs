//! What one minute of a project's requests is remembered as, in bounded memory whatever the number
//! of tenants, and mergeable: the parts workers write for the same minute, the minutes of a
//! window, and the nodes of a cluster all combine with `merge`.
//!
//! Two sections, stored apart so a ranking by 5xx never decodes a sketch:
//!
//! - `Counts`: requests and 5xx in total; Space-Saving summaries of requests and of 5xx by tenant
//!   (`TENANTS_TRACKED` counters each; what they leave out is the "other" share); for each tenant
//!   the 5xx summary tracks, its 5xx by endpoint; and per endpoint (at most `ENDPOINTS_TRACKED`,
//!   the rest under `OTHER`) requests, 5xx and the Apdex counts.
//! - `Latency`: DDSketches of all requests, per endpoint, and per endpoint of the
//!   `SKETCHED_TENANTS` tenants with most requests (their baselines; nobody else gets one).
//!
//! A request without a tenant counts in the totals and per endpoint, never in a ranking.

use std::collections::BTreeMap;

use sentinel_protocol::requests::RequestEvent;
use serde::{Deserialize, Serialize};

use super::samples::SlowSamples;
use super::sketch::LatencySketch;
use super::topk::SpaceSaving;
use super::{FastMap, FastSet};

/// Tenants counted per summary (requests and 5xx each).
pub const TENANTS_TRACKED: usize = 1_000;
/// Endpoints in a tenant's 5xx breakdown.
pub const ENDPOINTS_PER_TENANT: usize = 16;
/// Endpoints with their own counts and sketch; the rest are `OTHER`.
pub const ENDPOINTS_TRACKED: usize = 500;
/// Tenants with latency sketches (by requests).
pub const SKETCHED_TENANTS: usize = 100;
/// Endpoints sketched per sketched tenant; the rest are `OTHER`.
pub const ENDPOINTS_PER_SKETCHED_TENANT: usize = 8;
/// Parts `Summary::merge_all` absorbs between two cuts to the caps.
const CAP_EVERY: usize = 4;
/// Where endpoints beyond a cap are counted.
pub const OTHER: &str = "(other)";

/// Requests, 5xx and Apdex counts of one endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointCounts {
    pub requests: u64,
    /// Status 500 and above.
    pub errors: u64,
    /// Apdex: successful (< 500) within the threshold T…
    pub satisfied: u64,
    /// …and within 4 T.
    pub tolerating: u64,
}

impl EndpointCounts {
    pub fn add(&mut self, o: &EndpointCounts) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.satisfied += o.satisfied;
        self.tolerating += o.tolerating;
    }

    /// (satisfied + tolerating / 2) / requests; `None` without requests.
    pub fn apdex(&self) -> Option<f64> {
        (self.requests > 0)
            .then(|| (self.satisfied as f64 + self.tolerating as f64 / 2.0) / self.requests as f64)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counts {
    pub requests: u64,
    pub errors: u64,
    pub tenants: SpaceSaving,
    pub tenant_errors: SpaceSaving,
    pub error_endpoints: FastMap<String, SpaceSaving>,
    pub endpoints: BTreeMap<String, EndpointCounts>,
}

impl Counts {
    /// Adds `o` in without cutting anything to its cap (`Summary::cap` does).
    fn absorb(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.tenants.absorb(&o.tenants);
        self.tenant_errors.absorb(&o.tenant_errors);
        for (tenant, endpoints) in &o.error_endpoints {
            match self.error_endpoints.get_mut(tenant) {
                Some(mine) => mine.absorb(endpoints),
                None => {
                    let mut mine = SpaceSaving::new(ENDPOINTS_PER_TENANT);
                    mine.absorb(endpoints);
                    self.error_endpoints.insert(tenant.clone(), mine);
                }
            }
        }
        for (endpoint, counts) in &o.endpoints {
            match self.endpoints.get_mut(endpoint) {
                Some(mine) => mine.add(counts),
                None => {
                    self.endpoints.insert(endpoint.clone(), *counts);
                }
            }
        }
    }
}

impl Default for Counts {
    fn default() -> Self {
        Self {
            requests: 0,
            errors: 0,
            tenants: SpaceSaving::new(TENANTS_TRACKED),
            tenant_errors: SpaceSaving::new(TENANTS_TRACKED),
            error_endpoints: FastMap::default(),
            endpoints: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Latency {
    pub all: LatencySketch,
    pub endpoints: BTreeMap<String, LatencySketch>,
    /// tenant → endpoint → sketch.
    pub tenants: BTreeMap<String, BTreeMap<String, LatencySketch>>,
    /// Per endpoint, its slowest requests (stored after the sketches: see `samples`).
    pub slowest: SlowSamples,
}

impl Latency {
    /// One sketch of all of a tenant's requests.
    pub fn tenant(&self, tenant: &str) -> Option<LatencySketch> {
        let endpoints = self.tenants.get(tenant)?;
        let mut all = LatencySketch::default();
        for s in endpoints.values() {
            // Sketches of one configuration always merge.
            let _ = all.merge(s);
        }
        Some(all)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub counts: Counts,
    pub latency: Latency,
}

impl Summary {
    /// The summary of these requests (of one project and minute); `apdex_ms` is Apdex's T.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a RequestEvent> + Clone, apdex_ms: f64) -> Self {
        let mut requests: FastMap<&str, u64> = FastMap::default();
        let mut errors: FastMap<&str, u64> = FastMap::default();
        let mut error_endpoints: FastMap<(&str, &str), u64> = FastMap::default();
        let mut endpoints: FastMap<&str, (EndpointCounts, LatencySketch)> = FastMap::default();
        let mut s = Summary::default();
        for e in events.clone() {
            let fivexx = e.status >= 500;
            s.counts.requests += 1;
            s.latency.all.add_ms(e.latency_ms);
            let (c, sketch) = endpoints.entry(&e.endpoint).or_default();
            c.requests += 1;
            sketch.add_ms(e.latency_ms);
            if fivexx {
                s.counts.errors += 1;
                c.errors += 1;
            } else if e.latency_ms <= apdex_ms {
                c.satisfied += 1;
            } else if e.latency_ms <= 4.0 * apdex_ms {
                c.tolerating += 1;
            }
            if e.tenant.is_empty() {
                continue;
            }
            *requests.entry(&e.tenant).or_default() += 1;
            if fivexx {
                *errors.entry(&e.tenant).or_default() += 1;
                *error_endpoints.entry((&e.tenant, &e.endpoint)).or_default() += 1;
            }
        }
        s.counts.tenants = SpaceSaving::from_counts(TENANTS_TRACKED, requests.iter().map(|(k, n)| (*k, *n)));
        s.counts.tenant_errors =
            SpaceSaving::from_counts(TENANTS_TRACKED, errors.iter().map(|(k, n)| (*k, *n)));
        let mut per_tenant: FastMap<&str, Vec<(&str, u64)>> = FastMap::default();
        for ((tenant, endpoint), n) in error_endpoints {
            if s.counts.tenant_errors.tracks(tenant) {
                per_tenant.entry(tenant).or_default().push((endpoint, n));
            }
        }
        s.counts.error_endpoints = per_tenant
            .into_iter()
            .map(|(t, list)| (t.to_owned(), SpaceSaving::from_counts(ENDPOINTS_PER_TENANT, list)))
            .collect();
        for (endpoint, (c, sketch)) in endpoints {
            s.counts.endpoints.insert(endpoint.to_owned(), c);
            s.latency.endpoints.insert(endpoint.to_owned(), sketch);
        }
        s.latency.slowest = SlowSamples::of(events.clone());
        // The sketched tenants: a second pass over their requests only.
        let sketched: FastSet<String> = s
            .counts
            .tenants
            .top(SKETCHED_TENANTS)
            .into_iter()
            .map(|c| c.key)
            .collect();
        for e in events {
            if sketched.contains(&e.tenant) {
                s.latency
                    .tenants
                    .entry(e.tenant.clone())
                    .or_default()
                    .entry(e.endpoint.clone())
                    .or_default()
                    .add_ms(e.latency_ms);
            }
        }
        s.cap();
        s
    }

    /// Adds `other` in (another part of the same minute, another minute, another node).
    pub fn merge(&mut self, other: &Summary) {
        self.absorb(other);
        self.cap();
    }

    /// Merges many summaries into one, holding memory to about `CAP_EVERY` summaries' worth
    /// however many there are: it absorbs them and cuts to the caps every `CAP_EVERY` parts and at
    /// the end. Fewer cuts are both faster and more exact than pairwise `merge`.
    pub fn merge_all<E>(parts: impl IntoIterator<Item = Result<Summary, E>>) -> Result<Summary, E> {
        let mut all = Summary::default();
        for (i, part) in parts.into_iter().enumerate() {
            all.absorb(&part?);
            if i % CAP_EVERY == CAP_EVERY - 1 {
                all.cap();
            }
        }
        all.cap();
        Ok(all)
    }

    /// Adds `other` in without cutting anything to its cap.
    fn absorb(&mut self, other: &Summary) {
        self.counts.absorb(&other.counts);
        let l = &mut self.latency;
        let _ = l.all.merge(&other.latency.all);
        for (endpoint, sketch) in &other.latency.endpoints {
            let _ = l.endpoints.entry(endpoint.clone()).or_default().merge(sketch);
        }
        for (tenant, endpoints) in &other.latency.tenants {
            let mine = l.tenants.entry(tenant.clone()).or_default();
            for (endpoint, sketch) in endpoints {
                let _ = mine.entry(endpoint.clone()).or_default().merge(sketch);
            }
        }
        l.slowest.merge(&other.latency.slowest);
    }

    /// Holds every map to its cap, so memory stays bounded however many summaries are merged.
    fn cap(&mut self) {
        let c = &mut self.counts;
        c.tenants.truncate();
        c.tenant_errors.truncate();
        let errors = &c.tenant_errors;
        c.error_endpoints.retain(|t, _| errors.tracks(t));
        for endpoints in c.error_endpoints.values_mut() {
            endpoints.truncate();
        }
        if c.endpoints.len() > ENDPOINTS_TRACKED {
            let keep = largest(
                c.endpoints.iter().map(|(k, v)| (k, v.requests)),
                ENDPOINTS_TRACKED - 1,
            );
            let folded: Vec<String> = c
                .endpoints
                .keys()
                .filter(|k| !keep.contains(*k))
                .cloned()
                .collect();
            let mut other = EndpointCounts::default();
            let mut other_sketch = LatencySketch::default();
            for k in folded {
                if let Some(v) = c.endpoints.remove(&k) {
                    other.add(&v);
                }
                if let Some(s) = self.latency.endpoints.remove(&k) {
                    let _ = other_sketch.merge(&s);
                }
            }
            c.endpoints.entry(OTHER.into()).or_default().add(&other);
            let _ = self
                .latency
                .endpoints
                .entry(OTHER.into())
                .or_default()
                .merge(&other_sketch);
        }
        let sketched: Vec<String> = c
            .tenants
            .top(SKETCHED_TENANTS)
            .into_iter()
            .map(|t| t.key)
            .collect();
        self.latency.tenants.retain(|t, _| sketched.contains(t));
        for endpoints in self.latency.tenants.values_mut() {
            if endpoints.len() > ENDPOINTS_PER_SKETCHED_TENANT {
                let keep = largest(
                    endpoints.iter().map(|(k, s)| (k, s.count())),
                    ENDPOINTS_PER_SKETCHED_TENANT - 1,
                );
                let folded: Vec<String> = endpoints.keys().filter(|k| !keep.contains(*k)).cloned().collect();
                let mut other = LatencySketch::default();
                for k in folded {
                    if let Some(s) = endpoints.remove(&k) {
                        let _ = other.merge(&s);
                    }
                }
                let _ = endpoints.entry(OTHER.into()).or_default().merge(&other);
            }
        }
    }

    pub fn counts_to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(&self.counts).unwrap_or_default()
    }

    pub fn latency_to_bytes(&self) -> Vec<u8> {
        let l = &self.latency;
        let stored = StoredLatency {
            all: l.all.to_bytes(),
            endpoints: l
                .endpoints
                .iter()
                .map(|(k, s)| (k.clone(), s.to_bytes()))
                .collect(),
            tenants: l
                .tenants
                .iter()
                .map(|(t, e)| {
                    (
                        t.clone(),
                        e.iter().map(|(k, s)| (k.clone(), s.to_bytes())).collect(),
                    )
                })
                .collect(),
        };
        let mut bytes = postcard::to_allocvec(&stored).unwrap_or_default();
        l.slowest.append_to(&mut bytes);
        bytes
    }

    pub fn counts_from_bytes(bytes: &[u8]) -> Result<Counts, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("request counts are corrupt: {e}"))
    }

    pub fn latency_from_bytes(bytes: &[u8]) -> Result<Latency, String> {
        let (stored, rest): (StoredLatency, _) =
            postcard::take_from_bytes(bytes).map_err(|e| format!("request latencies are corrupt: {e}"))?;
        let sketch = |b: &Vec<u8>| LatencySketch::from_bytes(b);
        Ok(Latency {
            all: sketch(&stored.all)?,
            endpoints: stored
                .endpoints
                .iter()
                .map(|(k, b)| Ok((k.clone(), sketch(b)?)))
                .collect::<Result<_, String>>()?,
            tenants: stored
                .tenants
                .iter()
                .map(|(t, e)| {
                    let e = e
                        .iter()
                        .map(|(k, b)| Ok((k.clone(), sketch(b)?)))
                        .collect::<Result<_, String>>()?;
                    Ok((t.clone(), e))
                })
                .collect::<Result<_, String>>()?,
            slowest: SlowSamples::from_trailing(rest)?,
        })
    }
}

/// Sketches by name, each in its stored form.
type StoredSketches = Vec<(String, Vec<u8>)>;

#[derive(Serialize, Deserialize)]
struct StoredLatency {
    all: Vec<u8>,
    endpoints: StoredSketches,
    tenants: Vec<(String, StoredSketches)>,
}

/// The keys of the `n` largest values.
fn largest<'a>(items: impl Iterator<Item = (&'a String, u64)>, n: usize) -> Vec<String> {
    let mut list: Vec<(&String, u64)> = items.collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    list.into_iter().take(n).map(|(k, _)| k.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(tenant: &str, endpoint: &str, status: u16, latency_ms: f64) -> RequestEvent {
        RequestEvent {
            tenant: tenant.into(),
            endpoint: endpoint.into(),
            method: "GET".into(),
            status,
            latency_ms,
            timestamp_ms: 0,
            event_id: None,
            trace_id: None,
        }
    }

    #[test]
    fn a_summary_counts_totals_tenants_endpoints_and_apdex_and_survives_its_stored_form() {
        let events = vec![
            req("acme", "/a", 500, 10.0),
            req("acme", "/a", 200, 100.0),
            req("acme", "/b", 200, 900.0),
            req("beta", "/a", 200, 2_000.0),
            req("", "/a", 503, 5.0),
        ];
        let s = Summary::of(&events, 300.0);
        let (c, l) = (&s.counts, &s.latency);
        assert_eq!((c.requests, c.errors), (5, 2));
        assert_eq!(c.tenants.total(), 4, "requests without a tenant are not ranked");
        assert_eq!(c.tenant_errors.get("acme").map(|x| x.count), Some(1));
        assert_eq!(c.error_endpoints["acme"].top(1)[0].key, "/a");
        let a = c.endpoints["/a"];
        assert_eq!((a.requests, a.errors, a.satisfied, a.tolerating), (4, 2, 1, 0));
        let b = c.endpoints["/b"];
        assert_eq!((b.satisfied, b.tolerating), (0, 1));
        assert_eq!(b.apdex(), Some(0.5));
        assert_eq!(l.all.count(), 5);
        assert_eq!(l.tenant("acme").map(|s| s.count()), Some(3));
        assert!(l.tenant("").is_none());

        let counts = Summary::counts_from_bytes(&s.counts_to_bytes()).unwrap();
        let latency = Summary::latency_from_bytes(&s.latency_to_bytes()).unwrap();
        assert_eq!(counts.endpoints, c.endpoints);
        assert_eq!(counts.tenants.top(5), c.tenants.top(5));
        assert_eq!(latency.tenants["acme"]["/b"].count(), 1);
        assert!(Summary::counts_from_bytes(b"\xff\xff").is_err());
    }

    #[test]
    fn endpoints_and_sketched_tenants_stay_within_their_caps() {
        let mut events = Vec::new();
        for i in 0..(ENDPOINTS_TRACKED + 50) {
            events.push(req("acme", &format!("/e{i}"), 200, 5.0));
        }
        for i in 0..(SKETCHED_TENANTS + 30) {
            for _ in 0..(1 + i % 3) {
                events.push(req(&format!("t{i}"), "/x", 200, 5.0));
            }
        }
        let mut s = Summary::of(&events, 300.0);
        s.merge(&Summary::of(&events, 300.0));
        assert_eq!(s.counts.endpoints.len(), ENDPOINTS_TRACKED);
        let total: u64 = s.counts.endpoints.values().map(|e| e.requests).sum();
        assert_eq!(total, s.counts.requests, "folded endpoints still count");
        assert!(s.counts.endpoints[OTHER].requests >= 2 * 50);
        assert!(s.latency.tenants.len() <= SKETCHED_TENANTS);
        assert!(s.latency.tenants["acme"].len() <= ENDPOINTS_PER_SKETCHED_TENANT);
        assert_eq!(
            s.latency.tenant("acme").map(|x| x.count()),
            Some(2 * (ENDPOINTS_TRACKED as u64 + 50))
        );
    }
}
