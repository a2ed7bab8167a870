//! Full-stack tests of ingest and the API: a real server on port 0 over a fresh SQLite data dir,
//! or over a fresh PostgreSQL schema when `SENTINEL_TEST_BACKEND=postgres` (scripts/test runs this
//! file a second time that way whenever `SENTINEL_TEST_DATABASE_URL` is set).
#![expect(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod support;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use sentinel_server::Server;
use sentinel_server::clock::{Clock, ManualClock, SystemClock};
use sentinel_server::config::{RateLimitRule, Settings};
use sentinel_store::Store;
use serde_json::{Value, json};
use support::{PgSchema, open_store};

const KEY: &str = "0123456789abcdef0123456789abcdef";

struct Env {
    server: Server,
    store: Arc<dyn Store>,
    http: reqwest::Client,
    token: String,
    project: i64,
    _dir: tempfile::TempDir,
    _schema: Option<PgSchema>,
}

async fn start_with(edit: impl FnOnce(&mut Settings)) -> Env {
    start_with_clock(edit, Arc::new(SystemClock)).await
}

async fn start_with_clock(edit: impl FnOnce(&mut Settings), clock: Arc<dyn Clock>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (store, schema) = open_store(dir.path()).await;
    let (project, _) = store
        .create_project("default", "app", "other", KEY, 0)
        .await
        .unwrap();
    let token = sentinel_server::api::new_token();
    support::instance_token(store.as_ref(), &token).await;
    let mut settings = Settings {
        data_dir: dir.path().into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Settings::default()
    };
    edit(&mut settings);
    let server = Server::start(settings, store.clone(), clock).await.unwrap();
    Env {
        server,
        store,
        http: reqwest::Client::new(),
        token,
        project: project.id,
        _dir: dir,
        _schema: schema,
    }
}

async fn start() -> Env {
    start_with(|_| {}).await
}

fn event_json(id: &str, message: &str) -> Value {
    json!({
        "event_id": id,
        "platform": "python",
        "level": "error",
        "environment": "production",
        "release": "app@1.2.3",
        "tags": {"tenant_id": "acme"},
        "exception": {"values": [{
            "type": "ValueError",
            "value": message,
            "stacktrace": {"frames": [
                {"module": "app.views", "function": "handler", "filename": "app/views.py", "lineno": 10, "in_app": true}
            ]}
        }]}
    })
}

fn envelope(id: &str, message: &str) -> Vec<u8> {
    let event = event_json(id, message).to_string();
    format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    )
    .into_bytes()
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body).unwrap();
    enc.finish().unwrap()
}

fn id(n: u32) -> String {
    format!("{n:032x}")
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.post(self.url(path)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    async fn send(&self, body: Vec<u8>) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let auth = format!("Sentry sentry_key={KEY}, sentry_version=7, sentry_client=test/1.0");
        self.post(
            &format!("/api/{}/envelope/", self.project),
            body,
            &[("x-sentry-auth", &auth)],
        )
        .await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }

    async fn processed(&self) {
        for _ in 0..300 {
            if self.store.inbox_stats().await.unwrap().depth == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("inbox not drained: {:?}", self.store.inbox_stats().await.unwrap());
    }

    async fn issues(&self) -> Vec<Value> {
        self.processed().await;
        let (status, body) = self
            .get(&format!("/api/0/projects/{}/issues/", self.project))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].as_array().unwrap().clone()
    }

    /// Nothing reached the inbox or the event tables.
    async fn assert_nothing_stored(&self) {
        assert_eq!(self.store.inbox_stats().await.unwrap().depth, 0);
        assert!(self.issues().await.is_empty(), "no issue may be created");
    }
}

#[tokio::test]
async fn accepted_event_answers_its_id_and_becomes_an_issue() {
    let env = start().await;
    let auth = format!("Sentry sentry_key={KEY}, sentry_version=7");
    let (status, headers, body) = env
        .post(
            &format!("/api/{}/envelope/", env.project),
            gzip(&envelope(&id(1), "bad input 42")),
            &[("x-sentry-auth", &auth), ("content-encoding", "gzip")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "id": id(1) }));
    assert_eq!(headers["access-control-allow-origin"], "*");
    let issues = env.issues().await;
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["times_seen"], 1);
    assert_eq!(issues[0]["level"], "error");
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_same_event_id_sent_twice_is_stored_once() {
    let env = start().await;
    for _ in 0..2 {
        assert_eq!(env.send(envelope(&id(7), "x")).await.0, StatusCode::OK);
    }
    let issues = env.issues().await;
    assert_eq!(issues[0]["times_seen"], 1);
    let (status, stats) = env
        .get(&format!("/api/0/projects/{}/stats/?resolution=1d", env.project))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["total"], 1);
}

#[tokio::test]
async fn every_compression_is_accepted() {
    let env = start().await;
    let body = envelope(&id(1), "m");
    let mut br = Vec::new();
    brotli_compress(&body, &mut br);
    let zlib = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&body).unwrap();
        e.finish().unwrap()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("gzip", gzip(&envelope(&id(2), "m"))),
        ("x-gzip", gzip(&envelope(&id(3), "m"))),
        ("deflate", zlib),
        ("br", br),
        ("zstd", zstd::encode_all(&envelope(&id(4), "m")[..], 3).unwrap()),
        ("identity", envelope(&id(5), "m")),
        ("snappy-unknown", envelope(&id(6), "m")),
    ];
    let auth = format!("Sentry sentry_key={KEY}, sentry_version=7");
    for (encoding, body) in cases {
        let (status, _, resp) = env
            .post(
                &format!("/api/{}/envelope/", env.project),
                body,
                &[("x-sentry-auth", &auth), ("content-encoding", encoding)],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{encoding}: {resp}");
    }
}

fn brotli_compress(input: &[u8], out: &mut Vec<u8>) {
    let mut w = brotli::CompressorWriter::new(out, 4096, 5, 22);
    w.write_all(input).unwrap();
    w.flush().unwrap();
}

#[tokio::test]
async fn malformed_envelopes_get_400_with_a_reason_and_store_nothing() {
    let env = start().await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "empty"),
        ("header not json", b"{oops\n".to_vec(), "not valid JSON"),
        (
            "length past the end",
            b"{}\n{\"type\":\"event\",\"length\":500}\n{}".to_vec(),
            "length 500",
        ),
        (
            "wrong length",
            b"{}\n{\"type\":\"event\",\"length\":2}\n{\"a\":1}\n".to_vec(),
            "instead of a newline",
        ),
        (
            "invalid event json",
            b"{}\n{\"type\":\"event\"}\n{\"message\": \n".to_vec(),
            "not valid JSON",
        ),
        (
            "bad uuid",
            b"{\"event_id\":\"not-a-uuid\"}\n".to_vec(),
            "not a valid UUID",
        ),
        (
            "event not an object",
            b"{}\n{\"type\":\"event\"}\n[1,2]\n".to_vec(),
            "item 1",
        ),
        ("truncated gzip", gzip(&envelope(&id(1), "x"))[..30].to_vec(), ""),
    ];
    let auth = format!("Sentry sentry_key={KEY}, sentry_version=7");
    for (name, body, needle) in cases {
        let encoding = if name == "truncated gzip" {
            "gzip"
        } else {
            "identity"
        };
        let (status, _, resp) = env
            .post(
                &format!("/api/{}/envelope/", env.project),
                body,
                &[("x-sentry-auth", &auth), ("content-encoding", encoding)],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {resp}");
        let detail = resp["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(needle),
            "{name}: {detail:?} should mention {needle:?}"
        );
    }
    env.assert_nothing_stored().await;
}

#[tokio::test]
async fn wrong_or_missing_keys_get_403() {
    let env = start().await;
    let body = envelope(&id(1), "x");
    let path = format!("/api/{}/envelope/", env.project);
    let (s, _, b) = env.post(&path, body.clone(), &[]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(b["detail"].as_str().unwrap().contains("missing authentication"));
    let (s, _, b) = env
        .post(
            &format!("{path}?sentry_key=ffffffffffffffffffffffffffffffff"),
            body.clone(),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(b["detail"].as_str().unwrap().contains("unknown DSN public key"));
    let (s, _, b) = env
        .post(&format!("/api/999/envelope/?sentry_key={KEY}"), body.clone(), &[])
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("does not belong to project 999")
    );
    env.assert_nothing_stored().await;
}

#[tokio::test]
async fn auth_by_query_string_and_envelope_dsn_both_work() {
    let env = start().await;
    let (s, _, _) = env
        .post(
            &format!("/api/{}/envelope/?sentry_key={KEY}&sentry_version=7", env.project),
            envelope(&id(1), "x"),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let dsn = format!("http://{KEY}@127.0.0.1/{}", env.project);
    let body = format!(
        "{{\"event_id\":\"{}\",\"dsn\":\"{dsn}\"}}\n{{\"type\":\"event\"}}\n{{\"message\":\"m\"}}\n",
        id(2)
    );
    let (s, _, b) = env
        .post(&format!("/api/{}/envelope/", env.project), body.into_bytes(), &[])
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    env.processed().await;
}

#[tokio::test]
async fn oversized_items_and_zip_bombs_get_413_and_store_nothing() {
    let env = start_with(|s| {
        s.ingest.max_envelope_bytes = 4 << 20;
        s.ingest.max_compressed_bytes = 2 << 20;
    })
    .await;
    // An event of 1.5 MiB: over the 1 MiB event limit.
    let big = json!({"message": "x".repeat(1_500_000)}).to_string();
    let body = format!("{{}}\n{{\"type\":\"event\"}}\n{big}\n").into_bytes();
    let (s, _, b) = env.send(body).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(b["detail"].as_str().unwrap().contains("event item is"), "{b}");
    // 100 MiB of zeros, gzip-compressed to ~100 KB: stops at the 4 MiB decoded cap.
    let bomb = gzip(&vec![0u8; 100 << 20]);
    assert!(bomb.len() < 2 << 20);
    let auth = format!("Sentry sentry_key={KEY}, sentry_version=7");
    let (s, _, b) = env
        .post(
            &format!("/api/{}/envelope/", env.project),
            bomb,
            &[("x-sentry-auth", &auth), ("content-encoding", "gzip")],
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("decompressed body exceeds"),
        "{b}"
    );
    // A body over the compressed cap.
    let (s, _, b) = env.send(vec![b' '; 3 << 20]).await;
    assert!(
        b["detail"].as_str().unwrap().contains("request body exceeds"),
        "{b}"
    );
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    // A check-in over 100 KiB.
    let checkin =
        json!({"check_in_id": id(1), "monitor_slug": "m", "status": "ok", "pad": "y".repeat(200_000)})
            .to_string();
    let (s, _, _) = env
        .send(format!("{{}}\n{{\"type\":\"check_in\"}}\n{checkin}\n").into_bytes())
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    env.assert_nothing_stored().await;
}

#[tokio::test]
async fn unknown_and_telemetry_items_never_fail_the_envelope() {
    let env = start().await;
    let body = format!(
        "{{\"event_id\":\"{}\"}}\n{{\"type\":\"log\",\"item_count\":1}}\n{{\"items\":[]}}\n\
         {{\"type\":\"client_report\"}}\n{{\"discarded_events\":[{{\"reason\":\"queue_overflow\",\"category\":\"error\",\"quantity\":3}}]}}\n\
         {{\"type\":\"sessions\"}}\n{{\"aggregates\":[]}}\n{{\"type\":\"span\"}}\nnot json\n\
         {{\"type\":\"transaction\"}}\n{{\"type\":\"transaction\",\"transaction\":\"/x\",\"spans\":[]}}\n",
        id(3)
    );
    let (s, _, b) = env.send(body.into_bytes()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["id"], id(3));
    env.processed().await;
    // An envelope with nothing to keep is still a success.
    let (s, _, b) = env.send(b"{}\n".to_vec()).await;
    assert_eq!((s, b), (StatusCode::OK, json!({})));
    let totals = env.store.outcome_totals(env.project, 0, i64::MAX).await.unwrap();
    let discard = totals
        .iter()
        .find(|o| o.outcome == "client_discard")
        .expect("client report recorded");
    assert_eq!((discard.reason.as_str(), discard.quantity), ("queue_overflow", 3));
    assert!(
        totals
            .iter()
            .any(|o| o.outcome == "accepted" && o.category == "transaction")
    );
}

#[tokio::test]
async fn legacy_store_endpoint_accepts_a_bare_event() {
    let env = start().await;
    let body = event_json(&id(9), "legacy").to_string().into_bytes();
    let (s, _, b) = env
        .post(
            &format!("/api/{}/store/?sentry_key={KEY}", env.project),
            body,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["id"], id(9));
    assert_eq!(env.issues().await.len(), 1);
}

#[tokio::test]
async fn cors_preflight_and_error_responses_carry_cors_headers() {
    let env = start().await;
    let resp = env
        .http
        .request(
            reqwest::Method::OPTIONS,
            env.url(&format!("/api/{}/envelope/", env.project)),
        )
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-sentry-auth,sentry-trace",
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    assert!(
        resp.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-sentry-auth")
    );
    let (s, h, _) = env
        .post(
            &format!("/api/{}/envelope/", env.project),
            b"garbage".to_vec(),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(h["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn over_the_rate_limit_answers_429_with_sentry_headers() {
    let env = start_with(|s| {
        s.rate_limits.push(RateLimitRule {
            project: 1,
            key: None,
            events_per_minute: 2,
        })
    })
    .await;
    for n in 0..2 {
        assert_eq!(env.send(envelope(&id(n), "x")).await.0, StatusCode::OK);
    }
    let (s, h, b) = env.send(envelope(&id(5), "x")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
    let retry: u64 = h["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("integer Retry-After");
    assert!((1..=60).contains(&retry));
    let limits = h["x-sentry-rate-limits"].to_str().unwrap();
    assert_eq!(limits, format!("{retry}:error;default:project:project_quota"));
    env.processed().await;
    assert_eq!(
        env.issues().await[0]["times_seen"],
        2,
        "the rejected event was not stored"
    );
}

#[tokio::test]
async fn the_rate_limit_window_ends_with_the_minute() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000 + 45_500)); // 45.5 s into a minute
    let env = start_with_clock(
        |s| {
            s.rate_limits.push(RateLimitRule {
                project: 1,
                key: None,
                events_per_minute: 1,
            })
        },
        clock.clone(),
    )
    .await;
    assert_eq!(env.send(envelope(&id(1), "x")).await.0, StatusCode::OK);
    let (s, h, _) = env.send(envelope(&id(2), "x")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        h["retry-after"], "15",
        "14.5 s to the end of the minute, rounded up"
    );
    clock.advance(14_500);
    assert_eq!(
        env.send(envelope(&id(3), "x")).await.0,
        StatusCode::OK,
        "a new minute, a new budget"
    );
    assert_eq!(env.issues().await[0]["times_seen"], 2);
}

#[tokio::test]
async fn a_stored_key_limit_is_enforced() {
    let env = start().await;
    env.store.set_key_rate_limit(KEY, Some(1)).await.unwrap();
    assert_eq!(env.send(envelope(&id(1), "x")).await.0, StatusCode::OK);
    let (s, h, _) = env.send(envelope(&id(2), "x")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        h["x-sentry-rate-limits"]
            .to_str()
            .unwrap()
            .ends_with(":error;default:key:key_quota")
    );
}

#[tokio::test]
async fn a_full_inbox_answers_503_instead_of_accepting() {
    let env = start_with(|s| s.ingest.max_inbox_depth = 0).await;
    let (s, h, b) = env.send(envelope(&id(1), "x")).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert_eq!(h["retry-after"], "1");
    env.assert_nothing_stored().await;
}

#[tokio::test]
async fn api_requires_a_valid_token_and_answers_404_for_unknown_ids() {
    let env = start().await;
    let resp = env.http.get(env.url("/api/0/projects/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = env
        .http
        .get(env.url("/api/0/projects/"))
        .bearer_auth("sntl_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (s, projects) = env.get("/api/0/projects/").await;
    assert_eq!(s, StatusCode::OK);
    let dsn = projects[0]["dsn"].as_str().unwrap();
    assert_eq!(dsn, format!("http://{KEY}@{}/{}", env.server.addr, env.project));
    for path in [
        "/api/0/projects/42/issues/".to_owned(),
        "/api/0/issues/42/".to_owned(),
        "/api/0/issues/abc/events/".to_owned(),
        format!("/api/0/projects/{}/events/{}/", env.project, id(1)),
        format!("/api/0/projects/{}/events/not-an-id/", env.project),
        "/api/0/nothing/".to_owned(),
    ] {
        assert_eq!(env.get(&path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    for (query, needle) in [
        ("status=open", "status"),
        ("sort=random", "sort"),
        ("limit=0", "limit"),
        ("level=loud", "level"),
        ("cursor=zzz", "cursor"),
    ] {
        let (s, b) = env
            .get(&format!("/api/0/projects/{}/issues/?{query}", env.project))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}");
        assert!(b["detail"].as_str().unwrap().contains(needle), "{query}: {b}");
    }
    let (s, b) = env
        .get(&format!("/api/0/projects/{}/stats/?resolution=5m", env.project))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
}

#[tokio::test]
async fn issue_detail_events_stats_and_regression_through_the_api() {
    let env = start().await;
    for n in 0..3 {
        assert_eq!(
            env.send(envelope(&id(n), &format!("bad value {n}"))).await.0,
            StatusCode::OK
        );
    }
    let issues = env.issues().await;
    assert_eq!(issues.len(), 1, "{issues:?}");
    let issue_id = issues[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(issues[0]["times_seen"], 3);

    let (s, detail) = env.get(&format!("/api/0/issues/{issue_id}/")).await;
    assert_eq!(s, StatusCode::OK);
    let tags = detail["tags"].as_array().unwrap();
    let tenant = tags
        .iter()
        .find(|t| t["key"] == "tenant_id")
        .expect("tenant_id tag");
    assert_eq!(tenant["top"][0]["value"], "acme");
    assert_eq!(tenant["top"][0]["count"], 3);

    let (s, events) = env
        .get(&format!("/api/0/issues/{issue_id}/events/?limit=2"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(events["data"].as_array().unwrap().len(), 2);
    assert_eq!(events["pagination"]["has_more"], true);
    let cursor = events["pagination"]["next_cursor"].as_str().unwrap();
    let (_, rest) = env
        .get(&format!(
            "/api/0/issues/{issue_id}/events/?limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["pagination"]["has_more"], false);

    let (s, event) = env
        .get(&format!("/api/0/projects/{}/events/{}/", env.project, id(1)))
        .await;
    assert_eq!(s, StatusCode::OK, "{event}");
    assert_eq!(event["event_id"], id(1));
    assert_eq!(event["issue_id"], issue_id.as_str());
    assert_eq!(event["environment"], "production");

    let (s, stats) = env
        .get(&format!("/api/0/issues/{issue_id}/stats/?resolution=1m&since=1"))
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a 1m series since 1970 is too many buckets: {stats}"
    );
    let (s, stats) = env
        .get(&format!("/api/0/issues/{issue_id}/stats/?resolution=1h"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stats["total"], 3);
    // The last 24 h in whole hours: both partial hours at the ends are included.
    let buckets = stats["data"].as_array().unwrap().len();
    assert!((24..=25).contains(&buckets), "{buckets} buckets");

    let resp = env
        .http
        .put(env.url(&format!("/api/0/issues/{issue_id}/")))
        .bearer_auth(&env.token)
        .json(&json!({"status": "resolved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        env.get(&format!("/api/0/issues/{issue_id}/")).await.1["status"],
        "resolved"
    );
    let (s, b) = env
        .get(&format!(
            "/api/0/projects/{}/issues/?status=resolved",
            env.project
        ))
        .await;
    assert_eq!((s, b["data"].as_array().unwrap().len()), (StatusCode::OK, 1));

    assert_eq!(
        env.send(envelope(&id(10), "bad value 10")).await.0,
        StatusCode::OK
    );
    env.processed().await;
    let (_, after) = env.get(&format!("/api/0/issues/{issue_id}/")).await;
    assert_eq!(
        after["status"], "unresolved",
        "a new event regresses a resolved issue"
    );
    assert_eq!(after["times_seen"], 4);
    let bad = env
        .http
        .put(env.url(&format!("/api/0/issues/{issue_id}/")))
        .bearer_auth(&env.token)
        .json(&json!({"status": "done"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn health_ready_and_metrics_answer() {
    let env = start().await;
    assert_eq!(env.send(envelope(&id(1), "x")).await.0, StatusCode::OK);
    env.processed().await;
    let health = env.http.get(env.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready: Value = env
        .http
        .get(env.url("/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["inbox_depth"], 0);
    let metrics = env
        .http
        .get(env.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("sentinel_ingest_accepted_total"), "{metrics}");
    assert!(metrics.contains("sentinel_inbox_depth"), "{metrics}");
}

#[tokio::test]
async fn a_path_prefix_moves_every_route() {
    let env = start_with(|s| s.path_prefix = "/sentry".into()).await;
    assert!(env.server.base_url().ends_with("/sentry"));
    assert_eq!(env.send(envelope(&id(1), "x")).await.0, StatusCode::OK);
    let (s, projects) = env.get("/api/0/projects/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        projects[0]["dsn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/sentry/{}", env.project))
    );
    let unprefixed = env
        .http
        .get(format!("http://{}/health", env.server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(unprefixed.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn requests_beyond_the_body_memory_budget_are_shed_with_503() {
    let env = start_with(|s| {
        s.ingest.max_body_memory_mib = 1;
        s.ingest.max_compressed_bytes = 1 << 20;
        s.ingest.max_envelope_bytes = 4 << 20;
    })
    .await;
    // Small on the wire, 2 MiB decoded: more than the whole 1 MiB budget.
    let mut body = envelope(&id(1), "x");
    body.extend(std::iter::repeat_n(b'\n', 2 << 20));
    let auth = format!("Sentry sentry_key={KEY}, sentry_version=7");
    let (s, h, b) = env
        .post(
            &format!("/api/{}/envelope/", env.project),
            gzip(&body),
            &[("x-sentry-auth", &auth), ("content-encoding", "gzip")],
        )
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert_eq!(h["retry-after"], "1");
    // The budget was released: a normal request still goes through.
    assert_eq!(env.send(envelope(&id(2), "x")).await.0, StatusCode::OK);
    assert_eq!(env.issues().await.len(), 1);
}

#[tokio::test]
async fn a_trained_dictionary_compresses_new_events_and_old_ones_stay_readable() {
    let env = start_with(|s| {
        s.storage.dictionary_min_events = 150;
        s.storage.dictionary_check_secs = 1;
    })
    .await;
    let send_rich = |n: u32| {
        let mut event = event_json(&id(n), &format!("bad value {}", n % 13));
        event["breadcrumbs"] = json!({"values": (0..12).map(|i| json!({
            "category": "query", "message": format!("SELECT * FROM orders WHERE id = {}", n * 31 + i), "level": "info"
        })).collect::<Vec<_>>()});
        event["contexts"] =
            json!({"runtime": {"name": "CPython", "version": "3.11.7"}, "os": {"name": "Linux"}});
        let body = event.to_string();
        format!("{{\"event_id\":\"{}\"}}\n{{\"type\":\"event\"}}\n{body}\n", id(n)).into_bytes()
    };
    for n in 1..=160 {
        assert_eq!(env.send(send_rich(n)).await.0, StatusCode::OK);
    }
    env.processed().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while env.store.compression_dicts().await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no dictionary was trained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Ingest picks up the dictionary as soon as the trainer installs it.
    assert_eq!(env.send(send_rich(500)).await.0, StatusCode::OK);
    env.processed().await;
    let old = env
        .store
        .get_event(env.project, id(1).parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let new = env
        .store
        .get_event(env.project, id(500).parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.dict_id, 0);
    assert!(new.dict_id > 0);
    assert!(
        new.payload.len() < old.payload.len(),
        "{} < {}",
        new.payload.len(),
        old.payload.len()
    );
    for n in [1, 500] {
        let (s, event) = env
            .get(&format!("/api/0/projects/{}/events/{}/", env.project, id(n)))
            .await;
        assert_eq!(s, StatusCode::OK, "{event}");
        assert_eq!(event["breadcrumbs"]["values"].as_array().map(Vec::len), Some(12));
    }
}
