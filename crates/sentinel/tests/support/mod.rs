//! Helpers for tests that run the real binary against PostgreSQL: a throwaway schema per test,
//! `sentinel` child processes, and a TCP proxy in front of PostgreSQL that a test can cut to
//! simulate an outage without touching the machine's shared database server.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub const BIN: &str = env!("CARGO_BIN_EXE_sentinel");

/// The PostgreSQL URL for tests, or `None` (after saying so) when the tests should be skipped.
/// In CI (`CI` set) a missing URL fails the test: a skipped PostgreSQL run must not look green.
pub fn database_url() -> Option<String> {
    match std::env::var("SENTINEL_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("SENTINEL_TEST_DATABASE_URL is not set, but CI is: the PostgreSQL tests must run")
        }
        _ => {
            eprintln!("SENTINEL_TEST_DATABASE_URL is not set: skipping this PostgreSQL test");
            None
        }
    }
}

/// A schema of its own for one test, dropped with everything in it when this is dropped.
pub struct Schema {
    pub url: String,
    pub name: String,
}

impl Schema {
    pub async fn create(url: &str) -> Schema {
        let name = format!("t_{:016x}", rand::random::<u64>());
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        // The name is generated here from hex digits only.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("creating schema {name}: {e}"));
        Schema {
            url: url.to_owned(),
            name,
        }
    }

    /// A connection whose search path is this schema.
    pub async fn connect(&self) -> sqlx::PgConnection {
        let mut conn = sqlx::PgConnection::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url));
        sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {}", self.name)))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("setting the search path: {e}"));
        conn
    }

    /// A config file naming this schema plus `extra` TOML (which must not contain `[database]`
    /// keys other than through `database_extra`).
    pub fn config(&self, dir: &Path, database_extra: &str, extra: &str) -> std::path::PathBuf {
        let path = dir.join(format!("{}.toml", self.name));
        let text = format!(
            "[database]\nschema = \"{}\"\n{database_extra}\n\n{extra}\n",
            self.name
        );
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: use a thread with its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(&mut conn)
                .await
                .ok()
            })
        })
        .join();
        if !matches!(done, Ok(Some(_))) {
            eprintln!("could not drop test schema {}", self.name);
        }
    }
}

/// Runs a `sentinel` command to completion; panics with its output unless it succeeds; returns
/// stdout.
pub fn sentinel(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running sentinel: {e}"));
    assert!(
        out.status.success(),
        "sentinel {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn last_line(text: &str) -> String {
    text.lines().last().unwrap_or_default().trim().to_owned()
}

/// A `sentinel serve` child process that has reported its listening address. Killed on drop.
pub struct Served {
    pub child: Child,
    pub base: String,
}

impl Served {
    /// Starts `sentinel <global args> serve --listen 127.0.0.1:0 <serve args>` and waits (up to
    /// 60 s) until it listens.
    pub fn start(global: &[&str], serve: &[&str]) -> Served {
        let mut child = Command::new(BIN)
            .args(global)
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .args(serve)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning sentinel serve: {e}"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr pipe"));
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
                } else if !sent {
                    eprintln!("serve: {line}");
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("sentinel serve did not report its address within 60 s"));
        Served {
            child,
            base: format!("http://{addr}"),
        }
    }

    /// SIGTERM, then waits up to 30 s; returns whether it exited with status 0.
    pub fn terminate(mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// The public key and project id of a DSN `http://KEY@host/ID`.
pub fn dsn_parts(dsn: &str) -> (String, i64) {
    let rest = dsn.split_once("://").map_or(dsn, |(_, r)| r);
    let (key, hostpath) = rest.split_once('@').unwrap_or(("", rest));
    let id = hostpath
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no project id in DSN {dsn}"));
    (key.to_owned(), id)
}
