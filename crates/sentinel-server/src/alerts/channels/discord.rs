//! Discord webhook: one embed coloured by severity, that mentions nobody (`allowed_mentions`
//! empty, so an `@everyone` in an error message pings no one). Discord answers 204, or 429 with
//! `retry_after` when it limits the rate.

use sentinel_store::{Channel, Notification, Transition};
use serde_json::{Value, json};

use super::http::Post;
use super::{Outcome, footer, secret, severity, truncate};
use crate::clock::rfc3339;

// Embed limits: title 256, description 4096, 25 fields (name 256, value 1024), footer 2048, and
// 6000 characters over all of them.
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4096;
const FIELDS_MAX: usize = 25;
const FIELD_NAME_MAX: usize = 256;
const FIELD_VALUE_MAX: usize = 1024;
const EMBED_TOTAL_MAX: usize = 6000;

pub(super) fn render(channel: &Channel, n: &Notification) -> Result<Post, Outcome> {
    let url = secret(channel, "url")?;
    Ok(Post::json(url, &payload(n)))
}

fn payload(n: &Notification) -> Value {
    let m = &n.message;
    let title = truncate(&m.title, TITLE_MAX);
    let footer = footer(n);
    let mut used = title.chars().count() + footer.chars().count();
    let mut fields = Vec::new();
    for (label, value) in m.fields.iter().take(FIELDS_MAX) {
        let name = truncate(non_empty(label), FIELD_NAME_MAX);
        let value = truncate(non_empty(value), FIELD_VALUE_MAX);
        let size = name.chars().count() + value.chars().count();
        if used + size > EMBED_TOTAL_MAX {
            break;
        }
        used += size;
        fields.push(json!({ "name": name, "value": value, "inline": true }));
    }
    let description = truncate(&m.text, DESCRIPTION_MAX.min(EMBED_TOTAL_MAX - used));
    let mut embed = json!({
        "title": title,
        "color": color(n),
        "fields": fields,
        "timestamp": rfc3339(n.created_ms),
        "footer": { "text": footer },
    });
    if !description.is_empty() {
        embed["description"] = json!(description);
    }
    if let Some(link) = &m.url {
        embed["url"] = json!(link);
    }
    json!({
        "embeds": [embed],
        "allowed_mentions": { "parse": [] },
    })
}

/// Discord refuses empty field names and values.
fn non_empty(s: &str) -> &str {
    if s.trim().is_empty() { "-" } else { s }
}

fn color(n: &Notification) -> u32 {
    if n.transition == Transition::Resolved {
        return 0x2E_CC71; // green
    }
    match severity(n) {
        "critical" => 0x99_1B1B, // dark red
        "error" => 0xE7_4C3C,    // red
        "warning" => 0xF3_9C12,  // amber
        _ => 0x34_98DB,          // blue
    }
}

#[cfg(test)]
mod tests {
    use sentinel_store::ChannelKind;

    use super::super::testing::{channel, notification};
    use super::*;

    #[test]
    fn one_embed_with_fields_color_and_no_mentions() {
        let (channel, _) = channel(
            ChannelKind::Discord,
            json!({ "url": "https://discord.test/api/webhooks/1/t" }),
        );
        let body = render(&channel, &notification(Transition::Triggered))
            .unwrap()
            .json_body();
        let embed = &body["embeds"][0];
        assert_eq!(embed["title"], "New issue: ZeroDivisionError <&> in app");
        assert_eq!(embed["color"], 0xE7_4C3C);
        assert_eq!(
            embed["fields"][1],
            json!({ "name": "Environment", "value": "production", "inline": true })
        );
        assert_eq!(embed["timestamp"], "2023-11-14T22:13:20.000Z");
        assert_eq!(body["allowed_mentions"], json!({ "parse": [] }));
        let resolved = payload(&notification(Transition::Resolved));
        assert_eq!(resolved["embeds"][0]["color"], 0x2E_CC71);
    }

    #[test]
    fn long_messages_stay_within_discord_limits() {
        let mut n = notification(Transition::Triggered);
        n.message.title = "t".repeat(1000);
        n.message.text = "d".repeat(10_000);
        n.message.fields = (0..40).map(|i| (format!("f{i}"), "v".repeat(2000))).collect();
        let body = payload(&n);
        let embed = &body["embeds"][0];
        let len = |v: &Value| v.as_str().unwrap().chars().count();
        assert_eq!(len(&embed["title"]), TITLE_MAX);
        let fields = embed["fields"].as_array().unwrap();
        assert!(fields.len() <= FIELDS_MAX);
        let total = len(&embed["title"])
            + len(&embed["footer"]["text"])
            + embed.get("description").map_or(0, len)
            + fields
                .iter()
                .map(|f| len(&f["name"]) + len(&f["value"]))
                .sum::<usize>();
        assert!(total <= EMBED_TOTAL_MAX, "{total}");
    }
}
