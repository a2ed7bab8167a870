//! The Sentry wire protocol and what Sentinel derives from it, as pure functions.
//!
//! Envelope framing, request-body decoding with size caps, authentication headers, event
//! normalization and grouping, release-health sessions, and the request events tenant rankings
//! are made of (the batch endpoint, OTLP trace exports, Sentry transactions and span
//! containers). Everything here takes values and returns values: no I/O, no clock, no database,
//! no knowledge of the server or the store. That keeps it easy to test, fuzz and benchmark.

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
pub mod spans_v2;
pub mod transaction;
pub mod transaction_detail;
