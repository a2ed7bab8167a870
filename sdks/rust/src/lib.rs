//! Sentinel's Rust sensor: a `tower` layer that reports one request event per HTTP request
//! (route template, tenant, method, status, latency) to Sentinel's batch endpoint, so Sentinel
//! can rank tenants by their share of 5xx, their error rate and their latency.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use sentinel_sensor::{Sensor, SensorConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let sensor = Sensor::new(SensorConfig::new("http://PUBLIC_KEY@127.0.0.1:9000/1".parse()?))?;
//! let app: Router = Router::new()
//!     .route("/v1/items/{id}", get(|| async { "item" }))
//!     .layer(sensor.layer());
//! # Ok(()) }
//! ```
//!
//! The app's requests never wait on Sentinel and never fail because of it: `record` puts the
//! event in a bounded queue without blocking (dropping and counting it when the queue is full),
//! and a background tokio task sends batches, retries what can be retried, and logs failures at
//! most once a minute.
//!
//! This crate is for applications: it depends on no other Sentinel crate, only on tower, http,
//! tokio, reqwest and (feature `axum`, on by default) axum for `MatchedPath`.

mod dsn;
mod event;
mod layer;
mod route;
mod sensor;
mod throttle;
mod transport;
mod worker;

pub use dsn::{CLIENT, Dsn, DsnError};
pub use event::{MAX_NAME_CHARS, RequestEvent, truncate_chars};
pub use layer::{DEFAULT_TENANT_HEADER, RequestHead, ResponseFuture, SensorLayer, SensorService};
pub use route::{ID_PLACEHOLDER, normalize_path};
pub use sensor::{FlushError, Sensor, SensorConfig, SensorError, Stats};
