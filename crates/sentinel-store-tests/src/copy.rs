//! Contract checks for row transfer between stores (`sentinel migrate-data`).

use super::*;

/// Puts rows in every table of the transfer list: two projects, tokens, users with their
/// memberships, an invitation and a session, a dictionary, issues with events, tags, activity and
/// a comment, items, outcomes, releases with users, minute and hourly rollups, alerting (channels,
/// rules, states, the batch's triggers, notifications and deliveries), uptime (monitors, a job,
/// results queued and verified, rollups, an incident) and three pending inbox items. Public for backends' own copy tests, which need two stores.
pub async fn populate_every_table(store: &dyn Store) {
    let p = project(store, "copied").await;
    let q = project(store, "limited").await;
    store.set_project_rate_limit(q, Some(60)).await.unwrap();
    store.set_project_apdex(q, 450).await.unwrap();
    populate_accounts(store).await;
    store.save_compression_dict(p, b"dict", T0).await.unwrap();
    let mut events: Vec<NewEvent> = (1..=6)
        .map(|n| event(p, n, ["a", "b", "c"][n as usize % 3], T0 + i64::from(n) * 60_000))
        .collect();
    events[0].message = None;
    events.push(event(q, 7, "a", T0 + 20 * DAY_MS));
    let mut b = batch(events);
    b.items = vec![stored_item(p, T0), stored_item(q, T0 + 1)];
    b.sessions = vec![SessionCounts {
        project_id: p,
        release: "app@1.0".into(),
        received_ms: T0 + 1,
        sessions: 2,
        crashed: 1,
        users: vec![(-5, true), (9, false)],
        ..Default::default()
    }];
    b.outcomes = (0..4)
        .map(|m| OutcomeCount {
            project_id: p,
            minute_ms: T0 + m * 60_000,
            category: "error".into(),
            outcome: "accepted".into(),
            reason: if m % 2 == 0 { String::new() } else { "x".into() },
            quantity: 1,
        })
        .collect();
    let out = store.apply_batch(&b).await.unwrap();
    populate_alerts(store, p).await;
    // Workflow columns and a comment, by a member of the projects' organization.
    let bob = store
        .find_user_by_email("bob@example.com")
        .await
        .unwrap()
        .expect("populate_accounts made bob")
        .id;
    let change = IssueChange {
        status: Some(StatusChange::ResolvedInNextRelease),
        assignee: Some(Some(bob)),
    };
    let issue = out.new_issues[0];
    store
        .update_issue(issue, &change, Some(bob), T0 + DAY_MS)
        .await
        .unwrap();
    store
        .add_comment(issue, bob, "resolved for now", T0 + DAY_MS)
        .await
        .unwrap();
    // Project p's minutes are 20 days old by then: they become hourly rollups.
    let policy = RetentionPolicy {
        event_days: 1_000,
        ..Default::default()
    };
    store.apply_retention(&policy, T0 + 20 * DAY_MS).await.unwrap();
    populate_uptime(store, p).await;
    store
        .inbox_append(&(0..5).map(|n| inbox_item(p, n)).collect::<Vec<_>>())
        .await
        .unwrap();
    let claimed = store.inbox_claim(2).await.unwrap();
    store
        .apply_batch(&ProcessedBatch {
            acknowledged: claimed.iter().map(|c| c.id).collect(),
            request_rollups: vec![sentinel_store::NewRequestRollup {
                project_id: p,
                minute_ms: T0 - T0 % 60_000,
                requests: 3,
                counts: b"counts".to_vec(),
                latency: b"latency".to_vec(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
}

pub async fn rows_copy_between_stores_and_resume(store: &dyn Store) {
    populate_every_table(store).await;
    for table in transfer::TABLES {
        let total = store.count_rows(table).await.unwrap();
        assert!(total > 0, "{} has rows to copy", table.name);
        let rows = export_all(store, table, 3).await;
        assert_eq!(rows.len() as u64, total, "{}: each row once", table.name);
        assert!(rows.iter().all(|r| r.len() == table.columns.len()));
        let keys: Vec<Vec<Value>> = rows.iter().map(|r| key_of(table, r)).collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "{}: in key order, keys unique: {keys:?}",
            table.name
        );
        assert_eq!(store.last_key(table).await.unwrap().as_ref(), keys.last());
        let half = keys.len() / 2;
        assert_eq!(
            store.export_rows(table, Some(&keys[half]), 1_000).await.unwrap(),
            rows[half + 1..],
            "{}: a copy resumes after a key",
            table.name
        );
        assert_eq!(
            store.import_rows(table, &rows).await.unwrap(),
            0,
            "{}: rows already there are skipped",
            table.name
        );
        assert_eq!(store.count_rows(table).await.unwrap(), total);
    }
    assert_eq!(
        store.count_rows(spec("inbox")).await.unwrap(),
        3,
        "pending items only"
    );

    // Values keep their types: blobs, texts, integers, nulls.
    let events = spec("events");
    let first = &store.export_rows(events, None, 1).await.unwrap()[0];
    assert_eq!(
        column(events, first, "event_id"),
        Value::Blob(eid(1).as_bytes().to_vec())
    );
    assert_eq!(column(events, first, "message"), Value::Null);
    assert_eq!(
        column(events, first, "title"),
        Value::Text("ValueError: bad b".into())
    );
    let projects = spec("projects");
    let limits: Vec<Value> = export_all(store, projects, 10)
        .await
        .iter()
        .map(|r| column(projects, r, "rate_limit_per_minute"))
        .collect();
    assert_eq!(limits, vec![Value::Null, Value::Int(60)]);
    let users = spec("users");
    let admins: Vec<Value> = export_all(store, users, 10)
        .await
        .iter()
        .map(|r| column(users, r, "is_admin"))
        .collect();
    assert_eq!(admins, vec![Value::Int(1), Value::Int(0)], "booleans as 0/1");

    // A row with a new key is inserted once, with its id.
    let tokens = spec("api_tokens");
    let mut token = store.export_rows(tokens, None, 1).await.unwrap().remove(0);
    token[0] = Value::Int(1_000);
    token[2] = Value::Text("feedface".into());
    assert_eq!(store.import_rows(tokens, &[token.clone()]).await.unwrap(), 1);
    assert_eq!(store.import_rows(tokens, &[token]).await.unwrap(), 0);
    assert_eq!(
        store.find_api_token("feedface").await.unwrap().map(|t| t.id),
        Some(1_000)
    );

    // An imported inbox item is pending, and new items get ids after it once the import finishes.
    let inbox = spec("inbox");
    let mut item = store.last_key(inbox).await.unwrap().expect("pending items");
    let Value::Int(last) = item[0] else {
        panic!("inbox ids are integers: {item:?}")
    };
    item = export_all(store, inbox, 10).await.pop().expect("an inbox row");
    item[0] = Value::Int(last + 100);
    assert_eq!(store.import_rows(inbox, &[item]).await.unwrap(), 1);
    store.finish_import().await.unwrap();
    store.inbox_append(&[inbox_item(1, 50)]).await.unwrap();
    let ids: Vec<i64> = store
        .inbox_claim(10)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids.len(), 5);
    assert_eq!(ids[3], last + 100);
    assert!(ids[4] > last + 100, "{ids:?}");
}
