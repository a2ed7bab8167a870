//! Singleton leases: which node runs a once-per-cluster job. The same statements as on SQLite;
//! `expires_ms` is measured with the caller's clock.

sentinel_store_sql::leases! {
    db: sqlx::Postgres,
    db_err: crate::db_err,
}
