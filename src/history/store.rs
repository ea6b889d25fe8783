//! The operations ragwatch needs from a history database ([`Store`]), and the store the
//! configuration names ([`AnyStore`]: SQLite or PostgreSQL).

use std::future::Future;
use std::time::Duration;

use jiff::Timestamp;

use super::incidents::{Incident, IncidentQuery};
use super::records::{Batch, ExecutorRecord};
use super::rollups::Bucket;
use super::{HistoryError, PostgresStore, SqliteStore, postgres, sqlite};
use crate::config::SecretUrl;

/// The operations ragwatch needs from a history database.
pub trait Store: Send + Sync {
    /// Creates or upgrades the schema (versioned migrations, safe to re-run).
    fn migrate(&self) -> impl Future<Output = Result<(), HistoryError>> + Send;

    /// Writes a batch atomically: results, roll-ups, status changes and incidents.
    fn write(
        &self,
        observer: &str,
        batch: &Batch,
    ) -> impl Future<Output = Result<(), HistoryError>> + Send;

    /// Summed roll-ups of `resolution_s` for a component in `[since_ms, until_ms)`, one row
    /// per `step_ms`.
    fn buckets(
        &self,
        component: &str,
        resolution_s: i64,
        since_ms: i64,
        until_ms: i64,
        step_ms: i64,
    ) -> impl Future<Output = Result<Vec<Bucket>, HistoryError>> + Send;

    /// Incidents, open ones first, then newest first.
    fn incidents(
        &self,
        query: &IncidentQuery,
    ) -> impl Future<Output = Result<Vec<Incident>, HistoryError>> + Send;

    /// The incidents an observer still has open, newest first.
    fn open_incidents(
        &self,
        observer: &str,
    ) -> impl Future<Output = Result<Vec<Incident>, HistoryError>> + Send;

    /// Status changes of a component since a time (flapping).
    fn changes_since(
        &self,
        component: &str,
        since_ms: i64,
    ) -> impl Future<Output = Result<i64, HistoryError>> + Send;

    /// The executors an observer remembers.
    fn executors(
        &self,
        observer: &str,
    ) -> impl Future<Output = Result<Vec<ExecutorRecord>, HistoryError>> + Send;

    /// Deletes at most `limit` rows per table older than the cut-offs (raw results and
    /// minute roll-ups before `results_before`, the rest before `incidents_before`);
    /// returns how many went.
    fn prune(
        &self,
        results_before: Timestamp,
        incidents_before: Timestamp,
        limit: i64,
    ) -> impl Future<Output = Result<u64, HistoryError>> + Send;
}

/// The configured store.
pub enum AnyStore {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PostgresStore),
}

impl AnyStore {
    /// The store a `sqlite://` or `postgres://` URL names.
    pub fn open(url: &SecretUrl, timeout: Duration) -> Result<Self, String> {
        let url = url.expose();
        match url.scheme() {
            "sqlite" => sqlite::open(url.as_str()).map(Self::Sqlite),
            "postgres" | "postgresql" => postgres::open(url, timeout).map(Self::Postgres),
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

    async fn buckets(
        &self,
        component: &str,
        resolution_s: i64,
        since_ms: i64,
        until_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<Bucket>, HistoryError> {
        match self {
            Self::Sqlite(s) => {
                s.buckets(component, resolution_s, since_ms, until_ms, step_ms)
                    .await
            }
            Self::Postgres(s) => {
                s.buckets(component, resolution_s, since_ms, until_ms, step_ms)
                    .await
            }
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

    async fn changes_since(&self, component: &str, since_ms: i64) -> Result<i64, HistoryError> {
        match self {
            Self::Sqlite(s) => s.changes_since(component, since_ms).await,
            Self::Postgres(s) => s.changes_since(component, since_ms).await,
        }
    }

    async fn executors(&self, observer: &str) -> Result<Vec<ExecutorRecord>, HistoryError> {
        match self {
            Self::Sqlite(s) => s.executors(observer).await,
            Self::Postgres(s) => s.executors(observer).await,
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
