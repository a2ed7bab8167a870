//! One `sentinel serve` process of the server under test: started on a free loopback port with
//! its log in the work directory, healthy before it is used, stopped with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sentinel_loadgen::http::get_once;
use tokio::process::{Child, Command};

pub struct Node {
    /// `--roles` as passed, or `all`.
    pub roles: String,
    pub pid: u32,
    pub authority: String,
    pub log_path: PathBuf,
    /// Killed on drop, so a failed run leaves no server behind.
    child: Child,
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a probe socket on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

impl Node {
    /// Starts `sentinel <global> serve [--roles roles] --listen <authority>` and waits for
    /// `/health`.
    pub async fn start(
        bin: &Path,
        global: &[String],
        roles: Option<&str>,
        authority: String,
        log_path: PathBuf,
    ) -> anyhow::Result<Node> {
        let log =
            std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let mut cmd = Command::new(bin);
        cmd.args(global).arg("serve").args(["--listen", &authority]);
        if let Some(r) = roles {
            cmd.args(["--roles", r]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} serve", bin.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let node = Node {
            roles: roles.unwrap_or("all").to_owned(),
            pid,
            authority,
            log_path,
            child,
        };
        node.wait_healthy(Duration::from_secs(30)).await?;
        Ok(node)
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
                    "the server ({} roles) did not become healthy within {within:?}; last log lines:\n{}",
                    self.roles,
                    tail.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asks the process to stop (SIGTERM) without waiting.
    pub async fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
    }

    /// Waits for the process to exit, killing it after `grace`.
    pub async fn wait_exit(&mut self, grace: Duration) -> anyhow::Result<()> {
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => {
                status.context("waiting for the server")?;
            }
            Err(_) => {
                eprintln!(
                    "the server ({} roles) did not stop within {grace:?}; killing it",
                    self.roles
                );
                self.child.kill().await.context("killing the server")?;
            }
        }
        Ok(())
    }
}
