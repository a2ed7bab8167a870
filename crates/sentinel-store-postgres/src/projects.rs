//! Projects and their keys, as on SQLite (`sentinel_store_sql::projects!`).

sentinel_store_sql::projects! {
    db: sqlx::Postgres,
    db_err: crate::db_err,
    begin: |pool| pool.begin(),
}
