//! Notification channels against real receivers on loopback: an HTTP receiver (axum) that
//! records every request and answers as its path says, and a real SMTP server (aiosmtpd, in
//! plain, STARTTLS and implicit-TLS modes, with AUTH) that writes every accepted message as JSON.
//!
//! Each test builds its channel through `parse_settings`, exactly as the API does, and delivers
//! with `Dispatcher::deliver`. aiosmtpd is installed by `scripts/test` into `.sdk/python-smtp`
//! (or `$SENTINEL_SDK_DIR`); without it the email tests fail, they never skip.
#![expect(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sentinel_server::alerts::channels::{Dispatcher, Outcome, ParsedSettings, parse_settings};
use sentinel_server::clock::ManualClock;
use sentinel_server::config::{Secret, Settings, SmtpSettings, SmtpTls};
use sentinel_store::{AlertMessage, Channel, ChannelKind, Notification, NotificationStatus, Transition};
use serde_json::{Value, json};
use sha2::Sha256;
use support::smtp::{SMTP_PASSWORD, SMTP_USER, SmtpServer};

const NOW_MS: i64 = 1_700_000_123_456;
/// `alerts.delivery_timeout_secs` in these tests: short, so the hung receiver test is quick.
const DELIVERY_TIMEOUT_SECS: u64 = 2;

// ---------------------------------------------------------------------------------------------
// HTTP receiver
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Records every request. Answers by path: `/hang/…` never answers, `/status/<code>/…` answers
/// that status (with a body that echoes the path, to prove errors are redacted), anything else 200.
struct Receiver {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(record).with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, received }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn only_request(&self) -> Received {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        requests.into_iter().next().unwrap()
    }
}

async fn record(
    State(received): State<Arc<Mutex<Vec<Received>>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
    received.lock().unwrap().push(Received {
        path: path.clone(),
        headers,
        body,
    });
    let mut segments = uri.path().trim_start_matches('/').split('/');
    match segments.next() {
        Some("hang") => std::future::pending().await,
        Some("status") => {
            let status = segments
                .next()
                .and_then(|s| s.parse().ok())
                .and_then(|code| StatusCode::from_u16(code).ok())
                .unwrap();
            if status == StatusCode::NO_CONTENT {
                status.into_response()
            } else {
                (status, format!("receiver refused {path}")).into_response()
            }
        }
        _ => (StatusCode::OK, "ok").into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Channels, notifications, the dispatcher
// ---------------------------------------------------------------------------------------------

fn settings() -> Settings {
    let mut settings = Settings {
        public_url: Some("http://sentinel.test".into()),
        ..Settings::default()
    };
    settings.alerts.delivery_timeout_secs = DELIVERY_TIMEOUT_SECS;
    settings
}

fn dispatcher(settings: &Settings) -> Dispatcher {
    Dispatcher::new(settings, Arc::new(ManualClock::new(NOW_MS))).unwrap()
}

fn new_channel(kind: ChannelKind, input: Value) -> (Channel, ParsedSettings) {
    let parsed = parse_settings(kind, input.as_object().unwrap()).unwrap_or_else(|e| panic!("{input}: {e}"));
    let channel = Channel {
        id: 5,
        project_id: Some(1),
        name: "on-call".into(),
        kind,
        config: parsed.config.clone(),
        secrets: parsed.secrets.clone(),
        enabled: true,
        created_ms: NOW_MS,
    };
    (channel, parsed)
}

fn notification(kind: ChannelKind, transition: Transition) -> Notification {
    Notification {
        id: 77,
        idempotency_key: format!("rule:3:issue:12:2:{}:5", transition.as_str()),
        group_key: "rule:3:issue:12:2".into(),
        rule_id: Some(3),
        rule_name: Some("Errors in checkout".into()),
        channel_id: 5,
        channel_name: "on-call".into(),
        channel_kind: kind,
        project_id: Some(1),
        subject: "issue:12".into(),
        transition,
        message: AlertMessage {
            title: "New issue: TypeError <b>&\"quotes\"</b> in checkout".into(),
            text: "Cannot read properties of undefined (reading 'id')\nat checkout.js:42".into(),
            url: Some("http://sentinel.test/orgs/acme/projects/shop/issues/12".into()),
            severity: "error".into(),
            fields: vec![
                ("Project".into(), "shop".into()),
                ("Environment".into(), "production".into()),
                ("Events".into(), "17".into()),
            ],
        },
        status: NotificationStatus::Pending,
        attempts: 0,
        next_attempt_ms: NOW_MS,
        created_ms: NOW_MS - 5_000,
        delivered_ms: None,
        last_error: None,
    }
}

fn assert_delivered(outcome: &Outcome, status: i32) {
    assert_eq!(outcome, &Outcome::delivered(Some(status)), "{outcome:?}");
}

// ---------------------------------------------------------------------------------------------
// HTTP channels
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn webhook_is_signed_with_the_secret_shown_once_and_carries_the_idempotency_key() {
    let receiver = Receiver::start().await;
    let (channel, parsed) = new_channel(
        ChannelKind::Webhook,
        json!({ "url": receiver.url("/hooks/sentinel") }),
    );
    let secret = parsed.shown_once.expect("a generated secret");
    let n = notification(ChannelKind::Webhook, Transition::Triggered);

    let outcome = dispatcher(&settings()).deliver(&channel, &n).await;

    assert_delivered(&outcome, 200);
    let request = receiver.only_request();
    assert_eq!(request.path, "/hooks/sentinel");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(
        request.header("user-agent"),
        format!("Sentinel/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(request.header("idempotency-key"), n.idempotency_key);
    let timestamp = request.header("x-sentinel-timestamp");
    assert_eq!(timestamp, (NOW_MS / 1000).to_string());
    // What a receiver does: HMAC-SHA256 over "<timestamp>.<raw body>" with the secret.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    let signature = request.header("x-sentinel-signature");
    let hex_signature = signature.strip_prefix("sha256=").expect("sha256= prefix");
    mac.verify_slice(&hex::decode(hex_signature).unwrap())
        .expect("the signature verifies with the secret shown once");

    assert_eq!(
        request.json(),
        json!({
            "id": 77,
            "idempotency_key": n.idempotency_key,
            "group_key": "rule:3:issue:12:2",
            "transition": "triggered",
            "rule": { "id": 3, "name": "Errors in checkout" },
            "project_id": 1,
            "subject": "issue:12",
            "title": n.message.title,
            "text": n.message.text,
            "url": "http://sentinel.test/orgs/acme/projects/shop/issues/12",
            "severity": "error",
            "fields": { "Project": "shop", "Environment": "production", "Events": "17" },
            "created_at": "2023-11-14T22:15:18.456Z",
        })
    );
}

#[tokio::test]
async fn webhook_with_an_entered_secret_signs_with_it() {
    let receiver = Receiver::start().await;
    let secret = "an entered secret of some length";
    let (channel, parsed) = new_channel(
        ChannelKind::Webhook,
        json!({ "url": receiver.url("/hook"), "secret": secret }),
    );
    assert!(parsed.shown_once.is_none());
    let n = notification(ChannelKind::Webhook, Transition::Test);
    assert_delivered(&dispatcher(&settings()).deliver(&channel, &n).await, 200);
    let request = receiver.only_request();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.", request.header("x-sentinel-timestamp")).as_bytes());
    mac.update(&request.body);
    assert_eq!(
        request.header("x-sentinel-signature"),
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
}

#[tokio::test]
async fn slack_receives_block_kit_with_escaped_mrkdwn() {
    let receiver = Receiver::start().await;
    let (channel, _) = new_channel(
        ChannelKind::Slack,
        json!({ "url": receiver.url("/services/T000/B000/XXXXsecretXXXX") }),
    );
    let outcome = dispatcher(&settings())
        .deliver(&channel, &notification(ChannelKind::Slack, Transition::Triggered))
        .await;
    assert_delivered(&outcome, 200);
    let request = receiver.only_request();
    assert_eq!(request.path, "/services/T000/B000/XXXXsecretXXXX");
    let body = request.json();
    assert_eq!(
        body["text"],
        "New issue: TypeError &lt;b&gt;&amp;\"quotes\"&lt;/b&gt; in checkout"
    );
    let blocks = body["blocks"].as_array().unwrap();
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["header", "section", "section", "actions", "context"]);
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    assert_eq!(
        blocks[1]["text"]["text"],
        "Cannot read properties of undefined (reading 'id')\nat checkout.js:42"
    );
    let fields = blocks[2]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 3);
    assert_eq!(fields[0], json!({ "type": "mrkdwn", "text": "*Project*\nshop" }));
    let button = &blocks[3]["elements"][0];
    assert_eq!(button["type"], "button");
    assert_eq!(
        button["url"],
        "http://sentinel.test/orgs/acme/projects/shop/issues/12"
    );
}

#[tokio::test]
async fn discord_receives_an_embed_that_mentions_nobody() {
    let receiver = Receiver::start().await;
    // Discord answers 204 No Content.
    let (channel, _) = new_channel(
        ChannelKind::Discord,
        json!({ "url": receiver.url("/status/204/api/webhooks/1/tok") }),
    );
    let outcome = dispatcher(&settings())
        .deliver(
            &channel,
            &notification(ChannelKind::Discord, Transition::Triggered),
        )
        .await;
    assert_delivered(&outcome, 204);
    let body = receiver.only_request().json();
    assert_eq!(body["allowed_mentions"], json!({ "parse": [] }));
    let embeds = body["embeds"].as_array().unwrap();
    assert_eq!(embeds.len(), 1);
    let embed = &embeds[0];
    assert_eq!(
        embed["title"],
        "New issue: TypeError <b>&\"quotes\"</b> in checkout"
    );
    assert_eq!(
        embed["url"],
        "http://sentinel.test/orgs/acme/projects/shop/issues/12"
    );
    assert!(
        embed["description"]
            .as_str()
            .unwrap()
            .starts_with("Cannot read properties")
    );
    assert!(embed["color"].as_u64().unwrap() > 0);
    assert_eq!(embed["timestamp"], "2023-11-14T22:15:18.456Z");
    assert_eq!(
        embed["fields"][2],
        json!({ "name": "Events", "value": "17", "inline": true })
    );
}

#[tokio::test]
async fn teams_receives_an_adaptive_card() {
    let receiver = Receiver::start().await;
    // Workflows answer 202 Accepted.
    let (channel, _) = new_channel(
        ChannelKind::Teams,
        json!({ "url": receiver.url("/status/202/workflows/abc/triggers/manual/paths/invoke?sig=SECRETSIG") }),
    );
    let outcome = dispatcher(&settings())
        .deliver(&channel, &notification(ChannelKind::Teams, Transition::Triggered))
        .await;
    assert_delivered(&outcome, 202);
    let body = receiver.only_request().json();
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let body_types: Vec<&str> = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(body_types, ["TextBlock", "TextBlock", "FactSet", "TextBlock"]);
    assert_eq!(
        card["body"][0]["text"],
        "New issue: TypeError <b>&\"quotes\"</b> in checkout"
    );
    assert_eq!(
        card["body"][2]["facts"][1],
        json!({ "title": "Environment", "value": "production" })
    );
    assert_eq!(
        card["actions"][0],
        json!({
            "type": "Action.OpenUrl",
            "title": "Open in Sentinel",
            "url": "http://sentinel.test/orgs/acme/projects/shop/issues/12",
        })
    );
}

#[tokio::test]
async fn ntfy_publishes_json_to_the_server_root_with_a_bearer_token() {
    let receiver = Receiver::start().await;
    let (channel, _) = new_channel(
        ChannelKind::Ntfy,
        json!({ "url": receiver.url("/ntfy"), "topic": "sentinel-alerts", "token": "tk_test_token", "priority": "5" }),
    );
    assert_eq!(
        channel.config,
        json!({ "server": receiver.url("/ntfy"), "topic": "sentinel-alerts", "priority": 5 })
    );
    let outcome = dispatcher(&settings())
        .deliver(&channel, &notification(ChannelKind::Ntfy, Transition::Triggered))
        .await;
    assert_delivered(&outcome, 200);
    let request = receiver.only_request();
    assert_eq!(request.path, "/ntfy/");
    assert_eq!(request.header("authorization"), "Bearer tk_test_token");
    assert_eq!(
        request.json(),
        json!({
            "topic": "sentinel-alerts",
            "title": "New issue: TypeError <b>&\"quotes\"</b> in checkout",
            "message": "Cannot read properties of undefined (reading 'id')\nat checkout.js:42\nProject: shop\nEnvironment: production\nEvents: 17",
            "priority": 5,
            "tags": ["x"],
            "click": "http://sentinel.test/orgs/acme/projects/shop/issues/12",
        })
    );
}

#[tokio::test]
async fn pagerduty_triggers_then_resolves_with_the_same_dedup_key() {
    let receiver = Receiver::start().await;
    let routing_key = "R0ABCDEFGHIJKLMNOPQRSTUVWXYZ0123";
    let (channel, _) = new_channel(
        ChannelKind::PagerDuty,
        json!({ "routing_key": routing_key, "url": receiver.url("/status/202/v2/enqueue") }),
    );
    assert_eq!(channel.config["routing_key_hint"], "0123");
    let dispatcher = dispatcher(&settings());
    let trigger = notification(ChannelKind::PagerDuty, Transition::Triggered);
    assert_delivered(&dispatcher.deliver(&channel, &trigger).await, 202);
    let resolve = notification(ChannelKind::PagerDuty, Transition::Resolved);
    assert_delivered(&dispatcher.deliver(&channel, &resolve).await, 202);

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    let trigger = requests[0].json();
    assert_eq!(trigger["routing_key"], routing_key);
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], "rule:3:issue:12:2");
    assert_eq!(
        trigger["payload"],
        json!({
            "summary": "New issue: TypeError <b>&\"quotes\"</b> in checkout",
            "source": "sentinel",
            "severity": "error",
            "timestamp": "2023-11-14T22:15:18.456Z",
            "custom_details": {
                "Project": "shop",
                "Environment": "production",
                "Events": "17",
                "text": "Cannot read properties of undefined (reading 'id')\nat checkout.js:42",
                "subject": "issue:12",
                "rule": "Errors in checkout",
            },
        })
    );
    assert_eq!(
        trigger["links"],
        json!([{ "href": "http://sentinel.test/orgs/acme/projects/shop/issues/12", "text": "Open in Sentinel" }])
    );
    assert_eq!(trigger["client"], "Sentinel");
    assert_eq!(trigger["client_url"], "http://sentinel.test");
    let resolve = requests[1].json();
    assert_eq!(
        resolve,
        json!({ "routing_key": routing_key, "event_action": "resolve", "dedup_key": "rule:3:issue:12:2" })
    );
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retryable_with_their_status() {
    let receiver = Receiver::start().await;
    let dispatcher = dispatcher(&settings());
    for code in [500, 503, 429, 408] {
        let (channel, _) = new_channel(
            ChannelKind::Slack,
            json!({ "url": receiver.url(&format!("/status/{code}/x")) }),
        );
        let outcome = dispatcher
            .deliver(&channel, &notification(ChannelKind::Slack, Transition::Triggered))
            .await;
        assert_eq!(outcome.status_code, Some(code), "{outcome:?}");
        assert!(outcome.retryable, "{outcome:?}");
        let error = outcome.error.unwrap();
        assert!(
            error.starts_with(&format!("HTTP {code}: receiver refused")),
            "{error}"
        );
    }
}

#[tokio::test]
async fn client_errors_are_final_and_keep_the_start_of_the_answer() {
    let receiver = Receiver::start().await;
    let (channel, _) = new_channel(
        ChannelKind::Webhook,
        json!({ "url": receiver.url("/status/400") }),
    );
    let outcome = dispatcher(&settings())
        .deliver(
            &channel,
            &notification(ChannelKind::Webhook, Transition::Triggered),
        )
        .await;
    assert_eq!(outcome.status_code, Some(400));
    assert!(!outcome.retryable);
    assert_eq!(
        outcome.error.as_deref(),
        Some("HTTP 400: receiver refused /status/400")
    );
}

#[tokio::test]
async fn errors_never_show_the_secret_part_of_a_url() {
    let receiver = Receiver::start().await;
    let dispatcher = dispatcher(&settings());
    // The receiver echoes the path, which holds the token.
    let (channel, _) = new_channel(
        ChannelKind::Slack,
        json!({ "url": receiver.url("/status/404/services/T1/B1/TOKEN1234567890") }),
    );
    let outcome = dispatcher
        .deliver(&channel, &notification(ChannelKind::Slack, Transition::Triggered))
        .await;
    let error = outcome.error.unwrap();
    assert!(!error.contains("TOKEN1234567890"), "{error}");
    assert_eq!(error, "HTTP 404: receiver refused [redacted]");

    // Nobody listens on a port that was just released: a connection error, retryable.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (channel, _) = new_channel(
        ChannelKind::Discord,
        json!({ "url": format!("http://{closed}/api/webhooks/1/TOKEN1234567890") }),
    );
    let outcome = dispatcher
        .deliver(
            &channel,
            &notification(ChannelKind::Discord, Transition::Triggered),
        )
        .await;
    assert_eq!(outcome.status_code, None);
    assert!(outcome.retryable, "{outcome:?}");
    let error = outcome.error.unwrap();
    assert!(
        !error.contains("TOKEN1234567890") && !error.contains("/api/webhooks"),
        "{error}"
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_and_may_be_retried() {
    let receiver = Receiver::start().await;
    let (channel, _) = new_channel(
        ChannelKind::Webhook,
        json!({ "url": receiver.url("/hang/forever") }),
    );
    let started = Instant::now();
    let outcome = dispatcher(&settings())
        .deliver(
            &channel,
            &notification(ChannelKind::Webhook, Transition::Triggered),
        )
        .await;
    assert_eq!(
        outcome,
        Outcome::failed(None, format!("timed out after {DELIVERY_TIMEOUT_SECS} s"), true)
    );
    assert_eq!(receiver.requests().len(), 1);
    // Generous upper bound: the point is that it returned at all, at about the timeout.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Email through a real SMTP server
// ---------------------------------------------------------------------------------------------

/// A self-signed certificate for 127.0.0.1 and localhost, as PEM files in `dir`.
fn self_signed_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

fn smtp_settings(port: u16, tls: SmtpTls, ca_file: Option<&Path>, auth: bool) -> Settings {
    let mut settings = settings();
    settings.smtp = SmtpSettings {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls,
        username: if auth { SMTP_USER.into() } else { String::new() },
        password: Secret::new(if auth { SMTP_PASSWORD } else { "" }),
        from: "Sentinel <alerts@sentinel.test>".into(),
        ca_file: ca_file.map(Path::to_path_buf),
        timeout_secs: 10,
    };
    settings
}

/// Delivers an alert through the email channel and checks the message the server received.
async fn email_round_trip(mode: &str, tls: SmtpTls, auth: bool) {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_certificate(certs.path());
    let with_tls = tls != SmtpTls::None;
    let server = SmtpServer::start(
        mode,
        with_tls.then_some(cert.as_path()),
        with_tls.then_some(key.as_path()),
        auth,
    )
    .await;
    let settings = smtp_settings(server.port, tls, with_tls.then_some(cert.as_path()), auth);
    let dispatcher = dispatcher(&settings);
    assert!(dispatcher.mailer.is_some());
    let (channel, _) = new_channel(
        ChannelKind::Email,
        json!({ "to": "ops@example.com, Dev Team <dev@example.com>" }),
    );
    assert_eq!(
        channel.config,
        json!({ "to": ["ops@example.com", "Dev Team <dev@example.com>"] })
    );
    let n = notification(ChannelKind::Email, Transition::Triggered);

    let outcome = dispatcher.deliver(&channel, &n).await;

    assert_delivered(&outcome, 250);
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let m = &messages[0];
    assert_eq!(m["mail_from"], "alerts@sentinel.test");
    assert_eq!(m["rcpt_tos"], json!(["ops@example.com", "dev@example.com"]));
    assert_eq!(m["from"], "Sentinel <alerts@sentinel.test>");
    assert_eq!(m["to"], "ops@example.com, Dev Team <dev@example.com>");
    assert_eq!(
        m["subject"],
        "[Sentinel] New issue: TypeError <b>&\"quotes\"</b> in checkout"
    );
    assert!(m["date"].as_str().unwrap().len() > 10, "{m}");
    assert!(m["message_id"].as_str().unwrap().contains('@'), "{m}");
    assert_eq!(m["content_type"], "multipart/alternative");
    let parts = m["parts"].as_array().unwrap();
    let types: Vec<&str> = parts
        .iter()
        .map(|p| p["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    let text = parts[0]["content"].as_str().unwrap();
    assert!(
        text.contains("New issue: TypeError <b>&\"quotes\"</b> in checkout"),
        "{text}"
    );
    assert!(text.contains("Environment: production"), "{text}");
    assert!(
        text.contains("http://sentinel.test/orgs/acme/projects/shop/issues/12"),
        "{text}"
    );
    let html = parts[1]["content"].as_str().unwrap();
    assert!(
        !html.contains("<b>&"),
        "the title must be escaped in the HTML part: {html}"
    );
    assert!(
        html.contains("New issue: TypeError &#60;b&#62;&#38;&#34;quotes&#34;&#60;/b&#62; in checkout"),
        "{html}"
    );
    assert!(html.contains("reading &#39;id&#39;"), "{html}");
    assert!(
        html.contains(r#"href="http://sentinel.test/orgs/acme/projects/shop/issues/12""#),
        "{html}"
    );
    assert_eq!(m["tls"], with_tls, "{m}");
    assert_eq!(m["authenticated"], auth, "{m}");
    if auth {
        assert_eq!(m["login"], SMTP_USER);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_over_plain_smtp_without_authentication() {
    email_round_trip("plain", SmtpTls::None, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_over_starttls_with_authentication() {
    email_round_trip("starttls", SmtpTls::Starttls, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_over_implicit_tls_with_authentication() {
    email_round_trip("tls", SmtpTls::Tls, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_recipient_is_a_permanent_failure_with_the_smtp_code() {
    let server = SmtpServer::start("plain", None, None, false).await;
    let dispatcher = dispatcher(&smtp_settings(server.port, SmtpTls::None, None, false));
    let (channel, _) = new_channel(ChannelKind::Email, json!({ "to": "unknown@example.com" }));
    let outcome = dispatcher
        .deliver(&channel, &notification(ChannelKind::Email, Transition::Triggered))
        .await;
    assert_eq!(outcome.status_code, Some(550), "{outcome:?}");
    assert!(!outcome.retryable, "{outcome:?}");
    assert!(
        outcome.error.as_deref().unwrap().contains("mailbox unavailable"),
        "{outcome:?}"
    );
    assert!(server.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_refuses_a_server_certificate_it_does_not_trust() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_certificate(certs.path());
    let server = SmtpServer::start("starttls", Some(&cert), Some(&key), true).await;
    // No ca_file: the self-signed certificate is not trusted, and nothing is sent.
    let dispatcher = dispatcher(&smtp_settings(server.port, SmtpTls::Starttls, None, true));
    let (channel, _) = new_channel(ChannelKind::Email, json!({ "to": "ops@example.com" }));
    let outcome = dispatcher
        .deliver(&channel, &notification(ChannelKind::Email, Transition::Triggered))
        .await;
    assert!(!outcome.is_delivered(), "{outcome:?}");
    assert!(server.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailer_sends_account_email_without_a_channel() {
    // Password resets and invitations call Mailer::send directly.
    let server = SmtpServer::start("plain", None, None, false).await;
    let dispatcher = dispatcher(&smtp_settings(server.port, SmtpTls::None, None, false));
    let mailer = dispatcher.mailer.as_ref().unwrap();
    let code = mailer
        .send(
            &["new.member@example.com".to_owned()],
            "You are invited to Sentinel",
            "Follow the link to join.",
            "<p>Follow the link to join.</p>",
        )
        .await
        .unwrap();
    assert_eq!(code, 250);
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["subject"], "You are invited to Sentinel");
    assert_eq!(
        messages[0]["parts"][1]["content"],
        "<p>Follow the link to join.</p>"
    );
}

#[tokio::test]
async fn without_smtp_the_email_channel_fails_for_good() {
    let dispatcher = dispatcher(&settings());
    assert!(dispatcher.mailer.is_none());
    let (channel, _) = new_channel(ChannelKind::Email, json!({ "to": "ops@example.com" }));
    let outcome = dispatcher
        .deliver(&channel, &notification(ChannelKind::Email, Transition::Test))
        .await;
    assert_eq!(
        outcome,
        Outcome::failed(None, "SMTP is not configured (set [smtp] host)", false)
    );
}
