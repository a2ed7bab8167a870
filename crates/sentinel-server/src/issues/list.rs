//! `GET /api/0/projects/{id}/issues/`: a project's issues by search, filters and sort, a page at a
//! time.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use sentinel_protocol::event::Level;
use sentinel_store::{AssignedFilter, IssueQuery, IssueSort, IssueStatus, OrgRole};
use serde::Deserialize;

use super::search::{self, Assigned, Search};
use super::{IssueJson, PageJson, Pagination, Users, bad_query, cursor, limit};
use crate::AppState;
use crate::api::{ApiError, Caller};
use crate::auth::{Principal, access};

#[derive(Debug, Default, Deserialize)]
pub struct IssueListParams {
    /// The search syntax of [`search`]; `search` is accepted too (the seed's name).
    #[serde(alias = "search")]
    pub query: Option<String>,
    pub status: Option<String>,
    pub level: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

pub async fn list(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    params: Result<Query<IssueListParams>, QueryRejection>,
) -> Result<Json<PageJson<IssueJson>>, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let search = search_of(&p)?;
    let Some(mut query) = issue_query(&app, &who, project.id, &search, app.clock.now_ms()).await? else {
        return Ok(Json(PageJson {
            data: Vec::new(),
            pagination: Pagination::from(None),
        }));
    };
    query.sort = sort(p.sort.as_deref())?;
    query.limit = limit(p.limit.as_deref())?;
    query.cursor = cursor(p.cursor.as_deref())?;
    let page = app.store.list_issues(&query).await?;
    let mut users = Users::default();
    let mut data = Vec::with_capacity(page.items.len());
    for issue in page.items {
        data.push(IssueJson::load(&app, &mut users, issue).await?);
    }
    Ok(Json(PageJson {
        data,
        pagination: Pagination::from(page.next_cursor),
    }))
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|v| !v.is_empty())
}

/// The `query` parameter parsed, with the `status`, `level`, `environment` and `release`
/// parameters merged in (a parameter that contradicts the query is an error).
pub fn search_of(p: &IssueListParams) -> Result<Search, ApiError> {
    let mut s = match p.query.as_deref() {
        Some(q) => search::parse(q).map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))?,
        None => Search::default(),
    };
    if let Some(raw) = given(&p.status) {
        let status: IssueStatus = raw.parse().map_err(ApiError::BadRequest)?;
        merge(&mut s.status, status, "status", |s| s.as_str().to_owned())?;
    }
    if let Some(raw) = given(&p.level) {
        let level = Level::parse(raw).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "invalid level {raw:?}: expected debug, info, warning, error or fatal"
            ))
        })?;
        merge(&mut s.level, level, "level", |l| l.as_str().to_owned())?;
    }
    if let Some(raw) = given(&p.environment) {
        merge(&mut s.environment, raw.to_owned(), "environment", String::clone)?;
    }
    if let Some(raw) = given(&p.release) {
        merge(&mut s.release, raw.to_owned(), "release", String::clone)?;
    }
    Ok(s)
}

fn merge<T: PartialEq>(
    slot: &mut Option<T>,
    value: T,
    name: &str,
    show: fn(&T) -> String,
) -> Result<(), ApiError> {
    match slot {
        Some(q) if *q != value => Err(ApiError::BadRequest(format!(
            "the {name} parameter ({}) contradicts the query ({})",
            show(&value),
            show(q)
        ))),
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

/// The store query for a search in a project at `now_ms`, with the assignee resolved to a user
/// id (`assigned:me` is the caller). `None` when the search can match nothing: an unknown email.
/// Sort, limit and cursor are left at their defaults.
pub async fn issue_query(
    app: &AppState,
    who: &Principal,
    project_id: i64,
    search: &Search,
    now_ms: i64,
) -> Result<Option<IssueQuery>, ApiError> {
    let assigned = match &search.assigned {
        None => None,
        Some(Assigned::Nobody) => Some(AssignedFilter::Nobody),
        Some(Assigned::User(id)) => Some(AssignedFilter::User(*id)),
        Some(Assigned::Me) => match who.user_id() {
            Some(id) => Some(AssignedFilter::User(id)),
            // An instance token belongs to nobody, so nothing is assigned to it.
            None => return Ok(None),
        },
        Some(Assigned::Email(email)) => match app.store.find_user_by_email(email).await? {
            Some(u) => Some(AssignedFilter::User(u.id)),
            None => return Ok(None),
        },
        Some(Assigned::Anybody) => Some(AssignedFilter::Anybody),
    };
    Ok(Some(IssueQuery {
        project_id,
        status: search.status,
        level: search.level,
        environment: search.environment.clone(),
        release: search.release.clone(),
        text: search.text_query(),
        assigned,
        tags: search.tags.clone(),
        first_seen: search.first_seen_range(now_ms),
        last_seen: search.last_seen_range(now_ms),
        ..IssueQuery::default()
    }))
}

/// `last_seen` (default), `first_seen`, `times_seen` or `priority`, newest/most first.
pub fn sort(raw: Option<&str>) -> Result<IssueSort, ApiError> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(IssueSort::default()),
        Some(s) => s.parse().map_err(ApiError::BadRequest),
    }
}
