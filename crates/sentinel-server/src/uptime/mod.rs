//! Uptime monitoring: monitors, the scheduler loop that queues their checks, the checkers that
//! run them, the verifier that turns results into up/down, incidents and alerts, and the API.
//!
//! - `spec`: what a monitor checks, validated from input into the stored config;
//! - `probe`: one HTTP(S), TCP or DNS check with per-phase timings;
//! - `dns`: the DNS client of DNS checks;
//! - `checker`: the checker role (claim, run, record);
//! - `maintenance`: maintenance windows, during which results change no status and alert nobody;
//! - `cron`: heartbeat and Sentry cron monitors: check-ins, and the sweep for missed and timed-out runs;
//! - `verifier`: the per-monitor state machine and its loop;
//! - `api`: `/api/0/projects/{id}/monitors/`, `/api/0/monitors/{id}/…`;
//! - `as_code`: monitors listed in a TOML file, applied idempotently (`sentinel monitors apply`);
//! - `badge`: README badges of public monitors, and how uptime is written and graded for people;
//! - `status`: the public status page's data, and `/api/0/status/{org}/{project}/`;
//! - `series`: a monitor's response times (mean, p50, p95) over 24 hours, from the rollups.
//!
//! Scheduling and verification run on the scheduler leader (see `scheduler.rs`); checkers run in
//! every process with the `checker` role.

pub mod api;
pub mod as_code;
pub mod badge;
pub mod checker;
pub mod cron;
pub mod dns;
pub mod maintenance;
pub mod probe;
pub mod series;
pub mod spec;
pub mod status;
pub mod verifier;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sentinel_store::Store;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;

/// Monitors scheduled per store call.
const SCHEDULE_BATCH: usize = 5_000;
/// How often the leader looks for due monitors: the scheduling lag's floor.
const SCHEDULE_TICK: Duration = Duration::from_millis(100);
/// A new monitor's first check comes within this long (spread at random, so monitors created
/// together do not check in step).
const FIRST_CHECK_WITHIN_MS: i64 = 30_000;

/// The first slot of a monitor created (or rescheduled) at `now_ms`: at a random point within
/// its interval, at most `FIRST_CHECK_WITHIN_MS` away.
pub fn first_slot(now_ms: i64, interval_ms: i64) -> i64 {
    let spread = interval_ms.clamp(1, FIRST_CHECK_WITHIN_MS);
    now_ms + rand::random_range(0..spread)
}

/// Queues the checks of due monitors while this process leads, until `shutdown`.
pub async fn schedule(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    leading: Arc<AtomicBool>,
    checker_wake: Option<Arc<Notify>>,
    shutdown: watch::Receiver<bool>,
) {
    let idle = Arc::new(Notify::new());
    crate::run_rounds(
        "scheduling uptime checks",
        &idle,
        SCHEDULE_TICK,
        shutdown,
        || async {
            if !leading.load(Ordering::Relaxed) {
                return Ok(0);
            }
            let now = clock.now_ms();
            let jobs = store.schedule_due(now, SCHEDULE_BATCH).await?;
            if jobs.is_empty() {
                return Ok(0);
            }
            for job in &jobs {
                metrics::histogram!("sentinel_uptime_schedule_lag_seconds")
                    .record((now - job.slot_ms).max(0) as f64 / 1000.0);
            }
            if let Some(w) = &checker_wake {
                w.notify_one();
            }
            // A full batch means more are due now.
            Ok(if jobs.len() == SCHEDULE_BATCH {
                jobs.len()
            } else {
                0
            })
        },
    )
    .await;
}
