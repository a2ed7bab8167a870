//! The closed loop: N connections, one task each, sending envelopes back to back until the time
//! is up or the bodies run out. Bounded by construction: it never sends more bodies than its source
//! holds, and never starts a request after the deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::http::{Conn, EnvelopeTarget};

/// Where request bodies come from. Each call hands out a different body, or `None` when exhausted.
pub trait BodySource: Send + Sync + 'static {
    /// The body's index in the source and the body itself.
    fn next(&self) -> Option<(u64, Bytes)>;
    /// How many bodies the source holds in total.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bodies built before the clock starts, so the loop measures the server and not the generator.
pub struct PoolSource {
    bodies: Vec<Bytes>,
    next: AtomicU64,
}

impl PoolSource {
    pub fn new(bodies: Vec<Bytes>) -> Self {
        PoolSource {
            bodies,
            next: AtomicU64::new(0),
        }
    }

    /// How many bodies have been handed out (at most `len`).
    pub fn taken(&self) -> u64 {
        self.next.load(Ordering::Relaxed).min(self.bodies.len() as u64)
    }
}

impl BodySource for PoolSource {
    fn next(&self) -> Option<(u64, Bytes)> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.bodies.get(i as usize).map(|b| (i, b.clone()))
    }

    fn len(&self) -> u64 {
        self.bodies.len() as u64
    }
}

/// A pool handed out round and round, for overload runs bounded by time rather than by bodies.
/// Repeated event ids are harmless there: the server accepts them and de-duplicates them later.
pub struct CyclingSource {
    bodies: Vec<Bytes>,
    next: AtomicU64,
    limit: u64,
}

impl CyclingSource {
    /// Hands out at most `limit` bodies in total (a safety bound besides the load's duration).
    pub fn new(bodies: Vec<Bytes>, limit: u64) -> Self {
        CyclingSource {
            bodies,
            next: AtomicU64::new(0),
            limit,
        }
    }

    /// Bodies handed out more than once.
    pub fn reused(&self) -> u64 {
        self.next
            .load(Ordering::Relaxed)
            .min(self.limit)
            .saturating_sub(self.bodies.len() as u64)
    }
}

impl BodySource for CyclingSource {
    fn next(&self) -> Option<(u64, Bytes)> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if i >= self.limit || self.bodies.is_empty() {
            return None;
        }
        let k = i % self.bodies.len() as u64;
        self.bodies.get(k as usize).map(|b| (k, b.clone()))
    }

    fn len(&self) -> u64 {
        self.limit
    }
}

/// How the loop treats 429 and 503 answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnShed {
    /// Count them and move on to the next body (benchmarks: shedding is a result).
    Record,
    /// Wait for `Retry-After` (capped) and send the same body again, up to `max_attempts` times.
    Retry { max_attempts: u32, max_wait: Duration },
}

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub connections: usize,
    /// No request starts after this much time; `None` runs until the source is exhausted.
    pub duration: Option<Duration>,
    pub on_shed: OnShed,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Keep the indexes of accepted bodies (to tell which groups were stored).
    pub keep_accepted: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            connections: 32,
            duration: None,
            on_shed: OnShed::Record,
            request_timeout: Duration::from_secs(30),
            keep_accepted: false,
        }
    }
}

/// What the loop saw.
#[derive(Debug, Default, Clone)]
pub struct LoadResult {
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Per answered request (each attempt), in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Answers by status code (each attempt).
    pub statuses: BTreeMap<u16, u64>,
    /// Bodies answered 200.
    pub accepted: u64,
    /// Attempts that were retried after 429/503.
    pub retried: u64,
    /// Bodies given up on: transport errors, timeouts, non-200 answers (after retries).
    pub failed: u64,
    /// Transport-level errors (connect, reset, timeout).
    pub transport_errors: u64,
    /// The first few distinct error messages, for the report.
    pub error_samples: Vec<String>,
    /// The source ran out before the deadline.
    pub exhausted: bool,
    /// Indexes of accepted bodies, when asked for.
    pub accepted_indexes: Vec<u64>,
}

impl LoadResult {
    /// The `q`-quantile latency (0.0–1.0) in milliseconds.
    pub fn latency_ms(&self, q: f64) -> f64 {
        percentile_us(&self.latencies_us, q) / 1000.0
    }

    pub fn non_ok(&self) -> BTreeMap<u16, u64> {
        self.statuses
            .iter()
            .filter(|(s, _)| **s != 200)
            .map(|(s, n)| (*s, *n))
            .collect()
    }

    fn merge(&mut self, other: LoadResult) {
        self.latencies_us.extend(other.latencies_us);
        for (s, n) in other.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        self.accepted += other.accepted;
        self.retried += other.retried;
        self.failed += other.failed;
        self.transport_errors += other.transport_errors;
        for e in other.error_samples {
            if self.error_samples.len() < 5 && !self.error_samples.contains(&e) {
                self.error_samples.push(e);
            }
        }
        self.accepted_indexes.extend(other.accepted_indexes);
    }
}

/// The `q`-quantile of sorted microsecond samples (nearest rank), 0 when empty.
pub fn percentile_us(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1])
}

/// Runs the closed loop to completion.
pub async fn run(target: Arc<EnvelopeTarget>, source: Arc<dyn BodySource>, opts: &LoadOptions) -> LoadResult {
    let started = Instant::now();
    let deadline = opts.duration.map(|d| started + d);
    let exhausted = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(opts.connections);
    for _ in 0..opts.connections.max(1) {
        let (target, source, exhausted, opts) =
            (target.clone(), source.clone(), exhausted.clone(), opts.clone());
        tasks.push(tokio::spawn(async move {
            connection_loop(&target, &*source, deadline, &exhausted, &opts).await
        }));
    }
    let mut total = LoadResult::default();
    for t in tasks {
        match t.await {
            Ok(r) => total.merge(r),
            Err(e) => {
                total.failed += 1;
                total.error_samples.push(format!("load task failed: {e}"));
            }
        }
    }
    total.elapsed = started.elapsed();
    total.exhausted = exhausted.load(Ordering::Relaxed);
    total.latencies_us.sort_unstable();
    total
}

fn note_error(r: &mut LoadResult, e: String) {
    if r.error_samples.len() < 5 && !r.error_samples.contains(&e) {
        r.error_samples.push(e);
    }
}

async fn connection_loop(
    target: &EnvelopeTarget,
    source: &dyn BodySource,
    deadline: Option<Instant>,
    exhausted: &AtomicBool,
    opts: &LoadOptions,
) -> LoadResult {
    let mut r = LoadResult::default();
    let mut conn: Option<Conn> = None;
    // Reconnects are bounded so a dead server ends the loop instead of spinning.
    let mut reconnects_left = 20u32;
    'bodies: loop {
        if deadline.is_some_and(|d| Instant::now() >= d) || exhausted.load(Ordering::Relaxed) {
            break;
        }
        let Some((index, body)) = source.next() else {
            exhausted.store(true, Ordering::Relaxed);
            break;
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if conn.as_ref().is_none_or(|c| !c.is_open()) {
                match Conn::connect(&target.authority).await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        r.transport_errors += 1;
                        note_error(&mut r, e.to_string());
                        if reconnects_left == 0 {
                            r.failed += 1;
                            break 'bodies;
                        }
                        reconnects_left -= 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        // The body was never sent: try it again on the next connection.
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue 'bodies };
            let req = match target.request(body.clone()) {
                Ok(req) => req,
                Err(e) => {
                    r.failed += 1;
                    note_error(&mut r, e.to_string());
                    break 'bodies;
                }
            };
            let sent = Instant::now();
            let reply = tokio::time::timeout(opts.request_timeout, c.send(req)).await;
            let took = sent.elapsed();
            let reply = match reply {
                Ok(Ok(reply)) => reply,
                failure => {
                    let e = match failure {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("request timed out after {:?}", opts.request_timeout),
                    };
                    r.transport_errors += 1;
                    note_error(&mut r, e);
                    conn = None;
                    match opts.on_shed {
                        OnShed::Retry { max_attempts, .. } if attempt < max_attempts => {
                            r.retried += 1;
                            continue;
                        }
                        _ => {
                            r.failed += 1;
                            continue 'bodies;
                        }
                    }
                }
            };
            r.latencies_us
                .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
            *r.statuses.entry(reply.status.as_u16()).or_default() += 1;
            if reply.status.is_success() {
                r.accepted += 1;
                if opts.keep_accepted {
                    r.accepted_indexes.push(index);
                }
                continue 'bodies;
            }
            let shed = matches!(reply.status.as_u16(), 429 | 503);
            match opts.on_shed {
                OnShed::Retry {
                    max_attempts,
                    max_wait,
                } if shed && attempt < max_attempts => {
                    r.retried += 1;
                    let wait = Duration::from_secs(reply.retry_after.unwrap_or(1).max(1)).min(max_wait);
                    if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                        r.failed += 1;
                        break 'bodies;
                    }
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    r.failed += 1;
                    if !shed {
                        let detail =
                            String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).into_owned();
                        note_error(&mut r, format!("HTTP {}: {detail}", reply.status.as_u16()));
                    }
                    continue 'bodies;
                }
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile_us(&v, 0.5), 50.0);
        assert_eq!(percentile_us(&v, 0.99), 99.0);
        assert_eq!(percentile_us(&v, 1.0), 100.0);
        assert_eq!(percentile_us(&[], 0.5), 0.0);
    }

    #[test]
    fn a_pool_hands_out_each_body_once_then_nothing() {
        let pool = PoolSource::new(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
        assert_eq!(pool.next().map(|(i, _)| i), Some(0));
        assert_eq!(pool.next().map(|(i, _)| i), Some(1));
        assert!(pool.next().is_none());
        assert!(pool.next().is_none());
        assert_eq!(pool.taken(), 2);
    }

    #[test]
    fn a_cycling_source_wraps_around_and_stops_at_its_limit() {
        let src = CyclingSource::new(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")], 3);
        let got: Vec<u64> = std::iter::from_fn(|| src.next().map(|(i, _)| i)).collect();
        assert_eq!(got, vec![0, 1, 0]);
        assert_eq!(src.reused(), 1);
    }
}
