//! Request events from Sentry transactions: the `transaction` item sentry-python, @sentry/node
//! (with `traceLifecycle: "static"`) and the Rust `sentry` SDK (sentry-tower) send for each
//! server request they trace.
//!
//! Which transactions are requests: those whose `contexts.trace.op` starts with `http.server`
//! (every server integration of the three SDKs uses that op), is `http`, or is absent (a
//! transaction started by hand); any other op (`queue.task.celery`, `websocket.server`,
//! `function.aws`…) is not a request. The name must also be one a route can come from:
//! `transaction_info.source` is `route`, `url`, `view`, `component`, `custom` or absent, not
//! `task`.
//!
//! - endpoint: `transaction`, without a leading method (`GET /users/:id` is how @sentry/node and
//!   sentry-tower name them). A `url` name is a raw path, so identifiers in it become `{id}`
//!   ([`crate::requests`]' `normalize_url_path`); so is a name without a source, because
//!   sentry-tower sends none and names by the raw path unless axum's matched path is on.
//! - method: `request.method`, else `contexts.trace.data` `http.request.method` or `http.method`,
//!   else the name's.
//! - status: `contexts.response.status_code`, else `contexts.trace.data`
//!   `http.response.status_code` (or the older `http.status_code`), else the `http.status_code`
//!   tag, else the trace status mapped back to HTTP, else 200.
//! - latency: `timestamp` − `start_timestamp` (seconds as numbers, or RFC 3339: sentry-python
//!   writes both as strings, @sentry/node both as numbers, the Rust SDK one of each).
//! - tenant: the `tenant_tag` tag (tags as an object or a list of pairs), else `user.id`.
//! - trace id: `contexts.trace.trace_id`, when it is 32 hex digits. The event id is the worker's
//!   to set: the one the item is stored under.
//!
//! The time window is not checked here: the caller knows when the envelope arrived
//! ([`crate::requests::within_window`]).

use serde::Deserialize;
use serde_json::Value;

use crate::event::timestamp;
use crate::ids::TraceId;
use crate::requests::{self, RequestEvent, Unchecked};

/// Transaction sources whose names can stand for an endpoint (Sentry's `TransactionSource`;
/// `task` names background work).
const ROUTE_SOURCES: [&str; 5] = ["route", "url", "view", "component", "custom"];

#[derive(Deserialize)]
struct Transaction {
    #[serde(default, rename = "type")]
    ty: Value,
    #[serde(default)]
    transaction: Value,
    #[serde(default)]
    transaction_info: Value,
    #[serde(default)]
    start_timestamp: Value,
    #[serde(default)]
    timestamp: Value,
    #[serde(default)]
    contexts: Value,
    #[serde(default)]
    tags: Value,
    #[serde(default)]
    request: Value,
    #[serde(default)]
    user: Value,
}

/// The request a transaction stands for, or `None` when it is not a server request or lacks what
/// one needs (a name, both timestamps, values that pass the request checks).
pub fn request_from_transaction(payload: &[u8], tenant_tag: &str) -> Option<RequestEvent> {
    let t: Transaction = serde_json::from_slice(payload).ok()?;
    if t.ty.as_str().is_some_and(|ty| ty != "transaction") {
        return None;
    }
    let trace = &t.contexts["trace"];
    let data = &trace["data"];
    if !is_server_op(trace["op"].as_str()) {
        return None;
    }
    let normalize = match t.transaction_info["source"].as_str() {
        None | Some("url") => true,
        Some(source) if ROUTE_SOURCES.contains(&source) => false,
        Some(_) => return None,
    };

    let (name_method, name) = requests::split_method(t.transaction.as_str()?);
    let endpoint = if normalize {
        requests::normalize_url_path(name)
    } else {
        name.to_owned()
    };
    let method = [
        &t.request["method"],
        &data["http.request.method"],
        &data["http.method"],
    ]
    .into_iter()
    .find_map(Value::as_str)
    .or(name_method)
    .unwrap_or("");

    let status = [
        &t.contexts["response"]["status_code"],
        &data["http.response.status_code"],
        &data["http.status_code"],
        tag(&t.tags, "http.status_code").unwrap_or(&Value::Null),
    ]
    .into_iter()
    .find_map(status_number)
    .or_else(|| trace["status"].as_str().map(status_from_span_status))
    .unwrap_or(200);

    let start_us = instant_us(&t.start_timestamp)?;
    let end_us = instant_us(&t.timestamp)?;

    let tenant = tag(&t.tags, tenant_tag)
        .and_then(tenant_value)
        .or_else(|| tenant_value(&t.user["id"]))
        .unwrap_or_default();

    let mut event = timed_request(tenant, &endpoint, method, status, start_us, end_us)?;
    event.trace_id = trace["trace_id"].as_str().and_then(TraceId::parse);
    Some(event)
}

fn is_server_op(op: Option<&str>) -> bool {
    match op.map(str::trim) {
        None | Some("" | "http") => true,
        Some(op) => op.starts_with("http.server"),
    }
}

/// A tag's value; Sentry accepts tags as an object or as a list of `[key, value]` pairs.
fn tag<'v>(tags: &'v Value, key: &str) -> Option<&'v Value> {
    match tags {
        Value::Object(map) => map.get(key),
        Value::Array(pairs) => pairs.iter().find_map(|pair| match pair.as_array()?.as_slice() {
            [k, v] if k.as_str() == Some(key) => Some(v),
            _ => None,
        }),
        _ => None,
    }
}

/// A tenant from a tag or a user id: a non-empty string or an integer.
pub(crate) fn tenant_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// A status code written as an integer or a numeric string; anything else is no status.
pub(crate) fn status_number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The HTTP status a Sentry span status stands for. The statuses are gRPC's codes, which SDKs set
/// from the response (sentry-python `get_span_status_from_http_code`, sentry-tower `map_status`);
/// the mapping back is gRPC's own (google.rpc.Code). The client-side statuses stay 4xx: counting
/// them as 500 would put client mistakes into the 5xx share tenants are ranked by.
fn status_from_span_status(status: &str) -> i64 {
    match status {
        "ok" => 200,
        "cancelled" => 499,
        "invalid_argument" | "failed_precondition" | "out_of_range" => 400,
        "unauthenticated" => 401,
        "permission_denied" => 403,
        "not_found" => 404,
        "already_exists" | "aborted" => 409,
        "resource_exhausted" => 429,
        "unimplemented" => 501,
        "unavailable" => 503,
        "deadline_exceeded" => 504,
        // internal_error, unknown_error, unknown, data_loss and anything new.
        _ => 500,
    }
}

/// An instant in microseconds since the epoch: seconds as a number or numeric string, or RFC 3339.
/// Microseconds because latencies of a few milliseconds matter and SDKs send that precision.
pub(crate) fn instant_us(value: &Value) -> Option<i64> {
    let from_secs = |secs: f64| {
        let us = (secs * 1e6).round();
        #[expect(clippy::cast_possible_truncation, reason = "range-checked just before")]
        let us = (us.is_finite() && us.abs() < 9.0e18).then_some(us as i64);
        us
    };
    match value {
        Value::Number(n) => from_secs(n.as_f64()?),
        Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s.trim()) {
            Ok(dt) => Some(dt.timestamp_micros()),
            Err(_) => timestamp::parse_str(s).map(|ms| ms.saturating_mul(1000)),
        },
        _ => None,
    }
}

/// The request that ran from `start_us` to `end_us` (epoch µs), if it passes the batch
/// endpoint's checks (the time window aside: the caller checks it against its receive time).
pub(crate) fn timed_request(
    tenant: String,
    endpoint: &str,
    method: &str,
    status: i64,
    start_us: i64,
    end_us: i64,
) -> Option<RequestEvent> {
    #[expect(
        clippy::cast_precision_loss,
        reason = "request durations are far below 2^53 µs"
    )]
    let us = end_us.saturating_sub(start_us) as f64;
    requests::check(
        Unchecked {
            tenant,
            endpoint,
            method,
            status,
            latency_ms: us / 1000.0,
            timestamp_ms: end_us.div_euclid(1000),
        },
        None,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2027-01-15T08:00:00Z
    const NOW: i64 = 1_800_000_000_000;

    /// sentry-python 2.x with the FastAPI integration: RFC 3339 timestamps, the status in three
    /// places (`set_http_status`), the route template with source `route`, tags as an object.
    const PYTHON_FASTAPI: &str = r#"{
      "type": "transaction",
      "transaction": "/v1/orders/{order_id}",
      "transaction_info": {"source": "route"},
      "contexts": {
        "trace": {
          "trace_id": "4c79f60c11214eb38604f4ae0781bfb2",
          "span_id": "fa90fdead5f74052",
          "parent_span_id": null,
          "op": "http.server",
          "description": null,
          "origin": "auto.http.starlette",
          "status": "internal_error",
          "data": {"thread.id": "140129838548736", "thread.name": "MainThread",
                   "http.response.status_code": 503}
        },
        "response": {"status_code": 503},
        "runtime": {"name": "CPython", "version": "3.12.4"}
      },
      "tags": {"tenant_id": "acme", "http.status_code": "503"},
      "timestamp": "2027-01-15T07:59:59.041750Z",
      "start_timestamp": "2027-01-15T07:59:59.000250Z",
      "spans": [
        {"trace_id": "4c79f60c11214eb38604f4ae0781bfb2", "span_id": "b1a2c3d4e5f60718",
         "parent_span_id": "fa90fdead5f74052", "op": "db", "description": "SELECT 1",
         "start_timestamp": "2027-01-15T07:59:59.001000Z", "timestamp": "2027-01-15T07:59:59.040000Z"}
      ],
      "measurements": {},
      "event_id": "9c5ea0d6a4cf4b9a9bd0c7a4d1b8e2f3",
      "platform": "python",
      "request": {"url": "http://localhost:8000/v1/orders/981", "query_string": "", "method": "POST",
                  "headers": {"host": "localhost:8000", "user-agent": "curl/8.5.0"}},
      "user": {"id": "u-17"},
      "sdk": {"name": "sentry.python.fastapi", "version": "2.68.0"}
    }"#;

    /// @sentry/node 10/11 with `traceLifecycle: "static"` and Express: numeric timestamps, the
    /// name `METHOD route`, OpenTelemetry attributes in `contexts.trace.data`
    /// (opentelemetry `createTransactionForOtelSpan`), tags as a list of pairs.
    const NODE_EXPRESS: &str = r#"{
      "contexts": {
        "trace": {
          "span_id": "a1b2c3d4e5f60718", "trace_id": "0af7651916cd43dd8448eb211c80319c",
          "data": {"sentry.source": "route", "sentry.sample_rate": 1, "sentry.op": "http.server",
                   "sentry.origin": "auto.http.otel.http", "http.url": "http://localhost:3000/users/42",
                   "http.method": "GET", "http.target": "/users/42", "http.route": "/users/:id",
                   "http.status_code": 404, "http.response.status_code": 404, "otel.kind": "SERVER"},
          "origin": "auto.http.otel.http", "op": "http.server", "status": "not_found"
        },
        "otel": {"resource": {"service.name": "node", "telemetry.sdk.language": "nodejs"}},
        "response": {"status_code": 404}
      },
      "spans": [],
      "start_timestamp": 1799999998.5,
      "timestamp": 1799999998.6125,
      "transaction": "GET /users/:id",
      "type": "transaction",
      "transaction_info": {"source": "route"},
      "platform": "node",
      "request": {"method": "GET", "url": "http://localhost:3000/users/42", "headers": {"host": "localhost:3000"}},
      "tags": [["tenant_id", "globex"], ["region", "eu"]],
      "user": {"id": 7},
      "event_id": "1f2e3d4c5b6a79880716253443526170",
      "environment": "production",
      "sdk": {"name": "sentry.javascript.node", "version": "10.63.0"}
    }"#;

    /// The Rust SDK with sentry-tower (no `axum-matched-path`): no `type` nor `transaction_info`,
    /// the raw path in the name, `timestamp` in RFC 3339 but `start_timestamp` in seconds
    /// (sentry-types `Transaction`), the status only in the trace context.
    const RUST_TOWER: &str = r#"{
      "event_id": "6a7b8c9d0e1f42a3b4c5d6e7f8091a2b",
      "transaction": "GET /users/123/avatar/5f1a2b3c4d5e6f7a8b9c0d1e",
      "platform": "native",
      "timestamp": "2027-01-15T07:59:58.300Z",
      "start_timestamp": 1799999998.25,
      "spans": [],
      "contexts": {"trace": {"span_id": "c0ffee0000000001", "trace_id": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
                             "op": "http.server", "status": "unavailable"}},
      "request": {"url": "http://localhost:8080/users/123/avatar/5f1a2b3c4d5e6f7a8b9c0d1e", "method": "GET"},
      "sdk": {"name": "sentry.rust", "version": "0.49.1"}
    }"#;

    #[test]
    fn a_python_fastapi_transaction_is_its_route_and_response() {
        let event = request_from_transaction(PYTHON_FASTAPI.as_bytes(), "tenant_id").unwrap();
        assert_eq!(
            event,
            RequestEvent {
                tenant: "acme".into(),
                endpoint: "/v1/orders/{order_id}".into(),
                method: "POST".into(),
                status: 503,
                latency_ms: 41.5,
                timestamp_ms: NOW - 959,
                event_id: None,
                trace_id: TraceId::parse("4c79f60c11214eb38604f4ae0781bfb2"),
            }
        );
    }

    #[test]
    fn a_node_transaction_loses_its_method_prefix_and_reads_list_tags() {
        let event = request_from_transaction(NODE_EXPRESS.as_bytes(), "tenant_id").unwrap();
        assert_eq!(event.endpoint, "/users/:id");
        assert_eq!(event.method, "GET");
        assert_eq!(event.status, 404);
        assert_eq!(event.tenant, "globex");
        assert!((event.latency_ms - 112.5).abs() < 1e-6, "{}", event.latency_ms);
        assert_eq!(event.timestamp_ms, NOW - 1_388);
    }

    #[test]
    fn a_rust_transaction_without_source_gets_its_identifiers_replaced() {
        let event = request_from_transaction(RUST_TOWER.as_bytes(), "tenant_id").unwrap();
        assert_eq!(event.endpoint, "/users/{id}/avatar/{id}");
        assert_eq!(event.method, "GET");
        // Only the trace status: `unavailable` is a 503.
        assert_eq!(event.status, 503);
        assert_eq!(event.tenant, "");
        assert!((event.latency_ms - 50.0).abs() < 1e-6, "{}", event.latency_ms);
    }

    fn with(base: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut value: Value = serde_json::from_str(base).unwrap();
        edit(&mut value);
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn the_user_id_is_the_tenant_when_the_tag_is_missing() {
        let python = with(PYTHON_FASTAPI, |v| {
            v["tags"].as_object_mut().unwrap().remove("tenant_id");
        });
        assert_eq!(
            request_from_transaction(&python, "tenant_id").unwrap().tenant,
            "u-17"
        );
        // The Node user id is a number.
        let node = request_from_transaction(NODE_EXPRESS.as_bytes(), "org").unwrap();
        assert_eq!(node.tenant, "7");
    }

    #[test]
    fn status_sources_are_tried_in_order() {
        let only_tag = with(PYTHON_FASTAPI, |v| {
            v["contexts"].as_object_mut().unwrap().remove("response");
            v["contexts"]["trace"]["data"] = serde_json::json!({});
            v["tags"]["http.status_code"] = "418".into();
        });
        assert_eq!(request_from_transaction(&only_tag, "t").unwrap().status, 418);
        let only_trace_status = with(PYTHON_FASTAPI, |v| {
            v["contexts"].as_object_mut().unwrap().remove("response");
            v["contexts"]["trace"]["data"] = serde_json::json!({});
            v["tags"] = serde_json::json!({});
        });
        assert_eq!(
            request_from_transaction(&only_trace_status, "t").unwrap().status,
            500
        );
        let no_status_at_all = with(RUST_TOWER, |v| {
            v["contexts"]["trace"].as_object_mut().unwrap().remove("status");
        });
        assert_eq!(
            request_from_transaction(&no_status_at_all, "t").unwrap().status,
            200
        );
    }

    #[test]
    fn span_statuses_map_back_to_http() {
        let cases = [
            ("ok", 200),
            ("not_found", 404),
            ("unauthenticated", 401),
            ("permission_denied", 403),
            ("invalid_argument", 400),
            ("resource_exhausted", 429),
            ("unavailable", 503),
            ("deadline_exceeded", 504),
            ("unimplemented", 501),
            ("already_exists", 409),
            ("failed_precondition", 400),
            ("internal_error", 500),
            ("unknown_error", 500),
            ("something_new", 500),
        ];
        for (status, http) in cases {
            assert_eq!(status_from_span_status(status), http, "{status}");
        }
    }

    #[test]
    fn url_names_are_normalized_and_route_names_are_not() {
        let url = with(PYTHON_FASTAPI, |v| {
            v["transaction"] = "/v1/orders/981".into();
            v["transaction_info"]["source"] = "url".into();
        });
        assert_eq!(
            request_from_transaction(&url, "t").unwrap().endpoint,
            "/v1/orders/{id}"
        );
        let route = with(PYTHON_FASTAPI, |v| v["transaction"] = "/v1/reports/2024".into());
        assert_eq!(
            request_from_transaction(&route, "t").unwrap().endpoint,
            "/v1/reports/2024"
        );
    }

    #[test]
    fn only_server_transactions_with_route_like_names_are_requests() {
        let celery = with(PYTHON_FASTAPI, |v| {
            v["contexts"]["trace"]["op"] = "queue.task.celery".into();
        });
        assert_eq!(request_from_transaction(&celery, "t"), None);
        let task = with(PYTHON_FASTAPI, |v| {
            v["transaction_info"]["source"] = "task".into()
        });
        assert_eq!(request_from_transaction(&task, "t"), None);
        let by_hand = with(PYTHON_FASTAPI, |v| {
            v["contexts"]["trace"].as_object_mut().unwrap().remove("op");
        });
        assert!(request_from_transaction(&by_hand, "t").is_some());
        let http = with(PYTHON_FASTAPI, |v| v["contexts"]["trace"]["op"] = "http".into());
        assert!(request_from_transaction(&http, "t").is_some());
        let error_event = with(PYTHON_FASTAPI, |v| v["type"] = "error".into());
        assert_eq!(request_from_transaction(&error_event, "t"), None);
    }

    #[test]
    fn transactions_it_cannot_make_sense_of_are_none() {
        let no_start = with(NODE_EXPRESS, |v| {
            v.as_object_mut().unwrap().remove("start_timestamp");
        });
        assert_eq!(request_from_transaction(&no_start, "t"), None);
        let no_name = with(NODE_EXPRESS, |v| {
            v.as_object_mut().unwrap().remove("transaction");
        });
        assert_eq!(request_from_transaction(&no_name, "t"), None);
        let backwards = with(NODE_EXPRESS, |v| v["start_timestamp"] = 1_800_000_000.0.into());
        assert_eq!(request_from_transaction(&backwards, "t"), None);
        let long = with(NODE_EXPRESS, |v| v["transaction"] = "/x".repeat(150).into());
        assert_eq!(request_from_transaction(&long, "t"), None);
        assert_eq!(request_from_transaction(b"not json", "t"), None);
    }
}
