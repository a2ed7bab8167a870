//! Rule semantics end to end through the real store, with a test clock and no sleeps: event-driven
//! rules fired from the triggers the worker's batches leave, threshold rules over rollups, the
//! instance's health rules, cooldowns, reminders, recovery, and exactly-once outbox rows across
//! replays and crashed evaluations.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::sync::Arc;

use sentinel_protocol::event::Level;
use sentinel_protocol::ids::EventId;
use sentinel_server::alerts::engine::Engine;
use sentinel_server::clock::ManualClock;
use sentinel_server::config::Settings;
use sentinel_store::{
    AlertCommit, AlertRule, ChannelKind, ChannelSecrets, Condition, IssueChange, ItemKind, NewAlertRule,
    NewChannel, NewEvent, NewInboxItem, Notification, OutcomeCount, ProcessedBatch, StatusChange, Store,
    Transition,
};

const MIN: i64 = 60_000;
/// 2026-11-23 10:00:00 UTC, a minute boundary.
const T0: i64 = 1_795_428_000_000;

struct World {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    engine: Engine,
    project: i64,
    channels: Vec<i64>,
    _dir: tempfile::TempDir,
    _pg: Option<support::PgSchema>,
    next_event: u32,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let (store, pg) = support::open_store(dir.path()).await;
    let (project, _) = store
        .create_project(
            "acme",
            "checkout",
            "python",
            "0123456789abcdef0123456789abcdef",
            T0,
        )
        .await
        .unwrap();
    let mut channels = Vec::new();
    for name in ["ops-hook", "ops-slack"] {
        let c = store
            .create_channel(
                &NewChannel {
                    project_id: Some(project.id),
                    name: name.into(),
                    kind: ChannelKind::Webhook,
                    config: serde_json::json!({}),
                    secrets: ChannelSecrets(serde_json::json!({"url": "http://127.0.0.1:9/", "secret": "s"})),
                    enabled: true,
                },
                T0,
            )
            .await
            .unwrap();
        channels.push(c.id);
    }
    let clock = Arc::new(ManualClock::new(T0));
    let mut settings = Settings {
        public_url: Some("https://sentinel.example.com".into()),
        data_dir: dir.path().to_owned(),
        ..Settings::default()
    };
    // Free space is the machine's: a threshold of 0 % never fires (see the disk test).
    settings.alerts.disk_free_percent = 0.0;
    let engine = Engine {
        store: store.clone(),
        clock: clock.clone(),
        settings: Arc::new(settings),
        notifier_wake: None,
    };
    World {
        store,
        clock,
        engine,
        project: project.id,
        channels,
        _dir: dir,
        _pg: pg,
        next_event: 0,
    }
}

impl World {
    async fn rule(
        &self,
        condition: Condition,
        cooldown_ms: i64,
        reminder_ms: Option<i64>,
        recovery: bool,
    ) -> AlertRule {
        self.store
            .create_rule(
                &NewAlertRule {
                    project_id: Some(self.project),
                    name: format!("{} rule", condition.kind()),
                    condition,
                    channel_ids: self.channels.clone(),
                    cooldown_ms,
                    reminder_ms,
                    notify_recovery: recovery,
                    enabled: true,
                },
                T0,
            )
            .await
            .unwrap()
    }

    /// Stores `n` events of the issue `hash` stamped at the clock's time, as a worker batch would.
    async fn events(&mut self, hash: &str, n: u32) -> ProcessedBatch {
        let now = self.clock.now();
        let events = (0..n)
            .map(|_| {
                self.next_event += 1;
                let mut id = [0u8; 16];
                id[..4].copy_from_slice(&self.next_event.to_be_bytes());
                id[15] = 1;
                NewEvent {
                    project_id: self.project,
                    event_id: EventId::from_bytes(id),
                    grouping_hash: hash.into(),
                    title: format!("ValueError: {hash} <b>&"),
                    culprit: "app.views in handler".into(),
                    message: None,
                    level: Level::Error,
                    platform: "python".into(),
                    timestamp_ms: now,
                    received_ms: now,
                    environment: None,
                    release: None,
                    tags: Vec::new(),
                    payload: b"{}".to_vec(),
                    dict_id: 0,
                }
            })
            .collect();
        let batch = ProcessedBatch {
            events,
            ..Default::default()
        };
        self.store.apply_batch(&batch).await.unwrap();
        batch
    }

    async fn log(&self) -> Vec<Notification> {
        let mut all = self
            .store
            .list_notifications(Some(self.project), 500, None)
            .await
            .unwrap();
        all.reverse();
        all
    }

    /// `(transition, title)` of every notification for the first channel, oldest first.
    async fn sent(&self) -> Vec<(Transition, String)> {
        self.log()
            .await
            .into_iter()
            .filter(|n| n.channel_id == self.channels[0])
            .map(|n| (n.transition, n.message.title))
            .collect()
    }
}

trait Now {
    fn now(&self) -> i64;
}

impl Now for ManualClock {
    fn now(&self) -> i64 {
        sentinel_server::clock::Clock::now_ms(self)
    }
}

#[tokio::test]
async fn a_new_issue_notifies_each_channel_exactly_once_whatever_is_replayed() {
    let mut w = world().await;
    w.rule(Condition::NewIssue {}, 0, None, false).await;
    let batch = w.events("boom", 3).await;
    assert_eq!(w.engine.process_triggers().await.unwrap(), 1);
    let log = w.log().await;
    assert_eq!(log.len(), 2, "one notification per channel: {log:#?}");
    let mut channels: Vec<i64> = log.iter().map(|n| n.channel_id).collect();
    channels.sort();
    assert_eq!(channels, w.channels);
    let n = &log[0];
    assert_eq!(n.transition, Transition::Triggered);
    assert_eq!(n.message.title, "New issue: ValueError: boom <b>&");
    let issue_url = n.message.url.clone().unwrap();
    assert!(
        issue_url.starts_with("https://sentinel.example.com/orgs/acme/issues/"),
        "{issue_url}"
    );

    // The same events again (an SDK retry, a replayed inbox item): duplicates, no new trigger.
    w.store.apply_batch(&batch).await.unwrap();
    // More events of the same issue: not new.
    w.events("boom", 2).await;
    assert_eq!(w.engine.process_triggers().await.unwrap(), 0);
    assert_eq!(w.log().await.len(), 2);
}

#[tokio::test]
async fn a_crashed_evaluation_leaves_its_triggers_to_be_evaluated_once_after_the_lease() {
    let mut w = world().await;
    w.rule(Condition::NewIssue {}, 0, None, false).await;
    w.events("crash", 1).await;
    // An evaluator claims the trigger and dies before committing.
    let claimed = w
        .store
        .claim_alert_triggers(10, w.clock.now(), 60_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // While its lease runs, nobody else takes the trigger.
    assert_eq!(w.engine.process_triggers().await.unwrap(), 0);
    assert!(w.log().await.is_empty());
    w.clock.advance(61_000);
    assert_eq!(w.engine.process_triggers().await.unwrap(), 1);
    assert_eq!(w.log().await.len(), 2);
    // Evaluated and consumed: never again.
    w.clock.advance(120_000);
    assert_eq!(w.engine.process_triggers().await.unwrap(), 0);
    assert_eq!(w.log().await.len(), 2);
}

#[tokio::test]
async fn a_regression_notifies_and_its_cooldown_swallows_a_quick_repeat() {
    let mut w = world().await;
    w.rule(Condition::Regression {}, 30 * MIN, None, false).await;
    w.events("flaky", 1).await;
    w.engine.process_triggers().await.unwrap();
    assert!(w.sent().await.is_empty(), "a new issue is not a regression");
    let query = sentinel_store::IssueQuery {
        project_id: w.project,
        limit: 10,
        ..Default::default()
    };
    let issue = w.store.list_issues(&query).await.unwrap().items[0].id;
    let resolve = IssueChange {
        status: Some(StatusChange::Resolved),
        ..Default::default()
    };

    for (advance, expect_total) in [(MIN, 1), (10 * MIN, 1), (31 * MIN, 2)] {
        w.store
            .update_issue(issue, &resolve, None, w.clock.now())
            .await
            .unwrap();
        w.clock.advance(advance);
        w.events("flaky", 1).await;
        w.engine.process_triggers().await.unwrap();
        let sent = w.sent().await;
        assert_eq!(sent.len(), expect_total, "after {} min: {sent:?}", advance / MIN);
        assert!(
            sent.iter()
                .all(|(t, title)| *t == Transition::Triggered && title.starts_with("Regression: "))
        );
    }
}

#[tokio::test]
async fn a_frequency_threshold_fires_on_crossing_stays_quiet_while_it_holds_and_recovers_once() {
    let mut w = world().await;
    w.rule(
        Condition::IssueFrequency {
            events: 5,
            minutes: 10,
        },
        0,
        None,
        true,
    )
    .await;
    w.events("busy", 5).await;
    w.engine.evaluate().await.unwrap();
    assert!(w.sent().await.is_empty(), "5 events are not more than 5");

    w.clock.advance(MIN);
    w.events("busy", 1).await;
    w.events("quiet", 2).await;
    w.engine.evaluate().await.unwrap();
    let sent = w.sent().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, Transition::Triggered);
    assert!(
        sent[0].1.starts_with("6 events in 10 min: ValueError: busy"),
        "{}",
        sent[0].1
    );

    // Still above the threshold for the next minutes: nothing more.
    for _ in 0..5 {
        w.clock.advance(MIN);
        w.events("busy", 3).await;
        w.engine.evaluate().await.unwrap();
    }
    assert_eq!(w.sent().await.len(), 1);

    // Quiet long enough for the window to empty: one recovery.
    w.clock.advance(11 * MIN);
    w.engine.evaluate().await.unwrap();
    w.clock.advance(MIN);
    w.engine.evaluate().await.unwrap();
    let sent = w.sent().await;
    assert_eq!(
        sent.iter().map(|s| s.0).collect::<Vec<_>>(),
        [Transition::Triggered, Transition::Resolved]
    );
    assert!(
        sent[1].1.starts_with("Back under 5 events in 10 min"),
        "{}",
        sent[1].1
    );
}

#[tokio::test]
async fn reminders_repeat_while_a_threshold_holds_and_evaluating_twice_stores_them_once() {
    let mut w = world().await;
    let rule = w
        .rule(
            Condition::IssueFrequency {
                events: 2,
                minutes: 60,
            },
            0,
            Some(5 * MIN),
            false,
        )
        .await;
    w.events("storm", 3).await;
    let mut transitions = Vec::new();
    let mut twice = 0;
    for _ in 0..=12 {
        // Two leaders during a hand-over evaluate the same moment from the same states: the
        // second finds every notification's key stored already.
        let before = w.store.alert_states(rule.id).await.unwrap();
        let logged = w.log().await.len();
        w.engine.evaluate().await.unwrap();
        let first = w.log().await.len();
        w.store
            .commit_alerts(&AlertCommit {
                states: before,
                ..Default::default()
            })
            .await
            .unwrap();
        w.engine.evaluate().await.unwrap();
        assert_eq!(
            w.log().await.len(),
            first,
            "the replayed evaluation queued nothing new"
        );
        twice += usize::from(first > logged);
        w.clock.advance(MIN);
    }
    assert_eq!(twice, 3, "three rounds notified, each once");
    for (t, _) in w.sent().await {
        transitions.push(t);
    }
    assert_eq!(
        transitions,
        [Transition::Triggered, Transition::Reminder, Transition::Reminder]
    );
}

#[tokio::test]
async fn an_event_rate_spike_above_the_usual_level_fires_and_recovers() {
    let mut w = world().await;
    w.rule(
        Condition::EventRate {
            factor: 3.0,
            minutes: 10,
            baseline_hours: 24,
            min_events: 20,
        },
        0,
        None,
        true,
    )
    .await;
    // A steady day: 12 events an hour (2 per 10 minutes).
    let start = w.clock.now();
    w.clock.set(start - 24 * 60 * MIN);
    for _ in 0..24 {
        w.events("steady", 12).await;
        w.clock.advance(60 * MIN);
    }
    w.clock.set(start);
    w.events("steady", 2).await;
    w.engine.evaluate().await.unwrap();
    assert!(w.sent().await.is_empty(), "the usual level does not fire");

    w.clock.advance(MIN);
    w.events("spike", 30).await;
    w.engine.evaluate().await.unwrap();
    let sent = w.sent().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0]
            .1
            .starts_with("Event rate spike in checkout: 32 events in 10 min"),
        "{}",
        sent[0].1
    );

    w.clock.advance(15 * MIN);
    w.events("steady", 2).await;
    w.engine.evaluate().await.unwrap();
    let sent = w.sent().await;
    assert_eq!(
        sent.iter().map(|s| s.0).collect::<Vec<_>>(),
        [Transition::Triggered, Transition::Resolved]
    );
}

#[tokio::test]
async fn the_built_in_instance_rules_watch_inbox_lag_and_rejections_and_reach_instance_channels() {
    let w = world().await;
    let instance = w
        .store
        .create_channel(
            &NewChannel {
                project_id: None,
                name: "operators".into(),
                kind: ChannelKind::Email,
                config: serde_json::json!({"to": ["ops@example.com"]}),
                secrets: ChannelSecrets::default(),
                enabled: true,
            },
            T0,
        )
        .await
        .unwrap();
    w.engine.ensure_instance_rules().await.unwrap();
    w.engine.ensure_instance_rules().await.unwrap();
    let rules = w.store.list_rules(None).await.unwrap();
    let mut kinds: Vec<&str> = rules.iter().map(|r| r.condition.kind()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["disk_free", "inbox_lag", "ingest_rejections"],
        "created once each"
    );

    w.engine.evaluate().await.unwrap();
    let instance_log = || async { w.store.list_notifications(None, 100, None).await.unwrap() };
    assert!(instance_log().await.is_empty(), "a healthy instance is quiet");

    // An item that has waited 10 minutes unprocessed (the default limit is 5).
    w.store
        .inbox_append(&[NewInboxItem {
            project_id: w.project,
            kind: ItemKind::Event,
            event_id: None,
            received_ms: w.clock.now() - 10 * MIN,
            sent_at: None,
            headers_json: None,
            payload: b"{}".to_vec(),
            dict_id: 0,
        }])
        .await
        .unwrap();
    // 3 of 200 items rejected in the last minutes: 1.5 % > 1 %.
    let minute = w.clock.now() - 2 * MIN;
    let outcome = |outcome: &str, quantity| OutcomeCount {
        project_id: w.project,
        minute_ms: minute,
        category: "error".into(),
        outcome: outcome.into(),
        reason: String::new(),
        quantity,
    };
    w.store
        .record_outcomes(&[outcome("accepted", 197), outcome("rate_limited", 3)])
        .await
        .unwrap();
    w.engine.evaluate().await.unwrap();
    let log = instance_log().await;
    let mut titles: Vec<String> = log.iter().map(|n| n.message.title.clone()).collect();
    titles.sort();
    assert_eq!(log.len(), 2, "{titles:?}");
    assert!(
        log.iter()
            .all(|n| n.channel_id == instance.id && n.transition == Transition::Triggered)
    );
    assert!(
        titles[0].starts_with("Sentinel rejected 1.5% of ingested items"),
        "{titles:?}"
    );
    assert!(
        titles[1].starts_with("Sentinel's inbox is 600 s behind"),
        "{titles:?}"
    );
    // Evaluated again: still true, nothing new.
    w.engine.evaluate().await.unwrap();
    assert_eq!(instance_log().await.len(), 2);
}

#[tokio::test]
async fn the_disk_rule_fires_when_free_space_is_under_its_threshold() {
    let w = world().await;
    w.engine.ensure_instance_rules().await.unwrap();
    let rule = w
        .store
        .list_rules(None)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.condition.kind() == "disk_free")
        .unwrap();
    w.store
        .create_channel(
            &NewChannel {
                project_id: None,
                name: "operators".into(),
                kind: ChannelKind::Email,
                config: serde_json::json!({"to": ["ops@example.com"]}),
                secrets: ChannelSecrets::default(),
                enabled: true,
            },
            T0,
        )
        .await
        .unwrap();
    // Any real file system has less than 100 % free.
    let mut always = NewAlertRule {
        project_id: None,
        name: rule.name.clone(),
        condition: Condition::DiskFree { percent: 100.0 },
        channel_ids: Vec::new(),
        cooldown_ms: rule.cooldown_ms,
        reminder_ms: None,
        notify_recovery: true,
        enabled: true,
    };
    w.store.update_rule(rule.id, &always, T0).await.unwrap();
    w.engine.evaluate().await.unwrap();
    let log = w.store.list_notifications(None, 10, None).await.unwrap();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert!(
        log[0]
            .message
            .title
            .starts_with("Sentinel's disk is nearly full: "),
        "{}",
        log[0].message.title
    );

    always.condition = Condition::DiskFree { percent: 0.0 };
    w.store.update_rule(rule.id, &always, T0).await.unwrap();
    w.clock.advance(MIN);
    w.engine.evaluate().await.unwrap();
    // The same kind kept its state: the recovery is notified.
    let log = w.store.list_notifications(None, 10, None).await.unwrap();
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(log[0].transition, Transition::Resolved);
}
