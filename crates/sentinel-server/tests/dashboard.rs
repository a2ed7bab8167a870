//! The dashboard over HTTP, as a browser without JavaScript sees it: first-run set-up, sign-in and
//! sign-out, CSRF and cross-origin refusal, security headers, throttled sign-in, organization
//! isolation of every page, the issue, monitor and maintenance-window forms, and hostile event data
//! rendered inert on every page. A real server on port 0 over SQLite, or PostgreSQL with
//! `SENTINEL_TEST_BACKEND=postgres`. (Real Chromium runs the same flows in
//! `crates/sentinel/tests/browser.rs`.)
#![expect(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use sentinel_server::Server;
use sentinel_server::clock::SystemClock;
use sentinel_server::config::Settings;
use sentinel_store::{IssueQuery, NewUser, OrgRole, Store};
use serde_json::{Value, json};
use support::api::PASSWORD;
use support::web::Browser;
use support::{PgSchema, open_store};

const KEY: &str = "0123456789abcdef0123456789abcdef";

struct Env {
    server: Server,
    store: Arc<dyn Store>,
    project: i64,
    _dir: tempfile::TempDir,
    _schema: Option<PgSchema>,
}

async fn start_with(edit: impl FnOnce(&mut Settings)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (store, schema) = open_store(dir.path()).await;
    let (project, _) = store
        .create_project("default", "app", "other", KEY, 0)
        .await
        .unwrap();
    let mut settings = Settings {
        data_dir: dir.path().into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Settings::default()
    };
    edit(&mut settings);
    let server = Server::start(settings, store.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    Env {
        server,
        store,
        project: project.id,
        _dir: dir,
        _schema: schema,
    }
}

impl Env {
    /// A browser without cookies for this server.
    fn browser(&self) -> Browser {
        Browser::new(self.server.base_url())
    }
}

/// Sends one event through the real ingest endpoint.
async fn send_event(env: &Env, project: i64, key: &str, event: Value) {
    let envelope = format!(
        "{}\n{}\n{}\n",
        json!({"event_id": event["event_id"]}),
        json!({"type": "event"}),
        event
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/api/{project}/envelope/", env.server.base_url()))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_version=7, sentry_key={key}, sentry_client=test/1"),
        )
        .body(envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
}

/// Waits until the project has `n` issues; returns their ids, newest first.
async fn wait_for_issues(env: &Env, project: i64, n: usize) -> Vec<i64> {
    for _ in 0..200 {
        let page = env
            .store
            .list_issues(&IssueQuery {
                project_id: project,
                limit: 50,
                ..IssueQuery::default()
            })
            .await
            .unwrap();
        if page.items.len() >= n {
            return page.items.iter().map(|i| i.id).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("project {project} never got {n} issues");
}

const SCRIPT: &str = "<script>alert('xss')</script>";
const IMG: &str = "\"><img src=x onerror=alert(1)>";

fn hostile_event(id: &str) -> Value {
    json!({
        "event_id": id,
        "platform": "python",
        "level": "error",
        "release": IMG,
        "environment": SCRIPT,
        "message": format!("message {SCRIPT}"),
        "tags": {"customer": IMG, SCRIPT: "tag key"},
        "user": {"id": SCRIPT, "email": IMG},
        "request": {"url": format!("https://shop.example/{IMG}"), "method": "GET", "headers": {"X-Evil": SCRIPT}},
        "breadcrumbs": {"values": [{"timestamp": 1_700_000_000.0, "category": SCRIPT, "message": IMG, "data": {"k": SCRIPT}}]},
        "contexts": {"os": {"name": SCRIPT}},
        "exception": {"values": [{
            "type": format!("Evil{SCRIPT}"),
            "value": IMG,
            "stacktrace": {"frames": [{
                "function": SCRIPT, "filename": IMG, "lineno": 3, "in_app": true,
                "pre_context": [SCRIPT], "context_line": IMG, "post_context": [SCRIPT],
                "vars": {"x": SCRIPT}
            }]}
        }]}
    })
}

#[tokio::test]
async fn the_first_visit_sets_up_the_admin_who_takes_over_the_default_organization() {
    let env = start_with(|_| {}).await;
    let mut b = env.browser();
    let home = b.get("/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), "/setup");

    let setup = b.get("/setup").await;
    assert_eq!(setup.status, StatusCode::OK);
    let cookie = setup.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    // A weak password is refused with the reason, and nothing is created.
    let weak = b
        .submit(
            "/setup",
            "/setup",
            &[
                ("name", "Ann"),
                ("email", "ann@example.com"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.body.contains("at least 8 characters"), "{}", weak.body);
    assert_eq!(env.store.count_users().await.unwrap(), 0);

    let done = b
        .submit(
            "/setup",
            "/setup",
            &[
                ("name", "Ann Admin"),
                ("email", "Ann@Example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/orgs/default/");
    let session = done
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("sentinel_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );

    let org = b.get("/orgs/default/").await;
    assert_eq!(org.status, StatusCode::OK);
    assert!(
        org.body.contains(">app</a>"),
        "the project made before accounts is listed:\n{}",
        org.body
    );
    let admin = env
        .store
        .find_user_by_email("ann@example.com")
        .await
        .unwrap()
        .unwrap();
    let default = env.store.get_organization("default").await.unwrap().unwrap();
    assert_eq!(
        env.store.member_role(default.id, admin.id).await.unwrap(),
        Some(OrgRole::Owner)
    );

    // Set-up happens once; afterwards it leads to the sign-in page.
    let again = env.browser().get("/setup").await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(again.location(), "/login");
}

#[tokio::test]
async fn sign_in_leads_back_to_the_page_asked_for_and_sign_out_ends_the_session() {
    let env = start_with(|_| {}).await;
    env.browser().setup_admin().await;
    let mut b = env.browser();
    let asked = b.get("/orgs/default/members/").await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    assert_eq!(asked.location(), "/login?next=%2Forgs%2Fdefault%2Fmembers%2F");

    let csrf = b.get("/login?next=%2Forgs%2Fdefault%2Fmembers%2F").await.csrf();
    let wrong = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("password", "not it at all"),
                ("next", "/orgs/default/members/"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("class=\"flash error\""), "{}", wrong.body);

    let ok = b
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
                ("next", "/orgs/default/members/"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location(), "/orgs/default/members/");
    let members = b.get("/orgs/default/members/").await;
    assert_eq!(members.status, StatusCode::OK);
    assert!(members.body.contains("ann@example.com"));

    // An off-site `next` is not followed.
    let mut c = env.browser();
    let csrf = c.get("/login").await.csrf();
    let off = c
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(off.location(), "/");

    let stolen = b.cookies.clone();
    let out = b.submit("/orgs/default/", "/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let mut replay = env.browser();
    replay.cookies = stolen;
    let after = replay.get("/orgs/default/").await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "the old session cookie must be dead"
    );
    assert!(after.location().starts_with("/login"));
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_throttled_even_with_the_right_password_next() {
    let env = start_with(|s| s.auth.login_attempts = 3).await;
    env.browser().setup_admin().await;
    let mut b = env.browser();
    for _ in 0..3 {
        let page = b.sign_in("ann@example.com", "wrong password").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = b.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        blocked.body.contains("too many failed sign-ins"),
        "{}",
        blocked.body
    );
}

#[tokio::test]
async fn forms_without_the_session_csrf_token_or_from_another_origin_are_refused() {
    let env = start_with(|_| {}).await;
    send_event(
        &env,
        env.project,
        KEY,
        json!({"event_id": "a".repeat(32), "message": "boom"}),
    )
    .await;
    let issue = wait_for_issues(&env, env.project, 1).await[0];
    let mut b = env.browser();
    b.setup_admin().await;
    let path = format!("/orgs/default/issues/{issue}/comments");

    let none = b.post(&path, &[("body", "hi")]).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    let wrong = b
        .post(&path, &[("csrf", "0".repeat(40).as_str()), ("body", "hi")])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);

    let csrf = b.get(&format!("/orgs/default/issues/{issue}/")).await.csrf();
    let cross = b
        .http
        .post(format!("{}{path}", b.base))
        .header("cookie", b.cookie_header())
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str()), ("body", "hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    assert!(env.store.list_comments(issue).await.unwrap().is_empty());

    let ok = b.post(&path, &[("csrf", &csrf), ("body", "hi")]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(env.store.list_comments(issue).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_issue_forms_resolve_assign_comment_and_log_the_activity() {
    let env = start_with(|_| {}).await;
    send_event(
        &env,
        env.project,
        KEY,
        json!({"event_id": "b".repeat(32), "message": "boom", "release": "1.0"}),
    )
    .await;
    let issue = wait_for_issues(&env, env.project, 1).await[0];
    let mut b = env.browser();
    b.setup_admin().await;
    let page = format!("/orgs/default/issues/{issue}/");
    let admin = env
        .store
        .find_user_by_email("ann@example.com")
        .await
        .unwrap()
        .unwrap();

    let resolved = b
        .submit(
            &page,
            &format!("{page}status"),
            &[("status", "resolvedInNextRelease")],
        )
        .await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER);
    let assigned = b
        .submit(
            &page,
            &format!("{page}assign"),
            &[("assignee", &admin.id.to_string())],
        )
        .await;
    assert_eq!(assigned.status, StatusCode::SEE_OTHER);
    b.submit(&page, &format!("{page}comments"), &[("body", "looking into it")])
        .await;

    let shown = b.get(&page).await;
    assert!(
        shown.body.contains("id=\"issue-status\">resolved<"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("resolved in the next release after 1.0"));
    assert!(shown.body.contains("assigned to Ann Admin"));
    assert!(shown.body.contains("looking into it"));
    assert!(shown.body.contains("left a comment"));

    let bad = b
        .submit(
            &page,
            &format!("{page}status"),
            &[("status", "ignored"), ("ignore_count", "-3")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("invalid ignore count"), "{}", bad.body);

    let bulk = b
        .submit(
            "/orgs/default/projects/app/issues/",
            "/orgs/default/projects/app/issues/bulk",
            &[("id", &issue.to_string()), ("action", "unresolved")],
        )
        .await;
    assert_eq!(bulk.status, StatusCode::SEE_OTHER);
    let list = b
        .get("/orgs/default/projects/app/issues/?query=is%3Aunresolved")
        .await;
    assert!(
        list.body.contains(&format!("data-issue-id=\"{issue}\"")),
        "{}",
        list.body
    );

    let deleted = b.submit(&page, &format!("{page}delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(b.get(&page).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_of_another_organization_answer_404() {
    let env = start_with(|_| {}).await;
    send_event(
        &env,
        env.project,
        KEY,
        json!({"event_id": "c".repeat(32), "message": "secret"}),
    )
    .await;
    let issue = wait_for_issues(&env, env.project, 1).await[0];
    env.browser().setup_admin().await;

    // Mallory has her own organization and no part in `default`.
    let mut m = Browser::outsider(env.server.base_url(), env.store.as_ref()).await;
    assert_eq!(m.get("/orgs/mallory-org/").await.status, StatusCode::OK);

    for path in [
        "/orgs/default/".to_owned(),
        "/orgs/default/members/".to_owned(),
        "/orgs/default/projects/app/".to_owned(),
        "/orgs/default/projects/app/issues/".to_owned(),
        "/orgs/default/projects/app/events/".to_owned(),
        "/orgs/default/projects/app/releases/".to_owned(),
        "/orgs/default/projects/app/settings/".to_owned(),
        format!("/orgs/default/issues/{issue}/"),
        format!("/orgs/mallory-org/issues/{issue}/"),
        format!("/orgs/default/issues/{issue}/counts"),
        format!("/orgs/default/issues/{issue}/events/{}/json", "c".repeat(32)),
    ] {
        let page = m.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("secret"), "{path} leaked the issue");
    }
    let csrf = m.get("/orgs/mallory-org/").await.csrf();
    let change = m
        .post(
            &format!("/orgs/mallory-org/issues/{issue}/status"),
            &[("csrf", &csrf), ("status", "resolved")],
        )
        .await;
    assert_eq!(change.status, StatusCode::NOT_FOUND);
    let unchanged = env.store.get_issue(issue).await.unwrap().unwrap();
    assert_eq!(unchanged.status.as_str(), "unresolved");
}

#[tokio::test]
async fn hostile_event_data_is_rendered_inert_on_every_page() {
    let env = start_with(|_| {}).await;
    let id = "d".repeat(32);
    send_event(&env, env.project, KEY, hostile_event(&id)).await;
    let issue = wait_for_issues(&env, env.project, 1).await[0];
    let mut b = env.browser();
    b.setup_admin().await;
    let pages = [
        "/orgs/default/".to_owned(),
        "/orgs/default/projects/app/".to_owned(),
        "/orgs/default/projects/app/issues/".to_owned(),
        "/orgs/default/projects/app/issues/?query=Evil".to_owned(),
        "/orgs/default/projects/app/events/".to_owned(),
        "/orgs/default/projects/app/releases/".to_owned(),
        format!("/orgs/default/projects/app/releases/{}/", path_segment(IMG)),
        "/orgs/default/projects/app/settings/".to_owned(),
        format!("/orgs/default/issues/{issue}/"),
        format!("/orgs/default/issues/{issue}/events/{id}/"),
        "/orgs/default/members/".to_owned(),
        "/account".to_owned(),
    ];
    for path in &pages {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(
            !page.body.contains("<script>alert"),
            "{path} has a live script tag"
        );
        assert!(!page.body.contains("<img src=x"), "{path} has a live img tag");
        let csp = page
            .headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(page.headers.get("x-content-type-options").unwrap(), "nosniff");
        assert_eq!(page.headers.get("x-frame-options").unwrap(), "DENY");
        assert!(page.headers.contains_key("referrer-policy"));
    }
    // The data is shown, escaped.
    let issue_page = b.get(&format!("/orgs/default/issues/{issue}/")).await.body;
    assert!(issue_page.contains("&#60;script&#62;alert"), "{issue_page}");
    assert!(
        issue_page.contains("&#34;&#62;&#60;img src=x onerror=alert(1)&#62;"),
        "{issue_page}"
    );
    // The raw JSON is served as JSON, never as HTML.
    let raw = b
        .get(&format!("/orgs/default/issues/{issue}/events/{id}/json"))
        .await;
    assert_eq!(raw.headers.get("content-type").unwrap(), "application/json");
    assert!(
        raw.body.contains("Evil<script>"),
        "the raw JSON keeps the data as sent"
    );
}

/// `s` as one URL path segment.
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends one envelope of `(item type, payload)` items through the real ingest endpoint.
async fn send_items(env: &Env, items: &[(&str, Value)]) {
    let mut body = "{}\n".to_owned();
    for (ty, payload) in items {
        body.push_str(&format!("{}\n{payload}\n", json!({"type": ty})));
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/api/{}/envelope/", env.server.base_url(), env.project))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_version=7, sentry_key={KEY}, sentry_client=test/1"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn the_releases_pages_show_events_new_issues_and_crash_free_rates() {
    let env = start_with(|_| {}).await;
    send_event(
        &env,
        env.project,
        KEY,
        json!({"event_id": "e".repeat(32), "release": "shop@2.1 beta", "exception": {"values": [{"type": "KeyError", "value": "sku"}]}}),
    )
    .await;
    let issue = wait_for_issues(&env, env.project, 1).await[0];
    let started = "2027-01-15T08:00:00Z";
    send_items(
        &env,
        &[
            (
                "sessions",
                json!({"attrs": {"release": "shop@2.1 beta"}, "aggregates": [
                    {"started": started, "did": "u1", "exited": 2},
                    {"started": started, "did": "u2", "crashed": 1},
                    {"started": started, "exited": 1},
                ]}),
            ),
            (
                "session",
                json!({"sid": "4c4c1e6b-0000-4000-8000-000000000001", "did": "u3", "init": true,
                       "started": started, "status": "exited", "errors": 0, "attrs": {"release": "shop@2.1 beta"}}),
            ),
        ],
    )
    .await;
    let mut release = None;
    for _ in 0..200 {
        release = env.store.get_release(env.project, "shop@2.1 beta").await.unwrap();
        if release.as_ref().is_some_and(|r| r.sessions == 5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(release.map(|r| (r.sessions, r.users)), Some((5, 3)));

    let mut b = env.browser();
    b.setup_admin().await;
    let list = b.get("/orgs/default/projects/app/releases/").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.body.contains("class=\"active\">Releases</a>"),
        "the nav entry is active"
    );
    assert!(list.body.contains("shop@2.1 beta"), "{}", list.body);
    // 1 crashed of 5 sessions; 1 crashed of 3 users.
    assert!(
        list.body
            .contains("<td class=\"count crash-free-sessions\">80 %</td>"),
        "{}",
        list.body
    );
    assert!(
        list.body
            .contains("<td class=\"count crash-free-users\">66.67 %</td>"),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("<td class=\"count new-issues\">1</td>"),
        "{}",
        list.body
    );
    let link = "/orgs/default/projects/app/releases/shop%402.1%20beta/";
    assert!(list.body.contains(link), "{}", list.body);

    let detail = b.get(link).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert!(
        detail.body.contains(&format!("/orgs/default/issues/{issue}/")),
        "links its new issue"
    );
    assert!(detail.body.contains("KeyError"), "{}", detail.body);
    assert_eq!(
        b.get("/orgs/default/projects/app/releases/nope/").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_invitation_link_creates_the_account_and_joins_with_its_role_once() {
    let env = start_with(|_| {}).await;
    let mut admin = env.browser();
    admin.setup_admin().await;
    let invited = admin
        .submit(
            "/orgs/default/members/",
            "/orgs/default/members/",
            &[("email", "Bob@Example.com"), ("role", "member")],
        )
        .await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);
    let marker = "id=\"invite-link\">";
    let at = invited.body.find(marker).unwrap() + marker.len();
    let link = &invited.body[at..at + invited.body[at..].find('<').unwrap()];
    let path = link.strip_prefix(&env.server.base_url()).unwrap().to_owned();

    let mut bob = env.browser();
    let page = bob.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("bob@example.com") && page.body.contains("member"),
        "{}",
        page.body
    );
    let joined = bob
        .submit(&path, &path, &[("name", "Bob"), ("password", PASSWORD)])
        .await;
    assert_eq!(joined.status, StatusCode::SEE_OTHER, "{}", joined.body);
    assert_eq!(joined.location(), "/orgs/default/");
    let members = bob.get("/orgs/default/members/").await;
    assert_eq!(members.status, StatusCode::OK);
    assert!(members.body.contains("bob@example.com"));
    assert!(
        !members.body.contains("id=\"invite-member-form\""),
        "members cannot invite"
    );
    // A member cannot create projects.
    assert_eq!(
        bob.get("/orgs/default/projects/new").await.status,
        StatusCode::FORBIDDEN
    );

    // The link worked once.
    let again = env.browser().get(&path).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn attachments_of_an_event_are_listed_on_its_page_and_download_as_sent() {
    let env = start_with(|_| {}).await;
    let id = "e".repeat(32);
    let log = "line one\nline <two> & three\n";
    let envelope = format!(
        "{}\n{}\n{}\n{}\n{log}\n",
        json!({"event_id": id}),
        json!({"type": "event"}),
        json!({"event_id": id, "message": "with a log"}),
        json!({"type": "attachment", "length": log.len(), "filename": "../app log.txt", "content_type": "text/html"}),
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/api/{}/envelope/", env.server.base_url(), env.project))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_version=7, sentry_key={KEY}"),
        )
        .body(envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let issue = wait_for_issues(&env, env.project, 1).await[0];
    let mut b = env.browser();
    b.setup_admin().await;
    let mut page = b.get(&format!("/orgs/default/issues/{issue}/")).await;
    for _ in 0..100 {
        if page.body.contains("id=\"attachments\"") {
            break;
        }
        // The attachment item is stored by the same batch as the event; a later batch at worst.
        tokio::time::sleep(Duration::from_millis(50)).await;
        page = b.get(&format!("/orgs/default/issues/{issue}/")).await;
    }
    let marker = "/attachments/";
    let at = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no attachment link:\n{}", page.body));
    let start = page.body[..at].rfind('"').unwrap() + 1;
    let end = at + page.body[at..].find('"').unwrap();
    let link = page.body[start..end].to_owned();
    assert!(
        page.body.contains("../app log.txt"),
        "the name is listed as sent (escaped)"
    );

    let download = b.get(&link).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, log);
    let disposition = download
        .headers
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(disposition, "attachment; filename=\"app_log.txt\"");
    // An active content type is never passed through.
    assert_eq!(
        download.headers.get("content-type").unwrap(),
        "application/octet-stream"
    );
}

#[tokio::test]
async fn the_monitors_pages_add_show_pause_and_delete_a_monitor() {
    let env = start_with(|_| {}).await;
    let mut b = env.browser();
    b.setup_admin().await;
    let list_path = "/orgs/default/projects/app/monitors/";
    let empty = b.get(list_path).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("No monitors yet"), "{}", empty.body);

    // A mistake is shown with the field's name, and what was entered stays in the form.
    let refused = b
        .submit(
            list_path,
            list_path,
            &[
                ("type", "http"),
                ("name", "Shop"),
                ("url", "https://shop.test/health"),
                ("interval_seconds", "5"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused
            .body
            .contains("interval_seconds must be a whole number from 10"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"https://shop.test/health\""));
    assert!(
        env.store
            .list_monitors(env.project, 10, None)
            .await
            .unwrap()
            .is_empty()
    );

    // A TCP monitor: created, then its page.
    let created = b
        .submit(
            list_path,
            list_path,
            &[
                ("type", "tcp"),
                ("name", "Database <primary>"),
                ("host", "127.0.0.1"),
                ("port", "9"),
                ("interval_seconds", "30"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let page_path = created.location().to_owned();
    let monitors = env.store.list_monitors(env.project, 10, None).await.unwrap();
    assert_eq!(monitors.len(), 1);
    assert_eq!(page_path, format!("/orgs/default/monitors/{}/", monitors[0].id));
    let page = b.get(&page_path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Database &#60;primary&#62;") || page.body.contains("Database &lt;primary&gt;"),
        "name not escaped: {}",
        page.body
    );
    assert!(page.body.contains("<code>127.0.0.1:9</code>"));
    assert!(
        page.body.contains("id=\"monitor-status\">pending<"),
        "{}",
        page.body
    );
    let listed = b.get(list_path).await;
    assert!(listed.body.contains("class=\"monitor-row\""), "{}", listed.body);

    // Pause, then delete.
    let action = format!("{page_path}action");
    let paused = b.submit(&page_path, &action, &[("action", "pause")]).await;
    assert_eq!(paused.status, StatusCode::SEE_OTHER);
    assert!(
        b.get(&page_path)
            .await
            .body
            .contains("id=\"monitor-status\">paused<")
    );
    assert!(
        !env.store
            .get_monitor(monitors[0].id)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    let deleted = b.submit(&page_path, &action, &[("action", "delete")]).await;
    assert_eq!(deleted.location(), list_path);
    assert_eq!(b.get(&page_path).await.status, StatusCode::NOT_FOUND);

    // A heartbeat on a crontab: its page shows the ping URL with the project's key.
    let created = b
        .submit(
            list_path,
            list_path,
            &[
                ("type", "heartbeat"),
                ("name", "Nightly backup"),
                ("schedule", "0 3 * * *"),
                ("timezone", "Europe/Berlin"),
                ("grace_seconds", "300"),
                ("interval_seconds", "60"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let page = b.get(created.location()).await;
    let key = env.store.project_keys(env.project).await.unwrap()[0]
        .public_key
        .clone();
    assert!(
        page.body.contains(&format!("/api/0/cron/nightly-backup/{key}/")),
        "no ping URL: {}",
        page.body
    );
    assert!(page.body.contains("0 3 * * *"), "{}", page.body);
    // A DNS monitor from the form.
    let created = b
        .submit(
            list_path,
            list_path,
            &[
                ("type", "dns"),
                ("host", "shop.test"),
                ("record_type", "TXT"),
                ("expected", "v=spf1 -all"),
                ("interval_seconds", "60"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let dns = env.store.list_monitors(env.project, 10, None).await.unwrap();
    let dns = dns.iter().find(|m| m.kind.as_str() == "dns").unwrap();
    assert_eq!(dns.config["record_type"], "TXT", "{:?}", dns.config);
}

/// A TCP monitor added through the form; its id.
async fn add_tcp_monitor(env: &Env, b: &mut Browser, name: &str) -> i64 {
    let list_path = "/orgs/default/projects/app/monitors/";
    let created = b
        .submit(
            list_path,
            list_path,
            &[
                ("type", "tcp"),
                ("name", name),
                ("host", "127.0.0.1"),
                ("port", "9"),
                ("interval_seconds", "30"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let monitors = env.store.list_monitors(env.project, 10, None).await.unwrap();
    monitors.iter().find(|m| m.name == name).unwrap().id
}

#[tokio::test]
async fn the_maintenance_page_plans_lists_and_deletes_windows_through_its_form() {
    use sentinel_server::clock::{Clock, rfc3339};
    let env = start_with(|_| {}).await;
    let mut b = env.browser();
    b.setup_admin().await;
    let monitor = add_tcp_monitor(&env, &mut b, "Database <primary>").await;
    let monitors_path = "/orgs/default/projects/app/monitors/";
    let path = "/orgs/default/projects/app/monitors/maintenance/";

    // The monitors page links to it.
    let list = b.get(monitors_path).await;
    assert!(
        list.body
            .contains(&format!("id=\"maintenance-link\" href=\"{path}\"")),
        "{}",
        list.body
    );
    let empty = b.get(path).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("No maintenance windows"), "{}", empty.body);
    assert!(
        empty.body.contains(&format!(
            "<option value=\"{monitor}\" >Database &#60;primary&#62;</option>"
        )),
        "the monitor is offered, escaped: {}",
        empty.body
    );

    // A bad crontab: the parser's message, what was entered kept, nothing created.
    let refused = b
        .submit(
            path,
            path,
            &[
                ("name", "Nightly <b>"),
                ("kind", "recurring"),
                ("schedule", "every night"),
                ("duration_minutes", "30"),
                ("timezone", "Europe/Berlin"),
                ("monitor_ids", &monitor.to_string()),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains(
            "schedule &#34;every night&#34; must be a crontab expression of 5 fields (minute hour day month weekday)"
        ),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"every night\""));
    assert!(refused.body.contains("value=\"Nightly &#60;b&#62;\""));
    assert!(refused.body.contains("value=\"Europe/Berlin\""));
    assert!(refused.body.contains("<option value=\"recurring\" selected>"));
    assert!(
        refused
            .body
            .contains(&format!("<option value=\"{monitor}\" selected>"))
    );
    assert!(env.store.list_maintenance(env.project).await.unwrap().is_empty());

    // A one-off window on now, for the monitor: listed as active, and the monitor shows
    // `maintenance` on the monitors page and its own.
    let now = SystemClock.now_ms();
    let (starts, ends) = (rfc3339(now - 60_000), rfc3339(now + 3_600_000));
    let created = b
        .submit(
            path,
            path,
            &[
                ("name", "Upgrade <db>"),
                ("kind", "once"),
                ("starts_at", &starts),
                ("ends_at", &ends),
                ("monitor_ids", &monitor.to_string()),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert_eq!(created.location(), path);
    let windows = env.store.list_maintenance(env.project).await.unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].monitor_ids, vec![monitor]);
    let listed = b.get(path).await;
    assert!(listed.body.contains("class=\"window-row\""), "{}", listed.body);
    assert!(listed.body.contains("Upgrade &#60;db&#62;"), "{}", listed.body);
    assert!(listed.body.contains("window-active"), "{}", listed.body);
    assert!(
        listed
            .body
            .contains("<td class=\"window-monitors\">Database &#60;primary&#62;</td>"),
        "{}",
        listed.body
    );
    let list = b.get(monitors_path).await;
    assert!(
        list.body
            .contains("<span class=\"badge monitor-maintenance\">maintenance</span>"),
        "{}",
        list.body
    );
    let page = b.get(&format!("/orgs/default/monitors/{monitor}/")).await;
    assert!(
        page.body.contains("id=\"monitor-status\">maintenance<"),
        "{}",
        page.body
    );

    // A recurring one for every monitor, with its next occurrence: half a day from now, so it is
    // not in progress whatever the time the test runs (the monitor's status is checked below).
    let utc_hour = sentinel_server::clock::Clock::now_ms(&SystemClock) / 3_600_000 % 24;
    let schedule = format!("0 {} * * *", (utc_hour + 12) % 24);
    let created = b
        .submit(
            path,
            path,
            &[
                ("name", "Backups"),
                ("kind", "recurring"),
                ("schedule", schedule.as_str()),
                ("duration_minutes", "45"),
                ("timezone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let listed = b.get(path).await;
    assert!(
        listed
            .body
            .contains(&format!("<code>{schedule}</code> (Europe/Berlin)")),
        "{}",
        listed.body
    );
    assert!(listed.body.contains("class=\"window-next\""), "{}", listed.body);
    assert!(listed.body.contains("All monitors"), "{}", listed.body);

    // Deleting removes the window, and the monitor is back to its own status.
    let id = windows[0].id;
    let deleted = b.submit(path, &format!("{path}{id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    assert!(env.store.get_maintenance(id).await.unwrap().is_none());
    let listed = b.get(path).await;
    assert!(!listed.body.contains("Upgrade &#60;db&#62;"), "{}", listed.body);
    let page = b.get(&format!("/orgs/default/monitors/{monitor}/")).await;
    assert!(
        page.body.contains("id=\"monitor-status\">pending<"),
        "{}",
        page.body
    );
    // Twice: gone.
    let again = b.submit(path, &format!("{path}{id}/delete"), &[]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_maintenance_page_is_for_members_only() {
    use sentinel_server::clock::{Clock, rfc3339};
    let env = start_with(|_| {}).await;
    let mut admin = env.browser();
    admin.setup_admin().await;
    let monitor = add_tcp_monitor(&env, &mut admin, "Shop").await;
    let path = "/orgs/default/projects/app/monitors/maintenance/";
    let now = SystemClock.now_ms();
    let (starts, ends) = (rfc3339(now + 3_600_000), rfc3339(now + 7_200_000));
    let window = [
        ("name", "Upgrade"),
        ("kind", "once"),
        ("starts_at", starts.as_str()),
        ("ends_at", ends.as_str()),
    ];
    let created = admin.submit(path, path, &window).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let id = env.store.list_maintenance(env.project).await.unwrap()[0].id;

    // Mallory has her own organization and no part in `default`: 404 for every page and form,
    // also through a project of her own.
    let mut m = Browser::outsider(env.server.base_url(), env.store.as_ref()).await;
    let own = "/orgs/mallory-org/";
    assert_eq!(m.get(path).await.status, StatusCode::NOT_FOUND);
    let add = m.submit(own, path, &window).await;
    assert_eq!(add.status, StatusCode::NOT_FOUND);
    for delete in [
        format!("{path}{id}/delete"),
        format!("/orgs/mallory-org/projects/app/monitors/maintenance/{id}/delete"),
    ] {
        let page = m.submit(own, &delete, &[]).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{delete}");
    }
    assert_eq!(env.store.list_maintenance(env.project).await.unwrap().len(), 1);

    // Signed out: to the sign-in page; without the session's CSRF token: refused.
    let mut anonymous = env.browser();
    let page = anonymous.get(path).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/login?next="), "{}", page.location());
    let forged = admin
        .post(&format!("{path}{id}/delete"), &[("csrf", "forged")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(env.store.list_maintenance(env.project).await.unwrap().len(), 1);

    // A member (the lowest role) plans and ends windows, as with the monitor form; there is no
    // read-only role to refuse.
    let hash = sentinel_server::auth::password::hash(PASSWORD.into())
        .await
        .unwrap();
    let bob = env
        .store
        .create_user(
            &NewUser {
                email: "bob@example.com".into(),
                name: "Bob".into(),
                password_hash: hash,
                is_admin: false,
            },
            0,
        )
        .await
        .unwrap();
    let org = env.store.get_organization("default").await.unwrap().unwrap();
    env.store
        .add_member(org.id, bob.id, OrgRole::Member, 0)
        .await
        .unwrap();
    let mut bob = env.browser();
    assert_eq!(
        bob.sign_in("bob@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let picked = monitor.to_string();
    let mut for_shop = window.to_vec();
    for_shop.push(("monitor_ids", &picked));
    assert_eq!(
        bob.submit(path, path, &for_shop).await.status,
        StatusCode::SEE_OTHER
    );
    let deleted = bob.submit(path, &format!("{path}{id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let left = env.store.list_maintenance(env.project).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].monitor_ids, vec![monitor]);
}
