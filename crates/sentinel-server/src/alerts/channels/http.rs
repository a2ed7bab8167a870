//! The transport every HTTP channel shares: one JSON POST, its answer classified into an
//! [`Outcome`]. Secrets (webhook URLs with tokens, routing keys) never reach the error text.

use std::error::Error as _;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;

use super::Outcome;

/// How much of an error response is kept in the delivery log.
const SNIPPET_CHARS: usize = 200;
/// How much of a response body is read at most (only its start is kept).
const MAX_BODY_READ: usize = 4096;
/// A URL path shorter than this (`/`, `/v2/enqueue`) is left alone in error messages: it carries
/// no token, and replacing it would garble the message.
const MIN_REDACTED_TAIL: usize = 12;

/// A rendered request, ready to send.
pub(super) struct Post {
    pub(super) url: String,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) body: Vec<u8>,
    /// Strings removed from any error message (the URL itself, tokens, keys).
    redact: Vec<String>,
}

impl Post {
    /// A JSON POST to `url`; the URL counts as secret, and so does its path and query on their
    /// own (where the token of a Slack, Discord or Teams URL lives), should a receiver echo them.
    pub(super) fn json(url: &str, body: &serde_json::Value) -> Self {
        let mut redact = vec![url.to_owned()];
        if let Ok(parsed) = reqwest::Url::parse(url) {
            let mut tail = parsed.path().to_owned();
            if let Some(query) = parsed.query() {
                tail.push('?');
                tail.push_str(query);
            }
            if tail.len() > MIN_REDACTED_TAIL {
                redact.push(tail);
            }
        }
        Self {
            url: url.to_owned(),
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
            redact,
        }
    }

    pub(super) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Also keeps `secret` out of error messages.
    pub(super) fn redacting(mut self, secret: &str) -> Self {
        if !secret.is_empty() {
            self.redact.push(secret.to_owned());
        }
        self
    }

    /// The body as JSON (for tests of the rendering).
    #[cfg(test)]
    pub(super) fn json_body(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Sends `post` and classifies the answer: 2xx delivered; 408, 429, 5xx, network errors and
/// timeouts retryable; anything else (other 4xx, 3xx: redirects are not followed) final.
pub(super) async fn send(client: &reqwest::Client, timeout: Duration, post: Post) -> Outcome {
    let mut request = client
        .post(&post.url)
        .timeout(timeout)
        .header(CONTENT_TYPE, "application/json")
        .body(post.body);
    for (name, value) in &post.headers {
        request = request.header(*name, value);
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(err) => {
            // A request that cannot even be built (a malformed URL) will not build next time either.
            let retryable = !err.is_builder();
            return Outcome::failed(None, redact(describe(err, timeout), &post.redact), retryable);
        }
    };
    let status = response.status();
    let code = Some(i32::from(status.as_u16()));
    if status.is_success() {
        return Outcome::delivered(code);
    }
    let mut body = Vec::new();
    while body.len() < MAX_BODY_READ {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let snippet = snippet(&body);
    let mut error = format!("HTTP {}", status.as_u16());
    if status.is_redirection() {
        error.push_str(" (redirects are not followed)");
    }
    if !snippet.is_empty() {
        error.push_str(": ");
        error.push_str(&snippet);
    }
    Outcome::failed(code, redact(error, &post.redact), is_retryable(status))
}

pub(super) fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// The error and its causes on one line, without the request URL.
fn describe(err: reqwest::Error, timeout: Duration) -> String {
    let err = err.without_url();
    if err.is_timeout() {
        return format!("timed out after {} s", timeout.as_secs_f64());
    }
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}

/// The first characters of a response body, on one line.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(SNIPPET_CHARS).collect()
}

fn redact(mut message: String, secrets: &[String]) -> String {
    for secret in secrets {
        if !secret.is_empty() && message.contains(secret.as_str()) {
            message = message.replace(secret.as_str(), "[redacted]");
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses_are_server_errors_rate_limits_and_timeouts() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [301, 400, 401, 403, 404, 410, 413, 422] {
            assert!(!is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }

    #[test]
    fn snippet_keeps_two_hundred_characters_on_one_line() {
        let body = format!("line one\n  line\ttwo {}", "x".repeat(500));
        let s = snippet(body.as_bytes());
        assert!(s.starts_with("line one line two xxx"));
        assert_eq!(s.chars().count(), SNIPPET_CHARS);
    }

    #[test]
    fn redact_removes_every_secret() {
        let out = redact(
            "bad key R0123 at https://x/hook/R0123".into(),
            &["https://x/hook/R0123".into(), "R0123".into()],
        );
        assert_eq!(out, "bad key [redacted] at [redacted]");
    }
}
