//! The storage contract suite on the embedded SQLite backend.
#![expect(clippy::expect_used, reason = "a backend that cannot start fails the test")]

use std::sync::Arc;

use sentinel_store::Store;
use sentinel_store_sqlite::{SqliteOptions, SqliteStore};
use sentinel_store_tests::{Harness, contract_tests};

async fn sqlite() -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&SqliteOptions::new(dir.path()))
        .await
        .expect("open sqlite");
    store.migrate().await.expect("migrate");
    Harness {
        store: Arc::new(store),
        guard: Box::new(dir),
    }
}

contract_tests!(sqlite());
