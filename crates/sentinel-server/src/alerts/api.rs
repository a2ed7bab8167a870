//! The JSON API of alerting: channels, rules and the delivery log, of a project (its organization's
//! members read, admins manage) or of the instance (instance admins only).
//!
//! - `channels`: `/api/0/projects/{id}/channels/`, `/api/0/instance/channels/`,
//!   `/api/0/channels/{id}/` and the test notification.
//! - `rules`: `/api/0/projects/{id}/alert-rules/`, `/api/0/instance/alert-rules/`,
//!   `/api/0/alert-rules/{id}/`, and the validation of conditions and options.
//! - `log`: `/api/0/projects/{id}/notifications/`, `/api/0/instance/notifications/`.
//!
//! A channel, rule or notification of an organization the caller does not belong to answers 404,
//! and so does an instance one for anyone but an instance admin. The functions the dashboard shares
//! (creating a channel, queueing a test, validating a rule, reading the log) live here too, so both
//! apply the same rules.

pub mod channels;
pub mod log;
pub mod rules;

use axum::Router;
use axum::routing::{get, post};
use sentinel_store::OrgRole;

use crate::AppState;
use crate::api::ApiError;
use crate::auth::{Principal, access};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/0/projects/{project_id}/channels/",
            get(channels::project_list).post(channels::project_create),
        )
        .route(
            "/api/0/instance/channels/",
            get(channels::instance_list).post(channels::instance_create),
        )
        .route(
            "/api/0/channels/{channel_id}/",
            get(channels::detail)
                .put(channels::update)
                .delete(channels::remove),
        )
        .route("/api/0/channels/{channel_id}/test/", post(channels::test))
        .route(
            "/api/0/projects/{project_id}/alert-rules/",
            get(rules::project_list).post(rules::project_create),
        )
        .route("/api/0/instance/alert-rules/", get(rules::instance_list))
        .route(
            "/api/0/alert-rules/{rule_id}/",
            get(rules::detail).put(rules::update).delete(rules::remove),
        )
        .route(
            "/api/0/projects/{project_id}/notifications/",
            get(log::project_list),
        )
        .route("/api/0/instance/notifications/", get(log::instance_list))
}

/// 403 unless the caller is an instance admin: the instance's channels, rules and log are theirs.
pub fn require_instance_admin(who: &Principal) -> Result<(), ApiError> {
    if who.is_instance_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only instance administrators see and manage the instance's alerts".into(),
        ))
    }
}

/// Checks that the caller may act on a channel or rule (`what` `id`) of `project_id` with at
/// least `min`: the project's organization's role for a project one, instance admin for an
/// instance one (`None`). Anything the caller cannot see answers 404 naming the channel or rule,
/// never its project.
pub async fn authorize(
    app: &AppState,
    who: &Principal,
    project_id: Option<i64>,
    min: OrgRole,
    what: &str,
    id: i64,
) -> Result<(), ApiError> {
    let missing = || ApiError::NotFound(format!("{what} {id} not found"));
    match project_id {
        // `access::project` takes the id as it appears in a path.
        Some(pid) => match access::project(app, who, &pid.to_string(), min).await {
            Ok(_) => Ok(()),
            Err(ApiError::NotFound(_)) => Err(missing()),
            Err(e) => Err(e),
        },
        None if who.is_instance_admin() => Ok(()),
        None => Err(missing()),
    }
}

/// How a test notification names who sent it.
pub fn who_name(who: &Principal) -> String {
    match &who.user {
        Some(u) => format!("{} ({})", u.name, u.email),
        None => "An instance API token".to_owned(),
    }
}
