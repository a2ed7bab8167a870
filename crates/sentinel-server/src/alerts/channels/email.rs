//! Email channel: a list of recipients; the message goes out through the instance's SMTP mailer
//! (`[smtp]`), rendered by `alerts::email::render_alert_email`.

use std::time::Duration;

use lettre::message::Mailbox;
use sentinel_store::{Channel, ChannelSecrets, Notification};
use serde_json::{Value, json};

use super::input::Input;
use super::{Outcome, ParsedSettings};
use crate::alerts::email::{Mailer, render_alert_email};

const MAX_RECIPIENTS: usize = 20;

/// `to`: addresses separated by commas, semicolons or whitespace (`Name <addr>` entries between
/// commas work too), or a JSON array of them.
pub(super) fn parse(input: &Input<'_>) -> Result<ParsedSettings, String> {
    let entries: Vec<&str> = match input.raw("to") {
        None => Vec::new(),
        Some(Value::String(s)) => s.split([',', ';', '\n', '\r']).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| "to: must be a list of email addresses".to_owned())
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("to: must be email addresses separated by commas".into()),
    };
    let mut to: Vec<String> = Vec::new();
    for entry in entries.into_iter().map(str::trim).filter(|e| !e.is_empty()) {
        for mailbox in parse_entry(entry)? {
            let mailbox = mailbox.to_string();
            if !to.contains(&mailbox) {
                to.push(mailbox);
            }
        }
    }
    if to.is_empty() {
        return Err("to: is required".into());
    }
    if to.len() > MAX_RECIPIENTS {
        return Err(format!("to: at most {MAX_RECIPIENTS} recipients"));
    }
    Ok(ParsedSettings {
        config: json!({ "to": to }),
        secrets: ChannelSecrets(json!({})),
        shown_once: None,
    })
}

/// One entry: a mailbox (`Jane <jane@example.com>`), or several addresses separated by spaces.
fn parse_entry(entry: &str) -> Result<Vec<Mailbox>, String> {
    if let Ok(mailbox) = entry.parse::<Mailbox>() {
        return Ok(vec![mailbox]);
    }
    let invalid = |s: &str| format!("to: {s:?} is not an email address");
    if !entry.contains(char::is_whitespace) {
        return Err(invalid(entry));
    }
    entry
        .split_whitespace()
        .map(|part| part.parse::<Mailbox>().map_err(|_| invalid(part)))
        .collect()
}

pub(super) async fn deliver(
    mailer: Option<&Mailer>,
    timeout: Duration,
    channel: &Channel,
    n: &Notification,
) -> Outcome {
    let Some(mailer) = mailer else {
        return Outcome::failed(None, "SMTP is not configured (set [smtp] host)", false);
    };
    let to: Vec<String> = channel
        .config
        .get("to")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if to.is_empty() {
        return Outcome::failed(None, "the channel has no recipients: edit it", false);
    }
    let (subject, text, html) = render_alert_email(n);
    match tokio::time::timeout(timeout, mailer.send(&to, &subject, &text, &html)).await {
        Err(_) => Outcome::failed(None, format!("timed out after {} s", timeout.as_secs_f64()), true),
        Ok(Ok(code)) => Outcome::delivered(Some(code)),
        Ok(Err(err)) => Outcome::failed(err.code, err.message, !err.permanent),
    }
}

#[cfg(test)]
mod tests {
    use sentinel_store::{ChannelKind, Transition};

    use super::super::parse_settings;
    use super::super::testing::{channel, notification};
    use super::*;

    fn to(v: Value) -> Result<Value, String> {
        parse_settings(ChannelKind::Email, json!({ "to": v }).as_object().unwrap())
            .map(|p| p.config["to"].clone())
    }

    #[test]
    fn recipients_may_be_separated_by_commas_or_whitespace_or_listed() {
        assert_eq!(
            to(json!("a@example.com, b@example.com\nc@example.com d@example.com")).unwrap(),
            json!(["a@example.com", "b@example.com", "c@example.com", "d@example.com"])
        );
        assert_eq!(
            to(json!(["Ops Team <ops@example.com>", " a@example.com "])).unwrap(),
            json!(["Ops Team <ops@example.com>", "a@example.com"])
        );
        assert_eq!(
            to(json!("a@example.com,a@example.com")).unwrap(),
            json!(["a@example.com"])
        );
    }

    #[test]
    fn recipients_are_validated_and_limited() {
        assert_eq!(to(json!("")).unwrap_err(), "to: is required");
        assert_eq!(
            parse_settings(ChannelKind::Email, json!({}).as_object().unwrap()).unwrap_err(),
            "to: is required"
        );
        assert_eq!(
            to(json!("a@example.com, nobody")).unwrap_err(),
            "to: \"nobody\" is not an email address"
        );
        assert_eq!(
            to(json!("a@example.com not-an@")).unwrap_err(),
            "to: \"not-an@\" is not an email address"
        );
        assert_eq!(
            to(json!([1])).unwrap_err(),
            "to: must be a list of email addresses"
        );
        let many: Vec<String> = (0..21).map(|i| format!("u{i}@example.com")).collect();
        assert_eq!(
            to(json!(many.join(","))).unwrap_err(),
            "to: at most 20 recipients"
        );
    }

    #[tokio::test]
    async fn without_a_mailer_email_fails_for_good() {
        let (channel, _) = channel(ChannelKind::Email, json!({ "to": "a@example.com" }));
        let outcome = deliver(
            None,
            Duration::from_secs(1),
            &channel,
            &notification(Transition::Test),
        )
        .await;
        assert_eq!(
            outcome,
            Outcome::failed(None, "SMTP is not configured (set [smtp] host)", false)
        );
    }
}
