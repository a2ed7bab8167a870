//! First-run setup, sign-in and sign-out, the account page (password, personal API tokens) and
//! password reset links.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sentinel_store::{ApiToken, NewApiToken, NewUser, SessionKind};
use serde::Deserialize;

use super::layout::{self, Layout};
use super::session::safe_next;
use super::{MaybeSignedIn, SignedIn, WebError, render};
use crate::AppState;
use crate::api::{ApiError, input};
use crate::auth::{self, CSRF_COOKIE, ClientIp, SESSION_COOKIE, login, password};
use crate::clock::rfc3339;

/// The CSRF token of a page shown before sign-in, and the cookie to set if it is new.
pub fn pre_session_csrf(app: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    match auth::cookie(headers, SESSION_COOKIE) {
        Some(secret) => (auth::csrf_for(&secret), None),
        None => match auth::cookie(headers, CSRF_COOKIE) {
            Some(v) => (v, None),
            None => {
                let v = hex::encode(rand::random::<[u8; 20]>());
                let cookie = auth::set_cookie(app, CSRF_COOKIE, &v, 86_400);
                (v, Some(cookie))
            }
        },
    }
}

pub(super) fn with_cookies(mut resp: Response, cookies: impl IntoIterator<Item = String>) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    prefix: String,
    title: &'static str,
    csrf: String,
    error: Option<String>,
    notice: Option<String>,
    name: String,
    email: String,
}

pub async fn setup_form(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    if app.store.count_users().await? > 0 {
        return Ok(Redirect::to(&format!("{}/login", app.settings.path_prefix)).into_response());
    }
    let (csrf, cookie) = pre_session_csrf(&app, &headers);
    let page = SetupPage {
        prefix: app.settings.path_prefix.clone(),
        title: "Set up Sentinel",
        csrf,
        error: None,
        notice: None,
        name: String::new(),
        email: String::new(),
    };
    Ok(with_cookies(render(&page)?, cookie))
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Signs the user in: a new web session and its cookie, then on to `to`.
pub(super) async fn sign_in(app: &AppState, user_id: i64, to: &str) -> Result<Response, WebError> {
    let days = i64::from(app.settings.auth.session_days);
    let secret = login::start_session(app, user_id, SessionKind::Web, "", days * 86_400_000).await?;
    let cookie = auth::set_cookie(app, SESSION_COOKIE, &secret, days as u64 * 86_400);
    Ok(with_cookies(Redirect::to(to).into_response(), [cookie]))
}

pub async fn setup(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Result<Response, WebError> {
    let prefix = app.settings.path_prefix.clone();
    let checked = (|| {
        let name = input::name("your name", &form.name)?;
        let email = input::email(&form.email)?;
        password::validate(&form.password).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Ok::<_, ApiError>((name, email))
    })();
    let (name, email) = match checked {
        Ok(v) => v,
        Err(e) => {
            let (csrf, cookie) = pre_session_csrf(&app, &headers);
            let page = SetupPage {
                prefix,
                title: "Set up Sentinel",
                csrf,
                error: Some(e.to_string()),
                notice: None,
                name: form.name,
                email: form.email,
            };
            let mut resp = render(&page)?;
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(with_cookies(resp, cookie));
        }
    };
    let hash = password::hash(form.password)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let new = NewUser {
        email,
        name,
        password_hash: hash,
        is_admin: true,
    };
    let user = match app.store.create_first_admin(&new, app.clock.now_ms()).await {
        Ok(u) => u,
        // Someone finished the set-up first: this account was not created.
        Err(sentinel_store::StoreError::Conflict(_)) => {
            return Ok(Redirect::to(&format!("{prefix}/login")).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user.id = user.id, "first administrator created");
    sign_in(&app, user.id, &format!("{prefix}/orgs/default/")).await
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    prefix: String,
    title: &'static str,
    csrf: String,
    error: Option<String>,
    notice: Option<String>,
    email: String,
    next: String,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    notice: Option<String>,
}

pub async fn login_form(
    State(app): State<AppState>,
    headers: HeaderMap,
    user: MaybeSignedIn,
    Query(q): Query<LoginQuery>,
) -> Result<Response, WebError> {
    let prefix = app.settings.path_prefix.clone();
    if app.store.count_users().await? == 0 {
        return Ok(Redirect::to(&format!("{prefix}/setup")).into_response());
    }
    if user.0.is_some() {
        let next = safe_next(q.next.as_deref()).unwrap_or_else(|| "/".into());
        return Ok(Redirect::to(&format!("{prefix}{next}")).into_response());
    }
    let (csrf, cookie) = pre_session_csrf(&app, &headers);
    let notice = match q.notice.as_deref() {
        Some("password") => Some("Your password was changed. Sign in with the new one.".to_owned()),
        Some("signed-out") => Some("You are signed out.".to_owned()),
        _ => None,
    };
    let page = LoginPage {
        prefix,
        title: "Sign in",
        csrf,
        error: None,
        notice,
        email: String::new(),
        next: safe_next(q.next.as_deref()).unwrap_or_default(),
    };
    Ok(with_cookies(render(&page)?, cookie))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(app): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let prefix = app.settings.path_prefix.clone();
    match login::attempt(&app, ip, &form.email, &form.password).await {
        Ok(user) => {
            let next = safe_next(Some(&form.next)).unwrap_or_else(|| "/".into());
            tracing::info!(user.id = user.id, "signed in");
            sign_in(&app, user.id, &format!("{prefix}{next}")).await
        }
        Err(e @ (ApiError::Unauthorized(_) | ApiError::TooManyRequests { .. })) => {
            let status = e.status();
            let (csrf, cookie) = pre_session_csrf(&app, &headers);
            let page = LoginPage {
                prefix,
                title: "Sign in",
                csrf,
                error: Some(e.to_string()),
                notice: None,
                email: form.email,
                next: safe_next(Some(&form.next)).unwrap_or_default(),
            };
            let mut resp = render(&page)?;
            *resp.status_mut() = status;
            Ok(with_cookies(resp, cookie))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(State(app): State<AppState>, user: MaybeSignedIn) -> Result<Response, WebError> {
    if let Some(s) = user.0 {
        app.store.delete_session(&s.session_hash).await?;
    }
    let cookie = auth::set_cookie(&app, SESSION_COOKIE, "", 0);
    let to = format!("{}/login?notice=signed-out", app.settings.path_prefix);
    Ok(with_cookies(Redirect::to(&to).into_response(), [cookie]))
}

pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub scope: &'static str,
    pub created: String,
}

impl From<ApiToken> for TokenRow {
    fn from(t: ApiToken) -> Self {
        TokenRow {
            id: t.id,
            name: t.name,
            scope: t.scope.as_str(),
            created: rfc3339(t.created_ms),
        }
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    email: String,
    is_admin: bool,
    tokens: Vec<TokenRow>,
    error: Option<String>,
    notice: Option<String>,
    /// A token just created, shown this once.
    new_token: Option<String>,
}

async fn account_page(
    app: &AppState,
    s: &SignedIn,
    error: Option<String>,
    notice: Option<String>,
    new_token: Option<String>,
) -> Result<Response, WebError> {
    let tokens = app.store.list_api_tokens(s.user.id).await?;
    let page = AccountPage {
        layout: layout::plain(app, s, "Account", "account").await?,
        email: s.user.email.clone(),
        is_admin: s.user.is_admin,
        tokens: tokens.into_iter().map(TokenRow::from).collect(),
        error: error.clone(),
        notice,
        new_token,
    };
    let mut resp = render(&page)?;
    if error.is_some() {
        *resp.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(resp)
}

pub async fn page(State(app): State<AppState>, s: SignedIn) -> Result<Response, WebError> {
    account_page(&app, &s, None, None, None).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
}

pub async fn change_password(
    State(app): State<AppState>,
    s: SignedIn,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    if !password::verify(form.current, s.user.password_hash.clone()).await {
        return account_page(&app, &s, Some("the current password is wrong".into()), None, None).await;
    }
    let hash = match password::hash(form.new).await {
        Ok(h) => h,
        Err(password::PasswordError::Hash(e)) => return Err(ApiError::Internal(e).into()),
        Err(e) => return account_page(&app, &s, Some(e.to_string()), None, None).await,
    };
    // Every other session (other browsers, API access tokens) ends; this one stays.
    app.store
        .set_password(s.user.id, &hash, Some(&s.session_hash))
        .await?;
    account_page(
        &app,
        &s,
        None,
        Some("Password changed; your other sessions were signed out.".into()),
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
}

pub async fn create_token(
    State(app): State<AppState>,
    s: SignedIn,
    Form(form): Form<TokenForm>,
) -> Result<Response, WebError> {
    let checked = input::name("the token name", &form.name)
        .and_then(|name| input::scope(&form.scope).map(|scope| (name, scope)));
    let (name, scope) = match checked {
        Ok(v) => v,
        Err(e) => return account_page(&app, &s, Some(e.to_string()), None, None).await,
    };
    let secret = crate::api::new_token();
    app.store
        .create_api_token(
            &NewApiToken {
                name,
                token_sha256: auth::token_hash(&secret),
                user_id: Some(s.user.id),
                scope,
            },
            app.clock.now_ms(),
        )
        .await?;
    account_page(
        &app,
        &s,
        None,
        Some("Token created. Copy it now: it is not shown again.".into()),
        Some(secret),
    )
    .await
}

pub async fn delete_token(
    State(app): State<AppState>,
    s: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let id = auth::access::path_id("token", &id)?;
    app.store.delete_api_token(s.user.id, id).await?;
    Ok(super::see_other(
        &headers,
        &format!("{}/account", app.settings.path_prefix),
    ))
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    prefix: String,
    title: &'static str,
    csrf: String,
    error: Option<String>,
    notice: Option<String>,
    email: String,
    enabled: bool,
}

fn forgot_page(
    app: &AppState,
    headers: &HeaderMap,
    email: String,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let (csrf, cookie) = pre_session_csrf(app, headers);
    let page = ForgotPage {
        prefix: app.settings.path_prefix.clone(),
        title: "Reset your password",
        csrf,
        error,
        notice,
        email,
        enabled: auth::mail::enabled(app),
    };
    Ok(with_cookies(render(&page)?, cookie))
}

pub async fn forgot_form(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    forgot_page(&app, &headers, String::new(), None, None)
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

/// Emails a reset link when the account exists; the page says the same either way.
pub async fn forgot(
    State(app): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<ForgotForm>,
) -> Result<Response, WebError> {
    let now = app.clock.now_ms();
    match crate::api::sessions::request_reset_email(&app, ip, &form.email, now) {
        Ok(()) => forgot_page(
            &app,
            &headers,
            String::new(),
            None,
            Some(crate::api::sessions::FORGOT_ANSWER.into()),
        ),
        Err(e @ (ApiError::BadRequest(_) | ApiError::TooManyRequests { .. } | ApiError::Unavailable(_))) => {
            let status = e.status();
            let mut resp = forgot_page(&app, &headers, form.email, Some(e.to_string()), None)?;
            *resp.status_mut() = status;
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    prefix: String,
    title: &'static str,
    csrf: String,
    error: Option<String>,
    notice: Option<String>,
    token: String,
    valid: bool,
}

pub async fn reset_form(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let found = app
        .store
        .find_session(&auth::token_hash(&token), SessionKind::Reset, app.clock.now_ms())
        .await?;
    let (csrf, cookie) = pre_session_csrf(&app, &headers);
    let page = ResetPage {
        prefix: app.settings.path_prefix.clone(),
        title: "Choose a new password",
        csrf,
        error: found.is_none().then(|| {
            "This reset link is invalid, used or expired. Ask an administrator for a new one.".into()
        }),
        notice: found.map(|s| format!("Resetting the password of {}.", s.user.email)),
        token,
        valid: true,
    };
    let valid = page.error.is_none();
    let page = ResetPage { valid, ..page };
    let mut resp = render(&page)?;
    if !valid {
        *resp.status_mut() = StatusCode::NOT_FOUND;
    }
    Ok(with_cookies(resp, cookie))
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    password: String,
}

pub async fn reset(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<ResetForm>,
) -> Result<Response, WebError> {
    let prefix = app.settings.path_prefix.clone();
    if let Err(e) = password::validate(&form.password) {
        let (csrf, cookie) = pre_session_csrf(&app, &headers);
        let page = ResetPage {
            prefix,
            title: "Choose a new password",
            csrf,
            error: Some(e.to_string()),
            notice: None,
            token,
            valid: true,
        };
        let mut resp = render(&page)?;
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(with_cookies(resp, cookie));
    }
    let Some(session) = app
        .store
        .take_session(&auth::token_hash(&token), SessionKind::Reset, app.clock.now_ms())
        .await?
    else {
        return Err(ApiError::NotFound("this reset link is invalid, used or expired".into()).into());
    };
    let hash = password::hash(form.password)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    app.store.set_password(session.user.id, &hash, None).await?;
    tracing::info!(user.id = session.user.id, "password reset");
    Ok(Redirect::to(&format!("{prefix}/login?notice=password")).into_response())
}
