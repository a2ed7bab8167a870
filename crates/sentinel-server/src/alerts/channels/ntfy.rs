//! ntfy: a JSON publish, POSTed to the server's root URL (not the topic URL), with an access
//! token as `Authorization: Bearer` for protected topics. ntfy answers 200 with the message.

use sentinel_store::{Channel, ChannelSecrets, Notification, Transition};
use serde_json::{Value, json};

use super::http::Post;
use super::input::{self, Input};
use super::{Outcome, ParsedSettings, severity};

const DEFAULT_SERVER: &str = "https://ntfy.sh";
const TOPIC_MAX: usize = 64;
/// ntfy keeps messages up to 4096 bytes; larger ones become attachments or are refused.
const MESSAGE_MAX_BYTES: usize = 4000;

pub(super) fn parse(input: &Input<'_>) -> Result<ParsedSettings, String> {
    let server = input::http_url("url", input.optional("url")?.unwrap_or(DEFAULT_SERVER))?;
    if !server.username().is_empty() || server.password().is_some() {
        return Err("url: must not contain a user name or password (enter an access token instead)".into());
    }
    if server.query().is_some() {
        return Err("url: must be the server's base URL, without a query".into());
    }
    let server = server.as_str().trim_end_matches('/').to_owned();
    let topic = input.required("topic")?;
    let valid_topic = topic.len() <= TOPIC_MAX
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid_topic {
        return Err(format!(
            "topic: must be 1 to {TOPIC_MAX} letters, digits, '_' or '-'"
        ));
    }
    let token = input.optional("token")?;
    if let Some(token) = token
        && !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err("token: must not contain spaces or control characters".into());
    }
    let priority = parse_priority(input)?;
    let secrets = match token {
        Some(token) => json!({ "token": token }),
        None => json!({}),
    };
    Ok(ParsedSettings {
        config: json!({ "server": server, "topic": topic, "priority": priority }),
        secrets: ChannelSecrets(secrets),
        shown_once: None,
    })
}

/// 1–5, or ntfy's names for them (`min`, `low`, `default`, `high`, `max`/`urgent`).
fn parse_priority(input: &Input<'_>) -> Result<Option<u8>, String> {
    let invalid = || "priority: must be 1 to 5 (or min, low, default, high, max)".to_owned();
    let value = match input.raw("priority") {
        None => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(invalid)?,
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "" => return Ok(None),
            "min" => 1,
            "low" => 2,
            "default" => 3,
            "high" => 4,
            "max" | "urgent" => 5,
            other => other.parse().map_err(|_| invalid())?,
        },
        Some(_) => return Err(invalid()),
    };
    match value {
        1..=5 => Ok(Some(value as u8)),
        _ => Err(invalid()),
    }
}

pub(super) fn render(channel: &Channel, n: &Notification) -> Result<Post, Outcome> {
    let config_str = |name: &str| {
        channel
            .config
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let (Some(server), Some(topic)) = (config_str("server"), config_str("topic")) else {
        return Err(Outcome::failed(
            None,
            "the channel has no ntfy server or topic: edit it",
            false,
        ));
    };
    let priority = channel
        .config
        .get("priority")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| default_priority(n));
    let m = &n.message;
    let mut message = m.text.trim().to_owned();
    for (label, value) in &m.fields {
        if !message.is_empty() {
            message.push('\n');
        }
        message.push_str(&format!("{label}: {value}"));
    }
    let mut body = json!({
        "topic": topic,
        "title": m.title,
        "message": truncate_bytes(&message, MESSAGE_MAX_BYTES),
        "priority": priority,
        "tags": [tag(n)],
    });
    if let Some(link) = &m.url {
        body["click"] = json!(link);
    }
    let mut post = Post::json(&format!("{server}/"), &body);
    if let Some(token) = channel.secrets.get("token").filter(|t| !t.is_empty()) {
        post = post
            .header("Authorization", format!("Bearer {token}"))
            .redacting(token);
    }
    Ok(post)
}

fn default_priority(n: &Notification) -> u64 {
    if n.transition == Transition::Resolved {
        return 3;
    }
    match severity(n) {
        "critical" => 5,
        "error" => 4,
        _ => 3,
    }
}

/// An emoji tag (ntfy shows it before the title).
fn tag(n: &Notification) -> &'static str {
    if n.transition == Transition::Resolved {
        return "white_check_mark";
    }
    match severity(n) {
        "critical" => "rotating_light",
        "error" => "x",
        "warning" => "warning",
        _ => "information_source",
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use sentinel_store::ChannelKind;

    use super::super::parse_settings;
    use super::super::testing::{channel, notification};
    use super::*;

    fn parse_json(v: Value) -> Result<ParsedSettings, String> {
        parse_settings(ChannelKind::Ntfy, v.as_object().unwrap())
    }

    #[test]
    fn settings_default_to_ntfy_sh_and_keep_the_token_secret() {
        let parsed = parse_json(json!({ "topic": "ops-alerts", "token": "tk_abc123" })).unwrap();
        assert_eq!(
            parsed.config,
            json!({ "server": "https://ntfy.sh", "topic": "ops-alerts", "priority": null })
        );
        assert_eq!(parsed.secrets.get("token"), Some("tk_abc123"));
        let parsed =
            parse_json(json!({ "url": "http://ntfy.lan:8080/", "topic": "x", "priority": "high" })).unwrap();
        assert_eq!(
            parsed.config,
            json!({ "server": "http://ntfy.lan:8080", "topic": "x", "priority": 4 })
        );
        let parsed = parse_json(json!({ "topic": "x", "priority": 2 })).unwrap();
        assert_eq!(parsed.config["priority"], 2);
    }

    #[test]
    fn topic_and_priority_are_validated() {
        assert_eq!(parse_json(json!({})).unwrap_err(), "topic: is required");
        for bad in ["has space", "a/b", "ünïcode", &"x".repeat(65)] {
            let err = parse_json(json!({ "topic": bad })).unwrap_err();
            assert!(err.starts_with("topic: must be 1 to 64"), "{bad}: {err}");
        }
        for bad in [json!("6"), json!(0), json!("loud"), json!(true)] {
            let err = parse_json(json!({ "topic": "t", "priority": bad })).unwrap_err();
            assert!(err.starts_with("priority: must be 1 to 5"), "{err}");
        }
        let err = parse_json(json!({ "topic": "t", "url": "https://u:p@ntfy.lan" })).unwrap_err();
        assert!(err.starts_with("url: must not contain a user name"), "{err}");
    }

    #[test]
    fn publishes_json_to_the_root_url_with_the_token() {
        let (channel, _) = channel(
            ChannelKind::Ntfy,
            json!({ "url": "https://ntfy.lan/", "topic": "ops", "token": "tk_secret" }),
        );
        let post = render(&channel, &notification(Transition::Triggered)).unwrap();
        assert_eq!(post.url, "https://ntfy.lan/");
        assert!(
            post.headers
                .contains(&("Authorization", "Bearer tk_secret".into()))
        );
        let body = post.json_body();
        assert_eq!(body["topic"], "ops");
        assert_eq!(body["priority"], 4);
        assert_eq!(body["tags"], json!(["x"]));
        assert_eq!(
            body["message"],
            "division by zero\nin handler\nProject: backend\nEnvironment: production"
        );
        assert_eq!(body["click"], "http://sentinel.test/orgs/acme/issues/9");
    }

    #[test]
    fn truncate_bytes_cuts_at_a_character_boundary() {
        let s = "é".repeat(10);
        let cut = truncate_bytes(&s, 8);
        assert!(cut.len() <= 8, "{cut}");
        assert!(cut.ends_with('…'));
    }
}
