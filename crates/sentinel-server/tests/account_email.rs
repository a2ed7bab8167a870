//! Account emails through a real SMTP server (aiosmtpd on 127.0.0.1): "forgot your password"
//! emails a working single-use link and says the same for unknown emails; invitations are emailed
//! to the invitee; without `[smtp]` the forgot-password request is refused with a clear message.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sentinel_server::Server;
use sentinel_server::api::{new_token, token_hash};
use sentinel_server::clock::SystemClock;
use sentinel_server::config::{Settings, SmtpSettings, SmtpTls};
use sentinel_store::{NewApiToken, NewUser, OrgRole, Store, TokenScope};
use serde_json::{Value, json};
use support::smtp::SmtpServer;

struct Env {
    server: Server,
    store: Arc<dyn Store>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _pg: Option<support::PgSchema>,
}

async fn start(smtp_port: Option<u16>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (store, pg) = support::open_store(dir.path()).await;
    let mut settings = Settings {
        data_dir: dir.path().into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: Some("http://sentinel.test".into()),
        ..Settings::default()
    };
    if let Some(port) = smtp_port {
        settings.smtp = SmtpSettings {
            host: "127.0.0.1".into(),
            port: Some(port),
            tls: SmtpTls::None,
            from: "Sentinel <accounts@sentinel.test>".into(),
            ..SmtpSettings::default()
        };
    }
    let server = Server::start(settings, store.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    Env {
        server,
        store,
        http: reqwest::Client::new(),
        _dir: dir,
        _pg: pg,
    }
}

impl Env {
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.server.base_url()))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn user(&self, email: &str, password: &str) -> i64 {
        let hash = sentinel_server::auth::password::hash(password.to_owned())
            .await
            .unwrap();
        self.store
            .create_user(
                &NewUser {
                    email: email.into(),
                    name: "Ada".into(),
                    password_hash: hash,
                    is_admin: false,
                },
                0,
            )
            .await
            .unwrap()
            .id
    }
}

/// Waits until the server has recorded `n` messages.
async fn messages(smtp: &SmtpServer, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = smtp.messages();
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "{} of {n} emails arrived", got.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first `http://sentinel.test/…` link of the message's plain-text part.
fn link(message: &Value, path: &str) -> String {
    let text = message["parts"][0]["content"].as_str().unwrap();
    let start = text
        .find(&format!("http://sentinel.test{path}"))
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    text[start..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_emails_a_single_use_link_that_sets_a_new_password() {
    let smtp = SmtpServer::start("plain", None, None, false).await;
    let env = start(Some(smtp.port)).await;
    env.user("ada@example.com", "old password 1").await;

    let (status, body) = env
        .post(
            "/api/auth/forgot-password",
            None,
            json!({"email": "Ada@Example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let answer = body["detail"].clone();
    // An unknown email gets the same answer, and no email.
    let (status, body) = env
        .post(
            "/api/auth/forgot-password",
            None,
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!((status, &body["detail"]), (StatusCode::ACCEPTED, &answer));

    let got = messages(&smtp, 1).await;
    let m = &got[0];
    assert_eq!(m["rcpt_tos"], json!(["ada@example.com"]));
    assert_eq!(m["subject"], "[Sentinel] Reset your password");
    let parts: Vec<&str> = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["text/plain", "text/html"]);
    let url = link(m, "/reset/");
    let token = url.rsplit('/').next().unwrap();

    let (status, body) = env
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": token, "password": "new password 2"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let login = |password: &'static str| {
        env.post(
            "/api/auth/login",
            None,
            json!({"email": "ada@example.com", "password": password}),
        )
    };
    assert_eq!(login("new password 2").await.0, StatusCode::OK);
    assert_eq!(login("old password 1").await.0, StatusCode::UNAUTHORIZED);
    // Single use.
    let (status, _) = env
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": token, "password": "third one 3"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Still only the one email: the unknown address got nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_requests_are_limited_per_email_without_locking_the_account_out() {
    let smtp = SmtpServer::start("plain", None, None, false).await;
    let env = start(Some(smtp.port)).await;
    env.user("ada@example.com", "my password 1").await;
    let ask = || {
        env.post(
            "/api/auth/forgot-password",
            None,
            json!({"email": "ada@example.com"}),
        )
    };
    for _ in 0..sentinel_server::auth::RESETS_PER_EMAIL_PER_HOUR {
        assert_eq!(ask().await.0, StatusCode::ACCEPTED);
    }
    let (status, body) = ask().await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Signing in is counted apart: the owner still gets in.
    let (status, body) = env
        .post(
            "/api/auth/login",
            None,
            json!({"email": "ada@example.com", "password": "my password 1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        messages(&smtp, 3).await.len(),
        sentinel_server::auth::RESETS_PER_EMAIL_PER_HOUR as usize
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_are_emailed_to_the_invitee_with_the_link_the_admin_sees() {
    let smtp = SmtpServer::start("plain", None, None, false).await;
    let env = start(Some(smtp.port)).await;
    let admin = env.user("owner@example.com", "owner password").await;
    let org = env
        .store
        .create_organization("acme", "Acme <Corp>", admin, 0)
        .await
        .unwrap();
    let token = new_token();
    env.store
        .create_api_token(
            &NewApiToken {
                name: "t".into(),
                token_sha256: token_hash(&token),
                user_id: Some(admin),
                scope: TokenScope::Admin,
            },
            0,
        )
        .await
        .unwrap();
    assert_eq!(
        env.store.member_role(org.id, admin).await.unwrap(),
        Some(OrgRole::Owner)
    );

    let (status, body) = env
        .post(
            "/api/0/organizations/acme/members/",
            Some(&token),
            json!({"email": "new@example.com", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["emailed"], true);
    let got = messages(&smtp, 1).await;
    let m = &got[0];
    assert_eq!(m["rcpt_tos"], json!(["new@example.com"]));
    assert_eq!(m["subject"], "[Sentinel] You are invited to Acme <Corp>");
    assert_eq!(link(m, "/invite/"), body["link"].as_str().unwrap());
    let html = m["parts"][1]["content"].as_str().unwrap();
    assert!(html.contains("Acme &#60;Corp&#62;"), "escaped in HTML: {html}");
}

#[tokio::test]
async fn without_smtp_forgot_password_is_refused_and_invitations_only_show_the_link() {
    let env = start(None).await;
    let (status, body) = env
        .post(
            "/api/auth/forgot-password",
            None,
            json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("sentinel user reset-password"),
        "{body}"
    );
    let page = env
        .http
        .get(format!("{}/forgot", env.server.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("cannot send email"), "{page}");

    // An invitation still works: its link is answered, and nothing claims it was emailed.
    let owner = env.user("owner@example.com", "owner password").await;
    env.store
        .create_organization("acme", "Acme", owner, 0)
        .await
        .unwrap();
    let token = new_token();
    env.store
        .create_api_token(
            &NewApiToken {
                name: "t".into(),
                token_sha256: token_hash(&token),
                user_id: Some(owner),
                scope: TokenScope::Admin,
            },
            0,
        )
        .await
        .unwrap();
    let (status, body) = env
        .post(
            "/api/0/organizations/acme/members/",
            Some(&token),
            json!({"email": "new@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["emailed"], false);
    assert!(
        body["link"]
            .as_str()
            .unwrap()
            .starts_with("http://sentinel.test/invite/"),
        "{body}"
    );
}
