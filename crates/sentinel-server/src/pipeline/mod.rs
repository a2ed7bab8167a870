//! The worker: claims inbox batches and turns them into stored events, issues, rollups, tag
//! counts and release health, one transaction per batch. Processing is idempotent, so a batch interrupted by a crash
//! is simply processed again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use sentinel_protocol::event::{NormalizeConfig, summarize};
use sentinel_protocol::session::{parse_session, parse_sessions};
use sentinel_store::{
    InboxItem, ItemKind, NewEvent, NewStoredItem, OutcomeCount, ProcessedBatch, SessionCounts, Store,
    StoreError,
};
use serde::Deserialize;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::codec::Codec;

/// Longest a title or message column gets; the full text stays in the payload.
const MAX_COLUMN_CHARS: usize = 1024;

#[derive(Clone)]
pub struct Worker {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub codec: Arc<Codec>,
    pub inbox_depth: Arc<AtomicI64>,
    pub wake: Arc<Notify>,
    /// Woken when a batch created or reopened issues: the alert engine evaluates their triggers.
    pub alerts_wake: Arc<Notify>,
    pub batch_size: usize,
    /// Upper bound for one decompressed item (the ingest limit it was accepted under).
    pub max_item_bytes: usize,
    /// The tag of transactions (and attribute of spans) holding the tenant.
    pub tenant_tag: String,
    /// Where the request rollup rows each batch writes are counted, so the compactor folds a
    /// minute's rows while a burst is still writing them.
    pub fragments: crate::tenants::read::Fragments,
}

impl Worker {
    /// Processes one batch; returns how many inbox items it handled (0 when the inbox is empty).
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let claimed = self
            .store
            .inbox_claim(self.batch_size)
            .await
            .context("claiming inbox items")?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let n = claimed.len();
        if claimed.iter().any(|c| !self.codec.knows(c.item.dict_id)) {
            // Trained by another node since we last looked.
            self.codec
                .refresh(self.store.as_ref())
                .await
                .context("loading compression dictionaries")?;
        }
        // Check-ins feed their monitors before the batch is acknowledged: a crash in between
        // applies them again, which changes nothing (`uptime::cron::apply` is idempotent).
        for c in claimed.iter().filter(|c| c.item.kind == ItemKind::CheckIn) {
            self.apply_check_in(c).await?;
        }
        let max_item_bytes = self.max_item_bytes;
        let codec = self.codec.clone();
        let tenant_tag = self.tenant_tag.clone();
        let apdex_ms = self.apdex_thresholds(&claimed).await?;
        // Decompression, parsing and grouping are CPU work: keep them off the async threads.
        let batch = tokio::task::spawn_blocking(move || {
            process(claimed, &codec, max_item_bytes, &tenant_tag, apdex_ms)
        })
        .await
        .context("processing task panicked")?;
        let outcome = self
            .store
            .apply_batch(&batch)
            .await
            .context("storing a processed batch")?;
        self.inbox_depth.fetch_sub(n as i64, Ordering::SeqCst);
        self.fragments
            .wrote(batch.request_rollups.iter().map(|r| (r.project_id, r.minute_ms)));
        metrics::counter!("sentinel_worker_events_stored_total").increment(outcome.events_stored);
        metrics::counter!("sentinel_worker_duplicates_total").increment(outcome.duplicates);
        metrics::histogram!("sentinel_worker_batch_items").record(n as f64);
        metrics::histogram!("sentinel_worker_batch_seconds").record(started.elapsed().as_secs_f64());
        if let Some(oldest) = batch.events.iter().map(|e| e.received_ms).min() {
            let lag = (self.clock.now_ms() - oldest).max(0) as f64 / 1000.0;
            metrics::gauge!("sentinel_processing_lag_seconds").set(lag);
        }
        if !outcome.new_issues.is_empty() || !outcome.regressed_issues.is_empty() {
            self.alerts_wake.notify_one();
        }
        for id in &outcome.new_issues {
            tracing::debug!(issue.id = id, "new issue");
        }
        for id in &outcome.regressed_issues {
            tracing::info!(issue.id = id, "issue regressed");
        }
        Ok(n)
    }

    /// Apdex's T of each project with request events in the batch (batch items, transactions,
    /// span containers), read with the batch so a changed T applies to the next one.
    async fn apdex_thresholds(&self, claimed: &[InboxItem]) -> anyhow::Result<HashMap<i64, u32>> {
        let mut out = HashMap::new();
        for c in claimed {
            let p = c.item.project_id;
            let requests = matches!(
                c.item.kind,
                ItemKind::Requests | ItemKind::Transaction | ItemKind::Span
            );
            if !requests || out.contains_key(&p) {
                continue;
            }
            if let Some(project) = self.store.get_project(p).await.context("reading a project")? {
                out.insert(p, project.apdex_threshold_ms);
            }
        }
        Ok(out)
    }

    /// Applies one `check_in` item; one that cannot be (malformed, an unknown monitor) is logged
    /// and dropped, a store failure fails the batch so it is retried.
    async fn apply_check_in(&self, c: &InboxItem) -> anyhow::Result<()> {
        let it = &c.item;
        let payload = match self
            .codec
            .decompress(it.dict_id, &it.payload, self.max_item_bytes.max(1) * 2)
        {
            Ok(p) => p,
            // `process` records it as corrupt.
            Err(_) => return Ok(()),
        };
        let check_in: crate::uptime::cron::CheckIn = match serde_json::from_slice(&payload) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(inbox.id = c.id, project.id = it.project_id, error = %e, "check-in is malformed; dropped");
                return Ok(());
            }
        };
        match crate::uptime::cron::apply(self.store.as_ref(), it.project_id, &check_in, it.received_ms).await
        {
            Ok(_) => Ok(()),
            Err(crate::uptime::cron::CheckInError::Store(e)) => Err(e).context("applying a check-in"),
            Err(e) => {
                tracing::warn!(inbox.id = c.id, project.id = it.project_id, monitor.slug = %check_in.monitor_slug, error = %e, "check-in dropped");
                Ok(())
            }
        }
    }

    /// Runs until `shutdown` turns true, finishing the batch in progress first. Failures (the
    /// database unreachable, say) are retried with exponential backoff and jitter, so workers of
    /// several processes don't hammer a recovering database in step.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            match self.run_once().await {
                Ok(0) => {
                    failures = 0;
                    metrics::gauge!("sentinel_processing_lag_seconds").set(0.0);
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Ok(_) => failures = 0,
                Err(e) if is_taken_over(&e) => {
                    // Our lease on these items expired and another worker has them: not an error,
                    // and the next claim finds other items. Should it keep happening (a conflict
                    // of another kind), back off as for any failure rather than spin.
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "batch was taken over by another worker; skipped"
                    );
                    failures = failures.saturating_add(1);
                    if failures > 1 {
                        tokio::select! {
                            _ = tokio::time::sleep(backoff(failures)) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = backoff(failures);
                    tracing::error!(
                        error = format!("{e:#}"),
                        retry_in_ms = delay.as_millis() as u64,
                        "worker batch failed; retrying"
                    );
                    metrics::counter!("sentinel_worker_batch_failures_total").increment(1);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
    }
}

fn is_taken_over(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Conflict(_)))
}

/// Exponential backoff from 100 ms up to 5 s, with "full jitter" (a random delay up to the bound).
pub(crate) fn backoff(failures: u32) -> Duration {
    let bound_ms = (100u64 << (failures.clamp(1, 7) - 1)).min(5_000);
    Duration::from_millis(rand::random_range(bound_ms / 2..=bound_ms))
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_COLUMN_CHARS) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

fn minute(ms: i64) -> i64 {
    ms - ms.rem_euclid(60_000)
}

/// Turns claimed inbox items into what the store writes. Pure apart from decompression.
/// Transactions and span containers also count as request events (see `tenants`), the tenant
/// taken from `tenant_tag`, Apdex counted with each project's T in `apdex_ms`.
pub fn process(
    claimed: Vec<InboxItem>,
    codec: &Codec,
    max_item_bytes: usize,
    tenant_tag: &str,
    apdex_ms: HashMap<i64, u32>,
) -> ProcessedBatch {
    let mut batch = ProcessedBatch {
        acknowledged: claimed.iter().map(|c| c.id).collect(),
        ..Default::default()
    };
    let mut requests = crate::tenants::aggregate::Aggregator::new(apdex_ms);
    for c in claimed {
        let id = c.id;
        let it = c.item;
        let (project_id, received_ms, category) = (it.project_id, it.received_ms, it.kind.category());
        let accepted = |quantity: u64| OutcomeCount {
            project_id,
            minute_ms: minute(received_ms),
            category: category.into(),
            outcome: "accepted".into(),
            reason: String::new(),
            quantity,
        };
        let payload = match codec.decompress(it.dict_id, &it.payload, max_item_bytes.max(1) * 2) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(inbox.id = id, error = %e, "inbox item cannot be decompressed; dropped");
                batch.outcomes.push(OutcomeCount {
                    outcome: "invalid".into(),
                    reason: "corrupt".into(),
                    ..accepted(1)
                });
                continue;
            }
        };
        match it.kind {
            ItemKind::Event => {
                let cfg = NormalizeConfig::new(received_ms, it.sent_at);
                let Some(event_id) = it.event_id else {
                    tracing::error!(inbox.id = id, "event without an id in the inbox; dropped");
                    continue;
                };
                match summarize(&payload, &cfg) {
                    Ok(s) => {
                        batch.outcomes.push(accepted(1));
                        batch.events.push(NewEvent {
                            project_id,
                            event_id,
                            title: truncate(&s.grouping.title),
                            culprit: truncate(&s.grouping.culprit),
                            grouping_hash: s.grouping.hash,
                            message: s.message.as_deref().map(truncate),
                            level: s.level,
                            platform: s.platform,
                            timestamp_ms: s.timestamp_ms,
                            received_ms,
                            environment: s.environment,
                            release: s.release,
                            tags: s.tags,
                            payload: it.payload,
                            dict_id: it.dict_id,
                        });
                    }
                    Err(e) => {
                        tracing::warn!(inbox.id = id, error = %e, "event cannot be normalized; dropped");
                        batch.outcomes.push(OutcomeCount {
                            outcome: "invalid".into(),
                            reason: "invalid_event".into(),
                            ..accepted(1)
                        });
                    }
                }
            }
            ItemKind::ClientReport => batch
                .outcomes
                .extend(client_report(project_id, received_ms, &payload)),
            // Sessions live on as their releases' counters; the raw updates are not kept (at
            // one item per request in server mode they would outweigh everything else, and
            // nothing would read them).
            ItemKind::Session | ItemKind::Sessions => {
                let parsed = if it.kind == ItemKind::Session {
                    parse_session(&payload).map(|s| s.delta())
                } else {
                    parse_sessions(&payload).map(|s| s.delta())
                };
                match parsed {
                    Ok(delta) => {
                        batch.outcomes.push(accepted(1));
                        batch.sessions.push(SessionCounts {
                            project_id,
                            release: delta.release,
                            received_ms,
                            sessions: delta.sessions,
                            errored: delta.errored,
                            abnormal: delta.abnormal,
                            crashed: delta.crashed,
                            users: delta.users,
                        });
                    }
                    Err(e) => {
                        tracing::debug!(inbox.id = id, project.id = project_id, error = %e, "session item dropped");
                        batch.outcomes.push(OutcomeCount {
                            outcome: "invalid".into(),
                            reason: "invalid_session".into(),
                            ..accepted(1)
                        });
                    }
                }
            }
            ItemKind::Requests => match sentinel_protocol::requests::decode(&payload) {
                Ok(events) => {
                    batch.outcomes.push(accepted(events.len() as u64));
                    requests.add(project_id, &events);
                }
                Err(e) => {
                    tracing::error!(inbox.id = id, error = %e, "request batch dropped");
                    batch.outcomes.push(OutcomeCount {
                        outcome: "invalid".into(),
                        reason: "corrupt".into(),
                        ..accepted(1)
                    });
                }
            },
            kind => {
                // A server transaction or segment span is also a request, for the tenant
                // rankings and the performance view; the item itself is kept as before.
                let derived = match kind {
                    ItemKind::Transaction => {
                        sentinel_protocol::transaction::request_from_transaction(&payload, tenant_tag)
                            .map(|mut e| {
                                // The id the item is stored, and found, under.
                                e.event_id = it.event_id;
                                e
                            })
                            .into_iter()
                            .collect()
                    }
                    ItemKind::Span => {
                        sentinel_protocol::spans_v2::requests_from_span_container(&payload, tenant_tag)
                    }
                    _ => Vec::new(),
                };
                for e in derived {
                    if sentinel_protocol::requests::within_window(e.timestamp_ms, received_ms) {
                        requests.push(project_id, e);
                    }
                }
                batch.outcomes.push(accepted(1));
                batch.items.push(NewStoredItem {
                    project_id,
                    kind,
                    event_id: it.event_id,
                    received_ms,
                    headers_json: it.headers_json,
                    payload: it.payload,
                });
            }
        }
    }
    batch.request_rollups = requests.finish();
    batch
}

#[derive(Deserialize)]
struct ClientReport {
    #[serde(default)]
    discarded_events: Vec<Discarded>,
    #[serde(default)]
    rate_limited_events: Vec<Discarded>,
    #[serde(default)]
    filtered_events: Vec<Discarded>,
    #[serde(default)]
    filtered_sampling_events: Vec<Discarded>,
}

#[derive(Deserialize)]
struct Discarded {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    quantity: u64,
}

/// What an SDK reports having dropped on its side, recorded as `client_discard` outcomes.
fn client_report(project_id: i64, received_ms: i64, payload: &[u8]) -> Vec<OutcomeCount> {
    let Ok(report) = serde_json::from_slice::<ClientReport>(payload) else {
        return Vec::new();
    };
    [
        report.discarded_events,
        report.rate_limited_events,
        report.filtered_events,
        report.filtered_sampling_events,
    ]
    .into_iter()
    .flatten()
    .filter(|d| d.quantity > 0)
    .map(|d| OutcomeCount {
        project_id,
        minute_ms: minute(received_ms),
        category: d.category,
        outcome: "client_discard".into(),
        reason: d.reason,
        quantity: d.quantity,
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_five_seconds_with_jitter_below_its_bound() {
        for _ in 0..200 {
            let first = backoff(1);
            assert!((50..=100).contains(&first.as_millis()), "{first:?}");
            let later = backoff(30);
            assert!((2_500..=5_000).contains(&later.as_millis()), "{later:?}");
        }
        // Jitter: a hundred delays after the same number of failures are not all equal.
        let delays: std::collections::HashSet<_> = (0..100).map(|_| backoff(4)).collect();
        assert!(delays.len() > 1);
    }

    fn inbox(id: i64, kind: ItemKind, json: &str) -> InboxItem {
        InboxItem {
            id,
            item: sentinel_store::NewInboxItem {
                project_id: 7,
                kind,
                event_id: None,
                received_ms: 60_000,
                sent_at: None,
                headers_json: None,
                payload: Codec::compress_plain(json.as_bytes()).expect("compress"),
                dict_id: 0,
            },
        }
    }

    #[test]
    fn session_items_become_release_counts_and_malformed_ones_invalid_outcomes() {
        let claimed = vec![
            inbox(
                1,
                ItemKind::Session,
                r#"{"sid":"a","did":"u","init":true,"started":"2024-01-01T00:00:00Z","status":"crashed","errors":1,"attrs":{"release":"1.0"}}"#,
            ),
            inbox(
                2,
                ItemKind::Sessions,
                r#"{"aggregates":[{"started":"2024-01-01T00:00:00Z","exited":3,"errored":1}],"attrs":{"release":"1.0"}}"#,
            ),
            inbox(
                3,
                ItemKind::Session,
                r#"{"sid":"b","started":"2024-01-01T00:00:00Z"}"#,
            ),
            inbox(4, ItemKind::Sessions, "not json"),
        ];
        let batch = process(claimed, &Codec::default(), 1 << 20, "tenant_id", HashMap::new());
        assert_eq!(batch.acknowledged, vec![1, 2, 3, 4]);
        assert!(batch.items.is_empty(), "raw session items are not kept");
        let counts: Vec<_> = batch
            .sessions
            .iter()
            .map(|s| {
                (
                    s.project_id,
                    s.release.as_str(),
                    s.sessions,
                    s.errored,
                    s.crashed,
                    s.users.len(),
                )
            })
            .collect();
        assert_eq!(counts, vec![(7, "1.0", 1, 0, 1, 1), (7, "1.0", 4, 1, 0, 0)]);
        let outcomes: Vec<_> = batch
            .outcomes
            .iter()
            .map(|o| (o.category.as_str(), o.outcome.as_str(), o.reason.as_str()))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("session", "accepted", ""),
                ("session", "accepted", ""),
                ("session", "invalid", "invalid_session"),
                ("session", "invalid", "invalid_session"),
            ]
        );
    }

    #[test]
    fn only_a_conflict_counts_as_taken_over() {
        let conflict = anyhow::Error::new(StoreError::Conflict("taken over".into())).context("storing");
        assert!(is_taken_over(&conflict));
        let down = anyhow::Error::new(StoreError::Unavailable("down".into()));
        assert!(!is_taken_over(&down));
    }
}
