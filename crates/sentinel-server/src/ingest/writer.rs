//! Group commit into the durable inbox.
//!
//! Requests hand their items to the writer tasks and wait for the commit. A writer takes whatever
//! has queued up while the previous commit ran and writes it in one transaction: no fixed linger,
//! so a lone request commits at once and a burst shares commits. SQLite has one writer connection,
//! so one writer task; PostgreSQL commits several batches at once, overlapping their round trips
//! and WAL flushes.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use sentinel_store::{NewInboxItem, Store};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

/// Items per transaction at most; bounds the latency of one commit.
const MAX_ITEMS_PER_COMMIT: usize = 2000;

struct Pending {
    items: Vec<NewInboxItem>,
    done: oneshot::Sender<Result<(), String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The queue in front of the writer is full: the server is overloaded.
    #[error("inbox queue is full")]
    Full,
    /// The writer has stopped (shutting down).
    #[error("inbox writer has stopped")]
    Closed,
    /// The commit failed; nothing of this request was stored.
    #[error("inbox commit failed: {0}")]
    Failed(String),
}

#[derive(Clone)]
pub struct InboxWriter {
    tx: mpsc::Sender<Pending>,
}

impl InboxWriter {
    /// Starts `writers` writer tasks. They stop once every `InboxWriter` clone is dropped and the
    /// queue is drained; the handle finishes when all of them have.
    pub fn spawn(
        store: Arc<dyn Store>,
        depth: Arc<AtomicI64>,
        wake_worker: Arc<Notify>,
        queue: usize,
        writers: usize,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let tasks: Vec<_> = (0..writers.max(1))
            .map(|_| {
                crate::spawn_named(
                    "inbox-writer",
                    run(rx.clone(), store.clone(), depth.clone(), wake_worker.clone()),
                )
            })
            .collect();
        let handle = tokio::spawn(async move {
            for t in tasks {
                if let Err(e) = t.await {
                    tracing::error!(error = %e, "inbox writer task failed");
                }
            }
        });
        (Self { tx }, handle)
    }

    /// Appends the items of one request atomically and returns once they are durable.
    pub async fn append(&self, items: Vec<NewInboxItem>) -> Result<(), AppendError> {
        let (done, wait) = oneshot::channel();
        self.tx.try_send(Pending { items, done }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => AppendError::Full,
            mpsc::error::TrySendError::Closed(_) => AppendError::Closed,
        })?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(AppendError::Failed(e)),
            Err(_) => Err(AppendError::Closed),
        }
    }
}

/// Waits for the next request and takes whatever else is queued behind it, up to the commit cap.
/// Holding the receiver only while gathering lets the other writers gather while this one commits.
async fn next_batch(rx: &Mutex<mpsc::Receiver<Pending>>) -> Option<Vec<Pending>> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    let mut count = first.items.len();
    let mut batch = vec![first];
    while count < MAX_ITEMS_PER_COMMIT {
        match rx.try_recv() {
            Ok(p) => {
                count += p.items.len();
                batch.push(p);
            }
            Err(_) => break,
        }
    }
    Some(batch)
}

async fn run(
    rx: Arc<Mutex<mpsc::Receiver<Pending>>>,
    store: Arc<dyn Store>,
    depth: Arc<AtomicI64>,
    wake: Arc<Notify>,
) {
    while let Some(mut batch) = next_batch(&rx).await {
        let items: Vec<NewInboxItem> = batch.iter_mut().flat_map(|p| p.items.drain(..)).collect();
        let started = std::time::Instant::now();
        let result = store.inbox_append(&items).await.map_err(|e| e.to_string());
        metrics::histogram!("sentinel_inbox_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("sentinel_inbox_commit_items").record(items.len() as f64);
        match &result {
            Ok(()) => {
                depth.fetch_add(items.len() as i64, Ordering::SeqCst);
                wake.notify_one();
            }
            Err(e) => {
                tracing::error!(error = %e, items = items.len(), "inbox commit failed; requests answered 503")
            }
        }
        for p in batch {
            // A requester that went away (client disconnected) no longer needs the answer.
            let _ = p.done.send(result.clone());
        }
    }
}
