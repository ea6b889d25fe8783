//! History: every probe result, per-minute and per-hour roll-ups, status changes and
//! incidents, kept in an embedded SQLite file (the default) or PostgreSQL (so replicas
//! can share it). [`History`] is the way in for the rest of ragwatch; behind it, one file
//! per concern:
//! - `records.rs`: what is remembered (results, changes, executors) and a write's batch;
//! - `rollups.rs`: minute and hour roll-ups, read back as [`Bucket`]s with percentiles;
//! - `incidents.rs`: what a status change does to incidents, and the stored [`Incident`];
//! - `store.rs`: the [`Store`] trait and the configured [`AnyStore`];
//! - `statements.rs` and `sql.rs`: the SQL, written once, run generically over sqlx;
//!   `sqlite.rs` and `postgres.rs` only connect; `migrations.rs` holds the schema;
//! - `writer.rs`: the task that writes batches off the probing path, applies retention,
//!   and writes what it holds before a deadline when the history is closed.

mod any_store;
mod incidents;
mod migrations;
mod postgres;
mod records;
mod rollups;
mod silences;
mod sql;
mod sqlite;
mod statements;
mod store;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;

use crate::config::{HistoryConfig, Scrubber};
use crate::shutdown::Closer;

pub use any_store::AnyStore;
pub use incidents::{Incident, IncidentQuery};
pub use postgres::{PostgresStore, connect_options as postgres_connect_options};
pub use records::{
    Batch, BeatRecord, ChangeRecord, ExecutorRecord, MAX_REMEMBERED_BEATS, REMEMBERED_SPAN,
    ResultRecord,
};
pub use rollups::{Bucket, BucketQuery};
pub use silences::{NewSilence, QuietRecord, Silence};
pub use sqlite::SqliteStore;
pub use store::Store;

/// Why the history store failed; the text names the database without credentials.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The database refused or failed a statement.
    #[error("history store {store}: {source}")]
    Database {
        /// Which store (`sqlite:ragwatch.db`, `postgres 127.0.0.1:5432`).
        store: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A migration could not be applied.
    #[error("history store {store}: migration failed: {source}")]
    Migrate {
        /// Which store.
        store: String,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
}

impl HistoryError {
    /// The statement failed because the schema is not there (the database was dropped
    /// and created again, or the file replaced): migrating again brings it back.
    pub fn schema_missing(&self) -> bool {
        let Self::Database {
            source: sqlx::Error::Database(error),
            ..
        } = self
        else {
            return false;
        };
        // PostgreSQL's undefined_table; SQLite has only a message.
        error.code().as_deref() == Some("42P01") || error.message().starts_with("no such table")
    }
}

/// Something to remember.
#[derive(Clone, Debug)]
pub enum Record {
    /// A probe result.
    Result(ResultRecord),
    /// A status change.
    Change(ChangeRecord),
    /// A task executor's newest heartbeat.
    Executor(ExecutorRecord),
    /// A heartbeat of a task executor's window.
    Beat(BeatRecord),
    /// The open incident of a component is marked quiet.
    Quiet(QuietRecord),
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

/// The history: a store plus the writer feeding it. The monitor hands every result and
/// status change to [`History::record`], which never waits; [`History::health`] says how
/// the store is doing, for readyz.
pub struct History {
    store: AnyStore,
    observer: String,
    sender: mpsc::Sender<Record>,
    receiver: Mutex<Option<mpsc::Receiver<Record>>>,
    closer: Closer,
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
        let (sender, receiver) = mpsc::channel(writer::CHANNEL_CAPACITY);
        Ok(Self {
            store: AnyStore::open_trusting(&config.login(), timeout, config.tls_ca_file.as_ref())?,
            observer: config.observer_name(),
            sender,
            receiver: Mutex::new(Some(receiver)),
            closer: Closer::new(),
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

    /// The store, once the writer has put its schema in place: waits until then.
    pub async fn opened(&self) -> &AnyStore {
        loop {
            if let Ok(store) = self.store() {
                return store;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
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

    /// Starts the writer task, which also applies retention (once). The task ends once
    /// the history is closed ([`History::close`]) and has written what it could.
    pub async fn start(self: &Arc<Self>, tasks: &mut JoinSet<()>) {
        let Some(receiver) = self.receiver.lock().await.take() else {
            return;
        };
        tasks.spawn(writer::run(
            Arc::clone(self),
            receiver,
            self.closer.subscribe(),
        ));
    }

    /// Takes no more records: the writer writes what it holds and what is queued before
    /// `deadline` (retrying while the store fails), logs how many records it could not,
    /// and ends.
    pub fn close(&self, deadline: tokio::time::Instant) {
        self.closer.close(deadline);
    }

    /// Notes how the last attempt went, logging when the store starts or stops failing.
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
}
