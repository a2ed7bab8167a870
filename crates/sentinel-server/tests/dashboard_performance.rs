//! The performance pages over HTTP, as a signed-in browser without JavaScript sees them: the
//! transactions list against a known batch of request events (throughput, failure rate, p95
//! within the sketch's 1 %, Apdex, sorting, windows, the empty state), the Apdex T set in the
//! project settings, a transaction's charts and
//! its five slowest requests in order, a transaction sent by the official Rust SDK listed as a
//! slow request whose event page shows its spans, other organizations answered 404, and hostile
//! names rendered inert. A real server on port 0 over SQLite, or PostgreSQL with
//! `SENTINEL_TEST_BACKEND=postgres`. (Real Chromium walks the same pages in
//! `crates/sentinel/tests/browser.rs`.)
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::api::{ApiEnv, KEY, now_secs, request_record};
use support::web::{Browser, Page};

const TOKEN: &str = "performance-test-token";
const LIST: &str = "/orgs/acme/projects/shop/performance/";
/// How long the worker may take to aggregate what was posted.
const WAIT: Duration = Duration::from_secs(60);

/// The text of HTML as a reader sees it: the entities the template engine writes (named, and
/// numeric in decimal or hex), decoded.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').and_then(|end| {
            let c = match &rest[1..end] {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                e => e
                    .strip_prefix("#x")
                    .map(|h| u32::from_str_radix(h, 16))
                    .or_else(|| e.strip_prefix('#').map(str::parse))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The chunks of `body` from each `<tr class="{class}"` to the next row.
fn rows<'a>(body: &'a str, class: &str) -> Vec<&'a str> {
    let marker = format!("<tr class=\"{class}\"");
    body.split(&marker)
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap())
        .collect()
}

/// The text inside the first element whose class attribute ends with `class` in `row`, nested
/// tags stripped.
fn cell(row: &str, class: &str) -> String {
    let at = row
        .find(&format!("{class}\""))
        .unwrap_or_else(|| panic!("no .{class} in {row}"));
    let rest = &row[at..];
    let rest = &rest[rest.find('>').unwrap() + 1..];
    let (mut text, mut depth, mut i) = (String::new(), 0, 0);
    while i < rest.len() {
        let tail = &rest[i..];
        if tail.starts_with('<') {
            if tail.starts_with("</") {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            } else {
                depth += 1;
            }
            i += tail.find('>').unwrap() + 1;
            continue;
        }
        let c = tail.chars().next().unwrap();
        text.push(c);
        i += c.len_utf8();
    }
    unescape(text.trim())
}

/// The transaction rows of the list: (name, requests, throughput, failure rate, p95, apdex).
fn transactions(page: &Page) -> Vec<[String; 6]> {
    rows(&page.body, "transaction-row")
        .into_iter()
        .map(|r| {
            [
                cell(r, "transaction-link"),
                cell(r, "count requests"),
                cell(r, "count throughput"),
                cell(r, "count failure-rate"),
                cell(r, "count p95"),
                cell(r, "count apdex"),
            ]
        })
        .collect()
}

/// Gets `path` until `ready` holds for the page, for at most `WAIT`.
async fn wait_for_page(b: &mut Browser, path: &str, ready: impl Fn(&Page) -> bool) -> Page {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        if ready(&page) {
            return page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never became ready:\n{}",
            page.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `950 ms` as 950.
fn ms(text: &str) -> f64 {
    text.strip_suffix(" ms")
        .unwrap_or_else(|| panic!("{text:?} is not milliseconds"))
        .parse()
        .unwrap()
}

/// `/v1/checkout`: 100 requests taking 10, 20, … 1,000 ms, every tenth a 5xx; `/v1/search`: 150
/// quick ones. Checkout is first by p95 and failure rate, search by throughput.
fn known_batch() -> Vec<Value> {
    let mut batch: Vec<Value> = (1..=100)
        .map(|i| {
            let status = if i % 10 == 0 { 503 } else { 200 };
            request_record(
                format!("t{}", i % 4).as_str(),
                "/v1/checkout",
                status,
                f64::from(i) * 10.0,
            )
        })
        .collect();
    batch.extend((0..150).map(|_| request_record("t1", "/v1/search", 200, 20.0)));
    batch
}

#[tokio::test]
async fn the_transactions_list_shows_the_numbers_of_a_known_batch() {
    let env = ApiEnv::start().await;
    let p = env.acme_shop(TOKEN).await;
    let mut b = env.admin_browser().await;

    // Before any request: the empty state says where data comes from.
    let empty = b.get(LIST).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert!(empty.body.contains("id=\"performance-empty\""), "{}", empty.body);
    assert!(empty.body.contains("No requests in the last 1h"));
    assert!(
        empty
            .body
            .contains(&format!("/api/{p}/integration/otlp/v1/traces")),
        "the empty state names the OTLP endpoint"
    );
    assert!(empty.body.contains(&format!("/api/{p}/requests/")));
    assert!(
        empty.body.contains(">Performance</a>"),
        "the project nav links here"
    );

    env.post_requests(&p, &known_batch()).await;
    let page = wait_for_page(&mut b, LIST, |p| {
        transactions(p)
            .iter()
            .any(|t| t[0] == "/v1/checkout" && t[1] == "100")
            && transactions(p)
                .iter()
                .any(|t| t[0] == "/v1/search" && t[1] == "150")
    })
    .await;
    let list = transactions(&page);
    assert_eq!(list.len(), 2, "{list:?}");
    // Sorted by throughput by default: search (150) first.
    assert_eq!(list[0][0], "/v1/search");
    let checkout = &list[1];
    // The default window is an hour: 100 requests in 60 minutes.
    assert_eq!(checkout[2], "1.67/min");
    assert_eq!(checkout[3], "10%");
    // Exact p95 (nearest rank) of 10..=1000 ms is 950 ms; the sketch is within 1 %, the page
    // rounds to whole milliseconds.
    let p95 = ms(&checkout[4]);
    assert!((p95 - 950.0).abs() <= 950.0 * 0.01 + 0.5, "p95 {p95}");
    // Apdex at T = 300 ms: 27 satisfied (≤ 300 ms, not 5xx), 63 tolerating (≤ 1.2 s).
    assert_eq!(checkout[5], format!("{:.2}", (27.0 + 63.0 / 2.0) / 100.0));
    assert!(page.body.contains("T = 300 ms"));
    assert_eq!(list[0][3], "0%");
    assert_eq!(ms(&list[0][4]).round(), 20.0);

    // Sorting by p95 and by failure rate puts checkout first; the column says which is current.
    for sort in ["p95", "failure_rate"] {
        let page = b.get(&format!("{LIST}?sort={sort}")).await;
        let names: Vec<String> = transactions(&page).into_iter().map(|t| t[0].clone()).collect();
        assert_eq!(names, ["/v1/checkout", "/v1/search"], "sort={sort}");
        assert!(page.body.contains("aria-sort=\"descending\""));
    }
    let by_throughput = b.get(&format!("{LIST}?sort=throughput")).await;
    assert_eq!(transactions(&by_throughput)[0][0], "/v1/search");

    // The 10-minute window: the same 100 requests in 10 minutes.
    let ten = b.get(&format!("{LIST}?window=10m")).await;
    let checkout = transactions(&ten)
        .into_iter()
        .find(|t| t[0] == "/v1/checkout")
        .unwrap();
    assert_eq!(checkout[2], "10.00/min");
    assert!(
        ten.body.contains("aria-current=\"true\">10m<"),
        "the selector marks 10m"
    );

    for bad in ["?sort=latency", "?window=2d", "?window=0m", "?window=%2B5m"] {
        let page = b.get(&format!("{LIST}{bad}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn the_apdex_threshold_is_set_in_the_project_settings_and_named_on_the_list() {
    let env = ApiEnv::start().await;
    let p: i64 = env.acme_shop(TOKEN).await.parse().unwrap();
    let mut b = env.admin_browser().await;
    const SETTINGS: &str = "/orgs/acme/projects/shop/settings/";
    let page = b.get(SETTINGS).await;
    assert!(
        page.body.contains(
            "name=\"apdex_threshold_ms\" inputmode=\"numeric\" required maxlength=\"5\" value=\"300\""
        ),
        "{}",
        page.body
    );
    assert!(b.get(LIST).await.body.contains("Apdex (T = 300 ms)"));

    // A refused value is explained and changes nothing, the name included.
    let form = |apdex: &'static str| {
        [
            ("name", "Shop renamed"),
            ("platform", "python"),
            ("apdex_threshold_ms", apdex),
        ]
    };
    for bad in ["0", "90000", "fast"] {
        let refused = b.submit(SETTINGS, SETTINGS, &form(bad)).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            unescape(&refused.body).contains("Apdex threshold"),
            "{bad}: {}",
            refused.body
        );
    }
    let project = env.store.get_project(p).await.unwrap().unwrap();
    assert_eq!((project.apdex_threshold_ms, project.name.as_str()), (300, "shop"));

    let saved = b.submit(SETTINGS, SETTINGS, &form("120")).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let project = env.store.get_project(p).await.unwrap().unwrap();
    assert_eq!(
        (project.apdex_threshold_ms, project.name.as_str()),
        (120, "Shop renamed")
    );
    let list = b
        .get(&format!("/orgs/acme/projects/{}/performance/", project.slug))
        .await;
    assert!(list.body.contains("Apdex (T = 120 ms)"), "{}", list.body);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_transaction_page_charts_its_minutes_and_lists_its_five_slowest_requests() {
    let env = ApiEnv::start().await;
    let p = env.acme_shop(TOKEN).await;
    let mut b = env.admin_browser().await;
    let endpoint = "/v1/orders/{id}";
    // 20 requests: tenant tN took N × 100 ms; t13 failed.
    let batch: Vec<Value> = (1..=20)
        .map(|n| {
            let status = if n == 13 { 500 } else { 200 };
            request_record(format!("t{n}").as_str(), endpoint, status, f64::from(n) * 100.0)
        })
        .collect();
    env.post_requests(&p, &batch).await;
    let list = wait_for_page(&mut b, LIST, |p| {
        transactions(p).iter().any(|t| t[0] == endpoint && t[1] == "20")
    })
    .await;

    // The list links to the transaction with its name as a query parameter.
    let row = rows(&list.body, "transaction-row")[0];
    let href = unescape(row.split("href=\"").nth(1).unwrap().split('"').next().unwrap());
    assert_eq!(
        href,
        "/orgs/acme/projects/shop/performance/transaction?name=%2Fv1%2Forders%2F%7Bid%7D&window=1h"
    );
    let page = b.get(&href).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(unescape(&page.body).contains("<code>/v1/orders/{id}</code>"));
    assert!(page.body.contains("class=\"requests\">20<"));
    assert!(page.body.contains("class=\"failure-rate\">5%<"));

    // Three charts, drawn on the server: one line for throughput and failures, three latencies.
    for (chart, lines) in [
        ("throughput-chart", 1),
        ("failure-chart", 1),
        ("latency-chart", 3),
    ] {
        let svg = page
            .body
            .split(&format!("id=\"{chart}\">"))
            .nth(1)
            .unwrap_or_else(|| panic!("no #{chart}"))
            .split("</svg>")
            .next()
            .unwrap();
        assert!(svg.contains("<svg class=\"line-chart\""), "{chart}");
        assert!(!svg.contains("No data in this period"), "{chart} is empty");
        for n in 1..=lines {
            assert!(
                svg.contains(&format!("class=\"line series-{n}\"")),
                "{chart} series {n}"
            );
        }
    }

    // The five slowest, slowest first.
    let samples = rows(&page.body, "sample-row");
    let listed: Vec<(String, String, String)> = samples
        .iter()
        .map(|r| {
            (
                cell(r, "tenant"),
                cell(r, "count status"),
                cell(r, "count duration"),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = (16..=20)
        .rev()
        .map(|n| (format!("t{n}"), "200".to_owned(), format!("{} ms", n * 100)))
        .collect();
    assert_eq!(listed, expected);
    assert!(
        !page.body.contains("class=\"event-link\""),
        "batch records have no event to show"
    );

    // A name nobody requested: an empty page, not an error; no name at all is one.
    let none = b
        .get("/orgs/acme/projects/shop/performance/transaction?name=%2Fnope")
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert!(none.body.contains("id=\"transaction-empty\""));
    assert!(none.body.contains("No data in this period"));
    let missing = b.get("/orgs/acme/projects/shop/performance/transaction").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
}

/// Sends one 2.5-second `GET /checkout` transaction with two spans through the Rust SDK's own
/// transport, its times set explicitly (no sleeping); answers its trace id.
fn send_checkout_transaction(dsn: &str) -> String {
    let options = sentry::ClientOptions::new()
        .dsn(dsn)
        .traces_sample_rate(1.0)
        .environment("perf-test");
    let client = Arc::new(sentry::Client::from(sentry::apply_defaults(options)));
    let hub = Arc::new(sentry::Hub::new(
        Some(client.clone()),
        Arc::new(sentry::Scope::default()),
    ));
    let trace_id = sentry::Hub::run(hub, || {
        #[expect(clippy::disallowed_methods, reason = "the SDK stamps real times")]
        let start = SystemTime::now() - Duration::from_secs(3);
        let at = |ms: u64| start + Duration::from_millis(ms);
        let ctx = sentry::TransactionContext::new("GET /checkout", "http.server");
        let transaction = sentry::start_transaction_with_timestamp(ctx, start);
        transaction.set_tag("tenant_id", "acme");
        transaction.set_status(sentry::protocol::SpanStatus::Ok);
        let db = transaction.start_child_with_details(
            "db.query",
            "SELECT * FROM carts WHERE id = $1",
            sentry::protocol::SpanId::default(),
            at(100),
        );
        db.finish_with_timestamp(at(900));
        let pay = transaction.start_child_with_details(
            "http.client",
            "POST https://payments.example/charge",
            sentry::protocol::SpanId::default(),
            at(1_000),
        );
        pay.finish_with_timestamp(at(2_200));
        let trace_id = transaction.get_trace_context().trace_id.to_string();
        transaction.finish_with_timestamp(at(2_500));
        trace_id
    });
    assert!(
        client.flush(Some(Duration::from_secs(15))),
        "the Rust SDK did not flush within 15 s"
    );
    trace_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentry_transaction_is_a_slow_request_whose_event_page_shows_its_spans() {
    let env = ApiEnv::start().await;
    let p = env.acme_shop(TOKEN).await;
    let mut b = env.admin_browser().await;
    // Quicker requests to the same endpoint from the batch endpoint.
    let quick: Vec<Value> = (0..8)
        .map(|_| request_record("beta", "/checkout", 200, 40.0))
        .collect();
    env.post_requests(&p, &quick).await;
    let base = env.server.base_url();
    let (scheme, host) = base.split_once("://").unwrap();
    let dsn = format!("{scheme}://{KEY}@{host}/{p}");
    let trace_id = tokio::task::spawn_blocking(move || send_checkout_transaction(&dsn))
        .await
        .unwrap();

    let path = "/orgs/acme/projects/shop/performance/transaction?name=%2Fcheckout";
    let page = wait_for_page(&mut b, path, |p| {
        p.body.contains("class=\"requests\">9<") && p.body.contains("class=\"event-link\"")
    })
    .await;
    let samples = rows(&page.body, "sample-row");
    assert_eq!(samples.len(), 5, "five of the nine requests");
    let slowest = samples[0];
    assert_eq!(cell(slowest, "tenant"), "acme");
    assert_eq!(cell(slowest, "count status"), "200");
    assert_eq!(cell(slowest, "count duration"), "2500 ms");
    assert_eq!(cell(slowest, "trace-id"), trace_id);
    assert!(samples[1..].iter().all(|r| cell(r, "tenant") == "beta"));
    let link = slowest
        .split("class=\"event-link\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        link.starts_with("/orgs/acme/projects/shop/performance/events/"),
        "{link}"
    );

    let event = b.get(&link).await;
    assert_eq!(event.status, StatusCode::OK, "{}", event.body);
    let text = unescape(&event.body);
    assert!(
        text.contains("<code>GET /checkout</code>"),
        "the transaction's name"
    );
    assert!(text.contains(&trace_id));
    assert!(text.contains("id=\"event-duration\">2500 ms<"));
    // The waterfall: the transaction, then its spans in start order, each with its bar.
    let waterfall: Vec<(String, String, String, String)> = event
        .body
        .split("<tr class=\"span-row")
        .skip(1)
        .map(|r| {
            let r = r.split("</tr>").next().unwrap();
            let op = r.split("class=\"op depth-").nth(1).unwrap();
            let op = unescape(op.split('>').nth(1).unwrap().split('<').next().unwrap());
            (
                op,
                cell(r, "description"),
                cell(r, "count offset"),
                cell(r, "count duration"),
            )
        })
        .collect();
    assert_eq!(
        waterfall,
        [
            ("http.server", "GET /checkout", "0 ms", "2500 ms"),
            (
                "db.query",
                "SELECT * FROM carts WHERE id = $1",
                "100 ms",
                "800 ms"
            ),
            (
                "http.client",
                "POST https://payments.example/charge",
                "1000 ms",
                "1200 ms"
            ),
        ]
        .map(|(a, b, c, d)| (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned()))
    );
    assert_eq!(event.body.matches("<svg class=\"span-bar\"").count(), 3);
    assert!(text.contains("<th>tenant_id</th><td>acme</td>"), "its tags");
    assert!(event.body.contains("id=\"transaction-link\""));

    // Ids that are not a stored transaction of this project.
    for id in ["f".repeat(32), "not-an-id".to_owned()] {
        let page = b
            .get(&format!("/orgs/acme/projects/shop/performance/events/{id}/"))
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{id}");
    }
}

#[tokio::test]
async fn other_organizations_get_404_and_hostile_names_stay_inert() {
    let env = ApiEnv::start().await;
    let p = env.acme_shop(TOKEN).await;
    let mut b = env.admin_browser().await;
    let script = "<script>alert(1)</script>";
    let img = "<img src=x onerror=alert(2)>";
    let hostile = format!("/x/{script}");
    env.post_requests(&p, &[request_record(img, &hostile, 500, 900.0)])
        .await;
    // A transaction with hostile names and span, sent as a raw envelope.
    let event_id = "e".repeat(32);
    let now = now_secs();
    let transaction = json!({
        "event_id": event_id, "type": "transaction", "transaction": format!("GET {hostile}"),
        "start_timestamp": now - 1.0, "timestamp": now,
        "contexts": {"trace": {"trace_id": "4c79f60c11214eb38604f4ae0781bfb2",
                               "span_id": "fa90fdead5f74052", "op": "http.server", "status": "ok"}},
        "tags": {"tenant_id": img, "note": script},
        "spans": [{"trace_id": "4c79f60c11214eb38604f4ae0781bfb2", "span_id": "b1a2c3d4e5f60718",
                   "parent_span_id": "fa90fdead5f74052", "op": script, "description": img,
                   "start_timestamp": now - 0.5, "timestamp": now - 0.25}]
    });
    env.send_envelope(
        &p,
        format!(
            "{}\n{}\n{}\n",
            json!({"event_id": event_id}),
            json!({"type": "transaction"}),
            transaction
        ),
    )
    .await;
    let name = format!("/x/{}", "%3Cscript%3Ealert%281%29%3C%2Fscript%3E");
    let transaction_page = format!("/orgs/acme/projects/shop/performance/transaction?name={name}");
    wait_for_page(&mut b, &transaction_page, |p| {
        p.body.contains("class=\"requests\">2<") && p.body.contains("class=\"event-link\"")
    })
    .await;
    let event_page = format!("/orgs/acme/projects/shop/performance/events/{event_id}/");
    for path in [LIST.to_owned(), transaction_page.clone(), event_page.clone()] {
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(
            !page.body.contains("<script>alert"),
            "{path} has a live script tag"
        );
        assert!(!page.body.contains("<img src=x"), "{path} has a live img tag");
        assert!(
            unescape(&page.body).contains(script) || unescape(&page.body).contains(img),
            "{path} shows the names as text"
        );
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
    }

    // Mallory, of another organization, finds none of it: neither by acme's URLs nor through a
    // project of her own, whose transactions and stored events are hers only.
    let mut m = Browser::outsider(env.server.base_url(), env.store.as_ref()).await;
    for path in [LIST.to_owned(), transaction_page, event_page] {
        let page = m.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("alert("), "{path} leaked the data");
    }
    let own = "/orgs/mallory-org/projects/app/performance/";
    let page = m.get(&format!("{own}events/{event_id}/")).await;
    assert_eq!(
        page.status,
        StatusCode::NOT_FOUND,
        "acme's event through her project"
    );
    assert!(
        !page.body.contains("alert("),
        "acme's event leaked through her project"
    );
    let list = m.get(own).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains("id=\"performance-empty\""), "{}", list.body);
    assert!(
        !list.body.contains("alert("),
        "acme's transactions listed in hers"
    );
    let transaction = m.get(&format!("{own}transaction?name={name}")).await;
    assert_eq!(transaction.status, StatusCode::OK, "{}", transaction.body);
    assert!(
        transaction.body.contains("id=\"transaction-empty\""),
        "acme's requests counted in her project: {}",
        transaction.body
    );
}
