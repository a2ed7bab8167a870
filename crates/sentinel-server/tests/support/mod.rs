//! Helpers shared by the full-stack test binaries of this crate: the store under test (a fresh
//! SQLite data dir, or a fresh PostgreSQL schema when `SENTINEL_TEST_BACKEND=postgres`) and
//! credentials seeded into it. Include with `mod support;`.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]
#![expect(clippy::unwrap_used, reason = "test helpers fail the test by panicking")]

pub mod api;
pub mod dns;
pub mod hook;
pub mod smtp;
pub mod web;

use std::sync::Arc;

use sentinel_store::{NewApiToken, Store, TokenScope};
use sentinel_store_postgres::{PgOptions, PgStore};
use sentinel_store_sqlite::{SqliteOptions, SqliteStore};
use sqlx::Connection;

/// A PostgreSQL schema of one test, dropped (after ending its connections) when the test ends.
pub struct PgSchema {
    url: String,
    name: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                )
                .bind(&name)
                .execute(&mut conn)
                .await
                .ok()?;
                // The name is generated below from hex digits only.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(&mut conn)
                .await
                .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test schema {}", self.name);
        }
    }
}

/// The store under test, fresh and migrated.
pub async fn open_store(dir: &std::path::Path) -> (Arc<dyn Store>, Option<PgSchema>) {
    if std::env::var("SENTINEL_TEST_BACKEND").as_deref() != Ok("postgres") {
        let store = SqliteStore::open(&SqliteOptions::new(dir)).await.unwrap();
        store.migrate().await.unwrap();
        return (Arc::new(store), None);
    }
    let url = std::env::var("SENTINEL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| panic!("SENTINEL_TEST_BACKEND=postgres needs SENTINEL_TEST_DATABASE_URL"));
    let name = format!("srv_{:016x}", rand::random::<u64>());
    let sep = if url.contains('?') { '&' } else { '?' };
    let mut opts = PgOptions::new(format!("{url}{sep}application_name={name}"));
    opts.schema = Some(name.clone());
    let guard = PgSchema { url, name };
    let store = PgStore::connect(&opts).await.unwrap();
    store.migrate().await.unwrap();
    (Arc::new(store), Some(guard))
}

/// Stores `token` as an admin-scoped instance token (no user), like `sentinel token create`.
pub async fn instance_token(store: &dyn Store, token: &str) {
    store
        .create_api_token(
            &NewApiToken {
                name: "test".into(),
                token_sha256: sentinel_server::api::token_hash(token),
                user_id: None,
                scope: TokenScope::Admin,
            },
            0,
        )
        .await
        .unwrap();
}
