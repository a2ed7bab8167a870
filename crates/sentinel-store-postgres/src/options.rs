//! Connection options: the URL and pool settings, checked once, with the password kept out of
//! every `Debug` and error message.

use std::str::FromStr;

use sentinel_store::StoreError;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

#[derive(Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/database?…`
    pub url: String,
    pub max_connections: u32,
    /// Longest one statement may run, set on every connection.
    pub statement_timeout_ms: u64,
    /// How long a caller waits for a free connection before the store answers `Unavailable`.
    pub acquire_timeout_ms: u64,
    /// `disable`, `prefer`, `require`, `verify-ca` or `verify-full`; overrides the URL's `sslmode`.
    pub ssl_mode: Option<String>,
    /// How long claimed inbox items stay leased to the claiming instance.
    pub inbox_lease_ms: i64,
    /// Use (and create if missing) this schema instead of the user's default search path.
    pub schema: Option<String>,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            statement_timeout_ms: 30_000,
            acquire_timeout_ms: 5_000,
            ssl_mode: None,
            inbox_lease_ms: 60_000,
            schema: None,
        }
    }

    pub(crate) fn connect_options(&self) -> Result<PgConnectOptions, StoreError> {
        let mut opts = PgConnectOptions::from_str(&self.url).map_err(|e| {
            StoreError::Conflict(format!(
                "invalid PostgreSQL URL {}: {}",
                redact_url(&self.url),
                redact_url(&e.to_string())
            ))
        })?;
        if let Some(mode) = &self.ssl_mode {
            let parsed = match mode.as_str() {
                "disable" => PgSslMode::Disable,
                "prefer" => PgSslMode::Prefer,
                "require" => PgSslMode::Require,
                "verify-ca" => PgSslMode::VerifyCa,
                "verify-full" => PgSslMode::VerifyFull,
                other => {
                    return Err(StoreError::Conflict(format!(
                        "invalid ssl_mode {other:?}: expected disable, prefer, require, verify-ca or verify-full"
                    )));
                }
            };
            opts = opts.ssl_mode(parsed);
        }
        if let Some(schema) = &self.schema {
            check_schema_name(schema)?;
        }
        if opts.get_application_name().is_none() {
            opts = opts.application_name("sentinel");
        }
        Ok(opts)
    }
}

/// Schema names end up in DDL (`CREATE SCHEMA`), so only plain lower-case identifiers are allowed.
fn check_schema_name(name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && name.len() <= 63 {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "invalid schema name {name:?}: expected up to 63 lower-case letters, digits and underscores, not starting with a digit"
        )))
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .field("ssl_mode", &self.ssl_mode)
            .field("inbox_lease_ms", &self.inbox_lease_ms)
            .field("schema", &self.schema)
            .finish()
    }
}

/// The URL with its password (in the user info or a `password=` parameter) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    match head.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            out.push_str(scheme);
            out.push_str("://");
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    match userinfo.split_once(':') {
                        Some((user, _password)) => {
                            out.push_str(user);
                            out.push_str(":***");
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push('@');
                    out.push_str(host);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(head),
    }
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_the_password_in_the_user_info() {
        assert_eq!(
            redact_url("postgres://user:secret@host:5432/db"),
            "postgres://user:***@host:5432/db"
        );
        assert_eq!(
            redact_url("postgresql://user:p%40ss@w@host/db?sslmode=require"),
            "postgresql://user:***@host/db?sslmode=require"
        );
    }

    #[test]
    fn redact_url_hides_a_password_parameter() {
        assert_eq!(
            redact_url("postgres://host/db?user=u&password=secret&sslmode=disable"),
            "postgres://host/db?user=u&password=***&sslmode=disable"
        );
    }

    #[test]
    fn redact_url_leaves_urls_without_a_password_alone() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://host/db",
            "not a url",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let mut opts = PgOptions::new("postgres://app:hunter2@db.internal/sentinel?password=hunter3");
        opts.schema = Some("s".into());
        let shown = format!("{opts:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        assert!(shown.contains("app:***@db.internal"), "{shown}");
    }

    #[test]
    fn invalid_ssl_modes_and_schema_names_are_conflicts() {
        let mut opts = PgOptions::new("postgres://u:pw@localhost/db");
        opts.ssl_mode = Some("sometimes".into());
        assert!(matches!(opts.connect_options(), Err(StoreError::Conflict(m)) if m.contains("verify-full")));
        opts.ssl_mode = Some("require".into());
        assert!(opts.connect_options().is_ok());
        opts.schema = Some("bad\"name".into());
        assert!(matches!(opts.connect_options(), Err(StoreError::Conflict(_))));
    }
}
