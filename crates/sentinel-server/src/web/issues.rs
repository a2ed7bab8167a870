//! The issues list (search, filters, sorting, pagination, bulk actions, live refresh) and the
//! project-wide events list.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use sentinel_store::{Cursor, IssueChange, IssueSort, OrgRole};
use serde::Deserialize;

use super::issue::{StatusForm, status_change};
use super::layout::{self, Layout};
use super::project::{IssueLine, org_project};
use super::{SignedIn, WebError, is_htmx, render, see_other};
use crate::AppState;
use crate::api::ApiError;
use crate::clock::rfc3339;
use crate::urls::form_urlencoded_component;

const PAGE: usize = 25;
/// Most issues one bulk action may change.
const MAX_BULK: usize = 100;

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    query: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "issues.html")]
struct IssuesPage {
    layout: Layout,
    table: IssuesTable,
    query: String,
    sort: String,
    sorts: &'static [(&'static str, &'static str)],
}

#[derive(Template)]
#[template(path = "issues_table.html")]
struct IssuesTable {
    layout_prefix: String,
    org: String,
    /// This page's own URL (polled for live updates).
    self_url: String,
    first_url: Option<String>,
    next_url: Option<String>,
    lines: Vec<IssueLine>,
    error: Option<String>,
}

const SORTS: &[(&str, &str)] = &[
    ("last_seen", "Last seen"),
    ("first_seen", "First seen"),
    ("times_seen", "Events"),
    ("priority", "Priority"),
];

pub async fn list(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let prefix = &app.settings.path_prefix;
    let base = format!("{prefix}/orgs/{}/projects/{}/issues/", org.slug, project.slug);
    let query_text = p.query.clone().unwrap_or_else(|| "is:unresolved".into());
    let sort_text = p.sort.clone().unwrap_or_else(|| "last_seen".into());
    let url = |cursor: Option<&str>| {
        let mut u = format!(
            "{base}?query={}&sort={}",
            form_urlencoded_component(&query_text),
            form_urlencoded_component(&sort_text)
        );
        if let Some(c) = cursor {
            u.push_str(&format!("&cursor={}", form_urlencoded_component(c)));
        }
        u
    };
    let mut error = None;
    let mut lines = Vec::new();
    let mut next = None;
    let built = async {
        let sort: IssueSort = sort_text.parse().map_err(ApiError::BadRequest)?;
        let cursor: Option<Cursor> = p
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(str::parse)
            .transpose()
            .map_err(ApiError::BadRequest)?;
        let search = crate::issues::search::parse(&query_text).map_err(ApiError::BadRequest)?;
        let query =
            crate::issues::list::issue_query(&app, &s.principal, project.id, &search, app.clock.now_ms())
                .await?;
        Ok::<_, ApiError>(query.map(|q| sentinel_store::IssueQuery {
            sort,
            limit: PAGE,
            cursor,
            ..q
        }))
    }
    .await;
    match built {
        Ok(Some(q)) => {
            let page = app.store.list_issues(&q).await?;
            next = page.next_cursor.map(|c| c.to_string());
            lines = page.items.into_iter().map(IssueLine::from).collect();
        }
        // The search names something that cannot match (an unknown assignee): no issues.
        Ok(None) => {}
        Err(e @ ApiError::BadRequest(_)) => error = Some(e.to_string()),
        Err(e) => return Err(e.into()),
    }
    let table = IssuesTable {
        layout_prefix: prefix.clone(),
        org: org.slug.clone(),
        self_url: url(p.cursor.as_deref()),
        first_url: p.cursor.as_ref().map(|_| url(None)),
        next_url: next.as_deref().map(|c| url(Some(c))),
        lines,
        error,
    };
    if is_htmx(&headers) {
        return render(&table);
    }
    let page = IssuesPage {
        layout: layout::in_org(&app, &s, &org, role, Some(&project), "Issues", "issues").await?,
        table,
        query: query_text,
        sort: sort_text,
        sorts: SORTS,
    };
    render(&page)
}

/// Resolve, unresolve, ignore or delete the checked issues.
pub async fn bulk(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let ids = pairs
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| {
            v.parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("invalid issue id {v:?}")))
        })
        .collect::<Result<Vec<i64>, _>>()?;
    if ids.is_empty() {
        return Err(ApiError::BadRequest("select at least one issue".into()).into());
    }
    if ids.len() > MAX_BULK {
        return Err(ApiError::BadRequest(format!("at most {MAX_BULK} issues at a time")).into());
    }
    let now = app.clock.now_ms();
    match field("action").as_str() {
        "delete" => {
            if role < OrgRole::Admin {
                return Err(ApiError::Forbidden("deleting issues needs the admin role".into()).into());
            }
            app.store.delete_issues(project.id, &ids).await?;
        }
        status => {
            let form = StatusForm {
                status: status.to_owned(),
                ignore_minutes: field("ignore_minutes"),
                ignore_count: field("ignore_count"),
            };
            let change = IssueChange {
                status: Some(status_change(&form, now)?),
                assignee: None,
            };
            app.store
                .update_issues(project.id, &ids, &change, Some(s.user.id), now)
                .await?;
        }
    }
    let back = field("back");
    let to = if back.starts_with(&format!("{}/orgs/", app.settings.path_prefix)) {
        back
    } else {
        format!(
            "{}/orgs/{}/projects/{}/issues/",
            app.settings.path_prefix, org.slug, project.slug
        )
    };
    Ok(see_other(&headers, &to))
}

pub struct EventLine {
    pub event_id: String,
    pub issue_id: i64,
    pub title: String,
    pub level: &'static str,
    pub received: String,
    pub release: String,
    pub environment: String,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    layout: Layout,
    events: Vec<EventLine>,
    next_url: Option<String>,
    first_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct EventParams {
    cursor: Option<String>,
}

pub async fn events(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, project)): Path<(String, String)>,
    Query(p): Query<EventParams>,
) -> Result<Response, WebError> {
    let (org, role, project) = org_project(&app, &s, &org, &project, OrgRole::Member).await?;
    let cursor: Option<Cursor> = p
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(str::parse)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let page = app
        .store
        .list_project_events(project.id, 50, cursor.as_ref())
        .await?;
    let base = format!(
        "{}/orgs/{}/projects/{}/events/",
        app.settings.path_prefix, org.slug, project.slug
    );
    let page_view = EventsPage {
        layout: layout::in_org(&app, &s, &org, role, Some(&project), "Events", "events").await?,
        events: page
            .items
            .into_iter()
            .map(|e| EventLine {
                event_id: e.event_id.to_string(),
                issue_id: e.issue_id,
                title: e.title,
                level: e.level.as_str(),
                received: rfc3339(e.received_ms),
                release: e.release.unwrap_or_default(),
                environment: e.environment.unwrap_or_default(),
            })
            .collect(),
        next_url: page
            .next_cursor
            .map(|c| format!("{base}?cursor={}", form_urlencoded_component(&c.to_string()))),
        first_url: cursor.map(|_| base.clone()),
    };
    render(&page_view)
}
