//! Ingest rejections counted in memory and flushed to the outcomes table periodically.
//!
//! Accepted items are counted by the worker in the same transaction that stores them (exact).
//! Rejections happen before anything is written, so they are buffered here; a crash loses at most
//! one flush interval of rejection counts, never an event.

use std::collections::HashMap;
use std::sync::Mutex;

use sentinel_store::OutcomeCount;

type Key = (i64, i64, &'static str, &'static str, &'static str);

#[derive(Default)]
pub struct OutcomeBuffer {
    counts: Mutex<HashMap<Key, u64>>,
}

impl OutcomeBuffer {
    pub fn record(
        &self,
        project_id: i64,
        now_ms: i64,
        category: &'static str,
        outcome: &'static str,
        reason: &'static str,
        n: u64,
    ) {
        let minute = now_ms - now_ms.rem_euclid(60_000);
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((project_id, minute, category, outcome, reason))
            .or_default() += n;
    }

    pub fn drain(&self) -> Vec<OutcomeCount> {
        let counts = std::mem::take(&mut *self.counts.lock().unwrap_or_else(|p| p.into_inner()));
        counts
            .into_iter()
            .map(
                |((project_id, minute_ms, category, outcome, reason), quantity)| OutcomeCount {
                    project_id,
                    minute_ms,
                    category: category.into(),
                    outcome: outcome.into(),
                    reason: reason.into(),
                    quantity,
                },
            )
            .collect()
    }
}
