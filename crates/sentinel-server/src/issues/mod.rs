//! The issue API under `/api/0/`: listing with the search syntax, detail, status and assignee
//! changes (one issue or many), deletion, comments and the activity log, a project's and an issue's
//! events, event detail and attachment downloads.
//!
//! Every handler loads its project or issue through `auth::access`, so another organization's
//! resource answers 404. This module holds the JSON shapes the handlers share.

pub mod changes;
pub mod comments;
pub mod detail;
pub mod events;
pub mod list;
pub mod search;

use std::collections::HashMap;

use axum::Router;
use axum::routing::get;
use sentinel_protocol::event::Level;
use sentinel_store::{Cursor, Issue, IssueStatus, TagDistribution, User};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::ApiError;
use crate::clock::rfc3339;

/// The issue API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/0/projects/{project_id}/issues/",
            get(list::list)
                .put(changes::bulk_update)
                .delete(changes::bulk_delete),
        )
        .route(
            "/api/0/projects/{project_id}/events/",
            get(events::project_events),
        )
        .route(
            "/api/0/projects/{project_id}/events/{event_id}/",
            get(events::event),
        )
        .route(
            "/api/0/projects/{project_id}/events/{event_id}/attachments/{attachment_id}/",
            get(events::attachment),
        )
        .route(
            "/api/0/issues/{issue_id}/",
            get(detail::detail).put(changes::update).delete(changes::delete),
        )
        .route("/api/0/issues/{issue_id}/events/", get(events::issue_events))
        .route("/api/0/issues/{issue_id}/stats/", get(detail::stats))
        .route(
            "/api/0/issues/{issue_id}/comments/",
            get(comments::list).post(comments::add),
        )
        .route("/api/0/issues/{issue_id}/activity/", get(comments::activity))
}

const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 100;

/// A user as the API shows it (assignees, comment authors, activity actors).
#[derive(Debug, Clone, Serialize)]
pub struct UserJson {
    pub id: String,
    pub name: String,
    pub email: String,
}

impl From<&User> for UserJson {
    fn from(u: &User) -> Self {
        UserJson {
            id: u.id.to_string(),
            name: u.name.clone(),
            email: u.email.clone(),
        }
    }
}

/// Users looked up at most once per request.
#[derive(Default)]
pub struct Users(HashMap<i64, Option<UserJson>>);

impl Users {
    /// The user, or `None` if it no longer exists.
    pub async fn get(&mut self, app: &AppState, id: i64) -> Result<Option<UserJson>, ApiError> {
        if let Some(u) = self.0.get(&id) {
            return Ok(u.clone());
        }
        let user = app.store.get_user(id).await?.as_ref().map(UserJson::from);
        self.0.insert(id, user.clone());
        Ok(user)
    }

    pub async fn get_opt(&mut self, app: &AppState, id: Option<i64>) -> Result<Option<UserJson>, ApiError> {
        match id {
            Some(id) => self.get(app, id).await,
            None => Ok(None),
        }
    }
}

/// What keeps a resolved or ignored issue in its state.
#[derive(Debug, Clone, Serialize)]
pub struct StatusDetailsJson {
    /// Resolved in the next release: events of `release` do not reopen it.
    pub in_next_release: bool,
    pub release: Option<String>,
    /// Ignored until this time (RFC 3339)…
    pub ignore_until: Option<String>,
    /// …or until this many more events arrive.
    pub ignore_count: Option<u64>,
}

#[derive(Debug, Serialize)]
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
    pub assignee: Option<UserJson>,
    /// Reopened by an event after it was resolved; cleared by the next status change of a user.
    pub is_regression: bool,
    pub status_details: StatusDetailsJson,
    /// Tag distributions; only on the issue detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagDistribution>>,
}

impl IssueJson {
    pub fn new(i: Issue, assignee: Option<UserJson>) -> Self {
        IssueJson {
            id: i.id.to_string(),
            project_id: i.project_id.to_string(),
            status_details: StatusDetailsJson {
                in_next_release: i.resolved_in_release.is_some(),
                release: i.resolved_in_release,
                ignore_until: i.ignore_until_ms.map(rfc3339),
                ignore_count: i.ignore_until_count.map(|n| n.saturating_sub(i.times_seen)),
            },
            title: i.title,
            culprit: i.culprit,
            message: i.message,
            level: i.level,
            status: i.status,
            platform: i.platform,
            first_seen: rfc3339(i.first_seen_ms),
            last_seen: rfc3339(i.last_seen_ms),
            times_seen: i.times_seen,
            assignee,
            is_regression: i.is_regression,
            tags: None,
        }
    }

    /// The issue with its assignee looked up through `users`.
    pub async fn load(app: &AppState, users: &mut Users, i: Issue) -> Result<Self, ApiError> {
        let assignee = users.get_opt(app, i.assignee_id).await?;
        Ok(IssueJson::new(i, assignee))
    }
}

#[derive(Debug, Serialize)]
pub struct Pagination {
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

impl Pagination {
    pub fn from(next: Option<Cursor>) -> Self {
        Pagination {
            has_more: next.is_some(),
            next_cursor: next.map(|c| c.to_string()),
        }
    }
}

/// One page of a list: `{data, pagination: {next_cursor, has_more}}`.
#[derive(Debug, Serialize)]
pub struct PageJson<T> {
    pub data: Vec<T>,
    pub pagination: Pagination,
}

#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// A `cursor` parameter that is a row id (the previous page's last, as `pagination.next_cursor`).
pub fn id_cursor(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "invalid cursor {c:?}: expected the pagination.next_cursor of the previous page"
                ))
            })
        })
        .transpose()
}

/// The page size: `limit` from 1 to 100, 25 when absent.
pub fn limit(raw: Option<&str>) -> Result<usize, ApiError> {
    match raw.filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::BadRequest(format!(
                "invalid limit {v:?}: expected a number from 1 to {MAX_LIMIT}"
            ))),
        },
    }
}

/// The `cursor` parameter: the `next_cursor` of the previous page.
pub fn cursor(raw: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    raw.filter(|c| !c.is_empty())
        .map(|c| c.parse().map_err(ApiError::BadRequest))
        .transpose()
}

/// Query-string rejections as JSON 400s with the reason.
pub fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::BadRequest(format!("invalid query string: {}", e.body_text()))
}

/// JSON body rejections as 400s with the reason.
pub fn bad_body(e: axum::extract::rejection::JsonRejection) -> ApiError {
    ApiError::BadRequest(format!("invalid body: {}", e.body_text()))
}
