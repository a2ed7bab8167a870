//! The storage contract: behaviour every `Store` backend must show, written once, generic over
//! the backend. A backend's test file invokes [`contract_tests!`] with a factory that yields a
//! fresh, migrated, empty store per test.
//!
//! Depends on the store interface only; it names no backend.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "the contract suite is test code: a failed step is a failed test"
)]

mod accounts;
mod alerts;
mod copy;
mod maintenance;
mod releases;
mod tenants;
mod uptime;
mod workflow;

pub use accounts::*;
pub use alerts::*;
pub use copy::*;
pub use maintenance::*;
pub use releases::*;
pub use tenants::*;
pub use uptime::*;
pub use workflow::*;

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sentinel_protocol::event::Level;
use sentinel_protocol::ids::EventId;
use sentinel_store::transfer::{self, TableSpec, Value};
use sentinel_store::{
    CountScope, DAY_MS, HOUR_MS, InboxItem, IssueChange, IssueQuery, IssueSort, IssueStatus, ItemKind, Lease,
    NewEvent, NewInboxItem, NewStoredItem, OutcomeCount, ProcessedBatch, RetentionPolicy, RetentionReport,
    SessionCounts, StatusChange, Store, StoreError, TagDistribution,
};

/// A fresh store plus whatever must live as long as it (a temporary directory, a schema).
pub struct Harness {
    pub store: Arc<dyn Store>,
    pub guard: Box<dyn Any + Send>,
}

/// Generates one `#[tokio::test]` per contract check, each on a fresh store from `$factory`
/// (an async expression evaluating to a [`Harness`]).
#[macro_export]
macro_rules! contract_tests {
    // For backends that need an external server: `$factory` evaluates to `Option<Harness>`, and
    // `None` (no server configured) ends each test early. The factory itself reports the skip.
    (optional: $factory:expr) => {
        $crate::contract_tests!(match $factory.await {
            ::std::option::Option::Some(harness) => ::std::future::ready(harness),
            ::std::option::Option::None => return,
        });
    };
    ($factory:expr) => {
        $crate::contract_tests!(@each $factory;
            projects_are_created_with_a_default_key,
            project_slugs_are_unique_per_organization,
            api_tokens_are_found_by_their_hash,
            users_are_created_with_unique_lower_cased_emails,
            the_first_admin_takes_over_organizations_and_tokens_made_before_accounts,
            the_first_admin_gets_a_default_organization_on_a_fresh_instance,
            a_first_admin_is_not_created_once_other_users_exist,
            only_one_of_two_concurrent_first_admins_is_created,
            organizations_need_a_valid_free_slug_and_start_with_their_owner,
            members_are_added_listed_and_their_roles_changed,
            an_organization_is_never_left_without_an_owner,
            two_owners_stepping_down_at_once_leave_one_owner,
            removing_a_member_unassigns_their_issues_in_that_organization_only,
            projects_are_listed_per_organization_and_renamed_with_their_platform,
            keys_are_added_and_revoked_per_project,
            invitations_are_replaced_listed_accepted_once_and_expire,
            accepting_an_invitation_keeps_a_higher_role,
            sessions_are_found_by_their_kind_until_they_expire,
            a_session_is_taken_once_even_by_concurrent_callers,
            a_new_password_ends_every_other_session_of_the_user,
            pruning_deletes_expired_sessions_and_invitations,
            api_tokens_are_listed_and_deleted_by_their_owner_only,
            rate_limits_can_be_set_and_removed,
            inbox_items_stay_until_a_batch_acknowledges_them,
            events_are_grouped_into_issues_with_counts_rollups_and_tags,
            tag_totals_count_new_and_repeated_values_across_batches,
            duplicate_event_ids_are_stored_and_counted_once,
            applying_the_same_batch_twice_changes_nothing,
            a_resolved_issue_regresses_on_a_new_event,
            status_changes_record_activity_only_when_something_changes,
            resolved_in_next_release_stays_resolved_for_its_release_and_regresses_on_another,
            an_ignored_issue_reopens_once_enough_more_events_arrive,
            an_ignored_issue_reopens_with_the_first_event_at_its_time,
            only_members_of_the_organization_can_be_assigned,
            unassigning_clears_the_assignee_and_records_it_once,
            bulk_updates_change_only_the_listed_issues_of_the_project,
            deleting_issues_removes_their_data_and_a_new_event_opens_a_new_issue,
            comments_and_activity_carry_their_authors_names,
            full_text_search_matches_every_word_as_a_word_or_word_prefix,
            full_text_search_takes_any_input_without_errors,
            issues_are_filtered_by_tags_assignee_and_time_ranges,
            project_events_are_listed_newest_received_first_across_pages,
            event_neighbors_follow_the_issue_event_order,
            event_attachments_are_the_events_attachment_items_in_arrival_order,
            stored_items_are_found_by_project_kind_and_event_id,
            issue_list_filters_sorts_and_paginates,
            issues_sort_by_priority_recent_and_frequent_first_across_pages,
            event_counts_are_bucketed_by_resolution,
            events_are_readable_by_id_and_listed_newest_first,
            outcomes_accumulate_per_minute,
            compression_dicts_are_kept_per_project,
            leases_have_one_holder_until_they_expire_or_are_released,
            retention_deletes_old_events_items_and_issues_per_project,
            minute_rollups_fold_into_hours_without_changing_counts,
            releases_count_events_first_and_last_event_and_the_issues_they_introduced,
            releases_are_listed_newest_first_across_pages,
            release_health_counts_sessions_and_distinct_users,
            retention_deletes_releases_last_seen_before_the_cutoff,
            channels_are_created_listed_updated_and_deleted_per_scope,
            every_rule_condition_round_trips_with_its_channels_and_options,
            rules_take_only_channels_and_conditions_of_their_scope,
            updating_a_rule_replaces_it_and_a_new_kind_resets_its_states_but_not_their_episodes,
            commits_upsert_states_store_each_notification_once_and_consume_triggers,
            claimed_notifications_come_back_only_after_their_lease,
            deliveries_are_recorded_per_attempt_with_their_outcome,
            deleting_a_channel_removes_it_from_rules_and_deletes_its_notifications,
            deleting_a_rule_deletes_its_states_and_keeps_its_notifications,
            notifications_are_listed_newest_first_per_scope_across_pages,
            batches_leave_one_trigger_per_new_or_regressed_issue,
            threshold_rules_read_issue_counts_and_instance_outcomes,
            retention_deletes_old_sent_notifications_and_keeps_pending_ones,
            retention_deletes_old_triggers_and_states_long_out_of_their_condition,
            monitors_are_created_read_listed_updated_and_deleted,
            updating_a_monitor_resets_its_status_only_when_its_checks_change,
            each_slot_is_scheduled_once_by_concurrent_schedulers_restarts_and_clock_jumps,
            paused_monitors_and_passive_kinds_are_never_scheduled,
            claimed_jobs_come_back_only_after_their_lease,
            recording_checks_is_idempotent_queues_results_and_finishes_jobs,
            rollups_sum_checks_per_minute_hour_and_day,
            verification_commits_states_incidents_and_alerts_once,
            a_monitor_has_at_most_one_open_incident,
            uptime_buckets_filter_by_resolution_and_window,
            retention_deletes_old_check_results_and_rollups_but_keeps_queued_results,
            deleting_a_monitor_removes_its_rows,
            check_in_monitors_are_found_by_slug_and_swept_by_deadline,
            cron_runs_start_once_end_once_and_time_out_by_deadline,
            maintenance_windows_are_stored_listed_per_project_and_deleted,
            monitors_with_regions_get_a_job_per_region_that_only_its_checkers_claim,
            latency_histograms_count_successful_checks_per_bin_and_bucket,
            request_rollups_are_written_with_a_batch_read_per_window_and_compacted,
            retention_deletes_request_rollups_past_their_days,
            rows_copy_between_stores_and_resume
        );
    };
    (@each $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let harness: $crate::Harness = $factory.await;
                $crate::$name(harness.store.as_ref()).await;
                drop(harness);
            }
        )*
    };
}

const T0: i64 = 1_800_000_000_000; // 2027-01-15, a whole minute

fn eid(n: u32) -> EventId {
    let mut b = [0u8; 16];
    b[12..].copy_from_slice(&n.to_be_bytes());
    b[0] = 0xab;
    EventId::from_bytes(b)
}

fn event(project_id: i64, n: u32, hash: &str, ts: i64) -> NewEvent {
    NewEvent {
        project_id,
        event_id: eid(n),
        grouping_hash: hash.into(),
        title: format!("ValueError: bad {hash}"),
        culprit: "app.views in handler".into(),
        message: Some(format!("message {n}")),
        level: Level::Error,
        platform: "python".into(),
        timestamp_ms: ts,
        received_ms: ts + 5,
        environment: Some("production".into()),
        release: Some("app@1.0".into()),
        tags: vec![
            ("environment".into(), "production".into()),
            ("tenant_id".into(), format!("tenant-{}", n % 2)),
        ],
        payload: format!("payload-{n}").into_bytes(),
        dict_id: i64::from(n % 3),
    }
}

fn batch(events: Vec<NewEvent>) -> ProcessedBatch {
    ProcessedBatch {
        events,
        ..Default::default()
    }
}

async fn project(store: &dyn Store, name: &str) -> i64 {
    // Distinct names (up to 16 bytes) give distinct 32-hex keys.
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    let key = format!("{hex:0<32}")[..32].to_owned();
    store
        .create_project("default", name, "other", &key, T0)
        .await
        .expect("create project")
        .0
        .id
}

pub async fn projects_are_created_with_a_default_key(store: &dyn Store) {
    let (p, k) = store
        .create_project(
            "default",
            "My API",
            "python",
            "0123456789abcdef0123456789abcdef",
            T0,
        )
        .await
        .unwrap();
    assert_eq!(p.slug, "my-api");
    assert_eq!(p.org_slug, "default");
    assert_eq!(p.platform, "python", "the platform is stored with the project");
    assert_eq!(k.project_id, p.id);
    assert!(k.active);
    assert_eq!(store.list_projects().await.unwrap(), vec![p.clone()]);
    assert_eq!(store.get_project(p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(store.get_project(p.id + 100).await.unwrap(), None);
    assert_eq!(
        store.find_key("0123456789abcdef0123456789abcdef").await.unwrap(),
        Some(k.clone())
    );
    assert_eq!(
        store.find_key("ffffffffffffffffffffffffffffffff").await.unwrap(),
        None
    );
    assert_eq!(store.project_keys(p.id).await.unwrap(), vec![k]);
}

pub async fn project_slugs_are_unique_per_organization(store: &dyn Store) {
    store
        .create_project("default", "shop", "other", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", T0)
        .await
        .unwrap();
    let err = store
        .create_project("default", "Shop", "other", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", T0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("shop")),
        "{err}"
    );
    assert_eq!(
        store.list_projects().await.unwrap().len(),
        1,
        "the failed create left nothing behind"
    );
    assert!(
        store
            .create_project("default", "!!!", "other", "cccccccccccccccccccccccccccccccc", T0)
            .await
            .is_err()
    );
}

pub async fn api_tokens_are_found_by_their_hash(store: &dyn Store) {
    let t = store
        .create_api_token(
            &sentinel_store::NewApiToken {
                name: "ci".into(),
                token_sha256: "deadbeef".into(),
                user_id: None,
                scope: sentinel_store::TokenScope::Admin,
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!((t.scope, t.user_id), (sentinel_store::TokenScope::Admin, None));
    assert_eq!(store.find_api_token("deadbeef").await.unwrap(), Some(t));
    assert_eq!(store.find_api_token("deadbeee").await.unwrap(), None);
}

pub async fn rate_limits_can_be_set_and_removed(store: &dyn Store) {
    let (p, k) = store
        .create_project(
            "default",
            "limited",
            "other",
            "dddddddddddddddddddddddddddddddd",
            T0,
        )
        .await
        .unwrap();
    store.set_project_rate_limit(p.id, Some(600)).await.unwrap();
    store.set_key_rate_limit(&k.public_key, Some(60)).await.unwrap();
    assert_eq!(
        store
            .get_project(p.id)
            .await
            .unwrap()
            .unwrap()
            .rate_limit_per_minute,
        Some(600)
    );
    assert_eq!(
        store
            .find_key(&k.public_key)
            .await
            .unwrap()
            .unwrap()
            .rate_limit_per_minute,
        Some(60)
    );
    // Apdex's T: Sentry's default until set.
    assert_eq!(
        store.get_project(p.id).await.unwrap().unwrap().apdex_threshold_ms,
        sentinel_store::DEFAULT_APDEX_THRESHOLD_MS
    );
    store.set_project_apdex(p.id, 1_200).await.unwrap();
    assert_eq!(
        store.get_project(p.id).await.unwrap().unwrap().apdex_threshold_ms,
        1_200
    );
    assert!(matches!(
        store.set_project_apdex(p.id + 1, 100).await,
        Err(StoreError::NotFound { .. })
    ));
    store.set_project_rate_limit(p.id, None).await.unwrap();
    assert_eq!(
        store
            .get_project(p.id)
            .await
            .unwrap()
            .unwrap()
            .rate_limit_per_minute,
        None
    );
    assert!(matches!(
        store.set_project_rate_limit(p.id + 1, Some(1)).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.set_key_rate_limit("nope", Some(1)).await,
        Err(StoreError::NotFound { .. })
    ));
}

fn inbox_item(project_id: i64, n: u32) -> NewInboxItem {
    NewInboxItem {
        project_id,
        kind: if n.is_multiple_of(2) {
            ItemKind::Event
        } else {
            ItemKind::Transaction
        },
        event_id: Some(eid(n)),
        received_ms: T0 + i64::from(n),
        sent_at: (n == 1).then(|| "2027-01-15T08:00:00Z".to_owned()),
        headers_json: None,
        payload: vec![n as u8; 10],
        dict_id: i64::from(n),
    }
}

pub async fn inbox_items_stay_until_a_batch_acknowledges_them(store: &dyn Store) {
    let p = project(store, "inbox").await;
    let items: Vec<NewInboxItem> = (0..5).map(|n| inbox_item(p, n)).collect();
    store.inbox_append(&items[..3]).await.unwrap();
    store.inbox_append(&items[3..]).await.unwrap();
    assert_eq!(store.inbox_stats().await.unwrap().depth, 5);
    assert_eq!(store.inbox_stats().await.unwrap().oldest_received_ms, Some(T0));

    let first: Vec<InboxItem> = store.inbox_claim(3).await.unwrap();
    assert_eq!(
        first.iter().map(|c| c.item.clone()).collect::<Vec<_>>(),
        items[..3].to_vec()
    );
    // Not acknowledged yet: claiming again (as after a crash) returns the same items.
    let again = store.inbox_claim(3).await.unwrap();
    assert_eq!(
        again.iter().map(|c| c.id).collect::<Vec<_>>(),
        first.iter().map(|c| c.id).collect::<Vec<_>>()
    );

    let ack = ProcessedBatch {
        acknowledged: first.iter().map(|c| c.id).collect(),
        ..Default::default()
    };
    store.apply_batch(&ack).await.unwrap();
    let rest = store.inbox_claim(10).await.unwrap();
    assert_eq!(
        rest.iter().map(|c| c.item.clone()).collect::<Vec<_>>(),
        items[3..].to_vec()
    );
    assert_eq!(store.inbox_stats().await.unwrap().depth, 2);
    store
        .apply_batch(&ProcessedBatch {
            acknowledged: rest.iter().map(|c| c.id).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(store.inbox_claim(10).await.unwrap().is_empty());
    assert_eq!(store.inbox_stats().await.unwrap().depth, 0);

    // A large group commit is as atomic and ordered as a small one.
    let many: Vec<NewInboxItem> = (100..1_300).map(|n| inbox_item(p, n)).collect();
    store.inbox_append(&many).await.unwrap();
    let claimed = store.inbox_claim(5_000).await.unwrap();
    assert_eq!(claimed.iter().map(|c| c.item.clone()).collect::<Vec<_>>(), many);
    store
        .apply_batch(&ProcessedBatch {
            acknowledged: claimed.iter().map(|c| c.id).collect(),
            ..Default::default()
        })
        .await
        .unwrap();

    // Ids keep growing after the inbox was emptied.
    store.inbox_append(&[inbox_item(p, 9)]).await.unwrap();
    let late = store.inbox_claim(10).await.unwrap();
    assert_eq!(late.len(), 1);
    assert!(late[0].id > rest.last().unwrap().id);
}

pub async fn events_are_grouped_into_issues_with_counts_rollups_and_tags(store: &dyn Store) {
    let p = project(store, "grouping").await;
    let events = vec![
        event(p, 1, "aaaa", T0 + 1_000),
        event(p, 2, "bbbb", T0 + 2_000),
        event(p, 3, "aaaa", T0 + 61_000),
        event(p, 4, "aaaa", T0 + 62_000),
    ];
    let mut b = batch(events);
    b.items.push(NewStoredItem {
        project_id: p,
        kind: ItemKind::CheckIn,
        event_id: None,
        received_ms: T0,
        headers_json: None,
        payload: b"{}".to_vec(),
    });
    let out = store.apply_batch(&b).await.unwrap();
    assert_eq!(out.events_stored, 4);
    assert_eq!(out.duplicates, 0);
    assert_eq!(out.new_issues.len(), 2);
    assert_eq!(out.items_stored, 1);

    let page = store
        .list_issues(&IssueQuery {
            project_id: p,
            sort: IssueSort::TimesSeen,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    let a = &page.items[0];
    assert_eq!(
        (a.times_seen, a.first_seen_ms, a.last_seen_ms),
        (3, T0 + 1_000, T0 + 62_000)
    );
    assert_eq!(a.title, "ValueError: bad aaaa");
    assert_eq!(a.status, IssueStatus::Unresolved);
    assert_eq!(page.items[1].times_seen, 1);

    let per_minute = store
        .event_counts(CountScope::Project(p), T0, T0 + 120_000, 60_000)
        .await
        .unwrap();
    assert_eq!(per_minute, vec![(T0, 2), (T0 + 60_000, 2)]);
    let issue_counts = store
        .event_counts(CountScope::Issue(a.id), T0, T0 + 120_000, 60_000)
        .await
        .unwrap();
    assert_eq!(issue_counts, vec![(T0, 1), (T0 + 60_000, 2)]);

    let tags = store.issue_tags(a.id, 10).await.unwrap();
    let tenant = tags.iter().find(|t| t.key == "tenant_id").expect("tenant_id tag");
    assert_eq!((tenant.total, tenant.unique_values), (3, 2));
    assert_eq!(tenant.top[0].value, "tenant-1"); // events 1 and 3
    assert_eq!(tenant.top[0].count, 2);
    let env = tags.iter().find(|t| t.key == "environment").unwrap();
    assert_eq!(env.top[0].value, "production");
    assert_eq!(env.top[0].count, 3);
}

pub async fn tag_totals_count_new_and_repeated_values_across_batches(store: &dyn Store) {
    let p = project(store, "tag totals").await;
    let tagged = |n: u32, url: &str| {
        let mut e = event(p, n, "aaaa", T0 + i64::from(n) * 1_000);
        e.tags.push(("url".into(), url.into()));
        e
    };
    let url = |tags: &[TagDistribution]| {
        let t = tags.iter().find(|t| t.key == "url").expect("url tag");
        let top: Vec<(String, u64)> = t.top.iter().map(|v| (v.value.clone(), v.count)).collect();
        (t.total, t.unique_values, top)
    };
    let top = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
        pairs.iter().map(|(v, c)| ((*v).to_owned(), *c)).collect()
    };

    // A value new to the issue may come twice in the batch that brings it.
    let out = store
        .apply_batch(&batch(vec![tagged(1, "/a"), tagged(2, "/a"), tagged(3, "/b")]))
        .await
        .unwrap();
    let issue = out.new_issues[0];
    let tags = store.issue_tags(issue, 10).await.unwrap();
    assert_eq!(url(&tags), (3, 2, top(&[("/a", 2), ("/b", 1)])));

    // Repeated and new values together; a duplicate event adds nothing.
    store
        .apply_batch(&batch(vec![
            tagged(1, "/a"),
            tagged(4, "/b"),
            tagged(5, "/c"),
            tagged(6, "/c"),
        ]))
        .await
        .unwrap();
    let tags = store.issue_tags(issue, 10).await.unwrap();
    assert_eq!(url(&tags), (6, 3, top(&[("/a", 2), ("/b", 2), ("/c", 2)])));

    store
        .apply_batch(&batch(vec![tagged(7, "/d"), tagged(8, "/a")]))
        .await
        .unwrap();
    let tags = store.issue_tags(issue, 10).await.unwrap();
    assert_eq!(
        url(&tags),
        (8, 4, top(&[("/a", 3), ("/b", 2), ("/c", 2), ("/d", 1)]))
    );
    // Totals count every value, not only the top ones listed; keys come in key order.
    let tags = store.issue_tags(issue, 2).await.unwrap();
    assert_eq!(url(&tags), (8, 4, top(&[("/a", 3), ("/b", 2)])));
    let keys: Vec<(&str, u64, u64)> = tags
        .iter()
        .map(|t| (t.key.as_str(), t.total, t.unique_values))
        .collect();
    assert_eq!(
        keys,
        vec![("environment", 8, 1), ("tenant_id", 8, 2), ("url", 8, 4)]
    );
}

pub async fn duplicate_event_ids_are_stored_and_counted_once(store: &dyn Store) {
    let p = project(store, "dupes").await;
    let first = store
        .apply_batch(&batch(vec![event(p, 1, "aaaa", T0), event(p, 1, "aaaa", T0)]))
        .await
        .unwrap();
    assert_eq!((first.events_stored, first.duplicates), (1, 1));
    let second = store
        .apply_batch(&batch(vec![event(p, 1, "aaaa", T0), event(p, 2, "aaaa", T0)]))
        .await
        .unwrap();
    assert_eq!((second.events_stored, second.duplicates), (1, 1));
    let issues = store
        .list_issues(&IssueQuery {
            project_id: p,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(issues.items[0].times_seen, 2);
    assert_eq!(
        store
            .event_counts(CountScope::Project(p), T0, T0 + 60_000, 60_000)
            .await
            .unwrap(),
        vec![(T0, 2)]
    );
    // The same event id in another project is another event.
    let q = project(store, "other").await;
    assert_eq!(
        store
            .apply_batch(&batch(vec![event(q, 1, "aaaa", T0)]))
            .await
            .unwrap()
            .events_stored,
        1
    );
}

pub async fn applying_the_same_batch_twice_changes_nothing(store: &dyn Store) {
    let p = project(store, "idempotent").await;
    store
        .inbox_append(&[inbox_item(p, 0), inbox_item(p, 2)])
        .await
        .unwrap();
    let claimed = store.inbox_claim(10).await.unwrap();
    let mut b = batch(vec![event(p, 0, "aaaa", T0), event(p, 2, "aaaa", T0)]);
    b.acknowledged = claimed.iter().map(|c| c.id).collect();
    b.outcomes.push(OutcomeCount {
        project_id: p,
        minute_ms: T0,
        category: "error".into(),
        outcome: "accepted".into(),
        reason: String::new(),
        quantity: 2,
    });
    store.apply_batch(&b).await.unwrap();
    let again = store.apply_batch(&b).await.unwrap_err();
    assert!(
        matches!(again, StoreError::Conflict(_)),
        "acknowledging the same items again is refused: {again}"
    );
    let issues = store
        .list_issues(&IssueQuery {
            project_id: p,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(issues.items.len(), 1);
    assert_eq!(issues.items[0].times_seen, 2);
    assert_eq!(
        store
            .event_counts(CountScope::Project(p), T0, T0 + 60_000, 60_000)
            .await
            .unwrap(),
        vec![(T0, 2)]
    );
    let totals = store.outcome_totals(p, T0, T0 + 60_000).await.unwrap();
    assert_eq!(
        totals.iter().map(|o| o.quantity).collect::<Vec<_>>(),
        vec![2],
        "outcomes are not counted twice"
    );
    assert!(store.inbox_claim(10).await.unwrap().is_empty());

    // A batch acknowledging nothing is tied to no inbox item: it applies, duplicates skipped.
    let mut unacknowledged = batch(vec![event(p, 0, "aaaa", T0), event(p, 4, "aaaa", T0)]);
    unacknowledged.acknowledged.clear();
    let out = store.apply_batch(&unacknowledged).await.unwrap();
    assert_eq!((out.events_stored, out.duplicates), (1, 1));
}

pub async fn a_resolved_issue_regresses_on_a_new_event(store: &dyn Store) {
    let p = project(store, "regress").await;
    let out = store
        .apply_batch(&batch(vec![event(p, 1, "aaaa", T0)]))
        .await
        .unwrap();
    let id = out.new_issues[0];
    let resolved = set_status(store, id, StatusChange::Resolved, T0 + 10).await;
    assert_eq!(resolved.status, IssueStatus::Resolved);
    let out = store
        .apply_batch(&batch(vec![event(p, 2, "aaaa", T0 + 60_000)]))
        .await
        .unwrap();
    assert_eq!(out.regressed_issues, vec![id]);
    assert!(out.new_issues.is_empty());
    let issue = store.get_issue(id).await.unwrap().unwrap();
    assert_eq!(issue.status, IssueStatus::Unresolved);
    assert!(issue.is_regression);
    assert_eq!(issue.times_seen, 2);
    // An issue ignored without conditions stays ignored.
    let ignore = StatusChange::Ignored {
        until_ms: None,
        more_events: None,
    };
    set_status(store, id, ignore, T0 + 70_000).await;
    let out = store
        .apply_batch(&batch(vec![event(p, 3, "aaaa", T0 + 80_000)]))
        .await
        .unwrap();
    assert!(out.regressed_issues.is_empty());
    assert_eq!(
        store.get_issue(id).await.unwrap().unwrap().status,
        IssueStatus::Ignored
    );
    let resolve = IssueChange {
        status: Some(StatusChange::Resolved),
        assignee: None,
    };
    assert!(matches!(
        store.update_issue(id + 99, &resolve, None, T0).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Priority weighs recency against volume: 416 s per doubling of the event count.
pub async fn issues_sort_by_priority_recent_and_frequent_first_across_pages(store: &dyn Store) {
    let p = project(store, "priority").await;
    // (hash, events, last seen offset in seconds)
    let plan: [(&str, u32, i64); 5] = [
        ("quiet-recent", 1, 3_000),   // score 3000
        ("loud-older", 64, 1_000),    // 1000 + 6 × 416 = 3496
        ("medium", 8, 2_000),         // 2000 + 3 × 416 = 3248
        ("loudest-oldest", 1_024, 0), // 10 × 416 = 4160
        ("tie-with-quiet", 2, 2_584), // 2584 + 416 = 3000, ties broken by id
    ];
    let mut events = Vec::new();
    let mut n = 0;
    for (hash, count, last) in plan {
        for i in 0..count {
            n += 1;
            // The last event carries the last-seen time; the others are older.
            let ts = T0 + last * 1_000 - i64::from(count - 1 - i);
            events.push(event(p, n, hash, ts));
        }
    }
    store.apply_batch(&batch(events)).await.unwrap();
    let mut order = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_issues(&IssueQuery {
                project_id: p,
                sort: IssueSort::Priority,
                limit: 2,
                cursor,
                ..Default::default()
            })
            .await
            .unwrap();
        for issue in &page.items {
            order.push((
                issue.times_seen,
                sentinel_store::priority_score(issue.last_seen_ms, issue.times_seen),
                issue.id,
            ));
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let counts: Vec<u64> = order.iter().map(|(c, _, _)| *c).collect();
    let (quiet, tie) = (order[3].2, order[4].2);
    assert_eq!(counts[..3], [1_024, 64, 8], "{order:?}");
    assert!(
        counts[3..] == [2, 1] || counts[3..] == [1, 2],
        "the two equal scores come last: {order:?}"
    );
    assert!(
        quiet > tie,
        "equal scores are ordered by id, newest first: {order:?}"
    );
    assert!(
        order.windows(2).all(|w| w[0].1 >= w[1].1),
        "scores never rise: {order:?}"
    );
}

pub async fn issue_list_filters_sorts_and_paginates(store: &dyn Store) {
    let p = project(store, "listing").await;
    let mut events = Vec::new();
    for i in 0..7u32 {
        for j in 0..=i {
            let mut e = event(
                p,
                i * 100 + j,
                &format!("hash{i}"),
                T0 + i64::from(i) * 1_000 + i64::from(j),
            );
            e.title = format!("Error{i}: 100% done_{i}");
            if i == 3 {
                e.level = Level::Warning;
                e.tags = vec![("environment".into(), "staging".into())];
                e.environment = Some("staging".into());
            }
            events.push(e);
        }
    }
    store.apply_batch(&batch(events)).await.unwrap();
    let q = |f: &dyn Fn(&mut IssueQuery)| {
        let mut q = IssueQuery {
            project_id: p,
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let titles = |page: &sentinel_store::Page<sentinel_store::Issue>| {
        page.items
            .iter()
            .map(|i| i.title.split(':').next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    let all = store.list_issues(&q(&|_| {})).await.unwrap();
    assert_eq!(
        titles(&all),
        [
            "Error6", "Error5", "Error4", "Error3", "Error2", "Error1", "Error0"
        ]
    );
    let by_count = store
        .list_issues(&q(&|q| q.sort = IssueSort::TimesSeen))
        .await
        .unwrap();
    assert_eq!(by_count.items[0].times_seen, 7);
    let oldest_first = store
        .list_issues(&q(&|q| q.sort = IssueSort::FirstSeen))
        .await
        .unwrap();
    assert_eq!(
        titles(&oldest_first)[0],
        "Error6",
        "first_seen sorts newest first"
    );
    let warning = store
        .list_issues(&q(&|q| q.level = Some(Level::Warning)))
        .await
        .unwrap();
    assert_eq!(titles(&warning), ["Error3"]);
    let staging = store
        .list_issues(&q(&|q| q.environment = Some("staging".into())))
        .await
        .unwrap();
    assert_eq!(titles(&staging), ["Error3"]);
    let release = store
        .list_issues(&q(&|q| q.release = Some("nope".into())))
        .await
        .unwrap();
    assert!(release.items.is_empty());
    let text = store
        .list_issues(&q(&|q| q.text = Some("error5".into())))
        .await
        .unwrap();
    assert_eq!(titles(&text), ["Error5"], "text search is case-insensitive");
    let words = store
        .list_issues(&q(&|q| q.text = Some("100% done_4".into())))
        .await
        .unwrap();
    assert_eq!(titles(&words), ["Error4"], "punctuation only separates words");
    set_status(store, all.items[0].id, StatusChange::Resolved, T0).await;
    let unresolved = store
        .list_issues(&q(&|q| q.status = Some(IssueStatus::Unresolved)))
        .await
        .unwrap();
    assert_eq!(unresolved.items.len(), 6);

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_issues(&q(&|q| {
                q.limit = 3;
                q.sort = IssueSort::TimesSeen;
                q.cursor = cursor;
            }))
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|i| i.times_seen));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, vec![7, 6, 5, 4, 3, 2, 1]);
}

pub async fn event_counts_are_bucketed_by_resolution(store: &dyn Store) {
    let p = project(store, "counts").await;
    let hour = 3_600_000;
    let events = vec![
        event(p, 1, "a", T0),
        event(p, 2, "a", T0 + 59_999),
        event(p, 3, "b", T0 + hour + 5),
    ];
    store.apply_batch(&batch(events)).await.unwrap();
    let by_hour = store
        .event_counts(CountScope::Project(p), T0 - hour, T0 + 2 * hour, hour)
        .await
        .unwrap();
    let t0_hour = T0 - T0.rem_euclid(hour);
    assert_eq!(by_hour.iter().map(|(_, c)| *c).sum::<u64>(), 3);
    assert!(by_hour.iter().all(|(b, _)| (b - t0_hour) % hour == 0));
    let window = store
        .event_counts(CountScope::Project(p), T0 + 60_000, T0 + 2 * hour, 60_000)
        .await
        .unwrap();
    assert_eq!(
        window,
        vec![(T0 + hour, 1)],
        "the window's start is inclusive, events before it excluded"
    );
    assert!(
        store
            .event_counts(CountScope::Project(p + 7), T0, T0 + hour, hour)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn events_are_readable_by_id_and_listed_newest_first(store: &dyn Store) {
    let p = project(store, "events").await;
    let out = store
        .apply_batch(&batch(vec![
            event(p, 1, "a", T0),
            event(p, 2, "a", T0 + 5_000),
            event(p, 3, "a", T0 + 1_000),
        ]))
        .await
        .unwrap();
    let issue = out.new_issues[0];
    let stored = store.get_event(p, eid(2)).await.unwrap().expect("stored event");
    assert_eq!(stored.payload, b"payload-2");
    assert_eq!(stored.dict_id, 2, "the dictionary id travels with the payload");
    assert_eq!(stored.row.issue_id, issue);
    assert_eq!(stored.row.timestamp_ms, T0 + 5_000);
    assert_eq!(stored.row.environment.as_deref(), Some("production"));
    assert!(store.get_event(p, eid(99)).await.unwrap().is_none());
    assert!(
        store.get_event(p + 1, eid(2)).await.unwrap().is_none(),
        "event ids are scoped by project"
    );

    let first = store.list_issue_events(issue, 2, None).await.unwrap();
    assert_eq!(
        first.items.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        vec![eid(2), eid(3)]
    );
    let rest = store
        .list_issue_events(issue, 2, first.next_cursor.as_ref())
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        vec![eid(1)]
    );
    assert!(rest.next_cursor.is_none());
}

pub async fn outcomes_accumulate_per_minute(store: &dyn Store) {
    let p = project(store, "outcomes").await;
    let o = |q| OutcomeCount {
        project_id: p,
        minute_ms: T0,
        category: "error".into(),
        outcome: "rate_limited".into(),
        reason: "project_quota".into(),
        quantity: q,
    };
    store.record_outcomes(&[o(2), o(3)]).await.unwrap();
    store.record_outcomes(&[o(5)]).await.unwrap();
    store.record_outcomes(&[]).await.unwrap();
    let mut accepted = o(4);
    accepted.outcome = "accepted".into();
    accepted.reason = String::new();
    accepted.minute_ms = T0 + 60_000;
    store
        .apply_batch(&ProcessedBatch {
            outcomes: vec![accepted],
            ..Default::default()
        })
        .await
        .unwrap();
    let totals = store.outcome_totals(p, T0, T0 + 120_000).await.unwrap();
    let summary: Vec<(&str, &str, u64)> = totals
        .iter()
        .map(|o| (o.outcome.as_str(), o.reason.as_str(), o.quantity))
        .collect();
    assert_eq!(
        summary,
        vec![("accepted", "", 4), ("rate_limited", "project_quota", 10)]
    );
    assert!(
        store
            .outcome_totals(p, T0 + 120_000, T0 + 180_000)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn compression_dicts_are_kept_per_project(store: &dyn Store) {
    let p = project(store, "dicts").await;
    let q = project(store, "other").await;
    assert!(store.compression_dicts().await.unwrap().is_empty());
    let a = store.save_compression_dict(p, b"dict-a", T0).await.unwrap();
    let b = store.save_compression_dict(q, b"dict-b", T0 + 1).await.unwrap();
    assert!(
        a > 0 && b > a,
        "ids are positive (0 means no dictionary) and increasing"
    );
    let all = store.compression_dicts().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|d| (d.id, d.project_id, d.bytes.as_slice()))
            .collect::<Vec<_>>(),
        vec![(a, p, &b"dict-a"[..]), (b, q, &b"dict-b"[..])]
    );

    store
        .apply_batch(&batch(
            (1..=5).map(|n| event(p, n, "h", T0 + i64::from(n))).collect(),
        ))
        .await
        .unwrap();
    store
        .apply_batch(&batch(vec![event(q, 9, "h", T0)]))
        .await
        .unwrap();
    let sample = store.sample_event_payloads(p, 3).await.unwrap();
    assert_eq!(
        sample,
        vec![
            (2, b"payload-5".to_vec()),
            (1, b"payload-4".to_vec()),
            (0, b"payload-3".to_vec())
        ]
    );
    assert_eq!(store.sample_event_payloads(q, 10).await.unwrap().len(), 1);
}

fn stored_item(project_id: i64, received_ms: i64) -> NewStoredItem {
    NewStoredItem {
        project_id,
        kind: ItemKind::Transaction,
        event_id: None,
        received_ms,
        headers_json: None,
        payload: b"{}".to_vec(),
    }
}

fn spec(name: &str) -> &'static TableSpec {
    transfer::table(name).expect("a table of the transfer list")
}

/// Every exported row of `table`, in pages of `page` rows.
async fn export_all(store: &dyn Store, table: &TableSpec, page: usize) -> Vec<Vec<Value>> {
    let mut rows: Vec<Vec<Value>> = Vec::new();
    loop {
        let after = rows.last().map(|r| key_of(table, r));
        let next = store.export_rows(table, after.as_deref(), page).await.unwrap();
        assert!(
            next.len() <= page,
            "{}: a page holds at most its limit",
            table.name
        );
        if next.is_empty() {
            return rows;
        }
        rows.extend(next);
    }
}

fn column(table: &TableSpec, row: &[Value], name: &str) -> Value {
    let i = table
        .columns
        .iter()
        .position(|c| *c == name)
        .expect("a column of the table");
    row[i].clone()
}

fn key_of(table: &TableSpec, row: &[Value]) -> Vec<Value> {
    table.key.iter().map(|k| column(table, row, k)).collect()
}

async fn issue_of(store: &dyn Store, project_id: i64, n: u32) -> i64 {
    store
        .get_event(project_id, eid(n))
        .await
        .unwrap()
        .expect("stored event")
        .row
        .issue_id
}
