//! The read side of uptime monitoring through the whole running server: the public status page
//! (HTML and JSON) shows a project's public monitors with their daily bars, 90-day uptime and
//! incidents, and nothing of its private ones; README badges of public monitors; the incidents
//! page of the dashboard; the monitors list's sparklines and the monitor page's response-time
//! chart.
//!
//! Monitors are created through the API; their check results are written as checkers write them
//! (`record_checks`) on a stopped clock, and the server's own verifier judges them into statuses
//! and incidents. The server runs without the checker role, so no real check ever runs.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sentinel_server::clock::ManualClock;
use sentinel_server::config::Role;
use sentinel_store::{MonitorStatus, NewCheckResult, OrgRole};
use serde_json::{Value, json};
use support::api::{ApiEnv, PASSWORD};
use support::web::Browser;

const TOKEN: &str = "sntl_status_page_test_token_0000000000000000000000";
/// 2026-11-23 10:00:00 UTC: the server's clock, stopped.
const T0: i64 = 1_795_428_000_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// 2026-11-23 00:00 UTC.
const TODAY: i64 = T0 - 10 * 60 * MINUTE;
const PUBLIC_PATH: &str = "public-health-7f3a";
const PRIVATE_PATH: &str = "private-secret-path";

struct World {
    env: ApiEnv,
    public_id: i64,
    private_id: i64,
}

/// A result of `monitor` at `slot_ms`, as a checker reports it.
fn result(monitor: i64, slot_ms: i64, ok: bool, latency_ms: i64) -> NewCheckResult {
    NewCheckResult {
        monitor_id: monitor,
        slot_ms,
        region: String::new(),
        started_ms: slot_ms,
        ok,
        latency_ms,
        status_code: Some(if ok { 200 } else { 503 }),
        error: (!ok).then(|| "status 503, expected 2xx".to_owned()),
        details: json!({"body_excerpt": "secret stack trace"}),
    }
}

/// The project `acme/shop` with a public monitor ("Checkout API": up, one resolved incident on
/// 2026-11-21) and a private one ("Secret backend": down since this morning), and the project
/// `acme/internal` with only a private monitor.
async fn world() -> World {
    let env = ApiEnv::start_with(
        |s| s.roles = vec![Role::Ingest, Role::Worker, Role::Web, Role::Scheduler],
        Arc::new(ManualClock::new(T0)),
    )
    .await;
    support::instance_token(env.store.as_ref(), TOKEN).await;
    let (shop, _) = env
        .store
        .create_project("acme", "shop", "python", "0123456789abcdef0123456789abcdef", 0)
        .await
        .unwrap();
    let (internal, _) = env
        .store
        .create_project(
            "acme",
            "internal",
            "python",
            "fedcba9876543210fedcba9876543210",
            0,
        )
        .await
        .unwrap();
    let create = |project: i64, body: Value| {
        let env = &env;
        async move {
            let m = env
                .post(TOKEN, &format!("/api/0/projects/{project}/monitors/"), body)
                .await
                .expect(201);
            m["id"].as_str().unwrap().parse::<i64>().unwrap()
        }
    };
    let public_id = create(
        shop.id,
        json!({"type": "http", "name": "Checkout API", "url": format!("http://127.0.0.1:9/{PUBLIC_PATH}"),
               "interval_seconds": 60, "public": true}),
    )
    .await;
    let private_id = create(
        shop.id,
        json!({"type": "http", "name": "Secret backend", "url": format!("http://127.0.0.1:9/{PRIVATE_PATH}"),
               "interval_seconds": 60}),
    )
    .await;
    create(
        internal.id,
        json!({"type": "tcp", "name": "Internal db", "host": "127.0.0.1", "port": 9}),
    )
    .await;

    let mut results = Vec::new();
    // 2026-11-18: ten checks, all passed.
    for i in 0..10 {
        results.push(result(
            public_id,
            TODAY - 5 * DAY + 12 * 60 * MINUTE + i * MINUTE,
            true,
            30,
        ));
    }
    // 2026-11-21: three failures in a row (down, an incident), then 429 passes (up again).
    for i in 0..432 {
        results.push(result(public_id, TODAY - 2 * DAY + i * MINUTE, i >= 3, 50));
    }
    // Today 09:00 to 09:59: all passed, 40 ms.
    for i in 0..60 {
        results.push(result(public_id, T0 - 60 * MINUTE + i * MINUTE, true, 40));
    }
    record_and_judge(&env, &results, shop.id, 1).await;
    // Then the private monitor failed this morning: down, with an incident of its own.
    let failures: Vec<_> = (0..5)
        .map(|i| result(private_id, T0 - 120 * MINUTE + i * MINUTE, false, 900))
        .collect();
    record_and_judge(&env, &failures, shop.id, 2).await;
    let public = env.store.get_monitor(public_id).await.unwrap().unwrap();
    assert_eq!(
        (public.status, public.last_check_ms),
        (MonitorStatus::Up, Some(T0 - MINUTE))
    );
    let private = env.store.get_monitor(private_id).await.unwrap().unwrap();
    assert_eq!(private.status, MonitorStatus::Down);
    World {
        env,
        public_id,
        private_id,
    }
}

/// Writes `results` as checkers do and waits until the server's verifier has judged them all and
/// the project has `incidents` incidents.
async fn record_and_judge(env: &ApiEnv, results: &[NewCheckResult], project: i64, incidents: usize) {
    assert_eq!(
        env.store.record_checks(results).await.unwrap(),
        results.len() as u64
    );
    let deadline = Instant::now() + support::api::WAIT;
    loop {
        let queued = env.store.unverified_results(1).await.unwrap();
        let found = env.store.list_incidents(project, None, 10, None).await.unwrap();
        if queued.is_empty() && found.len() == incidents {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never judged: {} queued, {found:?}",
            queued.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl World {
    fn browser(&self) -> Browser {
        Browser::new(self.env.server.base_url())
    }

    /// An anonymous GET: status, content type, cache control and body.
    async fn fetch(&self, path: &str) -> (StatusCode, String, String, String) {
        let resp = self.env.http.get(self.env.url(path)).send().await.unwrap();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let (status, ty, cache) = (resp.status(), header("content-type"), header("cache-control"));
        (status, ty, cache, resp.text().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_public_monitors_only_and_badges_show_them_in_readmes() {
    let w = world().await;

    // Anyone sees the public monitor: name, status, a bar per day, 90-day uptime, its incident.
    let (status, ty, cache, page) = w.fetch("/status/acme/shop/").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(ty.starts_with("text/html"), "{ty}");
    assert_eq!(cache, "max-age=60");
    assert!(page.contains("Checkout API"), "{page}");
    assert!(
        page.contains("id=\"status-summary\">All systems operational<"),
        "{page}"
    );
    assert_eq!(page.matches("class=\"uptime-day ").count(), 90, "{page}");
    assert!(
        page.contains("title=\"2026-11-21: 99.31% (3 failed of 432)\""),
        "{page}"
    );
    assert!(page.contains("class=\"uptime-day uptime-degraded\" title=\"2026-11-21"));
    assert!(page.contains("class=\"uptime-day uptime-up\" title=\"2026-11-18: 100% (0 failed of 10)\""));
    assert!(page.contains("class=\"uptime-day uptime-none\" title=\"2026-11-22: no data\""));
    assert!(
        page.contains("title=\"2026-11-23: 100% (0 failed of 60)\""),
        "{page}"
    );
    // 499 of 502 checks passed.
    assert!(page.contains("<strong>99.40%</strong>"), "{page}");
    assert_eq!(page.matches("class=\"incident-row\"").count(), 1, "{page}");
    assert!(page.contains("2026-11-21 00:02 UTC"), "{page}");
    assert!(page.contains(">2 min 0 s<"), "{page}");
    // Nothing of the private monitor, nor what either checks, nor incident evidence.
    for secret in [
        "Secret backend",
        PRIVATE_PATH,
        PUBLIC_PATH,
        "127.0.0.1:9",
        "503",
        "secret stack trace",
    ] {
        assert!(
            !page.contains(secret),
            "the status page shows {secret:?}:\n{page}"
        );
    }

    let (status, ty, cache, body) = w.fetch("/api/0/status/acme/shop/").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(ty.starts_with("application/json"), "{ty}");
    assert_eq!(cache, "max-age=60");
    for secret in [
        "Secret backend",
        PRIVATE_PATH,
        PUBLIC_PATH,
        "503",
        "secret stack trace",
    ] {
        assert!(!body.contains(secret), "the status JSON shows {secret:?}: {body}");
    }
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "operational");
    assert_eq!(json["monitors"].as_array().unwrap().len(), 1, "{json}");
    let m = &json["monitors"][0];
    assert_eq!(m["id"], w.public_id.to_string());
    assert_eq!(m["status"], "up");
    assert_eq!(m["uptime_90d"], 99.402);
    let days = m["days"].as_array().unwrap();
    assert_eq!(days.len(), 90);
    assert_eq!(days[89]["date"], "2026-11-23");
    assert_eq!(
        days[87],
        json!({"date": "2026-11-21", "checks": 432, "failures": 3, "uptime": 99.306})
    );
    assert_eq!(days[0]["uptime"], Value::Null);
    let incidents = json["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{json}");
    assert_eq!(incidents[0]["monitor"], "Checkout API");
    // Dated by the end of the check that confirmed it (50 ms).
    assert_eq!(incidents[0]["opened"], "2026-11-21T00:02:00.050Z");
    assert_eq!(incidents[0]["duration_seconds"], 120);

    // No such organization or project, or no public monitor: the same 404, saying nothing more.
    for path in [
        "/status/acme/nope/",
        "/status/nobody/shop/",
        "/status/acme/internal/",
        "/api/0/status/acme/internal/",
    ] {
        let (status, _, _, body) = w.fetch(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(body.contains("no status page here"), "{path}: {body}");
        assert!(!body.contains("Internal db"), "{path}: {body}");
    }

    // Badges: the public monitor's status and uptime as SVG for a minute.
    let badge = format!("/api/0/monitors/{}/badge.svg", w.public_id);
    let (status, ty, cache, svg) = w.fetch(&format!("{badge}?type=status")).await;
    assert_eq!(status, StatusCode::OK, "{svg}");
    assert_eq!(ty, "image/svg+xml");
    assert_eq!(cache, "max-age=60");
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.contains("<title>Checkout API: up</title>"), "{svg}");
    assert!(svg.contains(">up</text>"), "{svg}");
    assert!(svg.contains("fill=\"#4c1\""), "{svg}");
    let (status, _, _, plain) = w.fetch(&badge).await;
    assert_eq!((status, plain), (StatusCode::OK, svg));
    let (status, _, _, uptime) = w.fetch(&format!("{badge}?type=uptime&period=90d")).await;
    assert_eq!(status, StatusCode::OK, "{uptime}");
    assert!(uptime.contains("<title>uptime 90d: 99.40%</title>"), "{uptime}");
    let (_, _, _, day) = w.fetch(&format!("{badge}?type=uptime&period=24h")).await;
    assert!(day.contains("<title>uptime 24h: 100%</title>"), "{day}");

    // A private monitor has no badge, exactly like a missing one; bad parameters are named.
    for path in [
        format!("/api/0/monitors/{}/badge.svg", w.private_id),
        "/api/0/monitors/999999/badge.svg?type=status".to_owned(),
    ] {
        w.env
            .call(reqwest::Method::GET, &path, None, None)
            .await
            .expect_error(404, "not found");
    }
    // Planned work on it: the badge and the status page say "maintenance".
    let project = w
        .env
        .store
        .get_monitor(w.public_id)
        .await
        .unwrap()
        .unwrap()
        .project_id;
    w.env
        .store
        .create_maintenance(&sentinel_store::MaintenanceWindow {
            id: 0,
            project_id: project,
            name: "Upgrade".into(),
            monitor_ids: vec![w.public_id],
            starts_ms: T0 - MINUTE,
            ends_ms: T0 + 60 * MINUTE,
            schedule: None,
            duration_ms: 61 * MINUTE,
            timezone: "UTC".into(),
            created_ms: T0,
        })
        .await
        .unwrap();
    let (_, _, _, svg) = w.fetch(&format!("{badge}?type=status")).await;
    assert!(svg.contains(">maintenance</text>"), "{svg}");
    let (_, _, _, page) = w.fetch("/api/0/status/acme/shop/").await;
    assert!(page.contains("\"status\":\"maintenance\""), "{page}");
    for (query, needle) in [
        ("type=uptime&period=1y", "invalid period \"1y\""),
        ("type=colour", "invalid type \"colour\""),
    ] {
        w.env
            .call(reqwest::Method::GET, &format!("{badge}?{query}"), None, None)
            .await
            .expect_error(400, needle);
    }
    w.env.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_see_incidents_sparklines_and_the_response_chart_and_others_get_404() {
    let w = world().await;
    let ann = w.env.user("ann@acme.test", false).await;
    w.env.add_member("acme", ann.id, OrgRole::Member).await;
    let mallory = w.env.user("mallory@other.test", false).await;
    w.env
        .store
        .create_organization("other", "Other", mallory.id, 0)
        .await
        .unwrap();

    let mut b = w.browser();
    assert_eq!(
        b.sign_in("ann@acme.test", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    // The monitors list: one sparkline per monitor, links to the incidents and status pages.
    let list = b.get("/orgs/acme/projects/shop/monitors/").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(
        list.body.matches("<svg class=\"sparkline\"").count(),
        2,
        "{}",
        list.body
    );
    assert_eq!(list.body.matches("class=\"monitor-row\"").count(), 2);
    assert!(
        list.body
            .contains("09:00–10:00 UTC: 100% (0 failed of 60), mean 40 ms"),
        "{}",
        list.body
    );
    assert!(
        list.body
            .contains("href=\"/orgs/acme/projects/shop/monitors/incidents/\"")
    );
    assert!(list.body.contains("href=\"/status/acme/shop/\""));

    // The incidents page: both incidents, newest first, with monitor links and evidence.
    let path = "/orgs/acme/projects/shop/monitors/incidents/";
    let page = b.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        page.body.matches("class=\"incident-row\"").count(),
        2,
        "{}",
        page.body
    );
    let secret = page.body.find("Secret backend").unwrap();
    let checkout = page.body.find("Checkout API").unwrap();
    assert!(secret < checkout, "newest first: {}", page.body);
    assert!(
        page.body
            .contains(&format!("href=\"/orgs/acme/monitors/{}/\"", w.public_id))
    );
    assert!(page.body.contains(">ongoing<"), "{}", page.body);
    assert!(page.body.contains("status 503, expected 2xx"), "{}", page.body);
    assert!(!page.body.contains("id=\"older-page\""));

    // The monitor page: the response-time chart, and badge Markdown as the monitor is public.
    let monitor = b.get(&format!("/orgs/acme/monitors/{}/", w.public_id)).await;
    assert_eq!(monitor.status, StatusCode::OK);
    assert!(
        monitor.body.contains("<svg class=\"line-chart\""),
        "{}",
        monitor.body
    );
    assert!(monitor.body.contains("mean 40 ms"), "{}", monitor.body);
    assert!(
        monitor
            .body
            .contains(&format!("/api/0/monitors/{}/badge.svg)", w.public_id))
    );
    let private = b.get(&format!("/orgs/acme/monitors/{}/", w.private_id)).await;
    assert!(private.body.contains("<svg class=\"line-chart\""));
    assert!(!private.body.contains("badge.svg"));

    // Someone of another organization: 404, nothing shown.
    let mut m = w.browser();
    assert_eq!(
        m.sign_in("mallory@other.test", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let denied = m.get(path).await;
    assert_eq!(denied.status, StatusCode::NOT_FOUND);
    assert!(!denied.body.contains("Checkout API"), "{}", denied.body);
    w.env.server.shutdown().await.unwrap();
}
