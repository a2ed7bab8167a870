//! Outgoing email over SMTP (lettre): alert notifications, password resets and invitations.
//!
//! TLS is rustls with the process's crypto provider (ring) and the webpki roots, plus the PEM
//! certificates of `smtp.ca_file` (an internal CA, or a test server's self-signed certificate).
//! Every message is multipart/alternative: a plain-text part and an HTML part.

use std::time::Duration;

use anyhow::{Context as _, bail};
use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sentinel_store::{Notification, Transition};

use crate::config::{SmtpSettings, SmtpTls};

/// Sends email through the configured SMTP server. One SMTP session per message: alert and
/// account email is rare enough that a connection pool would only hold idle sockets.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MailError {
    pub message: String,
    /// The SMTP reply code, when the server answered with an error.
    pub code: Option<i32>,
    /// A 5xx reply (or a message that cannot be built): sending it again will fail again.
    pub permanent: bool,
}

impl MailError {
    fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: None,
            permanent: true,
        }
    }
}

impl Mailer {
    /// The mailer for `[smtp]`; `None` when no host is set (email is off).
    pub fn new(settings: &SmtpSettings) -> anyhow::Result<Option<Self>> {
        if !settings.enabled() {
            return Ok(None);
        }
        let from: Mailbox = settings
            .from
            .parse()
            .with_context(|| format!("smtp.from {:?} is not an email address", settings.from))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port())
            .timeout(Some(Duration::from_secs(settings.timeout_secs.max(1))));
        let tls = || tls_parameters(settings);
        builder = builder.tls(match settings.tls {
            SmtpTls::Starttls => Tls::Required(tls()?),
            SmtpTls::Tls => Tls::Wrapper(tls()?),
            SmtpTls::None => Tls::None,
        });
        if !settings.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                settings.username.clone(),
                settings.password.expose().to_owned(),
            ));
        }
        Ok(Some(Self {
            transport: builder.build(),
            from,
        }))
    }

    /// Sends one message to `to` (addresses, optionally with names); returns the server's reply
    /// code (250).
    pub async fn send(&self, to: &[String], subject: &str, text: &str, html: &str) -> Result<i32, MailError> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(one_line(subject))
            .message_id(None);
        if to.is_empty() {
            return Err(MailError::permanent("no recipients"));
        }
        for address in to {
            let mailbox: Mailbox = address
                .parse()
                .map_err(|_| MailError::permanent(format!("{address:?} is not an email address")))?;
            message = message.to(mailbox);
        }
        let message = message
            .multipart(MultiPart::alternative_plain_html(
                text.to_owned(),
                html.to_owned(),
            ))
            .map_err(|e| MailError::permanent(format!("building the message: {e}")))?;
        match self.transport.send(message).await {
            Ok(response) => Ok(i32::from(u16::from(response.code()))),
            Err(err) => Err(MailError {
                message: err.to_string(),
                code: err.status().map(|code| i32::from(u16::from(code))),
                permanent: err.is_permanent(),
            }),
        }
    }
}

fn tls_parameters(settings: &SmtpSettings) -> anyhow::Result<TlsParameters> {
    let mut params = TlsParameters::builder(settings.host.clone());
    if let Some(path) = &settings.ca_file {
        let pem = std::fs::read(path).with_context(|| format!("reading smtp.ca_file {}", path.display()))?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            bail!("smtp.ca_file {} holds no PEM certificate", path.display());
        }
        let certs = Certificate::from_pem(&pem)
            .with_context(|| format!("parsing the certificates in smtp.ca_file {}", path.display()))?;
        params = params.add_root_certificate(certs);
    }
    params.build_rustls().context("setting up TLS for SMTP")
}

/// Header values on one line (a title with a newline must not start a new header).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Template)]
#[template(path = "email/alert.html")]
struct AlertHtml<'a> {
    title: &'a str,
    text: &'a str,
    url: Option<&'a str>,
    fields: &'a [(String, String)],
    footer: &'a str,
    /// The colour of the bar above the title.
    color: &'a str,
}

#[derive(Template)]
#[template(path = "email/alert.txt")]
struct AlertText<'a> {
    title: &'a str,
    text: &'a str,
    url: Option<&'a str>,
    fields: &'a [(String, String)],
    footer: &'a str,
}

/// The subject, plain text and HTML of an alert email. Every value is escaped in the HTML by the
/// template engine.
pub fn render_alert_email(n: &Notification) -> (String, String, String) {
    let m = &n.message;
    let subject = {
        let title = one_line(&m.title);
        let title: String = if title.chars().count() > 200 {
            title.chars().take(199).chain(['…']).collect()
        } else {
            title
        };
        format!("[Sentinel] {title}")
    };
    let why = match n.transition {
        Transition::Triggered => "Triggered",
        Transition::Resolved => "Resolved",
        Transition::Reminder => "Reminder",
        Transition::Test => "Test",
    };
    let footer = match &n.rule_name {
        Some(rule) => format!(
            "{why} by the rule \"{rule}\" · channel \"{}\" · Sentinel",
            n.channel_name
        ),
        None => format!("{why} · channel \"{}\" · Sentinel", n.channel_name),
    };
    let color = match (n.transition, m.severity.as_str()) {
        (Transition::Resolved, _) => "#2ecc71",
        (_, "critical") => "#991b1b",
        (_, "warning") => "#f39c12",
        (_, "info") => "#3498db",
        _ => "#e74c3c",
    };
    let text_part = AlertText {
        title: &m.title,
        text: &m.text,
        url: m.url.as_deref(),
        fields: &m.fields,
        footer: &footer,
    };
    let html_part = AlertHtml {
        title: &m.title,
        text: &m.text,
        url: m.url.as_deref(),
        fields: &m.fields,
        footer: &footer,
        color,
    };
    // Rendering only formats strings; it cannot fail for these templates. Should it ever, the
    // plain title still goes out rather than nothing.
    let mut text = text_part
        .render()
        .unwrap_or_else(|_| format!("{}\n\n{}", m.title, m.text));
    text.push('\n');
    let html = html_part.render().unwrap_or_default();
    (subject, text, html)
}

#[cfg(test)]
mod tests {
    use sentinel_store::Transition;

    use super::*;
    use crate::alerts::channels::testing::notification;

    #[test]
    fn alert_email_escapes_html_and_keeps_the_text_as_is() {
        let mut n = notification(Transition::Triggered);
        n.message.title = "Crash in <script>alert('x')</script> & co".into();
        n.message.fields.push(("Tag".into(), "\"quoted\" <b>".into()));
        let (subject, text, html) = render_alert_email(&n);
        assert_eq!(subject, "[Sentinel] Crash in <script>alert('x')</script> & co");
        assert!(
            text.starts_with("Crash in <script>alert('x')</script> & co\n"),
            "{text}"
        );
        assert!(text.contains("Project: backend\n"), "{text}");
        assert!(text.contains("http://sentinel.test/orgs/acme/issues/9"), "{text}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("Crash in &#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; &#38; co"),
            "{html}"
        );
        assert!(html.contains("&#34;quoted&#34; &#60;b&#62;"), "{html}");
        assert!(
            html.contains(r#"href="http://sentinel.test/orgs/acme/issues/9""#),
            "{html}"
        );
    }

    #[test]
    fn subjects_stay_on_one_line() {
        let mut n = notification(Transition::Resolved);
        n.message.title = "two\r\nlines".into();
        assert_eq!(render_alert_email(&n).0, "[Sentinel] two lines");
    }

    #[test]
    fn no_host_means_no_mailer() {
        assert!(Mailer::new(&SmtpSettings::default()).unwrap().is_none());
    }
}
