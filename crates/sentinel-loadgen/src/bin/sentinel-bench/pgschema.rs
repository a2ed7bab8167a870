//! A PostgreSQL schema of its own for one benchmark run: `bench_<random hex>`, created before the
//! server starts and dropped after it stops (unless kept), so runs never see each other's data and
//! nothing is left behind in a shared database.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection, Row};

/// Statements of the bench's own session: creating, measuring and dropping a schema. Bounded so a
/// lock held by a stuck server cannot hang the bench.
const SESSION_SETUP: &str = "SET statement_timeout = '120s'; SET lock_timeout = '60s'";

pub struct BenchSchema {
    url: String,
    pub name: String,
    /// How the server reaches the database, to tell our backends from others.
    pub link: DbLink,
    keep: bool,
    dropped: bool,
}

/// How the server under test connects to PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbLink {
    /// TCP to this port.
    Tcp(u16),
    /// A Unix-domain socket (`host=/var/run/postgresql`).
    Unix,
}

/// How much the schema holds on disk (tables with their indexes and TOAST).
#[derive(Debug, Clone, Default)]
pub struct SchemaSize {
    pub total: u64,
    /// Everything but the inbox, which is empty after a drain but keeps its pages until vacuumed.
    pub without_inbox: u64,
    /// The largest relations (partitions count separately), biggest first.
    pub largest: Vec<(String, u64)>,
}

async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let opts = PgConnectOptions::from_str(url).context("parsing --database-url")?;
    let mut conn = opts
        .application_name("sentinel-bench")
        .connect()
        .await
        .context("connecting to PostgreSQL (--database-url)")?;
    sqlx::raw_sql(SESSION_SETUP)
        .execute(&mut conn)
        .await
        .context("setting the bench session's timeouts")?;
    Ok(conn)
}

/// Only a database on this machine: the benchmarks stay on loopback.
fn local_link(url: &str) -> anyhow::Result<DbLink> {
    let opts = PgConnectOptions::from_str(url).context("parsing --database-url")?;
    if opts.get_socket().is_some() {
        return Ok(DbLink::Unix);
    }
    let host = opts.get_host();
    if host.starts_with('/') {
        return Ok(DbLink::Unix);
    }
    if !matches!(host, "127.0.0.1" | "localhost" | "::1" | "[::1]") {
        bail!(
            "--database-url must point at this machine (127.0.0.1, localhost, ::1 or a socket), not {host}"
        );
    }
    Ok(DbLink::Tcp(opts.get_port()))
}

impl BenchSchema {
    /// Creates a fresh, empty schema with a random name.
    pub async fn create(url: &str, keep: bool) -> anyhow::Result<BenchSchema> {
        let link = local_link(url)?;
        let name = format!("bench_{:016x}", rand::random::<u64>());
        let mut conn = connect(url).await?;
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating schema {name}"))?;
        let _ = conn.close().await;
        eprintln!("PostgreSQL schema {name} created");
        Ok(BenchSchema {
            url: url.to_owned(),
            name,
            link,
            keep,
            dropped: false,
        })
    }

    /// The URL the server is started with.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn size(&self) -> anyhow::Result<SchemaSize> {
        let mut conn = connect(&self.url).await?;
        let rows = sqlx::query(
            "SELECT c.relname::text, pg_total_relation_size(c.oid)::bigint \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'm') ORDER BY 2 DESC",
        )
        .bind(&self.name)
        .fetch_all(&mut conn)
        .await
        .with_context(|| format!("measuring schema {}", self.name))?;
        let _ = conn.close().await;
        let mut size = SchemaSize::default();
        for row in rows {
            let (name, bytes): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
            let bytes = u64::try_from(bytes).unwrap_or(0);
            size.total += bytes;
            if name != "inbox" {
                size.without_inbox += bytes;
            }
            if size.largest.len() < 6 {
                size.largest.push((name, bytes));
            }
        }
        Ok(size)
    }

    /// Drops the schema and everything in it, unless it is to be kept. Call it after the server
    /// processes have exited: their sessions would otherwise hold locks on its tables.
    pub async fn drop_schema(mut self) -> anyhow::Result<()> {
        self.dropped = true;
        if self.keep {
            eprintln!("keeping PostgreSQL schema {}", self.name);
            return Ok(());
        }
        drop_now(&self.url, &self.name).await
    }
}

async fn drop_now(url: &str, name: &str) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut conn = connect(url).await?;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")))
        .execute(&mut conn)
        .await
        .with_context(|| format!("dropping schema {name}"))?;
    let _ = conn.close().await;
    eprintln!(
        "PostgreSQL schema {name} dropped ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

impl Drop for BenchSchema {
    /// A run that failed half-way still removes its schema: on a thread of its own, because this
    /// may run inside the client's runtime.
    fn drop(&mut self) {
        if self.dropped || self.keep {
            return;
        }
        let (url, name) = (self.url.clone(), self.name.clone());
        let cleanup = std::thread::spawn(move || -> anyhow::Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                // The server processes were just killed: give their sessions a moment to end.
                tokio::time::sleep(Duration::from_millis(500)).await;
                drop_now(&url, &name).await
            })
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop PostgreSQL schema {}: {e:#}", self.name),
            Err(_) => eprintln!("could not drop PostgreSQL schema {}", self.name),
        }
    }
}
