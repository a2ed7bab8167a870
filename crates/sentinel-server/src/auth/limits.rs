//! In-memory fixed-window counters for sign-in attempts and management API requests.
//!
//! Each process counts on its own: behind a load balancer spreading N web nodes, the effective
//! limit is up to N times the configured one. Entries of past windows are dropped as the map grows,
//! so memory stays bounded by the keys active in one window.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Counts events per key in fixed windows of `window_ms`.
pub struct WindowCounter<K> {
    window_ms: i64,
    entries: Mutex<HashMap<K, (i64, u32)>>,
}

/// How long until the caller may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    pub secs: u64,
}

const PRUNE_AT: usize = 100_000;

impl<K: Hash + Eq + Clone> WindowCounter<K> {
    pub fn new(window_ms: i64) -> Self {
        Self {
            window_ms: window_ms.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn window(&self, now_ms: i64) -> i64 {
        now_ms - now_ms.rem_euclid(self.window_ms)
    }

    fn retry_after(&self, now_ms: i64) -> RetryAfter {
        let end = self.window(now_ms) + self.window_ms;
        RetryAfter {
            secs: ((end - now_ms) as u64).div_ceil(1000).max(1),
        }
    }

    /// Counts one event for `key`; refuses it once `limit` events were counted in this window.
    pub fn hit(&self, key: &K, limit: u32, now_ms: i64) -> Result<(), RetryAfter> {
        let window = self.window(now_ms);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= PRUNE_AT {
            entries.retain(|_, (w, _)| *w == window);
        }
        let entry = entries.entry(key.clone()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= limit {
            return Err(self.retry_after(now_ms));
        }
        entry.1 += 1;
        Ok(())
    }

    /// Refuses when `limit` events were already counted for `key` in this window, without counting.
    pub fn check(&self, key: &K, limit: u32, now_ms: i64) -> Result<(), RetryAfter> {
        let window = self.window(now_ms);
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some((w, n)) if *w == window && *n >= limit => Err(self.retry_after(now_ms)),
            _ => Ok(()),
        }
    }

    /// Forgets `key` (a successful sign-in clears the failures of its account).
    pub fn clear(&self, key: &K) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_within_a_window_and_resets_after_it() {
        let c = WindowCounter::new(60_000);
        for _ in 0..3 {
            c.hit(&"ip", 3, 1_000).unwrap();
        }
        let refused = c.hit(&"ip", 3, 30_000).unwrap_err();
        assert_eq!(refused.secs, 30);
        assert!(c.check(&"ip", 3, 59_999).is_err());
        c.hit(&"ip", 3, 60_000).unwrap();
    }

    #[test]
    fn keys_are_counted_apart_and_can_be_cleared() {
        let c = WindowCounter::new(60_000);
        c.hit(&"a", 1, 0).unwrap();
        c.hit(&"b", 1, 0).unwrap();
        assert!(c.hit(&"a", 1, 0).is_err());
        c.clear(&"a");
        c.hit(&"a", 1, 0).unwrap();
    }
}
