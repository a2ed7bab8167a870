//! Reading request rollups back: a window's merged summary, its per-minute series, the rankings,
//! and the compactor that keeps one row per project and minute.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sentinel_store::{NewRequestRollup, RequestRollup, Store, StoreError};
use tokio::sync::{Notify, watch};

use crate::clock::Clock;

use super::ranking::{By, Ranking, rank};
use super::summary::Summary;

pub const MINUTE_MS: i64 = 60_000;
/// The period before a window whose latencies are each tenant's baseline.
pub const BASELINE_MS: i64 = 60 * MINUTE_MS;
/// Requests a tenant needs in the window to be ranked by error rate or latency.
pub const MIN_REQUESTS: u64 = 20;

fn decode(row: &RequestRollup, with_latency: bool) -> Result<Summary, StoreError> {
    let counts = Summary::counts_from_bytes(&row.counts).map_err(StoreError::Corrupt)?;
    let latency = if with_latency {
        Summary::latency_from_bytes(&row.latency).map_err(StoreError::Corrupt)?
    } else {
        Default::default()
    };
    Ok(Summary { counts, latency })
}

/// The merged summary of these rows, decoded one at a time.
fn merge_rows(rows: &[RequestRollup], with_latency: bool) -> Result<Summary, StoreError> {
    Summary::merge_all(rows.iter().map(|row| decode(row, with_latency)))
}

/// Per minute of `[since_ms, until_ms)`, the merged summary of that minute's rows.
pub async fn minutes(
    store: &dyn Store,
    project_id: i64,
    since_ms: i64,
    until_ms: i64,
    with_latency: bool,
) -> Result<BTreeMap<i64, Summary>, StoreError> {
    let rows = store
        .request_rollups(project_id, since_ms, until_ms, with_latency)
        .await?;
    // Rows come by minute: each minute's rows are one run.
    rows.chunk_by(|a, b| a.minute_ms == b.minute_ms)
        .map(|minute| Ok((minute[0].minute_ms, merge_rows(minute, with_latency)?)))
        .collect()
}

/// The merged summary of `[since_ms, until_ms)`.
pub async fn window(
    store: &dyn Store,
    project_id: i64,
    since_ms: i64,
    until_ms: i64,
    with_latency: bool,
) -> Result<Summary, StoreError> {
    let rows = store
        .request_rollups(project_id, since_ms, until_ms, with_latency)
        .await?;
    merge_rows(&rows, with_latency)
}

/// The window of `window_ms` ending at the current minute's end (the minute in progress counts).
pub fn window_bounds(now_ms: i64, window_ms: i64) -> (i64, i64) {
    let until = now_ms - now_ms.rem_euclid(MINUTE_MS) + MINUTE_MS;
    (until - window_ms.max(MINUTE_MS), until)
}

/// The `k` tenants of a project, ranked `by`, over the last `window_ms`.
pub async fn ranking(
    store: &dyn Store,
    project_id: i64,
    now_ms: i64,
    window_ms: i64,
    by: By,
    k: usize,
) -> Result<Ranking, StoreError> {
    ranking_with_p95(store, project_id, now_ms, window_ms, by, k, false).await
}

/// As [`ranking`]; with `p95`, the window's latency sketches are read whatever the ranking, so
/// every line has its p95 (the dashboard shows it beside every ranking; the order is the same).
pub async fn ranking_with_p95(
    store: &dyn Store,
    project_id: i64,
    now_ms: i64,
    window_ms: i64,
    by: By,
    k: usize,
    p95: bool,
) -> Result<Ranking, StoreError> {
    let (since, until) = window_bounds(now_ms, window_ms);
    let latency = by == By::Latency;
    let current = window(store, project_id, since, until, latency || p95).await?;
    let baseline = if latency {
        Some(window(store, project_id, since - BASELINE_MS, since, true).await?)
    } else {
        None
    };
    Ok(rank(&current, baseline.as_ref(), by, k, MIN_REQUESTS))
}

/// Rows a worker writes to one minute before it asks the compactor to fold them, so a burst
/// leaves at most about this many rows per worker and minute for reads to merge.
pub const FOLD_AFTER: u32 = 4;

/// The minutes this process's worker wrote rows to since the compactor last folded them: a minute
/// that reached `FOLD_AFTER` rows wakes the compactor at once instead of at its next sweep. Holds
/// one counter per minute written between sweeps (a sweep forgets those not yet due).
#[derive(Clone, Default)]
pub struct Fragments {
    written: Arc<Mutex<HashMap<(i64, i64), u32>>>,
    wake: Arc<Notify>,
}

impl Fragments {
    /// Counts one row written to each of these `(project, minute)`s.
    pub fn wrote(&self, minutes: impl IntoIterator<Item = (i64, i64)>) {
        let mut due = false;
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        for m in minutes {
            let n = written.entry(m).or_default();
            *n += 1;
            due |= *n >= FOLD_AFTER;
        }
        if due {
            self.wake.notify_one();
        }
    }

    /// The minutes due for folding, forgotten here (they start counting again from none).
    fn take_due(&self) -> Vec<(i64, i64)> {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let due: Vec<(i64, i64)> = written
            .iter()
            .filter(|(_, n)| **n >= FOLD_AFTER)
            .map(|(m, _)| *m)
            .collect();
        for m in &due {
            written.remove(m);
        }
        due
    }

    /// Forgets the minutes not yet due (a sweep is about to look at every fragmented minute);
    /// due ones stay, since a sweep takes only the oldest 100 and may leave them out.
    fn forget_partial(&self) {
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, n| *n >= FOLD_AFTER);
    }
}

/// Merges the rows of fragmented minutes into one row each, so reads stay a row per minute
/// whatever the number of workers. Any node may run it: two compactors of one minute never
/// both succeed (`compact_request_rollups` replaces exactly the rows it read, or nothing). Only
/// minutes new rows can still reach are looked at: events are accepted up to 24 hours old.
///
/// It sweeps every `interval`, and between sweeps folds the minutes its own worker reports in
/// `fragments` as soon as they have `FOLD_AFTER` rows, which bounds the rows a read merges
/// during a burst.
pub struct Compactor {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub interval: Duration,
    pub fragments: Fragments,
}

impl Compactor {
    /// Compacts up to 100 fragmented minutes; answers how many it merged.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        self.fragments.forget_partial();
        let since = self.clock.now_ms() - sentinel_protocol::requests::MAX_PAST_MS - MINUTE_MS;
        let minutes = self.store.fragmented_request_minutes(since, 100).await?;
        self.compact(minutes).await
    }

    /// Folds the minutes the worker reported with `FOLD_AFTER` rows or more; answers how many it
    /// merged.
    pub async fn fold_due(&self) -> Result<usize, StoreError> {
        self.compact(self.fragments.take_due()).await
    }

    /// Merges each of these minutes' rows into one; answers how many it merged.
    async fn compact(&self, minutes: Vec<(i64, i64)>) -> Result<usize, StoreError> {
        let mut merged = 0;
        for (project_id, minute_ms) in minutes {
            let rows = self
                .store
                .request_rollups(project_id, minute_ms, minute_ms + MINUTE_MS, true)
                .await?;
            if rows.len() < 2 {
                continue;
            }
            let all = merge_rows(&rows, true)?;
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let row = NewRequestRollup {
                project_id,
                minute_ms,
                requests: rows.iter().map(|r| r.requests).sum(),
                counts: all.counts_to_bytes(),
                latency: all.latency_to_bytes(),
            };
            if self.store.compact_request_rollups(&ids, &row).await? {
                merged += 1;
            }
        }
        Ok(merged)
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut next_sweep = tokio::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let result = if tokio::time::Instant::now() >= next_sweep {
                next_sweep = tokio::time::Instant::now() + self.interval;
                self.run_once().await
            } else {
                self.fold_due().await
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "compacting request rollups failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep_until(next_sweep) => {}
                _ = self.fragments.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
