//! Tenant-aware incident detection (issue 7): which tenant is it, and is it slow?
//!
//! - `topk`: Space-Saving heavy hitters with bounded memory and an explicit overflow, mergeable
//!   across buckets and nodes;
//! - `rank`: the Wilson lower bound that guards error-rate rankings against small volumes;
//! - `sketch`: mergeable latency sketches (DDSketch, 1 % relative error) with a stored form;
//! - `samples`: the slowest requests of each endpoint, with the ids that lead to their spans;
//! - `summary`: what a minute of a project's requests is remembered as (counts and sketches,
//!   bounded whatever the number of tenants), mergeable;
//! - `ranking`: the rankings by share of 5xx, error rate and latency deviation;
//! - `aggregate`: the worker's summaries of a batch, per project and minute;
//! - `read`: windows, series and rankings read back from the rollups, and their compactor.

pub mod aggregate;
pub mod api;
pub mod rank;
pub mod ranking;
pub mod read;
pub mod report;
pub mod samples;
pub mod sketch;
pub mod summary;
pub mod topk;

use crate::urls::path_segment;

/// The hash map of the summaries' hot paths: decoding and merging minutes hashes every tenant
/// of every row, and SipHash was the largest cost of a ranking. foldhash is seeded per process,
/// so tenant names chosen by a client cannot be aimed at one bucket without knowing the seed.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// A tenant's dashboard page, from the dashboard's root; its name is one path segment.
pub fn tenant_path(org_slug: &str, project_slug: &str, tenant: &str) -> String {
    format!(
        "/orgs/{org_slug}/projects/{project_slug}/tenants/{}/",
        path_segment(tenant)
    )
}
