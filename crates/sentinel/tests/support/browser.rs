//! A real headless Chromium for the dashboard tests, driven over WebDriver: ChromeDriver on a free
//! loopback port and one browser session with a throwaway profile, both stopped when the
//! [`Browser`] is dropped (also when the test fails half-way). The helpers wait on conditions under
//! a deadline and fail with what the page showed instead; [`Browser::screenshot`] saves full-page
//! PNGs under `$CARGO_TARGET_TMPDIR/screenshots/<test>/` and, like [`Browser::close`], fails the
//! test when the page logged a JavaScript error or a Content-Security-Policy violation.
//!
//! Chromium and ChromeDriver come from Debian (`scripts/test` installs them); without them the test
//! fails, it never skips. `SENTINEL_CHROMIUM` and `SENTINEL_CHROMEDRIVER` name other binaries.
//!
//! ChromeDriver speaks plain http on loopback, so fantoccini runs over a plain hyper connector with
//! no TLS feature (its rustls feature would compile in a second rustls crypto provider).
//!
//! Include it from a test binary after `common`:
//! `mod common; #[path = "support/browser.rs"] mod browser;`
#![allow(dead_code, reason = "a test binary may use a subset of these helpers")]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::common::{Deadline, kill_process_group};

/// How long the `wait_*` helpers poll the page before failing.
pub const BROWSER_WAIT: Duration = Duration::from_secs(20);
/// ChromeDriver answering `/status` and a new session (Chromium's first start on a cold cache).
const DRIVER_START: Duration = Duration::from_secs(60);
const WINDOW: (u32, u32) = (1280, 900);
/// Full-page screenshots are cut at this height (CSS pixels).
const MAX_SHOT_HEIGHT: f64 = 5000.0;

/// A headless Chromium session against one server. Paths given to the helpers are relative to
/// `base_url` (`/orgs/default/`).
pub struct Browser {
    client: Client,
    _driver: Driver,
    base_url: String,
    shots_dir: PathBuf,
    shots: AtomicUsize,
    // Removed after Drop stopped the browser using it.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium session for the test named `test` (the
    /// screenshot directory), against the server at `base_url`.
    pub async fn start(test: &str, base_url: &str) -> Browser {
        let chromium = find_binary(
            "SENTINEL_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let chromedriver = find_binary("SENTINEL_CHROMEDRIVER", &["chromedriver"]);
        let shots_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("screenshots")
            .join(test);
        // Old screenshots of an earlier run would be mistaken for this one's.
        let _ = std::fs::remove_dir_all(&shots_dir);
        std::fs::create_dir_all(&shots_dir)
            .unwrap_or_else(|e| panic!("creating {}: {e}", shots_dir.display()));
        let driver_log = shots_dir.join("chromedriver.log");

        let port = free_port();
        let mut driver = std::process::Command::new(&chromedriver);
        driver
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", driver_log.display()))
            // INFO would log every command, screenshots included.
            .arg("--log-level=WARNING")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Chromium starts inside this group: Drop ends them together.
            .process_group(0);
        let mut driver = Driver(
            driver
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display())),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        wait_until_ready(&webdriver, &mut driver.0, &driver_log).await;

        let profile = tempfile::Builder::new()
            .prefix("sentinel-chromium-")
            .tempdir()
            .unwrap_or_else(|e| panic!("creating a Chromium profile directory: {e}"));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-dev-shm-usage",
                    "--lang=en-US",
                    format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
            // Console messages, JavaScript errors and CSP violations, read by `console_problems`.
            "goog:loggingPrefs": {"browser": "ALL"},
            // confirm() from data-confirm is answered yes by the next command.
            "unhandledPromptBehavior": "accept",
        });
        let capabilities = capabilities.as_object().cloned().unwrap_or_default();
        let session = tokio::time::timeout(
            DRIVER_START,
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&webdriver),
        )
        .await;
        let client = match session {
            Ok(Ok(client)) => client,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {DRIVER_START:?}"),
                };
                panic!(
                    "ChromeDriver could not start {}: {why}\n{}",
                    chromium.display(),
                    log_tail(&driver_log)
                );
            }
        };
        Browser {
            client,
            _driver: driver,
            base_url: base_url.trim_end_matches('/').to_owned(),
            shots_dir,
            shots: AtomicUsize::new(0),
            _profile: profile,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Opens `path` and waits for the page to load.
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&self.url(path))
            .await
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
    }

    pub async fn reload(&self) {
        let path = self.path().await;
        self.client
            .refresh()
            .await
            .unwrap_or_else(|e| panic!("reloading {path}: {e}"));
    }

    /// Path of the current page, without query or fragment.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .unwrap_or_else(|e| panic!("reading the current URL: {e}"))
            .path()
            .to_owned()
    }

    /// Waits until the current page's path is `expected` (e.g. after a redirect or a form post).
    pub async fn wait_for_path(&self, expected: &str) {
        let deadline = Deadline::after(BROWSER_WAIT);
        loop {
            let path = self.path().await;
            if path == expected {
                return;
            }
            if !deadline.pause().await {
                panic!(
                    "expected to be on {expected} within {BROWSER_WAIT:?}, but the browser is on {path}\n{}",
                    self.describe_page().await
                );
            }
        }
    }

    /// Clears the input matching `css` and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.wait_for(css).await;
        input
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clearing {css}: {e}"));
        input
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Chooses the option with `value` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        let select = self.wait_for(css).await;
        if let Err(e) = select.select_by_value(value).await {
            let options = self.texts_of(&format!("{css} option"), "value").await;
            panic!("choosing {value:?} in {css}: {e}\nits option values: {options:?}");
        }
    }

    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        if let Err(e) = element.click().await {
            panic!("clicking {css}: {e}\n{}", self.describe_page().await);
        }
    }

    /// Visible text of the first element matching `css` (waiting for it to exist).
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("reading the text of {css}: {e}"))
    }

    /// Whether an element matches `css` right now (no waiting).
    pub async fn exists(&self, css: &str) -> bool {
        self.find_all(css).await.into_iter().next().is_some()
    }

    /// Waits until an element matches `css` and returns the first.
    pub async fn wait_for(&self, css: &str) -> Element {
        let deadline = Deadline::after(BROWSER_WAIT);
        loop {
            if let Some(element) = self.find_all(css).await.into_iter().next() {
                return element;
            }
            if !deadline.pause().await {
                panic!(
                    "no element matches {css} within {BROWSER_WAIT:?}\n{}",
                    self.describe_page().await
                );
            }
        }
    }

    /// Waits until some element matching `css` contains `needle` (ignoring case) and returns its
    /// text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        self.wait_for_text_where(css, &format!("containing {needle:?}"), |t| {
            t.to_lowercase().contains(&needle.to_lowercase())
        })
        .await
    }

    /// Waits until the first element matching `css` reads exactly `expected` (trimmed, ignoring
    /// case): `resolved` is not `unresolved`.
    pub async fn wait_for_exact_text(&self, css: &str, expected: &str) {
        let deadline = Deadline::after(BROWSER_WAIT);
        loop {
            let text = match self.find_all(css).await.into_iter().next() {
                Some(element) => element.text().await.ok(),
                None => None,
            };
            if text
                .as_deref()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
            {
                return;
            }
            if !deadline.pause().await {
                panic!(
                    "{css} should read {expected:?} within {BROWSER_WAIT:?}, it reads {text:?}\n{}",
                    self.describe_page().await
                );
            }
        }
    }

    async fn wait_for_text_where(&self, css: &str, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Deadline::after(BROWSER_WAIT);
        loop {
            let texts = self.texts(css).await;
            if let Some(found) = texts.iter().find(|t| matches(t)) {
                return found.clone();
            }
            if !deadline.pause().await {
                panic!(
                    "no element matching {css} {what} within {BROWSER_WAIT:?}; those found read {texts:?}\n{}",
                    self.describe_page().await
                );
            }
        }
    }

    /// Texts of every element matching `css` right now.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.find_all(css).await {
            // An element replaced by htmx between the find and the read: skip it.
            if let Ok(text) = element.text().await {
                texts.push(text);
            }
        }
        texts
    }

    /// The `attribute` of every element matching `css` right now (missing ones as "").
    pub async fn texts_of(&self, css: &str, attribute: &str) -> Vec<String> {
        let mut values = Vec::new();
        for element in self.find_all(css).await {
            values.push(element.attr(attribute).await.ok().flatten().unwrap_or_default());
        }
        values
    }

    async fn find_all(&self, css: &str) -> Vec<Element> {
        match self.client.find_all(Locator::Css(css)).await {
            Ok(found) => found,
            Err(CmdError::Standard(e)) if e.error == fantoccini::error::ErrorStatus::InvalidSelector => {
                panic!("{css} is not a valid CSS selector: {e}")
            }
            Err(e) => panic!("looking for {css}: {e}"),
        }
    }

    /// Runs `script` in the page (its `return` value is the result).
    pub async fn execute(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("running {script:?} in the page: {e}"))
    }

    /// Emulates `prefers-color-scheme: dark` (or light) for the pages that follow, as a system in
    /// dark mode would.
    pub async fn prefer_dark(&self, dark: bool) {
        let scheme = if dark { "dark" } else { "light" };
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// Saves a PNG of the whole page as `<n>-<name>.png` and returns its path; then fails the
    /// test if the page logged errors.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // From the top, so that sticky headers sit where a reader expects them.
        self.execute("window.scrollTo(0, 0); return null").await;
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let width = size["width"].as_f64().unwrap_or(f64::from(WINDOW.0));
        let height = size["height"]
            .as_f64()
            .unwrap_or(f64::from(WINDOW.1))
            .min(MAX_SHOT_HEIGHT);
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
                }),
            )
            .await;
        let png = shot["data"]
            .as_str()
            .and_then(|data| base64::engine::general_purpose::STANDARD.decode(data).ok())
            .unwrap_or_else(|| panic!("Page.captureScreenshot returned no PNG: {shot}"));
        let n = self.shots.fetch_add(1, Ordering::Relaxed) + 1;
        let path = self.shots_dir.join(format!("{n:02}-{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        self.assert_console_clean(name).await;
        path
    }

    /// Fails the test if, since the last check, a page logged a JavaScript error, a CSP
    /// violation, `console.error`, a server error or a missing asset. 4xx answers to documents
    /// and form posts are left to the test (a wrong password may well be a 401).
    pub async fn assert_console_clean(&self, step: &str) {
        let problems = self.console_problems().await;
        if !problems.is_empty() {
            panic!(
                "the browser console reported problems (at step {step:?}):\n  {}\n{}",
                problems.join("\n  "),
                self.describe_page().await
            );
        }
    }

    async fn console_problems(&self) -> Vec<String> {
        let log = self
            .session_post("se/log", json!({"type": "browser"}))
            .await
            .unwrap_or_else(|e| panic!("reading the browser log from ChromeDriver: {e}"));
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|entry| is_problem(entry))
            .map(|entry| {
                format!(
                    "[{} {}] {}",
                    entry["level"].as_str().unwrap_or("?"),
                    entry["source"].as_str().unwrap_or("?"),
                    entry["message"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    /// Checks the console one last time and ends the session (dropping it stops ChromeDriver).
    pub async fn close(self) {
        self.assert_console_clean("close").await;
        if let Err(e) = self.client.clone().close().await {
            eprintln!("ending the browser session: {e}");
        }
    }

    /// A Chrome DevTools Protocol command through ChromeDriver.
    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.session_post("goog/cdp/execute", json!({"cmd": cmd, "params": params}))
            .await
            .unwrap_or_else(|e| panic!("DevTools command {cmd}: {e}"))
    }

    async fn session_post(&self, path: &'static str, body: Value) -> Result<Value, CmdError> {
        self.client.issue_cmd(SessionPost { path, body }).await
    }

    /// Where the browser is and what the page says, for failure messages.
    async fn describe_page(&self) -> String {
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("(unknown: {e})"));
        let title = self.client.title().await.unwrap_or_default();
        let body = match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let mut shown: String = body.chars().take(1500).collect();
        if shown.len() < body.len() {
            shown.push_str(" …");
        }
        format!(
            "--- page: {url} (title {title:?}); screenshots in {} ---\n{body}",
            self.shots_dir.display(),
            body = shown
        )
    }
}

/// The ChromeDriver process, in a process group of its own that Chromium starts in too. Dropping
/// it (also when a test fails half-way, without [`Browser::close`]) kills the whole group.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        kill_process_group(self.0.id());
        let _ = self.0.wait();
    }
}

/// A WebDriver extension command `POST /session/{id}/<path>` (ChromeDriver's `se/log` and
/// `goog/cdp/execute`, which fantoccini has no method for).
#[derive(Debug)]
struct SessionPost {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for SessionPost {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// SEVERE entries are problems: script errors, CSP violations (`security`), `console.error`; of
/// failed loads only server errors and static assets (a 4xx page is the server's answer).
fn is_problem(entry: &Value) -> bool {
    if entry["level"] != "SEVERE" {
        return false;
    }
    let message = entry["message"].as_str().unwrap_or_default();
    if entry["source"] != "network" {
        return true;
    }
    let url = message.split_whitespace().next().unwrap_or_default();
    let path = url.split(['?', '#']).next().unwrap_or_default();
    if path.ends_with("/favicon.ico") {
        return false;
    }
    let server_error = (500..600).any(|status| message.contains(&format!("status of {status}")));
    let asset = [".js", ".css", ".png", ".svg", ".woff", ".woff2", ".map"]
        .iter()
        .any(|ext| path.ends_with(ext));
    server_error || asset
}

/// `$VAR` if set, else the first of `names` on the PATH; panics with how to install it.
fn find_binary(var: &str, names: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{} not found on the PATH (or set {var}): the browser tests need Chromium and \
                 ChromeDriver; scripts/test installs them (apt-get install chromium chromium-driver)",
                names.join(" / ")
            )
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("finding a free loopback port: {e}"))
}

/// Polls ChromeDriver's `/status` until it reports ready; fails early if it exits.
async fn wait_until_ready(webdriver: &str, driver: &mut Child, log: &Path) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_else(|e| panic!("building the HTTP client: {e}"));
    let deadline = Deadline::after(DRIVER_START);
    loop {
        if let Ok(response) = http.get(format!("{webdriver}/status")).send().await
            && let Ok(status) = response.json::<Value>().await
            && status["value"]["ready"] == true
        {
            return;
        }
        if let Ok(Some(exit)) = driver.try_wait() {
            panic!("ChromeDriver exited at start ({exit})\n{}", log_tail(log));
        }
        if !deadline.pause().await {
            panic!(
                "ChromeDriver did not report ready on {webdriver}/status within {DRIVER_START:?}\n{}",
                log_tail(log)
            );
        }
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    format!("--- last lines of {} ---\n{tail}", log.display())
}
