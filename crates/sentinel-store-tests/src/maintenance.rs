//! Contract checks for what the scheduler leader does: leases, retention, rollup folding.

use super::*;

pub async fn leases_have_one_holder_until_they_expire_or_are_released(store: &dyn Store) {
    const TTL: i64 = 30_000;
    let lease = |holder: &str, expires_ms| {
        Some(Lease {
            name: "retention".into(),
            holder: holder.into(),
            expires_ms,
        })
    };
    assert_eq!(store.lease("retention").await.unwrap(), None);
    assert!(store.acquire_lease("retention", "node-a", T0, TTL).await.unwrap());
    assert!(
        !store
            .acquire_lease("retention", "node-b", T0 + 1_000, TTL)
            .await
            .unwrap(),
        "held and not expired"
    );
    assert!(
        store
            .acquire_lease("retention", "node-a", T0 + 20_000, TTL)
            .await
            .unwrap(),
        "the holder renews"
    );
    assert_eq!(
        store.lease("retention").await.unwrap(),
        lease("node-a", T0 + 50_000)
    );
    assert!(
        !store
            .acquire_lease("retention", "node-b", T0 + 49_999, TTL)
            .await
            .unwrap(),
        "the renewal moved the expiry"
    );
    assert!(
        store.acquire_lease("alerts", "node-b", T0, TTL).await.unwrap(),
        "leases are independent by name"
    );

    assert!(
        store
            .acquire_lease("retention", "node-b", T0 + 50_000, TTL)
            .await
            .unwrap(),
        "an expired lease goes to whoever asks"
    );
    assert!(
        !store
            .acquire_lease("retention", "node-a", T0 + 50_001, TTL)
            .await
            .unwrap()
    );
    assert_eq!(
        store.lease("retention").await.unwrap(),
        lease("node-b", T0 + 80_000)
    );

    store.release_lease("retention", "node-a").await.unwrap();
    assert_eq!(
        store.lease("retention").await.unwrap(),
        lease("node-b", T0 + 80_000),
        "only the holder releases"
    );
    store.release_lease("retention", "node-b").await.unwrap();
    assert_eq!(store.lease("retention").await.unwrap(), None);
    assert!(
        store
            .acquire_lease("retention", "node-a", T0 + 50_002, TTL)
            .await
            .unwrap(),
        "a released lease is free at once"
    );

    // Eight nodes race for a free lease: exactly one gets it.
    let holders: Vec<String> = (0..8).map(|i| format!("racer-{i}")).collect();
    let take = |i: usize| store.acquire_lease("race", &holders[i], T0, TTL);
    let r = tokio::join!(
        take(0),
        take(1),
        take(2),
        take(3),
        take(4),
        take(5),
        take(6),
        take(7)
    );
    let won = [r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7].map(|r| r.unwrap());
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let winner = won.iter().position(|w| *w).unwrap();
    assert_eq!(
        store.lease("race").await.unwrap().map(|l| l.holder),
        Some(holders[winner].clone())
    );
}

pub async fn retention_deletes_old_events_items_and_issues_per_project(store: &dyn Store) {
    let now = T0 + 200 * DAY_MS;
    let ago = |days: i64| now - days * DAY_MS;
    let p = project(store, "long").await;
    let q = project(store, "short").await;
    // Sent late with an old timestamp: its age counts from its arrival.
    let mut late = event(p, 9, "late", ago(100));
    late.received_ms = ago(1);
    let events = vec![
        event(p, 1, "old", ago(100)),
        event(p, 2, "old", ago(100) + 60_000),
        event(p, 3, "old", ago(95)),
        event(p, 4, "mixed", ago(100)),
        event(p, 5, "mixed", ago(1)),
        event(p, 8, "mid", ago(30)),
        late,
        event(q, 6, "qold", ago(30)),
        event(q, 7, "qnew", ago(1)),
    ];
    let items = [(p, 100), (p, 99), (p, 91), (p, 1), (q, 30), (q, 1)]
        .map(|(project_id, days)| stored_item(project_id, ago(days)))
        .to_vec();
    store
        .apply_batch(&ProcessedBatch {
            events,
            items,
            ..Default::default()
        })
        .await
        .unwrap();
    let (old, mixed, qold) = (
        issue_of(store, p, 1).await,
        issue_of(store, p, 4).await,
        issue_of(store, q, 6).await,
    );
    set_status(store, old, StatusChange::Resolved, ago(94)).await;

    let policy = RetentionPolicy {
        event_days: 90,
        project_event_days: BTreeMap::from([(q, 7)]),
        delete_batch: 2,
        ..Default::default()
    };
    let report = store.apply_retention(&policy, now).await.unwrap();
    assert_eq!(
        (report.events_deleted, report.items_deleted, report.issues_deleted),
        (5, 4, 2),
        "{report:?}"
    );

    for (project_id, n, kept) in [
        (p, 1, false),
        (p, 2, false),
        (p, 3, false),
        (p, 4, false),
        (p, 5, true),
        (p, 8, true),
        (p, 9, true),
        (q, 6, false),
        (q, 7, true),
    ] {
        assert_eq!(
            store.get_event(project_id, eid(n)).await.unwrap().is_some(),
            kept,
            "event {n} of project {project_id}"
        );
    }
    assert_eq!(store.get_issue(old).await.unwrap(), None);
    assert_eq!(store.get_issue(qold).await.unwrap(), None);
    assert!(
        store
            .list_issue_events(old, 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let mixed_events = store.list_issue_events(mixed, 10, None).await.unwrap();
    assert_eq!(
        mixed_events.items.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        vec![eid(5)],
        "an issue with recent events stays, without its old events"
    );
    let items = spec("items");
    let kept: BTreeSet<(Value, Value)> = export_all(store, items, 100)
        .await
        .iter()
        .map(|r| (column(items, r, "project_id"), column(items, r, "received_ms")))
        .collect();
    assert_eq!(
        kept,
        BTreeSet::from([
            (Value::Int(p), Value::Int(ago(1))),
            (Value::Int(q), Value::Int(ago(1)))
        ])
    );
    for name in ["issue_tag_values", "issue_tag_keys", "activity"] {
        let table = spec(name);
        let orphans = export_all(store, table, 100)
            .await
            .into_iter()
            .filter(|r| [Value::Int(old), Value::Int(qold)].contains(&column(table, r, "issue_id")))
            .count();
        assert_eq!(orphans, 0, "{name} of deleted issues are deleted with them");
    }

    assert_eq!(
        store.apply_retention(&policy, now).await.unwrap(),
        RetentionReport::default(),
        "a second pass finds nothing to do"
    );

    // The group comes back as a new issue that inherits nothing of the deleted one.
    let out = store
        .apply_batch(&batch(vec![event(p, 20, "old", now)]))
        .await
        .unwrap();
    assert_eq!(out.new_issues.len(), 1);
    let reborn = out.new_issues[0];
    let tags = store.issue_tags(reborn, 10).await.unwrap();
    assert!(
        tags.iter().all(|t| (t.total, t.unique_values) == (1, 1)),
        "{tags:?}"
    );
    let counts = store
        .event_counts(CountScope::Issue(reborn), ago(400), now + DAY_MS, DAY_MS)
        .await
        .unwrap();
    assert_eq!(counts.iter().map(|(_, c)| c).sum::<u64>(), 1, "{counts:?}");
}

/// The distinct (issue group, bucket) rollup rows of `events` (group "" is the whole project).
fn rollup_rows<'a>(
    events: impl IntoIterator<Item = &'a NewEvent>,
    bucket_ms: i64,
) -> BTreeSet<(String, i64)> {
    events
        .into_iter()
        .flat_map(|e| {
            let b = e.timestamp_ms - e.timestamp_ms.rem_euclid(bucket_ms);
            [(String::new(), b), (e.grouping_hash.clone(), b)]
        })
        .collect()
}

type CountView = (CountScope, i64, i64, i64);

async fn counts(store: &dyn Store, views: &[CountView]) -> Vec<Vec<(i64, u64)>> {
    let mut out = Vec::new();
    for (scope, since, until, bucket) in views {
        out.push(store.event_counts(*scope, *since, *until, *bucket).await.unwrap());
    }
    out
}

pub async fn minute_rollups_fold_into_hours_without_changing_counts(store: &dyn Store) {
    const MINUTE: i64 = 60_000;
    // Half past: the hour around the minute cutoff (now - 14 days) is not over and stays in minutes.
    let now = T0 + 200 * DAY_MS + 30 * MINUTE;
    let old = T0 + 180 * DAY_MS;
    let cutoff_hour = T0 + 186 * DAY_MS;
    let ancient = T0 - 200 * DAY_MS;
    let p = project(store, "compact").await;
    let mut events = Vec::new();
    let mut n = 0..;
    let mut add = |hash: &str, ts: i64| events.push(event(p, n.next().unwrap_or_default(), hash, ts));
    for k in 0..12 {
        add(
            if k % 3 == 0 { "b" } else { "a" },
            old + k * 17 * MINUTE + k * 1_000,
        );
    }
    add("a", cutoff_hour - 5 * MINUTE);
    for k in 0..3 {
        add("a", cutoff_hour + (10 + k) * MINUTE);
    }
    for k in 0..4 {
        add("a", ancient + k * 25 * MINUTE);
    }
    for k in 0..3 {
        add("b", now - HOUR_MS + k * MINUTE);
    }
    store.apply_batch(&batch(events.clone())).await.unwrap();
    let ancient_outcome = OutcomeCount {
        project_id: p,
        minute_ms: ancient,
        category: "error".into(),
        outcome: "accepted".into(),
        reason: String::new(),
        quantity: 4,
    };
    let old_outcome = OutcomeCount {
        minute_ms: old,
        ..ancient_outcome.clone()
    };
    store
        .record_outcomes(&[ancient_outcome, old_outcome])
        .await
        .unwrap();
    let a = issue_of(store, p, 1).await;

    let whole_hours: Vec<CountView> = vec![
        (CountScope::Project(p), old - HOUR_MS, old + 5 * HOUR_MS, HOUR_MS),
        (CountScope::Issue(a), old - HOUR_MS, old + 5 * HOUR_MS, HOUR_MS),
        (CountScope::Project(p), old - 3 * DAY_MS, now + DAY_MS, DAY_MS),
        (CountScope::Issue(a), old - 3 * DAY_MS, now + DAY_MS, 6 * HOUR_MS),
        (CountScope::Project(p), cutoff_hour, cutoff_hour + HOUR_MS, MINUTE),
        (CountScope::Project(p), now - HOUR_MS, now, MINUTE),
    ];
    let ancient_view = [(
        CountScope::Project(p),
        ancient - HOUR_MS,
        ancient + 3 * HOUR_MS,
        HOUR_MS,
    )];
    let before = counts(store, &whole_hours).await;
    assert_eq!(before[0].iter().map(|(_, c)| c).sum::<u64>(), 12);
    assert!(!counts(store, &ancient_view).await[0].is_empty());

    let policy = RetentionPolicy {
        event_days: 1_000,
        delete_batch: 3,
        ..Default::default()
    };
    let report = store.apply_retention(&policy, now).await.unwrap();
    let folded = events.iter().filter(|e| e.timestamp_ms < cutoff_hour);
    let ancient_hours = events.iter().filter(|e| e.timestamp_ms < ancient + DAY_MS);
    assert_eq!(
        report,
        RetentionReport {
            minute_rollups_compacted: rollup_rows(folded, MINUTE).len() as u64,
            hour_rollups_deleted: rollup_rows(ancient_hours, HOUR_MS).len() as u64,
            outcomes_deleted: 1,
            // PostgreSQL drops whole partitions on the way; which ones is backend business.
            partitions_dropped: report.partitions_dropped.clone(),
            ..Default::default()
        }
    );
    assert_eq!(
        counts(store, &whole_hours).await,
        before,
        "the same counts over whole hours"
    );
    assert!(
        counts(store, &ancient_view).await[0].is_empty(),
        "hourly rollups older than a year are gone"
    );
    assert_eq!(
        store.outcome_totals(p, ancient, ancient + MINUTE).await.unwrap(),
        vec![]
    );
    assert_eq!(store.outcome_totals(p, old, old + MINUTE).await.unwrap().len(), 1);

    // Minute buckets over compacted history land on hour starts; the unfinished hour kept minutes.
    let by_minute = |since: i64, until: i64| store.event_counts(CountScope::Project(p), since, until, MINUTE);
    assert_eq!(
        by_minute(old - HOUR_MS, old + 5 * HOUR_MS).await.unwrap(),
        before[0],
        "per minute = per hour, at hour starts"
    );
    assert_eq!(
        by_minute(cutoff_hour - HOUR_MS, cutoff_hour + HOUR_MS)
            .await
            .unwrap(),
        vec![
            (cutoff_hour - HOUR_MS, 1),
            (cutoff_hour + 10 * MINUTE, 1),
            (cutoff_hour + 11 * MINUTE, 1),
            (cutoff_hour + 12 * MINUTE, 1)
        ]
    );
    let minute_rows = events.iter().filter(|e| e.timestamp_ms >= cutoff_hour);
    assert_eq!(
        store.count_rows(spec("rollups_minute")).await.unwrap(),
        rollup_rows(minute_rows, MINUTE).len() as u64
    );
    assert_eq!(
        store.apply_retention(&policy, now).await.unwrap(),
        RetentionReport::default()
    );

    // An event arriving late for a compacted hour adds to it, and folds into it on the next pass.
    store
        .apply_batch(&batch(vec![event(p, 100, "a", old + 5 * MINUTE)]))
        .await
        .unwrap();
    let mut expected = before.clone();
    for view in [0, 1] {
        assert_eq!(expected[view][0].0, old);
        expected[view][0].1 += 1;
    }
    expected[2]
        .iter_mut()
        .filter(|(d, _)| *d == old - old.rem_euclid(DAY_MS))
        .for_each(|(_, c)| *c += 1);
    expected[3]
        .iter_mut()
        .filter(|(b, _)| *b == old - old.rem_euclid(6 * HOUR_MS))
        .for_each(|(_, c)| *c += 1);
    assert_eq!(counts(store, &whole_hours).await, expected);
    let report = store.apply_retention(&policy, now).await.unwrap();
    assert_eq!(report.minute_rollups_compacted, 2);
    assert_eq!(counts(store, &whole_hours).await, expected);
}
