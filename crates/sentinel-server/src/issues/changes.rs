//! Changing issues: status (resolve, resolve in the next release, ignore until a time or a number
//! of events, reopen) and assignee, on one issue or on many of a project at once; deleting issues.
//!
//! The body takes Sentry's names (`statusDetails.inNextRelease`, `statusDetails.ignoreDuration`,
//! `statusDetails.ignoreCount`, `assignedTo`) and simple ones (`status: "resolvedInNextRelease"`,
//! `ignore_duration_minutes`, `ignore_count`, `assignee`); unknown fields are rejected.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use sentinel_store::{IssueChange, OrgRole, StatusChange, StoreError};
use serde::{Deserialize, Deserializer, Serialize};

use super::{IssueJson, Users, bad_body};
use crate::AppState;
use crate::api::{ApiError, Caller};
use crate::auth::{Principal, access};

/// Ids per bulk request.
pub const MAX_BULK: usize = 100;
/// Ignoring for longer than ten years is ignoring for ever; say so instead.
const MAX_IGNORE_MINUTES: u64 = 10 * 366 * 24 * 60;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueUpdate {
    /// `resolved`, `resolvedInNextRelease`, `unresolved` or `ignored`.
    pub status: Option<String>,
    #[serde(rename = "statusDetails")]
    pub status_details: Option<StatusDetails>,
    pub ignore_duration_minutes: Option<u64>,
    pub ignore_count: Option<u64>,
    /// A user id, an email, `me`, or `null` to unassign.
    #[serde(default, deserialize_with = "present")]
    pub assignee: Option<Option<AssigneeRef>>,
    /// Sentry's name for `assignee`.
    #[serde(default, rename = "assignedTo", deserialize_with = "present")]
    pub assigned_to: Option<Option<AssigneeRef>>,
}

/// Sentry's `statusDetails`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StatusDetails {
    pub in_next_release: Option<bool>,
    /// Minutes.
    pub ignore_duration: Option<u64>,
    pub ignore_count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AssigneeRef {
    Id(i64),
    Text(String),
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn either<T: PartialEq>(simple: Option<T>, sentry: Option<T>, names: &str) -> Result<Option<T>, String> {
    match (simple, sentry) {
        (Some(a), Some(b)) if a != b => Err(format!("give {names}, not both")),
        (a, b) => Ok(a.or(b)),
    }
}

/// The status change a body asks for, at `now_ms`; `None` if it leaves the status alone.
pub fn status_change(body: &IssueUpdate, now_ms: i64) -> Result<Option<StatusChange>, String> {
    let details = body.status_details.as_ref();
    let in_next_release = details.and_then(|d| d.in_next_release).unwrap_or(false);
    let minutes = either(
        body.ignore_duration_minutes,
        details.and_then(|d| d.ignore_duration),
        "ignore_duration_minutes or statusDetails.ignoreDuration",
    )?;
    let count = either(
        body.ignore_count,
        details.and_then(|d| d.ignore_count),
        "ignore_count or statusDetails.ignoreCount",
    )?;
    let ignore_option = minutes.is_some() || count.is_some();
    let Some(status) = body.status.as_deref() else {
        if in_next_release || ignore_option {
            return Err("statusDetails, ignore_duration_minutes and ignore_count need a status".into());
        }
        return Ok(None);
    };
    if ignore_option && status != "ignored" {
        return Err(format!(
            "an ignore duration or count goes with status \"ignored\", not {status:?}"
        ));
    }
    if in_next_release && status != "resolved" && status != "resolvedInNextRelease" {
        return Err(format!(
            "statusDetails.inNextRelease goes with status \"resolved\", not {status:?}"
        ));
    }
    Ok(Some(match status {
        "resolved" if in_next_release => StatusChange::ResolvedInNextRelease,
        "resolved" => StatusChange::Resolved,
        "resolvedInNextRelease" => StatusChange::ResolvedInNextRelease,
        "unresolved" => StatusChange::Unresolved,
        "ignored" => {
            let until_ms = match minutes {
                None => None,
                Some(m @ 1..=MAX_IGNORE_MINUTES) => Some(now_ms.saturating_add(m as i64 * 60_000)),
                Some(m) => {
                    return Err(format!(
                        "invalid ignore duration {m}: expected 1 to {MAX_IGNORE_MINUTES} minutes \
                         (leave it out to ignore for ever)"
                    ));
                }
            };
            let more_events = match count {
                Some(0) => return Err("invalid ignore count 0: expected at least 1 event".into()),
                c => c,
            };
            StatusChange::Ignored {
                until_ms,
                more_events,
            }
        }
        other => {
            return Err(format!(
                "invalid status {other:?}: expected resolved, resolvedInNextRelease, unresolved or ignored"
            ));
        }
    }))
}

/// The user an assignee reference names: an id (`42`, `"42"`, `"user:42"`), an email, or `me`.
async fn resolve_assignee(app: &AppState, who: &Principal, r: &AssigneeRef) -> Result<i64, ApiError> {
    let text = match r {
        AssigneeRef::Id(id) if *id > 0 => return Ok(*id),
        AssigneeRef::Id(id) => {
            return Err(ApiError::BadRequest(format!(
                "invalid assignee {id}: expected a user id"
            )));
        }
        AssigneeRef::Text(t) => t.trim(),
    };
    if text.eq_ignore_ascii_case("me") {
        return who
            .user_id()
            .ok_or_else(|| ApiError::BadRequest("assignee \"me\": this token belongs to no user".into()));
    }
    if let Some(id) = text
        .strip_prefix("user:")
        .unwrap_or(text)
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
    {
        return Ok(id);
    }
    if text.contains('@') {
        return match app.store.find_user_by_email(text).await? {
            Some(u) => Ok(u.id),
            None => Err(ApiError::BadRequest(format!("no user with email {text:?}"))),
        };
    }
    Err(ApiError::BadRequest(format!(
        "invalid assignee {text:?}: expected a user id, an email, \"me\" or null"
    )))
}

/// The change a body asks for. An empty change is an error: the caller surely meant something.
async fn change_of(app: &AppState, who: &Principal, body: &IssueUpdate) -> Result<IssueChange, ApiError> {
    let status = status_change(body, app.clock.now_ms()).map_err(ApiError::BadRequest)?;
    let assignee = match either(
        body.assignee.clone(),
        body.assigned_to.clone(),
        "assignee or assignedTo",
    )
    .map_err(ApiError::BadRequest)?
    {
        None => None,
        Some(None) => Some(None),
        Some(Some(r)) => Some(Some(resolve_assignee(app, who, &r).await?)),
    };
    if status.is_none() && assignee.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: give status and/or assignee".into(),
        ));
    }
    Ok(IssueChange { status, assignee })
}

/// The store refuses an assignee outside the issue's organization with `Conflict`; for the caller
/// that is a bad parameter.
fn assignee_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(m) => ApiError::BadRequest(m),
        other => other.into(),
    }
}

/// `PUT /api/0/issues/{id}/`.
pub async fn update(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(issue): Path<String>,
    body: Result<Json<IssueUpdate>, JsonRejection>,
) -> Result<Json<IssueJson>, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let (issue, _, _) = access::issue(&app, &who, &issue, OrgRole::Member).await?;
    let change = change_of(&app, &who, &body).await?;
    let updated = app
        .store
        .update_issue(issue.id, &change, who.user_id(), app.clock.now_ms())
        .await
        .map_err(assignee_error)?;
    Ok(Json(IssueJson::load(&app, &mut Users::default(), updated).await?))
}

/// `DELETE /api/0/issues/{id}/` (admins and owners): the issue with its events, comments and
/// activity.
pub async fn delete(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(issue): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (issue, project, _) = access::issue(&app, &who, &issue, OrgRole::Admin).await?;
    app.store.delete_issues(project.id, &[issue.id]).await?;
    tracing::info!(issue.id = issue.id, project.id = project.id, "issue deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The issue ids of a bulk request: `?id=1&id=2`, at most [`MAX_BULK`], no other parameter.
pub fn bulk_ids(raw_query: Option<&str>) -> Result<Vec<i64>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw_query.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?;
    let mut ids = Vec::new();
    for (key, value) in pairs {
        if key != "id" {
            return Err(ApiError::BadRequest(format!(
                "unknown parameter {key:?}: name the issues as ?id=1&id=2"
            )));
        }
        let id = value
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| ApiError::BadRequest(format!("invalid id {value:?}: expected an issue id")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(ApiError::BadRequest("name the issues as ?id=1&id=2".into()));
    }
    if ids.len() > MAX_BULK {
        return Err(ApiError::BadRequest(format!(
            "{} issues named: at most {MAX_BULK} per request",
            ids.len()
        )));
    }
    Ok(ids)
}

#[derive(Debug, Serialize)]
pub struct Updated {
    pub updated: u64,
}

#[derive(Debug, Serialize)]
pub struct Deleted {
    pub deleted: u64,
}

/// `PUT /api/0/projects/{id}/issues/?id=…`: one change to several issues of the project; ids of
/// other projects are ignored.
pub async fn bulk_update(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    body: Result<Json<IssueUpdate>, JsonRejection>,
) -> Result<Json<Updated>, ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    let ids = bulk_ids(query.as_deref())?;
    let change = change_of(&app, &who, &body).await?;
    let updated = app
        .store
        .update_issues(project.id, &ids, &change, who.user_id(), app.clock.now_ms())
        .await
        .map_err(assignee_error)?;
    Ok(Json(Updated { updated }))
}

/// `DELETE /api/0/projects/{id}/issues/?id=…` (admins and owners).
pub async fn bulk_delete(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Deleted>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Admin).await?;
    let ids = bulk_ids(query.as_deref())?;
    let deleted = app.store.delete_issues(project.id, &ids).await?;
    tracing::info!(project.id = project.id, deleted, "issues deleted");
    Ok(Json(Deleted { deleted }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn body(json: serde_json::Value) -> IssueUpdate {
        serde_json::from_value(json).unwrap()
    }

    fn change(json: serde_json::Value) -> Result<Option<StatusChange>, String> {
        status_change(&body(json), NOW)
    }

    #[test]
    fn sentry_and_simple_names_ask_for_the_same_changes() {
        use serde_json::json;
        assert_eq!(
            change(json!({"status": "resolved", "statusDetails": {"inNextRelease": true}})),
            Ok(Some(StatusChange::ResolvedInNextRelease))
        );
        assert_eq!(
            change(json!({"status": "resolvedInNextRelease"})),
            Ok(Some(StatusChange::ResolvedInNextRelease))
        );
        let ignored = Ok(Some(StatusChange::Ignored {
            until_ms: Some(NOW + 30 * 60_000),
            more_events: Some(5),
        }));
        assert_eq!(
            change(json!({"status": "ignored", "statusDetails": {"ignoreDuration": 30, "ignoreCount": 5}})),
            ignored
        );
        assert_eq!(
            change(json!({"status": "ignored", "ignore_duration_minutes": 30, "ignore_count": 5})),
            ignored
        );
        assert_eq!(
            change(json!({"status": "ignored"})),
            Ok(Some(StatusChange::Ignored {
                until_ms: None,
                more_events: None
            }))
        );
        assert_eq!(change(json!({"assignee": null})), Ok(None));
    }

    #[test]
    fn contradictory_or_misplaced_options_are_rejected() {
        use serde_json::json;
        for (b, needle) in [
            (
                json!({"status": "done"}),
                "expected resolved, resolvedInNextRelease",
            ),
            (
                json!({"status": "resolved", "ignore_count": 3}),
                "goes with status \"ignored\"",
            ),
            (
                json!({"status": "ignored", "statusDetails": {"inNextRelease": true}}),
                "inNextRelease goes with",
            ),
            (json!({"ignore_count": 3}), "need a status"),
            (
                json!({"status": "ignored", "ignore_count": 3, "statusDetails": {"ignoreCount": 4}}),
                "not both",
            ),
            (json!({"status": "ignored", "ignore_count": 0}), "at least 1"),
            (
                json!({"status": "ignored", "ignore_duration_minutes": 0}),
                "invalid ignore duration 0",
            ),
        ] {
            let e = change(b.clone()).expect_err(&b.to_string());
            assert!(e.contains(needle), "{b}: {e}");
        }
    }

    #[test]
    fn unknown_fields_and_null_assignees_are_told_apart() {
        assert!(serde_json::from_str::<IssueUpdate>(r#"{"state": "resolved"}"#).is_err());
        assert!(serde_json::from_str::<IssueUpdate>(r#"{"statusDetails": {"inRelease": "1.0"}}"#).is_err());
        let b: IssueUpdate = serde_json::from_str(r#"{"assignedTo": null}"#).unwrap();
        assert_eq!((b.assigned_to, b.assignee), (Some(None), None));
        let b: IssueUpdate = serde_json::from_str(r#"{"assignee": 7}"#).unwrap();
        assert_eq!(b.assignee, Some(Some(AssigneeRef::Id(7))));
    }

    #[test]
    fn bulk_ids_are_deduplicated_and_bounded() {
        assert_eq!(bulk_ids(Some("id=3&id=1&id=3")).unwrap(), vec![3, 1]);
        assert!(bulk_ids(None).is_err());
        assert!(bulk_ids(Some("id=x")).is_err());
        assert!(bulk_ids(Some("id=1&query=is:unresolved")).is_err());
        let many: Vec<String> = (1..=101).map(|i| format!("id={i}")).collect();
        let e = bulk_ids(Some(&many.join("&"))).unwrap_err();
        assert!(e.to_string().contains("at most 100"), "{e}");
    }
}
