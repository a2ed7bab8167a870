//! Copying between two SQLite stores, which the contract suite (one store per check) cannot do:
//! an interrupted copy resumed from the target's last keys gives a store that reads the same, and
//! the target's inbox and id generators carry on after the imported rows.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed step is a failed test"
)]

use sentinel_store::transfer::{TABLES, TableSpec, Value};
use sentinel_store::{IssueQuery, ProcessedBatch, Store, StoreError};
use sentinel_store_sqlite::{SqliteOptions, SqliteStore};
use tempfile::TempDir;

async fn store() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&SqliteOptions::new(dir.path()))
        .await
        .expect("open sqlite");
    store.migrate().await.expect("migrate");
    (store, dir)
}

fn key_of(table: &TableSpec, row: &[Value]) -> Vec<Value> {
    table
        .key
        .iter()
        .map(|k| row[table.columns.iter().position(|c| c == k).expect("key column")].clone())
        .collect()
}

/// Copies `table` from `after` on in pages of `page`, at most `pages` pages; returns rows copied.
async fn copy(from: &dyn Store, to: &dyn Store, table: &TableSpec, page: usize, pages: usize) -> usize {
    let mut after = to.last_key(table).await.unwrap();
    let mut copied = 0;
    for _ in 0..pages {
        let rows = from.export_rows(table, after.as_deref(), page).await.unwrap();
        let Some(last) = rows.last() else { break };
        after = Some(key_of(table, last));
        assert_eq!(
            to.import_rows(table, &rows).await.unwrap(),
            rows.len() as u64,
            "{}: every row is new",
            table.name
        );
        copied += rows.len();
    }
    copied
}

#[tokio::test]
async fn an_interrupted_copy_resumed_reads_the_same() {
    let (src, _a) = store().await;
    let (dst, _b) = store().await;
    sentinel_store_tests::populate_every_table(&src).await;
    for table in TABLES {
        copy(&src, &dst, table, 2, 1).await;
    }
    for table in TABLES {
        copy(&src, &dst, table, 2, usize::MAX).await;
        assert_eq!(
            dst.export_rows(table, None, 10_000).await.unwrap(),
            src.export_rows(table, None, 10_000).await.unwrap(),
            "{}",
            table.name
        );
    }
    dst.finish_import().await.unwrap();

    assert_eq!(
        dst.list_projects().await.unwrap(),
        src.list_projects().await.unwrap()
    );
    for project in src.list_projects().await.unwrap() {
        let query = IssueQuery {
            project_id: project.id,
            limit: 100,
            ..Default::default()
        };
        let issues = src.list_issues(&query).await.unwrap();
        assert_eq!(dst.list_issues(&query).await.unwrap(), issues);
        for issue in &issues.items {
            assert_eq!(
                dst.issue_tags(issue.id, 10).await.unwrap(),
                src.issue_tags(issue.id, 10).await.unwrap()
            );
            let events = src.list_issue_events(issue.id, 100, None).await.unwrap();
            assert_eq!(dst.list_issue_events(issue.id, 100, None).await.unwrap(), events);
        }
    }
    let pending = src.inbox_claim(100).await.unwrap();
    assert_eq!(dst.inbox_claim(100).await.unwrap(), pending);

    // The target carries on: the imported items are processed, new ones get later ids.
    dst.apply_batch(&ProcessedBatch {
        acknowledged: pending.iter().map(|c| c.id).collect(),
        ..Default::default()
    })
    .await
    .unwrap();
    dst.inbox_append(&[pending[0].item.clone()]).await.unwrap();
    let fresh = dst.inbox_claim(10).await.unwrap();
    assert_eq!(fresh.len(), 1);
    assert!(fresh[0].id > pending.last().expect("pending items").id);
    let (project, _) = dst
        .create_project(
            "default",
            "after copy",
            "other",
            "abcdefabcdefabcdefabcdefabcdefab",
            0,
        )
        .await
        .unwrap();
    assert!(
        src.list_projects()
            .await
            .unwrap()
            .iter()
            .all(|p| p.id < project.id)
    );
}

#[tokio::test]
async fn imported_inbox_items_at_or_below_the_cursor_are_pending_again() {
    let (src, _a) = store().await;
    let (dst, _b) = store().await;
    sentinel_store_tests::populate_every_table(&src).await;
    let inbox = sentinel_store::transfer::table("inbox").expect("inbox table");
    let rows = src.export_rows(inbox, None, 100).await.unwrap();
    // The target already processed items with these ids (its own, now deleted).
    let own: Vec<_> = src
        .inbox_claim(100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.item)
        .collect();
    dst.inbox_append(&[own.clone(), own].concat()).await.unwrap();
    let claimed = dst.inbox_claim(100).await.unwrap();
    dst.apply_batch(&ProcessedBatch {
        acknowledged: claimed.iter().map(|c| c.id).collect(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(dst.count_rows(inbox).await.unwrap(), 0);

    assert_eq!(dst.import_rows(inbox, &rows).await.unwrap(), rows.len() as u64);
    dst.finish_import().await.unwrap();
    assert_eq!(dst.count_rows(inbox).await.unwrap(), rows.len() as u64);
    let again = dst.inbox_claim(100).await.unwrap();
    assert_eq!(again, src.inbox_claim(100).await.unwrap());
    dst.inbox_append(&[again[0].item.clone()]).await.unwrap();
    let newest = dst.inbox_claim(100).await.unwrap().last().map(|c| c.id);
    assert!(newest > claimed.last().map(|c| c.id), "ids are never reused");
}

#[tokio::test]
async fn only_the_fixed_tables_and_well_formed_keys_are_accepted() {
    let (store, _dir) = store().await;
    let forged = TableSpec {
        name: "issues",
        columns: &["id", "title; DROP TABLE issues"],
        key: &["id"],
    };
    assert!(matches!(
        store.export_rows(&forged, None, 10).await,
        Err(StoreError::Conflict(_))
    ));
    let issues = sentinel_store::transfer::table("issues").expect("issues table");
    assert!(matches!(
        store
            .export_rows(issues, Some(&[Value::Int(1), Value::Int(2)]), 10)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.import_rows(issues, &[vec![Value::Int(1)]]).await,
        Err(StoreError::Conflict(_))
    ));
}
