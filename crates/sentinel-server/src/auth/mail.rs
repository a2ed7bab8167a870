//! Account emails: password-reset links and invitations, sent through the SMTP mailer when
//! `[smtp]` is configured. Without it, links are shown to the administrator who made them (and
//! `sentinel user reset-password` prints one), as before.

use askama::Template;
use sentinel_store::{OrgRole, Organization};

use crate::AppState;

/// An email that leads to one link.
struct LinkEmail<'a> {
    subject: String,
    heading: String,
    intro: String,
    action: &'a str,
    link: &'a str,
    note: String,
}

#[derive(Template)]
#[template(path = "email/link.html")]
struct LinkHtml<'a> {
    heading: &'a str,
    intro: &'a str,
    action: &'a str,
    link: &'a str,
    note: &'a str,
}

#[derive(Template)]
#[template(path = "email/link.txt", escape = "none")]
struct LinkText<'a> {
    heading: &'a str,
    intro: &'a str,
    action: &'a str,
    link: &'a str,
    note: &'a str,
}

/// Whether this server can send email.
pub fn enabled(app: &AppState) -> bool {
    app.alerts.dispatcher.mailer.is_some()
}

/// Sends `email`; the error is a message for logs and pages.
async fn send(app: &AppState, to: &str, email: LinkEmail<'_>) -> Result<(), String> {
    let Some(mailer) = &app.alerts.dispatcher.mailer else {
        return Err("email is not configured on this server (no [smtp] host)".into());
    };
    let html = LinkHtml {
        heading: &email.heading,
        intro: &email.intro,
        action: email.action,
        link: email.link,
        note: &email.note,
    };
    let text = LinkText {
        heading: &email.heading,
        intro: &email.intro,
        action: email.action,
        link: email.link,
        note: &email.note,
    };
    let (html, text) = match (html.render(), text.render()) {
        (Ok(h), Ok(t)) => (h, t),
        (Err(e), _) | (_, Err(e)) => return Err(format!("rendering the email: {e}")),
    };
    // An invitation is sent while its request waits: bounded as one delivery is.
    let limit = std::time::Duration::from_secs(app.settings.alerts.delivery_timeout_secs.max(1));
    match tokio::time::timeout(limit, mailer.send(&[to.to_owned()], &email.subject, &text, &html)).await {
        Ok(sent) => sent.map(|_| ()).map_err(|e| e.message),
        Err(_) => Err(format!(
            "the SMTP server did not finish within {} s",
            limit.as_secs()
        )),
    }
}

/// Emails a password-reset link to the account with this email, if there is one; does nothing
/// otherwise, so callers answer the same either way and say nothing about which emails exist.
/// Failures are logged (without the link).
pub async fn forgot_password(app: AppState, email: String) {
    let now = app.clock.now_ms();
    let user = match app.store.find_user_by_email(&email).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            tracing::info!("password reset asked for an unknown email; nothing sent");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "password reset: could not look the account up");
            return;
        }
    };
    let link = match crate::api::sessions::reset_link(app.store.as_ref(), &app.settings, user.id, now).await {
        Ok(link) => link,
        Err(e) => {
            tracing::warn!(error = %e, user.id = user.id, "password reset: could not create the link");
            return;
        }
    };
    let minutes = app.settings.auth.reset_token_minutes;
    let sent = send(
        &app,
        &user.email,
        LinkEmail {
            subject: "[Sentinel] Reset your password".into(),
            heading: "Reset your Sentinel password".into(),
            intro: format!(
                "Someone (hopefully you) asked to reset the password of {} on {}.",
                user.email,
                app.settings.public_base_url()
            ),
            action: "Choose a new password",
            link: &link,
            note: format!(
                "The link works once and for {minutes} minutes. If you did not ask for it, ignore this \
                 email: your password stays as it is."
            ),
        },
    )
    .await;
    match sent {
        Ok(()) => tracing::info!(user.id = user.id, "password reset link emailed"),
        Err(e) => tracing::warn!(user.id = user.id, error = %e, "password reset email failed"),
    }
}

/// Emails an invitation link; the caller still shows the link, so a failed email loses nothing.
pub async fn invitation(
    app: &AppState,
    org: &Organization,
    role: OrgRole,
    inviter: Option<&str>,
    to: &str,
    link: &str,
) -> Result<(), String> {
    let who = inviter.unwrap_or("An administrator");
    let days = app.settings.auth.invitation_days;
    send(
        app,
        to,
        LinkEmail {
            subject: format!("[Sentinel] You are invited to {}", org.name),
            heading: format!("Join {} on Sentinel", org.name),
            intro: format!(
                "{who} invited you to the organization {} as {} on {}.",
                org.name,
                role.as_str(),
                app.settings.public_base_url()
            ),
            action: "Accept the invitation",
            link,
            note: format!("The link works once and for {days} days."),
        },
    )
    .await
}

/// Emails an invitation if email is configured; logs a failure. Returns whether it was sent (the
/// caller shows the link either way).
pub async fn try_invitation(
    app: &AppState,
    org: &Organization,
    role: OrgRole,
    inviter: Option<&str>,
    to: &str,
    link: &str,
) -> bool {
    if !enabled(app) {
        return false;
    }
    match invitation(app, org, role, inviter, to, link).await {
        Ok(()) => {
            tracing::info!(org.slug = %org.slug, "invitation emailed");
            true
        }
        Err(e) => {
            tracing::warn!(org.slug = %org.slug, error = %e, "invitation email failed; the link is shown instead");
            false
        }
    }
}
