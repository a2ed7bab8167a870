//! `POST /api/{project_id}/requests/`: request events for tenant detection, in batches.
//!
//! Authenticated like the envelope endpoint (`X-Sentry-Auth` or `?sentry_key=`), gzip or zstd
//! bodies, a JSON array or NDJSON of records (`sentinel_protocol::requests`). Each bad record is
//! rejected on its own; the good ones become one inbox item, and a 200 means that item is durable.
//! Workers summarize it into the project's request rollups.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sentinel_protocol::envelope::EnvelopeHeader;
use sentinel_protocol::otlp;
use sentinel_protocol::requests::{self, ParsedBatch, RequestEvent};
use sentinel_store::{ItemKind, NewInboxItem};
use serde_json::json;

use super::{IngestError, authorize, public_key, receive};
use crate::AppState;
use crate::codec::Codec;

pub async fn endpoint(
    State(app): State<AppState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let received = receive(&app, &project, &headers, body).await?;
        let project_id = received.project_id;
        let key = public_key(query.as_deref(), &headers, &EnvelopeHeader::default());
        authorize(&app, project_id, key).await?;
        let now = app.clock.now_ms();
        let parsed = requests::parse_batch(&received.body, now)
            .map_err(|e| IngestError::BadRequest("invalid_requests", e.to_string()))?;
        accept(&app, project_id, now, parsed).await
    }
    .await;
    match result {
        Ok(r) => r,
        Err(e) => e.reject(),
    }
}

/// `POST /api/{project_id}/integration/otlp/v1/traces` (Sentry's OTLP path): OTLP/HTTP trace
/// exports in protobuf or JSON; their server spans become request events. Answers in the
/// request's encoding, with `partial_success` naming the spans refused.
pub async fn otlp_endpoint(
    State(app): State<AppState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let result = async {
        let received = receive(&app, &project, &headers, body).await?;
        let (project_id, body) = (received.project_id, &received.body);
        let key = public_key(query.as_deref(), &headers, &EnvelopeHeader::default());
        authorize(&app, project_id, key).await?;
        let encoding = otlp::otlp_encoding(content_type.as_deref(), body).map_err(|e| {
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                e.to_string(),
                otlp::OtlpEncoding::Json,
            )
        });
        let encoding = match encoding {
            Ok(e) => e,
            Err(failure) => return Ok(Err(failure)),
        };
        let now = app.clock.now_ms();
        let parsed = match otlp::parse_otlp_traces(
            body,
            content_type.as_deref(),
            now,
            &app.settings.tenants.otlp_tenant_attributes,
        ) {
            Ok(p) => p,
            Err(e) => return Ok(Err((StatusCode::BAD_REQUEST, e.to_string(), encoding))),
        };
        if parsed.rejected > 0 {
            app.outcomes.record(
                project_id,
                now,
                "request",
                "invalid",
                "invalid_span",
                parsed.rejected as u64,
            );
        }
        if !parsed.events.is_empty() {
            append(&app, project_id, now, &parsed.events).await?;
        }
        Ok::<_, IngestError>(Ok((otlp::export_trace_response(&parsed, encoding), encoding)))
    }
    .await;
    match result {
        Ok(Ok((body, encoding))) => ([(header::CONTENT_TYPE, encoding.content_type())], body).into_response(),
        Ok(Err((status, message, encoding))) => {
            metrics::counter!("sentinel_ingest_rejected_total", "reason" => "invalid_otlp").increment(1);
            (
                status,
                [(header::CONTENT_TYPE, encoding.content_type())],
                otlp::export_error_body(&message, encoding),
            )
                .into_response()
        }
        Err(e) => e.reject(),
    }
}

/// Appends the valid events of a parsed batch as one inbox item and answers with the counts: 200
/// when something was kept, 400 when every record was rejected.
pub(crate) async fn accept(
    app: &AppState,
    project_id: i64,
    now: i64,
    parsed: ParsedBatch,
) -> Result<Response, IngestError> {
    if parsed.rejected > 0 {
        app.outcomes.record(
            project_id,
            now,
            "request",
            "invalid",
            "invalid_request",
            parsed.rejected as u64,
        );
    }
    let answer = json!({
        "accepted": parsed.events.len(),
        "rejected": parsed.rejected,
        "errors": parsed.rejections,
    });
    if parsed.events.is_empty() {
        if parsed.rejected == 0 {
            return Ok(axum::Json(answer).into_response());
        }
        let mut answer = answer;
        answer["detail"] = json!(format!("all {} records were rejected", parsed.rejected));
        return Ok((StatusCode::BAD_REQUEST, axum::Json(answer)).into_response());
    }
    append(app, project_id, now, &parsed.events).await?;
    Ok(axum::Json(answer).into_response())
}

/// Appends events durably as one `requests` inbox item.
pub(crate) async fn append(
    app: &AppState,
    project_id: i64,
    now: i64,
    events: &[RequestEvent],
) -> Result<(), IngestError> {
    let depth = app.inbox_depth.load(Ordering::Relaxed);
    if depth >= app.settings.ingest.max_inbox_depth as i64 {
        return Err(IngestError::Unavailable(
            "inbox_full",
            format!("{depth} items are waiting to be processed; retry later"),
        ));
    }
    let payload = Codec::compress_plain(&requests::encode(events)).map_err(|e| {
        IngestError::Unavailable("compression_failed", format!("could not compress the batch: {e}"))
    })?;
    let item = NewInboxItem {
        project_id,
        kind: ItemKind::Requests,
        event_id: None,
        received_ms: now,
        sent_at: None,
        headers_json: None,
        payload,
        dict_id: 0,
    };
    app.inbox.append(vec![item]).await?;
    metrics::counter!("sentinel_ingest_accepted_total", "category" => "request")
        .increment(events.len() as u64);
    Ok(())
}
