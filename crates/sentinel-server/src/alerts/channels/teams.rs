//! Microsoft Teams through a Workflows (Power Automate) "post to a channel when a webhook request
//! is received" flow: a `message` with one Adaptive Card (v1.4: TextBlocks, a FactSet and an
//! Action.OpenUrl). Workflows accept Adaptive Cards only, not the old connector MessageCard, and
//! answer 202.

use sentinel_store::{Channel, Notification, Transition};
use serde_json::{Value, json};

use super::http::Post;
use super::{OPEN_LABEL, Outcome, footer, secret, severity};

pub(super) fn render(channel: &Channel, n: &Notification) -> Result<Post, Outcome> {
    let url = secret(channel, "url")?;
    Ok(Post::json(url, &payload(n)))
}

fn payload(n: &Notification) -> Value {
    let m = &n.message;
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": m.title,
        "size": "Medium",
        "weight": "Bolder",
        "color": color(n),
        "wrap": true,
    })];
    if !m.text.trim().is_empty() {
        body.push(json!({ "type": "TextBlock", "text": m.text, "wrap": true }));
    }
    if !m.fields.is_empty() {
        let facts: Vec<Value> = m
            .fields
            .iter()
            .map(|(label, value)| json!({ "title": label, "value": value }))
            .collect();
        body.push(json!({ "type": "FactSet", "facts": facts }));
    }
    body.push(json!({
        "type": "TextBlock",
        "text": footer(n),
        "isSubtle": true,
        "size": "Small",
        "wrap": true,
    }));
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": { "width": "Full" },
    });
    if let Some(link) = &m.url {
        card["actions"] = json!([{ "type": "Action.OpenUrl", "title": OPEN_LABEL, "url": link }]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// An Adaptive Card text colour for the title.
fn color(n: &Notification) -> &'static str {
    if n.transition == Transition::Resolved {
        return "Good";
    }
    match severity(n) {
        "critical" | "error" => "Attention",
        "warning" => "Warning",
        _ => "Default",
    }
}

#[cfg(test)]
mod tests {
    use sentinel_store::ChannelKind;

    use super::super::testing::{channel, notification};
    use super::*;

    #[test]
    fn an_adaptive_card_with_facts_and_a_link() {
        let (channel, _) = channel(
            ChannelKind::Teams,
            json!({ "url": "https://prod.workflows.test/x?sig=abc" }),
        );
        let body = render(&channel, &notification(Transition::Triggered))
            .unwrap()
            .json_body();
        assert_eq!(body["type"], "message");
        let attachment = &body["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &attachment["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        assert_eq!(card["body"][0]["text"], "New issue: ZeroDivisionError <&> in app");
        assert_eq!(card["body"][0]["color"], "Attention");
        assert_eq!(
            card["body"][2]["facts"][0],
            json!({ "title": "Project", "value": "backend" })
        );
        assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    }
}
