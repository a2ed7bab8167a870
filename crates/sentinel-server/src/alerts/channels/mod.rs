//! Channel kinds: validating what a user enters, rendering an `AlertMessage` in each receiver's
//! format, and sending it. One module per kind; each has a pure `parse` (settings as entered →
//! [`ParsedSettings`]) and a pure `render` (channel + notification → request), so payloads are
//! tested without a network. The [`Dispatcher`] owns the transports (one HTTP client, the SMTP
//! mailer) and turns every attempt into an [`Outcome`]. Formats and retry rules: docs/CHANNELS.md.

mod discord;
mod email;
mod http;
mod input;
mod ntfy;
mod pagerduty;
mod slack;
mod teams;
mod webhook;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sentinel_store::{Channel, ChannelKind, ChannelSecrets, Notification, Transition};

use crate::alerts::email::Mailer;
use crate::clock::Clock;
use crate::config::Settings;

/// A channel's settings as entered, split into what may be shown and what is secret.
pub struct ParsedSettings {
    pub config: serde_json::Value,
    pub secrets: ChannelSecrets,
    /// A secret Sentinel generated (the webhook signing secret): shown to the user once, in the
    /// answer to the request that created the channel.
    pub shown_once: Option<String>,
}

impl fmt::Debug for ParsedSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedSettings")
            .field("config", &self.config)
            .field("secrets", &self.secrets)
            .field("shown_once", &self.shown_once.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Validates the settings entered for a channel of `kind` (string values; see docs/CHANNELS.md).
/// The error is a message for the user naming the field.
pub fn parse_settings(
    kind: ChannelKind,
    input: &serde_json::Map<String, serde_json::Value>,
) -> Result<ParsedSettings, String> {
    let input = input::Input(input);
    match kind {
        ChannelKind::Webhook => webhook::parse(&input),
        ChannelKind::Slack | ChannelKind::Discord | ChannelKind::Teams => parse_secret_url(&input),
        ChannelKind::Ntfy => ntfy::parse(&input),
        ChannelKind::PagerDuty => pagerduty::parse(&input),
        ChannelKind::Email => email::parse(&input),
    }
}

/// Slack, Discord and Teams: one incoming-webhook URL, which is itself the credential.
fn parse_secret_url(input: &input::Input<'_>) -> Result<ParsedSettings, String> {
    let url = input::http_url("url", input.required("url")?)?;
    Ok(ParsedSettings {
        config: serde_json::json!({ "url_hint": input::url_hint(&url) }),
        secrets: ChannelSecrets(serde_json::json!({ "url": url.as_str() })),
        shown_once: None,
    })
}

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The receiver's HTTP status or SMTP reply code, when it answered.
    pub status_code: Option<i32>,
    /// `None` on success.
    pub error: Option<String>,
    /// Whether another attempt may succeed (false for e.g. a 400 or an unknown mailbox).
    pub retryable: bool,
}

impl Outcome {
    pub fn delivered(status_code: Option<i32>) -> Self {
        Self {
            status_code,
            error: None,
            retryable: false,
        }
    }

    pub fn failed(status_code: Option<i32>, error: impl Into<String>, retryable: bool) -> Self {
        Self {
            status_code,
            error: Some(error.into()),
            retryable,
        }
    }

    pub fn is_delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// What rendering needs besides the channel and the notification.
struct Context<'a> {
    now_ms: i64,
    /// Sentinel's public base URL (PagerDuty's `client_url`).
    public_url: &'a str,
}

/// Delivers notifications to channels: the payloads and transports of every kind.
pub struct Dispatcher {
    pub mailer: Option<Arc<Mailer>>,
    http: reqwest::Client,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    public_url: String,
}

impl Dispatcher {
    /// `clock` stamps webhook signatures.
    pub fn new(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        // One crypto provider for every rustls user in the process (reqwest, lettre, sqlx). An
        // error means one is installed already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_secs(settings.alerts.delivery_timeout_secs.max(1));
        let http = reqwest::Client::builder()
            .user_agent(concat!("Sentinel/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .timeout(timeout)
            // A receiver that moved answers 3xx: recorded as a failure rather than followed, so a
            // POST never turns into a GET somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client for notifications")?;
        let mailer = Mailer::new(&settings.smtp)
            .context("setting up the SMTP mailer")?
            .map(Arc::new);
        Ok(Self {
            mailer,
            http,
            timeout,
            clock,
            public_url: settings.public_base_url(),
        })
    }

    /// One delivery attempt of `notification` to `channel`, within `alerts.delivery_timeout_secs`.
    pub async fn deliver(&self, channel: &Channel, notification: &Notification) -> Outcome {
        let cx = Context {
            now_ms: self.clock.now_ms(),
            public_url: &self.public_url,
        };
        let post = match channel.kind {
            ChannelKind::Webhook => webhook::render(channel, notification, &cx),
            ChannelKind::Slack => slack::render(channel, notification),
            ChannelKind::Discord => discord::render(channel, notification),
            ChannelKind::Teams => teams::render(channel, notification),
            ChannelKind::Ntfy => ntfy::render(channel, notification),
            ChannelKind::PagerDuty => pagerduty::render(channel, notification, &cx),
            ChannelKind::Email => {
                return email::deliver(self.mailer.as_deref(), self.timeout, channel, notification).await;
            }
        };
        match post {
            Ok(post) => http::send(&self.http, self.timeout, post).await,
            Err(outcome) => outcome,
        }
    }
}

/// A secret field every channel of this kind has; its absence means the channel was stored
/// without it (not retryable: the channel must be edited).
fn secret<'a>(channel: &'a Channel, name: &str) -> Result<&'a str, Outcome> {
    channel
        .secrets
        .get(name)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Outcome::failed(
                None,
                format!("the channel has no {name}: edit it and enter one"),
                false,
            )
        })
}

/// `s` cut to at most `max` characters, ending in `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The message's severity as one of the four known ones (unknown values count as `error`).
fn severity(notification: &Notification) -> &'static str {
    match notification.message.severity.as_str() {
        "critical" => "critical",
        "warning" => "warning",
        "info" => "info",
        _ => "error",
    }
}

/// Label for the link back to Sentinel.
const OPEN_LABEL: &str = "Open in Sentinel";

/// One line naming why this was sent, for footers: "Triggered · rule High error rate".
fn footer(notification: &Notification) -> String {
    let why = match notification.transition {
        Transition::Triggered => "Triggered",
        Transition::Resolved => "Resolved",
        Transition::Reminder => "Reminder",
        Transition::Test => "Test",
    };
    match &notification.rule_name {
        Some(rule) => format!("Sentinel · {why} · rule {rule}"),
        None => format!("Sentinel · {why}"),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A channel and a notification to render in unit tests.

    use sentinel_store::{AlertMessage, Channel, ChannelKind, Notification, NotificationStatus, Transition};

    use super::{ParsedSettings, parse_settings};

    pub(crate) fn channel(kind: ChannelKind, settings: serde_json::Value) -> (Channel, ParsedSettings) {
        let parsed = parse_settings(kind, settings.as_object().unwrap()).unwrap();
        let channel = Channel {
            id: 3,
            project_id: Some(1),
            name: "ops".into(),
            kind,
            config: parsed.config.clone(),
            secrets: parsed.secrets.clone(),
            enabled: true,
            created_ms: 0,
        };
        (channel, parsed)
    }

    pub(crate) fn notification(transition: Transition) -> Notification {
        Notification {
            id: 42,
            idempotency_key: "rule:7:issue:9:1:triggered:3".into(),
            group_key: "rule:7:issue:9:1".into(),
            rule_id: Some(7),
            rule_name: Some("New issues".into()),
            channel_id: 3,
            channel_name: "ops".into(),
            channel_kind: ChannelKind::Webhook,
            project_id: Some(1),
            subject: "issue:9".into(),
            transition,
            message: AlertMessage {
                title: "New issue: ZeroDivisionError <&> in app".into(),
                text: "division by zero\nin handler".into(),
                url: Some("http://sentinel.test/orgs/acme/issues/9".into()),
                severity: "error".into(),
                fields: vec![
                    ("Project".into(), "backend".into()),
                    ("Environment".into(), "production".into()),
                ],
            },
            status: NotificationStatus::Pending,
            attempts: 0,
            next_attempt_ms: 0,
            created_ms: 1_700_000_000_000,
            delivered_ms: None,
            last_error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn chat_webhook_urls_are_secret_and_shown_as_a_hint() {
        for kind in [ChannelKind::Slack, ChannelKind::Discord, ChannelKind::Teams] {
            let input = json!({ "url": "https://hooks.example.com/services/T0/B0/secretTOKEN" });
            let parsed = parse_settings(kind, input.as_object().unwrap()).unwrap();
            assert_eq!(
                parsed.config,
                json!({ "url_hint": "https://hooks.example.com/…OKEN" })
            );
            assert_eq!(
                parsed.secrets.get("url"),
                Some("https://hooks.example.com/services/T0/B0/secretTOKEN")
            );
            assert!(parsed.shown_once.is_none());
        }
    }

    #[test]
    fn chat_webhook_url_is_required_and_must_be_http() {
        let err = parse_settings(ChannelKind::Slack, json!({}).as_object().unwrap()).unwrap_err();
        assert_eq!(err, "url: is required");
        let err =
            parse_settings(ChannelKind::Teams, json!({ "url": "  " }).as_object().unwrap()).unwrap_err();
        assert_eq!(err, "url: is required");
        let err = parse_settings(
            ChannelKind::Discord,
            json!({ "url": "discord.com/api/webhooks/1/x" })
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(err, "url: must be an http:// or https:// URL");
        let err = parse_settings(ChannelKind::Slack, json!({ "url": 5 }).as_object().unwrap()).unwrap_err();
        assert_eq!(err, "url: must be a string");
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let input = json!({ "url": "https://receiver.test/hooks/abcdefgh" });
        let parsed = parse_settings(ChannelKind::Webhook, input.as_object().unwrap()).unwrap();
        let shown = parsed.shown_once.clone().unwrap();
        let debug = format!("{parsed:?}");
        assert!(
            !debug.contains(&shown) && !debug.contains("abcdefgh\""),
            "{debug}"
        );
    }

    #[test]
    fn truncate_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 5), "héll…");
    }

    #[test]
    fn a_channel_without_its_secret_fails_without_retrying() {
        let (mut channel, _) = testing::channel(ChannelKind::Slack, json!({ "url": "https://x.test/hook" }));
        channel.secrets = ChannelSecrets::default();
        let outcome = slack::render(&channel, &testing::notification(Transition::Triggered))
            .err()
            .unwrap();
        assert!(!outcome.retryable);
        assert_eq!(
            outcome.error.as_deref(),
            Some("the channel has no url: edit it and enter one")
        );
    }
}
