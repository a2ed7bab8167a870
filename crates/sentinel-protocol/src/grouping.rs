//! Sentry-compatible grouping: which issue an event belongs to, and the title and culprit.
//!
//! This follows Sentry's default configuration (`newstyle:2023-01-11`, getsentry/sentry
//! `src/sentry/grouping/`): a custom `fingerprint` wins, then the exception chain (types plus stack
//! traces), then a thread's or the event's stack trace, then the parameterized message, then a
//! fallback. Stack traces use only in-app frames when any frame is in-app (the "app" variant), else
//! all frames (the "system" variant). Line numbers never contribute.
//!
//! The hash is Sentry's `hash_from_values`: the md5 of the contributing values concatenated in
//! Sentry's flattening order (per frame: module or filename, function, context line; per exception:
//! frames, type, value; custom fingerprints: their entries), with no separator. Two events share an
//! issue exactly when their contributing values are equal, which is the decision Sentry makes; the
//! hex digest itself is an implementation detail that may or may not equal Sentry's.

use std::borrow::Cow;

use md5::{Digest, Md5};
use serde::Serialize;

use crate::event::Level;

mod builtin_rules;
mod exceptions;
mod frames;
mod metadata;

pub(crate) use builtin_rules::frame_rules;

/// Which rule produced the grouping hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupingKind {
    /// A custom fingerprint (sent by the SDK, or one of Sentry's built-in JavaScript rules).
    Fingerprint,
    /// A stack trace, of the exception chain or of a thread or the event.
    Stacktrace,
    /// Exception types and parameterized values, when no stack trace contributes.
    Exception,
    /// The parameterized message.
    Message,
    /// Nothing usable: every such event shares one issue per project.
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

/// What grouping reads from an event, already normalized the way Relay does before Sentry groups:
/// frames have `abs_path`/`filename` fixed up and their effective `in_app`, invalid exceptions are
/// gone, and the log entry is formatted.
#[derive(Debug, Default)]
pub(crate) struct Input<'e> {
    pub(crate) platform: &'e str,
    /// The event's `type` when the payload set one (`transaction`, `csp`, …).
    pub(crate) event_type: Option<&'e str>,
    pub(crate) exceptions: Vec<ExceptionIn<'e>>,
    /// The event's own `stacktrace` (empty when absent).
    pub(crate) stacktrace: Vec<FrameIn<'e>>,
    pub(crate) threads: Vec<ThreadIn<'e>>,
    pub(crate) message: Option<MessageIn<'e>>,
    pub(crate) fingerprint: Vec<Cow<'e, str>>,
    pub(crate) transaction: Option<&'e str>,
    /// The legacy `culprit` an SDK may send; Sentry prefers it to everything else.
    pub(crate) client_culprit: Option<&'e str>,
    /// `request.url` without query string and fragment.
    pub(crate) request_url: Option<&'e str>,
    pub(crate) level: Option<Level>,
    pub(crate) logger: Option<&'e str>,
    /// The event's final tags, for `{{ tags.x }}` fingerprint variables and built-in rules.
    pub(crate) tags: &'e [(String, String)],
    /// Sentry skips exception-group filtering for sentry-python 3.x (a temporary hack it keeps
    /// to avoid regrouping); this mirrors that.
    pub(crate) python_sdk_v3: bool,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct ExceptionIn<'e> {
    pub(crate) ty: Option<&'e str>,
    pub(crate) value: Option<&'e str>,
    pub(crate) module: Option<&'e str>,
    /// Empty when the exception has no stack trace.
    pub(crate) frames: Vec<FrameIn<'e>>,
    pub(crate) mechanism: MechanismIn<'e>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct MechanismIn<'e> {
    pub(crate) ty: Option<&'e str>,
    pub(crate) synthetic: bool,
    pub(crate) exception_id: Option<i64>,
    pub(crate) parent_id: Option<i64>,
    pub(crate) is_exception_group: bool,
    pub(crate) source: Option<&'e str>,
}

/// One stack frame. String fields are `None` when absent or empty.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct FrameIn<'e> {
    pub(crate) filename: Option<&'e str>,
    pub(crate) abs_path: Option<&'e str>,
    pub(crate) function: Option<&'e str>,
    pub(crate) raw_function: Option<&'e str>,
    pub(crate) module: Option<&'e str>,
    pub(crate) package: Option<&'e str>,
    pub(crate) platform: Option<&'e str>,
    pub(crate) context_line: Option<&'e str>,
    pub(crate) lineno: Option<i64>,
    pub(crate) colno: Option<i64>,
    /// Effective: the SDK's flag, else Sentry's built-in rules, else false.
    pub(crate) in_app: bool,
    /// False when a built-in rule says `-group` (e.g. babel helpers, node's tick machinery).
    pub(crate) grouped: bool,
    pub(crate) sourcemap: bool,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct ThreadIn<'e> {
    pub(crate) frames: Vec<FrameIn<'e>>,
    pub(crate) crashed: bool,
    pub(crate) current: bool,
}

/// The log entry after Relay's normalization.
#[derive(Debug, Default, Clone)]
pub(crate) struct MessageIn<'e> {
    /// `logentry.message`, kept only when it differs from the formatted text (a template).
    pub(crate) template: Option<Cow<'e, str>>,
    pub(crate) formatted: Cow<'e, str>,
}

/// The contributing values of one grouping component in one variant, flattened in Sentry's order.
#[derive(Debug, Default, Clone, PartialEq)]
struct Component<'e> {
    values: Vec<Cow<'e, str>>,
    /// Whether a stack trace inside contributes (what Sentry's `remove_non_stacktrace_variants`
    /// looks for).
    stacktrace_contributes: bool,
}

impl Component<'_> {
    fn contributes(&self) -> bool {
        !self.values.is_empty()
    }

    fn non_contributing() -> Self {
        Component::default()
    }
}

/// The "app" and "system" variants of a strategy. `system` is `None` when the strategy produced no
/// system variant at all (an exception without a stack trace).
#[derive(Debug, Default, Clone, PartialEq)]
struct Variants<'e> {
    app: Component<'e>,
    system: Option<Component<'e>>,
}

impl<'e> Variants<'e> {
    fn contributes(&self) -> bool {
        self.app.contributes() || self.system.as_ref().is_some_and(Component::contributes)
    }

    /// Sentry's `remove_non_stacktrace_variants`: when one variant groups by a stack trace, the
    /// variants that do not stop contributing.
    fn drop_non_stacktrace_variants(mut self) -> Self {
        let Some(system) = self.system.as_mut() else {
            return self;
        };
        if self.app.stacktrace_contributes || system.stacktrace_contributes {
            if !self.app.stacktrace_contributes {
                self.app = Component::non_contributing();
            }
            if !system.stacktrace_contributes {
                *system = Component::non_contributing();
            }
        }
        self
    }

    /// The variant whose hash decides the issue: app when it contributes, else system.
    fn chosen(self) -> Option<Component<'e>> {
        if self.app.contributes() {
            Some(self.app)
        } else {
            self.system.filter(Component::contributes)
        }
    }
}

/// Groups one normalized event.
pub(crate) fn compute(input: &Input<'_>) -> Grouping {
    let chain = exceptions::analyze(input);
    let component = default_component(input, chain.variants);

    let (hash, kind) = match fingerprint_values(input) {
        Some(Fingerprint::Custom(values)) => (hash_values(&values), GroupingKind::Fingerprint),
        Some(Fingerprint::Hybrid(entries)) => match &component {
            Some((component, _)) => {
                let mut values: Vec<Cow<'_, str>> = Vec::new();
                for entry in &entries {
                    match entry {
                        FingerprintEntry::Default => values.extend(component.values.iter().cloned()),
                        FingerprintEntry::Value(v) => values.push(Cow::Borrowed(v.as_ref())),
                    }
                }
                (hash_values(&values), GroupingKind::Fingerprint)
            }
            None => (hash_values::<&str>(&[]), GroupingKind::Fallback),
        },
        None => match &component {
            Some((component, kind)) => (hash_values(&component.values), *kind),
            None => (hash_values::<&str>(&[]), GroupingKind::Fallback),
        },
    };

    let meta = metadata::compute(input, chain.main);
    Grouping {
        hash,
        kind,
        title: meta.title,
        culprit: meta.culprit,
        exception_type: meta.exception_type,
        exception_value: meta.exception_value,
    }
}

/// The contributing component of the winning strategy (Sentry's strategies in score order:
/// chained exception, threads, stack trace, message), with the kind it represents.
fn default_component<'e>(
    input: &Input<'e>,
    chain: Option<Variants<'e>>,
) -> Option<(Component<'e>, GroupingKind)> {
    let stacktrace_kind = |component: Component<'e>| {
        let kind = if component.stacktrace_contributes {
            GroupingKind::Stacktrace
        } else {
            GroupingKind::Exception
        };
        (component, kind)
    };
    if let Some(variants) = chain.filter(Variants::contributes) {
        return variants.chosen().map(stacktrace_kind);
    }
    if let Some(variants) = thread_variants(input).filter(Variants::contributes) {
        return variants.chosen().map(|c| (c, GroupingKind::Stacktrace));
    }
    if !input.stacktrace.is_empty() {
        let variants = frames::stacktrace_variants(&input.stacktrace, input.platform);
        if variants.contributes() {
            return variants.chosen().map(|c| (c, GroupingKind::Stacktrace));
        }
    }
    let message = input.message.as_ref()?;
    let raw = message.template.as_deref().unwrap_or(&message.formatted);
    let normalized = crate::parameterize::normalize_message_for_grouping(raw);
    Some((
        Component {
            values: vec![Cow::Owned(normalized)],
            stacktrace_contributes: false,
        },
        GroupingKind::Message,
    ))
}

/// Sentry's `threads` strategy: the one crashed thread, else the one current thread, else the only
/// thread; anything else does not contribute.
fn thread_variants<'e>(input: &Input<'e>) -> Option<Variants<'e>> {
    if input.threads.is_empty() {
        return None;
    }
    let pick = |filter: &dyn Fn(&ThreadIn<'e>) -> bool| {
        let mut matching = input.threads.iter().filter(|t| filter(t));
        match (matching.next(), matching.next()) {
            (Some(thread), None) => Some(thread),
            _ => None,
        }
    };
    let thread = pick(&|t| t.crashed)
        .or_else(|| pick(&|t| t.current))
        .or_else(|| pick(&|_| true))?;
    if thread.frames.is_empty() {
        return None;
    }
    Some(frames::stacktrace_variants(&thread.frames, input.platform).drop_non_stacktrace_variants())
}

enum FingerprintEntry<'a> {
    Default,
    Value(Cow<'a, str>),
}

enum Fingerprint<'a> {
    Custom(Vec<Cow<'a, str>>),
    Hybrid(Vec<FingerprintEntry<'a>>),
}

/// The fingerprint that applies: Sentry's built-in JavaScript rules first (they replace the
/// client's), then the client's own unless it is just `{{ default }}`.
fn fingerprint_values<'e>(input: &Input<'e>) -> Option<Fingerprint<'e>> {
    if let Some(values) = builtin_rules::builtin_fingerprint(input) {
        return Some(Fingerprint::Custom(values));
    }
    let raw = &input.fingerprint;
    if raw.is_empty() || (raw.len() == 1 && is_default_variable(&raw[0])) {
        return None;
    }
    if raw.iter().any(|e| is_default_variable(e)) {
        let entries = raw
            .iter()
            .map(|entry| {
                if is_default_variable(entry) {
                    FingerprintEntry::Default
                } else {
                    FingerprintEntry::Value(resolve_variable(entry, input))
                }
            })
            .collect();
        return Some(Fingerprint::Hybrid(entries));
    }
    Some(Fingerprint::Custom(
        raw.iter().map(|entry| resolve_variable(entry, input)).collect(),
    ))
}

/// Sentry's `parse_fingerprint_entry_as_variable`: the whole entry is `{{ name }}`.
fn fingerprint_variable(entry: &str) -> Option<&str> {
    let inner = entry.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (!inner.is_empty() && !inner.contains(char::is_whitespace)).then_some(inner)
}

fn is_default_variable(entry: &str) -> bool {
    fingerprint_variable(entry) == Some("default")
}

/// Sentry's `resolve_fingerprint_variable` with the `newstyle:2023-01-11` handling of unknown
/// variables (kept verbatim).
fn resolve_variable<'e>(entry: &Cow<'e, str>, input: &Input<'e>) -> Cow<'e, str> {
    let Some(name) = fingerprint_variable(entry) else {
        return entry.clone();
    };
    let last = input.exceptions.last();
    let crash = || metadata::crash_frame(input, |_| true);
    let or = |value: Option<&'e str>, missing: &'static str| Cow::Borrowed(value.unwrap_or(missing));
    match name {
        "transaction" => or(input.transaction, "<no-transaction>"),
        "message" => match input.message.as_ref().map(|m| m.formatted.clone()) {
            Some(formatted) if !formatted.is_empty() => formatted,
            _ => or(last.and_then(|e| e.value), "<no-message>"),
        },
        "type" | "error.type" => or(last.and_then(|e| e.ty), "<no-type>"),
        "value" | "error.value" => or(last.and_then(|e| e.value), "<no-value>"),
        "function" | "stack.function" => or(crash().and_then(|f| f.function), "<no-function>"),
        "path" | "stack.abs_path" => or(crash().and_then(|f| f.abs_path.or(f.filename)), "<no-abs-path>"),
        "stack.filename" => or(crash().and_then(|f| f.filename.or(f.abs_path)), "<no-filename>"),
        "module" | "stack.module" => or(crash().and_then(|f| f.module), "<no-module>"),
        "package" | "stack.package" => or(
            crash()
                .and_then(|f| f.package)
                .map(|p| p.rsplit('/').next().unwrap_or(p))
                .map(|p| p.rsplit('\\').next().unwrap_or(p)),
            "<no-package>",
        ),
        "level" => Cow::Borrowed(input.level.map_or("<no-level>", Level::as_str)),
        "logger" => or(input.logger, "<no-logger>"),
        _ => match name.strip_prefix("tags.") {
            Some(tag) => input
                .tags
                .iter()
                .find(|(k, _)| k == tag)
                .map(|(_, v)| Cow::Owned(v.clone()))
                .unwrap_or_else(|| Cow::Owned(format!("<no-value-for-tag-{tag}>"))),
            None => entry.clone(),
        },
    }
}

/// Sentry's `hash_from_values`: md5 over the values' UTF-8 bytes, concatenated.
fn hash_values<S: AsRef<str>>(values: &[S]) -> String {
    let mut md5 = Md5::new();
    for value in values {
        md5.update(value.as_ref().as_bytes());
    }
    hex::encode(md5.finalize())
}

/// The parts of Sentry's title/culprit helpers that need Python's string semantics.
pub(crate) mod text {
    /// Sentry's `truncatechars`: at most `max` characters, the last three being `...` when cut.
    pub(crate) fn truncatechars(value: &str, max: usize) -> String {
        if value.chars().count() <= max {
            return value.to_owned();
        }
        let keep = max.saturating_sub(3);
        let mut out: String = value.chars().take(keep).collect();
        out.push_str("...");
        out
    }

    /// `value.splitlines()[0]` (empty for an empty value).
    pub(crate) fn first_line(value: &str) -> &str {
        crate::parameterize::python_splitlines(value).next().unwrap_or("")
    }
}

#[cfg(test)]
mod tests;
