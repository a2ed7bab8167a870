//! Contract checks for releases and release health, maintained by `apply_batch`.

use sentinel_store::Release;

use super::*;

fn with_release(mut ev: NewEvent, release: Option<&str>) -> NewEvent {
    ev.release = release.map(str::to_owned);
    ev
}

fn health(project_id: i64, release: &str, at: i64) -> SessionCounts {
    SessionCounts {
        project_id,
        release: release.into(),
        received_ms: at,
        ..Default::default()
    }
}

async fn release(store: &dyn Store, project_id: i64, version: &str) -> Release {
    store
        .get_release(project_id, version)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("release {version} exists"))
}

pub async fn releases_count_events_first_and_last_event_and_the_issues_they_introduced(store: &dyn Store) {
    let p = project(store, "rel").await;
    let other = project(store, "other").await;
    // Issue "a" starts in 1.0, "b" in 2.0; "c" has no release on its first event.
    let first = store
        .apply_batch(&batch(vec![
            with_release(event(p, 1, "a", T0 + 10_000), Some("1.0")),
            with_release(event(p, 2, "a", T0 + 5_000), Some("1.0")),
            with_release(event(p, 3, "c", T0 + 6_000), None),
            with_release(event(other, 4, "a", T0), Some("1.0")),
        ]))
        .await
        .unwrap();
    let out = store
        .apply_batch(&batch(vec![
            with_release(event(p, 5, "a", T0 + 90_000), Some("2.0")),
            with_release(event(p, 6, "b", T0 + 60_000), Some("2.0")),
            with_release(event(p, 7, "c", T0 + 70_000), Some("2.0")),
            // A duplicate counts nowhere.
            with_release(event(p, 1, "a", T0 + 10_000), Some("1.0")),
        ]))
        .await
        .unwrap();
    assert_eq!(out.duplicates, 1);

    let v1 = release(store, p, "1.0").await;
    assert_eq!(
        (v1.events, v1.new_issues, v1.first_event_ms, v1.last_event_ms),
        (2, 1, Some(T0 + 5_000), Some(T0 + 10_000))
    );
    assert_eq!((v1.first_seen_ms, v1.last_seen_ms), (T0 + 5_000, T0 + 10_000));
    assert_eq!((v1.sessions, v1.users), (0, 0));
    assert_eq!(v1.crash_free_sessions(), None);
    let v2 = release(store, p, "2.0").await;
    assert_eq!(
        (v2.events, v2.new_issues),
        (3, 1),
        "b is new in 2.0; a and c are older"
    );
    assert_eq!(release(store, other, "1.0").await.events, 1, "per project");
    assert_eq!(store.get_release(p, "3.0").await.unwrap(), None);

    let a = first.new_issues[0];
    let introduced: Vec<i64> = store
        .release_new_issues(p, "1.0", 10)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(introduced, vec![a]);
    let in_v2 = store.release_new_issues(p, "2.0", 10).await.unwrap();
    assert_eq!(in_v2.len(), 1);
    assert_eq!(in_v2[0].id, out.new_issues[0]);
    assert!(
        store
            .release_new_issues(other, "2.0", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn releases_are_listed_newest_first_across_pages(store: &dyn Store) {
    let p = project(store, "paged").await;
    let events: Vec<NewEvent> = (0..5u32)
        .map(|n| {
            let v = format!("1.{n}");
            with_release(event(p, n + 1, "a", T0 + i64::from(n % 3) * 1_000), Some(&v))
        })
        .collect();
    store.apply_batch(&batch(events)).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_releases(p, 2, cursor.as_ref()).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|r| (r.first_seen_ms, r.version.clone())));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let versions: Vec<&str> = seen.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(versions.len(), 5, "each once: {versions:?}");
    assert!(
        seen.windows(2).all(|w| w[0].0 >= w[1].0),
        "newest first: {seen:?}"
    );
    assert_eq!(&versions[..1], ["1.2"]);
    assert!(
        store
            .list_releases(p + 100, 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

pub async fn release_health_counts_sessions_and_distinct_users(store: &dyn Store) {
    let p = project(store, "health").await;
    let mut one = health(p, "1.0", T0 + 1_000);
    (one.sessions, one.errored) = (4, 1);
    one.users = vec![(1, false), (2, false)];
    let mut two = health(p, "1.0", T0 + 2_000);
    (two.sessions, two.crashed, two.abnormal) = (1, 1, 1);
    two.users = vec![(2, true), (3, false)];
    store
        .apply_batch(&ProcessedBatch {
            sessions: vec![one, two],
            events: vec![with_release(event(p, 1, "a", T0 + 500), Some("1.0"))],
            ..Default::default()
        })
        .await
        .unwrap();
    let r = release(store, p, "1.0").await;
    assert_eq!(
        (
            r.sessions,
            r.sessions_errored,
            r.sessions_abnormal,
            r.sessions_crashed
        ),
        (5, 1, 1, 1)
    );
    assert_eq!((r.users, r.users_crashed), (3, 1), "user 2 once, crashed");
    assert_eq!((r.first_seen_ms, r.last_seen_ms), (T0 + 500, T0 + 2_000));
    assert_eq!(r.crash_free_sessions(), Some(80.0));

    // Known users are not counted again; a known user whose session crashes now is.
    let mut three = health(p, "1.0", T0 + 3_000);
    (three.sessions, three.crashed) = (2, 1);
    three.users = vec![(1, true), (2, true), (4, false)];
    // A release named only by sessions.
    let mut other = health(p, "2.0", T0 + 4_000);
    other.sessions = 1;
    other.users = vec![(1, false)];
    store
        .apply_batch(&ProcessedBatch {
            sessions: vec![three, other],
            ..Default::default()
        })
        .await
        .unwrap();
    let r = release(store, p, "1.0").await;
    assert_eq!((r.sessions, r.sessions_crashed), (7, 2));
    assert_eq!((r.users, r.users_crashed), (4, 2));
    assert_eq!(r.crash_free_users(), Some(50.0));
    assert_eq!(r.last_seen_ms, T0 + 3_000);
    let only_sessions = release(store, p, "2.0").await;
    assert_eq!(
        (
            only_sessions.events,
            only_sessions.first_event_ms,
            only_sessions.users
        ),
        (0, None, 1)
    );
    assert_eq!(only_sessions.crash_free_users(), Some(100.0));
}

pub async fn retention_deletes_releases_last_seen_before_the_cutoff(store: &dyn Store) {
    let p = project(store, "kept").await;
    let mut old = health(p, "old", T0);
    (old.sessions, old.users) = (1, vec![(1, false), (2, true)]);
    let mut fresh = health(p, "fresh", T0 + 5 * DAY_MS);
    (fresh.sessions, fresh.users) = (1, vec![(1, false)]);
    store
        .apply_batch(&ProcessedBatch {
            sessions: vec![old, fresh],
            ..Default::default()
        })
        .await
        .unwrap();
    let policy = RetentionPolicy {
        event_days: 3,
        delete_batch: 1,
        ..Default::default()
    };
    let report = store.apply_retention(&policy, T0 + 6 * DAY_MS).await.unwrap();
    assert_eq!(report.releases_deleted, 1);
    assert_eq!(store.get_release(p, "old").await.unwrap(), None);
    assert_eq!(release(store, p, "fresh").await.users, 1);
    // Its users went with it: the release starts over when it is seen again.
    let mut again = health(p, "old", T0 + 6 * DAY_MS);
    again.users = vec![(1, false)];
    store
        .apply_batch(&ProcessedBatch {
            sessions: vec![again],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(release(store, p, "old").await.users, 1);
}
