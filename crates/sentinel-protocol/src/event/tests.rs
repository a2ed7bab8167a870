use serde_json::json;

use super::*;

const NOW: i64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z

fn cfg() -> NormalizeConfig {
    NormalizeConfig::new(NOW, None)
}

fn summary(json: &str) -> EventSummary {
    summarize(json.as_bytes(), &cfg()).expect("summarizes")
}

fn tag<'s>(s: &'s EventSummary, key: &str) -> Option<&'s str> {
    s.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[test]
fn peek_returns_plain_and_dashed_event_ids() {
    let plain = peek_event_id(br#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","x":[1,{"y":2}]}"#);
    let dashed = peek_event_id(br#"{"event_id":"9ec79c33-ec99-42ab-8353-589fcb2e04dc"}"#);
    assert_eq!(plain, dashed);
    assert_eq!(
        plain.expect("valid").map(|id| id.to_string()).as_deref(),
        Some("9ec79c33ec9942ab8353589fcb2e04dc")
    );
}

#[test]
fn peek_treats_missing_empty_invalid_and_nil_ids_as_none() {
    for payload in [
        r#"{}"#,
        r#"{"event_id":""}"#,
        r#"{"event_id":"not-a-uuid"}"#,
        r#"{"event_id":42}"#,
        r#"{"event_id":null}"#,
        r#"{"event_id":"00000000000000000000000000000000"}"#,
    ] {
        assert_eq!(peek_event_id(payload.as_bytes()), Ok(None), "{payload}");
    }
}

#[test]
fn peek_rejects_malformed_json_and_non_objects() {
    assert!(matches!(
        peek_event_id(b"{\"a\":"),
        Err(EventError::InvalidJson(_))
    ));
    assert!(matches!(
        peek_event_id(b"{} trailing"),
        Err(EventError::InvalidJson(_))
    ));
    assert!(matches!(peek_event_id(b""), Err(EventError::InvalidJson(_))));
    assert_eq!(peek_event_id(b"[1,2]"), Err(EventError::NotAnObject));
    assert_eq!(peek_event_id(b" \"text\" "), Err(EventError::NotAnObject));
    assert_eq!(peek_event_id(b"null"), Err(EventError::NotAnObject));
}

#[test]
fn summarize_rejects_malformed_json_and_non_objects() {
    assert!(matches!(summarize(b"{", &cfg()), Err(EventError::InvalidJson(_))));
    assert_eq!(summarize(b"42", &cfg()).map(|_| ()), Err(EventError::NotAnObject));
}

#[test]
fn an_empty_object_gets_every_default() {
    let s = summary("{}");
    assert_eq!(s.event_id, None);
    assert_eq!(s.timestamp_ms, NOW);
    assert_eq!(s.level, Level::Error);
    assert_eq!(s.platform, "other");
    assert_eq!(s.message, None);
    assert_eq!(s.grouping.title, "<unlabeled event>");
    assert_eq!(s.grouping.kind, crate::grouping::GroupingKind::Fallback);
    assert_eq!(s.tags, [("level".to_owned(), "error".to_owned())]);
}

#[test]
fn every_level_form_is_understood() {
    for (raw, level) in [
        (r#""debug""#, Level::Debug),
        (r#""info""#, Level::Info),
        (r#""log""#, Level::Info),
        (r#""warning""#, Level::Warning),
        (r#""warn""#, Level::Warning),
        (r#""WARNING""#, Level::Warning),
        (r#""error""#, Level::Error),
        (r#""fatal""#, Level::Fatal),
        (r#""critical""#, Level::Fatal),
        (r#""Critical""#, Level::Fatal),
        ("10", Level::Debug),
        ("20", Level::Info),
        ("30", Level::Warning),
        ("40", Level::Error),
        ("50", Level::Fatal),
        ("50.0", Level::Fatal),
        // Unknown values fall back to the default.
        (r#""verbose""#, Level::Error),
        ("35", Level::Error),
        ("null", Level::Error),
        ("[]", Level::Error),
    ] {
        let s = summary(&format!(r#"{{"level":{raw}}}"#));
        assert_eq!(s.level, level, "level {raw}");
        assert_eq!(tag(&s, "level"), Some(level.as_str()));
    }
}

#[test]
fn every_timestamp_form_is_understood() {
    for raw in [
        r#""2023-11-14T22:13:19Z""#,
        r#""2023-11-14T22:13:19.000Z""#,
        r#""2023-11-14T22:13:19""#,
        r#""2023-11-14T23:13:19+01:00""#,
        r#""2023-11-14T22:13:19.000000+00:00""#,
        "1699999999",
        "1699999999.0",
        r#""1699999999""#,
    ] {
        let s = summary(&format!(r#"{{"timestamp":{raw}}}"#));
        assert_eq!(s.timestamp_ms, NOW - 1000, "timestamp {raw}");
    }
    assert_eq!(summary(r#"{"timestamp":1699999999.5}"#).timestamp_ms, NOW - 500);
}

#[test]
fn unusable_timestamps_become_the_receive_time() {
    for raw in [r#""soon""#, "true", "{}", "null", "1e300"] {
        assert_eq!(
            summary(&format!(r#"{{"timestamp":{raw}}}"#)).timestamp_ms,
            NOW,
            "{raw}"
        );
    }
}

#[test]
fn timestamps_out_of_range_are_clamped() {
    let future = summary(r#"{"timestamp":"2023-11-14T22:15:00Z"}"#);
    assert_eq!(future.timestamp_ms, NOW);
    let ancient = summary(r#"{"timestamp":"2001-01-01T00:00:00Z"}"#);
    assert_eq!(ancient.timestamp_ms, NOW);
}

#[test]
fn clock_drift_is_corrected_from_sent_at() {
    // The device clock runs two hours behind: its event and envelope times are both early.
    let cfg = NormalizeConfig::new(NOW, Some("2023-11-14T20:13:20Z".into()));
    let s = summarize(br#"{"timestamp":"2023-11-14T20:13:10Z"}"#, &cfg).expect("summarizes");
    assert_eq!(s.timestamp_ms, NOW - 10_000);
}

#[test]
fn platform_defaults_to_other_and_unknown_platforms_become_other() {
    assert_eq!(summary(r#"{"platform":"python"}"#).platform, "python");
    assert_eq!(summary(r#"{"platform":"brainfuck"}"#).platform, "other");
    assert_eq!(summary(r#"{"platform":1}"#).platform, "other");
}

#[test]
fn environment_release_and_friends_are_normalized() {
    let s = summary(
        r#"{"environment":" production ","release":1.2,"server_name":"web-1","transaction":"/orders/{id}",
            "dist":"","request":{"url":"https://shop.example/orders/7?debug=1#top"}}"#,
    );
    assert_eq!(s.environment.as_deref(), Some("production"));
    assert_eq!(s.release.as_deref(), Some("1.2"));
    assert_eq!(s.server_name.as_deref(), Some("web-1"));
    assert_eq!(s.transaction.as_deref(), Some("/orders/{id}"));
    assert_eq!(tag(&s, "environment"), Some("production"));
    assert_eq!(tag(&s, "release"), Some("1.2"));
    assert_eq!(tag(&s, "server_name"), Some("web-1"));
    assert_eq!(tag(&s, "transaction"), Some("/orders/{id}"));
    assert_eq!(tag(&s, "url"), Some("https://shop.example/orders/7"));
    assert_eq!(tag(&s, "dist"), None);
}

#[test]
fn invalid_environment_and_release_names_are_dropped() {
    let s = summary(r#"{"environment":"a/b","release":"latest"}"#);
    assert_eq!(s.environment, None);
    assert_eq!(s.release, None);
    let s = summary(&format!(r#"{{"environment":"{}"}}"#, "e".repeat(65)));
    assert_eq!(s.environment, None);
}

#[test]
fn tags_come_as_objects_or_pair_lists() {
    let object = summary(r#"{"tags":{"feature":"checkout","attempt":3,"beta":true}}"#);
    let list = summary(r#"{"tags":[["feature","checkout"],["attempt",3],["beta",true]]}"#);
    assert_eq!(object.tags, list.tags);
    assert_eq!(tag(&object, "attempt"), Some("3"));
    assert_eq!(tag(&object, "beta"), Some("true"));
}

#[test]
fn derived_tags_include_user_contexts_and_mechanism() {
    let s = summary(
        r#"{"user":{"email":"a@example.com"},"logger":"app.jobs",
            "contexts":{"browser":{"name":"Firefox","version":"121.0"},"os":{"name":"Linux"}},
            "exception":{"values":[{"type":"E","mechanism":{"type":"onerror","handled":false}}]}}"#,
    );
    assert_eq!(tag(&s, "user"), Some("email:a@example.com"));
    assert_eq!(tag(&s, "logger"), Some("app.jobs"));
    assert_eq!(tag(&s, "browser"), Some("Firefox 121.0"));
    assert_eq!(tag(&s, "browser.name"), Some("Firefox"));
    assert_eq!(tag(&s, "os.name"), Some("Linux"));
    assert_eq!(tag(&s, "handled"), Some("no"));
    assert_eq!(tag(&s, "mechanism"), Some("onerror"));
}

#[test]
fn messages_come_from_logentry_or_message_in_any_shape() {
    assert_eq!(
        summary(r#"{"message":"plain"}"#).message.as_deref(),
        Some("plain")
    );
    assert_eq!(
        summary(r#"{"message":{"message":"hi %s","params":["bob"]}}"#)
            .message
            .as_deref(),
        Some("hi bob")
    );
    assert_eq!(
        summary(r#"{"message":{"formatted":"done"}}"#).message.as_deref(),
        Some("done")
    );
    assert_eq!(
        summary(r#"{"logentry":{"message":"x %s","params":["1"],"formatted":"x 1"},"message":"ignored"}"#)
            .message
            .as_deref(),
        Some("x 1")
    );
    assert_eq!(summary(r#"{"message":{"params":[1]}}"#).message, None);
}

#[test]
fn long_messages_are_truncated_to_sentrys_limit() {
    let s = summary(&format!(r#"{{"message":"{}"}}"#, "m".repeat(10_000)));
    let message = s.message.expect("message");
    assert_eq!(message.chars().count(), 8192);
    assert!(message.ends_with("..."));
}

#[test]
fn exceptions_as_a_list_or_values_object_are_the_same_event() {
    let frames = r#"{"frames":[{"function":"main","module":"app","in_app":true}]}"#;
    let values = summary(&format!(
        r#"{{"exception":{{"values":[{{"type":"E","value":"v","stacktrace":{frames}}}]}}}}"#
    ));
    let list = summary(&format!(
        r#"{{"exception":[{{"type":"E","value":"v","stacktrace":{frames}}}]}}"#
    ));
    assert_eq!(values.grouping, list.grouping);
    assert_eq!(values.grouping.title, "E: v");
}

#[test]
fn an_exception_without_type_takes_it_from_its_value() {
    let s = summary(r#"{"exception":{"values":[{"value":"ValueError: bad thing"}]}}"#);
    assert_eq!(s.grouping.title, "ValueError: bad thing");
    assert_eq!(s.grouping.exception_type.as_deref(), Some("ValueError"));
    assert_eq!(s.grouping.exception_value.as_deref(), Some("bad thing"));
}

#[test]
fn exceptions_without_type_or_value_are_ignored() {
    let s = summary(r#"{"exception":{"values":[{"stacktrace":{"frames":[]}}]},"message":"m"}"#);
    assert_eq!(s.grouping.title, "m");
}

#[test]
fn fields_of_unexpected_types_do_not_fail_the_event() {
    let s = summary(
        r#"{"event_id":7,"platform":["x"],"environment":{"a":1},"tags":"x","user":"u",
            "contexts":[1],"exception":{"values":"nope"},"fingerprint":"abc","breadcrumbs":7}"#,
    );
    assert_eq!(s.platform, "other");
    assert_eq!(s.environment, None);
}

#[test]
fn normalized_json_applies_the_summary() {
    let payload = br#"{
        "event_id":"9ec79c33-ec99-42ab-8353-589fcb2e04dc","timestamp":1699999999,"level":"warn",
        "tags":{"a":"1"},"message":{"message":"hi %s","params":["bob"]},
        "exception":[{"type":"E","value":"v","stacktrace":{"frames":[
            {"filename":"https://example.com/static/app.js","function":"f","in_app":true},
            {"abs_path":"/srv/node_modules/lib/index.js","function":"g","in_app":true}]}}],
        "breadcrumbs":[{"message":"clicked"}],
        "extra":{"big":"BIG"}
    }"#;
    let s = summarize(payload, &cfg()).expect("summarizes");
    let v = normalized_json(payload, &s).expect("normalizes");
    assert_eq!(v["event_id"], "9ec79c33ec9942ab8353589fcb2e04dc");
    assert_eq!(v["timestamp"], "2023-11-14T22:13:19.000Z");
    assert_eq!(v["level"], "warning");
    assert_eq!(v["platform"], "other");
    assert!(
        v["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&json!(["a", "1"])))
    );
    assert_eq!(
        v["logentry"],
        json!({"formatted": "hi bob", "message": "hi %s", "params": ["bob"]})
    );
    assert_eq!(v["message"], "hi bob");
    assert_eq!(v["breadcrumbs"]["values"][0]["message"], "clicked");
    let frames = &v["exception"]["values"][0]["stacktrace"]["frames"];
    assert_eq!(frames[0]["abs_path"], "https://example.com/static/app.js");
    assert_eq!(frames[0]["filename"], "/static/app.js");
    assert_eq!(frames[0]["in_app"], true);
    assert_eq!(frames[1]["in_app"], false);
    assert_eq!(v["title"], "E: v");
}

#[test]
fn normalized_json_bounds_long_strings_and_deep_nesting() {
    let long = "x".repeat(40_000);
    let mut deep = String::from("1");
    for _ in 0..40 {
        deep = format!("[{deep}]");
    }
    let payload = format!(r#"{{"extra":{{"long":"{long}","deep":{deep}}}}}"#);
    let s = summarize(payload.as_bytes(), &cfg()).expect("summarizes");
    let v = normalized_json(payload.as_bytes(), &s).expect("normalizes");
    let cut = v["extra"]["long"].as_str().expect("string");
    assert_eq!(cut.len(), 16 * 1024);
    assert!(cut.ends_with("..."));
    let mut depth = 0;
    let mut at = &v["extra"]["deep"];
    while let Some(inner) = at.get(0) {
        at = inner;
        depth += 1;
    }
    assert!(depth < 32, "depth {depth}");
}

#[test]
fn normalized_json_rejects_what_summarize_rejects() {
    let s = summary("{}");
    assert_eq!(
        normalized_json(b"[]", &s).map(|_| ()),
        Err(EventError::NotAnObject)
    );
}
