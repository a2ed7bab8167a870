//! OTLP/HTTP from the real OpenTelemetry Python SDK: `tests/otel/export.py` builds tracer providers
//! with resources, server spans under the stable and the pre-1.21 HTTP conventions, client and
//! internal child spans, and exports them with the official exporters (protobuf, then JSON; both
//! gzipped) to a real server on port 0 over the store under test (SQLite, or PostgreSQL with
//! `SENTINEL_TEST_BACKEND=postgres`). What the worker aggregated is read back through the JSON API.
//!
//! The packages are installed by `scripts/test` into `.sdk/python-otel` (or
//! `$SENTINEL_SDK_DIR/python-otel`); without them the test fails, it never skips.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use support::api::ApiEnv;

const KEY: &str = "0123456789abcdef0123456789abcdef";
const TOKEN: &str = "otlp-exporter-token";
const WAIT: Duration = Duration::from_secs(60);

/// Where `scripts/test` installed the OpenTelemetry SDK and exporters; fails when it didn't.
fn otel_packages() -> PathBuf {
    let root = std::env::var_os("SENTINEL_SDK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::smtp::repo_root().join(".sdk"));
    let dir = root.join("python-otel");
    assert!(
        dir.join(".installed").is_file(),
        "the OpenTelemetry Python SDK is not installed in {}: run scripts/test --install-sdks-only \
         (or scripts/test, which installs it and runs the tests)",
        dir.display()
    );
    dir
}

/// Runs `export.py` against the server; answers its report line.
async fn export(env: &ApiEnv, project: &str, encoding: &str, auth: &str, prefix: &str) -> Value {
    let python = std::env::var("SENTINEL_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/otel/export.py");
    let endpoint = env.url(&format!("/api/{project}/integration/otlp/v1/traces"));
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(&script)
        .args(["--endpoint", &endpoint, "--key", KEY, "--encoding", encoding])
        .args(["--auth", auth, "--prefix", prefix])
        .env("PYTHONPATH", otel_packages())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true);
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("export.py --encoding {encoding} did not finish within {WAIT:?}"))
        .unwrap_or_else(|e| panic!("starting {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "export.py --encoding {encoding} failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim().lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("export.py printed no JSON report ({e}): {stdout}"))
}

/// Polls the outcomes until `n` spans were refused as invalid.
async fn refused_spans(env: &ApiEnv, p: &str, n: u64) {
    let project: i64 = p.parse().unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let now = env.clock.now_ms();
        let totals = env
            .store
            .outcome_totals(project, now - 3_600_000, now + 60_000)
            .await
            .unwrap();
        let refused: u64 = totals
            .iter()
            .filter(|o| {
                (o.category.as_str(), o.outcome.as_str(), o.reason.as_str())
                    == ("request", "invalid", "invalid_span")
            })
            .map(|o| o.quantity)
            .sum();
        if refused == n {
            return;
        }
        assert!(
            refused < n && std::time::Instant::now() < deadline,
            "expected {n} refused spans in the outcomes, found {refused}: {totals:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `(tenant, requests, 5xx, endpoint with most 5xx)` of a ranking's tenants named `prefix…`.
fn tenants_of(r: &Value, prefix: &str) -> Vec<(String, u64, u64, String)> {
    r["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["tenant"].as_str().unwrap().starts_with(prefix))
        .map(|t| {
            (
                t["tenant"].as_str().unwrap().to_owned(),
                t["requests"].as_u64().unwrap(),
                t["errors"].as_u64().unwrap(),
                t["endpoint"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn close(got: &Value, want: f64) -> bool {
    got.as_f64().is_some_and(|g| (g - want).abs() <= want * 0.01)
}

/// The script's spans per run: acme (from the resource) 40 requests on /v1/orders/{id}, 12 of them
/// 503; beta (span attribute over the resource's) 10 on /v1/process, 7 of them 500; gamma (the
/// `tenant_id` span attribute, second in the default list) 4 on /v1/users/{id}, all 5xx; 5 on
/// /health without a tenant. One more server span has status 999 and is refused; the 40 client
/// spans (502 to a payment API, a tenant of their own) and 40 internal spans are not requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_from_the_opentelemetry_python_exporters_become_requests() {
    let env = ApiEnv::start().await;
    let p = env.acme_shop(TOKEN).await;

    // The protobuf exporter (the SDK's default OTLP/HTTP encoding), gzip, key in X-Sentry-Auth.
    let report = export(&env, &p, "protobuf", "header", "pb-").await;
    assert_eq!(
        (report["server_spans"].as_u64(), report["exported_spans"].as_u64()),
        (Some(59), Some(140)),
        "{report}"
    );
    let r = env.ranking_with(TOKEN, &p, "window=10m&limit=20", 59, 23).await;
    let expected = |prefix: &str| {
        vec![
            (format!("{prefix}acme"), 40, 12, "/v1/orders/{id}".to_owned()),
            (format!("{prefix}beta"), 10, 7, "/v1/process".to_owned()),
            (format!("{prefix}gamma"), 4, 4, "/v1/users/{id}".to_owned()),
        ]
    };
    assert_eq!(tenants_of(&r, "pb-"), expected("pb-"), "{r}");
    assert_eq!(
        r["tenants"].as_array().unwrap().len(),
        3,
        "a client span's tenant was ranked: {r}"
    );
    assert_eq!(r["tenants"][0]["share"].as_f64(), Some(12.0 / 23.0));
    refused_spans(&env, &p, 1).await;

    // The JSON exporter, gzip, key in the query string: the same spans for other tenants.
    let report = export(&env, &p, "json", "query", "json-").await;
    assert_eq!(report["exported_spans"].as_u64(), Some(140), "{report}");
    let r = env
        .ranking_with(TOKEN, &p, "window=10m&limit=20", 2 * 59, 2 * 23)
        .await;
    assert_eq!(tenants_of(&r, "json-"), expected("json-"), "{r}");
    assert_eq!(tenants_of(&r, "pb-"), expected("pb-"), "{r}");
    assert_eq!(r["tenants"].as_array().unwrap().len(), 6, "{r}");
    refused_spans(&env, &p, 2).await;

    // Endpoints come from http.route; the client and internal spans added none.
    let perf = env
        .get(TOKEN, &format!("/api/0/projects/{p}/transactions/?window=10m"))
        .await
        .expect(200);
    let rows: Vec<(&str, u64, f64)> = perf["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["endpoint"].as_str().unwrap(),
                t["requests"].as_u64().unwrap(),
                t["failure_rate"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("/v1/orders/{id}", 80, 0.3),
            ("/v1/process", 20, 0.7),
            ("/health", 10, 0.0),
            ("/v1/users/{id}", 8, 1.0),
        ],
        "{perf}"
    );
    // Latencies are the spans' end − start: 28 of 40 took 40 ms and 12 took 1,200 ms; every
    // success within Apdex's T.
    let orders = &perf["transactions"][0];
    assert!(close(&orders["p50_ms"], 40.0), "{orders}");
    assert!(close(&orders["p95_ms"], 1200.0), "{orders}");
    assert_eq!(orders["apdex"].as_f64(), Some(0.7), "{orders}");
    let process = &perf["transactions"][1];
    assert!(close(&process["p50_ms"], 250.0), "{process}");
}
