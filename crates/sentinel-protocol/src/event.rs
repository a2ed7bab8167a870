//! Event normalization: what the pipeline stores about one event, read the way Relay and Sentry
//! read it.
//!
//! `summarize` is the ingest worker's hot path. It deserializes into borrowing, lenient typed
//! structs (`wire`) in one pass, never into `serde_json::Value`, normalizes the fields Sentry
//! normalizes (timestamps with clock drift, level aliases, tags, log entry formatting, frame paths
//! and in-app flags), and groups the event (`crate::grouping`). `normalized_json` is the slow path
//! for showing one event.

use std::borrow::Cow;

use serde::Serialize;
use serde::de::{Deserialize, IgnoredAny};

use crate::grouping::{self, ExceptionIn, FrameIn, Grouping, Input, MechanismIn, MessageIn, ThreadIn};
use crate::ids::EventId;

mod display;
mod logentry;
mod tags;
pub(crate) mod timestamp;
pub(crate) mod wire;

/// Inputs to normalization that come from outside the payload. No clock: the caller passes times.
#[derive(Debug, Clone)]
pub struct NormalizeConfig {
    /// When the server received the envelope, epoch milliseconds.
    pub received_at_ms: i64,
    /// The envelope header's `sent_at`, if any (RFC 3339), for clock-drift correction.
    pub sent_at: Option<String>,
    /// Timestamps further in the future than this (after drift correction) become `received_at_ms`.
    pub max_future_ms: i64,
    /// Timestamps further in the past than this become `received_at_ms`.
    pub max_past_ms: i64,
}

impl NormalizeConfig {
    /// Sentry's defaults: 60 s into the future, 30 days into the past (`MAX_SECS_IN_FUTURE`,
    /// `MAX_SECS_IN_PAST` in getsentry/sentry `src/sentry/constants.py`).
    pub fn new(received_at_ms: i64, sent_at: Option<String>) -> Self {
        Self {
            received_at_ms,
            sent_at,
            max_future_ms: 60_000,
            max_past_ms: 30 * 24 * 3600 * 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Fatal,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Parses the stored/API form (`debug`, `info`, `warning`, `error`, `fatal`).
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warning" => Some(Level::Warning),
            "error" => Some(Level::Error),
            "fatal" => Some(Level::Fatal),
            _ => None,
        }
    }

    /// Parses a level as SDKs send it: Relay's names and aliases (`log` is info, `critical` is
    /// fatal), plus `warn`, in any case.
    pub(crate) fn from_wire_name(s: &str) -> Option<Level> {
        let s = s.trim();
        [
            ("debug", Level::Debug),
            ("info", Level::Info),
            ("log", Level::Info),
            ("warning", Level::Warning),
            ("warn", Level::Warning),
            ("error", Level::Error),
            ("fatal", Level::Fatal),
            ("critical", Level::Fatal),
        ]
        .into_iter()
        .find(|(name, _)| s.eq_ignore_ascii_case(name))
        .map(|(_, level)| level)
    }

    /// Python's numeric logging levels (Relay's `from_python_level`).
    pub(crate) fn from_python_level(level: i64) -> Option<Level> {
        match level {
            10 => Some(Level::Debug),
            20 => Some(Level::Info),
            30 => Some(Level::Warning),
            40 => Some(Level::Error),
            50 => Some(Level::Fatal),
            _ => None,
        }
    }
}

/// Everything the worker needs from one event, extracted with typed structs (no `serde_json::Value`).
#[derive(Debug, Clone)]
pub struct EventSummary {
    /// The payload's `event_id`, if it had a valid one.
    pub event_id: Option<EventId>,
    /// Normalized event time (drift-corrected and clamped), epoch milliseconds.
    pub timestamp_ms: i64,
    pub level: Level,
    pub platform: String,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub server_name: Option<String>,
    pub transaction: Option<String>,
    /// The formatted message (`logentry.formatted`, `logentry.message`, or `message`), truncated.
    pub message: Option<String>,
    /// Tags counted per issue: environment, release, level, user, server_name, browser, os, runtime,
    /// url, transaction, handled, mechanism… and every custom tag. Keys unique, sorted; tags whose key
    /// or value breaks Sentry's limits (200 characters, no line breaks) are dropped, as Sentry does.
    pub tags: Vec<(String, String)>,
    pub grouping: Grouping,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("event payload is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("event payload must be a JSON object")]
    NotAnObject,
}

/// Sentry's maximum message length (`MaxChars::Message` in Relay; the protocol docs say "must not
/// exceed 8192 characters").
const MAX_MESSAGE_CHARS: usize = 8192;
/// Relay's `MaxChars::Environment` and `MaxChars::Distribution`.
const MAX_ENVIRONMENT_CHARS: usize = 64;
const MAX_DIST_CHARS: usize = 64;
/// Sentry's release `version` column.
const MAX_RELEASE_CHARS: usize = 200;
/// Relay's `MaxChars::Logger`.
const MAX_LOGGER_CHARS: usize = 64;

/// The platforms Relay accepts; anything else becomes `other` (`VALID_PLATFORMS` in
/// relay-event-schema).
const VALID_PLATFORMS: [&str; 19] = [
    "as3",
    "c",
    "cfml",
    "cocoa",
    "csharp",
    "elixir",
    "haskell",
    "go",
    "groovy",
    "java",
    "javascript",
    "native",
    "node",
    "objc",
    "other",
    "perl",
    "php",
    "python",
    "ruby",
];

/// Cheap ingest-time check: validates that the payload is one JSON object and returns its `event_id`
/// (None when absent, empty or not a valid UUID).
pub fn peek_event_id(payload: &[u8]) -> Result<Option<EventId>, EventError> {
    let wire::EventIdOnly(id) = parse_object(payload)?;
    Ok(parse_event_id(id.get()))
}

/// Extracts and normalizes the fields the pipeline stores, and computes the grouping.
pub fn summarize(payload: &[u8], cfg: &NormalizeConfig) -> Result<EventSummary, EventError> {
    let event: wire::Event<'_> = parse_object(payload)?;
    let fields = Fields::of(&event);

    let tags = tags::build(
        &event,
        &tags::Derived {
            level: fields.level.as_str(),
            logger: fields
                .logger
                .map(|l| grouping::text::truncatechars(l, MAX_LOGGER_CHARS)),
            environment: fields.environment,
            release: fields.release,
            dist: fields.dist,
            server_name: fields.server_name,
            transaction: fields.transaction,
            url: fields.request_url,
        },
    );

    let grouping = grouping::compute(&fields.grouping_input(&event, &tags));
    let message = fields
        .message
        .as_ref()
        .map(|m| grouping::text::truncatechars(&m.formatted, MAX_MESSAGE_CHARS));

    Ok(EventSummary {
        event_id: parse_event_id(event.event_id.get()),
        timestamp_ms: timestamp::normalize(event.timestamp.0, cfg),
        level: fields.level,
        platform: fields.platform.to_owned(),
        environment: fields.environment.map(str::to_owned),
        release: fields.release.map(str::to_owned),
        server_name: fields.server_name.map(str::to_owned),
        transaction: fields.transaction.map(str::to_owned),
        message,
        tags,
        grouping,
    })
}

/// The full normalized event for display: the payload with the summary's decisions applied
/// (event_id, timestamp, level, tags as pairs, exception/breadcrumbs in `{values}` form, trimmed fields).
pub fn normalized_json(payload: &[u8], summary: &EventSummary) -> Result<serde_json::Value, EventError> {
    let event: wire::Event<'_> = parse_object(payload)?;
    let fields = Fields::of(&event);
    let mut value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| EventError::InvalidJson(e.to_string()))?;
    display::apply(&mut value, summary, fields.message.as_ref());
    Ok(value)
}

/// Parses a payload that must be one JSON object, telling malformed JSON from other JSON values.
fn parse_object<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, EventError> {
    let first = payload
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(match serde_json::from_slice::<IgnoredAny>(payload) {
            Ok(_) => EventError::NotAnObject,
            Err(e) => EventError::InvalidJson(e.to_string()),
        });
    }
    serde_json::from_slice(payload).map_err(|e| EventError::InvalidJson(e.to_string()))
}

/// A valid, non-nil event id.
fn parse_event_id(id: Option<&str>) -> Option<EventId> {
    id.and_then(|id| id.trim().parse::<EventId>().ok())
        .filter(|id| !id.is_nil())
}

impl<'a> wire::Event<'a> {
    /// `logentry`, or the legacy `message` when the payload has no `logentry`.
    fn logentry_or_message(&self) -> &wire::LogEntry<'a> {
        if self.logentry.present {
            &self.logentry
        } else {
            &self.message
        }
    }
}

/// The event's top-level fields after Relay's normalization.
struct Fields<'e> {
    platform: &'e str,
    level: Level,
    logger: Option<&'e str>,
    environment: Option<&'e str>,
    release: Option<&'e str>,
    dist: Option<&'e str>,
    server_name: Option<&'e str>,
    transaction: Option<&'e str>,
    request_url: Option<&'e str>,
    message: Option<MessageIn<'e>>,
}

impl<'e> Fields<'e> {
    fn of(event: &'e wire::Event<'_>) -> Self {
        let platform = event
            .platform
            .get()
            .filter(|p| VALID_PLATFORMS.contains(p))
            .unwrap_or("other");
        Fields {
            platform,
            level: event.level.0.unwrap_or(Level::Error),
            logger: event.logger.get().map(str::trim).filter(|l| !l.is_empty()),
            environment: event.environment.get().map(str::trim).filter(|e| {
                !e.is_empty()
                    && e.chars().count() <= MAX_ENVIRONMENT_CHARS
                    && !e.contains(['\n', '\r', '\x0c', '/'])
            }),
            release: event.release.get().map(str::trim).filter(|r| is_valid_release(r)),
            dist: event
                .dist
                .get()
                .map(str::trim)
                .filter(|d| !d.is_empty() && d.chars().count() <= MAX_DIST_CHARS),
            server_name: event.server_name.non_empty(),
            transaction: event.transaction.non_empty(),
            request_url: event.request.url.non_empty().map(strip_query_and_fragment),
            message: logentry::normalize(event.logentry_or_message()),
        }
    }

    fn grouping_input(&self, event: &'e wire::Event<'_>, tags: &'e [(String, String)]) -> Input<'e> {
        let platform = self.platform;
        let python_sdk_v3 =
            platform == "python" && event.sdk.version.get().is_some_and(|v| v.starts_with('3'));
        Input {
            platform,
            event_type: event.ty.non_empty(),
            exceptions: event
                .exception
                .0
                .iter()
                .filter_map(|e| exception(e, platform))
                .collect(),
            stacktrace: frames(&event.stacktrace, platform),
            threads: event
                .threads
                .0
                .iter()
                .map(|t| ThreadIn {
                    frames: frames(&t.stacktrace, platform),
                    crashed: t.crashed.0 == Some(true),
                    current: t.current.0 == Some(true),
                })
                .collect(),
            message: self.message.clone(),
            fingerprint: event
                .fingerprint
                .0
                .iter()
                .filter_map(|entry| entry.get().map(Cow::Borrowed))
                .collect(),
            transaction: self.transaction,
            client_culprit: event.culprit.non_empty(),
            request_url: self.request_url,
            level: Some(self.level),
            logger: self.logger,
            tags,
            python_sdk_v3,
        }
    }
}

/// Sentry's `Release.is_valid_version`.
fn is_valid_release(release: &str) -> bool {
    !release.is_empty()
        && release.chars().count() <= MAX_RELEASE_CHARS
        && !matches!(release, "." | "..")
        && !release.eq_ignore_ascii_case("latest")
        && !release.contains(['\r', '\n', '\x0c', '\t', '/', '\\'])
}

fn strip_query_and_fragment(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Relay drops exceptions with neither type nor value, and splits a `Type: message` value when the
/// type is missing (relay-event-normalization `normalize_exception`).
fn exception<'e>(e: &'e wire::Exception<'_>, platform: &'e str) -> Option<ExceptionIn<'e>> {
    let mut ty = e.ty.non_empty();
    let mut value = e.value.get();
    if ty.is_none()
        && let Some(v) = value
        && let Some((t, rest)) = split_type_and_value(v)
    {
        ty = Some(t);
        value = Some(rest);
    }
    if ty.is_none() && value.is_none_or(str::is_empty) {
        return None;
    }
    let m = &e.mechanism;
    Some(ExceptionIn {
        ty,
        value,
        module: e.module.non_empty(),
        frames: frames(&e.stacktrace, platform),
        mechanism: MechanismIn {
            ty: m.ty.non_empty(),
            synthetic: m.synthetic.0 == Some(true),
            exception_id: m.exception_id.0,
            parent_id: m.parent_id.0,
            is_exception_group: m.is_exception_group.0 == Some(true),
            source: m.source.non_empty(),
        },
    })
}

/// `^(\w+):(.*)$` on a one-line value: the word before the colon is the type, the trimmed rest
/// the value.
fn split_type_and_value(value: &str) -> Option<(&str, &str)> {
    let (ty, rest) = value.split_once(':')?;
    let is_word = !ty.is_empty() && ty.chars().all(|c| c.is_alphanumeric() || c == '_');
    (is_word && !rest.contains('\n')).then(|| (ty, rest.trim()))
}

fn frames<'e>(stacktrace: &'e wire::Stacktrace<'_>, platform: &'e str) -> Vec<FrameIn<'e>> {
    stacktrace.frames.0.iter().map(|f| frame(f, platform)).collect()
}

/// One frame with Relay's path fix-up (`process_non_raw_frame`: a lone `filename` becomes
/// `abs_path`, and a URL's path becomes the `filename`) and its effective `in_app`.
fn frame<'e>(f: &'e wire::Frame<'_>, event_platform: &'e str) -> FrameIn<'e> {
    let (abs_path, filename) = fix_paths(f.abs_path.non_empty(), f.filename.non_empty());
    let platform = f.platform.non_empty();
    let module = f.module.non_empty();
    let function = f.function.non_empty();
    let rules = grouping::frame_rules(
        platform.unwrap_or(event_platform),
        abs_path.or(filename),
        module,
        function,
    );
    FrameIn {
        filename,
        abs_path,
        function,
        raw_function: f.raw_function.non_empty(),
        module,
        package: f.package.non_empty(),
        platform,
        context_line: f.context_line.non_empty(),
        lineno: f.lineno.0,
        colno: f.colno.0,
        in_app: rules.in_app(f.in_app.0),
        grouped: rules.grouped,
        sourcemap: f.data.sourcemap.0,
    }
}

/// Relay's `process_non_raw_frame` on `(abs_path, filename)`.
pub(crate) fn fix_paths<'e>(
    abs_path: Option<&'e str>,
    filename: Option<&'e str>,
) -> (Option<&'e str>, Option<&'e str>) {
    match (abs_path, filename) {
        (None, None) => (None, None),
        (None, Some(filename)) => (Some(filename), url_path(filename).or(Some(filename))),
        (Some(abs_path), None) => (Some(abs_path), url_path(abs_path).or(Some(abs_path))),
        both => both,
    }
}

/// The path of a URL (`file:`, `http:`, `https:`, `applewebdata:`), when it is more than `/`.
fn url_path(s: &str) -> Option<&str> {
    let rest = ["file:", "http:", "https:", "applewebdata:"]
        .iter()
        .find_map(|scheme| s.strip_prefix(scheme))?;
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let end = authority_and_path.find(['/', '?', '#'])?;
            &authority_and_path[end..]
        }
        None => rest,
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    (!path.is_empty() && path != "/").then_some(path)
}

#[cfg(test)]
mod tests;
