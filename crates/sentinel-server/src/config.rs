//! One typed settings tree: defaults, then an optional TOML file, then `SENTINEL_…` environment
//! variables and command-line flags (applied by the binary). Loading never writes anything.

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
    pub ingest: IngestSettings,
    pub worker: WorkerSettings,
    pub storage: StorageSettings,
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
            ingest: IngestSettings::default(),
            worker: WorkerSettings::default(),
            storage: StorageSettings::default(),
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
        if self.ingest.max_in_flight == 0 {
            return Err(ConfigError::Invalid {
                field: "ingest.max_in_flight",
                message: "must be at least 1".into(),
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
             # Precedence: defaults < this file (--config / SENTINEL_CONFIG) < SENTINEL_* variables < flags.\n\n",
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
             # events_per_minute = 100\n",
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
        assert_eq!(
            parsed.rate_limits[1].key.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
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
