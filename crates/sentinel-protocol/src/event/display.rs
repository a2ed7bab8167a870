//! The normalized JSON of one event, for display: the payload with the summary's decisions applied.

use serde_json::{Map, Value, json};

use super::timestamp::to_rfc3339;
use super::{EventSummary, fix_paths};
use crate::grouping::{MessageIn, frame_rules};

/// Strings longer than this many bytes are cut (with `...`), so one event's JSON stays bounded.
const MAX_STRING_BYTES: usize = 16 * 1024;
/// Containers nested deeper than this are replaced by `null`.
const MAX_DEPTH: usize = 32;

pub(super) fn apply(value: &mut Value, summary: &EventSummary, message: Option<&MessageIn<'_>>) {
    let Some(obj) = value.as_object_mut() else {
        return;
    };
    match summary.event_id {
        Some(id) => obj.insert("event_id".into(), id.to_string().into()),
        None => obj.remove("event_id"),
    };
    obj.insert("timestamp".into(), to_rfc3339(summary.timestamp_ms).into());
    obj.insert("level".into(), summary.level.as_str().into());
    obj.insert("platform".into(), summary.platform.as_str().into());
    set_or_remove(obj, "environment", summary.environment.as_deref());
    set_or_remove(obj, "release", summary.release.as_deref());
    set_or_remove(obj, "server_name", summary.server_name.as_deref());
    set_or_remove(obj, "transaction", summary.transaction.as_deref());
    let tags: Vec<Value> = summary.tags.iter().map(|(k, v)| json!([k, v])).collect();
    obj.insert("tags".into(), tags.into());

    let entry_key = if obj.contains_key("logentry") {
        "logentry"
    } else {
        "message"
    };
    let params = obj.get(entry_key).and_then(|entry| entry.get("params")).cloned();
    match (message, summary.message.as_deref()) {
        (Some(entry), Some(formatted)) => {
            let mut logentry = Map::new();
            logentry.insert("formatted".into(), formatted.into());
            if let Some(template) = &entry.template {
                logentry.insert("message".into(), template.as_ref().into());
            }
            if let Some(params) = params {
                logentry.insert("params".into(), params);
            }
            obj.insert("logentry".into(), logentry.into());
            obj.insert("message".into(), formatted.into());
        }
        _ => {
            obj.remove("logentry");
            obj.remove("message");
        }
    }

    for key in ["exception", "breadcrumbs", "threads"] {
        values_form(obj, key);
    }
    let platform = summary.platform.clone();
    for_each_stacktrace(obj, |frames| {
        for frame in frames.iter_mut().filter_map(Value::as_object_mut) {
            normalize_frame(frame, &platform);
        }
    });

    obj.insert("title".into(), summary.grouping.title.as_str().into());
    obj.insert("culprit".into(), summary.grouping.culprit.as_str().into());
    trim(value, 0);
}

fn set_or_remove(obj: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    match value {
        Some(v) => obj.insert(key.into(), v.into()),
        None => obj.remove(key),
    };
}

/// `[...]` becomes `{"values": [...]}`; anything but a `{values}` object is removed.
fn values_form(obj: &mut Map<String, Value>, key: &str) {
    let Some(current) = obj.remove(key) else {
        return;
    };
    let normalized = match current {
        Value::Array(values) => Some(json!({ "values": values })),
        Value::Object(o) if o.get("values").is_some_and(Value::is_array) => Some(Value::Object(o)),
        _ => None,
    };
    if let Some(v) = normalized {
        obj.insert(key.into(), v);
    }
}

fn for_each_stacktrace(obj: &mut Map<String, Value>, mut f: impl FnMut(&mut Vec<Value>)) {
    let mut visit = |stacktrace: Option<&mut Value>| {
        if let Some(Value::Array(frames)) = stacktrace.and_then(|s| s.get_mut("frames")) {
            f(frames);
        }
    };
    visit(obj.get_mut("stacktrace"));
    for key in ["exception", "threads"] {
        if let Some(Value::Array(values)) = obj.get_mut(key).and_then(|v| v.get_mut("values")) {
            for item in values {
                visit(item.get_mut("stacktrace"));
            }
        }
    }
}

/// The same path fix-up and effective `in_app` that grouping used.
fn normalize_frame(frame: &mut Map<String, Value>, event_platform: &str) {
    let text = |frame: &Map<String, Value>, key: &str| {
        frame
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let abs_path = text(frame, "abs_path");
    let filename = text(frame, "filename");
    let (abs_path, filename) = fix_paths(abs_path.as_deref(), filename.as_deref());
    let (abs_path, filename) = (abs_path.map(str::to_owned), filename.map(str::to_owned));
    let platform = text(frame, "platform").unwrap_or_else(|| event_platform.to_owned());
    let module = text(frame, "module");
    let function = text(frame, "function");
    let sdk_in_app = frame.get("in_app").and_then(Value::as_bool);
    let rules = frame_rules(
        &platform,
        abs_path.as_deref().or(filename.as_deref()),
        module.as_deref(),
        function.as_deref(),
    );
    if let Some(abs_path) = abs_path {
        frame.insert("abs_path".into(), abs_path.into());
    }
    if let Some(filename) = filename {
        frame.insert("filename".into(), filename.into());
    }
    frame.insert("in_app".into(), rules.in_app(sdk_in_app).into());
}

fn trim(value: &mut Value, depth: usize) {
    match value {
        Value::String(s) if s.len() > MAX_STRING_BYTES => {
            let mut cut = MAX_STRING_BYTES - 3;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push_str("...");
        }
        Value::Array(_) | Value::Object(_) if depth >= MAX_DEPTH => *value = Value::Null,
        Value::Array(items) => items.iter_mut().for_each(|v| trim(v, depth + 1)),
        Value::Object(map) => map.values_mut().for_each(|v| trim(v, depth + 1)),
        _ => {}
    }
}
