//! Release health: `session` and `sessions` envelope items, and what each adds to its release's
//! session and user counts.
//!
//! Wire format (develop.sentry.dev, SDK → Telemetry → Sessions): a `session` item is one session's
//! whole state (`sid`, `did`, `init`, `started`, `status` ok/exited/crashed/abnormal, `errors`,
//! `attrs.release` required, `attrs.environment`); a `sessions` item carries client-side
//! aggregates of ended sessions (`aggregates: [{started, did?, exited, errored, abnormal,
//! crashed}]`, with one `attrs` for all of them).
//!
//! # Counting rule
//!
//! Sentry's server keeps additive counters and "does not deduplicate the total session count":
//! SDKs must mark a session's first update `init: true`, and a session that left `ok` must not be
//! updated again (terminal states). Sentinel follows that, without keeping per-session state:
//!
//! - a `session` update counts one session when `init` is true;
//! - its outcome bucket is decided by its terminal update: `crashed` and `abnormal` count as such,
//!   `exited` (or Relay's internal `errored`) with `errors > 0` counts as errored; `ok` updates
//!   never change a bucket, so several updates of one session are never counted twice;
//! - a `sessions` aggregate counts `exited + errored + abnormal + crashed` sessions, each in its
//!   bucket (`exited` are healthy);
//! - `did` (the distinct user) is kept as a 64-bit hash, marked crashed when that user had a
//!   crashed session.
//!
//! Where this differs from Relay: a session that stays `ok` with `errors > 0` and never ends is not
//! counted as errored (Relay dedupes errored sessions by a set of session ids), and a crash reported
//! without an `init` update is counted as crashed but not in the total (as in Sentry, crash-free
//! rates are clamped at 0).

use chrono::DateTime;
use md5::{Digest, Md5};
use serde::Deserialize;

/// Longest release name accepted (Relay's limit).
const MAX_RELEASE_CHARS: usize = 200;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error("invalid session payload: {0}")]
    Json(String),
    #[error("invalid session: {0}")]
    Invalid(&'static str),
}

/// The status of one session update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    #[default]
    Ok,
    Exited,
    Crashed,
    Abnormal,
    /// Not sent by SDKs; Relay's internal name for an ended session with errors.
    Errored,
}

/// A parsed `session` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUpdate {
    pub sid: Option<String>,
    pub did: Option<String>,
    pub init: bool,
    pub started_ms: i64,
    pub status: SessionStatus,
    pub errors: u64,
    pub release: String,
    pub environment: Option<String>,
}

/// One group of a `sessions` item.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AggregateGroup {
    pub started_ms: i64,
    pub did: Option<String>,
    pub exited: u64,
    pub errored: u64,
    pub abnormal: u64,
    pub crashed: u64,
}

/// A parsed `sessions` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAggregates {
    pub release: String,
    pub environment: Option<String>,
    pub groups: Vec<AggregateGroup>,
}

/// What one item adds to one release's health counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthDelta {
    pub release: String,
    pub sessions: u64,
    /// Ended with errors but neither crashed nor abnormal.
    pub errored: u64,
    pub abnormal: u64,
    pub crashed: u64,
    /// `(user hash, had a crashed session)`, one entry per distinct user of the item.
    pub users: Vec<(i64, bool)>,
}

#[derive(Deserialize)]
struct Attrs {
    release: Option<String>,
    environment: Option<String>,
}

#[derive(Deserialize)]
struct RawUpdate {
    sid: Option<String>,
    did: Option<String>,
    #[serde(default)]
    init: bool,
    started: Option<serde_json::Value>,
    #[serde(default)]
    status: SessionStatus,
    #[serde(default)]
    errors: u64,
    attrs: Option<Attrs>,
}

#[derive(Deserialize)]
struct RawGroup {
    started: Option<serde_json::Value>,
    did: Option<String>,
    #[serde(default)]
    exited: u64,
    #[serde(default)]
    errored: u64,
    #[serde(default)]
    abnormal: u64,
    #[serde(default)]
    crashed: u64,
}

#[derive(Deserialize)]
struct RawAggregates {
    aggregates: Vec<RawGroup>,
    attrs: Option<Attrs>,
}

/// An ISO 8601 date-time string or epoch seconds, as Sentry accepts timestamps.
fn timestamp_ms(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
            .or_else(|| {
                // SDKs in the wild omit the offset; it means UTC.
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|t| t.and_utc().timestamp_millis())
            }),
        serde_json::Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(|f| (f * 1000.0) as i64),
        _ => None,
    }
}

fn release_and_environment(attrs: Option<Attrs>) -> Result<(String, Option<String>), SessionError> {
    let attrs = attrs.ok_or(SessionError::Invalid("attrs are required"))?;
    let release = attrs
        .release
        .map(|r| r.trim().to_owned())
        .ok_or(SessionError::Invalid("attrs.release is required"))?;
    let valid = !release.is_empty()
        && release.chars().count() <= MAX_RELEASE_CHARS
        && release != "."
        && release != ".."
        && !release.chars().any(|c| c.is_control() || c == '/');
    if !valid {
        return Err(SessionError::Invalid(
            "attrs.release must be 1 to 200 characters without '/' or control characters, and not '.' or '..'",
        ));
    }
    let environment = attrs.environment.filter(|e| !e.is_empty());
    Ok((release, environment))
}

fn empty_to_none(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Parses a `session` item's payload.
pub fn parse_session(payload: &[u8]) -> Result<SessionUpdate, SessionError> {
    let raw: RawUpdate = serde_json::from_slice(payload).map_err(|e| SessionError::Json(e.to_string()))?;
    let started_ms = raw
        .started
        .as_ref()
        .and_then(timestamp_ms)
        .ok_or(SessionError::Invalid("started must be an ISO 8601 date-time"))?;
    let (release, environment) = release_and_environment(raw.attrs)?;
    Ok(SessionUpdate {
        sid: empty_to_none(raw.sid),
        did: empty_to_none(raw.did),
        init: raw.init,
        started_ms,
        status: raw.status,
        errors: raw.errors,
        release,
        environment,
    })
}

/// Parses a `sessions` item's payload.
pub fn parse_sessions(payload: &[u8]) -> Result<SessionAggregates, SessionError> {
    let raw: RawAggregates =
        serde_json::from_slice(payload).map_err(|e| SessionError::Json(e.to_string()))?;
    let (release, environment) = release_and_environment(raw.attrs)?;
    let groups = raw
        .aggregates
        .into_iter()
        .map(|g| {
            Ok(AggregateGroup {
                started_ms: g
                    .started
                    .as_ref()
                    .and_then(timestamp_ms)
                    .ok_or(SessionError::Invalid(
                        "aggregates[].started must be an ISO 8601 date-time",
                    ))?,
                did: empty_to_none(g.did),
                exited: g.exited,
                errored: g.errored,
                abnormal: g.abnormal,
                crashed: g.crashed,
            })
        })
        .collect::<Result<_, SessionError>>()?;
    Ok(SessionAggregates {
        release,
        environment,
        groups,
    })
}

/// A distinct id as stored: the first 8 bytes of its md5. Sentry hashes `did` before storing it
/// too; 64 bits keep collisions negligible (about one in 10^7 pairs at a million users).
pub fn user_hash(did: &str) -> i64 {
    let digest = Md5::digest(did.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(b)
}

impl SessionUpdate {
    /// What this update adds, by the rule in the module documentation.
    pub fn delta(&self) -> HealthDelta {
        let crashed = self.status == SessionStatus::Crashed;
        let errored =
            matches!(self.status, SessionStatus::Exited | SessionStatus::Errored) && self.errors > 0;
        HealthDelta {
            release: self.release.clone(),
            sessions: u64::from(self.init),
            errored: u64::from(errored),
            abnormal: u64::from(self.status == SessionStatus::Abnormal),
            crashed: u64::from(crashed),
            users: self.did.iter().map(|d| (user_hash(d), crashed)).collect(),
        }
    }
}

impl SessionAggregates {
    /// What this item adds, by the rule in the module documentation.
    pub fn delta(&self) -> HealthDelta {
        let mut out = HealthDelta {
            release: self.release.clone(),
            ..Default::default()
        };
        let mut users: Vec<(i64, bool)> = Vec::new();
        for g in &self.groups {
            out.sessions = out
                .sessions
                .saturating_add(g.exited)
                .saturating_add(g.errored)
                .saturating_add(g.abnormal)
                .saturating_add(g.crashed);
            out.errored = out.errored.saturating_add(g.errored);
            out.abnormal = out.abnormal.saturating_add(g.abnormal);
            out.crashed = out.crashed.saturating_add(g.crashed);
            if let Some(did) = &g.did {
                users.push((user_hash(did), g.crashed > 0));
            }
        }
        users.sort_unstable();
        // One entry per user, crashed if any of its groups crashed (sorted: `true` comes last).
        users.reverse();
        users.dedup_by_key(|u| u.0);
        users.reverse();
        out.users = users;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(json: &str) -> SessionUpdate {
        parse_session(json.as_bytes()).expect("valid session")
    }

    #[test]
    fn a_session_counts_once_at_init_and_its_bucket_at_its_terminal_update() {
        let init = update(
            r#"{"sid":"7c7b6585-f901-4351-bf8d-02711b721929","did":"u1","init":true,
                "started":"2020-02-07T14:16:00Z","status":"ok","errors":0,
                "attrs":{"release":"app@1.0","environment":"prod"}}"#,
        );
        assert_eq!(init.started_ms, 1_581_084_960_000);
        assert_eq!(init.environment.as_deref(), Some("prod"));
        let d = init.delta();
        assert_eq!((d.sessions, d.errored, d.crashed, d.abnormal), (1, 0, 0, 0));
        assert_eq!(d.users, vec![(user_hash("u1"), false)]);

        let errored_ok = update(
            r#"{"sid":"7c7b6585-f901-4351-bf8d-02711b721929","did":"u1","started":"2020-02-07T14:16:00Z",
                "status":"ok","errors":2,"attrs":{"release":"app@1.0"}}"#,
        );
        assert_eq!(errored_ok.delta().sessions + errored_ok.delta().errored, 0);

        let exited = update(
            r#"{"sid":"s","started":"2020-02-07T14:16:00Z","status":"exited","errors":2,"attrs":{"release":"app@1.0"}}"#,
        );
        let d = exited.delta();
        assert_eq!((d.sessions, d.errored, d.crashed), (0, 1, 0));
        assert!(d.users.is_empty());

        let crashed = update(
            r#"{"sid":"s","did":"u2","started":1581084960.5,"status":"crashed","errors":1,"attrs":{"release":"app@1.0"}}"#,
        );
        assert_eq!(crashed.started_ms, 1_581_084_960_500);
        let d = crashed.delta();
        assert_eq!((d.sessions, d.errored, d.crashed), (0, 0, 1));
        assert_eq!(d.users, vec![(user_hash("u2"), true)]);
    }

    #[test]
    fn aggregates_count_every_group_in_its_bucket_and_each_user_once() {
        let agg = parse_sessions(
            br#"{"aggregates":[{"started":"2020-02-07T14:16:00Z","exited":123},
                 {"started":"2020-02-07T14:16:00Z","did":"u1","exited":12,"errored":3},
                 {"started":"2020-02-07T14:17:00Z","did":"u1","crashed":1,"abnormal":2}],
                "attrs":{"release":"my-project-name@1.0.0","environment":"development"}}"#,
        )
        .expect("valid aggregates");
        let d = agg.delta();
        assert_eq!(d.release, "my-project-name@1.0.0");
        assert_eq!((d.sessions, d.errored, d.abnormal, d.crashed), (141, 3, 2, 1));
        assert_eq!(d.users, vec![(user_hash("u1"), true)]);
    }

    #[test]
    fn sessions_without_release_or_start_or_with_bad_json_are_rejected() {
        for bad in [
            &br#"{"sid":"s","started":"2020-02-07T14:16:00Z","attrs":{}}"#[..],
            br#"{"sid":"s","started":"2020-02-07T14:16:00Z"}"#,
            br#"{"sid":"s","attrs":{"release":"a"}}"#,
            br#"{"sid":"s","started":"yesterday","attrs":{"release":"a"}}"#,
            br#"{"sid":"s","started":"2020-02-07T14:16:00Z","status":"weird","attrs":{"release":"a"}}"#,
            br#"{"sid":"s","started":"2020-02-07T14:16:00Z","attrs":{"release":".."}}"#,
            br#"{"sid":"s","started":"2020-02-07T14:16:00Z","attrs":{"release":"a\nb"}}"#,
            b"not json",
        ] {
            assert!(parse_session(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(parse_sessions(br#"{"attrs":{"release":"a"}}"#).is_err());
        assert!(parse_sessions(br#"{"aggregates":[{"exited":1}],"attrs":{"release":"a"}}"#).is_err());
        assert!(
            parse_sessions(
                br#"{"aggregates":[{"started":"2020-02-07T14:16:00Z","exited":-1}],"attrs":{"release":"a"}}"#
            )
            .is_err()
        );
    }
}
