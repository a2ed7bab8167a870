//! Sentry-style DSNs: `http(s)://PUBLIC_KEY@HOST[:PORT][/PREFIX]/PROJECT_ID`, parsed once into
//! the request-batch URL and the `X-Sentry-Auth` header the sensor sends.

use std::fmt;
use std::str::FromStr;

/// What the sensor reports itself as in `X-Sentry-Auth` and `User-Agent`.
pub const CLIENT: &str = concat!("sentinel-sensor-rust/", env!("CARGO_PKG_VERSION"));

/// Why a string is not a DSN. Each message says what was expected instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    #[error("the DSN is empty; expected http(s)://PUBLIC_KEY@HOST[:PORT][/PREFIX]/PROJECT_ID")]
    Empty,
    #[error(
        "the DSN has no scheme; expected it to start with http:// or https:// \
         (http(s)://PUBLIC_KEY@HOST[:PORT][/PREFIX]/PROJECT_ID)"
    )]
    MissingScheme,
    #[error("the DSN scheme {0:?} is not supported; expected http or https")]
    UnsupportedScheme(String),
    #[error(
        "the DSN has no public key; expected PUBLIC_KEY@ before the host \
         (http(s)://PUBLIC_KEY@HOST[:PORT][/PREFIX]/PROJECT_ID)"
    )]
    MissingPublicKey,
    #[error("the DSN has no host; expected a host name or IP address after the '@'")]
    MissingHost,
    #[error("the DSN port {0:?} is not valid; expected a number from 1 to 65535 after the ':'")]
    InvalidPort(String),
    #[error("the DSN has no project id; expected /PROJECT_ID as the last part of the path")]
    MissingProjectId,
    #[error("the DSN project id {0:?} is not valid; expected a positive integer as the last path segment")]
    InvalidProjectId(String),
}

/// A parsed DSN. The public key identifies the project to Sentinel; it is not a secret (it
/// ships in front-end code), so `Debug` and `Display` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    https: bool,
    public_key: String,
    /// As written, with brackets for IPv6 (`[::1]`).
    host: String,
    port: u16,
    /// Before the project id, without a trailing slash: `""` or `/sentinel`.
    path_prefix: String,
    project_id: u64,
}

impl Dsn {
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, or 80/443 from the scheme.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn path_prefix(&self) -> &str {
        &self.path_prefix
    }

    pub fn project_id(&self) -> u64 {
        self.project_id
    }

    /// Where request batches go: `{scheme}://{host}:{port}{prefix}/api/{project}/requests/`.
    pub fn requests_url(&self) -> String {
        format!(
            "{}://{}:{}{}/api/{}/requests/",
            self.scheme(),
            self.host,
            self.port,
            self.path_prefix,
            self.project_id
        )
    }

    /// The `X-Sentry-Auth` header value that authenticates a batch.
    pub fn auth_header(&self) -> String {
        format!(
            "Sentry sentry_key={}, sentry_version=7, sentry_client={CLIENT}",
            self.public_key
        )
    }
}

impl FromStr for Dsn {
    type Err = DsnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(DsnError::Empty);
        }
        let (scheme, rest) = s.split_once("://").ok_or(DsnError::MissingScheme)?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(DsnError::UnsupportedScheme(scheme.to_owned())),
        };
        let (userinfo, rest) = rest.split_once('@').ok_or(DsnError::MissingPublicKey)?;
        // `KEY:SECRET@` is Sentry's legacy form; the secret is not used.
        let public_key = userinfo.split(':').next().unwrap_or_default();
        if public_key.is_empty() {
            return Err(DsnError::MissingPublicKey);
        }
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        let (host, port) = split_host_port(authority)?;
        let path = path.trim_end_matches('/');
        let (prefix, id) = path.rsplit_once('/').ok_or(DsnError::MissingProjectId)?;
        if id.is_empty() {
            return Err(DsnError::MissingProjectId);
        }
        // Digits only: `u64::from_str` would also take `+1`.
        let project_id = Some(id)
            .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|id| id.parse::<u64>().ok())
            .filter(|id| *id > 0)
            .ok_or_else(|| DsnError::InvalidProjectId(id.to_owned()))?;
        Ok(Dsn {
            https,
            public_key: public_key.to_owned(),
            host: host.to_owned(),
            port: port.unwrap_or(if https { 443 } else { 80 }),
            path_prefix: prefix.to_owned(),
            project_id,
        })
    }
}

impl TryFrom<&str> for Dsn {
    type Error = DsnError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), DsnError> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or(DsnError::MissingHost)?;
        let (host, rest) = authority.split_at(end + 1);
        match rest.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if rest.is_empty() => (host, None),
            None => return Err(DsnError::InvalidPort(rest.to_owned())),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(DsnError::MissingHost);
    }
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| DsnError::InvalidPort(p.to_owned()))
        })
        .transpose()?;
    Ok((host, port))
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}@{}:{}{}/{}",
            self.scheme(),
            self.public_key,
            self.host,
            self.port,
            self.path_prefix,
            self.project_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dsn_gives_the_requests_url_and_the_auth_header() {
        let dsn: Dsn = "http://abc123@127.0.0.1:9000/42".parse().unwrap();
        assert_eq!(dsn.requests_url(), "http://127.0.0.1:9000/api/42/requests/");
        assert_eq!(
            dsn.auth_header(),
            "Sentry sentry_key=abc123, sentry_version=7, sentry_client=sentinel-sensor-rust/0.1.0"
        );
        assert_eq!(dsn.to_string(), "http://abc123@127.0.0.1:9000/42");
    }

    #[test]
    fn https_a_path_prefix_a_legacy_secret_and_ipv6_are_understood() {
        let dsn: Dsn = "HTTPS://key:secret@sentinel.example.com/monitoring/sentinel/7/"
            .parse()
            .unwrap();
        assert_eq!(dsn.scheme(), "https");
        assert_eq!(dsn.public_key(), "key");
        assert_eq!(dsn.port(), 443);
        assert_eq!(dsn.path_prefix(), "/monitoring/sentinel");
        assert_eq!(
            dsn.requests_url(),
            "https://sentinel.example.com:443/monitoring/sentinel/api/7/requests/"
        );
        let v6: Dsn = "http://k@[::1]:9100/3".parse().unwrap();
        assert_eq!(v6.requests_url(), "http://[::1]:9100/api/3/requests/");
        assert_eq!("http://k@[::1]/3".parse::<Dsn>().unwrap().port(), 80);
    }

    #[test]
    fn each_malformed_dsn_names_what_is_wrong() {
        let err = |s: &str| s.parse::<Dsn>().unwrap_err();
        assert_eq!(err("  "), DsnError::Empty);
        assert_eq!(err("abc@host/1"), DsnError::MissingScheme);
        assert_eq!(err("ftp://k@host/1"), DsnError::UnsupportedScheme("ftp".into()));
        assert_eq!(err("http://host:9000/1"), DsnError::MissingPublicKey);
        assert_eq!(err("http://:secret@host/1"), DsnError::MissingPublicKey);
        assert_eq!(err("http://k@/1"), DsnError::MissingHost);
        assert_eq!(err("http://k@:9000/1"), DsnError::MissingHost);
        assert_eq!(err("http://k@host:http/1"), DsnError::InvalidPort("http".into()));
        assert_eq!(
            err("http://k@host:70000/1"),
            DsnError::InvalidPort("70000".into())
        );
        assert_eq!(err("http://k@host:0/1"), DsnError::InvalidPort("0".into()));
        assert_eq!(err("http://k@[::1]x/1"), DsnError::InvalidPort("x".into()));
        assert_eq!(err("http://k@host"), DsnError::MissingProjectId);
        assert_eq!(err("http://k@host/"), DsnError::MissingProjectId);
        assert_eq!(err("http://k@host/abc"), DsnError::InvalidProjectId("abc".into()));
        assert_eq!(err("http://k@host/0"), DsnError::InvalidProjectId("0".into()));
        assert_eq!(err("http://k@host/+1"), DsnError::InvalidProjectId("+1".into()));
        assert_eq!(
            err("http://k@host/1?x=y"),
            DsnError::InvalidProjectId("1?x=y".into())
        );
    }

    #[test]
    fn error_messages_say_what_was_expected() {
        let message = "http://k@host/abc".parse::<Dsn>().unwrap_err().to_string();
        assert_eq!(
            message,
            "the DSN project id \"abc\" is not valid; expected a positive integer as the last path segment"
        );
        let message = "k@host/1".parse::<Dsn>().unwrap_err().to_string();
        assert!(
            message.contains("http(s)://PUBLIC_KEY@HOST[:PORT][/PREFIX]/PROJECT_ID"),
            "{message}"
        );
    }
}
