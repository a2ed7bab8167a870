//! Shared by the benchmarks: the pre-built body pool, and one measured load phase (the closed loop
//! plus CPU, memory and metrics readings around it).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::HeaderValue;
use sentinel_loadgen::corpus::{Compression, Corpus, SENTRY_CLIENT};
use sentinel_loadgen::http::EnvelopeTarget;
use sentinel_loadgen::load::{self, BodySource, LoadOptions, LoadResult};

use crate::procfs::{self, SystemCpu};
use crate::server::Server;

/// Envelopes built before the clock starts.
pub struct Pool {
    pub bodies: Vec<Bytes>,
    /// The corpus group of each body.
    pub groups: Vec<u8>,
    pub build_time: Duration,
    pub mean_body_bytes: f64,
    pub mean_envelope_bytes: f64,
    /// The time stamped into the events (`sent_at`; event timestamps are up to 2 s before).
    pub now_ms: i64,
}

/// Builds envelopes `first..first + count` on every core (before the server is under load).
pub fn build_pool(corpus: &Corpus, first: u64, count: u64, now_ms: i64, compression: Compression) -> Pool {
    let started = Instant::now();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1) as u64;
    let chunk = count.div_ceil(threads);
    let parts: Vec<(Vec<Bytes>, Vec<u8>, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let (lo, hi) = (first + t * chunk, first + ((t + 1) * chunk).min(count));
                    let mut bodies = Vec::with_capacity(hi.saturating_sub(lo) as usize);
                    let mut groups = Vec::with_capacity(bodies.capacity());
                    let mut envelope_bytes = 0u64;
                    for i in lo..hi {
                        let env = corpus.envelope(i, now_ms, compression);
                        envelope_bytes += env.envelope_len as u64;
                        groups.push(u8::try_from(env.group).unwrap_or(u8::MAX));
                        bodies.push(Bytes::from(env.body));
                    }
                    (bodies, groups, envelope_bytes)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut bodies = Vec::with_capacity(count as usize);
    let mut groups = Vec::with_capacity(count as usize);
    let mut envelope_bytes = 0u64;
    for (b, g, e) in parts {
        bodies.extend(b);
        groups.extend(g);
        envelope_bytes += e;
    }
    let n = bodies.len().max(1) as f64;
    let body_bytes: usize = bodies.iter().map(Bytes::len).sum();
    Pool {
        mean_body_bytes: body_bytes as f64 / n,
        mean_envelope_bytes: envelope_bytes as f64 / n,
        bodies,
        groups,
        build_time: started.elapsed(),
        now_ms,
    }
}

impl Pool {
    /// Distinct groups among the given body indexes.
    pub fn groups_of(&self, indexes: &[u64]) -> usize {
        indexes
            .iter()
            .filter_map(|i| self.groups.get(*i as usize))
            .collect::<HashSet<_>>()
            .len()
    }
}

pub fn target(server: &Server, compression: Compression) -> anyhow::Result<Arc<EnvelopeTarget>> {
    Ok(Arc::new(EnvelopeTarget {
        authority: server.dsn.authority(),
        path: server.dsn.envelope_path(),
        auth: HeaderValue::from_str(&server.dsn.auth_header(SENTRY_CLIENT))
            .context("DSN key is not a header value")?,
        content_encoding: compression.content_encoding().map(HeaderValue::from_static),
    }))
}

/// One load phase and what was measured around it.
pub struct Phase {
    pub load: LoadResult,
    /// CPU of every server process (on PostgreSQL, not counting the database's).
    pub server_cpu: Duration,
    pub client_cpu: Duration,
    pub system_busy: Duration,
    /// Highest VmRSS of the HTTP process seen by the once-a-second sampler during the load.
    pub sampled_rss_max: u64,
    pub rss_series_mib: Vec<f64>,
    pub metrics_before: String,
    pub metrics_after: String,
}

impl Phase {
    pub fn secs(&self) -> f64 {
        self.load.elapsed.as_secs_f64().max(1e-9)
    }
}

pub async fn run_phase(
    server: &Server,
    target: Arc<EnvelopeTarget>,
    source: Arc<dyn BodySource>,
    opts: &LoadOptions,
) -> anyhow::Result<Phase> {
    let metrics_before = server.metrics().await?;
    let server_cpu0 = server.cpu_time()?;
    let client_cpu0 = procfs::cpu_time(0)?;
    let system0 = SystemCpu::read()?;

    let stop = Arc::new(AtomicBool::new(false));
    let pid = server.pid;
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut series = Vec::new();
            let mut max = 0u64;
            // Bounded: one sample a second, and the load itself is bounded.
            while !stop.load(Ordering::Relaxed) {
                if let Ok(m) = procfs::memory(pid) {
                    max = max.max(m.rss);
                    series.push(m.rss as f64 / 1048576.0);
                }
                for _ in 0..10 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            (max, series)
        })
    };
    let load = load::run(target, source, opts).await;
    let server_cpu = server.cpu_time()?.saturating_sub(server_cpu0);
    let client_cpu = procfs::cpu_time(0)?.saturating_sub(client_cpu0);
    let system_busy = SystemCpu::read()?.busy_since(&system0);
    let metrics_after = server.metrics().await?;
    stop.store(true, Ordering::Relaxed);
    let (sampled_rss_max, rss_series_mib) = sampler.await.unwrap_or_default();
    Ok(Phase {
        load,
        server_cpu,
        client_cpu,
        system_busy,
        sampled_rss_max,
        rss_series_mib,
        metrics_before,
        metrics_after,
    })
}

/// Milliseconds since the epoch, read once per benchmark run.
pub fn wall_clock_ms() -> anyhow::Result<i64> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the benchmark stamps its events with the real time, read once"
    )]
    let now = std::time::SystemTime::now();
    let since = now
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    i64::try_from(since.as_millis()).context("the system clock is out of range")
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}
