//! Helpers shared by the full-stack tests: a real server on a free loopback port with a fresh data
//! directory, an authenticated API client whose waits poll a condition under a deadline (never a
//! bare sleep), and a child-process runner with a timeout for driving real SDK clients.
//!
//! Include it from a test binary with `mod common;`. Each binary uses a different subset.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sentinel_server::clock::{Clock, SystemClock};
use sentinel_server::config::Settings;
use sentinel_store::Store;
use sentinel_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// How long `wait_*` helpers poll before giving up.
pub const WAIT_DEADLINE: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Tweaks applied to the default settings before the server starts (after `data_dir` and
/// `listen` are set). Kept as a shared closure so `restart` can apply it again.
type Configure = Arc<dyn Fn(&mut Settings) + Send + Sync>;

/// Options for [`TestServer`]; start from [`TestServer::builder`].
pub struct TestServerBuilder {
    clock: Arc<dyn Clock>,
    configure: Configure,
    project_name: String,
}

impl TestServerBuilder {
    /// Time source of the server (default: the system clock), e.g. a `ManualClock`.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Adjusts the settings before start, e.g. `|s| s.ingest.max_inbox_depth = 10`.
    pub fn settings(mut self, f: impl Fn(&mut Settings) + Send + Sync + 'static) -> Self {
        self.configure = Arc::new(f);
        self
    }

    /// Name of the project created at start (default "app").
    pub fn project_name(mut self, name: &str) -> Self {
        self.project_name = name.to_owned();
        self
    }

    pub async fn start(self) -> TestServer {
        let data_dir = tempfile::Builder::new()
            .prefix("sentinel-test-")
            .tempdir()
            .unwrap_or_else(|e| panic!("creating a temporary data directory: {e}"));
        let store = open_store(data_dir.path()).await;
        let now = self.clock.now_ms();
        let (project, key) = store
            .create_project(
                "default",
                &self.project_name,
                "other",
                &sentinel_server::api::new_public_key(),
                now,
            )
            .await
            .unwrap_or_else(|e| panic!("creating the test project: {e}"));
        let token = sentinel_server::api::new_token();
        store
            .create_api_token(
                &sentinel_store::NewApiToken {
                    name: "tests".into(),
                    token_sha256: sentinel_server::api::token_hash(&token),
                    user_id: None,
                    scope: sentinel_store::TokenScope::Admin,
                },
                now,
            )
            .await
            .unwrap_or_else(|e| panic!("creating the test API token: {e}"));
        let state = Started {
            store,
            project_id: project.id,
            public_key: key.public_key,
            token,
        };
        TestServer::boot(data_dir, state, self.clock, self.configure).await
    }
}

/// What survives a restart: the database and the identities created in it.
struct Started {
    store: Arc<dyn Store>,
    project_id: i64,
    public_key: String,
    token: String,
}

/// The real server in this process, listening on `127.0.0.1:<free port>`, with one project and an
/// instance-admin API token. Call [`TestServer::shutdown`] at the end of a test: dropping it leaves
/// the server running until the test's runtime ends.
pub struct TestServer {
    /// DSN of the project's key, pointing at the bound port.
    pub dsn: String,
    /// `http://127.0.0.1:<port>` plus the path prefix, without a trailing slash.
    pub base_url: String,
    pub project_id: i64,
    pub public_key: String,
    /// Bearer token for the JSON API.
    pub token: String,
    /// The store the server runs on, for seeding or inspecting what the API doesn't show.
    pub store: Arc<dyn Store>,
    pub http: reqwest::Client,
    server: sentinel_server::Server,
    clock: Arc<dyn Clock>,
    configure: Configure,
    // Dropped last: the server and store must be gone before the directory is removed.
    data_dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with default settings, the system clock and a project named "app".
    pub async fn start() -> TestServer {
        Self::builder().start().await
    }

    pub fn builder() -> TestServerBuilder {
        TestServerBuilder {
            clock: Arc::new(SystemClock),
            configure: Arc::new(|_| {}),
            project_name: "app".into(),
        }
    }

    async fn boot(
        data_dir: tempfile::TempDir,
        state: Started,
        clock: Arc<dyn Clock>,
        configure: Configure,
    ) -> Self {
        let mut settings = Settings {
            data_dir: data_dir.path().to_path_buf(),
            listen: ([127, 0, 0, 1], 0).into(),
            ..Settings::default()
        };
        configure(&mut settings);
        let server = sentinel_server::Server::start(settings, state.store.clone(), clock.clone())
            .await
            .unwrap_or_else(|e| panic!("starting the server: {e:#}"));
        // Loopback only: a proxy from the environment must not get in the way.
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("building the HTTP client: {e}"));
        TestServer {
            dsn: server.settings.dsn(&state.public_key, state.project_id),
            base_url: server.base_url(),
            project_id: state.project_id,
            public_key: state.public_key,
            token: state.token,
            store: state.store,
            http,
            server,
            clock,
            configure,
            data_dir,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// `base_url` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Stops the server gracefully (in-flight requests and the current batch finish).
    pub async fn shutdown(self) {
        let TestServer {
            server,
            data_dir,
            store,
            ..
        } = self;
        server
            .shutdown()
            .await
            .unwrap_or_else(|e| panic!("shutting the server down: {e:#}"));
        drop(store);
        drop(data_dir);
    }

    /// Shuts down and starts again on the same data directory (reopening the database), keeping
    /// the project, key and token. The port changes, and with it `dsn` and `base_url`.
    pub async fn restart(self) -> TestServer {
        let TestServer {
            server,
            data_dir,
            store,
            project_id,
            public_key,
            token,
            clock,
            configure,
            ..
        } = self;
        server
            .shutdown()
            .await
            .unwrap_or_else(|e| panic!("shutting the server down for a restart: {e:#}"));
        drop(store);
        let store = open_store(data_dir.path()).await;
        TestServer::boot(
            data_dir,
            Started {
                store,
                project_id,
                public_key,
                token,
            },
            clock,
            configure,
        )
        .await
    }

    /// GET with the API token; panics unless the answer is 200 with a JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get_raw(path).await;
        if status != reqwest::StatusCode::OK {
            panic!("GET {path}: expected 200, got {status}; body: {body}");
        }
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: body is not JSON ({e}): {body}"))
    }

    /// GET with the API token; returns the status and body whatever they are.
    pub async fn get_raw(&self, path: &str) -> (reqwest::StatusCode, String) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: request failed: {e}"));
        let status = resp.status();
        let body = resp
            .text()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: reading the body: {e}"));
        (status, body)
    }

    /// Waits until every item accepted so far has been processed (`/ready` reports an empty inbox).
    pub async fn wait_processed(&self) {
        let deadline = Deadline::after(WAIT_DEADLINE);
        loop {
            let ready = self.get_json("/ready").await;
            if ready["inbox_depth"].as_u64() == Some(0) {
                return;
            }
            if !deadline.pause().await {
                panic!("the inbox did not drain within {WAIT_DEADLINE:?}; last /ready: {ready}");
            }
        }
    }

    /// The project's issues, any status, most recently seen first (one page of up to 100).
    pub async fn issues(&self) -> Vec<Value> {
        self.issues_where("").await
    }

    /// The project's issues for a query string such as `status=unresolved&level=error`.
    pub async fn issues_where(&self, query: &str) -> Vec<Value> {
        let page = self
            .get_json(&format!(
                "/api/0/projects/{}/issues/?limit=100&{query}",
                self.project_id
            ))
            .await;
        match page["data"].as_array() {
            Some(issues) => issues.clone(),
            None => panic!("issue list without a data array: {page}"),
        }
    }

    /// Waits until the inbox is drained and the project has at least `n` issues; returns them.
    pub async fn wait_for_issues(&self, n: usize) -> Vec<Value> {
        let deadline = Deadline::after(WAIT_DEADLINE);
        loop {
            self.wait_processed().await;
            let issues = self.issues().await;
            if issues.len() >= n {
                return issues;
            }
            if !deadline.pause().await {
                panic!(
                    "expected at least {n} issues within {WAIT_DEADLINE:?}, found {}: {}",
                    issues.len(),
                    serde_json::to_string_pretty(&issues).unwrap_or_default()
                );
            }
        }
    }

    /// Issue detail, with tag distributions.
    pub async fn issue(&self, issue_id: &str) -> Value {
        self.get_json(&format!("/api/0/issues/{issue_id}/")).await
    }

    /// The Prometheus exposition of `/metrics` (shared by every server in this process).
    pub async fn metrics(&self) -> String {
        let (status, body) = self.get_raw("/metrics").await;
        assert_eq!(status, reqwest::StatusCode::OK, "GET /metrics: {body}");
        body
    }
}

async fn open_store(dir: &Path) -> Arc<dyn Store> {
    let store = SqliteStore::open(&SqliteOptions::new(dir))
        .await
        .unwrap_or_else(|e| panic!("opening SQLite in {}: {e}", dir.display()));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating SQLite in {}: {e}", dir.display()));
    Arc::new(store)
}

/// A polling budget: check a condition, and if it doesn't hold yet, `pause` briefly and check
/// again until the deadline passes. The one place tests wait.
///
/// ```ignore
/// let deadline = Deadline::after(WAIT_DEADLINE);
/// while !condition().await {
///     assert!(deadline.pause().await, "condition not met within {WAIT_DEADLINE:?}");
/// }
/// ```
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Deadline(Instant::now() + budget)
    }

    /// Sleeps one short polling interval; returns false (at once) when the deadline has passed.
    pub async fn pause(&self) -> bool {
        if Instant::now() >= self.0 {
            return false;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
        true
    }
}

/// The root of the repository (where `scripts/` and `tests/` live).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("no repository root above {}", env!("CARGO_MANIFEST_DIR")))
}

/// Where `scripts/test` installed an SDK (`python`, `python-nobrotli`, `node`); fails (never
/// skips) when it isn't there.
pub fn sdk_dir(name: &str) -> PathBuf {
    let root = std::env::var_os("SENTINEL_SDK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".sdk"));
    let dir = root.join(name);
    if !dir.join(".installed").is_file() {
        panic!(
            "the {name} SDK is not installed in {}: run scripts/test, which installs the SDKs into .sdk/ and runs the tests",
            dir.display()
        );
    }
    dir
}

/// The Python interpreter the SDKs were installed for (`SENTINEL_PYTHON`, set by scripts/test).
pub fn python() -> String {
    std::env::var("SENTINEL_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// What a finished child process printed.
#[derive(Debug)]
pub struct ChildOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl ChildOutput {
    /// Panics with both outputs unless the process exited with status 0.
    pub fn assert_success(&self, what: &str) -> &Self {
        if !self.status.success() {
            panic!(
                "{what} failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.status, self.stdout, self.stderr
            );
        }
        self
    }
}

/// Runs `cmd` (stdin closed, stdout and stderr captured), asserts it exits successfully within
/// `timeout` and returns what it printed. On failure or timeout the panic shows both outputs.
pub async fn run_child(cmd: tokio::process::Command, timeout: Duration) -> ChildOutput {
    let what = describe(&cmd);
    let out = run_child_unchecked(cmd, timeout).await;
    out.assert_success(&what);
    out
}

/// Like [`run_child`] but returns whatever exit status the process had; still panics on timeout.
pub async fn run_child_unchecked(mut cmd: tokio::process::Command, timeout: Duration) -> ChildOutput {
    let what = describe(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own process group, so that anything it started can be stopped with it.
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let pid = child.id();
    let stdout = tokio::spawn(read_all(child.stdout.take()));
    let stderr = tokio::spawn(read_all(child.stderr.take()));
    let status = tokio::time::timeout(timeout, child.wait()).await;
    if status.is_err() {
        let _ = child.kill().await;
    }
    // Leftover grandchildren would hold the output pipes open.
    if let Some(pid) = pid {
        kill_process_group(pid);
    }
    let collect = |h: tokio::task::JoinHandle<String>| async move {
        tokio::time::timeout(Duration::from_secs(5), h)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    };
    let (stdout, stderr) = tokio::join!(collect(stdout), collect(stderr));
    match status {
        Ok(Ok(status)) => ChildOutput {
            status,
            stdout,
            stderr,
        },
        Ok(Err(e)) => panic!("waiting for {what}: {e}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"),
        Err(_) => panic!(
            "{what} did not finish within {timeout:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        ),
    }
}

/// SIGKILL to every process left in the group `pgid` (none is fine).
pub fn kill_process_group(pgid: u32) {
    if cfg!(unix) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

async fn read_all(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> String {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut buf).await;
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn describe(cmd: &tokio::process::Command) -> String {
    let std = cmd.as_std();
    let args: Vec<_> = std.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    format!("`{} {}`", std.get_program().to_string_lossy(), args.join(" "))
}
