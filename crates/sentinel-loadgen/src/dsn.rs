//! Sentry DSNs: `http://<public_key>@<host>[:port][/path/prefix]/<project_id>`.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    #[error("invalid DSN {0:?}: expected http://<public_key>@<host>:<port>/<project_id>")]
    Shape(String),
    #[error("invalid DSN scheme {0:?}: only plain http is supported by the load generator")]
    Scheme(String),
    #[error("invalid DSN project id {0:?}: expected a number after the last '/'")]
    ProjectId(String),
    #[error("invalid DSN: the public key is empty")]
    EmptyKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    pub public_key: String,
    /// `host` or `host:port`, as it appears in the DSN.
    pub host: String,
    pub port: u16,
    /// Path prefix before the project id, without a trailing slash (`""` or `/sentry`).
    pub path_prefix: String,
    pub project_id: u64,
}

impl Dsn {
    /// `host:port`, what a TCP connection needs.
    pub fn authority(&self) -> String {
        let host = self
            .host
            .rsplit_once(':')
            .filter(|(_, p)| p.parse::<u16>().is_ok())
            .map_or(&*self.host, |(h, _)| h);
        format!("{host}:{}", self.port)
    }

    /// The envelope endpoint's path: `<prefix>/api/<project_id>/envelope/`.
    pub fn envelope_path(&self) -> String {
        format!("{}/api/{}/envelope/", self.path_prefix, self.project_id)
    }

    /// The `X-Sentry-Auth` header an SDK sends.
    pub fn auth_header(&self, client: &str) -> String {
        format!(
            "Sentry sentry_key={}, sentry_version=7, sentry_client={client}",
            self.public_key
        )
    }
}

impl FromStr for Dsn {
    type Err = DsnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shape = || DsnError::Shape(s.to_owned());
        let (scheme, rest) = s.trim().split_once("://").ok_or_else(shape)?;
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(DsnError::Scheme(scheme.to_owned()));
        }
        let (userinfo, rest) = rest.split_once('@').ok_or_else(shape)?;
        // `key:secret@` is the legacy form; the secret is ignored.
        let public_key = userinfo.split(':').next().unwrap_or_default();
        if public_key.is_empty() {
            return Err(DsnError::EmptyKey);
        }
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => return Err(shape()),
        };
        if host.is_empty() {
            return Err(shape());
        }
        let port = match host.rsplit_once(':') {
            Some((_, p)) => p.parse::<u16>().map_err(|_| shape())?,
            None => 80,
        };
        let path = path.trim_end_matches('/');
        let (prefix, id) = path.rsplit_once('/').ok_or_else(shape)?;
        let project_id = id
            .parse::<u64>()
            .map_err(|_| DsnError::ProjectId(id.to_owned()))?;
        Ok(Dsn {
            public_key: public_key.to_owned(),
            host: host.to_owned(),
            port,
            path_prefix: prefix.to_owned(),
            project_id,
        })
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "http://{}@{}{}/{}",
            self.public_key, self.host, self.path_prefix, self.project_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_host_port_prefix_and_project() {
        let d: Dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9100/sentry/7"
            .parse()
            .unwrap();
        assert_eq!(d.public_key, "0123456789abcdef0123456789abcdef");
        assert_eq!(d.authority(), "127.0.0.1:9100");
        assert_eq!(d.path_prefix, "/sentry");
        assert_eq!(d.project_id, 7);
        assert_eq!(d.envelope_path(), "/sentry/api/7/envelope/");
        assert_eq!(
            d.to_string(),
            "http://0123456789abcdef0123456789abcdef@127.0.0.1:9100/sentry/7"
        );
    }

    #[test]
    fn defaults_to_port_80_without_prefix() {
        let d: Dsn = "http://k:secret@localhost/3".parse().unwrap();
        assert_eq!(
            (d.public_key.as_str(), d.port, d.path_prefix.as_str()),
            ("k", 80, "")
        );
        assert_eq!(d.envelope_path(), "/api/3/envelope/");
    }

    #[test]
    fn rejects_what_it_cannot_send_to() {
        assert!(matches!("https://k@h/1".parse::<Dsn>(), Err(DsnError::Scheme(_))));
        assert!(matches!(
            "http://k@h/x".parse::<Dsn>(),
            Err(DsnError::ProjectId(_))
        ));
        assert!(matches!("http://@h/1".parse::<Dsn>(), Err(DsnError::EmptyKey)));
        assert!(matches!("http://h/1".parse::<Dsn>(), Err(DsnError::Shape(_))));
    }
}
