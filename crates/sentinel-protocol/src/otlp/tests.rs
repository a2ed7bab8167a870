//! Fixtures are built with the official generated types (opentelemetry-proto) and encoded with
//! prost, or written as OTLP/JSON the way the spec and its examples write it.

use opentelemetry_proto::tonic::collector::trace::v1 as collector;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::resource::v1 as resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use prost::Message;

use super::*;

/// 2027-01-15T08:00:00Z
const NOW: i64 = 1_800_000_000_000;
const MS: u64 = 1_000_000;

fn tenants() -> Vec<String> {
    ["tenant.id", "tenant_id", "enduser.id"]
        .map(String::from)
        .to_vec()
}

fn kv(key: &str, value: V) -> common::KeyValue {
    common::KeyValue {
        key: key.into(),
        value: Some(common::AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(s: &str) -> V {
    V::StringValue(s.into())
}

/// A span of `kind` that ended `ago_ms` before NOW after lasting `duration_ns`.
fn span(
    kind: trace::span::SpanKind,
    name: &str,
    ago_ms: i64,
    duration_ns: u64,
    attributes: Vec<common::KeyValue>,
) -> trace::Span {
    let end = u64::try_from(NOW - ago_ms).unwrap() * MS;
    trace::Span {
        trace_id: vec![0x5b; 16],
        span_id: vec![0xee; 8],
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: end - duration_ns,
        end_time_unix_nano: end,
        attributes,
        ..Default::default()
    }
}

fn server(name: &str, attributes: Vec<common::KeyValue>) -> trace::Span {
    span(trace::span::SpanKind::Server, name, 1_000, 41_500_000, attributes)
}

fn resource_spans(
    resource_attributes: Vec<common::KeyValue>,
    spans: Vec<trace::Span>,
) -> trace::ResourceSpans {
    trace::ResourceSpans {
        resource: Some(resource::Resource {
            attributes: resource_attributes,
            ..Default::default()
        }),
        scope_spans: vec![trace::ScopeSpans {
            scope: Some(common::InstrumentationScope {
                name: "@opentelemetry/instrumentation-http".into(),
                version: "0.57.0".into(),
                ..Default::default()
            }),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Two services: a shop on current semantic conventions (and one on the old names), a billing
/// service whose spans carry the user; client and internal spans in between.
fn shop_and_billing() -> collector::ExportTraceServiceRequest {
    use trace::span::SpanKind;
    let mut checkout = server("checkout", vec![]);
    checkout.status = Some(trace::Status {
        code: trace::status::StatusCode::Error as i32,
        message: "boom".into(),
    });
    collector::ExportTraceServiceRequest {
        resource_spans: vec![
            resource_spans(
                vec![
                    kv("service.name", text("shop")),
                    kv("tenant.id", text("acme-resource")),
                ],
                vec![
                    server(
                        "POST /v1/orders/{id}",
                        vec![
                            kv("http.request.method", text("POST")),
                            kv("http.route", text("/v1/orders/{id}")),
                            kv("http.response.status_code", V::IntValue(503)),
                            kv("url.path", text("/v1/orders/981")),
                            kv("tenant_id", text("acme")),
                        ],
                    ),
                    span(
                        SpanKind::Client,
                        "GET",
                        1_000,
                        5 * MS,
                        vec![kv("http.request.method", text("GET"))],
                    ),
                    span(SpanKind::Internal, "render", 1_000, MS, vec![]),
                    server(
                        "GET /users/:id",
                        vec![
                            kv("http.method", text("get")),
                            kv("http.status_code", text("404")),
                            kv("http.target", text("/users/7")),
                        ],
                    ),
                    checkout,
                ],
            ),
            resource_spans(
                vec![kv("service.name", text("billing"))],
                vec![server(
                    "GET /invoices",
                    vec![
                        kv("http.request.method", text("GET")),
                        kv("http.route", text("/invoices")),
                        kv("enduser.id", V::IntValue(42)),
                    ],
                )],
            ),
        ],
    }
}

fn expect_shop_and_billing(batch: &ParsedBatch) {
    assert_eq!(batch.rejected, 0, "{:?}", batch.rejections);
    let events = &batch.events;
    assert_eq!(events.len(), 4);
    let expected = RequestEvent {
        tenant: "acme".into(),
        endpoint: "/v1/orders/{id}".into(),
        method: "POST".into(),
        status: 503,
        latency_ms: 41.5,
        timestamp_ms: NOW - 1_000,
        event_id: None,
        trace_id: TraceId::from_bytes([0x5b; 16]),
    };
    assert_eq!(events[0], expected);
    // Old attribute names, a string status, no route: the name without its method.
    assert_eq!(
        (
            events[1].endpoint.as_str(),
            events[1].method.as_str(),
            events[1].status
        ),
        ("/users/:id", "GET", 404)
    );
    // No tenant on the span: the resource's.
    assert_eq!(events[1].tenant, "acme-resource");
    // No HTTP attributes at all: the name, and the span status decides 500.
    assert_eq!(
        (
            events[2].endpoint.as_str(),
            events[2].method.as_str(),
            events[2].status
        ),
        ("checkout", "", 500)
    );
    assert_eq!((events[3].tenant.as_str(), events[3].status), ("42", 200));
}

#[test]
fn server_spans_in_protobuf_become_requests_and_other_kinds_are_skipped() {
    let body = shop_and_billing().encode_to_vec();
    let batch = parse_otlp_traces(&body, Some("application/x-protobuf"), NOW, &tenants()).unwrap();
    expect_shop_and_billing(&batch);
}

#[test]
fn json_written_by_the_official_types_reads_the_same() {
    let body = serde_json::to_vec(&shop_and_billing()).unwrap();
    // The official serializer writes hex ids and string timestamps, as OTLP/JSON requires.
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(text.contains("\"traceId\":\"5b5b5b5b"), "{text}");
    let batch = parse_otlp_traces(&body, Some("application/json"), NOW, &tenants()).unwrap();
    expect_shop_and_billing(&batch);
}

#[test]
fn tenant_attributes_are_tried_in_order_on_the_span_before_the_resource() {
    let request = collector::ExportTraceServiceRequest {
        resource_spans: vec![resource_spans(
            vec![kv("tenant.id", text("from-resource"))],
            vec![
                server(
                    "a",
                    vec![kv("enduser.id", text("user-1")), kv("tenant_id", text("t-1"))],
                ),
                server("b", vec![kv("enduser.id", text("user-2"))]),
                server(
                    "c",
                    vec![kv("tenant_id", text("")), kv("tenant.id", V::BoolValue(true))],
                ),
            ],
        )],
    };
    let body = request.encode_to_vec();
    let names = tenants();
    let batch = parse_otlp_traces(&body, None, NOW, &names).unwrap();
    let found: Vec<&str> = batch.events.iter().map(|e| e.tenant.as_str()).collect();
    assert_eq!(found, ["t-1", "user-2", "from-resource"]);

    let batch = parse_otlp_traces(&body, None, NOW, &[]).unwrap();
    assert!(batch.events.iter().all(|e| e.tenant.is_empty()));
}

#[test]
fn bad_spans_are_rejected_with_their_index_among_server_spans() {
    use trace::span::SpanKind;
    let mut backwards = server("GET /a", vec![]);
    std::mem::swap(
        &mut backwards.start_time_unix_nano,
        &mut backwards.end_time_unix_nano,
    );
    let request = collector::ExportTraceServiceRequest {
        resource_spans: vec![
            resource_spans(
                vec![],
                vec![
                    server("GET /ok", vec![]),
                    span(SpanKind::Client, "GET", 1_000, 1, vec![]),
                    backwards,
                    span(SpanKind::Server, "GET /old", 25 * 3_600_000, MS, vec![]),
                ],
            ),
            resource_spans(
                vec![],
                vec![
                    server("x", vec![kv("http.route", text(&"/long".repeat(50)))]),
                    server("x", vec![kv("http.response.status_code", V::IntValue(700))]),
                    server("x", vec![kv("http.response.status_code", text("teapot"))]),
                    span(SpanKind::Server, "GET /slow", 1_000, 2 * 3_600_000 * MS, vec![]),
                    span(SpanKind::Server, "GET /ahead", -10 * 60_000, MS, vec![]),
                    server("x", vec![kv("http.request.method", text("GET /x"))]),
                    server("GET /ok-too", vec![]),
                ],
            ),
        ],
    };
    let batch = parse_otlp_traces(&request.encode_to_vec(), None, NOW, &tenants()).unwrap();
    let kept: Vec<&str> = batch.events.iter().map(|e| e.endpoint.as_str()).collect();
    assert_eq!(kept, ["/ok", "/ok-too"]);
    assert_eq!(batch.rejected, 8);
    let reasons: Vec<(usize, &str)> = batch
        .rejections
        .iter()
        .map(|r| (r.index, r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (1, "the span ends before it starts"),
            (2, "the span ended more than 24 hours ago"),
            (
                3,
                "the endpoint (http.route or span name) is longer than 200 characters"
            ),
            (4, "http.response.status_code must be an integer from 100 to 599"),
            (5, "http.response.status_code must be an integer from 100 to 599"),
            (6, "the span lasts an hour or more"),
            (7, "the span ends more than 5 minutes in the future"),
            (
                8,
                "http.request.method must be an HTTP method of letters, at most 16"
            ),
        ]
    );
}

#[test]
fn an_unknown_method_uses_the_original_one() {
    let request = collector::ExportTraceServiceRequest {
        resource_spans: vec![resource_spans(
            vec![],
            vec![
                server(
                    "HTTP",
                    vec![
                        kv("http.request.method", text("_OTHER")),
                        kv("http.request.method_original", text("PURGE")),
                        kv("http.route", text("/cache")),
                    ],
                ),
                server(
                    "HTTP",
                    vec![
                        kv("http.request.method", text("_OTHER")),
                        kv("http.route", text("/x")),
                    ],
                ),
            ],
        )],
    };
    let batch = parse_otlp_traces(&request.encode_to_vec(), None, NOW, &[]).unwrap();
    let methods: Vec<&str> = batch.events.iter().map(|e| e.method.as_str()).collect();
    assert_eq!(methods, ["PURGE", ""]);
}

/// An export as the OTLP/JSON spec writes it (compare `examples/trace.json` in
/// open-telemetry/opentelemetry-proto): hex ids, int64 as strings, enums as integers, plus fields
/// this decoder does not know, which it must ignore.
const SPEC_JSON: &str = r#"{
  "resourceSpans": [{
    "resource": {
      "attributes": [
        {"key": "service.name", "value": {"stringValue": "my.service"}},
        {"key": "tenant.id", "value": {"stringValue": "globex"}},
        {"key": "host.ips", "value": {"arrayValue": {"values": [{"stringValue": "10.0.0.1"}]}}}
      ],
      "droppedAttributesCount": 0
    },
    "scopeSpans": [{
      "scope": {"name": "my.library", "version": "1.0.0", "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}]},
      "spans": [
        {
          "traceId": "5B8EFFF798038103D269B633813FC60C",
          "spanId": "EEE19B7EC3C1B174",
          "parentSpanId": "EEE19B7EC3C1B173",
          "name": "GET /api/items/{id}",
          "startTimeUnixNano": "1799999998900000000",
          "endTimeUnixNano": "1799999999000000000",
          "kind": 2,
          "flags": 256,
          "attributes": [
            {"key": "http.request.method", "value": {"stringValue": "GET"}},
            {"key": "http.route", "value": {"stringValue": "/api/items/{id}"}},
            {"key": "http.response.status_code", "value": {"intValue": "502"}},
            {"key": "server.duration", "value": {"doubleValue": 100.5}},
            {"key": "retry", "value": {"boolValue": false}},
            {"key": "payload", "value": {"bytesValue": "AAE="}},
            {"key": "map", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"intValue": 1}}]}}}
          ],
          "events": [{"timeUnixNano": "1799999998950000000", "name": "retry", "attributes": []}],
          "links": [],
          "status": {"code": 2, "message": "bad gateway"},
          "someFutureField": {"nested": [1, 2, 3]}
        },
        {
          "traceId": "5B8EFFF798038103D269B633813FC60C",
          "spanId": "EEE19B7EC3C1B175",
          "parentSpanId": "EEE19B7EC3C1B174",
          "name": "SELECT items",
          "startTimeUnixNano": "1799999998910000000",
          "endTimeUnixNano": "1799999998990000000",
          "kind": 3
        }
      ]
    }]
  }]
}"#;

#[test]
fn otlp_json_as_the_spec_writes_it() {
    let batch = parse_otlp_traces(SPEC_JSON.as_bytes(), Some("application/json"), NOW, &tenants()).unwrap();
    assert_eq!(
        batch.events,
        [RequestEvent {
            tenant: "globex".into(),
            endpoint: "/api/items/{id}".into(),
            method: "GET".into(),
            status: 502,
            latency_ms: 100.0,
            timestamp_ms: NOW - 1_000,
            event_id: None,
            trace_id: TraceId::parse("5B8EFFF798038103D269B633813FC60C"),
        }]
    );
}

#[test]
fn json_numbers_names_snake_case_and_nulls_are_read_too() {
    let body = br#"{"resource_spans": [{"resource": null, "scope_spans": [{"spans": [
        {"name": "GET /n", "kind": "SPAN_KIND_SERVER",
         "start_time_unix_nano": 1799999998000000000, "endTimeUnixNano": 1799999999000000000,
         "attributes": [{"key": "http.response.status_code", "value": {"intValue": 201}},
                        {"key": "tenant_id", "value": {"int_value": "7"}},
                        {"key": "nothing", "value": null}],
         "status": {"code": "STATUS_CODE_OK"}},
        {"name": "GET /d", "kind": 2, "startTimeUnixNano": "1799999998000000000",
         "endTimeUnixNano": "1799999999000000000", "status": null,
         "attributes": [{"key": "http.status_code", "value": {"doubleValue": 204.0}}]}
    ]}]}]}"#;
    let batch = parse_otlp_traces(body, Some("application/json"), NOW, &tenants()).unwrap();
    assert_eq!(batch.rejected, 0, "{:?}", batch.rejections);
    let seen: Vec<(&str, u16, &str, f64)> = batch
        .events
        .iter()
        .map(|e| (e.endpoint.as_str(), e.status, e.tenant.as_str(), e.latency_ms))
        .collect();
    assert_eq!(seen, [("/n", 201, "7", 1000.0), ("/d", 204, "", 1000.0)]);
}

#[test]
fn undecodable_bodies_fail_as_a_whole_with_the_reason() {
    let truncated = &shop_and_billing().encode_to_vec()[..40];
    let err = parse_otlp_traces(truncated, Some("application/x-protobuf"), NOW, &[]).unwrap_err();
    assert!(
        matches!(&err, OtlpError::NotProtobuf(m) if m.contains("buffer underflow")),
        "{err}"
    );

    let err = parse_otlp_traces(br#"{"resourceSpans": 3}"#, Some("application/json"), NOW, &[]).unwrap_err();
    assert!(
        matches!(&err, OtlpError::NotJson(m) if m.contains("invalid type: integer `3`, expected a sequence")),
        "{err}"
    );
    let err = parse_otlp_traces(
        br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": 2, "endTimeUnixNano": "soon"}]}]}]}"#,
        Some("application/json"),
        NOW,
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(&err, OtlpError::NotJson(m) if m.contains("soon")),
        "{err}"
    );
    assert_eq!(
        err.to_string().split(':').next(),
        Some("the body is not an OTLP/JSON ExportTraceServiceRequest")
    );

    assert_eq!(
        parse_otlp_traces(b"{}", Some("text/plain"), NOW, &[]),
        Err(OtlpError::UnsupportedContentType("text/plain".into()))
    );
}

#[test]
fn an_empty_export_is_a_success_with_nothing_in_it() {
    assert_eq!(parse_otlp_traces(b"", None, NOW, &[]), Ok(ParsedBatch::default()));
    assert_eq!(
        parse_otlp_traces(b"{}", None, NOW, &[]),
        Ok(ParsedBatch::default())
    );
}

#[test]
fn the_encoding_comes_from_the_content_type_or_else_the_body() {
    assert_eq!(
        otlp_encoding(Some("application/json; charset=utf-8"), b""),
        Ok(OtlpEncoding::Json)
    );
    assert_eq!(
        otlp_encoding(Some("Application/X-Protobuf"), b"{"),
        Ok(OtlpEncoding::Protobuf)
    );
    assert_eq!(
        otlp_encoding(None, b" \n{\"resourceSpans\":[]}"),
        Ok(OtlpEncoding::Json)
    );
    assert_eq!(otlp_encoding(None, &[0x0a, 0x00]), Ok(OtlpEncoding::Protobuf));
    assert!(otlp_encoding(Some("application/grpc"), b"").is_err());
    assert_eq!(OtlpEncoding::Json.content_type(), "application/json");
}

#[test]
fn a_full_success_leaves_partial_success_unset() {
    let batch = ParsedBatch::default();
    assert!(export_trace_response(&batch, OtlpEncoding::Protobuf).is_empty());
    assert_eq!(export_trace_response(&batch, OtlpEncoding::Json), b"{}");
}

#[test]
fn a_partial_success_counts_the_rejections_in_the_requests_encoding() {
    let mut backwards = server("GET /a", vec![]);
    std::mem::swap(
        &mut backwards.start_time_unix_nano,
        &mut backwards.end_time_unix_nano,
    );
    let request = collector::ExportTraceServiceRequest {
        resource_spans: vec![resource_spans(
            vec![],
            vec![
                server("GET /ok", vec![]),
                backwards,
                server("x", vec![kv("http.response.status_code", V::IntValue(0))]),
            ],
        )],
    };
    let batch = parse_otlp_traces(&request.encode_to_vec(), None, NOW, &[]).unwrap();
    let expected_message = "2 server spans rejected (numbered from 0 among the request's server spans): \
        span 1: the span ends before it starts; \
        span 2: http.response.status_code must be an integer from 100 to 599";

    let bytes = export_trace_response(&batch, OtlpEncoding::Protobuf);
    let answer = collector::ExportTraceServiceResponse::decode(bytes.as_slice()).unwrap();
    let partial = answer.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 2);
    assert_eq!(partial.error_message, expected_message);

    let json: serde_json::Value =
        serde_json::from_slice(&export_trace_response(&batch, OtlpEncoding::Json)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"partialSuccess": {"rejectedSpans": "2", "errorMessage": expected_message}})
    );
}

#[test]
fn a_long_list_of_rejections_ends_with_how_many_more() {
    let mut batch = ParsedBatch::default();
    for index in 0..25 {
        batch.reject(index, "the span lasts an hour or more".into());
    }
    let bytes = export_trace_response(&batch, OtlpEncoding::Protobuf);
    let partial = collector::ExportTraceServiceResponse::decode(bytes.as_slice())
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_spans, 25);
    assert!(partial.error_message.starts_with("25 server spans rejected"));
    assert!(
        partial
            .error_message
            .ends_with("span 19: the span lasts an hour or more; and 5 more")
    );
}

#[test]
fn an_error_body_is_a_status_message() {
    let message = "the body is not a protobuf ExportTraceServiceRequest: buffer underflow";
    let bytes = export_error_body(message, OtlpEncoding::Protobuf);
    // google.rpc.Status field 2 (message), length-delimited.
    assert_eq!(bytes[0], 0x12);
    assert_eq!(usize::from(bytes[1]), message.len());
    assert_eq!(&bytes[2..], message.as_bytes());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&export_error_body(message, OtlpEncoding::Json)).unwrap(),
        serde_json::json!({ "message": message })
    );
}
