//! The background task: takes events off the channel, batches them and posts each batch,
//! retrying what Sentinel could not take yet. Failures are counted and logged here, once a
//! minute at most; nothing reaches the app.
//!
//! Events leave the buffer strictly from the front (sent, refused or given up), so "everything
//! recorded before a flush" is a prefix of the buffer and a flush waits on a count.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};

use crate::event::RequestEvent;
use crate::sensor::{FlushError, SensorConfig, Shared};
use crate::throttle::{LOG_PERIOD, Throttle};
use crate::transport::{Outcome, Transport};

/// First wait after a failed attempt; doubles per failure up to `MAX_BACKOFF`.
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A longer `Retry-After` is cut to this: the events would be stale anyway.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// A shorter one (`Retry-After: 0`) is raised to this, so a server that keeps saying "now"
/// is not hammered in a loop.
const MIN_RETRY_AFTER: Duration = Duration::from_millis(100);

pub(crate) enum Message {
    Event(RequestEvent),
    Flush {
        reply: oneshot::Sender<Result<(), FlushError>>,
        /// `Shared::lost` when `flush` was called: what was lost after it counts against it,
        /// even if lost before this message is read.
        lost_at_call: u64,
    },
}

/// A `flush` waiting for the events before it to leave the buffer.
struct Waiter {
    /// Done when this many events have left the buffer since the start.
    target: u64,
    /// Of its events, those that left without being delivered.
    undelivered: u64,
    reply: oneshot::Sender<Result<(), FlushError>>,
}

impl Waiter {
    fn answer(self) {
        let answer = match self.undelivered {
            0 => Ok(()),
            events => Err(FlushError::Undelivered { events }),
        };
        // The caller may have timed out and gone.
        let _ = self.reply.send(answer);
    }
}

pub(crate) struct Worker {
    rx: mpsc::Receiver<Message>,
    transport: Transport,
    shared: Arc<Shared>,
    flush_interval: Duration,
    /// `max_batch`, halved on each 413.
    batch_size: usize,
    buffer: VecDeque<RequestEvent>,
    /// When the oldest unsent event arrived; its batch is due `flush_interval` later.
    oldest_at: Option<Instant>,
    /// Set after a failure: nothing is sent before it.
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Events taken into the buffer / removed from its front, since the start.
    received: u64,
    resolved: u64,
    waiters: Vec<Waiter>,
    failure_log: Throttle,
    refusal_log: Throttle,
    warned_forbidden: bool,
}

impl Worker {
    pub(crate) fn new(
        rx: mpsc::Receiver<Message>,
        transport: Transport,
        shared: Arc<Shared>,
        config: &SensorConfig,
    ) -> Self {
        Worker {
            rx,
            transport,
            shared,
            flush_interval: config.flush_interval,
            batch_size: config.max_batch,
            buffer: VecDeque::new(),
            oldest_at: None,
            retry_at: None,
            backoff: INITIAL_BACKOFF,
            received: 0,
            resolved: 0,
            waiters: Vec::new(),
            failure_log: Throttle::new(LOG_PERIOD),
            refusal_log: Throttle::new(LOG_PERIOD),
            warned_forbidden: false,
        }
    }

    /// Runs until every `Sensor` handle is gone, then tries once to send what is left.
    pub(crate) async fn run(mut self) {
        loop {
            // A flush that timed out no longer hurries the sending.
            self.waiters.retain(|w| !w.reply.is_closed());
            let due = self.due();
            if due.is_some_and(|at| at <= Instant::now()) {
                self.send_batch().await;
                continue;
            }
            tokio::select! {
                message = self.rx.recv() => match message {
                    Some(message) => {
                        self.accept(message);
                        while self.buffer.len() < self.batch_size {
                            match self.rx.try_recv() {
                                Ok(message) => self.accept(message),
                                Err(_) => break,
                            }
                        }
                    }
                    None => break,
                },
                () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {}
            }
        }
        self.drain().await;
    }

    /// When the next batch should go, if any.
    fn due(&self) -> Option<Instant> {
        if self.buffer.is_empty() {
            return None;
        }
        if let Some(at) = self.retry_at {
            return Some(at);
        }
        if self.buffer.len() >= self.batch_size || !self.waiters.is_empty() {
            return Some(Instant::now());
        }
        self.oldest_at.map(|at| at + self.flush_interval)
    }

    fn accept(&mut self, message: Message) {
        match message {
            Message::Event(event) => {
                if self.buffer.is_empty() {
                    self.oldest_at = Some(Instant::now());
                }
                self.buffer.push_back(event);
                self.received += 1;
            }
            Message::Flush { reply, lost_at_call } => {
                // Everything lost since the call was recorded before this message.
                let undelivered = self
                    .shared
                    .lost
                    .load(Ordering::Relaxed)
                    .saturating_sub(lost_at_call);
                let waiter = Waiter {
                    target: self.received,
                    undelivered,
                    reply,
                };
                if self.resolved == self.received {
                    waiter.answer();
                } else {
                    self.waiters.push(waiter);
                }
            }
        }
    }

    /// Sends the batch at the front of the buffer and acts on the answer.
    async fn send_batch(&mut self) {
        let n = self.batch_size.min(self.buffer.len());
        // Any wait is over; a failure below sets a new one.
        self.retry_at = None;
        let outcome = self.transport.send(&self.buffer.make_contiguous()[..n]).await;
        let count = n as u64;
        match outcome {
            Outcome::Delivered {
                accepted,
                rejected,
                first_error,
            } => {
                Shared::add(&self.shared.sent, accepted);
                Shared::add(&self.shared.rejected, rejected);
                if let Some(error) = first_error.filter(|_| self.refusal_log.ready()) {
                    tracing::warn!(
                        rejected,
                        %error,
                        "Sentinel rejected request records that failed its validation"
                    );
                }
                self.backoff = INITIAL_BACKOFF;
                self.remove(n, 0);
            }
            Outcome::Refused { detail } => {
                Shared::add(&self.shared.rejected, count);
                if self.refusal_log.ready() {
                    tracing::warn!(events = n, %detail, "Sentinel refused a batch of request events (400); it is not retried");
                }
                self.remove(n, count);
            }
            Outcome::Forbidden { status } => {
                Shared::add(&self.shared.dropped, count);
                if !self.warned_forbidden {
                    self.warned_forbidden = true;
                    tracing::warn!(
                        status,
                        "Sentinel refused the DSN's key ({status}): request events are dropped; check the DSN"
                    );
                }
                self.remove(n, count);
            }
            Outcome::TooLarge if n > 1 => {
                self.batch_size = n / 2;
                tracing::debug!(
                    batch_size = self.batch_size,
                    "Sentinel answered 413; sending smaller batches"
                );
            }
            Outcome::TooLarge => {
                Shared::add(&self.shared.dropped, 1);
                if self.refusal_log.ready() {
                    tracing::warn!("Sentinel answered 413 to a single request event; it is dropped");
                }
                self.remove(1, 1);
            }
            Outcome::RetryLater { after } => {
                let wait = after.map_or_else(
                    || self.next_backoff(),
                    |after| after.clamp(MIN_RETRY_AFTER, MAX_RETRY_AFTER),
                );
                self.retry_at = Some(Instant::now() + wait);
                self.keep_or_give_up(n, &format!("Sentinel asked to retry in {wait:?}"));
            }
            Outcome::Failed { detail } => {
                let wait = self.next_backoff();
                self.retry_at = Some(Instant::now() + wait);
                self.keep_or_give_up(n, &detail);
            }
            Outcome::Unexpected { status } => {
                Shared::add(&self.shared.dropped, count);
                if self.refusal_log.ready() {
                    tracing::warn!(
                        status,
                        events = n,
                        "Sentinel answered request events with an unexpected status; they are dropped (check the DSN's host and path)"
                    );
                }
                self.remove(n, count);
            }
        }
    }

    /// After a failed attempt the batch stays for a retry, unless the queue is full: then the
    /// oldest batch gives way so that the newest events, which matter most for a live ranking,
    /// can come in.
    fn keep_or_give_up(&mut self, n: usize, detail: &str) {
        let give_up = self.shared.is_full();
        if give_up {
            Shared::add(&self.shared.dropped, n as u64);
            self.remove(n, n as u64);
        }
        if self.failure_log.ready() {
            tracing::warn!(
                queued = self.shared.queued.load(Ordering::Relaxed),
                dropped_total = self.shared.dropped.load(Ordering::Relaxed),
                gave_up_batch = give_up,
                "could not send request events to Sentinel; retrying: {detail}"
            );
        }
    }

    fn next_backoff(&mut self) -> Duration {
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        wait
    }

    /// Removes `n` events from the front; `undelivered` of them were not accepted.
    fn remove(&mut self, n: usize, undelivered: u64) {
        let start = self.resolved;
        self.buffer.drain(..n);
        self.resolved += n as u64;
        self.shared.queued.fetch_sub(n as u64, Ordering::AcqRel);
        self.shared.lost.fetch_add(undelivered, Ordering::Relaxed);
        if self.buffer.is_empty() {
            self.oldest_at = None;
        }
        let resolved = self.resolved;
        let mut i = 0;
        while i < self.waiters.len() {
            let waiter = &mut self.waiters[i];
            if undelivered > 0 {
                // The undelivered events are the first `undelivered` of [start, start + n).
                let end = start + undelivered;
                waiter.undelivered += end.min(waiter.target).saturating_sub(start);
            }
            if waiter.target <= resolved {
                self.waiters.swap_remove(i).answer();
            } else {
                i += 1;
            }
        }
    }

    /// The app is shutting down: one attempt per remaining batch, no waiting for retries.
    async fn drain(&mut self) {
        while !self.buffer.is_empty() {
            self.send_batch().await;
            if self.retry_at.is_some() {
                let left = self.buffer.len();
                Shared::add(&self.shared.dropped, left as u64);
                self.remove(left, left as u64);
            }
        }
    }
}
