//! The uptime verifier over the real store, on a test clock (no sleeps, no checker): results
//! written as checkers write them, judged by `Verifier::pass`. A whole outage judged in one pass
//! (the verifier was behind) still notifies down and up once each and leaves the rule's state
//! recovered; a verifier restarted mid-count continues from the stored streak.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::sync::Arc;

use sentinel_server::clock::ManualClock;
use sentinel_server::config::Settings;
use sentinel_server::uptime::verifier::Verifier;
use sentinel_store::{
    ChannelKind, ChannelSecrets, Condition, MaintenanceWindow, Monitor, MonitorKind, MonitorStatus,
    NewAlertRule, NewChannel, NewCheckResult, NewMonitor, Store, Transition,
};
use serde_json::json;

/// 2026-11-23 10:00:00 UTC.
const T0: i64 = 1_795_428_000_000;
const INTERVAL: i64 = 30_000;

struct World {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    settings: Arc<Settings>,
    project: i64,
    rule: i64,
    monitor: Monitor,
    _dir: tempfile::TempDir,
    _pg: Option<support::PgSchema>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let (store, pg) = support::open_store(dir.path()).await;
    let (project, _) = store
        .create_project("acme", "shop", "python", "0123456789abcdef0123456789abcdef", T0)
        .await
        .unwrap();
    let channel = store
        .create_channel(
            &NewChannel {
                project_id: Some(project.id),
                name: "ops".into(),
                kind: ChannelKind::Webhook,
                config: json!({}),
                secrets: ChannelSecrets(json!({"url": "http://127.0.0.1:9/", "secret": "s"})),
                enabled: true,
            },
            T0,
        )
        .await
        .unwrap();
    let rule = store
        .create_rule(
            &NewAlertRule {
                project_id: Some(project.id),
                name: "monitors".into(),
                condition: Condition::MonitorDown { monitors: Vec::new() },
                channel_ids: vec![channel.id],
                cooldown_ms: 0,
                reminder_ms: None,
                notify_recovery: true,
                enabled: true,
            },
            T0,
        )
        .await
        .unwrap();
    let monitor = store
        .create_monitor(
            &NewMonitor {
                project_id: project.id,
                name: "Shop".into(),
                kind: MonitorKind::Http,
                slug: None,
                config: json!({"url": "https://shop.test/health", "method": "GET", "expected_status": ["2xx"],
                               "follow_redirects": true, "verify_tls": true}),
                interval_ms: INTERVAL,
                timeout_ms: 10_000,
                failure_threshold: 3,
                recovery_threshold: 2,
                enabled: true,
                public: false,
                regions: Vec::new(),
                region_quorum: 0,
                next_check_ms: T0,
            },
            T0,
        )
        .await
        .unwrap();
    World {
        store,
        clock: Arc::new(ManualClock::new(T0)),
        settings: Arc::new(Settings {
            public_url: Some("https://sentinel.test".into()),
            ..Settings::default()
        }),
        project: project.id,
        rule: rule.id,
        monitor,
        _dir: dir,
        _pg: pg,
    }
}

impl World {
    /// A verifier as a (re)started leader runs it.
    fn verifier(&self) -> Verifier {
        Verifier {
            store: self.store.clone(),
            clock: self.clock.clone(),
            settings: self.settings.clone(),
            notifier_wake: None,
        }
    }

    /// Results of slots `n`, `n+1`, … (`T0 + n × interval`), as a checker writes them.
    async fn results(&self, first: i64, oks: &[bool]) {
        let results: Vec<NewCheckResult> = oks
            .iter()
            .enumerate()
            .map(|(i, ok)| {
                let slot = T0 + (first + i as i64) * INTERVAL;
                NewCheckResult {
                    monitor_id: self.monitor.id,
                    slot_ms: slot,
                    region: String::new(),
                    started_ms: slot,
                    ok: *ok,
                    latency_ms: 5,
                    status_code: Some(if *ok { 200 } else { 503 }),
                    error: (!ok).then(|| "status 503, expected 2xx".to_owned()),
                    details: json!({}),
                }
            })
            .collect();
        assert_eq!(
            self.store.record_checks(&results).await.unwrap(),
            results.len() as u64
        );
        self.clock.set(T0 + (first + oks.len() as i64) * INTERVAL);
    }

    async fn notifications(&self) -> Vec<(Transition, String, Vec<(String, String)>)> {
        let mut list = self
            .store
            .list_notifications(Some(self.project), 100, None)
            .await
            .unwrap();
        // The order the notifier claims them in.
        list.sort_by_key(|n| (n.next_attempt_ms, n.id));
        list.into_iter()
            .map(|n| (n.transition, n.message.title, n.message.fields))
            .collect()
    }

    async fn status(&self) -> (MonitorStatus, u32) {
        let m = self.store.get_monitor(self.monitor.id).await.unwrap().unwrap();
        (m.status, m.streak)
    }
}

#[tokio::test]
async fn an_outage_judged_in_one_pass_notifies_down_and_up_once_and_ends_recovered() {
    let w = world().await;
    w.results(0, &[true]).await;
    w.verifier().pass().await.unwrap();
    assert_eq!(w.status().await.0, MonitorStatus::Up);
    assert!(
        w.notifications().await.is_empty(),
        "a first success notifies nobody"
    );

    // Three failures and two successes reach the verifier together.
    w.results(1, &[false, false, false, true, true]).await;
    assert_eq!(w.verifier().pass().await.unwrap(), 5);
    assert_eq!(w.status().await, (MonitorStatus::Up, 0));
    let sent = w.notifications().await;
    let titles: Vec<(Transition, &str)> = sent.iter().map(|(t, title, _)| (*t, title.as_str())).collect();
    assert_eq!(
        titles,
        vec![
            (Transition::Triggered, "Shop is down"),
            (Transition::Resolved, "Shop is up again"),
        ]
    );
    // Down from the third failure (slot 3) to the second success (slot 5): one minute.
    let down_for = sent[1]
        .2
        .iter()
        .find(|(k, _)| k == "Down for")
        .map(|(_, v)| v.as_str());
    assert_eq!(down_for, Some("1 min 0 s"));
    let state = w
        .store
        .get_alert_state(w.rule, &format!("monitor:{}", w.monitor.id))
        .await
        .unwrap()
        .unwrap();
    assert!(!state.firing, "the rule's state must end recovered: {state:?}");
    let incidents = w
        .store
        .list_incidents(w.project, Some(w.monitor.id), 10, None)
        .await
        .unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].opened_ms, T0 + 3 * INTERVAL + 5);
    assert_eq!(incidents[0].resolved_ms, Some(T0 + 5 * INTERVAL + 5));

    // The next outage is a new episode: notified again.
    w.results(6, &[false, false, false]).await;
    w.verifier().pass().await.unwrap();
    assert_eq!(w.status().await.0, MonitorStatus::Down);
    assert_eq!(w.notifications().await.len(), 3);
}

#[tokio::test]
async fn a_restarted_verifier_continues_the_stored_count() {
    let w = world().await;
    w.results(0, &[true, false, false]).await;
    w.verifier().pass().await.unwrap();
    // Two failures: still up, counting, and re-checked sooner than the next slot.
    assert_eq!(w.status().await, (MonitorStatus::Up, 2));
    let m = w.store.get_monitor(w.monitor.id).await.unwrap().unwrap();
    assert!(
        m.next_check_ms <= w.clock_now() + INTERVAL / 4,
        "no faster re-check: next {} now {}",
        m.next_check_ms,
        w.clock_now()
    );

    // A new leader's verifier (nothing kept in memory) sees the third failure: down, once.
    w.results(3, &[false]).await;
    w.verifier().pass().await.unwrap();
    assert_eq!(w.status().await.0, MonitorStatus::Down);
    assert_eq!(w.notifications().await.len(), 1);
    // Judging the same results again is refused by the queue and changes nothing.
    assert_eq!(w.verifier().pass().await.unwrap(), 0);
    assert_eq!(w.notifications().await.len(), 1);
}

impl World {
    fn clock_now(&self) -> i64 {
        use sentinel_server::clock::Clock;
        self.clock.now_ms()
    }
}

/// A planned outage inside a maintenance window: the failures change nothing and notify nobody,
/// not even when the window closes; a service still broken afterwards is confirmed and notified
/// once, as usual. The same holds when the window and the outage are judged in one pass.
#[tokio::test]
async fn nothing_is_notified_during_maintenance_and_an_outage_outlasting_it_once() {
    for one_pass in [false, true] {
        let w = world().await;
        w.results(0, &[true]).await;
        w.verifier().pass().await.unwrap();
        // Slots 2 to 9 (four minutes) are planned work on this monitor.
        w.store
            .create_maintenance(&MaintenanceWindow {
                id: 0,
                project_id: w.project,
                name: "Database upgrade".into(),
                monitor_ids: vec![w.monitor.id],
                starts_ms: T0 + 2 * INTERVAL,
                ends_ms: T0 + 10 * INTERVAL,
                schedule: None,
                duration_ms: 8 * INTERVAL,
                timezone: "UTC".into(),
                created_ms: T0,
            })
            .await
            .unwrap();
        w.results(1, &[true]).await;
        // Eight failures inside the window: still up, nobody told.
        w.results(2, &[false; 8]).await;
        if !one_pass {
            w.verifier().pass().await.unwrap();
            assert_eq!(w.status().await, (MonitorStatus::Up, 0), "one_pass={one_pass}");
            assert!(w.notifications().await.is_empty());
        }
        // After it: two failures are not yet an outage, the third is, and notifies once.
        w.results(10, &[false, false]).await;
        w.verifier().pass().await.unwrap();
        assert_eq!(w.status().await, (MonitorStatus::Up, 2), "one_pass={one_pass}");
        assert!(w.notifications().await.is_empty(), "one_pass={one_pass}");
        w.results(12, &[false, false]).await;
        w.verifier().pass().await.unwrap();
        assert_eq!(w.status().await.0, MonitorStatus::Down);
        let titles: Vec<(Transition, String)> = w
            .notifications()
            .await
            .into_iter()
            .map(|(t, title, _)| (t, title))
            .collect();
        assert_eq!(
            titles,
            [(Transition::Triggered, "Shop is down".to_owned())],
            "one_pass={one_pass}"
        );
        // The incident starts after the window, at the third failure of slot 12.
        let incidents = w
            .store
            .list_incidents(w.project, Some(w.monitor.id), 10, None)
            .await
            .unwrap();
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].opened_ms, T0 + 12 * INTERVAL + 5);
    }
}

impl World {
    /// One region's result of slot `n`, written as that region's checker writes it.
    async fn result_from(&self, region: &str, n: i64, ok: bool) {
        let slot = T0 + n * INTERVAL;
        let r = NewCheckResult {
            monitor_id: self.monitor.id,
            slot_ms: slot,
            region: region.into(),
            started_ms: slot,
            ok,
            latency_ms: 5,
            status_code: Some(if ok { 200 } else { 503 }),
            error: (!ok).then(|| format!("status 503 from {region}")),
            details: json!({}),
        };
        assert_eq!(self.store.record_checks(&[r]).await.unwrap(), 1);
    }

    /// Slot `n` from regions eu, us and ap, then the clock a second later.
    async fn all(&self, n: i64, oks: [bool; 3]) {
        for (region, ok) in ["eu", "us", "ap"].into_iter().zip(oks) {
            self.result_from(region, n, ok).await;
        }
        self.clock.set(T0 + n * INTERVAL + 1_000);
    }
}

/// Checked from three regions with a majority quorum: one region failing raises nothing; two
/// failing a slot count as a failure, and the usual threshold makes one DOWN notification. A slot
/// waits until its regions reported, or the slowest one had its timeout and a grace period; a
/// region that never reports does not stop the monitor from recovering.
#[tokio::test]
async fn a_monitor_checked_from_several_regions_goes_down_only_on_a_quorum() {
    let mut w = world().await;
    let m = &w.monitor;
    let spread = NewMonitor {
        project_id: m.project_id,
        name: m.name.clone(),
        kind: m.kind,
        slug: None,
        config: m.config.clone(),
        interval_ms: m.interval_ms,
        timeout_ms: m.timeout_ms,
        failure_threshold: m.failure_threshold,
        recovery_threshold: m.recovery_threshold,
        enabled: true,
        public: false,
        regions: vec!["eu".into(), "us".into(), "ap".into()],
        region_quorum: 0,
        next_check_ms: T0,
    };
    w.monitor = w.store.update_monitor(m.id, &spread, T0).await.unwrap();
    w.all(0, [true; 3]).await;
    w.verifier().pass().await.unwrap();
    assert_eq!(w.status().await, (MonitorStatus::Up, 0));

    // One region's network trouble for longer than the threshold: nothing.
    for n in 1..=4 {
        w.all(n, [false, true, true]).await;
    }
    assert_eq!(w.verifier().pass().await.unwrap(), 12);
    assert_eq!(w.status().await, (MonitorStatus::Up, 0));
    assert!(w.notifications().await.is_empty());

    // Slot 5: one region has reported a failure; the others still have time.
    w.result_from("eu", 5, false).await;
    w.clock.set(T0 + 5 * INTERVAL + 2_000);
    assert_eq!(
        w.verifier().pass().await.unwrap(),
        0,
        "the slot waits for its regions"
    );
    assert_eq!(w.status().await, (MonitorStatus::Up, 0));
    w.result_from("us", 5, false).await;
    w.result_from("ap", 5, true).await;
    assert_eq!(w.verifier().pass().await.unwrap(), 3);
    assert_eq!(
        w.status().await,
        (MonitorStatus::Up, 1),
        "two of three failed: counting"
    );
    for n in 6..=7 {
        w.all(n, [false, false, true]).await;
    }
    w.verifier().pass().await.unwrap();
    assert_eq!(w.status().await.0, MonitorStatus::Down);
    let sent = w.notifications().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let incident = w.store.open_incident(w.monitor.id).await.unwrap().unwrap();
    assert_eq!(incident.evidence["error"], "status 503 from eu");

    // Region ap goes silent while the service recovers: each slot is judged once ap's timeout
    // and the grace period have passed, on the two regions that reported.
    for n in 8..=9 {
        w.result_from("eu", n, true).await;
        w.result_from("us", n, true).await;
    }
    w.clock.set(T0 + 9 * INTERVAL + 1_000);
    assert_eq!(
        w.verifier().pass().await.unwrap(),
        2,
        "slot 8 is due, slot 9 not yet"
    );
    w.clock.set(T0 + 9 * INTERVAL + w.monitor.timeout_ms + 10_000);
    w.verifier().pass().await.unwrap();
    assert_eq!(w.status().await.0, MonitorStatus::Up);
    let sent = w.notifications().await;
    let titles: Vec<(Transition, &str)> = sent.iter().map(|(t, title, _)| (*t, title.as_str())).collect();
    assert_eq!(
        titles,
        vec![
            (Transition::Triggered, "Shop is down"),
            (Transition::Resolved, "Shop is up again"),
        ]
    );
}
