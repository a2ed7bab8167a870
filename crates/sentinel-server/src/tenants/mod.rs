//! Tenant-aware incident detection (issue 7), built up in steps. So far the counting primitives
//! the aggregator keeps per minute bucket:
//!
//! - `topk`: Space-Saving heavy hitters with bounded memory and an explicit overflow, mergeable
//!   across buckets and nodes;
//! - `rank`: the Wilson lower bound that guards error-rate rankings against small volumes;
//! - `sketch`: mergeable latency sketches (DDSketch, 1 % relative error) with a stored form;
//! - `window`: a project's minute buckets and the ranking of tenants by share of 5xx with their
//!   dominating endpoint.

pub mod rank;
pub mod sketch;
pub mod topk;
pub mod window;
