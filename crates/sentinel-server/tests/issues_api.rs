//! Full-stack tests of the issue API: search, status changes, assignees, comments and activity,
//! bulk changes, events and attachments, releases and release health, organization boundaries, and the OpenAPI document
//! against the routes that exist. A real server on port 0 over a fresh SQLite data dir, or a fresh
//! PostgreSQL schema when `SENTINEL_TEST_BACKEND=postgres` (scripts/test runs this file a second
//! time that way whenever `SENTINEL_TEST_DATABASE_URL` is set). Events go in through the real
//! envelope endpoint; the clock is manual, so relative searches and ignore durations are exact.
#![expect(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use sentinel_server::Server;
use sentinel_server::api::{new_token, token_hash};
use sentinel_server::clock::ManualClock;
use sentinel_server::config::Settings;
use sentinel_store::{NewApiToken, NewUser, OrgRole, Store, TokenScope};
use serde_json::{Value, json};
use support::{PgSchema, open_store};

const KEY: &str = "0123456789abcdef0123456789abcdef";
const OTHER_KEY: &str = "fedcba9876543210fedcba9876543210";
/// 2027-01-15T08:00:00Z.
const T0: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;

/// A user with a token.
struct Account {
    id: i64,
    email: String,
    token: String,
}

struct Env {
    server: Server,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
    /// Organization `default` and a project of it.
    org: i64,
    project: i64,
    /// Admin of `default`.
    admin: Account,
    /// Plain member of `default`.
    member: Account,
    /// Owner of organization `other`, and nothing in `default`.
    outsider: Account,
    /// The project of `other`.
    other_project: i64,
    _dir: tempfile::TempDir,
    _schema: Option<PgSchema>,
}

async fn account(store: &dyn Store, email: &str, scope: TokenScope) -> Account {
    let user = store
        .create_user(
            &NewUser {
                email: email.into(),
                name: email.split('@').next().unwrap().into(),
                // Nobody signs in with a password here.
                password_hash: "$argon2id$unused".into(),
                is_admin: false,
            },
            T0,
        )
        .await
        .unwrap();
    let token = new_token();
    store
        .create_api_token(
            &NewApiToken {
                name: "test".into(),
                token_sha256: token_hash(&token),
                user_id: Some(user.id),
                scope,
            },
            T0,
        )
        .await
        .unwrap();
    Account {
        id: user.id,
        email: email.into(),
        token,
    }
}

async fn start() -> Env {
    start_with(|_| {}).await
}

async fn start_with(edit: impl FnOnce(&mut Settings)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (store, schema) = open_store(dir.path()).await;
    let (project, _) = store
        .create_project("default", "app", "other", KEY, T0)
        .await
        .unwrap();
    let admin = account(store.as_ref(), "ada@example.com", TokenScope::Write).await;
    let member = account(store.as_ref(), "max@example.com", TokenScope::Write).await;
    let outsider = account(store.as_ref(), "eve@example.com", TokenScope::Admin).await;
    store
        .add_member(project.org_id, admin.id, OrgRole::Admin, T0)
        .await
        .unwrap();
    store
        .add_member(project.org_id, member.id, OrgRole::Member, T0)
        .await
        .unwrap();
    store
        .create_organization("other", "Other", outsider.id, T0)
        .await
        .unwrap();
    let (other, _) = store
        .create_project("other", "b-app", "other", OTHER_KEY, T0)
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut settings = Settings {
        data_dir: dir.path().into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Settings::default()
    };
    edit(&mut settings);
    let server = Server::start(settings, store.clone(), clock.clone())
        .await
        .unwrap();
    Env {
        server,
        store,
        clock,
        http: reqwest::Client::new(),
        org: project.org_id,
        project: project.id,
        admin,
        member,
        outsider,
        other_project: other.id,
        _dir: dir,
        _schema: schema,
    }
}

fn id(n: u32) -> String {
    format!("{n:032x}")
}

/// An error event: `ty` decides the issue (it names the exception type and the in-app function).
fn event(n: u32, ty: &str, message: &str) -> Value {
    json!({
        "event_id": id(n),
        "platform": "python",
        "level": "error",
        "environment": "production",
        "release": "app@1.0.0",
        "tags": {"browser": "Firefox"},
        "exception": {"values": [{
            "type": ty,
            "value": message,
            "stacktrace": {"frames": [
                {"module": "app.views", "function": format!("handle_{ty}"), "filename": "app/views.py", "lineno": 10, "in_app": true}
            ]}
        }]}
    })
}

fn envelope(event: &Value, attachments: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let body = event.to_string();
    let mut out = format!(
        "{{\"event_id\":\"{}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{body}\n",
        event["event_id"].as_str().unwrap(),
        body.len()
    )
    .into_bytes();
    for (filename, content_type, bytes) in attachments {
        let header = json!({
            "type": "attachment",
            "length": bytes.len(),
            "filename": filename,
            "content_type": content_type,
        });
        out.extend_from_slice(format!("{header}\n").as_bytes());
        out.extend_from_slice(bytes);
        out.push(b'\n');
    }
    out
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    async fn send_to(&self, project: i64, key: &str, body: Vec<u8>) {
        let resp = self
            .http
            .post(self.url(&format!("/api/{project}/envelope/")))
            .header(
                "x-sentry-auth",
                format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=test/1.0"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
    }

    /// Sends events to the `default` project and waits until they are stored.
    async fn send(&self, events: &[Value]) {
        for e in events {
            self.send_to(self.project, KEY, envelope(e, &[])).await;
        }
        self.processed().await;
    }

    async fn processed(&self) {
        for _ in 0..500 {
            if self.store.inbox_stats().await.unwrap().depth == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("inbox not drained: {:?}", self.store.inbox_stats().await.unwrap());
    }

    async fn call(
        &self,
        who: &Account,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(&who.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, who: &Account, path: &str) -> (StatusCode, Value) {
        self.call(who, Method::GET, path, None).await
    }

    /// GET that must succeed.
    async fn ok(&self, who: &Account, path: &str) -> Value {
        let (s, body) = self.get(who, path).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {body}");
        body
    }

    async fn put(&self, who: &Account, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(who, Method::PUT, path, Some(body)).await
    }

    /// The ids of the issues the search finds, in the order listed.
    async fn search(&self, query: &str) -> Vec<String> {
        let q: String = url_encode(query);
        let page = self
            .ok(
                &self.member,
                &format!("/api/0/projects/{}/issues/?query={q}", self.project),
            )
            .await;
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The id of the issue whose title starts with `ty`.
    async fn issue(&self, ty: &str) -> String {
        let page = self
            .ok(
                &self.member,
                &format!("/api/0/projects/{}/issues/?limit=100", self.project),
            )
            .await;
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["title"].as_str().unwrap().starts_with(ty))
            .unwrap_or_else(|| panic!("no issue {ty}: {page}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn issue_json(&self, issue: &str) -> Value {
        self.ok(&self.member, &format!("/api/0/issues/{issue}/")).await
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn the_search_syntax_filters_issues_end_to_end() {
    let env = start().await;
    let mut warning = event(1, "SlowQuery", "query took 5 seconds");
    warning["level"] = json!("warning");
    let mut staging = event(2, "KeyError", "missing key user_id");
    staging["environment"] = json!("staging");
    staging["release"] = json!("app@2.0.0");
    staging["tags"] = json!({"browser": "Chrome 120"});
    env.send(&[
        warning,
        staging,
        event(3, "ZeroDivisionError", "division by zero in invoice totals"),
    ])
    .await;
    let slow = env.issue("SlowQuery").await;
    let key = env.issue("KeyError").await;
    let zero = env.issue("ZeroDivisionError").await;

    assert_eq!(env.search("level:warning").await, vec![slow.clone()]);
    assert_eq!(
        env.search("is:unresolved environment:staging").await,
        vec![key.clone()]
    );
    assert_eq!(env.search("release:app@2.0.0").await, vec![key.clone()]);
    assert_eq!(env.search(r#"browser:"Chrome 120""#).await, vec![key.clone()]);
    assert_eq!(env.search("browser:Firefox invoice").await, vec![zero.clone()]);
    assert_eq!(
        env.search("divis").await,
        vec![zero.clone()],
        "word prefixes match"
    );
    assert!(env.search("is:resolved").await.is_empty());
    assert_eq!(env.search("first_seen:-1h").await.len(), 3);
    assert!(env.search("first_seen:+1h").await.is_empty());

    // Two hours later, one more issue: age filters tell them apart.
    env.clock.advance(2 * HOUR);
    env.send(&[event(4, "TimeoutError", "upstream timed out")]).await;
    let timeout = env.issue("TimeoutError").await;
    assert_eq!(env.search("age:-1h").await, vec![timeout.clone()]);
    assert_eq!(
        sorted(env.search("firstSeen:+1h").await),
        sorted(vec![slow.clone(), key.clone(), zero.clone()])
    );
    assert_eq!(
        env.search("last_seen:>2027-01-15T09:00:00Z").await,
        vec![timeout.clone()]
    );
    assert_eq!(env.search("lastSeen:<2027-01-15T09:00:00Z").await.len(), 3);

    // Assignment filters, the assignee named by email.
    let (s, body) = env
        .put(
            &env.member,
            &format!("/api/0/issues/{zero}/"),
            json!({"assignedTo": "ada@example.com"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(env.search("assigned:ada@example.com").await, vec![zero.clone()]);
    assert_eq!(
        env.search(&format!("assigned:{}", env.admin.id)).await,
        vec![zero.clone()]
    );
    assert!(
        env.search("assigned:me").await.is_empty(),
        "the member is assigned nothing"
    );
    assert!(
        env.search("assigned:nobody@example.com").await.is_empty(),
        "an unknown email matches nothing"
    );
    assert_eq!(env.search("is:unassigned").await.len(), 3);
    assert_eq!(
        env.search("assigned:none level:warning").await,
        vec![slow.clone()]
    );

    // The classic parameters still work, alone and with a query that agrees.
    let p = env.project;
    let page = env
        .ok(&env.member, &format!("/api/0/projects/{p}/issues/?level=warning"))
        .await;
    assert_eq!(page["data"][0]["id"], slow.as_str());
    let page = env
        .ok(
            &env.member,
            &format!("/api/0/projects/{p}/issues/?environment=staging&query=is%3Aunresolved"),
        )
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);

    for (query, needle) in [
        ("query=level%3Aloud", "invalid level \\\"loud\\\""),
        ("query=age%3Ayesterday", "expected -24h"),
        ("status=resolved&query=is%3Aunresolved", "contradicts the query"),
        (
            "sort=loudness",
            "expected last_seen, first_seen, times_seen or priority",
        ),
    ] {
        let (s, b) = env
            .get(&env.member, &format!("/api/0/projects/{p}/issues/?{query}"))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {b}");
        assert!(b.to_string().contains(needle), "{query}: {b}");
    }
    // Full text is data, never query syntax of the database.
    for odd in [
        r#""a:b""#,
        "foo*",
        r#""(x""#,
        "-bar",
        "AND OR NOT",
        "NEAR(x",
        "'; DROP TABLE issues; --",
        "ü日本 %_",
        r#"\"#,
    ] {
        let (s, b) = env
            .get(
                &env.member,
                &format!("/api/0/projects/{p}/issues/?query={}", url_encode(odd)),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{odd}: {b}");
    }
    let by_count = env
        .ok(
            &env.member,
            &format!("/api/0/projects/{p}/issues/?sort=times_seen"),
        )
        .await;
    assert_eq!(by_count["data"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn resolved_in_the_next_release_reopens_only_for_a_newer_release() {
    let env = start().await;
    env.send(&[event(1, "ValueError", "bad")]).await;
    let issue = env.issue("ValueError").await;
    let (s, body) = env
        .put(
            &env.member,
            &format!("/api/0/issues/{issue}/"),
            json!({"status": "resolved", "statusDetails": {"inNextRelease": true}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "resolved");
    assert_eq!(body["status_details"]["in_next_release"], true);
    assert_eq!(body["status_details"]["release"], "app@1.0.0");

    // Another event of the same release: still resolved.
    env.send(&[event(2, "ValueError", "bad")]).await;
    let after = env.issue_json(&issue).await;
    assert_eq!(
        (after["status"].as_str(), after["times_seen"].as_u64()),
        (Some("resolved"), Some(2))
    );

    // A newer release: a regression.
    let mut newer = event(3, "ValueError", "bad");
    newer["release"] = json!("app@1.1.0");
    env.send(&[newer]).await;
    let after = env.issue_json(&issue).await;
    assert_eq!(after["status"], "unresolved");
    assert_eq!(after["is_regression"], true);
    assert_eq!(after["status_details"]["in_next_release"], false);

    // The simple name does the same; a user's status change clears the regression mark.
    let (s, body) = env
        .put(
            &env.member,
            &format!("/api/0/issues/{issue}/"),
            json!({"status": "resolvedInNextRelease"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["status_details"]["release"], "app@1.1.0");
    assert_eq!(body["is_regression"], false);
}

#[tokio::test]
async fn an_issue_ignored_until_more_events_reopens_after_them() {
    let env = start().await;
    env.send(&[event(1, "ValueError", "bad")]).await;
    let issue = env.issue("ValueError").await;
    let (s, body) = env
        .put(
            &env.member,
            &format!("/api/0/issues/{issue}/"),
            json!({"status": "ignored", "statusDetails": {"ignoreCount": 2}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ignored");
    assert_eq!(body["status_details"]["ignore_count"], 2);

    env.send(&[event(2, "ValueError", "bad")]).await;
    let after = env.issue_json(&issue).await;
    assert_eq!(after["status"], "ignored");
    assert_eq!(after["status_details"]["ignore_count"], 1, "one more event to go");
    env.send(&[event(3, "ValueError", "bad")]).await;
    let after = env.issue_json(&issue).await;
    assert_eq!(after["status"], "unresolved", "{after}");
    assert_eq!(after["status_details"]["ignore_count"], Value::Null);

    let activity = env
        .ok(&env.member, &format!("/api/0/issues/{issue}/activity/"))
        .await;
    let reopened = &activity[0];
    assert_eq!(reopened["kind"], "set_unresolved", "{activity}");
    assert_eq!(reopened["data"]["reason"], "ignore_expired");
    assert_eq!(reopened["user"], Value::Null, "Sentinel reopened it, not a user");
}

#[tokio::test]
async fn an_issue_ignored_for_a_while_reopens_with_the_first_event_after_it() {
    let env = start().await;
    env.send(&[event(1, "ValueError", "bad")]).await;
    let issue = env.issue("ValueError").await;
    let (s, body) = env
        .put(
            &env.member,
            &format!("/api/0/issues/{issue}/"),
            json!({"status": "ignored", "ignore_duration_minutes": 30}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["status_details"]["ignore_until"], "2027-01-15T08:30:00.000Z");
    env.clock.advance(29 * 60_000);
    env.send(&[event(2, "ValueError", "bad")]).await;
    assert_eq!(env.issue_json(&issue).await["status"], "ignored");
    env.clock.advance(60_000);
    env.send(&[event(3, "ValueError", "bad")]).await;
    assert_eq!(env.issue_json(&issue).await["status"], "unresolved");
}

#[tokio::test]
async fn updates_are_validated_before_anything_changes() {
    let env = start().await;
    env.send(&[event(1, "ValueError", "bad")]).await;
    let issue = env.issue("ValueError").await;
    let path = format!("/api/0/issues/{issue}/");
    for (body, needle) in [
        (
            json!({"status": "done"}),
            "expected resolved, resolvedInNextRelease",
        ),
        (json!({"state": "resolved"}), "unknown field `state`"),
        (json!({}), "nothing to change"),
        (
            json!({"status": "resolved", "ignore_count": 3}),
            "goes with status \\\"ignored\\\"",
        ),
        (json!({"assignee": "nobody@example.com"}), "no user with email"),
        (json!({"assignee": env.outsider.id}), ""),
        (json!({"assignee": "x", "assignedTo": "y"}), "not both"),
    ] {
        let (s, b) = env.put(&env.member, &path, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {b}");
        assert!(b.to_string().contains(needle), "{body}: {b}");
    }
    let after = env.issue_json(&issue).await;
    assert_eq!(
        (after["status"].as_str(), &after["assignee"]),
        (Some("unresolved"), &Value::Null)
    );

    // A read-only token may look but not touch.
    let reader = account(env.store.as_ref(), "rita@example.com", TokenScope::Read).await;
    env.store
        .add_member(env.org, reader.id, OrgRole::Owner, T0)
        .await
        .unwrap();
    assert_eq!(env.get(&reader, &path).await.0, StatusCode::OK);
    let (s, _) = env.put(&reader, &path, json!({"status": "resolved"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn assignees_are_named_by_email_or_id_and_cleared_with_null() {
    let env = start().await;
    env.send(&[event(1, "ValueError", "bad")]).await;
    let issue = env.issue("ValueError").await;
    let path = format!("/api/0/issues/{issue}/");
    let (s, body) = env
        .put(&env.member, &path, json!({"assignee": "ADA@example.com"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body["assignee"],
        json!({"id": env.admin.id.to_string(), "name": "ada", "email": "ada@example.com"})
    );
    let (_, body) = env.put(&env.member, &path, json!({"assignedTo": "me"})).await;
    assert_eq!(body["assignee"]["email"], env.member.email.as_str());
    let (_, body) = env
        .put(
            &env.member,
            &path,
            json!({"assignee": format!("user:{}", env.admin.id)}),
        )
        .await;
    assert_eq!(body["assignee"]["id"], env.admin.id.to_string());
    let (s, body) = env.put(&env.member, &path, json!({"assignedTo": null})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["assignee"], Value::Null);
    assert_eq!(env.issue_json(&issue).await["assignee"], Value::Null);

    let activity = env.ok(&env.member, &format!("{path}activity/")).await;
    let kinds: Vec<&str> = activity
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds[..4],
        ["unassigned", "assigned", "assigned", "assigned"],
        "{activity}"
    );
    assert_eq!(activity[1]["data"]["assignee_id"], env.admin.id);
    assert_eq!(activity[1]["user"]["email"], env.member.email.as_str());
}

#[tokio::test]
async fn comments_and_activity_record_who_did_what() {
    let env = start().await;
    env.send(&[event(1, "ValueError", "bad")]).await;
    let issue = env.issue("ValueError").await;
    let comments = format!("/api/0/issues/{issue}/comments/");
    let (s, c) = env
        .call(
            &env.member,
            Method::POST,
            &comments,
            Some(json!({"body": "  looks like a race  "})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["body"], "looks like a race");
    assert_eq!(c["user"]["email"], "max@example.com");
    assert_eq!(c["created"], "2027-01-15T08:00:00.000Z");
    env.clock.advance(1000);
    let (s, _) = env
        .call(
            &env.admin,
            Method::POST,
            &comments,
            Some(json!({"body": "fixed in #12"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    for (body, needle) in [
        (json!({"body": " \n "}), "empty"),
        (json!({"body": "x".repeat(10_001)}), "at most 10000"),
        (json!({"text": "hi"}), "unknown field"),
    ] {
        let (s, b) = env.call(&env.member, Method::POST, &comments, Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert!(b.to_string().contains(needle), "{b}");
    }
    let list = env.ok(&env.member, &comments).await;
    let bodies: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["looks like a race", "fixed in #12"], "oldest first");

    env.put(
        &env.admin,
        &format!("/api/0/issues/{issue}/"),
        json!({"status": "resolved"}),
    )
    .await;
    let activity = env
        .ok(&env.member, &format!("/api/0/issues/{issue}/activity/"))
        .await;
    let entries = activity.as_array().unwrap();
    let kinds: Vec<&str> = entries.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[..3], ["set_resolved", "note", "note"], "{activity}");
    assert_eq!(entries[0]["user"]["email"], "ada@example.com");
    assert!(entries[1]["data"]["comment_id"].is_number(), "{activity}");
    assert!(
        entries
            .iter()
            .all(|a| a["data"].is_object() && a["created"].is_string())
    );
}

#[tokio::test]
async fn bulk_changes_touch_only_the_named_issues_of_the_project() {
    let env = start().await;
    env.send(&[
        event(1, "AError", "a"),
        event(2, "BError", "b"),
        event(3, "CError", "c"),
    ])
    .await;
    env.send_to(
        env.other_project,
        OTHER_KEY,
        envelope(&event(9, "XError", "x"), &[]),
    )
    .await;
    env.processed().await;
    let (a, b, c) = (
        env.issue("AError").await,
        env.issue("BError").await,
        env.issue("CError").await,
    );
    let foreign = env
        .ok(
            &env.outsider,
            &format!("/api/0/projects/{}/issues/", env.other_project),
        )
        .await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = env.project;

    let (s, body) = env
        .put(
            &env.member,
            &format!("/api/0/projects/{p}/issues/?id={a}&id={b}&id={foreign}"),
            json!({"status": "ignored"}),
        )
        .await;
    assert_eq!((s, body), (StatusCode::OK, json!({"updated": 2})));
    assert_eq!(
        sorted(env.search("is:ignored").await),
        sorted(vec![a.clone(), b.clone()])
    );
    let theirs = env.ok(&env.outsider, &format!("/api/0/issues/{foreign}/")).await;
    assert_eq!(
        theirs["status"], "unresolved",
        "another project's issue is untouched"
    );

    let many: Vec<String> = (1..=101).map(|i| format!("id={i}")).collect();
    let (s, body) = env
        .put(
            &env.member,
            &format!("/api/0/projects/{p}/issues/?{}", many.join("&")),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("at most 100"));
    let (s, _) = env
        .put(
            &env.member,
            &format!("/api/0/projects/{p}/issues/"),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "ids are required");

    // Deleting takes an admin.
    let delete = format!("/api/0/projects/{p}/issues/?id={a}&id={c}&id={foreign}");
    assert_eq!(
        env.call(&env.member, Method::DELETE, &delete, None).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, body) = env.call(&env.admin, Method::DELETE, &delete, None).await;
    assert_eq!((s, body), (StatusCode::OK, json!({"deleted": 2})));
    assert_eq!(env.search("").await, vec![b.clone()]);
    assert_eq!(
        env.get(&env.member, &format!("/api/0/issues/{a}/")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.get(&env.outsider, &format!("/api/0/issues/{foreign}/"))
            .await
            .0,
        StatusCode::OK
    );

    let single = format!("/api/0/issues/{b}/");
    assert_eq!(
        env.call(&env.member, Method::DELETE, &single, None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        env.call(&env.admin, Method::DELETE, &single, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert!(env.search("").await.is_empty());
    // The next event of a deleted issue opens a new one.
    env.send(&[event(4, "BError", "b")]).await;
    assert_ne!(env.issue("BError").await, b);
}

#[tokio::test]
async fn project_events_are_listed_newest_first_a_page_at_a_time() {
    let env = start().await;
    for n in 1..=5 {
        env.send(&[event(n, if n % 2 == 0 { "AError" } else { "BError" }, "m")])
            .await;
        env.clock.advance(1000);
    }
    let p = env.project;
    let first = env
        .ok(&env.member, &format!("/api/0/projects/{p}/events/?limit=2"))
        .await;
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&first), [id(5), id(4)]);
    assert_eq!(first["pagination"]["has_more"], true);
    let mut seen = ids(&first);
    let mut cursor = first["pagination"]["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let page = env
            .ok(
                &env.member,
                &format!("/api/0/projects/{p}/events/?limit=2&cursor={cursor}"),
            )
            .await;
        seen.extend(ids(&page));
        match page["pagination"]["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => {
                assert_eq!(page["pagination"]["has_more"], false);
                break;
            }
        }
    }
    assert_eq!(seen, [id(5), id(4), id(3), id(2), id(1)]);
    let (s, body) = env
        .get(&env.member, &format!("/api/0/projects/{p}/events/?cursor=zzz"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn event_detail_links_its_neighbours_and_serves_attachments_byte_identical() {
    let env = start().await;
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    env.send(&[event(1, "ValueError", "first")]).await;
    env.clock.advance(1000);
    env.send_to(
        env.project,
        KEY,
        envelope(
            &event(2, "ValueError", "second"),
            &[
                ("app.log", "text/plain", b"line one\nline two\n"),
                ("../../core dump.bin", "text/html", &binary),
            ],
        ),
    )
    .await;
    env.processed().await;
    env.clock.advance(1000);
    env.send(&[event(3, "ValueError", "third")]).await;

    let p = env.project;
    let middle = env
        .ok(&env.member, &format!("/api/0/projects/{p}/events/{}/", id(2)))
        .await;
    assert_eq!(middle["previous_event_id"], id(1));
    assert_eq!(middle["next_event_id"], id(3));
    let first = env
        .ok(&env.member, &format!("/api/0/projects/{p}/events/{}/", id(1)))
        .await;
    assert_eq!(
        (&first["previous_event_id"], first["next_event_id"].as_str()),
        (&Value::Null, Some(id(2).as_str()))
    );
    assert_eq!(first["attachments"], json!([]));

    let attachments = middle["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2, "{middle}");
    assert_eq!(attachments[0]["name"], "app.log");
    assert_eq!(attachments[0]["content_type"], "text/plain");
    assert_eq!(attachments[0]["size"], 18);
    assert_eq!(attachments[1]["size"], 70_000);

    let download = |n: usize| {
        let aid = attachments[n]["id"].as_str().unwrap().to_owned();
        let url = env.url(&format!(
            "/api/0/projects/{p}/events/{}/attachments/{aid}/",
            id(2)
        ));
        let token = env.member.token.clone();
        let http = env.http.clone();
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let log = download(0).await;
    assert_eq!(log.status(), StatusCode::OK);
    assert_eq!(log.headers()["content-type"], "text/plain");
    assert_eq!(
        log.headers()["content-disposition"],
        "attachment; filename=\"app.log\""
    );
    assert_eq!(log.headers()["x-content-type-options"], "nosniff");
    assert_eq!(&log.bytes().await.unwrap()[..], b"line one\nline two\n");
    let dump = download(1).await;
    assert_eq!(
        dump.headers()["content-type"],
        "application/octet-stream",
        "never text/html"
    );
    assert_eq!(
        dump.headers()["content-disposition"],
        "attachment; filename=\"core_dump.bin\""
    );
    assert_eq!(dump.bytes().await.unwrap().to_vec(), binary);

    let missing = format!("/api/0/projects/{p}/events/{}/attachments/999999/", id(2));
    assert_eq!(env.get(&env.member, &missing).await.0, StatusCode::NOT_FOUND);
    let wrong_event = format!(
        "/api/0/projects/{p}/events/{}/attachments/{}/",
        id(1),
        attachments[0]["id"].as_str().unwrap()
    );
    assert_eq!(env.get(&env.member, &wrong_event).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_organizations_issue_event_and_attachment_answer_404() {
    let env = start().await;
    env.send_to(
        env.project,
        KEY,
        envelope(
            &event(1, "ValueError", "bad"),
            &[("a.txt", "text/plain", b"secret")],
        ),
    )
    .await;
    env.processed().await;
    let issue = env.issue("ValueError").await;
    let p = env.project;
    let event = env
        .ok(&env.member, &format!("/api/0/projects/{p}/events/{}/", id(1)))
        .await;
    let attachment = event["attachments"][0]["id"].as_str().unwrap().to_owned();

    let eve = &env.outsider;
    for (method, path, body) in [
        (Method::GET, format!("/api/0/projects/{p}/issues/"), None),
        (
            Method::PUT,
            format!("/api/0/projects/{p}/issues/?id={issue}"),
            Some(json!({"status": "resolved"})),
        ),
        (
            Method::DELETE,
            format!("/api/0/projects/{p}/issues/?id={issue}"),
            None,
        ),
        (Method::GET, format!("/api/0/projects/{p}/events/"), None),
        (
            Method::GET,
            format!("/api/0/projects/{p}/events/{}/", id(1)),
            None,
        ),
        (
            Method::GET,
            format!("/api/0/projects/{p}/events/{}/attachments/{attachment}/", id(1)),
            None,
        ),
        (Method::GET, format!("/api/0/issues/{issue}/"), None),
        (
            Method::PUT,
            format!("/api/0/issues/{issue}/"),
            Some(json!({"status": "resolved"})),
        ),
        (Method::DELETE, format!("/api/0/issues/{issue}/"), None),
        (Method::GET, format!("/api/0/issues/{issue}/events/"), None),
        (Method::GET, format!("/api/0/issues/{issue}/stats/"), None),
        (Method::GET, format!("/api/0/issues/{issue}/comments/"), None),
        (
            Method::POST,
            format!("/api/0/issues/{issue}/comments/"),
            Some(json!({"body": "hi"})),
        ),
        (Method::GET, format!("/api/0/issues/{issue}/activity/"), None),
    ] {
        let (s, b) = env.call(eve, method.clone(), &path, body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {b}");
        assert_ne!(b["detail"], "no such endpoint", "{method} {path}");
    }
    // The event id of another organization's project, asked through one's own project: 404 too.
    let theirs = env.other_project;
    let (s, _) = env
        .get(eve, &format!("/api/0/projects/{theirs}/events/{}/", id(1)))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Nothing changed.
    let after = env.issue_json(&issue).await;
    assert_eq!(after["status"], "unresolved");
    assert!(
        env.ok(&env.member, &format!("/api/0/issues/{issue}/comments/"))
            .await
            == json!([])
    );
}

/// Every `.route("…")` path registered outside the dashboard (`src/web/`), read from the source.
fn registered_paths() -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().unwrap() != "web" {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let src = std::fs::read_to_string(&path).unwrap();
                for (i, _) in src.match_indices(".route(") {
                    let rest = src[i + ".route(".len()..].trim_start();
                    if let Some(lit) = rest.strip_prefix('"') {
                        out.insert(lit[..lit.find('"').unwrap()].to_owned());
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut out,
    );
    out
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_the_router_serves() {
    let env = start_with(|s| s.auth.api_per_ip_per_minute = 100_000).await;
    let resp = env.http.get(env.url("/api/0/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: Value = resp.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            assert!(op["summary"].is_string(), "{method} {path} has no summary");
            assert!(op["responses"].is_object(), "{method} {path} has no responses");
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }

    let paths = registered_paths();
    assert!(paths.contains("/api/0/issues/{issue_id}/comments/"), "{paths:?}");
    let all_paths: BTreeSet<String> = paths
        .iter()
        .cloned()
        .chain(documented.iter().map(|(_, p)| p.clone()))
        .collect();
    // Probe every method of every path, without credentials: a served route answers anything but
    // 405 or the fallback's 404.
    let mut served = BTreeSet::new();
    for path in &all_paths {
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            let resp = env
                .http
                .request(method.clone(), env.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            let fallback = status == StatusCode::NOT_FOUND && body.contains("no such endpoint");
            if status != StatusCode::METHOD_NOT_ALLOWED && !fallback {
                served.insert((method.to_string(), path.clone()));
            }
        }
    }
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in the OpenAPI document (add them to src/api/openapi/operations.rs): {undocumented:?}; \
         documented but not served: {unserved:?}"
    );
}

/// An envelope of `session`/`sessions` items, framed as the SDKs frame them (length headers).
fn session_envelope(items: &[(&str, Value)]) -> Vec<u8> {
    let mut out = format!("{}\n", json!({"sent_at": "2027-01-15T08:00:00Z"})).into_bytes();
    for (ty, payload) in items {
        let body = payload.to_string();
        out.extend_from_slice(format!("{}\n{body}\n", json!({"type": ty, "length": body.len()})).as_bytes());
    }
    out
}

#[tokio::test]
async fn releases_count_events_new_issues_and_session_health_end_to_end() {
    let env = start().await;
    // 1.0.0 first: AError starts there.
    env.send(&[event(1, "AError", "a")]).await;
    env.clock.advance(HOUR);
    let mut b = event(2, "BError", "b");
    b["release"] = json!("app@2.0.0");
    let mut a_again = event(3, "AError", "a");
    a_again["release"] = json!("app@2.0.0");
    env.send(&[b, a_again]).await;

    // Shaped like the SDKs send them: application-mode updates (init, then the terminal update
    // of the same sid) and a server-mode aggregate, as sentry-python's session flusher does.
    let started = "2027-01-15T09:00:00.000000Z";
    let attrs = json!({"release": "app@2.0.0", "environment": "production"});
    let update = |sid: &str, did: &str, init: bool, status: &str, errors: u32| {
        let mut u = json!({"sid": sid, "did": did, "started": started, "status": status,
            "errors": errors, "duration": 1.5, "timestamp": started, "attrs": attrs});
        if init {
            u["init"] = json!(true);
        }
        u
    };
    let sid_a = "9d1e7f1c-5b0a-4c0e-9f43-0d2b0f9c1a01";
    let sid_b = "9d1e7f1c-5b0a-4c0e-9f43-0d2b0f9c1a02";
    let body = session_envelope(&[
        ("session", update(sid_a, "u1", true, "ok", 0)),
        ("session", update(sid_b, "u2", true, "ok", 0)),
    ]);
    env.send_to(env.project, KEY, body).await;
    let body = session_envelope(&[
        ("session", update(sid_a, "u1", false, "ok", 1)),
        ("session", update(sid_a, "u1", false, "exited", 1)),
        ("session", update(sid_b, "u2", false, "crashed", 1)),
        (
            "sessions",
            json!({"attrs": attrs, "aggregates": [
                {"started": "2027-01-15T09:00:00Z", "did": "u3", "exited": 2},
                {"started": "2027-01-15T09:01:00Z", "exited": 1, "crashed": 1},
            ]}),
        ),
        // Malformed: no release. Counted as an invalid outcome, nothing else.
        (
            "session",
            json!({"sid": sid_a, "init": true, "started": started, "attrs": {}}),
        ),
    ]);
    env.send_to(env.project, KEY, body).await;
    env.processed().await;

    let path = format!("/api/0/projects/{}/releases/", env.project);
    let list = env.ok(&env.member, &path).await;
    let data = list["data"].as_array().unwrap();
    let versions: Vec<&str> = data.iter().map(|r| r["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["app@2.0.0", "app@1.0.0"], "newest first");
    let v2 = &data[0];
    assert_eq!(v2["events"], 2);
    assert_eq!(v2["new_issues"], 1, "BError; AError is older");
    assert_eq!(v2["first_event"], "2027-01-15T09:00:00.000Z");
    // Sessions: a (errored), b (crashed), and 4 aggregated (1 crashed).
    assert_eq!(
        (
            v2["sessions"].as_u64(),
            v2["sessions_errored"].as_u64(),
            v2["sessions_crashed"].as_u64(),
            v2["sessions_abnormal"].as_u64()
        ),
        (Some(6), Some(1), Some(2), Some(0)),
        "{v2}"
    );
    assert_eq!(
        (v2["users"].as_u64(), v2["users_crashed"].as_u64()),
        (Some(3), Some(1))
    );
    let rate = v2["crash_free_sessions"].as_f64().unwrap();
    assert!((rate - 200.0 / 3.0).abs() < 1e-9, "{rate}");
    let users_rate = v2["crash_free_users"].as_f64().unwrap();
    assert!((users_rate - 200.0 / 3.0).abs() < 1e-9, "{users_rate}");
    let v1 = &data[1];
    assert_eq!(
        (v1["events"].as_u64(), v1["new_issues"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(v1["crash_free_sessions"], Value::Null);

    let outcomes = env
        .store
        .outcome_totals(env.project, T0 - HOUR, T0 + 2 * HOUR)
        .await
        .unwrap();
    let invalid: u64 = outcomes
        .iter()
        .filter(|o| o.category == "session" && o.outcome == "invalid")
        .map(|o| o.quantity)
        .sum();
    assert_eq!(invalid, 1, "{outcomes:?}");

    // A page at a time.
    let first = env.ok(&env.member, &format!("{path}?limit=1")).await;
    assert_eq!(first["data"][0]["version"], "app@2.0.0");
    let cursor = first["pagination"]["next_cursor"].as_str().unwrap();
    let second = env
        .ok(
            &env.member,
            &format!("{path}?limit=1&cursor={}", url_encode(cursor)),
        )
        .await;
    assert_eq!(second["data"][0]["version"], "app@1.0.0");
    assert_eq!(second["pagination"]["has_more"], false);

    // One release, URL-encoded, with the issues it introduced.
    let detail = env
        .ok(&env.member, &format!("{path}{}/", url_encode("app@2.0.0")))
        .await;
    assert_eq!(detail["sessions"], 6);
    let titles: Vec<&str> = detail["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["BError: b"]);
    let (status, _) = env.get(&env.member, &format!("{path}app%403.0/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another organization's member sees nothing.
    let (status, _) = env.get(&env.outsider, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = env.get(&env.outsider, &format!("{path}app%402.0.0/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
