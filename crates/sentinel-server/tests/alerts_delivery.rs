//! Alerts through the whole running server to real HTTP receivers on 127.0.0.1: an event creates
//! an issue, the worker's trigger fires the rule, the outbox row is delivered, signed, exactly
//! once per channel; replays add nothing; a receiver that fails three times and then recovers
//! gets the notification once; one that never recovers is given up on after the configured
//! attempts; the delivery log records every attempt.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sentinel_server::Server;
use sentinel_server::alerts::channels::parse_settings;
use sentinel_server::clock::SystemClock;
use sentinel_server::config::Settings;
use sentinel_store::{ChannelKind, Condition, NewAlertRule, NewChannel, NotificationStatus, Store};
use serde_json::{Value, json};
use sha2::Sha256;

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    idempotency_key: Option<String>,
    signature_ok: Option<bool>,
    body: Value,
}

/// A local HTTP receiver: answers the statuses in `script` in turn (then 200), checks webhook
/// signatures with `secret`, and records every request.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Vec<u16>>>,
    secret: Arc<Mutex<Option<String>>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> (Receiver, String) {
        let r = Receiver {
            script: Arc::new(Mutex::new(script.iter().rev().copied().collect())),
            ..Default::default()
        };
        let app = axum::Router::new()
            .route("/{*path}", post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, format!("http://{addr}"))
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.got().len() < n {
            assert!(Instant::now() < deadline, "only {:?} arrived", self.got());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.got()
    }
}

async fn receive(
    State(r): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let signature_ok = header("x-sentinel-signature").map(|sig| {
        let secret = r.secret.lock().unwrap().clone().unwrap_or_default();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(header("x-sentinel-timestamp").unwrap_or_default().as_bytes());
        mac.update(b".");
        mac.update(&body);
        sig == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    });
    r.got.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        idempotency_key: header("idempotency-key"),
        signature_ok,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let status = r.script.lock().unwrap().pop().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

struct Env {
    server: Server,
    store: Arc<dyn Store>,
    project: i64,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _pg: Option<support::PgSchema>,
}

async fn start(edit: impl FnOnce(&mut Settings)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (store, pg) = support::open_store(dir.path()).await;
    let (project, _) = store
        .create_project("acme", "checkout", "python", KEY, 0)
        .await
        .unwrap();
    let mut settings = Settings {
        data_dir: dir.path().into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: Some("https://sentinel.example.com".into()),
        ..Settings::default()
    };
    settings.alerts.retry_base_ms = 50;
    settings.alerts.delivery_timeout_secs = 2;
    edit(&mut settings);
    let server = Server::start(settings, store.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    Env {
        server,
        store,
        project: project.id,
        http: reqwest::Client::new(),
        _dir: dir,
        _pg: pg,
    }
}

impl Env {
    /// A channel of `kind` pointing at `url`, created the way the API does (the settings parsed
    /// from what a user enters); returns its id and the generated webhook secret.
    async fn channel(&self, kind: ChannelKind, url: &str) -> (i64, Option<String>) {
        let input = json!({"url": url});
        let parsed = parse_settings(kind, input.as_object().unwrap()).unwrap();
        let channel = self
            .store
            .create_channel(
                &NewChannel {
                    project_id: Some(self.project),
                    name: format!("{} receiver", kind.as_str()),
                    kind,
                    config: parsed.config,
                    secrets: parsed.secrets,
                    enabled: true,
                },
                0,
            )
            .await
            .unwrap();
        (channel.id, parsed.shown_once)
    }

    async fn new_issue_rule(&self, channels: Vec<i64>) {
        self.store
            .create_rule(
                &NewAlertRule {
                    project_id: Some(self.project),
                    name: "Every new issue".into(),
                    condition: Condition::NewIssue {},
                    channel_ids: channels,
                    cooldown_ms: 0,
                    reminder_ms: None,
                    notify_recovery: false,
                    enabled: true,
                },
                0,
            )
            .await
            .unwrap();
    }

    /// Sends one error event through the envelope endpoint and waits until it is processed.
    async fn send(&self, event_id: u32, error_type: &str) {
        let event = json!({
            "event_id": format!("{event_id:032x}"),
            "platform": "python",
            "level": "error",
            "exception": {"values": [{"type": error_type, "value": "it broke",
                "stacktrace": {"frames": [{"module": "shop.pay", "function": "charge", "in_app": true}]}}]},
        })
        .to_string();
        let body = format!(
            "{{\"event_id\":\"{event_id:032x}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
            event.len()
        );
        let resp = self
            .http
            .post(format!(
                "{}/api/{}/envelope/",
                self.server.base_url(),
                self.project
            ))
            .header(
                "x-sentry-auth",
                format!("Sentry sentry_key={KEY}, sentry_version=7"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.store.inbox_stats().await.unwrap().depth > 0 {
            assert!(Instant::now() < deadline, "inbox not drained");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every notification of the project has left `pending`.
    async fn settled(&self) -> Vec<sentinel_store::Notification> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self
                .store
                .list_notifications(Some(self.project), 100, None)
                .await
                .unwrap();
            if !log.is_empty() && log.iter().all(|n| n.status != NotificationStatus::Pending) {
                return log;
            }
            assert!(Instant::now() < deadline, "still pending: {log:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Gives the trigger loop and the notifier time to act on anything left (they poll every 5 s
/// and 1 s at most, and are woken at once by new work).
async fn quiet_period() {
    tokio::time::sleep(Duration::from_millis(6_000)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_issue_reaches_each_channel_exactly_once_signed_and_linked() {
    let env = start(|_| {}).await;
    let (hook, hook_base) = Receiver::start(&[]).await;
    let (slack, slack_base) = Receiver::start(&[]).await;
    let (hook_id, secret) = env
        .channel(ChannelKind::Webhook, &format!("{hook_base}/hooks/sentinel"))
        .await;
    *hook.secret.lock().unwrap() = secret;
    let (slack_id, _) = env
        .channel(
            ChannelKind::Slack,
            &format!("{slack_base}/services/T000/B000/XXXX"),
        )
        .await;
    env.new_issue_rule(vec![hook_id, slack_id]).await;

    env.send(1, "CardDeclined").await;
    let got = hook.wait_for(1).await;
    slack.wait_for(1).await;
    assert_eq!(got[0].path, "/hooks/sentinel");
    assert_eq!(got[0].signature_ok, Some(true), "the webhook signature verifies");
    let key = got[0].idempotency_key.clone().unwrap();
    assert_eq!(got[0].body["idempotency_key"], key.as_str());
    assert_eq!(got[0].body["transition"], "triggered");
    assert_eq!(got[0].body["title"], "New issue: CardDeclined: it broke");
    let url = got[0].body["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://sentinel.example.com/orgs/acme/issues/"),
        "{url}"
    );
    let slack_got = slack.got();
    assert_eq!(slack_got[0].path, "/services/T000/B000/XXXX");
    assert!(slack_got[0].body["blocks"].is_array(), "{:?}", slack_got[0].body);

    // The same event again (an SDK retry), and another event of the same issue.
    env.send(1, "CardDeclined").await;
    env.send(2, "CardDeclined").await;
    quiet_period().await;
    assert_eq!(hook.got().len(), 1, "{:#?}", hook.got());
    assert_eq!(slack.got().len(), 1);
    let log = env.settled().await;
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|n| n.status == NotificationStatus::Delivered && n.attempts == 1)
    );
    env.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_three_times_then_recovers_gets_the_notification_once() {
    // Retries 1 s, 2 s, 4 s (±20 %) apart: long enough to tell from the notifier's 1 s poll.
    let env = start(|s| s.alerts.retry_base_ms = 1_000).await;
    let (hook, base) = Receiver::start(&[500, 502, 503]).await;
    let (id, secret) = env.channel(ChannelKind::Webhook, &format!("{base}/hook")).await;
    *hook.secret.lock().unwrap() = secret;
    env.new_issue_rule(vec![id]).await;

    env.send(1, "Timeout").await;
    let log = env.settled().await;
    let got = hook.got();
    assert_eq!(got.len(), 4, "three failures and the success: {got:#?}");
    let keys: std::collections::BTreeSet<_> =
        got.iter().map(|r| r.idempotency_key.clone().unwrap()).collect();
    assert_eq!(keys.len(), 1, "every attempt carries the same idempotency key");
    assert!(got.iter().all(|r| r.signature_ok == Some(true)));

    assert_eq!(log.len(), 1);
    let n = &log[0];
    assert_eq!((n.status, n.attempts), (NotificationStatus::Delivered, 4));
    let attempts = env.store.list_deliveries(&[n.id]).await.unwrap();
    let statuses: Vec<_> = attempts
        .iter()
        .map(|d| (d.attempt, d.status_code, d.error.is_some()))
        .collect();
    assert_eq!(
        statuses,
        [
            (1, Some(500), true),
            (2, Some(502), true),
            (3, Some(503), true),
            (4, Some(200), false)
        ]
    );
    // The waits doubled: the third is at least 0.8 × 4 s, which a constant delay plus the 1 s
    // poll never reaches.
    let gaps: Vec<i64> = attempts.windows(2).map(|w| w[1].at_ms - w[0].at_ms).collect();
    assert!(gaps[0] >= 800 && gaps[1] >= 1_600 && gaps[2] >= 3_200, "{gaps:?}");
    quiet_period().await;
    assert_eq!(hook.got().len(), 4, "nothing after the delivery");
    env.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_recovers_is_given_up_on_after_the_last_attempt() {
    let env = start(|s| s.alerts.max_attempts = 3).await;
    let (hook, base) = Receiver::start(&[503; 10]).await;
    let (id, secret) = env.channel(ChannelKind::Webhook, &format!("{base}/hook")).await;
    *hook.secret.lock().unwrap() = secret;
    env.new_issue_rule(vec![id]).await;
    env.send(1, "Outage").await;
    let log = env.settled().await;
    assert_eq!((log[0].status, log[0].attempts), (NotificationStatus::Failed, 3));
    assert!(
        log[0].last_error.as_deref().unwrap().contains("503"),
        "{:?}",
        log[0].last_error
    );
    quiet_period().await;
    assert_eq!(hook.got().len(), 3);

    // A 4xx other than 408/429 is not retried at all.
    let (bad, base) = Receiver::start(&[400]).await;
    let (id, _) = env
        .channel(ChannelKind::Slack, &format!("{base}/services/x"))
        .await;
    env.new_issue_rule(vec![id]).await;
    env.send(2, "Other").await;
    bad.wait_for(1).await;
    quiet_period().await;
    assert_eq!(bad.got().len(), 1);
    let log = env.settled().await;
    let slack = log.iter().find(|n| n.channel_id == id).unwrap();
    assert_eq!((slack.status, slack.attempts), (NotificationStatus::Failed, 1));
    env.server.shutdown().await.unwrap();
}
