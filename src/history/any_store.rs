//! The store the configuration names: SQLite or PostgreSQL, behind the one [`Store`] trait.

use std::time::Duration;

use jiff::Timestamp;

use super::incidents::{Incident, IncidentQuery};
use super::records::{Batch, BeatRecord, ExecutorRecord};
use super::rollups::{Bucket, BucketQuery};
use super::silences::{NewSilence, Silence};
use super::store::Store;
use super::{HistoryError, PostgresStore, SqliteStore, postgres, sqlite};
use crate::config::{CaFile, Login};

/// The configured store.
pub enum AnyStore {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PostgresStore),
}

impl AnyStore {
    /// The store a `sqlite://` or `postgres://` URL names, TLS trusting the system's store.
    pub fn open(login: &Login, timeout: Duration) -> Result<Self, String> {
        Self::open_trusting(login, timeout, None)
    }

    /// The store a URL names, its TLS trusting `ca_file` too (PostgreSQL).
    pub fn open_trusting(
        login: &Login,
        timeout: Duration,
        ca_file: Option<&CaFile>,
    ) -> Result<Self, String> {
        let url = login.url().expose();
        match url.scheme() {
            "sqlite" => sqlite::open(url.as_str()).map(Self::Sqlite),
            "postgres" | "postgresql" => {
                postgres::open(login, timeout, ca_file).map(Self::Postgres)
            }
            other => Err(format!(
                "history.url: scheme `{other}` is not supported; use sqlite:// or postgres://"
            )),
        }
    }
}

impl Store for AnyStore {
    async fn migrate(&self) -> Result<(), HistoryError> {
        match self {
            Self::Sqlite(s) => s.migrate().await,
            Self::Postgres(s) => s.migrate().await,
        }
    }

    async fn write(&self, observer: &str, batch: &Batch) -> Result<(), HistoryError> {
        match self {
            Self::Sqlite(s) => s.write(observer, batch).await,
            Self::Postgres(s) => s.write(observer, batch).await,
        }
    }

    async fn buckets(&self, query: &BucketQuery<'_>) -> Result<Vec<Bucket>, HistoryError> {
        match self {
            Self::Sqlite(s) => s.buckets(query).await,
            Self::Postgres(s) => s.buckets(query).await,
        }
    }

    async fn incidents(&self, query: &IncidentQuery) -> Result<Vec<Incident>, HistoryError> {
        match self {
            Self::Sqlite(s) => s.incidents(query).await,
            Self::Postgres(s) => s.incidents(query).await,
        }
    }

    async fn open_incidents(&self, observer: &str) -> Result<Vec<Incident>, HistoryError> {
        match self {
            Self::Sqlite(s) => s.open_incidents(observer).await,
            Self::Postgres(s) => s.open_incidents(observer).await,
        }
    }

    async fn changes_since(&self, component: &str, since: Timestamp) -> Result<i64, HistoryError> {
        match self {
            Self::Sqlite(s) => s.changes_since(component, since).await,
            Self::Postgres(s) => s.changes_since(component, since).await,
        }
    }

    async fn executors(&self, observer: &str) -> Result<Vec<ExecutorRecord>, HistoryError> {
        match self {
            Self::Sqlite(s) => s.executors(observer).await,
            Self::Postgres(s) => s.executors(observer).await,
        }
    }

    async fn executor_beats(&self, observer: &str) -> Result<Vec<BeatRecord>, HistoryError> {
        match self {
            Self::Sqlite(s) => s.executor_beats(observer).await,
            Self::Postgres(s) => s.executor_beats(observer).await,
        }
    }

    async fn silences(&self, now: Timestamp) -> Result<Vec<Silence>, HistoryError> {
        match self {
            Self::Sqlite(s) => s.silences(now).await,
            Self::Postgres(s) => s.silences(now).await,
        }
    }

    async fn add_silence(&self, silence: &NewSilence) -> Result<Silence, HistoryError> {
        match self {
            Self::Sqlite(s) => s.add_silence(silence).await,
            Self::Postgres(s) => s.add_silence(silence).await,
        }
    }

    async fn delete_silence(&self, id: i64) -> Result<bool, HistoryError> {
        match self {
            Self::Sqlite(s) => s.delete_silence(id).await,
            Self::Postgres(s) => s.delete_silence(id).await,
        }
    }

    async fn prune(
        &self,
        results_before: Timestamp,
        incidents_before: Timestamp,
        limit: i64,
    ) -> Result<u64, HistoryError> {
        match self {
            Self::Sqlite(s) => s.prune(results_before, incidents_before, limit).await,
            Self::Postgres(s) => s.prune(results_before, incidents_before, limit).await,
        }
    }
}
