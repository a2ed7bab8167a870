//! Tenant alerts end to end with hysteresis: request batches go in through
//! `POST /api/{id}/requests/` of a real server on a test clock (SQLite, or PostgreSQL with
//! `SENTINEL_TEST_BACKEND=postgres`), the worker rolls them up, the test runs the alert engine's
//! evaluation of the tenant rules itself once per simulated minute (the scheduler leader runs the
//! same evaluation every `alerts.evaluate_secs`), and the server's notifier delivers to a real
//! webhook receiver on 127.0.0.1. The tenant's dashboard page lists the incident while it is open.
//!
//! The clock only moves when the test moves it, so windows and streaks are exact; the only waits
//! are for the worker and the notifier to catch up.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sentinel_server::alerts::engine::Engine;
use sentinel_server::clock::ManualClock;
use sentinel_server::config::Role;
use sentinel_store::{Notification, NotificationStatus, Transition};
use serde_json::{Value, json};
use support::api::ApiEnv;
use support::hook::Hook;

const TOKEN: &str = "tenant-alerts-test-token";
const KEY: &str = "0123456789abcdef0123456789abcdef";
const MIN: i64 = 60_000;
/// 2026-11-23 10:00:00 UTC, a minute boundary.
const T0: i64 = 1_795_428_000_000;
const WAIT: Duration = Duration::from_secs(30);
/// The tenants besides acme, each with a small part of the 5xx.
const OTHERS: usize = 10;

struct World {
    env: ApiEnv,
    clock: Arc<ManualClock>,
    engine: Engine,
    project: String,
    hook: Hook,
}

/// A server on a manual clock without the scheduler role (the test evaluates), its project
/// `acme/shop`, a webhook channel to a local receiver, and a rule per condition made through the
/// API.
async fn world(conditions: &[Value]) -> World {
    let clock = Arc::new(ManualClock::new(T0));
    let env = ApiEnv::start_with(
        |s| {
            s.roles = vec![Role::Ingest, Role::Worker, Role::Web];
            s.public_url = Some("https://sentinel.example.com".into());
            s.alerts.retry_base_ms = 100;
        },
        clock.clone(),
    )
    .await;
    let project = env.acme_shop(TOKEN).await;
    let (hook, url) = Hook::start().await;
    let channel = env.webhook_channel(TOKEN, &project, &url).await;
    for condition in conditions {
        env.post(
            TOKEN,
            &format!("/api/0/projects/{project}/alert-rules/"),
            // No cooldown: only the hysteresis keeps a hovering tenant from flapping.
            json!({"name": condition["kind"], "condition": condition, "channels": [channel["id"]],
                   "cooldown_minutes": 0}),
        )
        .await
        .expect(201);
    }
    let engine = Engine {
        store: env.store.clone(),
        clock: clock.clone(),
        settings: env.server.settings.clone(),
        notifier_wake: None,
    };
    World {
        env,
        clock,
        engine,
        project,
        hook,
    }
}

fn record(tenant: &str, endpoint: &str, status: u16, latency_ms: f64, at_ms: i64) -> Value {
    json!({"tenant_id": tenant, "endpoint": endpoint, "method": "GET", "status_code": status,
           "latency_ms": latency_ms, "timestamp": at_ms as f64 / 1000.0})
}

impl World {
    /// Sends one batch at the clock's time and waits until the worker has rolled it up.
    async fn send(&self, records: Vec<Value>) {
        let resp = self
            .env
            .http
            .post(self.env.url(&format!("/api/{}/requests/", self.project)))
            .header(
                "x-sentry-auth",
                format!("Sentry sentry_key={KEY}, sentry_version=7"),
            )
            .json(&records)
            .send()
            .await
            .unwrap();
        let body = support::api::Resp::read("POST requests".into(), resp)
            .await
            .expect(200);
        assert_eq!(body["accepted"].as_u64(), Some(records.len() as u64), "{body}");
        self.env.wait_drained().await;
    }

    /// One minute's 5xx: `acme` of acme (on /v1/process) and `others` spread over the other
    /// tenants (on /v1/users), with a few successes; stamped in the clock's minute.
    async fn minute(&self, acme: usize, others: usize) {
        let now = sentinel_server::clock::Clock::now_ms(self.clock.as_ref());
        let mut batch: Vec<Value> = (0..acme)
            .map(|_| record("acme", "/v1/process", 500, 40.0, now))
            .collect();
        batch.extend(
            (0..others).map(|i| record(&format!("tenant_{}", i % OTHERS), "/v1/users", 503, 20.0, now)),
        );
        batch.extend((0..20).map(|i| record(&format!("tenant_{}", i % OTHERS), "/v1/users", 200, 20.0, now)));
        self.send(batch).await;
    }

    /// The outbox, oldest first.
    async fn outbox(&self) -> Vec<Notification> {
        let p: i64 = self.project.parse().unwrap();
        let mut all = self
            .env
            .store
            .list_notifications(Some(p), 100, None)
            .await
            .unwrap();
        all.reverse();
        all
    }

    /// Waits until every queued notification was delivered; answers the bodies received.
    async fn delivered(&self) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let outbox = self.outbox().await;
            if outbox.iter().all(|n| n.status == NotificationStatus::Delivered) {
                let bodies = self.hook.bodies();
                assert_eq!(
                    bodies.len(),
                    outbox.len(),
                    "one delivery per notification: {bodies:#?}"
                );
                return bodies;
            }
            assert!(Instant::now() < deadline, "not delivered: {outbox:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The open alerts on acme's dashboard page, one "rule | since | value" line each.
async fn open_alerts(browser: &mut support::web::Browser) -> Vec<String> {
    let page = browser.get("/orgs/acme/projects/shop/tenants/acme/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let Some((_, card)) = page.body.split_once("id=\"tenant-alerts\"") else {
        return Vec::new();
    };
    let card = card.split("</section>").next().unwrap();
    card.split("<tr class=\"tenant-alert\">")
        .skip(1)
        .map(|row| {
            let cells: Vec<String> = row
                .split("<td")
                .skip(1)
                .map(|c| {
                    let text = c.split_once('>').unwrap().1;
                    // Text only: tags (the badge, <time>) dropped.
                    let mut out = String::new();
                    let mut in_tag = false;
                    for ch in text.split("</td>").next().unwrap().chars() {
                        match ch {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => out.push(c),
                            _ => {}
                        }
                    }
                    out.trim().trim_start_matches("open").trim().to_owned()
                })
                .collect();
            cells.join(" | ")
        })
        .collect()
}

/// The test: "one notification when a tenant starts dominating, one when it stops".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dominating_tenant_notifies_once_when_it_starts_and_once_when_it_stops() {
    let w = world(&[json!({"kind": "tenant_share", "percent": 50, "minutes": 10, "evaluations": 2})]).await;
    // Per minute: acme's 5xx, the other tenants' 5xx; then the share of acme in the 10-minute
    // window (the current minute and the nine before) and what each evaluation must notify.
    // Over 50 % opens after two evaluations in a row; under 40 % (80 % of 50) resolves.
    let acme = [
        0, 30, 40, 0, 50, 60, 10, 10, 80, 10, 40, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let others = [
        20, 20, 10, 30, 10, 10, 60, 60, 20, 70, 20, 60, 60, 30, 30, 30, 30, 30, 30, 30, 30, 30,
    ];
    let mut shares = Vec::new();
    for i in 0..acme.len() {
        let from = i.saturating_sub(9);
        let a: usize = acme[from..=i].iter().sum();
        let all: usize = a + others[from..=i].iter().sum::<usize>();
        shares.push(100.0 * a as f64 / all as f64);
    }
    let mut sent_at = Vec::new();
    let mut browser = w.env.admin_browser().await;
    for i in 0..acme.len() {
        w.clock.set(T0 + i as i64 * MIN + 30_000);
        w.minute(acme[i], others[i]).await;
        w.engine.evaluate().await.unwrap();
        let outbox = w.outbox().await;
        if outbox.len() > sent_at.len() {
            assert_eq!(outbox.len(), sent_at.len() + 1, "{outbox:#?}");
            sent_at.push((i, outbox[outbox.len() - 1].transition));
        }
        if i == 4 {
            // On a streak, not open yet: the tenant's page shows no alert.
            assert_eq!(open_alerts(&mut browser).await, Vec::<String>::new());
        }
        if i == 5 {
            // Triggered: the receiver has it before anything else happens.
            assert_eq!(w.delivered().await.len(), 1);
            // The tenant's page shows the open incident, from when it opened, with its share.
            assert_eq!(
                open_alerts(&mut browser).await,
                ["tenant_share | 2026-11-23T10:05:30.000Z | 64% of all 5xx"]
            );
        }
    }
    assert_eq!(open_alerts(&mut browser).await, Vec::<String>::new());
    // Over at minute 2 but not at 3: the streak broke. Over at 4 and 5: open. In and out of the
    // band from 6 to 13 (above 50 % at 6, 8 and 10): nothing. Under 40 % at 14: resolved.
    assert!(
        shares[2] > 50.0 && shares[3] <= 50.0 && shares[3] >= 40.0,
        "{shares:?}"
    );
    assert!([6, 8, 10].iter().all(|&i| shares[i] > 50.0), "{shares:?}");
    assert!(shares[6..14].iter().all(|&s| s >= 40.0), "{shares:?}");
    assert!(shares[14] < 40.0, "{shares:?}");
    assert_eq!(sent_at, [(5, Transition::Triggered), (14, Transition::Resolved)]);

    let bodies = w.delivered().await;
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    let (trigger, resolve) = (&bodies[0], &bodies[1]);
    assert_eq!(trigger["transition"], "triggered");
    assert_eq!(
        trigger["title"],
        "Tenant acme responsible for 64% of 5xx in the last 10 minutes (endpoint /v1/process)"
    );
    assert_eq!(
        trigger["text"],
        "acme had 180 of the project's 280 5xx in the last 10 minutes (64%); the rule fires above 50% \
         in 2 evaluations in a row. 100% of its 5xx were on /v1/process."
    );
    assert_eq!(
        trigger["url"],
        "https://sentinel.example.com/orgs/acme/projects/shop/tenants/acme/"
    );
    assert_eq!(
        trigger["fields"],
        json!({"Project": "shop", "Tenant": "acme", "Endpoint": "/v1/process",
               "Share of 5xx": "64% (180 of 280)"})
    );
    assert_eq!(resolve["transition"], "resolved");
    assert_eq!(
        resolve["title"],
        "Tenant acme no longer responsible for more than 50% of 5xx (now 34% in the last 10 minutes)"
    );
    // Trigger and recovery name one incident (PagerDuty's dedup key).
    let outbox = w.outbox().await;
    assert_eq!(outbox[0].group_key, outbox[1].group_key);
    assert_eq!(outbox[0].subject, "tenant:acme");
    w.env.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_tenant_and_a_slow_tenant_each_open_one_incident_and_resolve_it_once_gone() {
    let w = world(&[
        json!({"kind": "tenant_errors", "errors": 50, "minutes": 5}),
        json!({"kind": "tenant_latency", "factor": 2, "minutes": 10}),
    ])
    .await;
    let now = |w: &World| sentinel_server::clock::Clock::now_ms(w.clock.as_ref());
    w.clock.set(T0 + 30_000);
    // The hour before: acme answers /v1/reports in 100 ms. Now: in 300 ms, while beta fails 60
    // times on /v1/process (and 6 times elsewhere).
    let before = now(&w) - 30 * MIN;
    let mut batch: Vec<Value> = (0..100)
        .map(|_| record("acme", "/v1/reports", 200, 100.0, before))
        .collect();
    batch.extend((0..100).map(|_| record("acme", "/v1/reports", 200, 300.0, now(&w))));
    batch.extend((0..60).map(|_| record("beta", "/v1/process", 500, 20.0, now(&w))));
    batch.extend((0..6).map(|_| record("beta", "/v1/users", 502, 20.0, now(&w))));
    batch.extend((0..100).map(|_| record("beta", "/v1/users", 200, 20.0, now(&w))));
    w.send(batch).await;

    let mut sent = Vec::new();
    for minute in 0..=10 {
        w.clock.set(T0 + minute * MIN + 30_000);
        w.engine.evaluate().await.unwrap();
        for n in w.outbox().await.into_iter().skip(sent.len()) {
            sent.push((minute, n.subject, n.transition, n.message.title));
        }
    }
    // Both open at once; beta's 5xx leave its 5-minute window at minute 5, acme's requests its
    // 10-minute window at minute 10: one recovery each, nothing in between.
    let shape: Vec<(i64, &str, Transition)> = sent
        .iter()
        .map(|(m, subject, t, _)| (*m, subject.as_str(), *t))
        .collect();
    let mut opened = shape[..2].to_vec();
    opened.sort_by_key(|s| s.1);
    assert_eq!(
        opened,
        [
            (0, "tenant:acme", Transition::Triggered),
            (0, "tenant:beta", Transition::Triggered)
        ],
        "{sent:#?}"
    );
    assert_eq!(
        shape[2..],
        [
            (5, "tenant:beta", Transition::Resolved),
            (10, "tenant:acme", Transition::Resolved)
        ],
        "{sent:#?}"
    );
    let title = |subject: &str, t: Transition| {
        sent.iter()
            .find(|s| s.1 == subject && s.2 == t)
            .map(|s| s.3.clone())
            .unwrap()
    };
    assert_eq!(
        title("tenant:beta", Transition::Triggered),
        "Tenant beta had 66 5xx in the last 5 minutes (endpoint /v1/process)"
    );
    assert_eq!(
        title("tenant:beta", Transition::Resolved),
        "Tenant beta no longer has 50 5xx or more in the last 5 minutes (now 0)"
    );
    // p95s within the sketches' 1 %: 300 ms against 100 ms.
    let slow = title("tenant:acme", Transition::Triggered);
    assert!(
        slow.starts_with("Tenant acme's p95 is 3.0× its usual (")
            && slow.ends_with(" ms) on /v1/reports")
            && (slow.contains("(29") || slow.contains("(30"))
            && (slow.contains("vs 99 ms") || slow.contains("vs 100 ms") || slow.contains("vs 101 ms")),
        "{slow}"
    );
    assert_eq!(
        title("tenant:acme", Transition::Resolved),
        "Tenant acme no longer slower than 2× its usual p95 (too few requests now)"
    );
    let bodies = w.delivered().await;
    assert_eq!(bodies.len(), 4);
    assert!(
        bodies.iter().all(|b| b["url"]
            .as_str()
            .unwrap()
            .starts_with("https://sentinel.example.com/orgs/acme/projects/shop/tenants/")),
        "{bodies:#?}"
    );
    w.env.server.shutdown().await.unwrap();
}
