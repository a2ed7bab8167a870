//! Issues and their events: listing, detail with tag distributions, status changes, counts.

use axum::Json;
use axum::extract::{Path, Query, State};
use sentinel_protocol::event::{Level, NormalizeConfig, normalized_json, summarize};
use sentinel_protocol::ids::EventId;
use sentinel_store::{CountScope, Cursor, EventRow, Issue, IssueQuery, IssueStatus, TagDistribution};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::projects::{existing_project, path_id};
use crate::api::stats::{StatsParams, StatsResponse, fill};
use crate::api::{ApiError, Caller};
use crate::clock::rfc3339;

const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 100;

#[derive(Serialize)]
pub struct IssueJson {
    pub id: String,
    pub project_id: String,
    pub title: String,
    pub culprit: String,
    pub message: Option<String>,
    pub level: Level,
    pub status: IssueStatus,
    pub platform: String,
    pub first_seen: String,
    pub last_seen: String,
    pub times_seen: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagDistribution>>,
}

impl From<Issue> for IssueJson {
    fn from(i: Issue) -> Self {
        IssueJson {
            id: i.id.to_string(),
            project_id: i.project_id.to_string(),
            title: i.title,
            culprit: i.culprit,
            message: i.message,
            level: i.level,
            status: i.status,
            platform: i.platform,
            first_seen: rfc3339(i.first_seen_ms),
            last_seen: rfc3339(i.last_seen_ms),
            times_seen: i.times_seen,
            tags: None,
        }
    }
}

#[derive(Serialize)]
pub struct Pagination {
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

impl Pagination {
    fn from(next: Option<Cursor>) -> Self {
        Pagination {
            has_more: next.is_some(),
            next_cursor: next.map(|c| c.to_string()),
        }
    }
}

#[derive(Serialize)]
pub struct PageJson<T> {
    pub data: Vec<T>,
    pub pagination: Pagination,
}

#[derive(Debug, Default, Deserialize)]
pub struct IssueListParams {
    pub status: Option<String>,
    pub level: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub query: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

fn limit(raw: Option<&str>) -> Result<usize, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::BadRequest(format!(
                "invalid limit {v:?}: expected a number from 1 to {MAX_LIMIT}"
            ))),
        },
    }
}

fn cursor(raw: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    raw.filter(|c| !c.is_empty())
        .map(|c| c.parse().map_err(ApiError::BadRequest))
        .transpose()
}

pub async fn list(
    State(app): State<AppState>,
    _caller: Caller,
    Path(project): Path<String>,
    Query(p): Query<IssueListParams>,
) -> Result<Json<PageJson<IssueJson>>, ApiError> {
    let project = existing_project(&app, &project).await?;
    let query = IssueQuery {
        project_id: project.id,
        status: p
            .status
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .transpose()
            .map_err(ApiError::BadRequest)?,
        level: p
            .level
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|l| {
                Level::parse(l).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "invalid level {l:?}: expected debug, info, warning, error or fatal"
                    ))
                })
            })
            .transpose()?,
        environment: p.environment.filter(|s| !s.is_empty()),
        release: p.release.filter(|s| !s.is_empty()),
        text: p.query.filter(|s| !s.is_empty()),
        sort: p
            .sort
            .as_deref()
            .unwrap_or("last_seen")
            .parse()
            .map_err(ApiError::BadRequest)?,
        limit: limit(p.limit.as_deref())?,
        cursor: cursor(p.cursor.as_deref())?,
    };
    let page = app.store.list_issues(&query).await?;
    Ok(Json(PageJson {
        data: page.items.into_iter().map(IssueJson::from).collect(),
        pagination: Pagination::from(page.next_cursor),
    }))
}

async fn existing_issue(app: &AppState, raw: &str) -> Result<Issue, ApiError> {
    let id = path_id("issue", raw)?;
    app.store
        .get_issue(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("issue {id} not found")))
}

pub async fn detail(
    State(app): State<AppState>,
    _caller: Caller,
    Path(issue): Path<String>,
) -> Result<Json<IssueJson>, ApiError> {
    let issue = existing_issue(&app, &issue).await?;
    let tags = app.store.issue_tags(issue.id, 10).await?;
    Ok(Json(IssueJson {
        tags: Some(tags),
        ..IssueJson::from(issue)
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueUpdate {
    pub status: String,
}

pub async fn update(
    State(app): State<AppState>,
    _caller: Caller,
    Path(issue): Path<String>,
    body: Result<Json<IssueUpdate>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<IssueJson>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(format!("invalid body: {}", e.body_text())))?;
    let status: IssueStatus = body.status.parse().map_err(ApiError::BadRequest)?;
    let issue = existing_issue(&app, &issue).await?;
    let updated = app
        .store
        .set_issue_status(issue.id, status, app.clock.now_ms())
        .await?;
    Ok(Json(IssueJson::from(updated)))
}

#[derive(Serialize)]
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

#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

pub async fn events(
    State(app): State<AppState>,
    _caller: Caller,
    Path(issue): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Json<PageJson<EventJson>>, ApiError> {
    let issue = existing_issue(&app, &issue).await?;
    let page = app
        .store
        .list_issue_events(
            issue.id,
            limit(p.limit.as_deref())?,
            cursor(p.cursor.as_deref())?.as_ref(),
        )
        .await?;
    Ok(Json(PageJson {
        data: page.items.into_iter().map(EventJson::from).collect(),
        pagination: Pagination::from(page.next_cursor),
    }))
}

/// One event: the normalized payload, plus where Sentinel filed it.
pub async fn event(
    State(app): State<AppState>,
    _caller: Caller,
    Path((project, event_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let project = existing_project(&app, &project).await?;
    let id: EventId = event_id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("event {event_id} not found")))?;
    let stored = app
        .store
        .get_event(project.id, id)
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
        .map_err(|e| ApiError::Internal(format!("stored payload of event {id}: {e}")))?;
    let cfg = NormalizeConfig::new(stored.row.received_ms, None);
    let mut summary =
        summarize(&payload, &cfg).map_err(|e| ApiError::Internal(format!("stored event {id}: {e}")))?;
    // The stored timestamp already had clock-drift correction applied at ingest.
    summary.timestamp_ms = stored.row.timestamp_ms;
    summary.event_id = Some(id);
    let mut json = normalized_json(&payload, &summary)
        .map_err(|e| ApiError::Internal(format!("stored event {id}: {e}")))?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("event_id".into(), id.to_string().into());
        obj.insert("issue_id".into(), stored.row.issue_id.to_string().into());
        obj.insert("project_id".into(), stored.row.project_id.to_string().into());
        obj.insert("received".into(), rfc3339(stored.row.received_ms).into());
        obj.insert("title".into(), stored.row.title.into());
    }
    Ok(Json(json))
}

pub async fn stats(
    State(app): State<AppState>,
    _caller: Caller,
    Path(issue): Path<String>,
    Query(params): Query<StatsParams>,
) -> Result<Json<StatsResponse>, ApiError> {
    let issue = existing_issue(&app, &issue).await?;
    let window = params.window(app.clock.now_ms())?;
    let sparse = app
        .store
        .event_counts(
            CountScope::Issue(issue.id),
            window.since_ms,
            window.until_ms,
            window.bucket_ms,
        )
        .await?;
    Ok(Json(fill(window, &sparse)))
}
