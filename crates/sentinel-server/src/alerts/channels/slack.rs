//! Slack incoming webhook: Block Kit blocks (header, text, fields, a link button, a footer) with
//! `text` as the fallback shown in notifications. Slack answers 200 `ok`, or 400/403/404 with a
//! short reason (`invalid_payload`, `no_service`, …).

use sentinel_store::{Channel, Notification};
use serde_json::{Value, json};

use super::http::Post;
use super::{OPEN_LABEL, Outcome, footer, secret, truncate};

// Block Kit limits: header text 150 characters, section text 3000, 10 fields of 2000 each,
// button label 75, button URL 3000.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const FIELDS_MAX: usize = 10;
const FIELD_MAX: usize = 2000;
const URL_MAX: usize = 3000;

pub(super) fn render(channel: &Channel, n: &Notification) -> Result<Post, Outcome> {
    let url = secret(channel, "url")?;
    Ok(Post::json(url, &payload(n)))
}

fn payload(n: &Notification) -> Value {
    let m = &n.message;
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": truncate(&m.title, HEADER_MAX), "emoji": true },
    })];
    if !m.text.trim().is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": truncate(&escape(&m.text), SECTION_MAX) },
        }));
    }
    if !m.fields.is_empty() {
        let fields: Vec<Value> = m
            .fields
            .iter()
            .take(FIELDS_MAX)
            .map(|(label, value)| {
                let text = format!("*{}*\n{}", escape(label), escape(value));
                json!({ "type": "mrkdwn", "text": truncate(&text, FIELD_MAX) })
            })
            .collect();
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    if let Some(link) = m.url.as_deref().filter(|u| u.len() <= URL_MAX) {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": { "type": "plain_text", "text": OPEN_LABEL },
                "url": link,
            }],
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": escape(&format!("{} · {}", footer(n), m.severity)) }],
    }));
    json!({
        "text": truncate(&escape(&m.title), SECTION_MAX),
        "blocks": blocks,
    })
}

/// Slack's control characters in mrkdwn text (`&`, `<`, `>`) as the entities Slack expects, so a
/// title cannot turn into a link or a mention.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use sentinel_store::{ChannelKind, Transition};

    use super::super::testing::{channel, notification};
    use super::*;

    #[test]
    fn blocks_hold_the_title_text_fields_and_a_link() {
        let (channel, _) = channel(
            ChannelKind::Slack,
            json!({ "url": "https://hooks.slack.test/T/B/x" }),
        );
        let post = render(&channel, &notification(Transition::Triggered)).unwrap();
        assert_eq!(post.url, "https://hooks.slack.test/T/B/x");
        let body = post.json_body();
        assert_eq!(body["text"], "New issue: ZeroDivisionError &lt;&amp;&gt; in app");
        let blocks = body["blocks"].as_array().unwrap();
        let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["header", "section", "section", "actions", "context"]);
        assert_eq!(
            blocks[0]["text"]["text"],
            "New issue: ZeroDivisionError <&> in app"
        );
        assert_eq!(blocks[2]["fields"][0]["text"], "*Project*\nbackend");
        assert_eq!(
            blocks[3]["elements"][0]["url"],
            "http://sentinel.test/orgs/acme/issues/9"
        );
    }

    #[test]
    fn escape_replaces_only_the_three_control_characters() {
        assert_eq!(escape("<!channel> & *bold*"), "&lt;!channel&gt; &amp; *bold*");
    }
}
