//! One typed settings tree: defaults, then an optional TOML file, then `SENTINEL_…` environment
//! variables and command-line flags (applied by the binary). Loading never writes anything.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Directory holding the embedded databases (`sentinel.db`, `inbox.db`).
    pub data_dir: PathBuf,
    /// Address and port the HTTP server listens on (ingest, API and operations share it).
    pub listen: SocketAddr,
    /// Public base URL used in DSNs, including any path prefix, e.g. `https://sentinel.example.com/sentry`.
    /// Default: `http://<listen><path_prefix>`.
    pub public_url: Option<String>,
    /// Path prefix in front of every route (e.g. `/sentry` serves `/sentry/api/1/envelope/`).
    pub path_prefix: String,
    /// What this process does (`--roles`); several processes sharing one PostgreSQL database can
    /// split the roles between them.
    pub roles: Vec<Role>,
    pub database: DatabaseSettings,
    pub ingest: IngestSettings,
    pub worker: WorkerSettings,
    pub storage: StorageSettings,
    pub retention: RetentionSettings,
    pub scheduler: SchedulerSettings,
    pub auth: AuthSettings,
    pub alerts: AlertSettings,
    pub uptime: UptimeSettings,
    pub tenants: TenantSettings,
    /// Outgoing email (alert channels, password resets, invitations); without `host`, no email
    /// is sent.
    pub smtp: SmtpSettings,
    /// Error-event rate limits in addition to those set with `sentinel project set-limit`.
    /// The lowest applicable limit wins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RateLimitRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSettings {
    /// Largest request body accepted as sent on the wire (compressed), bytes.
    pub max_compressed_bytes: usize,
    /// Largest envelope after decompression, bytes.
    pub max_envelope_bytes: usize,
    /// Largest event or transaction item, bytes (Relay: 1 MiB).
    pub max_event_bytes: usize,
    /// Largest check-in item, bytes (Relay: 100 KiB).
    pub max_check_in_bytes: usize,
    /// Largest attachment item, bytes.
    pub max_attachment_bytes: usize,
    /// Unprocessed inbox items above which ingest answers 503 instead of accepting more.
    pub max_inbox_depth: u64,
    /// Ingest requests processed at once; more are answered 503 at once rather than queued.
    pub max_in_flight: usize,
    /// Memory for request bodies (compressed plus decoded) of all in-flight ingest requests, MiB.
    /// A request that would exceed it is answered 503: memory stays bounded under any load.
    pub max_body_memory_mib: usize,
    /// Inbox commits in flight at once. Default: 1 on SQLite (it has one writer), 4 on PostgreSQL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox_writers: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// Inbox items claimed and committed per transaction.
    pub batch_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InboxDurability {
    /// Survives a crash of the process; the last commits can be lost on power failure.
    Normal,
    /// Also survives power failure: one fsync per group commit.
    Full,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    pub inbox_durability: InboxDurability,
    /// SQLite page cache per connection, MiB.
    pub cache_mib: u32,
    /// Events a project needs before a compression dictionary is trained for it.
    pub dictionary_min_events: usize,
    /// How often projects are checked for dictionary training, seconds.
    pub dictionary_check_secs: u64,
}

/// One part of the server a process can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The Sentry ingest endpoints: authenticate, limit, append to the inbox.
    Ingest,
    /// Turns inbox items into events, issues and rollups.
    Worker,
    /// The JSON API.
    Web,
    /// Singleton jobs (retention, partitions, dictionary training, scheduling uptime checks and
    /// judging their results), run by whichever process holds the `scheduler` lease.
    Scheduler,
    /// Runs uptime checks the scheduler queued.
    Checker,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Ingest,
        Role::Worker,
        Role::Web,
        Role::Scheduler,
        Role::Checker,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Worker => "worker",
            Role::Web => "web",
            Role::Scheduler => "scheduler",
            Role::Checker => "checker",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| format!("unknown role {s:?}: expected ingest, worker, web or scheduler"))
    }
}

/// Parses `ingest,worker` (or `all`) into roles, without duplicates, in a fixed order.
pub fn parse_roles(list: &str) -> Result<Vec<Role>, String> {
    if list.trim() == "all" {
        return Ok(Role::ALL.to_vec());
    }
    let mut roles = list
        .split(',')
        .filter(|r| !r.trim().is_empty())
        .map(str::parse)
        .collect::<Result<Vec<Role>, _>>()?;
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        return Err(
            "no roles given: expected a comma-separated list of ingest, worker, web, scheduler".into(),
        );
    }
    Ok(roles)
}

/// A database URL whose password never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, for the database driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Scheme, host, port and database, without user information or parameters.
    pub fn redacted(&self) -> String {
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("", self.0.as_str()));
        let rest = rest.rsplit_once('@').map(|(_, host)| host).unwrap_or(rest);
        let rest = rest.split_once('?').map(|(r, _)| r).unwrap_or(rest);
        format!("{scheme}://{rest}")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/database`; absent means the embedded SQLite database in
    /// `data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<DatabaseUrl>,
    /// PostgreSQL schema to use (created if missing); absent means the user's default (`public`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// PostgreSQL connections per process.
    pub max_connections: u32,
    /// Longest a single PostgreSQL statement may run, milliseconds.
    pub statement_timeout_ms: u64,
    /// Longest a request waits for a free connection before answering 503, milliseconds.
    pub acquire_timeout_ms: u64,
    /// PostgreSQL TLS: disable, prefer, require, verify-ca or verify-full (default: the URL's
    /// `sslmode`, else prefer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_mode: Option<String>,
    /// How long a worker owns the inbox items it claimed; a worker that dies has its items taken
    /// over by another after this, seconds.
    pub inbox_lease_secs: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            schema: None,
            max_connections: 16,
            statement_timeout_ms: 30_000,
            acquire_timeout_ms: 5_000,
            ssl_mode: None,
            inbox_lease_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Days events (and kept transactions, attachments, …) are kept after they were received.
    pub event_days: u32,
    /// Per-project overrides of `event_days`, by project id or slug.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub projects: BTreeMap<String, u32>,
    /// Days per-minute event counts are kept before they are folded into hourly counts.
    pub minute_rollup_days: u32,
    /// Days hourly event counts and ingest outcomes are kept.
    pub hour_rollup_days: u32,
    /// Days raw uptime check results are kept (uptime figures come from rollups, kept longer).
    pub check_result_days: u32,
    /// Days request rollups (tenant rankings, endpoint performance) are kept.
    pub request_rollup_days: u32,
    /// How often the scheduler runs retention, seconds.
    pub interval_secs: u64,
    /// Most rows one delete statement removes, so ingest is never blocked for long.
    pub delete_batch: usize,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            event_days: 90,
            projects: BTreeMap::new(),
            minute_rollup_days: 14,
            hour_rollup_days: 365,
            check_result_days: 30,
            request_rollup_days: 14,
            interval_secs: 3600,
            delete_batch: 2_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerSettings {
    /// How long the scheduler lease lasts without renewal; another process takes over within
    /// this time when the leader dies, seconds.
    pub lease_secs: u64,
    /// Days of time partitions created ahead (PostgreSQL).
    pub partition_days_ahead: u32,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            lease_secs: 30,
            partition_days_ahead: 3,
        }
    }
}

/// Alert evaluation, notification delivery and the instance's self-monitoring rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// How often the leader evaluates threshold rules (issue frequency, event rate, instance
    /// health), seconds.
    pub evaluate_secs: u64,
    /// Delivery attempts per notification before giving up.
    pub max_attempts: u32,
    /// Delay before the first retry, milliseconds; each further retry waits twice as long (with
    /// ±20 % jitter), up to `retry_max_secs`.
    pub retry_base_ms: u64,
    pub retry_max_secs: u64,
    /// How long one delivery may take (HTTP request or SMTP session), seconds.
    pub delivery_timeout_secs: u64,
    /// Notifications delivered at the same time by one process.
    pub concurrency: usize,
    /// Built-in instance rule: the oldest unprocessed inbox item is older than this, seconds.
    pub inbox_lag_secs: u64,
    /// Built-in instance rule: more than this percentage of ingested items rejected over the last
    /// 10 minutes.
    pub rejection_percent: f64,
    /// Built-in instance rule: free space on the data directory's file system under this percentage.
    pub disk_free_percent: f64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            evaluate_secs: 30,
            max_attempts: 8,
            retry_base_ms: 10_000,
            retry_max_secs: 3600,
            delivery_timeout_secs: 15,
            concurrency: 8,
            inbox_lag_secs: 300,
            rejection_percent: 1.0,
            disk_free_percent: 10.0,
        }
    }
}

/// Uptime checks: how this process's checker runs them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UptimeSettings {
    /// Checks one checker process runs at the same time.
    pub concurrency: usize,
    /// The label this checker's results carry (`--region`); empty for a single-site install.
    pub region: String,
    /// A monitors file (see `sentinel monitors apply`) that `serve` applies at start-up, without
    /// pruning; a file with an invalid entry stops the start.
    pub monitors_file: Option<PathBuf>,
}

impl Default for UptimeSettings {
    fn default() -> Self {
        Self {
            concurrency: 512,
            region: String::new(),
            monitors_file: None,
        }
    }
}

/// Tenant detection: where the tenant of a request comes from, for the inputs that do not name
/// it directly (the batch endpoint's records carry `tenant_id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// The tag (or span attribute) of Sentry transactions and spans holding the tenant; `user.id`
    /// is used when it is missing.
    pub tenant_tag: String,
    /// OTLP span then resource attributes holding the tenant, first found wins.
    pub otlp_tenant_attributes: Vec<String>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            tenant_tag: "tenant_id".into(),
            otlp_tenant_attributes: vec!["tenant.id".into(), "tenant_id".into(), "enduser.id".into()],
        }
    }
}

/// How TLS is used with the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server does not offer it.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: only for a relay on the same host or a test server.
    None,
}

/// A password that never shows in `Debug` output, logs or `config example`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"[redacted]\""
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "[redacted]" })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// SMTP server host name; empty: email is off.
    pub host: String,
    /// Default: 587 with `starttls`, 465 with `tls`, 25 with `none`.
    pub port: Option<u16>,
    pub tls: SmtpTls,
    /// Sign-in user name and password; empty: no authentication. `SENTINEL_SMTP_PASSWORD` sets the
    /// password without writing it into the file.
    pub username: String,
    pub password: Secret,
    /// Sender address, e.g. `Sentinel <sentinel@example.com>`.
    pub from: String,
    /// A PEM file of extra CA certificates to trust (an internal CA or a self-signed server).
    pub ca_file: Option<PathBuf>,
    /// Connection and command timeout, seconds.
    pub timeout_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: None,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: Secret::default(),
            from: "Sentinel <sentinel@localhost>".into(),
            ca_file: None,
            timeout_secs: 15,
        }
    }
}

impl SmtpSettings {
    pub fn enabled(&self) -> bool {
        !self.host.is_empty()
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }
}

/// Accounts, sessions and the management API's limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// How long a dashboard sign-in lasts without activity, days.
    pub session_days: u32,
    /// Lifetime of access tokens from `/api/auth/login` and `/api/auth/refresh`, minutes.
    pub access_token_minutes: u32,
    /// Lifetime of refresh tokens (each is single-use: refreshing rotates it), days.
    pub refresh_token_days: u32,
    /// Lifetime of password reset links, minutes.
    pub reset_token_minutes: u32,
    /// Lifetime of invitation links, days.
    pub invitation_days: u32,
    /// Failed sign-ins allowed per client address, and per account, in `login_window_minutes`;
    /// further attempts answer 429 until the window ends.
    pub login_attempts: u32,
    pub login_window_minutes: u32,
    /// Management API requests per minute per client address, for requests without valid
    /// credentials (sign-in, refresh, bad tokens).
    pub api_per_ip_per_minute: u32,
    /// Management API requests per minute per authenticated user (or instance token).
    pub api_per_user_per_minute: u32,
    /// Take the client address from the first `X-Forwarded-For` entry (only behind a trusted
    /// reverse proxy that sets it).
    pub trust_forwarded_for: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            session_days: 14,
            access_token_minutes: 15,
            refresh_token_days: 7,
            reset_token_minutes: 60,
            invitation_days: 7,
            login_attempts: 10,
            login_window_minutes: 15,
            api_per_ip_per_minute: 100,
            api_per_user_per_minute: 1000,
            trust_forwarded_for: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRule {
    /// Project id the rule applies to.
    pub project: i64,
    /// Public key the rule applies to; absent means the whole project.
    #[serde(default)]
    pub key: Option<String>,
    pub events_per_minute: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./sentinel-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            public_url: None,
            path_prefix: String::new(),
            roles: Role::ALL.to_vec(),
            database: DatabaseSettings::default(),
            ingest: IngestSettings::default(),
            worker: WorkerSettings::default(),
            storage: StorageSettings::default(),
            retention: RetentionSettings::default(),
            scheduler: SchedulerSettings::default(),
            auth: AuthSettings::default(),
            alerts: AlertSettings::default(),
            uptime: UptimeSettings::default(),
            tenants: TenantSettings::default(),
            smtp: SmtpSettings::default(),
            rate_limits: Vec::new(),
        }
    }
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            max_compressed_bytes: 20 << 20,
            max_envelope_bytes: 50 << 20,
            max_event_bytes: 1 << 20,
            max_check_in_bytes: 100 << 10,
            max_attachment_bytes: 20 << 20,
            max_inbox_depth: 1_000_000,
            max_in_flight: 1024,
            max_body_memory_mib: 256,
            inbox_writers: None,
        }
    }
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self { batch_size: 1000 }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            inbox_durability: InboxDurability::Normal,
            cache_mib: 8,
            dictionary_min_events: 250,
            dictionary_check_secs: 10,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting {field}: {message}")]
    Invalid { field: &'static str, message: String },
}

impl Settings {
    /// Defaults overlaid with the TOML file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Checks cross-field rules; call after every source has been applied.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.path_prefix.is_empty()
            && (!self.path_prefix.starts_with('/') || self.path_prefix.ends_with('/'))
        {
            return Err(ConfigError::Invalid {
                field: "path_prefix",
                message: format!(
                    "{:?} must start with '/' and not end with '/', e.g. \"/sentry\"",
                    self.path_prefix
                ),
            });
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                field: "public_url",
                message: format!("{url:?} must start with http:// or https://"),
            });
        }
        if self.storage.dictionary_min_events < 20 {
            return Err(ConfigError::Invalid {
                field: "storage.dictionary_min_events",
                message: "must be at least 20 (zstd needs samples to train on)".into(),
            });
        }
        if self.worker.batch_size == 0 {
            return Err(ConfigError::Invalid {
                field: "worker.batch_size",
                message: "must be at least 1".into(),
            });
        }
        if self.ingest.max_body_memory_mib * 1024 * 1024 < self.ingest.max_compressed_bytes {
            return Err(ConfigError::Invalid {
                field: "ingest.max_body_memory_mib",
                message: "must hold at least one request of ingest.max_compressed_bytes".into(),
            });
        }
        if self.roles.is_empty() {
            return Err(ConfigError::Invalid {
                field: "roles",
                message: "at least one of ingest, worker, web, scheduler".into(),
            });
        }
        if let Some(url) = &self.database.url
            && !(url.expose().starts_with("postgres://") || url.expose().starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                field: "database.url",
                message: format!(
                    "{url} must start with postgres:// (without it, SQLite in data_dir is used)"
                ),
            });
        }
        let days = std::iter::once(("retention.event_days", self.retention.event_days)).chain(
            self.retention
                .projects
                .values()
                .map(|d| ("retention.projects", *d)),
        );
        for (field, d) in days {
            if d == 0 {
                return Err(ConfigError::Invalid {
                    field,
                    message: "must be at least 1 day".into(),
                });
            }
        }
        if self.retention.minute_rollup_days == 0
            || self.retention.hour_rollup_days < self.retention.minute_rollup_days
        {
            return Err(ConfigError::Invalid {
                field: "retention.hour_rollup_days",
                message:
                    "minute_rollup_days must be at least 1 and hour_rollup_days at least minute_rollup_days"
                        .into(),
            });
        }
        if self.retention.delete_batch == 0 || self.retention.interval_secs == 0 {
            return Err(ConfigError::Invalid {
                field: "retention.delete_batch",
                message: "delete_batch and interval_secs must be at least 1".into(),
            });
        }
        if self.scheduler.lease_secs < 3 || self.database.inbox_lease_secs < 3 {
            return Err(ConfigError::Invalid {
                field: "scheduler.lease_secs",
                message: "scheduler.lease_secs and database.inbox_lease_secs must be at least 3 seconds"
                    .into(),
            });
        }
        if self.ingest.inbox_writers == Some(0) {
            return Err(ConfigError::Invalid {
                field: "ingest.inbox_writers",
                message: "must be at least 1".into(),
            });
        }
        let a = &self.auth;
        if [
            a.session_days,
            a.access_token_minutes,
            a.refresh_token_days,
            a.reset_token_minutes,
            a.invitation_days,
            a.login_attempts,
            a.login_window_minutes,
            a.api_per_ip_per_minute,
            a.api_per_user_per_minute,
        ]
        .contains(&0)
        {
            return Err(ConfigError::Invalid {
                field: "auth",
                message: "every lifetime and limit must be at least 1".into(),
            });
        }
        if self.ingest.max_in_flight == 0 {
            return Err(ConfigError::Invalid {
                field: "ingest.max_in_flight",
                message: "must be at least 1".into(),
            });
        }
        let al = &self.alerts;
        if [
            al.evaluate_secs,
            u64::from(al.max_attempts),
            al.retry_base_ms,
            al.retry_max_secs,
            al.delivery_timeout_secs,
        ]
        .contains(&0)
            || al.concurrency == 0
        {
            return Err(ConfigError::Invalid {
                field: "alerts",
                message: "every interval, count and timeout must be at least 1".into(),
            });
        }
        let percents = [
            ("alerts.rejection_percent", al.rejection_percent),
            ("alerts.disk_free_percent", al.disk_free_percent),
        ];
        for (field, p) in percents {
            if !(0.0..=100.0).contains(&p) {
                return Err(ConfigError::Invalid {
                    field,
                    message: format!("{p} is not a percentage from 0 to 100"),
                });
            }
        }
        if self.uptime.concurrency == 0 {
            return Err(ConfigError::Invalid {
                field: "uptime.concurrency",
                message: "must be at least 1".into(),
            });
        }
        if !self.uptime.region.is_empty() && !valid_region(&self.uptime.region) {
            return Err(ConfigError::Invalid {
                field: "uptime.region",
                message: format!(
                    "{:?} must be a label of up to 64 letters, digits, '-', '_' or '.', e.g. \"eu-west\"",
                    self.uptime.region
                ),
            });
        }
        Ok(())
    }

    /// The base URL SDKs reach this server at, without a trailing slash.
    pub fn public_base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}{}", self.listen, self.path_prefix),
        }
    }

    /// Whether the dashboard is reached over https (cookies then get `Secure`).
    pub fn is_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    /// The DSN for a project key: `http://<key>@<host>[:port][/prefix]/<project id>`.
    pub fn dsn(&self, public_key: &str, project_id: i64) -> String {
        let base = self.public_base_url();
        let (scheme, rest) = base.split_once("://").unwrap_or(("http", base.as_str()));
        format!("{scheme}://{public_key}@{rest}/{project_id}")
    }

    /// A commented example configuration with every default.
    pub fn example() -> String {
        let defaults = toml::to_string_pretty(&Settings::default()).unwrap_or_default();
        let mut out = String::from(
            "# Sentinel configuration. Every value shown is the default; delete what you don't change.\n\
             # Precedence: defaults < this file (--config / SENTINEL_CONFIG) < SENTINEL_* variables < flags.\n\
             # PostgreSQL instead of the embedded SQLite database: in [database], set\n\
             # url = \"postgres://sentinel:secret@db.internal:5432/sentinel\" (or --database-url), and\n\
             # optionally schema = \"sentinel\" and ssl_mode = \"require\".\n\n",
        );
        for line in defaults.lines() {
            let key = line.split_once(" = ").map(|(k, _)| k.trim());
            if let Some(doc) = key
                .and_then(|k| FIELD_DOCS.iter().find(|(name, _)| *name == k))
                .map(|(_, d)| d)
            {
                out.push_str(&format!("# {doc}\n"));
            }
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(
            "\n# Rate limits for error events, per project or per key (the lowest applicable wins):\n\
             # [[rate_limits]]\n\
             # project = 1\n\
             # events_per_minute = 600\n\
             # [[rate_limits]]\n\
             # project = 1\n\
             # key = \"0123456789abcdef0123456789abcdef\"\n\
             # events_per_minute = 100\n\
             \n## Keep one project's events for a different number of days (by project id or slug):\n\
             # [retention.projects]\n\
             # checkout = 30\n\
",
        );
        out
    }
}

/// One line of documentation per field, for `sentinel config example`.
const FIELD_DOCS: &[(&str, &str)] = &[
    ("data_dir", "Directory holding the embedded databases."),
    (
        "listen",
        "Address and port for ingest, API and operations endpoints.",
    ),
    (
        "public_url",
        "Base URL in DSNs, path prefix included (default: http://<listen><path_prefix>).",
    ),
    ("path_prefix", "Prefix in front of every route, e.g. \"/sentry\"."),
    (
        "max_compressed_bytes",
        "Largest request body as sent (compressed), bytes.",
    ),
    (
        "max_envelope_bytes",
        "Largest envelope after decompression, bytes.",
    ),
    ("max_event_bytes", "Largest event or transaction item, bytes."),
    ("max_check_in_bytes", "Largest check-in item, bytes."),
    ("max_attachment_bytes", "Largest attachment item, bytes."),
    (
        "max_inbox_depth",
        "Unprocessed items above which ingest answers 503.",
    ),
    (
        "max_in_flight",
        "Ingest requests handled at once; more get 503 immediately.",
    ),
    (
        "max_body_memory_mib",
        "Memory for in-flight request bodies (compressed + decoded), MiB; beyond it 503.",
    ),
    ("batch_size", "Inbox items processed per worker transaction."),
    (
        "roles",
        "What this process runs: ingest, worker, web, scheduler (--roles ingest,web).",
    ),
    (
        "max_connections",
        "PostgreSQL connections per process (database.url = \"postgres://…\" selects PostgreSQL).",
    ),
    (
        "statement_timeout_ms",
        "Longest one PostgreSQL statement may run, ms.",
    ),
    (
        "acquire_timeout_ms",
        "Longest a request waits for a database connection before 503, ms.",
    ),
    (
        "inbox_lease_secs",
        "A dead worker's claimed items are taken over by another after this, seconds.",
    ),
    ("event_days", "Days events are kept after they were received."),
    (
        "minute_rollup_days",
        "Days per-minute counts are kept before folding into hourly counts.",
    ),
    (
        "hour_rollup_days",
        "Days hourly counts and ingest outcomes are kept.",
    ),
    ("interval_secs", "How often retention runs, seconds."),
    (
        "delete_batch",
        "Most rows one retention delete statement removes.",
    ),
    (
        "lease_secs",
        "Scheduler lease; another process takes over this long after the leader died, seconds.",
    ),
    (
        "partition_days_ahead",
        "Days of PostgreSQL time partitions created ahead.",
    ),
    (
        "inbox_durability",
        "\"normal\" survives a process crash; \"full\" also power loss (fsync per commit).",
    ),
    ("cache_mib", "SQLite page cache per connection, MiB."),
    (
        "dictionary_min_events",
        "Events a project needs before a compression dictionary is trained for it.",
    ),
    (
        "dictionary_check_secs",
        "How often projects are checked for dictionary training, seconds.",
    ),
];

/// A checker region label: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
pub fn valid_region(label: &str) -> bool {
    (1..=64).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_back_to_the_defaults() {
        let parsed: Settings = toml::from_str(&Settings::example()).unwrap();
        assert_eq!(parsed.listen, Settings::default().listen);
        assert_eq!(parsed.ingest.max_event_bytes, 1 << 20);
    }

    #[test]
    fn the_commented_rate_limit_example_parses_when_uncommented() {
        let example = Settings::example();
        let (head, tail) = example.split_once("# Rate limits").unwrap();
        let uncommented: String = tail
            .lines()
            .skip(1)
            .map(|l| format!("{}\n", l.trim_start_matches("# ")))
            .collect();
        let parsed: Settings = toml::from_str(&format!("{head}{uncommented}")).unwrap();
        assert_eq!(parsed.rate_limits.len(), 2);
        assert_eq!(parsed.retention.projects.get("checkout"), Some(&30));
        assert_eq!(
            parsed.rate_limits[1].key.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
    }

    #[test]
    fn roles_parse_from_a_list_or_all() {
        assert_eq!(parse_roles("all").unwrap(), Role::ALL.to_vec());
        assert_eq!(
            parse_roles("web,ingest,web").unwrap(),
            vec![Role::Ingest, Role::Web]
        );
        let err = parse_roles("ingest,verifier").unwrap_err();
        assert!(err.contains("\"verifier\""), "{err}");
        assert!(parse_roles(" , ").is_err());
    }

    #[test]
    fn database_urls_never_show_their_password() {
        let url = DatabaseUrl::new(
            "postgres://sentinel:s3cret@db.internal:5432/sentinel?sslmode=require&password=x",
        );
        let settings = Settings {
            database: DatabaseSettings {
                url: Some(url.clone()),
                ..DatabaseSettings::default()
            },
            ..Settings::default()
        };
        for shown in [format!("{url}"), format!("{url:?}"), format!("{settings:?}")] {
            assert!(
                !shown.contains("s3cret") && !shown.contains("password=x"),
                "{shown}"
            );
        }
        assert_eq!(url.redacted(), "postgres://db.internal:5432/sentinel");
        assert!(settings.validate().is_ok());
        let mysql = Settings {
            database: DatabaseSettings {
                url: Some(DatabaseUrl::new("mysql://db/x")),
                ..DatabaseSettings::default()
            },
            ..Settings::default()
        };
        assert!(mysql.validate().unwrap_err().to_string().contains("database.url"));
    }

    #[test]
    fn alert_settings_refuse_zero_counts_and_impossible_percentages_and_smtp_passwords_stay_hidden() {
        assert!(Settings::default().validate().is_ok());
        let mut s = Settings::default();
        s.alerts.max_attempts = 0;
        assert!(s.validate().unwrap_err().to_string().contains("alerts"));
        let mut s = Settings::default();
        s.alerts.disk_free_percent = 150.0;
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("alerts.disk_free_percent")
        );
        let mut s = Settings::default();
        s.smtp.password = Secret::new("hunter22");
        for shown in [format!("{s:?}"), toml::to_string(&s).unwrap()] {
            assert!(!shown.contains("hunter22"), "{shown}");
        }
    }

    #[test]
    fn dsn_includes_path_prefix_and_port() {
        let s = Settings {
            listen: "127.0.0.1:4321".parse().unwrap(),
            path_prefix: "/sentry".into(),
            ..Settings::default()
        };
        assert_eq!(s.dsn("abc", 7), "http://abc@127.0.0.1:4321/sentry/7");
        let s = Settings {
            public_url: Some("https://errors.example.com/x/".into()),
            ..s
        };
        assert_eq!(s.dsn("abc", 7), "https://abc@errors.example.com/x/7");
    }

    #[test]
    fn unknown_config_keys_are_rejected_with_their_name() {
        let err = toml::from_str::<Settings>("listn = \"1.2.3.4:5\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listn"), "{err}");
    }

    #[test]
    fn bad_path_prefix_is_rejected() {
        let s = Settings {
            path_prefix: "sentry/".into(),
            ..Settings::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("path_prefix"));
    }
}
