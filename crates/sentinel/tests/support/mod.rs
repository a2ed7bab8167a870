//! Helpers for the tests that run the real binary as several processes, on SQLite or PostgreSQL:
//! `sentinel` commands with a scrubbed environment, `serve` processes that keep their log tail for
//! failure messages, a throwaway PostgreSQL schema per test, and a TCP proxy in front of
//! PostgreSQL that a test can cut to simulate an outage without touching the machine's shared
//! database server. Include with `mod common; mod support;` (it uses `common`'s waiting and child
//! helpers).
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::common::{Deadline, run_child};

pub const BIN: &str = env!("CARGO_BIN_EXE_sentinel");
/// CLI commands and server start-up: generous, a debug build on a busy CI machine.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of a server's log kept to explain a failure.
pub const LOG_TAIL: usize = 60;

// --- processes ---------------------------------------------------------------------------------

/// `sentinel` with `args`, unaffected by any `SENTINEL_*` variable of the environment the tests
/// run in (a developer's `SENTINEL_DATABASE_URL` must not redirect a SQLite test).
pub fn sentinel(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SENTINEL_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("SENTINEL_LOG", "info").args(args);
    cmd
}

/// Runs a CLI command to completion and returns its last line of output (a DSN, a token).
pub async fn cli_last_line(args: &[&str]) -> String {
    let out = run_child(sentinel(args).into(), CHILD_TIMEOUT).await;
    out.stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("sentinel {args:?} printed nothing; stderr:\n{}", out.stderr))
        .trim()
        .to_owned()
}

/// A running `sentinel serve` process. Dropping it SIGKILLs it, so a failing test leaves no
/// server behind.
pub struct Node {
    pub name: String,
    pub child: Child,
    pub base: String,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Node {
    /// Starts `sentinel <global> serve --roles <roles>` on a free loopback port and returns once it
    /// reports listening with exactly `expect_roles`.
    pub async fn start(name: &str, global: &[&str], roles: &str, expect_roles: &str) -> Node {
        let mut cmd = sentinel(global);
        cmd.args([
            "serve",
            "--roles",
            roles,
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let stderr = child.stderr.take().unwrap();
        let log: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<(String, String)>();
        let tail = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["fields"]["message"] == "sentinel is listening"
                    && let (Some(addr), Some(roles)) =
                        (v["fields"]["addr"].as_str(), v["fields"]["roles"].as_str())
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send((addr.to_owned(), roles.to_owned()));
                }
                let mut tail = tail.lock().unwrap();
                if tail.len() == LOG_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let mut node = Node {
            name: name.to_owned(),
            child,
            base: String::new(),
            log,
        };
        match tokio::time::timeout(CHILD_TIMEOUT, rx).await {
            Ok(Ok((addr, roles))) => {
                assert_eq!(
                    roles, expect_roles,
                    "{name} (--roles {roles}) reports other roles than expected"
                );
                node.base = format!("http://{addr}");
                node
            }
            _ => panic!(
                "{name} did not report listening within {CHILD_TIMEOUT:?} (exit: {:?}); log:\n{}",
                node.child.try_wait(),
                node.log_tail()
            ),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_tail(&self) -> String {
        self.log
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// SIGKILL: no shutdown code runs, as when the machine or the OOM killer takes the process.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (bounded) for the process to exit; returns its status.
    pub async fn terminate(&mut self) -> ExitStatus {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "could not send SIGTERM to {}", self.name);
        let deadline = Deadline::after(Duration::from_secs(30));
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                deadline.pause().await,
                "{} did not exit within 30 s of SIGTERM; log:\n{}",
                self.name,
                self.log_tail()
            );
        }
    }

    /// SIGTERM and asserts a clean exit (status 0).
    pub async fn stop(&mut self) {
        let status = self.terminate().await;
        assert!(
            status.success(),
            "{} exited with {status} after SIGTERM; log:\n{}",
            self.name,
            self.log_tail()
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn http_client() -> reqwest::Client {
    // Loopback only: a proxy from the environment must not get in the way.
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub async fn get(http: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

pub async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Value {
    let (status, body) = get(http, url, Some(token)).await;
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
}

/// `(public key, project id)` of a DSN `http://<key>@<host>/<id>`.
pub fn parse_dsn(dsn: &str) -> (String, i64) {
    let rest = dsn.split_once("://").map_or(dsn, |(_, r)| r);
    let (key, host_path) = rest.split_once('@').unwrap_or_else(|| panic!("not a DSN: {dsn}"));
    let id = host_path
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("DSN without a project id: {dsn}"));
    (key.to_owned(), id)
}

// --- PostgreSQL --------------------------------------------------------------------------------

/// A schema of its own for one test, dropped when this is dropped (also when the test fails).
/// Drop it after the servers using it have stopped: declare it before them.
pub struct PgSchema {
    pub url: String,
    pub name: String,
    /// Connections whose `search_path` is the test schema.
    pub pool: PgPool,
}

impl PgSchema {
    /// None (after saying so) when `SENTINEL_TEST_DATABASE_URL` is unset; under `CI` that panics
    /// instead, so that a skipped PostgreSQL run never looks like a pass.
    pub async fn create(test: &str) -> Option<PgSchema> {
        let url = match std::env::var("SENTINEL_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{test}: SENTINEL_TEST_DATABASE_URL is not set, but CI is: the PostgreSQL \
                     tests must run in CI (set it to e.g. postgres://postgres@127.0.0.1:5432/test)"
                );
                eprintln!("SKIPPED {test}: PostgreSQL test, SENTINEL_TEST_DATABASE_URL is not set");
                return None;
            }
        };
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let options: PgConnectOptions = url
            .parse()
            .unwrap_or_else(|e| panic!("SENTINEL_TEST_DATABASE_URL is not a PostgreSQL URL: {e}"));
        // The server creates the schema (with `[database] schema`); these connections only read it.
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_lazy_with(options.options([("search_path", name.as_str())]));
        Some(PgSchema { url, name, pool })
    }

    /// Writes a config file using this schema: `database_extra` goes into `[database]`, `rest`
    /// (further tables) after it. Returns its path.
    pub fn config(&self, dir: &Path, database_extra: &str, rest: &str) -> String {
        let path = dir.join("sentinel.toml");
        std::fs::write(
            &path,
            format!(
                "[database]\nschema = \"{}\"\n{database_extra}\n{rest}\n",
                self.name
            ),
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // Drop runs outside any async context we could await in: use a runtime of its own.
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                // A session left idle in a transaction on the schema must not hang the test.
                sqlx::query("SET lock_timeout = '10s'")
                    .execute(&pool)
                    .await
                    .map_err(|e| e.to_string())?;
                let sql = format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .map_err(|e| e.to_string())?;
                pool.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test schema {}: {e}", self.name),
            Err(_) => eprintln!("dropping test schema {} panicked", self.name),
        }
    }
}

/// `/metrics` value of an unlabelled metric, if the process exposes it.
pub async fn metric(http: &reqwest::Client, node: &Node, name: &str) -> Option<f64> {
    let (status, body) = get(http, &node.url("/metrics"), None).await;
    assert_eq!(status, 200, "{} /metrics: {body}", node.name);
    body.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
}

pub async fn inbox_depth(http: &reqwest::Client, node: &Node) -> Option<u64> {
    let (status, body) = get(http, &node.url("/ready"), None).await;
    if status != 200 {
        return None;
    }
    serde_json::from_str::<Value>(&body).ok()?["inbox_depth"].as_u64()
}

/// A loopback TCP proxy to a database server that a test can cut (every open connection is
/// closed and new ones are refused) and restore.
pub struct Proxy {
    pub addr: SocketAddr,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("binding the proxy: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy address: {e}"));
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (d, c) = (down.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    drop(client); // refused: closed at once
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                let mut conns = c.lock().unwrap_or_else(|p| p.into_inner());
                conns.retain(|h| !h.is_finished());
                conns.push(task.abort_handle());
            }
        })
        .abort_handle();
        Proxy {
            addr,
            down,
            conns,
            accept,
        }
    }

    /// The database goes away: open connections are closed, new ones refused.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for h in self.conns.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            h.abort();
        }
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// `postgres://user@host:port/db` → the same URL pointing at `addr`.
pub fn url_via(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let at = if user.is_empty() { "" } else { "@" };
    format!("{scheme}://{user}{at}{addr}{path}")
}

/// The host:port of a postgres URL, resolved.
pub fn server_addr(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hostport = rest.split(['/', '?']).next().unwrap_or(rest);
    let hostport = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&hostport)
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("cannot resolve {hostport}"))
}

/// An SDK-shaped error event envelope; `group` decides the exception type and frames.
pub fn envelope(event_id: &str, group: usize, n: usize) -> Vec<u8> {
    let event = serde_json::json!({
        "event_id": event_id,
        "platform": "python",
        "level": "error",
        "environment": "production",
        "release": "shop@1.4.2",
        "sdk": {"name": "sentry.python", "version": "2.75.0"},
        "exception": {"values": [{
            "type": format!("Group{group}Error"),
            "value": format!("order {n} failed"),
            "stacktrace": {"frames": [
                {"module": "shop.views", "function": "checkout", "filename": "shop/views.py", "lineno": 10, "in_app": true},
                {"module": format!("shop.step{group}"), "function": format!("step_{group}"), "filename": format!("shop/step{group}.py"), "lineno": 20 + group, "in_app": true}
            ]}
        }]},
        "tags": {"tenant_id": format!("t{}", n % 5), "browser": "Firefox"},
        "user": {"id": format!("u{}", n % 11)},
    })
    .to_string();
    format!(
        "{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    )
    .into_bytes()
}

/// POSTs an envelope; returns the status code.
pub async fn post_envelope(
    http: &reqwest::Client,
    base: &str,
    project: i64,
    key: &str,
    body: Vec<u8>,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{base}/api/{project}/envelope/"))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_key={key}, sentry_version=7"),
        )
        .body(body)
        .send()
        .await
}
