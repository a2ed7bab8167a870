//! Sentry authentication: `X-Sentry-Auth`, DSNs, and the rate-limit header (placeholder).

/// What an `X-Sentry-Auth` header (or the equivalent query parameters) carries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SentryAuth {
    pub sentry_key: Option<String>,
    pub sentry_version: Option<String>,
    pub sentry_client: Option<String>,
}

pub fn parse_auth_header(_value: &str) -> SentryAuth {
    SentryAuth::default()
}

/// The public key and project id of a DSN such as `http://KEY@host:port/path/42`.
pub fn dsn_key_and_project(_dsn: &str) -> Option<(String, u64)> {
    None
}

/// `X-Sentry-Rate-Limits` value: `<retry_after>:<categories>:<scope>[:<reason_code>]`.
pub fn rate_limits_header(
    retry_after_secs: u64,
    categories: &[&str],
    scope: &str,
    reason: Option<&str>,
) -> String {
    let cats = categories.join(";");
    match reason {
        Some(r) => format!("{retry_after_secs}:{cats}:{scope}:{r}"),
        None => format!("{retry_after_secs}:{cats}:{scope}"),
    }
}
