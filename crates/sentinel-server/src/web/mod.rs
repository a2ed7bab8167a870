//! The server-rendered dashboard: askama templates, htmx fragments, embedded assets.
//!
//! Every page is a typed template checked at compile time; a handler answers the full page or,
//! for htmx requests (`HX-Request`), only the fragment that changes. Assets (htmx, uPlot, CSS, JS)
//! are embedded in the binary. Pages are served with a strict CSP (no inline scripts or styles),
//! and every form carries a CSRF token checked by [`csrf_guard`] before any handler runs.

mod account;
mod alerts;
mod assets;
mod charts;
mod event_view;
mod incidents;
mod issue;
mod issues;
mod layout;
mod maintenance;
mod members;
mod monitors;
mod performance;
mod project;
mod releases;
mod session;
mod status;
mod tenants;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::AppState;
use crate::api::ApiError;
use crate::auth::{self, CSRF_COOKIE, SESSION_COOKIE};

pub use layout::Layout;
pub use session::{MaybeSignedIn, SignedIn};

/// The dashboard's routes (under the path prefix, like everything else).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/setup", get(account::setup_form).post(account::setup))
        .route("/login", get(account::login_form).post(account::login))
        .route("/logout", post(account::logout))
        .route("/account", get(account::page).post(account::change_password))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/{id}/delete", post(account::delete_token))
        .route("/reset/{token}", get(account::reset_form).post(account::reset))
        .route("/forgot", get(account::forgot_form).post(account::forgot))
        .route(
            "/invite/{token}",
            get(members::invite_form).post(members::accept_invite),
        )
        .route("/orgs/new", get(project::org_new_form).post(project::org_create))
        .route("/orgs/{org}/", get(project::org_home))
        .route("/orgs/{org}/members/", get(members::page).post(members::invite))
        .route("/orgs/{org}/members/{user}/role", post(members::set_role))
        .route("/orgs/{org}/members/{user}/remove", post(members::remove))
        .route(
            "/orgs/{org}/invitations/{id}/delete",
            post(members::delete_invitation),
        )
        .route(
            "/orgs/{org}/projects/new",
            get(project::new_form).post(project::create),
        )
        .route("/orgs/{org}/projects/{project}/", get(project::overview))
        .route(
            "/orgs/{org}/projects/{project}/settings/",
            get(project::settings).post(project::update),
        )
        .route("/orgs/{org}/projects/{project}/keys", post(project::create_key))
        .route(
            "/orgs/{org}/projects/{project}/keys/{key}/active",
            post(project::set_key_active),
        )
        .route("/orgs/{org}/projects/{project}/issues/", get(issues::list))
        .route("/orgs/{org}/projects/{project}/issues/bulk", post(issues::bulk))
        .route("/orgs/{org}/projects/{project}/events/", get(issues::events))
        .route("/orgs/{org}/projects/{project}/releases/", get(releases::list))
        .route(
            "/orgs/{org}/projects/{project}/releases/{version}/",
            get(releases::detail),
        )
        .route(
            "/orgs/{org}/projects/{project}/monitors/",
            get(monitors::list).post(monitors::create),
        )
        .route(
            "/orgs/{org}/projects/{project}/monitors/incidents/",
            get(incidents::list),
        )
        .route(
            "/orgs/{org}/projects/{project}/monitors/maintenance/",
            get(maintenance::list).post(maintenance::create),
        )
        .route(
            "/orgs/{org}/projects/{project}/monitors/maintenance/{window}/delete",
            post(maintenance::delete),
        )
        .route("/orgs/{org}/projects/{project}/tenants/", get(tenants::list))
        .route(
            "/orgs/{org}/projects/{project}/tenants/{tenant}/",
            get(tenants::detail),
        )
        .route(
            "/orgs/{org}/projects/{project}/performance/",
            get(performance::list),
        )
        .route(
            "/orgs/{org}/projects/{project}/performance/transaction",
            get(performance::transaction),
        )
        .route(
            "/orgs/{org}/projects/{project}/performance/events/{event}/",
            get(performance::event),
        )
        .route("/orgs/{org}/monitors/{monitor}/", get(monitors::detail))
        .route("/orgs/{org}/monitors/{monitor}/action", post(monitors::action))
        .route("/orgs/{org}/issues/{issue}/", get(issue::page))
        .route("/orgs/{org}/issues/{issue}/status", post(issue::set_status))
        .route("/orgs/{org}/issues/{issue}/assign", post(issue::assign))
        .route("/orgs/{org}/issues/{issue}/comments", post(issue::comment))
        .route("/orgs/{org}/issues/{issue}/delete", post(issue::delete))
        .route("/orgs/{org}/issues/{issue}/counts", get(issue::counts))
        .route(
            "/orgs/{org}/issues/{issue}/events/{event}/",
            get(issue::event_page),
        )
        .route(
            "/orgs/{org}/issues/{issue}/events/{event}/json",
            get(issue::event_json),
        )
        .route(
            "/orgs/{org}/issues/{issue}/events/{event}/attachments/{id}",
            get(issue::attachment),
        )
        .merge(alerts::routes())
        .route("/status/{org}/{project}/", get(status::page))
        .route("/static/{*path}", get(assets::serve))
        .layer(axum::middleware::from_fn(csrf_guard))
}

/// `/`: first-run setup, sign-in, or the first organization of the user.
async fn home(State(app): State<AppState>, user: MaybeSignedIn) -> Result<Response, WebError> {
    let prefix = &app.settings.path_prefix;
    if app.store.count_users().await? == 0 {
        return Ok(Redirect::to(&format!("{prefix}/setup")).into_response());
    }
    let Some(user) = user.0 else {
        return Ok(Redirect::to(&format!("{prefix}/login")).into_response());
    };
    let orgs = layout::organizations(&app, &user.principal).await?;
    Ok(match orgs.first() {
        Some(org) => Redirect::to(&format!("{prefix}/orgs/{}/", org.slug)).into_response(),
        None => Redirect::to(&format!("{prefix}/account")).into_response(),
    })
}

/// Errors of dashboard handlers, shown as a small error page (or, for htmx, as the fragment).
#[derive(Debug)]
pub enum WebError {
    Api(ApiError),
    Render(askama::Error),
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        WebError::Api(e)
    }
}

impl From<sentinel_store::StoreError> for WebError {
    fn from(e: sentinel_store::StoreError) -> Self {
        WebError::Api(e.into())
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Render(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            WebError::Api(e) => {
                let status = e.status();
                let message = match &e {
                    ApiError::Internal(detail) => {
                        tracing::error!(error = %detail, "dashboard request failed");
                        "Something went wrong on our side; the details are in the server log.".to_owned()
                    }
                    other => other.to_string(),
                };
                (status, message)
            }
            WebError::Render(e) => {
                tracing::error!(error = %e, "rendering a page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side; the details are in the server log.".to_owned(),
                )
            }
        };
        let page = layout::ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or(""),
            message,
        };
        match askama::Template::render(&page) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, page.message).into_response(),
        }
    }
}

/// Renders a template into a response.
pub fn render(t: &impl askama::Template) -> Result<Response, WebError> {
    Ok(Html(t.render()?).into_response())
}

/// Whether the request came from htmx (and wants a fragment).
pub fn is_htmx(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// After a form post: back to `to`. htmx requests get `HX-Redirect` (a full navigation) instead
/// of a 303 that htmx would follow and swap in.
pub fn see_other(headers: &axum::http::HeaderMap, to: &str) -> Response {
    if is_htmx(headers) {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert("hx-redirect", v);
        }
        r
    } else {
        Redirect::to(to).into_response()
    }
}

/// Largest form body the CSRF check reads (comments are the biggest forms).
const MAX_FORM_BYTES: usize = 256 * 1024;

/// Refuses state-changing requests that don't carry the CSRF token of the caller's session (or,
/// before sign-in, of its CSRF cookie) in the `X-CSRF-Token` header or a `csrf` form field, and
/// cross-origin ones.
async fn csrf_guard(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let forbidden = |msg: &str| (StatusCode::FORBIDDEN, msg.to_owned()).into_response();
    if let (Some(origin), Some(host)) = (
        req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        req.headers().get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
        if origin_host != host {
            return forbidden("cross-origin form submissions are refused");
        }
    }
    let expected = match auth::cookie(req.headers(), SESSION_COOKIE) {
        Some(secret) => auth::csrf_for(&secret),
        None => match auth::cookie(req.headers(), CSRF_COOKIE) {
            Some(v) => v,
            None => return forbidden("the form has expired: reload the page and try again"),
        },
    };
    if let Some(given) = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        if auth::same_secret(given, &expected) {
            return next.run(req).await;
        }
        return forbidden("invalid CSRF token: reload the page and try again");
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response(),
    };
    let given = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v));
    match given {
        Some(given) if auth::same_secret(&given, &expected) => {
            next.run(Request::from_parts(parts, Body::from(bytes))).await
        }
        _ => forbidden("invalid CSRF token: reload the page and try again"),
    }
}
