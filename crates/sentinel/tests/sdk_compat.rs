//! Compatibility with the official Sentry SDKs: each test drives a real SDK (sentry-python with
//! brotli and with gzip, @sentry/node, the Rust `sentry` crate) against a real server and asserts
//! what a user sees through the API: issues, counts, titles, culprits, levels and tag
//! distributions, and release health from sentry-python's sessions. The SDK scripts also report what the SDK itself recorded as dropped, and fail
//! on any loss.
//!
//! The Python and Node SDKs are installed by `scripts/test` into `.sdk/` (or `$SENTINEL_SDK_DIR`);
//! without them these tests fail, they never skip.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestServer, python, repo_root, run_child_unchecked, sdk_dir};
use serde_json::Value;

const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentry_python_with_brotli_groups_errors_and_messages() {
    python_scenario("python", "br").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentry_python_without_brotli_sends_gzip_and_groups_the_same() {
    python_scenario("python-nobrotli", "gzip").await;
}

/// `tests/sdk/python/send_errors.py` sends 3 identical ZeroDivisionErrors, a KeyError, two
/// "Order <n> failed for user <n>" warnings and a transaction.
async fn python_scenario(sdk: &str, compression: &str) {
    let server = TestServer::start().await;
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(repo_root().join("tests/sdk/python/send_errors.py"))
        .args(["--expect-compression", compression])
        .env("PYTHONPATH", sdk_dir(sdk))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let summary = run_sdk_script(&server, cmd).await;
    assert_eq!(
        summary["events_sent"], 6,
        "the SDK should have sent 6 error events: {summary}"
    );
    let types = sent_item_types(&summary["envelopes_submitted"]);
    assert!(
        types.contains(&"transaction".to_owned()),
        "no transaction was sent: {summary}"
    );
    for request in summary["requests"].as_array().into_iter().flatten() {
        assert_eq!(request["content_encoding"], compression, "{summary}");
    }

    let issues = server.wait_for_issues(3).await;
    assert_eq!(issues.len(), 3, "expected 3 issues:\n{}", titles(&issues));

    let zero = find_issue(&issues, "ZeroDivisionError");
    assert!(title(&zero).contains("division by zero"), "{zero}");
    assert_eq!(
        zero["times_seen"], 3,
        "3 errors from the same line must group into one issue: {zero}"
    );
    assert_eq!(zero["level"], "error", "{zero}");
    assert!(
        zero["culprit"].as_str().unwrap_or_default().contains("divide"),
        "culprit should name divide(): {zero}"
    );
    let detail = server.issue(id(&zero)).await;
    assert_tag(&detail, "tenant_id", &[("acme", 2), ("globex", 1)]);
    assert_tag(&detail, "environment", &[("sdk-compat", 3)]);
    assert_tag(&detail, "release", &[("shop@1.2.3", 3)]);
    let events = server
        .get_json(&format!("/api/0/issues/{}/events/", id(&zero)))
        .await;
    assert_eq!(events["data"].as_array().map(Vec::len), Some(3), "{events}");

    let key = find_issue(&issues, "KeyError");
    assert!(title(&key).contains("sku-42"), "{key}");
    assert_eq!(key["times_seen"], 1, "{key}");
    assert!(
        key["culprit"].as_str().unwrap_or_default().contains("lookup"),
        "culprit should name lookup(): {key}"
    );

    // Different numbers in the message, same issue: grouping parameterizes them.
    let order = find_issue(&issues, "failed for user");
    assert_eq!(order["level"], "warning", "{order}");
    assert_eq!(
        order["times_seen"], 2,
        "messages differing only in numbers must group: {order}"
    );
    let detail = server.issue(id(&order)).await;
    assert_tag(&detail, "tenant_id", &[("acme", 1), ("initech", 1)]);
    assert_tag(&detail, "level", &[("warning", 2)]);

    assert_nothing_rejected(&server).await;
    server.shutdown().await;
}

/// `tests/sdk/python/release_health.py` runs 5 requests through sentry-python's WSGI middleware
/// (request-mode sessions, sent as one `sessions` aggregate: 3 fine, 1 errored, 1 crashed) and
/// one application-mode session of a user (a `session` item), all in release `shop@2.0.0`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentry_python_sessions_become_release_health() {
    let server = TestServer::start().await;
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(repo_root().join("tests/sdk/python/release_health.py"))
        .env("PYTHONPATH", sdk_dir("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let summary = run_sdk_script(&server, cmd).await;
    let types = sent_item_types(&summary["envelopes_submitted"]);
    for ty in ["sessions", "session"] {
        assert!(types.contains(&ty.to_owned()), "no {ty} item was sent: {summary}");
    }
    // The crash and the handled KeyError.
    assert_eq!(summary["events_sent"], 2, "{summary}");
    server.wait_for_issues(2).await;
    let release = server
        .get_json(&format!(
            "/api/0/projects/{}/releases/shop%402.0.0/",
            server.project_id
        ))
        .await;
    assert_eq!(
        (
            release["events"].as_u64(),
            release["new_issues"].as_u64(),
            release["sessions"].as_u64(),
            release["sessions_crashed"].as_u64(),
            release["sessions_errored"].as_u64(),
        ),
        (Some(2), Some(2), Some(6), Some(1), Some(1)),
        "{release}"
    );
    // sentry-python leaves `did` out of aggregates: the one user is the application session's.
    assert_eq!(
        (release["users"].as_u64(), release["users_crashed"].as_u64()),
        (Some(1), Some(0)),
        "{release}"
    );
    let rate = release["crash_free_sessions"].as_f64().unwrap_or_default();
    assert!((rate - 500.0 / 6.0).abs() < 1e-9, "{release}");
    assert_eq!(release["crash_free_users"].as_f64(), Some(100.0), "{release}");
    assert_eq!(release["issues"].as_array().map(Vec::len), Some(2), "{release}");
    assert_nothing_rejected(&server).await;
    server.shutdown().await;
}

/// `tests/sdk/node/send_errors.cjs` sends 2 identical Errors, a TypeError, a warning message and,
/// with tracing on, a span v2 container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentry_node_groups_errors_and_sends_span_containers() {
    let server = TestServer::start().await;
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo_root().join("tests/sdk/node/send_errors.cjs"))
        .env("NODE_PATH", sdk_dir("node").join("node_modules"))
        .env_remove("SENTRY_TRACE_LIFECYCLE");
    let summary = run_sdk_script(&server, cmd).await;
    assert_eq!(
        summary["events_sent"].as_array().map(Vec::len),
        Some(4),
        "the SDK should have sent 4 events: {summary}"
    );
    let spans: Vec<&Value> = summary["sends"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| {
            s["types"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "span"))
        })
        .collect();
    assert!(!spans.is_empty(), "the SDK sent no span container: {summary}");

    let issues = server.wait_for_issues(3).await;
    assert_eq!(issues.len(), 3, "expected 3 issues:\n{}", titles(&issues));

    let declined = find_issue(&issues, "payment declined");
    assert!(title(&declined).contains("Error"), "{declined}");
    assert_eq!(
        declined["times_seen"], 2,
        "2 errors from the same line must group into one issue: {declined}"
    );
    assert_eq!(declined["level"], "error", "{declined}");
    assert!(
        declined["culprit"]
            .as_str()
            .unwrap_or_default()
            .contains("chargeCard"),
        "culprit should name chargeCard(): {declined}"
    );
    let detail = server.issue(id(&declined)).await;
    assert_tag(&detail, "tenant_id", &[("acme", 1), ("globex", 1)]);
    assert_tag(&detail, "environment", &[("sdk-compat", 2)]);
    assert_tag(&detail, "release", &[("shop@2.0.0", 2)]);

    let type_error = find_issue(&issues, "TypeError");
    assert!(title(&type_error).contains("reading 'name'"), "{type_error}");
    assert_eq!(type_error["times_seen"], 1, "{type_error}");
    assert!(
        type_error["culprit"]
            .as_str()
            .unwrap_or_default()
            .contains("renderInvoice"),
        "culprit should name renderInvoice(): {type_error}"
    );

    let quota = find_issue_where(&issues, "message", "Disk quota exceeded");
    assert_eq!(quota["level"], "warning", "{quota}");
    assert_eq!(quota["times_seen"], 1, "{quota}");
    assert_tag(&server.issue(id(&quota)).await, "tenant_id", &[("initech", 1)]);

    let metrics = server.metrics().await;
    assert!(
        metric_value(&metrics, r#"sentinel_ingest_accepted_total{category="span"}"#) >= 1.0,
        "the server counted no accepted span item:\n{metrics}"
    );
    assert_nothing_rejected(&server).await;
    // SDK 11 attaches a synthetic stack trace to every captureMessage (attachStacktrace defaults
    // to true); the issue must still be titled by the message the user wrote, not by the
    // anonymous function that called captureMessage.
    assert!(
        title(&quota).contains("Disk quota exceeded"),
        "a message issue titled {:?}: {quota}",
        title(&quota)
    );
    server.shutdown().await;
}

#[derive(Debug)]
struct PaymentDeclined {
    order: u32,
}

impl std::fmt::Display for PaymentDeclined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "payment declined for order {}", self.order)
    }
}

impl std::error::Error for PaymentDeclined {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentry_rust_errors_and_messages_become_issues() {
    let server = TestServer::start().await;
    let dsn = server.dsn.clone();
    // The SDK's client and flush block; keep them off the runtime that serves the requests.
    let sent = tokio::task::spawn_blocking(move || send_with_rust_sdk(&dsn))
        .await
        .unwrap_or_else(|e| panic!("the Rust SDK thread panicked: {e}"));
    assert_eq!(
        sent.iter().filter(|types| types.contains(&"event")).count(),
        4,
        "events sent: {sent:?}"
    );
    assert!(
        sent.iter().any(|types| types.contains(&"transaction")),
        "no transaction was sent: {sent:?}"
    );
    // The SDK attaches a client report to a later envelope whenever it recorded a loss.
    assert!(
        !sent.iter().any(|types| types.contains(&"client_report")),
        "the SDK reported lost data: {sent:?}"
    );

    let issues = server.wait_for_issues(3).await;
    assert_eq!(issues.len(), 3, "expected 3 issues:\n{}", titles(&issues));

    let parse = find_issue(&issues, "ParseIntError");
    assert!(title(&parse).contains("invalid digit found in string"), "{parse}");
    assert_eq!(parse["times_seen"], 2, "{parse}");
    assert_eq!(parse["level"], "error", "{parse}");
    let detail = server.issue(id(&parse)).await;
    assert_tag(&detail, "tenant_id", &[("acme", 1), ("globex", 1)]);
    assert_tag(&detail, "environment", &[("sdk-compat", 2)]);
    assert_tag(&detail, "release", &[("shop@3.0.0", 2)]);

    let declined = find_issue(&issues, "PaymentDeclined");
    assert!(
        title(&declined).contains("payment declined for order 42"),
        "{declined}"
    );
    assert_eq!(declined["times_seen"], 1, "{declined}");

    let slow = find_issue(&issues, "Cache warmup took too long");
    assert_eq!(slow["level"], "warning", "{slow}");
    assert_eq!(slow["times_seen"], 1, "{slow}");

    assert_nothing_rejected(&server).await;
    server.shutdown().await;
}

/// Sends 2 ParseIntErrors, a custom error, a warning message and a transaction through the Rust
/// SDK's own HTTP transport; returns the item types of every envelope the transport was given.
fn send_with_rust_sdk(dsn: &str) -> Vec<Vec<&'static str>> {
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let options = sentry::ClientOptions::new()
        .dsn(dsn)
        .environment("sdk-compat")
        .release("shop@3.0.0")
        .traces_sample_rate(1.0)
        .transport(RecordingTransportFactory(recorded.clone()));
    let client = Arc::new(sentry::Client::from(sentry::apply_defaults(options)));
    let hub = Arc::new(sentry::Hub::new(
        Some(client.clone()),
        Arc::new(sentry::Scope::default()),
    ));
    sentry::Hub::run(hub, || {
        let with_tenant = |tenant: &str, capture: &dyn Fn()| {
            sentry::with_scope(|scope| scope.set_tag("tenant_id", tenant), capture);
        };
        for tenant in ["acme", "globex"] {
            let Err(err) = "12a".parse::<u32>() else {
                panic!("12a parsed as a number")
            };
            with_tenant(tenant, &|| {
                sentry::capture_error(&err);
            });
        }
        with_tenant("acme", &|| {
            sentry::capture_error(&PaymentDeclined { order: 42 });
        });
        with_tenant("initech", &|| {
            sentry::capture_message("Cache warmup took too long", sentry::Level::Warning);
        });
        let transaction =
            sentry::start_transaction(sentry::TransactionContext::new("nightly-report", "task"));
        transaction.start_child("db", "load orders").finish();
        transaction.finish();
    });
    assert!(
        client.flush(Some(Duration::from_secs(15))),
        "the Rust SDK did not flush within 15 s"
    );
    recorded.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The SDK's default HTTP transport, recording the item types of each envelope it is handed.
struct RecordingTransportFactory(Arc<Mutex<Vec<Vec<&'static str>>>>);

struct RecordingTransport {
    inner: Arc<dyn sentry::Transport>,
    recorded: Arc<Mutex<Vec<Vec<&'static str>>>>,
}

impl sentry::TransportFactory for RecordingTransportFactory {
    fn create_transport_with_options(&self, options: sentry::TransportOptions) -> Arc<dyn sentry::Transport> {
        let inner = sentry::transports::DefaultTransportFactory.create_transport_with_options(options);
        Arc::new(RecordingTransport {
            inner,
            recorded: self.0.clone(),
        })
    }
}

impl sentry::Transport for RecordingTransport {
    fn send_envelope(&self, envelope: sentry::Envelope) {
        let types = envelope.items().map(item_type).collect();
        self.recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(types);
        self.inner.send_envelope(envelope);
    }

    fn flush(&self, timeout: Duration) -> bool {
        self.inner.flush(timeout)
    }

    fn shutdown(&self, timeout: Duration) -> bool {
        self.inner.shutdown(timeout)
    }
}

fn item_type(item: &sentry::protocol::EnvelopeItem) -> &'static str {
    use sentry::protocol::EnvelopeItem as I;
    match item {
        I::Event(_) => "event",
        I::SessionUpdate(_) => "session",
        I::SessionAggregates(_) => "sessions",
        I::Transaction(_) => "transaction",
        I::Attachment(_) => "attachment",
        I::MonitorCheckIn(_) => "check_in",
        I::ClientReport(_) => "client_report",
        I::ItemContainer(_) => "container",
        _ => "other",
    }
}

/// Runs an SDK script against the server and returns the JSON it printed after
/// `SENTINEL_SUMMARY `. The script exits non-zero, failing the test with its full output, when
/// the SDK recorded any loss.
async fn run_sdk_script(server: &TestServer, mut cmd: tokio::process::Command) -> Value {
    cmd.env("SENTRY_DSN", &server.dsn);
    // SDK settings and proxies from the developer's environment must not leak into the client.
    for var in [
        "SENTRY_RELEASE",
        "SENTRY_ENVIRONMENT",
        "SENTRY_DEBUG",
        "SENTRY_TRACES_SAMPLE_RATE",
    ] {
        cmd.env_remove(var);
    }
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    let out = run_child_unchecked(cmd, CHILD_TIMEOUT).await;
    out.assert_success("the SDK script (it exits 1 when the SDK dropped or could not send something)");
    let line = out
        .stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("SENTINEL_SUMMARY "))
        .unwrap_or_else(|| {
            panic!(
                "the SDK script printed no SENTINEL_SUMMARY line\n--- stdout ---\n{}\n--- stderr ---\n{}",
                out.stdout, out.stderr
            )
        });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("SENTINEL_SUMMARY is not JSON ({e}): {line}"))
}

fn sent_item_types(envelopes: &Value) -> Vec<String> {
    envelopes
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e.as_array().into_iter().flatten())
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect()
}

fn title(issue: &Value) -> &str {
    issue["title"].as_str().unwrap_or_default()
}

fn id(issue: &Value) -> &str {
    issue["id"]
        .as_str()
        .unwrap_or_else(|| panic!("issue without a string id: {issue}"))
}

fn titles(issues: &[Value]) -> String {
    issues
        .iter()
        .map(|i| format!("  {:>3}x {} [{}]", i["times_seen"], title(i), i["culprit"]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The one issue whose title contains `needle`.
fn find_issue(issues: &[Value], needle: &str) -> Value {
    find_issue_where(issues, "title", needle)
}

/// The one issue whose string field `field` contains `needle`.
fn find_issue_where(issues: &[Value], field: &str, needle: &str) -> Value {
    let found: Vec<&Value> = issues
        .iter()
        .filter(|i| i[field].as_str().is_some_and(|v| v.contains(needle)))
        .collect();
    match found.as_slice() {
        [one] => (*one).clone(),
        _ => panic!(
            "expected exactly one issue whose {field} contains {needle:?}, found {}:\n{}",
            found.len(),
            titles(issues)
        ),
    }
}

/// Asserts the issue's distribution of tag `key` is exactly `expected` (value, count).
fn assert_tag(detail: &Value, key: &str, expected: &[(&str, u64)]) {
    let tag = detail["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["key"] == key)
        .unwrap_or_else(|| {
            panic!(
                "issue {} has no tag {key:?}; tags: {}",
                detail["id"], detail["tags"]
            )
        });
    let actual: BTreeMap<String, u64> = tag["top"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            (
                v["value"].as_str().unwrap_or_default().to_owned(),
                v["count"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let expected: BTreeMap<String, u64> = expected.iter().map(|(v, n)| ((*v).to_owned(), *n)).collect();
    assert_eq!(
        actual, expected,
        "tag {key:?} of issue {} ({})",
        detail["id"], detail["title"]
    );
}

/// The server refused no request (every SDK request got a 2xx, seen from the server side).
async fn assert_nothing_rejected(server: &TestServer) {
    let metrics = server.metrics().await;
    let rejected: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("sentinel_ingest_rejected_total"))
        .collect();
    assert!(
        rejected.is_empty(),
        "the server rejected ingest requests:\n{}",
        rejected.join("\n")
    );
}

/// The value of one series in a Prometheus exposition (0 when absent).
fn metric_value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0.0)
}
