//! Turns a normalized event (the JSON the API serves) into what the event section of a page shows:
//! exceptions with their frames (most recent call first, in-app frames open, runs of system frames
//! folded), the message, breadcrumbs, tags, contexts, request and user. Pure: values in, values out.

use serde_json::Value;

use crate::clock::rfc3339;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextLine {
    pub number: u64,
    pub code: String,
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameView {
    pub file: String,
    pub function: String,
    pub line: String,
    pub in_app: bool,
    pub context: Vec<ContextLine>,
    /// First line number of `context` (for `<ol start>`).
    pub context_start: u64,
    pub vars: Vec<(String, String)>,
}

/// Consecutive frames shown together: one in-app frame, or a run of system frames folded away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameGroup {
    pub system: bool,
    pub frames: Vec<FrameView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionView {
    pub ty: String,
    pub value: String,
    pub mechanism: String,
    /// `Some(false)`: the SDK reports it was not handled (a crash).
    pub handled: Option<bool>,
    pub groups: Vec<FrameGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crumb {
    pub time: String,
    pub category: String,
    pub level: String,
    pub message: String,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventView {
    pub exceptions: Vec<ExceptionView>,
    pub message: String,
    pub breadcrumbs: Vec<Crumb>,
    pub tags: Vec<(String, String)>,
    /// Context name and its key/value pairs (`os`, `runtime`, `browser`, `trace`, …).
    pub contexts: Vec<(String, Vec<(String, String)>)>,
    pub request: Vec<(String, String)>,
    pub user: Vec<(String, String)>,
    pub sdk: String,
}

/// A value as one line of text: strings as they are, everything else as compact JSON.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).map(text).unwrap_or_default()
}

/// `{values: [...]}` or a bare array, as the protocol allows both.
fn values(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => match o.get("values") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    match v {
        Some(Value::Object(o)) => o.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|p| match p {
                Value::Array(kv) if kv.len() == 2 => Some((text(&kv[0]), text(&kv[1]))),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn frame(f: &Value) -> FrameView {
    let file = ["filename", "abs_path", "module", "package"]
        .iter()
        .map(|k| str_of(f, k))
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "?".into());
    let function = match str_of(f, "function") {
        s if s.is_empty() => "?".into(),
        s => s,
    };
    let lineno = f.get("lineno").and_then(Value::as_u64);
    let line = match (lineno, f.get("colno").and_then(Value::as_u64)) {
        (Some(l), Some(c)) => format!("{l}:{c}"),
        (Some(l), None) => l.to_string(),
        _ => String::new(),
    };
    let pre: Vec<String> = f
        .get("pre_context")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    let post: Vec<String> = f
        .get("post_context")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    let mut context = Vec::new();
    let mut context_start = 1;
    if let (Some(current), Some(l)) = (f.get("context_line").map(text), lineno) {
        context_start = l.saturating_sub(pre.len() as u64).max(1);
        let mut n = context_start;
        for code in pre {
            context.push(ContextLine {
                number: n,
                code,
                current: false,
            });
            n += 1;
        }
        context.push(ContextLine {
            number: n,
            code: current,
            current: true,
        });
        for code in post {
            n += 1;
            context.push(ContextLine {
                number: n,
                code,
                current: false,
            });
        }
    }
    FrameView {
        file,
        function,
        line,
        in_app: f.get("in_app").and_then(Value::as_bool).unwrap_or(false),
        context,
        context_start,
        vars: pairs(f.get("vars")),
    }
}

/// Frames most recent first, grouped: each in-app frame alone, consecutive system frames together.
/// When no frame is in-app (an SDK that does not tell), every frame is shown open.
fn group_frames(frames: &[Value]) -> Vec<FrameGroup> {
    let views: Vec<FrameView> = frames.iter().rev().map(frame).collect();
    let any_in_app = views.iter().any(|f| f.in_app);
    let mut groups: Vec<FrameGroup> = Vec::new();
    for f in views {
        let system = any_in_app && !f.in_app;
        match groups.last_mut() {
            Some(g) if system && g.system => g.frames.push(f),
            _ => groups.push(FrameGroup {
                system,
                frames: vec![f],
            }),
        }
    }
    groups
}

fn exception(e: &Value) -> ExceptionView {
    let frames = e
        .get("stacktrace")
        .and_then(|s| s.get("frames"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mechanism = e.get("mechanism");
    ExceptionView {
        ty: match str_of(e, "type") {
            s if s.is_empty() => "Error".into(),
            s => s,
        },
        value: str_of(e, "value"),
        mechanism: mechanism.map(|m| str_of(m, "type")).unwrap_or_default(),
        handled: mechanism.and_then(|m| m.get("handled")).and_then(Value::as_bool),
        groups: group_frames(&frames),
    }
}

fn crumb(c: &Value) -> Crumb {
    let time = match c.get("timestamp") {
        Some(Value::Number(n)) => n
            .as_f64()
            .map(|s| rfc3339((s * 1000.0) as i64))
            .unwrap_or_default(),
        Some(v) => text(v),
        None => String::new(),
    };
    Crumb {
        time,
        category: match str_of(c, "category") {
            s if s.is_empty() => str_of(c, "type"),
            s => s,
        },
        level: match str_of(c, "level") {
            s if s.is_empty() => "info".into(),
            s => s,
        },
        message: str_of(c, "message"),
        data: c
            .get("data")
            .filter(|d| !d.is_null())
            .map(Value::to_string)
            .unwrap_or_default(),
    }
}

/// The message an event carries besides (or instead of) an exception.
fn message(ev: &Value) -> String {
    if let Some(le) = ev.get("logentry") {
        let formatted = str_of(le, "formatted");
        if !formatted.is_empty() {
            return formatted;
        }
        return str_of(le, "message");
    }
    match ev.get("message") {
        Some(Value::Object(m)) => {
            let f = m.get("formatted").map(text).unwrap_or_default();
            if f.is_empty() {
                m.get("message").map(text).unwrap_or_default()
            } else {
                f
            }
        }
        Some(v) => text(v),
        None => String::new(),
    }
}

pub fn view(ev: &Value) -> EventView {
    // Sentry lists chained exceptions oldest first; the last one is what was raised: show it first.
    let exceptions = values(ev.get("exception")).iter().rev().map(exception).collect();
    let mut contexts: Vec<(String, Vec<(String, String)>)> = match ev.get("contexts") {
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| (k.clone(), pairs(Some(v))))
            .filter(|(_, p)| !p.is_empty())
            .collect(),
        _ => Vec::new(),
    };
    contexts.sort_by(|a, b| a.0.cmp(&b.0));
    let request = match ev.get("request") {
        Some(r @ Value::Object(_)) => {
            let mut out: Vec<(String, String)> = ["method", "url", "query_string", "data"]
                .iter()
                .map(|k| ((*k).to_owned(), str_of(r, k)))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            out.extend(
                pairs(r.get("headers"))
                    .into_iter()
                    .map(|(k, v)| (format!("header {k}"), v)),
            );
            out
        }
        _ => Vec::new(),
    };
    let sdk = ev
        .get("sdk")
        .map(|s| {
            format!("{} {}", str_of(s, "name"), str_of(s, "version"))
                .trim()
                .to_owned()
        })
        .unwrap_or_default();
    EventView {
        exceptions,
        message: message(ev),
        breadcrumbs: values(ev.get("breadcrumbs")).iter().map(crumb).collect(),
        tags: pairs(ev.get("tags")),
        contexts,
        request,
        user: pairs(ev.get("user")),
        sdk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn python_event() -> Value {
        json!({
            "exception": {"values": [{
                "type": "ZeroDivisionError", "value": "division by zero",
                "mechanism": {"type": "excepthook", "handled": false},
                "stacktrace": {"frames": [
                    {"filename": "threading.py", "function": "run", "lineno": 10, "in_app": false},
                    {"filename": "lib/http.py", "function": "dispatch", "lineno": 20, "in_app": false},
                    {"filename": "app.py", "function": "checkout_cart", "lineno": 42, "in_app": true,
                     "pre_context": ["def checkout_cart():", "    total = 0"], "context_line": "    return 1 / total",
                     "post_context": [""], "vars": {"total": "0"}}
                ]}
            }]},
            "breadcrumbs": {"values": [{"timestamp": 1700000000.5, "category": "http", "message": "GET /cart", "data": {"status": 200}}]},
            "tags": [["browser", "Chrome"], ["os", "Linux"]],
            "contexts": {"os": {"name": "Linux", "version": "6.1"}, "empty": {}},
            "request": {"method": "GET", "url": "https://shop.example/cart", "headers": [["User-Agent", "x"]]},
            "user": {"id": "42"},
            "sdk": {"name": "sentry.python", "version": "2.0"}
        })
    }

    #[test]
    fn the_crashing_in_app_frame_comes_first_and_system_frames_fold_together() {
        let v = view(&python_event());
        let e = &v.exceptions[0];
        assert_eq!(e.ty, "ZeroDivisionError");
        assert_eq!(e.handled, Some(false));
        assert_eq!(e.groups.len(), 2);
        assert!(!e.groups[0].system);
        assert_eq!(e.groups[0].frames[0].function, "checkout_cart");
        assert!(e.groups[1].system);
        assert_eq!(e.groups[1].frames.len(), 2);
        assert_eq!(e.groups[1].frames[0].function, "dispatch");
    }

    #[test]
    fn context_lines_are_numbered_around_the_current_line() {
        let v = view(&python_event());
        let f = &v.exceptions[0].groups[0].frames[0];
        assert_eq!(f.context_start, 40);
        let current: Vec<_> = f.context.iter().filter(|l| l.current).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].number, 42);
        assert_eq!(current[0].code, "    return 1 / total");
        assert_eq!(f.vars, vec![("total".to_owned(), "0".to_owned())]);
    }

    #[test]
    fn breadcrumbs_tags_contexts_request_and_user_are_flattened() {
        let v = view(&python_event());
        assert_eq!(v.breadcrumbs[0].category, "http");
        assert_eq!(v.breadcrumbs[0].time, "2023-11-14T22:13:20.500Z");
        assert_eq!(v.breadcrumbs[0].data, r#"{"status":200}"#);
        assert_eq!(v.tags[0], ("browser".into(), "Chrome".into()));
        assert_eq!(v.contexts.len(), 1, "empty contexts are left out");
        assert!(
            v.request
                .contains(&("url".into(), "https://shop.example/cart".into()))
        );
        assert!(v.request.contains(&("header User-Agent".into(), "x".into())));
        assert_eq!(v.user, vec![("id".into(), "42".into())]);
        assert_eq!(v.sdk, "sentry.python 2.0");
    }

    #[test]
    fn without_in_app_information_every_frame_stays_open() {
        let ev = json!({"exception": {"values": [{"type": "E", "stacktrace": {"frames": [
            {"function": "a"}, {"function": "b"}]}}]}});
        let groups = &view(&ev).exceptions[0].groups;
        assert_eq!(groups.len(), 2);
        assert!(groups.iter().all(|g| !g.system));
    }

    #[test]
    fn messages_come_from_logentry_or_the_legacy_field() {
        assert_eq!(
            message(&json!({"logentry": {"message": "a %s", "formatted": "a b"}})),
            "a b"
        );
        assert_eq!(message(&json!({"message": "plain"})), "plain");
        assert_eq!(message(&json!({})), "");
    }
}
