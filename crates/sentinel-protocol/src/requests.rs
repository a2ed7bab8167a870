//! Request events for tenant detection: the batch endpoint's body, each record's validation, and
//! the compact form a validated batch takes in the inbox.
//!
//! A batch is a JSON array of records or NDJSON (one record per line):
//!
//! ```json
//! {"tenant_id": "acme", "endpoint": "/v1/orders/{id}", "method": "POST",
//!  "status_code": 503, "latency_ms": 41.7, "timestamp": "2026-11-23T10:15:02.120Z"}
//! ```
//!
//! - `endpoint` (required): the route template, 1–200 characters.
//! - `status_code` (required): 100–599.
//! - `latency_ms` (required): a finite number ≥ 0, below one hour.
//! - `tenant_id`: a string or integer up to 200 characters; missing, `null` or `""` means the
//!   request has no tenant: it counts in totals and per endpoint but is never ranked.
//! - `method`: an HTTP method up to 16 characters (upper-cased), default empty.
//! - `timestamp`: RFC 3339 or seconds since the epoch (number or string); default the receive
//!   time; at most 24 hours old and 5 minutes ahead.
//!
//! Unknown fields are ignored (SDKs may add some). A bad record is rejected on its own with its
//! index and reason; the rest of the batch is kept.

use serde::Deserialize;
use serde_json::Value;

use crate::event::timestamp;
use crate::ids::{EventId, TraceId};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_METHOD_CHARS: usize = 16;
/// Oldest a record's timestamp may be, relative to receipt.
pub const MAX_PAST_MS: i64 = 24 * 3_600_000;
/// Furthest ahead a record's timestamp may be (clock skew).
pub const MAX_FUTURE_MS: i64 = 5 * 60_000;
const MAX_LATENCY_MS: f64 = 3_600_000.0;
/// Rejections described in an answer; the count covers all of them.
pub const MAX_REASONS: usize = 20;

/// One validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestEvent {
    /// Empty when the request has no tenant.
    pub tenant: String,
    pub endpoint: String,
    pub method: String,
    pub status: u16,
    pub latency_ms: f64,
    pub timestamp_ms: i64,
    /// The Sentry transaction the request was derived from, as stored (set by the worker), so a
    /// slow request can lead to its spans. Never read from the batch endpoint: a client could name
    /// any event there.
    pub event_id: Option<EventId>,
    /// The trace of a Sentry transaction, span v2 segment or OTLP server span. The batch
    /// endpoint takes none either: the sensors send no traces to link to.
    pub trace_id: Option<TraceId>,
}

/// A record that was not kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// 0-based position in the batch (the line for NDJSON, blank lines not counted).
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, Default, PartialEq)]
pub struct ParsedBatch {
    pub events: Vec<RequestEvent>,
    pub rejected: usize,
    /// The first `MAX_REASONS` rejections.
    pub rejections: Vec<Rejection>,
}

impl ParsedBatch {
    pub(crate) fn reject(&mut self, index: usize, reason: String) {
        self.rejected += 1;
        if self.rejections.len() < MAX_REASONS {
            self.rejections.push(Rejection { index, reason });
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("the body is empty; send a JSON array of request records or NDJSON")]
    Empty,
    #[error("the body is not a JSON array of request records: {0}")]
    NotJson(String),
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(default)]
    tenant_id: Option<Value>,
    #[serde(default, borrow)]
    endpoint: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    status_code: Option<Value>,
    #[serde(default)]
    latency_ms: Option<Value>,
    #[serde(default)]
    timestamp: Option<Value>,
}

/// Parses a batch received at `received_ms`. The whole body fails only when it is not JSON
/// records at all; a record that is JSON but not a valid request is rejected on its own.
pub fn parse_batch(body: &[u8], received_ms: i64) -> Result<ParsedBatch, BatchError> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err(BatchError::Empty);
    };
    let mut out = ParsedBatch::default();
    if body[start] == b'[' {
        let records: Vec<&serde_json::value::RawValue> =
            serde_json::from_slice(body).map_err(|e| BatchError::NotJson(e.to_string()))?;
        out.events.reserve(records.len());
        for (index, raw) in records.into_iter().enumerate() {
            take(&mut out, index, raw.get().as_bytes(), received_ms);
        }
    } else {
        let lines = body
            .split(|b| *b == b'\n')
            .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()));
        for (index, line) in lines.enumerate() {
            take(&mut out, index, line, received_ms);
        }
    }
    Ok(out)
}

fn take(out: &mut ParsedBatch, index: usize, bytes: &[u8], received_ms: i64) {
    let checked = serde_json::from_slice::<Record<'_>>(bytes)
        .map_err(|e| format!("not a JSON object with the request fields: {e}"))
        .and_then(|r| validate(r, received_ms));
    match checked {
        Ok(event) => out.events.push(event),
        Err(reason) => out.reject(index, reason),
    }
}

fn validate(r: Record<'_>, received_ms: i64) -> Result<RequestEvent, String> {
    let tenant = match r.tenant_id {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(_) => return Err("tenant_id must be a string or an integer".into()),
    };
    check_tenant(&tenant).map_err(batch_reason)?;
    let endpoint = r.endpoint.ok_or("endpoint is missing")?;
    let endpoint = check_endpoint(&endpoint).map_err(batch_reason)?;
    let method = check_method(r.method.as_deref().unwrap_or("")).map_err(batch_reason)?;
    let status = match r.status_code {
        None => return Err("status_code is missing".into()),
        Some(v) => check_status(v.as_i64().unwrap_or(-1)).map_err(batch_reason)?,
    };
    let latency_ms = match r.latency_ms {
        None => return Err("latency_ms is missing".into()),
        Some(v) => check_latency(v.as_f64().unwrap_or(f64::NAN)).map_err(batch_reason)?,
    };
    let timestamp_ms = match r.timestamp {
        None | Some(Value::Null) => received_ms,
        Some(Value::Number(n)) => n
            .as_f64()
            .and_then(timestamp::from_secs_f64)
            .ok_or("timestamp is not a number of seconds")?,
        Some(Value::String(s)) => {
            timestamp::parse_str(&s).ok_or("timestamp must be RFC 3339 or seconds since the epoch")?
        }
        Some(_) => return Err("timestamp must be RFC 3339 or seconds since the epoch".into()),
    };
    check_window(timestamp_ms, received_ms).map_err(batch_reason)?;
    Ok(RequestEvent {
        tenant,
        endpoint: endpoint.to_owned(),
        method,
        status,
        latency_ms,
        timestamp_ms,
        event_id: None,
        trace_id: None,
    })
}

/// The batch endpoint's words for a failed check: they name the record's fields.
fn batch_reason(invalid: Invalid) -> String {
    match invalid {
        Invalid::TenantTooLong => format!("tenant_id is longer than {MAX_NAME_CHARS} characters"),
        Invalid::EndpointEmpty => "endpoint is empty".into(),
        Invalid::EndpointTooLong => format!("endpoint is longer than {MAX_NAME_CHARS} characters"),
        Invalid::Method => format!("method must be an HTTP method of letters, at most {MAX_METHOD_CHARS}"),
        Invalid::Status => "status_code must be an integer from 100 to 599".into(),
        Invalid::Latency => "latency_ms must be a number of milliseconds from 0 to 3600000".into(),
        Invalid::TooOld => "timestamp is more than 24 hours old".into(),
        Invalid::TooNew => "timestamp is more than 5 minutes in the future".into(),
    }
}

/// A check every source of request events applies (the batch endpoint, OTLP spans, Sentry
/// transactions and span containers); each source words the reason with its own field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    TenantTooLong,
    EndpointEmpty,
    EndpointTooLong,
    Method,
    Status,
    Latency,
    TooOld,
    TooNew,
}

/// A request's values as a source read them, before the shared checks.
#[derive(Debug)]
pub(crate) struct Unchecked<'a> {
    pub(crate) tenant: String,
    pub(crate) endpoint: &'a str,
    pub(crate) method: &'a str,
    pub(crate) status: i64,
    pub(crate) latency_ms: f64,
    pub(crate) timestamp_ms: i64,
}

/// Applies every check, in the batch endpoint's order. Without `received_ms` the time window is
/// not checked: the caller has no receive time and must check it with [`within_window`].
pub(crate) fn check(u: Unchecked<'_>, received_ms: Option<i64>) -> Result<RequestEvent, Invalid> {
    check_tenant(&u.tenant)?;
    let endpoint = check_endpoint(u.endpoint)?;
    let method = check_method(u.method)?;
    let status = check_status(u.status)?;
    let latency_ms = check_latency(u.latency_ms)?;
    if let Some(received_ms) = received_ms {
        check_window(u.timestamp_ms, received_ms)?;
    }
    Ok(RequestEvent {
        tenant: u.tenant,
        endpoint: endpoint.to_owned(),
        method,
        status,
        latency_ms,
        timestamp_ms: u.timestamp_ms,
        event_id: None,
        trace_id: None,
    })
}

/// Whether a request that happened at `timestamp_ms` may still be counted when received at
/// `received_ms`: at most 24 hours old and 5 minutes ahead (clock skew).
pub fn within_window(timestamp_ms: i64, received_ms: i64) -> bool {
    check_window(timestamp_ms, received_ms).is_ok()
}

fn check_tenant(tenant: &str) -> Result<(), Invalid> {
    if tenant.chars().count() > MAX_NAME_CHARS {
        return Err(Invalid::TenantTooLong);
    }
    Ok(())
}

fn check_endpoint(endpoint: &str) -> Result<&str, Invalid> {
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Err(Invalid::EndpointEmpty);
    }
    if endpoint.chars().count() > MAX_NAME_CHARS {
        return Err(Invalid::EndpointTooLong);
    }
    Ok(endpoint)
}

fn check_method(method: &str) -> Result<String, Invalid> {
    let method = method.trim().to_ascii_uppercase();
    if method.len() > MAX_METHOD_CHARS || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Invalid::Method);
    }
    Ok(method)
}

fn check_status(status: i64) -> Result<u16, Invalid> {
    u16::try_from(status)
        .ok()
        .filter(|s| (100..=599).contains(s))
        .ok_or(Invalid::Status)
}

fn check_latency(latency_ms: f64) -> Result<f64, Invalid> {
    if latency_ms.is_finite() && (0.0..MAX_LATENCY_MS).contains(&latency_ms) {
        Ok(latency_ms)
    } else {
        Err(Invalid::Latency)
    }
}

fn check_window(timestamp_ms: i64, received_ms: i64) -> Result<(), Invalid> {
    if timestamp_ms < received_ms - MAX_PAST_MS {
        return Err(Invalid::TooOld);
    }
    if timestamp_ms > received_ms + MAX_FUTURE_MS {
        return Err(Invalid::TooNew);
    }
    Ok(())
}

/// Methods a span or transaction name may start with ("GET /users/:id", as @sentry/node,
/// sentry-tower and the OpenTelemetry HTTP semantic conventions name server spans).
const NAME_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Splits a leading HTTP method off a span or transaction name: `"GET /users/:id"` gives
/// `(Some("GET"), "/users/:id")`; a name without one is returned whole.
pub(crate) fn split_method(name: &str) -> (Option<&'static str>, &str) {
    let name = name.trim();
    for method in NAME_METHODS {
        if let Some(rest) = name.strip_prefix(method)
            && let Some(rest) = rest.strip_prefix(' ')
            && !rest.trim().is_empty()
        {
            return (Some(method), rest.trim());
        }
    }
    (None, name)
}

/// Turns a raw URL path into a route-like endpoint: the query and fragment go, so do the scheme
/// and host of a full URL, and every segment that looks like an identifier becomes `{id}`.
///
/// A segment is an identifier when it is all digits, holds a UUID, is `0x` hex, or is hex of
/// 8 characters or more with at least one digit (hashes, ObjectIds). The rules are a subset of
/// Relay's `TRANSACTION_NAME_NORMALIZER_REGEX` (getsentry/relay
/// `relay-event-normalization/src/regexes.rs`), which Sentry applies to `url` transactions;
/// Sentry writes `*`, Sentinel `{id}` like the route templates frameworks report.
pub(crate) fn normalize_url_path(url: &str) -> String {
    let url = url.trim();
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let mut path = &url[..end];
    if let Some(scheme_end) = path.find("://") {
        let after = &path[scheme_end + 3..];
        path = after.find('/').map_or("/", |slash| &after[slash..]);
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if is_identifier(segment) {
            out.push_str("{id}");
        } else {
            out.push_str(segment);
        }
    }
    out
}

fn is_identifier(segment: &str) -> bool {
    let is_hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    if segment.is_empty() {
        return false;
    }
    if segment.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    if let Some(hex) = segment.strip_prefix("0x").or_else(|| segment.strip_prefix("0X")) {
        return is_hex(hex);
    }
    if is_hex(segment) && segment.len() >= 8 && segment.bytes().any(|b| b.is_ascii_digit()) {
        return true;
    }
    contains_uuid(segment)
}

fn contains_uuid(segment: &str) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let bytes = segment.as_bytes();
    (0..bytes.len().saturating_sub(35)).any(|start| {
        let mut at = start;
        for (g, len) in GROUPS.iter().enumerate() {
            if g > 0 {
                if bytes.get(at) != Some(&b'-') {
                    return false;
                }
                at += 1;
            }
            match bytes.get(at..at + len) {
                Some(group) if group.iter().all(u8::is_ascii_hexdigit) => at += len,
                _ => return false,
            }
        }
        true
    })
}

/// The flag of an event in version 2 of the inbox form whose trace id follows.
const HAS_TRACE_ID: u8 = 2;

/// The inbox form of validated events: a version byte, then per event its strings as
/// length-prefixed UTF-8, the status, the latency (f32 bits) and the timestamp, all varints.
///
/// Version 2 adds to each event a flags byte (`HAS_TRACE_ID`) and the 16 bytes of its trace id.
/// It is written only when some event has one (OTLP spans do), so the batch endpoint's items stay
/// version 1 and no larger; [`decode`] reads both, as items queued by an older server may still be
/// waiting (an older worker cannot read version 2: upgrade workers before ingest nodes). Event ids
/// are not kept: only the worker sets them, on requests it derives and never queues.
pub fn encode(events: &[RequestEvent]) -> Vec<u8> {
    let with_ids = events.iter().any(|e| e.trace_id.is_some());
    let mut out = Vec::with_capacity(1 + events.len() * 48);
    out.push(if with_ids { 2 } else { 1 });
    for e in events {
        for s in [&e.tenant, &e.endpoint, &e.method] {
            put_varint(&mut out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        put_varint(&mut out, u64::from(e.status));
        #[expect(
            clippy::cast_possible_truncation,
            reason = "latency kept as f32: 7 digits is plenty"
        )]
        put_varint(&mut out, u64::from((e.latency_ms as f32).to_bits()));
        put_varint(&mut out, zigzag(e.timestamp_ms));
        if with_ids {
            match e.trace_id {
                Some(id) => {
                    out.push(HAS_TRACE_ID);
                    out.extend_from_slice(id.as_bytes());
                }
                None => out.push(0),
            }
        }
    }
    out
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("request batch in the inbox is corrupt: {0}")]
pub struct CorruptBatch(&'static str);

/// Reads what `encode` wrote.
pub fn decode(bytes: &[u8]) -> Result<Vec<RequestEvent>, CorruptBatch> {
    let (&version, mut rest) = bytes.split_first().ok_or(CorruptBatch("empty"))?;
    if version != 1 && version != 2 {
        return Err(CorruptBatch("unknown version"));
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        let mut text = || -> Result<String, CorruptBatch> {
            let len = usize::try_from(get_varint(&mut rest)?).map_err(|_| CorruptBatch("length"))?;
            if len > rest.len() {
                return Err(CorruptBatch("truncated string"));
            }
            let (s, tail) = rest.split_at(len);
            rest = tail;
            String::from_utf8(s.to_vec()).map_err(|_| CorruptBatch("invalid UTF-8"))
        };
        let (tenant, endpoint, method) = (text()?, text()?, text()?);
        let status = u16::try_from(get_varint(&mut rest)?).map_err(|_| CorruptBatch("status"))?;
        let bits = u32::try_from(get_varint(&mut rest)?).map_err(|_| CorruptBatch("latency"))?;
        let timestamp_ms = unzigzag(get_varint(&mut rest)?);
        let mut trace_id = None;
        if version == 2 {
            let (&flags, tail) = rest.split_first().ok_or(CorruptBatch("truncated flags"))?;
            rest = tail;
            match flags {
                0 => {}
                HAS_TRACE_ID => {
                    trace_id =
                        Some(TraceId::from_bytes(id_bytes(&mut rest)?).ok_or(CorruptBatch("zero trace id"))?);
                }
                _ => return Err(CorruptBatch("unknown flags")),
            }
        }
        out.push(RequestEvent {
            tenant,
            endpoint,
            method,
            status,
            latency_ms: f64::from(f32::from_bits(bits)),
            timestamp_ms,
            event_id: None,
            trace_id,
        });
    }
    Ok(out)
}

fn id_bytes(rest: &mut &[u8]) -> Result<[u8; 16], CorruptBatch> {
    let (id, tail) = rest
        .split_first_chunk::<16>()
        .ok_or(CorruptBatch("truncated id"))?;
    *rest = tail;
    Ok(*id)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(rest: &mut &[u8]) -> Result<u64, CorruptBatch> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, tail) = rest.split_first().ok_or(CorruptBatch("truncated number"))?;
        *rest = tail;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(CorruptBatch("number too long"))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn a_json_array_keeps_good_records_and_names_each_bad_one() {
        let body = br#"[
            {"tenant_id": "acme", "endpoint": "/v1/process", "method": "post", "status_code": 503, "latency_ms": 41.5, "timestamp": "2027-01-15T08:00:00Z"},
            {"tenant_id": 42, "endpoint": "/v1/orders/{id}", "status_code": 200, "latency_ms": 3, "timestamp": 1800000000.5},
            {"endpoint": "/health", "status_code": 200, "latency_ms": 0},
            {"tenant_id": "acme", "status_code": 200, "latency_ms": 1},
            {"tenant_id": "acme", "endpoint": "/x", "status_code": 700, "latency_ms": 1},
            {"tenant_id": "acme", "endpoint": "/x", "status_code": 200, "latency_ms": -1},
            {"tenant_id": "acme", "endpoint": "/x", "status_code": 200, "latency_ms": 1, "timestamp": 1700000000},
            {"tenant_id": ["acme"], "endpoint": "/x", "status_code": 200, "latency_ms": 1},
            "not an object"
        ]"#;
        let b = parse_batch(body, NOW).unwrap();
        assert_eq!(b.events.len(), 3);
        assert_eq!(b.events[0].tenant, "acme");
        assert_eq!(b.events[0].method, "POST");
        // 2027-01-15T08:00:00Z is NOW.
        assert_eq!(b.events[0].timestamp_ms, NOW);
        assert_eq!(b.events[1].tenant, "42");
        assert_eq!(b.events[1].timestamp_ms, NOW + 500);
        assert_eq!(b.events[2].tenant, "");
        assert_eq!(b.events[2].timestamp_ms, NOW);
        assert_eq!(b.rejected, 6);
        let reasons: Vec<(usize, &str)> = b
            .rejections
            .iter()
            .map(|r| (r.index, r.reason.as_str()))
            .collect();
        assert_eq!(reasons[0], (3, "endpoint is missing"));
        assert_eq!(reasons[1], (4, "status_code must be an integer from 100 to 599"));
        assert_eq!(
            reasons[2],
            (5, "latency_ms must be a number of milliseconds from 0 to 3600000")
        );
        assert_eq!(reasons[3], (6, "timestamp is more than 24 hours old"));
        assert_eq!(reasons[4], (7, "tenant_id must be a string or an integer"));
        assert_eq!(reasons[5].0, 8);
        assert!(reasons[5].1.starts_with("not a JSON object"), "{}", reasons[5].1);
    }

    #[test]
    fn ndjson_counts_lines_and_skips_blank_ones() {
        let body = b"{\"tenant_id\":\"a\",\"endpoint\":\"/a\",\"status_code\":200,\"latency_ms\":1}\n\n{oops\n{\"tenant_id\":\"b\",\"endpoint\":\"/b\",\"status_code\":500,\"latency_ms\":2}\n";
        let b = parse_batch(body, NOW).unwrap();
        assert_eq!(
            b.events.iter().map(|e| e.tenant.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(b.rejected, 1);
        assert_eq!(b.rejections[0].index, 1);
    }

    #[test]
    fn a_body_that_is_not_records_fails_as_a_whole() {
        assert_eq!(parse_batch(b"  \n", NOW), Err(BatchError::Empty));
        assert!(matches!(parse_batch(b"[{]", NOW), Err(BatchError::NotJson(_))));
    }

    #[test]
    fn only_the_first_reasons_are_kept_but_all_are_counted() {
        let body = "[".to_owned() + &vec!["{}"; 50].join(",") + "]";
        let b = parse_batch(body.as_bytes(), NOW).unwrap();
        assert_eq!(b.rejected, 50);
        assert_eq!(b.rejections.len(), MAX_REASONS);
    }

    #[test]
    fn the_window_is_a_day_back_and_five_minutes_ahead() {
        assert!(within_window(NOW - MAX_PAST_MS, NOW));
        assert!(!within_window(NOW - MAX_PAST_MS - 1, NOW));
        assert!(within_window(NOW + MAX_FUTURE_MS, NOW));
        assert!(!within_window(NOW + MAX_FUTURE_MS + 1, NOW));
    }

    #[test]
    fn every_source_gets_the_same_checks() {
        let unchecked = |endpoint, status, latency_ms| Unchecked {
            tenant: "acme".into(),
            endpoint,
            method: " get ",
            status,
            latency_ms,
            timestamp_ms: NOW - MAX_PAST_MS - 1,
        };
        let event = check(unchecked(" /a ", 200, 1.5), None).unwrap();
        assert_eq!((event.endpoint.as_str(), event.method.as_str()), ("/a", "GET"));
        assert_eq!(check(unchecked("/a", 200, 1.5), Some(NOW)), Err(Invalid::TooOld));
        assert_eq!(
            check(unchecked("  ", 200, 1.5), None),
            Err(Invalid::EndpointEmpty)
        );
        assert_eq!(check(unchecked("/a", 99, 1.5), None), Err(Invalid::Status));
        assert_eq!(check(unchecked("/a", 65_736, 1.5), None), Err(Invalid::Status));
        assert_eq!(check(unchecked("/a", 200, f64::NAN), None), Err(Invalid::Latency));
    }

    #[test]
    fn a_leading_method_is_split_off_a_name() {
        assert_eq!(split_method("GET /users/:id"), (Some("GET"), "/users/:id"));
        assert_eq!(split_method(" DELETE  /a "), (Some("DELETE"), "/a"));
        assert_eq!(split_method("GET"), (None, "GET"));
        assert_eq!(split_method("GETTER /a"), (None, "GETTER /a"));
        assert_eq!(split_method("checkout"), (None, "checkout"));
    }

    #[test]
    fn identifiers_in_a_url_path_become_placeholders() {
        assert_eq!(normalize_url_path("/users/123/orders"), "/users/{id}/orders");
        assert_eq!(
            normalize_url_path("/files/3f2c1e9a-5b7d-4c1e-9f3a-2b8c7d6e5f40/download?x=1#top"),
            "/files/{id}/download"
        );
        assert_eq!(
            normalize_url_path("https://shop.example.com/o/5f1a2b3c4d5e6f7a8b9c0d1e"),
            "/o/{id}"
        );
        assert_eq!(normalize_url_path("http://host"), "/");
        assert_eq!(normalize_url_path("/blob/0xdeadBEEF/raw"), "/blob/{id}/raw");
        assert_eq!(
            normalize_url_path("/img/report-3f2c1e9a-5b7d-4c1e-9f3a-2b8c7d6e5f40.png"),
            "/img/{id}"
        );
        // Words, versions and short hex-looking words are not identifiers.
        assert_eq!(
            normalize_url_path("/v1/cafe/deadbeef/ab12"),
            "/v1/cafe/deadbeef/ab12"
        );
        assert_eq!(normalize_url_path("/users/{id}/"), "/users/{id}/");
    }

    #[test]
    fn the_inbox_form_round_trips() {
        let events = vec![
            RequestEvent {
                tenant: "tenant_ü".into(),
                endpoint: "/v1/process".into(),
                method: "POST".into(),
                status: 503,
                latency_ms: 41.5,
                timestamp_ms: NOW,
                event_id: None,
                trace_id: None,
            },
            RequestEvent {
                tenant: String::new(),
                endpoint: "/".into(),
                method: String::new(),
                status: 200,
                latency_ms: 0.25,
                timestamp_ms: -5,
                event_id: None,
                trace_id: None,
            },
        ];
        let bytes = encode(&events);
        assert_eq!(bytes[0], 1, "without ids, the form of older servers");
        assert_eq!(decode(&bytes).unwrap(), events);
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode(&[]).is_err());
    }

    #[test]
    fn the_inbox_form_keeps_trace_ids() {
        let event = |trace_id: Option<&str>| RequestEvent {
            tenant: "acme".into(),
            endpoint: "/v1/process".into(),
            method: "GET".into(),
            status: 200,
            latency_ms: 12.5,
            timestamp_ms: NOW,
            event_id: None,
            trace_id: trace_id.map(|id| TraceId::parse(id).unwrap()),
        };
        let events = vec![
            event(None),
            event(Some("4c79f60c11214eb38604f4ae0781bfb2")),
            event(None),
            event(Some("0af7651916cd43dd8448eb211c80319c")),
        ];
        let bytes = encode(&events);
        assert_eq!(bytes[0], 2);
        assert_eq!(decode(&bytes).unwrap(), events);
        assert_eq!(
            decode(&bytes[..bytes.len() - 1]),
            Err(CorruptBatch("truncated id"))
        );
        // events[3]: its flags, then its trace id.
        let mut bad_flags = encode(&events[3..4]);
        let at = bad_flags.len() - 17;
        bad_flags[at] |= 4;
        assert_eq!(decode(&bad_flags), Err(CorruptBatch("unknown flags")));
    }
}
