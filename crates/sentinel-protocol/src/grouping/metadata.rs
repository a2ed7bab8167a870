//! Issue title and culprit as Sentry computes them: getsentry/sentry
//! `src/sentry/eventtypes/error.py` and `base.py` (titles), `src/sentry/culprit.py` and
//! `event_manager.py` `get_culprit` (culprits), `stacktraces/processing.py`
//! `get_crash_frame_from_event_data` (the crash frame).

use super::text::{first_line, truncatechars};
use super::{ExceptionIn, FrameIn, Input};

/// Sentry's `MAX_CULPRIT_LENGTH`.
const MAX_CULPRIT_CHARS: usize = 200;
/// Error titles cut the exception value's first line to this many characters.
const MAX_ERROR_TITLE_VALUE_CHARS: usize = 100;
/// Message titles cut the message's first line to this many characters (newer Sentry; older
/// releases used 100).
const MAX_MESSAGE_TITLE_CHARS: usize = 256;
/// Sentry trims the stored exception type and value to these sizes.
const MAX_TYPE_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 1024;

pub(super) struct Metadata {
    pub(super) title: String,
    pub(super) culprit: String,
    pub(super) exception_type: Option<String>,
    pub(super) exception_value: Option<String>,
}

pub(super) fn compute(input: &Input<'_>, main: Option<&ExceptionIn<'_>>) -> Metadata {
    let (title, exception_type, exception_value) = match main {
        Some(main) => {
            let value = truncatechars(main.value.unwrap_or(""), MAX_VALUE_CHARS);
            let ty = (!main.mechanism.synthetic).then(|| {
                truncatechars(
                    main.ty.filter(|t| !t.is_empty()).unwrap_or("Error"),
                    MAX_TYPE_CHARS,
                )
            });
            let title = match &ty {
                Some(ty) if value.is_empty() => ty.clone(),
                Some(ty) => format!(
                    "{ty}: {}",
                    truncatechars(first_line(&value), MAX_ERROR_TITLE_VALUE_CHARS)
                ),
                // A synthetic exception only carries a stack (e.g. @sentry/node attaches one to
                // every captureMessage). Sentry titles it by the crashing function, which gives
                // titles like "?" for anonymous callbacks (getsentry/sentry#86773); the message,
                // when there is one, is what the user wrote and what they look for.
                None if has_message(input) => message_title(input),
                None => crash_frame(input, has_real_function)
                    .and_then(|f| f.function)
                    .unwrap_or("<unknown>")
                    .to_owned(),
            };
            let exception_type = main.ty.map(|t| truncatechars(t, MAX_TYPE_CHARS));
            (title, exception_type, main.value.map(|_| value))
        }
        None => (message_title(input), None, None),
    };
    Metadata {
        title,
        culprit: culprit(input),
        exception_type,
        exception_value,
    }
}

fn message_title(input: &Input<'_>) -> String {
    if input.event_type == Some("transaction") {
        return input.transaction.unwrap_or("<unlabeled transaction>").to_owned();
    }
    let message = input.message.as_ref().map_or("", |m| m.formatted.trim());
    if message.is_empty() {
        "<unlabeled event>".to_owned()
    } else {
        truncatechars(first_line(message), MAX_MESSAGE_TITLE_CHARS)
    }
}

fn has_message(input: &Input<'_>) -> bool {
    input
        .message
        .as_ref()
        .is_some_and(|m| !m.formatted.trim().is_empty())
}

fn has_real_function(frame: &FrameIn<'_>) -> bool {
    !matches!(
        frame.function,
        None | Some("<redacted>" | "<unknown>" | "?" | "<anonymous>")
    )
}

/// The frame closest to the crash: the last in-app frame of the main stack trace passing the
/// filter, else the last passing frame.
pub(super) fn crash_frame<'i, 'e>(
    input: &'i Input<'e>,
    filter: impl Fn(&FrameIn<'e>) -> bool,
) -> Option<&'i FrameIn<'e>> {
    let mut frames: &[FrameIn<'e>] = input.exceptions.last().map_or(&[], |e| &e.frames[..]);
    if frames.is_empty() {
        frames = &input.stacktrace;
    }
    if frames.is_empty()
        && let [thread] = &input.threads[..]
    {
        frames = &thread.frames;
    }
    let mut fallback = None;
    for frame in frames.iter().rev().filter(|f| filter(f)) {
        if frame.in_app {
            return Some(frame);
        }
        fallback = fallback.or(Some(frame));
    }
    fallback
}

/// The client's legacy `culprit`, else the transaction, else Sentry's `generate_culprit`.
fn culprit(input: &Input<'_>) -> String {
    let culprit = match input.client_culprit.or(input.transaction) {
        Some(given) => given.to_owned(),
        None => generate_culprit(input),
    };
    truncatechars(&culprit, MAX_CULPRIT_CHARS)
}

fn generate_culprit(input: &Input<'_>) -> String {
    let frames: Option<&[FrameIn<'_>]> = if let Some(last) = input.exceptions.last() {
        // Synthetic exceptions carry no meaningful location.
        if last.mechanism.synthetic {
            return String::new();
        }
        input
            .exceptions
            .iter()
            .rev()
            .find(|e| !e.frames.is_empty())
            .map(|e| &e.frames[..])
    } else {
        (!input.stacktrace.is_empty()).then_some(&input.stacktrace[..])
    };
    let culprit = frames
        .map(|frames| stacktrace_culprit(frames, input.platform))
        .unwrap_or_default();
    if culprit.is_empty()
        && let Some(url) = input.request_url
    {
        return url.to_owned();
    }
    culprit
}

fn stacktrace_culprit(frames: &[FrameIn<'_>], platform: &str) -> String {
    let mut fallback: Option<String> = None;
    for frame in frames.iter().rev() {
        if frame.in_app {
            let culprit = frame_culprit(frame, platform);
            if !culprit.is_empty() {
                return culprit;
            }
        } else if fallback.is_none() {
            fallback = Some(frame_culprit(frame, platform));
        }
    }
    fallback.unwrap_or_default()
}

fn frame_culprit(frame: &FrameIn<'_>, event_platform: &str) -> String {
    let platform = frame.platform.unwrap_or(event_platform);
    let function = frame.function.unwrap_or("?");
    if matches!(platform, "objc" | "cocoa" | "native") {
        return function.to_owned();
    }
    let Some(location) = frame.module.or(frame.filename) else {
        return String::new();
    };
    if matches!(platform, "javascript" | "node") {
        format!("{function}({location})")
    } else {
        format!("{location} in {function}")
    }
}
