//! Heartbeat and Sentry cron monitors through the whole running server on a test clock: the real
//! sentry-python SDK (`@monitor`, `capture_checkin`) creates a cron monitor with its first
//! check-in; a missed run, a failed run and a timed-out run each raise exactly one alert at a
//! real local webhook receiver, and an on-time run ends each outage. A heartbeat monitor made
//! through the API is pinged at its URL (Sentry's HTTP check-in API), goes down when a ping is
//! late, and bad pings get precise errors.
//!
//! The server's clock only moves when the test moves it, so "an hour later" takes no time; the
//! sweep and the verifier run on their own short real-time ticks.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sentinel_server::clock::ManualClock;
use serde_json::{Value, json};
use support::hook::Hook;

const TOKEN: &str = "sntl_cron_test_token_00000000000000000000000000000";
const KEY: &str = "0123456789abcdef0123456789abcdef";
/// 2026-11-23 10:00:00 UTC.
const T0: i64 = 1_795_428_000_000;
const MINUTE: i64 = 60_000;
const WAIT: Duration = Duration::from_secs(30);

type Env = support::api::ApiEnv;

/// A server on a manual clock, its project `acme/shop` (key [`KEY`]), an instance token, and a
/// monitor rule notifying a webhook receiver.
async fn start() -> (Env, Arc<ManualClock>, String, Hook) {
    let clock = Arc::new(ManualClock::new(T0));
    let env = Env::start_with(
        |settings| {
            settings.public_url = Some("http://sentinel.test".into());
            settings.alerts.retry_base_ms = 100;
        },
        clock.clone(),
    )
    .await;
    let (project, _) = env
        .store
        .create_project("acme", "shop", "python", KEY, T0)
        .await
        .unwrap();
    let p = project.id.to_string();
    support::instance_token(env.store.as_ref(), TOKEN).await;
    let (hook, hook_url) = Hook::start().await;
    let channel = env.webhook_channel(TOKEN, &p, &hook_url).await;
    env.post(
        TOKEN,
        &format!("/api/0/projects/{p}/alert-rules/"),
        json!({"name": "jobs", "condition": {"kind": "monitor_down"}, "channels": [channel["id"]]}),
    )
    .await
    .expect(201);
    (env, clock, p, hook)
}

/// Waits for the `n`th notification, then a little longer to catch any extra one.
async fn wait_for(hook: &Hook, n: usize) -> Vec<String> {
    hook.wait_for(n, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    hook.titles()
}

impl Env {
    /// Polls the monitor with this slug until `check` holds for it.
    async fn wait_monitor(&self, p: &str, slug: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let list = self
                .get(TOKEN, &format!("/api/0/projects/{p}/monitors/"))
                .await
                .expect(200);
            let found = list["data"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["slug"] == slug)
                .cloned();
            if let Some(m) = &found
                && check(m)
            {
                return m.clone();
            }
            assert!(
                Instant::now() < deadline,
                "monitor {slug} never {what}: {found:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn sdk_dir() -> PathBuf {
    let root = std::env::var_os("SENTINEL_SDK_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.sdk"),
        PathBuf::from,
    );
    let dir = root.join("python");
    assert!(
        dir.join(".installed").is_file(),
        "sentry-python is not installed in {}: run scripts/test, which installs the SDKs and runs the tests",
        dir.display()
    );
    dir
}

/// Runs `tests/sdk/python/cron_check_ins.py MODE` against the server; fails if the SDK did.
async fn sdk(env: &Env, p: &str, mode: &str) {
    let host = env.server.base_url().trim_start_matches("http://").to_owned();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk/python/cron_check_ins.py");
    let out = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(std::env::var("SENTINEL_PYTHON").unwrap_or_else(|_| "python3".into()))
            .arg(script)
            .arg(mode)
            .env("PYTHONPATH", sdk_dir())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("SENTRY_DSN", format!("http://{KEY}@{host}/{p}"))
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("cron_check_ins.py {mode} did not finish within {WAIT:?}"))
    .unwrap();
    assert!(
        out.status.success(),
        "cron_check_ins.py {mode} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentry_python_check_ins_raise_one_alert_per_missed_failed_and_timed_out_run() {
    let (env, clock, p, hook) = start().await;

    // The first run creates the monitor from its monitor_config, and is on time: up.
    sdk(&env, &p, "ok").await;
    let m = env
        .wait_monitor(&p, "nightly-report", "came up", |m| m["status"] == "up")
        .await;
    assert_eq!(m["type"], "cron", "{m}");
    assert_eq!(m["schedule"], json!({"type": "interval", "seconds": 3600}), "{m}");
    assert_eq!(
        (m["grace_seconds"].as_u64(), m["max_runtime_seconds"].as_u64()),
        (Some(300), Some(600))
    );
    assert_eq!(
        (m["failure_threshold"].as_u64(), m["recovery_threshold"].as_u64()),
        (Some(1), Some(1))
    );
    let id = m["id"].as_str().unwrap().to_owned();
    let checks = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/checks/"))
        .await
        .expect(200);
    assert_eq!(
        checks.as_array().unwrap().len(),
        1,
        "one result per run, not per check-in: {checks}"
    );
    assert_eq!(checks[0]["ok"], true);

    // Missed: nothing by the hour plus the 5 minutes' margin.
    clock.advance(65 * MINUTE - 1_000);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        hook.titles(),
        Vec::<String>::new(),
        "not missed before the margin ran out"
    );
    clock.advance(2_000);
    assert_eq!(wait_for(&hook, 1).await, ["nightly-report: run missed"]);
    let down = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/"))
        .await
        .expect(200);
    assert_eq!(down["status"], "down", "{down}");
    let incidents = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/incidents/"))
        .await
        .expect(200);
    let error = incidents["data"][0]["evidence"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.starts_with("run missed: no check-in by"), "{incidents}");

    // The next run is on time: the outage ends, once.
    clock.advance(10 * MINUTE);
    sdk(&env, &p, "ok").await;
    assert_eq!(
        wait_for(&hook, 2).await,
        ["nightly-report: run missed", "nightly-report checks in again"]
    );

    // A failed run: one alert, with the SDK's status.
    clock.advance(MINUTE);
    sdk(&env, &p, "fail").await;
    let titles = wait_for(&hook, 3).await;
    assert_eq!(titles[2], "nightly-report: run failed", "{titles:?}");
    assert_eq!(titles.len(), 3, "{titles:?}");

    // Recovered, then a run starts and never finishes: timed out after 10 minutes, one alert.
    clock.advance(MINUTE);
    sdk(&env, &p, "ok").await;
    wait_for(&hook, 4).await;
    clock.advance(MINUTE);
    sdk(&env, &p, "start").await;
    // The worker records the run (no result yet: it has not finished).
    let numeric: i64 = id.parse().unwrap();
    let deadline = Instant::now() + WAIT;
    while env.store.cron_run(numeric, None).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "the run was never recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    clock.advance(11 * MINUTE);
    let titles = wait_for(&hook, 5).await;
    assert_eq!(
        titles,
        [
            "nightly-report: run missed",
            "nightly-report checks in again",
            "nightly-report: run failed",
            "nightly-report checks in again",
            "nightly-report: run timed out",
        ]
    );
    let results = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/checks/"))
        .await
        .expect(200);
    let oks: Vec<bool> = results
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|c| c["ok"].as_bool().unwrap())
        .collect();
    assert_eq!(oks, [true, false, true, false, true, false], "{results}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_is_pinged_at_its_url_and_goes_down_when_a_ping_is_late() {
    let (env, clock, p, hook) = start().await;
    let m = env
        .post(
            TOKEN,
            &format!("/api/0/projects/{p}/monitors/"),
            json!({"name": "Nightly backup", "type": "heartbeat", "interval_seconds": 3600, "grace_seconds": 120}),
        )
        .await
        .expect(201);
    assert_eq!(m["slug"], "nightly-backup", "{m}");
    assert_eq!(m["status"], "pending");
    assert_eq!(m["failure_threshold"], 1);
    let id = m["id"].as_str().unwrap().to_owned();

    // Pinged (a GET, as curl or a cron line does): up.
    let ping = env.url(&format!("/api/0/cron/nightly-backup/{KEY}/"));
    let r = env.http.get(&ping).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert!(body["id"].as_str().is_some_and(|s| s.len() == 32), "{body}");
    env.wait_monitor(&p, "nightly-backup", "came up", |m| m["status"] == "up")
        .await;

    // Late: an hour and the two minutes' grace without a ping.
    clock.advance(62 * MINUTE + 1_000);
    assert_eq!(wait_for(&hook, 1).await, ["Nightly backup: run missed"]);
    // The job reports its own failure with a POST and a body of its log.
    let r = env
        .http
        .post(format!("{ping}?status=error"))
        .body("tar: /var/backups: No space left on device")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // Still down: no second alert for the same outage.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(hook.titles(), ["Nightly backup: run missed"]);
    clock.advance(5 * MINUTE);
    let r = env.http.post(&ping).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(
        wait_for(&hook, 2).await,
        ["Nightly backup: run missed", "Nightly backup checks in again"]
    );

    // Bad pings: precise errors, nothing recorded.
    let before = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/checks/"))
        .await
        .expect(200);
    let status = |path: String| {
        let http = env.http.clone();
        let url = env.url(&path);
        async move {
            let r = http.get(url).send().await.unwrap();
            let code = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (code, body["detail"].as_str().unwrap_or_default().to_owned())
        }
    };
    let (code, detail) = status(format!("/api/0/cron/nightly-backup/{KEY}/?status=done")).await;
    assert_eq!(code, 400);
    assert!(detail.contains("in_progress, ok, error"), "{detail}");
    let (code, detail) = status(format!("/api/0/cron/weekly/{KEY}/")).await;
    assert_eq!(code, 404);
    assert!(detail.contains("weekly"), "{detail}");
    let (code, _) = status("/api/0/cron/nightly-backup/ffffffffffffffffffffffffffffffff/".into()).await;
    assert_eq!(code, 401);
    let (code, detail) = status(format!("/api/0/cron/nightly-backup/{KEY}/?check_in_id=42")).await;
    assert_eq!(code, 400);
    assert!(detail.contains("check_in_id"), "{detail}");
    let after = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/checks/"))
        .await
        .expect(200);
    assert_eq!(before, after);

    // Heartbeat settings are validated by field.
    for (body, needle) in [
        (
            json!({"type": "heartbeat", "name": "x", "schedule": "every day"}),
            "schedule",
        ),
        (
            json!({"type": "heartbeat", "name": "x", "schedule": "0 3 * * *", "timezone": "Moon/Base"}),
            "timezone",
        ),
        (
            json!({"type": "heartbeat", "name": "x", "slug": "Has Spaces"}),
            "slug",
        ),
        (
            json!({"type": "heartbeat", "name": "x", "grace_seconds": "soon"}),
            "grace_seconds",
        ),
        (json!({"type": "heartbeat", "name": "Nightly backup"}), "slug"),
    ] {
        let r = env
            .post(TOKEN, &format!("/api/0/projects/{p}/monitors/"), body.clone())
            .await;
        let code = r.status.as_u16();
        assert!(code == 400 || code == 409, "{body}: {code}");
        assert!(r.text.contains(needle), "{body}: {}", r.text);
    }
    // A crontab heartbeat in a time zone: its next deadline is the next 03:00 there plus grace.
    let daily = env
        .post(
            TOKEN,
            &format!("/api/0/projects/{p}/monitors/"),
            json!({"name": "Daily export", "type": "heartbeat", "schedule": "0 3 * * *",
                   "timezone": "Europe/Berlin", "grace_seconds": 600}),
        )
        .await
        .expect(201);
    assert_eq!(daily["interval_seconds"], 86_400, "{daily}");
    let next = chrono::DateTime::parse_from_rfc3339(daily["next_check"].as_str().unwrap()).unwrap();
    assert_eq!(
        next.format("%H:%M").to_string(),
        "02:10",
        "03:00 in Berlin is 02:00 UTC in winter: {daily}"
    );
}
