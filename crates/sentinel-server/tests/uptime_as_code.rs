//! Monitors as code against a real database (SQLite, or PostgreSQL with
//! `SENTINEL_TEST_BACKEND=postgres`): a first apply creates the monitors with the fields the file
//! gives, a second changes nothing, an edit updates exactly that monitor (its history stays),
//! `prune` deletes only what the file's projects no longer list, an invalid entry is named and
//! stops the whole apply, and a dry run writes nothing.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::sync::Arc;

use sentinel_server::clock::{Clock, ManualClock};
use sentinel_server::uptime::api::parse_monitor;
use sentinel_server::uptime::as_code::{self, AsCodeError, MonitorsFile, Plan};
use sentinel_store::{Monitor, MonitorKind, NewCheckResult, NewMonitor, Store};
use serde_json::{Map, Value, json};

const T0: i64 = 1_700_000_000_000;

const FILE: &str = r#"
[[monitor]]
project = "shop"
name = "Shop homepage"
type = "http"
url = "https://shop.example.com/"
interval_seconds = 60
expected_status = ["200"]

[[monitor]]
project = "shop"
name = "Database"
slug = "db"
type = "tcp"
host = "db.internal"
port = 5432
interval_seconds = 30
timeout_seconds = 5

[[monitor]]
project = "shop"
name = "Nightly backup"
type = "heartbeat"
schedule = "0 3 * * *"
timezone = "Europe/Berlin"

[[monitor]]
org = "acme"
project = "api"
name = "API health"
type = "http"
url = "https://api.acme.test/health"
"#;

struct Env {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    shop: i64,
    api: i64,
    other: i64,
    _dir: tempfile::TempDir,
    _pg: Option<support::PgSchema>,
}

impl Env {
    async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let (store, pg) = support::open_store(dir.path()).await;
        let key = |n: u8| format!("{n:032x}");
        let project = |org: &'static str, name: &'static str, n: u8| {
            let store = store.clone();
            async move {
                store
                    .create_project(org, name, "other", &key(n), T0)
                    .await
                    .unwrap()
                    .0
                    .id
            }
        };
        let shop = project("default", "shop", 1).await;
        let api = project("acme", "api", 2).await;
        let other = project("default", "other", 3).await;
        Env {
            store,
            clock: Arc::new(ManualClock::new(T0)),
            shop,
            api,
            other,
            _dir: dir,
            _pg: pg,
        }
    }

    async fn apply(&self, text: &str, prune: bool, dry_run: bool) -> Result<Plan, AsCodeError> {
        let file = MonitorsFile::parse(text)?;
        as_code::apply(self.store.as_ref(), self.clock.as_ref(), &file, prune, dry_run).await
    }

    async fn monitors(&self, project: i64) -> Vec<Monitor> {
        self.store.list_monitors(project, 100, None).await.unwrap()
    }

    async fn monitor(&self, project: i64, slug: &str) -> Monitor {
        self.store.monitor_by_slug(project, slug).await.unwrap().unwrap()
    }

    /// A monitor made as the API makes it (a checked one has no slug).
    async fn api_monitor(&self, project: i64, body: Value) -> Monitor {
        let body: Map<String, Value> = serde_json::from_value(body).unwrap();
        let new = parse_monitor(project, &body, None, self.clock.now_ms()).unwrap();
        self.store
            .create_monitor(&new, self.clock.now_ms())
            .await
            .unwrap()
    }
}

fn names(list: &[as_code::MonitorRef]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn a_first_apply_creates_the_monitors_and_a_second_changes_nothing() {
    let env = Env::new().await;
    let plan = env.apply(FILE, false, false).await.unwrap();
    assert_eq!(
        names(&plan.created),
        [
            "shop/shop-homepage",
            "shop/db",
            "shop/nightly-backup",
            "acme/api/api-health"
        ]
    );
    assert_eq!(
        plan.summary(),
        "monitors: 4 created, 0 updated, 0 unchanged, 0 deleted"
    );
    assert_eq!(plan.change_lines()[0], "+ shop/shop-homepage");

    let home = env.monitor(env.shop, "shop-homepage").await;
    assert_eq!(
        (home.name.as_str(), home.kind),
        ("Shop homepage", MonitorKind::Http)
    );
    assert_eq!(home.config["url"], "https://shop.example.com/");
    assert_eq!(home.interval_ms, 60_000);
    assert!(home.enabled && !home.public);
    let db = env.monitor(env.shop, "db").await;
    assert_eq!(
        (db.kind, db.interval_ms, db.timeout_ms),
        (MonitorKind::Tcp, 30_000, 5_000)
    );
    assert_eq!(db.config["port"], 5432);
    let backup = env.monitor(env.shop, "nightly-backup").await;
    assert_eq!(backup.kind, MonitorKind::Heartbeat);
    assert_eq!(env.monitors(env.api).await.len(), 1);
    assert!(env.monitors(env.other).await.is_empty());

    env.clock.advance(60_000);
    let before = env.monitors(env.shop).await;
    let again = env.apply(FILE, false, false).await.unwrap();
    assert_eq!(
        again.summary(),
        "monitors: 0 created, 0 updated, 4 unchanged, 0 deleted"
    );
    assert!(again.change_lines().is_empty());
    // Not even touched: same update time, same next check.
    assert_eq!(env.monitors(env.shop).await, before);
}

#[tokio::test]
async fn editing_one_field_updates_exactly_that_monitor_and_keeps_its_history() {
    let env = Env::new().await;
    env.apply(FILE, false, false).await.unwrap();
    let db = env.monitor(env.shop, "db").await;
    env.store
        .record_checks(&[NewCheckResult {
            monitor_id: db.id,
            slot_ms: db.next_check_ms,
            region: String::new(),
            started_ms: db.next_check_ms,
            ok: true,
            latency_ms: 3,
            status_code: None,
            error: None,
            details: json!({}),
        }])
        .await
        .unwrap();
    let before = env.monitors(env.shop).await;

    env.clock.advance(60_000);
    let edited = FILE.replace("port = 5432", "port = 6432");
    let plan = env.apply(&edited, false, false).await.unwrap();
    assert_eq!(names(&plan.updated), ["shop/db"]);
    assert_eq!(plan.change_lines(), ["~ shop/db"]);
    assert_eq!(
        plan.summary(),
        "monitors: 0 created, 1 updated, 3 unchanged, 0 deleted"
    );

    let after = env.monitors(env.shop).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.id, a.id);
        if a.id == db.id {
            assert_eq!(a.config["port"], 6432);
            assert_eq!(a.updated_ms, T0 + 60_000);
            // Same interval: the slot grid stays.
            assert_eq!(a.next_check_ms, b.next_check_ms);
        } else {
            assert_eq!(a, b, "only the edited monitor changes");
        }
    }
    let checks = env.store.list_check_results(db.id, 10, None).await.unwrap();
    assert_eq!(checks.len(), 1, "the check log stays");

    // A new name under the same slug renames the monitor, keeping it.
    let renamed = edited.replace("name = \"Database\"", "name = \"Primary database\"");
    let plan = env.apply(&renamed, false, false).await.unwrap();
    assert_eq!(names(&plan.updated), ["shop/db"]);
    let db_now = env.monitor(env.shop, "db").await;
    assert_eq!((db_now.id, db_now.name.as_str()), (db.id, "Primary database"));

    // Leaving a field out of the file means its default, not "keep what it was".
    let defaulted = renamed.replace("timeout_seconds = 5\n", "");
    env.apply(&defaulted, false, false).await.unwrap();
    assert_eq!(env.monitor(env.shop, "db").await.timeout_ms, 10_000);

    // Regions are part of the definition: added, then applied again without change.
    let regional = defaulted.replace(
        "port = 6432\n",
        "port = 6432\nregions = [\"eu-west\", \"us-east\"]\n",
    );
    assert_ne!(regional, defaulted);
    let plan = env.apply(&regional, false, false).await.unwrap();
    assert_eq!(names(&plan.updated), ["shop/db"]);
    assert_eq!(env.monitor(env.shop, "db").await.regions, ["eu-west", "us-east"]);
    let plan = env.apply(&regional, false, false).await.unwrap();
    assert!(plan.updated.is_empty(), "{:?}", plan.updated);
}

#[tokio::test]
async fn prune_deletes_only_what_the_named_projects_no_longer_list() {
    let env = Env::new().await;
    env.apply(FILE, false, false).await.unwrap();
    // Made in the API: one the file adopts by its name, one it does not list.
    let adopted = env
        .api_monitor(
            env.shop,
            json!({"type": "http", "name": "Shop homepage 2", "url": "https://shop.example.com/2"}),
        )
        .await;
    let stray = env
        .api_monitor(
            env.shop,
            json!({"type": "tcp", "name": "Cache", "host": "cache.internal", "port": 6379}),
        )
        .await;
    let elsewhere = env
        .api_monitor(
            env.other,
            json!({"type": "tcp", "name": "Elsewhere", "host": "x.internal", "port": 1}),
        )
        .await;
    // A cron monitor, as an SDK check-in makes it.
    let cron = env
        .store
        .create_monitor(
            &NewMonitor {
                project_id: env.shop,
                name: "nightly-report".into(),
                kind: MonitorKind::Cron,
                slug: Some("nightly-report".into()),
                config: json!({"schedule": {"type": "crontab", "value": "0 3 * * *"}, "timezone": "UTC"}),
                interval_ms: 86_400_000,
                timeout_ms: 1_800_000,
                failure_threshold: 1,
                recovery_threshold: 1,
                enabled: true,
                public: false,
                regions: Vec::new(),
                region_quorum: 0,
                next_check_ms: T0 + 86_400_000,
            },
            T0,
        )
        .await
        .unwrap();

    // The homepage and the backup leave the file; the API-made monitor joins it by its name.
    let mut text = FILE
        .split("[[monitor]]")
        .filter(|e| !e.contains("Shop homepage") && !e.contains("Nightly backup"))
        .collect::<Vec<_>>()
        .join("[[monitor]]");
    text.push_str(
        "\n[[monitor]]\nproject = \"shop\"\nname = \"Shop homepage 2\"\ntype = \"http\"\nurl = \"https://shop.example.com/2\"\n",
    );

    let kept = env.apply(&text, false, false).await.unwrap();
    assert!(kept.deleted.is_empty(), "without prune nothing is deleted");
    assert_eq!(
        names(&kept.unchanged),
        ["shop/db", "shop/shop-homepage-2", "acme/api/api-health"]
    );
    assert_eq!(env.monitors(env.shop).await.len(), 6);

    let dry = env.apply(&text, true, true).await.unwrap();
    assert_eq!(env.monitors(env.shop).await.len(), 6, "a dry run deletes nothing");
    let plan = env.apply(&text, true, false).await.unwrap();
    assert_eq!(plan, dry);
    assert_eq!(
        names(&plan.deleted),
        ["shop/shop-homepage", "shop/nightly-backup", "shop/cache"]
    );
    assert_eq!(
        plan.summary(),
        "monitors: 0 created, 0 updated, 3 unchanged, 3 deleted"
    );
    let left: Vec<i64> = env.monitors(env.shop).await.iter().map(|m| m.id).collect();
    let db = env.monitor(env.shop, "db").await;
    assert_eq!(left, [db.id, adopted.id, cron.id]);
    assert!(env.store.get_monitor(stray.id).await.unwrap().is_none());
    assert!(
        env.store.get_monitor(elsewhere.id).await.unwrap().is_some(),
        "other projects are never touched"
    );
    assert_eq!(env.monitors(env.api).await.len(), 1);
}

#[tokio::test]
async fn an_invalid_entry_is_named_and_nothing_is_applied() {
    let env = Env::new().await;
    let bad = format!(
        "{FILE}
[[monitor]]
project = \"shop\"
name = \"Too eager\"
type = \"http\"
url = \"https://shop.example.com/eager\"
interval_seconds = 5

[[monitor]]
project = \"shop\"
name = \"Ping\"
type = \"icmp\"
host = \"shop.example.com\"

[[monitor]]
project = \"nowhere\"
name = \"Lost\"
type = \"tcp\"
host = \"lost.internal\"
port = 1

[[monitor]]
project = \"shop\"
name = \"Again\"
slug = \"db\"
type = \"tcp\"
host = \"db2.internal\"
port = 5432
"
    );
    let err = env.apply(&bad, false, false).await.unwrap_err().to_string();
    assert!(err.starts_with("4 monitors invalid, nothing applied"), "{err}");
    assert!(
        err.contains("[[monitor]] #5 (\"Too eager\"): interval_seconds must be a whole number from 10"),
        "{err}"
    );
    assert!(
        err.contains("[[monitor]] #6 (\"Ping\"): invalid type \"icmp\""),
        "{err}"
    );
    assert!(
        err.contains(
            "[[monitor]] #7 (\"Lost\"): project: no project \"nowhere\" in organization \"default\""
        ),
        "{err}"
    );
    assert!(
        err.contains("[[monitor]] #8 (\"Again\"): slug: db is also the slug of [[monitor]] #2"),
        "{err}"
    );
    assert!(env.monitors(env.shop).await.is_empty(), "nothing applied");
    assert!(env.monitors(env.api).await.is_empty(), "nothing applied");

    // Nor when the clash is with the database: a type cannot change.
    env.apply(FILE, false, false).await.unwrap();
    let before = env.monitors(env.shop).await;
    let retyped = FILE.replace(
        "type = \"tcp\"\nhost = \"db.internal\"\nport = 5432",
        "type = \"http\"\nurl = \"https://db.internal/\"",
    );
    let retyped = retyped.replace("https://shop.example.com/\"", "https://shop.example.com/new\"");
    let err = env.apply(&retyped, false, false).await.unwrap_err().to_string();
    assert!(
        err.contains("[[monitor]] #2 (\"Database\"): type: monitor db is a tcp monitor"),
        "{err}"
    );
    assert_eq!(env.monitors(env.shop).await, before, "the valid edit waits too");
}

#[tokio::test]
async fn a_dry_run_reports_the_plan_and_writes_nothing() {
    let env = Env::new().await;
    let plan = env.apply(FILE, false, true).await.unwrap();
    assert_eq!(plan.created.len(), 4);
    assert!(env.monitors(env.shop).await.is_empty());

    env.apply(FILE, false, false).await.unwrap();
    let before = env.monitors(env.shop).await;
    env.clock.advance(1_000);
    let edited = FILE.replace("interval_seconds = 60", "interval_seconds = 120");
    let plan = env.apply(&edited, true, true).await.unwrap();
    assert_eq!(
        plan.summary(),
        "monitors: 0 created, 1 updated, 3 unchanged, 0 deleted"
    );
    assert_eq!(env.monitors(env.shop).await, before);
}
