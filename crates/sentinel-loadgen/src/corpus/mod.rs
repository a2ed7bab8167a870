//! A deterministic corpus of sentry-python 2.75 error events from a Django/Flask service, and the
//! other services of the same shop that `sentinel seed` adds: a Node gateway, a React storefront
//! and a Rust ledger ([`IssueRef`]).
//!
//! `(seed, index)` fixes an event completely: its group, its unique event id, its messages and
//! variables. The time is always a parameter (`now_ms`, epoch milliseconds); nothing here reads the
//! clock. Events fall into [`GROUP_COUNT`] groups with a skewed frequency (a few noisy issues and a
//! long tail, as in production), average about 10 KB of JSON, and are wrapped in an envelope that
//! can be gzip-compressed the way the SDK's transport does.

pub(crate) mod browser;
mod event;
mod groups;
pub(crate) mod js;
pub(crate) mod node;
mod rng;
pub(crate) mod rust;
mod vocab;

use std::io::Write;
use std::time::Duration;

use flate2::Compression as GzLevel;
use flate2::write::GzEncoder;
use serde_json::json;

pub use groups::GROUP_COUNT;
use groups::GroupSpec;
pub(crate) use rng::{Rng, mix};

/// The SDK version the corpus imitates.
pub const SDK_VERSION: &str = "2.75.0";

/// Value of `X-Sentry-Auth`'s `sentry_client`.
pub const SENTRY_CLIENT: &str = "sentry.python/2.75.0";

/// How an envelope body is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain `application/x-sentry-envelope`.
    None,
    /// `Content-Encoding: gzip` at the given level (sentry-python uses 9 for gzip).
    Gzip(u32),
}

impl Compression {
    /// The `Content-Encoding` header value, if any.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip(_) => Some("gzip"),
        }
    }
}

/// One generated event.
#[derive(Debug, Clone)]
pub struct GeneratedEvent {
    /// 32 lower-case hex digits, unique per (seed, index).
    pub event_id: String,
    /// Which of the corpus's groups (issues) it belongs to.
    pub group: u32,
    /// The event's `timestamp`, epoch milliseconds.
    pub timestamp_ms: i64,
    /// The event JSON.
    pub json: Vec<u8>,
}

/// One generated envelope, ready to post.
#[derive(Debug, Clone)]
pub struct GeneratedEnvelope {
    pub event_id: String,
    pub group: u32,
    pub timestamp_ms: i64,
    /// The request body, compressed as asked.
    pub body: Vec<u8>,
    /// The envelope's size before compression.
    pub envelope_len: usize,
}

/// The event generator.
#[derive(Debug, Clone)]
pub struct Corpus {
    seed: u64,
    spread_ms: i64,
    releases: [String; 3],
}

impl Corpus {
    /// A corpus whose events carry timestamps within about two seconds before `now`.
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x2E1E_A5E5);
        let week = 10 + rng.below(40);
        let releases = [0, 1, 2].map(|k| format!("shop-api@2025.{}.{}+{}", week, k, rng.hex(7)));
        Corpus {
            seed,
            spread_ms: 2_000,
            releases,
        }
    }

    /// Spreads event timestamps uniformly over `[now - spread, now]`, e.g. a day for stats queries.
    pub fn with_timestamp_spread(mut self, spread: Duration) -> Self {
        self.spread_ms = i64::try_from(spread.as_millis()).unwrap_or(i64::MAX).max(1);
        self
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many distinct groups the corpus can produce.
    pub fn group_count(&self) -> u32 {
        GROUP_COUNT
    }

    /// The event id of event `index`: unique for every index under one seed.
    pub fn event_id(&self, index: u64) -> String {
        // `mix` is a bijection, so distinct indexes give distinct low halves.
        format!(
            "{:016x}{:016x}",
            mix(self.seed ^ 0xE7E7_1D00),
            mix(index ^ mix(self.seed))
        )
    }

    /// The group of event `index`: skewed, so that low group numbers are much more frequent.
    pub fn group_of(&self, index: u64) -> u32 {
        let u = Rng::new(self.seed ^ mix(index.wrapping_add(0x6A09_E667))).unit();
        ((u * u * f64::from(GROUP_COUNT)) as u32).min(GROUP_COUNT - 1)
    }

    /// Event `index` as it would be sent at `now_ms`.
    pub fn event(&self, index: u64, now_ms: i64) -> GeneratedEvent {
        self.python_event(index, self.group_of(index), Stamp::Spread { now_ms })
    }

    /// Event `index` of `group` with the time, release and environment a caller chose (`seed`'s
    /// scenario); everything else is drawn exactly as [`Corpus::event`] draws it.
    pub(crate) fn planned_event(&self, index: u64, group: u32, at: &Planned<'_>) -> GeneratedEvent {
        self.python_event(index, group, Stamp::Planned(at))
    }

    fn python_event(&self, index: u64, group: u32, stamp: Stamp<'_>) -> GeneratedEvent {
        let spec = GroupSpec::new(group);
        let event_id = self.event_id(index);
        let mut rng = Rng::new(self.seed.wrapping_mul(0x1000_0000_01B3) ^ mix(index));
        // The draws happen whatever the stamp, so planned events vary exactly like spread ones.
        let spread = rng.below(self.spread_ms as u64) as i64;
        // Tenants, users and releases are skewed as well: a few big tenants, mostly the newest release.
        let tenant = 1 + (rng.unit().powi(3) * 250.0) as u64;
        let own_release = &self.releases[match rng.below(10) {
            0 => 0,
            1 | 2 => 1,
            _ => 2,
        }];
        let own_environment = if rng.chance(0.9) { "production" } else { "staging" };
        let (timestamp_ms, release, environment) = match stamp {
            Stamp::Spread { now_ms } => (now_ms - spread, own_release.as_str(), own_environment),
            Stamp::Planned(at) => (at.timestamp_ms, at.release, at.environment),
        };
        let mut ctx = event::EventCtx {
            spec: &spec,
            event_id: &event_id,
            timestamp_ms,
            release,
            environment,
            server_name: format!("web-{}", rng.range(1, 8)),
            tenant,
            user_id: rng.range(1_000, 999_999),
            object_id: rng.range(1_000, 9_999_999),
            trace_id: rng.hex(32),
            span_id: rng.hex(16),
            rng,
        };
        let value = event::build(&mut ctx);
        let json = serde_json::to_vec(&value).unwrap_or_default();
        GeneratedEvent {
            event_id,
            group,
            timestamp_ms,
            json,
        }
    }

    /// Event `index` of a scenario's `issue`, in an envelope sent at `sent_at_ms`, encoded for the
    /// wire. Returns the body and the envelope's length before compression.
    pub(crate) fn scenario_envelope(
        &self,
        index: u64,
        issue: IssueRef,
        at: &Planned<'_>,
        sent_at_ms: i64,
        compression: Compression,
    ) -> (Vec<u8>, usize) {
        let event_id = self.event_id(index);
        // Drawn like the Python events' own per-event randomness, so every index differs.
        let mut rng = Rng::new(self.seed.wrapping_mul(0x1000_0000_01B3) ^ mix(index));
        let (value, sdk_name, sdk_version) = match issue {
            IssueRef::Python(group) => {
                let ev = self.planned_event(index, group, at);
                let framework = GroupSpec::new(group).framework.name();
                let sdk_name = format!("sentry.python.{framework}");
                return encode_envelope(
                    &event_id,
                    &sdk_name,
                    SDK_VERSION,
                    Some(sent_at_ms),
                    &ev.json,
                    compression,
                );
            }
            IssueRef::Node(i) => (
                node::build(i, &event_id, at, &mut rng),
                "sentry.javascript.node",
                js::SDK_VERSION,
            ),
            IssueRef::Browser(i) => (
                browser::build(i, &event_id, at, &mut rng),
                "sentry.javascript.react",
                js::SDK_VERSION,
            ),
            IssueRef::Rust(i) => (
                rust::build(i, &event_id, at, &mut rng),
                "sentry.rust",
                rust::SDK_VERSION,
            ),
        };
        let json = serde_json::to_vec(&value).unwrap_or_default();
        encode_envelope(
            &event_id,
            sdk_name,
            sdk_version,
            Some(sent_at_ms),
            &json,
            compression,
        )
    }

    /// Event `index` wrapped in an envelope (`sent_at` = `now_ms`) and encoded for the wire.
    pub fn envelope(&self, index: u64, now_ms: i64, compression: Compression) -> GeneratedEnvelope {
        let ev = self.event(index, now_ms);
        let spec = GroupSpec::new(ev.group);
        let sdk_name = format!("sentry.python.{}", spec.framework.name());
        let (body, envelope_len) = encode_envelope(
            &ev.event_id,
            &sdk_name,
            SDK_VERSION,
            Some(now_ms),
            &ev.json,
            compression,
        );
        GeneratedEnvelope {
            event_id: ev.event_id,
            group: ev.group,
            timestamp_ms: ev.timestamp_ms,
            body,
            envelope_len,
        }
    }
}

/// The platforms of the shop's services, as events name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Platform {
    /// The Django/Flask API (sentry-python).
    Python,
    /// The Express gateway (`@sentry/node`).
    Node,
    /// The React storefront (`@sentry/react`).
    Browser,
    /// The ledger service (the `sentry` crate).
    Rust,
}

impl Platform {
    /// The event's `platform` field: what the server groups and shows by.
    pub fn event_platform(self) -> &'static str {
        match self {
            Platform::Python => "python",
            Platform::Node => "node",
            Platform::Browser => "javascript",
            // sentry-rust sends Sentry's name for compiled code.
            Platform::Rust => "native",
        }
    }

    /// A name for people: `python`, `node`, `browser`, `rust`.
    pub fn label(self) -> &'static str {
        match self {
            Platform::Python => "python",
            Platform::Node => "node",
            Platform::Browser => "browser",
            Platform::Rust => "rust",
        }
    }
}

/// One error of the shop: a Python corpus group or a Node, browser or Rust error with its fixed call
/// path. All events of one land in one issue.
#[derive(Clone, Copy)]
pub(crate) enum IssueRef {
    Python(u32),
    Node(&'static js::Issue),
    Browser(&'static js::Issue),
    Rust(&'static rust::Issue),
}

impl IssueRef {
    pub(crate) fn platform(self) -> Platform {
        match self {
            IssueRef::Python(_) => Platform::Python,
            IssueRef::Node(_) => Platform::Node,
            IssueRef::Browser(_) => Platform::Browser,
            IssueRef::Rust(_) => Platform::Rust,
        }
    }

    /// `Type: message` for a summary, with per-event parts of the message shown as `…`.
    pub(crate) fn title(self) -> String {
        let (ty, value) = match self {
            IssueRef::Python(group) => {
                let kind = GroupSpec::new(group).exception;
                (kind.ty, kind.value)
            }
            IssueRef::Node(i) | IssueRef::Browser(i) => (i.ty, i.value),
            IssueRef::Rust(i) => i.chain.last().copied().unwrap_or(("Error", "")),
        };
        let value = value.lines().next().unwrap_or_default();
        let value = ["{n}", "{hex}", "{ip}", "{word}"]
            .iter()
            .fold(value.to_owned(), |v, p| v.replace(p, "…"));
        format!("{ty}: {value}")
    }
}

/// When and where a planned event happened: what `seed`'s time plan decides for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planned<'a> {
    pub timestamp_ms: i64,
    pub release: &'a str,
    pub environment: &'static str,
}

enum Stamp<'a> {
    /// Within the corpus's spread before `now_ms`, with the corpus's own releases.
    Spread {
        now_ms: i64,
    },
    Planned(&'a Planned<'a>),
}

/// An event envelope as an SDK's transport sends it: the header (event id, `sent_at` when given,
/// SDK), one `event` item, then the body encoded as asked. Returns the body and the envelope's
/// length before compression.
pub(crate) fn encode_envelope(
    event_id: &str,
    sdk_name: &str,
    sdk_version: &str,
    sent_at_ms: Option<i64>,
    json: &[u8],
    compression: Compression,
) -> (Vec<u8>, usize) {
    let mut header = json!({
        "event_id": event_id,
        "sdk": { "name": sdk_name, "version": sdk_version },
    });
    if let (Some(ms), Some(obj)) = (sent_at_ms, header.as_object_mut()) {
        obj.insert("sent_at".into(), json!(rfc3339_micros(ms)));
    }
    let item_header = json!({ "type": "event", "content_type": "application/json", "length": json.len() });
    let mut envelope = Vec::with_capacity(json.len() + 256);
    envelope.extend_from_slice(header.to_string().as_bytes());
    envelope.push(b'\n');
    envelope.extend_from_slice(item_header.to_string().as_bytes());
    envelope.push(b'\n');
    envelope.extend_from_slice(json);
    envelope.push(b'\n');
    let envelope_len = envelope.len();
    let body = match compression {
        Compression::None => envelope,
        Compression::Gzip(level) => gzip(&envelope, level),
    };
    (body, envelope_len)
}

/// Gzip into memory. Writing to a `Vec` cannot fail, so neither can this.
fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 3), GzLevel::new(level.min(9)));
    match enc.write_all(data).and_then(|()| enc.try_finish()) {
        Ok(()) => enc.get_ref().clone(),
        Err(_) => Vec::new(),
    }
}

/// `2025-03-01T12:00:00.123000Z`, as sentry-python formats timestamps.
pub(crate) fn rfc3339_micros(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => "1970-01-01T00:00:00.000000Z".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::io::Read;

    use super::*;

    const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn the_same_seed_and_index_give_the_same_event() {
        let c = Corpus::new(42);
        assert_eq!(c.event(17, NOW).json, c.event(17, NOW).json);
        assert_ne!(c.event(17, NOW).json, c.event(18, NOW).json);
        assert_ne!(Corpus::new(43).event(17, NOW).event_id, c.event(17, NOW).event_id);
    }

    #[test]
    fn event_ids_are_unique_and_well_formed() {
        let c = Corpus::new(1);
        let ids: HashSet<String> = (0..50_000).map(|i| c.event_id(i)).collect();
        assert_eq!(ids.len(), 50_000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }

    #[test]
    fn events_are_about_ten_kilobytes_and_cover_every_group() {
        let c = Corpus::new(7);
        let n = 1_000;
        let sizes: Vec<usize> = (0..n).map(|i| c.event(i, NOW).json.len()).collect();
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        assert!((9_000..=12_000).contains(&mean), "mean {mean}");
        let groups: HashSet<u32> = (0..100_000).map(|i| c.group_of(i)).collect();
        assert_eq!(groups.len(), GROUP_COUNT as usize);
    }

    #[test]
    fn timestamps_stay_within_the_spread_before_now() {
        let c = Corpus::new(7).with_timestamp_spread(Duration::from_secs(3600));
        for i in 0..200 {
            let t = c.event(i, NOW).timestamp_ms;
            assert!(t <= NOW && t > NOW - 3_600_000);
        }
    }

    #[test]
    fn envelope_is_header_item_header_and_payload_of_the_stated_length() {
        let c = Corpus::new(9);
        let env = c.envelope(3, NOW, Compression::Gzip(6));
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&env.body[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain.len(), env.envelope_len);
        let mut lines = plain.splitn(3, |b| *b == b'\n');
        let header: serde_json::Value = serde_json::from_slice(lines.next().unwrap()).unwrap();
        let item: serde_json::Value = serde_json::from_slice(lines.next().unwrap()).unwrap();
        let rest = lines.next().unwrap();
        assert_eq!(header["event_id"], env.event_id);
        let len = item["length"].as_u64().unwrap() as usize;
        let event: serde_json::Value = serde_json::from_slice(&rest[..len]).unwrap();
        assert_eq!(event["event_id"], env.event_id);
        assert_eq!(event["platform"], "python");
        assert_eq!(event["timestamp"], rfc3339_micros(env.timestamp_ms));
        assert!(
            event["tags"]["tenant_id"]
                .as_str()
                .unwrap()
                .starts_with("tenant-")
        );
        let frames = event["exception"]["values"].as_array().unwrap().last().unwrap()["stacktrace"]["frames"]
            .as_array()
            .unwrap()
            .len();
        assert!((8..=20).contains(&frames));
    }

    #[test]
    fn messages_vary_within_a_group_while_the_call_path_does_not() {
        let c = Corpus::new(5);
        let group = c.group_of(0);
        let same: Vec<serde_json::Value> = (0..2000)
            .filter(|i| c.group_of(*i) == group)
            .take(20)
            .map(|i| serde_json::from_slice(&c.event(i, NOW).json).unwrap())
            .collect();
        let in_app = |e: &serde_json::Value| -> Vec<String> {
            e["exception"]["values"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|v| v["stacktrace"]["frames"].as_array().unwrap().clone())
                .filter(|f| f["in_app"] == true)
                .map(|f| format!("{}:{}:{}", f["module"], f["function"], f["context_line"]))
                .collect()
        };
        assert!(same.windows(2).all(|w| in_app(&w[0]) == in_app(&w[1])));
        let users: HashSet<String> = same.iter().map(|e| e["user"]["id"].to_string()).collect();
        assert!(users.len() > 1);
    }

    #[test]
    fn scenario_events_of_every_platform_carry_the_planned_time_release_and_environment() {
        let c = Corpus::new(3);
        let at = Planned {
            timestamp_ms: NOW - 20 * 86_400_000,
            release: "shop@3.20.0",
            environment: "staging",
        };
        let issues = [
            (IssueRef::Python(4), "python", "sentry.python.django"),
            (
                IssueRef::Node(&node::CART_TOTALS),
                "node",
                "sentry.javascript.node",
            ),
            (
                IssueRef::Browser(&browser::PRODUCT_PRICE),
                "javascript",
                "sentry.javascript.react",
            ),
            (IssueRef::Rust(&rust::FEE_INDEX), "native", "sentry.rust"),
        ];
        for (k, (issue, platform, sdk)) in issues.into_iter().enumerate() {
            let (body, len) = c.scenario_envelope(k as u64, issue, &at, NOW, Compression::None);
            assert_eq!(body.len(), len);
            let mut lines = body.splitn(3, |b| *b == b'\n');
            let header: serde_json::Value = serde_json::from_slice(lines.next().unwrap()).unwrap();
            let _item = lines.next().unwrap();
            let event: serde_json::Value =
                serde_json::from_slice(lines.next().unwrap().trim_ascii_end()).unwrap();
            assert_eq!(header["sent_at"], rfc3339_micros(NOW), "{platform}");
            assert_eq!(header["sdk"]["name"], sdk);
            assert_eq!(event["platform"], platform);
            assert_eq!(event["event_id"], header["event_id"]);
            assert_eq!(event["release"], "shop@3.20.0", "{platform}");
            assert_eq!(event["environment"], "staging", "{platform}");
            let ts = match &event["timestamp"] {
                serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                    .unwrap()
                    .timestamp_millis(),
                v => (v.as_f64().unwrap() * 1000.0).round() as i64,
            };
            assert_eq!(ts, at.timestamp_ms, "{platform}");
            let frames =
                event["exception"]["values"].as_array().unwrap().last().unwrap()["stacktrace"]["frames"]
                    .as_array()
                    .unwrap()
                    .clone();
            assert!(frames.iter().any(|f| f["in_app"] == true), "{platform}");
            assert!(frames.iter().any(|f| f["in_app"] == false), "{platform}");
        }
    }
}
