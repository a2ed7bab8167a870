//! One POST of a batch to Sentinel, and what its answer means for the batch. Encoding and the
//! reading of answers are pure functions; only `Transport::send` does I/O.

use std::io::Write;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};

use crate::dsn::{CLIENT, Dsn};
use crate::event::RequestEvent;
use crate::sensor::SensorError;

/// Bodies above this are gzipped; below it compression costs more than it saves.
pub(crate) const GZIP_ABOVE_BYTES: usize = 1024;

/// What happened to a batch, and so what the worker does with it.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// 2xx: Sentinel took the batch; `rejected` records failed its validation one by one.
    Delivered {
        accepted: u64,
        rejected: u64,
        first_error: Option<String>,
    },
    /// 400: the body as a whole was refused. Sending it again would be refused again.
    Refused { detail: String },
    /// 401/403: the DSN's key is wrong, revoked or its project gone. Not retried.
    Forbidden { status: u16 },
    /// 413: the batch is larger than Sentinel takes; a smaller one may pass.
    TooLarge,
    /// 429/503: Sentinel is shedding load; try again after the given time (or a backoff).
    RetryLater { after: Option<Duration> },
    /// No answer (connection, timeout) or a 5xx: try again with backoff.
    Failed { detail: String },
    /// Any other answer (404 from a wrong path prefix, a redirect…): not retried.
    Unexpected { status: u16 },
}

/// The HTTP client bound to one DSN.
#[derive(Debug)]
pub(crate) struct Transport {
    client: reqwest::Client,
    url: String,
    auth: HeaderValue,
}

impl Transport {
    pub(crate) fn new(dsn: &Dsn, timeout: Duration) -> Result<Self, SensorError> {
        let auth = HeaderValue::from_str(&dsn.auth_header()).map_err(|_| SensorError::InvalidKey)?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirected POST would lose its body; a redirect means a wrong DSN.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(SensorError::Client)?;
        Ok(Transport {
            client,
            url: dsn.requests_url(),
            auth,
        })
    }

    pub(crate) async fn send(&self, events: &[RequestEvent]) -> Outcome {
        let (body, gzipped) = match encode(events) {
            Ok(encoded) => encoded,
            Err(detail) => return Outcome::Refused { detail },
        };
        let mut request = self
            .client
            .post(&self.url)
            .header("X-Sentry-Auth", self.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, CLIENT);
        if gzipped {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let response = match request.body(body).send().await {
            Ok(response) => response,
            Err(e) => return Outcome::Failed { detail: describe(&e) },
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // The answer is small; a body that fails to arrive only loses the per-record counts.
        let body = response.bytes().await.unwrap_or_default();
        classify(status, retry_after, &body, events.len())
    }
}

/// The batch as a JSON array, gzipped when larger than 1 KiB. Returns the body and whether it
/// is gzipped.
pub(crate) fn encode(events: &[RequestEvent]) -> Result<(Vec<u8>, bool), String> {
    let json = serde_json::to_vec(events).map_err(|e| format!("could not encode the batch: {e}"))?;
    if json.len() <= GZIP_ABOVE_BYTES {
        return Ok((json, false));
    }
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::fast());
    match gz.write_all(&json).and_then(|()| gz.finish()) {
        Ok(compressed) => Ok((compressed, true)),
        // Writing into memory does not fail; if it ever did, plain JSON is still valid.
        Err(_) => Ok((json, false)),
    }
}

#[derive(serde::Deserialize)]
struct Answer {
    accepted: u64,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// What an answer means for a batch of `len` records.
pub(crate) fn classify(status: u16, retry_after: Option<Duration>, body: &[u8], len: usize) -> Outcome {
    let len = len as u64;
    match status {
        200..=299 => match serde_json::from_slice::<Answer>(body) {
            Ok(answer) => {
                let accepted = answer.accepted.min(len);
                Outcome::Delivered {
                    accepted,
                    rejected: len - accepted,
                    first_error: answer.errors.first().map(ToString::to_string),
                }
            }
            // Taken, but without the counts: count everything as sent.
            Err(_) => Outcome::Delivered {
                accepted: len,
                rejected: 0,
                first_error: None,
            },
        },
        400 => Outcome::Refused {
            detail: String::from_utf8_lossy(body).chars().take(300).collect(),
        },
        401 | 403 => Outcome::Forbidden { status },
        413 => Outcome::TooLarge,
        429 | 503 => Outcome::RetryLater { after: retry_after },
        500..=599 => Outcome::Failed {
            detail: format!("Sentinel answered {status}"),
        },
        _ => Outcome::Unexpected { status },
    }
}

/// `Retry-After` in seconds. The HTTP-date form is not used by Sentinel; it falls back to the
/// backoff.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A transport error with its causes (reqwest's own message omits "connection refused").
fn describe(error: &reqwest::Error) -> String {
    let mut out = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn events(n: usize) -> Vec<RequestEvent> {
        (0..n)
            .map(|i| RequestEvent::new(format!("/v1/items/{i}"), "GET", 200, Duration::from_millis(3)))
            .collect()
    }

    #[test]
    fn small_batches_go_plain_and_large_ones_gzipped() {
        let (body, gzipped) = encode(&events(1)).unwrap();
        assert!(!gzipped);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let (body, gzipped) = encode(&events(40)).unwrap();
        assert!(gzipped);
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut json)
            .unwrap();
        assert!(json.len() > GZIP_ABOVE_BYTES);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&json)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            40
        );
    }

    #[test]
    fn answers_map_to_what_happens_to_the_batch() {
        assert_eq!(
            classify(
                200,
                None,
                br#"{"accepted": 8, "rejected": 2, "errors": [{"index": 3, "reason": "x"}]}"#,
                10
            ),
            Outcome::Delivered {
                accepted: 8,
                rejected: 2,
                first_error: Some(r#"{"index":3,"reason":"x"}"#.into())
            }
        );
        assert_eq!(
            classify(202, None, b"ok", 4),
            Outcome::Delivered {
                accepted: 4,
                rejected: 0,
                first_error: None
            }
        );
        assert!(matches!(classify(400, None, b"bad", 1), Outcome::Refused { .. }));
        assert_eq!(classify(403, None, b"", 1), Outcome::Forbidden { status: 403 });
        assert_eq!(classify(413, None, b"", 1), Outcome::TooLarge);
        let after = Some(Duration::from_secs(3));
        assert_eq!(classify(429, after, b"", 1), Outcome::RetryLater { after });
        assert_eq!(classify(503, None, b"", 1), Outcome::RetryLater { after: None });
        assert!(matches!(classify(502, None, b"", 1), Outcome::Failed { .. }));
        assert_eq!(classify(404, None, b"", 1), Outcome::Unexpected { status: 404 });
        assert_eq!(classify(301, None, b"", 1), Outcome::Unexpected { status: 301 });
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
