//! The server under test: a project and a token made with the binary's own CLI, then
//! `sentinel serve` on free loopback ports. By default one process with every role on a fresh
//! SQLite data directory; with a database URL the same in a fresh PostgreSQL schema, or one
//! ingest/web/scheduler process plus separate worker processes sharing that schema.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sentinel_loadgen::Dsn;
use sentinel_loadgen::http::{Conn, Reply, get_once};
use serde::Deserialize;
use tokio::process::Command;

use crate::node::{Node, free_port};
use crate::pgschema::BenchSchema;
use crate::procfs;

/// Where the server keeps its data and how its roles are spread over processes.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// PostgreSQL instead of the embedded SQLite database.
    pub database_url: Option<String>,
    /// Separate `--roles worker` processes (PostgreSQL only); 0 runs one process with all roles.
    pub workers: usize,
}

impl Topology {
    pub fn sqlite() -> Topology {
        Topology::default()
    }
}

/// The roles of the process that takes the HTTP traffic when the workers run separately.
const FRONT_ROLES: &str = "ingest,web,scheduler";

pub struct Server {
    pub data_dir: PathBuf,
    pub dsn: Dsn,
    pub token: String,
    pub authority: String,
    /// The process that takes the HTTP traffic.
    pub pid: u32,
    front: Node,
    workers: Vec<Node>,
    /// Dropped after the processes (field order), so their sessions are gone by then.
    schema: Option<BenchSchema>,
    /// Removed on drop unless the data is kept.
    work: Option<tempfile::TempDir>,
}

/// How much the server stores: the data directory (SQLite) or the schema (PostgreSQL).
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    pub total: u64,
    /// What grows with every stored event: the main database file, or every table but the inbox.
    pub main: u64,
    pub largest: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Ready {
    pub inbox_depth: i64,
    pub inbox_lag_seconds: f64,
}

/// Runs `sentinel <args>` to completion and returns the last line of its stdout.
async fn cli_last_line(bin: &Path, args: &[String]) -> anyhow::Result<String> {
    cli_last_line_env(bin, args, &[]).await
}

/// [`cli_last_line`] with extra environment variables.
async fn cli_last_line_env(bin: &Path, args: &[String], envs: &[(&str, &str)]) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(args)
        .envs(envs.iter().copied())
        .env("SENTINEL_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {} {}", bin.display(), args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`{} {}` failed ({}): {}",
            bin.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .with_context(|| format!("`{}` printed nothing", args.join(" ")))
}

/// The dashboard account `Server::start` creates.
pub const BENCH_EMAIL: &str = "bench@example.com";
pub const BENCH_PASSWORD: &str = "bench-password-1";

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

impl Server {
    /// Creates a work directory under `work_root` (and a schema when on PostgreSQL), a project
    /// and a token, and starts the processes of `topology`.
    pub async fn start(
        bin: &Path,
        work_root: &Path,
        keep: bool,
        topology: &Topology,
    ) -> anyhow::Result<Server> {
        let bin = std::fs::canonicalize(bin).with_context(|| {
            format!(
                "server binary {} not found (build it with cargo build --release -p sentinel)",
                bin.display()
            )
        })?;
        if topology.workers > 0 && topology.database_url.is_none() {
            bail!("separate worker processes need PostgreSQL (--database-url)");
        }
        let work = tempfile::Builder::new()
            .prefix("sentinel-bench-")
            .tempdir_in(work_root)
            .with_context(|| format!("creating a work directory in {}", work_root.display()))?;
        let data_dir = work.path().join("data");
        let data = data_dir.to_string_lossy().into_owned();
        // The bench's token makes many more management API calls than a person (the uptime bench
        // creates thousands of monitors): no per-user API limit gets in the way.
        let mut config_text = String::from("[auth]\napi_per_user_per_minute = 100000000\n");
        let mut global = strings(&["--data-dir", &data]);
        let schema = match &topology.database_url {
            Some(url) => {
                let schema = BenchSchema::create(url, keep).await?;
                config_text.push_str(&format!("[database]\nschema = \"{}\"\n", schema.name));
                global.extend(strings(&["--database-url", schema.url()]));
                Some(schema)
            }
            None => None,
        };
        let config = work.path().join("bench.toml");
        std::fs::write(&config, config_text).with_context(|| format!("writing {}", config.display()))?;
        global.extend(strings(&["--config", &config.to_string_lossy()]));
        let listen = format!("127.0.0.1:{}", free_port()?);
        let with = |extra: &[&str]| {
            let mut a = global.clone();
            a.extend(strings(extra));
            a
        };
        let dsn_line =
            cli_last_line(&bin, &with(&["--listen", &listen, "project", "create", "bench"])).await?;
        let dsn: Dsn = dsn_line
            .parse()
            .with_context(|| format!("`project create` printed {dsn_line:?}"))?;
        let token = cli_last_line(&bin, &with(&["token", "create", "bench"])).await?;
        // A dashboard account, for timing pages as a signed-in user.
        cli_last_line_env(
            &bin,
            &with(&["user", "create", BENCH_EMAIL, "--name", "Bench", "--admin"]),
            &[("SENTINEL_PASSWORD", BENCH_PASSWORD)],
        )
        .await?;
        let split = topology.workers > 0;
        let front = Node::start(
            &bin,
            &global,
            split.then_some(FRONT_ROLES),
            listen.clone(),
            work.path().join("server.log"),
        )
        .await?;
        let mut workers = Vec::with_capacity(topology.workers);
        for i in 0..topology.workers {
            let authority = format!("127.0.0.1:{}", free_port()?);
            let log = work.path().join(format!("worker-{}.log", i + 1));
            workers.push(Node::start(&bin, &global, Some("worker"), authority, log).await?);
        }
        if keep {
            eprintln!("keeping the data and logs in {}", work.path().display());
        }
        Ok(Server {
            data_dir,
            dsn,
            token,
            authority: listen,
            pid: front.pid,
            front,
            workers,
            schema,
            work: if keep {
                let _ = work.keep();
                None
            } else {
                Some(work)
            },
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.schema.is_some()
    }

    pub fn schema(&self) -> Option<&BenchSchema> {
        self.schema.as_ref()
    }

    /// Every server process with its roles, the HTTP one first.
    pub fn processes(&self) -> Vec<(u32, String)> {
        std::iter::once(&self.front)
            .chain(&self.workers)
            .map(|n| (n.pid, n.roles.clone()))
            .collect()
    }

    /// CPU time of all server processes together.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let mut total = Duration::ZERO;
        for (pid, _) in self.processes() {
            total += procfs::cpu_time(pid)?;
        }
        Ok(total)
    }

    pub async fn disk_usage(&self) -> anyhow::Result<DiskUsage> {
        if let Some(schema) = &self.schema {
            let s = schema.size().await?;
            return Ok(DiskUsage {
                total: s.total,
                main: s.without_inbox,
                largest: s.largest,
            });
        }
        let (total, largest) = procfs::dir_size(&self.data_dir)?;
        // The main database alone: the inbox file and the WAL files are bounded overheads that a
        // short run inflates, the main database is what grows with every stored event.
        let main = std::fs::metadata(self.data_dir.join("sentinel.db"))
            .map(|m| m.len())
            .unwrap_or(0);
        Ok(DiskUsage { total, main, largest })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        let auth = format!("Bearer {}", self.token);
        get_once(
            &self.authority,
            path,
            &[("authorization", &auth)],
            Duration::from_secs(60),
        )
        .await
        .with_context(|| format!("GET {path}"))
    }

    /// Signs in to the dashboard as the bench account; returns the `Cookie` header value.
    pub async fn sign_in(&self) -> anyhow::Result<String> {
        let mut conn = self.connect().await?;
        let timeout = Duration::from_secs(30);
        let form = conn.get("/login", &[], timeout).await.context("GET /login")?;
        let csrf_cookie = form
            .cookies
            .iter()
            .find(|c| c.starts_with("sentinel_csrf="))
            .context("the sign-in page set no CSRF cookie")?
            .clone();
        let csrf = csrf_cookie.trim_start_matches("sentinel_csrf=");
        let body = format!(
            "csrf={csrf}&email={}&password={}",
            BENCH_EMAIL.replace('@', "%40"),
            BENCH_PASSWORD
        );
        let done = conn
            .post_form("/login", &[("cookie", &csrf_cookie)], &body, timeout)
            .await
            .context("POST /login")?;
        done.cookies
            .iter()
            .find(|c| c.starts_with("sentinel_session="))
            .cloned()
            .with_context(|| format!("sign-in failed with {}", done.status))
    }

    /// A keep-alive connection for timing API calls.
    pub async fn connect(&self) -> anyhow::Result<Conn> {
        Conn::connect(&self.authority)
            .await
            .context("connecting to the server")
    }

    pub async fn ready(&self) -> anyhow::Result<Ready> {
        let r = self.get("/ready").await?;
        serde_json::from_slice(&r.body)
            .with_context(|| format!("parsing /ready: {}", String::from_utf8_lossy(&r.body)))
    }

    /// `/metrics` of every server process, one after the other: counters and summaries' sums and
    /// counts add up across processes when read with `promtext`.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let r = self.get("/metrics").await?;
        let mut text = String::from_utf8_lossy(&r.body).into_owned();
        for w in &self.workers {
            let r = get_once(&w.authority, "/metrics", &[], Duration::from_secs(60))
                .await
                .with_context(|| format!("GET /metrics from the worker at {}", w.authority))?;
            text.push('\n');
            text.push_str(&String::from_utf8_lossy(&r.body));
        }
        Ok(text)
    }

    /// Polls `/ready` until the inbox is empty, at most `within`. Returns the time it took, or
    /// `None` if the deadline passed first.
    pub async fn wait_drained(&self, within: Duration) -> anyhow::Result<Option<Duration>> {
        let started = Instant::now();
        loop {
            let r = self.ready().await?;
            if r.inbox_depth == 0 {
                return Ok(Some(started.elapsed()));
            }
            if started.elapsed() > within {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks every server process to stop (SIGTERM) and waits for them, killing any still running
    /// after `grace`; then drops the PostgreSQL schema unless it is kept. Returns the guard of the
    /// temporary directory: the data stays readable until it is dropped.
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<Option<tempfile::TempDir>> {
        for node in std::iter::once(&self.front).chain(&self.workers) {
            node.terminate().await;
        }
        self.front.wait_exit(grace).await?;
        for w in &mut self.workers {
            w.wait_exit(grace).await?;
        }
        if let Some(schema) = self.schema.take() {
            schema.drop_schema().await?;
        }
        Ok(self.work.take())
    }
}
