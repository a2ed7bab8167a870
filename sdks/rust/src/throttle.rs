//! Log throttling: the sensor must never flood the app's logs while Sentinel is unreachable, so
//! each kind of failure is logged at most once per period and counted the rest of the time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often one kind of failure may be logged.
pub(crate) const LOG_PERIOD: Duration = Duration::from_secs(60);

/// Lets one caller through per period, from any thread, without a lock.
#[derive(Debug)]
pub(crate) struct Throttle {
    base: Instant,
    period_ms: u64,
    /// Milliseconds after `base` before which nothing passes.
    next_ms: AtomicU64,
}

impl Throttle {
    pub(crate) fn new(period: Duration) -> Self {
        Throttle {
            base: Instant::now(),
            period_ms: millis(period),
            next_ms: AtomicU64::new(0),
        }
    }

    /// True for the first call of each period.
    pub(crate) fn ready(&self) -> bool {
        let now = millis(self.base.elapsed());
        let next = self.next_ms.load(Ordering::Relaxed);
        now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(self.period_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_call_of_a_period_passes() {
        let throttle = Throttle::new(Duration::from_secs(60));
        assert!(throttle.ready());
        assert!(!throttle.ready());
        assert!(!throttle.ready());
        let open = Throttle::new(Duration::ZERO);
        assert!(open.ready());
        assert!(open.ready());
    }
}
