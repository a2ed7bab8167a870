//! The handle an app keeps: configuration, `record`, `flush` and the counters. Sending happens
//! in the background task of `worker`; nothing here waits on the network.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::dsn::{Dsn, DsnError};
use crate::event::RequestEvent;
use crate::layer::SensorLayer;
use crate::throttle::{LOG_PERIOD, Throttle};
use crate::transport::Transport;
use crate::worker::{Message, Worker};

/// Room in the channel beyond `max_queue` for flush requests, which must not compete with
/// events for the queue bound.
const FLUSH_HEADROOM: usize = 64;

/// How a sensor batches and sends. `SensorConfig::new(dsn)` gives the defaults.
#[derive(Debug, Clone)]
pub struct SensorConfig {
    pub dsn: Dsn,
    /// Longest an event waits before its batch is sent (default 1 s). A full batch goes at once.
    pub flush_interval: Duration,
    /// Most records in one POST (default 1000). Halved for the rest of the sensor's life if
    /// Sentinel answers 413.
    pub max_batch: usize,
    /// Most events held in memory, waiting or being retried (default 10 000). Past it, new
    /// events are dropped and counted.
    pub max_queue: usize,
    /// Limit for one POST, connecting included (default 5 s).
    pub timeout: Duration,
}

impl SensorConfig {
    pub fn new(dsn: Dsn) -> Self {
        SensorConfig {
            dsn,
            flush_interval: Duration::from_secs(1),
            max_batch: 1000,
            max_queue: 10_000,
            timeout: Duration::from_secs(5),
        }
    }

    fn validate(&self) -> Result<(), SensorError> {
        let problem = if self.max_batch == 0 {
            "max_batch must be at least 1"
        } else if self.max_queue == 0 {
            "max_queue must be at least 1"
        } else if self.flush_interval.is_zero() {
            "flush_interval must be longer than zero"
        } else if self.timeout.is_zero() {
            "timeout must be longer than zero"
        } else {
            return Ok(());
        };
        Err(SensorError::Config(problem))
    }
}

/// Why a sensor could not start.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    #[error(transparent)]
    Dsn(#[from] DsnError),
    #[error("invalid sensor configuration: {0}")]
    Config(&'static str),
    #[error("the sensor needs a tokio runtime for its background task; create it inside one")]
    NoRuntime,
    #[error("the DSN's public key cannot be sent in an HTTP header; expected visible ASCII")]
    InvalidKey,
    #[error("could not build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Why `flush` returned before every event was delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlushError {
    #[error("request events were still queued after {0:?} (Sentinel unreachable or asking to retry later)")]
    Timeout(Duration),
    #[error("{events} request events were refused by Sentinel or dropped; see Sensor::stats")]
    Undelivered { events: u64 },
    #[error("the sensor's background task has stopped")]
    Stopped,
}

/// Counters since the sensor started. Every recorded event ends in exactly one of `sent`,
/// `rejected` or `dropped`; until then it is `queued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Records Sentinel accepted.
    pub sent: u64,
    /// Events lost on this side: the queue was full, Sentinel refused the key (401/403) or the
    /// batch size (413 on a single record), or an old batch was given up to make room.
    pub dropped: u64,
    /// Records Sentinel answered for but did not keep: failed validation one by one, or the
    /// whole batch refused with 400.
    pub rejected: u64,
    /// Events waiting to be sent or retried.
    pub queued: u64,
}

/// State shared by the handles and the background task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) sent: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) queued: AtomicU64,
    /// Events that left the queue without being delivered (dropped or refused by the task),
    /// in queue order; `flush` compares it before and after.
    pub(crate) lost: AtomicU64,
    pub(crate) max_queue: u64,
    full_log: Throttle,
}

impl Shared {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The queue holds `max_queue` events: nothing more can come in until a batch leaves.
    pub(crate) fn is_full(&self) -> bool {
        self.queued.load(Ordering::Acquire) >= self.max_queue
    }
}

/// Reports request events to Sentinel from a background task.
///
/// Cheap to clone: clones share the queue, the task and the counters. The task ends (after one
/// last attempt to send what is queued) when the last clone, including those inside layers, is
/// dropped.
#[derive(Clone)]
pub struct Sensor {
    tx: mpsc::Sender<Message>,
    shared: Arc<Shared>,
}

impl Sensor {
    /// Starts the background task on the current tokio runtime.
    pub fn new(config: SensorConfig) -> Result<Sensor, SensorError> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SensorError::NoRuntime)?;
        let transport = Transport::new(&config.dsn, config.timeout)?;
        let (tx, rx) = mpsc::channel(config.max_queue.saturating_add(FLUSH_HEADROOM));
        let shared = Arc::new(Shared {
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            max_queue: config.max_queue as u64,
            full_log: Throttle::new(LOG_PERIOD),
        });
        let span = tracing::info_span!("sentinel_sensor", project.id = config.dsn.project_id());
        let worker = Worker::new(rx, transport, Arc::clone(&shared), &config);
        runtime.spawn(worker.run().instrument(span));
        Ok(Sensor { tx, shared })
    }

    /// A sensor with the default configuration for `dsn`
    /// (`http(s)://PUBLIC_KEY@HOST[:PORT][/PREFIX]/PROJECT_ID`).
    pub fn from_dsn(dsn: &str) -> Result<Sensor, SensorError> {
        Sensor::new(SensorConfig::new(dsn.parse()?))
    }

    /// The tower layer that records every request through it; see [`SensorLayer`].
    pub fn layer(&self) -> SensorLayer {
        SensorLayer::new(self.clone())
    }

    /// Queues one event without waiting: when `max_queue` events are already waiting, the event
    /// is dropped and counted in `Stats::dropped` instead. Endpoint and tenant are cut to 200
    /// characters.
    pub fn record(&self, event: RequestEvent) {
        let max = self.shared.max_queue;
        let admitted = self
            .shared
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q < max).then_some(q + 1)
            })
            .is_ok();
        if admitted && self.tx.try_send(Message::Event(event.bounded())).is_ok() {
            return;
        }
        if admitted {
            // The task is gone (runtime shut down) or the channel is full despite the count.
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
        }
        Shared::add(&self.shared.dropped, 1);
        if self.shared.full_log.ready() {
            tracing::warn!(
                max_queue = max,
                dropped_total = self.shared.dropped.load(Ordering::Relaxed),
                "sentinel-sensor dropped a request event: its queue is full (Sentinel slow or unreachable)"
            );
        }
    }

    /// Waits until every event recorded before this call has been answered by Sentinel, or
    /// `timeout` passes. Queued events are sent at once instead of at the next interval (a
    /// `Retry-After` or backoff in progress is still respected).
    ///
    /// `Ok` means each of those events reached Sentinel in a batch it accepted (a record that
    /// failed its validation is still counted in `Stats::rejected`). Events dropped by `record`
    /// because the queue was full are not covered; they are in `Stats::dropped`.
    pub async fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let (reply, answer) = oneshot::channel();
        let lost_at_call = self.shared.lost.load(Ordering::Relaxed);
        let exchange = async {
            self.tx
                .send(Message::Flush { reply, lost_at_call })
                .await
                .map_err(|_| FlushError::Stopped)?;
            answer.await.map_err(|_| FlushError::Stopped)?
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| FlushError::Timeout(timeout))?
    }

    pub fn stats(&self) -> Stats {
        Stats {
            sent: self.shared.sent.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            rejected: self.shared.rejected.load(Ordering::Relaxed),
            queued: self.shared.queued.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for Sensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sensor")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SensorConfig {
        SensorConfig::new("http://key@127.0.0.1:9/1".parse().unwrap())
    }

    #[test]
    fn a_sensor_needs_a_runtime() {
        assert!(matches!(Sensor::new(config()), Err(SensorError::NoRuntime)));
    }

    #[tokio::test]
    async fn nonsensical_limits_are_refused() {
        let zero_queue = SensorConfig {
            max_queue: 0,
            ..config()
        };
        assert!(matches!(Sensor::new(zero_queue), Err(SensorError::Config(m)) if m.contains("max_queue")));
        let zero_batch = SensorConfig {
            max_batch: 0,
            ..config()
        };
        assert!(matches!(Sensor::new(zero_batch), Err(SensorError::Config(_))));
        assert!(matches!(
            Sensor::from_dsn("nope"),
            Err(SensorError::Dsn(DsnError::MissingScheme))
        ));
    }
}
