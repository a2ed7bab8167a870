//! Real SDK payloads (`tests/fixtures/events`) against what Sentry makes of them: titles,
//! culprits, grouping kinds, which events share an issue and, where known, Sentry's own hash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sentinel_protocol::event::{
    EventSummary, Level, NormalizeConfig, normalized_json, peek_event_id, summarize,
};
use serde::Deserialize;

/// 2024-05-01T12:01:00Z: after every fixture's timestamp.
const RECEIVED_AT_MS: i64 = 1_714_564_860_000;

#[derive(Debug, Deserialize)]
struct Expected {
    title: String,
    culprit: String,
    kind: String,
    group: String,
    #[serde(default)]
    sentry_hash: Option<String>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events")
}

fn expectations() -> BTreeMap<String, Expected> {
    let raw = payload("expected.json");
    serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("expected.json: {e}"))
}

fn payload(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn summarize_fixture(name: &str) -> EventSummary {
    summarize(&payload(name), &NormalizeConfig::new(RECEIVED_AT_MS, None))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn kind_name(summary: &EventSummary) -> String {
    serde_json::to_value(summary.grouping.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn every_fixture_has_expectations_and_every_expectation_a_fixture() {
    let expected = expectations();
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .expect("fixture directory is readable")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json") && name != "expected.json")
        .collect();
    files.sort();
    let listed: Vec<String> = expected.keys().cloned().collect();
    assert_eq!(files, listed);
}

#[test]
fn titles_culprits_and_kinds_match_sentry() {
    let mut mismatches = Vec::new();
    for (name, expected) in expectations() {
        let summary = summarize_fixture(&name);
        let actual = (
            summary.grouping.title.as_str(),
            summary.grouping.culprit.as_str(),
            kind_name(&summary),
        );
        if actual
            != (
                expected.title.as_str(),
                expected.culprit.as_str(),
                expected.kind.clone(),
            )
        {
            mismatches.push(format!("{name}: got {actual:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn events_share_an_issue_exactly_when_sentry_groups_them_together() {
    let expected = expectations();
    let hashes: Vec<(String, String, String)> = expected
        .iter()
        .map(|(name, e)| {
            (
                name.clone(),
                e.group.clone(),
                summarize_fixture(name).grouping.hash,
            )
        })
        .collect();
    let mut wrong = Vec::new();
    for (i, (a_name, a_group, a_hash)) in hashes.iter().enumerate() {
        for (b_name, b_group, b_hash) in &hashes[i + 1..] {
            if (a_group == b_group) != (a_hash == b_hash) {
                wrong.push(format!("{a_name} ({a_group}) vs {b_name} ({b_group})"));
            }
        }
    }
    assert!(wrong.is_empty(), "grouping disagrees:\n{}", wrong.join("\n"));
}

#[test]
fn hashes_equal_the_ones_sentry_stored() {
    for (name, expected) in expectations() {
        if let Some(sentry_hash) = expected.sentry_hash {
            assert_eq!(summarize_fixture(&name).grouping.hash, sentry_hash, "{name}");
        }
    }
}

#[test]
fn every_fixture_passes_the_ingest_check_and_renders() {
    for name in expectations().keys() {
        let bytes = payload(name);
        let summary = summarize_fixture(name);
        assert_eq!(peek_event_id(&bytes), Ok(summary.event_id), "{name}");
        let json = normalized_json(&bytes, &summary).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(json["title"], summary.grouping.title.as_str(), "{name}");
        assert!(json["tags"].is_array(), "{name}");
    }
}

#[test]
fn a_ten_kilobyte_python_event_is_summarized_completely() {
    let bytes = payload("python_django_large.json");
    assert!(bytes.len() > 9_000, "fixture is {} bytes", bytes.len());
    let s = summarize_fixture("python_django_large.json");

    assert_eq!(
        s.event_id.map(|id| id.to_string()).as_deref(),
        Some("9ec79c33ec9942ab8353589fcb2e04dc")
    );
    // 2024-05-01T12:00:31.123456Z
    assert_eq!(s.timestamp_ms, 1_714_564_831_123);
    assert_eq!(s.level, Level::Error);
    assert_eq!(s.platform, "python");
    assert_eq!(s.environment.as_deref(), Some("production"));
    assert_eq!(s.release.as_deref(), Some("shop@2024.5.1"));
    assert_eq!(s.server_name.as_deref(), Some("web-1"));
    assert_eq!(s.transaction.as_deref(), Some("/checkout/"));
    assert_eq!(s.message, None);
    let tags: Vec<(&str, &str)> = s.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        tags,
        [
            ("environment", "production"),
            ("handled", "no"),
            ("level", "error"),
            ("logger", "django.request"),
            ("mechanism", "django"),
            ("release", "shop@2024.5.1"),
            ("runtime", "CPython 3.12.3"),
            ("runtime.name", "CPython"),
            ("server_name", "web-1"),
            ("transaction", "/checkout/"),
            ("url", "https://shop.example.com/checkout/"),
            ("user", "id:1000"),
        ]
    );
    assert_eq!(s.grouping.title, "KeyError: 'SKU-1042'");
    assert_eq!(s.grouping.culprit, "/checkout/");
    assert_eq!(s.grouping.exception_type.as_deref(), Some("KeyError"));
    assert_eq!(s.grouping.exception_value.as_deref(), Some("'SKU-1042'"));
}
