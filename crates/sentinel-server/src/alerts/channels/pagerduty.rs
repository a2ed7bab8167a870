//! PagerDuty Events API v2: `trigger` opens (or updates) an alert, `resolve` closes it. Both carry
//! the notification's group key as `dedup_key`, so the recovery closes the incident its trigger
//! opened. PagerDuty answers 202; 400 for an invalid event, 429 when it limits the rate.

use sentinel_store::{Channel, ChannelSecrets, Notification, Transition};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::http::Post;
use super::input::{self, Input};
use super::{Context, OPEN_LABEL, Outcome, ParsedSettings, secret, severity, truncate};
use crate::clock::rfc3339;

const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";
const ROUTING_KEY_LEN: usize = 32;
const SUMMARY_MAX: usize = 1024;
const DEDUP_KEY_MAX: usize = 255;

pub(super) fn parse(input: &Input<'_>) -> Result<ParsedSettings, String> {
    let key = input.required("routing_key")?;
    if key.len() != ROUTING_KEY_LEN || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "routing_key: must be the {ROUTING_KEY_LEN}-character integration key of an Events API v2 integration"
        ));
    }
    let url = input::http_url("url", input.optional("url")?.unwrap_or(DEFAULT_URL))?;
    Ok(ParsedSettings {
        config: json!({ "url_hint": input::url_hint(&url), "routing_key_hint": input::last4(key) }),
        secrets: ChannelSecrets(json!({ "routing_key": key, "url": url.as_str() })),
        shown_once: None,
    })
}

pub(super) fn render(channel: &Channel, n: &Notification, cx: &Context<'_>) -> Result<Post, Outcome> {
    let key = secret(channel, "routing_key")?;
    let url = channel
        .secrets
        .get("url")
        .filter(|u| !u.is_empty())
        .unwrap_or(DEFAULT_URL);
    Ok(Post::json(url, &payload(key, n, cx)).redacting(key))
}

fn payload(routing_key: &str, n: &Notification, cx: &Context<'_>) -> Value {
    let dedup_key = dedup_key(&n.group_key);
    if n.transition == Transition::Resolved {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        });
    }
    let m = &n.message;
    let mut details: serde_json::Map<String, Value> =
        m.fields.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    if !m.text.trim().is_empty() {
        details.insert("text".into(), json!(m.text));
    }
    details.insert("subject".into(), json!(n.subject));
    if let Some(rule) = &n.rule_name {
        details.insert("rule".into(), json!(rule));
    }
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": truncate(&m.title, SUMMARY_MAX),
            "source": "sentinel",
            "severity": severity(n),
            "timestamp": rfc3339(n.created_ms),
            "custom_details": details,
        },
        "client": "Sentinel",
        "client_url": cx.public_url,
    });
    if let Some(link) = &m.url {
        event["links"] = json!([{ "href": link, "text": OPEN_LABEL }]);
    }
    event
}

/// PagerDuty takes dedup keys of up to 255 characters; a longer group key is hashed (stably, so
/// its trigger and resolve still match).
fn dedup_key(group_key: &str) -> String {
    if group_key.len() <= DEDUP_KEY_MAX {
        group_key.to_owned()
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(group_key.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use sentinel_store::ChannelKind;

    use super::super::parse_settings;
    use super::super::testing::{channel, notification};
    use super::*;

    const KEY: &str = "R015Z0ABCDEFGHIJKLMNOPQRSTUV9x4Q";

    #[test]
    fn routing_key_is_secret_and_shown_by_its_last_four_characters() {
        let parsed = parse_settings(
            ChannelKind::PagerDuty,
            json!({ "routing_key": KEY }).as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(
            parsed.config,
            json!({ "url_hint": "https://events.pagerduty.com/…ueue", "routing_key_hint": "9x4Q" })
        );
        assert_eq!(parsed.secrets.get("routing_key"), Some(KEY));
        for bad in [
            "short",
            "R015Z0ABCDEFGHIJKLMNOPQRSTUV9x4Q-",
            "R015Z0ABCDEFGHIJKLMNOPQRSTU 9x4Q",
        ] {
            let err = parse_settings(
                ChannelKind::PagerDuty,
                json!({ "routing_key": bad }).as_object().unwrap(),
            )
            .unwrap_err();
            assert!(
                err.starts_with("routing_key: must be the 32-character"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn trigger_and_resolve_share_the_dedup_key() {
        let (channel, _) = channel(
            ChannelKind::PagerDuty,
            json!({ "routing_key": KEY, "url": "http://pd.test/e" }),
        );
        let cx = Context {
            now_ms: 0,
            public_url: "http://sentinel.test",
        };
        let trigger = render(&channel, &notification(Transition::Triggered), &cx).unwrap();
        assert_eq!(trigger.url, "http://pd.test/e");
        let trigger = trigger.json_body();
        assert_eq!(trigger["event_action"], "trigger");
        assert_eq!(trigger["dedup_key"], "rule:7:issue:9:1");
        assert_eq!(trigger["payload"]["severity"], "error");
        assert_eq!(trigger["payload"]["source"], "sentinel");
        assert_eq!(trigger["payload"]["custom_details"]["Project"], "backend");
        assert_eq!(
            trigger["links"][0]["href"],
            "http://sentinel.test/orgs/acme/issues/9"
        );
        assert_eq!(trigger["client_url"], "http://sentinel.test");
        let resolve = render(&channel, &notification(Transition::Resolved), &cx)
            .unwrap()
            .json_body();
        assert_eq!(
            resolve,
            json!({ "routing_key": KEY, "event_action": "resolve", "dedup_key": "rule:7:issue:9:1" })
        );
    }

    #[test]
    fn long_group_keys_are_hashed_within_the_limit() {
        let key = dedup_key(&"k".repeat(300));
        assert!(key.len() <= DEDUP_KEY_MAX);
        assert_eq!(key, dedup_key(&"k".repeat(300)));
    }
}
