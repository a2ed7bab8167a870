//! Realistic Sentry SDK traffic for Sentinel, and the benchmarks that use it.
//!
//! * [`corpus`]: a deterministic generator of sentry-python error events (pure: no clock, no I/O).
//! * [`seed()`]: sends generated events through a running server's real ingest path
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
pub use seed::{SeedReport, seed};
