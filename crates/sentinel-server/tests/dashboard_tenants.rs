//! The dashboard's Tenants pages over HTTP, as a browser without JavaScript sees them: the empty
//! state, the ranking of a batch of request events (acme has 68 % of the 5xx), the other
//! rankings, the htmx fragment, a tenant's drill-down with its endpoints and the error issues
//! tagged with it, refused windows and rankings, organization isolation, and hostile tenant
//! names. A real server on port 0 over SQLite, or PostgreSQL with
//! `SENTINEL_TEST_BACKEND=postgres`. (Real Chromium follows the same path in
//! `crates/sentinel/tests/browser.rs`.)
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use sentinel_store::IssueQuery;
use serde_json::{Value, json};
use support::api::{ApiEnv, KEY, request_record};
use support::web::{Browser, Page};

const TOKEN: &str = "dashboard-tenants-token";
const TENANTS: &str = "/orgs/acme/projects/shop/tenants/";
const WAIT: Duration = Duration::from_secs(60);
const HOSTILE: &str = "<script>alert(1)</script>";
const SLASHED: &str = "team a/b c";

/// Sends an error event tagged with the tenant through the envelope endpoint.
async fn send_tagged_error(env: &ApiEnv, project: &str, id: char, message: &str, tenant: &str) {
    let event = json!({"event_id": id.to_string().repeat(32), "level": "error",
                       "message": message, "tags": {"tenant_id": tenant}});
    let envelope = format!(
        "{}\n{}\n{}\n",
        json!({"event_id": event["event_id"]}),
        json!({"type": "event"}),
        event
    );
    env.send_envelope(project, envelope).await;
}

/// Waits until the project has `n` issues.
async fn wait_for_issues(env: &ApiEnv, project: &str, n: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let page = env
            .store
            .list_issues(&IssueQuery {
                project_id: project.parse().unwrap(),
                limit: 50,
                ..IssueQuery::default()
            })
            .await
            .unwrap();
        if page.items.len() >= n {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never got {n} issues");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Loads `path` until the workers have aggregated `errors` 5xx into the window it shows.
async fn page_once_counted(b: &mut Browser, path: &str, errors: u64) -> Page {
    let deadline = std::time::Instant::now() + WAIT;
    let want = format!(", {errors} of them 5xx");
    loop {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        if page.body.contains(&want) {
            return page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never counted {errors} 5xx:\n{}",
            page.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The ranking table's rows, in order: each row's markup.
fn rows(body: &str) -> Vec<&str> {
    body.split("<tr class=\"tenant-row\"")
        .skip(1)
        .map(|r| &r[..r.find("</tr>").unwrap()])
        .collect()
}

/// The value of attribute `attr` in `markup` after `after`.
fn attr<'a>(markup: &'a str, after: &str, attr: &str) -> &'a str {
    let from = &markup[markup
        .find(after)
        .unwrap_or_else(|| panic!("no {after} in {markup}"))..];
    let marker = format!("{attr}=\"");
    let start = from
        .find(&marker)
        .unwrap_or_else(|| panic!("no {attr} after {after} in {markup}"))
        + marker.len();
    &from[start..start + from[start..].find('"').unwrap()]
}

/// An `href` as the browser follows it.
fn unescape(href: &str) -> String {
    href.replace("&amp;", "&").replace("&#38;", "&")
}

/// 100 5xx: acme 68 (61 on /v1/process), beta 21 (of 21 requests), gamma 7, four others 1 each;
/// and 200 successes of acme.
fn incident() -> Vec<Value> {
    let mut batch = Vec::new();
    for i in 0..68 {
        let endpoint = if i < 61 { "/v1/process" } else { "/v1/orders/{id}" };
        batch.push(request_record("tenant_acme", endpoint, 500, 40.0));
    }
    for _ in 0..21 {
        batch.push(request_record("tenant_beta", "/v1/users/{id}", 503, 20.0));
    }
    for _ in 0..7 {
        batch.push(request_record("tenant_gamma", "/v1/process", 502, 20.0));
    }
    for t in ["a", "b", "c", "d"] {
        batch.push(request_record(t, "/v1/process", 500, 10.0));
    }
    for _ in 0..200 {
        batch.push(request_record("tenant_acme", "/v1/process", 200, 100.0));
    }
    batch
}

#[tokio::test]
async fn the_tenants_page_ranks_acme_first_and_drills_down_to_its_endpoints_and_issues() {
    let env = ApiEnv::start().await;
    let p = env.acme_shop(TOKEN).await;
    let mut b = env.admin_browser().await;

    // Before any request event: how to send them, with this project's batch URL and key.
    let empty = b.get(TENANTS).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert!(empty.body.contains("id=\"tenants-empty\""), "{}", empty.body);
    assert!(
        empty
            .body
            .contains(&format!("/api/{p}/requests/?sentry_key={KEY}")),
        "{}",
        empty.body
    );
    assert!(empty.body.contains("integration/otlp/v1/traces"));
    // The project navigation leads here, highlighted.
    assert!(
        empty
            .body
            .contains(&format!("href=\"{TENANTS}\" class=\"active\">Tenants</a>")),
        "{}",
        empty.body
    );

    env.post_requests(&p, &incident()).await;
    send_tagged_error(&env, &p, 'a', "acme payment failed", "tenant_acme").await;
    send_tagged_error(&env, &p, 'b', "beta lookup failed", "tenant_beta").await;
    wait_for_issues(&env, &p, 2).await;

    let page = page_once_counted(&mut b, TENANTS, 100).await;
    assert!(
        page.body.contains("300 requests, 100 of them 5xx"),
        "{}",
        page.body
    );
    let ranked = rows(&page.body);
    assert_eq!(ranked.len(), 7, "{}", page.body);
    let acme = ranked[0];
    assert_eq!(attr(acme, "data-tenant", "data-tenant"), "tenant_acme");
    assert!(acme.contains("<td class=\"count measure\">68%"), "{acme}");
    assert!(acme.contains("<code>/v1/process</code>"), "{acme}");
    assert!(acme.contains("90% of its 5xx"), "{acme}");
    assert!(acme.contains("<td class=\"count requests\">268</td>"), "{acme}");
    assert!(acme.contains("<td class=\"count errors\">68</td>"), "{acme}");
    assert!(acme.contains("<svg class=\"sparkline counts\""), "{acme}");
    assert!(acme.contains(": 268 requests, 68 5xx"), "{acme}");
    assert_eq!(attr(ranked[1], "data-tenant", "data-tenant"), "tenant_beta");
    assert!(ranked[1].contains("21%"), "{}", ranked[1]);

    // Error rate: beta (21 of 21) first; tenants under 20 requests left out.
    let by_rate = b.get(&format!("{TENANTS}?window=30m&by=error_rate")).await;
    assert_eq!(by_rate.status, StatusCode::OK, "{}", by_rate.body);
    let names: Vec<&str> = rows(&by_rate.body)
        .into_iter()
        .map(|r| attr(r, "data-tenant", "data-tenant"))
        .collect();
    assert_eq!(names, ["tenant_beta", "tenant_acme"]);
    assert!(by_rate.body.contains("Error rate (Wilson)"));
    assert!(
        by_rate
            .body
            .contains("<option value=\"30m\" selected>last 30 minutes</option>")
    );
    // Latency: acme's p95 against all tenants' (it has no baseline yet).
    let by_latency = b.get(&format!("{TENANTS}?by=latency")).await;
    assert_eq!(by_latency.status, StatusCode::OK, "{}", by_latency.body);
    assert!(
        by_latency.body.contains("all tenants&#39; p95") || by_latency.body.contains("all tenants&#x27; p95"),
        "{}",
        by_latency.body
    );

    // htmx asks for the table only.
    let fragment = b
        .get_with(
            &format!("{TENANTS}?window=10m&by=errors"),
            &[("hx-request", "true")],
        )
        .await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(
        fragment
            .body
            .trim_start()
            .starts_with("<div id=\"tenants-table\""),
        "{}",
        fragment.body
    );
    assert!(!fragment.body.contains("<html"));
    // Going back to a URL the selectors pushed, htmx asks for the whole page.
    let restored = b
        .get_with(
            &format!("{TENANTS}?window=10m&by=errors"),
            &[("hx-request", "true"), ("hx-history-restore-request", "true")],
        )
        .await;
    assert!(restored.body.contains("<html"), "{}", restored.body);
    assert!(restored.body.contains("id=\"tenants-table\""));

    // The drill-down, by acme's link.
    let href = unescape(attr(acme, "tenant-link", "href"));
    assert_eq!(href, format!("{TENANTS}tenant_acme/?window=10m"));
    let tenant = b.get(&href).await;
    assert_eq!(tenant.status, StatusCode::OK, "{}", tenant.body);
    let endpoint = attr(&tenant.body, "data-endpoint=\"/v1/process\"", "data-endpoint");
    assert_eq!(endpoint, "/v1/process");
    let process = &tenant.body[tenant.body.find("data-endpoint=\"/v1/process\"").unwrap()..];
    let process = &process[..process.find("</tr>").unwrap()];
    assert!(
        process.contains("<td class=\"count errors\">61</td>"),
        "{process}"
    );
    assert!(
        process.contains("<td class=\"count share\">90%</td>"),
        "{process}"
    );
    assert!(
        tenant
            .body
            .contains("<td class=\"count\" id=\"tenant-share\">68%</td>")
    );
    assert!(
        tenant.body.contains("<svg class=\"line-chart\""),
        "{}",
        tenant.body
    );
    assert!(tenant.body.contains("acme payment failed"), "{}", tenant.body);
    assert!(!tenant.body.contains("beta lookup failed"), "{}", tenant.body);
    // The link to the issues list filtered by the tag lists exactly acme's issue.
    let issues = unescape(attr(&tenant.body, "id=\"tenant-issues-link\"", "href"));
    assert_eq!(
        issues,
        "/orgs/acme/projects/shop/issues/?query=tenant_id%3Atenant_acme"
    );
    let list = b.get(&issues).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("acme payment failed"), "{}", list.body);
    assert!(!list.body.contains("beta lookup failed"), "{}", list.body);

    // A tenant without figures still has a page (and no issues).
    let nobody = b.get(&format!("{TENANTS}nobody/")).await;
    assert_eq!(nobody.status, StatusCode::OK, "{}", nobody.body);
    assert!(nobody.body.contains("No endpoint with 5xx or latency figures"));
}

#[tokio::test]
async fn bad_windows_and_rankings_are_refused_with_what_is_expected() {
    let env = ApiEnv::start().await;
    env.acme_shop(TOKEN).await;
    let mut b = env.admin_browser().await;
    for (path, expected) in [
        (format!("{TENANTS}?window=3d"), "invalid window \"3d\""),
        (format!("{TENANTS}?window=25h"), "at most 24h"),
        (format!("{TENANTS}?window=%2B5m"), "invalid window \"+5m\""),
        (
            format!("{TENANTS}?by=p99"),
            "expected errors, error_rate or latency",
        ),
        (format!("{TENANTS}acme/?window=0m"), "invalid window \"0m\""),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        // askama escapes the quotes of the message.
        let body = page.body.replace("&quot;", "\"").replace("&#34;", "\"");
        assert!(body.contains(expected), "{path}: {}", page.body);
    }
    // Any window the API takes works, and joins the selector.
    let odd = b.get(&format!("{TENANTS}?window=15m")).await;
    assert_eq!(odd.status, StatusCode::OK, "{}", odd.body);
    assert!(
        odd.body
            .contains("<option value=\"15m\" selected>last 15 minutes</option>"),
        "{}",
        odd.body
    );
}

#[tokio::test]
async fn tenant_pages_of_another_organization_answer_404() {
    let env = ApiEnv::start().await;
    let p = env.acme_shop(TOKEN).await;
    env.admin_browser().await;
    env.post_requests(&p, &incident()).await;
    // The incident is aggregated: a page that leaked it would show it.
    env.ranking_with(TOKEN, &p, "window=10m", 300, 100).await;

    // Mallory, with an organization and a project of her own, finds none of acme's tenants.
    let mut m = Browser::outsider(env.server.base_url(), env.store.as_ref()).await;
    for path in [
        TENANTS.to_owned(),
        format!("{TENANTS}?by=latency"),
        format!("{TENANTS}tenant_acme/"),
    ] {
        let page = m.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("tenant_acme"), "{path} leaked a tenant");
    }
    // Through her own project: nothing was sent there, so nothing shows.
    let own = "/orgs/mallory-org/projects/app/tenants/";
    for path in [own.to_owned(), format!("{own}?by=latency")] {
        let page = m.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(
            page.body.contains("id=\"tenants-empty\""),
            "{path}: {}",
            page.body
        );
        assert!(!page.body.contains("tenant_acme"), "{path} leaked a tenant");
    }
    let page = m.get(&format!("{own}tenant_acme/")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("No endpoint with 5xx or latency figures"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("/v1/process"), "acme's endpoints leaked");
}

#[tokio::test]
async fn hostile_tenant_names_are_escaped_and_linked_as_one_path_segment() {
    let env = ApiEnv::start().await;
    let p = env.acme_shop(TOKEN).await;
    let mut b = env.admin_browser().await;
    let mut batch = Vec::new();
    for _ in 0..3 {
        batch.push(request_record(
            HOSTILE,
            "/v1/<img src=x onerror=alert(1)>",
            500,
            5.0,
        ));
        batch.push(request_record(SLASHED, "/v1/process", 500, 5.0));
    }
    batch.push(request_record(SLASHED, "/v1/process", 500, 5.0));
    env.post_requests(&p, &batch).await;
    send_tagged_error(&env, &p, 'c', "slashed tenant failed", SLASHED).await;
    send_tagged_error(&env, &p, 'd', "hostile tenant failed", HOSTILE).await;
    wait_for_issues(&env, &p, 2).await;

    let page = page_once_counted(&mut b, TENANTS, 7).await;
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    let ranked = rows(&page.body);
    assert_eq!(ranked.len(), 2, "{}", page.body);
    let slashed = unescape(attr(ranked[0], "tenant-link", "href"));
    assert_eq!(slashed, format!("{TENANTS}team%20a%2Fb%20c/?window=10m"));
    let hostile = unescape(attr(ranked[1], "tenant-link", "href"));
    assert_eq!(
        hostile,
        format!("{TENANTS}%3Cscript%3Ealert%281%29%3C%2Fscript%3E/?window=10m")
    );

    let tenant = b.get(&slashed).await;
    assert_eq!(tenant.status, StatusCode::OK, "{}", tenant.body);
    assert!(
        tenant
            .body
            .contains(&format!("<code id=\"tenant-name\">{SLASHED}</code>"))
    );
    assert!(tenant.body.contains("slashed tenant failed"), "{}", tenant.body);
    assert!(!tenant.body.contains("hostile tenant failed"));
    let issues = unescape(attr(&tenant.body, "id=\"tenant-issues-link\"", "href"));
    assert_eq!(
        issues,
        "/orgs/acme/projects/shop/issues/?query=tenant_id%3A%22team+a%2Fb+c%22"
    );
    let list = b.get(&issues).await;
    assert!(list.body.contains("slashed tenant failed"), "{}", list.body);
    assert!(!list.body.contains("hostile tenant failed"), "{}", list.body);

    let tenant = b.get(&hostile).await;
    assert_eq!(tenant.status, StatusCode::OK, "{}", tenant.body);
    assert!(!tenant.body.contains("<script>alert"), "{}", tenant.body);
    assert!(!tenant.body.contains("<img src=x"), "{}", tenant.body);
    assert!(tenant.body.contains("hostile tenant failed"), "{}", tenant.body);
    let issues = unescape(attr(&tenant.body, "id=\"tenant-issues-link\"", "href"));
    let list = b.get(&issues).await;
    assert!(list.body.contains("hostile tenant failed"), "{}", list.body);
    assert!(!list.body.contains("slashed tenant failed"), "{}", list.body);
}
