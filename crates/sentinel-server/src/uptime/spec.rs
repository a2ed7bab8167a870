//! What a monitor checks and how, as entered (API, dashboard, config file) and as stored: input
//! is validated here into a typed [`Check`] whose JSON form is the monitor's `config` column.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use sentinel_store::MonitorKind;

use crate::uptime::cron::CronCheck;
use crate::uptime::dns::{self, RecordType};

/// Shortest interval between checks.
pub const MIN_INTERVAL_SECS: u64 = 10;
/// Longest interval between checks (one day).
pub const MAX_INTERVAL_SECS: u64 = 86_400;
pub const DEFAULT_INTERVAL_SECS: u64 = 60;
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
pub const MAX_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
pub const DEFAULT_RECOVERY_THRESHOLD: u32 = 2;
pub const MAX_THRESHOLD: u32 = 20;
/// Redirects an HTTP check follows before failing.
pub const MAX_REDIRECTS: usize = 10;
const MAX_HEADERS: usize = 50;
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Values a DNS check may expect.
const MAX_EXPECTED: usize = 50;

/// An HTTP(S) check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpCheck {
    pub url: String,
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Accepted statuses: codes (`200`) and classes (`"2xx"`).
    pub expected_status: Vec<StatusMatch>,
    /// Text the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    /// Text the body must not contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword_absent: Option<String>,
    /// Values the JSON body must have at these paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_assertions: Vec<JsonAssertion>,
    /// Slower than this fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_ms: Option<u64>,
    pub follow_redirects: bool,
    pub verify_tls: bool,
}

/// An accepted status: a code (`200`) or a class (`"2xx"`). Stored as entered: a number or a
/// `"Nxx"` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Code(u16),
    /// The hundreds digit: `2` is 200 to 299.
    Class(u16),
}

impl StatusMatch {
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Code(c) => c == status,
            StatusMatch::Class(d) => status / 100 == d,
        }
    }
}

impl std::fmt::Display for StatusMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusMatch::Code(c) => write!(f, "{c}"),
            StatusMatch::Class(d) => write!(f, "{d}xx"),
        }
    }
}

impl Serialize for StatusMatch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StatusMatch::Code(c) => s.serialize_u16(*c),
            StatusMatch::Class(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for StatusMatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        status_match(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// `{"path": "$.status", "equals": "ok"}`: the value at `path` must equal `equals` (a JSON value;
/// a string also matches a number or boolean written the same way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonAssertion {
    pub path: String,
    pub equals: Value,
}

/// A TCP connect check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpCheck {
    pub host: String,
    pub port: u16,
}

/// A DNS check: one question to one resolver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsCheck {
    pub host: String,
    pub record_type: RecordType,
    /// Values the answer must include (all of them; it may hold more). Empty: any answer of the
    /// type passes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected: Vec<String>,
    /// `ip:port` of the resolver asked; `None`: the first nameserver of `/etc/resolv.conf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<String>,
}

impl DnsCheck {
    /// The expected values the answers lack: addresses compare as addresses, names and text
    /// without case and without a final dot.
    pub fn missing<'a>(&'a self, answers: &[String]) -> Vec<&'a str> {
        let same =
            |want: &str, got: &str| match (want.parse::<std::net::IpAddr>(), got.parse::<std::net::IpAddr>())
            {
                (Ok(w), Ok(g)) => w == g,
                _ => dns::same_name(want, got),
            };
        self.expected
            .iter()
            .filter(|want| !answers.iter().any(|got| same(want, got)))
            .map(String::as_str)
            .collect()
    }
}

/// A monitor's check, by kind; its JSON is the stored `config`.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Http(HttpCheck),
    Tcp(TcpCheck),
    Dns(DnsCheck),
    /// Fed by pings: no checker runs it.
    Heartbeat(CronCheck),
    /// Created and fed by Sentry SDK check-ins: no checker runs it.
    Cron(CronCheck),
}

impl Check {
    pub fn kind(&self) -> MonitorKind {
        match self {
            Check::Http(_) => MonitorKind::Http,
            Check::Tcp(_) => MonitorKind::Tcp,
            Check::Dns(_) => MonitorKind::Dns,
            Check::Heartbeat(_) => MonitorKind::Heartbeat,
            Check::Cron(_) => MonitorKind::Cron,
        }
    }

    pub fn to_config(&self) -> Value {
        match self {
            Check::Http(c) => serde_json::to_value(c),
            Check::Tcp(c) => serde_json::to_value(c),
            Check::Dns(c) => serde_json::to_value(c),
            Check::Heartbeat(c) | Check::Cron(c) => serde_json::to_value(c),
        }
        .unwrap_or(Value::Null)
    }

    /// The stored form back; `Err` for a config this version cannot run.
    pub fn from_config(kind: MonitorKind, config: &Value) -> Result<Check, String> {
        let bad = |e: serde_json::Error| format!("stored {} config is invalid: {e}", kind.as_str());
        match kind {
            MonitorKind::Http => Ok(Check::Http(serde_json::from_value(config.clone()).map_err(bad)?)),
            MonitorKind::Tcp => Ok(Check::Tcp(serde_json::from_value(config.clone()).map_err(bad)?)),
            MonitorKind::Dns => Ok(Check::Dns(serde_json::from_value(config.clone()).map_err(bad)?)),
            MonitorKind::Heartbeat => Ok(Check::Heartbeat(
                serde_json::from_value(config.clone()).map_err(bad)?,
            )),
            MonitorKind::Cron => Ok(Check::Cron(serde_json::from_value(config.clone()).map_err(bad)?)),
        }
    }

    /// One line naming the target: the URL, `host:port`, `host TYPE`.
    pub fn target(&self) -> String {
        match self {
            Check::Http(c) => c.url.clone(),
            Check::Tcp(c) => format!("{}:{}", c.host, c.port),
            Check::Dns(c) => format!("{} {}", c.host, c.record_type),
            Check::Heartbeat(c) | Check::Cron(c) => c.describe(),
        }
    }
}

/// The kinds the API creates (cron monitors are created by SDK check-ins; the API changes them).
pub const CHECK_KINDS: &[&str] = &["http", "tcp", "dns", "heartbeat"];

/// The check fields of each kind, for "unknown field" messages.
pub fn check_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "http" => &[
            "url",
            "method",
            "headers",
            "body",
            "expected_status",
            "keyword",
            "keyword_absent",
            "json_assertions",
            "max_response_ms",
            "follow_redirects",
            "verify_tls",
        ],
        "tcp" => &["host", "port"],
        "dns" => &["host", "record_type", "expected", "resolver"],
        "heartbeat" | "cron" => &[
            "slug",
            "schedule",
            "timezone",
            "grace_seconds",
            "max_runtime_seconds",
        ],
        _ => &[],
    }
}

/// The check of kind `kind` from the request's fields (`fields` holds only check fields).
/// Heartbeat and cron monitors are parsed by `cron::parse_heartbeat` (their period is the
/// monitor's interval).
pub fn parse_check(kind: &str, fields: &Map<String, Value>) -> Result<Check, String> {
    match kind {
        "http" => parse_http(fields).map(Check::Http),
        "tcp" => parse_tcp(fields).map(Check::Tcp),
        "dns" => parse_dns(fields).map(Check::Dns),
        other => Err(format!(
            "invalid type {other:?}: expected one of {}",
            CHECK_KINDS.join(", ")
        )),
    }
}

fn string(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{name} must be a string, not {other}")),
    }
}

fn boolean(fields: &Map<String, Value>, name: &str, default: bool) -> Result<bool, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("{name} must be true or false, not {other}")),
    }
}

fn parse_http(fields: &Map<String, Value>) -> Result<HttpCheck, String> {
    let url = string(fields, "url")?.ok_or("url is required for an http monitor")?;
    let url = url.trim().to_owned();
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("url {url:?} is not a valid URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("url {url:?} must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("url {url:?} has no host"));
    }
    let method = string(fields, "method")?
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].contains(&method.as_str()) {
        return Err(format!(
            "method {method:?} is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
        ));
    }
    let mut headers = BTreeMap::new();
    match fields.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            if h.len() > MAX_HEADERS {
                return Err(format!("headers: at most {MAX_HEADERS}"));
            }
            for (name, value) in h {
                let value = value
                    .as_str()
                    .ok_or_else(|| format!("headers.{name} must be a string"))?;
                http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("headers: {name:?} is not a valid header name"))?;
                http::HeaderValue::from_str(value)
                    .map_err(|_| format!("headers.{name} is not a valid header value"))?;
                headers.insert(name.clone(), value.to_owned());
            }
        }
        Some(other) => {
            return Err(format!(
                "headers must be an object of names to values, not {other}"
            ));
        }
    }
    let body = string(fields, "body")?;
    if body.as_ref().is_some_and(|b| b.len() > MAX_BODY_BYTES) {
        return Err(format!("body: at most {MAX_BODY_BYTES} bytes"));
    }
    let expected_status = match fields.get("expected_status") {
        None | Some(Value::Null) => vec![StatusMatch::Class(2)],
        Some(v) => {
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            if items.is_empty() {
                return Err("expected_status must name at least one status".into());
            }
            items
                .into_iter()
                .map(status_match)
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    let json_assertions = match fields.get("json_assertions") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            let list: Vec<JsonAssertion> = serde_json::from_value(v.clone()).map_err(|e| {
                format!(r#"json_assertions must be a list of {{"path": "$.status", "equals": "ok"}}: {e}"#)
            })?;
            for a in &list {
                json_path(&a.path).map_err(|e| format!("json_assertions: {e}"))?;
            }
            list
        }
    };
    let max_response_ms = match fields.get("max_response_ms") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| (1..=MAX_TIMEOUT_SECS * 1000).contains(n))
                .ok_or_else(|| {
                    format!(
                        "max_response_ms must be a whole number of milliseconds from 1 to {}",
                        MAX_TIMEOUT_SECS * 1000
                    )
                })?,
        ),
    };
    Ok(HttpCheck {
        url,
        method,
        headers,
        body,
        expected_status,
        keyword: string(fields, "keyword")?.filter(|k| !k.is_empty()),
        keyword_absent: string(fields, "keyword_absent")?.filter(|k| !k.is_empty()),
        json_assertions,
        max_response_ms,
        follow_redirects: boolean(fields, "follow_redirects", true)?,
        verify_tls: boolean(fields, "verify_tls", true)?,
    })
}

fn status_match(v: &Value) -> Result<StatusMatch, String> {
    let bad = || format!("expected_status: {v} is not a status code (200) or class (\"2xx\")");
    match v {
        Value::Number(n) => n
            .as_u64()
            .filter(|c| (100..=599).contains(c))
            .map(|c| StatusMatch::Code(c as u16))
            .ok_or_else(bad),
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            if let Ok(code) = s.parse::<u16>() {
                return (100..=599)
                    .contains(&code)
                    .then_some(StatusMatch::Code(code))
                    .ok_or_else(bad);
            }
            match s.as_bytes() {
                [d @ b'1'..=b'5', b'x', b'x'] => Ok(StatusMatch::Class(u16::from(*d - b'0'))),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

fn parse_tcp(fields: &Map<String, Value>) -> Result<TcpCheck, String> {
    let host = string(fields, "host")?
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .ok_or("host is required for a tcp monitor")?;
    if host.contains(['/', ' ']) {
        return Err(format!("host {host:?} must be a host name or IP address"));
    }
    let port = fields
        .get("port")
        .and_then(Value::as_u64)
        .filter(|p| (1..=65_535).contains(p))
        .ok_or("port is required for a tcp monitor: a number from 1 to 65535")?;
    Ok(TcpCheck {
        host,
        port: port as u16,
    })
}

fn parse_dns(fields: &Map<String, Value>) -> Result<DnsCheck, String> {
    let host = string(fields, "host")?
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .ok_or("host is required for a dns monitor: the name to look up")?;
    let name_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !host.chars().all(name_chars) {
        return Err(format!(
            "host {host:?} must be a DNS name (letters, digits, -, _ and dots; IDNs in their xn-- form)"
        ));
    }
    dns::encode_query(0, &host, RecordType::A).map_err(|e| format!("host: {e}"))?;
    let types = || {
        RecordType::ALL
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let record_type = match fields.get("record_type") {
        None | Some(Value::Null) => RecordType::A,
        Some(Value::String(t)) => {
            RecordType::parse(t).ok_or_else(|| format!("record_type {t:?} is not one of {}", types()))?
        }
        Some(other) => return Err(format!("record_type must be one of {}, not {other}", types())),
    };
    let expected = match fields.get("expected") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            if items.len() > MAX_EXPECTED {
                return Err(format!("expected: at most {MAX_EXPECTED} values"));
            }
            let mut list = Vec::with_capacity(items.len());
            for item in items {
                let value = item
                    .as_str()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| format!("expected: {item} is not a value (a non-empty string)"))?;
                let address = |ok: bool, family: &str| {
                    if ok {
                        Ok(())
                    } else {
                        Err(format!(
                            "expected: {value:?} is not an {family} address (the {record_type} records' values)"
                        ))
                    }
                };
                match record_type {
                    RecordType::A => address(value.parse::<std::net::Ipv4Addr>().is_ok(), "IPv4")?,
                    RecordType::Aaaa => address(value.parse::<std::net::Ipv6Addr>().is_ok(), "IPv6")?,
                    _ => {}
                }
                list.push(value.to_owned());
            }
            list
        }
    };
    let resolver = match string(fields, "resolver")?.map(|r| r.trim().to_owned()) {
        None => None,
        Some(r) if r.is_empty() => None,
        Some(r) => Some(
            r.parse::<std::net::SocketAddr>()
                .or_else(|_| {
                    r.parse::<std::net::IpAddr>()
                        .map(|ip| std::net::SocketAddr::new(ip, dns::DEFAULT_PORT))
                })
                .map_err(|_| {
                    format!(
                        "resolver {r:?} must be an IP address, with an optional port (9.9.9.9, 9.9.9.9:53, [2620:fe::fe]:53)"
                    )
                })?
                .to_string(),
        ),
    };
    Ok(DnsCheck {
        host,
        record_type,
        expected,
        resolver,
    })
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// Parses the JSON path subset checks take: `$`, then `.key` or `["key"]` and `[index]` steps
/// (`$.data[0].status`).
pub fn json_path(path: &str) -> Result<Vec<PathStep>, String> {
    let bad = |why: &str| format!("path {path:?} {why}: write it like $.data[0].status");
    let rest = path
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| bad("must start with $"))?;
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    key.push(n);
                    chars.next();
                }
                if key.is_empty() {
                    return Err(bad("has an empty key"));
                }
                steps.push(PathStep::Key(key));
            }
            '[' => {
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                let inner = inner.trim();
                if let Some(q) = inner
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                {
                    steps.push(PathStep::Key(q.to_owned()));
                } else {
                    steps.push(PathStep::Index(
                        inner
                            .parse()
                            .map_err(|_| bad("has an index that is not a number"))?,
                    ));
                }
            }
            _ => return Err(bad("has an unexpected character")),
        }
    }
    Ok(steps)
}

/// The value at `path` in `doc`, if there is one.
pub fn lookup<'a>(doc: &'a Value, path: &[PathStep]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, step| match step {
        PathStep::Key(k) => v.get(k.as_str()),
        PathStep::Index(i) => v.get(*i),
    })
}

/// Whether `actual` satisfies `expected`: equal JSON, or a string written like the value.
pub fn json_equals(actual: &Value, expected: &Value) -> bool {
    if actual == expected {
        return true;
    }
    match (actual, expected) {
        (Value::String(a), e) => a == &e.to_string(),
        (a, Value::String(e)) => &a.to_string() == e,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn http_checks_get_defaults_and_reject_bad_fields_by_name() {
        let Check::Http(c) = parse_check("http", &fields(json!({"url": "https://example.com/health"})))
            .unwrap_or_else(|e| panic!("{e}"))
        else {
            panic!("not http");
        };
        assert_eq!(c.method, "GET");
        assert_eq!(c.expected_status, vec![StatusMatch::Class(2)]);
        assert!(c.follow_redirects && c.verify_tls);

        let err = |v: Value| parse_check("http", &fields(v)).err().unwrap_or_default();
        assert!(err(json!({})).contains("url is required"));
        assert!(err(json!({"url": "ftp://x"})).contains("http:// or https://"));
        assert!(err(json!({"url": "http://x", "method": "BREW"})).contains("method"));
        assert!(err(json!({"url": "http://x", "expected_status": [700]})).contains("expected_status"));
        assert!(
            err(json!({"url": "http://x", "json_assertions": [{"path": "status", "equals": 1}]}))
                .contains("must start with $")
        );
        assert!(err(json!({"url": "http://x", "headers": {"bad name": "v"}})).contains("header name"));
    }

    #[test]
    fn statuses_match_codes_and_classes() {
        let m = [status_match(&json!("2xx")), status_match(&json!(404))];
        let m: Vec<StatusMatch> = m.into_iter().map(|r| r.unwrap_or(StatusMatch::Code(0))).collect();
        assert!(m[0].matches(204) && !m[0].matches(301));
        assert!(m[1].matches(404) && !m[1].matches(200));
    }

    #[test]
    fn json_paths_find_nested_values() {
        let doc = json!({"data": [{"status": "ok", "n": 3}], "a.b": true});
        let at = |p: &str| lookup(&doc, &json_path(p).unwrap_or_default()).cloned();
        assert_eq!(at("$.data[0].status"), Some(json!("ok")));
        assert_eq!(at("$[\"a.b\"]"), Some(json!(true)));
        assert_eq!(at("$.data[1]"), None);
        assert!(json_equals(&json!(3), &json!("3")));
        assert!(!json_equals(&json!("ok"), &json!("fail")));
    }

    #[test]
    fn dns_checks_default_to_a_records_and_name_bad_fields() {
        let Ok(Check::Dns(c)) = parse_check(
            "dns",
            &fields(json!({"host": "example.com", "expected": "10.0.0.1", "resolver": "127.0.0.1"})),
        ) else {
            panic!("not dns");
        };
        assert_eq!(c.record_type, RecordType::A);
        assert_eq!(c.expected, vec!["10.0.0.1"]);
        assert_eq!(c.resolver.as_deref(), Some("127.0.0.1:53"));
        assert_eq!(Check::Dns(c.clone()).target(), "example.com A");
        let stored = Check::Dns(c.clone()).to_config();
        assert_eq!(stored["record_type"], "A");
        assert_eq!(Check::from_config(MonitorKind::Dns, &stored), Ok(Check::Dns(c)));

        let err = |v: Value| parse_check("dns", &fields(v)).err().unwrap_or_default();
        assert!(err(json!({})).contains("host is required"));
        assert!(err(json!({"host": "a b"})).contains("host"));
        assert!(err(json!({"host": "a..b"})).contains("host"));
        assert!(
            err(json!({"host": "x.test", "record_type": "SRV"}))
                .contains("record_type \"SRV\" is not one of")
        );
        assert!(err(json!({"host": "x.test", "expected": ["10.0.0.300"]})).contains("expected"));
        assert!(
            err(json!({"host": "x.test", "record_type": "AAAA", "expected": ["10.0.0.1"]})).contains("IPv6")
        );
        assert!(err(json!({"host": "x.test", "resolver": "dns.google"})).contains("resolver"));
        assert!(
            parse_check(
                "dns",
                &fields(json!({"host": "x.test", "record_type": "mx", "resolver": "[::1]:5353"}))
            )
            .is_ok()
        );
    }

    #[test]
    fn dns_expectations_ignore_case_final_dots_and_address_spelling() {
        let check = DnsCheck {
            host: "x.test".into(),
            record_type: RecordType::Cname,
            expected: vec![
                "WWW.Example.com.".into(),
                "2001:db8::1".into(),
                "other.test".into(),
            ],
            resolver: None,
        };
        let answers = vec!["www.example.com".to_owned(), "2001:DB8:0::1".to_owned()];
        assert_eq!(check.missing(&answers), vec!["other.test"]);
    }

    #[test]
    fn tcp_checks_need_a_host_and_port() {
        assert!(parse_check("tcp", &fields(json!({"host": "db", "port": 5432}))).is_ok());
        assert!(
            parse_check("tcp", &fields(json!({"host": "db"})))
                .err()
                .unwrap_or_default()
                .contains("port")
        );
    }
}
