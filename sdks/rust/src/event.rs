//! One request event, the record Sentinel's batch endpoint takes, and the limits it enforces.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest tenant id and endpoint Sentinel accepts, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest method Sentinel accepts; longer (or non-letter) methods are sent as `""`.
const MAX_METHOD_CHARS: usize = 16;

/// One served request, as sent to Sentinel:
///
/// ```json
/// {"tenant_id": "acme", "endpoint": "/v1/items/{id}", "method": "GET",
///  "status_code": 503, "latency_ms": 12.5, "timestamp": 1800000000.123}
/// ```
///
/// `endpoint` should be a route template, not a raw path, so that Sentinel counts one series
/// per route rather than one per item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RequestEvent {
    /// `None` when the request has no tenant: it counts in totals but is never ranked.
    pub tenant_id: Option<String>,
    pub endpoint: String,
    pub method: String,
    pub status_code: u16,
    pub latency_ms: f64,
    /// Seconds since the Unix epoch when the response was ready.
    pub timestamp: f64,
}

impl RequestEvent {
    /// An event without a tenant, stamped now.
    pub fn new(endpoint: impl Into<String>, method: &str, status_code: u16, latency: Duration) -> Self {
        RequestEvent {
            tenant_id: None,
            endpoint: endpoint.into(),
            method: method.to_owned(),
            status_code,
            latency_ms: latency.as_secs_f64() * 1000.0,
            timestamp: unix_secs(now()),
        }
    }

    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant.into());
        self
    }

    /// Overrides the timestamp (Sentinel accepts up to 24 hours old and 5 minutes ahead).
    pub fn at(mut self, time: SystemTime) -> Self {
        self.timestamp = unix_secs(time);
        self
    }

    /// Fits the event into what Sentinel validates, so one odd request does not cost a
    /// rejected record: names are cut to 200 characters, an empty tenant becomes `None`, and a
    /// method that is not 1–16 letters is sent empty (Sentinel's default).
    pub(crate) fn bounded(mut self) -> Self {
        truncate_chars(&mut self.endpoint, MAX_NAME_CHARS);
        if self.endpoint.trim().is_empty() {
            self.endpoint = "/".to_owned();
        }
        self.tenant_id = self.tenant_id.take().and_then(|mut t| {
            truncate_chars(&mut t, MAX_NAME_CHARS);
            (!t.trim().is_empty()).then_some(t)
        });
        if self.method.len() > MAX_METHOD_CHARS || !self.method.bytes().all(|b| b.is_ascii_alphabetic()) {
            self.method.clear();
        }
        self.method.make_ascii_uppercase();
        self
    }
}

/// Cuts `s` to at most `max` characters, never inside a character.
pub fn truncate_chars(s: &mut String, max: usize) {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
    }
}

/// The wall clock. A monitoring SDK reports when requests happened, so unlike the server it has
/// no injected clock: this is the one place that reads the time of day.
#[expect(
    clippy::disallowed_methods,
    reason = "the SDK stamps events with wall-clock time; the server's Clock is not available to apps"
)]
pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

fn unix_secs(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        let mut s = "é".repeat(250);
        truncate_chars(&mut s, MAX_NAME_CHARS);
        assert_eq!(s.chars().count(), 200);
        assert_eq!(s.len(), 400);
        let mut short = "abc".to_owned();
        truncate_chars(&mut short, 2);
        assert_eq!(short, "ab");
    }

    #[test]
    fn bounded_events_fit_sentinels_validation() {
        let e = RequestEvent::new("x".repeat(300), "m-search", 200, Duration::from_micros(12_500))
            .with_tenant("  ")
            .bounded();
        assert_eq!(e.endpoint.len(), 200);
        assert_eq!(e.tenant_id, None);
        assert_eq!(e.method, "");
        assert_eq!(e.latency_ms, 12.5);
        let e = RequestEvent::new("", "get", 503, Duration::ZERO)
            .with_tenant("ü".repeat(201))
            .bounded();
        assert_eq!(e.endpoint, "/");
        assert_eq!(e.method, "GET");
        assert_eq!(e.tenant_id.unwrap().chars().count(), 200);
    }

    #[test]
    fn the_record_serializes_to_the_wire_fields() {
        let e = RequestEvent::new("/v1/items/{id}", "GET", 503, Duration::from_micros(12_500))
            .with_tenant("acme")
            .at(UNIX_EPOCH + Duration::from_millis(1_800_000_000_123));
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"tenant_id": "acme", "endpoint": "/v1/items/{id}", "method": "GET",
                "status_code": 503, "latency_ms": 12.5, "timestamp": 1_800_000_000.123})
        );
        let e = RequestEvent::new("/", "GET", 200, Duration::ZERO);
        assert_eq!(
            serde_json::to_value(&e).unwrap()["tenant_id"],
            serde_json::Value::Null
        );
    }
}
