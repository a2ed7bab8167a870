//! Contract checks for alerting: channels, rules and their states, the triggers `apply_batch`
//! leaves, the notification outbox with its claims and delivery log, and what threshold rules read.

use sentinel_store::{
    AlertCommit, AlertMessage, AlertRule, AlertState, Channel, ChannelKind, ChannelSecrets, ChannelUpdate,
    Condition, DeliveryAttempt, DeliveryNext, NewAlertRule, NewChannel, NewNotification, NotificationStatus,
    Transition, TriggerKind,
};
use serde_json::json;

use super::*;

const MINUTE: i64 = 60_000;

fn new_channel(project_id: Option<i64>, name: &str, kind: ChannelKind) -> NewChannel {
    NewChannel {
        project_id,
        name: name.into(),
        kind,
        config: json!({ "hint": format!("{name}…") }),
        secrets: ChannelSecrets(json!({ "url": format!("https://hooks.example.com/{name}/s3cret") })),
        enabled: true,
    }
}

async fn channel(store: &dyn Store, project_id: Option<i64>, name: &str) -> Channel {
    store
        .create_channel(&new_channel(project_id, name, ChannelKind::Webhook), T0)
        .await
        .unwrap()
}

fn new_rule(project_id: Option<i64>, condition: Condition, channel_ids: Vec<i64>) -> NewAlertRule {
    NewAlertRule {
        project_id,
        name: format!("{} rule", condition.kind()),
        condition,
        channel_ids,
        cooldown_ms: 5 * MINUTE,
        reminder_ms: None,
        notify_recovery: false,
        enabled: true,
    }
}

async fn rule(
    store: &dyn Store,
    project_id: Option<i64>,
    condition: Condition,
    channels: Vec<i64>,
) -> AlertRule {
    store
        .create_rule(&new_rule(project_id, condition, channels), T0)
        .await
        .unwrap()
}

fn every_condition() -> Vec<Condition> {
    vec![
        Condition::NewIssue {},
        Condition::Regression {},
        Condition::IssueFrequency {
            events: 100,
            minutes: 60,
        },
        Condition::EventRate {
            factor: 2.5,
            minutes: 15,
            baseline_hours: 24,
            min_events: 10,
        },
        Condition::InboxLag { seconds: 300 },
        Condition::IngestRejections {
            percent: 12.5,
            minutes: 10,
            min_items: 100,
        },
        Condition::DiskFree { percent: 0.1 },
        Condition::TenantErrors {
            errors: 100,
            minutes: 10,
            evaluations: 1,
            resolve_below: 80.0,
        },
        Condition::TenantShare {
            percent: 50.0,
            minutes: 10,
            min_errors: 10,
            evaluations: 3,
            resolve_below: 40.0,
        },
        Condition::TenantLatency {
            factor: 3.0,
            minutes: 15,
            min_requests: 20,
            evaluations: 2,
            resolve_below: 2.6,
        },
    ]
}

fn state(rule_id: i64, subject: &str, firing: bool, episode: i64) -> AlertState {
    AlertState {
        rule_id,
        subject: subject.into(),
        firing,
        episode,
        since_ms: T0,
        last_notified_ms: firing.then_some(T0),
        streak: i64::from(firing),
        value: Some(0.75),
    }
}

fn note(key: &str, rule_id: Option<i64>, channel: &Channel, created_ms: i64) -> NewNotification {
    NewNotification {
        idempotency_key: key.into(),
        group_key: format!("group-{key}"),
        rule_id,
        channel_id: channel.id,
        project_id: channel.project_id,
        subject: "issue:1".into(),
        transition: Transition::Triggered,
        message: AlertMessage {
            title: format!("New issue: {key}"),
            text: "ValueError: bad\nin handler".into(),
            url: Some("https://sentinel.example.com/issues/1".into()),
            severity: "error".into(),
            fields: vec![("project".into(), "shop".into())],
        },
        created_ms,
    }
}

fn notes(notifications: Vec<NewNotification>) -> AlertCommit {
    AlertCommit {
        notifications,
        ..Default::default()
    }
}

fn attempt(at_ms: i64, status_code: Option<i32>, error: Option<&str>) -> DeliveryAttempt {
    DeliveryAttempt {
        at_ms,
        duration_ms: 120,
        status_code,
        error: error.map(str::to_owned),
    }
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> i64) -> Vec<i64> {
    items.iter().map(id).collect()
}

/// Puts rows in every alerting table, so that the first two rows of each refer only to the first
/// two of their parents (a copy resumed after two rows per table still meets its foreign keys):
/// a channel and a rule of project `p` and of the instance, states of both rules, a notification
/// per channel and two attempts of the first. Triggers come from `apply_batch`.
pub async fn populate_alerts(store: &dyn Store, p: i64) {
    let ours = channel(store, Some(p), "ours").await;
    let ops = channel(store, None, "ops").await;
    let on_new = rule(store, Some(p), Condition::NewIssue {}, vec![ours.id]).await;
    let disk = rule(store, None, Condition::DiskFree { percent: 5.0 }, vec![ops.id]).await;
    let commit = AlertCommit {
        states: vec![
            state(on_new.id, "issue:1", true, 1),
            state(disk.id, "instance", false, 2),
        ],
        notifications: vec![
            note("first", Some(on_new.id), &ours, T0),
            note("second", Some(disk.id), &ops, T0),
        ],
        consumed_triggers: Vec::new(),
    };
    assert_eq!(store.commit_alerts(&commit).await.unwrap(), 2);
    let first = store.list_notifications(Some(p), 1, None).await.unwrap()[0].id;
    let retry = DeliveryNext::RetryAt(T0 + MINUTE);
    store
        .record_delivery(first, &attempt(T0, Some(502), Some("502 Bad Gateway")), retry)
        .await
        .unwrap();
    store
        .record_delivery(
            first,
            &attempt(T0 + MINUTE, Some(200), None),
            DeliveryNext::Delivered,
        )
        .await
        .unwrap();
}

pub async fn channels_are_created_listed_updated_and_deleted_per_scope(store: &dyn Store) {
    let p = project(store, "chan").await;
    let q = project(store, "other").await;
    let slack = store
        .create_channel(&new_channel(Some(p), "slack", ChannelKind::Slack), T0)
        .await
        .unwrap();
    assert_eq!(
        (slack.project_id, slack.kind, slack.created_ms, slack.enabled),
        (Some(p), ChannelKind::Slack, T0, true)
    );
    let hook = channel(store, Some(p), "hook").await;
    let theirs = channel(store, Some(q), "theirs").await;
    let ops = channel(store, None, "ops").await;
    assert!(hook.id > slack.id);
    for kind in ChannelKind::ALL {
        let c = store
            .create_channel(&new_channel(Some(q), kind.as_str(), kind), T0)
            .await
            .unwrap();
        assert_eq!(store.get_channel(c.id).await.unwrap().unwrap().kind, kind);
    }
    let missing = store
        .create_channel(&new_channel(Some(q + 100), "nowhere", ChannelKind::Ntfy), T0)
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::Conflict(_)), "{missing}");

    assert_eq!(
        store.list_channels(Some(p)).await.unwrap(),
        vec![slack.clone(), hook.clone()],
        "a project's channels in id order, secrets included"
    );
    assert_eq!(store.list_channels(None).await.unwrap(), vec![ops.clone()]);
    assert_eq!(store.list_channels(Some(q)).await.unwrap()[0], theirs);
    assert_eq!(store.get_channel(hook.id).await.unwrap(), Some(hook.clone()));
    assert_eq!(store.get_channel(hook.id + 1_000).await.unwrap(), None);

    let renamed = store
        .update_channel(
            hook.id,
            &ChannelUpdate {
                name: Some("renamed".into()),
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        renamed,
        Channel {
            name: "renamed".into(),
            enabled: false,
            ..hook.clone()
        },
        "fields not given stay"
    );
    let secrets = ChannelSecrets(json!({ "url": "https://hooks.example.com/new", "secret": "k" }));
    let rotated = store
        .update_channel(
            hook.id,
            &ChannelUpdate {
                config: Some(json!({ "hint": "new…" })),
                secrets: Some(secrets.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((rotated.name.as_str(), rotated.enabled), ("renamed", false));
    assert_eq!(
        (&rotated.config, &rotated.secrets),
        (&json!({ "hint": "new…" }), &secrets)
    );
    assert_eq!(rotated.secrets.get("secret"), Some("k"));
    assert_eq!(store.get_channel(hook.id).await.unwrap(), Some(rotated));
    assert!(matches!(
        store
            .update_channel(hook.id + 1_000, &ChannelUpdate::default())
            .await,
        Err(StoreError::NotFound { .. })
    ));

    assert!(store.delete_channel(slack.id).await.unwrap());
    assert!(!store.delete_channel(slack.id).await.unwrap());
    assert_eq!(
        ids(&store.list_channels(Some(p)).await.unwrap(), |c| c.id),
        vec![hook.id]
    );
}

pub async fn every_rule_condition_round_trips_with_its_channels_and_options(store: &dyn Store) {
    let p = project(store, "rules").await;
    let b = channel(store, Some(p), "b").await;
    let a = channel(store, Some(p), "a").await;
    let ops = channel(store, None, "ops").await;
    let mut made = Vec::new();
    for condition in every_condition() {
        let scope = (!condition.is_instance()).then_some(p);
        let channels = if scope.is_some() {
            vec![a.id, b.id, a.id]
        } else {
            vec![ops.id]
        };
        let mut new = new_rule(scope, condition.clone(), channels);
        new.reminder_ms = Some(HOUR_MS);
        new.notify_recovery = true;
        new.enabled = !matches!(condition, Condition::Regression {});
        let created = store.create_rule(&new, T0 + 7).await.unwrap();
        assert_eq!(
            created.condition, condition,
            "the condition comes back as it went in"
        );
        assert_eq!(
            (created.project_id, created.created_ms, created.updated_ms),
            (scope, T0 + 7, T0 + 7)
        );
        assert_eq!(
            (created.reminder_ms, created.notify_recovery, created.cooldown_ms),
            (Some(HOUR_MS), true, 5 * MINUTE)
        );
        if scope.is_some() {
            let mut sorted = vec![b.id, a.id];
            sorted.sort_unstable();
            assert_eq!(created.channel_ids, sorted, "channels in id order, once each");
        }
        assert_eq!(store.get_rule(created.id).await.unwrap(), Some(created.clone()));
        made.push(created);
    }
    let (instance, ours): (Vec<AlertRule>, Vec<AlertRule>) =
        made.iter().cloned().partition(|r| r.project_id.is_none());
    assert_eq!(store.list_rules(Some(p)).await.unwrap(), ours);
    assert_eq!(store.list_rules(None).await.unwrap(), instance);
    assert_eq!(store.get_rule(made[6].id + 100).await.unwrap(), None);

    let enabled = store
        .enabled_rules(&["new_issue", "regression", "disk_free"])
        .await
        .unwrap();
    assert_eq!(
        enabled.iter().map(|r| r.condition.kind()).collect::<Vec<_>>(),
        vec!["new_issue", "disk_free"],
        "enabled rules of the kinds asked, over projects and the instance, in id order"
    );
    assert_eq!(enabled[0], made[0]);
    assert!(store.enabled_rules(&[]).await.unwrap().is_empty());
}

pub async fn rules_take_only_channels_and_conditions_of_their_scope(store: &dyn Store) {
    let p = project(store, "scoped").await;
    let q = project(store, "other").await;
    let ours = channel(store, Some(p), "ours").await;
    let theirs = channel(store, Some(q), "theirs").await;
    let ops = channel(store, None, "ops").await;
    let refused = [
        new_rule(Some(p), Condition::NewIssue {}, vec![ours.id, theirs.id]),
        new_rule(Some(p), Condition::NewIssue {}, vec![ops.id]),
        new_rule(Some(p), Condition::NewIssue {}, vec![ops.id + 100]),
        new_rule(None, Condition::InboxLag { seconds: 60 }, vec![ours.id]),
        new_rule(Some(p), Condition::InboxLag { seconds: 60 }, vec![]),
        new_rule(None, Condition::Regression {}, vec![]),
        new_rule(Some(q + 100), Condition::NewIssue {}, vec![]),
    ];
    for new in &refused {
        let err = store.create_rule(new, T0).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{new:?}: {err}");
    }
    assert!(
        store.list_rules(Some(p)).await.unwrap().is_empty(),
        "nothing half-made"
    );
    assert!(store.list_rules(None).await.unwrap().is_empty());

    // An instance rule may name no channel: it notifies every instance channel.
    let lag = rule(store, None, Condition::InboxLag { seconds: 60 }, vec![]).await;
    assert!(lag.channel_ids.is_empty());
    let update = new_rule(Some(q), Condition::DiskFree { percent: 1.0 }, vec![theirs.id]);
    let err = store.update_rule(lag.id, &update, T0).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(_)),
        "an update keeps the rule's scope and checks against it: {err}"
    );
    assert_eq!(store.get_rule(lag.id).await.unwrap(), Some(lag));
}

pub async fn updating_a_rule_replaces_it_and_a_new_kind_resets_its_states_but_not_their_episodes(
    store: &dyn Store,
) {
    let p = project(store, "update").await;
    let a = channel(store, Some(p), "a").await;
    let b = channel(store, Some(p), "b").await;
    let frequent = Condition::IssueFrequency {
        events: 10,
        minutes: 5,
    };
    let r = rule(store, Some(p), frequent, vec![a.id]).await;
    let commit = AlertCommit {
        states: vec![state(r.id, "issue:1", true, 1), state(r.id, "issue:2", false, 3)],
        ..Default::default()
    };
    store.commit_alerts(&commit).await.unwrap();

    let mut same_kind = new_rule(
        Some(p),
        Condition::IssueFrequency {
            events: 50,
            minutes: 5,
        },
        vec![b.id],
    );
    same_kind.name = "noisy issues".into();
    same_kind.cooldown_ms = HOUR_MS;
    same_kind.reminder_ms = Some(DAY_MS);
    same_kind.enabled = false;
    let updated = store.update_rule(r.id, &same_kind, T0 + 9).await.unwrap();
    assert_eq!(
        updated,
        AlertRule {
            id: r.id,
            project_id: Some(p),
            name: "noisy issues".into(),
            condition: same_kind.condition.clone(),
            channel_ids: vec![b.id],
            cooldown_ms: HOUR_MS,
            reminder_ms: Some(DAY_MS),
            notify_recovery: false,
            enabled: false,
            created_ms: T0,
            updated_ms: T0 + 9,
        }
    );
    assert_eq!(store.get_rule(r.id).await.unwrap(), Some(updated));
    assert_eq!(
        store.alert_states(r.id).await.unwrap(),
        commit.states,
        "the same kind keeps its states"
    );

    let other_kind = new_rule(Some(p), Condition::NewIssue {}, vec![a.id, b.id]);
    let updated = store.update_rule(r.id, &other_kind, T0 + 10).await.unwrap();
    assert_eq!(updated.condition, Condition::NewIssue {});
    assert_eq!(updated.channel_ids, vec![a.id, b.id]);
    let reset = |subject: &str, episode: i64| AlertState {
        rule_id: r.id,
        subject: subject.into(),
        firing: false,
        episode,
        since_ms: T0 + 10,
        last_notified_ms: None,
        streak: 0,
        value: None,
    };
    assert_eq!(
        store.alert_states(r.id).await.unwrap(),
        vec![reset("issue:1", 1), reset("issue:2", 3)],
        "a new kind starts out of its condition, but episodes go on: the next firing's \
         idempotency keys must not be those of notifications still stored"
    );
    assert!(matches!(
        store.update_rule(r.id + 100, &other_kind, T0).await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn commits_upsert_states_store_each_notification_once_and_consume_triggers(store: &dyn Store) {
    let p = project(store, "commit").await;
    let c = channel(store, Some(p), "hook").await;
    let r = rule(store, Some(p), Condition::NewIssue {}, vec![c.id]).await;
    store
        .apply_batch(&batch(vec![event(p, 1, "a", T0), event(p, 2, "b", T0)]))
        .await
        .unwrap();
    let triggers = store.claim_alert_triggers(10, T0, MINUTE).await.unwrap();
    assert_eq!(triggers.len(), 2);

    let mut first = AlertCommit {
        states: vec![state(r.id, "issue:1", true, 1)],
        notifications: vec![
            note("k1", Some(r.id), &c, T0 + 1),
            note("k2", Some(r.id), &c, T0 + 2),
            note("k1", Some(r.id), &c, T0 + 3),
        ],
        consumed_triggers: vec![triggers[0].id],
    };
    assert_eq!(
        store.commit_alerts(&first).await.unwrap(),
        2,
        "a key repeated within a commit is stored once"
    );
    assert_eq!(store.alert_states(r.id).await.unwrap(), first.states);
    let log = store.list_notifications(Some(p), 10, None).await.unwrap();
    assert_eq!(log.len(), 2);
    let k1 = &log[1];
    assert_eq!(k1.idempotency_key, "k1");
    assert_eq!(
        (k1.created_ms, k1.next_attempt_ms),
        (T0 + 1, T0 + 1),
        "due when created"
    );
    assert_eq!((k1.status, k1.attempts), (NotificationStatus::Pending, 0));
    assert_eq!(k1.rule_name.as_deref(), Some("new_issue rule"));
    assert_eq!(
        (k1.channel_name.as_str(), k1.channel_kind),
        ("hook", ChannelKind::Webhook)
    );
    assert_eq!((k1.delivered_ms, k1.last_error.as_deref()), (None, None));
    assert_eq!(k1.message, note("k1", None, &c, 0).message);
    assert_eq!(store.get_notification(k1.id).await.unwrap().as_ref(), Some(k1));
    assert_eq!(store.find_notification("k1").await.unwrap().as_ref(), Some(k1));
    assert_eq!(
        store.find_notification("k2").await.unwrap().as_ref(),
        Some(&log[0])
    );
    assert_eq!(store.find_notification("k3").await.unwrap(), None);

    // The same firing committed again (a replayed trigger) stores nothing new; states move on.
    first.states[0] = state(r.id, "issue:1", false, 1);
    first.states.push(state(r.id, "issue:2", true, 4));
    first.consumed_triggers = vec![triggers[0].id, triggers[1].id];
    assert_eq!(store.commit_alerts(&first).await.unwrap(), 0);
    assert_eq!(store.list_notifications(Some(p), 10, None).await.unwrap(), log);
    assert_eq!(store.alert_states(r.id).await.unwrap(), first.states);
    assert_eq!(
        store.get_alert_state(r.id, "issue:2").await.unwrap().as_ref(),
        Some(&first.states[1])
    );
    assert_eq!(store.get_alert_state(r.id, "issue:3").await.unwrap(), None);
    assert_eq!(store.get_alert_state(r.id + 1, "issue:2").await.unwrap(), None);
    assert!(
        store
            .claim_alert_triggers(10, T0 + 2 * MINUTE, MINUTE)
            .await
            .unwrap()
            .is_empty(),
        "consumed triggers are gone"
    );

    // A test notification has no rule; one for a rule or channel deleted meanwhile is skipped.
    let test = note("test", None, &c, T0 + 4);
    let gone_rule = note("gone-rule", Some(r.id + 100), &c, T0 + 4);
    let mut gone_channel = note("gone-channel", Some(r.id), &c, T0 + 4);
    gone_channel.channel_id = c.id + 100;
    let orphan_state = state(r.id + 100, "issue:1", true, 1);
    let commit = AlertCommit {
        states: vec![orphan_state],
        notifications: vec![test, gone_rule, gone_channel],
        consumed_triggers: vec![],
    };
    assert_eq!(store.commit_alerts(&commit).await.unwrap(), 1);
    let newest = &store.list_notifications(Some(p), 1, None).await.unwrap()[0];
    assert_eq!(
        (newest.idempotency_key.as_str(), newest.rule_name.as_deref()),
        ("test", None)
    );
}

pub async fn claimed_notifications_come_back_only_after_their_lease(store: &dyn Store) {
    let p = project(store, "claims").await;
    let c = channel(store, Some(p), "hook").await;
    let ops = channel(store, None, "ops").await;
    let commit = notes(vec![
        note("late", None, &c, T0 + 5 * MINUTE),
        note("second", None, &ops, T0 + MINUTE),
        note("first", None, &c, T0),
        note("third", None, &c, T0 + 2 * MINUTE),
    ]);
    assert_eq!(store.commit_alerts(&commit).await.unwrap(), 4);
    let now = T0 + 3 * MINUTE;
    let keys = |claimed: &[(sentinel_store::Notification, Channel)]| -> Vec<String> {
        claimed.iter().map(|(n, _)| n.idempotency_key.clone()).collect()
    };

    let claimed = store.claim_notifications(2, now, MINUTE).await.unwrap();
    assert_eq!(
        keys(&claimed),
        vec!["first", "second"],
        "oldest due first, up to the limit"
    );
    let (n, with) = &claimed[0];
    assert_eq!(with, &c, "with its channel, secrets included");
    assert_eq!(n.next_attempt_ms, now + MINUTE, "claimed until the lease ends");
    assert_eq!(claimed[1].1, ops);
    assert_eq!(
        keys(&store.claim_notifications(10, now, MINUTE).await.unwrap()),
        vec!["third"],
        "claimed ones and ones not due yet stay out"
    );
    assert!(
        store
            .claim_notifications(10, now + 30_000, MINUTE)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        keys(&store.claim_notifications(10, now + MINUTE, MINUTE).await.unwrap()),
        vec!["first", "second", "third"],
        "a notifier that died mid-delivery leaves them to the next claim once its lease ends"
    );
    let mut all = keys(
        &store
            .claim_notifications(10, T0 + 10 * MINUTE, MINUTE)
            .await
            .unwrap(),
    );
    all.sort();
    assert_eq!(all, vec!["first", "late", "second", "third"]);
    assert!(
        store
            .claim_notifications(0, T0 + DAY_MS, MINUTE)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn deliveries_are_recorded_per_attempt_with_their_outcome(store: &dyn Store) {
    let p = project(store, "deliver").await;
    let c = channel(store, Some(p), "hook").await;
    store
        .commit_alerts(&notes(vec![note("a", None, &c, T0), note("b", None, &c, T0)]))
        .await
        .unwrap();
    let log = store.list_notifications(Some(p), 10, None).await.unwrap();
    let (b, a) = (log[0].id, log[1].id);

    let timeout = attempt(T0 + 1_000, None, Some("timed out"));
    store
        .record_delivery(a, &timeout, DeliveryNext::RetryAt(T0 + MINUTE))
        .await
        .unwrap();
    let retrying = store.get_notification(a).await.unwrap().unwrap();
    assert_eq!(
        (
            retrying.status,
            retrying.attempts,
            retrying.next_attempt_ms,
            retrying.last_error.as_deref()
        ),
        (NotificationStatus::Pending, 1, T0 + MINUTE, Some("timed out"))
    );
    let due = store.claim_notifications(10, T0 + 30_000, MINUTE).await.unwrap();
    assert_eq!(ids(&due, |(n, _)| n.id), vec![b], "not before its retry is due");
    store
        .record_delivery(a, &attempt(T0 + MINUTE, Some(204), None), DeliveryNext::Delivered)
        .await
        .unwrap();
    let delivered = store.get_notification(a).await.unwrap().unwrap();
    assert_eq!(
        (
            delivered.status,
            delivered.attempts,
            delivered.delivered_ms,
            delivered.last_error
        ),
        (NotificationStatus::Delivered, 2, Some(T0 + MINUTE), None)
    );
    let gone = attempt(T0 + 2_000, Some(410), Some("410 Gone"));
    store
        .record_delivery(b, &gone, DeliveryNext::GiveUp)
        .await
        .unwrap();
    let failed = store.get_notification(b).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.attempts, failed.last_error.as_deref()),
        (NotificationStatus::Failed, 1, Some("410 Gone"))
    );
    assert!(
        store
            .claim_notifications(10, T0 + DAY_MS, MINUTE)
            .await
            .unwrap()
            .is_empty(),
        "delivered and failed notifications are never claimed"
    );

    // A notifier whose lease ran out reports late: a finished notification stays as it is.
    for (id, next) in [(a, DeliveryNext::GiveUp), (b, DeliveryNext::Delivered)] {
        let before = store.get_notification(id).await.unwrap();
        let late = attempt(T0 + 3_000, Some(500), Some("late"));
        let err = store.record_delivery(id, &late, next).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
        assert_eq!(store.get_notification(id).await.unwrap(), before);
    }
    assert_eq!(
        store.get_notification(a).await.unwrap().unwrap().status,
        NotificationStatus::Delivered,
        "delivered stays delivered"
    );

    let deliveries = store.list_deliveries(&[b, a, b]).await.unwrap();
    assert_eq!(
        deliveries
            .iter()
            .map(|d| (
                d.notification_id,
                d.attempt,
                d.at_ms,
                d.status_code,
                d.error.as_deref()
            ))
            .collect::<Vec<_>>(),
        vec![
            (a, 1, T0 + 1_000, None, Some("timed out")),
            (a, 2, T0 + MINUTE, Some(204), None),
            (b, 1, T0 + 2_000, Some(410), Some("410 Gone")),
        ],
        "by notification, then attempt"
    );
    assert!(deliveries.iter().all(|d| d.duration_ms == 120));
    assert!(store.list_deliveries(&[]).await.unwrap().is_empty());
    assert!(matches!(
        store.record_delivery(b + 100, &gone, DeliveryNext::GiveUp).await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn deleting_a_channel_removes_it_from_rules_and_deletes_its_notifications(store: &dyn Store) {
    let p = project(store, "unhook").await;
    let a = channel(store, Some(p), "a").await;
    let b = channel(store, Some(p), "b").await;
    let r = rule(store, Some(p), Condition::NewIssue {}, vec![a.id, b.id]).await;
    store
        .commit_alerts(&notes(vec![
            note("to-a", Some(r.id), &a, T0),
            note("to-b", Some(r.id), &b, T0),
        ]))
        .await
        .unwrap();
    let log = store.list_notifications(Some(p), 10, None).await.unwrap();
    let (to_b, to_a) = (log[0].id, log[1].id);
    let failure = attempt(T0, Some(500), Some("500"));
    store
        .record_delivery(to_a, &failure, DeliveryNext::RetryAt(T0 + MINUTE))
        .await
        .unwrap();

    assert!(store.delete_channel(a.id).await.unwrap());
    assert_eq!(
        store.get_rule(r.id).await.unwrap().unwrap().channel_ids,
        vec![b.id]
    );
    assert_eq!(store.get_notification(to_a).await.unwrap(), None);
    assert!(store.list_deliveries(&[to_a]).await.unwrap().is_empty());
    assert_eq!(
        ids(&store.list_notifications(Some(p), 10, None).await.unwrap(), |n| n
            .id),
        vec![to_b]
    );
    assert!(matches!(
        store.record_delivery(to_a, &failure, DeliveryNext::GiveUp).await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn deleting_a_rule_deletes_its_states_and_keeps_its_notifications(store: &dyn Store) {
    let p = project(store, "forget").await;
    let c = channel(store, Some(p), "hook").await;
    let r = rule(store, Some(p), Condition::Regression {}, vec![c.id]).await;
    let commit = AlertCommit {
        states: vec![state(r.id, "issue:1", true, 1)],
        notifications: vec![note("fired", Some(r.id), &c, T0)],
        consumed_triggers: vec![],
    };
    store.commit_alerts(&commit).await.unwrap();
    assert!(store.delete_rule(r.id).await.unwrap());
    assert!(!store.delete_rule(r.id).await.unwrap());
    assert_eq!(store.get_rule(r.id).await.unwrap(), None);
    assert!(store.alert_states(r.id).await.unwrap().is_empty());
    let kept = &store.list_notifications(Some(p), 10, None).await.unwrap()[0];
    assert_eq!((kept.rule_id, kept.rule_name.as_deref()), (None, None));
    assert_eq!(kept.idempotency_key, "fired");
    assert_eq!(store.get_channel(c.id).await.unwrap(), Some(c));
}

pub async fn notifications_are_listed_newest_first_per_scope_across_pages(store: &dyn Store) {
    let p = project(store, "log").await;
    let q = project(store, "other").await;
    let ours = channel(store, Some(p), "ours").await;
    let theirs = channel(store, Some(q), "theirs").await;
    let ops = channel(store, None, "ops").await;
    let mut batch = Vec::new();
    for n in 0..5 {
        batch.push(note(&format!("ours-{n}"), None, &ours, T0 + n));
        batch.push(note(&format!("ops-{n}"), None, &ops, T0 + n));
    }
    batch.push(note("theirs", None, &theirs, T0));
    assert_eq!(store.commit_alerts(&notes(batch)).await.unwrap(), 11);

    let all = store.list_notifications(Some(p), 100, None).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|n| n.project_id == Some(p)));
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let first = store.list_notifications(Some(p), 2, None).await.unwrap();
    assert_eq!(first, all[..2]);
    let next = store
        .list_notifications(Some(p), 2, Some(first[1].id))
        .await
        .unwrap();
    assert_eq!(next, all[2..4]);
    let instance = store.list_notifications(None, 100, None).await.unwrap();
    assert_eq!(instance.len(), 5);
    assert!(
        instance
            .iter()
            .all(|n| n.project_id.is_none() && n.channel_id == ops.id),
        "None lists the instance's notifications"
    );
    assert_eq!(
        store.list_notifications(Some(q), 100, None).await.unwrap().len(),
        1
    );
}

pub async fn batches_leave_one_trigger_per_new_or_regressed_issue(store: &dyn Store) {
    let p = project(store, "triggers").await;
    let q = project(store, "other").await;
    let lease = MINUTE;
    let out = store
        .apply_batch(&batch(vec![
            event(p, 1, "a", T0 + 1_000),
            event(p, 2, "a", T0 + 3_000),
            event(q, 3, "b", T0 + 2_000),
        ]))
        .await
        .unwrap();
    let (a, b) = (issue_of(store, p, 1).await, issue_of(store, q, 3).await);
    assert_eq!(out.new_issues.len(), 2);
    // Seen when the batch last received something.
    let at = T0 + 3_005;

    let now = T0 + MINUTE;
    let claimed = store.claim_alert_triggers(10, now, lease).await.unwrap();
    let mut seen: Vec<(i64, i64, TriggerKind, i64)> = claimed
        .iter()
        .map(|t| (t.project_id, t.issue_id, t.kind, t.at_ms))
        .collect();
    seen.sort_unstable_by_key(|s| s.1);
    let mut expected = vec![
        (p, a, TriggerKind::NewIssue, at),
        (q, b, TriggerKind::NewIssue, at),
    ];
    expected.sort_unstable_by_key(|s| s.1);
    assert_eq!(seen, expected, "one new_issue trigger per new issue");
    assert!(
        store
            .claim_alert_triggers(10, now, lease)
            .await
            .unwrap()
            .is_empty(),
        "claimed triggers are not handed out again while the lease runs"
    );
    assert!(
        store
            .claim_alert_triggers(10, now + lease - 1, lease)
            .await
            .unwrap()
            .is_empty()
    );

    // An evaluator that died: its triggers come back once the lease ends, one consumed does not.
    let again = store.claim_alert_triggers(1, now + lease, lease).await.unwrap();
    assert_eq!(again.len(), 1, "up to the limit");
    assert_eq!(again[0].id, claimed[0].id, "oldest first");
    let consumed = AlertCommit {
        consumed_triggers: vec![claimed[0].id],
        ..Default::default()
    };
    store.commit_alerts(&consumed).await.unwrap();
    let rest = store
        .claim_alert_triggers(10, now + 3 * lease, lease)
        .await
        .unwrap();
    assert_eq!(ids(&rest, |t| t.id), vec![claimed[1].id]);
    store
        .commit_alerts(&AlertCommit {
            consumed_triggers: vec![claimed[1].id],
            ..Default::default()
        })
        .await
        .unwrap();

    // More events of a known issue trigger nothing; a resolved one that gets an event regresses.
    store
        .apply_batch(&batch(vec![event(p, 4, "a", T0 + 2 * MINUTE)]))
        .await
        .unwrap();
    assert!(
        store
            .claim_alert_triggers(10, T0 + DAY_MS, lease)
            .await
            .unwrap()
            .is_empty()
    );
    crate::workflow::set_status(store, a, StatusChange::Resolved, T0 + 3 * MINUTE).await;
    let out = store
        .apply_batch(&batch(vec![event(p, 5, "a", T0 + 4 * MINUTE)]))
        .await
        .unwrap();
    assert_eq!(out.regressed_issues, vec![a]);
    let regressed = store.claim_alert_triggers(10, T0 + DAY_MS, lease).await.unwrap();
    assert_eq!(
        regressed
            .iter()
            .map(|t| (t.project_id, t.issue_id, t.kind, t.at_ms))
            .collect::<Vec<_>>(),
        vec![(p, a, TriggerKind::Regression, T0 + 4 * MINUTE + 5)]
    );
    assert!(
        store
            .claim_alert_triggers(0, T0 + 2 * DAY_MS, lease)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn threshold_rules_read_issue_counts_and_instance_outcomes(store: &dyn Store) {
    let p = project(store, "counts").await;
    let q = project(store, "other").await;
    let mut events = Vec::new();
    // Issue "a": 3 events in the window's first minute, 1 in its last; "b": 2; "c": 1 before the
    // window and 1 at its end (outside). Project q: 5 of its own.
    for n in 1..=3 {
        events.push(event(p, n, "a", T0 + i64::from(n)));
    }
    events.push(event(p, 4, "a", T0 + 9 * MINUTE + 59_000));
    events.push(event(p, 5, "b", T0 + 2 * MINUTE));
    events.push(event(p, 6, "b", T0 + 3 * MINUTE));
    events.push(event(p, 7, "c", T0 - MINUTE));
    events.push(event(p, 8, "c", T0 + 10 * MINUTE));
    for n in 9..=13 {
        events.push(event(q, n, "a", T0 + MINUTE));
    }
    let mut b = batch(events);
    let outcome = |project_id: i64, minute_ms: i64, outcome: &str, quantity: u64| OutcomeCount {
        project_id,
        minute_ms,
        category: "error".into(),
        outcome: outcome.into(),
        reason: String::new(),
        quantity,
    };
    b.outcomes = vec![
        outcome(p, T0, "accepted", 8),
        outcome(q, T0 + MINUTE, "accepted", 5),
        outcome(q, T0 + MINUTE, "rate_limited", 7),
        outcome(p, T0 + 2 * MINUTE, "invalid", 1),
        outcome(p, T0 + 10 * MINUTE, "invalid", 100),
        outcome(q, T0 - MINUTE, "filtered", 100),
    ];
    store.apply_batch(&b).await.unwrap();
    let (a, b) = (issue_of(store, p, 1).await, issue_of(store, p, 5).await);
    let until = T0 + 10 * MINUTE;

    assert_eq!(
        store.issue_counts_over(p, T0, until, 0).await.unwrap(),
        vec![(a, 4), (b, 2)],
        "per issue of the project, in [since, until), by issue id"
    );
    assert_eq!(
        store.issue_counts_over(p, T0, until, 2).await.unwrap(),
        vec![(a, 4)]
    );
    assert_eq!(store.issue_counts_over(p, T0, until, 4).await.unwrap(), vec![]);
    assert_eq!(
        store.issue_counts_over(p, T0 + MINUTE, until, 0).await.unwrap(),
        vec![(a, 1), (b, 2)]
    );
    assert_eq!(store.issue_counts_over(q, T0, until, 0).await.unwrap().len(), 1);

    assert_eq!(
        store.instance_outcome_totals(T0, until).await.unwrap(),
        vec![
            ("accepted".to_owned(), 13),
            ("invalid".to_owned(), 1),
            ("rate_limited".to_owned(), 7),
        ],
        "over all projects, per outcome, by name"
    );
    assert!(
        store
            .instance_outcome_totals(T0 + DAY_MS, T0 + 2 * DAY_MS)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn retention_deletes_old_sent_notifications_and_keeps_pending_ones(store: &dyn Store) {
    let p = project(store, "kept").await;
    let c = channel(store, Some(p), "hook").await;
    let old = T0 - 400 * DAY_MS;
    store
        .commit_alerts(&notes(vec![
            note("old-delivered", None, &c, old),
            note("old-failed", None, &c, old + 1),
            note("old-pending", None, &c, old + 2),
            note("recent", None, &c, T0 - DAY_MS),
        ]))
        .await
        .unwrap();
    let by_key = |log: &[sentinel_store::Notification], key: &str| -> i64 {
        log.iter()
            .find(|n| n.idempotency_key == key)
            .map(|n| n.id)
            .expect("a notification of that key")
    };
    let log = store.list_notifications(Some(p), 10, None).await.unwrap();
    let (delivered, failed) = (by_key(&log, "old-delivered"), by_key(&log, "old-failed"));
    store
        .record_delivery(delivered, &attempt(old, Some(200), None), DeliveryNext::Delivered)
        .await
        .unwrap();
    store
        .record_delivery(
            failed,
            &attempt(old, Some(404), Some("404")),
            DeliveryNext::GiveUp,
        )
        .await
        .unwrap();
    let recent = by_key(&log, "recent");
    store
        .record_delivery(recent, &attempt(T0, Some(200), None), DeliveryNext::Delivered)
        .await
        .unwrap();

    let policy = RetentionPolicy {
        hour_rollup_days: 365,
        ..Default::default()
    };
    let report = store.apply_retention(&policy, T0).await.unwrap();
    assert_eq!(report.notifications_deleted, 2);
    let left = store.list_notifications(Some(p), 10, None).await.unwrap();
    assert_eq!(
        left.iter()
            .map(|n| n.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        vec!["recent", "old-pending"],
        "pending notifications stay however old"
    );
    assert!(
        store
            .list_deliveries(&[delivered, failed])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.list_deliveries(&[recent]).await.unwrap().len(), 1);
}

pub async fn retention_deletes_old_triggers_and_states_long_out_of_their_condition(store: &dyn Store) {
    let p = project(store, "episodes").await;
    let c = channel(store, Some(p), "hook").await;
    let r = rule(store, Some(p), Condition::NewIssue {}, vec![c.id]).await;
    let old = T0 - 400 * DAY_MS;
    let at = |subject: &str, firing: bool, since_ms: i64| AlertState {
        since_ms,
        ..state(r.id, subject, firing, 2)
    };
    let states = vec![
        at("issue:1", false, old),
        at("issue:2", true, old),
        at("issue:3", false, T0 - DAY_MS),
    ];
    // A notification of the rule's still pending from before the cutoff keeps every state.
    let pending = note("old-pending", Some(r.id), &c, old);
    store
        .commit_alerts(&AlertCommit {
            states: states.clone(),
            notifications: vec![pending],
            consumed_triggers: vec![],
        })
        .await
        .unwrap();

    // Triggers seen long ago (alerting off) and one seen yesterday.
    store
        .apply_batch(&batch(vec![event(p, 1, "a", T0 - 200 * DAY_MS)]))
        .await
        .unwrap();
    store
        .apply_batch(&batch(vec![event(p, 2, "b", T0 - DAY_MS)]))
        .await
        .unwrap();

    let policy = RetentionPolicy::default();
    assert_eq!(policy.hour_rollup_days, 365);
    let report = store.apply_retention(&policy, T0).await.unwrap();
    assert_eq!(report.alert_states_deleted, 0);
    assert_eq!(store.alert_states(r.id).await.unwrap(), states);
    let triggers = store.claim_alert_triggers(10, T0, MINUTE).await.unwrap();
    assert_eq!(
        triggers.iter().map(|t| t.at_ms).collect::<Vec<_>>(),
        vec![T0 - DAY_MS + 5],
        "triggers older than every project's events are gone"
    );

    // Once it is sent, it goes, and so do the states out of their condition since before the
    // cutoff: their episodes' notifications are all older than them.
    let id = store.find_notification("old-pending").await.unwrap().unwrap().id;
    store
        .record_delivery(id, &attempt(old, Some(200), None), DeliveryNext::Delivered)
        .await
        .unwrap();
    let report = store.apply_retention(&policy, T0).await.unwrap();
    assert_eq!(
        (report.notifications_deleted, report.alert_states_deleted),
        (1, 1)
    );
    assert_eq!(
        store.alert_states(r.id).await.unwrap(),
        states[1..],
        "a firing state stays however old, a recent one stays"
    );
    assert_eq!(store.get_alert_state(r.id, "issue:1").await.unwrap(), None);
}
