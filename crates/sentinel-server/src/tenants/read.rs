//! Reading request rollups back: a window's merged summary, its per-minute series, the rankings,
//! and the compactor that keeps one row per project and minute.

use std::collections::HashMap;
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

/// Each of these rows' minute and summary, decoded as the iterator is advanced: a reader keeps
/// what it needs of a row and drops the rest before the next is decoded. Without `with_latency`
/// only the counts are decoded (rows read without their sketches have none).
pub fn decoded(
    rows: &[RequestRollup],
    with_latency: bool,
) -> impl Iterator<Item = Result<(i64, Summary), StoreError>> + '_ {
    rows.iter()
        .map(move |row| Ok((row.minute_ms, decode(row, with_latency)?)))
}

/// The merged summary of these rows, decoded one at a time.
pub fn merge_rows(rows: &[RequestRollup], with_latency: bool) -> Result<Summary, StoreError> {
    Summary::merge_all(decoded(rows, with_latency).map(|r| r.map(|(_, s)| s)))
}

/// Per minute of these rows (ordered by minute, as the store returns them), the merged summary of
/// that minute's rows, merged as the iterator is advanced: one minute is held at a time.
pub fn by_minute(
    rows: &[RequestRollup],
    with_latency: bool,
) -> impl Iterator<Item = Result<(i64, Summary), StoreError>> + '_ {
    rows.chunk_by(|a, b| a.minute_ms == b.minute_ms)
        .map(move |minute| Ok((minute[0].minute_ms, merge_rows(minute, with_latency)?)))
}

/// For each of `tenants`, its requests and 5xx in each minute of `[since_ms, until_ms)` (zero
/// where a minute has no rows), from one counts-only pass over `rows`: a sparkline or a chart of
/// a few tenants costs their figures, not every minute's summary.
pub fn tenant_minutes(
    rows: &[RequestRollup],
    since_ms: i64,
    until_ms: i64,
    tenants: &[&str],
) -> Result<Vec<Vec<(u64, u64)>>, StoreError> {
    let len = usize::try_from((until_ms - since_ms).max(0) / MINUTE_MS).unwrap_or(0);
    let mut series = vec![vec![(0, 0); len]; tenants.len()];
    for minute in by_minute(rows, false) {
        let (minute_ms, s) = minute?;
        let Some(i) = usize::try_from((minute_ms - since_ms).div_euclid(MINUTE_MS))
            .ok()
            .filter(|i| *i < len)
        else {
            continue;
        };
        for (tenant, counts) in tenants.iter().zip(&mut series) {
            counts[i] = (
                s.counts.tenants.get(tenant).map_or(0, |c| c.count),
                s.counts.tenant_errors.get(tenant).map_or(0, |c| c.count),
            );
        }
    }
    Ok(series)
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
    let (since, until) = window_bounds(now_ms, window_ms);
    let latency = by == By::Latency;
    let rows = store.request_rollups(project_id, since, until, latency).await?;
    rank_rows(store, project_id, since, &rows, latency, by, k).await
}

/// The `k` tenants of these rows of the window starting at `since_ms`, ranked `by`; the baseline
/// before the window is read only to rank by latency. `with_latency` says the rows were read
/// with their sketches (required by `By::Latency`); then every line has its p95 whatever the
/// ranking.
pub async fn rank_rows(
    store: &dyn Store,
    project_id: i64,
    since_ms: i64,
    rows: &[RequestRollup],
    with_latency: bool,
    by: By,
    k: usize,
) -> Result<Ranking, StoreError> {
    debug_assert!(
        with_latency || by != By::Latency,
        "ranking by latency without sketches"
    );
    let current = merge_rows(rows, with_latency)?;
    let baseline = if by == By::Latency {
        Some(window(store, project_id, since_ms - BASELINE_MS, since_ms, true).await?)
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

#[cfg(test)]
mod tests {
    use sentinel_protocol::requests::RequestEvent;

    use super::*;

    const T0: i64 = 1_700_000_040_000;

    /// A stored row of `minute_ms`: `(tenant, status)` requests.
    fn row(id: i64, minute_ms: i64, requests: &[(&str, u16)]) -> RequestRollup {
        let events: Vec<RequestEvent> = requests
            .iter()
            .map(|(tenant, status)| RequestEvent {
                tenant: (*tenant).into(),
                endpoint: "/a".into(),
                method: "GET".into(),
                status: *status,
                latency_ms: 10.0,
                timestamp_ms: minute_ms,
                event_id: None,
                trace_id: None,
            })
            .collect();
        let s = Summary::of(&events, 300.0);
        RequestRollup {
            id,
            project_id: 1,
            minute_ms,
            requests: events.len() as u64,
            counts: s.counts_to_bytes(),
            latency: s.latency_to_bytes(),
        }
    }

    #[test]
    fn tenant_minutes_merge_each_minutes_rows_and_leave_minutes_without_rows_at_zero() {
        let rows = [
            // Two workers' rows of the first minute.
            row(1, T0, &[("acme", 500), ("acme", 200), ("beta", 200)]),
            row(2, T0, &[("acme", 503)]),
            row(3, T0 + 2 * MINUTE_MS, &[("beta", 500)]),
        ];
        let series = tenant_minutes(&rows, T0, T0 + 3 * MINUTE_MS, &["acme", "beta", "nobody"]).unwrap();
        assert_eq!(series[0], [(3, 2), (0, 0), (0, 0)]);
        assert_eq!(series[1], [(1, 0), (0, 0), (1, 1)]);
        assert_eq!(series[2], [(0, 0); 3]);
    }

    #[test]
    fn decoded_rows_keep_their_minute_and_counts_only_rows_decode_without_sketches() {
        let mut rows = vec![
            row(1, T0, &[("acme", 200)]),
            row(2, T0 + MINUTE_MS, &[("beta", 200)]),
        ];
        let with: Vec<(i64, Summary)> = decoded(&rows, true).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            with.iter().map(|(m, _)| *m).collect::<Vec<_>>(),
            [T0, T0 + MINUTE_MS]
        );
        assert_eq!(with[1].1.latency.all.count(), 1);
        // Rows read without their sketches: the counts still decode.
        for r in &mut rows {
            r.latency.clear();
        }
        let counts = merge_rows(&rows, false).unwrap();
        assert_eq!(counts.counts.requests, 2);
        assert!(merge_rows(&rows, true).is_err(), "no sketches to decode");
    }
}
