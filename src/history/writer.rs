//! The way into the history: the monitor hands every result and status change to
//! [`History::record`], which never waits; a writer task sends them to the store in
//! batches (at most every second), retries with back-off while the store is down, and
//! keeps at most [`MAX_PENDING`] records meanwhile (the oldest results go first). A
//! retention task deletes old rows in bounded chunks. [`History::health`] says how the
//! store is doing, for readyz.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;

use super::{AnyStore, Batch, ChangeRecord, ExecutorRecord, ResultRecord, Store};
use crate::config::{HistoryConfig, Scrubber};

/// Records waiting in the channel before `record` starts dropping.
pub const CHANNEL_CAPACITY: usize = 10_000;
/// Records kept while the store is down.
pub const MAX_PENDING: usize = 100_000;
/// Longest wait between batches.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Rows deleted per table and statement by retention.
pub const PRUNE_CHUNK: i64 = 10_000;
/// Time between retention passes.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Something to remember.
#[derive(Clone, Debug)]
pub enum Record {
    /// A probe result.
    Result(ResultRecord),
    /// A status change.
    Change(ChangeRecord),
    /// A task executor's newest heartbeat.
    Executor(ExecutorRecord),
}

/// How the store is doing.
#[derive(Clone, Debug, Default)]
pub struct Health {
    /// The last attempt (migration or write) failed with this (scrubbed) error.
    pub error: Option<String>,
    /// When a batch was last written.
    pub last_write: Option<jiff::Timestamp>,
    /// Records waiting to be written.
    pub pending: usize,
}

/// The history: a store plus the writer feeding it.
pub struct History {
    store: AnyStore,
    observer: String,
    sender: mpsc::Sender<Record>,
    receiver: Mutex<Option<mpsc::Receiver<Record>>>,
    health: ArcSwap<Health>,
    migrated: AtomicBool,
    dropped: AtomicU64,
    results_retention: Duration,
    incidents_retention: Duration,
    scrubber: Scrubber,
}

impl History {
    /// The history a configuration asks for; nothing is opened until [`History::start`].
    pub fn open(
        config: &HistoryConfig,
        timeout: Duration,
        scrubber: Scrubber,
    ) -> Result<Self, String> {
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        Ok(Self {
            store: AnyStore::open(&config.url, timeout)?,
            observer: config.observer_name(),
            sender,
            receiver: Mutex::new(Some(receiver)),
            health: ArcSwap::from_pointee(Health {
                error: Some("not opened yet".into()),
                ..Health::default()
            }),
            migrated: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            results_retention: config.results_retention,
            incidents_retention: config.incidents_retention,
            scrubber,
        })
    }

    /// The store, for queries, once its schema is in place; else why not.
    pub fn store(&self) -> Result<&AnyStore, String> {
        if self.migrated.load(Ordering::Acquire) {
            Ok(&self.store)
        } else {
            let why = self.health().error.clone().unwrap_or_default();
            Err(format!("the history store is not open yet ({why})"))
        }
    }

    /// The name this ragwatch writes under.
    pub fn observer(&self) -> &str {
        &self.observer
    }

    /// Hands a record to the writer without waiting; when the writer is far behind the
    /// record is dropped and counted.
    pub fn record(&self, record: Record) {
        if self.sender.try_send(record).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "History writer is behind; records were dropped.");
            }
        }
    }

    /// Records dropped since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How the store is doing.
    pub fn health(&self) -> Arc<Health> {
        self.health.load_full()
    }

    /// Starts the writer and retention tasks (once).
    pub async fn start(self: &Arc<Self>, tasks: &mut JoinSet<()>) {
        let Some(receiver) = self.receiver.lock().await.take() else {
            return;
        };
        let history = Arc::clone(self);
        tasks.spawn(async move { history.write_loop(receiver).await });
    }

    fn set_health(&self, error: Option<String>, pending: usize, wrote: bool) {
        let previous = self.health.load();
        let error = error.map(|e| self.scrubber.scrub(&e));
        if error.is_some() && previous.error.is_none() {
            tracing::warn!(
                error = error.as_deref().unwrap_or(""),
                "History store is failing."
            );
        } else if error.is_none() && previous.error.is_some() {
            tracing::info!("History store is working.");
        }
        self.health.store(Arc::new(Health {
            error,
            last_write: if wrote {
                Some(jiff::Timestamp::now())
            } else {
                previous.last_write
            },
            pending,
        }));
    }

    async fn write_loop(self: Arc<Self>, mut receiver: mpsc::Receiver<Record>) {
        let mut backoff = Backoff::default();
        while let Err(error) = self.store.migrate().await {
            self.set_health(Some(error.to_string()), 0, false);
            tokio::time::sleep(backoff.next()).await;
        }
        self.migrated.store(true, Ordering::Release);
        self.set_health(None, 0, false);
        let mut pending = Batch::default();
        let mut next_prune = tokio::time::Instant::now();
        loop {
            if pending.is_empty() {
                match receiver.recv().await {
                    Some(record) => push(&mut pending, record),
                    None => return,
                }
            }
            // Gather what arrives within the flush period.
            let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
            while pending.len() < MAX_PENDING {
                match tokio::time::timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(record)) => push(&mut pending, record),
                    Ok(None) | Err(_) => break,
                }
            }
            match self.store.write(&self.observer, &pending).await {
                Ok(()) => {
                    pending = Batch::default();
                    backoff = Backoff::default();
                    self.set_health(None, 0, true);
                }
                Err(error) => {
                    trim(&mut pending, &self.dropped);
                    self.set_health(Some(error.to_string()), pending.len(), false);
                    tokio::time::sleep(backoff.next()).await;
                }
            }
            if tokio::time::Instant::now() >= next_prune {
                self.prune().await;
                next_prune = tokio::time::Instant::now() + PRUNE_EVERY;
            }
        }
    }

    /// Deletes rows past retention, a chunk at a time, so the database is never locked long.
    async fn prune(&self) {
        let now = jiff::Timestamp::now().as_millisecond();
        let results_before = now - self.results_retention.as_millis() as i64;
        let incidents_before = now - self.incidents_retention.as_millis() as i64;
        loop {
            match self
                .store
                .prune(results_before, incidents_before, PRUNE_CHUNK)
                .await
            {
                Ok(deleted) if deleted > 0 => {
                    tracing::debug!(deleted, "History retention deleted rows.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(_) => return,
                Err(error) => {
                    self.set_health(Some(error.to_string()), 0, false);
                    return;
                }
            }
        }
    }
}

fn push(batch: &mut Batch, record: Record) {
    match record {
        Record::Result(result) => batch.results.push(result),
        Record::Change(change) => batch.changes.push(change),
        Record::Executor(executor) => batch.executors.push(executor),
    }
}

/// Keeps a failing batch within [`MAX_PENDING`], dropping the oldest results (status
/// changes are few and carry the incidents, so they stay).
fn trim(batch: &mut Batch, dropped: &AtomicU64) {
    let excess = batch.len().saturating_sub(MAX_PENDING);
    if excess > 0 {
        let cut = excess.min(batch.results.len());
        batch.results.drain(..cut);
        dropped.fetch_add(cut as u64, Ordering::Relaxed);
    }
}

/// Exponential back-off from 1 s to 30 s.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    fn next(&mut self) -> Duration {
        let delay = Duration::from_secs(1 << self.0.min(5)).min(Duration::from_secs(30));
        self.0 += 1;
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..8).map(|_| backoff.next().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
