//! The slowest requests of each endpoint: what the transaction page lists as "slowest recent
//! requests", each with the ids that lead to its spans when it came from a Sentry transaction
//! (event id) or any traced source (trace id).
//!
//! Bounded and mergeable like the rest of a summary: per endpoint the [`PER_ENDPOINT`] slowest
//! requests, for at most [`ENDPOINTS_TRACKED`] endpoints. Requests are ordered by latency, then by
//! every other field, so the kept samples are the same whatever the order in which minutes, parts
//! of a minute and nodes are merged. Beyond the endpoint cap, the endpoints whose slowest request
//! is fastest are folded into [`OTHER`] (their requests compete for its places); from there on,
//! as for the endpoint counts, the result may depend on the order of merges.
//!
//! Stored after the latency sketches in a rollup's latency blob (see `Summary::latency_to_bytes`):
//! postcard is not self-describing, so a `#[serde(default)]` field would not let rows written
//! before the samples existed decode. A trailing section does: none means no samples.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use sentinel_protocol::ids::{EventId, TraceId};
use sentinel_protocol::requests::RequestEvent;
use serde::{Deserialize, Serialize};

use super::summary::{ENDPOINTS_TRACKED, OTHER};

/// Requests kept per endpoint.
pub const PER_ENDPOINT: usize = 5;

/// One slow request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub latency_ms: f64,
    pub timestamp_ms: i64,
    /// Empty when the request had no tenant.
    pub tenant: String,
    pub status: u16,
    pub method: String,
    #[serde(with = "id_bytes")]
    pub event_id: Option<EventId>,
    #[serde(with = "id_bytes")]
    pub trace_id: Option<TraceId>,
}

impl Sample {
    fn of(e: &RequestEvent) -> Self {
        Sample {
            latency_ms: e.latency_ms,
            timestamp_ms: e.timestamp_ms,
            tenant: e.tenant.clone(),
            status: e.status,
            method: e.method.clone(),
            event_id: e.event_id,
            trace_id: e.trace_id,
        }
    }

    fn key(&self) -> Key<'_> {
        Key {
            latency_ms: self.latency_ms,
            timestamp_ms: self.timestamp_ms,
            tenant: &self.tenant,
            status: self.status,
            method: &self.method,
            event_id: self.event_id,
            trace_id: self.trace_id,
        }
    }
}

/// What requests are ordered by: slowest first, then newest, then the rest, so that no two
/// different requests tie and every merge order keeps the same ones.
#[derive(Clone, Copy)]
struct Key<'a> {
    latency_ms: f64,
    timestamp_ms: i64,
    tenant: &'a str,
    status: u16,
    method: &'a str,
    event_id: Option<EventId>,
    trace_id: Option<TraceId>,
}

impl<'a> Key<'a> {
    fn of(e: &'a RequestEvent) -> Self {
        Key {
            latency_ms: e.latency_ms,
            timestamp_ms: e.timestamp_ms,
            tenant: &e.tenant,
            status: e.status,
            method: &e.method,
            event_id: e.event_id,
            trace_id: e.trace_id,
        }
    }

    /// `Less` when `self` comes first (is slower).
    fn order(&self, o: &Key<'_>) -> Ordering {
        o.latency_ms
            .total_cmp(&self.latency_ms)
            .then_with(|| o.timestamp_ms.cmp(&self.timestamp_ms))
            .then_with(|| self.tenant.cmp(o.tenant))
            .then_with(|| self.status.cmp(&o.status))
            .then_with(|| self.method.cmp(o.method))
            .then_with(|| self.event_id.cmp(&o.event_id))
            .then_with(|| self.trace_id.cmp(&o.trace_id))
    }
}

/// Per endpoint, its slowest requests, slowest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlowSamples(BTreeMap<String, Vec<Sample>>);

impl SlowSamples {
    /// The slowest requests of each endpoint among `events`.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a RequestEvent>) -> Self {
        // References first: only the few kept requests get their strings copied.
        let mut slowest: HashMap<&str, Vec<&RequestEvent>> = HashMap::new();
        for e in events {
            let list = slowest.entry(&e.endpoint).or_default();
            if list.len() == PER_ENDPOINT {
                match list.last() {
                    Some(last) if Key::of(e).order(&Key::of(last)) == Ordering::Less => {
                        list.pop();
                    }
                    _ => continue,
                }
            }
            let at = list.partition_point(|x| Key::of(x).order(&Key::of(e)) == Ordering::Less);
            list.insert(at, e);
        }
        let mut out = SlowSamples(
            slowest
                .into_iter()
                .map(|(endpoint, list)| (endpoint.to_owned(), list.into_iter().map(Sample::of).collect()))
                .collect(),
        );
        out.cap();
        out
    }

    /// Adds `other`'s samples in; each endpoint keeps its slowest.
    pub fn merge(&mut self, other: &SlowSamples) {
        for (endpoint, samples) in &other.0 {
            match self.0.get_mut(endpoint) {
                Some(mine) => {
                    mine.extend(samples.iter().cloned());
                    keep_slowest(mine);
                }
                None => {
                    self.0.insert(endpoint.clone(), samples.clone());
                }
            }
        }
        self.cap();
    }

    /// The slowest requests of `endpoint`, slowest first.
    pub fn endpoint(&self, endpoint: &str) -> &[Sample] {
        self.0.get(endpoint).map_or(&[], Vec::as_slice)
    }

    /// Endpoints with samples.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }

    /// Appends the stored form to `out` (a rollup's latency blob; see the module's note).
    pub fn append_to(&self, out: &mut Vec<u8>) {
        if self.0.is_empty() {
            return;
        }
        if let Ok(bytes) = postcard::to_allocvec(self) {
            out.extend_from_slice(&bytes);
        }
    }

    /// Reads what `append_to` wrote; nothing at all (rows written before samples were kept) is
    /// no samples.
    pub fn from_trailing(bytes: &[u8]) -> Result<Self, String> {
        if bytes.is_empty() {
            return Ok(Self::default());
        }
        postcard::from_bytes(bytes).map_err(|e| format!("slow request samples are corrupt: {e}"))
    }

    /// Folds the endpoints whose slowest request is fastest into `OTHER`, beyond the cap.
    fn cap(&mut self) {
        if self.0.len() <= ENDPOINTS_TRACKED {
            return;
        }
        let mut heads: Vec<(&String, &Sample)> = self
            .0
            .iter()
            .filter(|(k, _)| k.as_str() != OTHER)
            .filter_map(|(k, v)| v.first().map(|s| (k, s)))
            .collect();
        heads.sort_by(|a, b| a.1.key().order(&b.1.key()).then_with(|| a.0.cmp(b.0)));
        let folded: Vec<String> = heads
            .into_iter()
            .skip(ENDPOINTS_TRACKED - 1)
            .map(|(k, _)| k.clone())
            .collect();
        let mut other = self.0.remove(OTHER).unwrap_or_default();
        for k in folded {
            other.extend(self.0.remove(&k).unwrap_or_default());
        }
        keep_slowest(&mut other);
        self.0.insert(OTHER.to_owned(), other);
    }
}

/// The `PER_ENDPOINT` slowest of `samples`, slowest first (one endpoint's samples of several
/// minutes, say).
pub fn slowest(samples: impl IntoIterator<Item = Sample>) -> Vec<Sample> {
    let mut list: Vec<Sample> = samples.into_iter().collect();
    keep_slowest(&mut list);
    list
}

fn keep_slowest(list: &mut Vec<Sample>) {
    list.sort_by(|a, b| a.key().order(&b.key()));
    list.truncate(PER_ENDPOINT);
}

/// An id as its 16 bytes (not the 32 hex digits `EventId` serializes as elsewhere).
mod id_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use sentinel_protocol::ids::{EventId, TraceId};

    pub trait Id: Sized {
        fn bytes(&self) -> [u8; 16];
        fn from(bytes: [u8; 16]) -> Option<Self>;
    }

    impl Id for EventId {
        fn bytes(&self) -> [u8; 16] {
            *self.as_bytes()
        }

        fn from(bytes: [u8; 16]) -> Option<Self> {
            Some(EventId::from_bytes(bytes))
        }
    }

    impl Id for TraceId {
        fn bytes(&self) -> [u8; 16] {
            *self.as_bytes()
        }

        fn from(bytes: [u8; 16]) -> Option<Self> {
            TraceId::from_bytes(bytes)
        }
    }

    pub fn serialize<S: Serializer, T: Id>(id: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        id.as_ref().map(Id::bytes).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Id>(d: D) -> Result<Option<T>, D::Error> {
        Ok(Option::<[u8; 16]>::deserialize(d)?.and_then(T::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(endpoint: &str, latency_ms: f64, at: i64) -> RequestEvent {
        RequestEvent {
            tenant: format!("t{}", at % 7),
            endpoint: endpoint.into(),
            method: "GET".into(),
            status: if at % 5 == 0 { 500 } else { 200 },
            latency_ms,
            timestamp_ms: at,
            event_id: None,
            trace_id: None,
        }
    }

    /// A deterministic stream of latencies with ties (whole milliseconds up to 97).
    fn stream(n: i64, endpoints: &[&str]) -> Vec<RequestEvent> {
        (0..n)
            .map(|i| {
                let endpoint = endpoints[(i as usize * 7) % endpoints.len()];
                req(endpoint, ((i * 7_919) % 97) as f64, 1_000 + i)
            })
            .collect()
    }

    fn latencies(s: &SlowSamples, endpoint: &str) -> Vec<(f64, i64)> {
        s.endpoint(endpoint)
            .iter()
            .map(|x| (x.latency_ms, x.timestamp_ms))
            .collect()
    }

    #[test]
    fn each_endpoint_keeps_its_five_slowest_requests_slowest_first() {
        let events = stream(1_000, &["/a", "/b", "/c"]);
        let s = SlowSamples::of(&events);
        for endpoint in ["/a", "/b", "/c"] {
            let mut exact: Vec<&RequestEvent> = events.iter().filter(|e| e.endpoint == endpoint).collect();
            exact.sort_by(|a, b| Key::of(a).order(&Key::of(b)));
            let want: Vec<(f64, i64)> = exact
                .iter()
                .take(PER_ENDPOINT)
                .map(|e| (e.latency_ms, e.timestamp_ms))
                .collect();
            assert_eq!(latencies(&s, endpoint), want, "{endpoint}");
            // Ties of latency: the newest first.
            assert_eq!(want[0].0, 96.0);
            assert!(want[0].1 > want[1].1 || want[0].0 > want[1].0);
        }
        assert!(s.endpoint("/nope").is_empty());
    }

    #[test]
    fn merging_in_any_order_keeps_the_same_samples() {
        let events = stream(600, &["/a", "/b", "/c", "/d"]);
        let whole = SlowSamples::of(&events);
        let parts: Vec<SlowSamples> = events.chunks(37).map(SlowSamples::of).collect();
        let mut forward = SlowSamples::default();
        for p in &parts {
            forward.merge(p);
        }
        let mut backward = SlowSamples::default();
        for p in parts.iter().rev() {
            backward.merge(p);
        }
        // Pairwise, as a tree of nodes would.
        let mut layer = parts.clone();
        while layer.len() > 1 {
            layer = layer
                .chunks(2)
                .map(|pair| {
                    let mut m = pair[0].clone();
                    if let Some(b) = pair.get(1) {
                        m.merge(b);
                    }
                    m
                })
                .collect();
        }
        assert_eq!(forward, whole);
        assert_eq!(backward, whole);
        assert_eq!(layer[0], whole);
        for list in whole.0.values() {
            assert_eq!(list.len(), PER_ENDPOINT);
        }
    }

    #[test]
    fn endpoints_beyond_the_cap_fold_into_other_and_memory_stays_bounded() {
        let mut all = SlowSamples::default();
        for round in 0..3 {
            let events: Vec<RequestEvent> = (0..(ENDPOINTS_TRACKED + 40))
                .flat_map(|i| {
                    let endpoint = format!("/e{i}");
                    // Endpoint i's slowest request takes i ms (+ a round): /e0… are the fastest.
                    (0..8).map(move |k| req(&endpoint, (i + round) as f64 - k as f64 * 0.1, k))
                })
                .collect();
            all.merge(&SlowSamples::of(&events));
            assert!(all.len() <= ENDPOINTS_TRACKED, "{} endpoints", all.len());
            assert!(all.0.values().all(|l| l.len() <= PER_ENDPOINT));
        }
        assert_eq!(all.len(), ENDPOINTS_TRACKED);
        // The slowest endpoints keep their own samples; the fastest ones are in OTHER.
        let slowest = format!("/e{}", ENDPOINTS_TRACKED + 39);
        assert_eq!(
            all.endpoint(&slowest)[0].latency_ms,
            (ENDPOINTS_TRACKED + 41) as f64
        );
        assert!(all.endpoint("/e0").is_empty());
        assert_eq!(all.endpoint(OTHER).len(), PER_ENDPOINT);
    }

    #[test]
    fn samples_keep_their_ids_through_the_stored_form() {
        let mut e = req("/checkout", 2_500.0, 1_800_000_000_000);
        e.event_id = "9c5ea0d6a4cf4b9a9bd0c7a4d1b8e2f3".parse().ok();
        e.trace_id = TraceId::parse("4c79f60c11214eb38604f4ae0781bfb2");
        let s = SlowSamples::of([&e, &req("/checkout", 3.0, 5)]);
        let mut bytes = b"sketches before".to_vec();
        let start = bytes.len();
        s.append_to(&mut bytes);
        let back = SlowSamples::from_trailing(&bytes[start..]).unwrap();
        assert_eq!(back, s);
        let first = &back.endpoint("/checkout")[0];
        assert_eq!(first.event_id, e.event_id);
        assert_eq!(first.trace_id, e.trace_id);
        assert_eq!(back.endpoint("/checkout")[1].event_id, None);
        assert_eq!(SlowSamples::from_trailing(&[]), Ok(SlowSamples::default()));
        assert!(SlowSamples::from_trailing(&[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn a_latency_blob_written_before_samples_were_kept_still_decodes() {
        use super::super::summary::Summary;
        let events = vec![req("/a", 5.0, 1), req("/a", 9.0, 2)];
        let mut s = Summary::of(&events, 300.0);
        assert_eq!(latencies(&s.latency.slowest, "/a"), [(9.0, 2), (5.0, 1)]);
        let now = Summary::latency_from_bytes(&s.latency_to_bytes()).unwrap();
        assert_eq!(now.slowest, s.latency.slowest);
        // Without samples the blob is byte for byte what older servers wrote.
        s.latency.slowest = SlowSamples::default();
        let old = Summary::latency_from_bytes(&s.latency_to_bytes()).unwrap();
        assert_eq!(old.slowest, SlowSamples::default());
        assert_eq!(old.endpoints["/a"].count(), 2);
    }
}
