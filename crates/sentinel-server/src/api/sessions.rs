//! `/api/auth/…`: signing in for API clients with short-lived access tokens and rotating refresh
//! tokens, signing out, who am I, and redeeming a password reset link.
//!
//! There is no sign-up endpoint: accounts come from first-run setup, invitations and
//! `sentinel user create`. Sign-in, refresh and reset requests carry no credentials yet, so each
//! one counts against the per-address limit for anonymous API requests before anything else
//! happens.

use std::net::IpAddr;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use sentinel_store::{SessionKind, Store, StoreError, TokenScope, User};
use serde::{Deserialize, Serialize};

use super::input::{self, JsonBody, OptionalJsonBody};
use super::organizations::{self, OrganizationJson};
use super::{ApiError, Caller};
use crate::AppState;
use crate::auth::login::{attempt, start_session};
use crate::auth::{self, password};
use crate::config::Settings;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/auth/reset-password", post(reset_password))
        .route("/api/auth/forgot-password", post(forgot_password))
}

/// The client address, as the rate limits see it.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(auth::client_ip(parts, &app.settings.auth)))
    }
}

#[derive(Debug, Serialize)]
pub struct UserJson {
    pub id: String,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
}

impl From<&User> for UserJson {
    fn from(u: &User) -> Self {
        UserJson {
            id: u.id.to_string(),
            email: u.email.clone(),
            name: u.name.clone(),
            is_admin: u.is_admin,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

/// A fresh access/refresh token pair. Secrets appear here once and are stored only hashed.
#[derive(Serialize)]
pub struct TokenPair {
    /// Access token (`sna_…`) for `Authorization: Bearer`.
    token: String,
    token_type: &'static str,
    /// Seconds until `token` expires.
    expires_in: u64,
    /// Single-use refresh token (`snr_…`) for `/api/auth/refresh`.
    refresh_token: String,
    refresh_expires_in: u64,
    user: UserJson,
}

async fn issue_pair(app: &AppState, user: &User) -> Result<TokenPair, ApiError> {
    let a = &app.settings.auth;
    let access_ms = i64::from(a.access_token_minutes) * 60_000;
    let refresh_ms = i64::from(a.refresh_token_days) * 86_400_000;
    let token = start_session(
        app,
        user.id,
        SessionKind::Access,
        auth::ACCESS_TOKEN_PREFIX,
        access_ms,
    )
    .await?;
    let refresh_token = start_session(
        app,
        user.id,
        SessionKind::Refresh,
        auth::REFRESH_TOKEN_PREFIX,
        refresh_ms,
    )
    .await?;
    Ok(TokenPair {
        token,
        token_type: "Bearer",
        expires_in: (access_ms / 1000) as u64,
        refresh_token,
        refresh_expires_in: (refresh_ms / 1000) as u64,
        user: user.into(),
    })
}

/// `POST /api/auth/login {email, password}`: rate limited per address and per account; the
/// 11th failure in the window (by default) answers 429 with `Retry-After`.
async fn login(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Json<TokenPair>, ApiError> {
    auth::anonymous_hit(&app, ip, app.clock.now_ms())?;
    if body.email.len() > input::MAX_EMAIL_BYTES || body.password.len() > password::MAX_LEN {
        return Err(ApiError::BadRequest(
            "email or password is longer than any account's could be".into(),
        ));
    }
    let user = attempt(&app, ip, &body.email, &body.password).await?;
    tracing::info!(user.id = user.id, "API sign-in");
    Ok(Json(issue_pair(&app, &user).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /api/auth/refresh {refresh_token}`: spends the refresh token and answers a new pair. A
/// refresh token works once; presenting it again answers 401.
async fn refresh(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Json<TokenPair>, ApiError> {
    let now = app.clock.now_ms();
    auth::anonymous_hit(&app, ip, now)?;
    let taken = app
        .store
        .take_session(&auth::token_hash(&body.refresh_token), SessionKind::Refresh, now)
        .await?;
    let Some(session) = taken else {
        return Err(ApiError::Unauthorized(
            "invalid, expired or already used refresh token".into(),
        ));
    };
    Ok(Json(issue_pair(&app, &session.user).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogoutBody {
    refresh_token: Option<String>,
}

/// `POST /api/auth/logout` with the access token as bearer, optionally `{refresh_token}`: ends
/// both. Personal API tokens are deleted through `/api/0/user/tokens/{id}/` instead.
async fn logout(
    State(app): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody<LogoutBody>,
) -> Result<StatusCode, ApiError> {
    let token = auth::bearer(&headers)?;
    if !token.starts_with(auth::ACCESS_TOKEN_PREFIX) {
        return Err(ApiError::BadRequest(
            "logout ends access tokens from /api/auth/login; delete a personal API token with \
             DELETE /api/0/user/tokens/{id}/"
                .into(),
        ));
    }
    app.store.delete_session(&auth::token_hash(token)).await?;
    if let Some(refresh) = body.and_then(|b| b.refresh_token) {
        let hash = auth::token_hash(&refresh);
        let found = app
            .store
            .find_session(&hash, SessionKind::Refresh, app.clock.now_ms())
            .await?;
        // Only the caller's own refresh token: anything else is left alone, without saying so.
        if found.is_some_and(|s| Some(s.user.id) == who.user_id()) {
            app.store.delete_session(&hash).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct MeJson {
    /// `null` for an instance token (made by `sentinel token create` without `--user`).
    user: Option<UserJson>,
    /// What the credential allows: `admin` for access tokens, a personal token's own scope.
    scope: TokenScope,
    organizations: Vec<OrganizationJson>,
}

/// `GET /api/auth/me`: the caller and its organizations with its role in each.
async fn me(State(app): State<AppState>, Caller(who): Caller) -> Result<Json<MeJson>, ApiError> {
    let orgs = organizations::visible(&app, &who).await?;
    Ok(Json(MeJson {
        user: who.user.as_ref().map(UserJson::from),
        scope: who.scope,
        organizations: orgs
            .into_iter()
            .map(|(o, role)| OrganizationJson::new(o, role))
            .collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    token: String,
    password: String,
}

/// `POST /api/auth/reset-password {token, password}`: redeems a single-use reset link; every
/// session of the account (dashboard, access and refresh tokens) ends.
async fn reset_password(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<ResetBody>,
) -> Result<StatusCode, ApiError> {
    let now = app.clock.now_ms();
    auth::anonymous_hit(&app, ip, now)?;
    // Checked before the link is spent, so a too-short password does not burn it.
    password::validate(&body.password).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let taken = app
        .store
        .take_session(&auth::token_hash(&body.token), SessionKind::Reset, now)
        .await?;
    let Some(session) = taken else {
        return Err(ApiError::BadRequest(
            "this password reset link is invalid, expired or already used".into(),
        ));
    };
    let hash = password::hash(body.password)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    app.store.set_password(session.user.id, &hash, None).await?;
    tracing::info!(user.id = session.user.id, "password reset by link");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgotBody {
    email: String,
}

/// What a forgot-password request answers, whether or not the account exists.
pub const FORGOT_ANSWER: &str = "If an account exists for that email, a reset link is on its way.";

/// Counts a forgot-password request against the client address's and the email's reset limits
/// (`auth::RESETS_PER_IP_PER_HOUR`, `auth::RESETS_PER_EMAIL_PER_HOUR`; apart from sign-in
/// failures), then emails the link in the background. The answer is the same for known and
/// unknown emails, and comes before the email is sent.
pub fn request_reset_email(app: &AppState, ip: IpAddr, email: &str, now: i64) -> Result<(), ApiError> {
    if !auth::mail::enabled(app) {
        return Err(ApiError::Unavailable(
            "this server cannot send email (no [smtp] host is configured): ask an administrator \
             to run `sentinel user reset-password EMAIL`"
                .into(),
        ));
    }
    let email = input::email(email)?;
    let limited = |r: auth::limits::RetryAfter| ApiError::TooManyRequests {
        message: "too many password reset requests; try again later".into(),
        retry_after_secs: r.secs,
    };
    app.auth_limits
        .reset_by_ip
        .hit(&ip, auth::RESETS_PER_IP_PER_HOUR, now)
        .map_err(limited)?;
    app.auth_limits
        .reset_by_email
        .hit(&email, auth::RESETS_PER_EMAIL_PER_HOUR, now)
        .map_err(limited)?;
    crate::spawn_named("reset-email", auth::mail::forgot_password(app.clone(), email));
    Ok(())
}

/// `POST /api/auth/forgot-password {email}`: emails a reset link if the account exists; 202
/// either way.
async fn forgot_password(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<ForgotBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let now = app.clock.now_ms();
    auth::anonymous_hit(&app, ip, now)?;
    request_reset_email(&app, ip, &body.email, now)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "detail": FORGOT_ANSWER })),
    ))
}

/// Creates a single-use password reset link for the user, valid `auth.reset_token_minutes`:
/// `<public url>/reset/<token>`. The dashboard page there (or `POST /api/auth/reset-password`)
/// redeems it.
pub async fn reset_link(
    store: &dyn Store,
    settings: &Settings,
    user_id: i64,
    now_ms: i64,
) -> Result<String, StoreError> {
    let token = auth::new_secret(auth::RESET_TOKEN_PREFIX);
    let lifetime = i64::from(settings.auth.reset_token_minutes) * 60_000;
    store
        .create_session(
            &auth::token_hash(&token),
            SessionKind::Reset,
            user_id,
            now_ms,
            now_ms + lifetime,
        )
        .await?;
    Ok(format!("{}/reset/{token}", settings.public_base_url()))
}
