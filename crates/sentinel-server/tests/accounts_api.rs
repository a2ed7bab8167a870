//! Full-stack tests of the accounts API: sign-in with access and refresh tokens, password reset
//! links, organizations, members and invitations, projects, DSN keys and personal API tokens, with
//! their role, scope and rate-limit rules, and the rule that another organization's resources
//! answer 404. A real server on port 0 per test over a fresh SQLite data dir, or over a fresh
//! PostgreSQL schema when `SENTINEL_TEST_BACKEND=postgres` (scripts/test runs this file a second
//! time that way whenever `SENTINEL_TEST_DATABASE_URL` is set).
#![expect(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use sentinel_server::auth::{password, token_hash};
use sentinel_server::clock::{ManualClock, SystemClock};
use sentinel_store::{NewUser, OrgRole};
use serde_json::{Value, json};
use support::api::{PASSWORD, Resp, WAIT};

type Env = support::api::ApiEnv;

impl Env {
    /// A raw body (not necessarily JSON) to `path`.
    async fn post_raw(&self, token: Option<&str>, path: &str, body: &str) -> Resp {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Resp::read(format!("POST {path} {body:?}"), req.send().await.unwrap()).await
    }

    async fn login(&self, email: &str, password: &str) -> Resp {
        self.call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    /// A sign-in from `ip`, as a trusted reverse proxy reports it in `X-Forwarded-For`.
    async fn login_from(&self, ip: &str, email: &str, password: &str) -> StatusCode {
        self.http
            .post(self.url("/api/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn refresh(&self, refresh_token: &Value) -> Resp {
        self.call(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh_token})),
        )
        .await
    }

    /// A new user, signed in: its id and access token.
    async fn account(&self, email: &str) -> (i64, String) {
        let user = self.user(email, false).await;
        (user.id, self.sign_in(email).await)
    }

    /// Posts one error event through a key; the ingest status.
    async fn send_event(&self, project_id: &str, public_key: &str, event_id: &str) -> StatusCode {
        let event = json!({
            "event_id": event_id,
            "platform": "python",
            "level": "error",
            "exception": {"values": [{"type": "KeyError", "value": "missing order",
                "stacktrace": {"frames": [{"module": "shop.orders", "function": "pay", "in_app": true}]}}]},
        })
        .to_string();
        let envelope = format!(
            "{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
            event.len()
        );
        self.http
            .post(self.url(&format!("/api/{project_id}/envelope/")))
            .header(
                "x-sentry-auth",
                format!("Sentry sentry_key={public_key}, sentry_version=7"),
            )
            .body(envelope)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Waits (polling under a deadline) until the project has an issue, as `token` sees it.
    async fn wait_issue(&self, token: &str, project_id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let page = self
                .get(token, &format!("/api/0/projects/{project_id}/issues/"))
                .await
                .expect(200);
            if let Some(issue) = page["data"].as_array().and_then(|a| a.first()) {
                return issue.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no issue in project {project_id} within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The public key in a DSN `http://<key>@host/<project>`.
fn dsn_key(dsn: &Value) -> String {
    let dsn = dsn.as_str().unwrap();
    dsn.split("//")
        .nth(1)
        .unwrap()
        .split('@')
        .next()
        .unwrap()
        .to_owned()
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// Organization `alpha` (owner alice, admin dave, member carol) with project `shop`, and
/// organization `beta` (owner bob) with project `billing`.
struct World {
    env: Env,
    alice: String,
    dave: String,
    carol: String,
    bob: String,
    alice_id: i64,
    dave_id: i64,
    carol_id: i64,
    bob_id: i64,
    shop: Value,
    billing: Value,
}

impl World {
    async fn new() -> World {
        Self::within(Env::start().await).await
    }

    async fn within(env: Env) -> World {
        let (alice_id, alice) = env.account("alice@alpha.test").await;
        let (dave_id, dave) = env.account("dave@alpha.test").await;
        let (carol_id, carol) = env.account("carol@alpha.test").await;
        let (bob_id, bob) = env.account("bob@beta.test").await;
        env.post(&alice, "/api/0/organizations/", json!({"name": "Alpha"}))
            .await
            .expect(201);
        env.post(&bob, "/api/0/organizations/", json!({"name": "Beta"}))
            .await
            .expect(201);
        env.add_member("alpha", dave_id, OrgRole::Admin).await;
        env.add_member("alpha", carol_id, OrgRole::Member).await;
        let shop = env
            .post(
                &alice,
                "/api/0/organizations/alpha/projects/",
                json!({"name": "shop", "platform": "python"}),
            )
            .await
            .expect(201);
        let billing = env
            .post(
                &bob,
                "/api/0/organizations/beta/projects/",
                json!({"name": "billing"}),
            )
            .await
            .expect(201);
        World {
            env,
            alice,
            dave,
            carol,
            bob,
            alice_id,
            dave_id,
            carol_id,
            bob_id,
            shop,
            billing,
        }
    }

    fn shop_id(&self) -> String {
        s(&self.shop["id"])
    }

    fn billing_id(&self) -> String {
        s(&self.billing["id"])
    }
}

// ---- sign-in, tokens, sessions ------------------------------------------------------------------

#[tokio::test]
async fn login_answers_an_access_and_a_refresh_token_and_me_shows_the_user_and_roles() {
    let w = World::new().await;
    let env = &w.env;
    let body = env.login("Alice@Alpha.test", PASSWORD).await.expect(200);
    assert!(s(&body["token"]).starts_with("sna_"), "{body}");
    assert!(s(&body["refresh_token"]).starts_with("snr_"), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 15 * 60);
    assert_eq!(body["refresh_expires_in"], 7 * 86_400);
    assert_eq!(
        body["user"],
        json!({"id": w.alice_id.to_string(), "email": "alice@alpha.test", "name": "alice", "is_admin": false})
    );

    let me = env.get(&s(&body["token"]), "/api/auth/me").await.expect(200);
    assert_eq!(me["user"]["email"], "alice@alpha.test");
    assert_eq!(me["scope"], "admin");
    let orgs = me["organizations"].as_array().unwrap();
    assert_eq!(orgs.len(), 1, "{me}");
    assert_eq!(orgs[0]["slug"], "alpha");
    assert_eq!(orgs[0]["role"], "owner");
    let me = env.get(&w.carol, "/api/auth/me").await.expect(200);
    assert_eq!(me["organizations"][0]["role"], "member");

    // A fresh access token each time; the earlier ones stay valid until they expire.
    assert_ne!(env.sign_in("alice@alpha.test").await, w.alice);
    env.get(&w.alice, "/api/auth/me").await.expect(200);
}

#[tokio::test]
async fn wrong_credentials_answer_401_and_the_eleventh_failure_answers_429_with_retry_after() {
    let env = Env::start().await;
    env.user("ada@example.test", false).await;
    for _ in 0..9 {
        env.login("ada@example.test", "wrong password")
            .await
            .expect_error(401, "invalid email or password");
    }
    env.login("nobody@example.test", PASSWORD)
        .await
        .expect_error(401, "invalid email or password");
    // Ten failures from this address: even the right password is refused until the window ends.
    let refused = env.login("ada@example.test", PASSWORD).await;
    let retry: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 15 * 60, "Retry-After {retry}");
    refused.expect_error(429, "too many failed sign-ins");
}

#[tokio::test]
async fn login_failures_count_per_account_as_well_as_per_address() {
    let env = Env::start_with(
        |s| {
            s.auth.login_attempts = 3;
            s.auth.trust_forwarded_for = true;
        },
        Arc::new(SystemClock),
    )
    .await;
    env.user("ada@example.test", false).await;
    env.user("bea@example.test", false).await;
    for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
        let status = env.login_from(ip, "ADA@example.test", "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // A fresh address does not help the attacked account, nor hurt another one.
    let status = env.login_from("10.0.0.4", "ada@example.test", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let status = env.login_from("10.0.0.4", "bea@example.test", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn anonymous_requests_beyond_the_per_address_limit_answer_429() {
    let env = Env::start_with(|s| s.auth.api_per_ip_per_minute = 3, Arc::new(SystemClock)).await;
    let (_, token) = env.account("ada@example.test").await; // the first anonymous request
    env.call(Method::GET, "/api/auth/me", None, None)
        .await
        .expect(401);
    env.call(Method::GET, "/api/0/organizations/", Some("sntl_unknown"), None)
        .await
        .expect(401);
    let refused = env.call(Method::GET, "/api/auth/me", None, None).await;
    assert!(refused.headers.contains_key("retry-after"));
    refused.expect_error(429, "unauthenticated API requests per minute");
    env.login("ada@example.test", PASSWORD).await.expect(429);
    // Requests with valid credentials count against their user's own limit.
    env.get(&token, "/api/auth/me").await.expect(200);
}

#[tokio::test]
async fn authenticated_requests_beyond_the_per_user_limit_answer_429() {
    let env = Env::start_with(|s| s.auth.api_per_user_per_minute = 3, Arc::new(SystemClock)).await;
    let (_, token) = env.account("ada@example.test").await;
    for _ in 0..3 {
        env.get(&token, "/api/0/organizations/").await.expect(200);
    }
    env.get(&token, "/api/0/organizations/")
        .await
        .expect_error(429, "rate limit of 3 API requests per minute");
}

#[tokio::test]
async fn refresh_rotates_the_pair_and_a_reused_refresh_token_is_refused() {
    let env = Env::start().await;
    env.user("ada@example.test", false).await;
    let first = env.login("ada@example.test", PASSWORD).await.expect(200);
    let second = env.refresh(&first["refresh_token"]).await.expect(200);
    assert_ne!(second["token"], first["token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["user"]["email"], "ada@example.test");
    env.get(&s(&second["token"]), "/api/auth/me").await.expect(200);

    env.refresh(&first["refresh_token"])
        .await
        .expect_error(401, "already used");
    // An access token is no refresh token.
    env.refresh(&second["token"]).await.expect(401);
    let third = env.refresh(&second["refresh_token"]).await.expect(200);
    env.get(&s(&third["token"]), "/api/auth/me").await.expect(200);

    env.post_raw(None, "/api/auth/refresh", r#"{"token": "x"}"#)
        .await
        .expect_error(400, "unknown field `token`");
}

#[tokio::test]
async fn logout_ends_the_access_token_and_its_refresh_token() {
    let env = Env::start().await;
    env.user("ada@example.test", false).await;
    let pair = env.login("ada@example.test", PASSWORD).await.expect(200);
    let token = s(&pair["token"]);
    let resp = env
        .post(
            &token,
            "/api/auth/logout",
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::NO_CONTENT, "{}", resp.body);
    env.get(&token, "/api/auth/me").await.expect(401);
    env.refresh(&pair["refresh_token"]).await.expect(401);

    // Without a body only the access token ends.
    let pair = env.login("ada@example.test", PASSWORD).await.expect(200);
    let token = s(&pair["token"]);
    env.post_raw(Some(&token), "/api/auth/logout", "")
        .await
        .expect(204);
    env.get(&token, "/api/auth/me").await.expect(401);
    env.refresh(&pair["refresh_token"]).await.expect(200);

    // Personal API tokens are not signed out but deleted.
    let fresh = env.sign_in("ada@example.test").await;
    let personal = env
        .post(
            &fresh,
            "/api/0/user/tokens/",
            json!({"name": "ci", "scope": "write"}),
        )
        .await
        .expect(201);
    env.post(&s(&personal["token"]), "/api/auth/logout", json!({}))
        .await
        .expect_error(400, "/api/0/user/tokens/");
}

#[tokio::test]
async fn access_tokens_expire_after_their_lifetime_and_refresh_tokens_after_theirs() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let env = Env::start_with(|_| {}, clock.clone()).await;
    env.user("ada@example.test", false).await;
    let pair = env.login("ada@example.test", PASSWORD).await.expect(200);
    env.get(&s(&pair["token"]), "/api/auth/me").await.expect(200);
    clock.advance(15 * 60_000 + 1_000);
    env.get(&s(&pair["token"]), "/api/auth/me")
        .await
        .expect_error(401, "invalid or expired token");
    let next = env.refresh(&pair["refresh_token"]).await.expect(200);
    env.get(&s(&next["token"]), "/api/auth/me").await.expect(200);
    clock.advance(7 * 86_400_000 + 1_000);
    env.refresh(&next["refresh_token"]).await.expect(401);
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let env = Env::start().await;
    let (id, token) = env.account("ada@example.test").await;
    let link = sentinel_server::api::sessions::reset_link(
        env.store.as_ref(),
        &env.server.settings,
        id,
        env.clock.now_ms(),
    )
    .await
    .unwrap();
    assert!(
        link.starts_with(&format!("{}/reset/snp_", env.server.base_url())),
        "{link}"
    );
    let reset_token = link.rsplit('/').next().unwrap().to_owned();
    let reset = |password: &str| {
        env.call(
            Method::POST,
            "/api/auth/reset-password",
            None,
            Some(json!({"token": reset_token, "password": password})),
        )
    };
    // A password that breaks the rules does not spend the link.
    reset("short").await.expect_error(400, "at least 8 characters");
    let resp = reset("a brand new password").await;
    assert_eq!(resp.status, StatusCode::NO_CONTENT, "{}", resp.body);
    env.get(&token, "/api/auth/me").await.expect(401);
    env.login("ada@example.test", PASSWORD).await.expect(401);
    env.login("ada@example.test", "a brand new password")
        .await
        .expect(200);
    reset("yet another password")
        .await
        .expect_error(400, "already used");
    env.post_raw(
        None,
        "/api/auth/reset-password",
        r#"{"token": "x", "password": "long enough", "email": "x"}"#,
    )
    .await
    .expect_error(400, "unknown field `email`");
}

#[tokio::test]
async fn requests_without_valid_credentials_answer_401_everywhere() {
    let w = World::new().await;
    let env = &w.env;
    let (p, b) = (w.shop_id(), "alpha");
    let paths = [
        (Method::GET, "/api/auth/me".to_owned()),
        (Method::POST, "/api/auth/logout".to_owned()),
        (Method::GET, "/api/0/organizations/".to_owned()),
        (Method::POST, "/api/0/organizations/".to_owned()),
        (Method::GET, format!("/api/0/organizations/{b}/")),
        (Method::PUT, format!("/api/0/organizations/{b}/")),
        (Method::GET, format!("/api/0/organizations/{b}/members/")),
        (Method::POST, format!("/api/0/organizations/{b}/members/")),
        (Method::PUT, format!("/api/0/organizations/{b}/members/1/")),
        (Method::DELETE, format!("/api/0/organizations/{b}/members/1/")),
        (Method::GET, format!("/api/0/organizations/{b}/invitations/")),
        (Method::DELETE, format!("/api/0/organizations/{b}/invitations/1/")),
        (Method::GET, format!("/api/0/organizations/{b}/projects/")),
        (Method::POST, format!("/api/0/organizations/{b}/projects/")),
        (Method::GET, format!("/api/0/projects/{p}/")),
        (Method::PUT, format!("/api/0/projects/{p}/")),
        (Method::GET, format!("/api/0/projects/{p}/keys/")),
        (Method::POST, format!("/api/0/projects/{p}/keys/")),
        (Method::PUT, format!("/api/0/projects/{p}/keys/1/")),
        (Method::POST, format!("/api/0/projects/{p}/keys/1/regenerate")),
        (Method::GET, "/api/0/user/tokens/".to_owned()),
        (Method::POST, "/api/0/user/tokens/".to_owned()),
        (Method::DELETE, "/api/0/user/tokens/1/".to_owned()),
    ];
    for (method, path) in paths {
        let none = env.call(method.clone(), &path, None, Some(json!({}))).await;
        assert_eq!(none.headers["www-authenticate"], "Bearer", "{path}");
        none.expect(401);
        env.call(method, &path, Some("sntl_0000"), Some(json!({})))
            .await
            .expect(401);
    }
}

// ---- organizations, members, invitations -------------------------------------------------------

#[tokio::test]
async fn any_user_creates_organizations_and_only_owners_rename_them() {
    let w = World::new().await;
    let env = &w.env;
    let created = env
        .post(
            &w.carol,
            "/api/0/organizations/",
            json!({"name": "  Carol's Lab  "}),
        )
        .await
        .expect(201);
    assert_eq!(created["slug"], "carol-s-lab");
    assert_eq!(created["name"], "Carol's Lab");
    assert_eq!(created["role"], "owner");
    let mine = env.get(&w.carol, "/api/0/organizations/").await.expect(200);
    let slugs: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["alpha", "carol-s-lab"]);

    env.post(
        &w.bob,
        "/api/0/organizations/",
        json!({"name": "x", "slug": "alpha"}),
    )
    .await
    .expect(409);
    env.post(
        &w.bob,
        "/api/0/organizations/",
        json!({"name": "x", "slug": "Not A Slug"}),
    )
    .await
    .expect_error(400, "invalid slug");
    env.post(&w.bob, "/api/0/organizations/", json!({"name": "x".repeat(101)}))
        .await
        .expect_error(400, "at most 100 characters");
    env.post(&w.bob, "/api/0/organizations/", json!({"name": "!!!"}))
        .await
        .expect_error(400, "pass \"slug\"");
    env.post(&w.bob, "/api/0/organizations/", json!({"name": "x", "owner": 1}))
        .await
        .expect_error(400, "unknown field `owner`");
    env.post(&w.bob, "/api/0/organizations/", json!({}))
        .await
        .expect_error(400, "missing field `name`");

    let alpha = env.get(&w.carol, "/api/0/organizations/alpha/").await.expect(200);
    assert_eq!(alpha["role"], "member");
    env.put(&w.carol, "/api/0/organizations/alpha/", json!({"name": "Mine"}))
        .await
        .expect(403);
    env.put(&w.dave, "/api/0/organizations/alpha/", json!({"name": "Mine"}))
        .await
        .expect_error(403, "needs owner");
    let renamed = env
        .put(
            &w.alice,
            "/api/0/organizations/alpha/",
            json!({"name": "Alpha Inc."}),
        )
        .await
        .expect(200);
    assert_eq!(renamed["name"], "Alpha Inc.");
    assert_eq!(renamed["slug"], "alpha");
    env.get(&w.alice, "/api/0/organizations/nope/").await.expect(404);
}

#[tokio::test]
async fn the_first_admin_owns_default_and_sees_every_organization() {
    let env = Env::start().await;
    env.store
        .create_project(
            "default",
            "legacy",
            "other",
            "0123456789abcdef0123456789abcdef",
            0,
        )
        .await
        .unwrap();
    let new = NewUser {
        email: "root@example.test".into(),
        name: "root".into(),
        password_hash: password::hash(PASSWORD.into()).await.unwrap(),
        is_admin: true,
    };
    env.store.create_first_admin(&new, 0).await.unwrap();
    let (_, bob) = env.account("bob@beta.test").await;
    env.post(&bob, "/api/0/organizations/", json!({"name": "Beta"}))
        .await
        .expect(201);
    let root = env.sign_in("root@example.test").await;
    let me = env.get(&root, "/api/auth/me").await.expect(200);
    assert_eq!(me["user"]["is_admin"], true);
    let orgs = env.get(&root, "/api/0/organizations/").await.expect(200);
    let mut slugs: Vec<&str> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slug"].as_str().unwrap())
        .collect();
    slugs.sort_unstable();
    assert_eq!(slugs, ["beta", "default"]);
    let projects = env
        .get(&root, "/api/0/organizations/default/projects/")
        .await
        .expect(200);
    assert_eq!(projects[0]["slug"], "legacy");
    env.get(&root, "/api/0/organizations/beta/members/")
        .await
        .expect(200);
    // Bob sees only his own organization.
    let orgs = env.get(&bob, "/api/0/organizations/").await.expect(200);
    assert_eq!(orgs.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn admins_invite_by_link_and_only_owners_invite_owners() {
    let w = World::new().await;
    let env = &w.env;
    let members = "/api/0/organizations/alpha/members/";
    env.post(&w.carol, members, json!({"email": "eve@alpha.test"}))
        .await
        .expect_error(403, "needs admin");
    let invited = env
        .post(
            &w.dave,
            members,
            json!({"email": " Eve@Alpha.test ", "role": "admin"}),
        )
        .await
        .expect(201);
    assert_eq!(invited["invitation"]["email"], "eve@alpha.test");
    assert_eq!(invited["invitation"]["role"], "admin");
    assert_eq!(invited["invitation"]["invited_by"], w.dave_id.to_string());
    let link = s(&invited["link"]);
    assert!(
        link.starts_with(&format!("{}/invite/sni_", env.server.base_url())),
        "{link}"
    );
    env.post(
        &w.dave,
        members,
        json!({"email": "frank@alpha.test", "role": "owner"}),
    )
    .await
    .expect_error(403, "only owners may invite owners");
    let frank = env
        .post(
            &w.alice,
            members,
            json!({"email": "frank@alpha.test", "role": "owner"}),
        )
        .await
        .expect(201);
    env.post(&w.alice, members, json!({"email": "carol@alpha.test"}))
        .await
        .expect_error(409, "already a member");
    env.post(&w.alice, members, json!({"email": "not-an-email"}))
        .await
        .expect_error(400, "not an email address");
    env.post(&w.alice, members, json!({"email": "x@y.test", "role": "boss"}))
        .await
        .expect_error(400, "expected owner, admin or member");

    let pending = env
        .get(&w.dave, "/api/0/organizations/alpha/invitations/")
        .await
        .expect(200);
    assert_eq!(pending.as_array().unwrap().len(), 2, "{pending}");
    env.get(&w.carol, "/api/0/organizations/alpha/invitations/")
        .await
        .expect(403);

    // The link makes its holder a member with the invited role.
    let eve = env.user("eve@alpha.test", false).await;
    let secret = link.rsplit('/').next().unwrap();
    env.store
        .accept_invitation(&token_hash(secret), eve.id, env.clock.now_ms())
        .await
        .unwrap();
    let list = env.get(&w.carol, members).await.expect(200);
    let eve_json = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "eve@alpha.test")
        .unwrap_or_else(|| panic!("eve is not a member: {list}"));
    assert_eq!(eve_json["role"], "admin");
    assert_eq!(eve_json["id"], eve.id.to_string());

    let frank_invitation = format!(
        "/api/0/organizations/alpha/invitations/{}/",
        s(&frank["invitation"]["id"])
    );
    env.delete(&w.dave, &frank_invitation)
        .await
        .expect_error(403, "only owners");
    env.delete(&w.alice, &frank_invitation).await.expect(204);
    env.delete(&w.alice, &frank_invitation).await.expect(404);
    let pending = env
        .get(&w.alice, "/api/0/organizations/alpha/invitations/")
        .await
        .expect(200);
    assert_eq!(pending, json!([]));
}

#[tokio::test]
async fn member_roles_follow_the_owner_admin_member_rules() {
    let w = World::new().await;
    let env = &w.env;
    let member = |id: i64| format!("/api/0/organizations/alpha/members/{id}/");
    env.put(&w.carol, &member(w.dave_id), json!({"role": "member"}))
        .await
        .expect(403);
    let carol = env
        .put(&w.dave, &member(w.carol_id), json!({"role": "admin"}))
        .await
        .expect(200);
    assert_eq!(carol["role"], "admin");
    assert_eq!(carol["email"], "carol@alpha.test");
    env.put(&w.dave, &member(w.carol_id), json!({"role": "owner"}))
        .await
        .expect_error(403, "only owners may make owners");
    env.put(&w.dave, &member(w.alice_id), json!({"role": "member"}))
        .await
        .expect_error(403, "only owners may change an owner's role");
    env.delete(&w.dave, &member(w.alice_id))
        .await
        .expect_error(403, "only owners may remove an owner");
    env.put(&w.dave, &member(w.carol_id), json!({"role": "boss"}))
        .await
        .expect_error(400, "expected owner, admin or member");
    env.put(&w.dave, &member(w.carol_id), json!({"role": "member", "x": 1}))
        .await
        .expect_error(400, "unknown field `x`");
    env.put(&w.dave, &member(w.bob_id), json!({"role": "member"}))
        .await
        .expect(404);
    env.put(
        &w.dave,
        "/api/0/organizations/alpha/members/abc/",
        json!({"role": "member"}),
    )
    .await
    .expect(404);

    // The last owner can neither step down nor leave.
    env.put(&w.alice, &member(w.alice_id), json!({"role": "admin"}))
        .await
        .expect(409);
    env.delete(&w.alice, &member(w.alice_id)).await.expect(409);

    // Anyone may leave.
    env.delete(&w.dave, &member(w.dave_id)).await.expect(204);
    env.get(&w.dave, "/api/0/organizations/alpha/").await.expect(404);

    // With a second owner, the first may go.
    env.put(&w.alice, &member(w.carol_id), json!({"role": "owner"}))
        .await
        .expect(200);
    env.delete(&w.alice, &member(w.alice_id)).await.expect(204);
    let members = env
        .get(&w.carol, "/api/0/organizations/alpha/members/")
        .await
        .expect(200);
    assert_eq!(
        members,
        json!([{
            "id": w.carol_id.to_string(),
            "email": "carol@alpha.test",
            "name": "carol",
            "role": "owner",
            "joined": members[0]["joined"],
        }])
    );
}

// ---- projects and keys --------------------------------------------------------------------------

#[tokio::test]
async fn admins_create_projects_with_a_dsn_and_change_them() {
    let w = World::new().await;
    let env = &w.env;
    let projects = "/api/0/organizations/alpha/projects/";
    let created = env
        .post(&w.dave, projects, json!({"name": "Web Shop", "platform": "node"}))
        .await
        .expect(201);
    assert_eq!(created["slug"], "web-shop");
    assert_eq!(created["platform"], "node");
    assert_eq!(created["organization"], "alpha");
    let id = s(&created["id"]);
    assert!(s(&created["dsn"]).ends_with(&format!("/{id}")), "{created}");
    assert_eq!(w.shop["platform"], "python");
    assert_eq!(w.billing["platform"], "other");

    env.post(&w.carol, projects, json!({"name": "x"}))
        .await
        .expect_error(403, "needs admin");
    env.post(&w.dave, projects, json!({"name": "x", "platform": "cobol"}))
        .await
        .expect_error(400, "expected one of python");
    env.post(&w.dave, projects, json!({"name": "***"}))
        .await
        .expect_error(400, "at least one letter or digit");
    env.post(&w.dave, projects, json!({"name": "web shop"}))
        .await
        .expect(409);

    let listed = env.get(&w.carol, projects).await.expect(200);
    let slugs: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["shop", "web-shop"]);
    let all = env.get(&w.carol, "/api/0/projects/").await.expect(200);
    assert_eq!(all.as_array().unwrap().len(), 2, "only alpha's projects: {all}");

    let path = format!("/api/0/projects/{id}/");
    assert_eq!(env.get(&w.carol, &path).await.expect(200)["name"], "Web Shop");
    env.put(&w.carol, &path, json!({"platform": "rust"}))
        .await
        .expect(403);
    let changed = env
        .put(&w.dave, &path, json!({"platform": "rust"}))
        .await
        .expect(200);
    assert_eq!(
        (changed["platform"].as_str(), changed["name"].as_str()),
        (Some("rust"), Some("Web Shop"))
    );
    let renamed = env
        .put(&w.dave, &path, json!({"name": "Storefront"}))
        .await
        .expect(200);
    assert_eq!(renamed["slug"], "storefront");
    env.put(&w.dave, &path, json!({"name": "shop"})).await.expect(409);
    env.put(&w.dave, &path, json!({}))
        .await
        .expect_error(400, "nothing to change");
    env.put(&w.dave, &path, json!({"rate_limit_per_minute": 0}))
        .await
        .expect_error(400, "use null");
    let limited = env
        .put(&w.dave, &path, json!({"rate_limit_per_minute": 50}))
        .await
        .expect(200);
    assert_eq!(limited["rate_limit_per_minute"], 50);
    let unlimited = env
        .put(&w.dave, &path, json!({"rate_limit_per_minute": null}))
        .await
        .expect(200);
    assert_eq!(unlimited["rate_limit_per_minute"], Value::Null);
    env.get(&w.carol, "/api/0/projects/999999/").await.expect(404);
}

#[tokio::test]
async fn keys_are_created_revoked_and_regenerated_and_ingest_follows_at_once() {
    let w = World::new().await;
    let env = &w.env;
    let project = w.shop_id();
    let keys = format!("/api/0/projects/{project}/keys/");
    let created = env
        .post(
            &w.dave,
            &keys,
            json!({"label": "backend", "rate_limit_per_minute": 100}),
        )
        .await
        .expect(201);
    assert_eq!(created["label"], "backend");
    assert_eq!(created["active"], true);
    assert_eq!(created["rate_limit_per_minute"], 100);
    let key = dsn_key(&created["dsn"]);
    assert_eq!(created["public_key"], key.as_str());
    let key_path = format!("{keys}{}/", s(&created["id"]));
    assert_eq!(
        env.send_event(&project, &key, &format!("{:032x}", 1)).await,
        StatusCode::OK
    );

    // Revoked: refused at once by this node's ingest.
    let revoked = env
        .put(&w.dave, &key_path, json!({"active": false}))
        .await
        .expect(200);
    assert_eq!(revoked["active"], false);
    assert_eq!(revoked["rate_limit_per_minute"], 100);
    assert_eq!(
        env.send_event(&project, &key, &format!("{:032x}", 2)).await,
        StatusCode::FORBIDDEN
    );
    env.put(&w.dave, &key_path, json!({"active": true}))
        .await
        .expect(200);
    assert_eq!(
        env.send_event(&project, &key, &format!("{:032x}", 3)).await,
        StatusCode::OK
    );
    let unlimited = env
        .put(&w.dave, &key_path, json!({"rate_limit_per_minute": null}))
        .await
        .expect(200);
    assert_eq!(unlimited["rate_limit_per_minute"], Value::Null);
    env.put(&w.dave, &key_path, json!({"rate_limit_per_minute": 7}))
        .await
        .expect(200);

    let fresh = env
        .post(&w.dave, &format!("{key_path}regenerate"), json!({}))
        .await
        .expect(201);
    assert_eq!(fresh["label"], "backend");
    assert_eq!(fresh["rate_limit_per_minute"], 7);
    assert_eq!(fresh["active"], true);
    let new_key = dsn_key(&fresh["dsn"]);
    assert_ne!(new_key, key);
    assert_eq!(
        env.send_event(&project, &key, &format!("{:032x}", 4)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        env.send_event(&project, &new_key, &format!("{:032x}", 5)).await,
        StatusCode::OK
    );
    let listed = env.get(&w.carol, &keys).await.expect(200);
    let states: Vec<(String, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (s(&k["public_key"]), k["active"].as_bool().unwrap()))
        .collect();
    assert!(states.contains(&(key.clone(), false)), "{listed}");
    assert!(states.contains(&(new_key, true)), "{listed}");
    assert_eq!(
        states.len(),
        3,
        "the first key, the revoked one and its successor"
    );

    env.post(&w.carol, &keys, json!({"label": "mine"}))
        .await
        .expect(403);
    env.put(&w.carol, &key_path, json!({"active": false}))
        .await
        .expect(403);
    env.post(&w.carol, &format!("{key_path}regenerate"), json!({}))
        .await
        .expect(403);
    env.put(&w.dave, &key_path, json!({}))
        .await
        .expect_error(400, "nothing to change");
    env.put(&w.dave, &format!("{keys}999999/"), json!({"active": false}))
        .await
        .expect(404);
    env.post(&w.dave, &keys, json!({"label": " "}))
        .await
        .expect_error(400, "label");
    env.post(&w.dave, &keys, json!({"label": "k", "rate_limit_per_minute": -1}))
        .await
        .expect_error(400, "invalid value");
}

// ---- personal API tokens and scopes -------------------------------------------------------------

#[tokio::test]
async fn personal_tokens_are_shown_once_act_as_their_user_and_are_deletable() {
    let w = World::new().await;
    let env = &w.env;
    let created = env
        .post(
            &w.alice,
            "/api/0/user/tokens/",
            json!({"name": "ci", "scope": "read"}),
        )
        .await
        .expect(201);
    let read = s(&created["token"]);
    assert!(read.starts_with("sntl_"), "{created}");
    assert_eq!(created["scope"], "read");
    let listed = env.get(&w.alice, "/api/0/user/tokens/").await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "ci");
    assert!(listed[0].get("token").is_none(), "the secret is shown only once");
    assert_eq!(
        env.get(&w.bob, "/api/0/user/tokens/").await.expect(200),
        json!([])
    );

    // It acts as alice: her organizations, not bob's.
    let me = env.get(&read, "/api/auth/me").await.expect(200);
    assert_eq!(
        (me["user"]["email"].as_str(), me["scope"].as_str()),
        (Some("alice@alpha.test"), Some("read"))
    );
    env.get(&read, "/api/0/organizations/alpha/").await.expect(200);
    env.get(&read, "/api/0/organizations/beta/").await.expect(404);

    env.post(
        &w.alice,
        "/api/0/user/tokens/",
        json!({"name": "x", "scope": "root"}),
    )
    .await
    .expect_error(400, "expected read, write or admin");
    env.post(&w.alice, "/api/0/user/tokens/", json!({"name": "x"}))
        .await
        .expect_error(400, "missing field `scope`");

    let path = format!("/api/0/user/tokens/{}/", s(&created["id"]));
    env.delete(&w.bob, &path).await.expect(404);
    env.delete(&w.alice, &path).await.expect(204);
    env.get(&read, "/api/auth/me").await.expect(401);
    env.delete(&w.alice, &path).await.expect(404);

    // Instance tokens (from `sentinel token create` without --user) have no personal tokens.
    let instance = "sntl_instance_token_for_tests";
    support::instance_token(env.store.as_ref(), instance).await;
    env.get(instance, "/api/0/user/tokens/")
        .await
        .expect_error(403, "instance token");
    env.get(instance, "/api/0/organizations/beta/").await.expect(200);
}

#[tokio::test]
async fn read_tokens_only_read_and_write_tokens_cannot_manage() {
    let w = World::new().await;
    let env = &w.env;
    let alice = &w.alice;
    let token = |scope: &'static str| async move {
        let t = env
            .post(
                alice,
                "/api/0/user/tokens/",
                json!({"name": scope, "scope": scope}),
            )
            .await
            .expect(201);
        s(&t["token"])
    };
    let (read, write) = (token("read").await, token("write").await);
    let project = w.shop_id();
    let key = dsn_key(&w.shop["dsn"]);
    assert_eq!(
        env.send_event(&project, &key, &format!("{:032x}", 9)).await,
        StatusCode::OK
    );
    let issue = env.wait_issue(&read, &project).await;
    let issue_path = format!("/api/0/issues/{}/", s(&issue["id"]));

    env.get(&read, &format!("/api/0/projects/{project}/keys/"))
        .await
        .expect(200);
    env.put(&read, &issue_path, json!({"status": "resolved"}))
        .await
        .expect_error(403, "scope read");
    env.put(
        &read,
        &format!("/api/0/projects/{project}/"),
        json!({"name": "x"}),
    )
    .await
    .expect(403);

    // Write: issue work, but no projects, keys, members or tokens.
    let resolved = env
        .put(&write, &issue_path, json!({"status": "resolved"}))
        .await
        .expect(200);
    assert_eq!(resolved["status"], "resolved");
    let denied = [
        (
            Method::POST,
            format!("/api/0/projects/{project}/keys/"),
            json!({"label": "k"}),
        ),
        (
            Method::PUT,
            format!("/api/0/projects/{project}/"),
            json!({"name": "x"}),
        ),
        (
            Method::POST,
            "/api/0/organizations/alpha/projects/".to_owned(),
            json!({"name": "x"}),
        ),
        (
            Method::POST,
            "/api/0/organizations/alpha/members/".to_owned(),
            json!({"email": "x@y.test"}),
        ),
        (
            Method::PUT,
            "/api/0/organizations/alpha/".to_owned(),
            json!({"name": "x"}),
        ),
        (
            Method::POST,
            "/api/0/organizations/".to_owned(),
            json!({"name": "x"}),
        ),
        (
            Method::POST,
            "/api/0/user/tokens/".to_owned(),
            json!({"name": "x", "scope": "admin"}),
        ),
    ];
    for (method, path, body) in denied {
        env.call(method, &path, Some(&write), Some(body))
            .await
            .expect_error(403, "needs admin");
    }
}

// ---- another organization's resources ----------------------------------------------------------

#[tokio::test]
async fn every_resource_of_another_organization_answers_404() {
    let w = World::new().await;
    let env = &w.env;
    let (pb, pa) = (w.billing_id(), w.shop_id());
    let event_id = format!("{:032x}", 0xb111u32);
    assert_eq!(
        env.send_event(&pb, &dsn_key(&w.billing["dsn"]), &event_id).await,
        StatusCode::OK
    );
    let issue = env.wait_issue(&w.bob, &pb).await;
    let ib = s(&issue["id"]);
    let kb = s(&env
        .get(&w.bob, &format!("/api/0/projects/{pb}/keys/"))
        .await
        .expect(200)[0]["id"]);
    let ka = s(&env
        .get(&w.alice, &format!("/api/0/projects/{pa}/keys/"))
        .await
        .expect(200)[0]["id"]);
    let invitation = env
        .post(
            &w.bob,
            "/api/0/organizations/beta/members/",
            json!({"email": "x@beta.test"}),
        )
        .await
        .expect(201);
    let inv = s(&invitation["invitation"]["id"]);
    // Bob can see all of it.
    env.get(&w.bob, &format!("/api/0/projects/{pb}/events/{event_id}/"))
        .await
        .expect(200);
    env.get(&w.bob, &format!("/api/0/issues/{ib}/")).await.expect(200);

    let requests = [
        (Method::GET, "/api/0/organizations/beta/".to_owned(), None),
        (
            Method::PUT,
            "/api/0/organizations/beta/".to_owned(),
            Some(json!({"name": "x"})),
        ),
        (Method::GET, "/api/0/organizations/beta/members/".to_owned(), None),
        (
            Method::POST,
            "/api/0/organizations/beta/members/".to_owned(),
            Some(json!({"email": "y@b.test"})),
        ),
        (
            Method::PUT,
            format!("/api/0/organizations/beta/members/{}/", w.bob_id),
            Some(json!({"role": "member"})),
        ),
        (
            Method::DELETE,
            format!("/api/0/organizations/beta/members/{}/", w.bob_id),
            None,
        ),
        (
            Method::GET,
            "/api/0/organizations/beta/invitations/".to_owned(),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/0/organizations/beta/invitations/{inv}/"),
            None,
        ),
        (
            Method::GET,
            "/api/0/organizations/beta/projects/".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/api/0/organizations/beta/projects/".to_owned(),
            Some(json!({"name": "x"})),
        ),
        (Method::GET, format!("/api/0/projects/{pb}/"), None),
        (
            Method::PUT,
            format!("/api/0/projects/{pb}/"),
            Some(json!({"name": "x"})),
        ),
        (Method::GET, format!("/api/0/projects/{pb}/keys/"), None),
        (
            Method::POST,
            format!("/api/0/projects/{pb}/keys/"),
            Some(json!({"label": "x"})),
        ),
        (
            Method::PUT,
            format!("/api/0/projects/{pb}/keys/{kb}/"),
            Some(json!({"active": false})),
        ),
        (
            Method::POST,
            format!("/api/0/projects/{pb}/keys/{kb}/regenerate"),
            None,
        ),
        // A key of one's own project under another's.
        (
            Method::PUT,
            format!("/api/0/projects/{pb}/keys/{ka}/"),
            Some(json!({"active": false})),
        ),
        (Method::GET, format!("/api/0/projects/{pb}/issues/"), None),
        (Method::GET, format!("/api/0/projects/{pb}/stats/"), None),
        (
            Method::GET,
            format!("/api/0/projects/{pb}/events/{event_id}/"),
            None,
        ),
        (Method::GET, format!("/api/0/issues/{ib}/"), None),
        (
            Method::PUT,
            format!("/api/0/issues/{ib}/"),
            Some(json!({"status": "resolved"})),
        ),
        (Method::GET, format!("/api/0/issues/{ib}/events/"), None),
    ];
    // Alice owns alpha, Carol is a plain member there: neither sees anything of beta.
    for token in [&w.alice, &w.carol] {
        for (method, path, body) in &requests {
            env.call(method.clone(), path, Some(token), body.clone())
                .await
                .expect(404);
        }
    }
    // Another project's key under one's own project.
    env.put(
        &w.alice,
        &format!("/api/0/projects/{pa}/keys/{kb}/"),
        json!({"active": false}),
    )
    .await
    .expect(404);
    env.post(
        &w.alice,
        &format!("/api/0/projects/{pa}/keys/{kb}/regenerate"),
        json!({}),
    )
    .await
    .expect(404);
    // Nothing was changed on the way.
    let key = env
        .get(&w.bob, &format!("/api/0/projects/{pb}/keys/"))
        .await
        .expect(200);
    assert_eq!(key[0]["active"], true);
    assert_eq!(
        env.get(&w.bob, &format!("/api/0/issues/{ib}/")).await.expect(200)["status"],
        "unresolved"
    );
    let members = env
        .get(&w.bob, "/api/0/organizations/beta/members/")
        .await
        .expect(200);
    assert_eq!(members.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bodies_are_validated_with_precise_messages() {
    let w = World::new().await;
    let env = &w.env;
    let orgs = "/api/0/organizations/";
    env.post_raw(Some(&w.alice), orgs, "")
        .await
        .expect_error(400, "JSON object");
    env.post_raw(Some(&w.alice), orgs, "{\"name\": ")
        .await
        .expect_error(400, "EOF");
    env.post_raw(Some(&w.alice), orgs, "[1]")
        .await
        .expect_error(400, "invalid type");
    env.post(&w.alice, orgs, json!({"name": 5}))
        .await
        .expect_error(400, "invalid type: integer");
    env.post(&w.alice, orgs, json!({"name": "a\u{7}b"}))
        .await
        .expect_error(400, "control characters");
    env.post(
        &w.alice,
        "/api/0/organizations/alpha/members/",
        json!({"email": format!("{}@example.test", "a".repeat(250))}),
    )
    .await
    .expect_error(400, "longer than 254 bytes");
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(100_000));
    env.post_raw(Some(&w.alice), orgs, &huge)
        .await
        .expect_error(400, "larger than");
    env.login(&"x".repeat(300), "p").await.expect(400);
    env.post_raw(None, "/api/auth/login", r#"{"email": "a@b.test"}"#)
        .await
        .expect_error(400, "missing field `password`");
}
