//! The Sentinel server: ingest, the processing pipeline, the JSON API and operations endpoints,
//! wired over any `Store`.
//!
//! Features live in their own modules (`ingest`, `pipeline`, `issues`, `api`, `ops`). This crate
//! never names a storage backend: the binary chooses one and hands it over as `Arc<dyn Store>`.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod clock;
pub mod codec;
pub mod config;
pub mod ingest;
pub mod issues;
pub mod ops;
pub mod pipeline;
pub mod releases;
pub mod scheduler;
pub mod tenants;
pub mod uptime;
pub mod urls;
pub mod web;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use sentinel_store::Store;
use tokio::sync::{Notify, Semaphore, watch};
use tracing::Instrument;

use crate::clock::Clock;
use crate::codec::{Codec, Trainer};
use crate::config::{Role, Settings};
use crate::ingest::KeyCache;
use crate::ingest::limits::RateLimiter;
use crate::ingest::outcomes::OutcomeBuffer;
use crate::ingest::writer::InboxWriter;
use crate::pipeline::Worker;
use crate::scheduler::Scheduler;

/// Queue between ingest requests and the inbox writer, in requests.
const WRITER_QUEUE: usize = 8192;
const OUTCOME_FLUSH: Duration = Duration::from_secs(10);

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    pub keys: KeyCache,
    pub limiter: RateLimiter,
    pub inbox: InboxWriter,
    /// Inbox items accepted but not yet processed.
    pub inbox_depth: Arc<AtomicI64>,
    pub in_flight: Arc<Semaphore>,
    /// KiB of request bodies (compressed and decoded) held by in-flight ingest requests.
    pub body_budget: Arc<Semaphore>,
    pub outcomes: Arc<OutcomeBuffer>,
    pub codec: Arc<Codec>,
    pub metrics: PrometheusHandle,
    /// Sign-in and management API rate-limit counters.
    pub auth_limits: auth::Limits,
    pub alerts: alerts::Alerts,
}

/// Shared state of every request handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Spawns a background task whose log lines carry its name.
pub fn spawn_named<F>(name: &'static str, fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tracing::debug!(task = name, "starting background task");
    tokio::spawn(fut.instrument(tracing::info_span!("task", name)))
}

/// Runs `round` until `shutdown` turns true, finishing the round in progress: again at once while
/// rounds find work (return more than 0), after `idle` or when `wake` fires once one finds none,
/// and after a growing, jittered delay (`pipeline::backoff`) while they fail, so several processes
/// don't retry a recovering database in step.
pub(crate) async fn run_rounds<F, Fut>(
    what: &'static str,
    wake: &Notify,
    idle: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut failures: u32 = 0;
    while !*shutdown.borrow() {
        let wait = match round().await {
            Ok(0) => {
                failures = 0;
                idle
            }
            Ok(_) => {
                failures = 0;
                continue;
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let delay = pipeline::backoff(failures);
                tracing::error!(
                    error = format!("{e:#}"),
                    retry_in_ms = delay.as_millis() as u64,
                    "{what} failed; retrying"
                );
                delay
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// The routes of the roles in `settings.roles`; operations endpoints are always served.
pub fn router(state: AppState) -> Router {
    let roles = &state.settings.roles;
    let mut app = Router::new()
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics));
    if roles.contains(&Role::Ingest) {
        app = app.merge(ingest::routes()).merge(uptime::cron::routes());
    }
    if roles.contains(&Role::Web) {
        app = app.merge(web::routes());
        app = app
            .route("/api/0/projects/", get(api::projects::list))
            .route("/api/0/projects/{project_id}/stats/", get(api::projects::stats))
            .merge(issues::routes())
            .merge(releases::routes())
            .route("/api/0/openapi.json", get(api::openapi::document));
        // Accounts: sign-in, organizations, members, projects, keys, personal tokens.
        app = app
            .merge(api::sessions::routes())
            .merge(api::organizations::routes())
            .merge(api::members::routes())
            .merge(api::projects::routes())
            .merge(api::keys::routes())
            .merge(api::tokens::routes())
            .merge(alerts::api::routes())
            .merge(uptime::api::routes())
            .merge(uptime::maintenance::routes())
            .merge(tenants::api::routes());
    }
    let prefix = state.settings.path_prefix.clone();
    let app = app
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::security_headers,
        ))
        .layer(axum::middleware::from_fn(ops::observe))
        .with_state(state);
    if prefix.is_empty() {
        app
    } else {
        Router::new().nest(&prefix, app)
    }
}

async fn not_found() -> api::ApiError {
    api::ApiError::NotFound("no such endpoint".into())
}

/// A running server. Dropping it does not stop it; call `shutdown`.
pub struct Server {
    pub addr: SocketAddr,
    pub settings: Arc<Settings>,
    shutdown: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Binds `settings.listen` (port 0 picks a free port), starts every role and returns once the
    /// server accepts connections. When no public URL is configured, DSNs use the bound address.
    pub async fn start(
        mut settings: Settings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Server> {
        settings.validate()?;
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        settings.listen = addr;
        let settings = Arc::new(settings);

        let depth = store
            .inbox_stats()
            .await
            .context("reading the inbox depth")?
            .depth;
        let inbox_depth = Arc::new(AtomicI64::new(depth as i64));
        let wake = Arc::new(Notify::new());
        let (inbox, writer) = InboxWriter::spawn(
            store.clone(),
            inbox_depth.clone(),
            wake.clone(),
            WRITER_QUEUE,
            settings.ingest.inbox_writers.unwrap_or(1),
        );
        let outcomes = Arc::new(OutcomeBuffer::default());
        let codec = Arc::new(
            Codec::load(store.as_ref())
                .await
                .context("loading compression dictionaries")?,
        );
        let max_item_bytes = settings
            .ingest
            .max_event_bytes
            .max(settings.ingest.max_attachment_bytes);
        let state = AppState(Arc::new(Inner {
            store: store.clone(),
            clock: clock.clone(),
            settings: settings.clone(),
            keys: KeyCache::new(store.clone(), clock.clone()),
            limiter: RateLimiter::default(),
            inbox,
            inbox_depth: inbox_depth.clone(),
            in_flight: Arc::new(Semaphore::new(settings.ingest.max_in_flight)),
            body_budget: Arc::new(Semaphore::new(settings.ingest.max_body_memory_mib * 1024)),
            outcomes: outcomes.clone(),
            codec: codec.clone(),
            metrics: ops::metrics_handle(),
            auth_limits: auth::Limits::new(&settings.auth),
            alerts: alerts::Alerts {
                notifier_wake: Arc::new(Notify::new()),
                dispatcher: Arc::new(
                    alerts::channels::Dispatcher::new(&settings, clock.clone())
                        .context("setting up notification channels")?,
                ),
            },
        }));
        let (shutdown, rx) = watch::channel(false);
        let roles = settings.roles.clone();
        let checker_wake = Arc::new(Notify::new());
        let verifier_wake = Arc::new(Notify::new());
        let mut tasks: Vec<(&'static str, tokio::task::JoinHandle<()>)> = Vec::new();
        if roles.contains(&Role::Worker) {
            let alerts_wake = Arc::new(Notify::new());
            let fragments = tenants::read::Fragments::default();
            let worker = Worker {
                store: store.clone(),
                clock: clock.clone(),
                codec: codec.clone(),
                inbox_depth,
                wake,
                alerts_wake: alerts_wake.clone(),
                batch_size: settings.worker.batch_size,
                max_item_bytes,
                tenant_tag: settings.tenants.tenant_tag.clone(),
                fragments: fragments.clone(),
            };
            tasks.push(("worker", spawn_named("worker", worker.run(rx.clone()))));
            let compactor = tenants::read::Compactor {
                store: store.clone(),
                clock: clock.clone(),
                interval: std::time::Duration::from_secs(5),
                fragments,
            };
            tasks.push((
                "request-compactor",
                spawn_named("request-compactor", compactor.run(rx.clone())),
            ));
            // Alerting runs beside the worker: the triggers its batches leave, and the outbox.
            let engine = alerts::engine::Engine {
                store: store.clone(),
                clock: clock.clone(),
                settings: settings.clone(),
                notifier_wake: Some(state.alerts.notifier_wake.clone()),
            };
            tasks.push((
                "alert-triggers",
                spawn_named("alert-triggers", engine.run_triggers(alerts_wake, rx.clone())),
            ));
            let notifier = alerts::notifier::Notifier::new(
                store.clone(),
                clock.clone(),
                settings.alerts.clone(),
                state.alerts.dispatcher.clone(),
                state.alerts.notifier_wake.clone(),
            );
            tasks.push(("notifier", spawn_named("notifier", notifier.run(rx.clone()))));
        }
        if roles.contains(&Role::Scheduler) {
            let scheduler = Scheduler {
                store: store.clone(),
                clock: clock.clone(),
                settings: settings.clone(),
                trainer: Trainer {
                    store: store.clone(),
                    codec: codec.clone(),
                    clock: clock.clone(),
                    min_events: settings.storage.dictionary_min_events,
                    max_payload_bytes: max_item_bytes,
                },
                holder: scheduler::holder_id(),
                notifier_wake: Some(state.alerts.notifier_wake.clone()),
                checker_wake: roles.contains(&Role::Checker).then(|| checker_wake.clone()),
                verifier_wake: verifier_wake.clone(),
            };
            tasks.push(("scheduler", spawn_named("scheduler", scheduler.run(rx.clone()))));
        }
        if roles.contains(&Role::Checker) {
            let checker = uptime::checker::Checker {
                store: store.clone(),
                clock: clock.clone(),
                concurrency: settings.uptime.concurrency,
                region: settings.uptime.region.clone(),
                wake: checker_wake,
                verifier_wake,
            };
            tasks.push(("checker", spawn_named("checker", checker.run(rx.clone()))));
        }
        if roles.contains(&Role::Ingest) {
            // Dictionaries trained by the scheduler on another node reach ingest here (one trained
            // in this process is installed at once); each refresh reads every dictionary, so rarely.
            let every = Duration::from_secs(settings.storage.dictionary_check_secs.max(60));
            tasks.push((
                "dictionary-refresh",
                spawn_named(
                    "dictionary-refresh",
                    refresh_dictionaries(store.clone(), codec.clone(), every, rx.clone()),
                ),
            ));
            tasks.push((
                "outcome-flusher",
                spawn_named(
                    "outcome-flusher",
                    flush_outcomes(store.clone(), outcomes.clone(), rx.clone()),
                ),
            ));
        }

        let app = router(state);
        let mut stop = rx.clone();
        let handle = spawn_named("http", async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
                .context("serving HTTP")?;
            // The router (and with it every inbox sender) is gone: the writer drains and stops.
            writer.await.context("inbox writer task")?;
            for (name, task) in tasks {
                task.await.with_context(|| format!("{name} task"))?;
            }
            Ok(())
        });
        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        tracing::info!(addr = %addr, public_url = %settings.public_base_url(), roles = %roles.join(","), "sentinel is listening");
        Ok(Server {
            addr,
            settings,
            shutdown,
            handle,
        })
    }

    /// Stops accepting requests, finishes those in flight and the worker's current batch.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.handle.await.context("server task")?
    }

    /// `http://addr` plus the path prefix.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, self.settings.path_prefix)
    }
}

async fn refresh_dictionaries(
    store: Arc<dyn Store>,
    codec: Arc<Codec>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        if let Err(e) = codec.refresh(store.as_ref()).await {
            tracing::warn!(error = %e, "could not reload compression dictionaries");
        }
    }
}

async fn flush_outcomes(
    store: Arc<dyn Store>,
    outcomes: Arc<OutcomeBuffer>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(OUTCOME_FLUSH) => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        let pending = outcomes.drain();
        if !pending.is_empty()
            && let Err(e) = store.record_outcomes(&pending).await
        {
            tracing::warn!(error = %e, "could not record ingest outcomes; counts for this interval are lost");
        }
        if stopping {
            break;
        }
    }
}
