//! Sentry authentication: `X-Sentry-Auth`, DSNs, and the rate-limit header.
//!
//! Formats follow getsentry/sentry-docs `develop-docs/sdk/foundations/transport/authentication.mdx`
//! and `rate-limiting.mdx`. Parsing is lenient where SDKs differ and strict only where a wrong
//! guess would authenticate the wrong project.

/// What an `X-Sentry-Auth` header (or the equivalent query parameters) carries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SentryAuth {
    pub sentry_key: Option<String>,
    pub sentry_version: Option<String>,
    pub sentry_client: Option<String>,
}

/// Parses `Sentry sentry_key=K, sentry_version=7, sentry_client=x/1.0[, sentry_secret=…]`.
///
/// The `Sentry ` prefix is matched case-insensitively and may be missing; pairs are separated by
/// commas with optional spaces; values may be wrapped in double quotes; keys Sentinel does not use
/// (`sentry_secret`, `sentry_timestamp`) are ignored, as are empty values and pairs without `=`.
/// A repeated key keeps its first value.
pub fn parse_auth_header(value: &str) -> SentryAuth {
    let mut auth = SentryAuth::default();
    for pair in strip_scheme(value.trim()).split(',') {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        if value.is_empty() {
            continue;
        }
        let slot = match key.trim() {
            "sentry_key" => &mut auth.sentry_key,
            "sentry_version" => &mut auth.sentry_version,
            "sentry_client" => &mut auth.sentry_client,
            _ => continue,
        };
        slot.get_or_insert_with(|| value.to_owned());
    }
    auth
}

/// Removes a leading `Sentry` auth scheme, which must be followed by whitespace so that a bare
/// `sentry_key=…` list is not mistaken for one.
fn strip_scheme(value: &str) -> &str {
    match value.get(..6) {
        Some(scheme) if scheme.eq_ignore_ascii_case("sentry") => {
            let rest = value.get(6..).unwrap_or_default();
            if rest.is_empty() || rest.starts_with(char::is_whitespace) {
                rest.trim_start()
            } else {
                value
            }
        }
        _ => value,
    }
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// The public key and project id of a DSN such as `http://KEY@host:port/path/42`.
///
/// The form is `{scheme}://{public_key}[:{secret}]@{host}[:{port}]{/optional/path}/{project_id}`.
/// Returns `None` unless there is a scheme, a non-empty key of letters, digits, `_` or `-`, a host,
/// a numeric port if one is given, and a numeric project id as the last path segment. A query or
/// fragment and a trailing slash are ignored.
pub fn dsn_key_and_project(dsn: &str) -> Option<(String, u64)> {
    let (scheme, rest) = dsn.trim().split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_once('/')?;
    let (userinfo, host_port) = authority.rsplit_once('@')?;

    let public_key = userinfo.split_once(':').map_or(userinfo, |(key, _secret)| key);
    let key_ok = !public_key.is_empty()
        && public_key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if !key_ok || !host_port_ok(host_port) {
        return None;
    }

    let project = path.trim_end_matches('/').rsplit('/').next()?;
    if project.is_empty() || !project.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((public_key.to_owned(), project.parse().ok()?))
}

/// A host name or bracketed IPv6 address, optionally followed by `:port`.
fn host_port_ok(host_port: &str) -> bool {
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, tail)) => match tail.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return false,
            },
            None => return false,
        },
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let host_ok = !host.is_empty()
        && !host
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '/' | '@' | '[' | ']'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
    host_ok && port_ok
}

/// One quota limit for the `X-Sentry-Rate-Limits` header:
/// `<retry_after>:<categories>:<scope>[:<reason_code>]`.
///
/// `categories` are data categories (`error`, `transaction`, `session`, `monitor`, …) joined by
/// `;`; an empty list means every category. `scope` is `organization`, `project` or `key`. Several
/// limits go in one header separated by `, `. The delay is whole seconds because sentry-python
/// parses it with `int()` and silently drops a limit written as a float.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(key: &str, version: &str, client: &str) -> SentryAuth {
        SentryAuth {
            sentry_key: Some(key.to_owned()),
            sentry_version: Some(version.to_owned()),
            sentry_client: Some(client.to_owned()),
        }
    }

    #[test]
    fn auth_header_as_sentry_python_sends_it() {
        assert_eq!(
            parse_auth_header(
                "Sentry sentry_key=abc123, sentry_version=7, sentry_client=sentry.python/2.68.0"
            ),
            auth("abc123", "7", "sentry.python/2.68.0")
        );
    }

    #[test]
    fn auth_header_as_sentry_rust_sends_it_with_a_timestamp_and_secret() {
        assert_eq!(
            parse_auth_header(
                "Sentry sentry_key=abc123, sentry_version=7, sentry_timestamp=1700000000, \
                 sentry_client=sentry.rust/0.49.1, sentry_secret=s3cret"
            ),
            auth("abc123", "7", "sentry.rust/0.49.1")
        );
    }

    #[test]
    fn auth_scheme_is_case_insensitive_and_optional() {
        let expected = auth("k", "7", "c/1");
        for header in [
            "sentry sentry_key=k, sentry_version=7, sentry_client=c/1",
            "SENTRY  sentry_key=k,sentry_version=7,sentry_client=c/1",
            "sentry_key=k, sentry_version=7, sentry_client=c/1",
            "  Sentry\tsentry_key = k ,sentry_version= 7, sentry_client =c/1  ",
        ] {
            assert_eq!(parse_auth_header(header), expected, "{header}");
        }
    }

    #[test]
    fn auth_values_may_be_quoted() {
        assert_eq!(
            parse_auth_header("Sentry sentry_key=\"k\", sentry_version=\"7\", sentry_client=\"c/1\""),
            auth("k", "7", "c/1")
        );
    }

    #[test]
    fn auth_header_ignores_unknown_keys_empty_values_and_junk() {
        assert_eq!(
            parse_auth_header("Sentry foo=bar, sentry_key=, junk, =x, sentry_version=7"),
            SentryAuth {
                sentry_version: Some("7".to_owned()),
                ..SentryAuth::default()
            }
        );
        assert_eq!(parse_auth_header(""), SentryAuth::default());
        assert_eq!(parse_auth_header("Sentry"), SentryAuth::default());
        assert_eq!(parse_auth_header("Bearer abc"), SentryAuth::default());
    }

    #[test]
    fn repeated_auth_key_keeps_the_first_value() {
        assert_eq!(
            parse_auth_header("Sentry sentry_key=first, sentry_key=second")
                .sentry_key
                .as_deref(),
            Some("first")
        );
    }

    #[test]
    fn auth_header_with_non_ascii_does_not_panic() {
        assert_eq!(parse_auth_header("Señtry x"), SentryAuth::default());
        assert_eq!(parse_auth_header("é"), SentryAuth::default());
    }

    #[test]
    fn dsn_with_host_and_project() {
        assert_eq!(
            dsn_key_and_project("https://e12d836b15bb49d7bbf99e64295d995b@sentry.io/42"),
            Some(("e12d836b15bb49d7bbf99e64295d995b".to_owned(), 42))
        );
    }

    #[test]
    fn dsn_with_secret_port_and_path_prefix() {
        assert_eq!(
            dsn_key_and_project("http://public:secret@localhost:9000/sentry/sub/7"),
            Some(("public".to_owned(), 7))
        );
        assert_eq!(
            dsn_key_and_project("https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42"),
            Some(("e12d836b15bb49d7bbf99e64295d995b".to_owned(), 42))
        );
    }

    #[test]
    fn dsn_with_ipv6_host() {
        assert_eq!(
            dsn_key_and_project("http://key@[::1]:8000/3"),
            Some(("key".to_owned(), 3))
        );
        assert_eq!(
            dsn_key_and_project("http://key@[::1]/3"),
            Some(("key".to_owned(), 3))
        );
    }

    #[test]
    fn dsn_trailing_slash_and_query_are_ignored() {
        assert_eq!(
            dsn_key_and_project("https://key@host/42/"),
            Some(("key".to_owned(), 42))
        );
        assert_eq!(
            dsn_key_and_project("https://key@host/42?timeout=5"),
            Some(("key".to_owned(), 42))
        );
    }

    #[test]
    fn malformed_dsns_are_rejected() {
        for dsn in [
            "",
            "not a dsn",
            "https://sentry.io/42",
            "https://@sentry.io/42",
            "https://:secret@sentry.io/42",
            "https://key@/42",
            "https://key@sentry.io",
            "https://key@sentry.io/",
            "https://key@sentry.io/abc",
            "https://key@sentry.io/-1",
            "https://key@sentry.io/99999999999999999999999",
            "https://key@sentry.io:port/42",
            "https://key@sentry.io:99999/42",
            "https://ke y@sentry.io/42",
            "://key@sentry.io/42",
            "1http://key@sentry.io/42",
            "http://key@[::1/42",
        ] {
            assert_eq!(dsn_key_and_project(dsn), None, "{dsn}");
        }
    }

    #[test]
    fn rate_limit_header_lists_categories_scope_and_reason() {
        assert_eq!(
            rate_limits_header(60, &["error", "transaction"], "project", Some("quota_exceeded")),
            "60:error;transaction:project:quota_exceeded"
        );
    }

    #[test]
    fn rate_limit_header_with_no_categories_applies_to_all() {
        assert_eq!(
            rate_limits_header(2700, &[], "organization", None),
            "2700::organization"
        );
    }
}
