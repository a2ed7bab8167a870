//! The `sentinel` binary: command-line parsing and wiring, nothing else. This is the only place
//! that names a storage backend.

mod backend;
mod migrate_data;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use sentinel_server::clock::{Clock, SystemClock};
use sentinel_server::config::{DatabaseUrl, Settings, parse_roles};
use sentinel_store::Store;

use crate::backend::Location;

// mimalloc: measurably less CPU than glibc malloc for the many short-lived buffers of the ingest
// path (see docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Concurrent inbox commits on PostgreSQL unless configured (SQLite has one writer connection).
const POSTGRES_INBOX_WRITERS: usize = 4;

/// Sentinel: self-hosted, Sentry-compatible error tracking, performance, tenant and uptime monitoring.
#[derive(Debug, Parser)]
#[command(name = "sentinel", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// Directory holding the embedded database [default: ./sentinel-data]
    #[arg(long, global = true, env = "SENTINEL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL database to use instead of the embedded one: postgres://user:password@host/db
    #[arg(long, global = true, env = "SENTINEL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Optional TOML config file (see `sentinel config example`)
    #[arg(long, global = true, env = "SENTINEL_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9000]
    #[arg(long, global = true, env = "SENTINEL_LISTEN")]
    listen: Option<SocketAddr>,
    /// Public base URL used in DSNs, path prefix included [default: http://<listen><path-prefix>]
    #[arg(long, global = true, env = "SENTINEL_PUBLIC_URL")]
    public_url: Option<String>,
    /// Path prefix in front of every route, e.g. /sentry
    #[arg(long, global = true, env = "SENTINEL_PATH_PREFIX")]
    path_prefix: Option<String>,
    /// Log format: json or text
    #[arg(long, global = true, env = "SENTINEL_LOG_FORMAT", default_value = "json")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: ingest, workers, API and operations endpoints on one port
    Serve {
        /// Roles of this process, comma-separated: ingest, worker, web, scheduler [default: all]
        #[arg(long, env = "SENTINEL_ROLES")]
        roles: Option<String>,
    },
    /// Copy all data from one database to another (e.g. the embedded SQLite to PostgreSQL);
    /// resumable, verified by row counts
    MigrateData {
        /// Source: a SQLite data directory (or its sentinel.db) or a postgres:// URL
        #[arg(long)]
        from: String,
        /// Target: a postgres:// URL (or a SQLite data directory); should be empty or a partial copy
        #[arg(long)]
        to: String,
    },
    /// Apply database migrations and exit
    Migrate,
    /// Manage projects
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Configuration helpers
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Send realistic SDK-shaped events to a running server through the real ingest path
    Seed(SeedArgs),
}

#[derive(Debug, Subcommand)]
enum ProjectCommand {
    /// Create a project; prints its DSN alone on the last line
    Create {
        /// Display name; the slug is derived from it
        name: String,
    },
    /// List projects with their DSNs
    List,
    /// Set or remove the error-event rate limit of a project or one of its keys
    SetLimit {
        /// Project id
        project: i64,
        /// Events per minute; 0 or "none" removes the limit
        per_minute: String,
        /// Apply the limit to this public key instead of the whole project
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an instance-admin API token; prints it alone on the last line (shown only once)
    Create {
        /// A name to recognise the token by
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a commented configuration file with every default
    Example,
}

#[derive(Debug, Args)]
struct SeedArgs {
    /// Number of events to send
    #[arg(long, default_value_t = 1000)]
    events: u64,
    /// DSN of the project to send to (default: the first project's DSN)
    #[arg(long, env = "SENTINEL_DSN")]
    dsn: Option<String>,
    /// Concurrent connections
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

fn settings(g: &Global) -> anyhow::Result<Settings> {
    let mut s = match &g.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    if let Some(d) = &g.data_dir {
        s.data_dir = d.clone();
    }
    if let Some(l) = g.listen {
        s.listen = l;
    }
    if let Some(u) = &g.public_url {
        s.public_url = Some(u.clone());
    }
    if let Some(p) = &g.path_prefix {
        s.path_prefix = p.clone();
    }
    if let Some(u) = &g.database_url {
        s.database.url = Some(DatabaseUrl::new(u.clone()));
    }
    s.validate()?;
    Ok(s)
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SENTINEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

async fn open_store(s: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    backend::open(&Location::of(s), s).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logs(cli.global.log_format);
    let mut s = settings(&cli.global)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Serve { roles } => {
            if let Some(r) = roles {
                s.roles = parse_roles(&r).map_err(|e| anyhow::anyhow!("--roles: {e}"))?;
            }
            let location = Location::of(&s);
            if s.ingest.inbox_writers.is_none() && matches!(location, Location::Postgres(_)) {
                s.ingest.inbox_writers = Some(POSTGRES_INBOX_WRITERS);
            }
            let _lock = match &location {
                Location::Sqlite(dir) => Some(backend::lock_data_dir(dir)?),
                Location::Postgres(_) => None,
            };
            tracing::info!(database = %location.describe(), "opening the database");
            let store = backend::open(&location, &s).await?;
            let server = sentinel_server::Server::start(s, store.clone(), clock).await?;
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests and the current batch");
            server.shutdown().await?;
            store.close().await;
            tracing::info!("stopped");
        }
        Command::Migrate => {
            open_store(&s).await?;
            println!("migrations applied to the {}", Location::of(&s).describe());
        }
        Command::MigrateData { from, to } => {
            let (from, to) = (
                Location::parse(&from, &s.database),
                Location::parse(&to, &s.database),
            );
            // The source must not change while it is copied.
            let _lock = match &from {
                Location::Sqlite(dir) => {
                    if !dir.join("sentinel.db").exists() {
                        bail!(
                            "--from: no Sentinel database in {} (expected sentinel.db)",
                            dir.display()
                        );
                    }
                    Some(backend::lock_data_dir(dir).context("stop the server before copying its data")?)
                }
                Location::Postgres(_) => None,
            };
            eprintln!("copying from the {} to the {}", from.describe(), to.describe());
            let source = backend::open(&from, &s).await?;
            let target = backend::open(&to, &s).await?;
            let report = migrate_data::run(source.as_ref(), target.as_ref()).await?;
            println!("table\tsource rows\ttarget rows\tcopied now");
            let total: u64 = report.iter().map(|r| r.target_rows).sum();
            for r in &report {
                println!("{}\t{}\t{}\t{}", r.table, r.source_rows, r.target_rows, r.copied);
            }
            println!(
                "verified: {total} rows in {} tables match the source",
                report.len()
            );
            source.close().await;
            target.close().await;
        }
        Command::Project(ProjectCommand::Create { name }) => {
            let store = open_store(&s).await?;
            let (project, key) = store
                .create_project(
                    "default",
                    name.trim(),
                    &sentinel_server::api::new_public_key(),
                    clock.now_ms(),
                )
                .await?;
            println!(
                "created project {} ({}) with id {}",
                project.name, project.slug, project.id
            );
            println!("{}", s.dsn(&key.public_key, project.id));
        }
        Command::Project(ProjectCommand::List) => {
            let store = open_store(&s).await?;
            for p in store.list_projects().await? {
                let keys = store.project_keys(p.id).await?;
                let dsn = keys
                    .iter()
                    .find(|k| k.active)
                    .map(|k| s.dsn(&k.public_key, p.id))
                    .unwrap_or_default();
                let limit = p
                    .rate_limit_per_minute
                    .map(|l| format!("{l}/min"))
                    .unwrap_or_else(|| "unlimited".into());
                println!("{}\t{}\t{}\t{}\t{}", p.id, p.slug, p.name, limit, dsn);
            }
        }
        Command::Project(ProjectCommand::SetLimit {
            project,
            per_minute,
            key,
        }) => {
            let limit = match per_minute.as_str() {
                "none" | "0" => None,
                v => Some(v.parse::<u32>().with_context(|| {
                    format!("invalid limit {v:?}: expected events per minute (a whole number) or \"none\"")
                })?),
            };
            let store = open_store(&s).await?;
            if store.get_project(project).await?.is_none() {
                bail!("project {project} does not exist (see `sentinel project list`)");
            }
            match &key {
                Some(k) => {
                    let found = store.find_key(k).await?;
                    if found.map(|f| f.project_id) != Some(project) {
                        bail!("key {k} does not belong to project {project}");
                    }
                    store.set_key_rate_limit(k, limit).await?;
                }
                None => store.set_project_rate_limit(project, limit).await?,
            }
            let what = key
                .map(|k| format!("key {k}"))
                .unwrap_or_else(|| format!("project {project}"));
            match limit {
                Some(l) => println!("{what}: at most {l} error events per minute (applies within 10 s)"),
                None => println!("{what}: no rate limit"),
            }
        }
        Command::Token(TokenCommand::Create { name }) => {
            let store = open_store(&s).await?;
            let token = sentinel_server::api::new_token();
            let created = store
                .create_api_token(&name, &sentinel_server::api::token_hash(&token), clock.now_ms())
                .await?;
            println!(
                "created {} token {:?} (id {}); it is shown only this once:",
                created.scope, created.name, created.id
            );
            println!("{token}");
        }
        Command::Config(ConfigCommand::Example) => print!("{}", Settings::example()),
        Command::Seed(args) => {
            let dsn = match args.dsn {
                Some(d) => d,
                None => {
                    let store = open_store(&s).await?;
                    let p = store.list_projects().await?.into_iter().next().context(
                        "no project exists: create one with `sentinel project create NAME` or pass --dsn",
                    )?;
                    let key = store
                        .project_keys(p.id)
                        .await?
                        .into_iter()
                        .find(|k| k.active)
                        .context("no active key")?;
                    s.dsn(&key.public_key, p.id)
                }
            };
            if args.concurrency == 0 {
                bail!("--concurrency must be at least 1");
            }
            let report = sentinel_loadgen::seed(&dsn, args.events, args.concurrency)
                .await
                .with_context(|| format!("seeding {dsn}"))?;
            println!("{report}");
            if report.failed > 0 {
                bail!(
                    "{} of {} events could not be delivered",
                    report.failed,
                    args.events
                );
            }
        }
    }
    Ok(())
}
