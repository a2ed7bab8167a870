use serde_json::{Value, json};

use super::*;
use crate::event::{NormalizeConfig, summarize};

fn group(event: &Value) -> Grouping {
    let payload = serde_json::to_vec(event).expect("serializes");
    summarize(&payload, &NormalizeConfig::new(1_700_000_000_000, None))
        .expect("summarizes")
        .grouping
}

fn frame(module: &str, function: &str, lineno: u32, in_app: bool) -> Value {
    json!({"module": module, "function": function, "lineno": lineno, "in_app": in_app,
           "filename": format!("{}.py", module.replace('.', "/")),
           "abs_path": format!("/srv/app/{}.py", module.replace('.', "/"))})
}

fn python_error(ty: &str, value: &str, frames: Vec<Value>) -> Value {
    json!({
        "platform": "python",
        "exception": {"values": [{"type": ty, "value": value, "stacktrace": {"frames": frames}}]}
    })
}

fn standard_frames(line_offset: u32) -> Vec<Value> {
    vec![
        frame(
            "django.core.handlers.base",
            "_get_response",
            197 + line_offset,
            false,
        ),
        frame("shop.views", "checkout", 42 + line_offset, true),
        frame("shop.pricing", "total", 7 + line_offset, true),
    ]
}

#[test]
fn hashes_are_32_lowercase_hex_digits() {
    let g = group(&python_error("ValueError", "x", standard_frames(0)));
    assert_eq!(g.hash.len(), 32);
    assert!(
        g.hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}

#[test]
fn fingerprint_ignores_line_numbers() {
    let a = group(&python_error("ValueError", "x", standard_frames(0)));
    let b = group(&python_error("ValueError", "x", standard_frames(13)));
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.kind, GroupingKind::Stacktrace);
}

#[test]
fn exception_values_do_not_matter_when_a_stack_trace_contributes() {
    let a = group(&python_error("KeyError", "'user_1'", standard_frames(0)));
    let b = group(&python_error("KeyError", "'order_99'", standard_frames(0)));
    assert_eq!(a.hash, b.hash);
}

#[test]
fn exception_types_split_groups() {
    let a = group(&python_error("KeyError", "x", standard_frames(0)));
    let b = group(&python_error("IndexError", "x", standard_frames(0)));
    assert_ne!(a.hash, b.hash);
}

#[test]
fn non_in_app_frames_do_not_change_the_group() {
    let mut frames = standard_frames(0);
    let a = group(&python_error("ValueError", "x", frames.clone()));
    frames.insert(0, frame("gunicorn.workers.sync", "handle", 1, false));
    frames[1] = frame("django.core.handlers.exception", "inner", 55, false);
    let b = group(&python_error("ValueError", "x", frames));
    assert_eq!(a.hash, b.hash);
}

#[test]
fn different_in_app_functions_split_groups() {
    let a = group(&python_error("ValueError", "x", standard_frames(0)));
    let mut frames = standard_frames(0);
    frames[2] = frame("shop.pricing", "subtotal", 7, true);
    let b = group(&python_error("ValueError", "x", frames));
    assert_ne!(a.hash, b.hash);
}

#[test]
fn without_in_app_frames_all_frames_count() {
    // sentry-python leaves in_app unset for code it cannot classify: such a stack groups by all
    // of its frames, so a different library frame is a different group.
    let frames = |f: &str| {
        vec![
            json!({"module": "worker", "function": "run", "lineno": 3}),
            json!({"module": "lib.client", "function": f, "lineno": 9}),
        ]
    };
    let a = group(&python_error("TimeoutError", "t", frames("send")));
    let b = group(&python_error("TimeoutError", "t", frames("send")));
    let c = group(&python_error("TimeoutError", "t", frames("recv")));
    assert_eq!(a.hash, b.hash);
    assert_ne!(a.hash, c.hash);
    assert_eq!(a.kind, GroupingKind::Stacktrace);
}

#[test]
fn recursion_depth_does_not_split_groups() {
    let rec = |n: usize| {
        let mut frames = vec![frame("app.tree", "main", 1, true)];
        frames.extend((0..n).map(|_| frame("app.tree", "walk", 10, true)));
        python_error("RecursionError", "maximum recursion depth exceeded", frames)
    };
    assert_eq!(group(&rec(3)).hash, group(&rec(40)).hash);
}

#[test]
fn numbers_in_messages_do_not_split_groups() {
    let msg = |m: &str| json!({"platform": "python", "message": m});
    let a = group(&msg(
        "Payment 1234 failed for user 9ec79c33-ec99-42ab-8353-589fcb2e04dc",
    ));
    let b = group(&msg(
        "Payment 98 failed for user 0f3e4b1a-1111-4222-8333-444455556666",
    ));
    let c = group(&msg(
        "Refund 98 failed for user 0f3e4b1a-1111-4222-8333-444455556666",
    ));
    assert_eq!(a.hash, b.hash);
    assert_ne!(a.hash, c.hash);
    assert_eq!(a.kind, GroupingKind::Message);
    assert_eq!(
        a.title,
        "Payment 1234 failed for user 9ec79c33-ec99-42ab-8353-589fcb2e04dc"
    );
}

#[test]
fn log_templates_group_messages_with_different_parameters() {
    let log = |param: &str| {
        json!({"platform": "python", "level": "warning",
               "logentry": {"message": "Order %s is stuck", "params": [param]}})
    };
    let a = group(&log("alpha"));
    let b = group(&log("beta"));
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.title, "Order alpha is stuck");
}

#[test]
fn exceptions_without_stack_traces_group_by_type_and_parameterized_value() {
    let bare = |v: &str| json!({"exception": {"values": [{"type": "HTTPError", "value": v}]}});
    let a = group(&bare("GET /orders/17 returned 503"));
    let b = group(&bare("GET /orders/18 returned 503"));
    let c = group(&bare("POST /orders returned 400"));
    assert_eq!(a.hash, b.hash);
    assert_ne!(a.hash, c.hash);
    assert_eq!(a.kind, GroupingKind::Exception);
}

#[test]
fn custom_fingerprints_replace_default_grouping() {
    let mut a = python_error("KeyError", "x", standard_frames(0));
    let mut b = python_error("ZeroDivisionError", "y", vec![frame("other", "f", 1, true)]);
    a["fingerprint"] = json!(["payment-gateway", "timeout"]);
    b["fingerprint"] = json!(["payment-gateway", "timeout"]);
    let (ga, gb) = (group(&a), group(&b));
    assert_eq!(ga.hash, gb.hash);
    assert_eq!(ga.kind, GroupingKind::Fingerprint);
    b["fingerprint"] = json!(["payment-gateway", "declined"]);
    assert_ne!(ga.hash, group(&b).hash);
    // The title still describes the event, not the fingerprint.
    assert_eq!(ga.title, "KeyError: x");
}

#[test]
fn non_string_fingerprint_entries_are_stringified() {
    let mut a = json!({"message": "m"});
    let mut b = json!({"message": "n"});
    a["fingerprint"] = json!(["code", 42]);
    b["fingerprint"] = json!(["code", "42"]);
    assert_eq!(group(&a).hash, group(&b).hash);
}

#[test]
fn default_fingerprint_alone_is_the_default_grouping() {
    let plain = python_error("ValueError", "x", standard_frames(0));
    let mut spaced = plain.clone();
    spaced["fingerprint"] = json!(["{{ default }}"]);
    let mut tight = plain.clone();
    tight["fingerprint"] = json!(["{{default}}"]);
    assert_eq!(group(&plain), group(&spaced));
    assert_eq!(group(&plain).hash, group(&tight).hash);
}

#[test]
fn default_fingerprint_with_extra_values_splits_the_default_group() {
    let base = python_error("ValueError", "x", standard_frames(0));
    let with = |extra: &str| {
        let mut e = base.clone();
        e["fingerprint"] = json!(["{{ default }}", extra]);
        group(&e)
    };
    let (eu, us) = (with("eu"), with("us"));
    assert_ne!(eu.hash, us.hash);
    assert_ne!(eu.hash, group(&base).hash);
    assert_eq!(eu.hash, with("eu").hash);
    assert_eq!(eu.kind, GroupingKind::Fingerprint);
    // Line numbers still do not matter inside the default part.
    let mut moved = python_error("ValueError", "x", standard_frames(5));
    moved["fingerprint"] = json!(["{{ default }}", "eu"]);
    assert_eq!(group(&moved).hash, eu.hash);
}

#[test]
fn fingerprint_variables_are_resolved() {
    let with = |transaction: &str| {
        group(
            &json!({"message": "boom", "transaction": transaction, "tags": {"tenant": "acme"},
                      "fingerprint": ["{{ transaction }}", "{{ tags.tenant }}"]}),
        )
    };
    assert_eq!(with("/a").hash, with("/a").hash);
    assert_ne!(with("/a").hash, with("/b").hash);
    let resolved = group(&json!({"message": "x", "fingerprint": ["/a", "acme"]}));
    assert_eq!(with("/a").hash, resolved.hash);
}

#[test]
fn chained_exceptions_all_contribute() {
    let chain = |cause_function: &str, outer: &str| {
        json!({"platform": "python", "exception": {"values": [
            {"type": "KeyError", "value": "'id'",
             "stacktrace": {"frames": [frame("shop.db", cause_function, 10, true)]}},
            {"type": outer, "value": "lookup failed",
             "stacktrace": {"frames": [frame("shop.views", "detail", 20, true)]}}
        ]}})
    };
    let a = group(&chain("fetch", "RuntimeError"));
    assert_eq!(a.hash, group(&chain("fetch", "RuntimeError")).hash);
    assert_ne!(a.hash, group(&chain("fetch_many", "RuntimeError")).hash);
    assert_ne!(a.hash, group(&chain("fetch", "LookupError")).hash);
    // The title describes the last (outermost) exception.
    assert_eq!(a.title, "RuntimeError: lookup failed");
    assert_eq!(a.exception_type.as_deref(), Some("RuntimeError"));
}

#[test]
fn javascript_function_names_are_normalized() {
    let js = |functions: [&str; 2]| {
        json!({"platform": "javascript", "exception": {"values": [{"type": "TypeError",
            "value": "x is undefined", "stacktrace": {"frames": [
                {"filename": "https://example.com/app.js", "function": functions[0], "in_app": true,
                 "lineno": 1, "colno": 100},
                {"filename": "https://example.com/app.js", "function": functions[1], "in_app": true,
                 "lineno": 1, "colno": 200}]}}]}})
    };
    let chrome = group(&js(["Object.render", "HTMLButtonElement.onClick"]));
    let firefox = group(&js(["render", "onClick"]));
    assert_eq!(chrome.hash, firefox.hash);
    let anonymous = group(&js(["render", "<anonymous>"]));
    let unknown = group(&js(["render", "?"]));
    assert_eq!(anonymous.hash, unknown.hash);
    assert_ne!(anonymous.hash, chrome.hash);
    assert_eq!(chrome.culprit, "HTMLButtonElement.onClick(/app.js)");
}

#[test]
fn javascript_bundle_locations_do_not_split_groups() {
    let js = |url: &str| {
        json!({"platform": "javascript", "exception": {"values": [{"type": "Error", "value": "boom",
            "stacktrace": {"frames": [{"filename": url, "function": "handle", "in_app": true}]}}]}})
    };
    assert_eq!(
        group(&js("https://cdn.example.com/app.3f9a1c.js")).hash,
        group(&js("https://cdn.example.com/app.77b2e0.js")).hash
    );
}

#[test]
fn node_modules_frames_are_not_in_app_even_if_the_sdk_says_so() {
    let node = |lib_function: &str| {
        json!({"platform": "node", "exception": {"values": [{"type": "Error", "value": "boom",
            "stacktrace": {"frames": [
                {"abs_path": "/srv/node_modules/express/lib/router.js", "function": lib_function,
                 "module": "express.lib:router", "in_app": true},
                {"abs_path": "/srv/app/routes.js", "function": "getUser", "module": "app:routes",
                 "in_app": true}]}}]}})
    };
    assert_eq!(group(&node("handle")).hash, group(&node("dispatch")).hash);
}

#[test]
fn node_task_queue_frames_never_group() {
    let node = |extra: bool| {
        let mut frames = vec![json!({"function": "getUser", "module": "app:routes", "in_app": false})];
        if extra {
            frames.insert(
                0,
                json!({"function": "processTicksAndRejections",
                                    "module": "task_queues", "in_app": false}),
            );
        }
        json!({"platform": "node", "exception": {"values": [{"type": "Error", "value": "e",
            "stacktrace": {"frames": frames}}]}})
    };
    assert_eq!(group(&node(false)).hash, group(&node(true)).hash);
}

#[test]
fn chunk_load_errors_are_one_issue() {
    let chunk = |value: &str| {
        json!({"platform": "javascript", "exception": {"values": [{"type": "ChunkLoadError",
            "value": value, "stacktrace": {"frames": [
                {"filename": "https://x.com/main.js", "function": "load", "in_app": true}]}}]}})
    };
    let a = group(&chunk("Loading chunk 12 failed."));
    let b = group(&chunk("Loading chunk 345 failed."));
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.kind, GroupingKind::Fingerprint);
    assert_eq!(a.title, "ChunkLoadError: Loading chunk 12 failed.");
}

#[test]
fn hydration_errors_group_per_transaction() {
    let hydration = |transaction: &str, function: &str| {
        json!({"platform": "javascript", "transaction": transaction, "exception": {"values": [{
            "type": "Error", "value": "Text content does not match server-rendered HTML.",
            "stacktrace": {"frames": [{"filename": "https://x.com/a.js", "function": function,
                                       "in_app": true}]}}]}})
    };
    assert_eq!(
        group(&hydration("/home", "a")).hash,
        group(&hydration("/home", "b")).hash
    );
    assert_ne!(
        group(&hydration("/home", "a")).hash,
        group(&hydration("/cart", "a")).hash
    );
}

#[test]
fn a_single_exception_inside_an_exception_group_titles_the_issue() {
    let event = json!({"platform": "python", "sdk": {"name": "sentry.python", "version": "2.19.0"},
    "exception": {"values": [
        {"type": "ValueError", "value": "inner",
         "mechanism": {"type": "chained", "exception_id": 1, "parent_id": 0, "source": "exceptions[0]"},
         "stacktrace": {"frames": [frame("app.jobs", "work", 3, true)]}},
        {"type": "ExceptionGroup", "value": "many (1 sub-exception)",
         "mechanism": {"type": "excepthook", "exception_id": 0, "is_exception_group": true},
         "stacktrace": {"frames": [frame("app.main", "run", 9, true)]}}
    ]}});
    let g = group(&event);
    assert_eq!(g.title, "ValueError: inner");
    let alone = group(&python_error(
        "ValueError",
        "inner",
        vec![frame("app.jobs", "work", 3, true)],
    ));
    assert_eq!(g.hash, alone.hash);
}

#[test]
fn threads_give_message_events_a_stack_trace() {
    let with_stack = |function: &str| {
        json!({"platform": "python", "message": "cache miss", "threads": {"values": [
            {"current": true, "stacktrace": {"frames": [frame("app.cache", function, 1, true)]}}]}})
    };
    let a = group(&with_stack("get"));
    assert_eq!(a.kind, GroupingKind::Stacktrace);
    assert_ne!(a.hash, group(&with_stack("set")).hash);
    assert_eq!(a.title, "cache miss");
}

#[test]
fn events_without_anything_to_group_share_the_fallback() {
    let a = group(&json!({"platform": "python"}));
    let b = group(&json!({"level": "info", "tags": {"a": "b"}}));
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.kind, GroupingKind::Fallback);
    assert_eq!(a.hash, "d41d8cd98f00b204e9800998ecf8427e");
}

#[test]
fn error_titles_use_the_first_line_of_the_value_cut_at_100_characters() {
    let long = format!("{}\nsecond line", "v".repeat(150));
    let g = group(&json!({"exception": {"values": [{"type": "E", "value": long}]}}));
    assert_eq!(g.title, format!("E: {}...", "v".repeat(97)));
    let g = group(&json!({"exception": {"values": [{"type": "StopIteration"}]}}));
    assert_eq!(g.title, "StopIteration");
}

#[test]
fn message_titles_use_the_first_line_cut_at_256_characters() {
    let g = group(&json!({"message": format!("{}\nmore", "m".repeat(300))}));
    assert_eq!(g.title, format!("{}...", "m".repeat(253)));
    assert_eq!(group(&json!({"message": "  \n"})).title, "<unlabeled event>");
}

#[test]
fn synthetic_exceptions_are_titled_by_the_crashing_function() {
    let g = group(
        &json!({"platform": "native", "exception": {"values": [{"type": "EXC_BAD_ACCESS",
        "value": "crash", "mechanism": {"type": "mach", "synthetic": true},
        "stacktrace": {"frames": [{"function": "main", "in_app": true},
                                  {"function": "crash_here", "in_app": true}]}}]}}),
    );
    assert_eq!(g.title, "crash_here");
    assert_eq!(g.culprit, "");
}

#[test]
fn messages_with_an_attached_synthetic_stack_are_titled_by_the_message() {
    // What @sentry/node 11 sends for captureMessage (attachStacktrace is on by default).
    let g = group(
        &json!({"platform": "node", "message": "Disk quota exceeded\nsecond line",
        "exception": {"values": [{"value": "Disk quota exceeded", "mechanism": {"type": "generic", "synthetic": true},
        "stacktrace": {"frames": [{"function": "?", "filename": "/app/index.js", "in_app": true}]}}]}}),
    );
    assert_eq!(g.title, "Disk quota exceeded");
    // Without a message, anonymous function names are skipped.
    let g = group(
        &json!({"platform": "node", "exception": {"values": [{"value": "x",
        "mechanism": {"type": "generic", "synthetic": true},
        "stacktrace": {"frames": [{"function": "named", "in_app": true}, {"function": "?", "in_app": true}]}}]}}),
    );
    assert_eq!(g.title, "named");
}

#[test]
fn culprit_prefers_the_transaction() {
    let mut e = python_error("ValueError", "x", standard_frames(0));
    assert_eq!(group(&e).culprit, "shop.pricing in total");
    e["transaction"] = json!("/checkout/");
    assert_eq!(group(&e).culprit, "/checkout/");
    e["culprit"] = json!("legacy culprit");
    assert_eq!(group(&e).culprit, "legacy culprit");
}

#[test]
fn culprit_uses_the_last_in_app_frame_else_the_last_frame() {
    let e = python_error(
        "ValueError",
        "x",
        vec![
            frame("app.main", "run", 1, true),
            frame("lib.util", "helper", 2, false),
        ],
    );
    assert_eq!(group(&e).culprit, "app.main in run");
    let e = python_error(
        "ValueError",
        "x",
        vec![frame("lib.a", "f", 1, false), frame("lib.b", "g", 2, false)],
    );
    assert_eq!(group(&e).culprit, "lib.b in g");
}

#[test]
fn culprit_falls_back_to_the_request_url() {
    let g = group(&json!({"message": "m", "request": {"url": "http://localhost:8080/a?b=c"}}));
    assert_eq!(g.culprit, "http://localhost:8080/a");
}

#[test]
fn in_app_frames_from_vendored_paths_do_not_drive_grouping() {
    let php = |vendor_function: &str| {
        json!({"platform": "php", "exception": {"values": [{"type": "Exception", "value": "e",
            "stacktrace": {"frames": [
                {"filename": "src/Controller.php", "abs_path": "/var/www/src/Controller.php",
                 "function": "show", "in_app": true},
                {"filename": "vendor/lib/X.php", "abs_path": "/var/www/vendor/lib/X.php",
                 "function": vendor_function, "in_app": true}]}}]}})
    };
    assert_eq!(group(&php("a")).hash, group(&php("b")).hash);
    assert_eq!(group(&php("a")).culprit, "src/Controller.php in show");
}

#[test]
fn level_and_message_fingerprint_variables_resolve() {
    let by_level = |level: &str| {
        group(&json!({"message": "x", "level": level, "fingerprint": ["{{ level }}", "{{ message }}"]}))
    };
    let literal = group(&json!({"message": "y", "fingerprint": ["warning", "x"]}));
    assert_eq!(by_level("warning").hash, literal.hash);
    assert_ne!(by_level("error").hash, literal.hash);
}

#[test]
fn entries_that_only_look_like_variables_are_literal() {
    let a = group(&json!({"message": "a", "fingerprint": ["{{ not a variable }}"]}));
    let b = group(&json!({"message": "b", "fingerprint": ["{{ not a variable }}"]}));
    assert_eq!(a.hash, b.hash);
    assert_eq!(fingerprint_variable("{{ a b }}"), None);
    assert_eq!(fingerprint_variable("{{default}}"), Some("default"));
    assert_eq!(fingerprint_variable("{{ tags.x }}"), Some("tags.x"));
    assert_eq!(fingerprint_variable("x {{ default }}"), None);
}

#[test]
fn exception_groups_with_distinct_inner_errors_group_by_all_of_them() {
    let event = |second: &str| {
        json!({"platform": "python", "exception": {"values": [
            {"type": "ValueError", "value": "a",
             "mechanism": {"type": "chained", "exception_id": 1, "parent_id": 0},
             "stacktrace": {"frames": [frame("app.jobs", "first", 3, true)]}},
            {"type": second, "value": "b",
             "mechanism": {"type": "chained", "exception_id": 2, "parent_id": 0},
             "stacktrace": {"frames": [frame("app.jobs", "second", 4, true)]}},
            {"type": "ExceptionGroup", "value": "2 sub-exceptions",
             "mechanism": {"type": "excepthook", "exception_id": 0, "is_exception_group": true},
             "stacktrace": {"frames": [frame("app.main", "run", 9, true)]}}
        ]}})
    };
    let a = group(&event("KeyError"));
    assert_ne!(a.hash, group(&event("TypeError")).hash);
    assert_eq!(a.title, "ExceptionGroup: 2 sub-exceptions");
}
