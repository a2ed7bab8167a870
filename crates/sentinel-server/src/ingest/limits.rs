//! Per-project and per-key error-event rate limits: fixed one-minute windows in memory.

use std::collections::HashMap;
use std::sync::Mutex;

/// What a limit applies to; used in `X-Sentry-Rate-Limits` as the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Project(i64),
    Key(i64),
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Project(_) => "project",
            Scope::Key(_) => "key",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Scope::Project(_) => "project_quota",
            Scope::Key(_) => "key_quota",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    /// Whole seconds until the current window ends (at least 1).
    pub retry_after_secs: u64,
}

#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<Scope, (i64, u32)>>,
}

impl RateLimiter {
    /// Counts `n` events against every applicable `(scope, per_minute)` limit, or none of them if
    /// any limit would be exceeded.
    pub fn try_acquire(&self, now_ms: i64, limits: &[(Scope, u32)], n: u32) -> Result<(), Limited> {
        if limits.is_empty() || n == 0 {
            return Ok(());
        }
        let minute = now_ms - now_ms.rem_euclid(60_000);
        let retry_after_secs = ((minute + 60_000 - now_ms) as u64).div_ceil(1000).max(1);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        for (scope, limit) in limits {
            let used = match windows.get(scope) {
                Some((m, used)) if *m == minute => *used,
                _ => 0,
            };
            if used.saturating_add(n) > *limit {
                return Err(Limited {
                    scope: *scope,
                    retry_after_secs,
                });
            }
        }
        for (scope, _) in limits {
            let w = windows.entry(*scope).or_insert((minute, 0));
            if w.0 != minute {
                *w = (minute, 0);
            }
            w.1 += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_allows_up_to_the_budget_then_rejects_until_the_next_minute() {
        let rl = RateLimiter::default();
        let limits = [(Scope::Project(1), 3)];
        let t = 120_000 + 15_500;
        assert!(rl.try_acquire(t, &limits, 2).is_ok());
        assert!(rl.try_acquire(t, &limits, 1).is_ok());
        let err = rl.try_acquire(t, &limits, 1).unwrap_err();
        assert_eq!(
            err,
            Limited {
                scope: Scope::Project(1),
                retry_after_secs: 45
            }
        );
        assert!(rl.try_acquire(180_000, &limits, 3).is_ok());
    }

    #[test]
    fn a_rejected_request_consumes_no_budget_of_any_scope() {
        let rl = RateLimiter::default();
        let limits = [(Scope::Project(1), 10), (Scope::Key(5), 1)];
        assert!(rl.try_acquire(0, &limits, 1).is_ok());
        assert_eq!(rl.try_acquire(0, &limits, 1).unwrap_err().scope, Scope::Key(5));
        // The project window still has 9 left for another key.
        assert!(
            rl.try_acquire(0, &[(Scope::Project(1), 10), (Scope::Key(6), 100)], 9)
                .is_ok()
        );
    }
}
