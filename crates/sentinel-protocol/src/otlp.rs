//! Request events from OpenTelemetry traces: the body of an OTLP/HTTP `POST /v1/traces`
//! (`ExportTraceServiceRequest`, as protobuf or OTLP/JSON) and the answer it gets.
//!
//! Only server spans (`SPAN_KIND_SERVER`) are requests; the others are skipped and not counted.
//! From each server span, following the OpenTelemetry HTTP semantic conventions (stable names
//! first, then the names before v1.21):
//!
//! - endpoint: `http.route`, else the span name without a leading `{method} `;
//! - method: `http.request.method` (`_OTHER` means `http.request.method_original`), else
//!   `http.method`, else the method the span name starts with;
//! - status: `http.response.status_code`, else `http.status_code`, an integer or a numeric string;
//!   without either, 500 when the span status is ERROR and 200 otherwise;
//! - latency: end − start; timestamp: the end;
//! - tenant: the first of the configured attribute names found on the span, else on its resource;
//!   none means no tenant;
//! - trace id: the span's, when it is 16 bytes and not all zeros.
//!
//! A span whose values fail the checks of [`crate::requests`] is rejected with its position among
//! the request's server spans and a reason; the others are kept. Per the OTLP spec, the answer to a
//! request with rejections is a partial success naming how many spans were refused and why.

mod wire;

use prost::Message;

use crate::ids::TraceId;
use crate::requests::{
    self, Invalid, MAX_METHOD_CHARS, MAX_NAME_CHARS, ParsedBatch, RequestEvent, Unchecked,
};
use wire::{AnyValue, ExportTraceServiceRequest, KeyValue, Span, Value};

/// How an OTLP/HTTP body is encoded; the answer must use the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpEncoding {
    /// `application/x-protobuf`
    Protobuf,
    /// `application/json` (OTLP/JSON)
    Json,
}

impl OtlpEncoding {
    /// The `Content-Type` of an answer in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            OtlpEncoding::Protobuf => "application/x-protobuf",
            OtlpEncoding::Json => "application/json",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OtlpError {
    #[error("content type `{0}` is not OTLP; send application/x-protobuf or application/json")]
    UnsupportedContentType(String),
    #[error("the body is not a protobuf ExportTraceServiceRequest: {0}")]
    NotProtobuf(String),
    #[error("the body is not an OTLP/JSON ExportTraceServiceRequest: {0}")]
    NotJson(String),
}

/// The body's encoding, from its `Content-Type` (parameters such as `charset` ignored). Without a
/// content type the body tells: OTLP/JSON is an object, so it starts with `{`, a byte no
/// `ExportTraceServiceRequest` in protobuf can start with (it would be field 15 as a group).
pub fn otlp_encoding(content_type: Option<&str>, body: &[u8]) -> Result<OtlpEncoding, OtlpError> {
    let Some(content_type) = content_type else {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        return Ok(match first {
            Some(b'{') => OtlpEncoding::Json,
            _ => OtlpEncoding::Protobuf,
        });
    };
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("application/x-protobuf")
        || media_type.eq_ignore_ascii_case("application/protobuf")
    {
        Ok(OtlpEncoding::Protobuf)
    } else if media_type.eq_ignore_ascii_case("application/json") {
        Ok(OtlpEncoding::Json)
    } else {
        Err(OtlpError::UnsupportedContentType(content_type.to_owned()))
    }
}

/// Reads the server spans of an OTLP trace export received at `received_ms` as request events.
/// `tenant_attributes` lists, in order of preference, the attribute names that carry the tenant.
pub fn parse_otlp_traces(
    body: &[u8],
    content_type: Option<&str>,
    received_ms: i64,
    tenant_attributes: &[String],
) -> Result<ParsedBatch, OtlpError> {
    let request = match otlp_encoding(content_type, body)? {
        OtlpEncoding::Protobuf => {
            ExportTraceServiceRequest::decode(body).map_err(|e| OtlpError::NotProtobuf(e.to_string()))?
        }
        OtlpEncoding::Json => serde_json::from_slice(body).map_err(|e| OtlpError::NotJson(e.to_string()))?,
    };
    let mut out = ParsedBatch::default();
    let mut index = 0;
    for resource_spans in &request.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map_or(&[][..], |r| r.attributes.as_slice());
        for span in resource_spans.scope_spans.iter().flat_map(|s| &s.spans) {
            if span.kind != wire::SPAN_KIND_SERVER {
                continue;
            }
            match request_from_span(span, resource, received_ms, tenant_attributes) {
                Ok(event) => out.events.push(event),
                Err(reason) => out.reject(index, reason),
            }
            index += 1;
        }
    }
    Ok(out)
}

fn request_from_span(
    span: &Span,
    resource: &[KeyValue],
    received_ms: i64,
    tenant_attributes: &[String],
) -> Result<RequestEvent, String> {
    let attr = |key: &str| attribute(&span.attributes, key);

    let method = match attr("http.request.method").or_else(|| attr("http.method")) {
        // The semantic conventions' placeholder for a method the instrumentation did not know.
        Some(Value::String(m)) if m == "_OTHER" => match attr("http.request.method_original") {
            Some(Value::String(original)) => original.as_str(),
            _ => "",
        },
        Some(Value::String(m)) => m.as_str(),
        _ => "",
    };

    // Span names follow `{method} {target}` in the HTTP semantic conventions.
    let (name_method, name_rest) = requests::split_method(&span.name);
    let method = if method.is_empty() {
        name_method.unwrap_or("")
    } else {
        method
    };
    let endpoint = match attr("http.route") {
        Some(Value::String(route)) if !route.trim().is_empty() => route.as_str(),
        _ => match name_method {
            Some(prefix) if prefix.eq_ignore_ascii_case(method) => name_rest,
            _ => span.name.as_str(),
        },
    };

    let status = match attr("http.response.status_code").or_else(|| attr("http.status_code")) {
        Some(value) => status_number(value).ok_or_else(|| span_reason(Invalid::Status))?,
        None if span
            .status
            .as_ref()
            .is_some_and(|s| s.code == wire::STATUS_CODE_ERROR) =>
        {
            500
        }
        None => 200,
    };

    let Some(nanos) = span.end_time_unix_nano.checked_sub(span.start_time_unix_nano) else {
        return Err("the span ends before it starts".into());
    };
    #[expect(
        clippy::cast_precision_loss,
        reason = "durations under an hour are far below 2^53 ns"
    )]
    let latency_ms = nanos as f64 / 1_000_000.0;
    let timestamp_ms = i64::try_from(span.end_time_unix_nano / 1_000_000)
        .map_err(|_| "the span's end time is out of range".to_owned())?;

    let tenant = tenant(&span.attributes, resource, tenant_attributes);

    let mut event = requests::check(
        Unchecked {
            tenant,
            endpoint,
            method,
            status,
            latency_ms,
            timestamp_ms,
        },
        Some(received_ms),
    )
    .map_err(span_reason)?;
    event.trace_id = <[u8; 16]>::try_from(span.trace_id.as_slice())
        .ok()
        .and_then(TraceId::from_bytes);
    Ok(event)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

/// A status code attribute: an integer, or a string or a double holding one. Out of range values
/// pass through so the shared check rejects them with its reason.
fn status_number(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        Value::String(s) => s.trim().parse().ok(),
        #[expect(clippy::cast_possible_truncation, reason = "integral and range-checked")]
        Value::Double(d) if d.fract() == 0.0 && d.abs() < 1e15 => Some(*d as i64),
        _ => None,
    }
}

/// The first configured tenant attribute on the span, else on the resource. Strings and integers
/// count; an empty string is no tenant.
fn tenant(span: &[KeyValue], resource: &[KeyValue], names: &[String]) -> String {
    for attributes in [span, resource] {
        for name in names {
            match attribute(attributes, name) {
                Some(Value::String(s)) if !s.is_empty() => return s.clone(),
                Some(Value::Int(n)) => return n.to_string(),
                _ => {}
            }
        }
    }
    String::new()
}

/// The reason a span was refused, in the terms of its attributes.
fn span_reason(invalid: Invalid) -> String {
    match invalid {
        Invalid::TenantTooLong => format!("the tenant attribute is longer than {MAX_NAME_CHARS} characters"),
        Invalid::EndpointEmpty => "the span has neither an http.route nor a name".into(),
        Invalid::EndpointTooLong => {
            format!("the endpoint (http.route or span name) is longer than {MAX_NAME_CHARS} characters")
        }
        Invalid::Method => {
            format!("http.request.method must be an HTTP method of letters, at most {MAX_METHOD_CHARS}")
        }
        Invalid::Status => "http.response.status_code must be an integer from 100 to 599".into(),
        Invalid::Latency => "the span lasts an hour or more".into(),
        Invalid::TooOld => "the span ended more than 24 hours ago".into(),
        Invalid::TooNew => "the span ends more than 5 minutes in the future".into(),
    }
}

/// The body of the `200 OK` answer to an export: an `ExportTraceServiceResponse`, in the request's
/// encoding. Without rejections `partial_success` is left unset (an empty message: no bytes in
/// protobuf, `{}` in JSON), as the spec requires of a full success; otherwise it carries the number
/// of spans refused and the first reasons.
pub fn export_trace_response(batch: &ParsedBatch, encoding: OtlpEncoding) -> Vec<u8> {
    let partial_success = (batch.rejected > 0).then(|| wire::ExportTracePartialSuccess {
        rejected_spans: i64::try_from(batch.rejected).unwrap_or(i64::MAX),
        error_message: rejection_message(batch),
    });
    match encoding {
        OtlpEncoding::Protobuf => wire::ExportTraceServiceResponse { partial_success }.encode_to_vec(),
        OtlpEncoding::Json => {
            let body = match partial_success {
                // int64 is a decimal string in the proto3 JSON mapping.
                Some(p) => serde_json::json!({"partialSuccess": {
                    "rejectedSpans": p.rejected_spans.to_string(),
                    "errorMessage": p.error_message,
                }}),
                None => serde_json::json!({}),
            };
            body.to_string().into_bytes()
        }
    }
}

/// The body of a 4xx or 5xx answer: a `google.rpc.Status` with `message`, in the request's
/// encoding (OTLP/HTTP "Failures"). For an undecodable body, `message` is the [`OtlpError`].
pub fn export_error_body(message: &str, encoding: OtlpEncoding) -> Vec<u8> {
    match encoding {
        OtlpEncoding::Protobuf => wire::RpcStatus {
            message: message.to_owned(),
        }
        .encode_to_vec(),
        OtlpEncoding::Json => serde_json::json!({ "message": message }).to_string().into_bytes(),
    }
}

fn rejection_message(batch: &ParsedBatch) -> String {
    let mut message = format!(
        "{} server span{} rejected (numbered from 0 among the request's server spans): ",
        batch.rejected,
        if batch.rejected == 1 { "" } else { "s" }
    );
    let reasons: Vec<String> = batch
        .rejections
        .iter()
        .map(|r| format!("span {}: {}", r.index, r.reason))
        .collect();
    message.push_str(&reasons.join("; "));
    if batch.rejected > batch.rejections.len() {
        message.push_str(&format!("; and {} more", batch.rejected - batch.rejections.len()));
    }
    message
}

#[cfg(test)]
mod tests;
