//! Sentry-style grouping (placeholder: being implemented; the public API below is the contract).

use serde::Serialize;

/// Which rule produced the grouping hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupingKind {
    Fingerprint,
    Stacktrace,
    Exception,
    Message,
    Fallback,
}

/// The result of grouping one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grouping {
    /// 32 lower-case hex digits (md5 of the contributing values). Equal hashes mean the same issue.
    pub hash: String,
    pub kind: GroupingKind,
    /// Issue title as Sentry shows it, e.g. `ZeroDivisionError: division by zero`.
    pub title: String,
    /// Issue culprit as Sentry shows it, e.g. `app.views in divide` (python) or the transaction.
    pub culprit: String,
    /// Main exception type and value, when there is an exception.
    pub exception_type: Option<String>,
    pub exception_value: Option<String>,
}

impl Grouping {
    pub fn placeholder() -> Self {
        Grouping {
            hash: "00000000000000000000000000000000".into(),
            kind: GroupingKind::Fallback,
            title: "<unlabeled event>".into(),
            culprit: String::new(),
            exception_type: None,
            exception_value: None,
        }
    }
}
