//! Row transfer for `sentinel migrate-data`: keyset-paged export in key order, idempotent import,
//! and moving id generators past imported ids.
//!
//! Table and column names come from the fixed [`transfer::TABLES`] (a spec is checked against it
//! before use), so they are written into the SQL; values are always bound.

use sentinel_store::StoreError;
use sentinel_store::transfer::{self, TableSpec, Value};
use sqlx::query_builder::Separated;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, TypeInfo, ValueRef};

use crate::db_err;

/// Binds per INSERT statement, well below SQLite's variable limit.
const BINDS_PER_STATEMENT: usize = 4_000;

/// Where a table's rows are read: the inbox lives in its own file, and only its items after the
/// worker cursor are rows (the ones up to it are processed and about to be deleted).
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub pool: &'a SqlitePool,
    pub after_id: Option<i64>,
}

/// The spec from [`transfer::TABLES`] equal to `table`, so only fixed names reach the SQL.
pub fn known(table: &TableSpec) -> Result<&'static TableSpec, StoreError> {
    match transfer::table(table.name) {
        Some(spec) if spec == table => Ok(spec),
        _ => Err(StoreError::Conflict(format!(
            "unknown table {:?}: expected one of {}",
            table.name,
            transfer::TABLES
                .iter()
                .map(|t| t.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn sql_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn push_value(sep: &mut Separated<'_, Sqlite, &'static str>, value: &Value) {
    match value {
        Value::Null => sep.push_bind(None::<i64>),
        Value::Int(v) => sep.push_bind(*v),
        Value::Text(v) => sep.push_bind(v.clone()),
        Value::Blob(v) => sep.push_bind(v.clone()),
    };
}

/// ` WHERE id > cursor` for the inbox, then `(k1, k2, …) > (…)` after a key.
fn push_filter(
    qb: &mut QueryBuilder<Sqlite>,
    src: Source<'_>,
    spec: &TableSpec,
    after: Option<&[Value]>,
) -> Result<(), StoreError> {
    let mut conj = " WHERE ";
    if let Some(id) = src.after_id {
        qb.push(conj).push("id > ").push_bind(id);
        conj = " AND ";
    }
    if let Some(after) = after {
        if after.len() != spec.key.len() {
            return Err(StoreError::Conflict(format!(
                "a key of {} has {} values ({}), got {}",
                spec.name,
                spec.key.len(),
                spec.key.join(", "),
                after.len()
            )));
        }
        qb.push(conj).push(format_args!("({}) > (", spec.key.join(", ")));
        let mut sep = qb.separated(", ");
        for v in after {
            push_value(&mut sep, v);
        }
        qb.push(")");
    }
    Ok(())
}

/// A column as the value it holds, by its runtime type (SQLite columns are not strictly typed).
fn value(row: &SqliteRow, i: usize) -> Result<Value, StoreError> {
    let raw = row.try_get_raw(i).map_err(db_err)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().name().to_owned();
    match kind.as_str() {
        "INTEGER" => Ok(Value::Int(row.try_get(i).map_err(db_err)?)),
        "TEXT" => Ok(Value::Text(row.try_get(i).map_err(db_err)?)),
        "BLOB" => Ok(Value::Blob(row.try_get(i).map_err(db_err)?)),
        other => Err(StoreError::Corrupt(format!(
            "column {i} holds a {other} value, which no table stores"
        ))),
    }
}

fn values(row: &SqliteRow) -> Result<Vec<Value>, StoreError> {
    (0..row.len()).map(|i| value(row, i)).collect()
}

pub async fn export(
    src: Source<'_>,
    table: &TableSpec,
    after: Option<&[Value]>,
    limit: usize,
) -> Result<Vec<Vec<Value>>, StoreError> {
    let spec = known(table)?;
    let mut qb: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("SELECT {} FROM {}", spec.columns.join(", "), spec.name));
    push_filter(&mut qb, src, spec, after)?;
    qb.push(format_args!(" ORDER BY {} LIMIT ", spec.key.join(", ")))
        .push_bind(sql_limit(limit));
    let rows = qb.build().fetch_all(src.pool).await.map_err(db_err)?;
    rows.iter().map(values).collect()
}

pub async fn last_key(src: Source<'_>, table: &TableSpec) -> Result<Option<Vec<Value>>, StoreError> {
    let spec = known(table)?;
    let mut qb: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("SELECT {} FROM {}", spec.key.join(", "), spec.name));
    push_filter(&mut qb, src, spec, None)?;
    let descending: Vec<String> = spec.key.iter().map(|k| format!("{k} DESC")).collect();
    qb.push(format_args!(" ORDER BY {} LIMIT 1", descending.join(", ")));
    let row = qb.build().fetch_optional(src.pool).await.map_err(db_err)?;
    row.as_ref().map(values).transpose()
}

pub async fn count(src: Source<'_>, table: &TableSpec) -> Result<u64, StoreError> {
    let spec = known(table)?;
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!("SELECT count(*) FROM {}", spec.name));
    push_filter(&mut qb, src, spec, None)?;
    let n: i64 = qb
        .build_query_scalar()
        .fetch_one(src.pool)
        .await
        .map_err(db_err)?;
    Ok(n.max(0) as u64)
}

/// Inserts `rows` in one transaction, skipping rows whose key (or any unique column) exists;
/// returns how many were new. For the inbox, `processed_through` is the worker cursor: processed
/// items not deleted yet are deleted first, so every inbox row left is an imported or pending one.
pub async fn import(
    pool: &SqlitePool,
    table: &TableSpec,
    rows: &[Vec<Value>],
    processed_through: Option<i64>,
) -> Result<u64, StoreError> {
    let spec = known(table)?;
    if let Some(bad) = rows.iter().find(|r| r.len() != spec.columns.len()) {
        return Err(StoreError::Conflict(format!(
            "a row of {} has {} values ({}), got {}",
            spec.name,
            spec.columns.len(),
            spec.columns.join(", "),
            bad.len()
        )));
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    if let Some(cursor) = processed_through {
        sqlx::query("DELETE FROM inbox WHERE id <= $1")
            .bind(cursor)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    let mut inserted = 0;
    for chunk in rows.chunks((BINDS_PER_STATEMENT / spec.columns.len()).max(1)) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "INSERT INTO {} ({}) ",
            spec.name,
            spec.columns.join(", ")
        ));
        qb.push_values(chunk, |mut b, row| {
            for v in row {
                push_value(&mut b, v);
            }
        });
        qb.push(" ON CONFLICT DO NOTHING");
        inserted += qb
            .build()
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
    }
    tx.commit().await.map_err(db_err)?;
    Ok(inserted)
}

/// Makes the inbox's AUTOINCREMENT counter at least its greatest id and the worker cursor, so new
/// items always get ids after both.
pub async fn advance_inbox_sequence(inbox: &SqlitePool, cursor: i64) -> Result<(), StoreError> {
    let mut tx = inbox.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let floor: i64 = sqlx::query_scalar("SELECT max(coalesce(max(id), 0), $1) FROM inbox")
        .bind(cursor)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    let updated = sqlx::query("UPDATE sqlite_sequence SET seq = max(seq, $1) WHERE name = 'inbox'")
        .bind(floor)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    if updated == 0 && floor > 0 {
        sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ('inbox', $1)")
            .bind(floor)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}
