//! Contract checks for uptime monitoring: monitors, scheduling with concurrent schedulers and
//! clock jumps, claims, recorded results with their rollups, verification commits with incidents
//! and alerts, reads, retention and deletion.

use std::collections::{BTreeMap, BTreeSet};

use sentinel_store::{
    AlertCommit, AlertMessage, ChannelKind, ChannelSecrets, CheckJob, CheckResult, CronRun, Incident,
    IncidentChange, MaintenanceWindow, Monitor, MonitorKind, MonitorState, MonitorStatus, NewChannel,
    NewCheckResult, NewMonitor, NewNotification, Resolution, Transition, UptimeBucket, VerifierCommit,
};
use serde_json::json;

use super::*;

const INTERVAL: i64 = 30_000;
const MINUTE: i64 = 60_000;

fn new_monitor(project_id: i64, name: &str, kind: MonitorKind) -> NewMonitor {
    NewMonitor {
        project_id,
        name: name.into(),
        kind,
        slug: None,
        config: json!({ "url": format!("https://{name}.example.com/health"), "method": "GET" }),
        interval_ms: INTERVAL,
        timeout_ms: 10_000,
        failure_threshold: 3,
        recovery_threshold: 2,
        enabled: true,
        public: false,
        regions: Vec::new(),
        region_quorum: 0,
        next_check_ms: T0,
    }
}

async fn monitor(store: &dyn Store, project_id: i64, name: &str) -> Monitor {
    store
        .create_monitor(&new_monitor(project_id, name, MonitorKind::Http), T0)
        .await
        .unwrap()
}

fn check(monitor_id: i64, slot_ms: i64, ok: bool, latency_ms: i64) -> NewCheckResult {
    NewCheckResult {
        monitor_id,
        slot_ms,
        region: String::new(),
        started_ms: slot_ms + 5,
        ok,
        latency_ms,
        status_code: Some(if ok { 200 } else { 503 }),
        error: (!ok).then(|| "503 Service Unavailable".to_owned()),
        details: json!({ "dns_ms": 1, "connect_ms": 2, "first_byte_ms": latency_ms }),
    }
}

fn state(monitor_id: i64, status: MonitorStatus, since_ms: i64, recheck_ms: Option<i64>) -> MonitorState {
    MonitorState {
        monitor_id,
        status,
        status_since_ms: since_ms,
        streak: 0,
        last_check_ms: Some(since_ms),
        recheck_ms,
    }
}

/// Takes every queued result off the verifier's queue, changing nothing else.
async fn verify_all(store: &dyn Store) {
    let queued = store.unverified_results(10_000).await.unwrap();
    let commit = VerifierCommit {
        verified: queued.iter().map(|r| r.id).collect(),
        ..Default::default()
    };
    store.commit_verification(&commit).await.unwrap();
}

fn jobs_of(jobs: &[(CheckJob, Monitor)]) -> Vec<(i64, i64)> {
    jobs.iter().map(|(j, _)| (j.monitor_id, j.slot_ms)).collect()
}

fn notification(key: &str, channel_id: i64, project_id: i64) -> NewNotification {
    NewNotification {
        idempotency_key: key.into(),
        group_key: format!("group-{key}"),
        rule_id: None,
        channel_id,
        project_id: Some(project_id),
        subject: "monitor:1".into(),
        transition: Transition::Triggered,
        message: AlertMessage {
            title: format!("Down: {key}"),
            text: "503 Service Unavailable".into(),
            url: None,
            severity: "error".into(),
            fields: Vec::new(),
        },
        created_ms: T0,
    }
}

/// Rows in each uptime table, in the order monitors, jobs, results, queue, incidents, rollups,
/// latency histograms.
async fn uptime_rows(store: &dyn Store) -> Vec<u64> {
    let mut out = Vec::new();
    for name in [
        "monitors",
        "check_jobs",
        "check_results",
        "verify_queue",
        "incidents",
        "monitor_rollups",
        "monitor_latency",
    ] {
        out.push(store.count_rows(spec(name)).await.unwrap());
    }
    out
}

/// Puts rows in every uptime table: two monitors of project `p`, a job still to run, results (one
/// verified, the others queued), their rollups and an open incident.
fn opened(monitor_id: i64, at_ms: i64, evidence: serde_json::Value) -> IncidentChange {
    IncidentChange::Open {
        monitor_id,
        at_ms,
        evidence,
    }
}

fn resolved(monitor_id: i64, at_ms: i64) -> IncidentChange {
    IncidentChange::Resolve { monitor_id, at_ms }
}

pub async fn populate_uptime(store: &dyn Store, p: i64) {
    let a = monitor(store, p, "alpha").await;
    let b = monitor(store, p, "beta").await;
    assert_eq!(store.schedule_due(T0, 10).await.unwrap().len(), 2);
    let results = [check(a.id, T0, true, 40), check(b.id, T0, false, 10_000)];
    assert_eq!(store.record_checks(&results).await.unwrap(), 2);
    assert_eq!(store.schedule_due(T0 + INTERVAL, 10).await.unwrap().len(), 2);
    store
        .record_checks(&[check(a.id, T0 + INTERVAL, true, 35)])
        .await
        .unwrap();
    let first = store.unverified_results(1).await.unwrap()[0].id;
    let commit = VerifierCommit {
        states: vec![state(b.id, MonitorStatus::Down, T0, None)],
        incidents: vec![opened(b.id, T0, json!({ "status_code": 503, "slot_ms": T0 }))],
        verified: vec![first],
        ..Default::default()
    };
    store.commit_verification(&commit).await.unwrap();
    store
        .create_maintenance(&MaintenanceWindow {
            monitor_ids: vec![a.id],
            ..maintenance(p)
        })
        .await
        .unwrap();
    // (Of the first monitor: a resumed copy's first pass copies only the first few.)
    let run = CronRun {
        monitor_id: a.id,
        check_in_id: "6f1a9c5e-0000-4000-8000-000000000009".into(),
        started_ms: T0,
        deadline_ms: T0 + MINUTE,
    };
    store.start_cron_run(&run).await.unwrap();
}

pub async fn monitors_are_created_read_listed_updated_and_deleted(store: &dyn Store) {
    let p = project(store, "mon").await;
    let q = project(store, "other").await;
    let first = monitor(store, p, "first").await;
    assert_eq!(
        (
            first.project_id,
            first.kind,
            first.status,
            first.status_since_ms,
            first.streak,
            first.last_check_ms,
            first.next_check_ms,
            first.created_ms,
            first.updated_ms,
        ),
        (
            p,
            MonitorKind::Http,
            MonitorStatus::Pending,
            T0,
            0,
            None,
            T0,
            T0,
            T0
        )
    );
    assert_eq!(first.config, new_monitor(p, "first", MonitorKind::Http).config);
    assert_eq!(store.get_monitor(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.get_monitor(first.id + 1_000).await.unwrap(), None);

    let mut ours = vec![first.clone()];
    for kind in MonitorKind::ALL {
        let mut new = new_monitor(p, kind.as_str(), kind);
        new.public = kind == MonitorKind::Tcp;
        new.enabled = kind != MonitorKind::Dns;
        new.failure_threshold = 7;
        let m = store.create_monitor(&new, T0 + 1).await.unwrap();
        assert_eq!(
            (
                m.kind,
                m.public,
                m.enabled,
                m.failure_threshold,
                m.recovery_threshold
            ),
            (kind, new.public, new.enabled, 7, 2)
        );
        ours.push(m);
    }
    let theirs = monitor(store, q, "theirs").await;
    assert!(ours.windows(2).all(|w| w[0].id < w[1].id));

    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_monitors(p, 4, after).await.unwrap();
        assert!(page.len() <= 4);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        pages.extend(page);
    }
    assert_eq!(pages, ours, "a project's monitors by id, across pages");
    assert_eq!(
        store.list_monitors(q, 10, None).await.unwrap(),
        vec![theirs.clone()]
    );
    assert_eq!(
        store
            .get_monitors(&[theirs.id, first.id + 1_000, first.id, theirs.id])
            .await
            .unwrap(),
        vec![first.clone(), theirs.clone()],
        "by id, missing ones left out"
    );
    assert!(store.get_monitors(&[]).await.unwrap().is_empty());

    let missing = store
        .create_monitor(&new_monitor(q + 100, "nowhere", MonitorKind::Http), T0)
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::Conflict(_)), "{missing}");
    let mut never = new_monitor(p, "never", MonitorKind::Http);
    never.interval_ms = 0;
    let err = store.create_monitor(&never, T0).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let err = store
        .update_monitor(first.id + 1_000, &new_monitor(p, "gone", MonitorKind::Http), T0)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");

    assert!(store.delete_monitor(first.id).await.unwrap());
    assert!(!store.delete_monitor(first.id).await.unwrap());
    assert_eq!(store.get_monitor(first.id).await.unwrap(), None);
    assert_eq!(store.list_monitors(p, 100, None).await.unwrap(), ours[1..]);
}

pub async fn updating_a_monitor_resets_its_status_only_when_its_checks_change(store: &dyn Store) {
    let p = project(store, "upd").await;
    let m = monitor(store, p, "api").await;
    let down = VerifierCommit {
        states: vec![MonitorState {
            streak: 1,
            ..state(m.id, MonitorStatus::Down, T0 + MINUTE, None)
        }],
        incidents: vec![opened(m.id, T0 + MINUTE, json!({ "status_code": 503 }))],
        ..Default::default()
    };
    store.commit_verification(&down).await.unwrap();

    // Name, visibility, pausing and the next slot are not what is checked.
    let mut cosmetic = new_monitor(p, "api (renamed)", MonitorKind::Http);
    cosmetic.public = true;
    cosmetic.enabled = false;
    cosmetic.next_check_ms = T0 + 5 * MINUTE;
    // The same config built in another key order, and another kind: the kind stays.
    cosmetic.config = json!({ "method": "GET", "url": "https://api.example.com/health" });
    cosmetic.kind = MonitorKind::Tcp;
    let updated = store
        .update_monitor(m.id, &cosmetic, T0 + 2 * MINUTE)
        .await
        .unwrap();
    assert_eq!(
        updated,
        Monitor {
            name: "api (renamed)".into(),
            public: true,
            enabled: false,
            next_check_ms: T0 + 5 * MINUTE,
            updated_ms: T0 + 2 * MINUTE,
            status: MonitorStatus::Down,
            status_since_ms: T0 + MINUTE,
            streak: 1,
            last_check_ms: Some(T0 + MINUTE),
            ..m.clone()
        }
    );
    assert_eq!(store.get_monitor(m.id).await.unwrap(), Some(updated.clone()));
    assert!(store.open_incident(m.id).await.unwrap().is_some());

    type Change = fn(&mut NewMonitor);
    let changes: [(&str, Change); 5] = [
        ("config", |n| {
            n.config = json!({ "url": "https://api.example.com/v2" })
        }),
        ("interval", |n| n.interval_ms = 60_000),
        ("timeout", |n| n.timeout_ms = 5_000),
        ("failure threshold", |n| n.failure_threshold = 5),
        ("recovery threshold", |n| n.recovery_threshold = 1),
    ];
    let mut now = T0 + 3 * MINUTE;
    for (what, change) in changes {
        store.commit_verification(&down).await.unwrap();
        let mut new = cosmetic.clone();
        change(&mut new);
        let reset = store.update_monitor(m.id, &new, now).await.unwrap();
        assert_eq!(
            (
                reset.status,
                reset.status_since_ms,
                reset.streak,
                reset.updated_ms
            ),
            (MonitorStatus::Pending, now, 0, now),
            "a new {what} starts the status over"
        );
        assert_eq!(store.open_incident(m.id).await.unwrap(), None, "{what}");
        cosmetic = new;
        now += MINUTE;
    }
    let incidents = store.list_incidents(p, Some(m.id), 10, None).await.unwrap();
    assert_eq!(incidents.len(), 5, "one outage per round");
    assert_eq!(
        incidents[0].resolved_ms,
        Some(now - MINUTE),
        "resolved at the update"
    );
}

pub async fn each_slot_is_scheduled_once_by_concurrent_schedulers_restarts_and_clock_jumps(
    store: &dyn Store,
) {
    let p = project(store, "sched").await;
    let mut starts = BTreeMap::new();
    for i in 0..20 {
        let mut new = new_monitor(p, &format!("m{i}"), MonitorKind::Http);
        new.next_check_ms = T0 + i * 1_000;
        let m = store.create_monitor(&new, T0).await.unwrap();
        starts.insert(m.id, new.next_check_ms);
    }
    let mut seen: BTreeSet<(i64, i64)> = BTreeSet::new();
    fn take(seen: &mut BTreeSet<(i64, i64)>, jobs: Vec<CheckJob>) {
        for j in jobs {
            assert!(seen.insert((j.monitor_id, j.slot_ms)), "{j:?} scheduled twice");
        }
    }

    // Oldest first, at most the limit.
    let first = store.schedule_due(T0 + 19_000, 5).await.unwrap();
    let oldest: Vec<i64> = starts.keys().copied().take(5).collect();
    assert_eq!(first.iter().map(|j| j.monitor_id).collect::<Vec<_>>(), oldest);
    assert!(first.iter().all(|j| j.slot_ms == starts[&j.monitor_id]));
    take(&mut seen, first);
    assert!(store.schedule_due(T0 + 19_000, 0).await.unwrap().is_empty());

    let mut now = T0 + 19_000;
    for _ in 0..20 {
        let (a, b) = tokio::join!(store.schedule_due(now, 1_000), store.schedule_due(now, 1_000));
        take(&mut seen, a.unwrap());
        take(&mut seen, b.unwrap());
        now += 7_000;
    }
    let last = now - 7_000;
    let expected: BTreeSet<(i64, i64)> = starts
        .iter()
        .flat_map(|(&id, &start)| {
            (0..)
                .map(move |k| start + k * INTERVAL)
                .take_while(move |slot| *slot <= last)
                .map(move |slot| (id, slot))
        })
        .collect();
    assert_eq!(seen, expected, "every slot up to now, each once");
    assert_eq!(store.pending_check_jobs().await.unwrap(), expected.len() as u64);

    // A restart asks again at the same time; a clock set back asks about the past.
    assert!(store.schedule_due(last, 1_000).await.unwrap().is_empty());
    assert!(
        store
            .schedule_due(last - 2 * MINUTE, 1_000)
            .await
            .unwrap()
            .is_empty()
    );

    // A clock jumping forward by ten intervals: one job per monitor, for the current slot.
    let far = last + 10 * INTERVAL + 123;
    let jumped = store.schedule_due(far, 1_000).await.unwrap();
    assert_eq!(jumped.len(), starts.len());
    for job in &jumped {
        let start = starts[&job.monitor_id];
        assert_eq!(
            (job.slot_ms - start) % INTERVAL,
            0,
            "{job:?} on its monitor's grid"
        );
        assert!(
            job.slot_ms <= far && far < job.slot_ms + INTERVAL,
            "{job:?} the current slot"
        );
    }
    take(&mut seen, jumped);
    for m in store.list_monitors(p, 100, None).await.unwrap() {
        let start = starts[&m.id];
        assert_eq!((m.next_check_ms - start) % INTERVAL, 0, "{m:?}");
        assert!(
            m.next_check_ms > far && m.next_check_ms <= far + INTERVAL,
            "{m:?}"
        );
    }
    assert!(store.schedule_due(far, 1_000).await.unwrap().is_empty());
}

pub async fn paused_monitors_and_passive_kinds_are_never_scheduled(store: &dyn Store) {
    let p = project(store, "kinds").await;
    let mut ids = std::collections::HashMap::new();
    for kind in MonitorKind::ALL {
        let m = store
            .create_monitor(&new_monitor(p, kind.as_str(), kind), T0)
            .await
            .unwrap();
        ids.insert(kind, m.id);
    }
    let mut paused = new_monitor(p, "paused", MonitorKind::Http);
    paused.enabled = false;
    let paused = store.create_monitor(&paused, T0).await.unwrap();

    let mut scheduled = BTreeSet::new();
    for now in [T0, T0 + INTERVAL, T0 + 10 * INTERVAL] {
        for job in store.schedule_due(now, 100).await.unwrap() {
            scheduled.insert(job.monitor_id);
        }
    }
    let active: BTreeSet<i64> = MonitorKind::ALL
        .into_iter()
        .filter(|k| k.is_active())
        .map(|k| ids[&k])
        .collect();
    assert_eq!(scheduled, active);
    assert_eq!(
        store.get_monitor(paused.id).await.unwrap(),
        Some(paused.clone()),
        "untouched"
    );

    // Resumed, it is scheduled from its next slot.
    let mut resumed = new_monitor(p, "paused", MonitorKind::Http);
    resumed.next_check_ms = T0 + 11 * INTERVAL;
    store
        .update_monitor(paused.id, &resumed, T0 + 10 * INTERVAL)
        .await
        .unwrap();
    let jobs = store.schedule_due(T0 + 11 * INTERVAL, 100).await.unwrap();
    assert!(jobs.contains(&CheckJob {
        monitor_id: paused.id,
        slot_ms: T0 + 11 * INTERVAL,
        region: String::new(),
    }));

    // Paused again before its job ran: the queued job goes too, so no checker runs it.
    let before = store.pending_check_jobs().await.unwrap();
    let mut paused_again = resumed.clone();
    paused_again.enabled = false;
    store
        .update_monitor(paused.id, &paused_again, T0 + 11 * INTERVAL)
        .await
        .unwrap();
    assert_eq!(store.pending_check_jobs().await.unwrap(), before - 1);
    let claimed = store
        .claim_check_jobs("", 100, T0 + 12 * INTERVAL, 60_000)
        .await
        .unwrap();
    assert!(claimed.iter().all(|(job, _)| job.monitor_id != paused.id));
}

pub async fn claimed_jobs_come_back_only_after_their_lease(store: &dyn Store) {
    const LEASE: i64 = MINUTE;
    let p = project(store, "claims").await;
    let mut monitors = Vec::new();
    for i in 0..3 {
        let mut new = new_monitor(p, &format!("m{i}"), MonitorKind::Http);
        new.next_check_ms = T0 + i;
        monitors.push(store.create_monitor(&new, T0).await.unwrap());
    }
    store.schedule_due(T0 + 2, 10).await.unwrap();
    assert!(
        store
            .claim_check_jobs("", 10, T0 - 1, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "not due"
    );
    assert!(
        store
            .claim_check_jobs("", 0, T0 + 2, LEASE)
            .await
            .unwrap()
            .is_empty()
    );

    let first = store.claim_check_jobs("", 2, T0 + 2, LEASE).await.unwrap();
    assert_eq!(jobs_of(&first), [(monitors[0].id, T0), (monitors[1].id, T0 + 1)]);
    let mut scheduled = monitors[0].clone();
    scheduled.next_check_ms = T0 + INTERVAL;
    assert_eq!(first[0].1, scheduled, "with its monitor");
    let second = store.claim_check_jobs("", 10, T0 + 3, LEASE).await.unwrap();
    assert_eq!(jobs_of(&second), [(monitors[2].id, T0 + 2)]);
    assert!(
        store
            .claim_check_jobs("", 10, T0 + 2 + LEASE - 1, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "all leased"
    );
    assert_eq!(
        store.pending_check_jobs().await.unwrap(),
        3,
        "claimed jobs are pending"
    );

    // The first claimer died: its jobs come back once its lease has run out.
    let again = store
        .claim_check_jobs("", 10, T0 + 2 + LEASE, LEASE)
        .await
        .unwrap();
    assert_eq!(jobs_of(&again), jobs_of(&first));
    store
        .record_checks(&[check(monitors[2].id, T0 + 2, true, 20)])
        .await
        .unwrap();
    assert!(
        store
            .claim_check_jobs("", 10, T0 + 3 + LEASE, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "a recorded job is done"
    );
    assert_eq!(store.pending_check_jobs().await.unwrap(), 2);
}

pub async fn recording_checks_is_idempotent_queues_results_and_finishes_jobs(store: &dyn Store) {
    let p = project(store, "record").await;
    let a = monitor(store, p, "a").await;
    let b = monitor(store, p, "b").await;
    assert_eq!(store.schedule_due(T0, 10).await.unwrap().len(), 2);
    assert_eq!(store.claim_check_jobs("", 10, T0, MINUTE).await.unwrap().len(), 2);
    assert_eq!(store.record_checks(&[]).await.unwrap(), 0);

    let mut failed = check(b.id, T0, false, 10_000);
    failed.status_code = None;
    failed.error = Some("connection refused".into());
    failed.region = "eu-west".into();
    let batch = [check(a.id, T0, true, 42), failed.clone()];
    assert_eq!(store.record_checks(&batch).await.unwrap(), 2);
    assert_eq!(store.pending_check_jobs().await.unwrap(), 0, "both jobs done");
    let queued = store.unverified_results(10).await.unwrap();
    let as_new = |r: &CheckResult| NewCheckResult {
        monitor_id: r.monitor_id,
        slot_ms: r.slot_ms,
        region: r.region.clone(),
        started_ms: r.started_ms,
        ok: r.ok,
        latency_ms: r.latency_ms,
        status_code: r.status_code,
        error: r.error.clone(),
        details: r.details.clone(),
    };
    assert_eq!(
        queued.iter().map(as_new).collect::<Vec<_>>(),
        batch,
        "every field round trips"
    );
    assert!(queued[0].id < queued[1].id, "in id order");
    assert_eq!(store.unverified_results(1).await.unwrap(), queued[..1]);

    // A checker whose lease ran out, or that retried after a lost answer, records again.
    assert_eq!(store.record_checks(&batch).await.unwrap(), 0);
    assert_eq!(store.unverified_results(10).await.unwrap(), queued, "queued once");
    assert_eq!(
        store.list_check_results(a.id, 10, None).await.unwrap(),
        queued[..1]
    );
    let minute = store
        .uptime_buckets(&[a.id], Resolution::Minute, T0, T0 + MINUTE)
        .await
        .unwrap();
    assert_eq!(
        minute,
        [(
            a.id,
            UptimeBucket {
                bucket_ms: T0,
                checks: 1,
                failures: 0,
                latency_sum_ms: 42,
                latency_max_ms: 42
            }
        )],
        "counted once"
    );

    // A repeat within a batch, another region of a recorded slot, a deleted monitor's result.
    let gone = monitor(store, p, "gone").await;
    assert!(store.delete_monitor(gone.id).await.unwrap());
    let mut other_region = check(a.id, T0, true, 50);
    other_region.region = "us-east".into();
    let next = check(a.id, T0 + INTERVAL, false, 9_000);
    let mixed = [
        next.clone(),
        next.clone(),
        other_region,
        check(gone.id, T0, true, 1),
    ];
    assert_eq!(store.record_checks(&mixed).await.unwrap(), 2);
    assert_eq!(store.unverified_results(10).await.unwrap().len(), 4);
    assert!(
        store
            .list_check_results(gone.id, 10, None)
            .await
            .unwrap()
            .is_empty()
    );

    // Newest slot first, a page at a time.
    let slots: Vec<(i64, String)> = store
        .list_check_results(a.id, 10, None)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.slot_ms, r.region.clone()))
        .collect();
    assert_eq!(
        slots,
        [
            (T0 + INTERVAL, String::new()),
            (T0, "us-east".into()),
            (T0, String::new())
        ]
    );
    let page = store.list_check_results(a.id, 1, None).await.unwrap();
    assert_eq!(page[0].slot_ms, T0 + INTERVAL);
    let older = store
        .list_check_results(a.id, 5, Some(page[0].slot_ms))
        .await
        .unwrap();
    assert_eq!(older.len(), 2);
    assert!(older.iter().all(|r| r.slot_ms == T0));
}

pub async fn rollups_sum_checks_per_minute_hour_and_day(store: &dyn Store) {
    let p = project(store, "rollups").await;
    let m = monitor(store, p, "api").await;
    let other = monitor(store, p, "other").await;
    // Every 7 minutes from half an hour before T0 (08:00 UTC) to 1.5 h after, two regions each,
    // every third one failing: results over three hours of one day.
    let mut results = Vec::new();
    for (i, slot) in (T0 - 30 * MINUTE..T0 + 90 * MINUTE)
        .step_by(7 * MINUTE as usize)
        .enumerate()
    {
        for region in ["", "eu"] {
            let mut r = check(m.id, slot, i % 3 != 0, 100 + i as i64 * 10 + region.len() as i64);
            r.region = region.into();
            results.push(r);
        }
    }
    results.push(check(other.id, T0, true, 1));
    // In two batches, so rows are created by the first and added to by the second.
    let (early, late) = results.split_at(results.len() / 2 + 1);
    assert_eq!(
        store.record_checks(early).await.unwrap() + store.record_checks(late).await.unwrap(),
        results.len() as u64
    );

    for resolution in Resolution::ALL {
        let size = resolution.bucket_ms();
        let mut expected: BTreeMap<i64, UptimeBucket> = BTreeMap::new();
        for r in results.iter().filter(|r| r.monitor_id == m.id) {
            let start = r.slot_ms - r.slot_ms.rem_euclid(size);
            let b = expected.entry(start).or_insert(UptimeBucket {
                bucket_ms: start,
                ..Default::default()
            });
            b.checks += 1;
            b.failures += u64::from(!r.ok);
            b.latency_sum_ms += r.latency_ms;
            b.latency_max_ms = b.latency_max_ms.max(r.latency_ms);
        }
        let got = store
            .uptime_buckets(&[m.id], resolution, T0 - DAY_MS, T0 + DAY_MS)
            .await
            .unwrap();
        assert_eq!(
            got,
            expected.into_values().map(|b| (m.id, b)).collect::<Vec<_>>(),
            "{resolution:?}"
        );
    }
    let hours = store
        .uptime_buckets(&[m.id], Resolution::Hour, T0 - DAY_MS, T0 + DAY_MS)
        .await
        .unwrap();
    assert_eq!(
        hours.iter().map(|(_, b)| b.bucket_ms).collect::<Vec<_>>(),
        [T0 - HOUR_MS, T0, T0 + HOUR_MS]
    );
    let day = store
        .uptime_buckets(&[m.id], Resolution::Day, T0 - DAY_MS, T0 + DAY_MS)
        .await
        .unwrap();
    assert_eq!(day.len(), 1);
    assert_eq!(day[0].1.checks, results.len() as u64 - 1);
}

pub async fn verification_commits_states_incidents_and_alerts_once(store: &dyn Store) {
    let p = project(store, "verify").await;
    let channel = store
        .create_channel(
            &NewChannel {
                project_id: Some(p),
                name: "hook".into(),
                kind: ChannelKind::Webhook,
                config: json!({}),
                secrets: ChannelSecrets(json!({ "url": "https://hooks.example.com/x" })),
                enabled: true,
            },
            T0,
        )
        .await
        .unwrap();
    let down = monitor(store, p, "down").await;
    let up = monitor(store, p, "up").await;
    store.schedule_due(T0, 10).await.unwrap();
    store
        .record_checks(&[check(down.id, T0, false, 10_000), check(up.id, T0, true, 30)])
        .await
        .unwrap();
    let queued: Vec<i64> = store
        .unverified_results(10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(queued.len(), 2);

    let evidence = json!({ "status_code": 503, "error": "503 Service Unavailable", "slot_ms": T0 });
    let commit = VerifierCommit {
        states: vec![
            state(down.id, MonitorStatus::Down, T0, Some(T0 + 10_000)),
            state(up.id, MonitorStatus::Up, T0, None),
            // A monitor deleted meanwhile.
            state(up.id + 1_000, MonitorStatus::Up, T0, None),
        ],
        incidents: vec![opened(down.id, T0, evidence.clone())],
        verified: queued.clone(),
        alerts: AlertCommit {
            notifications: vec![notification("monitor-down-1", channel.id, p)],
            ..Default::default()
        },
    };
    assert_eq!(store.commit_verification(&commit).await.unwrap(), 1);
    let stored = store.get_monitor(down.id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.status,
            stored.status_since_ms,
            stored.streak,
            stored.last_check_ms,
            stored.next_check_ms
        ),
        (MonitorStatus::Down, T0, 0, Some(T0), T0 + 10_000),
        "re-checked sooner than its next slot"
    );
    let stored = store.get_monitor(up.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.next_check_ms),
        (MonitorStatus::Up, T0 + INTERVAL)
    );
    let incident = store
        .open_incident(down.id)
        .await
        .unwrap()
        .expect("an open incident");
    assert_eq!(
        (
            incident.project_id,
            incident.opened_ms,
            incident.resolved_ms,
            &incident.evidence
        ),
        (p, T0, None, &evidence)
    );
    assert!(store.unverified_results(10).await.unwrap().is_empty());
    assert!(store.find_notification("monitor-down-1").await.unwrap().is_some());

    // Another verifier committed the same results: nothing of this one is written.
    let late = VerifierCommit {
        states: vec![state(down.id, MonitorStatus::Up, T0 + 1, None)],
        incidents: vec![opened(up.id, T0 + 1, json!({})), resolved(down.id, T0 + 1)],
        verified: queued.clone(),
        alerts: AlertCommit {
            notifications: vec![notification("monitor-down-2", channel.id, p)],
            ..Default::default()
        },
    };
    let err = store.commit_verification(&late).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(
        store.get_monitor(down.id).await.unwrap().unwrap().status,
        MonitorStatus::Down
    );
    assert_eq!(
        store.open_incident(down.id).await.unwrap(),
        Some(incident.clone())
    );
    assert_eq!(store.open_incident(up.id).await.unwrap(), None);
    assert_eq!(store.list_incidents(p, None, 10, None).await.unwrap().len(), 1);
    assert!(store.find_notification("monitor-down-2").await.unwrap().is_none());

    // Part of it done elsewhere is a conflict too, and leaves the rest queued.
    store.schedule_due(T0 + 10_000, 10).await.unwrap();
    store
        .record_checks(&[check(down.id, T0 + 10_000, true, 30)])
        .await
        .unwrap();
    let fresh = store.unverified_results(10).await.unwrap()[0].id;
    let mixed = VerifierCommit {
        verified: vec![fresh, queued[0]],
        ..late.clone()
    };
    assert!(matches!(
        store.commit_verification(&mixed).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.unverified_results(10).await.unwrap()[0].id, fresh);

    let recovered = VerifierCommit {
        states: vec![state(down.id, MonitorStatus::Up, T0 + 10_000, None)],
        incidents: vec![resolved(down.id, T0 + 10_000)],
        verified: vec![fresh, fresh],
        ..Default::default()
    };
    assert_eq!(store.commit_verification(&recovered).await.unwrap(), 0);
    assert_eq!(store.open_incident(down.id).await.unwrap(), None);
    let incidents = store.list_incidents(p, Some(down.id), 10, None).await.unwrap();
    assert_eq!(
        incidents,
        [Incident {
            resolved_ms: Some(T0 + 10_000),
            ..incident
        }]
    );
}

pub async fn a_monitor_has_at_most_one_open_incident(store: &dyn Store) {
    let p = project(store, "incidents").await;
    let q = project(store, "elsewhere").await;
    let m = monitor(store, p, "m").await;
    let n = monitor(store, p, "n").await;
    let theirs = monitor(store, q, "theirs").await;
    let open = |monitor_id: i64, at: i64| opened(monitor_id, at, json!({ "at": at }));
    let commit = VerifierCommit {
        incidents: vec![
            open(m.id, T0),
            open(m.id, T0 + 1),
            open(theirs.id, T0),
            open(m.id + 1_000, T0),
        ],
        ..Default::default()
    };
    store.commit_verification(&commit).await.unwrap();
    let first = store.open_incident(m.id).await.unwrap().expect("open");
    assert_eq!(first.evidence, json!({ "at": T0 }), "the first one given");
    let again = VerifierCommit {
        incidents: vec![open(m.id, T0 + 2), open(n.id, T0 + 2)],
        ..Default::default()
    };
    store.commit_verification(&again).await.unwrap();
    assert_eq!(
        store.open_incident(m.id).await.unwrap(),
        Some(first.clone()),
        "still the first"
    );

    // Resolved and opened again in one pass: the old one ends, a new one begins.
    let flap = VerifierCommit {
        incidents: vec![resolved(m.id, T0 + 3), open(m.id, T0 + 4)],
        ..Default::default()
    };
    store.commit_verification(&flap).await.unwrap();
    let second = store.open_incident(m.id).await.unwrap().expect("open");
    assert_eq!(second.opened_ms, T0 + 4);
    assert!(second.id > first.id);

    // Down and up again in one pass (the reverse order): opened and resolved, nothing left open.
    let blip = VerifierCommit {
        incidents: vec![open(theirs.id, T0 + 5), resolved(theirs.id, T0 + 6)],
        ..Default::default()
    };
    store.commit_verification(&blip).await.unwrap();
    assert_eq!(store.open_incident(theirs.id).await.unwrap(), None);
    let theirs_all = store.list_incidents(q, Some(theirs.id), 10, None).await.unwrap();
    assert_eq!(theirs_all[0].resolved_ms, Some(T0 + 6), "{theirs_all:?}");

    let all = store.list_incidents(p, None, 10, None).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|i| (i.monitor_id, i.opened_ms, i.resolved_ms))
            .collect::<Vec<_>>(),
        [
            (m.id, T0 + 4, None),
            (n.id, T0 + 2, None),
            (m.id, T0, Some(T0 + 3))
        ],
        "the project's incidents, newest first"
    );
    let page = store.list_incidents(p, None, 2, None).await.unwrap();
    assert_eq!(page, all[..2]);
    assert_eq!(
        store.list_incidents(p, None, 2, Some(page[1].id)).await.unwrap(),
        all[2..]
    );
    assert_eq!(
        store.list_incidents(p, Some(m.id), 10, None).await.unwrap(),
        [all[0].clone(), all[2].clone()]
    );
    assert!(
        store
            .list_incidents(p, Some(theirs.id), 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.list_incidents(q, None, 10, None).await.unwrap().len(), 1);
}

pub async fn uptime_buckets_filter_by_resolution_and_window(store: &dyn Store) {
    let p = project(store, "buckets").await;
    let a = monitor(store, p, "a").await;
    let b = monitor(store, p, "b").await;
    let quiet = monitor(store, p, "quiet").await;
    store
        .record_checks(&[
            check(a.id, T0, true, 10),
            check(a.id, T0 + MINUTE + 1_000, false, 20),
            check(a.id, T0 + 2 * HOUR_MS, true, 30),
            check(b.id, T0 + 30_000, true, 40),
        ])
        .await
        .unwrap();
    let buckets = |ids: Vec<i64>, resolution: Resolution, since: i64, until: i64| async move {
        store
            .uptime_buckets(&ids, resolution, since, until)
            .await
            .unwrap()
            .iter()
            .map(|(m, bucket)| (*m, bucket.bucket_ms, bucket.checks, bucket.failures))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        buckets(
            vec![b.id, a.id, quiet.id, a.id],
            Resolution::Minute,
            T0,
            T0 + 2 * MINUTE
        )
        .await,
        [(a.id, T0, 1, 0), (a.id, T0 + MINUTE, 1, 1), (b.id, T0, 1, 0)],
        "by monitor then time, non-empty buckets only"
    );
    assert_eq!(
        buckets(vec![a.id, b.id], Resolution::Minute, T0, T0 + MINUTE).await,
        [(a.id, T0, 1, 0), (b.id, T0, 1, 0)],
        "the window's end is excluded"
    );
    assert_eq!(
        buckets(vec![a.id], Resolution::Minute, T0 + 1, T0 + 3 * HOUR_MS).await,
        [(a.id, T0 + MINUTE, 1, 1), (a.id, T0 + 2 * HOUR_MS, 1, 0)],
        "buckets start within the window"
    );
    assert_eq!(
        buckets(vec![a.id, b.id], Resolution::Hour, T0, T0 + 3 * HOUR_MS).await,
        [(a.id, T0, 2, 1), (a.id, T0 + 2 * HOUR_MS, 1, 0), (b.id, T0, 1, 0)]
    );
    let day = T0 - T0.rem_euclid(DAY_MS);
    assert_eq!(
        buckets(vec![a.id, b.id], Resolution::Day, day, day + DAY_MS).await,
        [(a.id, day, 3, 1), (b.id, day, 1, 0)]
    );
    assert!(
        buckets(vec![], Resolution::Day, day, day + DAY_MS)
            .await
            .is_empty()
    );
    assert!(
        buckets(vec![quiet.id], Resolution::Minute, 0, i64::MAX)
            .await
            .is_empty()
    );
}

pub async fn retention_deletes_old_check_results_and_rollups_but_keeps_queued_results(store: &dyn Store) {
    let p = project(store, "retained").await;
    let m = monitor(store, p, "m").await;
    let n = monitor(store, p, "n").await;
    let now = T0;
    let ages = [
        800 * DAY_MS,
        100 * DAY_MS,
        40 * DAY_MS,
        35 * DAY_MS,
        31 * DAY_MS,
        29 * DAY_MS,
        3 * DAY_MS,
        DAY_MS,
        HOUR_MS,
    ];
    let mut results: Vec<NewCheckResult> = Vec::new();
    for age in ages {
        results.push(check(m.id, now - age, true, 10));
        results.push(check(n.id, now - age + MINUTE, false, 20));
    }
    store.record_checks(&results).await.unwrap();
    verify_all(store).await;
    // Checked 40 days ago but not yet verified (a verifier that has been down).
    let queued = check(m.id, now - 40 * DAY_MS + 7 * MINUTE, true, 10);
    store.record_checks(std::slice::from_ref(&queued)).await.unwrap();
    results.push(queued.clone());

    let policy = RetentionPolicy {
        check_result_days: 30,
        delete_batch: 2,
        ..Default::default()
    };
    let cutoff = now - 30 * DAY_MS;
    let kept = |r: &&NewCheckResult| r.slot_ms >= cutoff || **r == queued;
    let expected_results = results.iter().filter(|r| !kept(r)).count() as u64;
    // (monitor, index of the resolution in `Resolution::ALL`, bucket start).
    let mut rollup_rows: BTreeSet<(i64, usize, i64)> = BTreeSet::new();
    // The latency histogram rows of the successful checks (all of one latency: one bin).
    let mut latency_rows: BTreeSet<(i64, usize, i64)> = BTreeSet::new();
    for r in &results {
        for (i, resolution) in Resolution::ALL.into_iter().enumerate() {
            let start = r.slot_ms - r.slot_ms.rem_euclid(resolution.bucket_ms());
            rollup_rows.insert((r.monitor_id, i, start));
            if r.ok {
                latency_rows.insert((r.monitor_id, i, start));
            }
        }
    }
    let expired = |(_, i, start): &&(i64, usize, i64)| {
        *start < now - i64::from(Resolution::ALL[*i].retention_days()) * DAY_MS
    };
    let expected_rollups =
        (rollup_rows.iter().filter(expired).count() + latency_rows.iter().filter(expired).count()) as u64;
    assert!(expected_rollups > 0);

    let report = store.apply_retention(&policy, now).await.unwrap();
    assert_eq!(
        (report.check_results_deleted, report.monitor_rollups_deleted),
        (expected_results, expected_rollups),
        "{report:?}"
    );
    for monitor in [&m, &n] {
        let left: Vec<i64> = store
            .list_check_results(monitor.id, 100, None)
            .await
            .unwrap()
            .iter()
            .map(|r| r.slot_ms)
            .collect();
        let mut expected: Vec<i64> = results
            .iter()
            .filter(|r| r.monitor_id == monitor.id)
            .filter(kept)
            .map(|r| r.slot_ms)
            .collect();
        expected.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(left, expected, "monitor {}", monitor.name);
    }
    let still = store.unverified_results(10).await.unwrap();
    assert_eq!(still.len(), 1);
    assert_eq!(
        still[0].slot_ms, queued.slot_ms,
        "a queued result is kept, however old"
    );
    for (i, resolution) in Resolution::ALL.into_iter().enumerate() {
        let left: BTreeSet<(i64, usize, i64)> = store
            .uptime_buckets(&[m.id, n.id], resolution, i64::MIN, i64::MAX)
            .await
            .unwrap()
            .iter()
            .map(|(id, b)| (*id, i, b.bucket_ms))
            .collect();
        let expected: BTreeSet<(i64, usize, i64)> = rollup_rows
            .iter()
            .filter(|row| row.1 == i && !expired(row))
            .copied()
            .collect();
        assert_eq!(left, expected, "{resolution:?}");
        let left: BTreeSet<(i64, usize, i64)> = store
            .latency_histograms(&[m.id, n.id], resolution, i64::MIN, i64::MAX)
            .await
            .unwrap()
            .iter()
            .map(|(id, at, _)| (*id, i, *at))
            .collect();
        let expected: BTreeSet<(i64, usize, i64)> = latency_rows
            .iter()
            .filter(|row| row.1 == i && !expired(row))
            .copied()
            .collect();
        assert_eq!(left, expected, "latency {resolution:?}");
    }

    let again = store.apply_retention(&policy, now).await.unwrap();
    assert_eq!(
        (again.check_results_deleted, again.monitor_rollups_deleted),
        (0, 0)
    );
    // Once verified, it goes too.
    verify_all(store).await;
    let last = store.apply_retention(&policy, now).await.unwrap();
    assert_eq!(last.check_results_deleted, 1);
}

pub async fn deleting_a_monitor_removes_its_rows(store: &dyn Store) {
    let p = project(store, "deleted").await;
    let gone = monitor(store, p, "gone").await;
    let kept = monitor(store, p, "kept").await;
    store.schedule_due(T0, 10).await.unwrap();
    store
        .record_checks(&[check(gone.id, T0, true, 10), check(kept.id, T0, true, 10)])
        .await
        .unwrap();
    store.schedule_due(T0 + INTERVAL, 10).await.unwrap();
    let commit = VerifierCommit {
        incidents: vec![opened(gone.id, T0, json!({})), opened(kept.id, T0, json!({}))],
        ..Default::default()
    };
    store.commit_verification(&commit).await.unwrap();
    assert_eq!(uptime_rows(store).await, [2, 2, 2, 2, 2, 6, 6]);

    assert!(store.delete_monitor(gone.id).await.unwrap());
    assert_eq!(
        uptime_rows(store).await,
        [1, 1, 1, 1, 1, 3, 3],
        "only the kept monitor's rows are left"
    );
    assert_eq!(store.get_monitor(gone.id).await.unwrap(), None);
    assert!(
        store
            .list_check_results(gone.id, 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_incidents(p, Some(gone.id), 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .uptime_buckets(&[gone.id], Resolution::Minute, 0, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    let queued = store.unverified_results(10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].monitor_id, kept.id);
    assert_eq!(store.list_check_results(kept.id, 10, None).await.unwrap(), queued);
    assert!(store.open_incident(kept.id).await.unwrap().is_some());
    let jobs = store
        .claim_check_jobs("", 10, T0 + INTERVAL, MINUTE)
        .await
        .unwrap();
    assert_eq!(jobs_of(&jobs), [(kept.id, T0 + INTERVAL)]);
}

/// A heartbeat monitor: found by its slug within its project only; slugs are unique per project.
fn passive_monitor(project_id: i64, slug: &str, kind: MonitorKind, deadline_ms: i64) -> NewMonitor {
    NewMonitor {
        slug: Some(slug.into()),
        config: json!({ "schedule": { "type": "interval", "seconds": 3600 }, "grace_seconds": 60 }),
        interval_ms: 3_600_000,
        failure_threshold: 1,
        recovery_threshold: 1,
        next_check_ms: deadline_ms,
        ..new_monitor(project_id, slug, kind)
    }
}

pub async fn check_in_monitors_are_found_by_slug_and_swept_by_deadline(store: &dyn Store) {
    let p = project(store, "crons").await;
    let other = project(store, "crons-2").await;
    let nightly = store
        .create_monitor(&passive_monitor(p, "nightly", MonitorKind::Cron, T0 + MINUTE), T0)
        .await
        .unwrap();
    let beat = store
        .create_monitor(
            &passive_monitor(p, "beat", MonitorKind::Heartbeat, T0 + 2 * MINUTE),
            T0,
        )
        .await
        .unwrap();
    let mut paused = passive_monitor(p, "paused", MonitorKind::Heartbeat, T0);
    paused.enabled = false;
    store.create_monitor(&paused, T0).await.unwrap();
    let elsewhere = store
        .create_monitor(
            &passive_monitor(other, "nightly", MonitorKind::Cron, T0 + MINUTE),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(nightly.slug.as_deref(), Some("nightly"));

    // By slug, within the project.
    assert_eq!(
        store.monitor_by_slug(p, "nightly").await.unwrap(),
        Some(nightly.clone())
    );
    assert_eq!(
        store.monitor_by_slug(other, "nightly").await.unwrap(),
        Some(elsewhere.clone())
    );
    assert_eq!(store.monitor_by_slug(p, "weekly").await.unwrap(), None);
    let taken = store
        .create_monitor(&passive_monitor(p, "nightly", MonitorKind::Heartbeat, T0), T0)
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    // Monitors a checker runs have no slug, however many there are.
    monitor(store, p, "web-1").await;
    monitor(store, p, "web-2").await;

    // Overdue: enabled passive monitors only, earliest deadline first; never active ones.
    let overdue = |now| async move {
        store
            .overdue_monitors(now, 100)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(overdue(T0).await, Vec::<i64>::new());
    assert_eq!(overdue(T0 + MINUTE).await, [nightly.id, elsewhere.id]);
    assert_eq!(
        overdue(T0 + 5 * MINUTE).await,
        [nightly.id, elsewhere.id, beat.id]
    );
    assert_eq!(store.overdue_monitors(T0 + 5 * MINUTE, 1).await.unwrap().len(), 1);

    // The deadline moves only from the value the mover read: a second sweep or a replayed
    // check-in changes nothing.
    assert!(
        store
            .move_deadline(nightly.id, T0 + MINUTE, T0 + 61 * MINUTE)
            .await
            .unwrap()
    );
    assert!(
        !store
            .move_deadline(nightly.id, T0 + MINUTE, T0 + 61 * MINUTE)
            .await
            .unwrap()
    );
    assert!(!store.move_deadline(i64::MAX, T0, T0 + MINUTE).await.unwrap());
    assert_eq!(
        store
            .get_monitor(nightly.id)
            .await
            .unwrap()
            .unwrap()
            .next_check_ms,
        T0 + 61 * MINUTE
    );
    assert_eq!(overdue(T0 + 5 * MINUTE).await, [elsewhere.id, beat.id]);
}

pub async fn cron_runs_start_once_end_once_and_time_out_by_deadline(store: &dyn Store) {
    let p = project(store, "runs").await;
    let job = store
        .create_monitor(&passive_monitor(p, "job", MonitorKind::Cron, T0 + MINUTE), T0)
        .await
        .unwrap();
    let run = |id: &str, started_ms: i64| CronRun {
        monitor_id: job.id,
        check_in_id: id.into(),
        started_ms,
        deadline_ms: started_ms + 30 * MINUTE,
    };
    let first = run("6f1a9c5e-0000-4000-8000-000000000001", T0);
    let second = run("6f1a9c5e-0000-4000-8000-000000000002", T0 + MINUTE);
    assert!(store.start_cron_run(&first).await.unwrap());
    assert!(
        !store.start_cron_run(&first).await.unwrap(),
        "the same check-in again"
    );
    assert!(store.start_cron_run(&second).await.unwrap());
    // A run of a monitor that does not exist is not recorded.
    assert!(
        !store
            .start_cron_run(&CronRun {
                monitor_id: i64::MAX,
                ..first.clone()
            })
            .await
            .unwrap()
    );

    assert_eq!(
        store.cron_run(job.id, Some(&first.check_in_id)).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.cron_run(job.id, None).await.unwrap(),
        Some(second.clone()),
        "the latest"
    );
    assert_eq!(store.cron_run(job.id, Some("unknown")).await.unwrap(), None);

    assert_eq!(store.overdue_cron_runs(T0 + 29 * MINUTE, 10).await.unwrap(), []);
    assert_eq!(
        store.overdue_cron_runs(T0 + 40 * MINUTE, 10).await.unwrap(),
        [first.clone(), second.clone()]
    );

    assert!(store.end_cron_run(job.id, &second.check_in_id).await.unwrap());
    assert!(
        !store.end_cron_run(job.id, &second.check_in_id).await.unwrap(),
        "ended once"
    );
    assert_eq!(store.cron_run(job.id, None).await.unwrap(), Some(first.clone()));
    assert_eq!(
        store.overdue_cron_runs(T0 + 40 * MINUTE, 10).await.unwrap(),
        [first]
    );

    // Runs go with their monitor.
    assert!(store.delete_monitor(job.id).await.unwrap());
    assert_eq!(store.overdue_cron_runs(i64::MAX, 10).await.unwrap(), []);
}

fn maintenance(project_id: i64) -> MaintenanceWindow {
    MaintenanceWindow {
        id: 0,
        project_id,
        name: "Database upgrade".into(),
        monitor_ids: Vec::new(),
        starts_ms: T0,
        ends_ms: T0 + 60 * MINUTE,
        schedule: None,
        duration_ms: 0,
        timezone: "UTC".into(),
        created_ms: T0,
    }
}

pub async fn maintenance_windows_are_stored_listed_per_project_and_deleted(store: &dyn Store) {
    let p = project(store, "maint").await;
    let other = project(store, "maint-2").await;
    let m = monitor(store, p, "web").await;
    let once = store.create_maintenance(&maintenance(p)).await.unwrap();
    assert!(once.id > 0);
    assert_eq!(
        once,
        MaintenanceWindow {
            id: once.id,
            ..maintenance(p)
        }
    );
    let weekly = MaintenanceWindow {
        name: "Sunday backups".into(),
        monitor_ids: vec![m.id],
        ends_ms: i64::MAX,
        schedule: Some("0 2 * * 0".into()),
        duration_ms: 30 * MINUTE,
        timezone: "Europe/Berlin".into(),
        ..maintenance(p)
    };
    let weekly = store.create_maintenance(&weekly).await.unwrap();
    store.create_maintenance(&maintenance(other)).await.unwrap();
    assert_eq!(
        store.list_maintenance(p).await.unwrap(),
        [once.clone(), weekly.clone()]
    );
    assert_eq!(
        store.get_maintenance(weekly.id).await.unwrap(),
        Some(weekly.clone())
    );
    let missing = store.create_maintenance(&maintenance(i64::MAX)).await;
    assert!(matches!(missing, Err(StoreError::Conflict(_))), "{missing:?}");

    assert!(store.delete_maintenance(once.id).await.unwrap());
    assert!(!store.delete_maintenance(once.id).await.unwrap());
    assert_eq!(store.list_maintenance(p).await.unwrap(), [weekly]);
    assert_eq!(store.list_maintenance(other).await.unwrap().len(), 1);
}

pub async fn monitors_with_regions_get_a_job_per_region_that_only_its_checkers_claim(store: &dyn Store) {
    let p = project(store, "regions").await;
    let spread = store
        .create_monitor(
            &NewMonitor {
                regions: vec!["eu-west".into(), "us-east".into(), "ap-south".into()],
                region_quorum: 2,
                ..new_monitor(p, "spread", MonitorKind::Http)
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(spread.regions, ["eu-west", "us-east", "ap-south"], "order kept");
    assert_eq!(spread.region_quorum, 2);
    assert_eq!(store.get_monitor(spread.id).await.unwrap().unwrap(), spread);
    let anywhere = monitor(store, p, "anywhere").await;
    assert!(anywhere.regions.is_empty());

    let mut jobs = store.schedule_due(T0, 10).await.unwrap();
    jobs.sort_by(|a, b| (a.monitor_id, &a.region).cmp(&(b.monitor_id, &b.region)));
    let got: Vec<(i64, &str)> = jobs.iter().map(|j| (j.monitor_id, j.region.as_str())).collect();
    assert_eq!(
        got,
        [
            (spread.id, "ap-south"),
            (spread.id, "eu-west"),
            (spread.id, "us-east"),
            (anywhere.id, "")
        ]
    );
    assert!(store.schedule_due(T0, 10).await.unwrap().is_empty(), "each once");

    // A checker takes its own region's jobs and the ones any checker runs, nobody else's.
    let eu = store.claim_check_jobs("eu-west", 10, T0, MINUTE).await.unwrap();
    let eu: Vec<(i64, &str)> = eu
        .iter()
        .map(|(j, _)| (j.monitor_id, j.region.as_str()))
        .collect();
    assert_eq!(eu, [(spread.id, "eu-west"), (anywhere.id, "")]);
    assert!(
        store
            .claim_check_jobs("", 10, T0, MINUTE)
            .await
            .unwrap()
            .is_empty()
    );
    let us = store.claim_check_jobs("us-east", 10, T0, MINUTE).await.unwrap();
    assert_eq!(us.len(), 1);
    assert_eq!(
        (us[0].0.monitor_id, us[0].0.region.as_str()),
        (spread.id, "us-east")
    );

    // A result ends its own region's job (or the any-checker one), not the others'.
    let mut from_eu = check(spread.id, T0, false, 30);
    from_eu.region = "eu-west".into();
    let mut anywhere_from_eu = check(anywhere.id, T0, true, 30);
    anywhere_from_eu.region = "eu-west".into();
    store.record_checks(&[from_eu, anywhere_from_eu]).await.unwrap();
    assert_eq!(
        store.pending_check_jobs().await.unwrap(),
        2,
        "us-east and ap-south left"
    );
    let ap = store
        .claim_check_jobs("ap-south", 10, T0 + MINUTE, MINUTE)
        .await
        .unwrap();
    assert_eq!(ap.len(), 1);
    assert_eq!(ap[0].0.region, "ap-south");

    // Other regions are another check: the status starts over; the same regions are not.
    let moved = NewMonitor {
        regions: vec!["eu-west".into()],
        region_quorum: 0,
        ..new_monitor(p, "spread", MonitorKind::Http)
    };
    let mut verdict = state(spread.id, MonitorStatus::Up, T0, None);
    verdict.last_check_ms = None;
    store
        .commit_verification(&VerifierCommit {
            states: vec![verdict],
            ..Default::default()
        })
        .await
        .unwrap();
    let again = store
        .update_monitor(spread.id, &moved, T0 + MINUTE)
        .await
        .unwrap();
    assert_eq!(again.regions, ["eu-west"]);
    assert_eq!(again.status, MonitorStatus::Pending);
    let kept = store
        .update_monitor(spread.id, &moved, T0 + 2 * MINUTE)
        .await
        .unwrap();
    assert_eq!(
        kept.status_since_ms,
        T0 + MINUTE,
        "unchanged settings keep the status"
    );
}

pub async fn latency_histograms_count_successful_checks_per_bin_and_bucket(store: &dyn Store) {
    use sentinel_store::latency::bin_of;
    let p = project(store, "latency").await;
    let a = monitor(store, p, "a").await;
    let b = monitor(store, p, "b").await;
    let mut batch = vec![
        check(a.id, T0, true, 100),
        check(a.id, T0 + INTERVAL, true, 100),
        check(a.id, T0 + 2 * INTERVAL, true, 900),
        // Failures (timeouts, refusals) are no response time.
        check(a.id, T0 + 3 * INTERVAL, false, 10_000),
        check(b.id, T0, true, 5),
    ];
    let mut eu = check(a.id, T0, true, 300);
    eu.region = "eu-west".into();
    batch.push(eu);
    store.record_checks(&batch).await.unwrap();
    // Recorded again (a retried write): counted once.
    store.record_checks(&batch).await.unwrap();

    let minutes = store
        .latency_histograms(&[b.id, a.id], Resolution::Minute, T0, T0 + 10 * MINUTE)
        .await
        .unwrap();
    let got: Vec<_> = minutes
        .iter()
        .map(|(m, at, h)| (*m, *at, h.bins.clone().into_iter().collect::<Vec<(i32, u64)>>()))
        .collect();
    assert_eq!(
        got,
        [
            (a.id, T0, vec![(bin_of(100), 2), (bin_of(300), 1)]),
            (a.id, T0 + MINUTE, vec![(bin_of(900), 1)]),
            (b.id, T0, vec![(bin_of(5), 1)]),
        ]
    );
    let hours = store
        .latency_histograms(
            &[a.id],
            Resolution::Hour,
            T0 - T0.rem_euclid(3_600_000),
            T0 + DAY_MS,
        )
        .await
        .unwrap();
    assert_eq!(hours.len(), 1);
    let h = &hours[0].2;
    assert_eq!(h.count(), 4);
    let p50 = h.quantile(0.5).unwrap();
    assert!((98..=102).contains(&p50), "p50 {p50}");
    let p95 = h.quantile(0.95).unwrap();
    assert!((880..=920).contains(&p95), "p95 {p95}");
    assert!(
        store
            .latency_histograms(&[a.id], Resolution::Minute, T0 + 10 * MINUTE, T0 + 20 * MINUTE)
            .await
            .unwrap()
            .is_empty()
    );

    // They go with their monitor.
    store.delete_monitor(a.id).await.unwrap();
    assert!(
        store
            .latency_histograms(&[a.id], Resolution::Day, 0, T0 + DAY_MS)
            .await
            .unwrap()
            .is_empty()
    );
}
