//! Events: an issue's and a project's, one event in full (with its neighbours in the issue and its
//! attachments), and attachment downloads.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sentinel_protocol::event::{Level, NormalizeConfig, normalized_json, summarize};
use sentinel_protocol::ids::EventId;
use sentinel_store::{Attachment, EventRow, OrgRole};
use serde::Serialize;

use super::{PageJson, PageParams, Pagination, cursor, limit};
use crate::AppState;
use crate::api::{ApiError, Caller};
use crate::auth::access;
use crate::clock::rfc3339;

#[derive(Debug, Serialize)]
pub struct EventJson {
    pub id: String,
    pub event_id: EventId,
    pub issue_id: String,
    pub project_id: String,
    pub title: String,
    pub message: Option<String>,
    pub level: Level,
    pub platform: String,
    pub timestamp: String,
    pub received: String,
    pub environment: Option<String>,
    pub release: Option<String>,
}

impl From<EventRow> for EventJson {
    fn from(e: EventRow) -> Self {
        EventJson {
            id: e.event_id.to_string(),
            event_id: e.event_id,
            issue_id: e.issue_id.to_string(),
            project_id: e.project_id.to_string(),
            title: e.title,
            message: e.message,
            level: e.level,
            platform: e.platform,
            timestamp: rfc3339(e.timestamp_ms),
            received: rfc3339(e.received_ms),
            environment: e.environment,
            release: e.release,
        }
    }
}

fn page(p: &PageParams) -> Result<(usize, Option<sentinel_store::Cursor>), ApiError> {
    Ok((limit(p.limit.as_deref())?, cursor(p.cursor.as_deref())?))
}

/// `GET /api/0/issues/{id}/events/`: newest first.
pub async fn issue_events(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(issue): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Json<PageJson<EventJson>>, ApiError> {
    let (issue, _, _) = access::issue(&app, &who, &issue, OrgRole::Member).await?;
    let (limit, cursor) = page(&p)?;
    let page = app
        .store
        .list_issue_events(issue.id, limit, cursor.as_ref())
        .await?;
    Ok(Json(PageJson {
        data: page.items.into_iter().map(EventJson::from).collect(),
        pagination: Pagination::from(page.next_cursor),
    }))
}

/// `GET /api/0/projects/{id}/events/`: every event of the project, newest received first.
pub async fn project_events(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Json<PageJson<EventJson>>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let (limit, cursor) = page(&p)?;
    let page = app
        .store
        .list_project_events(project.id, limit, cursor.as_ref())
        .await?;
    Ok(Json(PageJson {
        data: page.items.into_iter().map(EventJson::from).collect(),
        pagination: Pagination::from(page.next_cursor),
    }))
}

fn event_id(raw: &str) -> Result<EventId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("event {raw} not found")))
}

/// One stored event of a project: its row and its normalized JSON with where Sentinel filed it
/// (`event_id`, `issue_id`, `project_id`, `received`, `title`). 404 if the project has no such
/// event. The caller checks access to the project.
pub async fn load_event(
    app: &AppState,
    project_id: i64,
    event_id: EventId,
) -> Result<(EventRow, serde_json::Value), ApiError> {
    let stored = app
        .store
        .get_event(project_id, event_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("event {event_id} not found")))?;
    if !app.codec.knows(stored.dict_id) {
        app.codec.refresh(app.store.as_ref()).await?;
    }
    let payload = app
        .codec
        .decompress(
            stored.dict_id,
            &stored.payload,
            app.settings.ingest.max_event_bytes * 2,
        )
        .map_err(|e| ApiError::Internal(format!("stored payload of event {event_id}: {e}")))?;
    let row = stored.row;
    let cfg = NormalizeConfig::new(row.received_ms, None);
    let mut summary =
        summarize(&payload, &cfg).map_err(|e| ApiError::Internal(format!("stored event {event_id}: {e}")))?;
    // The stored timestamp already had clock-drift correction applied at ingest.
    summary.timestamp_ms = row.timestamp_ms;
    summary.event_id = Some(event_id);
    let mut json = normalized_json(&payload, &summary)
        .map_err(|e| ApiError::Internal(format!("stored event {event_id}: {e}")))?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("event_id".into(), event_id.to_string().into());
        obj.insert("issue_id".into(), row.issue_id.to_string().into());
        obj.insert("project_id".into(), row.project_id.to_string().into());
        obj.insert("received".into(), rfc3339(row.received_ms).into());
        obj.insert("title".into(), row.title.clone().into());
    }
    Ok((row, json))
}

#[derive(Debug, Serialize)]
pub struct AttachmentJson {
    pub id: String,
    pub name: String,
    pub content_type: Option<String>,
    /// Bytes, uncompressed.
    pub size: u64,
}

/// The attachment's filename and content type as the SDK sent them.
fn attachment_headers(a: &Attachment) -> (Option<String>, Option<String>) {
    let headers: serde_json::Value = a
        .headers_json
        .as_deref()
        .and_then(|h| serde_json::from_str(h).ok())
        .unwrap_or_default();
    let field = |k: &str| headers.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    (field("filename"), field("content_type"))
}

/// Largest attachment payload we decompress: what ingest accepts.
fn attachment_cap(app: &AppState) -> usize {
    app.settings
        .ingest
        .max_attachment_bytes
        .max(app.settings.ingest.max_event_bytes)
}

fn attachment_json(app: &AppState, a: &Attachment) -> AttachmentJson {
    let (name, content_type) = attachment_headers(a);
    // Every payload Sentinel writes records its size in the zstd frame header.
    let size = match zstd::zstd_safe::get_frame_content_size(&a.payload) {
        Ok(Some(n)) => n,
        _ => app
            .codec
            .decompress(0, &a.payload, attachment_cap(app))
            .map_or(0, |b| b.len() as u64),
    };
    AttachmentJson {
        id: a.id.to_string(),
        name: name.unwrap_or_else(|| "attachment".into()),
        content_type,
        size,
    }
}

/// `GET /api/0/projects/{id}/events/{event_id}/`: the normalized event, plus
/// `previous_event_id` / `next_event_id` (the next older / newer event of its issue) and
/// `attachments`.
pub async fn event(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path((project, raw_event)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let id = event_id(&raw_event)?;
    let (row, mut json) = load_event(&app, project.id, id).await?;
    let neighbors = app.store.event_neighbors(row.issue_id, id).await?;
    let attachments: Vec<AttachmentJson> = app
        .store
        .event_attachments(project.id, id)
        .await?
        .iter()
        .map(|a| attachment_json(&app, a))
        .collect();
    if let Some(obj) = json.as_object_mut() {
        let id_json = |e: Option<EventId>| e.map_or(serde_json::Value::Null, |e| e.to_string().into());
        obj.insert("previous_event_id".into(), id_json(neighbors.older));
        obj.insert("next_event_id".into(), id_json(neighbors.newer));
        obj.insert(
            "attachments".into(),
            serde_json::to_value(attachments).map_err(|e| ApiError::Internal(e.to_string()))?,
        );
    }
    Ok(Json(json))
}

/// Types a browser may be told as they are: none of them runs script. Everything else is served
/// as `application/octet-stream`.
const SAFE_TYPES: &[&str] = &[
    "text/plain",
    "application/json",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/zip",
    "application/gzip",
    "application/x-tar",
    "application/x-dmp",
    "application/x-minidump",
];

/// The content type to answer with: a safe type the SDK named, else `application/octet-stream`.
pub fn safe_content_type(declared: Option<&str>) -> &'static str {
    let base = declared
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    SAFE_TYPES
        .iter()
        .find(|t| **t == base)
        .copied()
        .unwrap_or("application/octet-stream")
}

/// A filename that is safe inside `Content-Disposition` and on any file system: ASCII letters,
/// digits, `.`, `-`, `_` (others become `_`), no leading dot, at most 100 characters.
pub fn safe_filename(name: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let trimmed = cleaned.trim_start_matches('.');
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '_') {
        "attachment".into()
    } else {
        trimmed.to_owned()
    }
}

/// `GET /api/0/projects/{id}/events/{event_id}/attachments/{attachment_id}/`: the bytes, as a
/// download.
pub async fn attachment(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path((project, raw_event, raw_attachment)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let id = event_id(&raw_event)?;
    let attachment_id = access::path_id("attachment", &raw_attachment)?;
    attachment_response(&app, project.id, id, attachment_id).await
}

/// The download response of an attachment of the event (shared with the dashboard).
pub async fn attachment_response(
    app: &AppState,
    project_id: i64,
    id: EventId,
    attachment_id: i64,
) -> Result<Response, ApiError> {
    let found = app
        .store
        .event_attachments(project_id, id)
        .await?
        .into_iter()
        .find(|a| a.id == attachment_id)
        .ok_or_else(|| ApiError::NotFound(format!("attachment {attachment_id} not found")))?;
    let bytes = app
        .codec
        .decompress(0, &found.payload, attachment_cap(app))
        .map_err(|e| ApiError::Internal(format!("stored attachment {attachment_id}: {e}")))?;
    let (name, content_type) = attachment_headers(&found);
    let disposition = format!("attachment; filename=\"{}\"", safe_filename(name.as_deref()));
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(safe_content_type(content_type.as_deref())),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_paths_and_unsafe_characters() {
        assert_eq!(safe_filename(Some("crash.dmp")), "crash.dmp");
        assert_eq!(safe_filename(Some("../../etc/passwd")), "passwd");
        assert_eq!(safe_filename(Some(r"C:\logs\app log.txt")), "app_log.txt");
        assert_eq!(safe_filename(Some("a\"b;\r\nc.txt")), "a_b___c.txt");
        assert_eq!(safe_filename(Some(".htaccess")), "htaccess");
        assert_eq!(safe_filename(Some("日本.txt")), "__.txt");
        assert_eq!(safe_filename(Some("")), "attachment");
        assert_eq!(safe_filename(None), "attachment");
        assert_eq!(safe_filename(Some(&"x".repeat(300))).len(), 100);
    }

    #[test]
    fn only_inert_content_types_are_passed_through() {
        assert_eq!(safe_content_type(Some("text/plain; charset=utf-8")), "text/plain");
        assert_eq!(safe_content_type(Some("Image/PNG")), "image/png");
        for t in [
            "text/html",
            "image/svg+xml",
            "application/javascript",
            "text/xml",
            "nonsense",
        ] {
            assert_eq!(safe_content_type(Some(t)), "application/octet-stream", "{t}");
        }
        assert_eq!(safe_content_type(None), "application/octet-stream");
    }
}
