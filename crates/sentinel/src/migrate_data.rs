//! `sentinel migrate-data`: copies every table from one store to another (typically the embedded
//! SQLite database to PostgreSQL), in key order and in chunks, each chunk one transaction in the
//! target. Re-running it resumes after the last key the target holds; at the end the row counts of
//! both sides are compared table by table.

use std::time::Instant;

use anyhow::{Context, bail};
use sentinel_store::Store;
use sentinel_store::transfer::{TABLES, TableSpec};

const CHUNK: usize = 500;

/// One table's result.
#[derive(Debug)]
pub struct Copied {
    pub table: &'static str,
    pub copied: u64,
    pub source_rows: u64,
    pub target_rows: u64,
}

/// Copies all tables; fails if the counts differ at the end.
pub async fn run(from: &dyn Store, to: &dyn Store) -> anyhow::Result<Vec<Copied>> {
    let mut report = Vec::new();
    for table in TABLES {
        let started = Instant::now();
        let copied = copy_table(from, to, table)
            .await
            .with_context(|| format!("copying table {}", table.name))?;
        eprintln!(
            "{:<18} {:>10} rows copied in {:.1} s",
            table.name,
            copied,
            started.elapsed().as_secs_f64()
        );
        report.push(Copied {
            table: table.name,
            copied,
            source_rows: 0,
            target_rows: 0,
        });
    }
    to.finish_import().await.context("finishing the import")?;
    let mut mismatched = Vec::new();
    for (row, table) in report.iter_mut().zip(TABLES) {
        row.source_rows = from.count_rows(table).await?;
        row.target_rows = to.count_rows(table).await?;
        if row.source_rows != row.target_rows {
            mismatched.push(format!(
                "{}: {} rows in the source, {} in the target",
                table.name, row.source_rows, row.target_rows
            ));
        }
    }
    if !mismatched.is_empty() {
        bail!(
            "the copy does not match (was the target empty, and was the source server stopped?):\n  {}",
            mismatched.join("\n  ")
        );
    }
    Ok(report)
}

async fn copy_table(from: &dyn Store, to: &dyn Store, table: &TableSpec) -> anyhow::Result<u64> {
    // Resume: everything up to the target's greatest key was copied by an earlier run.
    let mut after = to.last_key(table).await?;
    let mut copied = 0;
    loop {
        let rows = from.export_rows(table, after.as_deref(), CHUNK).await?;
        let Some(last) = rows.last() else { break };
        let key: Vec<_> = table
            .key
            .iter()
            .map(|k| {
                let i = table
                    .columns
                    .iter()
                    .position(|c| c == k)
                    .context("key column missing from the table spec")?;
                Ok(last[i].clone())
            })
            .collect::<anyhow::Result<_>>()?;
        copied += to.import_rows(table, &rows).await?;
        after = Some(key);
        if rows.len() < CHUNK {
            break;
        }
    }
    Ok(copied)
}
