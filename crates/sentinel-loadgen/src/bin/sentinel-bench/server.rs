//! The server under test: a fresh data directory, a project and a token made with the binary's own
//! CLI, and `sentinel serve` on a free loopback port.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sentinel_loadgen::Dsn;
use sentinel_loadgen::http::{Conn, Reply, get_once};
use serde::Deserialize;
use tokio::process::{Child, Command};

pub struct Server {
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    pub dsn: Dsn,
    pub token: String,
    pub authority: String,
    pub pid: u32,
    child: Child,
    /// Removed on drop unless the data is kept.
    work: Option<tempfile::TempDir>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Ready {
    pub inbox_depth: i64,
    pub inbox_lag_seconds: f64,
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a probe socket on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

/// Runs `sentinel <args>` to completion and returns the last line of its stdout.
async fn cli_last_line(bin: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(args)
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

impl Server {
    /// Creates a data directory under `work_root`, a project and a token, and starts `serve`.
    pub async fn start(bin: &Path, work_root: &Path, keep: bool) -> anyhow::Result<Server> {
        let bin = std::fs::canonicalize(bin).with_context(|| {
            format!(
                "server binary {} not found (build it with cargo build --release -p sentinel)",
                bin.display()
            )
        })?;
        let work = tempfile::Builder::new()
            .prefix("sentinel-bench-")
            .tempdir_in(work_root)
            .with_context(|| format!("creating a work directory in {}", work_root.display()))?;
        let data_dir = work.path().join("data");
        let log_path = work.path().join("server.log");
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let data = data_dir.to_string_lossy().into_owned();
        let dsn_line = cli_last_line(
            &bin,
            &[
                "--data-dir",
                &data,
                "--listen",
                &listen,
                "project",
                "create",
                "bench",
            ],
        )
        .await?;
        let dsn: Dsn = dsn_line
            .parse()
            .with_context(|| format!("`project create` printed {dsn_line:?}"))?;
        let token = cli_last_line(&bin, &["--data-dir", &data, "token", "create", "bench"]).await?;
        let log =
            std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(&bin)
            .args(["serve", "--data-dir", &data, "--listen", &listen])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} serve", bin.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let work_path = work.path().to_path_buf();
        let server = Server {
            data_dir,
            log_path,
            dsn,
            token,
            authority: listen,
            pid,
            child,
            work: if keep {
                let _ = work.keep();
                None
            } else {
                Some(work)
            },
        };
        if keep {
            eprintln!("keeping the data in {}", work_path.display());
        }
        server.wait_healthy(Duration::from_secs(30)).await?;
        Ok(server)
    }

    async fn wait_healthy(&self, within: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Ok(r) = get_once(&self.authority, "/health", &[], Duration::from_secs(1)).await
                && r.status.is_success()
            {
                return Ok(());
            }
            if started.elapsed() > within {
                let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(10).collect();
                bail!(
                    "the server did not become healthy within {within:?}; last log lines:\n{}",
                    tail.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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

    pub async fn metrics(&self) -> anyhow::Result<String> {
        let r = self.get("/metrics").await?;
        Ok(String::from_utf8_lossy(&r.body).into_owned())
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

    /// Asks the server to stop (SIGTERM) and waits for it, killing it after `grace`. Returns the
    /// guard of the temporary directory: the data stays readable until it is dropped.
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<Option<tempfile::TempDir>> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => {
                status.context("waiting for the server")?;
            }
            Err(_) => {
                eprintln!("the server did not stop within {grace:?}; killing it");
                self.child.kill().await.context("killing the server")?;
            }
        }
        Ok(self.work.take())
    }
}
