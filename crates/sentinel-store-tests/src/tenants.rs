//! Request rollups: written with a batch, read per window, compacted, kept by retention.

use sentinel_store::{DAY_MS, NewRequestRollup, ProcessedBatch, RetentionPolicy, Store};

use crate::{T0, project};

const MINUTE: i64 = 60_000;

fn rollup(project_id: i64, minute_ms: i64, requests: u64, tag: &[u8]) -> NewRequestRollup {
    NewRequestRollup {
        project_id,
        minute_ms,
        requests,
        counts: [b"counts:", tag].concat(),
        latency: [b"latency:", tag].concat(),
    }
}

async fn write(store: &dyn Store, rows: Vec<NewRequestRollup>) {
    store
        .apply_batch(&ProcessedBatch {
            request_rollups: rows,
            ..Default::default()
        })
        .await
        .unwrap();
}

pub async fn request_rollups_are_written_with_a_batch_read_per_window_and_compacted(store: &dyn Store) {
    let p = project(store, "requests").await;
    let other = project(store, "elsewhere").await;
    let m0 = T0 - T0 % MINUTE;
    write(
        store,
        vec![rollup(p, m0, 10, b"a"), rollup(p, m0 + MINUTE, 5, b"b")],
    )
    .await;
    write(store, vec![rollup(p, m0, 7, b"c"), rollup(other, m0, 1, b"x")]).await;

    // A window reads its own project's minutes, in order; latency only when asked.
    let rows = store
        .request_rollups(p, m0, m0 + 2 * MINUTE, false)
        .await
        .unwrap();
    let got: Vec<(i64, u64, &[u8], usize)> = rows
        .iter()
        .map(|r| (r.minute_ms, r.requests, r.counts.as_slice(), r.latency.len()))
        .collect();
    assert_eq!(
        got,
        [
            (m0, 10, &b"counts:a"[..], 0),
            (m0, 7, &b"counts:c"[..], 0),
            (m0 + MINUTE, 5, &b"counts:b"[..], 0)
        ]
    );
    let with = store
        .request_rollups(p, m0 + MINUTE, m0 + 2 * MINUTE, true)
        .await
        .unwrap();
    assert_eq!(with.len(), 1);
    assert_eq!(with[0].latency, b"latency:b");
    assert!(
        store
            .request_rollups(p, m0 + 2 * MINUTE, m0 + 3 * MINUTE, true)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.request_projects(m0).await.unwrap(), [p, other]);
    assert_eq!(store.request_projects(m0 + MINUTE).await.unwrap(), [p]);

    // Only minutes with several rows need compacting.
    assert_eq!(store.fragmented_request_minutes(m0, 10).await.unwrap(), [(p, m0)]);
    // Minutes before `since` are not looked at.
    assert!(
        store
            .fragmented_request_minutes(m0 + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let ids: Vec<i64> = rows.iter().filter(|r| r.minute_ms == m0).map(|r| r.id).collect();
    let merged = rollup(p, m0, 17, b"ac");
    assert!(store.compact_request_rollups(&ids, &merged).await.unwrap());
    let rows = store.request_rollups(p, m0, m0 + MINUTE, true).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].requests, rows[0].counts.as_slice()),
        (17, &b"counts:ac"[..])
    );
    assert!(store.fragmented_request_minutes(m0, 10).await.unwrap().is_empty());

    // A second compactor with the same (now gone) rows changes nothing.
    assert!(
        !store
            .compact_request_rollups(&ids, &rollup(p, m0, 99, b"late"))
            .await
            .unwrap()
    );
    let rows = store.request_rollups(p, m0, m0 + MINUTE, false).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.requests).collect::<Vec<_>>(), [17]);
    // Nor does one whose rows are only partly there: the merged row would count the rest twice.
    write(store, vec![rollup(p, m0, 3, b"d")]).await;
    let fresh = store.request_rollups(p, m0, m0 + MINUTE, false).await.unwrap();
    let mut partly: Vec<i64> = fresh.iter().map(|r| r.id).collect();
    partly.push(ids[0]);
    assert!(
        !store
            .compact_request_rollups(&partly, &rollup(p, m0, 20, b"x"))
            .await
            .unwrap()
    );
    let rows = store.request_rollups(p, m0, m0 + MINUTE, false).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), 20);
    assert_eq!(rows.len(), 2);
}

pub async fn retention_deletes_request_rollups_past_their_days(store: &dyn Store) {
    let p = project(store, "requests-old").await;
    let now = T0 + 40 * DAY_MS;
    let m = |ms: i64| ms - ms % MINUTE;
    write(
        store,
        vec![
            rollup(p, m(now - 20 * DAY_MS), 1, b"old"),
            rollup(p, m(now - 15 * DAY_MS), 1, b"old"),
            rollup(p, m(now - 13 * DAY_MS), 1, b"kept"),
            rollup(p, m(now), 1, b"kept"),
        ],
    )
    .await;
    let policy = RetentionPolicy {
        request_rollup_days: 14,
        delete_batch: 1,
        ..Default::default()
    };
    let report = store.apply_retention(&policy, now).await.unwrap();
    assert_eq!(report.request_rollups_deleted, 2, "{report:?}");
    let left = store.request_rollups(p, 0, now + MINUTE, false).await.unwrap();
    assert!(left.iter().all(|r| r.counts == b"counts:kept"), "{left:?}");
    assert_eq!(left.len(), 2);
}
