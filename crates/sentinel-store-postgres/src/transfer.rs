//! Row transfer for `sentinel migrate-data`, generic over the tables of
//! `sentinel_store::transfer::TABLES`: export in key order, import skipping rows whose key exists,
//! and moving the id sequences past imported ids.
//!
//! Table and column names come from those fixed specs (checked against the list, never from
//! input) and are written into the SQL; every value is bound. Column types are read from the
//! catalog, so `Value::Int` becomes a BOOLEAN where the column is one, and NULLs are typed.

use std::collections::{BTreeSet, HashSet};

use sentinel_store::StoreError;
use sentinel_store::transfer::{TABLES, TableSpec, Value};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use crate::partitions::{Family, Partition};
use crate::{PgStore, db_err};

/// PostgreSQL's limit on bind parameters per statement.
const MAX_BINDS: usize = 65_535;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Int,
    Bool,
    Text,
    Bytes,
}

/// Only the tables of the fixed list, so names written into SQL are never input.
fn known(table: &TableSpec) -> Result<&'static TableSpec, StoreError> {
    TABLES
        .iter()
        .find(|t| *t == table)
        .ok_or_else(|| StoreError::Conflict(format!("unknown table {:?} for transfer", table.name)))
}

async fn column_types(store: &PgStore, table: &'static TableSpec) -> Result<Vec<ColType>, StoreError> {
    if let Some(types) = store
        .column_types
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(table.name)
    {
        return Ok(types.clone());
    }
    let rows = sqlx::query(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table.name)
    .fetch_all(&store.pool)
    .await
    .map_err(db_err)?;
    let mut catalog = std::collections::HashMap::new();
    for row in rows {
        let name: String = row.try_get(0).map_err(db_err)?;
        let data_type: String = row.try_get(1).map_err(db_err)?;
        catalog.insert(name, data_type);
    }
    let types = table
        .columns
        .iter()
        .map(|col| match catalog.get(*col).map(String::as_str) {
            Some("bigint" | "integer" | "smallint") => Ok(ColType::Int),
            Some("boolean") => Ok(ColType::Bool),
            Some("text" | "character varying") => Ok(ColType::Text),
            Some("bytea") => Ok(ColType::Bytes),
            Some(other) => Err(StoreError::Corrupt(format!(
                "column {}.{col} has type {other}, which transfer does not handle",
                table.name
            ))),
            None => Err(StoreError::Corrupt(format!(
                "table {} has no column {col} (migrations not applied?)",
                table.name
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    store
        .column_types
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(table.name, types.clone());
    Ok(types)
}

fn decode(row: &PgRow, i: usize, ty: ColType) -> Result<Value, StoreError> {
    let value = match ty {
        ColType::Int => row.try_get::<Option<i64>, _>(i).map_err(db_err)?.map(Value::Int),
        ColType::Bool => row
            .try_get::<Option<bool>, _>(i)
            .map_err(db_err)?
            .map(|b| Value::Int(i64::from(b))),
        ColType::Text => row
            .try_get::<Option<String>, _>(i)
            .map_err(db_err)?
            .map(Value::Text),
        ColType::Bytes => row
            .try_get::<Option<Vec<u8>>, _>(i)
            .map_err(db_err)?
            .map(Value::Blob),
    };
    Ok(value.unwrap_or(Value::Null))
}

fn bind_value<Sep: std::fmt::Display>(
    sep: &mut sqlx::query_builder::Separated<'_, Postgres, Sep>,
    table: &str,
    column: &str,
    ty: ColType,
    value: &Value,
) -> Result<(), StoreError> {
    match (ty, value) {
        (ColType::Int, Value::Int(i)) => sep.push_bind(*i),
        (ColType::Int, Value::Null) => sep.push_bind(None::<i64>),
        (ColType::Bool, Value::Int(i)) => sep.push_bind(*i != 0),
        (ColType::Bool, Value::Null) => sep.push_bind(None::<bool>),
        (ColType::Text, Value::Text(s)) => sep.push_bind(s.as_str()),
        (ColType::Text, Value::Int(i)) => sep.push_bind(i.to_string()),
        (ColType::Text, Value::Null) => sep.push_bind(None::<String>),
        (ColType::Bytes, Value::Blob(b)) => sep.push_bind(b.as_slice()),
        (ColType::Bytes, Value::Text(s)) => sep.push_bind(s.as_bytes()),
        (ColType::Bytes, Value::Null) => sep.push_bind(None::<Vec<u8>>),
        (ty, value) => {
            return Err(StoreError::Conflict(format!(
                "column {table}.{column} ({ty:?}) cannot take {value:?}"
            )));
        }
    };
    Ok(())
}

fn key_types(table: &TableSpec, types: &[ColType]) -> Result<Vec<(usize, ColType)>, StoreError> {
    table
        .key
        .iter()
        .map(|k| {
            table
                .columns
                .iter()
                .position(|c| c == k)
                .map(|i| (i, types[i]))
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("key column {k} is not a column of {}", table.name))
                })
        })
        .collect()
}

/// Key columns as ORDER BY and keyset expressions. Text compares byte-wise (`COLLATE "C"`), as on
/// SQLite and as `Value`'s order does, whatever the database's collation.
fn ordered_keys(table: &TableSpec, keys: &[(usize, ColType)]) -> Vec<String> {
    keys.iter()
        .map(|(i, ty)| match ty {
            ColType::Text => format!("{} COLLATE \"C\"", table.columns[*i]),
            _ => table.columns[*i].to_owned(),
        })
        .collect()
}

pub async fn export_rows(
    store: &PgStore,
    table: &TableSpec,
    after: Option<&[Value]>,
    limit: usize,
) -> Result<Vec<Vec<Value>>, StoreError> {
    let table = known(table)?;
    let types = column_types(store, table).await?;
    let keys = key_types(table, &types)?;
    let key_list = ordered_keys(table, &keys).join(", ");
    let mut qb: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {} FROM {}", table.columns.join(", "), table.name));
    if let Some(after) = after {
        if after.len() != keys.len() {
            return Err(StoreError::Conflict(format!(
                "resume key for {} has {} values, expected {}",
                table.name,
                after.len(),
                keys.len()
            )));
        }
        qb.push(format_args!(" WHERE ({key_list}) > ("));
        let mut sep = qb.separated(", ");
        for ((i, ty), value) in keys.iter().zip(after) {
            bind_value(&mut sep, table.name, table.columns[*i], *ty, value)?;
        }
        qb.push(")");
    }
    qb.push(format_args!(" ORDER BY {key_list} LIMIT "))
        .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
    let rows = qb.build().fetch_all(&store.pool).await.map_err(db_err)?;
    rows.iter()
        .map(|row| {
            types
                .iter()
                .enumerate()
                .map(|(i, ty)| decode(row, i, *ty))
                .collect()
        })
        .collect()
}

pub async fn last_key(store: &PgStore, table: &TableSpec) -> Result<Option<Vec<Value>>, StoreError> {
    let table = known(table)?;
    let types = column_types(store, table).await?;
    let keys = key_types(table, &types)?;
    let desc: Vec<String> = ordered_keys(table, &keys)
        .iter()
        .map(|k| format!("{k} DESC"))
        .collect();
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM {} ORDER BY {} LIMIT 1",
        table.key.join(", "),
        table.name,
        desc.join(", ")
    )))
    .fetch_optional(&store.pool)
    .await
    .map_err(db_err)?;
    row.map(|row| {
        keys.iter()
            .enumerate()
            .map(|(i, (_, ty))| decode(&row, i, *ty))
            .collect()
    })
    .transpose()
}

pub async fn count_rows(store: &PgStore, table: &TableSpec) -> Result<u64, StoreError> {
    let table = known(table)?;
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {}",
        table.name
    )))
    .fetch_one(&store.pool)
    .await
    .map_err(db_err)?;
    Ok(n.max(0) as u64)
}

fn column(table: &TableSpec, name: &str) -> Result<usize, StoreError> {
    table
        .columns
        .iter()
        .position(|c| *c == name)
        .ok_or_else(|| StoreError::Corrupt(format!("{} has no column {name}", table.name)))
}

fn int_at(row: &[Value], i: usize, what: &str) -> Result<i64, StoreError> {
    match row.get(i) {
        Some(Value::Int(v)) => Ok(*v),
        other => Err(StoreError::Conflict(format!(
            "{what} must be an integer, got {other:?}"
        ))),
    }
}

/// Which partitioned family a table is, and the column its partitions are keyed by.
fn partitioning(table: &TableSpec) -> Option<(Family, &'static str)> {
    match table.name {
        "events" => Some((Family::Events, "received_ms")),
        "items" => Some((Family::Items, "received_ms")),
        "rollups_minute" => Some((Family::RollupsMinute, "minute_ms")),
        "rollups_hour" => Some((Family::RollupsHour, "hour_ms")),
        "check_results" => Some((Family::CheckResults, "slot_ms")),
        _ => None,
    }
}

pub async fn import_rows(store: &PgStore, table: &TableSpec, rows: &[Vec<Value>]) -> Result<u64, StoreError> {
    let table = known(table)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let types = column_types(store, table).await?;
    if let Some(bad) = rows.iter().find(|r| r.len() != table.columns.len()) {
        return Err(StoreError::Conflict(format!(
            "a row for {} has {} values, expected {}",
            table.name,
            bad.len(),
            table.columns.len()
        )));
    }
    if let Some((family, col)) = partitioning(table) {
        let i = column(table, col)?;
        let mut wanted: BTreeSet<Partition> = BTreeSet::new();
        for row in rows {
            wanted.insert(family.partition_of(int_at(row, i, col)?)?);
        }
        store.partitions.ensure(&store.pool, wanted).await?;
    }
    let per_statement = (MAX_BINDS / table.columns.len()).max(1);
    let mut tx = store.pool.begin().await.map_err(db_err)?;
    let mut inserted = 0;
    for chunk in rows.chunks(per_statement) {
        let chunk: Vec<&Vec<Value>> = match table.name {
            "events" => new_events(&mut tx, table, chunk).await?,
            "items" | "check_results" => new_items(&mut tx, table, chunk).await?,
            _ => chunk.iter().collect(),
        };
        if chunk.is_empty() {
            continue;
        }
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "INSERT INTO {} ({}) ",
            table.name,
            table.columns.join(", ")
        ));
        let mut failed = None;
        qb.push_values(&chunk, |mut sep, row| {
            for ((col, ty), value) in table.columns.iter().zip(&types).zip(row.iter()) {
                if let Err(e) = bind_value(&mut sep, table.name, col, *ty, value) {
                    failed.get_or_insert(e);
                    sep.push_bind(None::<i64>);
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        match partitioning(table).map(|(f, _)| f) {
            Some(Family::Events | Family::Items) => {}
            // Its id is unique by `new_items` (the primary key includes the slot); its
            // `(monitor_id, slot_ms, region)` by this.
            Some(Family::CheckResults) => {
                qb.push(" ON CONFLICT DO NOTHING");
            }
            _ => {
                qb.push(format_args!(" ON CONFLICT ({}) DO NOTHING", table.key.join(", ")));
            }
        }
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

/// Partitioned tables have no unique id across partitions: skip ids already present (and
/// repeated ones).
async fn existing_ids(
    tx: &mut PgConnection,
    table: &TableSpec,
    ids: &[i64],
) -> Result<HashSet<i64>, StoreError> {
    let found: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {} WHERE id = ANY($1)",
        table.name
    )))
    .bind(ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    Ok(found.into_iter().collect())
}

async fn new_items<'r>(
    tx: &mut PgConnection,
    table: &TableSpec,
    rows: &'r [Vec<Value>],
) -> Result<Vec<&'r Vec<Value>>, StoreError> {
    let id_col = column(table, "id")?;
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| int_at(r, id_col, "id"))
        .collect::<Result<_, _>>()?;
    let mut seen = existing_ids(tx, table, &ids).await?;
    Ok(rows
        .iter()
        .zip(&ids)
        .filter(|(_, id)| seen.insert(**id))
        .map(|(r, _)| r)
        .collect())
}

/// Events not present yet, by id and by `(project_id, event_id)`; their ids are recorded in
/// `event_ids` as a worker would.
async fn new_events<'r>(
    tx: &mut PgConnection,
    table: &TableSpec,
    rows: &'r [Vec<Value>],
) -> Result<Vec<&'r Vec<Value>>, StoreError> {
    let candidates = new_items(tx, table, rows).await?;
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let (p, e, r) = (
        column(table, "project_id")?,
        column(table, "event_id")?,
        column(table, "received_ms")?,
    );
    let mut project_ids = Vec::with_capacity(candidates.len());
    let mut event_ids: Vec<&[u8]> = Vec::with_capacity(candidates.len());
    let mut received = Vec::with_capacity(candidates.len());
    for row in &candidates {
        project_ids.push(int_at(row, p, "project_id")?);
        match &row[e] {
            Value::Blob(b) if b.len() == 16 => event_ids.push(b),
            other => {
                return Err(StoreError::Conflict(format!(
                    "events.event_id must be 16 bytes, got {other:?}"
                )));
            }
        }
        received.push(int_at(row, r, "received_ms")?);
    }
    let fresh = sqlx::query(
        "INSERT INTO event_ids (project_id, event_id, received_ms) \
         SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[]) \
         ON CONFLICT (project_id, event_id) DO NOTHING RETURNING project_id, event_id",
    )
    .bind(&project_ids)
    .bind(&event_ids)
    .bind(&received)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    let mut fresh: HashSet<(i64, Vec<u8>)> = fresh
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db_err)?;
    Ok(candidates
        .into_iter()
        .zip(project_ids.iter().zip(&event_ids))
        .filter(|(_, (p, e))| fresh.remove(&(**p, e.to_vec())))
        .map(|(row, _)| row)
        .collect())
}

/// Moves each table's id sequence past its greatest id (never backwards).
pub async fn finish_import(store: &PgStore) -> Result<(), StoreError> {
    for table in TABLES.iter().filter(|t| t.key == ["id"]) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT setval(s::regclass, m) FROM \
               (SELECT pg_get_serial_sequence($1, 'id') AS s, (SELECT max(id) FROM {}) AS m) x \
             WHERE s IS NOT NULL AND m IS NOT NULL AND m > COALESCE(pg_sequence_last_value(s::regclass), 0)",
            table.name
        )))
        .bind(table.name)
        .fetch_optional(&store.pool)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}
