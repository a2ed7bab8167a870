//! Relay's log entry normalization (getsentry/relay `relay-event-normalization/src/logentry.rs`):
//! a template with parameters but no formatted text gets formatted (Python `%` style when it has a
//! `%`, else `{}` style), and a message equal to its formatted text is not a template.

use std::borrow::Cow;

use super::wire::{LogEntry, Params};
use crate::grouping::MessageIn;

/// The normalized log entry, or `None` when the entry has no text at all.
pub(super) fn normalize<'e>(entry: &'e LogEntry<'_>) -> Option<MessageIn<'e>> {
    let message = entry.message.get();
    let mut formatted: Option<Cow<'e, str>> = entry.formatted.get().map(Cow::Borrowed);
    if formatted.is_none()
        && let Some(template) = message
    {
        formatted = format(template, &entry.params).map(Cow::Owned);
    }
    match (message, formatted) {
        (None, None) => None,
        (Some(message), None) => Some(MessageIn {
            template: None,
            formatted: Cow::Borrowed(message),
        }),
        (Some(message), Some(formatted)) if message == formatted => Some(MessageIn {
            template: None,
            formatted,
        }),
        (message, Some(formatted)) => Some(MessageIn {
            template: message.map(Cow::Borrowed),
            formatted,
        }),
    }
}

/// Formats a log template with its parameters; `None` when it cannot be done faithfully.
pub(super) fn format(template: &str, params: &Params<'_>) -> Option<String> {
    if matches!(params, Params::None) {
        return None;
    }
    if template.contains('%') {
        python_format(template, params)
    } else if template.contains('{') {
        curly_format(template, params)
    } else {
        None
    }
}

fn param<'p>(params: &'p Params<'_>, index: usize) -> Option<&'p str> {
    match params {
        Params::Positional(values) => values.get(index)?.get(),
        _ => None,
    }
}

fn named<'p>(params: &'p Params<'_>, name: &str) -> Option<&'p str> {
    match params {
        Params::Named(values) => values.iter().find(|(k, _)| k == name)?.1.get(),
        _ => None,
    }
}

/// `%s`, `%r`, `%d`/`%i`/`%u`, `%f` and `%%`, positional or `%(name)s`, with flags, width and
/// precision accepted (precision honoured for `%f`).
fn python_format(template: &str, params: &Params<'_>) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut chars = template.char_indices().peekable();
    let mut next_positional = 0;
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut name = None;
        if chars.next_if(|(_, c)| *c == '(').is_some() {
            let mut key = String::new();
            loop {
                match chars.next()? {
                    (_, ')') => break,
                    (_, c) => key.push(c),
                }
            }
            name = Some(key);
        }
        while chars.next_if(|(_, c)| "-+ #0".contains(*c)).is_some() {}
        while chars.next_if(|(_, c)| c.is_ascii_digit()).is_some() {}
        let mut precision = None;
        if chars.next_if(|(_, c)| *c == '.').is_some() {
            let mut digits = String::new();
            while let Some((_, d)) = chars.next_if(|(_, c)| c.is_ascii_digit()) {
                digits.push(d);
            }
            precision = Some(digits.parse::<usize>().unwrap_or(0));
        }
        let (_, conversion) = chars.next()?;
        if conversion == '%' {
            out.push('%');
            continue;
        }
        let value = match &name {
            Some(key) => named(params, key)?,
            None => {
                let value = param(params, next_positional)?;
                next_positional += 1;
                value
            }
        };
        match conversion {
            's' | 'r' => out.push_str(value),
            'd' | 'i' | 'u' => {
                let number: f64 = value.parse().ok()?;
                out.push_str(&format!("{}", number.trunc()));
            }
            'f' | 'F' => {
                let number: f64 = value.parse().ok()?;
                out.push_str(&format!("{number:.*}", precision.unwrap_or(6)));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// `{}`, `{0}` and `{name}` placeholders.
fn curly_format(template: &str, params: &Params<'_>) -> Option<String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    let mut next_positional = 0;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}');
        let key = close.map(|c| &after[..c]);
        match key {
            Some(key) if key.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                let value = if key.is_empty() {
                    let value = param(params, next_positional)?;
                    next_positional += 1;
                    value
                } else if let Ok(index) = key.parse::<usize>() {
                    param(params, index)?
                } else {
                    named(params, key)?
                };
                out.push_str(value);
                rest = &after[key.len() + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::wire::LenientStr;

    fn positional(values: &[&'static str]) -> Params<'static> {
        Params::Positional(
            values
                .iter()
                .map(|v| LenientStr(Some(Cow::Borrowed(*v))))
                .collect(),
        )
    }

    fn named_params(values: &[(&'static str, &'static str)]) -> Params<'static> {
        Params::Named(
            values
                .iter()
                .map(|(k, v)| (Cow::Borrowed(*k), LenientStr(Some(Cow::Borrowed(*v)))))
                .collect(),
        )
    }

    #[test]
    fn python_percent_templates_are_formatted() {
        let p = positional(&["warning", "42"]);
        assert_eq!(
            format("This is a %s: %d%%", &p).as_deref(),
            Some("This is a warning: 42%")
        );
        let p = named_params(&[("name", "world")]);
        assert_eq!(format("hello, %(name)s!", &p).as_deref(), Some("hello, world!"));
        let p = positional(&["2.5"]);
        assert_eq!(format("took %.2f s", &p).as_deref(), Some("took 2.50 s"));
    }

    #[test]
    fn curly_templates_are_formatted() {
        let p = named_params(&[("foo", "error")]);
        assert_eq!(
            format("Here is a new {foo}", &p).as_deref(),
            Some("Here is a new error")
        );
        let p = positional(&["a", "b"]);
        assert_eq!(
            format("{} then {1} then {0}", &p).as_deref(),
            Some("a then b then a")
        );
    }

    #[test]
    fn templates_that_cannot_be_formatted_are_left_alone() {
        let p = positional(&["x"]);
        assert_eq!(format("%s and %s", &p), None);
        assert_eq!(format("%x", &p), None);
        assert_eq!(format("no placeholders", &p), None);
        assert_eq!(format("hello %s", &Params::None), None);
    }

    #[test]
    fn a_message_equal_to_its_formatted_text_is_not_a_template() {
        let entry = LogEntry {
            message: LenientStr(Some("same".into())),
            formatted: LenientStr(Some("same".into())),
            ..LogEntry::default()
        };
        let m = normalize(&entry).expect("has text");
        assert_eq!(m.formatted, "same");
        assert!(m.template.is_none());
    }

    #[test]
    fn a_template_is_kept_beside_its_formatted_text() {
        let entry = LogEntry {
            message: LenientStr(Some("User %s failed".into())),
            params: positional(&["42"]),
            ..LogEntry::default()
        };
        let m = normalize(&entry).expect("has text");
        assert_eq!(m.formatted, "User 42 failed");
        assert_eq!(m.template.as_deref(), Some("User %s failed"));
    }

    #[test]
    fn an_entry_without_text_is_absent() {
        assert!(normalize(&LogEntry::default()).is_none());
    }
}
