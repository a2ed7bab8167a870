//! Reading request rollups back: a window's merged summary, its per-minute series, the rankings,
//! and the compactor that keeps one row per project and minute.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sentinel_store::{NewRequestRollup, RequestRollup, Store, StoreError};
use tokio::sync::watch;

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
    let mut out: BTreeMap<i64, Summary> = BTreeMap::new();
    for row in &rows {
        let s = decode(row, with_latency)?;
        match out.get_mut(&row.minute_ms) {
            Some(m) => m.merge(&s),
            None => {
                out.insert(row.minute_ms, s);
            }
        }
    }
    Ok(out)
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
    let mut all = Summary::default();
    for row in &rows {
        if with_latency {
            all.merge(&decode(row, true)?);
        } else {
            all.merge_counts(&decode(row, false)?.counts);
        }
    }
    Ok(all)
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

/// Merges the rows of fragmented minutes into one row each, so reads stay a row per minute
/// whatever the number of workers. Any node may run it: two compactors of one minute never
/// both succeed (`compact_request_rollups` replaces exactly the rows it read, or nothing). Only
/// minutes new rows can still reach are looked at: events are accepted up to 24 hours old.
pub struct Compactor {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub interval: Duration,
}

impl Compactor {
    /// Compacts up to 100 minutes; answers how many it merged.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let mut merged = 0;
        let since = self.clock.now_ms() - sentinel_protocol::requests::MAX_PAST_MS - MINUTE_MS;
        for (project_id, minute_ms) in self.store.fragmented_request_minutes(since, 100).await? {
            let rows = self
                .store
                .request_rollups(project_id, minute_ms, minute_ms + MINUTE_MS, true)
                .await?;
            if rows.len() < 2 {
                continue;
            }
            let mut all = Summary::default();
            for row in &rows {
                all.merge(&decode(row, true)?);
            }
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
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.run_once().await {
                tracing::error!(error = %e, "compacting request rollups failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
