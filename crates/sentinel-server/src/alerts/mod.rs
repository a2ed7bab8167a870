//! Alerting: rules evaluated on events (new issue, regression) and on schedules (thresholds over
//! rollups, instance health), a durable outbox of notifications, and the notifier that delivers
//! them to channels (webhook, Slack, Discord, Teams, ntfy, PagerDuty, email).
//!
//! - `engine`: turns triggers and threshold evaluations into rule-state changes and outbox rows,
//!   one transaction each (`AlertStore::commit_alerts`); `tenants`: what the tenant rules measure
//!   in the request rollups, and their messages.
//! - `notifier`: claims due notifications, delivers them, records every attempt, retries with
//!   exponential backoff and jitter, gives up after `alerts.max_attempts`.
//! - `channels`: each channel's payload and transport; `email`: the SMTP mailer, also used for
//!   password-reset and invitation emails.
//! - `api`: the JSON API for channels, rules and the delivery log.

pub mod api;
pub mod channels;
mod disk;
pub mod email;
pub mod engine;
pub mod notifier;
pub mod rules;
pub mod tenants;

use std::sync::Arc;

use sentinel_store::{AlertMessage, Channel, NewNotification, Transition};
use tokio::sync::Notify;

use crate::config::Settings;

/// What request handlers need of the alerting subsystem.
pub struct Alerts {
    /// Wakes the notifier (a test notification was queued).
    pub notifier_wake: Arc<Notify>,
    /// Payloads and transports of every channel kind.
    pub dispatcher: Arc<channels::Dispatcher>,
}

/// A link to a dashboard page, `path` starting with `/orgs/…`.
pub fn dashboard_url(settings: &Settings, path: &str) -> String {
    format!("{}{path}", settings.public_base_url())
}

/// The dashboard page of an issue, for links in notifications.
pub fn issue_url(settings: &Settings, org_slug: &str, issue_id: i64) -> String {
    dashboard_url(settings, &format!("/orgs/{org_slug}/issues/{issue_id}/"))
}

/// The notification "Send test notification" queues for `channel`, requested by `who`.
pub fn test_notification(channel: &Channel, settings: &Settings, who: &str, now_ms: i64) -> NewNotification {
    let key = format!("test:{}:{}", channel.id, uuid::Uuid::new_v4().simple());
    NewNotification {
        idempotency_key: key.clone(),
        group_key: key,
        rule_id: None,
        channel_id: channel.id,
        project_id: channel.project_id,
        subject: format!("channel:{}", channel.id),
        transition: Transition::Test,
        message: AlertMessage {
            title: format!("Test notification for \"{}\"", channel.name),
            text: format!(
                "{who} sent this test from Sentinel. If you can read it, alerts will reach this channel."
            ),
            url: Some(settings.public_base_url()),
            severity: "info".into(),
            fields: vec![("Channel".into(), channel.name.clone())],
        },
        created_ms: now_ms,
    }
}
