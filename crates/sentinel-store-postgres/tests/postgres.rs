//! Behaviour only the PostgreSQL backend has: several store instances sharing one database (inbox
//! leases, concurrent batches and alert claims), time partitions, partition-dropping retention,
//! transfer between databases, and keeping the password out of sight. Database tests are skipped (with a note on
//! stderr) when `SENTINEL_TEST_DATABASE_URL` is not set, and fail in CI in that case.
#![expect(clippy::expect_used, reason = "a failed step is a failed test")]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use common::{Schema, database_url};
use sentinel_protocol::event::Level;
use sentinel_protocol::ids::EventId;
use sentinel_store::transfer::table;
use sentinel_store::{
    AlertCommit, AlertMessage, AlertStore, ChannelKind, ChannelSecrets, CountScope, DAY_MS, HOUR_MS,
    ItemKind, MonitorKind, NewChannel, NewEvent, NewInboxItem, NewMonitor, NewNotification, NewStoredItem,
    OutcomeCount, ProcessedBatch, RetentionPolicy, Store, StoreError, Transition, UptimeStore,
};
use sentinel_store_postgres::{PgOptions, PgStore, redact_url};

const T0: i64 = 1_800_000_000_000;

fn eid(n: u32) -> EventId {
    let mut b = [0u8; 16];
    b[12..].copy_from_slice(&n.to_be_bytes());
    b[0] = 0xcd;
    EventId::from_bytes(b)
}

fn event(project_id: i64, n: u32, hash: &str, received_ms: i64) -> NewEvent {
    NewEvent {
        project_id,
        event_id: eid(n),
        grouping_hash: hash.into(),
        title: format!("Error {hash}"),
        culprit: "app".into(),
        message: None,
        level: Level::Error,
        platform: "python".into(),
        timestamp_ms: received_ms - 5,
        received_ms,
        environment: None,
        release: None,
        tags: vec![("k".into(), format!("v{}", n % 3))],
        payload: format!("payload-{n}").into_bytes(),
        dict_id: 0,
    }
}

fn inbox_item(project_id: i64, n: u32) -> NewInboxItem {
    NewInboxItem {
        project_id,
        kind: ItemKind::Event,
        event_id: Some(eid(n)),
        received_ms: T0 + i64::from(n),
        sent_at: None,
        headers_json: None,
        payload: vec![1, 2, 3],
        dict_id: 0,
    }
}

async fn project(store: &dyn Store, name: &str, key: char) -> i64 {
    let key: String = std::iter::repeat_n(key, 32).collect();
    store
        .create_project("default", name, "other", &key, T0)
        .await
        .expect("create project")
        .0
        .id
}

fn ack(ids: impl IntoIterator<Item = i64>) -> ProcessedBatch {
    ProcessedBatch {
        acknowledged: ids.into_iter().collect(),
        ..Default::default()
    }
}

async fn table_names(url: &str, schema: &str, like: &str) -> Vec<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 AND tablename LIKE $2 ORDER BY 1",
    )
    .bind(schema)
    .bind(like)
    .fetch_all(&mut conn)
    .await
    .expect("list tables")
}

async fn scalar(url: &str, schema: &str, sql: &'static str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query("SELECT set_config('search_path', $1, false)")
        .bind(schema)
        .execute(&mut conn)
        .await
        .expect("search path");
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect("query")
}

#[tokio::test]
async fn two_instances_claim_disjoint_inbox_items() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(url);
    let a = schema.store(&schema.options()).await;
    let b = schema.store(&schema.options()).await;
    assert_ne!(a.holder(), b.holder());
    let p = project(&a, "inbox", 'a').await;
    let items: Vec<NewInboxItem> = (0..300).map(|n| inbox_item(p, n)).collect();
    a.inbox_append(&items).await.unwrap();

    async fn drain(store: &PgStore) -> Vec<i64> {
        let mut got = Vec::new();
        loop {
            let claimed = store.inbox_claim(7).await.unwrap();
            if claimed.is_empty() {
                return got;
            }
            let ids: Vec<i64> = claimed.iter().map(|c| c.id).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "claims come in id order");
            store.apply_batch(&ack(ids.clone())).await.unwrap();
            got.extend(ids);
        }
    }
    let (from_a, from_b) = tokio::join!(drain(&a), drain(&b));
    let set_a: HashSet<i64> = from_a.iter().copied().collect();
    let set_b: HashSet<i64> = from_b.iter().copied().collect();
    assert_eq!(set_a.len(), from_a.len(), "no item twice to the same instance");
    assert!(set_a.is_disjoint(&set_b), "no item claimed by both instances");
    assert_eq!(set_a.len() + set_b.len(), 300);
    assert_eq!(a.inbox_stats().await.unwrap().depth, 0);
}

#[tokio::test]
async fn two_instances_claim_disjoint_alert_triggers_and_notifications() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(url);
    let a = schema.store(&schema.options()).await;
    let b = schema.store(&schema.options()).await;
    let p = project(&a, "alerts", 'a').await;
    let events = (0..150).map(|n| event(p, n, &format!("h{n}"), T0 + i64::from(n)));
    a.apply_batch(&ProcessedBatch {
        events: events.collect(),
        ..Default::default()
    })
    .await
    .unwrap();
    let channel = a
        .create_channel(
            &NewChannel {
                project_id: Some(p),
                name: "hook".into(),
                kind: ChannelKind::Webhook,
                config: Default::default(),
                secrets: ChannelSecrets::default(),
                enabled: true,
            },
            T0,
        )
        .await
        .unwrap();
    let outbox = (0..150)
        .map(|n| NewNotification {
            idempotency_key: format!("k{n}"),
            group_key: format!("g{n}"),
            rule_id: None,
            channel_id: channel.id,
            project_id: Some(p),
            subject: format!("issue:{n}"),
            transition: Transition::Test,
            message: AlertMessage {
                title: "t".into(),
                text: String::new(),
                url: None,
                severity: "info".into(),
                fields: Vec::new(),
            },
            created_ms: T0 + i64::from(n),
        })
        .collect();
    let commit = AlertCommit {
        notifications: outbox,
        ..Default::default()
    };
    assert_eq!(a.commit_alerts(&commit).await.unwrap(), 150);

    // The lease outlasts the test: a row seen twice was claimed twice.
    let now = T0 + HOUR_MS;
    async fn triggers(store: &PgStore, now: i64) -> Vec<i64> {
        let mut got = Vec::new();
        loop {
            let claimed = store.claim_alert_triggers(7, now, DAY_MS).await.unwrap();
            if claimed.is_empty() {
                return got;
            }
            got.extend(claimed.iter().map(|t| t.id));
        }
    }
    async fn notifications(store: &PgStore, now: i64) -> Vec<i64> {
        let mut got = Vec::new();
        loop {
            let claimed = store.claim_notifications(7, now, DAY_MS).await.unwrap();
            if claimed.is_empty() {
                return got;
            }
            got.extend(claimed.iter().map(|(n, _)| n.id));
        }
    }
    for (from_a, from_b) in [
        tokio::join!(triggers(&a, now), triggers(&b, now)),
        tokio::join!(notifications(&a, now), notifications(&b, now)),
    ] {
        let set_a: HashSet<i64> = from_a.iter().copied().collect();
        let set_b: HashSet<i64> = from_b.iter().copied().collect();
        assert_eq!(set_a.len(), from_a.len(), "nothing twice to the same instance");
        assert!(set_a.is_disjoint(&set_b), "nothing claimed by both instances");
        assert_eq!(set_a.len() + set_b.len(), 150);
    }
}

/// The `n`th HTTP monitor of a project, checked every minute from `T0 + n`.
fn minute_monitor(project_id: i64, n: i64, regions: Vec<String>) -> NewMonitor {
    NewMonitor {
        project_id,
        name: format!("m{n}"),
        kind: MonitorKind::Http,
        slug: None,
        config: Default::default(),
        interval_ms: 60_000,
        timeout_ms: 10_000,
        failure_threshold: 3,
        recovery_threshold: 1,
        enabled: true,
        public: false,
        regions,
        region_quorum: 0,
        next_check_ms: T0 + n,
    }
}

#[tokio::test]
async fn two_instances_schedule_and_claim_each_check_job_once() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(url);
    let a = schema.store(&schema.options()).await;
    let b = schema.store(&schema.options()).await;
    let p = project(&a, "uptime", 'u').await;
    for n in 0..150 {
        a.create_monitor(&minute_monitor(p, n, Vec::new()), T0)
            .await
            .unwrap();
    }

    async fn schedule(store: &PgStore, now: i64) -> Vec<(i64, i64)> {
        let mut got = Vec::new();
        loop {
            let jobs = store.schedule_due(now, 7).await.unwrap();
            if jobs.is_empty() {
                return got;
            }
            got.extend(jobs.iter().map(|j| (j.monitor_id, j.slot_ms)));
        }
    }
    // The lease outlasts the test: a job seen twice was claimed twice.
    async fn claim(store: &PgStore, now: i64) -> Vec<(i64, i64)> {
        let mut got = Vec::new();
        loop {
            let jobs = store.claim_check_jobs("", 7, now, DAY_MS).await.unwrap();
            if jobs.is_empty() {
                return got;
            }
            got.extend(jobs.iter().map(|(j, _)| (j.monitor_id, j.slot_ms)));
        }
    }
    let now = T0 + 1_000;
    for (from_a, from_b) in [
        tokio::join!(schedule(&a, now), schedule(&b, now)),
        tokio::join!(claim(&a, now), claim(&b, now)),
    ] {
        let set_a: HashSet<(i64, i64)> = from_a.iter().copied().collect();
        let set_b: HashSet<(i64, i64)> = from_b.iter().copied().collect();
        assert_eq!(set_a.len(), from_a.len(), "nothing twice to the same instance");
        assert!(set_a.is_disjoint(&set_b), "nothing taken by both instances");
        assert_eq!(set_a.len() + set_b.len(), 150);
    }
}

/// The scheduler and the checkers poll these every second: the partial index of due monitors
/// (its condition implied by the query's) and the jobs' slot index serve them. Sequential scans
/// are disabled, so the plan shows whether an index can serve the query at all.
#[tokio::test]
async fn schedulers_and_checkers_read_their_indexes() {
    use sqlx::Connection;
    let Some(url) = database_url() else { return };
    let schema = Schema::new(url.clone());
    let store = schema.store(&schema.options()).await;
    // A queue as a busy instance has it: 300 monitors, two thirds checked from two regions, five
    // slots of jobs each, with fresh statistics.
    let p = project(&store, "indexes", 'i').await;
    for n in 0..300 {
        let regions = if n % 3 == 0 {
            Vec::new()
        } else {
            vec!["eu-west".into(), "us-east".into()]
        };
        store
            .create_monitor(&minute_monitor(p, n, regions), T0)
            .await
            .unwrap();
    }
    for slot in 0..5 {
        store.schedule_due(T0 + slot * 60_000 + 300, 1_000).await.unwrap();
    }
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::query("SELECT set_config('search_path', $1, false)")
        .bind(&schema.name)
        .execute(&mut conn)
        .await
        .expect("search path");
    sqlx::query("ANALYZE monitors, check_jobs")
        .execute(&mut conn)
        .await
        .expect("analyze");
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .expect("no sequential scans");
    for (sql, index, region) in [
        (sentinel_store_sql::DUE_MONITORS, "monitors_due", None),
        (sentinel_store_sql::DUE_JOBS, "check_jobs_due", Some("eu-west")),
    ] {
        // Later than every monitor's next check and every job's slot: all are due, the first
        // hundred wanted.
        let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
            .bind(T0 + 10 * 60_000)
            .bind(100_i64);
        if let Some(region) = region {
            // The checker's region is the fourth parameter ($3 is its lease, in the UPDATE).
            query = query.bind(None::<i64>).bind(region);
        }
        let plan: Vec<String> = query.fetch_all(&mut conn).await.expect("explain");
        let plan = plan.join("\n");
        assert!(plan.contains(&format!("Index Scan using {index}")), "{plan}");
        assert!(!plan.contains("Sort"), "in index order: {plan}");
    }
}

#[tokio::test]
async fn issue_counts_read_only_the_rollup_partitions_of_their_window() {
    use sqlx::Connection;
    let Some(url) = database_url() else { return };
    let schema = Schema::new(url.clone());
    let store = schema.store(&schema.options()).await;
    store
        .ensure_partitions(T0 - 10 * DAY_MS, T0 + 10 * DAY_MS)
        .await
        .unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::query("SELECT set_config('search_path', $1, false)")
        .bind(&schema.name)
        .execute(&mut conn)
        .await
        .expect("search path");
    // T0 is 08:00 UTC: the hour after it lies within its day.
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN {}",
        sentinel_store_sql::ISSUE_COUNTS
    )))
    .bind(1_i64)
    .bind(T0)
    .bind(T0 + HOUR_MS)
    .bind(0_i64)
    .fetch_all(&mut conn)
    .await
    .expect("explain");
    // "Index Scan using <index> on <partition> rollups_minute", "Seq Scan on <partition> …".
    let partitions: HashSet<&str> = plan
        .iter()
        .flat_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let scanned: Vec<&str> = words
                .windows(2)
                .filter(|w| w[0] == "on" && w[1].starts_with("rollups_minute"))
                .map(|w| w[1])
                .collect();
            scanned
        })
        .collect();
    assert_eq!(
        partitions,
        HashSet::from(["rollups_minute_p20270115"]),
        "{}",
        plan.join("\n")
    );
}

#[tokio::test]
async fn a_dead_claimers_items_are_taken_over_and_its_late_batch_changes_nothing() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(url);
    let mut opts = schema.options();
    opts.inbox_lease_ms = 500;
    let dead = schema.store(&opts).await;
    let alive = schema.store(&opts).await;
    let p = project(&dead, "takeover", 'b').await;
    dead.inbox_append(&(0..4).map(|n| inbox_item(p, n)).collect::<Vec<_>>())
        .await
        .unwrap();

    let claimed = dead.inbox_claim(10).await.unwrap();
    assert_eq!(claimed.len(), 4);
    assert!(
        alive.inbox_claim(10).await.unwrap().is_empty(),
        "leased items are not handed out twice"
    );
    assert_eq!(
        alive.inbox_stats().await.unwrap().depth,
        4,
        "leased items still count"
    );

    // The lease runs on the database clock: wait for it to lapse, polling.
    let deadline = Instant::now() + Duration::from_secs(10);
    let taken = loop {
        let taken = alive.inbox_claim(10).await.unwrap();
        if !taken.is_empty() {
            break taken;
        }
        assert!(Instant::now() < deadline, "the lease never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        taken.iter().map(|c| c.id).collect::<Vec<_>>(),
        claimed.iter().map(|c| c.id).collect::<Vec<_>>()
    );

    let mut late = ack(claimed.iter().map(|c| c.id));
    late.events = (0..4).map(|n| event(p, n, "h", T0)).collect();
    let err = dead.apply_batch(&late).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("taken over")),
        "{err}"
    );
    assert!(
        dead.get_event(p, eid(0)).await.unwrap().is_none(),
        "nothing was applied"
    );
    assert!(
        dead.event_counts(CountScope::Project(p), T0 - DAY_MS, T0 + DAY_MS, DAY_MS)
            .await
            .unwrap()
            .is_empty()
    );

    let mut done = ack(taken.iter().map(|c| c.id));
    done.events = late.events.clone();
    assert_eq!(alive.apply_batch(&done).await.unwrap().events_stored, 4);
    assert_eq!(alive.inbox_stats().await.unwrap().depth, 0);
    assert!(matches!(
        alive.apply_batch(&done).await,
        Err(StoreError::Conflict(_))
    ));
}

#[tokio::test]
async fn concurrent_batches_with_overlapping_events_store_each_once() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(url);
    let a = schema.store(&schema.options()).await;
    let b = schema.store(&schema.options()).await;
    let p = project(&a, "race", 'c').await;
    let hashes = ["h0", "h1", "h2", "h3", "h4"];
    let ev = |n: u32| event(p, n, hashes[(n % 5) as usize], T0 + i64::from(n) * 1_000);
    // A goes up through 0..300, B down through 100..400: 200 events overlap, and the two take
    // issue and rollup rows in opposite batch orders.
    let batches_a: Vec<ProcessedBatch> = (0..300)
        .collect::<Vec<u32>>()
        .chunks(25)
        .map(|c| ProcessedBatch {
            events: c.iter().map(|n| ev(*n)).collect(),
            ..Default::default()
        })
        .collect();
    let batches_b: Vec<ProcessedBatch> = (100..400)
        .rev()
        .collect::<Vec<u32>>()
        .chunks(25)
        .map(|c| ProcessedBatch {
            events: c.iter().map(|n| ev(*n)).collect(),
            ..Default::default()
        })
        .collect();
    async fn run(store: &PgStore, batches: &[ProcessedBatch]) -> (u64, u64, Vec<i64>) {
        let (mut stored, mut dupes, mut new) = (0, 0, Vec::new());
        for b in batches {
            let out = store.apply_batch(b).await.unwrap();
            stored += out.events_stored;
            dupes += out.duplicates;
            new.extend(out.new_issues);
        }
        (stored, dupes, new)
    }
    let ((sa, da, na), (sb, db, nb)) = tokio::join!(run(&a, &batches_a), run(&b, &batches_b));
    assert_eq!(sa + sb, 400, "every distinct event stored once");
    assert_eq!(
        da + db,
        200,
        "every overlapping event counted once as a duplicate"
    );
    let mut new: Vec<i64> = na.into_iter().chain(nb).collect();
    new.sort_unstable();
    let before = new.len();
    new.dedup();
    assert_eq!((before, new.len()), (5, 5), "each issue is new exactly once");

    let mut per_issue: BTreeMap<i64, u64> = BTreeMap::new();
    for id in &new {
        per_issue.insert(*id, a.get_issue(*id).await.unwrap().unwrap().times_seen);
    }
    assert_eq!(per_issue.values().sum::<u64>(), 400);
    assert!(per_issue.values().all(|n| *n == 80), "{per_issue:?}");
    let counts = a
        .event_counts(CountScope::Project(p), T0 - DAY_MS, T0 + DAY_MS, DAY_MS)
        .await
        .unwrap();
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), 400);
    let tags = a.issue_tags(new[0], 10).await.unwrap();
    assert_eq!(tags[0].total, 80, "tag values counted once per event");
    for n in [0, 150, 399] {
        assert!(b.get_event(p, eid(n)).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn rows_far_in_the_past_or_future_get_their_partitions() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(url.clone());
    let store = schema.store(&schema.options()).await;
    let p = project(&store, "timeless", 'd').await;
    let past = 978_307_200_000 + 3_600_000; // 2001-01-01T01:00Z
    let future = 3_786_912_000_000 + 60_000; // 2090-01-01T00:01Z
    let out = store
        .apply_batch(&ProcessedBatch {
            events: vec![event(p, 1, "old", past), event(p, 2, "new", future)],
            items: vec![NewStoredItem {
                project_id: p,
                kind: ItemKind::Transaction,
                event_id: None,
                received_ms: past,
                headers_json: None,
                payload: b"{}".to_vec(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((out.events_stored, out.items_stored), (2, 1));
    assert_eq!(
        store.get_event(p, eid(1)).await.unwrap().unwrap().row.received_ms,
        past
    );
    assert_eq!(
        store.get_event(p, eid(2)).await.unwrap().unwrap().row.received_ms,
        future
    );
    let tables = table_names(&url, &schema.name, "%\\_p20010101").await;
    assert_eq!(
        tables,
        ["events_p20010101", "items_p20010101", "rollups_minute_p20010101"]
    );
    assert_eq!(
        table_names(&url, &schema.name, "events\\_p2090%").await,
        ["events_p20900101"]
    );

    // ensure_partitions is idempotent and covers all five families.
    store
        .ensure_partitions(future, future + 2 * DAY_MS)
        .await
        .unwrap();
    store
        .ensure_partitions(future, future + 2 * DAY_MS)
        .await
        .unwrap();
    assert_eq!(
        table_names(&url, &schema.name, "%\\_p209001%").await,
        [
            "check_results_p20900101",
            "check_results_p20900102",
            "check_results_p20900103",
            "events_p20900101",
            "events_p20900102",
            "events_p20900103",
            "items_p20900101",
            "items_p20900102",
            "items_p20900103",
            "rollups_hour_p209001",
            "rollups_minute_p20900101",
            "rollups_minute_p20900102",
            "rollups_minute_p20900103",
        ]
    );
}

#[tokio::test]
async fn a_partition_dropped_by_another_instance_is_created_again() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(url.clone());
    let writer = schema.store(&schema.options()).await;
    let leader = schema.store(&schema.options()).await;
    let p = project(&writer, "dropped", 'e').await;
    let day = 1_000 * DAY_MS;
    writer
        .apply_batch(&ProcessedBatch {
            events: vec![event(p, 1, "a", day + 1_000)],
            ..Default::default()
        })
        .await
        .unwrap();
    // The leader drops that day; the writer still believes the partition exists.
    let report = leader
        .apply_retention(
            &RetentionPolicy {
                event_days: 1,
                ..Default::default()
            },
            day + 3 * DAY_MS,
        )
        .await
        .unwrap();
    assert!(
        report.partitions_dropped.contains(&"events_p19720927".to_owned()),
        "{report:?}"
    );
    let out = writer
        .apply_batch(&ProcessedBatch {
            events: vec![event(p, 2, "a", day + 2_000)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(out.events_stored, 1);
}

#[tokio::test]
async fn retention_drops_partitions_and_deletes_rows_of_shorter_projects() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(url.clone());
    let store = schema.store(&schema.options()).await;
    let long = project(&store, "long", '1').await;
    let short = project(&store, "short", '2').await;
    let now = T0 - T0.rem_euclid(DAY_MS) + DAY_MS / 2;
    let ages = [40, 10, 1];
    let mut events = Vec::new();
    let mut items = Vec::new();
    for (i, days) in ages.iter().enumerate() {
        let at = now - days * DAY_MS;
        for (j, p) in [long, short].into_iter().enumerate() {
            let n = (i * 2 + j) as u32;
            events.push(event(p, n, &format!("age{days}"), at));
            items.push(NewStoredItem {
                project_id: p,
                kind: ItemKind::Span,
                event_id: None,
                received_ms: at,
                headers_json: None,
                payload: vec![n as u8],
            });
        }
    }
    let outcome = |minute_ms| OutcomeCount {
        project_id: long,
        minute_ms,
        category: "error".into(),
        outcome: "accepted".into(),
        reason: String::new(),
        quantity: 1,
    };
    store
        .apply_batch(&ProcessedBatch {
            events,
            items,
            outcomes: vec![outcome(now - 40 * DAY_MS), outcome(now - DAY_MS)],
            ..Default::default()
        })
        .await
        .unwrap();
    async fn recent(store: &PgStore, p: i64, now: i64) -> Vec<(i64, u64)> {
        store
            .event_counts(CountScope::Project(p), now - 20 * DAY_MS, now, 3_600_000)
            .await
            .unwrap()
    }
    let before_long = recent(&store, long, now).await;
    let before_short = recent(&store, short, now).await;
    // T0 is 2027-01-15T08:00Z, so `now` is 2027-01-15T12:00Z and 40 days before is 2026-12-06.
    let old_day = "events_p20261206".to_owned();
    assert!(
        table_names(&url, &schema.name, "events\\_p%")
            .await
            .contains(&old_day)
    );

    let policy = RetentionPolicy {
        event_days: 30,
        project_event_days: [(short, 7)].into_iter().collect(),
        minute_rollup_days: 5,
        hour_rollup_days: 20,
        check_result_days: 30,
        request_rollup_days: 14,
        delete_batch: 1,
    };
    let report = store.apply_retention(&policy, now).await.unwrap();
    assert_eq!(report.events_deleted, 3, "{report:?}");
    assert_eq!(report.items_deleted, 3, "{report:?}");
    assert_eq!(report.issues_deleted, 3, "{report:?}");
    // Minute rows older than 5 days: the project rows of both projects 40 and 10 days ago, and
    // the long project's issue 10 days ago (the deleted issues' rollups went with them).
    assert_eq!(report.minute_rollups_compacted, 5, "{report:?}");
    assert_eq!(report.hour_rollups_deleted, 2, "{report:?}");
    assert_eq!(report.outcomes_deleted, 1, "{report:?}");
    assert!(report.partitions_dropped.contains(&old_day), "{report:?}");
    assert!(
        !table_names(&url, &schema.name, "events\\_p%")
            .await
            .contains(&old_day),
        "the expired partition is gone"
    );
    let minute_partitions = table_names(&url, &schema.name, "rollups\\_minute\\_p%").await;
    assert!(
        report
            .partitions_dropped
            .iter()
            .filter(|n| n.starts_with("rollups_minute_p"))
            .all(|n| !minute_partitions.contains(n))
    );

    assert!(store.get_event(long, eid(0)).await.unwrap().is_none());
    assert!(
        store.get_event(long, eid(2)).await.unwrap().is_some(),
        "10 days < 30"
    );
    assert!(
        store.get_event(short, eid(3)).await.unwrap().is_none(),
        "10 days > 7"
    );
    assert!(store.get_event(short, eid(5)).await.unwrap().is_some());
    assert_eq!(
        scalar(&url, &schema.name, "SELECT count(*) FROM event_ids").await,
        3,
        "event ids pruned along with their events"
    );
    assert_eq!(scalar(&url, &schema.name, "SELECT count(*) FROM items").await, 3);
    assert_eq!(
        recent(&store, long, now).await,
        before_long,
        "compaction keeps hourly counts"
    );
    assert_eq!(recent(&store, short, now).await, before_short);

    // A second pass finds nothing more to do.
    let again = store.apply_retention(&policy, now).await.unwrap();
    assert_eq!(again, Default::default());
    // The pruned event id of the short project can be stored again.
    let out = store
        .apply_batch(&ProcessedBatch {
            events: vec![event(short, 3, "again", now)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(out.events_stored, 1);
}

#[tokio::test]
async fn racing_instances_take_a_free_lease_exactly_once() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(url);
    let a = schema.store(&schema.options()).await;
    let b = schema.store(&schema.options()).await;
    for round in 0..10 {
        let name = format!("job-{round}");
        let (x, y) = tokio::join!(
            a.acquire_lease(&name, "node-a", T0, 1_000),
            b.acquire_lease(&name, "node-b", T0, 1_000)
        );
        assert!(x.unwrap() ^ y.unwrap(), "exactly one of two racers holds {name}");
    }
    assert!(
        a.acquire_lease("job-0", "node-c", T0 + 1_000, 1_000)
            .await
            .unwrap(),
        "expired"
    );
    let lease = b.lease("job-0").await.unwrap().unwrap();
    assert_eq!((lease.holder.as_str(), lease.expires_ms), ("node-c", T0 + 2_000));
    b.release_lease("job-0", "node-c").await.unwrap();
    assert!(a.lease("job-0").await.unwrap().is_none());
}

#[tokio::test]
async fn tables_copy_between_databases_without_duplicates() {
    let Some(url) = database_url() else { return };
    let from_schema = Schema::new(url.clone());
    let to_schema = Schema::new(url);
    let from = from_schema.store(&from_schema.options()).await;
    let to = to_schema.store(&to_schema.options()).await;
    let p = project(&from, "copied", 'f').await;
    from.apply_batch(&ProcessedBatch {
        events: (0..5).map(|n| event(p, n, "h", T0 + i64::from(n))).collect(),
        ..Default::default()
    })
    .await
    .unwrap();
    from.inbox_append(&[inbox_item(p, 9)]).await.unwrap();
    from.inbox_claim(1).await.unwrap();

    for name in [
        "organizations",
        "projects",
        "project_keys",
        "issues",
        "events",
        "inbox",
    ] {
        let spec = table(name).unwrap();
        let mut after = None;
        loop {
            let rows = from.export_rows(spec, after.as_deref(), 2).await.unwrap();
            if rows.is_empty() {
                break;
            }
            assert_eq!(
                to.import_rows(spec, &rows).await.unwrap(),
                rows.len() as u64,
                "{name}"
            );
            assert_eq!(to.import_rows(spec, &rows).await.unwrap(), 0, "{name} twice");
            after = to.last_key(spec).await.unwrap();
        }
        assert_eq!(
            to.count_rows(spec).await.unwrap(),
            from.count_rows(spec).await.unwrap(),
            "{name}"
        );
    }
    to.finish_import().await.unwrap();

    let stored = to.get_event(p, eid(3)).await.unwrap().expect("copied event");
    assert_eq!(stored.payload, b"payload-3");
    assert_eq!(
        to.get_project(p).await.unwrap(),
        from.get_project(p).await.unwrap()
    );
    assert_eq!(
        to.find_key(&"f".repeat(32)).await.unwrap().map(|k| k.active),
        Some(true),
        "booleans survive as 0/1"
    );
    let claimed = to.inbox_claim(10).await.unwrap();
    assert_eq!(claimed.len(), 1, "imported inbox rows are not leased");
    let (q, _) = to
        .create_project("default", "after import", "other", &"9".repeat(32), T0)
        .await
        .unwrap();
    assert!(q.id > p, "ids continue after the imported ones");
    assert_eq!(
        to.apply_batch(&ProcessedBatch {
            events: vec![event(p, 3, "h", T0)],
            ..Default::default()
        })
        .await
        .unwrap()
        .duplicates,
        1,
        "imported events take part in de-duplication"
    );
}

#[tokio::test]
async fn a_store_starts_without_a_database_and_never_shows_the_password() {
    // Nothing listens on port 1: the pool is lazy, so connecting succeeds and migrating fails.
    let mut opts = PgOptions::new("postgres://sentinel:s3cret-pw@127.0.0.1:1/sentinel");
    opts.acquire_timeout_ms = 500;
    assert!(!format!("{opts:?}").contains("s3cret-pw"));
    assert_eq!(
        redact_url(&opts.url),
        "postgres://sentinel:***@127.0.0.1:1/sentinel"
    );
    let store = PgStore::connect(&opts).await.expect("lazy connect");
    let err = store.migrate().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(!err.to_string().contains("s3cret-pw"), "{err}");
    assert!(matches!(store.ping().await, Err(StoreError::Unavailable(_))));

    opts.ssl_mode = Some("maybe".into());
    assert!(matches!(
        PgStore::connect(&opts).await,
        Err(StoreError::Conflict(_))
    ));
}
