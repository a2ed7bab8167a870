//! Choosing and opening the storage backend: PostgreSQL when a database URL is configured, the
//! embedded SQLite database in the data directory otherwise.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use sentinel_server::config::{DatabaseSettings, InboxDurability, Settings};
use sentinel_store::Store;
use sentinel_store_postgres::{PgOptions, PgStore};
use sentinel_store_sqlite::{Durability, SqliteOptions, SqliteStore};

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(PgOptions),
}

impl Location {
    pub fn of(settings: &Settings) -> Self {
        match &settings.database.url {
            Some(url) => Location::Postgres(pg_options(url.expose(), &settings.database)),
            None => Location::Sqlite(settings.data_dir.clone()),
        }
    }

    /// A `--from`/`--to` argument: a postgres:// URL, or a SQLite data directory (or the path of
    /// its `sentinel.db`).
    pub fn parse(arg: &str, db: &DatabaseSettings) -> Self {
        if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
            return Location::Postgres(pg_options(arg, db));
        }
        let path = Path::new(arg.strip_prefix("sqlite://").unwrap_or(arg));
        let dir = if path.file_name().is_some_and(|f| f == "sentinel.db") {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            path.to_path_buf()
        };
        Location::Sqlite(dir)
    }

    /// For messages: the data directory, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(dir) => format!("SQLite database in {}", dir.display()),
            Location::Postgres(o) => {
                format!("PostgreSQL at {}", sentinel_store_postgres::redact_url(&o.url))
            }
        }
    }
}

fn pg_options(url: &str, db: &DatabaseSettings) -> PgOptions {
    let mut o = PgOptions::new(url);
    o.max_connections = db.max_connections;
    o.statement_timeout_ms = db.statement_timeout_ms;
    o.acquire_timeout_ms = db.acquire_timeout_ms;
    o.ssl_mode = db.ssl_mode.clone();
    o.inbox_lease_ms = (db.inbox_lease_secs * 1000) as i64;
    o.schema = db.schema.clone();
    o
}

/// Opens the store at `location` and applies pending migrations.
pub async fn open(location: &Location, settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let what = location.describe();
    let store: Arc<dyn Store> = match location {
        Location::Sqlite(dir) => {
            let mut opts = SqliteOptions::new(dir);
            opts.inbox_durability = match settings.storage.inbox_durability {
                InboxDurability::Normal => Durability::Normal,
                InboxDurability::Full => Durability::Full,
            };
            opts.cache_kib = settings.storage.cache_mib * 1024;
            Arc::new(
                SqliteStore::open(&opts)
                    .await
                    .with_context(|| format!("opening the {what}"))?,
            )
        }
        Location::Postgres(opts) => Arc::new(
            PgStore::connect(opts)
                .await
                .with_context(|| format!("connecting to {what}"))?,
        ),
    };
    store
        .migrate()
        .await
        .with_context(|| format!("applying migrations to the {what}"))?;
    Ok(store)
}

/// SQLite is single-node: only one server process may write a data directory. Returns the held
/// lock (released when dropped); CLI commands may still run beside the server.
pub fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("serve.lock");
    let file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    if file.try_lock().is_err() {
        bail!(
            "another `sentinel serve` is already using {}: the embedded SQLite database is single-node \
             (one server process per data directory, whatever its roles). To run several processes or \
             split roles across machines, use PostgreSQL (--database-url postgres://…) and move the data \
             with `sentinel migrate-data`.",
            dir.display()
        );
    }
    Ok(file)
}
