//! The Sentry wire protocol and what Sentinel derives from it, as pure functions.
//!
//! Envelope framing, request-body decoding with size caps, authentication headers, event
//! normalization and grouping, release-health sessions. Everything here takes values and returns
//! values: no I/O, no clock,
//! no database, no knowledge of the server or the store. That keeps it easy to test, fuzz and
//! benchmark.

pub mod auth;
pub mod decode;
pub mod envelope;
pub mod event;
pub mod grouping;
pub mod ids;
pub mod otlp;
pub mod parameterize;
pub mod requests;
pub mod session;
pub mod transaction;
