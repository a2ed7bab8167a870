//! The real binary: durability across SIGKILL (an event answered 200 survives, is processed after
//! the restart and counted once), graceful shutdown, data-dir locking and `sentinel seed`.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");

fn last_line(args: &[&str], dir: &Path) -> String {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run sentinel");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

/// Starts `sentinel serve` on a free port and returns it with its address once it listens.
fn serve(dir: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent
                && let Ok(v) = serde_json::from_str::<Value>(&line)
                && let Some(addr) = v["fields"]["addr"].as_str()
            {
                let _ = tx.send(addr.to_owned());
                sent = true;
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server did not report its address");
    (child, addr)
}

fn envelope(id: &str, n: usize) -> Vec<u8> {
    let event = serde_json::json!({
        "event_id": id,
        "platform": "python",
        "exception": {"values": [{"type": "KeyError", "value": format!("'order-{}'", n % 7),
            "stacktrace": {"frames": [{"module": "shop.orders", "function": format!("step_{}", n % 3), "in_app": true}]}}]},
        "tags": {"tenant_id": format!("t{}", n % 5)},
    })
    .to_string();
    format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    )
    .into_bytes()
}

async fn wait_drained(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(resp) = http.get(format!("{base}/ready")).send().await
            && let Ok(v) = resp.json::<Value>().await
            && v["inbox_depth"] == 0
        {
            return;
        }
        assert!(Instant::now() < deadline, "inbox not drained after restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates the project "shop" and returns its DSN's public key.
fn project_key(dir: &Path) -> String {
    let dsn = last_line(&["project", "create", "shop"], dir);
    dsn.trim_start_matches("http://")
        .split('@')
        .next()
        .unwrap()
        .to_owned()
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Value {
    let resp = http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let key = project_key(dir.path());
    let token = last_line(&["token", "create", "crash-test"], dir.path());
    let (mut child, addr) = serve(dir.path());
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let sent: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for worker in 0..8usize {
        let (http, base, key, acked, sent) = (
            http.clone(),
            base.clone(),
            key.clone(),
            acked.clone(),
            sent.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Bounded: each connection sends at most 5,000 events; the kill ends it much sooner.
            for n in 0..5_000usize {
                let id = format!("{:08x}{n:024x}", worker + 1);
                sent.lock().unwrap().push(id.clone());
                let resp = http
                    .post(format!("{base}/api/1/envelope/"))
                    .header(
                        "x-sentry-auth",
                        format!("Sentry sentry_key={key}, sentry_version=7"),
                    )
                    .body(envelope(&id, n))
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().push(id),
                    Ok(r) => panic!("unexpected status {} before the kill", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    // Kill once a good amount of load is in flight, whatever the machine's speed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 1_500 {
        assert!(Instant::now() < deadline, "load did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    let _ = child.wait();
    for t in tasks {
        t.await.unwrap();
    }
    let acked: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let sent: Vec<String> = sent.lock().unwrap().clone();

    let (mut child, addr) = serve(dir.path());
    let base = format!("http://{addr}");
    wait_drained(&http, &base).await;

    let mut found = 0u64;
    for id in &sent {
        let status = http
            .get(format!("{base}/api/0/projects/1/events/{id}/"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        match status.as_u16() {
            200 => found += 1,
            404 => assert!(
                !acked.contains(id),
                "event {id} was answered 200 but is missing after the restart"
            ),
            other => panic!("unexpected status {other} reading event {id}"),
        }
    }
    assert!(found >= acked.len() as u64);

    // Counted exactly once: the rollups and issue counters agree with the stored events.
    let stats = get_json(
        &http,
        &format!("{base}/api/0/projects/1/stats/?resolution=1d"),
        &token,
    )
    .await;
    assert_eq!(stats["total"].as_u64(), Some(found), "{stats}");
    let issues = get_json(
        &http,
        &format!("{base}/api/0/projects/1/issues/?limit=100"),
        &token,
    )
    .await;
    let times_seen: u64 = issues["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["times_seen"].as_u64().unwrap())
        .sum();
    assert_eq!(times_seen, found);
    eprintln!(
        "sent {}, acknowledged {}, stored {found}",
        sent.len(),
        acked.len()
    );
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn sigterm_finishes_in_flight_work_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let key = project_key(dir.path());
    let (mut child, addr) = serve(dir.path());
    let http = reqwest::Client::new();
    for n in 0..50usize {
        let resp = http
            .post(format!("http://{addr}/api/1/envelope/?sentry_key={key}"))
            .body(envelope(&format!("{:032x}", n + 1), n))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "serve exited with {exit}");
    for wal in ["sentinel.db-wal", "inbox.db-wal"] {
        let left = std::fs::metadata(dir.path().join(wal))
            .map(|m| m.len())
            .unwrap_or(0);
        assert_eq!(left, 0, "{wal} was not checkpointed on shutdown");
    }
    // A second server may now take the data directory, and finds nothing left behind.
    let (mut again, addr) = serve(dir.path());
    wait_drained(&http, &format!("http://{addr}")).await;
    again.kill().unwrap();
    let _ = again.wait();
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut first, _) = serve(dir.path());
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already using"));
    first.kill().unwrap();
    let _ = first.wait();
}

#[tokio::test]
async fn seed_sends_realistic_events_through_the_ingest_path() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serve(dir.path());
    let dsn = last_line(&["--listen", &addr, "project", "create", "seeded"], dir.path());
    let token = last_line(&["token", "create", "t"], dir.path());
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["seed", "--events", "300", "--dsn", &dsn])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    wait_drained(&http, &base).await;
    let stats = get_json(
        &http,
        &format!("{base}/api/0/projects/1/stats/?resolution=1d"),
        &token,
    )
    .await;
    assert_eq!(stats["total"], 300, "{stats}");
    let issues = get_json(
        &http,
        &format!("{base}/api/0/projects/1/issues/?limit=100"),
        &token,
    )
    .await;
    let n = issues["data"].as_array().unwrap().len();
    assert!(n > 10, "realistic traffic spreads over many issues, got {n}");
    child.kill().unwrap();
    let _ = child.wait();
}
