//! The dashboard end to end in a real headless Chromium, as a new user meets it: first-run setup,
//! creating a project, an error sent by the official Python SDK appearing in the issue list without
//! a reload, the issue page with its in-app frame, resolving and commenting, the issue regressing
//! when the error comes back, signing out and in again. Each step is screenshotted (light, and the
//! main pages dark too) into `$CARGO_TARGET_TMPDIR/screenshots/<test name>/`, and any JavaScript
//! error or CSP violation in the console fails the test. A second journey adds a webhook channel
//! and a new-issue rule on the alerts page and sees the test notification and the SDK error's
//! notification arrive at a receiver on 127.0.0.1 and in the delivery log. A third adds an HTTP
//! monitor of a server on 127.0.0.1 and follows it up, down (an incident) and into maintenance.
//!
//! The real binary runs on a fresh SQLite data directory, or on a fresh PostgreSQL schema when
//! `SENTINEL_TEST_BACKEND=postgres` (with `SENTINEL_TEST_DATABASE_URL`). Chromium, ChromeDriver
//! and sentry-python are installed by `scripts/test`; without them this fails, it never skips.

#[path = "support/browser.rs"]
mod browser;
mod common;
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use browser::Browser;
use common::{Deadline, python, repo_root, run_child, sdk_dir};
use support::{Node, PgSchema};

const ALL_ROLES: &str = "ingest,worker,web,scheduler";
/// With the uptime checker too, for the monitor journey.
const WITH_CHECKER: &str = "ingest,worker,web,scheduler,checker";
const DASHBOARD: &str = "/orgs/default/";
const SETTINGS: &str = "/orgs/default/projects/shop-api/settings/";
const ISSUES: &str = "/orgs/default/projects/shop-api/issues/";
const ALERTS: &str = "/orgs/default/projects/shop-api/alerts/";
const MONITORS: &str = "/orgs/default/projects/shop-api/monitors/";
const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";
/// How long a reloaded issue page may take to show the regression.
const REGRESSION_WAIT: Duration = Duration::from_secs(20);
const SDK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a monitor checked every 10 s may take to be confirmed up (2 checks) or down (3).
const MONITOR_WAIT: Duration = Duration::from_secs(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_sets_up_sentinel_and_follows_an_error_to_its_regression() {
    let server = Sentinel::start().await;
    let b = Browser::start(
        "a_new_user_sets_up_sentinel_and_follows_an_error_to_its_regression",
        &server.node.base,
    )
    .await;

    // First run: every page leads to the setup form.
    b.goto("/").await;
    b.wait_for_path("/setup").await;
    b.wait_for("#setup-form").await;
    b.screenshot("setup").await;
    b.prefer_dark(true).await;
    b.screenshot("setup-dark").await;
    b.prefer_dark(false).await;
    b.fill("#setup-form [name=name]", "Ada Lovelace").await;
    b.fill("#setup-form [name=email]", EMAIL).await;
    b.fill("#setup-form [name=password]", PASSWORD).await;
    b.click("#setup-submit").await;
    b.wait_for_path(DASHBOARD).await;
    b.screenshot("dashboard").await;

    // A project, and its DSN on the settings page it lands on.
    b.click("#new-project").await;
    b.wait_for_path("/orgs/default/projects/new").await;
    let form = "form:has(#project-create-submit)";
    b.fill(&format!("{form} [name=name]"), "Shop API").await;
    b.select(&format!("{form} select[name=platform]"), "python").await;
    b.screenshot("new-project").await;
    b.click("#project-create-submit").await;
    b.wait_for_path(SETTINGS).await;
    let dsn = b.text("code.dsn").await.trim().to_owned();
    assert!(
        dsn.starts_with("http://") && dsn.contains('@') && dsn.contains("127.0.0.1"),
        "the first code.dsn on {SETTINGS} should hold the project's DSN, it reads {dsn:?}"
    );
    b.screenshot("project-settings").await;
    // The DSN's copy button (app.js).
    b.click("code.dsn ~ [data-copy]").await;
    b.wait_for_text("code.dsn ~ [data-copy]", "Copied").await;

    // The issue list picks up a new error by itself.
    b.goto(ISSUES).await;
    b.execute("window.sentinelNotReloaded = true; return null").await;
    b.screenshot("issues-empty").await;
    send_error(&dsn).await;
    let row = b
        .wait_for_text(".issue-row a.issue-link", "ZeroDivisionError")
        .await;
    assert_eq!(
        b.execute("return window.sentinelNotReloaded === true").await,
        true,
        "the issue list reloaded itself to show {row:?}: it should update in place (htmx)"
    );
    b.screenshot("issues").await;

    // The issue page.
    b.click(".issue-row a.issue-link").await;
    b.wait_for_text("#issue-title", "ZeroDivisionError").await;
    b.wait_for_text(".frame.in-app .frame-function", "checkout_cart")
        .await;
    b.wait_for_exact_text("#issue-status", "unresolved").await;
    let issue_path = b.path().await;
    // uPlot drew the page's charts under the CSP.
    b.wait_for(".chart[data-chart] canvas").await;
    b.screenshot("issue").await;

    b.click("#resolve-button").await;
    b.wait_for_exact_text("#issue-status", "resolved").await;
    b.screenshot("resolved").await;

    let comment = "Empty carts reach checkout; guarding in the view.";
    b.fill("#comment-form textarea[name=body]", comment).await;
    b.click("#comment-submit").await;
    b.wait_for_text(".comment", comment).await;
    b.wait_for_text("#activity .activity-item", "resolved").await;
    b.wait_for_text("#activity .activity-item", "comment").await;
    b.screenshot("commented").await;

    // The same error again: the resolved issue regresses.
    send_error(&dsn).await;
    let deadline = Deadline::after(REGRESSION_WAIT);
    loop {
        b.reload().await;
        let status = b.texts("#issue-status").await;
        if b.exists("#regression-badge").await
            && status
                .first()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case("unresolved"))
        {
            break;
        }
        if !deadline.pause().await {
            panic!(
                "{issue_path} shows no #regression-badge with #issue-status \"unresolved\" within \
                 {REGRESSION_WAIT:?} of the error coming back (status reads {status:?}, badge \
                 present: {})",
                b.exists("#regression-badge").await
            );
        }
    }
    b.screenshot("regression").await;

    // The main pages in the dark theme.
    b.prefer_dark(true).await;
    b.screenshot("regression-dark").await;
    b.goto(ISSUES).await;
    b.wait_for(".issue-row").await;
    b.screenshot("issues-dark").await;
    b.goto(SETTINGS).await;
    b.wait_for("code.dsn").await;
    b.screenshot("project-settings-dark").await;
    b.prefer_dark(false).await;

    // The theme toggle overrides the system's choice and is remembered across pages.
    for expected in ["light", "dark"] {
        b.click("[data-theme-toggle]").await;
        assert_eq!(
            theme(&b).await,
            expected,
            "the theme toggle cycles light, dark, system"
        );
    }
    b.reload().await;
    b.wait_for("code.dsn").await;
    assert_eq!(
        theme(&b).await,
        "dark",
        "the chosen theme should survive a reload"
    );
    b.screenshot("project-settings-dark-chosen").await;
    b.click("[data-theme-toggle]").await;
    assert_eq!(
        theme(&b).await,
        "system",
        "after dark the toggle goes back to the system's theme"
    );

    // Signing out closes the pages; a wrong password is refused; signing in on /login again
    // leads to the dashboard.
    b.click("#logout-button").await;
    b.goto(ISSUES).await;
    b.wait_for_path("/login").await;
    b.goto("/login").await;
    b.fill("#login-form [name=email]", EMAIL).await;
    b.fill("#login-form [name=password]", "not the password").await;
    b.click("#login-submit").await;
    b.wait_for(".flash.error").await;
    b.screenshot("login-wrong-password").await;
    b.fill("#login-form [name=email]", EMAIL).await;
    b.fill("#login-form [name=password]", PASSWORD).await;
    b.click("#login-submit").await;
    b.wait_for_path(DASHBOARD).await;
    b.wait_for("#logout-button").await;
    b.screenshot("signed-in-again").await;

    b.close().await;
    server.stop().await;
}

/// First-run setup as Ada, then the project "Shop API"; returns its DSN.
async fn set_up_with_a_project(b: &Browser) -> String {
    b.goto("/").await;
    b.wait_for_path("/setup").await;
    b.fill("#setup-form [name=name]", "Ada Lovelace").await;
    b.fill("#setup-form [name=email]", EMAIL).await;
    b.fill("#setup-form [name=password]", PASSWORD).await;
    b.click("#setup-submit").await;
    b.wait_for_path(DASHBOARD).await;
    b.click("#new-project").await;
    let form = "form:has(#project-create-submit)";
    b.fill(&format!("{form} [name=name]"), "Shop API").await;
    b.select(&format!("{form} select[name=platform]"), "python").await;
    b.click("#project-create-submit").await;
    b.wait_for_path(SETTINGS).await;
    b.text("code.dsn").await.trim().to_owned()
}

/// A webhook receiver on 127.0.0.1 that records the title of every notification it gets.
async fn webhook_receiver() -> (Arc<Mutex<Vec<String>>>, String) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::Json<serde_json::Value>| async move {
            let title = body["title"].as_str().unwrap_or_default().to_owned();
            seen.lock().unwrap_or_else(|p| p.into_inner()).push(title);
            axum::http::StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("binding the receiver: {e}"));
    let url = format!(
        "http://{}/hook",
        listener
            .local_addr()
            .unwrap_or_else(|e| panic!("receiver address: {e}"))
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (got, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_a_webhook_and_a_new_issue_rule_and_sees_both_deliveries_in_the_log() {
    let server = Sentinel::start().await;
    let (got, hook) = webhook_receiver().await;
    let b = Browser::start(
        "an_admin_adds_a_webhook_and_a_new_issue_rule_and_sees_both_deliveries_in_the_log",
        &server.node.base,
    )
    .await;
    let dsn = set_up_with_a_project(&b).await;

    // The project nav leads to the alerts page.
    b.click("a[href$='/projects/shop-api/alerts/']").await;
    b.wait_for_path(ALERTS).await;
    b.screenshot("alerts-empty").await;
    b.fill("#channel-name", "ops hook").await;
    b.select("#channel-kind", "webhook").await;
    b.fill("#channel-url", &hook).await;
    b.click("#channel-submit").await;
    // The signing secret, once.
    let secret = b.text("#signing-secret").await;
    assert_eq!(secret.trim().len(), 64, "{secret:?}");
    b.screenshot("alerts-channel-created").await;

    // "Send test notification": it arrives, and the log says so.
    b.click(".channel-row button[type=submit]").await;
    b.wait_for("#alerts-notice").await;
    let deadline = Deadline::after(Duration::from_secs(30));
    while got.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
        assert!(deadline.pause().await, "the test notification never arrived");
    }
    assert!(
        got.lock().unwrap_or_else(|p| p.into_inner())[0].starts_with("Test notification for \"ops hook\"")
    );

    // A rule for new issues, then an error from the Python SDK.
    b.fill("#rule-name", "Every new issue").await;
    b.select("#rule-kind", "new_issue").await;
    b.click("#rule-submit").await;
    b.wait_for_text(".rule-row", "Every new issue").await;
    send_error(&dsn).await;
    let deadline = Deadline::after(Duration::from_secs(30));
    while got.lock().unwrap_or_else(|p| p.into_inner()).len() < 2 {
        assert!(
            deadline.pause().await,
            "the new issue's notification never arrived"
        );
    }
    assert!(
        got.lock().unwrap_or_else(|p| p.into_inner())[1].starts_with("New issue: ZeroDivisionError"),
        "{:?}",
        got.lock().unwrap_or_else(|p| p.into_inner())
    );
    // Both rows in the delivery log, delivered.
    let deadline = Deadline::after(Duration::from_secs(30));
    loop {
        b.goto(ALERTS).await;
        let statuses = b.texts_of("#delivery-log .notification-row", "data-status").await;
        if statuses.len() == 2 && statuses.iter().all(|s| s == "delivered") {
            break;
        }
        assert!(deadline.pause().await, "delivery log: {statuses:?}");
    }
    b.screenshot("alerts").await;

    // A tenant rule: choosing its kind swaps in its fields, with their starting values.
    b.fill("#rule-name", "Dominating tenant").await;
    b.select("#rule-kind", "tenant_share").await;
    b.wait_for("#rule-evaluations").await;
    b.fill("#rule-percent", "60").await;
    b.click("#rule-submit").await;
    b.wait_for_text(".rule-row", "more than 60% of the 5xx in 10 minutes")
        .await;
    b.assert_console_clean("alerts").await;
    b.close().await;
    server.stop().await;
}

/// A health endpoint on 127.0.0.1 answering 200 while `healthy` holds, 500 after; its URL.
async fn health_target() -> (Arc<AtomicBool>, String) {
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = healthy.clone();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || async move {
            if flag.load(Ordering::SeqCst) {
                (axum::http::StatusCode::OK, "ok")
            } else {
                (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "database gone")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("binding the health target: {e}"));
    let url = format!(
        "http://{}/health",
        listener
            .local_addr()
            .unwrap_or_else(|e| panic!("health target address: {e}"))
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (healthy, url)
}

/// Reloads the monitors list until the first monitor's status reads `expected`, within
/// [`MONITOR_WAIT`].
async fn wait_for_monitor_status(b: &Browser, server: &Sentinel, expected: &str) {
    let deadline = Deadline::after(MONITOR_WAIT);
    loop {
        b.goto(MONITORS).await;
        let status = b.texts(".monitor-row .badge").await;
        if status.first().is_some_and(|s| s.trim() == expected) {
            return;
        }
        assert!(
            deadline.pause().await,
            "the monitor should be {expected} within {MONITOR_WAIT:?} on {MONITORS}, its status reads \
             {status:?}; the server's log:\n{}",
            server.node.log_tail()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_adds_an_http_monitor_and_follows_it_up_down_and_into_maintenance() {
    let server = Sentinel::start_with(WITH_CHECKER).await;
    let (healthy, target) = health_target().await;
    let b = Browser::start(
        "a_user_adds_an_http_monitor_and_follows_it_up_down_and_into_maintenance",
        &server.node.base,
    )
    .await;
    set_up_with_a_project(&b).await;

    // An HTTP monitor of the target, checked every 10 seconds (the minimum).
    b.goto(MONITORS).await;
    b.wait_for("#monitor-form").await;
    b.select("#monitor-form #type", "http").await;
    b.fill("#monitor-form #name", "Shop health").await;
    b.fill("#monitor-form #url", &target).await;
    b.fill("#monitor-form #interval_seconds", "10").await;
    b.screenshot("monitor-form").await;
    b.click("#monitor-form button[type=submit]").await;
    b.wait_for_text("#monitor-status", "pending").await;
    let monitor_path = b.path().await;
    assert!(
        monitor_path.starts_with("/orgs/default/monitors/"),
        "adding a monitor should lead to its page, not {monitor_path}"
    );

    // Up after two good checks; its page has the response-time chart and the checks.
    wait_for_monitor_status(&b, &server, "up").await;
    b.wait_for_text(".monitor-row .monitor-link", "Shop health").await;
    b.screenshot("monitors-up").await;
    b.click(".monitor-row .monitor-link").await;
    b.wait_for_path(&monitor_path).await;
    b.wait_for_exact_text("#monitor-status", "up").await;
    b.wait_for("#latency-chart svg").await;
    b.wait_for_exact_text("#checks .check-row td:nth-child(4)", "200")
        .await;
    b.screenshot("monitor-up").await;

    // The target fails: down after three failed checks, and an ongoing incident with the 500.
    healthy.store(false, Ordering::SeqCst);
    wait_for_monitor_status(&b, &server, "down").await;
    b.screenshot("monitors-down").await;
    b.click("#incidents-link").await;
    b.wait_for_path(&format!("{MONITORS}incidents/")).await;
    let incident = b.wait_for_text(".incident-row", "ongoing").await;
    assert!(
        incident.contains("Shop health") && incident.contains("500"),
        "the incident should name the monitor and the status code: {incident:?}"
    );
    b.screenshot("incidents").await;

    // A maintenance window from the monitors page: the monitor shows `maintenance`.
    b.goto(MONITORS).await;
    b.click("#maintenance-link").await;
    b.wait_for_path(&format!("{MONITORS}maintenance/")).await;
    b.fill("#maintenance-name", "Database restore").await;
    b.select("#maintenance-kind", "once").await;
    // From long ago until far ahead: on now, whatever the server's clock says.
    b.fill("#maintenance-starts", "2020-01-01 00:00").await;
    b.fill("#maintenance-ends", "2099-01-01 00:00").await;
    b.fill("#maintenance-timezone", "Europe/Berlin").await;
    b.click("#maintenance-submit").await;
    let row = b.wait_for_text(".window-row", "Database restore").await;
    assert!(
        row.contains("active") && row.contains("All monitors"),
        "the window should be listed as active for all monitors: {row:?}"
    );
    b.screenshot("maintenance").await;
    b.goto(MONITORS).await;
    b.wait_for_exact_text(".monitor-row .badge", "maintenance").await;
    b.goto(&monitor_path).await;
    b.wait_for_exact_text("#monitor-status", "maintenance").await;
    b.screenshot("monitor-maintenance").await;

    b.assert_console_clean("monitors").await;
    b.close().await;
    server.stop().await;
}

/// `data-theme` of the page (`system` when app.js left it to `prefers-color-scheme`).
async fn theme(b: &Browser) -> String {
    let theme = b
        .execute("return document.documentElement.getAttribute('data-theme') || 'system'")
        .await;
    theme.as_str().unwrap_or_default().to_owned()
}

/// The real binary with the roles asked for, on its own SQLite data directory or PostgreSQL schema.
struct Sentinel {
    // Stops before the schema is dropped.
    node: Node,
    _schema: Option<PgSchema>,
    _dir: tempfile::TempDir,
}

impl Sentinel {
    async fn start() -> Sentinel {
        Sentinel::start_with(ALL_ROLES).await
    }

    /// With `roles` (a comma-separated list in the order `serve` reports them).
    async fn start_with(roles: &str) -> Sentinel {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("creating a data directory: {e}"));
        let data = dir.path().join("data").to_string_lossy().into_owned();
        let (node, schema) = if std::env::var("SENTINEL_TEST_BACKEND").as_deref() == Ok("postgres") {
            let schema = PgSchema::create("browser")
                .await
                .unwrap_or_else(|| panic!("SENTINEL_TEST_BACKEND=postgres needs SENTINEL_TEST_DATABASE_URL"));
            let config = schema.config(dir.path(), "", "");
            let global = [
                "--config",
                &config,
                "--database-url",
                &schema.url,
                "--data-dir",
                &data,
            ];
            (Node::start("sentinel", &global, roles, roles).await, Some(schema))
        } else {
            (
                Node::start("sentinel", &["--data-dir", &data], roles, roles).await,
                None,
            )
        };
        Sentinel {
            node,
            _schema: schema,
            _dir: dir,
        }
    }

    async fn stop(mut self) {
        self.node.stop().await;
    }
}

/// `tests/sdk/python/browser_error.py`: one ZeroDivisionError from `checkout_cart`, sent with
/// sentry-python and flushed; it fails unless the server accepted it.
async fn send_error(dsn: &str) {
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(repo_root().join("tests/sdk/python/browser_error.py"))
        .arg(dsn)
        .env("PYTHONPATH", sdk_dir("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    // SDK settings and proxies from the developer's environment must not reach the client.
    for var in [
        "SENTRY_DSN",
        "SENTRY_RELEASE",
        "SENTRY_ENVIRONMENT",
        "SENTRY_DEBUG",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    run_child(cmd, SDK_TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_call_engineer_finds_the_tenant_behind_the_5xx_and_its_issue() {
    const TENANTS: &str = "/orgs/default/projects/shop-api/tenants/";
    let server = Sentinel::start().await;
    let b = Browser::start(
        "an_on_call_engineer_finds_the_tenant_behind_the_5xx_and_its_issue",
        &server.node.base,
    )
    .await;
    let dsn = set_up_with_a_project(&b).await;
    let dsn = url::Url::parse(&dsn).unwrap_or_else(|e| panic!("the DSN {dsn:?}: {e}"));
    let api = format!(
        "{}/api{}",
        server.node.base.trim_end_matches('/'),
        dsn.path().trim_end_matches('/')
    );
    let key = dsn.username().to_owned();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|e| panic!("an HTTP client: {e}"));

    // 100 5xx in the last minute: acme 68 (61 on /v1/process), beta 21, gamma 7, four others.
    #[expect(
        clippy::disallowed_methods,
        reason = "the server runs on the system clock; the records' timestamps are the real time"
    )]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let record = |tenant: &str, endpoint: &str, status: u16| {
        serde_json::json!({"tenant_id": tenant, "endpoint": endpoint, "method": "POST",
                           "status_code": status, "latency_ms": 40.0, "timestamp": now})
    };
    let mut batch = Vec::new();
    for i in 0..68 {
        batch.push(record(
            "tenant_acme",
            if i < 61 { "/v1/process" } else { "/v1/orders/{id}" },
            500,
        ));
    }
    batch.extend((0..21).map(|_| record("tenant_beta", "/v1/users/{id}", 503)));
    batch.extend((0..7).map(|_| record("tenant_gamma", "/v1/process", 502)));
    batch.extend(["a", "b", "c", "d"].map(|t| record(t, "/v1/process", 500)));
    batch.extend((0..200).map(|_| record("tenant_acme", "/v1/process", 200)));
    let resp = http
        .post(format!("{api}/requests/?sentry_key={key}"))
        .json(&batch)
        .send()
        .await
        .unwrap_or_else(|e| panic!("posting the requests: {e}"));
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    // acme's error, tagged with the tenant, through the envelope endpoint.
    let event = serde_json::json!({"event_id": "a".repeat(32), "level": "error",
        "message": "acme payment declined", "tags": {"tenant_id": "tenant_acme"}});
    let envelope = format!(
        "{}\n{}\n{event}\n",
        serde_json::json!({"event_id": event["event_id"]}),
        serde_json::json!({"type": "event"})
    );
    let resp = http
        .post(format!("{api}/envelope/"))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_version=7, sentry_key={key}"),
        )
        .body(envelope)
        .send()
        .await
        .unwrap_or_else(|e| panic!("posting the event: {e}"));
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);

    // The project nav leads to the Tenants page; the ranking shows up (refreshed in place).
    b.click("a[href$='/projects/shop-api/tenants/']").await;
    b.wait_for_path(TENANTS).await;
    b.wait_for_text("#tenants .tenant-row:first-child .tenant-link", "tenant_acme")
        .await;
    b.wait_for_exact_text("#tenants .tenant-row:first-child .measure", "68%")
        .await;
    b.wait_for_text("#tenants .tenant-row:first-child .endpoint", "/v1/process")
        .await;
    b.wait_for("#tenants .tenant-row:first-child svg.sparkline.counts rect.spark-errors")
        .await;
    b.screenshot("tenants").await;
    // Another ranking through the selector (htmx swaps the table): beta's 21 of 21 first.
    b.select("#by-select", "error_rate").await;
    b.wait_for_text("#tenants .tenant-row:first-child .tenant-link", "tenant_beta")
        .await;
    b.screenshot("tenants-by-error-rate").await;
    b.select("#by-select", "errors").await;
    b.wait_for_text("#tenants .tenant-row:first-child .tenant-link", "tenant_acme")
        .await;

    // acme's page: its endpoints, and its issue once the worker has grouped the event.
    b.click("#tenants .tenant-row:first-child .tenant-link").await;
    b.wait_for_path(&format!("{TENANTS}tenant_acme/")).await;
    b.wait_for_text("#tenant-endpoints .endpoint-row", "/v1/process")
        .await;
    b.wait_for("#tenant-chart svg.line-chart").await;
    let deadline = Deadline::after(Duration::from_secs(30));
    while !b.exists("#tenant-issues .issue-link").await {
        assert!(deadline.pause().await, "acme's issue never showed on its page");
        b.reload().await;
    }
    b.wait_for_text("#tenant-issues .issue-link", "acme payment declined")
        .await;
    b.screenshot("tenant").await;
    b.click("#tenant-issues .issue-link").await;
    b.wait_for_text("#issue-title", "acme payment declined").await;
    assert!(b.path().await.starts_with("/orgs/default/issues/"));
    b.assert_console_clean("tenants").await;
    b.close().await;
    server.stop().await;
}

/// The performance pages in Chromium: a slow checkout sent by the official Rust SDK is found from
/// the project's Performance page, its transaction page draws the charts and lists it among the
/// slowest requests, and its event page shows its spans as a waterfall. Self-contained: its own
/// server, browser and helper below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_follows_a_slow_transaction_from_performance_to_its_spans() {
    const PERFORMANCE: &str = "/orgs/default/projects/shop-api/performance/";
    let server = Sentinel::start().await;
    let b = Browser::start(
        "a_user_follows_a_slow_transaction_from_performance_to_its_spans",
        &server.node.base,
    )
    .await;
    let dsn = set_up_with_a_project(&b).await;
    tokio::task::spawn_blocking(move || send_checkouts_with_rust_sdk(&dsn))
        .await
        .unwrap_or_else(|e| panic!("the Rust SDK thread panicked: {e}"));

    // Performance, from the project's navigation; the list fills once the worker has run.
    b.goto(ISSUES).await;
    b.click(".sidebar a[href$='/shop-api/performance/']").await;
    b.wait_for_path(PERFORMANCE).await;
    let deadline = Deadline::after(Duration::from_secs(30));
    while !b.exists(".transaction-row .transaction-link").await {
        assert!(
            deadline.pause().await,
            "the checkout transactions never reached the Performance page"
        );
        b.reload().await;
    }
    b.wait_for_text(".transaction-row .transaction-link", "/checkout")
        .await;
    b.wait_for_exact_text(".transaction-row .requests", "3").await;
    b.screenshot("performance").await;

    // The transaction: three server-drawn charts and its slowest requests, slowest first.
    b.click(".transaction-row .transaction-link").await;
    b.wait_for_path(&format!("{PERFORMANCE}transaction")).await;
    b.wait_for_text("#transaction-name", "/checkout").await;
    for chart in ["#throughput-chart", "#failure-chart", "#latency-chart"] {
        b.wait_for(&format!("{chart} svg.line-chart path.line")).await;
    }
    let durations = b.texts("#slow-samples .sample-row .duration").await;
    assert_eq!(
        durations,
        ["2500 ms", "300 ms", "120 ms"],
        "the slowest requests, slowest first"
    );
    b.wait_for_exact_text("#slow-samples .sample-row .tenant", "acme")
        .await;
    b.screenshot("performance-transaction").await;

    // Its spans.
    b.click("#slow-samples .sample-row .event-link").await;
    b.wait_for_text("#event-name", "GET /checkout").await;
    let ops = b.texts("#waterfall .span-row .op").await;
    assert_eq!(
        ops,
        ["http.server", "db.query", "http.client"],
        "the waterfall's rows"
    );
    b.wait_for_text("#waterfall .span-row .description", "SELECT * FROM carts")
        .await;
    b.wait_for("#waterfall svg.span-bar rect.bar").await;
    b.screenshot("performance-event").await;
    b.prefer_dark(true).await;
    b.screenshot("performance-event-dark").await;
    b.prefer_dark(false).await;

    b.assert_console_clean("performance").await;
    b.close().await;
    server.stop().await;
}

/// Three `GET /checkout` transactions of 2.5 s (tenant acme, a database and a payment span),
/// 300 ms and 120 ms, sent with the official Rust SDK; their times are set, not slept through.
fn send_checkouts_with_rust_sdk(dsn: &str) {
    let options = sentry::ClientOptions::new()
        .dsn(dsn)
        .traces_sample_rate(1.0)
        .environment("browser");
    let client = Arc::new(sentry::Client::from(sentry::apply_defaults(options)));
    let hub = Arc::new(sentry::Hub::new(
        Some(client.clone()),
        Arc::new(sentry::Scope::default()),
    ));
    sentry::Hub::run(hub, || {
        #[expect(clippy::disallowed_methods, reason = "the SDK stamps real times")]
        let start = std::time::SystemTime::now() - Duration::from_secs(5);
        let at = |ms: u64| start + Duration::from_millis(ms);
        for (tenant, ms) in [("acme", 2_500), ("beta", 300), ("beta", 120)] {
            let ctx = sentry::TransactionContext::new("GET /checkout", "http.server");
            let transaction = sentry::start_transaction_with_timestamp(ctx, start);
            transaction.set_tag("tenant_id", tenant);
            transaction.set_status(sentry::protocol::SpanStatus::Ok);
            if ms == 2_500 {
                let db = transaction.start_child_with_details(
                    "db.query",
                    "SELECT * FROM carts WHERE id = $1",
                    sentry::protocol::SpanId::default(),
                    at(100),
                );
                db.finish_with_timestamp(at(900));
                let pay = transaction.start_child_with_details(
                    "http.client",
                    "POST https://payments.example/charge",
                    sentry::protocol::SpanId::default(),
                    at(1_000),
                );
                pay.finish_with_timestamp(at(2_200));
            }
            transaction.finish_with_timestamp(at(ms));
        }
    });
    assert!(
        client.flush(Some(Duration::from_secs(15))),
        "the Rust SDK did not flush within 15 s"
    );
}
