//! PostgreSQL history, which several ragwatch replicas can share (each writes as its own
//! observer). The schema is created and migrated on start.

use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::migrations::{Dialect, migrator};
use super::{Batch, Bucket, ExecutorRecord, HistoryError, Incident, IncidentQuery, Store, sql};

/// History in a PostgreSQL database.
pub struct PostgresStore {
    pool: PgPool,
    name: String,
    upsert: String,
    buckets: String,
}

impl PostgresStore {
    /// Connects to the database a `postgres://` URL names, on first use, with a bounded
    /// wait for a connection.
    pub fn open(url: &url::Url, timeout: Duration) -> Result<Self, String> {
        let options = PgConnectOptions::from_url(url)
            .map_err(|e| format!("history.url: {e}"))?
            .application_name("ragwatch")
            .disable_statement_logging();
        let name = format!("postgres {}", crate::config::host_port(url, 5432));
        Ok(Self {
            pool: PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(timeout)
                .connect_lazy_with(options),
            name,
            upsert: super::rollup_upsert_sql(sql::param, "GREATEST"),
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

impl Store for PostgresStore {
    async fn migrate(&self) -> Result<(), HistoryError> {
        let failed = |source| HistoryError::Migrate {
            store: self.name.clone(),
            source,
        };
        migrator(Dialect::Postgres)
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
