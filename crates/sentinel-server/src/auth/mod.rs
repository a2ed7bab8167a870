//! Who is calling, and what they may touch.
//!
//! Credentials: the dashboard's session cookie (`web`), bearer tokens on the API — personal API
//! tokens (`sntl_…`, scoped read/write/admin) and short-lived access tokens from `/api/auth/login`
//! (`sna_…`, rotating refresh tokens `snr_…`). Every secret is random, shown once, and stored only
//! as its SHA-256. Access to a resource is decided by the caller's role in the organization that
//! owns it; a resource of an organization the caller does not belong to answers 404, as if it did
//! not exist.

pub mod access;
pub mod limits;
pub mod login;
pub mod mail;
pub mod password;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use sentinel_store::{ApiToken, OrgRole, SessionKind, StoreError, TokenScope, User};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::api::ApiError;
use crate::config::AuthSettings;
use limits::WindowCounter;

pub const SESSION_COOKIE: &str = "sentinel_session";
/// Carries the CSRF secret of pages shown before sign-in (setup, sign-in, invitations).
pub const CSRF_COOKIE: &str = "sentinel_csrf";

/// SHA-256 hex of a secret token: what the database stores instead of it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh secret: `prefix` and 64 hex digits (256 bits) of randomness.
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(rand::random::<[u8; 32]>()))
}

pub const API_TOKEN_PREFIX: &str = "sntl_";
pub const ACCESS_TOKEN_PREFIX: &str = "sna_";
pub const REFRESH_TOKEN_PREFIX: &str = "snr_";
/// Single-use password reset links (`sentinel user reset-password`).
pub const RESET_TOKEN_PREFIX: &str = "snp_";
/// Invitation links.
pub const INVITE_TOKEN_PREFIX: &str = "sni_";

/// The CSRF token that forms of a signed-in session must carry: derived from the session secret,
/// so it needs no storage and an attacker who cannot read the cookie cannot compute it.
pub fn csrf_for(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"sentinel-csrf\0");
    h.update(secret.as_bytes());
    hex::encode(&h.finalize()[..20])
}

/// Compares secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, `Secure` when served over https, scoped to the
/// path prefix. `max_age_secs` 0 deletes the cookie.
pub fn set_cookie(app: &AppState, name: &str, value: &str, max_age_secs: u64) -> String {
    let path = if app.settings.path_prefix.is_empty() {
        "/"
    } else {
        app.settings.path_prefix.as_str()
    };
    let secure = if app.settings.is_https() { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}")
}

/// The client's address: the socket peer, or the first `X-Forwarded-For` entry when configured to
/// trust a reverse proxy. Requests without either (in-process tests) count as 0.0.0.0.
pub fn client_ip(parts: &Parts, settings: &AuthSettings) -> IpAddr {
    if settings.trust_forwarded_for
        && let Some(ip) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// The client address as [`client_ip`] determines it.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, &app.settings.auth)))
    }
}

/// Password-reset emails one client address may ask for per hour.
pub const RESETS_PER_IP_PER_HOUR: u32 = 10;
/// Password-reset emails sent to one address per hour, whoever asks.
pub const RESETS_PER_EMAIL_PER_HOUR: u32 = 3;

/// Sign-in and API rate-limit counters of this process.
pub struct Limits {
    pub login_by_ip: WindowCounter<IpAddr>,
    pub login_by_email: WindowCounter<String>,
    /// Password-reset emails asked for, per client address and per email, in hours; counted
    /// apart from sign-in failures, so asking for resets never locks an account out of signing in.
    pub reset_by_ip: WindowCounter<IpAddr>,
    pub reset_by_email: WindowCounter<String>,
    pub api_by_ip: WindowCounter<IpAddr>,
    pub api_by_principal: WindowCounter<String>,
}

impl Limits {
    pub fn new(settings: &AuthSettings) -> Self {
        let login_window = i64::from(settings.login_window_minutes) * 60_000;
        Self {
            login_by_ip: WindowCounter::new(login_window),
            login_by_email: WindowCounter::new(login_window),
            reset_by_ip: WindowCounter::new(3_600_000),
            reset_by_email: WindowCounter::new(3_600_000),
            api_by_ip: WindowCounter::new(60_000),
            api_by_principal: WindowCounter::new(60_000),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `None` for an instance token made before any account existed: it acts as an instance admin.
    pub user: Option<User>,
    /// What the credential allows: sessions and access tokens carry `Admin` (all the user may do).
    pub scope: TokenScope,
}

impl Principal {
    pub fn user(user: User) -> Self {
        Principal {
            user: Some(user),
            scope: TokenScope::Admin,
        }
    }

    pub fn user_id(&self) -> Option<i64> {
        self.user.as_ref().map(|u| u.id)
    }

    /// Instance admins see and manage every organization.
    pub fn is_instance_admin(&self) -> bool {
        self.user.as_ref().is_none_or(|u| u.is_admin)
    }

    /// The caller's role in the organization; instance admins are owners everywhere.
    pub async fn role_in(&self, app: &AppState, org_id: i64) -> Result<Option<OrgRole>, StoreError> {
        match &self.user {
            _ if self.is_instance_admin() => Ok(Some(OrgRole::Owner)),
            Some(u) => app.store.member_role(org_id, u.id).await,
            None => Ok(None),
        }
    }

    /// 403 unless the credential's scope allows `needed`.
    pub fn require_scope(&self, needed: TokenScope) -> Result<(), ApiError> {
        if self.scope >= needed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this token has scope {}; this request needs {}",
                self.scope.as_str(),
                needed.as_str()
            )))
        }
    }

    fn rate_key(&self, token: &ApiToken) -> String {
        match self.user_id() {
            Some(id) => format!("user:{id}"),
            None => format!("token:{}", token.id),
        }
    }
}

/// An API caller authenticated by `Authorization: Bearer <token>` (a personal API token or an
/// access token), within its per-user rate limit. The scope needed by the request's method is
/// checked here: `read` for GET/HEAD, `write` for everything else; handlers that manage
/// organizations, projects, keys or members ask for `admin` themselves.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let now = app.clock.now_ms();
        let auth = &app.settings.auth;
        let ip = client_ip(parts, auth);
        let token = match bearer(&parts.headers) {
            Ok(t) => t,
            Err(e) => {
                anonymous_hit(app, ip, now)?;
                return Err(e);
            }
        };
        let found = resolve_bearer(app, token, now).await?;
        let Some((principal, rate_key)) = found else {
            anonymous_hit(app, ip, now)?;
            return Err(ApiError::Unauthorized("invalid or expired token".into()));
        };
        app.auth_limits
            .api_by_principal
            .hit(&rate_key, auth.api_per_user_per_minute, now)
            .map_err(|r| ApiError::TooManyRequests {
                message: format!(
                    "rate limit of {} API requests per minute exceeded",
                    auth.api_per_user_per_minute
                ),
                retry_after_secs: r.secs,
            })?;
        let needed = if parts.method == http::Method::GET || parts.method == http::Method::HEAD {
            TokenScope::Read
        } else {
            TokenScope::Write
        };
        principal.require_scope(needed)?;
        Ok(Caller(principal))
    }
}

/// Counts a request without valid credentials against the client address's limit.
pub fn anonymous_hit(app: &AppState, ip: IpAddr, now: i64) -> Result<(), ApiError> {
    let per_ip = app.settings.auth.api_per_ip_per_minute;
    app.auth_limits
        .api_by_ip
        .hit(&ip, per_ip, now)
        .map_err(|r| ApiError::TooManyRequests {
            message: format!("rate limit of {per_ip} unauthenticated API requests per minute exceeded"),
            retry_after_secs: r.secs,
        })
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer <token> header".into()))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("Authorization header must be \"Bearer <token>\"".into()))
}

/// The principal behind a bearer token and the key its rate limit is counted under.
async fn resolve_bearer(
    app: &AppState,
    token: &str,
    now: i64,
) -> Result<Option<(Principal, String)>, ApiError> {
    let hash = token_hash(token);
    if token.starts_with(ACCESS_TOKEN_PREFIX) {
        let session = app.store.find_session(&hash, SessionKind::Access, now).await?;
        return Ok(session.map(|s| {
            let key = format!("user:{}", s.user.id);
            (Principal::user(s.user), key)
        }));
    }
    let Some(api_token) = app.store.find_api_token(&hash).await? else {
        return Ok(None);
    };
    let user = match api_token.user_id {
        Some(id) => match app.store.get_user(id).await? {
            Some(u) => Some(u),
            // The token's user is gone: the token is dead with it.
            None => return Ok(None),
        },
        None => None,
    };
    let principal = Principal {
        user,
        scope: api_token.scope,
    };
    let key = principal.rate_key(&api_token);
    Ok(Some((principal, key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_are_stable() {
        assert_eq!(csrf_for("a"), csrf_for("a"));
        assert_ne!(csrf_for("a"), csrf_for("b"));
        assert_eq!(csrf_for("a").len(), 40);
    }

    #[test]
    fn cookies_are_found_among_several_headers() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; sentinel_session=abc".parse().unwrap());
        h.append(header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b").as_deref(), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn secrets_compare_by_value() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
