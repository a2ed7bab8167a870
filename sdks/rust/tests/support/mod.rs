//! A real HTTP receiver on 127.0.0.1 port 0 that stands in for Sentinel's batch endpoint: it
//! records each POST (headers, gunzipped JSON) and answers as the test tells it.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test by panicking"
)]

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use sentinel_sensor::{Dsn, Sensor, SensorConfig};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// One batch as the receiver saw it.
#[derive(Debug)]
pub struct Post {
    pub path: String,
    pub auth: Option<String>,
    pub content_type: Option<String>,
    pub gzipped: bool,
    pub events: Vec<Value>,
}

/// How the receiver answers: status, `Retry-After`, body. `None` body means the 200 answer
/// with everything accepted.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<&'static str>,
    pub body: Option<Value>,
}

impl Answer {
    pub fn accept_all() -> Self {
        Answer {
            status: 200,
            retry_after: None,
            body: None,
        }
    }

    pub fn status(status: u16) -> Self {
        Answer {
            status,
            retry_after: None,
            body: None,
        }
    }
}

type Responder = dyn Fn(usize, &Post) -> Answer + Send + Sync;

pub struct Receiver {
    pub addr: SocketAddr,
    posts: mpsc::UnboundedReceiver<Post>,
}

impl Receiver {
    /// Accepts every batch.
    pub async fn start() -> Receiver {
        Receiver::answering(|_, _| Answer::accept_all()).await
    }

    /// Answers the `n`th POST (from 0) with `respond(n, &post)`.
    pub async fn answering(respond: impl Fn(usize, &Post) -> Answer + Send + Sync + 'static) -> Receiver {
        let (tx, posts) = mpsc::unbounded_channel();
        let respond: Arc<Responder> = Arc::new(respond);
        let count = Arc::new(AtomicUsize::new(0));
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let (tx, respond, count) = (tx.clone(), Arc::clone(&respond), Arc::clone(&count));
            async move {
                let post = read_post(&uri, &headers, &body);
                let answer = respond(count.fetch_add(1, Ordering::SeqCst), &post);
                let accepted = post.events.len();
                tx.send(post).unwrap();
                answer_with(answer, accepted)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, posts }
    }

    pub fn dsn(&self, project: u64) -> Dsn {
        format!("http://testkey@{}/{project}", self.addr).parse().unwrap()
    }

    /// The next POST; fails the test if none comes within 10 s.
    pub async fn next(&mut self) -> Post {
        tokio::time::timeout(Duration::from_secs(10), self.posts.recv())
            .await
            .expect("the receiver got no batch within 10 s")
            .expect("the receiver stopped")
    }

    /// POSTs already received and not yet read.
    pub fn pending(&mut self) -> Vec<Post> {
        std::iter::from_fn(|| self.posts.try_recv().ok()).collect()
    }
}

fn read_post(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Post {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let gzipped = header("content-encoding").as_deref() == Some("gzip");
    let json = if gzipped {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap();
        out
    } else {
        body.to_vec()
    };
    let events = match serde_json::from_slice(&json).unwrap() {
        Value::Array(events) => events,
        other => panic!("a batch must be a JSON array, got {other}"),
    };
    Post {
        path: uri.path().to_owned(),
        auth: header("x-sentry-auth"),
        content_type: header("content-type"),
        gzipped,
        events,
    }
}

fn answer_with(answer: Answer, accepted: usize) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap();
    let body = answer
        .body
        .unwrap_or_else(|| json!({"accepted": accepted, "rejected": 0, "errors": []}));
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(after) = answer.retry_after {
        response
            .headers_mut()
            .insert("retry-after", after.parse().unwrap());
    }
    response
}

/// A sensor sending to `dsn` with a short flush interval, adjusted by `tweak`.
pub fn sensor(dsn: Dsn, tweak: impl FnOnce(&mut SensorConfig)) -> Sensor {
    let mut config = SensorConfig::new(dsn);
    config.flush_interval = Duration::from_millis(50);
    tweak(&mut config);
    Sensor::new(config).unwrap()
}

/// `(tenant, endpoint, method, status)` of each event, sorted, for comparing sets.
pub fn summary(events: &[Value]) -> Vec<(Option<String>, String, String, u64)> {
    let mut out: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["tenant_id"].as_str().map(str::to_owned),
                e["endpoint"].as_str().unwrap().to_owned(),
                e["method"].as_str().unwrap().to_owned(),
                e["status_code"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}
