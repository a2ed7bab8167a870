//! The `sentinel` binary: command-line parsing and wiring, nothing else. This is the only place
//! that names a storage backend.

mod backend;
mod migrate_data;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use sentinel_server::api::input;
use sentinel_server::auth::password;
use sentinel_server::clock::{Clock, SystemClock};
use sentinel_server::config::{DatabaseUrl, Settings, parse_roles};
use sentinel_server::uptime::as_code::{self, MonitorsFile};
use sentinel_store::{NewApiToken, NewUser, Store, TokenScope};

use crate::backend::Location;

// The system allocator, not mimalloc: mimalloc v3 held about twice the memory under load for
// about 9 % more accepted envelopes and the same end-to-end rate (docs/PERFORMANCE.md, "Allocator").

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
        /// Roles of this process, comma-separated: ingest, worker, web, scheduler, checker [default: all]
        #[arg(long, env = "SENTINEL_ROLES")]
        roles: Option<String>,
        /// The label this process's uptime checks carry (`uptime.region`), e.g. eu-west
        #[arg(long, env = "SENTINEL_REGION")]
        region: Option<String>,
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
    /// Manage user accounts
    #[command(subcommand)]
    User(UserCommand),
    /// Manage projects
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Uptime monitors as code
    #[command(subcommand)]
    Monitors(MonitorsCommand),
    /// Which tenant is it? Rank a project's tenants by share of 5xx, error rate or latency
    ///
    /// Reads the request rollups of the configured database (the server need not run on this
    /// machine, only reach the same database).
    Top {
        /// The project: its id, its slug, or ORG/SLUG when slugs repeat across organizations
        #[arg(long)]
        project: String,
        /// How far back: minutes or hours, e.g. 5m, 10m, 1h (at most 24h)
        #[arg(long, default_value = "10m")]
        window: String,
        /// errors (share of all 5xx), error_rate (Wilson lower bound) or latency (p95 against
        /// the tenant's baseline)
        #[arg(long, default_value = "errors")]
        by: String,
        /// How many tenants
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Print JSON (the API's ranking) instead of text
        #[arg(long)]
        json: bool,
    },
    /// Configuration helpers
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Fill a project with a month of realistic errors, sent through the real ingest path
    ///
    /// Python, Node, browser and Rust errors over the past days, with a daily rhythm, deployments
    /// that each bring a release and a burst of a new error, a regression and an incident.
    Seed(SeedArgs),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user (password from SENTINEL_PASSWORD or one line of stdin)
    ///
    /// The password is read from SENTINEL_PASSWORD or, if that is unset, from one line of standard
    /// input (not echoed on a terminal). The first user ever created becomes instance admin and
    /// owner of the `default` organization, its projects and the instance tokens made before it.
    Create {
        /// Sign-in email address
        email: String,
        /// Display name [default: the part of the email before @]
        #[arg(long)]
        name: Option<String>,
        /// Make the user an instance admin (sees and manages every organization)
        #[arg(long)]
        admin: bool,
    },
    /// List users
    List,
    /// Print a single-use password reset link (valid `auth.reset_token_minutes`)
    ResetPassword {
        /// Email address of the user
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum ProjectCommand {
    /// Create a project; prints its DSN alone on the last line
    Create {
        /// Display name; the slug is derived from it
        name: String,
        /// Organization slug; it must exist once user accounts exist
        #[arg(long, default_value = "default")]
        org: String,
        /// SDK platform: python, node, javascript, rust, go, java, php, ruby, dotnet, … [default: other]
        #[arg(long)]
        platform: Option<String>,
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
    /// Create an API token; prints it alone on the last line (shown only once)
    Create {
        /// A name to recognise the token by
        name: String,
        /// Make it a personal token of this user (acting with the user's roles); without it, an
        /// instance token that acts as an instance admin
        #[arg(long)]
        user: Option<String>,
        /// What the token may do: read (GET only), write (also issue work) or admin (everything)
        #[arg(long, default_value = "admin")]
        scope: String,
    },
}

#[derive(Debug, Subcommand)]
enum MonitorsCommand {
    /// Make the uptime monitors of the projects a TOML file names match it
    ///
    /// Creates the monitors the file lists that are missing, updates those that differ and leaves
    /// the others alone, matching them by project and slug; prints one line per change (`+`
    /// created, `~` updated, `-` deleted) and a summary. Every entry is validated as the API would
    /// first: one invalid entry and nothing is applied. See docs/UPTIME.md, "Monitors as code".
    Apply {
        /// The monitors file: [[monitor]] tables with a `project` and the API's monitor fields
        file: PathBuf,
        /// Also delete the monitors of the projects the file names that it no longer lists
        /// (cron monitors, made by SDK check-ins, are kept)
        #[arg(long)]
        prune: bool,
        /// Print what would change without changing anything
        #[arg(long)]
        dry_run: bool,
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
    /// How many days back the events go (at most 30: the server replaces older event times by the
    /// time it receives them)
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// DSN of the project to send to (default: the first project's DSN)
    #[arg(long, env = "SENTINEL_DSN")]
    dsn: Option<String>,
    /// Seed of the plan, printed at the end of every run: the same seed sends the same events
    /// [default: random]
    #[arg(long)]
    seed: Option<u64>,
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
    // The SMTP password stays out of config files and process listings.
    if let Ok(p) = std::env::var("SENTINEL_SMTP_PASSWORD")
        && !p.is_empty()
    {
        s.smtp.password = sentinel_server::config::Secret::new(p);
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
        Command::Serve { roles, region } => {
            if let Some(r) = region {
                s.uptime.region = r;
            }
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
            if let Some(path) = &s.uptime.monitors_file {
                let file = read_monitors_file(path)?;
                let plan = as_code::apply(store.as_ref(), clock.as_ref(), &file, false, false)
                    .await
                    .with_context(|| format!("applying uptime.monitors_file {}", path.display()))?;
                tracing::info!(
                    file = %path.display(),
                    created = plan.created.len(),
                    updated = plan.updated.len(),
                    unchanged = plan.unchanged.len(),
                    "monitors file applied"
                );
            }
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
        Command::User(command) => user_command(command, &s, clock.as_ref()).await?,
        Command::Project(ProjectCommand::Create { name, org, platform }) => {
            let org = input::slug(&org).context("--org")?;
            let platform = platform
                .as_deref()
                .map(input::platform)
                .transpose()
                .context("--platform")?;
            let store = open_store(&s).await?;
            // Before accounts exist, `project create` makes the organization (the first admin
            // takes it over); afterwards organizations are made by their owners.
            if store.get_organization(&org).await?.is_none() && store.count_users().await? > 0 {
                bail!(
                    "organization {org:?} does not exist; create it in the dashboard or with \
                     POST /api/0/organizations/"
                );
            }
            let (project, key) = store
                .create_project(
                    &org,
                    name.trim(),
                    platform.as_deref().unwrap_or("other"),
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
        Command::Token(TokenCommand::Create { name, user, scope }) => {
            let name = input::name("the token name", &name)?;
            let scope: TokenScope = scope
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--scope: {e}"))?;
            let store = open_store(&s).await?;
            let owner = match &user {
                Some(email) => Some(
                    store
                        .find_user_by_email(&input::email(email)?)
                        .await?
                        .with_context(|| format!("no user {email} (see `sentinel user list`)"))?,
                ),
                None => None,
            };
            let token = sentinel_server::api::new_token();
            let created = store
                .create_api_token(
                    &NewApiToken {
                        name,
                        token_sha256: sentinel_server::api::token_hash(&token),
                        user_id: owner.as_ref().map(|u| u.id),
                        scope,
                    },
                    clock.now_ms(),
                )
                .await?;
            let whose = match &owner {
                Some(u) => format!("personal token of {}", u.email),
                None => "instance token".to_owned(),
            };
            println!(
                "created {} {whose} {:?} (id {}); it is shown only this once:",
                created.scope.as_str(),
                created.name,
                created.id
            );
            println!("{token}");
        }
        Command::Monitors(MonitorsCommand::Apply { file, prune, dry_run }) => {
            let monitors = read_monitors_file(&file)?;
            let store = open_store(&s).await?;
            let plan = as_code::apply(store.as_ref(), clock.as_ref(), &monitors, prune, dry_run)
                .await
                .with_context(|| format!("applying {}", file.display()))?;
            for line in plan.change_lines() {
                println!("{line}");
            }
            let note = if dry_run {
                " (dry run: nothing changed)"
            } else {
                ""
            };
            println!("{}{note}", plan.summary());
            store.close().await;
        }
        Command::Top {
            project,
            window,
            by,
            limit,
            json,
        } => {
            use sentinel_server::tenants::{api, report};
            let window_ms = api::parse_window(&window).map_err(anyhow::Error::msg)?;
            let by = by.parse().map_err(anyhow::Error::msg)?;
            anyhow::ensure!((1..=100).contains(&limit), "--limit must be from 1 to 100");
            let store = open_store(&s).await?;
            let project = report::find_project(store.as_ref(), &project).await?;
            let out = api::RankingJson::read(
                store.as_ref(),
                project.id,
                clock.now_ms(),
                window,
                window_ms,
                by,
                limit,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!("{}", report::render(&out.ranking, &out.window));
            }
            store.close().await;
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
            let opts = sentinel_loadgen::SeedOptions {
                dsn: dsn.clone(),
                events: args.events,
                days: args.days,
                seed: args.seed,
                concurrency: args.concurrency,
            };
            let report = sentinel_loadgen::seed(&opts)
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

async fn user_command(command: UserCommand, s: &Settings, clock: &dyn Clock) -> anyhow::Result<()> {
    match command {
        UserCommand::Create { email, name, admin } => {
            let email = input::email(&email)?;
            let name = match name {
                Some(n) => input::name("--name", &n)?,
                None => email.split('@').next().unwrap_or_default().to_owned(),
            };
            let password_hash = password::hash(read_password(&email)?).await?;
            let store = open_store(s).await?;
            let new = NewUser {
                email,
                name,
                password_hash,
                is_admin: admin,
            };
            if store.count_users().await? == 0 {
                let user = store.create_first_admin(&new, clock.now_ms()).await?;
                println!(
                    "created {} (id {}), the first user: instance admin and owner of the \
                     `default` organization and of every project and token made before",
                    user.email, user.id
                );
            } else {
                let user = store.create_user(&new, clock.now_ms()).await?;
                let what = if user.is_admin { "instance admin" } else { "user" };
                println!(
                    "created {what} {} (id {}); add them to organizations from the dashboard or API",
                    user.email, user.id
                );
            }
        }
        UserCommand::List => {
            let store = open_store(s).await?;
            println!("id\temail\tname\tadmin\torganizations");
            for u in store.list_users().await? {
                let orgs: Vec<String> = store
                    .user_memberships(u.id)
                    .await?
                    .into_iter()
                    .map(|m| format!("{}:{}", m.organization.slug, m.role))
                    .collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    u.id,
                    u.email,
                    u.name,
                    if u.is_admin { "admin" } else { "-" },
                    orgs.join(",")
                );
            }
        }
        UserCommand::ResetPassword { email } => {
            let store = open_store(s).await?;
            let user = store
                .find_user_by_email(&input::email(&email)?)
                .await?
                .with_context(|| format!("no user {email} (see `sentinel user list`)"))?;
            let link = sentinel_server::api::sessions::reset_link(store.as_ref(), s, user.id, clock.now_ms())
                .await?;
            println!(
                "single-use password reset link for {}, valid {} minutes:",
                user.email, s.auth.reset_token_minutes
            );
            println!("{link}");
        }
    }
    Ok(())
}

/// A monitors file, read and checked for shape (its entries are validated when applied).
fn read_monitors_file(path: &std::path::Path) -> anyhow::Result<MonitorsFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    MonitorsFile::parse(&text).with_context(|| format!("reading {}", path.display()))
}

/// The new user's password: `SENTINEL_PASSWORD`, else one line of standard input (not echoed
/// when it is a terminal).
fn read_password(email: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};

    if let Ok(p) = std::env::var("SENTINEL_PASSWORD")
        && !p.is_empty()
    {
        password::validate(&p).context("SENTINEL_PASSWORD")?;
        return Ok(p);
    }
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    if tty {
        eprint!("password for {email}: ");
        let _ = std::io::stderr().flush();
        set_echo(false);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if tty {
        set_echo(true);
        eprintln!();
    }
    read.context("reading the password from standard input")?;
    let p = line.trim_end_matches(['\r', '\n']).to_owned();
    if p.is_empty() {
        bail!(
            "no password given: set SENTINEL_PASSWORD or write the password as one line on \
             standard input (at least {} characters)",
            password::MIN_LEN
        );
    }
    password::validate(&p)?;
    Ok(p)
}

/// Turns terminal echo off or on with `stty`; without it the password is echoed (still accepted).
fn set_echo(on: bool) {
    let _ = std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status();
}
