//! Projects and their keys, as on PostgreSQL (`sentinel_store_sql::projects!`); only the
//! transaction start is SQLite's.

sentinel_store_sql::projects! {
    db: sqlx::Sqlite,
    db_err: crate::db_err,
    // Takes the write lock up front, so the transaction never fails upgrading a read lock.
    begin: |pool| pool.begin_with("BEGIN IMMEDIATE"),
}
