//! The issue page: header with status, counts and actions; the events-over-time chart; one event
//! in full (stack trace, breadcrumbs, tags, contexts) with navigation between the issue's events;
//! tag distributions; assignee, comments and the activity log. Also the workflow forms it posts.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sentinel_protocol::ids::EventId;
use sentinel_store::{
    Activity, Comment, CountScope, Issue, IssueChange, OrgRole, Organization, Project, StatusChange,
    TagDistribution,
};
use serde::Deserialize;

use super::event_view::{self, EventView};
use super::layout::{self, Layout};
use super::project::{chart_json, series};
use super::{SignedIn, WebError, render, see_other};
use crate::AppState;
use crate::api::ApiError;
use crate::auth::access;
use crate::clock::rfc3339;

/// The issue if the user may see it *and* it belongs to the organization in the path.
async fn load(
    app: &AppState,
    s: &SignedIn,
    org: &str,
    issue: &str,
    min: OrgRole,
) -> Result<(Organization, OrgRole, Project, Issue), ApiError> {
    let (issue, project, role) = access::issue(app, &s.principal, issue, min).await?;
    let missing = || ApiError::NotFound(format!("issue {} not found", issue.id));
    if project.org_slug != org {
        return Err(missing());
    }
    // Membership was checked with the issue; only the organization's row is still needed.
    let org = app.store.get_organization(org).await?.ok_or_else(missing)?;
    Ok((org, role, project, issue))
}

pub struct EventMeta {
    pub event_id: String,
    pub timestamp: String,
    pub received: String,
    pub release: String,
    pub environment: String,
    pub platform: String,
    pub level: String,
}

pub struct Nav {
    pub older: Option<String>,
    pub newer: Option<String>,
    pub newest: Option<String>,
    pub oldest: Option<String>,
}

pub struct AttachmentRow {
    pub id: i64,
    pub name: String,
    pub content_type: String,
}

pub struct ActivityRow {
    pub who: String,
    pub text: String,
    pub when: String,
}

pub struct MemberOption {
    pub id: i64,
    pub name: String,
    pub selected: bool,
}

/// The issue's counts line, refreshed every few seconds by the page.
#[derive(Template)]
#[template(path = "issue_counts.html")]
pub struct Counts {
    url: String,
    times_seen: u64,
    first_seen: String,
    last_seen: String,
    status_detail: String,
}

impl Counts {
    fn of(issue: &Issue, issue_url: &str) -> Self {
        Counts {
            url: format!("{issue_url}counts"),
            times_seen: issue.times_seen,
            first_seen: rfc3339(issue.first_seen_ms),
            last_seen: rfc3339(issue.last_seen_ms),
            status_detail: status_detail(issue),
        }
    }
}

pub async fn counts(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, issue)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (org, _, _, issue) = load(&app, &s, &org, &issue, OrgRole::Member).await?;
    render(&Counts::of(&issue, &issue_url(&app, &org.slug, issue.id)))
}

#[derive(Template)]
#[template(path = "issue.html")]
struct IssuePage {
    layout: Layout,
    /// `…/orgs/<org>/issues/<id>/`, the base of the page's forms.
    issue_url: String,
    /// `…/orgs/<org>/issues/<id>/events/`.
    event_base: String,
    issue: Issue,
    level: &'static str,
    status: &'static str,
    counts: Counts,
    assignee: String,
    members: Vec<MemberOption>,
    chart: String,
    day_chart: String,
    tags: Vec<TagDistribution>,
    meta: Option<EventMeta>,
    event: EventView,
    nav: Nav,
    attachments: Vec<AttachmentRow>,
    comments: Vec<CommentRow>,
    activity: Vec<ActivityRow>,
}

pub struct CommentRow {
    pub author: String,
    pub body: String,
    pub when: String,
}

impl From<Comment> for CommentRow {
    fn from(c: Comment) -> Self {
        CommentRow {
            author: if c.user_name.is_empty() {
                "a former member".into()
            } else {
                c.user_name
            },
            body: c.body,
            when: rfc3339(c.created_ms),
        }
    }
}

/// One activity entry as a sentence.
fn activity_text(a: &Activity) -> String {
    let data: serde_json::Value = a
        .data
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(serde_json::Value::Null);
    let field = |k: &str| data.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    match a.kind.as_str() {
        "first_seen" => "first seen".into(),
        "set_regression" => match field("release") {
            r if r.is_empty() => "marked as a regression: a new event arrived after it was resolved".into(),
            r => format!("marked as a regression in release {r}"),
        },
        "set_resolved" => "resolved".into(),
        "set_resolved_in_release" => match field("release") {
            r if r.is_empty() => "resolved in the next release".into(),
            r => format!("resolved in the next release after {r}"),
        },
        "set_unresolved" if field("reason") == "ignore_expired" => {
            "unresolved: the ignore condition was reached".into()
        }
        "set_unresolved" => "unresolved".into(),
        "set_ignored" => {
            let mut parts = Vec::new();
            if let Some(ms) = data.get("until_ms").and_then(|v| v.as_i64()) {
                parts.push(format!("until {}", rfc3339(ms)));
            }
            if let Some(n) = data.get("more_events").and_then(|v| v.as_u64()) {
                parts.push(format!("until {n} more events"));
            }
            if parts.is_empty() {
                "ignored".into()
            } else {
                format!("ignored {}", parts.join(" or "))
            }
        }
        "assigned" => format!("assigned to {}", field("assignee_name")),
        "unassigned" => "unassigned".into(),
        "note" => "left a comment".into(),
        other => other.replace('_', " "),
    }
}

fn status_detail(i: &Issue) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &i.resolved_in_release {
        parts.push(format!("resolved in the next release after {r}"));
    }
    if let Some(ms) = i.ignore_until_ms {
        parts.push(format!("ignored until {}", rfc3339(ms)));
    }
    if let Some(n) = i.ignore_until_count {
        parts.push(format!("ignored until seen {n} times"));
    }
    parts.join("; ")
}

async fn issue_page(
    app: &AppState,
    s: &SignedIn,
    org: &str,
    issue: &str,
    event: Option<&str>,
) -> Result<Response, WebError> {
    let (org, role, project, issue) = load(app, s, org, issue, OrgRole::Member).await?;
    let now = app.clock.now_ms();
    let event_id: Option<EventId> = match event {
        Some(raw) => Some(
            raw.parse()
                .map_err(|_| ApiError::NotFound(format!("event {raw} not found")))?,
        ),
        None => app
            .store
            .list_issue_events(issue.id, 1, None)
            .await?
            .items
            .first()
            .map(|e| e.event_id),
    };
    let mut meta = None;
    let mut view = EventView::default();
    let mut nav = Nav {
        older: None,
        newer: None,
        newest: None,
        oldest: None,
    };
    let mut attachments = Vec::new();
    if let Some(id) = event_id {
        let (row, json) = crate::issues::events::load_event(app, project.id, id).await?;
        if row.issue_id != issue.id {
            return Err(ApiError::NotFound(format!("event {id} not found in this issue")).into());
        }
        view = event_view::view(&json);
        meta = Some(EventMeta {
            event_id: id.to_string(),
            timestamp: rfc3339(row.timestamp_ms),
            received: rfc3339(row.received_ms),
            release: row.release.unwrap_or_default(),
            environment: row.environment.unwrap_or_default(),
            platform: row.platform,
            level: row.level.as_str().to_owned(),
        });
        let n = app.store.event_neighbors(issue.id, id).await?;
        nav = Nav {
            older: n.older.map(|e| e.to_string()),
            newer: n.newer.map(|e| e.to_string()),
            newest: n.newest.filter(|e| *e != id).map(|e| e.to_string()),
            oldest: n.oldest.filter(|e| *e != id).map(|e| e.to_string()),
        };
        attachments = app
            .store
            .event_attachments(project.id, id)
            .await?
            .into_iter()
            .map(|a| {
                let headers: serde_json::Value = a
                    .headers_json
                    .as_deref()
                    .and_then(|h| serde_json::from_str(h).ok())
                    .unwrap_or(serde_json::Value::Null);
                AttachmentRow {
                    id: a.id,
                    name: headers
                        .get("filename")
                        .and_then(|v| v.as_str())
                        .unwrap_or("attachment")
                        .to_owned(),
                    content_type: headers
                        .get("content_type")
                        .and_then(|v| v.as_str())
                        .unwrap_or("application/octet-stream")
                        .to_owned(),
                }
            })
            .collect();
    }
    let members = app.store.list_members(org.id).await?;
    let assignee = issue
        .assignee_id
        .and_then(|id| members.iter().find(|m| m.user_id == id))
        .map(|m| m.name.clone())
        .unwrap_or_default();
    let points = series(app, CountScope::Issue(issue.id), now, 86_400_000, 3_600_000).await?;
    let days = series(app, CountScope::Issue(issue.id), now, 30 * 86_400_000, 86_400_000).await?;
    let activity = app.store.list_activity(issue.id).await?;
    let issue_url = issue_url(app, &org.slug, issue.id);
    let counts = Counts::of(&issue, &issue_url);
    let page = IssuePage {
        layout: layout::in_org(app, s, &org, role, Some(&project), &issue.title, "issues").await?,
        event_base: format!("{issue_url}events/"),
        issue_url,
        level: issue.level.as_str(),
        status: issue.status.as_str(),
        counts,
        assignee,
        members: members
            .into_iter()
            .map(|m| MemberOption {
                selected: issue.assignee_id == Some(m.user_id),
                id: m.user_id,
                name: m.name,
            })
            .collect(),
        chart: chart_json(&points, "hour", "events"),
        day_chart: chart_json(&days, "day", "events"),
        tags: app.store.issue_tags(issue.id, 5).await?,
        meta,
        event: view,
        nav,
        attachments,
        comments: app
            .store
            .list_comments(issue.id)
            .await?
            .into_iter()
            .map(CommentRow::from)
            .collect(),
        activity: activity
            .iter()
            .map(|a| ActivityRow {
                who: a.user_name.clone().unwrap_or_else(|| "Sentinel".into()),
                text: activity_text(a),
                when: rfc3339(a.created_ms),
            })
            .collect(),
        issue,
    };
    render(&page)
}

pub async fn page(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, issue)): Path<(String, String)>,
) -> Result<Response, WebError> {
    issue_page(&app, &s, &org, &issue, None).await
}

pub async fn event_page(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, issue, event)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    issue_page(&app, &s, &org, &issue, Some(&event)).await
}

fn issue_url(app: &AppState, org: &str, issue: i64) -> String {
    format!("{}/orgs/{org}/issues/{issue}/", app.settings.path_prefix)
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    pub status: String,
    /// For `ignored`: minutes to ignore for (empty: no time limit).
    #[serde(default)]
    pub ignore_minutes: String,
    /// For `ignored`: ignore until this many more events (empty: no count limit).
    #[serde(default)]
    pub ignore_count: String,
}

fn optional_number(name: &str, raw: &str) -> Result<Option<u64>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<u64>()
        .ok()
        .filter(|v| *v > 0)
        .map(Some)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "invalid {name} {raw:?}: expected a positive whole number"
            ))
        })
}

/// Parses the status form into a change (shared with the bulk form of the issues list).
pub fn status_change(form: &StatusForm, now_ms: i64) -> Result<StatusChange, ApiError> {
    Ok(match form.status.as_str() {
        "resolved" => StatusChange::Resolved,
        "resolvedInNextRelease" => StatusChange::ResolvedInNextRelease,
        "unresolved" => StatusChange::Unresolved,
        "ignored" => {
            let minutes = optional_number("ignore duration", &form.ignore_minutes)?;
            StatusChange::Ignored {
                until_ms: minutes.map(|m| now_ms + m as i64 * 60_000),
                more_events: optional_number("ignore count", &form.ignore_count)?,
            }
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "invalid status {other:?}: expected resolved, resolvedInNextRelease, unresolved or ignored"
            )));
        }
    })
}

pub async fn set_status(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, issue)): Path<(String, String)>,
    Form(form): Form<StatusForm>,
) -> Result<Response, WebError> {
    let (org, _, _, issue) = load(&app, &s, &org, &issue, OrgRole::Member).await?;
    let now = app.clock.now_ms();
    let change = IssueChange {
        status: Some(status_change(&form, now)?),
        assignee: None,
    };
    app.store
        .update_issue(issue.id, &change, Some(s.user.id), now)
        .await?;
    Ok(see_other(&headers, &issue_url(&app, &org.slug, issue.id)))
}

#[derive(Deserialize)]
pub struct AssignForm {
    /// A member's user id, or empty to unassign.
    #[serde(default)]
    assignee: String,
}

pub async fn assign(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, issue)): Path<(String, String)>,
    Form(form): Form<AssignForm>,
) -> Result<Response, WebError> {
    let (org, _, _, issue) = load(&app, &s, &org, &issue, OrgRole::Member).await?;
    let assignee = match form.assignee.trim() {
        "" => None,
        raw => Some(raw.parse::<i64>().map_err(|_| {
            ApiError::BadRequest(format!("invalid assignee {raw:?}: expected a member's user id"))
        })?),
    };
    let change = IssueChange {
        status: None,
        assignee: Some(assignee),
    };
    app.store
        .update_issue(issue.id, &change, Some(s.user.id), app.clock.now_ms())
        .await?;
    Ok(see_other(&headers, &issue_url(&app, &org.slug, issue.id)))
}

/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 10_000;

#[derive(Deserialize)]
pub struct CommentForm {
    #[serde(default)]
    body: String,
}

pub async fn comment(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, issue)): Path<(String, String)>,
    Form(form): Form<CommentForm>,
) -> Result<Response, WebError> {
    let (org, _, _, issue) = load(&app, &s, &org, &issue, OrgRole::Member).await?;
    let body = form.body.trim();
    if body.is_empty() {
        return Err(ApiError::BadRequest("the comment is empty".into()).into());
    }
    if body.chars().count() > MAX_COMMENT_CHARS {
        return Err(
            ApiError::BadRequest(format!("comments are at most {MAX_COMMENT_CHARS} characters")).into(),
        );
    }
    app.store
        .add_comment(issue.id, s.user.id, body, app.clock.now_ms())
        .await?;
    Ok(see_other(
        &headers,
        &format!("{}#comments", issue_url(&app, &org.slug, issue.id)),
    ))
}

pub async fn delete(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, issue)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (org, _, project, issue) = load(&app, &s, &org, &issue, OrgRole::Admin).await?;
    app.store.delete_issues(project.id, &[issue.id]).await?;
    Ok(see_other(
        &headers,
        &format!(
            "{}/orgs/{}/projects/{}/issues/",
            app.settings.path_prefix, org.slug, project.slug
        ),
    ))
}

/// The raw event JSON, as stored and normalized.
pub async fn event_json(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, issue, event)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    let (_, _, project, issue) = load(&app, &s, &org, &issue, OrgRole::Member).await?;
    let id: EventId = event
        .parse()
        .map_err(|_| ApiError::NotFound(format!("event {event} not found")))?;
    let (row, json) = crate::issues::events::load_event(&app, project.id, id).await?;
    if row.issue_id != issue.id {
        return Err(ApiError::NotFound(format!("event {id} not found in this issue")).into());
    }
    let body = serde_json::to_string_pretty(&json).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// Downloads an attachment of the event.
pub async fn attachment(
    State(app): State<AppState>,
    s: SignedIn,
    Path((org, issue, event, attachment)): Path<(String, String, String, String)>,
) -> Result<Response, WebError> {
    let (_, _, project, _) = load(&app, &s, &org, &issue, OrgRole::Member).await?;
    let id: EventId = event
        .parse()
        .map_err(|_| ApiError::NotFound(format!("event {event} not found")))?;
    let attachment_id = access::path_id("attachment", &attachment)?;
    Ok(crate::issues::events::attachment_response(&app, project.id, id, attachment_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn act(kind: &str, data: Option<&str>) -> Activity {
        Activity {
            id: 1,
            issue_id: 1,
            kind: kind.into(),
            data: data.map(str::to_owned),
            user_id: None,
            user_name: None,
            created_ms: 0,
        }
    }

    #[test]
    fn activity_entries_read_as_sentences() {
        assert_eq!(activity_text(&act("set_resolved", None)), "resolved");
        assert_eq!(
            activity_text(&act("set_regression", Some(r#"{"release":"1.2"}"#))),
            "marked as a regression in release 1.2"
        );
        assert_eq!(
            activity_text(&act("set_ignored", Some(r#"{"more_events":100}"#))),
            "ignored until 100 more events"
        );
        assert_eq!(
            activity_text(&act(
                "assigned",
                Some(r#"{"assignee_id":2,"assignee_name":"Ann"}"#)
            )),
            "assigned to Ann"
        );
        assert_eq!(activity_text(&act("note", None)), "left a comment");
    }

    #[test]
    fn the_status_form_becomes_a_change() {
        let form = |s: &str, m: &str, c: &str| StatusForm {
            status: s.into(),
            ignore_minutes: m.into(),
            ignore_count: c.into(),
        };
        assert_eq!(
            status_change(&form("resolved", "", ""), 0).unwrap(),
            StatusChange::Resolved
        );
        assert_eq!(
            status_change(&form("ignored", "60", "10"), 1_000).unwrap(),
            StatusChange::Ignored {
                until_ms: Some(3_601_000),
                more_events: Some(10)
            }
        );
        assert!(status_change(&form("ignored", "-1", ""), 0).is_err());
        assert!(status_change(&form("closed", "", ""), 0).is_err());
    }
}
