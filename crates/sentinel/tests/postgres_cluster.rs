//! Several `sentinel serve` processes working together: on one PostgreSQL database, ingest and
//! workers split across processes with a worker SIGKILLed under load (every accepted event stored
//! exactly once, one issue per group with the right count), the scheduler lease moving to
//! another process when its leader dies, and tenant rankings from two ingest and two worker
//! processes equal to those of one process given the same request stream. On the embedded SQLite database: one server per data
//! directory, and each role serving only its own endpoints.
//!
//! The PostgreSQL tests need `SENTINEL_TEST_DATABASE_URL` (CI sets it); each works in a schema of
//! its own, dropped at the end. Without the variable they are skipped, except under `CI`, where a
//! skipped PostgreSQL run is a failure.
#![expect(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod common;
mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Deadline, run_child, run_child_unchecked};
use sentinel_server::clock::{Clock, SystemClock};
use serde_json::{Value, json};
use support::{
    CHILD_TIMEOUT, Node, PgSchema, cli_last_line, get, get_json, http_client, inbox_depth, metric, parse_dsn,
    sentinel,
};

// --- SDK-shaped traffic ------------------------------------------------------------------------

const GROUPS: usize = 40;
const TYPES: [(&str, &str, &str); 10] = [
    ("KeyError", "load_cart", "'sku-{n}'"),
    (
        "ValueError",
        "parse_quantity",
        "invalid literal for int() with base 10: 'x{n}'",
    ),
    (
        "TypeError",
        "apply_discount",
        "unsupported operand type(s) for -: 'NoneType' and 'int'",
    ),
    (
        "AttributeError",
        "resolve_customer",
        "'NoneType' object has no attribute 'email'",
    ),
    ("IndexError", "pick_warehouse", "list index out of range"),
    ("ZeroDivisionError", "average_rating", "division by zero"),
    ("RuntimeError", "reserve_stock", "stock reservation {n} expired"),
    (
        "PermissionError",
        "export_report",
        "[Errno 13] Permission denied: '/exports/{n}.csv'",
    ),
    (
        "TimeoutError",
        "charge_card",
        "payment gateway did not answer within 10 s (attempt {n})",
    ),
    (
        "ConnectionError",
        "notify_shipping",
        "Connection refused by shipping-api:443 (req {n})",
    ),
];
const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];
const MODULES: [&str; 4] = ["orders", "payments", "inventory", "accounts"];

/// Group of the n-th event: group g gets g+1 of every 820 events, so every group has a different
/// number of events and a mix-up between two issues shows in their counts.
fn group_of(n: usize) -> usize {
    let k = n % (GROUPS * (GROUPS + 1) / 2);
    let mut g = 0;
    while (g + 1) * (g + 2) / 2 <= k {
        g += 1;
    }
    g
}

/// Exception type and raising function of a group: each group a distinct type + frames.
fn group_shape(g: usize) -> (&'static str, &'static str, &'static str, &'static str) {
    let (ty, func, value) = TYPES[g % TYPES.len()];
    (ty, func, value, MODULES[g / TYPES.len()])
}

/// An envelope as sentry-python 2.x sends it for an unhandled exception in a Django view.
fn python_envelope(event_id: &str, n: usize, now_ms: i64) -> Vec<u8> {
    let g = group_of(n);
    let (ty, func, value, module) = group_shape(g);
    let ts = now_ms as f64 / 1000.0;
    let frame = |file: &str, module: &str, function: &str, lineno: u32, line: &str, in_app: bool| {
        json!({
            "filename": file, "abs_path": format!("/app/{file}"), "module": module,
            "function": function, "lineno": lineno, "context_line": line,
            "pre_context": ["", "    # keep the request id for the logs"], "post_context": ["", ""],
            "in_app": in_app, "vars": {"request": "<WSGIRequest: POST '/api/checkout/'>", "n": n},
        })
    };
    let event = json!({
        "event_id": event_id,
        "timestamp": ts,
        "platform": "python",
        "level": "error",
        "logger": format!("shop.{module}"),
        "server_name": format!("web-{}", n % 6),
        "release": "shop@2024.6.1",
        "environment": if n.is_multiple_of(10) { "staging" } else { "production" },
        "transaction": format!("/api/{module}/{{id}}/"),
        "exception": {"values": [{
            "type": ty,
            "value": value.replace("{n}", &(n % 997).to_string()),
            "mechanism": {"type": "django", "handled": false},
            "stacktrace": {"frames": [
                frame("django/core/handlers/exception.py", "django.core.handlers.exception", "inner", 55,
                      "response = get_response(request)", false),
                frame("django/core/handlers/base.py", "django.core.handlers.base", "_get_response", 197,
                      "response = wrapped_callback(request, *callback_args, **callback_kwargs)", false),
                frame(&format!("shop/{module}/views.py"), &format!("shop.{module}.views"), "post", 42,
                      &format!("result = services.{func}(request.data)"), true),
                frame(&format!("shop/{module}/services.py"), &format!("shop.{module}.services"), func, 88 + g as u32,
                      "raise", true),
            ]},
        }]},
        "tags": {"tenant_id": format!("tenant-{}", n % 13), "region": REGIONS[n % 2]},
        "user": {"id": (n % 500).to_string(), "ip_address": format!("10.0.{}.{}", n % 250, n % 200)},
        "request": {
            "url": format!("https://shop.example.com/api/{module}/{}/", n % 1000),
            "method": "POST",
            "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)", "Content-Type": "application/json"},
        },
        "breadcrumbs": {"values": [
            {"timestamp": ts - 1.5, "category": "query", "message": "SELECT \"shop_cart\".\"id\" FROM \"shop_cart\" WHERE id = %s"},
            {"timestamp": ts - 0.2, "type": "http", "category": "httplib",
             "data": {"url": "https://payments.internal/v1/charge", "method": "POST", "status_code": 502}},
        ]},
        "contexts": {
            "runtime": {"name": "CPython", "version": "3.12.3"},
            "os": {"name": "Linux", "version": "6.1.0"},
            "trace": {"trace_id": format!("{:032x}", n as u128 * 0x9e37_79b9_7f4a_7c15), "span_id": format!("{:016x}", n + 1)},
        },
        "sdk": {
            "name": "sentry.python.django", "version": "2.19.2",
            "packages": [{"name": "pypi:sentry-sdk", "version": "2.19.2"}],
            "integrations": ["django", "logging", "stdlib", "threading"],
        },
    })
    .to_string();
    let header = json!({"event_id": event_id, "sdk": {"name": "sentry.python.django", "version": "2.19.2"}});
    format!(
        "{header}\n{{\"type\":\"event\",\"length\":{},\"content_type\":\"application/json\"}}\n{event}\n",
        event.len()
    )
    .into_bytes()
}

/// Posts one envelope; Ok when answered 200 with the event's id. A 503 (the server says: not
/// stored, retry) is retried after its Retry-After like an SDK would; any other answer is an error.
async fn post_envelope(
    http: &reqwest::Client,
    url: &str,
    auth: &str,
    event_id: &str,
    body: &[u8],
    unavailable: &AtomicUsize,
) -> Result<(), String> {
    for _attempt in 0..20 {
        let resp = http
            .post(url)
            .header("x-sentry-auth", auth)
            .header("content-type", "application/x-sentry-envelope")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| format!("POST {url} (event {event_id}): {e}"))?;
        let status = resp.status().as_u16();
        if status == 503 {
            unavailable.fetch_add(1, Ordering::Relaxed);
            let wait = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(1)
                .min(1);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        let text = resp.text().await.unwrap_or_default();
        if status != 200 {
            return Err(format!("POST {url} (event {event_id}): {status} {text}"));
        }
        let answered: Value = serde_json::from_str(&text)
            .map_err(|e| format!("POST {url}: 200 with a body that is not JSON ({e}): {text}"))?;
        if answered["id"] != event_id {
            return Err(format!("POST {url}: answered {text} for event {event_id}"));
        }
        return Ok(());
    }
    Err(format!(
        "POST {url} (event {event_id}): still 503 after 20 attempts"
    ))
}

/// What one sending task achieved.
#[derive(Default)]
struct Sent {
    /// Indexes of the events answered 200 (each once, however often it was sent).
    accepted: Vec<usize>,
    resent: usize,
}

// --- tests -------------------------------------------------------------------------------------

const EVENTS: usize = 20_000;
const CONCURRENCY: usize = 16;
const KILL_AFTER: usize = 8_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingest_and_two_worker_processes_store_every_accepted_event_once() {
    let Some(db) =
        PgSchema::create("two_ingest_and_two_worker_processes_store_every_accepted_event_once").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = db.config(
        dir.path(),
        "inbox_lease_secs = 3\nmax_connections = 8",
        "[scheduler]\nlease_secs = 3\n[worker]\nbatch_size = 200",
    );
    let data_dir = dir.path().join("data").to_string_lossy().into_owned();
    let global = [
        "--database-url",
        db.url.as_str(),
        "--config",
        config.as_str(),
        "--data-dir",
        data_dir.as_str(),
    ];
    let dsn = cli_last_line(&[&global[..], &["project", "create", "shop"]].concat()).await;
    let (key, project_id) = parse_dsn(&dsn);
    let token = cli_last_line(&[&global[..], &["token", "create", "cluster-test"]].concat()).await;

    let mut ingest = [
        Node::start(
            "ingest-1",
            &global,
            "ingest,web,scheduler",
            "ingest,web,scheduler",
        )
        .await,
        Node::start("ingest-2", &global, "ingest,web", "ingest,web").await,
    ];
    let mut workers = [
        Node::start("worker-1", &global, "worker", "worker").await,
        Node::start("worker-2", &global, "worker", "worker").await,
    ];
    let http = http_client();
    let auth = format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=sentry.python/2.19.2");
    let ids: Arc<Vec<String>> = Arc::new(
        (0..EVENTS)
            .map(|_| uuid::Uuid::new_v4().simple().to_string())
            .collect(),
    );
    let urls: Arc<Vec<String>> = Arc::new(
        ingest
            .iter()
            .map(|n| n.url(&format!("/api/{project_id}/envelope/")))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let unavailable = Arc::new(AtomicUsize::new(0));

    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, auth, ids, urls, next, accepted, unavailable) = (
            http.clone(),
            auth.clone(),
            ids.clone(),
            urls.clone(),
            next.clone(),
            accepted.clone(),
            unavailable.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut sent = Sent::default();
            // Bounded: the shared counter hands out each of the EVENTS indexes once.
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= EVENTS {
                    return Ok::<Sent, String>(sent);
                }
                let body = python_envelope(&ids[n], n, SystemClock.now_ms());
                post_envelope(&http, &urls[n % 2], &auth, &ids[n], &body, &unavailable).await?;
                sent.accepted.push(n);
                accepted.fetch_add(1, Ordering::Relaxed);
                if n % 50 == 17 {
                    // The SDK retry: the answer got lost, the same envelope arrives again, at
                    // the other ingest process.
                    post_envelope(&http, &urls[(n + 1) % 2], &auth, &ids[n], &body, &unavailable).await?;
                    sent.resent += 1;
                }
            }
        }));
    }

    // SIGKILL a worker mid-run, once it is doing its share of the work.
    let deadline = Deadline::after(Duration::from_secs(120));
    loop {
        if accepted.load(Ordering::Relaxed) >= KILL_AFTER
            && metric(&http, &workers[1], "sentinel_worker_events_stored_total")
                .await
                .is_some_and(|v| v > 0.0)
        {
            break;
        }
        assert!(
            !tasks.iter().all(|t| t.is_finished()),
            "the load ended before worker-2 could be killed under it (accepted {}); \
             worker-2 log:\n{}",
            accepted.load(Ordering::Relaxed),
            workers[1].log_tail()
        );
        assert!(
            deadline.pause().await,
            "{KILL_AFTER} events not accepted (or worker-2 idle) within 120 s: accepted {}; \
             worker-2 log:\n{}",
            accepted.load(Ordering::Relaxed),
            workers[1].log_tail()
        );
    }
    let stored_before_kill = db.count("SELECT count(*) FROM events").await;
    workers[1].kill();
    let killed_at = accepted.load(Ordering::Relaxed);
    // For the report: work the dead worker may have left leased (taken over after the lease).
    let (leased, holders): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT lease_holder) FROM inbox WHERE lease_holder IS NOT NULL \
         AND lease_until_ms > (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();

    let mut accepted_n = Vec::new();
    let mut resent = 0;
    for t in tasks {
        let sent = t.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
        accepted_n.extend(sent.accepted);
        resent += sent.resent;
    }
    let send_secs = started.elapsed().as_secs_f64();
    let accepted_ids: HashSet<&str> = accepted_n.iter().map(|&n| ids[n].as_str()).collect();
    assert_eq!(accepted_ids.len(), EVENTS, "every event was answered 200 once");
    let mut per_group = vec![0i64; GROUPS];
    for &n in &accepted_n {
        per_group[group_of(n)] += 1;
    }

    // Processed: the inbox is empty and the stored count has stopped changing.
    let deadline = Deadline::after(Duration::from_secs(120));
    let (mut last, mut stable_since) = (-1i64, Instant::now());
    loop {
        let depth = inbox_depth(&http, &ingest[0]).await;
        let stored = db.count("SELECT count(*) FROM events").await;
        if stored != last {
            (last, stable_since) = (stored, Instant::now());
        }
        if depth == Some(0) && stable_since.elapsed() >= Duration::from_millis(500) {
            break;
        }
        assert!(
            deadline.pause().await,
            "not processed within 120 s: inbox depth {depth:?}, {stored} of {} events stored; \
             worker-1 log:\n{}",
            accepted_ids.len(),
            workers[0].log_tail()
        );
    }
    let total_secs = started.elapsed().as_secs_f64();

    // Stored exactly once, every one of them.
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM events")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(distinct, rows, "some events were stored more than once");
    assert_eq!(
        rows as usize,
        accepted_ids.len(),
        "stored events differ from the accepted ones"
    );
    let stored: Vec<String> = sqlx::query_scalar("SELECT encode(event_id, 'hex') FROM events")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let stored: HashSet<String> = stored.into_iter().collect();
    let missing: Vec<&&str> = accepted_ids
        .iter()
        .filter(|id| !stored.contains(**id))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "accepted (answered 200) but not stored, e.g. {missing:?}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM event_ids").await,
        rows,
        "event_ids and events disagree"
    );
    assert_eq!(db.count("SELECT count(*) FROM inbox").await, 0, "inbox rows left");

    // What a user sees: one issue per group, counted once per distinct event.
    let list = get_json(
        &http,
        &ingest[0].url(&format!("/api/0/projects/{project_id}/issues/?limit=100")),
        &token,
    )
    .await;
    let issues = list["data"].as_array().unwrap();
    assert_eq!(issues.len(), GROUPS, "one issue per group: {list}");
    let listed_total: i64 = issues.iter().map(|i| i["times_seen"].as_i64().unwrap()).sum();
    assert_eq!(listed_total as usize, accepted_ids.len(), "issue counts");
    let mut issue_of_group = HashMap::new();
    for (g, expected) in per_group.iter().enumerate() {
        let n = *accepted_n.iter().find(|&&n| group_of(n) == g).unwrap();
        let event = get_json(
            &http,
            &ingest[1].url(&format!("/api/0/projects/{project_id}/events/{}/", ids[n])),
            &token,
        )
        .await;
        let issue_id = event["issue_id"]
            .as_str()
            .unwrap_or_else(|| panic!("event without issue_id: {event}"))
            .to_owned();
        let issue = get_json(
            &http,
            &ingest[g % 2].url(&format!("/api/0/issues/{issue_id}/")),
            &token,
        )
        .await;
        let (ty, ..) = group_shape(g);
        assert!(
            issue["title"].as_str().unwrap_or_default().starts_with(ty),
            "group {g} ({ty}) has issue {issue_id} titled {}",
            issue["title"]
        );
        assert_eq!(
            issue["times_seen"].as_i64(),
            Some(*expected),
            "group {g} ({ty}): issue {issue_id} count"
        );
        if let Some(other) = issue_of_group.insert(issue_id.clone(), g) {
            panic!("groups {other} and {g} share issue {issue_id}");
        }
    }

    // Where ingest time goes: the inbox group commit each request waits for.
    let commit_ms = metric(
        &http,
        &ingest[0],
        "sentinel_inbox_commit_seconds{quantile=\"0.5\"}",
    )
    .await
    .unwrap_or(f64::NAN)
        * 1000.0;
    let commit_items = metric(&http, &ingest[0], "sentinel_inbox_commit_items{quantile=\"0.5\"}")
        .await
        .unwrap_or(f64::NAN);
    eprintln!("ingest-1 inbox commits: median {commit_ms:.1} ms for {commit_items:.0} items");
    eprintln!(
        "accepted {} events ({resent} sent twice, {} answers 503) on 2 ingest processes in {send_secs:.1} s: \
         {:.0} events/s; all stored after {total_secs:.1} s: {:.0} events/s end to end; worker-2 \
         SIGKILLed after {killed_at} accepted, {stored_before_kill} stored, {leased} inbox items \
         leased by {holders} workers at that moment",
        accepted_ids.len(),
        unavailable.load(Ordering::Relaxed),
        accepted_ids.len() as f64 / send_secs,
        accepted_ids.len() as f64 / total_secs,
    );

    for node in ingest.iter_mut().chain(&mut workers[..1]) {
        node.stop().await;
    }
}

/// The `scheduler` lease row: holder and expiry, if any.
async fn scheduler_lease(db: &PgSchema) -> Option<(String, i64)> {
    sqlx::query_as("SELECT holder, expires_ms FROM leases WHERE name = 'scheduler'")
        .fetch_optional(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_lease_moves_to_another_process_when_the_leader_dies() {
    let Some(db) =
        PgSchema::create("the_scheduler_lease_moves_to_another_process_when_the_leader_dies").await
    else {
        return;
    };
    const LEASE_SECS: u64 = 3;
    let dir = tempfile::tempdir().unwrap();
    let config = db.config(
        dir.path(),
        "max_connections = 4",
        &format!("[scheduler]\nlease_secs = {LEASE_SECS}"),
    );
    let data_dir = dir.path().join("data").to_string_lossy().into_owned();
    let global = [
        "--database-url",
        db.url.as_str(),
        "--config",
        config.as_str(),
        "--data-dir",
        data_dir.as_str(),
    ];
    let mut nodes = [
        Node::start("a", &global, "scheduler,web", "web,scheduler").await,
        Node::start("b", &global, "scheduler,web", "web,scheduler").await,
    ];
    let http = http_client();

    // Exactly one leads.
    let deadline = Deadline::after(Duration::from_secs(30));
    let leader = loop {
        let a = metric(&http, &nodes[0], "sentinel_scheduler_leader").await;
        let b = metric(&http, &nodes[1], "sentinel_scheduler_leader").await;
        match (a, b) {
            (Some(1.0), Some(0.0)) => break 0,
            (Some(0.0), Some(1.0)) => break 1,
            (Some(1.0), Some(1.0)) => panic!("both processes report leading the scheduler"),
            _ => {}
        }
        assert!(
            deadline.pause().await,
            "not exactly one scheduler leader within 30 s: a={a:?} b={b:?}"
        );
    };
    let follower = 1 - leader;
    let (holder, _) = scheduler_lease(&db).await.expect("the leader holds a lease row");
    assert!(
        holder.contains(&format!(":{}:", nodes[leader].pid())),
        "lease held by {holder:?}, but process {} (pid {}) reports leading",
        nodes[leader].name,
        nodes[leader].pid()
    );

    // The leader dies without giving the lease up: the other takes over once it expires.
    nodes[leader].kill();
    let killed = Instant::now();
    let budget = Duration::from_secs(2 * LEASE_SECS + 1);
    let deadline = Deadline::after(budget);
    while metric(&http, &nodes[follower], "sentinel_scheduler_leader").await != Some(1.0) {
        assert!(
            deadline.pause().await,
            "{} did not take the scheduler lease within {budget:?} of the leader's death; lease \
             row: {:?}; log:\n{}",
            nodes[follower].name,
            scheduler_lease(&db).await,
            nodes[follower].log_tail()
        );
    }
    let took_over = killed.elapsed();
    let (holder, _) = scheduler_lease(&db)
        .await
        .expect("the new leader holds a lease row");
    assert!(
        holder.contains(&format!(":{}:", nodes[follower].pid())),
        "lease held by {holder:?} after the takeover, not by pid {}",
        nodes[follower].pid()
    );
    eprintln!(
        "{} took the scheduler lease {:.1} s after the leader was killed (lease {LEASE_SECS} s)",
        nodes[follower].name,
        took_over.as_secs_f64()
    );

    // A graceful stop gives the lease up at once instead of letting it run out.
    nodes[follower].stop().await;
    match scheduler_lease(&db).await {
        None => {}
        Some((holder, expires_ms)) => assert!(
            expires_ms <= SystemClock.now_ms(),
            "after a graceful stop the lease is still held by {holder:?} until {expires_ms}"
        ),
    }
}

// --- tenant rankings across processes ----------------------------------------------------------

const MINUTE_MS: i64 = 60_000;
const ENDPOINTS: [&str; 4] = ["/v1/process", "/v1/orders/{id}", "/v1/users/{id}", "/v1/reports"];
/// Records per `POST /requests/` batch (each batch one inbox item).
const REQUEST_BATCH: usize = 2_000;
/// Background tenants: more than a summary tracks (1,000 by requests and 1,000 by 5xx).
const BACKGROUND_TENANTS: usize = 3_000;
/// Background tenants that fail once within the same minute: more tenants with 5xx in that minute
/// than a summary tracks.
const BLIP_TENANTS: usize = 1_200;
/// The busy tenants: (name, requests in the window, 5xx, where 9 in 10 of the 5xx go, where the
/// tenth goes).
const BUSY: [(&str, u64, u64, &str, &str); 5] = [
    ("tenant_acme", 20_000, 10_600, "/v1/process", "/v1/orders/{id}"),
    ("tenant_beta", 10_000, 3_500, "/v1/users/{id}", "/v1/users/{id}"),
    ("tenant_gamma", 6_000, 900, "/v1/orders/{id}", "/v1/orders/{id}"),
    ("tenant_delta", 5_000, 500, "/v1/reports", "/v1/reports"),
    ("tenant_slow", 6_000, 40, "/v1/process", "/v1/process"),
];
/// The busy tenants' requests in their baseline hour (none of them 5xx).
const BASELINE_REQUESTS: u64 = 3_000;

/// A deterministic pseudo-random stream: every run sends the same requests.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    /// 20 ms and up, long-tailed, to 0.01 ms.
    fn latency(&mut self) -> f64 {
        let u = self.below(10_000) as f64 / 10_000.0;
        (2_000.0 / (1.0 - u * 0.99).powf(0.5)).round() / 100.0
    }

    /// A time in the five minutes before `now_ms` (the window the rankings read).
    fn recent(&mut self, now_ms: i64) -> i64 {
        now_ms - 5_000 - self.below(5 * MINUTE_MS as u64) as i64
    }

    /// A time 25–45 minutes before `now_ms`: the hour before the window, the busy tenants' baseline.
    fn earlier(&mut self, now_ms: i64) -> i64 {
        now_ms - 25 * MINUTE_MS - self.below(20 * MINUTE_MS as u64) as i64
    }

    fn endpoint(&mut self) -> &'static str {
        ENDPOINTS[self.below(ENDPOINTS.len() as u64) as usize]
    }
}

/// One request record as `POST /requests/` takes it.
fn request(tenant: &str, endpoint: &str, status: u16, latency_ms: f64, at_ms: i64) -> (i64, Value) {
    let record = json!({"tenant_id": tenant, "endpoint": endpoint, "method": "GET",
        "status_code": status, "latency_ms": latency_ms, "timestamp": at_ms as f64 / 1000.0});
    (at_ms, record)
}

/// The stream, in time order: over the five minutes before `now_ms`, 3,000 background tenants
/// with 5–15 requests each (3 % of them 5xx) and 1,200 of them failing once more within one
/// minute; the `BUSY` tenants, tenant_acme with about 60 % of all 5xx (90 % of them on
/// /v1/process), tenant_beta about 20 %, and tenant_slow with /v1/reports three times slower than
/// in its baseline; and 25–45 minutes before `now_ms` the busy tenants' baseline.
fn request_stream(now_ms: i64) -> Vec<Value> {
    let mut rng = Lcg(7);
    let mut out = Vec::new();
    for t in 0..BACKGROUND_TENANTS {
        let tenant = format!("tenant_{t:04}");
        for _ in 0..5 + rng.below(11) {
            let status = if rng.below(100) < 3 { 500 } else { 200 };
            let endpoint = rng.endpoint();
            let (latency, at) = (rng.latency(), rng.recent(now_ms));
            out.push(request(&tenant, endpoint, status, latency, at));
        }
        if t < BLIP_TENANTS {
            let at = now_ms - 3 * MINUTE_MS + rng.below(MINUTE_MS as u64) as i64;
            out.push(request(&tenant, "/v1/search", 503, rng.latency(), at));
        }
    }
    for (tenant, requests, errors, mostly, tenth) in BUSY {
        for i in 0..requests {
            let (endpoint, status) = if i < errors {
                (if i % 10 == 9 { tenth } else { mostly }, 500)
            } else {
                (rng.endpoint(), 200)
            };
            let base = rng.latency();
            let latency = if tenant == "tenant_slow" && endpoint == "/v1/reports" {
                base * 3.0
            } else {
                base
            };
            out.push(request(tenant, endpoint, status, latency, rng.recent(now_ms)));
        }
        for _ in 0..BASELINE_REQUESTS {
            let endpoint = rng.endpoint();
            let (latency, at) = (rng.latency(), rng.earlier(now_ms));
            out.push(request(tenant, endpoint, 200, latency, at));
        }
    }
    out.sort_by_key(|(at, _)| *at);
    out.into_iter().map(|(_, record)| record).collect()
}

/// Posts the batches, batch `i` to `urls[i % urls.len()]`, a few at a time; each must be
/// accepted whole.
async fn post_batches(http: &reqwest::Client, urls: &[String], key: &str, batches: &Arc<Vec<Vec<u8>>>) {
    let next = Arc::new(AtomicUsize::new(0));
    let auth = format!("Sentry sentry_key={key}, sentry_version=7");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (http, urls, auth, batches, next) = (
            http.clone(),
            urls.to_vec(),
            auth.clone(),
            batches.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = batches.get(i) else { return };
                let url = &urls[i % urls.len()];
                let resp = http
                    .post(url)
                    .header("x-sentry-auth", &auth)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("POST {url} (batch {i}): {e}"));
                let status = resp.status().as_u16();
                let answer: Value = resp.json().await.unwrap_or_default();
                assert_eq!(status, 200, "POST {url} (batch {i}): {answer}");
                assert_eq!(answer["rejected"], 0, "POST {url} (batch {i}): {answer}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Waits until every batch of `requests` requests in all is aggregated (the inbox empty, the
/// rollups counting them all) and compacted to one row per minute, so that both setups are read
/// in the same settled state.
async fn wait_aggregated(db: &PgSchema, http: &reqwest::Client, node: &Node, requests: i64) {
    let deadline = Deadline::after(Duration::from_secs(180));
    loop {
        let depth = inbox_depth(http, node).await;
        let inbox = db.count("SELECT count(*) FROM inbox").await;
        let counted = db
            .count("SELECT coalesce(sum(requests), 0)::bigint FROM request_rollups")
            .await;
        let fragments = db
            .count("SELECT count(*) - count(DISTINCT minute_ms) FROM request_rollups")
            .await;
        if depth == Some(0) && inbox == 0 && counted == requests && fragments == 0 {
            return;
        }
        assert!(
            deadline.pause().await,
            "{}: not aggregated within 180 s: inbox {inbox} items (node says {depth:?}), {counted} \
             of {requests} requests in the rollups, {fragments} rows beyond one per minute; log:\n{}",
            node.name,
            node.log_tail()
        );
    }
}

/// `sentinel top --json` of the project over the last 15 minutes, ranked `by`.
async fn top_json(global: &[&str], project_id: i64, by: &str) -> Value {
    let project = project_id.to_string();
    let args = [
        global,
        &[
            "top",
            "--project",
            &project,
            "--window",
            "15m",
            "--by",
            by,
            "--limit",
            "20",
            "--json",
        ],
    ]
    .concat();
    let out = run_child(sentinel(&args).into(), CHILD_TIMEOUT).await;
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "sentinel top --by {by} --json printed no JSON ({e}):\n{}",
            out.stdout
        )
    })
}

/// `sentinel top` as the terminal shows it: the five tenants with most 5xx over 15 minutes.
async fn top_text(global: &[&str]) -> String {
    let args = [
        global,
        &["top", "--project", "api", "--window", "15m", "--limit", "5"],
    ]
    .concat();
    run_child(sentinel(&args).into(), CHILD_TIMEOUT).await.stdout
}

/// The settings both setups share: a worker transaction takes at most 4 inbox items, so a worker
/// commits many rows per minute, as under steady traffic.
const TENANT_CONFIG: &str = "[worker]\nbatch_size = 4";

/// The issue's multi-node test: the same request stream (`request_stream`, about 93,000 requests
/// in 47 batches) goes once to two ingest processes, each taking every other batch, aggregated by
/// two worker processes on one PostgreSQL schema, and once to a single process with every role on
/// a schema of its own. `sentinel top` then ranks the same tenants the same way from both, by 5xx,
/// by error rate and by latency, and prints the same lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingest_and_two_worker_processes_rank_tenants_as_one_process_does() {
    let Some(cluster_db) =
        PgSchema::create("two_ingest_and_two_worker_processes_rank_tenants_as_one_process_does").await
    else {
        return;
    };
    let single_db = PgSchema::create("two_ingest_and_two_worker_processes_rank_tenants_as_one_process_does")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let setup = |db: &PgSchema, name: &str| {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let config = db.config(&sub, "max_connections = 4", TENANT_CONFIG);
        let data_dir = sub.join("data").to_string_lossy().into_owned();
        (config, data_dir)
    };
    let (cluster_config, cluster_data) = setup(&cluster_db, "cluster");
    let (single_config, single_data) = setup(&single_db, "single");
    let cluster = [
        "--database-url",
        cluster_db.url.as_str(),
        "--config",
        cluster_config.as_str(),
        "--data-dir",
        cluster_data.as_str(),
    ];
    let single = [
        "--database-url",
        single_db.url.as_str(),
        "--config",
        single_config.as_str(),
        "--data-dir",
        single_data.as_str(),
    ];

    let now_ms = SystemClock.now_ms();
    let records = request_stream(now_ms);
    let total = records.len() as i64;
    let errors_sent = records
        .iter()
        .filter(|r| r["status_code"].as_u64() >= Some(500))
        .count() as u64;
    let batches: Arc<Vec<Vec<u8>>> = Arc::new(
        records
            .chunks(REQUEST_BATCH)
            .map(|chunk| serde_json::to_vec(chunk).unwrap())
            .collect(),
    );
    let http = http_client();

    // Two ingest processes each take every other batch; two workers aggregate them.
    let dsn = cli_last_line(&[&cluster[..], &["project", "create", "api"]].concat()).await;
    let (key, cluster_project) = parse_dsn(&dsn);
    let mut ingest = [
        Node::start("ingest-1", &cluster, "ingest", "ingest").await,
        Node::start("ingest-2", &cluster, "ingest", "ingest").await,
    ];
    let mut workers = [
        Node::start("worker-1", &cluster, "worker", "worker").await,
        Node::start("worker-2", &cluster, "worker", "worker").await,
    ];
    let urls: Vec<String> = ingest
        .iter()
        .map(|n| n.url(&format!("/api/{cluster_project}/requests/")))
        .collect();
    post_batches(&http, &urls, &key, &batches).await;
    wait_aggregated(&cluster_db, &http, &ingest[0], total).await;
    for w in &workers {
        let batches = metric(&http, w, "sentinel_worker_batch_items_count").await;
        assert!(
            batches.is_some_and(|n| n > 0.0),
            "{} processed no batch ({batches:?}): the work was not shared",
            w.name
        );
    }

    // One process with every role takes the whole stream.
    let dsn = cli_last_line(&[&single[..], &["project", "create", "api"]].concat()).await;
    let (key, single_project) = parse_dsn(&dsn);
    let mut one = Node::start("single", &single, "all", "ingest,worker,web,scheduler,checker").await;
    post_batches(
        &http,
        &[one.url(&format!("/api/{single_project}/requests/"))],
        &key,
        &batches,
    )
    .await;
    wait_aggregated(&single_db, &http, &one, total).await;

    for by in ["errors", "error_rate", "latency"] {
        let merged = top_json(&cluster, cluster_project, by).await;
        let alone = top_json(&single, single_project, by).await;
        check_scenario(by, &alone, errors_sent);
        compare_rankings(by, &merged, &alone);
    }
    // What the on-call engineer reads in the terminal.
    let (merged, alone) = (top_text(&cluster).await, top_text(&single).await);
    assert_eq!(merged, alone, "sentinel top prints differently");
    assert!(
        alone.starts_with("Top tenants by 5xx (last 15 minutes)\n1. tenant_acme"),
        "{alone}"
    );

    for node in ingest.iter_mut().chain(workers.iter_mut()) {
        node.stop().await;
    }
    one.stop().await;
}

/// The fields of two tenant lines that differ, as `field: a ≠ b`.
fn line_differences(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec![format!("{a} ≠ {b}")];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "{k}: {} ≠ {}",
                a.get(k).unwrap_or(&Value::Null),
                b.get(k).unwrap_or(&Value::Null)
            )
        })
        .collect()
}

/// The cluster's ranking against the single process's: the same totals, and the busy tenants'
/// lines the same field by field (tenant, place, share, counts, error rate, endpoints, latency).
/// By error rate and latency nobody else is ranked (the background tenants have fewer requests
/// than the guard asks); by 5xx the background tenants with 3 or 4 5xx follow, and where the two
/// setups' summaries kept them differently (which of 3,000 tenants the 1,000 counters track, and
/// what merges added to their bounds) their lines may differ: those differences are printed.
fn compare_rankings(by: &str, merged: &Value, alone: &Value) {
    for total in ["requests", "errors", "p95_ms"] {
        assert_eq!(merged[total], alone[total], "--by {by}: {total} differ");
    }
    let (m, a) = (
        merged["tenants"].as_array().unwrap(),
        alone["tenants"].as_array().unwrap(),
    );
    if by != "errors" {
        assert_eq!(
            m.len(),
            a.len(),
            "--by {by}: the cluster ranks {merged}\nthe single process {alone}"
        );
    }
    let mut tail = Vec::new();
    for i in 0..m.len().max(a.len()) {
        let (x, y) = (m.get(i).unwrap_or(&Value::Null), a.get(i).unwrap_or(&Value::Null));
        let diff = line_differences(x, y);
        if i < BUSY.len() {
            assert!(
                diff.is_empty(),
                "--by {by}, place {}: the cluster ranks {} and the single process {}: {diff:?}",
                i + 1,
                x["tenant"],
                y["tenant"]
            );
        } else if !diff.is_empty() {
            tail.push(format!("place {} {}: {diff:?}", i + 1, y["tenant"]));
        }
    }
    if !tail.is_empty() {
        eprintln!(
            "--by {by}: background tenants kept differently in {} places:\n  {}",
            tail.len(),
            tail.join("\n  ")
        );
    }
}

/// What the stream was made to show, in the single process's ranking: the busy tenants in their
/// places, shares within a point of the exact ones, the endpoints named.
fn check_scenario(by: &str, alone: &Value, errors_sent: u64) {
    let tenants = alone["tenants"].as_array().unwrap();
    let names: Vec<&str> = tenants.iter().map(|t| t["tenant"].as_str().unwrap()).collect();
    let busy: Vec<&str> = BUSY.iter().map(|b| b.0).collect();
    match by {
        "errors" => {
            assert_eq!(alone["errors"].as_u64(), Some(errors_sent), "{alone}");
            assert_eq!(names[..BUSY.len()], busy[..], "{alone}");
            for ((tenant, _, errors, ..), line) in BUSY.iter().zip(tenants) {
                let exact = *errors as f64 / errors_sent as f64;
                let share = line["share"].as_f64().unwrap();
                assert!(
                    (share - exact).abs() <= 0.01,
                    "{tenant}: share {share}, exact {exact}"
                );
            }
            assert!(
                (0.59..=0.61).contains(&tenants[0]["share"].as_f64().unwrap()),
                "{alone}"
            );
            assert_eq!(tenants[0]["endpoint"], "/v1/process");
            assert_eq!(tenants[1]["endpoint"], "/v1/users/{id}");
        }
        // Every busy tenant, and nobody else: the background tenants had at most 16 requests.
        "error_rate" => assert_eq!(names, busy, "{alone}"),
        _ => {
            assert_eq!(names.len(), BUSY.len(), "{alone}");
            assert_eq!(names[0], "tenant_slow", "{alone}");
            assert_eq!(tenants[0]["latency_endpoint"], "/v1/reports", "{alone}");
            let factor = tenants[0]["latency_endpoint_factor"].as_f64().unwrap();
            assert!((2.7..=3.3).contains(&factor), "{factor}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refuses_a_second_server_and_points_to_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_string_lossy().into_owned();
    let mut first = Node::start(
        "first",
        &["--data-dir", &data_dir],
        "all",
        "ingest,worker,web,scheduler,checker",
    )
    .await;
    // Whatever its roles: a web-only second process would still write the same database.
    let mut second = sentinel(&["--data-dir", &data_dir]);
    second.args(["serve", "--roles", "web", "--listen", "127.0.0.1:0"]);
    let out = run_child_unchecked(second.into(), CHILD_TIMEOUT).await;
    assert!(
        !out.status.success(),
        "a second server on the same SQLite data directory started; stderr:\n{}",
        out.stderr
    );
    for needed in ["single-node", "PostgreSQL"] {
        assert!(
            out.stderr.contains(needed),
            "the refusal does not mention {needed:?}:\n{}",
            out.stderr
        );
    }
    // The first one was not disturbed.
    let (status, _) = get(&http_client(), &first.url("/health"), None).await;
    assert_eq!(status, 200);
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_which_endpoints_a_process_serves() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_string_lossy().into_owned();
    let global = ["--data-dir", data_dir.as_str()];
    let dsn = cli_last_line(&[&global[..], &["project", "create", "shop"]].concat()).await;
    let (key, project_id) = parse_dsn(&dsn);
    let token = cli_last_line(&[&global[..], &["token", "create", "roles-test"]].concat()).await;
    let http = http_client();
    let event_id = "0123456789abcdef0123456789abcdef";
    let envelope = python_envelope(event_id, 3, SystemClock.now_ms());
    let post = |node: &Node| {
        http.post(node.url(&format!("/api/{project_id}/envelope/")))
            .header(
                "x-sentry-auth",
                format!("Sentry sentry_key={key}, sentry_version=7"),
            )
            .body(envelope.clone())
            .send()
    };

    // web: the API, no ingest.
    let mut web = Node::start("web", &global, "web", "web").await;
    let resp = post(&web).await.unwrap();
    assert_eq!(resp.status(), 404, "a web-only process accepted an envelope");
    let projects = get_json(&http, &web.url("/api/0/projects/"), &token).await;
    assert!(projects.to_string().contains("shop"), "{projects}");
    web.stop().await;

    // ingest: accepts (durably, into the inbox), no API, and without a worker nothing is processed.
    let mut ingest = Node::start("ingest", &global, "ingest", "ingest").await;
    let (status, body) = get(&http, &ingest.url("/api/0/projects/"), Some(&token)).await;
    assert_eq!(status, 404, "an ingest-only process served the API: {body}");
    let resp = post(&ingest).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["id"], event_id);
    assert_eq!(
        inbox_depth(&http, &ingest).await,
        Some(1),
        "no worker role: the item waits"
    );
    ingest.stop().await;

    // worker (with web, to look): processes what ingest left in the inbox.
    let mut worker = Node::start("worker", &global, "worker,web", "worker,web").await;
    let deadline = Deadline::after(Duration::from_secs(30));
    while inbox_depth(&http, &worker).await != Some(0) {
        assert!(
            deadline.pause().await,
            "the worker did not drain the inbox within 30 s"
        );
    }
    let event = get_json(
        &http,
        &worker.url(&format!("/api/0/projects/{project_id}/events/{event_id}/")),
        &token,
    )
    .await;
    assert!(event["issue_id"].is_string(), "{event}");
    worker.stop().await;

    // A role that does not exist is refused by name, before anything starts.
    let mut bad = sentinel(&global);
    bad.args(["serve", "--roles", "web,foo", "--listen", "127.0.0.1:0"]);
    let out = run_child_unchecked(bad.into(), CHILD_TIMEOUT).await;
    assert!(!out.status.success(), "--roles web,foo was accepted");
    assert!(
        out.stderr.contains("\"foo\"") && out.stderr.contains("ingest, worker, web"),
        "the error does not name the bad role and the valid ones:\n{}",
        out.stderr
    );
}
