//! The worker's side: request events of a batch of inbox items, summarized per project and
//! minute into the rows the batch's transaction writes.
//!
//! Memory is bounded by one inbox item's events (counted exactly, then cut to the summary's caps)
//! plus one capped summary per (project, minute) of the batch, never by the number of tenants.

use std::collections::{BTreeMap, HashMap};

use sentinel_protocol::requests::RequestEvent;
use sentinel_store::{DEFAULT_APDEX_THRESHOLD_MS, NewRequestRollup};

use super::summary::Summary;

#[derive(Default)]
pub struct Aggregator {
    minutes: BTreeMap<(i64, i64), (u64, Summary)>,
    /// Requests derived one at a time (from transactions and spans), summarized together at the
    /// end: a summary per single request would cost a merge each.
    derived: HashMap<i64, Vec<RequestEvent>>,
    /// Apdex's T of the batch's projects, in milliseconds; others get the default.
    apdex_ms: HashMap<i64, u32>,
}

impl Aggregator {
    /// An aggregator that counts Apdex with each project's T (`apdex_ms`).
    pub fn new(apdex_ms: HashMap<i64, u32>) -> Self {
        Self {
            apdex_ms,
            ..Self::default()
        }
    }

    fn apdex(&self, project_id: i64) -> f64 {
        f64::from(
            self.apdex_ms
                .get(&project_id)
                .copied()
                .unwrap_or(DEFAULT_APDEX_THRESHOLD_MS),
        )
    }

    /// Adds one request of `project_id`, derived from another item.
    pub fn push(&mut self, project_id: i64, event: RequestEvent) {
        self.derived.entry(project_id).or_default().push(event);
    }

    /// Adds the events of one item of `project_id`.
    pub fn add(&mut self, project_id: i64, events: &[RequestEvent]) {
        let mut by_minute: HashMap<i64, Vec<&RequestEvent>> = HashMap::new();
        for e in events {
            by_minute
                .entry(e.timestamp_ms - e.timestamp_ms.rem_euclid(60_000))
                .or_default()
                .push(e);
        }
        let apdex_ms = self.apdex(project_id);
        for (minute, list) in by_minute {
            let part = Summary::of(list.iter().copied(), apdex_ms);
            match self.minutes.get_mut(&(project_id, minute)) {
                Some((n, s)) => {
                    *n += list.len() as u64;
                    s.merge(&part);
                }
                None => {
                    self.minutes
                        .insert((project_id, minute), (list.len() as u64, part));
                }
            }
        }
    }

    /// The rows to write, one per (project, minute).
    pub fn finish(mut self) -> Vec<NewRequestRollup> {
        for (project_id, events) in std::mem::take(&mut self.derived) {
            self.add(project_id, &events);
        }
        self.minutes
            .into_iter()
            .map(|((project_id, minute_ms), (requests, s))| NewRequestRollup {
                project_id,
                minute_ms,
                requests,
                counts: s.counts_to_bytes(),
                latency: s.latency_to_bytes(),
            })
            .collect()
    }
}
