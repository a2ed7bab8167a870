//! Realistic Sentry SDK traffic for Sentinel, and the benchmarks that use it.
//!
//! * [`corpus`]: a deterministic generator of sentry-python error events, and of the Node, browser
//!   and Rust events of the same shop (pure: no clock, no I/O).
//! * [`seed()`]: plans a month of the shop's errors (daily rhythm, deployments with bursts, a
//!   regression, an incident) and sends them through a running server's real ingest path
//!   (`sentinel seed`).
//! * [`load`]: the bounded closed loop behind `seed` and the `sentinel-bench` binary.
//!
//! This crate talks to the server only over HTTP, as an SDK would: it must not depend on any
//! Sentinel crate, so it measures and seeds exactly what clients see.

pub mod corpus;
pub mod dsn;
pub mod http;
pub mod load;
mod seed;

pub use dsn::Dsn;
pub use seed::{MAX_DAYS, PlanSummary, ReleaseLine, SeedOptions, SeedReport, seed};
