//! Generic webhook: Sentinel's own JSON document, signed with HMAC-SHA256 so the receiver can
//! tell it came from this Sentinel and was not replayed long after.

use hmac::{Hmac, Mac};
use sentinel_store::{Channel, ChannelSecrets, Notification};
use serde_json::json;
use sha2::Sha256;

use super::http::Post;
use super::input::{self, Input};
use super::{Context, Outcome, ParsedSettings, secret};
use crate::clock::rfc3339;

/// Entered secrets shorter than this are refused: leave it empty to have one generated.
const MIN_SECRET_CHARS: usize = 16;
const MAX_SECRET_CHARS: usize = 256;

pub(super) fn parse(input: &Input<'_>) -> Result<ParsedSettings, String> {
    let url = input::http_url("url", input.required("url")?)?;
    let (secret, shown_once) = match input.optional("secret")? {
        Some(s) if s.chars().count() < MIN_SECRET_CHARS => {
            return Err(format!(
                "secret: must be at least {MIN_SECRET_CHARS} characters (or leave it empty to have one generated)"
            ));
        }
        Some(s) if s.chars().count() > MAX_SECRET_CHARS => {
            return Err(format!("secret: must be at most {MAX_SECRET_CHARS} characters"));
        }
        Some(s) => (s.to_owned(), None),
        None => {
            let generated = hex::encode(rand::random::<[u8; 32]>());
            (generated.clone(), Some(generated))
        }
    };
    Ok(ParsedSettings {
        config: json!({ "url_hint": input::url_hint(&url) }),
        secrets: ChannelSecrets(json!({ "url": url.as_str(), "secret": secret })),
        shown_once,
    })
}

pub(super) fn render(channel: &Channel, n: &Notification, cx: &Context<'_>) -> Result<Post, Outcome> {
    let url = secret(channel, "url")?;
    let key = secret(channel, "secret")?;
    let fields: serde_json::Map<String, serde_json::Value> = n
        .message
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let rule = n.rule_id.map(|id| json!({ "id": id, "name": n.rule_name }));
    let body = json!({
        "id": n.id,
        "idempotency_key": n.idempotency_key,
        "group_key": n.group_key,
        "transition": n.transition.as_str(),
        "rule": rule,
        "project_id": n.project_id,
        "subject": n.subject,
        "title": n.message.title,
        "text": n.message.text,
        "url": n.message.url,
        "severity": n.message.severity,
        "fields": fields,
        "created_at": rfc3339(n.created_ms),
    });
    let post = Post::json(url, &body).redacting(key);
    let timestamp = (cx.now_ms.div_euclid(1000)).to_string();
    let signature = sign(key, &timestamp, &post.body);
    Ok(post
        .header("Idempotency-Key", n.idempotency_key.clone())
        .header("X-Sentinel-Timestamp", timestamp)
        .header("X-Sentinel-Signature", format!("sha256={signature}")))
}

/// Hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use sentinel_store::{ChannelKind, Transition};
    use serde_json::json;

    use super::super::parse_settings;
    use super::super::testing::{channel, notification};
    use super::*;

    #[test]
    fn a_missing_secret_is_generated_and_shown_once() {
        let input = json!({ "url": "https://receiver.test/hooks/sentinel" });
        let parsed = parse_settings(ChannelKind::Webhook, input.as_object().unwrap()).unwrap();
        let shown = parsed.shown_once.unwrap();
        assert_eq!(shown.len(), 64);
        assert!(shown.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(parsed.secrets.get("secret"), Some(shown.as_str()));
        assert_eq!(
            parsed.config,
            json!({ "url_hint": "https://receiver.test/…inel" })
        );
    }

    #[test]
    fn an_entered_secret_is_kept_and_not_shown_again() {
        let input = json!({ "url": "http://127.0.0.1:9/hook", "secret": "correct horse battery staple" });
        let parsed = parse_settings(ChannelKind::Webhook, input.as_object().unwrap()).unwrap();
        assert!(parsed.shown_once.is_none());
        assert_eq!(parsed.secrets.get("secret"), Some("correct horse battery staple"));
        let short = json!({ "url": "http://127.0.0.1:9/hook", "secret": "hunter2" });
        let err = parse_settings(ChannelKind::Webhook, short.as_object().unwrap()).unwrap_err();
        assert!(err.starts_with("secret: must be at least 16 characters"), "{err}");
    }

    #[test]
    fn the_body_is_signed_with_the_timestamp() {
        let (channel, parsed) = channel(ChannelKind::Webhook, json!({ "url": "https://receiver.test/h" }));
        let n = notification(Transition::Triggered);
        let cx = Context {
            now_ms: 1_700_000_123_456,
            public_url: "http://sentinel.test",
        };
        let post = render(&channel, &n, &cx).unwrap();
        let header = |name: &str| post.headers.iter().find(|(k, _)| *k == name).unwrap().1.clone();
        assert_eq!(header("X-Sentinel-Timestamp"), "1700000123");
        assert_eq!(header("Idempotency-Key"), n.idempotency_key);
        let expected = sign(parsed.shown_once.as_deref().unwrap(), "1700000123", &post.body);
        assert_eq!(header("X-Sentinel-Signature"), format!("sha256={expected}"));
        let body = post.json_body();
        assert_eq!(body["rule"], json!({ "id": 7, "name": "New issues" }));
        assert_eq!(body["transition"], "triggered");
        assert_eq!(
            body["fields"],
            json!({ "Project": "backend", "Environment": "production" })
        );
        assert_eq!(body["created_at"], "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn sign_matches_python_hmac() {
        // hmac.new(b"Jefe", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            sign("Jefe", "1700000000", br#"{"a":1}"#),
            "fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"
        );
    }
}
