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
