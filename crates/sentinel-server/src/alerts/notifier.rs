//! The notifier: delivers the outbox.
//!
//! Each round claims as many due notifications as there are free delivery slots (moving their next
//! attempt a lease ahead, so a notifier that dies mid-delivery leaves them to be retried by any
//! node once the lease passes). Each is delivered in a task of its own, so a receiver that hangs
//! until the timeout holds one slot and delays nothing else, and its attempt is recorded as soon
//! as it ends, with what comes next: delivered; a retry after an
//! exponentially growing delay with ±20 % jitter; or, after `alerts.max_attempts` or an error
//! that retrying cannot fix, giving up. Receivers that take an idempotency key (webhook
//! `Idempotency-Key`, PagerDuty `dedup_key`) see a retried notification under the same key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;
use sentinel_store::{Channel, DeliveryAttempt, DeliveryNext, Notification, Store, StoreError};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

use crate::alerts::channels::{Dispatcher, Outcome};
use crate::clock::Clock;
use crate::config::AlertSettings;

/// How often an idle notifier looks for due retries when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_secs(1);

pub struct Notifier {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: AlertSettings,
    dispatcher: Arc<Dispatcher>,
    wake: Arc<Notify>,
    /// One permit per delivery that may be in flight (`alerts.concurrency`).
    slots: Arc<Semaphore>,
}

impl Notifier {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: AlertSettings,
        dispatcher: Arc<Dispatcher>,
        wake: Arc<Notify>,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        Self {
            store,
            clock,
            settings,
            dispatcher,
            wake,
            slots,
        }
    }

    /// How long a claimed notification stays with this notifier: one delivery's timeout plus a
    /// margin for recording it.
    fn lease_ms(&self) -> i64 {
        (self.settings.delivery_timeout_secs as i64 + 10) * 1000
    }

    /// Waits for a free delivery slot, claims as many due notifications as slots are free and
    /// starts delivering them; returns how many it started.
    async fn run_once(self: Arc<Self>) -> anyhow::Result<usize> {
        let first = self.slots.clone().acquire_owned().await?;
        let now = self.clock.now_ms();
        let claimed = self
            .store
            .claim_notifications(1 + self.slots.available_permits(), now, self.lease_ms())
            .await
            .context("claiming notifications")?;
        let n = claimed.len();
        let mut first = Some(first);
        for (notification, channel) in claimed {
            let permit = match first.take() {
                Some(p) => p,
                None => self.slots.clone().acquire_owned().await?,
            };
            tokio::spawn(self.clone().deliver(notification, channel, permit));
        }
        Ok(n)
    }

    /// Delivers one notification and records the attempt, holding `_slot` meanwhile.
    async fn deliver(
        self: Arc<Self>,
        notification: Notification,
        channel: Channel,
        _slot: OwnedSemaphorePermit,
    ) {
        let outcome = self.attempt(&notification, &channel).await;
        if let Err(e) = self.record(&notification, &channel, outcome).await {
            // The lease brings it back for another attempt; nothing else is held up.
            tracing::error!(
                notification.id = notification.id,
                error = format!("{e:#}"),
                "could not record a delivery attempt"
            );
        }
    }

    async fn attempt(&self, notification: &Notification, channel: &Channel) -> (i64, Duration, Outcome) {
        let at = self.clock.now_ms();
        let started = Instant::now();
        let outcome = if channel.enabled {
            self.dispatcher.deliver(channel, notification).await
        } else {
            Outcome::failed(None, "the channel is disabled", false)
        };
        (at, started.elapsed(), outcome)
    }

    async fn record(
        &self,
        notification: &Notification,
        channel: &Channel,
        (at_ms, took, outcome): (i64, Duration, Outcome),
    ) -> anyhow::Result<()> {
        let attempt = notification.attempts + 1;
        let next = match &outcome.error {
            None => DeliveryNext::Delivered,
            Some(_) if !outcome.retryable || attempt >= self.settings.max_attempts => DeliveryNext::GiveUp,
            Some(_) => {
                DeliveryNext::RetryAt(self.clock.now_ms() + self.retry_delay(attempt).as_millis() as i64)
            }
        };
        let kind = channel.kind.as_str();
        match (&next, &outcome.error) {
            (DeliveryNext::Delivered, _) => {
                metrics::counter!("sentinel_notifications_delivered_total", "channel" => kind).increment(1);
                tracing::info!(
                    notification.id = notification.id,
                    channel.id = channel.id,
                    channel.kind = kind,
                    attempt,
                    "notification delivered"
                );
            }
            (next, Some(error)) => {
                let gave_up = matches!(next, DeliveryNext::GiveUp);
                metrics::counter!("sentinel_notification_failures_total", "channel" => kind).increment(1);
                tracing::warn!(
                    notification.id = notification.id,
                    channel.id = channel.id,
                    channel.kind = kind,
                    attempt,
                    gave_up,
                    error = error.as_str(),
                    "notification delivery failed"
                );
            }
            _ => {}
        }
        let result = self
            .store
            .record_delivery(
                notification.id,
                &DeliveryAttempt {
                    at_ms,
                    duration_ms: took.as_millis() as i64,
                    status_code: outcome.status_code,
                    error: outcome.error,
                },
                next,
            )
            .await;
        match result {
            // The channel was deleted while we delivered: nothing left to record.
            Err(StoreError::NotFound { .. }) => Ok(()),
            r => r.context("recording a delivery attempt"),
        }
    }

    /// The wait after failed attempt `attempt` (1-based): base × 2^(attempt−1), capped, ±20 %.
    fn retry_delay(&self, attempt: u32) -> Duration {
        retry_delay(
            self.settings.retry_base_ms,
            self.settings.retry_max_secs * 1000,
            attempt,
            rand::rng().random_range(0.8..=1.2),
        )
    }

    /// Runs until `shutdown` turns true, finishing the round in progress.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        crate::run_rounds("notifier round", &this.wake, IDLE_POLL, shutdown, || {
            this.clone().run_once()
        })
        .await;
        // Deliveries in flight finish and are recorded before the process stops.
        let _ = this
            .slots
            .acquire_many(this.settings.concurrency.max(1) as u32)
            .await;
    }
}

/// `base_ms × 2^(attempt−1)` capped at `max_ms`, times `jitter`.
pub fn retry_delay(base_ms: u64, max_ms: u64, attempt: u32, jitter: f64) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(40));
    Duration::from_millis((exp.min(max_ms) as f64 * jitter) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap_with_jitter_around_it() {
        let d = |attempt, jitter| retry_delay(10_000, 3_600_000, attempt, jitter).as_millis();
        assert_eq!(d(1, 1.0), 10_000);
        assert_eq!(d(2, 1.0), 20_000);
        assert_eq!(d(5, 1.0), 160_000);
        assert_eq!(d(30, 1.0), 3_600_000);
        assert_eq!(d(1, 0.8), 8_000);
        assert_eq!(d(3, 1.2), 48_000);
    }
}
