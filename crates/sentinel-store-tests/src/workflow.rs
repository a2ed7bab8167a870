//! Contract checks for the issue workflow: status changes and what reopens an issue, assignees,
//! bulk updates, deletion, comments and activity, full-text search and list filters, a project's
//! events, an event's neighbours and attachments.

use sentinel_store::{
    Activity, AssignedFilter, Attachment, Cursor, EventNeighbors, Issue, IssueChange, NewUser, OrgRole,
    StatusChange, TimeRange,
};
use serde_json::{Value as Json, json};

use super::*;

/// A user who is a member of the organization of `project_id`.
async fn member(store: &dyn Store, project_id: i64, name: &str) -> i64 {
    let id = outsider(store, name).await;
    let org_id = store.get_project(project_id).await.unwrap().unwrap().org_id;
    store.add_member(org_id, id, OrgRole::Member, T0).await.unwrap();
    id
}

/// A user of no organization.
async fn outsider(store: &dyn Store, name: &str) -> i64 {
    let user = NewUser {
        email: format!("{}@example.com", name.to_lowercase()),
        name: name.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        is_admin: false,
    };
    store.create_user(&user, T0).await.unwrap().id
}

/// The first issue of a new batch of `events`.
async fn new_issue(store: &dyn Store, events: Vec<NewEvent>) -> i64 {
    store.apply_batch(&batch(events)).await.unwrap().new_issues[0]
}

async fn issue(store: &dyn Store, id: i64) -> Issue {
    store.get_issue(id).await.unwrap().expect("the issue exists")
}

fn status(change: StatusChange) -> IssueChange {
    IssueChange {
        status: Some(change),
        assignee: None,
    }
}

fn assign(user: Option<i64>) -> IssueChange {
    IssueChange {
        status: None,
        assignee: Some(user),
    }
}

pub(crate) async fn set_status(store: &dyn Store, issue_id: i64, change: StatusChange, now_ms: i64) -> Issue {
    store
        .update_issue(issue_id, &status(change), None, now_ms)
        .await
        .unwrap()
}

/// The activity of an issue, oldest first, as (kind, data parsed, user).
async fn log(store: &dyn Store, issue_id: i64) -> Vec<(String, Option<Json>, Option<i64>)> {
    let mut entries: Vec<Activity> = store.list_activity(issue_id).await.unwrap();
    assert!(
        entries.windows(2).all(|w| w[0].id > w[1].id),
        "activity is listed newest first"
    );
    entries.reverse();
    entries
        .into_iter()
        .map(|a| {
            let data = a
                .data
                .map(|d| serde_json::from_str(&d).expect("activity data is JSON"));
            (a.kind, data, a.user_id)
        })
        .collect()
}

fn kinds(entries: &[(String, Option<Json>, Option<i64>)]) -> Vec<&str> {
    entries.iter().map(|(k, _, _)| k.as_str()).collect()
}

fn with_release(mut e: NewEvent, release: Option<&str>) -> NewEvent {
    e.release = release.map(str::to_owned);
    e
}

pub async fn status_changes_record_activity_only_when_something_changes(store: &dyn Store) {
    let p = project(store, "statuses").await;
    let alice = member(store, p, "Alice").await;
    let id = new_issue(store, vec![event(p, 1, "aaaa", T0)]).await;

    let resolved = store
        .update_issue(id, &status(StatusChange::Resolved), Some(alice), T0 + 1)
        .await
        .unwrap();
    assert_eq!(resolved.status, IssueStatus::Resolved);
    assert_eq!(resolved, issue(store, id).await, "the answer is the stored issue");
    // The same status again is no change.
    store
        .update_issue(id, &status(StatusChange::Resolved), Some(alice), T0 + 2)
        .await
        .unwrap();
    let ignored = store
        .update_issue(
            id,
            &status(StatusChange::Ignored {
                until_ms: Some(T0 + HOUR_MS),
                more_events: Some(10),
            }),
            Some(alice),
            T0 + 3,
        )
        .await
        .unwrap();
    assert_eq!(ignored.status, IssueStatus::Ignored);
    assert_eq!(ignored.ignore_until_ms, Some(T0 + HOUR_MS));
    assert_eq!(ignored.ignore_until_count, Some(11), "times seen so far plus 10");
    let reopened = set_status(store, id, StatusChange::Unresolved, T0 + 4).await;
    assert_eq!(reopened.status, IssueStatus::Unresolved);
    assert_eq!(
        (reopened.ignore_until_ms, reopened.ignore_until_count),
        (None, None),
        "a status change clears the conditions of the one before"
    );

    assert_eq!(
        log(store, id).await,
        vec![
            ("first_seen".into(), None, None),
            ("set_resolved".into(), None, Some(alice)),
            (
                "set_ignored".into(),
                Some(json!({"until_ms": T0 + HOUR_MS, "more_events": 10})),
                Some(alice)
            ),
            ("set_unresolved".into(), None, None),
        ]
    );
    let newest = &store.list_activity(id).await.unwrap()[1];
    assert_eq!(
        (newest.user_name.as_deref(), newest.created_ms),
        (Some("Alice"), T0 + 3)
    );
    assert!(matches!(
        store
            .update_issue(id + 99, &status(StatusChange::Resolved), None, T0)
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn resolved_in_next_release_stays_resolved_for_its_release_and_regresses_on_another(
    store: &dyn Store,
) {
    let p = project(store, "releases").await;
    let id = new_issue(
        store,
        vec![
            with_release(event(p, 1, "aaaa", T0), Some("app@1.0")),
            with_release(event(p, 2, "aaaa", T0 + 1_000), Some("app@1.1")),
            // The newest event has no release: the newest one with a release counts.
            with_release(event(p, 3, "aaaa", T0 + 2_000), None),
        ],
    )
    .await;
    let resolved = set_status(store, id, StatusChange::ResolvedInNextRelease, T0 + 10_000).await;
    assert_eq!(resolved.status, IssueStatus::Resolved);
    assert_eq!(resolved.resolved_in_release.as_deref(), Some("app@1.1"));

    // Events of that release, or without a release, count but do not reopen it.
    let same = batch(vec![
        with_release(event(p, 4, "aaaa", T0 + 60_000), Some("app@1.1")),
        with_release(event(p, 5, "aaaa", T0 + 61_000), None),
    ]);
    let out = store.apply_batch(&same).await.unwrap();
    assert!(out.regressed_issues.is_empty());
    let still = issue(store, id).await;
    assert_eq!((still.status, still.times_seen), (IssueStatus::Resolved, 5));
    assert!(!still.is_regression);

    // Any other release reopens it, marked as a regression, even beside events of that release.
    let other = batch(vec![
        with_release(event(p, 6, "aaaa", T0 + 120_000), Some("app@1.1")),
        with_release(event(p, 7, "aaaa", T0 + 121_000), Some("app@2.0")),
    ]);
    let out = store.apply_batch(&other).await.unwrap();
    assert_eq!(out.regressed_issues, vec![id]);
    let regressed = issue(store, id).await;
    assert_eq!(regressed.status, IssueStatus::Unresolved);
    assert!(regressed.is_regression);
    assert_eq!(regressed.resolved_in_release, None);
    // Applying the batch again changes nothing, activity included.
    store.apply_batch(&other).await.unwrap();
    assert_eq!(
        log(store, id).await,
        vec![
            ("first_seen".into(), None, None),
            (
                "set_resolved_in_release".into(),
                Some(json!({"release": "app@1.1"})),
                None
            ),
            ("set_regression".into(), Some(json!({"release": "app@2.0"})), None),
        ]
    );
    // A user's status change clears the mark.
    let seen = set_status(store, id, StatusChange::Unresolved, T0 + 130_000).await;
    assert!(!seen.is_regression);

    // Without any release on the issue's events it is a plain resolve, which any event reopens.
    let bare = new_issue(store, vec![with_release(event(p, 8, "bbbb", T0), None)]).await;
    let plain = set_status(store, bare, StatusChange::ResolvedInNextRelease, T0 + 10).await;
    assert_eq!(
        (plain.status, plain.resolved_in_release),
        (IssueStatus::Resolved, None)
    );
    assert_eq!(kinds(&log(store, bare).await), ["first_seen", "set_resolved"]);
    let out = store
        .apply_batch(&batch(vec![with_release(event(p, 9, "bbbb", T0 + 60_000), None)]))
        .await
        .unwrap();
    assert_eq!(out.regressed_issues, vec![bare]);
    assert_eq!(
        log(store, bare).await.last().cloned(),
        Some(("set_regression".into(), None, None)),
        "no release to name"
    );
}

pub async fn an_ignored_issue_reopens_once_enough_more_events_arrive(store: &dyn Store) {
    let p = project(store, "ignore count").await;
    let id = new_issue(store, vec![event(p, 1, "aaaa", T0)]).await;
    let ignored = set_status(
        store,
        id,
        StatusChange::Ignored {
            until_ms: None,
            more_events: Some(2),
        },
        T0 + 1,
    )
    .await;
    assert_eq!(ignored.ignore_until_count, Some(3));

    store
        .apply_batch(&batch(vec![event(p, 2, "aaaa", T0 + 60_000)]))
        .await
        .unwrap();
    assert_eq!(issue(store, id).await.status, IssueStatus::Ignored);
    let out = store
        .apply_batch(&batch(vec![event(p, 3, "aaaa", T0 + 120_000)]))
        .await
        .unwrap();
    assert!(out.regressed_issues.is_empty(), "reopening is no regression");
    let reopened = issue(store, id).await;
    assert_eq!(
        (reopened.status, reopened.times_seen, reopened.is_regression),
        (IssueStatus::Unresolved, 3, false)
    );
    assert_eq!(
        (reopened.ignore_until_ms, reopened.ignore_until_count),
        (None, None)
    );
    assert_eq!(
        log(store, id).await.last().cloned(),
        Some((
            "set_unresolved".into(),
            Some(json!({"reason": "ignore_expired"})),
            None
        ))
    );
}

pub async fn an_ignored_issue_reopens_with_the_first_event_at_its_time(store: &dyn Store) {
    let p = project(store, "ignore time").await;
    let id = new_issue(store, vec![event(p, 1, "aaaa", T0)]).await;
    let forever = new_issue(store, vec![event(p, 2, "bbbb", T0)]).await;
    let until = T0 + HOUR_MS;
    set_status(
        store,
        id,
        StatusChange::Ignored {
            until_ms: Some(until),
            more_events: Some(1_000),
        },
        T0 + 1,
    )
    .await;
    set_status(
        store,
        forever,
        StatusChange::Ignored {
            until_ms: None,
            more_events: None,
        },
        T0 + 1,
    )
    .await;

    // `event` receives 5 ms after the timestamp.
    store
        .apply_batch(&batch(vec![
            event(p, 3, "aaaa", until - 6),
            event(p, 4, "bbbb", until),
        ]))
        .await
        .unwrap();
    assert_eq!(issue(store, id).await.status, IssueStatus::Ignored);
    store
        .apply_batch(&batch(vec![
            event(p, 5, "aaaa", until - 5),
            event(p, 6, "bbbb", until + DAY_MS),
        ]))
        .await
        .unwrap();
    let reopened = issue(store, id).await;
    assert_eq!(reopened.status, IssueStatus::Unresolved);
    assert_eq!(
        (reopened.ignore_until_ms, reopened.ignore_until_count),
        (None, None)
    );
    assert_eq!(
        issue(store, forever).await.status,
        IssueStatus::Ignored,
        "ignored without conditions stays ignored"
    );
}

pub async fn only_members_of_the_organization_can_be_assigned(store: &dyn Store) {
    let p = project(store, "assignees").await;
    let alice = member(store, p, "Alice").await;
    let mallory = outsider(store, "Mallory").await;
    let id = new_issue(store, vec![event(p, 1, "aaaa", T0)]).await;

    let both = IssueChange {
        status: Some(StatusChange::Resolved),
        assignee: Some(Some(mallory)),
    };
    let err = store
        .update_issue(id, &both, Some(alice), T0 + 1)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains(&format!("user {mallory} is not a member"))),
        "{err}"
    );
    let untouched = issue(store, id).await;
    assert_eq!(
        (untouched.status, untouched.assignee_id),
        (IssueStatus::Unresolved, None),
        "nothing of a refused change is applied"
    );

    let assigned = store
        .update_issue(id, &assign(Some(alice)), Some(alice), T0 + 2)
        .await
        .unwrap();
    assert_eq!(assigned.assignee_id, Some(alice));
    store
        .update_issue(id, &assign(Some(alice)), Some(alice), T0 + 3)
        .await
        .unwrap();
    assert_eq!(
        log(store, id).await,
        vec![
            ("first_seen".into(), None, None),
            (
                "assigned".into(),
                Some(json!({"assignee_id": alice, "assignee_name": "Alice"})),
                Some(alice)
            ),
        ],
        "assigning the assignee again is no change"
    );
}

pub async fn unassigning_clears_the_assignee_and_records_it_once(store: &dyn Store) {
    let p = project(store, "unassign").await;
    let alice = member(store, p, "Alice").await;
    let bob = member(store, p, "Bob").await;
    let id = new_issue(store, vec![event(p, 1, "aaaa", T0)]).await;
    store
        .update_issue(id, &assign(Some(alice)), Some(bob), T0 + 1)
        .await
        .unwrap();
    let cleared = store
        .update_issue(id, &assign(None), Some(bob), T0 + 2)
        .await
        .unwrap();
    assert_eq!(cleared.assignee_id, None);
    store
        .update_issue(id, &assign(None), Some(bob), T0 + 3)
        .await
        .unwrap();
    assert_eq!(
        log(store, id)
            .await
            .iter()
            .skip(1)
            .map(|(k, _, u)| (k.as_str(), *u))
            .collect::<Vec<_>>(),
        vec![("assigned", Some(bob)), ("unassigned", Some(bob))]
    );
}

pub async fn bulk_updates_change_only_the_listed_issues_of_the_project(store: &dyn Store) {
    let p = project(store, "bulk").await;
    let q = project(store, "elsewhere").await;
    let alice = member(store, p, "Alice").await;
    let out = store
        .apply_batch(&batch(vec![
            event(p, 1, "aaaa", T0),
            event(p, 2, "bbbb", T0),
            event(p, 3, "cccc", T0),
            event(q, 4, "aaaa", T0),
        ]))
        .await
        .unwrap();
    let ids = |project_id: i64| async move {
        let page = store
            .list_issues(&IssueQuery {
                project_id,
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut ids: Vec<i64> = page.items.iter().map(|i| i.id).collect();
        ids.sort_unstable();
        ids
    };
    let (mine, theirs) = (ids(p).await, ids(q).await);
    assert_eq!(out.new_issues.len(), 4);
    set_status(store, mine[1], StatusChange::Resolved, T0).await;

    let change = IssueChange {
        status: Some(StatusChange::Resolved),
        assignee: Some(Some(alice)),
    };
    let listed = [mine[0], mine[1], theirs[0], theirs[0] + 1_000];
    let changed = store
        .update_issues(p, &listed, &change, Some(alice), T0 + 1)
        .await
        .unwrap();
    assert_eq!(changed, 2, "both listed issues of the project got an assignee");
    for id in [mine[0], mine[1]] {
        let i = issue(store, id).await;
        assert_eq!((i.status, i.assignee_id), (IssueStatus::Resolved, Some(alice)));
    }
    assert_eq!(
        kinds(&log(store, mine[0]).await),
        ["first_seen", "set_resolved", "assigned"]
    );
    assert_eq!(
        kinds(&log(store, mine[1]).await),
        ["first_seen", "set_resolved", "assigned"],
        "the one already resolved only got its assignee"
    );
    let untouched = issue(store, mine[2]).await;
    assert_eq!(
        (untouched.status, untouched.assignee_id),
        (IssueStatus::Unresolved, None)
    );
    let other = issue(store, theirs[0]).await;
    assert_eq!((other.status, other.assignee_id), (IssueStatus::Unresolved, None));

    // A member of p's organization only: assigning across projects of other organizations fails
    // as a whole.
    let outsider_org = store
        .create_project(
            "other-org",
            "theirs",
            "other",
            "ffffffffffffffffffffffffffff0000",
            T0,
        )
        .await
        .unwrap()
        .0
        .id;
    let foreign = new_issue(store, vec![event(outsider_org, 9, "zzzz", T0)]).await;
    assert!(matches!(
        store
            .update_issues(outsider_org, &[foreign], &assign(Some(alice)), None, T0)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.update_issues(p, &[], &change, None, T0).await.unwrap(), 0);
}

/// The exported rows of `table` whose `col` is `id`.
async fn rows_with(store: &dyn Store, table: &str, col: &str, id: i64) -> usize {
    let spec = transfer::table(table).expect("a table of the transfer list");
    let i = spec.columns.iter().position(|c| *c == col).expect("a column");
    store
        .export_rows(spec, None, 100_000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r[i] == Value::Int(id))
        .count()
}

pub async fn deleting_issues_removes_their_data_and_a_new_event_opens_a_new_issue(store: &dyn Store) {
    let p = project(store, "deletion").await;
    let q = project(store, "bystander").await;
    let alice = member(store, p, "Alice").await;
    let mut b = batch(vec![
        event(p, 1, "gone", T0),
        event(p, 2, "gone", T0 + 60_000),
        event(p, 3, "kept", T0),
        event(q, 4, "gone", T0),
    ]);
    b.items = vec![attachment(p, eid(1), "a.txt"), attachment(p, eid(3), "b.txt")];
    store.apply_batch(&b).await.unwrap();
    let gone = store.get_event(p, eid(1)).await.unwrap().unwrap().row.issue_id;
    let kept = store.get_event(p, eid(3)).await.unwrap().unwrap().row.issue_id;
    let bystander = store.get_event(q, eid(4)).await.unwrap().unwrap().row.issue_id;
    store.add_comment(gone, alice, "looking", T0 + 1).await.unwrap();
    store.add_comment(kept, alice, "me too", T0 + 1).await.unwrap();
    set_status(store, gone, StatusChange::Resolved, T0 + 2).await;
    // Hourly rollups too: minutes older than 14 days are folded into hours.
    let policy = RetentionPolicy {
        event_days: 1_000,
        ..Default::default()
    };
    store.apply_retention(&policy, T0 + 20 * DAY_MS).await.unwrap();
    assert!(rows_with(store, "rollups_hour", "issue_id", gone).await > 0);
    // And recent minutes.
    store
        .apply_batch(&batch(vec![
            event(p, 6, "gone", T0 + 20 * DAY_MS),
            event(p, 7, "kept", T0 + 20 * DAY_MS),
        ]))
        .await
        .unwrap();
    let project_counts = store
        .event_counts(CountScope::Project(p), T0, T0 + HOUR_MS, HOUR_MS)
        .await
        .unwrap();

    let deleted = store
        .delete_issues(p, &[gone, bystander, gone + 1_000])
        .await
        .unwrap();
    assert_eq!(deleted, 1, "issues of other projects are left alone");
    assert_eq!(store.get_issue(gone).await.unwrap(), None);
    assert_eq!(store.get_event(p, eid(1)).await.unwrap(), None);
    assert!(
        store
            .list_issue_events(gone, 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(store.issue_tags(gone, 10).await.unwrap().is_empty());
    assert!(store.list_comments(gone).await.unwrap().is_empty());
    assert!(store.list_activity(gone).await.unwrap().is_empty());
    assert!(store.event_attachments(p, eid(1)).await.unwrap().is_empty());
    for (table, col) in [
        ("events", "issue_id"),
        ("issue_tag_values", "issue_id"),
        ("issue_tag_keys", "issue_id"),
        ("rollups_minute", "issue_id"),
        ("rollups_hour", "issue_id"),
        ("comments", "issue_id"),
        ("activity", "issue_id"),
    ] {
        assert_eq!(
            rows_with(store, table, col, gone).await,
            0,
            "{table} of the issue"
        );
        assert!(
            rows_with(store, table, col, kept).await > 0,
            "{table} of the other issue"
        );
    }
    let found = store
        .list_issues(&IssueQuery {
            project_id: p,
            text: Some("gone".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(found.items.is_empty(), "the search index forgot it");
    assert_eq!(
        store
            .event_counts(CountScope::Project(p), T0, T0 + HOUR_MS, HOUR_MS)
            .await
            .unwrap(),
        project_counts,
        "the project's history keeps counting the deleted events"
    );
    assert_eq!(store.event_attachments(p, eid(3)).await.unwrap().len(), 1);
    assert!(store.get_issue(bystander).await.unwrap().is_some());

    let out = store
        .apply_batch(&batch(vec![event(p, 8, "gone", T0 + 21 * DAY_MS)]))
        .await
        .unwrap();
    assert_eq!(out.new_issues.len(), 1, "the fingerprint opens a new issue");
    let fresh = issue(store, out.new_issues[0]).await;
    assert_eq!((fresh.times_seen, fresh.status), (1, IssueStatus::Unresolved));
    assert_eq!(kinds(&log(store, fresh.id).await), ["first_seen"]);
    assert!(store.list_comments(fresh.id).await.unwrap().is_empty());
}

pub async fn stored_items_are_found_by_project_kind_and_event_id(store: &dyn Store) {
    let p = project(store, "items").await;
    let q = project(store, "other items").await;
    let transaction = |project_id: i64, n: u32, received_ms: i64, body: &str| NewStoredItem {
        project_id,
        kind: ItemKind::Transaction,
        event_id: Some(eid(n)),
        received_ms,
        headers_json: None,
        payload: body.as_bytes().to_vec(),
    };
    let mut b = batch(Vec::new());
    b.items = vec![
        transaction(p, 1, T0, "checkout"),
        transaction(p, 2, T0 + DAY_MS, "search"),
        transaction(q, 3, T0, "other project"),
        attachment(p, eid(4), "not a transaction"),
        // The same id again, as a retrying SDK may send it: the newest is the one found.
        transaction(p, 2, T0 + DAY_MS + 5, "search, again"),
    ];
    store.apply_batch(&b).await.unwrap();

    let found = store
        .get_item(p, ItemKind::Transaction, eid(1))
        .await
        .unwrap()
        .expect("the transaction is found by its event id");
    assert_eq!(
        (found.project_id, found.kind, found.event_id, found.received_ms),
        (p, ItemKind::Transaction, Some(eid(1)), T0)
    );
    assert_eq!(found.payload, b"checkout");
    let again = store
        .get_item(p, ItemKind::Transaction, eid(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.payload, b"search, again");
    assert_eq!(again.received_ms, T0 + DAY_MS + 5);
    assert!(
        store
            .get_item(p, ItemKind::Transaction, eid(3))
            .await
            .unwrap()
            .is_none(),
        "another project's transaction"
    );
    assert!(
        store
            .get_item(p, ItemKind::Transaction, eid(4))
            .await
            .unwrap()
            .is_none(),
        "an attachment is not a transaction"
    );
    let attached = store
        .get_item(p, ItemKind::Attachment, eid(4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        attached.headers_json.as_deref(),
        Some(r#"{"filename":"not a transaction"}"#)
    );
    assert!(
        store
            .get_item(p, ItemKind::Transaction, eid(9))
            .await
            .unwrap()
            .is_none()
    );
}

fn attachment(project_id: i64, event_id: EventId, filename: &str) -> NewStoredItem {
    NewStoredItem {
        project_id,
        kind: ItemKind::Attachment,
        event_id: Some(event_id),
        received_ms: T0 + 5,
        headers_json: Some(format!(r#"{{"filename":"{filename}"}}"#)),
        payload: filename.as_bytes().to_vec(),
    }
}

pub async fn comments_and_activity_carry_their_authors_names(store: &dyn Store) {
    let p = project(store, "comments").await;
    let alice = member(store, p, "Alice").await;
    let bob = member(store, p, "Bob").await;
    let id = new_issue(store, vec![event(p, 1, "aaaa", T0)]).await;

    let first = store
        .add_comment(id, alice, "Seen this **before**?  ", T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        (first.user_id, first.user_name.as_str(), first.body.as_str()),
        (Some(alice), "Alice", "Seen this **before**?  "),
        "bodies are stored as given"
    );
    let second = store.add_comment(id, bob, "Yes", T0 + 2).await.unwrap();
    let ghost = store.add_comment(id, bob + 1_000, "boo", T0 + 3).await.unwrap();
    assert_eq!(ghost.user_name, "", "a user who is gone has no name");
    assert_eq!(
        store.list_comments(id).await.unwrap(),
        vec![first.clone(), second.clone(), ghost.clone()],
        "oldest first"
    );

    let activity = store.list_activity(id).await.unwrap();
    let notes: Vec<(Option<i64>, Option<&str>, Json)> = activity
        .iter()
        .filter(|a| a.kind == "note")
        .map(|a| {
            (
                a.user_id,
                a.user_name.as_deref(),
                serde_json::from_str(a.data.as_deref().unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        notes,
        vec![
            (Some(bob + 1_000), None, json!({"comment_id": ghost.id})),
            (Some(bob), Some("Bob"), json!({"comment_id": second.id})),
            (Some(alice), Some("Alice"), json!({"comment_id": first.id})),
        ],
        "newest first"
    );
    let system = activity.last().unwrap();
    assert_eq!(
        (system.kind.as_str(), system.user_id, system.user_name.as_deref()),
        ("first_seen", None, None)
    );
    assert!(matches!(
        store.add_comment(id + 99, alice, "where?", T0).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.list_comments(id + 99).await.unwrap().is_empty());
}

/// Three issues whose texts hold identifiers, paths and punctuation.
async fn searchable(store: &dyn Store) -> (i64, impl Fn(&str) -> IssueQuery) {
    let p = project(store, "search").await;
    let texts = [
        (
            "aaaa",
            "ZeroDivisionError: division by zero",
            "app/views/users.py in handle_request",
            None,
        ),
        (
            "bbbb",
            "KeyError: 'user_id'",
            "billing.charge in run",
            Some("lookup failed for café order"),
        ),
        (
            "cccc",
            "ConnectionRefusedError: [Errno 111]",
            "db/pool.rs in connect_x86_64",
            Some("retry 3 of 5"),
        ),
    ];
    let events = texts
        .iter()
        .zip(1..)
        .map(|((hash, title, culprit, message), n)| {
            let mut e = event(p, n, hash, T0 + i64::from(n));
            e.title = (*title).into();
            e.culprit = (*culprit).into();
            e.message = message.map(str::to_owned);
            e
        })
        .collect();
    store.apply_batch(&batch(events)).await.unwrap();
    let query = move |text: &str| IssueQuery {
        project_id: p,
        text: Some(text.to_owned()),
        limit: 100,
        ..Default::default()
    };
    (p, query)
}

/// The found issues' first title words, sorted.
async fn found(store: &dyn Store, q: IssueQuery) -> Vec<String> {
    let page = store.list_issues(&q).await.unwrap();
    let mut names: Vec<String> = page
        .items
        .iter()
        .map(|i| i.title.split(':').next().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

pub async fn full_text_search_matches_every_word_as_a_word_or_word_prefix(store: &dyn Store) {
    let (_, q) = searchable(store).await;
    let cases: &[(&str, &[&str])] = &[
        ("zerodiv", &["ZeroDivisionError"]),
        ("ZERODIVISIONERROR", &["ZeroDivisionError"]),
        ("division zero", &["ZeroDivisionError"]),
        // Inside a word is no match: `Error` is not a word of `ZeroDivisionError`.
        ("error", &[]),
        ("ivision", &[]),
        ("err", &["ConnectionRefusedError"]),
        ("handle_request", &["ZeroDivisionError"]),
        ("handle_req", &["ZeroDivisionError"]),
        ("request", &["ZeroDivisionError"]),
        ("views", &["ZeroDivisionError"]),
        ("app/views/users.py", &["ZeroDivisionError"]),
        ("users.py", &["ZeroDivisionError"]),
        ("user_id", &["KeyError"]),
        ("user", &["KeyError", "ZeroDivisionError"]),
        ("KeyError user_id", &["KeyError"]),
        ("keyerror zero", &[]),
        ("billing.charge", &["KeyError"]),
        ("CAFÉ", &["KeyError"]),
        ("lookup", &["KeyError"]),
        ("x86_64", &["ConnectionRefusedError"]),
        ("connect_x86", &["ConnectionRefusedError"]),
        ("errno 111", &["ConnectionRefusedError"]),
        ("[Errno 111]", &["ConnectionRefusedError"]),
        ("retry 3", &["ConnectionRefusedError"]),
        ("", &["ConnectionRefusedError", "KeyError", "ZeroDivisionError"]),
    ];
    for (text, want) in cases {
        assert_eq!(found(store, q(text)).await, *want, "search {text:?}");
    }
}

pub async fn full_text_search_takes_any_input_without_errors(store: &dyn Store) {
    let (_, q) = searchable(store).await;
    let all = ["ConnectionRefusedError", "KeyError", "ZeroDivisionError"];
    let cases: &[(&str, &[&str])] = &[
        // No words at all: no condition.
        ("&|!", &all),
        ("\"", &all),
        ("*", &all),
        ("%_\\", &all),
        ("zero\"", &["ZeroDivisionError"]),
        ("-zero", &["ZeroDivisionError"]),
        ("zero*", &["ZeroDivisionError"]),
        ("foo\"bar", &[]),
        ("a:b", &["ZeroDivisionError"]),
        ("NEAR(zero division)", &[]),
        ("zero OR keyerror", &[]),
        ("zero AND NOT division", &[]),
        ("' OR 1=1 --", &[]),
        ("'zero'", &["ZeroDivisionError"]),
        ("zero & !division | (key)", &[]),
        ("zero:*", &["ZeroDivisionError"]),
        ("\\zero", &["ZeroDivisionError"]),
    ];
    for (text, want) in cases {
        assert_eq!(found(store, q(text)).await, *want, "search {text:?}");
    }
}

pub async fn issues_are_filtered_by_tags_assignee_and_time_ranges(store: &dyn Store) {
    let p = project(store, "filters").await;
    let alice = member(store, p, "Alice").await;
    let tagged = |n: u32, hash: &str, ts: i64, tags: &[(&str, &str)]| {
        let mut e = event(p, n, hash, ts);
        e.tags = tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        e
    };
    store
        .apply_batch(&batch(vec![
            tagged(1, "aaaa", T0, &[("browser", "Firefox"), ("os", "Linux")]),
            tagged(2, "aaaa", T0 + 10 * HOUR_MS, &[("browser", "Chrome")]),
            tagged(3, "bbbb", T0 + HOUR_MS, &[("browser", "Firefox"), ("os", "Mac")]),
            tagged(4, "cccc", T0 + 2 * HOUR_MS, &[("os", "Linux")]),
        ]))
        .await
        .unwrap();
    let q = |f: &dyn Fn(&mut IssueQuery)| {
        let mut q = IssueQuery {
            project_id: p,
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let hashes = |q: IssueQuery| async move {
        let page = store.list_issues(&q).await.unwrap();
        let mut first: Vec<i64> = page.items.iter().map(|i| i.first_seen_ms).collect();
        first.sort_unstable();
        first
    };
    let (a, b, c) = (T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS);
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());

    assert_eq!(
        hashes(q(&|q| q.tags = vec![pair("browser", "Firefox")])).await,
        [a, b]
    );
    assert_eq!(
        hashes(q(
            &|q| q.tags = vec![pair("browser", "Firefox"), pair("os", "Linux")]
        ))
        .await,
        [a],
        "every pair must have been seen"
    );
    assert_eq!(
        hashes(q(
            &|q| q.tags = vec![pair("browser", "Chrome"), pair("os", "Linux")]
        ))
        .await,
        [a],
        "by different events of the issue"
    );
    assert_eq!(
        hashes(q(&|q| q.tags = vec![pair("browser", "firefox")])).await,
        [] as [i64; 0]
    );

    let page = store.list_issues(&q(&|_| {})).await.unwrap();
    let id_of = |first: i64| page.items.iter().find(|i| i.first_seen_ms == first).unwrap().id;
    store
        .update_issue(id_of(b), &assign(Some(alice)), None, T0)
        .await
        .unwrap();
    assert_eq!(
        hashes(q(&|q| q.assigned = Some(AssignedFilter::User(alice)))).await,
        [b]
    );
    assert_eq!(
        hashes(q(&|q| q.assigned = Some(AssignedFilter::Nobody))).await,
        [a, c]
    );
    assert_eq!(
        hashes(q(&|q| q.assigned = Some(AssignedFilter::Anybody))).await,
        [b]
    );
    assert_eq!(
        hashes(q(&|q| q.assigned = Some(AssignedFilter::User(alice + 1)))).await,
        [] as [i64; 0]
    );

    // Ranges include their start and exclude their end.
    let range = |since: Option<i64>, until: Option<i64>| TimeRange {
        since_ms: since,
        until_ms: until,
    };
    assert_eq!(hashes(q(&|q| q.first_seen = range(Some(b), None))).await, [b, c]);
    assert_eq!(
        hashes(q(&|q| q.first_seen = range(Some(a), Some(c)))).await,
        [a, b]
    );
    assert_eq!(
        hashes(q(&|q| q.last_seen = range(None, Some(2 * HOUR_MS + T0 + 1)))).await,
        [b, c],
        "issue a was last seen ten hours in"
    );
    assert_eq!(
        hashes(q(&|q| {
            q.last_seen = range(Some(T0 + 2 * HOUR_MS), None);
            q.tags = vec![pair("os", "Linux")];
            q.assigned = Some(AssignedFilter::Nobody);
        }))
        .await,
        [a, c],
        "filters combine"
    );
}

pub async fn project_events_are_listed_newest_received_first_across_pages(store: &dyn Store) {
    let p = project(store, "project events").await;
    let q = project(store, "other events").await;
    let received = [3, 1, 2, 2, 2, 5, 4];
    let events: Vec<NewEvent> = received
        .iter()
        .zip(1..)
        .map(|(r, n)| {
            let mut e = event(p, n, if n % 2 == 0 { "aaaa" } else { "bbbb" }, T0);
            e.received_ms = T0 + r * 1_000;
            e
        })
        .chain([event(q, 99, "aaaa", T0 + 9_000)])
        .collect();
    store.apply_batch(&batch(events)).await.unwrap();

    let mut listed = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store.list_project_events(p, 2, cursor.as_ref()).await.unwrap();
        assert!(page.items.len() <= 2);
        listed.extend(page.items.iter().map(|e| (e.received_ms, e.id, e.event_id)));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(listed.len(), 7, "each event once, no other project's");
    assert!(
        listed.windows(2).all(|w| (w[0].0, w[0].1) > (w[1].0, w[1].1)),
        "newest received first, ties by id: {listed:?}"
    );
    let order: Vec<EventId> = listed.iter().map(|l| l.2).collect();
    assert_eq!(order[..2], [eid(6), eid(7)]);
    assert_eq!(order[3..6], [eid(5), eid(4), eid(3)], "ties newest stored first");
}

pub async fn event_neighbors_follow_the_issue_event_order(store: &dyn Store) {
    let p = project(store, "neighbors").await;
    // Events 2 and 3 share a timestamp: the later stored is the newer.
    let stamps = [T0, T0 + 1_000, T0 + 1_000, T0 + 5_000];
    let mut events: Vec<NewEvent> = stamps
        .iter()
        .zip(1..)
        .map(|(ts, n)| event(p, n, "aaaa", *ts))
        .collect();
    events.push(event(p, 9, "bbbb", T0 + 2_000));
    store.apply_batch(&batch(events)).await.unwrap();
    let id = store.get_event(p, eid(1)).await.unwrap().unwrap().row.issue_id;
    let at = |n: u32| async move { store.event_neighbors(id, eid(n)).await.unwrap() };

    let ends = |older: Option<u32>, newer: Option<u32>| EventNeighbors {
        older: older.map(eid),
        newer: newer.map(eid),
        newest: Some(eid(4)),
        oldest: Some(eid(1)),
    };
    assert_eq!(at(1).await, ends(None, Some(2)));
    assert_eq!(at(2).await, ends(Some(1), Some(3)));
    assert_eq!(at(3).await, ends(Some(2), Some(4)));
    assert_eq!(at(4).await, ends(Some(3), None));
    // The same order as the issue's event list, newest first.
    let listed: Vec<EventId> = store
        .list_issue_events(id, 10, None)
        .await
        .unwrap()
        .items
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(listed, [eid(4), eid(3), eid(2), eid(1)]);
    assert!(matches!(
        store.event_neighbors(id, eid(9)).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.event_neighbors(id, eid(77)).await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn event_attachments_are_the_events_attachment_items_in_arrival_order(store: &dyn Store) {
    let p = project(store, "attachments").await;
    let q = project(store, "other attachments").await;
    let mut b = batch(vec![event(p, 1, "aaaa", T0), event(p, 2, "aaaa", T0)]);
    let mut not_an_attachment = attachment(p, eid(1), "transaction");
    not_an_attachment.kind = ItemKind::Transaction;
    b.items = vec![
        attachment(p, eid(1), "first.txt"),
        attachment(p, eid(2), "other-event.txt"),
        not_an_attachment,
        attachment(q, eid(1), "other-project.txt"),
        attachment(p, eid(1), "second.log"),
    ];
    store.apply_batch(&b).await.unwrap();

    let found: Vec<Attachment> = store.event_attachments(p, eid(1)).await.unwrap();
    let names: Vec<&[u8]> = found.iter().map(|a| a.payload.as_slice()).collect();
    assert_eq!(names, [b"first.txt".as_slice(), b"second.log".as_slice()]);
    assert!(found[0].id < found[1].id);
    assert_eq!(
        (
            found[0].project_id,
            found[0].event_id,
            found[0].headers_json.as_deref()
        ),
        (p, eid(1), Some(r#"{"filename":"first.txt"}"#))
    );
    assert!(store.event_attachments(p, eid(3)).await.unwrap().is_empty());
}
