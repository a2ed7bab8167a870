//! Request events from Sentry span v2 containers: the `span` item
//! (`application/vnd.sentry.items.span.v2+json`) @sentry/node sends by default since span
//! streaming became its trace lifecycle, and sentry-python in its experimental stream mode.
//!
//! The payload is `{"items": [span, …]}`, each span `{trace_id, span_id, parent_span_id?, name,
//! status: "ok"|"error", is_segment, start_timestamp, end_timestamp, attributes: {key: {type,
//! value}}, links}` with timestamps in seconds (sentry-javascript `StreamedSpanJSON`,
//! `spanJsonToStreamedSpan.ts`; sentry-python `StreamedSpan._to_json`).
//!
//! A request is a segment span (`is_segment: true`, the root of the service's work) whose
//! `sentry.op` starts with `http.server`. Attribute names, as the SDKs write them:
//!
//! - `sentry.op`, `sentry.segment.name`: set on every span (`captureSpan.ts`
//!   `applyCommonSpanAttributes`; inferred for OpenTelemetry spans by `inferSpanData`).
//! - `http.route`: the framework's route (Express' `patch-layer.ts`), but the HTTP server
//!   instrumentation first sets it to the raw path with source `url` (`server-subscription.ts`),
//!   so a `url` source means identifiers get replaced by `{id}`. The source is `sentry.span.source`
//!   (JS since 10.x), `sentry.source` (older JS) or `sentry.segment.name.source` (Python).
//! - `http.request.method` (`requestData.ts`) or the older `http.method` (both set by the HTTP
//!   server instrumentation), else the method the span name starts with.
//! - `http.response.status_code` (and the older `http.status_code`), set when the response ends;
//!   without either, status `error` is a 500 and anything else a 200.
//! - Tenant: the attribute named `tenant_tag`, else the same name with `_` and `.` swapped
//!   (`tenant_id` finds `tenant.id`), else `user.id`. Scope tags are not copied onto streamed
//!   spans; scope attributes are (`Sentry.setAttribute` / `scope.setAttributes`), and so is the
//!   scope user as `user.id` (`captureSpan.ts`; sentry-python only with `send_default_pii`).
//!
//! A request keeps its span's `trace_id` (a slow request leads to its trace).
//!
//! Spans that are not requests, or fail the request checks, are left out. The time window is the
//! caller's to check ([`crate::requests::within_window`]): no receive time is given here.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::ids::TraceId;
use crate::requests::{self, RequestEvent};
use crate::transaction::{instant_us, status_number, tenant_value, timed_request};

#[derive(Deserialize)]
struct Container<'a> {
    #[serde(default, borrow)]
    items: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct StreamedSpan {
    #[serde(default)]
    name: Value,
    #[serde(default)]
    status: Value,
    #[serde(default)]
    is_segment: Value,
    #[serde(default)]
    start_timestamp: Value,
    #[serde(default)]
    end_timestamp: Value,
    #[serde(default)]
    attributes: Value,
    #[serde(default)]
    trace_id: Value,
}

impl StreamedSpan {
    /// An attribute's value: `{"type": …, "value": v}` on the wire; a bare value is taken too.
    fn attribute(&self, key: &str) -> &Value {
        let attribute = &self.attributes[key];
        match attribute.get("value") {
            Some(value) if attribute.is_object() => value,
            _ => attribute,
        }
    }

    fn string(&self, key: &str) -> Option<&str> {
        self.attribute(key)
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// The requests in a span container: one per HTTP server segment span that passes the checks.
/// A payload that is not a container gives none; an item that is not a span is skipped.
pub fn requests_from_span_container(payload: &[u8], tenant_tag: &str) -> Vec<RequestEvent> {
    let Ok(container) = serde_json::from_slice::<Container<'_>>(payload) else {
        return Vec::new();
    };
    container
        .items
        .iter()
        .filter_map(|raw| serde_json::from_str::<StreamedSpan>(raw.get()).ok())
        .filter_map(|span| request_from_span(&span, tenant_tag))
        .collect()
}

fn request_from_span(span: &StreamedSpan, tenant_tag: &str) -> Option<RequestEvent> {
    if span.is_segment != Value::Bool(true) || !span.string("sentry.op")?.starts_with("http.server") {
        return None;
    }

    let name = span.name.as_str().unwrap_or("");
    let (name_method, _) = requests::split_method(name);
    let route = span
        .string("http.route")
        .or_else(|| span.string("sentry.segment.name"))
        .unwrap_or(name);
    let (_, route) = requests::split_method(route);
    let source = [
        "sentry.span.source",
        "sentry.source",
        "sentry.segment.name.source",
    ]
    .into_iter()
    .find_map(|key| span.string(key));
    let endpoint = if source == Some("url") {
        requests::normalize_url_path(route)
    } else {
        route.to_owned()
    };

    let method = span
        .string("http.request.method")
        .or_else(|| span.string("http.method"))
        .or(name_method)
        .unwrap_or("");

    let status = ["http.response.status_code", "http.status_code"]
        .into_iter()
        .find_map(|key| status_number(span.attribute(key)))
        .unwrap_or(if span.status.as_str() == Some("error") {
            500
        } else {
            200
        });

    let start_us = instant_us(&span.start_timestamp)?;
    let end_us = instant_us(&span.end_timestamp)?;

    let swapped = swap_separator(tenant_tag);
    let tenant = [tenant_tag, swapped.as_str(), "user.id"]
        .into_iter()
        .find_map(|key| tenant_value(span.attribute(key)))
        .unwrap_or_default();

    let mut event = timed_request(tenant, &endpoint, method, status, start_us, end_us)?;
    event.trace_id = span.trace_id.as_str().and_then(TraceId::parse);
    Some(event)
}

/// `tenant_id` ↔ `tenant.id`: Sentry attribute names use dots where tag names often use `_`.
fn swap_separator(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '_' => '.',
            '.' => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2027-01-15T08:00:00Z
    const NOW: i64 = 1_800_000_000_000;

    /// A container from @sentry/node 10.x with Express and span streaming: a routed request
    /// that failed, its database child, a request with no route yet (source `url`, raw path in
    /// `http.route`) and a segment that is not a request.
    const NODE_CONTAINER: &str = r#"{"items": [
      {
        "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331",
        "name": "GET /users/:id", "status": "error", "is_segment": true,
        "start_timestamp": 1799999998.5, "end_timestamp": 1799999998.6125,
        "attributes": {
          "sentry.op": {"type": "string", "value": "http.server"},
          "sentry.origin": {"type": "string", "value": "auto.http.server"},
          "sentry.span.source": {"type": "string", "value": "route"},
          "sentry.source": {"type": "string", "value": "route"},
          "sentry.segment.name": {"type": "string", "value": "GET /users/:id"},
          "sentry.segment.id": {"type": "string", "value": "b7ad6b7169203331"},
          "sentry.release": {"type": "string", "value": "shop@1.4.0"},
          "sentry.environment": {"type": "string", "value": "production"},
          "sentry.sdk.name": {"type": "string", "value": "sentry.javascript.node"},
          "sentry.sdk.version": {"type": "string", "value": "10.63.0"},
          "sentry.sdk.integrations": {"type": "array", "value": ["Http", "Express"]},
          "otel.kind": {"type": "string", "value": "SERVER"},
          "http.route": {"type": "string", "value": "/users/:id"},
          "http.url": {"type": "string", "value": "http://localhost:3000/users/42"},
          "http.method": {"type": "string", "value": "GET"},
          "http.target": {"type": "string", "value": "/users/42"},
          "http.request.method": {"type": "string", "value": "GET"},
          "http.response.status_code": {"type": "integer", "value": 503},
          "http.status_code": {"type": "integer", "value": 503},
          "net.host.port": {"type": "integer", "value": 3000},
          "user.id": {"type": "string", "value": "u-9"},
          "tenant_id": {"type": "string", "value": "acme"}
        },
        "links": []
      },
      {
        "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "00f067aa0ba902b7",
        "parent_span_id": "b7ad6b7169203331", "name": "SELECT users", "status": "ok",
        "is_segment": false, "start_timestamp": 1799999998.51, "end_timestamp": 1799999998.6,
        "attributes": {"sentry.op": {"type": "string", "value": "db"},
                       "sentry.segment.name": {"type": "string", "value": "GET /users/:id"}}
      },
      {
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "53995c3f42cd8ad8",
        "name": "POST /orders/981/items", "status": "ok", "is_segment": true,
        "start_timestamp": 1799999999, "end_timestamp": 1799999999.0005,
        "attributes": {
          "sentry.op": {"type": "string", "value": "http.server"},
          "sentry.span.source": {"type": "string", "value": "url"},
          "http.route": {"type": "string", "value": "/orders/981/items"},
          "http.method": {"type": "string", "value": "POST"},
          "http.status_code": {"type": "integer", "value": 201},
          "tenant.id": {"type": "integer", "value": 42}
        }
      },
      {
        "trace_id": "5bf92f3577b34da6a3ce929d0e0e4736", "span_id": "63995c3f42cd8ad8",
        "name": "nightly-report", "status": "ok", "is_segment": true,
        "start_timestamp": 1799999990, "end_timestamp": 1799999995,
        "attributes": {"sentry.op": {"type": "string", "value": "function"}}
      }
    ]}"#;

    #[test]
    fn http_server_segments_are_requests_and_other_spans_are_not() {
        let events = requests_from_span_container(NODE_CONTAINER.as_bytes(), "tenant_id");
        assert_eq!(events.len(), 2);
        let routed = &events[0];
        assert_eq!(
            (routed.endpoint.as_str(), routed.method.as_str(), routed.status),
            ("/users/:id", "GET", 503)
        );
        assert_eq!(routed.tenant, "acme");
        assert!((routed.latency_ms - 112.5).abs() < 1e-6, "{}", routed.latency_ms);
        assert_eq!(routed.timestamp_ms, NOW - 1_388);
        assert_eq!(
            routed.trace_id.map(|t| t.to_string()).as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(routed.event_id, None, "a span is no stored event");

        // Source `url`: the raw path in http.route loses its identifiers; `tenant.id` is found
        // for `tenant_id`, and an integer tenant is its decimal form.
        let raw = &events[1];
        assert_eq!(
            (raw.endpoint.as_str(), raw.method.as_str(), raw.status),
            ("/orders/{id}/items", "POST", 201)
        );
        assert_eq!(raw.tenant, "42");
        assert!((raw.latency_ms - 0.5).abs() < 1e-6, "{}", raw.latency_ms);
    }

    #[test]
    fn without_the_tenant_attribute_the_user_is_the_tenant() {
        let events = requests_from_span_container(NODE_CONTAINER.as_bytes(), "org");
        let tenants: Vec<&str> = events.iter().map(|e| e.tenant.as_str()).collect();
        assert_eq!(tenants, ["u-9", ""]);
    }

    #[test]
    fn without_http_attributes_the_name_and_span_status_decide() {
        // A bare segment as sentry-python's stream mode writes one by hand.
        let payload = br#"{"items": [
          {"name": "GET /health", "status": "error", "is_segment": true,
           "start_timestamp": 1799999999.0, "end_timestamp": 1799999999.25,
           "attributes": {"sentry.op": {"type": "string", "value": "http.server"},
                          "sentry.segment.name.source": {"type": "string", "value": "route"}}},
          {"name": "GET /ready", "status": "ok", "is_segment": true,
           "start_timestamp": 1799999999.0, "end_timestamp": 1799999999.25,
           "attributes": {"sentry.op": "http.server", "http.response.status_code": "204"}}
        ]}"#;
        let events = requests_from_span_container(payload, "tenant_id");
        let seen: Vec<(&str, &str, u16)> = events
            .iter()
            .map(|e| (e.endpoint.as_str(), e.method.as_str(), e.status))
            .collect();
        assert_eq!(seen, [("/health", "GET", 500), ("/ready", "GET", 204)]);
    }

    #[test]
    fn bad_items_are_skipped_and_a_bad_container_gives_nothing() {
        let payload = br#"{"version": 2, "items": [
          "not a span",
          {"name": "GET /x", "is_segment": true, "start_timestamp": 1799999999.0,
           "attributes": {"sentry.op": {"type": "string", "value": "http.server"}}},
          {"name": "GET /backwards", "is_segment": true, "start_timestamp": 1799999999.5,
           "end_timestamp": 1799999999.0,
           "attributes": {"sentry.op": {"type": "string", "value": "http.server"}}},
          {"name": "GET /ok", "is_segment": true, "start_timestamp": 1799999999.0,
           "end_timestamp": 1799999999.5,
           "attributes": {"sentry.op": {"type": "string", "value": "http.server"}}},
          {"name": "GET /no-op", "is_segment": true, "start_timestamp": 1799999999.0,
           "end_timestamp": 1799999999.5, "attributes": {}}
        ]}"#;
        let events = requests_from_span_container(payload, "tenant_id");
        let endpoints: Vec<&str> = events.iter().map(|e| e.endpoint.as_str()).collect();
        assert_eq!(endpoints, ["/ok"]);
        assert!(requests_from_span_container(b"[]", "t").is_empty());
        assert!(requests_from_span_container(b"{", "t").is_empty());
    }
}
