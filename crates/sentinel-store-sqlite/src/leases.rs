//! Singleton leases: which node runs a once-per-cluster job. On SQLite there is one node, but the
//! same contract holds (the same statements as on PostgreSQL), so the scheduler does not care
//! which backend it runs on.

sentinel_store_sql::leases! {
    db: sqlx::Sqlite,
    db_err: crate::db_err,
}
