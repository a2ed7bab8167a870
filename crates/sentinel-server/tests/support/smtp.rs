//! A real SMTP server for tests: `tests/smtp/server.py` on aiosmtpd (installed by `scripts/test`
//! into `.sdk/python-smtp`), recording every accepted message as JSON.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const SMTP_USER: &str = "sentinel";
pub const SMTP_PASSWORD: &str = "smtp-test-password";

/// The root of the repository (where `scripts/` and `.sdk/` live).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap()
}

/// Where `scripts/test` installed aiosmtpd; fails (never skips) when it isn't there.
pub fn smtp_server_packages() -> PathBuf {
    let root = std::env::var_os("SENTINEL_SDK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".sdk"));
    let dir = root.join("python-smtp");
    if !dir.join(".installed").is_file() {
        panic!(
            "aiosmtpd (the SMTP server of the email tests) is not installed in {}: run scripts/test --install-sdks-only \
             (or scripts/test, which installs it and runs the tests)",
            dir.display()
        );
    }
    dir
}

/// A running `tests/smtp/server.py`; killed when dropped.
pub struct SmtpServer {
    pub port: u16,
    out: tempfile::TempDir,
    _child: Child,
}

impl SmtpServer {
    pub async fn start(mode: &str, cert: Option<&Path>, key: Option<&Path>, auth: bool) -> Self {
        let packages = smtp_server_packages();
        let out = tempfile::tempdir().unwrap();
        let python = std::env::var("SENTINEL_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut cmd = Command::new(&python);
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py"))
            .args(["--mode", mode])
            .arg("--out")
            .arg(out.path())
            .env("PYTHONPATH", &packages)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let (Some(cert), Some(key)) = (cert, key) {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if auth {
            cmd.args(["--user", SMTP_USER, "--password", SMTP_PASSWORD]);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {python} tests/smtp/server.py: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the SMTP server did not start within 30 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("the SMTP server exited before it was ready (see its output above)"));
        let port = ready
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the SMTP server: {ready:?}"));
        Self {
            port,
            out,
            _child: child,
        }
    }

    /// The messages the server accepted, as `server.py` recorded them, in order.
    pub fn messages(&self) -> Vec<Value> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.out.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }
}
