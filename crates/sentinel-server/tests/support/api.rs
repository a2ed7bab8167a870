//! The JSON API test environment: a real server on port 0 over the store under test, a client
//! for it, and answers checked by status. Test binaries add their own helpers in
//! `impl ApiEnv { … }` blocks of their own.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use sentinel_server::Server;
use sentinel_server::auth::password;
use sentinel_server::clock::{Clock, SystemClock};
use sentinel_server::config::Settings;
use sentinel_store::{NewUser, OrgRole, Store, User};
use serde_json::{Value, json};

use super::web::Browser;
use super::{PgSchema, open_store};

/// The password of every user made by [`ApiEnv::user`].
pub const PASSWORD: &str = "correct horse battery";
/// The public key [`ApiEnv::acme_shop`] gives its project.
pub const KEY: &str = "0123456789abcdef0123456789abcdef";
/// The client's timeout, and how long the tests' polling loops wait.
pub const WAIT: Duration = Duration::from_secs(30);

/// An answer: status, headers, raw text and the JSON body (`null` when there is none).
pub struct Resp {
    pub what: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    /// Reads `resp` to the end; `what` names the request in failure messages.
    pub async fn read(what: String, resp: reqwest::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            what,
            status,
            headers,
            text,
            body,
        }
    }

    /// The body, after checking the status.
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}: expected {status}, got {}: {}",
            self.what,
            self.status,
            self.text
        );
        self.body
    }

    /// Checks the status and that the error message contains `needle`.
    pub fn expect_error(self, status: u16, needle: &str) {
        let what = self.what.clone();
        let body = self.expect(status);
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(needle),
            "{what}: {detail:?} does not mention {needle:?}"
        );
    }
}

/// A running server over a fresh store, and a client for its API.
pub struct ApiEnv {
    pub server: Server,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    _schema: Option<PgSchema>,
}

impl ApiEnv {
    /// The project `acme/shop` (with a fixed key) and the instance token `token`; answers the
    /// project's id.
    pub async fn acme_shop(&self, token: &str) -> String {
        let (project, _) = self
            .store
            .create_project("acme", "shop", "python", KEY, 0)
            .await
            .unwrap();
        super::instance_token(self.store.as_ref(), token).await;
        project.id.to_string()
    }

    /// A webhook channel "ops hook" of project `project` posting to `url`; answers the channel.
    pub async fn webhook_channel(&self, token: &str, project: &str, url: &str) -> Value {
        self.post(
            token,
            &format!("/api/0/projects/{project}/channels/"),
            json!({"name": "ops hook", "kind": "webhook", "config": {"url": url}}),
        )
        .await
        .expect(201)
    }

    /// Polls the tenant ranking of `project` (`query` as its query string) as `token` until it
    /// counts `requests` requests, `errors` of them 5xx (the worker has aggregated them); answers it.
    pub async fn ranking_with(
        &self,
        token: &str,
        project: &str,
        query: &str,
        requests: u64,
        errors: u64,
    ) -> Value {
        let deadline = std::time::Instant::now() + WAIT * 2;
        loop {
            let r = self
                .get(token, &format!("/api/0/projects/{project}/tenants/?{query}"))
                .await
                .expect(200);
            if r["errors"].as_u64() == Some(errors) && r["requests"].as_u64() == Some(requests) {
                return r;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the ranking never counted {requests} requests and {errors} 5xx: {r}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the worker has taken every item of the inbox (for at most [`WAIT`]).
    pub async fn wait_drained(&self) {
        let deadline = std::time::Instant::now() + WAIT;
        while self.store.inbox_stats().await.unwrap().depth > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the worker never drained the inbox"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `GET /api/0/monitors/{id}/` as `token` until the monitor's status is `status`, for
    /// at most `wait`; answers the monitor.
    pub async fn wait_monitor_status(&self, token: &str, id: &str, status: &str, wait: Duration) -> Value {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let m = self
                .get(token, &format!("/api/0/monitors/{id}/"))
                .await
                .expect(200);
            if m["status"] == status {
                return m;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "monitor never became {status}: {m}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Default settings and the system clock.
    pub async fn start() -> ApiEnv {
        Self::start_with(|_| {}, Arc::new(SystemClock)).await
    }

    /// The settings changed by `edit`, and `clock`.
    pub async fn start_with(edit: impl FnOnce(&mut Settings), clock: Arc<dyn Clock>) -> ApiEnv {
        let dir = tempfile::tempdir().unwrap();
        let (store, schema) = open_store(dir.path()).await;
        let mut settings = Settings {
            data_dir: dir.path().into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Settings::default()
        };
        edit(&mut settings);
        let server = Server::start(settings, store.clone(), clock.clone())
            .await
            .unwrap();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(WAIT)
            .build()
            .unwrap();
        ApiEnv {
            server,
            store,
            clock,
            http,
            _dir: dir,
            _schema: schema,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    /// A request with an optional bearer token and an optional JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let what = format!("{method} {path}");
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::read(what, req.send().await.unwrap()).await
    }

    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// A user with [`PASSWORD`], made in the store as `sentinel user create` does.
    pub async fn user(&self, email: &str, is_admin: bool) -> User {
        let new = NewUser {
            email: email.into(),
            name: email.split('@').next().unwrap().into(),
            password_hash: password::hash(PASSWORD.into()).await.unwrap(),
            is_admin,
        };
        self.store.create_user(&new, self.clock.now_ms()).await.unwrap()
    }

    /// Signs in through the API (one anonymous request); the access token.
    pub async fn sign_in(&self, email: &str) -> String {
        let body = self
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await
            .expect(200);
        body["token"].as_str().unwrap().to_owned()
    }

    /// Adds a user to the organization `org_slug`, as its admins would.
    pub async fn add_member(&self, org_slug: &str, user_id: i64, role: OrgRole) {
        let org = self.store.get_organization(org_slug).await.unwrap().unwrap();
        self.store
            .add_member(org.id, user_id, role, self.clock.now_ms())
            .await
            .unwrap();
    }
}

// ---- request events and the dashboard ----

/// Now, in seconds since the epoch: the server runs on the system clock, so records sent to it
/// carry the real time.
pub fn now_secs() -> f64 {
    #[expect(
        clippy::disallowed_methods,
        reason = "the records' timestamps are the real time the server runs on"
    )]
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A record of the batch request endpoint, timestamped now; `None` (or `""`) for no tenant.
pub fn request_record<'a>(
    tenant: impl Into<Option<&'a str>>,
    endpoint: &str,
    status: u16,
    latency_ms: f64,
) -> Value {
    json!({"tenant_id": tenant.into(), "endpoint": endpoint, "method": "GET",
           "status_code": status, "latency_ms": latency_ms, "timestamp": now_secs()})
}

impl ApiEnv {
    /// Posts request records to `project`'s batch endpoint with [`KEY`]; all must be accepted.
    pub async fn post_requests(&self, project: &str, records: &[Value]) {
        let resp = self
            .http
            .post(self.url(&format!("/api/{project}/requests/")))
            .header(
                "x-sentry-auth",
                format!("Sentry sentry_key={KEY}, sentry_version=7"),
            )
            .json(records)
            .send()
            .await
            .unwrap();
        let body = Resp::read(format!("POST /api/{project}/requests/"), resp)
            .await
            .expect(200);
        assert_eq!(body["accepted"], records.len(), "{body}");
    }

    /// Sends one raw envelope to `project`'s ingest endpoint with [`KEY`].
    pub async fn send_envelope(&self, project: &str, envelope: String) {
        let resp = self
            .http
            .post(self.url(&format!("/api/{project}/envelope/")))
            .header(
                "x-sentry-auth",
                format!("Sentry sentry_version=7, sentry_key={KEY}, sentry_client=test/1"),
            )
            .body(envelope)
            .send()
            .await
            .unwrap();
        Resp::read(format!("POST /api/{project}/envelope/"), resp)
            .await
            .expect(200);
    }

    /// A browser on this server with the first admin, Ann, set up and signed in: she owns every
    /// organization without members (`acme`) and the instance tokens.
    pub async fn admin_browser(&self) -> Browser {
        let mut b = Browser::new(self.server.base_url());
        b.setup_admin().await;
        b
    }
}
