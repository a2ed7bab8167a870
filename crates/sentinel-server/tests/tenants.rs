//! Tenant detection end to end on a real server and database (SQLite, or PostgreSQL with
//! `SENTINEL_TEST_BACKEND=postgres`): request events in through the batch endpoint (JSON array
//! with gzip, NDJSON with zstd), OTLP/HTTP and the three sensor middlewares (Python ASGI/WSGI,
//! Node Express/Fastify, Rust tower), aggregated by the worker, read back as rankings, a tenant's
//! drill-down and the per-endpoint performance view, whose Apdex follows the project's T.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use support::api::{ApiEnv, KEY, now_secs, request_record};

const TOKEN: &str = "tenants-test-token";
const WAIT: Duration = Duration::from_secs(60);

async fn post_raw_requests(
    env: &ApiEnv,
    p: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> support::api::Resp {
    let mut req = env.http.post(env.url(&format!("/api/{p}/requests/")));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    support::api::Resp::read("POST requests".into(), req.body(body).send().await.unwrap()).await
}

fn auth() -> (&'static str, String) {
    (
        "x-sentry-auth",
        format!("Sentry sentry_key={KEY}, sentry_version=7"),
    )
}

#[tokio::test]
async fn batches_of_request_events_rank_tenants_in_the_api() {
    let env = ApiEnv::start().await;
    let p = env.acme_shop(TOKEN).await;
    let (h, v) = auth();

    // 100 5xx: acme 68 (61 on /v1/process), beta 21, gamma 7, four others 1 each.
    let mut batch = Vec::new();
    for i in 0..68 {
        let endpoint = if i < 61 { "/v1/process" } else { "/v1/orders/{id}" };
        batch.push(request_record(Some("tenant_acme"), endpoint, 500, 40.0));
    }
    for _ in 0..21 {
        batch.push(request_record(Some("tenant_beta"), "/v1/users/{id}", 503, 20.0));
    }
    for _ in 0..7 {
        batch.push(request_record(Some("tenant_gamma"), "/v1/process", 502, 20.0));
    }
    for t in ["a", "b", "c", "d"] {
        batch.push(request_record(Some(t), "/v1/process", 500, 10.0));
    }
    for _ in 0..200 {
        batch.push(request_record(Some("tenant_acme"), "/v1/process", 200, 100.0));
        batch.push(request_record(None, "/health", 200, 1.0));
    }
    // Two bad records among them: rejected, the rest kept.
    batch.insert(3, json!({"tenant_id": "x", "status_code": 200, "latency_ms": 1}));
    batch.insert(
        10,
        json!({"tenant_id": "x", "endpoint": "/x", "status_code": 999, "latency_ms": 1}),
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(serde_json::to_vec(&batch).unwrap().as_slice())
        .unwrap();
    let r = post_raw_requests(
        &env,
        &p,
        gz.finish().unwrap(),
        &[(h, &v), ("content-encoding", "gzip")],
    )
    .await
    .expect(200);
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(500), Some(2)),
        "{r}"
    );
    assert_eq!(
        r["errors"][0],
        json!({"index": 3, "reason": "endpoint is missing"})
    );
    assert_eq!(r["errors"][1]["index"], 10);

    // NDJSON with zstd, key in the query string: 10 more requests of acme, all fine.
    let ndjson: String = (0..10)
        .map(|_| request_record(Some("tenant_acme"), "/v1/process", 200, 50.0).to_string() + "\n")
        .collect();
    let body = zstd::encode_all(ndjson.as_bytes(), 3).unwrap();
    let resp = env
        .http
        .post(env.url(&format!("/api/{p}/requests/?sentry_key={KEY}")))
        .header("content-encoding", "zstd")
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let r = support::api::Resp::read("POST ndjson".into(), resp)
        .await
        .expect(200);
    assert_eq!(r["accepted"], 10);

    // Refusals: no key, a key of another project, a body that is not records, all records bad.
    post_raw_requests(&env, &p, b"[]".to_vec(), &[])
        .await
        .expect_error(403, "missing authentication");
    let other = env
        .store
        .create_project("acme", "other", "python", "fedcba9876543210fedcba9876543210", 0)
        .await
        .unwrap()
        .0
        .id;
    post_raw_requests(&env, &other.to_string(), b"[]".to_vec(), &[(h, &v)])
        .await
        .expect_error(403, "does not belong to project");
    post_raw_requests(&env, &p, b"[{\"nope\"".to_vec(), &[(h, &v)])
        .await
        .expect_error(400, "not a JSON array of request records");
    let all_bad = post_raw_requests(&env, &p, br#"[{"endpoint": "/x"}]"#.to_vec(), &[(h, &v)]).await;
    let body = all_bad.expect(400);
    assert_eq!(body["rejected"], 1);
    assert_eq!(body["errors"][0]["reason"], "status_code is missing");

    // The ranking: shares exact at this size, acme's endpoint named.
    let r = env
        .ranking_with(TOKEN, &p, "window=10m&by=errors&limit=3", 510, 100)
        .await;
    let top: Vec<(&str, f64)> = r["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["tenant"].as_str().unwrap(), t["share"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        top,
        [
            ("tenant_acme", 0.68),
            ("tenant_beta", 0.21),
            ("tenant_gamma", 0.07)
        ]
    );
    assert_eq!(r["tenants"][0]["endpoint"], "/v1/process");
    assert_eq!(r["tenants"][0]["requests"], 278);
    // By error rate beta (21 of 21) comes first; tiny tenants (1 of 1) stay out.
    let r = env
        .get(TOKEN, &format!("/api/0/projects/{p}/tenants/?by=error_rate"))
        .await
        .expect(200);
    let names: Vec<&str> = r["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tenant_beta", "tenant_acme"]);

    // Drill-down and performance view.
    let t = env
        .get(
            TOKEN,
            &format!("/api/0/projects/{p}/tenants/tenant_acme/?window=5m"),
        )
        .await
        .expect(200);
    assert_eq!(t["endpoints"][0]["endpoint"], "/v1/process");
    assert_eq!(t["endpoints"][0]["errors"], 61);
    assert_eq!(t["minutes"].as_array().unwrap().len(), 5);
    let sum: u64 = t["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["errors"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, 68);
    let (process, _) = transaction(&env, &p, "1h", "/v1/process").await;
    assert_eq!(process["requests"], 61 + 7 + 4 + 200 + 10);
    let failure = process["failure_rate"].as_f64().unwrap();
    assert!((failure - 72.0 / 282.0).abs() < 1e-9, "{process}");
    // Every success on /v1/process took 50–100 ms: satisfied (T = 300 ms).
    assert!(
        (process["apdex"].as_f64().unwrap() - 210.0 / 282.0).abs() < 1e-9,
        "{process}"
    );
    let p95 = process["p95_ms"].as_f64().unwrap();
    assert!((99.0..=101.0).contains(&p95), "{process}");

    // Windows are validated; other organizations see nothing.
    env.get(TOKEN, &format!("/api/0/projects/{p}/tenants/?window=3d"))
        .await
        .expect_error(400, "invalid window");
    env.get(TOKEN, &format!("/api/0/projects/{p}/tenants/?by=p99"))
        .await
        .expect_error(400, "expected errors, error_rate or latency");
    env.user("stranger@example.com", false).await;
    let stranger = env.sign_in("stranger@example.com").await;
    env.get(&stranger, &format!("/api/0/projects/{p}/tenants/"))
        .await
        .expect_error(404, "not found");
}

/// The transactions view of the last `window` and its line for `endpoint`.
async fn transaction(env: &ApiEnv, p: &str, window: &str, endpoint: &str) -> (Value, Value) {
    let perf = env
        .get(
            TOKEN,
            &format!("/api/0/projects/{p}/transactions/?window={window}"),
        )
        .await
        .expect(200);
    let line = perf["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["endpoint"] == endpoint)
        .unwrap()
        .clone();
    (line, perf)
}

/// Apdex of /v1/search in the transactions view.
async fn search_apdex(env: &ApiEnv, p: &str) -> (f64, Value) {
    let (search, perf) = transaction(env, p, "5m", "/v1/search").await;
    (search["apdex"].as_f64().unwrap(), perf)
}

#[tokio::test]
async fn a_projects_apdex_threshold_counts_the_requests_rolled_up_after_it_is_set() {
    let env = ApiEnv::start().await;
    let p = env.acme_shop(TOKEN).await;
    // 40 ms, 100 ms, 250 ms and 1,500 ms successes, and a 5xx (frustrated whatever its time).
    let batch: Vec<Value> = [
        (200, 40.0),
        (200, 100.0),
        (200, 250.0),
        (200, 1_500.0),
        (500, 10.0),
    ]
    .iter()
    .map(|(status, ms)| request_record(Some("tenant_acme"), "/v1/search", *status, *ms))
    .collect();

    // Sentry's default T = 300 ms: three satisfied, none tolerated (1,500 > 4 T).
    let project = env.get(TOKEN, &format!("/api/0/projects/{p}/")).await.expect(200);
    assert_eq!(project["apdex_threshold_ms"], 300);
    env.post_requests(&p, &batch).await;
    env.wait_drained().await;
    let (apdex, perf) = search_apdex(&env, &p).await;
    assert!((apdex - 3.0 / 5.0).abs() < 1e-9, "{perf}");
    assert_eq!(perf["apdex_threshold_ms"], 300.0);

    // Out of range or not a number: refused, nothing changed.
    for bad in [json!(0), json!(60_001)] {
        env.put(
            TOKEN,
            &format!("/api/0/projects/{p}/"),
            json!({"apdex_threshold_ms": bad}),
        )
        .await
        .expect_error(400, "apdex_threshold_ms must be between 1 and 60000 milliseconds");
    }
    env.put(
        TOKEN,
        &format!("/api/0/projects/{p}/"),
        json!({"apdex_threshold_ms": "fast"}),
    )
    .await
    .expect_error(400, "invalid type");
    let (apdex, _) = search_apdex(&env, &p).await;
    assert!((apdex - 3.0 / 5.0).abs() < 1e-9);

    // T = 50 ms for what comes next: the same batch is one satisfied (40 ms) and one tolerated
    // (100 ms, within 4 T = 200 ms), 1.5 of 5. The first batch keeps its counts: (3 + 1.5) / 10.
    let changed = env
        .put(
            TOKEN,
            &format!("/api/0/projects/{p}/"),
            json!({"apdex_threshold_ms": 50}),
        )
        .await
        .expect(200);
    assert_eq!(changed["apdex_threshold_ms"], 50);
    env.post_requests(&p, &batch).await;
    env.wait_drained().await;
    let (apdex, perf) = search_apdex(&env, &p).await;
    assert!((apdex - 4.5 / 10.0).abs() < 1e-9, "{perf}");
    assert_eq!(perf["apdex_threshold_ms"], 50.0);
    env.server.shutdown().await.unwrap();
}

/// OTLP/JSON as the OpenTelemetry exporters send it: server spans are requests, the tenant from a
/// span attribute or else the resource; client spans are not requests.
#[tokio::test]
async fn otlp_trace_exports_count_their_server_spans() {
    let env = ApiEnv::start().await;
    let p = env.acme_shop(TOKEN).await;
    let now_ns = (now_secs() * 1e9) as u128;
    let span = |kind: u8, tenant: Option<&str>, status: u16| {
        let mut attributes = vec![
            json!({"key": "http.route", "value": {"stringValue": "/v1/process"}}),
            json!({"key": "http.request.method", "value": {"stringValue": "POST"}}),
            json!({"key": "http.response.status_code", "value": {"intValue": status.to_string()}}),
        ];
        if let Some(t) = tenant {
            attributes.push(json!({"key": "tenant.id", "value": {"stringValue": t}}));
        }
        json!({"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
               "name": "POST /v1/process", "kind": kind,
               "startTimeUnixNano": (now_ns - 30_000_000).to_string(), "endTimeUnixNano": now_ns.to_string(),
               "attributes": attributes})
    };
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "tenant_id", "value": {"stringValue": "tenant_resource"}}]},
        "scopeSpans": [{"spans": [span(2, Some("tenant_otel"), 500), span(2, Some("tenant_otel"), 500),
                                   span(2, None, 503), span(3, Some("tenant_client"), 500)]}]}]});
    let resp = env
        .http
        .post(env.url(&format!("/api/{p}/integration/otlp/v1/traces")))
        .header("x-sentry-auth", format!("Sentry sentry_key={KEY}"))
        .header("content-type", "application/json")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let r = env.ranking_with(TOKEN, &p, "window=5m", 3, 3).await;
    let top: Vec<(&str, u64)> = r["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["tenant"].as_str().unwrap(), t["errors"].as_u64().unwrap()))
        .collect();
    assert_eq!(top, [("tenant_otel", 2), ("tenant_resource", 1)]);
    // Not OTLP at all: 415 with a Status body.
    let resp = env
        .http
        .post(env.url(&format!("/api/{p}/integration/otlp/v1/traces?sentry_key={KEY}")))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a sensor's live script against the server; answers its JSON line.
async fn live(
    env: &ApiEnv,
    p: &str,
    program: &str,
    args: &[PathBuf],
    mode: &str,
    extra: &[(&str, PathBuf)],
) -> Value {
    let host = env.server.base_url().trim_start_matches("http://").to_owned();
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .arg(mode)
        .env("SENTINEL_DSN", format!("http://{KEY}@{host}/{p}"));
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{program} {mode} did not finish"))
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} {mode} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim().lines().last().unwrap()).unwrap()
}

/// Each sensor's live app sends acme 30 requests (20 of them 500) on an item route, beta 10 and
/// 5 without tenant on /health; four apps, so 80 5xx, all acme's, on the item route templates.
#[tokio::test]
async fn the_python_node_and_rust_sensors_report_through_real_apps() {
    let env = ApiEnv::start().await;
    let p = env.acme_shop(TOKEN).await;
    let python = std::env::var("SENTINEL_PYTHON").unwrap_or_else(|_| "python3".into());
    let py_script = repo().join("sdks/python/tests/live_app.py");
    let node_modules = repo().join("sdks/node/node_modules");
    assert!(
        node_modules.join("express").is_dir() && node_modules.join("fastify").is_dir(),
        "sdks/node has no node_modules: run scripts/test, which installs them"
    );
    let node_script = repo().join("sdks/node/test/live_app.js");
    let mut templates = Vec::new();
    for mode in ["asgi", "wsgi"] {
        let out = live(&env, &p, &python, std::slice::from_ref(&py_script), mode, &[]).await;
        assert_eq!(
            (out["sent"].as_u64(), out["dropped"].as_u64()),
            (Some(45), Some(0)),
            "{out}"
        );
        templates.push(out["template"].as_str().unwrap().to_owned());
    }
    for mode in ["express", "fastify"] {
        let out = live(&env, &p, "node", std::slice::from_ref(&node_script), mode, &[]).await;
        assert_eq!(
            (out["sent"].as_u64(), out["dropped"].as_u64()),
            (Some(45), Some(0)),
            "{out}"
        );
        templates.push(out["template"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        templates,
        [
            "/v1/items/{item_id}",
            "/v1/items/{id}",
            "/v1/items/:id",
            "/v1/items/:id"
        ]
    );

    // The Rust tower layer around an axum app.
    let sensor = sentinel_sensor::Sensor::from_dsn(&format!(
        "http://{KEY}@{}/{p}",
        env.server.base_url().trim_start_matches("http://")
    ))
    .unwrap();
    let app = axum::Router::new()
        .route(
            "/v1/items/{id}",
            axum::routing::get(|axum::extract::Path(id): axum::extract::Path<u32>| async move {
                if id <= 20 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }),
        )
        .layer(sensor.layer());
    use tower::ServiceExt as _;
    for id in 1..=30 {
        let req = axum::http::Request::get(format!("/v1/items/{id}"))
            .header("x-tenant-id", "acme")
            .body(axum::body::Body::empty())
            .unwrap();
        app.clone().oneshot(req).await.unwrap();
    }
    sensor.flush(Duration::from_secs(10)).await.unwrap();
    assert_eq!(sensor.stats().sent, 30);

    let r = env.ranking_with(TOKEN, &p, "window=5m", 4 * 45 + 30, 100).await;
    assert_eq!(r["tenants"][0]["tenant"], "acme");
    assert_eq!(r["tenants"][0]["share"], 1.0);
    let perf = env
        .get(TOKEN, &format!("/api/0/projects/{p}/transactions/?window=5m"))
        .await
        .expect(200);
    let mut endpoints: Vec<(String, u64)> = perf["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["endpoint"].as_str().unwrap().to_owned(),
                t["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    endpoints.sort();
    assert_eq!(
        endpoints,
        [
            ("/health".to_owned(), 4 * 15),
            ("/v1/items/:id".to_owned(), 60),
            ("/v1/items/{id}".to_owned(), 60),
            ("/v1/items/{item_id}".to_owned(), 30),
        ]
    );
}

/// Two workers' rows of one minute become one row that ranks as both did; a second run finds
/// nothing to do.
#[tokio::test]
async fn the_compactor_merges_a_minutes_rows_into_one_that_ranks_the_same() {
    use sentinel_protocol::requests::RequestEvent;
    use sentinel_server::tenants::aggregate::Aggregator;
    use sentinel_server::tenants::ranking::By;
    use sentinel_server::tenants::read::{self, Compactor};

    let env = ApiEnv::start().await;
    let p: i64 = env.acme_shop(TOKEN).await.parse().unwrap();
    let now = env.clock.now_ms();
    let event = |tenant: &str, status: u16| RequestEvent {
        tenant: tenant.into(),
        endpoint: "/v1/process".into(),
        method: "GET".into(),
        status,
        latency_ms: 20.0,
        timestamp_ms: now,
        event_id: None,
        trace_id: None,
    };
    for part in [
        vec![event("acme", 500), event("acme", 500), event("beta", 500)],
        vec![event("acme", 500), event("beta", 200)],
    ] {
        let mut a = Aggregator::default();
        a.add(p, &part);
        env.store
            .apply_batch(&sentinel_store::ProcessedBatch {
                request_rollups: a.finish(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let minute = now - now % 60_000;
    let rows = || async {
        env.store
            .request_rollups(p, minute, minute + 60_000, false)
            .await
            .unwrap()
    };
    let before = read::ranking(env.store.as_ref(), p, now, 600_000, By::Errors, 5)
        .await
        .unwrap();
    let compactor = Compactor {
        store: env.store.clone(),
        clock: env.clock.clone(),
        interval: Duration::from_secs(5),
        fragments: Default::default(),
    };
    // The server's own compactor may get there first; either way one row is left.
    compactor.run_once().await.unwrap();
    assert_eq!(rows().await.len(), 1);
    assert_eq!(rows().await[0].requests, 5);
    assert_eq!(compactor.run_once().await.unwrap(), 0);
    let after = read::ranking(env.store.as_ref(), p, now, 600_000, By::Errors, 5)
        .await
        .unwrap();
    assert_eq!(after, before);
    assert_eq!(after.errors, 4);
    assert_eq!(after.tenants[0].tenant, "acme");
    assert_eq!(after.tenants[0].share, 0.75);
}

/// A minute the worker wrote `FOLD_AFTER` rows to is folded into one right away, without waiting
/// for the sweep; a minute with fewer rows is left for the sweep.
#[tokio::test]
async fn the_compactor_folds_a_minute_as_soon_as_the_worker_wrote_enough_rows_to_it() {
    use sentinel_protocol::requests::RequestEvent;
    use sentinel_server::tenants::aggregate::Aggregator;
    use sentinel_server::tenants::read::{Compactor, FOLD_AFTER, Fragments};

    let env = ApiEnv::start().await;
    let p: i64 = env.acme_shop(TOKEN).await.parse().unwrap();
    // Older than any minute the server's own sweep looks at, so only this compactor touches them.
    let busy = env.clock.now_ms() - 25 * 3_600_000;
    let busy = busy - busy % 60_000;
    let quiet = busy - 60_000;
    let compactor = Compactor {
        store: env.store.clone(),
        clock: env.clock.clone(),
        interval: Duration::from_secs(5),
        fragments: Fragments::default(),
    };
    // What the worker does after each batch (`Worker::run_once`; that wiring itself is not
    // covered here: the server's sweep would fold the same minutes, only later).
    let write = |minute: i64, tenant: &'static str| {
        let store = env.store.clone();
        let fragments = compactor.fragments.clone();
        async move {
            let mut a = Aggregator::default();
            a.add(
                p,
                &[RequestEvent {
                    tenant: tenant.into(),
                    endpoint: "/v1/process".into(),
                    method: "GET".into(),
                    status: 500,
                    latency_ms: 20.0,
                    timestamp_ms: minute + 1_000,
                    event_id: None,
                    trace_id: None,
                }],
            );
            let batch = sentinel_store::ProcessedBatch {
                request_rollups: a.finish(),
                ..Default::default()
            };
            store.apply_batch(&batch).await.unwrap();
            fragments.wrote(batch.request_rollups.iter().map(|r| (r.project_id, r.minute_ms)));
        }
    };
    for i in 0..FOLD_AFTER {
        write(busy, if i == 0 { "beta" } else { "acme" }).await;
    }
    write(quiet, "acme").await;
    write(quiet, "acme").await;
    let rows = |minute: i64| {
        let store = env.store.clone();
        async move {
            store
                .request_rollups(p, minute, minute + 60_000, false)
                .await
                .unwrap()
        }
    };
    assert_eq!(compactor.fold_due().await.unwrap(), 1);
    let folded = rows(busy).await;
    assert_eq!(folded.len(), 1);
    assert_eq!(folded[0].requests, u64::from(FOLD_AFTER));
    assert_eq!(
        rows(quiet).await.len(),
        2,
        "a minute under the threshold waits for the sweep"
    );
    // A folded minute starts counting again from none: one more row does not make it due.
    write(busy, "acme").await;
    assert_eq!(compactor.fold_due().await.unwrap(), 0);
    assert_eq!(rows(busy).await.len(), 2);
}
