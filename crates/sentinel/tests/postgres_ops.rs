//! Operating on PostgreSQL with the real binary: the database going away under load (no event
//! answered 200 is lost, and everything recovers without a restart), and moving an embedded
//! installation to PostgreSQL with `sentinel migrate-data` (the API answers the same afterwards).
#![expect(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod common;
mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{run_child, run_child_unchecked};
use serde_json::Value;
use support::{
    CHILD_TIMEOUT, Node, PgSchema, Proxy, cli_last_line, envelope, get_json, http_client, parse_dsn,
    post_envelope, sentinel,
};

const ALL_ROLES: &str = "ingest,worker,web,scheduler";

/// Runs a CLI command to completion (it must succeed) and returns everything it printed.
async fn stdout(args: &[&str]) -> String {
    run_child(sentinel(args).into(), CHILD_TIMEOUT).await.stdout
}

/// What the load generator saw during the outage test.
#[derive(Default)]
struct Seen {
    accepted: Vec<String>,
    unavailable: u64,
    unavailable_without_retry_after: u64,
    other: Vec<String>,
    /// Seconds since the start at which each 503 was answered.
    unavailable_at: Vec<f64>,
}

async fn ready_status(http: &reqwest::Client, base: &str) -> u16 {
    match http.get(format!("{base}/ready")).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_under_load_loses_nothing_and_recovers_without_a_restart() {
    let Some(schema) = PgSchema::create("outage").await else {
        return;
    };
    let url = schema.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let config = schema.config(
        dir.path(),
        "acquire_timeout_ms = 1000\nstatement_timeout_ms = 5000\ninbox_lease_secs = 3",
        "[worker]\nbatch_size = 200",
    );
    let config = config.as_str();
    let dsn = cli_last_line(&[
        "--config",
        config,
        "--database-url",
        &url,
        "project",
        "create",
        "outage",
    ])
    .await;
    let (key, project) = parse_dsn(&dsn);

    let proxy = Proxy::start(support::server_addr(&url)).await;
    let via_proxy = support::url_via(&url, proxy.addr);
    let mut server = Node::start(
        "server",
        &["--config", config, "--database-url", &via_proxy],
        ALL_ROLES,
        ALL_ROLES,
    )
    .await;
    let base = server.base.clone();
    let http = http_client();
    assert_eq!(ready_status(&http, &base).await, 200);

    let seen: Arc<Mutex<Seen>> = Arc::default();
    let started = Instant::now();
    let stop_at = Duration::from_secs(24);
    let mut senders = Vec::new();
    for conn in 0..4usize {
        let (http, base, key, seen) = (http.clone(), base.clone(), key.clone(), seen.clone());
        senders.push(tokio::spawn(async move {
            // Bounded by time and by count.
            for n in 0..100_000usize {
                if started.elapsed() >= stop_at {
                    break;
                }
                let id = format!("{:08x}{n:024x}", conn + 1);
                let resp = post_envelope(&http, &base, project, &key, envelope(&id, n % 6, n)).await;
                let unavailable = {
                    let mut s = seen.lock().unwrap();
                    match resp {
                        Ok(r) if r.status() == 200 => {
                            s.accepted.push(id);
                            false
                        }
                        Ok(r) if r.status() == 503 => {
                            s.unavailable += 1;
                            s.unavailable_at.push(started.elapsed().as_secs_f64());
                            if r.headers().get("retry-after").is_none() {
                                s.unavailable_without_retry_after += 1;
                            }
                            true
                        }
                        Ok(r) => {
                            s.other.push(format!("{}", r.status()));
                            false
                        }
                        Err(e) => {
                            s.other.push(e.to_string());
                            false
                        }
                    }
                };
                if unavailable {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(5)).await;
    let before_outage = seen.lock().unwrap().accepted.len();
    assert!(before_outage > 0, "nothing was accepted before the outage");
    proxy.cut();
    let cut_at = started.elapsed().as_secs_f64();
    // While the database is away, readiness says so.
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut ready_during = 0;
    while Instant::now() < deadline {
        ready_during = ready_status(&http, &base).await;
        if ready_during == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        ready_during, 503,
        "/ready should answer 503 while the database is down"
    );
    tokio::time::sleep(
        Duration::from_secs(10)
            .saturating_sub(Duration::from_secs_f64(started.elapsed().as_secs_f64() - cut_at)),
    )
    .await;
    proxy.restore();
    let restored_at = started.elapsed().as_secs_f64();
    for s in senders {
        s.await.unwrap();
    }

    // Recovery without a restart: ready again, and events accepted after the outage.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready_status(&http, &base).await != 200 {
        assert!(
            Instant::now() < deadline,
            "/ready did not recover after the database returned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = post_envelope(&http, &base, project, &key, envelope(&"f".repeat(32), 0, 0))
        .await
        .unwrap();
    assert_eq!(after.status(), 200, "ingest did not recover after the outage");

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.other.is_empty(),
        "unexpected answers: {:?}",
        &seen.other[..seen.other.len().min(5)]
    );
    assert!(seen.unavailable > 0, "no 503 during a 10 s database outage");
    assert_eq!(seen.unavailable_without_retry_after, 0, "503 without Retry-After");
    assert!(
        seen.unavailable_at.iter().all(|t| *t >= cut_at - 0.5),
        "503 before the outage began"
    );

    // Every event answered 200 is stored once processing catches up.
    let mut accepted: HashSet<String> = seen.accepted.iter().cloned().collect();
    accepted.insert("f".repeat(32));
    let deadline = Instant::now() + Duration::from_secs(90);
    let stored: HashSet<String> = loop {
        let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT event_id FROM events")
            .fetch_all(&schema.pool)
            .await
            .unwrap();
        let stored: HashSet<String> = rows.iter().map(|(b,)| hex(b)).collect();
        if accepted.is_subset(&stored) || Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let missing: Vec<_> = accepted.difference(&stored).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} accepted events were lost, e.g. {missing:?}",
        accepted.difference(&stored).count()
    );
    eprintln!(
        "outage: {} accepted ({} before the cut at {cut_at:.1} s), {} answered 503 until {restored_at:.1} s; all stored",
        accepted.len(),
        before_outage,
        seen.unavailable
    );
    server.stop().await;
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn api(http: &reqwest::Client, base: &str, token: &str, path: &str) -> Value {
    get_json(http, &format!("{base}{path}"), token).await
}

/// The API answers a user would compare before and after moving.
async fn snapshot(http: &reqwest::Client, base: &str, token: &str, project: i64) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut paths = vec![
        "/api/0/projects/".to_owned(),
        format!("/api/0/projects/{project}/issues/?limit=100"),
        format!("/api/0/projects/{project}/issues/?limit=100&sort=times_seen"),
        format!("/api/0/projects/{project}/issues/?limit=100&status=resolved"),
        format!("/api/0/projects/{project}/stats/?resolution=1h"),
    ];
    let issues = api(http, base, token, &paths[1]).await;
    for issue in issues["data"].as_array().unwrap() {
        let id = issue["id"].as_str().unwrap();
        paths.push(format!("/api/0/issues/{id}/"));
        paths.push(format!("/api/0/issues/{id}/events/?limit=100"));
    }
    let events = api(
        http,
        base,
        token,
        &format!(
            "/api/0/issues/{}/events/?limit=3",
            issues["data"][0]["id"].as_str().unwrap()
        ),
    )
    .await;
    for e in events["data"].as_array().unwrap() {
        let event_id = e["eventID"].as_str().or(e["event_id"].as_str()).unwrap();
        paths.push(format!("/api/0/projects/{project}/events/{event_id}/"));
    }
    for p in paths {
        let mut v = api(http, base, token, &p).await;
        strip_urls(&mut v);
        out.push((p, v));
    }
    out
}

/// DSNs and links name the server's address, which differs between the two servers.
fn strip_urls(v: &mut Value) {
    match v {
        Value::String(s) if s.starts_with("http://") => *s = "<url>".into(),
        Value::Array(a) => a.iter_mut().for_each(strip_urls),
        Value::Object(o) => o.values_mut().for_each(strip_urls),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_data_moves_an_embedded_installation_to_postgres_and_the_api_answers_the_same() {
    let Some(schema) = PgSchema::create("migrate_data").await else {
        return;
    };
    let url = schema.url.clone();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data = data.to_str().unwrap();
    let config = schema.config(tmp.path(), "", "");
    let config = config.as_str();

    // An embedded installation with issues, events, tags, a resolved issue and a second project.
    let dsn = cli_last_line(&["--data-dir", data, "project", "create", "shop"]).await;
    cli_last_line(&["--data-dir", data, "project", "create", "billing"]).await;
    let token = cli_last_line(&["--data-dir", data, "token", "create", "ops"]).await;
    let (key, project) = parse_dsn(&dsn);
    let http = http_client();
    let mut server = Node::start("sqlite", &["--data-dir", data], ALL_ROLES, ALL_ROLES).await;
    for n in 0..300usize {
        let id = format!("{:032x}", 0xabc000 + n);
        let r = post_envelope(&http, &server.base, project, &key, envelope(&id, n % 7, n))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = api(&http, &server.base, &token, "/ready").await;
        let issues = api(
            &http,
            &server.base,
            &token,
            &format!("/api/0/projects/{project}/issues/"),
        )
        .await;
        if ready["inbox_depth"] == 0 && issues["data"].as_array().map(Vec::len) == Some(7) {
            break;
        }
        assert!(Instant::now() < deadline, "events not processed: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let issues = api(
        &http,
        &server.base,
        &token,
        &format!("/api/0/projects/{project}/issues/"),
    )
    .await;
    let first = issues["data"][0]["id"].as_str().unwrap().to_owned();
    let resolved = http
        .put(format!("{}/api/0/issues/{first}/", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"status": "resolved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200);
    let before = snapshot(&http, &server.base, &token, project).await;

    // The copy refuses while the server owns the data directory.
    let args = ["--config", config, "migrate-data", "--from", data, "--to", &url];
    let refused = run_child_unchecked(sentinel(&args).into(), CHILD_TIMEOUT).await;
    assert!(!refused.status.success(), "migrate-data ran beside a live server");
    assert!(refused.stderr.contains("stop the server"), "{}", refused.stderr);
    server.stop().await;

    let out = stdout(&args).await;
    assert!(out.contains("verified:"), "{out}");
    let events_line = out.lines().find(|l| l.starts_with("events\t")).unwrap();
    assert_eq!(events_line, "events\t300\t300\t300", "{out}");
    // Running it again resumes after what is there: nothing is copied twice.
    let again = stdout(&args).await;
    assert_eq!(
        again.lines().find(|l| l.starts_with("events\t")).unwrap(),
        "events\t300\t300\t0"
    );

    let mut pg = Node::start(
        "postgres",
        &["--config", config, "--database-url", &url],
        ALL_ROLES,
        ALL_ROLES,
    )
    .await;
    let after = snapshot(&http, &pg.base, &token, project).await;
    assert_eq!(before.len(), after.len());
    for ((path, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a, b, "GET {path} answers differently after the move");
    }

    // The same DSN keeps working, and new rows get fresh ids.
    let r = post_envelope(&http, &pg.base, project, &key, envelope(&"e".repeat(32), 99, 1))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let issues = api(
            &http,
            &pg.base,
            &token,
            &format!("/api/0/projects/{project}/issues/"),
        )
        .await;
        if issues["data"].as_array().map(Vec::len) == Some(8) {
            let ids: HashSet<&str> = issues["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap())
                .collect();
            assert_eq!(ids.len(), 8, "issue ids collide after the move");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a new event was not processed on PostgreSQL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pg.stop().await;
}
