//! `sentinel seed`: send realistic events through a running server's real ingest path.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http::HeaderValue;

use crate::corpus::{Compression, Corpus, SENTRY_CLIENT};
use crate::dsn::Dsn;
use crate::http::EnvelopeTarget;
use crate::load::{self, GeneratedSource, LoadOptions, OnShed};

/// What a seeding run achieved.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedReport {
    /// Events answered 200.
    pub accepted: u64,
    /// Attempts repeated after 429/503 (honouring `Retry-After`) or a dropped connection.
    pub retried: u64,
    /// Events given up on.
    pub failed: u64,
    pub elapsed: Duration,
    /// The corpus seed, so a run can be reproduced.
    pub corpus_seed: u64,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "accepted {} events in {:.1} s ({:.0}/s), {} retried, {} failed (corpus seed {})",
            self.accepted,
            secs,
            self.accepted as f64 / secs,
            self.retried,
            self.failed,
            self.corpus_seed
        )
    }
}

/// Sends `events` generated error events to the server behind `dsn` over `concurrency`
/// keep-alive connections, retrying 429/503 answers after their `Retry-After`.
///
/// Each run uses a fresh random corpus seed, so repeated runs add new events instead of
/// duplicates. Event timestamps are "now" when the run starts.
pub async fn seed(dsn: &str, events: u64, concurrency: usize) -> anyhow::Result<SeedReport> {
    let dsn: Dsn = dsn.parse()?;
    let corpus_seed: u64 = rand::random();
    #[expect(
        clippy::disallowed_methods,
        reason = "seeding stamps events with the real time; this is its one clock read"
    )]
    let now = std::time::SystemTime::now();
    let now_ms = i64::try_from(
        now.duration_since(std::time::UNIX_EPOCH)
            .context("the system clock is before 1970")?
            .as_millis(),
    )
    .context("the system clock is out of range")?;
    let target = Arc::new(EnvelopeTarget {
        authority: dsn.authority(),
        path: dsn.envelope_path(),
        auth: HeaderValue::from_str(&dsn.auth_header(SENTRY_CLIENT))
            .context("the DSN key is not a valid header value")?,
        content_encoding: Some(HeaderValue::from_static("gzip")),
    });
    let source = Arc::new(GeneratedSource::new(
        Corpus::new(corpus_seed),
        now_ms,
        Compression::Gzip(6),
        events,
    ));
    let opts = LoadOptions {
        connections: concurrency.clamp(1, 1024),
        duration: None,
        on_shed: OnShed::Retry {
            max_attempts: 20,
            max_wait: Duration::from_secs(60),
        },
        request_timeout: Duration::from_secs(30),
        keep_accepted: false,
    };
    let result = load::run(target, source, &opts).await;
    if result.accepted == 0 && events > 0 {
        let why = result
            .error_samples
            .first()
            .cloned()
            .unwrap_or_else(|| "no answer".into());
        anyhow::bail!("no event was accepted by {}: {why}", dsn.authority());
    }
    Ok(SeedReport {
        accepted: result.accepted,
        retried: result.retried,
        failed: result.failed,
        elapsed: result.elapsed,
        corpus_seed,
    })
}
