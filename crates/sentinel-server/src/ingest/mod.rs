//! The Sentry ingest endpoints: authenticate, check limits, append durably to the inbox, answer.

mod keys;
pub mod limits;
pub mod outcomes;
mod requests;
pub mod writer;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt;
use sentinel_protocol::auth::{dsn_key_and_project, parse_auth_header, rate_limits_header};
use sentinel_protocol::decode::{ContentEncoding, DecodeError, decode};
use sentinel_protocol::envelope::{self, Envelope, EnvelopeHeader, Item, ItemHeader, ItemType};
use sentinel_protocol::event::peek_event_id;
use sentinel_protocol::ids::EventId;
use sentinel_store::{ItemKind, NewInboxItem};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_http::cors::{Any, CorsLayer};

pub use keys::{KeyCache, KeyInfo};
use limits::Scope;
use writer::AppendError;

use crate::AppState;
use crate::codec::Codec;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/{project_id}/envelope/", post(envelope_endpoint))
        .route("/api/{project_id}/envelope", post(envelope_endpoint))
        .route("/api/{project_id}/store/", post(store_endpoint))
        .route("/api/{project_id}/store", post(store_endpoint))
        .route("/api/{project_id}/requests/", post(requests::endpoint))
        .route("/api/{project_id}/requests", post(requests::endpoint))
        .route(
            "/api/{project_id}/integration/otlp/v1/traces",
            post(requests::otlp_endpoint),
        )
        .route(
            "/api/{project_id}/integration/otlp/v1/traces/",
            post(requests::otlp_endpoint),
        )
        .layer(cors())
}

/// Browser SDKs post cross-origin; every answer, errors included, carries these headers.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::ORIGIN,
            header::ACCEPT,
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-sentry-auth"),
            header::HeaderName::from_static("x-requested-with"),
            header::HeaderName::from_static("authentication"),
            header::HeaderName::from_static("sentry-trace"),
            header::HeaderName::from_static("baggage"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-sentry-rate-limits"),
        ])
        .max_age(std::time::Duration::from_secs(3600))
}

/// Why an ingest request was not accepted. Each maps to the status SDKs understand.
#[derive(Debug)]
pub enum IngestError {
    /// Malformed request: the SDK sent something that will never be accepted as is.
    BadRequest(&'static str, String),
    /// No valid project key: the DSN is wrong or disabled.
    Forbidden(String),
    /// Body or item over a size limit.
    TooLarge(String),
    /// Over a rate limit; SDKs back off for `retry_after_secs` for the error category.
    RateLimited(limits::Limited),
    /// Overloaded or storage unavailable: nothing was stored, retrying later will work.
    Unavailable(&'static str, String),
}

impl IngestError {
    /// The answer to a rejected request, counted by reason.
    fn reject(self) -> Response {
        metrics::counter!("sentinel_ingest_rejected_total", "reason" => self.reason()).increment(1);
        self.into_response()
    }

    fn reason(&self) -> &'static str {
        match self {
            IngestError::BadRequest(reason, _) => reason,
            IngestError::Forbidden(_) => "auth",
            IngestError::TooLarge(_) => "too_large",
            IngestError::RateLimited(_) => "rate_limited",
            IngestError::Unavailable(reason, _) => reason,
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let (status, detail) = match &self {
            IngestError::BadRequest(_, m) => (StatusCode::BAD_REQUEST, m.clone()),
            IngestError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            IngestError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m.clone()),
            IngestError::RateLimited(l) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "{} rate limit exceeded; retry in {} s",
                    l.scope.name(),
                    l.retry_after_secs
                ),
            ),
            IngestError::Unavailable(_, m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone()),
        };
        let mut resp = (status, axum::Json(serde_json::json!({ "detail": detail }))).into_response();
        let h = resp.headers_mut();
        match &self {
            IngestError::RateLimited(l) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(l.retry_after_secs));
                let value = rate_limits_header(
                    l.retry_after_secs,
                    &["error", "default"],
                    l.scope.name(),
                    Some(l.scope.reason()),
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    h.insert("x-sentry-rate-limits", v);
                }
            }
            IngestError::Unavailable(..) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            }
            _ => {}
        }
        resp
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Envelope,
    Store,
}

async fn envelope_endpoint(
    State(app): State<AppState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        ingest(
            &app,
            Endpoint::Envelope,
            &project,
            query.as_deref(),
            &headers,
            body,
        )
        .await,
    )
}

async fn store_endpoint(
    State(app): State<AppState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(ingest(&app, Endpoint::Store, &project, query.as_deref(), &headers, body).await)
}

fn respond(result: Result<Option<EventId>, IngestError>) -> Response {
    match result {
        Ok(id) => {
            let body = match id {
                Some(id) => serde_json::json!({ "id": id }),
                None => serde_json::json!({}),
            };
            axum::Json(body).into_response()
        }
        Err(e) => e.reject(),
    }
}

impl From<AppendError> for IngestError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Full => {
                IngestError::Unavailable("queue_full", "ingest queue is full; retry later".into())
            }
            AppendError::Closed => {
                IngestError::Unavailable("shutting_down", "server is shutting down".into())
            }
            AppendError::Failed(_) => IngestError::Unavailable(
                "store_unavailable",
                "could not store the request; retry later".into(),
            ),
        }
    }
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name && !v.is_empty()).then_some(v)
    })
}

/// The public key from, in order: `?sentry_key=`, `X-Sentry-Auth`, the envelope header's `dsn`.
fn public_key(query: Option<&str>, headers: &HeaderMap, header: &EnvelopeHeader) -> Option<String> {
    if let Some(k) = query_param(query, "sentry_key") {
        return Some(k.to_owned());
    }
    for name in ["x-sentry-auth", "authorization"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok())
            && let Some(k) = parse_auth_header(v).sentry_key
        {
            return Some(k);
        }
    }
    header
        .dsn
        .as_deref()
        .and_then(dsn_key_and_project)
        .map(|(k, _)| k)
}

/// Permits of the body budget are KiB.
const BUDGET_UNIT: usize = 1024;

fn budget_exhausted() -> IngestError {
    IngestError::Unavailable(
        "overloaded",
        "server is holding too many request bytes; retry later".into(),
    )
}

/// Takes `bytes` worth of the shared body budget, or fails at once (load shedding, never waiting).
fn reserve(budget: &Arc<Semaphore>, bytes: usize) -> Result<OwnedSemaphorePermit, IngestError> {
    let units = u32::try_from(bytes.div_ceil(BUDGET_UNIT)).map_err(|_| budget_exhausted())?;
    budget
        .clone()
        .try_acquire_many_owned(units)
        .map_err(|_| budget_exhausted())
}

/// Reads the body up to `limit` bytes, charging every chunk to the body budget as it arrives.
async fn read_body(
    body: Body,
    limit: usize,
    budget: &Arc<Semaphore>,
    held: &mut Vec<OwnedSemaphorePermit>,
) -> Result<bytes::Bytes, IngestError> {
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            IngestError::BadRequest("invalid_body", format!("could not read the request body: {e}"))
        })?;
        let Ok(data) = frame.into_data() else { continue };
        if buf.len() + data.len() > limit {
            return Err(IngestError::TooLarge(format!(
                "request body exceeds the limit of {limit} bytes"
            )));
        }
        held.push(reserve(budget, data.len())?);
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// A request body read and decoded within the ingest limits, with the permits that account for
/// it: the in-flight slot and the body budget stay taken until the request is answered.
pub(crate) struct Received {
    pub project_id: i64,
    /// The decoded body (the received bytes themselves when it was not compressed).
    pub body: bytes::Bytes,
    _in_flight: OwnedSemaphorePermit,
    _budget: Vec<OwnedSemaphorePermit>,
}

/// Takes an in-flight slot, parses the project id of the path, and reads and decodes the body
/// (`Content-Encoding`) under the size limits, charging it to the body budget.
pub(crate) async fn receive(
    app: &AppState,
    project: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Received, IngestError> {
    let in_flight = app.in_flight.clone().try_acquire_owned().map_err(|_| {
        IngestError::Unavailable(
            "overloaded",
            "server is handling too many ingest requests; retry later".into(),
        )
    })?;
    let project_id: i64 = project.parse().map_err(|_| {
        IngestError::BadRequest(
            "invalid_project",
            format!("project id in the URL must be a number, got {project:?}"),
        )
    })?;
    let limits = &app.settings.ingest;
    let mut held = Vec::new();
    let raw = read_body(body, limits.max_compressed_bytes, &app.body_budget, &mut held).await?;
    let encoding = ContentEncoding::from_header(
        headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let decoded = decode(encoding, &raw, limits.max_envelope_bytes).map_err(|e| match e {
        DecodeError::TooLarge { limit } => {
            IngestError::TooLarge(format!("decompressed body exceeds the limit of {limit} bytes"))
        }
        DecodeError::Corrupt { .. } => IngestError::BadRequest("invalid_compression", e.to_string()),
    })?;
    let body = match decoded {
        std::borrow::Cow::Borrowed(b) => raw.slice_ref(b),
        std::borrow::Cow::Owned(d) => {
            held.push(reserve(&app.body_budget, d.len())?);
            bytes::Bytes::from(d)
        }
    };
    Ok(Received {
        project_id,
        body,
        _in_flight: in_flight,
        _budget: held,
    })
}

/// One item that passed validation, before compression.
struct Accepted<'a> {
    kind: ItemKind,
    event_id: Option<EventId>,
    headers_json: Option<String>,
    payload: &'a [u8],
}

async fn ingest(
    app: &AppState,
    endpoint: Endpoint,
    project: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<EventId>, IngestError> {
    let received = receive(app, project, headers, body).await?;
    let (project_id, decoded) = (received.project_id, &received.body[..]);
    let limits = &app.settings.ingest;
    let envelope = match endpoint {
        Endpoint::Envelope => envelope::parse(decoded)
            .map_err(|e| IngestError::BadRequest("invalid_envelope", format!("malformed envelope: {e}")))?,
        Endpoint::Store => Envelope {
            header: EnvelopeHeader::default(),
            items: vec![Item {
                header: ItemHeader {
                    ty: ItemType::Event,
                    length: None,
                    content_type: None,
                    filename: None,
                    attachment_type: None,
                    item_count: None,
                },
                payload: decoded,
            }],
        },
    };

    let info = authorize(app, project_id, public_key(query, headers, &envelope.header)).await?;

    let now = app.clock.now_ms();
    let accepted = match validate_items(app, &envelope) {
        Ok(a) => a,
        Err(e) => {
            let reason = e.reason();
            app.outcomes
                .record(project_id, now, "error", "invalid", reason, 1);
            return Err(e);
        }
    };
    if accepted.is_empty() {
        return Ok(None);
    }

    let events = accepted.iter().filter(|a| a.kind == ItemKind::Event).count() as u32;
    if let Err(limited) = app.limiter.try_acquire(now, &limits_for(app, &info), events) {
        app.outcomes.record(
            project_id,
            now,
            "error",
            "rate_limited",
            limited.scope.reason(),
            u64::from(events),
        );
        return Err(IngestError::RateLimited(limited));
    }
    let depth = app.inbox_depth.load(Ordering::Relaxed);
    if depth >= limits.max_inbox_depth as i64 {
        return Err(IngestError::Unavailable(
            "inbox_full",
            format!("{depth} items are waiting to be processed; retry later"),
        ));
    }

    let answer_id = accepted.iter().find_map(|a| a.event_id);
    let items: Vec<NewInboxItem> = accepted
        .into_iter()
        .map(|a| {
            let compressed = if a.kind == ItemKind::Event {
                app.codec.compress_event(project_id, a.payload)
            } else {
                Codec::compress_plain(a.payload).map(|p| (0, p))
            };
            let (dict_id, payload) = compressed.map_err(|e| {
                IngestError::Unavailable("compression_failed", format!("could not compress the item: {e}"))
            })?;
            Ok(NewInboxItem {
                project_id,
                kind: a.kind,
                event_id: a.event_id,
                received_ms: now,
                sent_at: envelope.header.sent_at.clone(),
                headers_json: a.headers_json,
                payload,
                dict_id,
            })
        })
        .collect::<Result<_, IngestError>>()?;
    let kinds: Vec<ItemKind> = items.iter().map(|i| i.kind).collect();
    app.inbox.append(items).await?;
    for kind in kinds {
        metrics::counter!("sentinel_ingest_accepted_total", "category" => kind.category()).increment(1);
    }
    Ok(answer_id)
}

/// The active key `key` of project `project_id`, or why not.
async fn authorize(app: &AppState, project_id: i64, key: Option<String>) -> Result<KeyInfo, IngestError> {
    let key = key.ok_or_else(|| {
        IngestError::Forbidden(
            "missing authentication: send the DSN's public key in X-Sentry-Auth, ?sentry_key= or the envelope header's dsn"
                .into(),
        )
    })?;
    let info = app
        .keys
        .lookup(&key)
        .await
        .map_err(|e| IngestError::Unavailable("store_unavailable", format!("cannot check the key: {e}")))?
        .ok_or_else(|| IngestError::Forbidden(format!("unknown DSN public key {key:?}")))?;
    if !info.active {
        return Err(IngestError::Forbidden("this DSN key is disabled".into()));
    }
    if info.project_id != project_id {
        return Err(IngestError::Forbidden(format!(
            "the DSN key does not belong to project {project_id}"
        )));
    }
    Ok(info)
}

fn limits_for(app: &AppState, info: &KeyInfo) -> Vec<(Scope, u32)> {
    let mut out = Vec::new();
    if let Some(l) = info.project_limit {
        out.push((Scope::Project(info.project_id), l));
    }
    if let Some(l) = info.key_limit {
        out.push((Scope::Key(info.key_id), l));
    }
    for rule in app
        .settings
        .rate_limits
        .iter()
        .filter(|r| r.project == info.project_id)
    {
        let scope = if rule.key.is_some() {
            Scope::Key(info.key_id)
        } else {
            Scope::Project(info.project_id)
        };
        if rule.key.as_deref().is_none_or(|k| k == info.public_key) {
            out.push((scope, rule.events_per_minute));
        }
    }
    out
}

fn too_large(what: &str, size: usize, limit: usize) -> IngestError {
    IngestError::TooLarge(format!("{what} item is {size} bytes, the limit is {limit} bytes"))
}

fn validate_items<'a>(app: &AppState, envelope: &Envelope<'a>) -> Result<Vec<Accepted<'a>>, IngestError> {
    let limits = &app.settings.ingest;
    let mut out = Vec::with_capacity(envelope.items.len());
    for (index, item) in envelope.items.iter().enumerate() {
        let n = index + 1;
        let size = item.payload.len();
        let kind = match &item.header.ty {
            ItemType::Event => ItemKind::Event,
            ItemType::Transaction => ItemKind::Transaction,
            ItemType::Span => ItemKind::Span,
            ItemType::CheckIn => ItemKind::CheckIn,
            ItemType::Session => ItemKind::Session,
            ItemType::Sessions => ItemKind::Sessions,
            ItemType::Attachment => ItemKind::Attachment,
            ItemType::ClientReport => ItemKind::ClientReport,
            ItemType::Other(name) => {
                metrics::counter!("sentinel_ingest_dropped_items_total", "type" => name.clone()).increment(1);
                continue;
            }
        };
        let mut event_id = None;
        match kind {
            ItemKind::Event | ItemKind::Transaction => {
                if size > limits.max_event_bytes {
                    return Err(too_large(item.header.ty.as_str(), size, limits.max_event_bytes));
                }
                let payload_id = peek_event_id(item.payload).map_err(|e| {
                    IngestError::BadRequest(
                        "invalid_event",
                        format!("item {n} ({}): {e}", item.header.ty.as_str()),
                    )
                })?;
                let id = envelope.header.event_id.or(payload_id).filter(|id| !id.is_nil());
                event_id = Some(id.unwrap_or_else(|| EventId::from_bytes(*uuid::Uuid::new_v4().as_bytes())));
            }
            ItemKind::CheckIn => {
                if size > limits.max_check_in_bytes {
                    return Err(too_large("check_in", size, limits.max_check_in_bytes));
                }
                peek_event_id(item.payload).map_err(|e| {
                    IngestError::BadRequest("invalid_check_in", format!("item {n} (check_in): {e}"))
                })?;
            }
            ItemKind::Attachment => {
                if size > limits.max_attachment_bytes {
                    return Err(too_large("attachment", size, limits.max_attachment_bytes));
                }
                event_id = envelope.header.event_id;
            }
            ItemKind::Span
            | ItemKind::Session
            | ItemKind::Sessions
            | ItemKind::ClientReport
            | ItemKind::Requests => {
                if size > limits.max_event_bytes * 10 {
                    return Err(too_large(
                        item.header.ty.as_str(),
                        size,
                        limits.max_event_bytes * 10,
                    ));
                }
                // Telemetry that fails to parse is dropped on its own; it never fails the envelope.
                if peek_event_id(item.payload).is_err() {
                    metrics::counter!("sentinel_ingest_dropped_items_total", "type" => kind.as_str())
                        .increment(1);
                    continue;
                }
            }
        }
        let headers_json = (kind == ItemKind::Attachment).then(|| {
            serde_json::json!({
                "filename": item.header.filename,
                "content_type": item.header.content_type,
                "attachment_type": item.header.attachment_type,
            })
            .to_string()
        });
        out.push(Accepted {
            kind,
            event_id,
            headers_json,
            payload: item.payload,
        });
    }
    Ok(out)
}
