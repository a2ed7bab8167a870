//! `sentinel seed`: a month of a shop's errors, sent through a running server's real ingest path.
//!
//! [`plan`] decides when every event happened and which error it is (pure, deterministic by seed);
//! this module sends the events oldest first, each in the envelope its SDK would send, with
//! `sent_at` the time it is actually sent. Back-dated events are then what a server sees from SDKs
//! that deliver late (offline caches, retries): the envelope's clock agrees with the server's, so
//! clock-drift correction leaves the event's own timestamp alone, and the server keeps it as long as
//! it is less than 30 days old.

mod catalog;
mod plan;
mod report;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::HeaderValue;

use crate::corpus::{Compression, Corpus, Planned};
use crate::dsn::Dsn;
use crate::http::EnvelopeTarget;
use crate::load::{self, BodySource, LoadOptions, OnShed};
pub use plan::MAX_DAYS;
use plan::PlanConfig;
pub use report::{PlanSummary, ReleaseLine, SeedReport};

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// The project's DSN (plain http).
    pub dsn: String,
    pub events: u64,
    /// How many days back the events go: 1 to [`MAX_DAYS`].
    pub days: u32,
    /// The plan's seed; a random one when `None`. The same seed sends the same events (same ids:
    /// a server that already has them drops them as duplicates).
    pub seed: Option<u64>,
    /// Concurrent connections.
    pub concurrency: usize,
}

/// Plans `opts.events` events over the past `opts.days` days and sends them to the server behind
/// `opts.dsn`, oldest first, over `opts.concurrency` keep-alive connections, retrying 429/503
/// answers after their `Retry-After`.
pub async fn seed(opts: &SeedOptions) -> anyhow::Result<SeedReport> {
    let dsn: Dsn = opts.dsn.parse()?;
    if !(1..=MAX_DAYS).contains(&opts.days) {
        anyhow::bail!(
            "--days must be between 1 and {MAX_DAYS}: the server replaces event times more than 30 days old by the time it receives them"
        );
    }
    let seed = opts.seed.unwrap_or_else(rand::random);
    #[expect(
        clippy::disallowed_methods,
        reason = "seeding places events relative to the real time; this is its one clock read"
    )]
    let now = std::time::SystemTime::now();
    let started = Instant::now();
    let now_ms = i64::try_from(
        now.duration_since(std::time::UNIX_EPOCH)
            .context("the system clock is before 1970")?
            .as_millis(),
    )
    .context("the system clock is out of range")?;
    let config = PlanConfig {
        seed,
        events: opts.events,
        days: opts.days,
        now_ms,
    };
    let plan = Arc::new(
        tokio::task::spawn_blocking(move || plan::Plan::new(config))
            .await
            .context("planning the events")?,
    );
    let target = Arc::new(EnvelopeTarget {
        authority: dsn.authority(),
        path: dsn.envelope_path(),
        auth: HeaderValue::from_str(&dsn.auth_header(concat!("sentinel-seed/", env!("CARGO_PKG_VERSION"))))
            .context("the DSN key is not a valid header value")?,
        content_encoding: Some(HeaderValue::from_static("gzip")),
    });
    let source = Arc::new(PlannedSource {
        corpus: Corpus::new(seed),
        plan: plan.clone(),
        now_ms,
        started,
        next: AtomicU64::new(0),
    });
    let load_opts = LoadOptions {
        connections: opts.concurrency.clamp(1, 1024),
        duration: None,
        on_shed: OnShed::Retry {
            max_attempts: 20,
            max_wait: Duration::from_secs(60),
        },
        request_timeout: Duration::from_secs(30),
        keep_accepted: false,
    };
    let result = load::run(target, source, &load_opts).await;
    if result.accepted == 0 && opts.events > 0 {
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
        seed,
        target: format!("{} (project {})", dsn.authority(), dsn.project_id),
        plan: PlanSummary::of(&plan),
    })
}

/// The plan's events, in order, each built and encoded when a connection asks for it.
struct PlannedSource {
    corpus: Corpus,
    plan: Arc<plan::Plan>,
    now_ms: i64,
    started: Instant,
    next: AtomicU64,
}

impl BodySource for PlannedSource {
    fn next(&self) -> Option<(u64, Bytes)> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let ev = self.plan.events.get(usize::try_from(i).ok()?)?;
        let at = Planned {
            timestamp_ms: ev.timestamp_ms,
            release: &self.plan.releases[usize::from(ev.release)].name,
            environment: ev.environment(),
        };
        // The real time of sending, read from the monotonic clock since the one wall-clock read.
        let sent_at_ms = self.now_ms + i64::try_from(self.started.elapsed().as_millis()).unwrap_or(0);
        let issue = self.plan.catalog[usize::from(ev.issue)].issue;
        let (body, _) = self
            .corpus
            .scenario_envelope(i, issue, &at, sent_at_ms, Compression::Gzip(6));
        Some((i, Bytes::from(body)))
    }

    fn len(&self) -> u64 {
        self.plan.events.len() as u64
    }
}
