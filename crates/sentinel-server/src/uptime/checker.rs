//! The checker role: claims due check jobs, runs them with bounded concurrency, and records the
//! results in batches. Any number of checker processes can share one database; each claims jobs
//! with a lease, so a checker that dies leaves its jobs to the others once the lease runs out.

use std::sync::Arc;
use std::time::Duration;

use sentinel_store::{CheckJob, Monitor, NewCheckResult, Store};
use tokio::sync::{Notify, Semaphore, mpsc, watch};

use crate::clock::Clock;
use crate::uptime::probe;
use crate::uptime::spec::Check;

/// A claimed job is someone else's again after this long: longer than the longest check.
const JOB_LEASE_MS: i64 = (crate::uptime::spec::MAX_TIMEOUT_SECS as i64 + 30) * 1000;
/// Results written per statement batch, and the longest a result waits to be written.
const RECORD_BATCH: usize = 1_000;
const RECORD_EVERY: Duration = Duration::from_millis(100);
/// How often an idle checker looks for due jobs (the scheduler in the same process wakes it).
const IDLE: Duration = Duration::from_millis(250);

pub struct Checker {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub concurrency: usize,
    pub region: String,
    /// Woken by this process's scheduler when it queued jobs.
    pub wake: Arc<Notify>,
    /// Wakes this process's verifier when results were written.
    pub verifier_wake: Arc<Notify>,
}

impl Checker {
    /// Claims and runs jobs until `shutdown`; then finishes the checks in flight and writes their
    /// results.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let (tx, rx) = mpsc::channel::<NewCheckResult>(RECORD_BATCH * 4);
        let recorder = tokio::spawn(record(self.store.clone(), self.verifier_wake.clone(), rx));
        let claim = self.claim_loop(slots, tx, shutdown);
        claim.await;
        // Every sender is gone once the checks in flight finished: the recorder drains and stops.
        if let Err(e) = recorder.await {
            tracing::warn!(error = %e, "uptime result recorder failed");
        }
    }

    async fn claim_loop(
        &self,
        slots: Arc<Semaphore>,
        tx: mpsc::Sender<NewCheckResult>,
        shutdown: watch::Receiver<bool>,
    ) {
        let rounds = crate::run_rounds("claiming uptime checks", &self.wake, IDLE, shutdown, || {
            let slots = slots.clone();
            let tx = tx.clone();
            async move {
                let free = slots.available_permits();
                if free == 0 {
                    // Wait for a slot, then claim.
                    let permit = slots.clone().acquire_owned().await?;
                    drop(permit);
                    return Ok(1);
                }
                let jobs = self
                    .store
                    .claim_check_jobs(&self.region, free, self.clock.now_ms(), JOB_LEASE_MS)
                    .await?;
                let n = jobs.len();
                for (job, monitor) in jobs {
                    let permit = slots.clone().acquire_owned().await?;
                    let tx = tx.clone();
                    let region = self.region.clone();
                    let clock = self.clock.clone();
                    tokio::spawn(async move {
                        let result = check(&job, &monitor, &region, clock.as_ref()).await;
                        drop(permit);
                        let _ = tx.send(result).await;
                    });
                }
                Ok(n)
            }
        });
        rounds.await;
        // Wait for the checks in flight (each ends within its timeout).
        let _ = slots.acquire_many(self.concurrency as u32).await;
    }
}

/// Runs one job; a monitor whose stored check cannot be read fails with that reason.
async fn check(job: &CheckJob, monitor: &Monitor, region: &str, clock: &dyn Clock) -> NewCheckResult {
    let started_ms = clock.now_ms();
    let outcome = match Check::from_config(monitor.kind, &monitor.config) {
        Ok(c) => probe::run(&c, Duration::from_millis(monitor.timeout_ms.max(1) as u64)).await,
        Err(e) => probe::Outcome {
            ok: false,
            latency_ms: 0,
            status_code: None,
            error: Some(e),
            details: serde_json::json!({}),
        },
    };
    NewCheckResult {
        monitor_id: job.monitor_id,
        slot_ms: job.slot_ms,
        region: region.to_owned(),
        started_ms,
        ok: outcome.ok,
        latency_ms: outcome.latency_ms,
        status_code: outcome.status_code,
        error: outcome.error,
        details: outcome.details,
    }
}

/// Writes results in batches; a failed write is retried with the same results (their slots make
/// a repeated write harmless), so no result is dropped while the process runs.
async fn record(store: Arc<dyn Store>, verifier_wake: Arc<Notify>, mut rx: mpsc::Receiver<NewCheckResult>) {
    let mut batch: Vec<NewCheckResult> = Vec::new();
    let mut failures = 0u32;
    loop {
        if batch.is_empty() {
            match rx.recv().await {
                Some(r) => batch.push(r),
                None => return,
            }
        }
        let deadline = tokio::time::sleep(RECORD_EVERY);
        tokio::pin!(deadline);
        let mut closed = false;
        while batch.len() < RECORD_BATCH {
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => batch.push(r),
                    None => { closed = true; break; }
                },
                _ = &mut deadline => break,
            }
        }
        match store.record_checks(&batch).await {
            Ok(_) => {
                failures = 0;
                batch.clear();
                verifier_wake.notify_one();
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let delay = crate::pipeline::backoff(failures);
                tracing::error!(error = %e, results = batch.len(), retry_in_ms = delay.as_millis() as u64, "writing check results failed; retrying");
                tokio::time::sleep(delay).await;
            }
        }
        if closed && batch.is_empty() {
            return;
        }
    }
}
