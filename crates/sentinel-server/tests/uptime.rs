//! Uptime monitoring through the whole running server, against real servers on 127.0.0.1 that
//! the test controls: an HTTP target that starts failing and recovers goes down and up, opens and
//! resolves one incident, and each transition reaches a real webhook receiver and a real SMTP
//! server exactly once; a closed TCP port goes down with the connect error; the API validates
//! monitors field by field and hides other organizations' monitors.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use reqwest::Method;
use sentinel_server::clock::{Clock, SystemClock};
use sentinel_server::config::{SmtpSettings, SmtpTls};
use sentinel_store::{NewApiToken, NewUser, TokenScope};
use serde_json::{Value, json};
use support::hook::Hook;
use support::smtp::SmtpServer;

const TOKEN: &str = "sntl_uptime_test_token_000000000000000000000000";
/// Long enough for a first check (within one 10 s interval), three failures 2.5 s apart and the
/// notifier, with room for a loaded machine.
const WAIT: Duration = Duration::from_secs(60);

type Env = support::api::ApiEnv;

/// A server with fast delivery retries that sends email to the SMTP server on `smtp_port` (if
/// any), and the id of its project `acme/shop`; [`TOKEN`] is an instance token of it.
async fn start(smtp_port: Option<u16>) -> (Env, String) {
    let env = Env::start_with(
        |settings| {
            settings.public_url = Some("http://sentinel.test".into());
            settings.alerts.retry_base_ms = 100;
            if let Some(port) = smtp_port {
                settings.smtp = SmtpSettings {
                    host: "127.0.0.1".into(),
                    port: Some(port),
                    tls: SmtpTls::None,
                    from: "Sentinel <alerts@sentinel.test>".into(),
                    ..SmtpSettings::default()
                };
            }
        },
        Arc::new(SystemClock),
    )
    .await;
    let project = env.acme_shop(TOKEN).await;
    (env, project)
}

impl Env {
    /// Polls the monitor until its status is `status`.
    async fn wait_status(&self, id: &str, status: &str) -> Value {
        self.wait_monitor_status(TOKEN, id, status, WAIT).await
    }
}

/// An HTTP target: 200 "all good" while healthy, 503 with a body otherwise; counts requests.
#[derive(Clone, Default)]
struct Target {
    failing: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
}

async fn target(State(t): State<Target>) -> (StatusCode, &'static str) {
    t.hits.fetch_add(1, Ordering::SeqCst);
    if t.failing.load(Ordering::SeqCst) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "database connection pool exhausted",
        )
    } else {
        (StatusCode::OK, "all good")
    }
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn emails(smtp: &SmtpServer, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = smtp.messages();
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "only {} emails arrived", got.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_outage_goes_down_and_up_once_with_one_notification_per_transition() {
    let smtp = SmtpServer::start("plain", None, None, false).await;
    let (env, p) = start(Some(smtp.port)).await;
    let t = Target::default();
    let target_url = serve(
        axum::Router::new()
            .route("/health", get(target))
            .with_state(t.clone()),
    )
    .await;
    let (h, hook_url) = Hook::start().await;

    let webhook = env.webhook_channel(TOKEN, &p, &hook_url).await;
    let email = env
        .post(
            TOKEN,
            &format!("/api/0/projects/{p}/channels/"),
            json!({"name": "ops mail", "kind": "email", "config": {"to": "oncall@example.com"}}),
        )
        .await
        .expect(201);
    let rule = env
        .post(
            TOKEN,
            &format!("/api/0/projects/{p}/alert-rules/"),
            json!({"name": "monitors", "condition": {"kind": "monitor_down"},
                   "channels": [webhook["id"], email["id"]]}),
        )
        .await
        .expect(201);
    assert_eq!(
        rule["cooldown_minutes"], 0,
        "monitor rules notify every outage: {rule}"
    );
    assert_eq!(rule["notify_recovery"], true);

    let monitor = env
        .post(
            TOKEN,
            &format!("/api/0/projects/{p}/monitors/"),
            json!({"name": "Shop health", "type": "http", "url": format!("{target_url}/health"),
                   "interval_seconds": 10, "timeout_seconds": 5, "keyword": "good"}),
        )
        .await
        .expect(201);
    let id = monitor["id"].as_str().unwrap().to_owned();
    assert_eq!(monitor["status"], "pending");
    assert_eq!(monitor["failure_threshold"], 3);
    assert_eq!(monitor["recovery_threshold"], 2);

    // First success: up, and nobody is told (nothing recovered).
    env.wait_status(&id, "up").await;
    let checks = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/checks/"))
        .await
        .expect(200);
    let first = &checks.as_array().unwrap()[0];
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(first["status_code"], 200);
    for phase in ["dns_ms", "connect_ms", "first_byte_ms"] {
        assert!(first["details"][phase].is_i64(), "{phase} missing: {first}");
    }
    // Response times come from the rollups: the successful checks so far, as points and 24-hour
    // percentiles (no check takes longer than its own latency).
    let times = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/response-times/"))
        .await
        .expect(200);
    assert_eq!(times["step_seconds"], 300, "{times}");
    let point = &times["points"][0];
    assert!(point["checks"].as_u64().unwrap() >= 1, "{times}");
    let p95 = times["p95_ms"].as_i64().unwrap();
    let slowest = checks
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["latency_ms"].as_i64().unwrap())
        .max()
        .unwrap();
    assert!(
        p95 <= slowest + slowest / 20 + 1,
        "p95 {p95} against the slowest check {slowest}"
    );
    assert!(
        point["p50_ms"].as_i64().is_some() && point["mean_ms"].as_i64().is_some(),
        "{times}"
    );
    let detail = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/"))
        .await
        .expect(200);
    assert_eq!(
        detail["uptime"]["p95_response_ms_24h"], times["p95_ms"],
        "{detail}"
    );

    // The target breaks: confirmed down after three failures, within about 1.5 intervals.
    t.failing.store(true, Ordering::SeqCst);
    let broke = Instant::now();
    let down = env.wait_status(&id, "down").await;
    let detected = broke.elapsed();
    assert_eq!(h.wait_for(1, WAIT).await, vec!["Shop health is down"]);
    let failed_checks = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/checks/"))
        .await
        .expect(200);
    let failures = failed_checks
        .as_array()
        .unwrap()
        .iter()
        .take_while(|c| c["ok"] == false)
        .count();
    assert!(failures >= 3, "down after {failures} failures: {failed_checks}");
    println!("detection: target failing → status down in {detected:?}");
    assert!(down["uptime"]["24h"].as_f64().unwrap() < 100.0, "{down}");
    let open = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/incidents/"))
        .await
        .expect(200);
    let incident = &open["data"][0];
    assert_eq!(incident["status"], "open", "{open}");
    assert_eq!(incident["evidence"]["status_code"], 503);
    assert!(
        incident["evidence"]["body_excerpt"]
            .as_str()
            .unwrap()
            .contains("pool exhausted"),
        "{incident}"
    );
    assert!(
        incident["evidence"]["error"]
            .as_str()
            .unwrap()
            .contains("status 503")
    );

    // Still down for a while: no "still down" notification (the rule has no reminder).
    let hits = t.hits.load(Ordering::SeqCst);
    while t.hits.load(Ordering::SeqCst) < hits + 1 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(h.titles().len(), 1, "{:?}", h.titles());

    // It recovers: up after two successes, one recovery notification, the incident resolved.
    t.failing.store(false, Ordering::SeqCst);
    env.wait_status(&id, "up").await;
    assert_eq!(
        h.wait_for(2, WAIT).await,
        vec!["Shop health is down", "Shop health is up again"]
    );
    let mail = emails(&smtp, 2).await;
    let subjects: Vec<&str> = mail.iter().map(|m| m["subject"].as_str().unwrap()).collect();
    assert!(subjects[0].contains("Shop health is down"), "{subjects:?}");
    assert!(subjects[1].contains("Shop health is up again"), "{subjects:?}");
    let resolved = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/incidents/"))
        .await
        .expect(200);
    assert_eq!(resolved["data"].as_array().unwrap().len(), 1, "{resolved}");
    assert_eq!(resolved["data"][0]["status"], "resolved");
    let project_incidents = env
        .get(TOKEN, &format!("/api/0/projects/{p}/incidents/"))
        .await
        .expect(200);
    assert_eq!(project_incidents["data"][0]["id"], resolved["data"][0]["id"]);

    // A few more healthy checks change nothing: still exactly one notification per transition.
    let hits = t.hits.load(Ordering::SeqCst);
    while t.hits.load(Ordering::SeqCst) < hits + 1 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.titles().len(), 2, "{:?}", h.titles());
    assert_eq!(smtp.messages().len(), 2);
    let log = env
        .get(TOKEN, &format!("/api/0/projects/{p}/notifications/"))
        .await
        .expect(200);
    assert_eq!(log["data"].as_array().unwrap().len(), 4, "{log}");
    env.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_tcp_port_goes_down_with_the_connect_error() {
    let (env, p) = start(None).await;
    // A port that was just free: nothing listens on it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let monitor = env
        .post(
            TOKEN,
            &format!("/api/0/projects/{p}/monitors/"),
            json!({"type": "tcp", "host": "127.0.0.1", "port": port, "interval_seconds": 10,
                   "failure_threshold": 2}),
        )
        .await
        .expect(201);
    assert_eq!(monitor["name"], format!("127.0.0.1:{port}"));
    let id = monitor["id"].as_str().unwrap();
    env.wait_status(id, "down").await;
    let checks = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/checks/"))
        .await
        .expect(200);
    let error = checks[0]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("connecting to 127.0.0.1:{port} failed")),
        "{error}"
    );
    let incidents = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/incidents/"))
        .await
        .expect(200);
    assert_eq!(incidents["data"][0]["status"], "open");
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn monitors_are_validated_by_field_paged_and_private_to_their_organization() {
    let (env, p) = start(None).await;
    let path = format!("/api/0/projects/{p}/monitors/");
    let refused = |body: Value, needle: &'static str| {
        let env = &env;
        let path = path.clone();
        async move {
            env.post(TOKEN, &path, body).await.expect_error(400, needle);
        }
    };
    refused(json!({"url": "https://example.com"}), "type is required").await;
    refused(json!({"type": "ping", "host": "x"}), "invalid type").await;
    refused(json!({"type": "http"}), "url is required").await;
    refused(
        json!({"type": "http", "url": "https://example.com", "interval_seconds": 5}),
        "interval_seconds",
    )
    .await;
    refused(
        json!({"type": "http", "url": "https://example.com", "interval_seconds": 10, "timeout_seconds": 20}),
        "timeout_seconds",
    )
    .await;
    refused(
        json!({"type": "http", "url": "https://example.com", "port": 80}),
        "unknown field port",
    )
    .await;
    refused(json!({"type": "tcp", "host": "db"}), "port").await;
    refused(
        json!({"type": "http", "url": "https://example.com", "expected_status": ["abc"]}),
        "expected_status",
    )
    .await;
    refused(
        json!({"type": "http", "url": "https://example.com", "regions": "eu-west"}),
        "regions must be a list",
    )
    .await;
    refused(
        json!({"type": "http", "url": "https://example.com", "regions": ["eu west"]}),
        "regions must be labels",
    )
    .await;
    refused(
        json!({"type": "http", "url": "https://example.com", "regions": ["eu", "eu"]}),
        "listed twice",
    )
    .await;
    refused(
        json!({"type": "http", "url": "https://example.com", "regions": ["eu", "us"], "region_quorum": 3}),
        "region_quorum must be a whole number from 0 (a majority) to the number of regions (2)",
    )
    .await;
    refused(
        json!({"type": "heartbeat", "regions": ["eu"]}),
        "regions apply to checked monitors",
    )
    .await;
    // Nothing half-made stayed behind.
    assert_eq!(
        env.get(TOKEN, &path).await.expect(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    for n in 0..3 {
        let regions = ["eu-west", "us-east", "ap-south"][..n].to_vec();
        let made = env
            .post(
                TOKEN,
                &path,
                json!({"type": "http", "url": format!("https://example.com/{n}"), "enabled": false,
                       "regions": regions}),
            )
            .await
            .expect(201);
        assert_eq!(made["regions"].as_array().unwrap().len(), n, "{made}");
        assert_eq!(made["region_quorum"], 0, "a majority unless set");
    }
    let first = env.get(TOKEN, &format!("{path}?limit=2")).await.expect(200);
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(first["data"][0]["status"], "paused");
    assert_eq!(first["pagination"]["has_more"], true);
    let cursor = first["pagination"]["next_cursor"].as_str().unwrap();
    let second = env
        .get(TOKEN, &format!("{path}?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["url"], "https://example.com/2");
    let id = second["data"][0]["id"].as_str().unwrap().to_owned();

    // Updating keeps unnamed fields; the type cannot change.
    let changed = env
        .put(
            TOKEN,
            &format!("/api/0/monitors/{id}/"),
            json!({"name": "Docs", "keyword": "Example"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (changed["name"].as_str(), changed["url"].as_str()),
        (Some("Docs"), Some("https://example.com/2"))
    );
    assert_eq!(changed["keyword"], "Example");
    assert_eq!(
        changed["regions"],
        json!(["eu-west", "us-east"]),
        "kept when not named"
    );
    let quorum = env
        .put(
            TOKEN,
            &format!("/api/0/monitors/{id}/"),
            json!({"region_quorum": 2}),
        )
        .await
        .expect(200);
    assert_eq!(quorum["region_quorum"], 2);
    let anywhere = env
        .put(TOKEN, &format!("/api/0/monitors/{id}/"), json!({"regions": []}))
        .await
        .expect(200);
    assert_eq!(
        (anywhere["regions"].clone(), anywhere["region_quorum"].clone()),
        (json!([]), json!(0)),
        "the quorum shrinks with the regions"
    );
    env.put(TOKEN, &format!("/api/0/monitors/{id}/"), json!({"type": "tcp"}))
        .await
        .expect(400);

    // Someone of another organization sees nothing of it, and cannot list the project's.
    let user = env
        .store
        .create_user(
            &NewUser {
                email: "mallory@other.test".into(),
                name: "mallory".into(),
                password_hash: "x".into(),
                is_admin: false,
            },
            0,
        )
        .await
        .unwrap();
    let other = "sntl_other_user_token_0000000000000000000000000000";
    env.store
        .create_api_token(
            &NewApiToken {
                name: "mallory".into(),
                token_sha256: sentinel_server::api::token_hash(other),
                user_id: Some(user.id),
                scope: TokenScope::Admin,
            },
            0,
        )
        .await
        .unwrap();
    for (method, path) in [
        (Method::GET, format!("/api/0/monitors/{id}/")),
        (Method::DELETE, format!("/api/0/monitors/{id}/")),
        (Method::GET, format!("/api/0/monitors/{id}/incidents/")),
        (Method::GET, format!("/api/0/monitors/{id}/response-times/")),
        (Method::GET, path.clone()),
    ] {
        env.call(method, &path, Some(other), None).await.expect(404);
    }

    env.delete(TOKEN, &format!("/api/0/monitors/{id}/"))
        .await
        .expect(204);
    env.get(TOKEN, &format!("/api/0/monitors/{id}/"))
        .await
        .expect(404);
    env.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_windows_are_validated_listed_and_shown_as_the_monitor_status() {
    let (env, p) = start(None).await;
    let m = env
        .post(
            TOKEN,
            &format!("/api/0/projects/{p}/monitors/"),
            json!({"type": "tcp", "name": "Database", "host": "127.0.0.1", "port": 9, "interval_seconds": 60}),
        )
        .await
        .expect(201);
    let id = m["id"].as_str().unwrap().to_owned();
    let path = format!("/api/0/projects/{p}/maintenance/");
    let at = |offset_min: i64| sentinel_server::clock::rfc3339(SystemClock.now_ms() + offset_min * 60_000);
    for (body, needle) in [
        (json!({"starts_at": at(-1)}), "ends_at is required"),
        (json!({"starts_at": at(10), "ends_at": at(5)}), "after starts_at"),
        (
            json!({"starts_at": "soon", "ends_at": at(5)}),
            "starts_at must be an RFC 3339 time",
        ),
        (json!({"schedule": "0 2 * * *"}), "duration_minutes is required"),
        (
            json!({"schedule": "0 2 * * *", "duration_minutes": 30, "timezone": "Moon/Base"}),
            "timezone",
        ),
        (
            json!({"starts_at": at(-1), "ends_at": at(60), "monitor_ids": ["999999"]}),
            "not a monitor of this project",
        ),
    ] {
        env.post(TOKEN, &path, body).await.expect_error(400, needle);
    }

    // A window on now: the monitor shows "maintenance", in its detail and in the list.
    let window = env
        .post(
            TOKEN,
            &path,
            json!({"name": "Database upgrade", "starts_at": at(-1), "ends_at": at(60), "monitor_ids": [id]}),
        )
        .await
        .expect(201);
    assert_eq!(window["active"], true, "{window}");
    assert_eq!(window["monitor_ids"], json!([id]));
    let detail = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/"))
        .await
        .expect(200);
    assert_eq!(detail["status"], "maintenance", "{detail}");
    let list = env
        .get(TOKEN, &format!("/api/0/projects/{p}/monitors/"))
        .await
        .expect(200);
    assert_eq!(list["data"][0]["status"], "maintenance");
    // A recurring one, listed beside it.
    let weekly = env
        .post(
            TOKEN,
            &path,
            json!({"name": "Sunday backups", "schedule": "0 2 * * 0", "duration_minutes": 45, "timezone": "Europe/Berlin"}),
        )
        .await
        .expect(201);
    assert_eq!(weekly["duration_minutes"], 45);
    assert_eq!(weekly["ends_at"], Value::Null);
    let windows = env.get(TOKEN, &path).await.expect(200);
    assert_eq!(windows.as_array().unwrap().len(), 2, "{windows}");

    // Deleted: the monitor shows its own status again.
    let wid = window["id"].as_str().unwrap();
    env.delete(TOKEN, &format!("/api/0/maintenance/{wid}/"))
        .await
        .expect(204);
    let detail = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/"))
        .await
        .expect(200);
    assert_ne!(detail["status"], "maintenance", "{detail}");
    env.delete(TOKEN, &format!("/api/0/maintenance/{wid}/"))
        .await
        .expect(404);
}
