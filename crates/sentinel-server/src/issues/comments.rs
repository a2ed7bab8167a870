//! An issue's comments and its activity log.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use sentinel_store::{Activity, Comment, OrgRole};
use serde::{Deserialize, Serialize};

use super::{UserJson, Users, bad_body};
use crate::AppState;
use crate::api::{ApiError, Caller};
use crate::auth::access;
use crate::clock::rfc3339;

/// Longest comment, in characters (after trimming).
pub const MAX_COMMENT_CHARS: usize = 10_000;

#[derive(Debug, Serialize)]
pub struct CommentJson {
    pub id: String,
    pub issue_id: String,
    /// `null` once the author's account is gone.
    pub user: Option<UserJson>,
    pub body: String,
    pub created: String,
}

#[derive(Debug, Serialize)]
pub struct ActivityJson {
    pub id: String,
    /// `first_seen`, `set_regression`, `set_resolved`, `set_resolved_in_release`,
    /// `set_unresolved`, `set_ignored`, `assigned`, `unassigned`, `note`.
    pub kind: String,
    /// Details of the entry; `{}` when there are none.
    pub data: serde_json::Value,
    /// `null` for changes made by Sentinel itself (regressions, expired ignores).
    pub user: Option<UserJson>,
    pub created: String,
}

async fn comment_json(app: &AppState, users: &mut Users, c: Comment) -> Result<CommentJson, ApiError> {
    Ok(CommentJson {
        id: c.id.to_string(),
        issue_id: c.issue_id.to_string(),
        user: users.get_opt(app, c.user_id).await?,
        body: c.body,
        created: rfc3339(c.created_ms),
    })
}

async fn activity_json(app: &AppState, users: &mut Users, a: Activity) -> Result<ActivityJson, ApiError> {
    let data = a
        .data
        .as_deref()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    Ok(ActivityJson {
        id: a.id.to_string(),
        kind: a.kind,
        data,
        user: users.get_opt(app, a.user_id).await?,
        created: rfc3339(a.created_ms),
    })
}

/// `GET /api/0/issues/{id}/comments/`: oldest first.
pub async fn list(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(issue): Path<String>,
) -> Result<Json<Vec<CommentJson>>, ApiError> {
    let (issue, _, _) = access::issue(&app, &who, &issue, OrgRole::Member).await?;
    let mut users = Users::default();
    let mut out = Vec::new();
    for c in app.store.list_comments(issue.id).await? {
        out.push(comment_json(&app, &mut users, c).await?);
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub body: String,
}

/// The comment text to store: trimmed, 1 to [`MAX_COMMENT_CHARS`] characters.
pub fn comment_body(raw: &str) -> Result<&str, String> {
    let body = raw.trim();
    if body.is_empty() {
        return Err("the comment is empty".into());
    }
    let chars = body.chars().count();
    if chars > MAX_COMMENT_CHARS {
        return Err(format!(
            "the comment has {chars} characters; at most {MAX_COMMENT_CHARS} are allowed"
        ));
    }
    Ok(body)
}

/// `POST /api/0/issues/{id}/comments/` → 201 with the comment.
pub async fn add(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(issue): Path<String>,
    body: Result<Json<NewComment>, JsonRejection>,
) -> Result<(StatusCode, Json<CommentJson>), ApiError> {
    let Json(new) = body.map_err(bad_body)?;
    let (issue, _, _) = access::issue(&app, &who, &issue, OrgRole::Member).await?;
    let text = comment_body(&new.body).map_err(ApiError::BadRequest)?;
    let Some(user) = who.user_id() else {
        return Err(ApiError::Forbidden(
            "comments are written by users; this instance token belongs to none".into(),
        ));
    };
    let comment = app
        .store
        .add_comment(issue.id, user, text, app.clock.now_ms())
        .await?;
    let json = comment_json(&app, &mut Users::default(), comment).await?;
    Ok((StatusCode::CREATED, Json(json)))
}

/// `GET /api/0/issues/{id}/activity/`: newest first.
pub async fn activity(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(issue): Path<String>,
) -> Result<Json<Vec<ActivityJson>>, ApiError> {
    let (issue, _, _) = access::issue(&app, &who, &issue, OrgRole::Member).await?;
    let mut users = Users::default();
    let mut out = Vec::new();
    for a in app.store.list_activity(issue.id).await? {
        out.push(activity_json(&app, &mut users, a).await?);
    }
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_bodies_are_trimmed_and_bounded() {
        assert_eq!(comment_body("  looks like a race \n"), Ok("looks like a race"));
        assert_eq!(comment_body(" \n\t"), Err("the comment is empty".into()));
        assert!(comment_body(&"é".repeat(MAX_COMMENT_CHARS)).is_ok());
        let e = comment_body(&"x".repeat(MAX_COMMENT_CHARS + 1)).unwrap_err();
        assert!(e.contains("10001 characters"), "{e}");
    }
}
