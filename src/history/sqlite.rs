//! The embedded SQLite history: one file, WAL journal, created and migrated on start.

use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::migrations::{Dialect, migrator};
use super::{Batch, Bucket, ExecutorRecord, HistoryError, Incident, IncidentQuery, Store, sql};

/// History in a SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
    name: String,
    upsert: String,
    buckets: String,
}

impl SqliteStore {
    /// Opens (creating if missing) the file a `sqlite://path` URL names; nothing is read
    /// until the first statement.
    pub fn open(url: &str) -> Result<Self, String> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| format!("history.url: {e}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .disable_statement_logging();
        let name = format!("sqlite:{}", options.get_filename().display());
        Ok(Self {
            pool: SqlitePoolOptions::new()
                .max_connections(4)
                .connect_lazy_with(options),
            name,
            upsert: super::rollup_upsert_sql(sql::param, "MAX"),
            buckets: super::bucket_query_sql(sql::param),
        })
    }

    fn error(&self, source: sqlx::Error) -> HistoryError {
        HistoryError::Database {
            store: self.name.clone(),
            source,
        }
    }
}

impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), HistoryError> {
        let failed = |source| HistoryError::Migrate {
            store: self.name.clone(),
            source,
        };
        migrator(Dialect::Sqlite)
            .await
            .map_err(failed)?
            .run(&self.pool)
            .await
            .map_err(failed)
    }

    async fn write(&self, observer: &str, batch: &Batch) -> Result<(), HistoryError> {
        sql::write(&self.pool, &self.upsert, observer, batch)
            .await
            .map_err(|e| self.error(e))
    }

    async fn buckets(
        &self,
        component: &str,
        resolution_s: i64,
        since_ms: i64,
        until_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<Bucket>, HistoryError> {
        sql::buckets(
            &self.pool,
            &self.buckets,
            component,
            resolution_s,
            since_ms,
            until_ms,
            step_ms,
        )
        .await
        .map_err(|e| self.error(e))
    }

    async fn incidents(&self, query: &IncidentQuery) -> Result<Vec<Incident>, HistoryError> {
        sql::incidents(&self.pool, query)
            .await
            .map_err(|e| self.error(e))
    }

    async fn changes_since(&self, component: &str, since_ms: i64) -> Result<i64, HistoryError> {
        sql::changes_since(&self.pool, component, since_ms)
            .await
            .map_err(|e| self.error(e))
    }

    async fn executors(&self, observer: &str) -> Result<Vec<ExecutorRecord>, HistoryError> {
        sql::executors(&self.pool, observer)
            .await
            .map_err(|e| self.error(e))
    }

    async fn prune(
        &self,
        results_before_ms: i64,
        incidents_before_ms: i64,
        limit: i64,
    ) -> Result<u64, HistoryError> {
        sql::prune(
            &self.pool,
            results_before_ms,
            incidents_before_ms,
            limit,
            |r| r.rows_affected(),
        )
        .await
        .map_err(|e| self.error(e))
    }
}
