//! The dashboard's sign-in session: a random secret in an HttpOnly cookie, stored hashed.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sentinel_store::{SessionKind, User};

use crate::AppState;
use crate::auth::{self, Principal, SESSION_COOKIE};
use crate::urls::form_urlencoded_component;

/// A signed-in dashboard user. Pages that need one redirect to the sign-in page without it.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub principal: Principal,
    /// The CSRF token its forms carry.
    pub csrf: String,
    /// SHA-256 of the session secret (to end this session on sign-out).
    pub session_hash: String,
}

async fn signed_in(parts: &Parts, app: &AppState) -> Result<Option<SignedIn>, sentinel_store::StoreError> {
    let Some(secret) = auth::cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = auth::token_hash(&secret);
    let session = app
        .store
        .find_session(&hash, SessionKind::Web, app.clock.now_ms())
        .await?;
    Ok(session.map(|s| SignedIn {
        principal: Principal::user(s.user.clone()),
        user: s.user,
        csrf: auth::csrf_for(&secret),
        session_hash: hash,
    }))
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        match signed_in(parts, app).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => {
                let prefix = &app.settings.path_prefix;
                let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let next = path.strip_prefix(prefix.as_str()).unwrap_or(path);
                let to = format!("{prefix}/login?next={}", form_urlencoded_component(next));
                if super::is_htmx(&parts.headers) {
                    let mut r = StatusCode::UNAUTHORIZED.into_response();
                    if let Ok(v) = HeaderValue::from_str(&to) {
                        r.headers_mut().insert("hx-redirect", v);
                    }
                    Err(r)
                } else {
                    Err(Redirect::to(&to).into_response())
                }
            }
            Err(e) => Err(super::WebError::from(e).into_response()),
        }
    }
}

/// The signed-in user, if any (pages shown to everyone).
pub struct MaybeSignedIn(pub Option<SignedIn>);

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        signed_in(parts, app)
            .await
            .map(MaybeSignedIn)
            .map_err(|e| super::WebError::from(e).into_response())
    }
}

/// A local path to continue to after sign-in: only paths on this site (no `//host`, no scheme).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/orgs/a/")).as_deref(), Some("/orgs/a/"));
        assert_eq!(safe_next(Some("//evil.example/")), None);
        assert_eq!(safe_next(Some("https://evil.example/")), None);
        assert_eq!(safe_next(Some("/\\evil.example")), None);
        assert_eq!(safe_next(None), None);
    }
}
