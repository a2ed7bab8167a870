//! Full-stack tests of the alerting API and dashboard: channels, rules and the delivery log of a
//! project (admins manage, members read, other organizations get 404) and of the instance
//! (instance admins only); secrets never in an answer; validation messages that name the field;
//! test notifications queued into the log; and the Alerts pages with their forms. A real server on
//! port 0 per test over a fresh SQLite data dir, or over a fresh PostgreSQL schema when
//! `SENTINEL_TEST_BACKEND=postgres`.
//!
//! Delivery itself is not asserted here (the notifier's tests do that): the channels point at a
//! closed local port, and the tests only look at what was queued.

mod support;

use reqwest::{Method, StatusCode};
use sentinel_store::{Condition, NewAlertRule, OrgRole};
use serde_json::{Value, json};
use support::api::PASSWORD;
use support::web::Browser;

/// The secret part of the webhook URLs below: it must never come back in an answer.
const URL_SECRET: &str = "T0SECRET/B0SECRET/xoxsecretpathtoken";

fn hook_url(n: u32) -> String {
    // Port 9 (discard) is closed on loopback: deliveries fail at once, without leaving the host.
    format!("http://127.0.0.1:9/hooks/{n}/{URL_SECRET}")
}

type Env = support::api::ApiEnv;

/// A built-in rule of the instance, as the alert engine makes them.
fn instance_rule(name: &str, condition: Condition) -> NewAlertRule {
    NewAlertRule {
        project_id: None,
        name: name.into(),
        condition,
        channel_ids: Vec::new(),
        cooldown_ms: 3_600_000,
        reminder_ms: None,
        notify_recovery: true,
        enabled: true,
    }
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// Organization `alpha` (owner alice, admin dave, member carol) with project `shop`, organization
/// `beta` (owner bob) with project `billing`, and an instance admin, root.
struct World {
    env: Env,
    alice: String,
    dave: String,
    carol: String,
    bob: String,
    root: String,
    shop: String,
    billing: String,
}

impl World {
    async fn new() -> World {
        let env = Env::start().await;
        env.user("alice@alpha.test", false).await;
        let dave_id = env.user("dave@alpha.test", false).await.id;
        let carol_id = env.user("carol@alpha.test", false).await.id;
        env.user("bob@beta.test", false).await;
        env.user("root@example.test", true).await;
        let alice = env.sign_in("alice@alpha.test").await;
        let bob = env.sign_in("bob@beta.test").await;
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
                json!({"name": "shop"}),
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
            dave: env.sign_in("dave@alpha.test").await,
            carol: env.sign_in("carol@alpha.test").await,
            root: env.sign_in("root@example.test").await,
            env,
            alice,
            bob,
            shop: s(&shop["id"]),
            billing: s(&billing["id"]),
        }
    }

    /// A webhook channel of `project` made by `token`: its id and signing secret.
    async fn webhook(&self, token: &str, project: &str, n: u32) -> (String, String) {
        let body = self
            .env
            .post(
                token,
                &format!("/api/0/projects/{project}/channels/"),
                json!({"name": format!("hook {n}"), "kind": "webhook", "config": {"url": hook_url(n)}}),
            )
            .await
            .expect(201);
        (s(&body["id"]), s(&body["signing_secret"]))
    }

    /// The rules of project `shop`, as alice reads them through the API.
    async fn rules(&self) -> Value {
        self.env
            .get(
                &self.alice,
                &format!("/api/0/projects/{}/alert-rules/", self.shop),
            )
            .await
            .expect(200)
    }

    /// A new-issue rule of `project` notifying `channel`; its id.
    async fn rule(&self, token: &str, project: &str, channel: &str) -> String {
        let body = self
            .env
            .post(
                token,
                &format!("/api/0/projects/{project}/alert-rules/"),
                json!({"name": "new issues", "condition": {"kind": "new_issue"}, "channels": [channel]}),
            )
            .await
            .expect(201);
        s(&body["id"])
    }
}

/// Fails if `text` contains a secret.
fn assert_no_secret(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} shows a secret ({secret}): {text}");
    }
}

// ---- channels -----------------------------------------------------------------------------------

#[tokio::test]
async fn channels_are_created_listed_changed_and_deleted_without_showing_secrets() {
    let w = World::new().await;
    let env = &w.env;
    let base = format!("/api/0/projects/{}/channels/", w.shop);

    let created = env
        .post(
            &w.alice,
            &base,
            json!({"name": "ops hook", "kind": "webhook", "config": {"url": hook_url(1)}}),
        )
        .await
        .expect(201);
    let id = s(&created["id"]);
    let signing = s(&created["signing_secret"]);
    assert_eq!(signing.len(), 64, "{created}");
    assert_eq!(created["kind"], "webhook");
    assert_eq!(created["project_id"], w.shop.as_str());
    assert_eq!(created["enabled"], true);
    assert!(created["config"].is_object(), "{created}");
    assert_no_secret("the created channel", &created.to_string(), &[URL_SECRET]);

    let slack = env
        .post(
            &w.dave,
            &base,
            json!({"name": "ops slack", "kind": "slack", "config": {"url": format!("https://hooks.slack.com/services/{URL_SECRET}")}, "enabled": false}),
        )
        .await
        .expect(201);
    assert!(slack.get("signing_secret").is_none(), "{slack}");
    assert_eq!(slack["enabled"], false);
    env.post(
        &w.dave,
        &format!("/api/0/channels/{}/test/", s(&slack["id"])),
        json!({}),
    )
    .await
    .expect_error(409, "disabled");

    let list = env.get(&w.carol, &base).await;
    assert_no_secret("the channel list", &list.text, &[URL_SECRET, &signing]);
    let list = list.expect(200);
    let names: Vec<String> = list.as_array().unwrap().iter().map(|c| s(&c["name"])).collect();
    assert_eq!(names, ["ops hook", "ops slack"]);
    let detail = env.get(&w.carol, &format!("/api/0/channels/{id}/")).await;
    assert_no_secret("the channel", &detail.text, &[URL_SECRET, &signing]);
    assert_eq!(detail.expect(200)["name"], "ops hook");

    // Renaming and disabling leave the settings alone.
    let changed = env
        .put(
            &w.alice,
            &format!("/api/0/channels/{id}/"),
            json!({"name": "ops webhook", "enabled": false}),
        )
        .await
        .expect(200);
    assert_eq!(changed["name"], "ops webhook");
    assert_eq!(changed["enabled"], false);
    assert!(changed.get("signing_secret").is_none(), "{changed}");

    // New settings without `secret` keep the signing secret receivers verify with…
    let numeric: i64 = id.parse().unwrap();
    let changed = env
        .put(
            &w.alice,
            &format!("/api/0/channels/{id}/"),
            json!({"config": {"url": hook_url(2)}}),
        )
        .await
        .expect(200);
    assert!(changed.get("signing_secret").is_none(), "{changed}");
    let stored = env.store.get_channel(numeric).await.unwrap().unwrap();
    assert_eq!(stored.secrets.get("secret"), Some(signing.as_str()));
    assert_eq!(stored.secrets.get("url"), Some(hook_url(2).as_str()));
    // …unless a new one is asked for: then it is answered once.
    let changed = env
        .put(
            &w.alice,
            &format!("/api/0/channels/{id}/"),
            json!({"config": {"url": hook_url(2)}, "regenerate_secret": true}),
        )
        .await
        .expect(200);
    let regenerated = s(&changed["signing_secret"]);
    assert_ne!(regenerated, signing);
    let stored = env.store.get_channel(numeric).await.unwrap().unwrap();
    assert_eq!(stored.secrets.get("secret"), Some(regenerated.as_str()));
    let detail = env.get(&w.alice, &format!("/api/0/channels/{id}/")).await;
    assert_no_secret("the channel", &detail.text, &[URL_SECRET, &regenerated]);

    env.put(&w.alice, &format!("/api/0/channels/{id}/"), json!({}))
        .await
        .expect_error(400, "nothing to change");
    env.put(
        &w.alice,
        &format!("/api/0/channels/{id}/"),
        json!({"regenerate_secret": true}),
    )
    .await
    .expect_error(400, "regenerate_secret needs config");

    env.delete(&w.alice, &format!("/api/0/channels/{id}/"))
        .await
        .expect(204);
    env.get(&w.alice, &format!("/api/0/channels/{id}/"))
        .await
        .expect(404);
    let list = env.get(&w.alice, &base).await.expect(200);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn channel_bodies_are_validated_with_messages_naming_the_field() {
    let w = World::new().await;
    let env = &w.env;
    let base = format!("/api/0/projects/{}/channels/", w.shop);
    let cases = [
        (
            json!({"name": "", "kind": "slack", "config": {"url": "https://x.test/a"}}),
            "name",
        ),
        (
            json!({"name": "x", "kind": "carrier-pigeon", "config": {}}),
            "invalid kind",
        ),
        (json!({"name": "x", "kind": "slack", "config": {}}), "config.url"),
        (
            json!({"name": "x", "kind": "webhook", "config": {"url": "ftp://x.test/"}}),
            "config.url",
        ),
        (json!({"name": "x", "kind": "ntfy", "config": {}}), "topic"),
        (
            json!({"name": "x", "kind": "pagerduty", "config": {}}),
            "routing_key",
        ),
        (json!({"name": "x", "kind": "email", "config": {}}), "to"),
        (
            json!({"name": "x", "kind": "slack", "config": {"url": "https://x.test/a"}, "colour": "red"}),
            "unknown field `colour`",
        ),
        (json!({"kind": "slack"}), "missing field `name`"),
    ];
    for (body, needle) in cases {
        env.post(&w.alice, &base, body).await.expect_error(400, needle);
    }
}

// ---- rules --------------------------------------------------------------------------------------

#[tokio::test]
async fn rules_are_created_listed_changed_and_deleted() {
    let w = World::new().await;
    let env = &w.env;
    let (hook, _) = w.webhook(&w.alice, &w.shop, 1).await;
    let (hook2, _) = w.webhook(&w.alice, &w.shop, 2).await;
    let base = format!("/api/0/projects/{}/alert-rules/", w.shop);

    let new_issue = env
        .post(
            &w.alice,
            &base,
            json!({"name": "New issues", "condition": {"kind": "new_issue"}, "channels": [hook]}),
        )
        .await
        .expect(201);
    assert_eq!(new_issue["condition"], json!({"kind": "new_issue"}));
    assert_eq!(new_issue["channels"], json!([hook]));
    assert_eq!(new_issue["cooldown_minutes"], 60);
    assert_eq!(new_issue["reminder_minutes"], Value::Null);
    assert_eq!(new_issue["notify_recovery"], false);
    assert_eq!(new_issue["enabled"], true);
    assert_eq!(new_issue["description"], "a new issue appears");

    let numeric_hook: i64 = hook.parse().unwrap();
    let frequency = env
        .post(
            &w.dave,
            &base,
            json!({
                "name": "Noisy issue",
                "condition": {"kind": "issue_frequency", "events": 100, "minutes": 60},
                "channels": [numeric_hook, hook2],
                "cooldown_minutes": 30,
                "reminder_minutes": 120,
            }),
        )
        .await
        .expect(201);
    assert_eq!(
        frequency["description"],
        "an issue has more than 100 events in 60 minutes"
    );
    assert_eq!(frequency["channels"], json!([hook, hook2]));
    assert_eq!(frequency["notify_recovery"], true);
    assert_eq!(frequency["reminder_minutes"], 120);
    let rate = env
        .post(
            &w.alice,
            &base,
            json!({
                "name": "Spike",
                "condition": {"kind": "event_rate", "factor": 2.5, "minutes": 10, "baseline_hours": 24, "min_events": 50},
                "channels": [hook2],
                "notify_recovery": false,
                "enabled": false,
            }),
        )
        .await
        .expect(201);
    assert_eq!(rate["condition"]["factor"], 2.5);
    assert_eq!(rate["enabled"], false);

    let list = env.get(&w.carol, &base).await.expect(200);
    let names: Vec<String> = list.as_array().unwrap().iter().map(|r| s(&r["name"])).collect();
    assert_eq!(names, ["New issues", "Noisy issue", "Spike"]);
    let id = s(&frequency["id"]);
    let detail = env
        .get(&w.carol, &format!("/api/0/alert-rules/{id}/"))
        .await
        .expect(200);
    assert_eq!(detail["name"], "Noisy issue");

    // Absent fields stay; `null` removes reminders; a new condition replaces the old one.
    let changed = env
        .put(
            &w.alice,
            &format!("/api/0/alert-rules/{id}/"),
            json!({"condition": {"kind": "issue_frequency", "events": 500, "minutes": 5}, "reminder_minutes": null, "channels": [hook2]}),
        )
        .await
        .expect(200);
    assert_eq!(changed["name"], "Noisy issue");
    assert_eq!(changed["cooldown_minutes"], 30);
    assert_eq!(changed["reminder_minutes"], Value::Null);
    assert_eq!(changed["channels"], json!([hook2]));
    assert_eq!(
        changed["description"],
        "an issue has more than 500 events in 5 minutes"
    );

    // Event-driven rules never recover: notify_recovery stays off whatever is entered.
    let forced = env
        .put(
            &w.alice,
            &format!("/api/0/alert-rules/{}/", s(&new_issue["id"])),
            json!({"notify_recovery": true}),
        )
        .await
        .expect(200);
    assert_eq!(forced["notify_recovery"], false);

    // Deleting a channel takes it out of its rules.
    env.delete(&w.alice, &format!("/api/0/channels/{hook2}/"))
        .await
        .expect(204);
    let after = env
        .get(&w.alice, &format!("/api/0/alert-rules/{id}/"))
        .await
        .expect(200);
    assert_eq!(after["channels"], json!([]));

    env.delete(&w.alice, &format!("/api/0/alert-rules/{id}/"))
        .await
        .expect(204);
    env.get(&w.alice, &format!("/api/0/alert-rules/{id}/"))
        .await
        .expect(404);
}

#[tokio::test]
async fn rule_bodies_are_validated_with_messages_naming_the_field() {
    let w = World::new().await;
    let env = &w.env;
    let (hook, _) = w.webhook(&w.alice, &w.shop, 1).await;
    let (foreign, _) = w.webhook(&w.bob, &w.billing, 2).await;
    let base = format!("/api/0/projects/{}/alert-rules/", w.shop);
    let with = |condition: Value| json!({"name": "r", "condition": condition, "channels": [hook]});
    let cases = [
        (
            with(json!({"kind": "issue_frequency", "events": 0, "minutes": 60})),
            "condition.events must be at least 1",
        ),
        (
            with(json!({"kind": "issue_frequency", "events": 10, "minutes": 0})),
            "condition.minutes must be from 1 to 1440",
        ),
        (
            with(json!({"kind": "issue_frequency", "events": 10, "minutes": 1441})),
            "condition.minutes",
        ),
        (
            with(json!({"kind": "issue_frequency", "events": 10})),
            "condition.minutes is required",
        ),
        (
            with(
                json!({"kind": "event_rate", "factor": 1, "minutes": 10, "baseline_hours": 24, "min_events": 5}),
            ),
            "condition.factor must be greater than 1",
        ),
        (
            with(
                json!({"kind": "event_rate", "factor": 2, "minutes": 10, "baseline_hours": 721, "min_events": 5}),
            ),
            "condition.baseline_hours must be from 1 to 720",
        ),
        (
            with(json!({"kind": "new_issue", "minutes": 5})),
            "unknown field condition.minutes",
        ),
        (
            with(json!({"kind": "inbox_lag", "seconds": 60})),
            "watches the instance",
        ),
        (
            with(json!({"kind": "disk_free", "percent": 5})),
            "watches the instance",
        ),
        (with(json!({"kind": "sometimes"})), "invalid condition.kind"),
        (with(json!("new_issue")), "condition must be an object"),
        (
            json!({"name": "r", "condition": {"kind": "new_issue"}, "channels": [hook], "cooldown_minutes": 10081}),
            "cooldown_minutes must be from 0 to 10080",
        ),
        (
            json!({"name": "r", "condition": {"kind": "new_issue"}, "channels": [hook], "cooldown_minutes": -1}),
            "cooldown_minutes",
        ),
        (
            json!({"name": "r", "condition": {"kind": "new_issue"}, "channels": [hook], "reminder_minutes": 0}),
            "reminder_minutes must be from 1",
        ),
        (
            json!({"name": "r", "condition": {"kind": "new_issue"}, "channels": [foreign]}),
            "channels: channel",
        ),
        (
            json!({"name": "r", "condition": {"kind": "new_issue"}, "channels": []}),
            "channels must name at least one",
        ),
        (
            json!({"name": "r", "condition": {"kind": "new_issue"}, "channels": ["x"]}),
            "channels[0]",
        ),
        (
            json!({"name": "r", "condition": {"kind": "new_issue"}}),
            "channels is required",
        ),
        (
            json!({"condition": {"kind": "new_issue"}, "channels": [hook]}),
            "name is required",
        ),
        (json!({"name": "r", "channels": [hook]}), "condition is required"),
        (
            json!({"name": "r", "condition": {"kind": "new_issue"}, "channels": [hook], "snooze": 1}),
            "unknown field `snooze`",
        ),
    ];
    for (body, needle) in cases {
        env.post(&w.alice, &base, body).await.expect_error(400, needle);
    }
    assert_eq!(w.rules().await, json!([]));
}

#[tokio::test]
async fn tenant_rules_answer_with_their_defaults_and_refuse_bad_thresholds_precisely() {
    let w = World::new().await;
    let env = &w.env;
    let (hook, _) = w.webhook(&w.alice, &w.shop, 1).await;
    let base = format!("/api/0/projects/{}/alert-rules/", w.shop);
    let with = |condition: Value| json!({"name": "tenants", "condition": condition, "channels": [hook]});

    // The defaults applied are stored and shown: K = 2 for shares, resolving at 80 %.
    let share = env
        .post(
            &w.alice,
            &base,
            with(json!({"kind": "tenant_share", "percent": 50, "minutes": 10})),
        )
        .await
        .expect(201);
    assert_eq!(
        share["condition"],
        json!({"kind": "tenant_share", "percent": 50.0, "minutes": 10, "min_errors": 10,
               "evaluations": 2, "resolve_below": 40.0})
    );
    assert_eq!(
        share["description"],
        "a tenant causes more than 50% of the 5xx in 10 minutes (with at least 10 5xx), 2 evaluations \
         in a row; resolved under 40%"
    );
    assert_eq!(share["notify_recovery"], true);
    let latency = env
        .post(
            &w.alice,
            &base,
            with(json!({"kind": "tenant_latency", "factor": 3, "minutes": 10, "evaluations": 3})),
        )
        .await
        .expect(201);
    assert_eq!(latency["condition"]["min_requests"], 20);
    assert_eq!(latency["condition"]["evaluations"], 3);
    let resolve = latency["condition"]["resolve_below"].as_f64().unwrap();
    assert!((resolve - 2.6).abs() < 1e-9, "{latency}");
    let count = env
        .post(
            &w.alice,
            &base,
            with(json!({"kind": "tenant_errors", "errors": 100, "minutes": 5, "resolve_below": 50})),
        )
        .await
        .expect(201);
    assert_eq!(
        count["condition"],
        json!({"kind": "tenant_errors", "errors": 100, "minutes": 5, "evaluations": 1,
               "resolve_below": 50.0})
    );

    let cases = [
        (
            json!({"kind": "tenant_share", "percent": 0, "minutes": 10}),
            "condition.percent must be greater than 0 and less than 100",
        ),
        (
            json!({"kind": "tenant_share", "percent": 100, "minutes": 10}),
            "condition.percent must be greater than 0 and less than 100",
        ),
        (
            json!({"kind": "tenant_share", "percent": "half", "minutes": 10}),
            "condition.percent must be a number, not \"half\"",
        ),
        (
            json!({"kind": "tenant_share", "minutes": 10}),
            "condition.percent is required",
        ),
        (
            json!({"kind": "tenant_share", "percent": 50, "minutes": 10, "evaluations": 0}),
            "condition.evaluations must be from 1 to 60",
        ),
        (
            json!({"kind": "tenant_share", "percent": 50, "minutes": 10, "min_errors": 0}),
            "condition.min_errors must be at least 1",
        ),
        (
            json!({"kind": "tenant_share", "percent": 50, "minutes": 10, "resolve_below": 60}),
            "condition.resolve_below must be greater than 0 and at most condition.percent (50), not 60",
        ),
        (
            json!({"kind": "tenant_latency", "factor": 1, "minutes": 10}),
            "condition.factor must be greater than 1 (the tenant's usual p95), not 1",
        ),
        (
            json!({"kind": "tenant_latency", "factor": 0.5, "minutes": 10}),
            "condition.factor must be greater than 1",
        ),
        (
            json!({"kind": "tenant_latency", "factor": 3, "minutes": 10, "resolve_below": 1}),
            "condition.resolve_below must be greater than 1 and at most condition.factor (3)",
        ),
        (
            json!({"kind": "tenant_latency", "factor": 3, "minutes": 10, "min_requests": 0}),
            "condition.min_requests must be at least 1",
        ),
        (
            json!({"kind": "tenant_errors", "errors": 0, "minutes": 10}),
            "condition.errors must be at least 1",
        ),
        (
            json!({"kind": "tenant_errors", "errors": 10, "minutes": 10, "percent": 5}),
            "unknown field condition.percent: tenant_errors takes errors, minutes, evaluations, resolve_below",
        ),
    ];
    for (condition, needle) in cases {
        env.post(&w.alice, &base, with(condition))
            .await
            .expect_error(400, needle);
    }
    assert_eq!(w.rules().await.as_array().unwrap().len(), 3);

    // Project rules only: an instance rule cannot watch tenants.
    let rule = env
        .store
        .create_rule(
            &instance_rule("Disk almost full", Condition::DiskFree { percent: 10.0 }),
            env.clock.now_ms(),
        )
        .await
        .unwrap();
    env.put(
        &w.root,
        &format!("/api/0/alert-rules/{}/", rule.id),
        json!({"condition": {"kind": "tenant_share", "percent": 50, "minutes": 10}}),
    )
    .await
    .expect_error(400, "condition.kind tenant_share watches a project");
}

// ---- who may do what ----------------------------------------------------------------------------

#[tokio::test]
async fn members_read_and_admins_write() {
    let w = World::new().await;
    let env = &w.env;
    let (hook, _) = w.webhook(&w.alice, &w.shop, 1).await;
    let rule = w.rule(&w.alice, &w.shop, &hook).await;

    env.get(&w.carol, &format!("/api/0/projects/{}/channels/", w.shop))
        .await
        .expect(200);
    env.get(&w.carol, &format!("/api/0/projects/{}/alert-rules/", w.shop))
        .await
        .expect(200);
    env.get(&w.carol, &format!("/api/0/projects/{}/notifications/", w.shop))
        .await
        .expect(200);
    env.get(&w.carol, &format!("/api/0/channels/{hook}/"))
        .await
        .expect(200);
    env.get(&w.carol, &format!("/api/0/alert-rules/{rule}/"))
        .await
        .expect(200);

    let writes = [
        (
            Method::POST,
            format!("/api/0/projects/{}/channels/", w.shop),
            json!({"name": "x", "kind": "slack", "config": {"url": "https://x.test/a"}}),
        ),
        (
            Method::PUT,
            format!("/api/0/channels/{hook}/"),
            json!({"name": "x"}),
        ),
        (Method::DELETE, format!("/api/0/channels/{hook}/"), Value::Null),
        (Method::POST, format!("/api/0/channels/{hook}/test/"), Value::Null),
        (
            Method::POST,
            format!("/api/0/projects/{}/alert-rules/", w.shop),
            json!({"name": "r", "condition": {"kind": "new_issue"}, "channels": [hook]}),
        ),
        (
            Method::PUT,
            format!("/api/0/alert-rules/{rule}/"),
            json!({"enabled": false}),
        ),
        (Method::DELETE, format!("/api/0/alert-rules/{rule}/"), Value::Null),
    ];
    for (method, path, body) in &writes {
        let body = (!body.is_null()).then(|| body.clone());
        env.call(method.clone(), path, Some(&w.carol), body)
            .await
            .expect_error(403, "needs admin");
    }
    // Nothing changed.
    let channel = env
        .get(&w.alice, &format!("/api/0/channels/{hook}/"))
        .await
        .expect(200);
    assert_eq!(channel["name"], "hook 1");
    env.get(&w.alice, &format!("/api/0/alert-rules/{rule}/"))
        .await
        .expect(200);

    // A read-scoped token of an owner only reads.
    let token = env
        .post(
            &w.alice,
            "/api/0/user/tokens/",
            json!({"name": "ro", "scope": "read"}),
        )
        .await
        .expect(201);
    let ro = s(&token["token"]);
    env.get(&ro, &format!("/api/0/channels/{hook}/"))
        .await
        .expect(200);
    env.post(&ro, &format!("/api/0/channels/{hook}/test/"), json!({}))
        .await
        .expect(403);
}

#[tokio::test]
async fn another_organizations_channels_rules_and_log_answer_404() {
    let w = World::new().await;
    let env = &w.env;
    let (hook, _) = w.webhook(&w.alice, &w.shop, 1).await;
    let rule = w.rule(&w.alice, &w.shop, &hook).await;
    env.post(&w.alice, &format!("/api/0/channels/{hook}/test/"), json!({}))
        .await
        .expect(202);

    let probes = [
        (Method::GET, format!("/api/0/projects/{}/channels/", w.shop), None),
        (
            Method::POST,
            format!("/api/0/projects/{}/channels/", w.shop),
            Some(json!({"name": "x", "kind": "slack", "config": {"url": "https://x.test/a"}})),
        ),
        (Method::GET, format!("/api/0/channels/{hook}/"), None),
        (
            Method::PUT,
            format!("/api/0/channels/{hook}/"),
            Some(json!({"name": "mine"})),
        ),
        (Method::DELETE, format!("/api/0/channels/{hook}/"), None),
        (Method::POST, format!("/api/0/channels/{hook}/test/"), None),
        (
            Method::GET,
            format!("/api/0/projects/{}/alert-rules/", w.shop),
            None,
        ),
        (
            Method::POST,
            format!("/api/0/projects/{}/alert-rules/", w.shop),
            Some(json!({"name": "r", "condition": {"kind": "new_issue"}, "channels": [hook]})),
        ),
        (Method::GET, format!("/api/0/alert-rules/{rule}/"), None),
        (
            Method::PUT,
            format!("/api/0/alert-rules/{rule}/"),
            Some(json!({"enabled": false})),
        ),
        (Method::DELETE, format!("/api/0/alert-rules/{rule}/"), None),
        (
            Method::GET,
            format!("/api/0/projects/{}/notifications/", w.shop),
            None,
        ),
        (Method::GET, "/api/0/channels/999999/".to_owned(), None),
        (Method::GET, "/api/0/alert-rules/nope/".to_owned(), None),
    ];
    for (method, path, body) in &probes {
        let resp = env.call(method.clone(), path, Some(&w.bob), body.clone()).await;
        assert_no_secret(&resp.what.clone(), &resp.text, &["hook 1", "new issues"]);
        resp.expect(404);
    }
    // Bob's rules cannot point at Alice's channels either.
    env.post(
        &w.bob,
        &format!("/api/0/projects/{}/alert-rules/", w.billing),
        json!({"name": "r", "condition": {"kind": "new_issue"}, "channels": [hook]}),
    )
    .await
    .expect_error(400, "not a channel of this project");
    // Everything is still there.
    env.get(&w.alice, &format!("/api/0/alert-rules/{rule}/"))
        .await
        .expect(200);
    let log = env
        .get(&w.alice, &format!("/api/0/projects/{}/notifications/", w.shop))
        .await
        .expect(200);
    assert_eq!(log["data"].as_array().unwrap().len(), 1);
    let theirs = env
        .get(&w.bob, &format!("/api/0/projects/{}/notifications/", w.billing))
        .await
        .expect(200);
    assert_eq!(theirs["data"], json!([]));
}

// ---- the test notification and the delivery log -------------------------------------------------

#[tokio::test]
async fn a_test_notification_is_queued_and_shows_in_the_delivery_log() {
    let w = World::new().await;
    let env = &w.env;
    let (hook, signing) = w.webhook(&w.alice, &w.shop, 1).await;

    let queued = env
        .post(&w.dave, &format!("/api/0/channels/{hook}/test/"), json!({}))
        .await
        .expect(202);
    let key = s(&queued["idempotency_key"]);
    let n = &queued["notification"];
    assert_eq!(n["idempotency_key"], key.as_str());
    assert_eq!(n["transition"], "test");
    assert_eq!(n["channel_id"], hook.as_str());
    assert_eq!(n["channel_kind"], "webhook");
    assert_eq!(n["rule_id"], Value::Null);
    assert!(s(&n["message"]["text"]).contains("dave"), "{n}");

    let log = env
        .get(&w.carol, &format!("/api/0/projects/{}/notifications/", w.shop))
        .await;
    assert_no_secret("the delivery log", &log.text, &[URL_SECRET, &signing]);
    let log = log.expect(200);
    let first = &log["data"][0];
    assert_eq!(first["idempotency_key"], key.as_str());
    assert_eq!(first["transition"], "test");
    assert_eq!(first["project_id"], w.shop.as_str());
    assert!(first["deliveries"].is_array(), "{first}");
    assert_eq!(log["pagination"]["has_more"], false);

    // Newest first, paged by id.
    for _ in 0..2 {
        env.post(&w.alice, &format!("/api/0/channels/{hook}/test/"), json!({}))
            .await
            .expect(202);
    }
    let page = env
        .get(
            &w.alice,
            &format!("/api/0/projects/{}/notifications/?limit=2", w.shop),
        )
        .await
        .expect(200);
    let ids: Vec<i64> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(&n["id"]).parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] > ids[1], "{ids:?}");
    assert_eq!(page["pagination"]["has_more"], true);
    let cursor = s(&page["pagination"]["next_cursor"]);
    let rest = env
        .get(
            &w.alice,
            &format!(
                "/api/0/projects/{}/notifications/?limit=2&cursor={cursor}",
                w.shop
            ),
        )
        .await
        .expect(200);
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["idempotency_key"], key.as_str());
    assert_eq!(
        rest["pagination"],
        json!({"next_cursor": null, "has_more": false})
    );
    env.get(
        &w.alice,
        &format!("/api/0/projects/{}/notifications/?cursor=abc", w.shop),
    )
    .await
    .expect_error(400, "cursor");
    env.get(
        &w.alice,
        &format!("/api/0/projects/{}/notifications/?limit=0", w.shop),
    )
    .await
    .expect_error(400, "limit");
}

// ---- the instance -------------------------------------------------------------------------------

#[tokio::test]
async fn instance_channels_rules_and_log_belong_to_instance_admins() {
    let w = World::new().await;
    let env = &w.env;

    let created = env
        .post(
            &w.root,
            "/api/0/instance/channels/",
            json!({"name": "sre", "kind": "webhook", "config": {"url": hook_url(7)}}),
        )
        .await
        .expect(201);
    assert_eq!(created["project_id"], Value::Null);
    let id = s(&created["id"]);
    let signing = s(&created["signing_secret"]);
    let list = env.get(&w.root, "/api/0/instance/channels/").await;
    assert_no_secret("the instance channels", &list.text, &[URL_SECRET, &signing]);
    assert_eq!(list.expect(200)[0]["name"], "sre");
    env.post(&w.root, &format!("/api/0/channels/{id}/test/"), json!({}))
        .await
        .expect(202);
    let log = env
        .get(&w.root, "/api/0/instance/notifications/")
        .await
        .expect(200);
    assert!(
        log["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["transition"] == "test" && n["channel_id"] == id.as_str()),
        "{log}"
    );
    // Project logs do not show instance notifications.
    let shop_log = env
        .get(&w.alice, &format!("/api/0/projects/{}/notifications/", w.shop))
        .await
        .expect(200);
    assert_eq!(shop_log["data"], json!([]));

    // A built-in rule, as the alert engine makes them.
    let rule = env
        .store
        .create_rule(
            &instance_rule("Disk almost full", Condition::DiskFree { percent: 10.0 }),
            env.clock.now_ms(),
        )
        .await
        .unwrap();
    let rule_path = format!("/api/0/alert-rules/{}/", rule.id);
    let rules = env.get(&w.root, "/api/0/instance/alert-rules/").await.expect(200);
    assert!(
        rules
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == rule.id.to_string().as_str() && r["project_id"].is_null()),
        "{rules}"
    );
    let changed = env
        .put(
            &w.root,
            &rule_path,
            json!({"condition": {"kind": "disk_free", "percent": 5}, "enabled": false, "cooldown_minutes": 120}),
        )
        .await
        .expect(200);
    assert_eq!(changed["condition"], json!({"kind": "disk_free", "percent": 5.0}));
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["cooldown_minutes"], 120);
    assert_eq!(changed["name"], "Disk almost full");
    env.put(
        &w.root,
        &rule_path,
        json!({"condition": {"kind": "inbox_lag", "seconds": 60}}),
    )
    .await
    .expect_error(400, "keeps its kind");
    env.put(&w.root, &rule_path, json!({"condition": {"kind": "new_issue"}}))
        .await
        .expect_error(400, "watches a project");
    env.put(
        &w.root,
        &rule_path,
        json!({"condition": {"kind": "disk_free", "percent": 100}}),
    )
    .await
    .expect_error(400, "condition.percent");
    env.put(&w.root, &rule_path, json!({"name": "Mine"}))
        .await
        .expect_error(400, "keep their names");
    env.put(&w.root, &rule_path, json!({"channels": [id]}))
        .await
        .expect_error(400, "channels");
    env.delete(&w.root, &rule_path)
        .await
        .expect_error(409, "cannot be deleted");

    // Organization owners are not instance admins.
    for path in [
        "/api/0/instance/channels/",
        "/api/0/instance/alert-rules/",
        "/api/0/instance/notifications/",
    ] {
        env.get(&w.alice, path)
            .await
            .expect_error(403, "instance administrators");
    }
    env.post(
        &w.alice,
        "/api/0/instance/channels/",
        json!({"name": "x", "kind": "slack", "config": {"url": "https://x.test/a"}}),
    )
    .await
    .expect(403);
    for (method, path) in [
        (Method::GET, format!("/api/0/channels/{id}/")),
        (Method::DELETE, format!("/api/0/channels/{id}/")),
        (Method::POST, format!("/api/0/channels/{id}/test/")),
        (Method::GET, rule_path.clone()),
        (Method::DELETE, rule_path.clone()),
    ] {
        env.call(method, &path, Some(&w.alice), None).await.expect(404);
    }
    env.put(&w.alice, &rule_path, json!({"enabled": true}))
        .await
        .expect(404);
    // Instance admins manage every project's alerts too (they act as owners everywhere).
    env.get(&w.root, &format!("/api/0/projects/{}/channels/", w.shop))
        .await
        .expect(200);
}

// ---- the dashboard ------------------------------------------------------------------------------

/// A browser signed in as `email` (with [`PASSWORD`]).
async fn browser(env: &Env, email: &str) -> Browser {
    let mut b = Browser::new(env.server.base_url());
    let page = b.sign_in(email, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    b
}

/// The Alerts page of project `shop`.
const SHOP_ALERTS: &str = "/orgs/alpha/projects/shop/alerts/";

/// Submits the add-rule form of [`SHOP_ALERTS`] with `fields`, and checks the answer's status and
/// that its page says `needle` (the new rule's description, or why it was refused).
async fn submit_rule(b: &mut Browser, fields: &[(&str, &str)], status: StatusCode, needle: &str) {
    let page = b
        .submit(SHOP_ALERTS, "/orgs/alpha/projects/shop/alerts/rules", fields)
        .await;
    assert_eq!(page.status, status, "{}", page.body);
    assert!(page.body.contains(needle), "no {needle:?} in:\n{}", page.body);
}

/// The number after `marker` in `body` (an id in a data attribute).
fn id_after(body: &str, marker: &str) -> String {
    let i = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} on the page:\n{body}"));
    body[i + marker.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

#[tokio::test]
async fn the_rule_form_offers_the_tenant_kinds_with_their_defaults() {
    let w = World::new().await;
    let env = &w.env;
    let page_path = SHOP_ALERTS;
    let (channel, _) = w.webhook(&w.alice, &w.shop, 1).await;
    let mut alice = browser(env, "alice@alpha.test").await;
    let page = alice.get(page_path).await;
    for kind in ["tenant_errors", "tenant_share", "tenant_latency"] {
        assert!(
            page.body.contains(&format!("<option value=\"{kind}\"")),
            "{kind} missing:\n{}",
            page.body
        );
    }
    assert!(
        page.body.contains("A tenant causes most of the 5xx"),
        "{}",
        page.body
    );

    // Its fields: the threshold with a starting value, K, and an optional lower bound.
    let fields = alice
        .get_with(
            "/orgs/alpha/projects/shop/alerts/rule-fields?kind=tenant_share",
            &[("hx-request", "true")],
        )
        .await;
    assert_eq!(fields.status, StatusCode::OK);
    let body = &fields.body;
    assert!(body.contains("More than this percent of all 5xx"), "{body}");
    assert!(
        body.contains(r#"name="percent" inputmode="decimal" required maxlength="20" value="50""#),
        "{body}"
    );
    assert!(
        body.contains(r#"name="evaluations" inputmode="decimal" required maxlength="20" value="2""#),
        "{body}"
    );
    assert!(
        body.contains(r#"name="resolve_below" inputmode="decimal" maxlength="20" value="""#),
        "{body}"
    );

    // Submitted with the lower bound left empty: the API's default.
    submit_rule(
        &mut alice,
        &[
            ("name", "dominating tenant"),
            ("kind", "tenant_share"),
            ("percent", "60"),
            ("minutes", "10"),
            ("min_errors", "10"),
            ("evaluations", "2"),
            ("resolve_below", ""),
            ("channel", &channel),
            ("cooldown_minutes", "0"),
            ("notify_recovery", "true"),
        ],
        StatusCode::OK,
        "a tenant causes more than 60% of the 5xx in 10 minutes",
    )
    .await;
    let rules = w.rules().await;
    assert_eq!(rules[0]["condition"]["resolve_below"], 48.0);
    submit_rule(
        &mut alice,
        &[
            ("name", "slow tenant"),
            ("kind", "tenant_latency"),
            ("factor", "1"),
            ("minutes", "10"),
            ("channel", &channel),
        ],
        StatusCode::BAD_REQUEST,
        "condition.factor must be greater than 1",
    )
    .await;
}

#[tokio::test]
async fn the_alerts_page_manages_channels_rules_and_tests_for_admins_and_reads_for_members() {
    let w = World::new().await;
    let env = &w.env;
    let page_path = SHOP_ALERTS;
    let mut alice = browser(env, "alice@alpha.test").await;

    let page = alice.get(page_path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"channel-form\""), "{}", page.body);
    assert!(page.body.contains("Add a channel first"), "{}", page.body);
    assert!(page.body.contains("id=\"delivery-log\""));

    // The fields of the add-channel form follow the kind.
    let fields = alice
        .get_with(
            "/orgs/alpha/projects/shop/alerts/channel-fields?kind=ntfy",
            &[("hx-request", "true")],
        )
        .await;
    assert_eq!(fields.status, StatusCode::OK);
    assert!(fields.body.contains("name=\"topic\""), "{}", fields.body);
    assert!(!fields.body.contains("<html"), "{}", fields.body);

    // A form without the CSRF token is refused.
    let refused = alice
        .post(
            "/orgs/alpha/projects/shop/alerts/channels",
            &[("name", "ops"), ("kind", "slack"), ("url", "https://x.test/a")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let slack_url = format!("https://hooks.slack.com/services/{URL_SECRET}");
    let created = alice
        .submit(
            page_path,
            "/orgs/alpha/projects/shop/alerts/channels",
            &[("name", "ops slack"), ("kind", "slack"), ("url", &slack_url)],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(
        created.body.contains("Channel ops slack created."),
        "{}",
        created.body
    );
    assert!(created.body.contains("ops slack"));
    assert!(!created.body.contains("id=\"signing-secret\""));
    assert_no_secret("the alerts page", &created.body, &[URL_SECRET]);

    // A webhook shows its generated signing secret once.
    let hook = hook_url(3);
    let created = alice
        .submit(
            page_path,
            "/orgs/alpha/projects/shop/alerts/channels",
            &[("name", "ops hook"), ("kind", "webhook"), ("url", &hook)],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let marker = "id=\"signing-secret\">";
    let i = created.body.find(marker).unwrap();
    let secret: String = created.body[i + marker.len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(secret.len(), 64, "{}", created.body);
    let again = alice.get(page_path).await;
    assert_no_secret("the alerts page", &again.body, &[URL_SECRET, &secret]);

    // A rule notifying the first channel.
    let channel = id_after(&again.body, "data-channel-id=\"");
    submit_rule(
        &mut alice,
        &[
            ("name", "noisy"),
            ("kind", "issue_frequency"),
            ("events", "100"),
            ("minutes", "0"),
            ("channel", &channel),
        ],
        StatusCode::BAD_REQUEST,
        "condition.minutes must be from 1 to 1440",
    )
    .await;
    submit_rule(
        &mut alice,
        &[
            ("name", "noisy"),
            ("kind", "issue_frequency"),
            ("events", "100"),
            ("minutes", "60"),
            ("channel", &channel),
            ("cooldown_minutes", "15"),
            ("reminder_minutes", ""),
            ("notify_recovery", "true"),
        ],
        StatusCode::OK,
        "an issue has more than 100 events in 60 minutes",
    )
    .await;
    let rules = w.rules().await;
    assert_eq!(rules[0]["cooldown_minutes"], 15);
    assert_eq!(rules[0]["channels"], json!([channel]));

    // "Send test notification": back to the page with a flash, and the log shows it.
    let tested = alice
        .submit(
            page_path,
            &format!("/orgs/alpha/projects/shop/alerts/channels/{channel}/test"),
            &[],
        )
        .await;
    assert_eq!(tested.status, StatusCode::SEE_OTHER, "{}", tested.body);
    assert_eq!(tested.location(), format!("{page_path}?tested={channel}"));
    let shown = alice.get(tested.location()).await;
    assert!(
        shown.body.contains("Test notification queued for ops slack"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("data-transition=\"test\""), "{}", shown.body);
    let log = alice
        .get_with("/orgs/alpha/projects/shop/alerts/log", &[("hx-request", "true")])
        .await;
    assert!(log.body.contains("data-transition=\"test\""), "{}", log.body);
    assert!(log.body.starts_with("<section"), "{}", log.body);

    // Disable, then delete the rule.
    let rule = id_after(&shown.body, "data-rule-id=\"");
    let done = alice
        .submit(
            page_path,
            &format!("/orgs/alpha/projects/shop/alerts/rules/{rule}/enabled"),
            &[("enabled", "false")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let rules = w.rules().await;
    assert_eq!(rules[0]["enabled"], false);
    alice
        .submit(
            page_path,
            &format!("/orgs/alpha/projects/shop/alerts/rules/{rule}/delete"),
            &[],
        )
        .await;
    let rules = w.rules().await;
    assert_eq!(rules, json!([]));

    // A member reads the page without forms and cannot post them.
    let mut carol = browser(env, "carol@alpha.test").await;
    let page = carol.get(page_path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("ops slack"));
    assert!(!page.body.contains("id=\"channel-form\""), "{}", page.body);
    assert!(!page.body.contains("Send test notification"));
    let refused = carol
        .submit(
            page_path,
            "/orgs/alpha/projects/shop/alerts/channels",
            &[("name", "mine"), ("kind", "slack"), ("url", "https://x.test/a")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Another organization's user finds nothing; only instance admins see the instance page.
    let mut bob = browser(env, "bob@beta.test").await;
    assert_eq!(bob.get(page_path).await.status, StatusCode::NOT_FOUND);
    let refused = bob
        .submit(
            "/account",
            &format!("/orgs/alpha/projects/shop/alerts/channels/{channel}/test"),
            &[],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(bob.get("/admin/alerts/").await.status, StatusCode::NOT_FOUND);
    assert_eq!(alice.get("/admin/alerts/").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_instance_alerts_page_manages_instance_channels_and_built_in_rules() {
    let w = World::new().await;
    let env = &w.env;
    let rule = env
        .store
        .create_rule(
            &instance_rule("Inbox lagging", Condition::InboxLag { seconds: 300 }),
            env.clock.now_ms(),
        )
        .await
        .unwrap();
    let mut root = browser(env, "root@example.test").await;
    let account = root.get("/account").await;
    assert!(
        account.body.contains("id=\"instance-alerts-link\""),
        "{}",
        account.body
    );

    let page = root.get("/admin/alerts/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"channel-form\""));
    assert!(
        page.body.contains(&format!("id=\"instance-rule-{}\"", rule.id)),
        "{}",
        page.body
    );
    assert!(page.body.contains("older than 300 seconds"), "{}", page.body);

    let created = root
        .submit(
            "/admin/alerts/",
            "/admin/alerts/channels",
            &[
                ("name", "sre ntfy"),
                ("kind", "ntfy"),
                ("topic", "sentinel-sre"),
                ("url", "http://127.0.0.1:9"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(created.body.contains("sre ntfy"));
    let channels = env.get(&w.root, "/api/0/instance/channels/").await.expect(200);
    let channel = s(&channels[0]["id"]);

    let saved = root
        .submit(
            "/admin/alerts/",
            &format!("/admin/alerts/rules/{}", rule.id),
            &[
                ("seconds", "600"),
                ("cooldown_minutes", "30"),
                ("reminder_minutes", "240"),
                ("enabled", "true"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored = env.store.get_rule(rule.id).await.unwrap().unwrap();
    assert_eq!(stored.condition, Condition::InboxLag { seconds: 600 });
    assert_eq!(stored.cooldown_ms, 30 * 60_000);
    assert_eq!(stored.reminder_ms, Some(240 * 60_000));
    assert!(!stored.notify_recovery);
    assert!(stored.enabled);
    let bad = root
        .submit(
            "/admin/alerts/",
            &format!("/admin/alerts/rules/{}", rule.id),
            &[("seconds", "0"), ("cooldown_minutes", "30"), ("enabled", "true")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("condition.seconds"), "{}", bad.body);

    let tested = root
        .submit(
            "/admin/alerts/",
            &format!("/admin/alerts/channels/{channel}/test"),
            &[],
        )
        .await;
    assert_eq!(tested.status, StatusCode::SEE_OTHER);
    let shown = root.get(tested.location()).await;
    assert!(
        shown.body.contains("Test notification queued for sre ntfy"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("data-transition=\"test\""), "{}", shown.body);

    let deleted = root
        .submit(
            "/admin/alerts/",
            &format!("/admin/alerts/channels/{channel}/delete"),
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let channels = env.get(&w.root, "/api/0/instance/channels/").await.expect(200);
    assert_eq!(channels, json!([]));

    // An instance channel is not reachable through a project's page.
    let (hook, _) = w.webhook(&w.alice, &w.shop, 1).await;
    let refused = root
        .submit(
            "/admin/alerts/",
            &format!("/admin/alerts/channels/{hook}/test"),
            &[],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
}
