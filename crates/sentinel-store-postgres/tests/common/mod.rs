//! Shared by the PostgreSQL test files: the database URL (or a loud skip), and fresh schemas that
//! are dropped again when the test ends, pass or fail.

use std::sync::Arc;

use sentinel_store::Store;
use sentinel_store_postgres::{PgOptions, PgStore};
use sentinel_store_tests::Harness;

/// `SENTINEL_TEST_DATABASE_URL`, or `None` after saying on stderr that the tests are skipped.
/// In CI (`CI` set) a missing URL fails the test instead: there the tests must really run.
pub fn database_url() -> Option<String> {
    match std::env::var("SENTINEL_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but SENTINEL_TEST_DATABASE_URL is not: PostgreSQL store tests must run in CI"
            );
            eprintln!("SENTINEL_TEST_DATABASE_URL is not set: skipping this PostgreSQL store test");
            None
        }
    }
}

/// A uniquely named schema, dropped (with everything in it) when this value is dropped.
pub struct Schema {
    pub url: String,
    pub name: String,
}

impl Schema {
    pub fn new(url: String) -> Self {
        Self {
            url,
            name: format!("t_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Options for a store on this schema. Its connections carry the schema's name as their
    /// application name, so the clean-up can find them.
    pub fn options(&self) -> PgOptions {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        let mut opts = PgOptions::new(format!("{}{sep}application_name={}", self.url, self.name));
        opts.schema = Some(self.name.clone());
        opts.max_connections = 4;
        opts
    }

    /// A store on this schema, migrated.
    pub async fn store(&self, opts: &PgOptions) -> PgStore {
        let store = PgStore::connect(opts).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: use a runtime of our
        // own on another thread. Best effort: a leftover schema only costs disk space.
        let url = self.url.clone();
        let name = self.name.clone();
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        let dropper = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                // The test's pools cannot run their clean-up while this thread blocks the test's
                // runtime, and a connection left in a transaction would block the DROP.
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                )
                .bind(&name)
                .execute(&mut conn)
                .await?;
                sqlx::query("SET lock_timeout = '30s'").execute(&mut conn).await?;
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await?;
                conn.close().await
            })
            .map_err(std::io::Error::other)
        });
        if let Ok(Err(e)) = dropper.join() {
            eprintln!("could not drop test schema {}: {e}", self.name);
        }
    }
}

/// A fresh, migrated store on its own schema, for the contract suite.
#[allow(dead_code, reason = "used by contract.rs only")]
pub async fn harness() -> Option<Harness> {
    let schema = Schema::new(database_url()?);
    let store = schema.store(&schema.options()).await;
    Some(Harness {
        store: Arc::new(store) as Arc<dyn Store>,
        guard: Box::new(schema),
    })
}
