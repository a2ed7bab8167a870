//! The real binary: durability across SIGKILL (an event answered 200 survives, is processed after
//! the restart and counted once), graceful shutdown, data-dir locking, `sentinel seed`, the
//! account commands (`user create/list/reset-password`, `project create --org --platform`,
//! `token create --user --scope`), `monitors apply` (also from `serve` with
//! `uptime.monitors_file`), and `top` over request events a running server aggregated.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
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
    serve_with(dir, &[])
}

/// `serve` with extra global arguments (e.g. `--config FILE`).
fn serve_with(dir: &Path, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
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

    // Every sent event is read back through the API: far beyond the default per-token limit.
    let config = dir.path().join("unlimited-api.toml");
    std::fs::write(&config, "[auth]\napi_per_user_per_minute = 10000000\n").unwrap();
    let (mut child, addr) = serve_with(dir.path(), &["--config", config.to_str().unwrap()]);
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
async fn seed_fills_a_month_of_several_platforms_errors_through_the_ingest_path() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serve(dir.path());
    let dsn = last_line(&["--listen", &addr, "project", "create", "seeded"], dir.path());
    let token = last_line(&["token", "create", "t"], dir.path());
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["seed", "--events", "400", "--seed", "20260101", "--dsn", &dsn])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("400 accepted"), "{stdout}");
    assert!(
        stdout.contains("--seed 20260101"),
        "the seed is printed for a rerun: {stdout}"
    );
    let distinct: usize = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("errors:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no error count in the summary: {stdout}"));

    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    wait_drained(&http, &base).await;
    let now_secs = std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap().as_secs();
    // The server keeps the events' own times: they spread over the month, none moved to today.
    let stats = get_json(
        &http,
        &format!(
            "{base}/api/0/projects/1/stats/?resolution=1d&since={}",
            now_secs - 31 * 86_400
        ),
        &token,
    )
    .await;
    assert_eq!(stats["total"], 400, "{stats}");
    let days = stats["data"].as_array().unwrap();
    let busy_days = days.iter().filter(|d| d["count"].as_u64() > Some(0)).count();
    assert!(busy_days >= 25, "events on {busy_days} days: {stats}");
    let today = days.last().unwrap()["count"].as_u64().unwrap();
    assert!(
        today < 100,
        "{today} events today: back-dated events were moved to now"
    );

    let issues = get_json(
        &http,
        &format!("{base}/api/0/projects/1/issues/?limit=100"),
        &token,
    )
    .await;
    let issues = issues["data"].as_array().unwrap();
    assert_eq!(issues.len(), distinct, "each of the seed's errors is one issue");
    let platforms: HashSet<&str> = issues.iter().map(|i| i["platform"].as_str().unwrap()).collect();
    assert_eq!(
        platforms,
        HashSet::from(["python", "node", "javascript", "native"]),
        "{issues:?}"
    );
    let ms = |i: &Value, key: &str| {
        sentinel_server::api::stats::parse_time(key, i[key].as_str().unwrap())
            .unwrap_or_else(|_| panic!("{key} of {i}"))
    };
    let first_seen: Vec<i64> = issues.iter().map(|i| ms(i, "first_seen")).collect();
    let span_days = (first_seen.iter().max().unwrap() - first_seen.iter().min().unwrap()) / 86_400_000;
    assert!(span_days > 7, "first_seen spans only {span_days} days");
    let month_long = issues
        .iter()
        .filter(|i| ms(i, "last_seen") - ms(i, "first_seen") > 20 * 86_400_000)
        .count();
    assert!(
        month_long >= 5,
        "only {month_long} issues were seen over more than 20 days"
    );
    child.kill().unwrap();
    let _ = child.wait();
}

const PASSWORD: &str = "correct horse battery";

/// Runs `sentinel --data-dir DIR ARGS` with `stdin` as its standard input, the environment's
/// `SENTINEL_*` variables removed and `env` added.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SENTINEL_") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sentinel");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The last line of a successful command's output.
fn ok_line(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout.lines().last().unwrap_or_default().trim().to_owned()
}

/// The error output of a command that must fail.
fn failure(out: Output, what: &str) -> String {
    assert!(
        !out.status.success(),
        "{what} should fail; it printed {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn user_commands_read_the_password_from_the_environment_or_stdin_and_check_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = run(
        d,
        &["user", "create", "Root@Example.test"],
        &[("SENTINEL_PASSWORD", PASSWORD)],
        "",
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("first user"));
    ok_line(
        run(
            d,
            &["user", "create", "ada@example.test", "--name", "Ada L."],
            &[],
            "a long password\n",
        ),
        "password on stdin",
    );
    let err = failure(
        run(d, &["user", "create", "eve@example.test"], &[], ""),
        "no password",
    );
    assert!(err.contains("no password given"), "{err}");
    let err = failure(
        run(d, &["user", "create", "eve@example.test"], &[], "short\n"),
        "short password",
    );
    assert!(err.contains("at least 8 characters"), "{err}");
    let err = failure(
        run(
            d,
            &["user", "create", "not-an-email"],
            &[("SENTINEL_PASSWORD", PASSWORD)],
            "",
        ),
        "bad email",
    );
    assert!(err.contains("not an email address"), "{err}");
    failure(
        run(
            d,
            &["user", "create", "ADA@example.test"],
            &[("SENTINEL_PASSWORD", PASSWORD)],
            "",
        ),
        "taken email",
    );

    let list = run(d, &["user", "list"], &[], "");
    assert!(list.status.success());
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.contains("\troot@example.test\troot\tadmin\tdefault:owner"),
        "{list}"
    );
    assert!(list.contains("\tada@example.test\tAda L.\t-\t"), "{list}");

    let link = ok_line(
        run(
            d,
            &[
                "--public-url",
                "https://errors.example.test/",
                "user",
                "reset-password",
                "ada@example.test",
            ],
            &[],
            "",
        ),
        "reset link",
    );
    assert!(
        link.starts_with("https://errors.example.test/reset/snp_"),
        "{link}"
    );
    let err = failure(
        run(d, &["user", "reset-password", "nobody@example.test"], &[], ""),
        "unknown user",
    );
    assert!(err.contains("no user"), "{err}");
}

#[test]
fn project_and_token_commands_take_an_organization_a_platform_a_user_and_a_scope() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Before any account exists, `project create --org` makes the organization.
    ok_line(
        run(d, &["project", "create", "shop", "--org", "acme"], &[], ""),
        "new org",
    );
    ok_line(
        run(
            d,
            &["user", "create", "root@example.test"],
            &[("SENTINEL_PASSWORD", PASSWORD)],
            "",
        ),
        "first user",
    );
    let err = failure(
        run(d, &["project", "create", "web", "--org", "nope"], &[], ""),
        "missing org",
    );
    assert!(err.contains("does not exist"), "{err}");
    let err = failure(
        run(d, &["project", "create", "web", "--platform", "cobol"], &[], ""),
        "platform",
    );
    assert!(err.contains("expected one of python"), "{err}");
    let dsn = ok_line(
        run(d, &["project", "create", "web", "--platform", "node"], &[], ""),
        "project",
    );
    assert!(dsn.starts_with("http://") && dsn.contains('@'), "{dsn}");

    let token = ok_line(
        run(
            d,
            &[
                "token",
                "create",
                "ci",
                "--user",
                "root@example.test",
                "--scope",
                "read",
            ],
            &[],
            "",
        ),
        "personal token",
    );
    assert!(token.starts_with("sntl_"), "{token}");
    let err = failure(
        run(d, &["token", "create", "ci", "--scope", "root"], &[], ""),
        "scope",
    );
    assert!(err.contains("expected read, write or admin"), "{err}");
    let err = failure(
        run(
            d,
            &["token", "create", "ci", "--user", "nobody@example.test"],
            &[],
            "",
        ),
        "unknown user",
    );
    assert!(err.contains("no user"), "{err}");
}

#[test]
fn monitors_apply_prints_each_change_and_a_summary_and_serve_applies_the_configured_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok_line(run(d, &["project", "create", "shop"], &[], ""), "project");
    let file = d.join("monitors.toml");
    let two = "[[monitor]]\nproject = \"shop\"\nname = \"Shop homepage\"\ntype = \"http\"\n\
               url = \"https://shop.example.com/\"\ninterval_seconds = 60\n\n\
               [[monitor]]\nproject = \"shop\"\nname = \"Database\"\nslug = \"db\"\ntype = \"tcp\"\n\
               host = \"db.internal\"\nport = 5432\n";
    std::fs::write(&file, two).unwrap();
    let path = file.to_str().unwrap();
    let stdout = |out: Output, what: &str| {
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    let dry = stdout(
        run(d, &["monitors", "apply", path, "--dry-run"], &[], ""),
        "dry run",
    );
    assert_eq!(
        dry,
        "+ shop/shop-homepage\n+ shop/db\nmonitors: 2 created, 0 updated, 0 unchanged, 0 deleted (dry run: nothing changed)\n"
    );
    let first = stdout(run(d, &["monitors", "apply", path], &[], ""), "apply");
    assert_eq!(
        first,
        "+ shop/shop-homepage\n+ shop/db\nmonitors: 2 created, 0 updated, 0 unchanged, 0 deleted\n"
    );
    let again = stdout(run(d, &["monitors", "apply", path], &[], ""), "apply again");
    assert_eq!(again, "monitors: 0 created, 0 updated, 2 unchanged, 0 deleted\n");

    let bad = d.join("bad.toml");
    std::fs::write(&bad, two.replace("interval_seconds = 60", "interval_seconds = 5")).unwrap();
    let err = failure(
        run(d, &["monitors", "apply", bad.to_str().unwrap()], &[], ""),
        "a bad file",
    );
    assert!(
        err.contains("[[monitor]] #1 (\"Shop homepage\"): interval_seconds must be a whole number from 10 to 86400, not 5"),
        "{err}"
    );

    let one = d.join("one.toml");
    std::fs::write(&one, two.split("\n\n").next().unwrap()).unwrap();
    let pruned = stdout(
        run(
            d,
            &["monitors", "apply", one.to_str().unwrap(), "--prune"],
            &[],
            "",
        ),
        "prune",
    );
    assert_eq!(
        pruned,
        "- shop/db\nmonitors: 0 created, 0 updated, 1 unchanged, 1 deleted\n"
    );

    // `serve` applies `uptime.monitors_file` before it listens (without pruning).
    let config = d.join("sentinel.toml");
    std::fs::write(&config, format!("[uptime]\nmonitors_file = {path:?}\n")).unwrap();
    let (child, _) = serve_with(d, &["--config", config.to_str().unwrap()]);
    kill(child);
    let after = stdout(
        run(d, &["monitors", "apply", path, "--dry-run"], &[], ""),
        "after serve",
    );
    assert!(
        after.starts_with("monitors: 0 created, 0 updated, 2 unchanged"),
        "{after}"
    );
}

#[tokio::test]
async fn accounts_made_by_the_cli_sign_in_and_act_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok_line(
        run(d, &["project", "create", "shop"], &[], ""),
        "project before accounts",
    );
    let legacy = ok_line(run(d, &["token", "create", "legacy"], &[], ""), "instance token");
    ok_line(
        run(
            d,
            &["user", "create", "root@example.test"],
            &[("SENTINEL_PASSWORD", PASSWORD)],
            "",
        ),
        "first user",
    );
    ok_line(
        run(
            d,
            &["user", "create", "ada@example.test"],
            &[("SENTINEL_PASSWORD", PASSWORD)],
            "",
        ),
        "second user",
    );
    ok_line(
        run(d, &["project", "create", "web", "--platform", "node"], &[], ""),
        "project",
    );
    let read = ok_line(
        run(
            d,
            &[
                "token",
                "create",
                "ci",
                "--user",
                "root@example.test",
                "--scope",
                "read",
            ],
            &[],
            "",
        ),
        "read token",
    );
    let reset = ok_line(
        run(d, &["user", "reset-password", "ada@example.test"], &[], ""),
        "reset",
    );
    let (mut child, addr) = serve(d);
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    let login = http
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"email": "root@example.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let access = login.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let projects = get_json(
        &http,
        &format!("{base}/api/0/organizations/default/projects/"),
        &access,
    )
    .await;
    let platforms: Vec<(&str, &str)> = projects
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["slug"].as_str().unwrap(), p["platform"].as_str().unwrap()))
        .collect();
    assert_eq!(platforms, [("shop", "other"), ("web", "node")]);

    // The instance token made before accounts now belongs to the first admin.
    let me = get_json(&http, &format!("{base}/api/auth/me"), &legacy).await;
    assert_eq!(me["user"]["email"], "root@example.test", "{me}");
    // The read token reads, and nothing more.
    get_json(&http, &format!("{base}/api/0/organizations/"), &read).await;
    let put = http
        .put(format!("{base}/api/0/organizations/default/"))
        .bearer_auth(&read)
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 403);

    // The reset link printed by the CLI works once, through the API.
    let token = reset.rsplit('/').next().unwrap();
    for expected in [204, 400] {
        let resp = http
            .post(format!("{base}/api/auth/reset-password"))
            .json(&serde_json::json!({"token": token, "password": "a new password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), expected);
    }
    let login = http
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"email": "ada@example.test", "password": "a new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    child.kill().unwrap();
    let _ = child.wait();
}

/// A webhook receiver on 127.0.0.1 that keeps the first request waiting (the notifier is killed
/// meanwhile) and answers later ones at once; it records every request's idempotency key and
/// whether its signature verifies.
#[derive(Clone, Default)]
struct HangingReceiver {
    got: Arc<Mutex<Vec<(String, bool)>>>,
    secret: Arc<Mutex<String>>,
}

impl HangingReceiver {
    async fn start() -> (HangingReceiver, String) {
        let r = HangingReceiver::default();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hanging_receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn got(&self) -> Vec<(String, bool)> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize, budget: Duration) {
        let deadline = Instant::now() + budget;
        while self.got().len() < n {
            assert!(
                Instant::now() < deadline,
                "{} of {n} requests arrived",
                self.got().len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn hanging_receive(
    axum::extract::State(r): axum::extract::State<HangingReceiver>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    use hmac::Mac;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(r.secret.lock().unwrap().as_bytes()).unwrap();
    mac.update(header("x-sentinel-timestamp").as_bytes());
    mac.update(b".");
    mac.update(&body);
    let ok = header("x-sentinel-signature") == format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let first = {
        let mut got = r.got.lock().unwrap();
        got.push((header("idempotency-key"), ok));
        got.len() == 1
    };
    if first {
        // Long past the moment the test kills the server that sent it.
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    axum::http::StatusCode::OK
}

async fn api_post(http: &reqwest::Client, url: &str, token: &str, body: Value) -> Value {
    let resp = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {body}");
    body
}

#[tokio::test]
async fn top_ranks_the_tenants_a_running_server_aggregated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let dsn = last_line(&["project", "create", "api"], d);
    let key = dsn
        .trim_start_matches("http://")
        .split('@')
        .next()
        .unwrap()
        .to_owned();
    let project = dsn.rsplit('/').next().unwrap().to_owned();
    let (child, addr) = serve(d);
    let base = format!("http://{addr}");
    // 100 5xx: acme 68 (all on /v1/process), beta 21, gamma 7, and 4 more tenants with 1 each.
    let mut records = Vec::new();
    for (tenant, endpoint, n) in [
        ("tenant_acme", "/v1/process", 68),
        ("tenant_beta", "/v1/users/{id}", 21),
        ("tenant_gamma", "/v1/search", 7),
        ("a", "/x", 1),
        ("b", "/x", 1),
        ("c", "/x", 1),
        ("d", "/x", 1),
    ] {
        for _ in 0..n {
            records.push(serde_json::json!({"tenant_id": tenant, "endpoint": endpoint,
                "status_code": 500, "latency_ms": 12.5}));
        }
    }
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = http
        .post(format!("{base}/api/{project}/requests/?sentry_key={key}"))
        .json(&records)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    wait_drained(&http, &base).await;

    let top = run(
        d,
        &["top", "--project", "api", "--window", "10m", "--limit", "3"],
        &[],
        "",
    );
    assert!(top.status.success(), "{}", String::from_utf8_lossy(&top.stderr));
    assert_eq!(
        String::from_utf8(top.stdout).unwrap(),
        "Top tenants by 5xx (last 10 minutes)\n\
         1. tenant_acme    68% of all 5xx  (endpoint: /v1/process)\n\
         2. tenant_beta    21%  (endpoint: /v1/users/{id})\n\
         3. tenant_gamma    7%  (endpoint: /v1/search)\n"
    );
    let json = run(d, &["top", "--project", &project, "--json"], &[], "");
    let v: Value = serde_json::from_str(&ok_stdout(json, "top --json")).unwrap();
    assert_eq!(
        (v["by"].as_str(), v["errors"].as_u64()),
        (Some("errors"), Some(100))
    );
    assert_eq!(v["tenants"][0]["share"], 0.68);
    assert!(
        failure(run(d, &["top", "--project", "nope"], &[], ""), "unknown project")
            .contains("no project \"nope\"")
    );
    assert!(
        failure(
            run(d, &["top", "--project", "api", "--window", "3d"], &[], ""),
            "bad window"
        )
        .contains("invalid window")
    );
    assert!(
        failure(
            run(d, &["top", "--project", "api", "--by", "p99"], &[], ""),
            "bad ranking"
        )
        .contains("expected errors")
    );
    kill(child);
}

/// The whole standard output of a successful command.
fn ok_stdout(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn kill(mut child: Child) {
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifier_killed_mid_delivery_and_restarted_servers_deliver_one_notification_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = project_key(dir.path());
    let token = last_line(&["token", "create", "alerts"], dir.path());
    // A short delivery timeout makes the killed delivery's lease (timeout + 10 s) pass quickly.
    let config = dir.path().join("alerts.toml");
    std::fs::write(&config, "[alerts]\ndelivery_timeout_secs = 1\n").unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let (child, addr) = serve_with(dir.path(), &args);
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    let (receiver, hook_url) = HangingReceiver::start().await;
    let channel = api_post(
        &http,
        &format!("{base}/api/0/projects/1/channels/"),
        &token,
        serde_json::json!({"name": "ops", "kind": "webhook", "config": {"url": hook_url}}),
    )
    .await;
    *receiver.secret.lock().unwrap() = channel["signing_secret"].as_str().unwrap().to_owned();
    api_post(
        &http,
        &format!("{base}/api/0/projects/1/alert-rules/"),
        &token,
        serde_json::json!({"name": "New issues", "condition": {"kind": "new_issue"}, "channels": [channel["id"]]}),
    )
    .await;

    let event_id = format!("{:032x}", 0xa1e27u64);
    let (key, event_id) = (&key, &event_id);
    let send = |base: String| async move {
        let resp = reqwest::Client::new()
            .post(format!("{base}/api/1/envelope/"))
            .header(
                "x-sentry-auth",
                format!("Sentry sentry_key={key}, sentry_version=7"),
            )
            .body(envelope(event_id, 1))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    };
    send(base.clone()).await;
    // The notifier is in the middle of the delivery: the receiver holds the request.
    receiver.wait_for(1, Duration::from_secs(30)).await;
    kill(child);

    // A new process takes the notification over once the dead one's lease has passed.
    let (child, addr) = serve_with(dir.path(), &args);
    receiver.wait_for(2, Duration::from_secs(40)).await;
    let base = format!("http://{addr}");
    let log = get_json(&http, &format!("{base}/api/0/projects/1/notifications/"), &token).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut log = log;
    while log["data"][0]["status"] != "delivered" {
        assert!(Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        log = get_json(&http, &format!("{base}/api/0/projects/1/notifications/"), &token).await;
    }
    assert_eq!(log["data"].as_array().unwrap().len(), 1, "{log}");

    // A worker restart and the same event sent again: nothing new.
    kill(child);
    let (child, addr) = serve_with(dir.path(), &args);
    let base = format!("http://{addr}");
    send(base.clone()).await;
    wait_drained(&http, &base).await;
    // Longer than the trigger loop's and the notifier's polls.
    tokio::time::sleep(Duration::from_secs(7)).await;

    let got = receiver.got();
    assert_eq!(got.len(), 2, "the killed attempt and its retry: {got:?}");
    assert!(got.iter().all(|(_, signed)| *signed), "{got:?}");
    let keys: HashSet<&String> = got.iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 1, "both carry the same Idempotency-Key: {got:?}");
    let log = get_json(&http, &format!("{base}/api/0/projects/1/notifications/"), &token).await;
    assert_eq!(log["data"].as_array().unwrap().len(), 1, "{log}");
    // One recorded attempt: the killed process never recorded its own (had it timed out and
    // retried before the kill, there would be two), so the new process delivered after the lease.
    let n = &log["data"][0];
    assert_eq!(n["attempts"], 1, "{n}");
    assert_eq!(n["deliveries"].as_array().unwrap().len(), 1, "{n}");
    kill(child);
}
