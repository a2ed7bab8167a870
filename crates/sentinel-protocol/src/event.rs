//! Event normalization (placeholder: being implemented; the public API below is the contract).

use serde::Serialize;

use crate::grouping::Grouping;
use crate::ids::EventId;

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
    /// Tags counted per issue: environment, release, level, user, server_name, browser, os, runtime, and
    /// every custom tag. Keys unique, keys and values truncated to Sentry's limits.
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

/// Cheap ingest-time check: validates that the payload is one JSON object and returns its `event_id`
/// (None when absent, empty or not a valid UUID).
pub fn peek_event_id(payload: &[u8]) -> Result<Option<EventId>, EventError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(payload)
        .map_err(|e| EventError::InvalidJson(e.to_string()))?;
    Ok(None)
}

/// Extracts and normalizes the fields the pipeline stores, and computes the grouping.
pub fn summarize(_payload: &[u8], cfg: &NormalizeConfig) -> Result<EventSummary, EventError> {
    Ok(EventSummary {
        event_id: None,
        timestamp_ms: cfg.received_at_ms,
        level: Level::Error,
        platform: "other".into(),
        environment: None,
        release: None,
        server_name: None,
        transaction: None,
        message: None,
        tags: Vec::new(),
        grouping: Grouping::placeholder(),
    })
}

/// The full normalized event for display: the payload with the summary's decisions applied
/// (event_id, timestamp, level, tags as pairs, exception/breadcrumbs in `{values}` form, trimmed fields).
pub fn normalized_json(payload: &[u8], summary: &EventSummary) -> Result<serde_json::Value, EventError> {
    let mut v: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| EventError::InvalidJson(e.to_string()))?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("level".into(), summary.level.as_str().into());
    }
    Ok(v)
}
