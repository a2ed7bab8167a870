//! Signing in with email and password, shared by the dashboard and `/api/auth/login`: rate limited
//! per client address and per account against brute force, and as slow for unknown emails as for
//! known ones.

use std::net::IpAddr;

use sentinel_store::{SessionKind, User};

use super::{new_secret, password, token_hash};
use crate::AppState;
use crate::api::ApiError;

/// Checks the credentials. Failures count against the address and the email; once either has
/// used up `auth.login_attempts` in the window, attempts are refused (429) without checking the
/// password. Success clears the account's failures.
pub async fn attempt(app: &AppState, ip: IpAddr, email: &str, password: &str) -> Result<User, ApiError> {
    let auth = &app.settings.auth;
    let now = app.clock.now_ms();
    let email_key = email.trim().to_lowercase();
    let limits = &app.auth_limits;
    let refused = |secs: u64| ApiError::TooManyRequests {
        message: format!(
            "too many failed sign-ins; try again in {} minute(s)",
            secs.div_ceil(60)
        ),
        retry_after_secs: secs,
    };
    limits
        .login_by_ip
        .check(&ip, auth.login_attempts, now)
        .and_then(|()| limits.login_by_email.check(&email_key, auth.login_attempts, now))
        .map_err(|r| refused(r.secs))?;

    let user = app.store.find_user_by_email(&email_key).await?;
    let ok = match &user {
        Some(u) => password::verify(password.to_owned(), u.password_hash.clone()).await,
        None => {
            // Same work as a real check, so response times don't reveal which emails exist.
            let _ = password::verify(password.to_owned(), password::dummy_hash().await).await;
            false
        }
    };
    match user {
        Some(u) if ok => {
            limits.login_by_email.clear(&email_key);
            Ok(u)
        }
        _ => {
            // Counting can itself hit the limit; the answer stays "wrong credentials" this time.
            let _ = limits.login_by_ip.hit(&ip, auth.login_attempts, now);
            let _ = limits.login_by_email.hit(&email_key, auth.login_attempts, now);
            tracing::info!(ip = %ip, "failed sign-in");
            Err(ApiError::Unauthorized("invalid email or password".into()))
        }
    }
}

/// Creates a session of `kind` for the user and returns its secret (shown to the client once).
pub async fn start_session(
    app: &AppState,
    user_id: i64,
    kind: SessionKind,
    prefix: &str,
    lifetime_ms: i64,
) -> Result<String, ApiError> {
    let secret = new_secret(prefix);
    let now = app.clock.now_ms();
    app.store
        .create_session(&token_hash(&secret), kind, user_id, now, now + lifetime_ms)
        .await?;
    Ok(secret)
}
