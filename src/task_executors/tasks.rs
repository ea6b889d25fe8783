//! RAGFlow's `task` table, read from its own database.
//! - The tasks that ended in an interval: rows whose `update_time` (unix milliseconds)
//!   falls in the window and whose `progress` is 1 (done) or -1 (failed), with the
//!   document's name from its `document` table. RAGFlow does not record which executor ran
//!   a task; the caller marks the ones that were in the executor's `current` tasks.
//! - The parsing pipeline: tasks queued (`progress` 0) and in progress (between 0 and 1),
//!   and those in progress without an update for a while.

use std::time::Duration;

use serde::Serialize;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, FromRow};

use crate::config::{DbConfig, DbKind, KeyError};

/// At most this many tasks are listed for one interval.
pub const MAX_TASKS: i64 = 500;

const MYSQL_QUERY: &str = "SELECT t.id, t.doc_id, d.name AS document_name, \
     CAST(t.progress AS DOUBLE) AS progress, t.progress_msg, t.update_time, t.task_type, \
     CAST(t.process_duration AS DOUBLE) AS process_duration \
     FROM task t LEFT JOIN document d ON d.id = t.doc_id \
     WHERE t.update_time >= ? AND t.update_time < ? AND (t.progress = 1 OR t.progress = -1) \
     ORDER BY t.update_time LIMIT ?";

const POSTGRES_QUERY: &str = "SELECT t.id, t.doc_id, d.name AS document_name, \
     CAST(t.progress AS DOUBLE PRECISION) AS progress, t.progress_msg, t.update_time, t.task_type, \
     CAST(t.process_duration AS DOUBLE PRECISION) AS process_duration \
     FROM task t LEFT JOIN document d ON d.id = t.doc_id \
     WHERE t.update_time >= $1 AND t.update_time < $2 AND (t.progress = 1 OR t.progress = -1) \
     ORDER BY t.update_time LIMIT $3";

const MYSQL_PIPELINE: &str = "SELECT \
     COUNT(CASE WHEN progress = 0 THEN 1 END) AS queued, \
     MIN(CASE WHEN progress = 0 THEN create_time END) AS oldest_queued_ms, \
     COUNT(CASE WHEN progress > 0 AND progress < 1 THEN 1 END) AS running, \
     COUNT(CASE WHEN progress > 0 AND progress < 1 AND update_time < ? THEN 1 END) AS stuck \
     FROM task WHERE create_time >= ?";

const POSTGRES_PIPELINE: &str = "SELECT \
     COUNT(CASE WHEN progress = 0 THEN 1 END) AS queued, \
     MIN(CASE WHEN progress = 0 THEN create_time END) AS oldest_queued_ms, \
     COUNT(CASE WHEN progress > 0 AND progress < 1 THEN 1 END) AS running, \
     COUNT(CASE WHEN progress > 0 AND progress < 1 AND update_time < $1 THEN 1 END) AS stuck \
     FROM task WHERE create_time >= $2";

const MYSQL_STUCK: &str = "SELECT t.id, d.name AS document_name, \
     CAST(t.progress AS DOUBLE) AS progress, t.progress_msg, t.update_time \
     FROM task t LEFT JOIN document d ON d.id = t.doc_id \
     WHERE t.progress > 0 AND t.progress < 1 AND t.update_time < ? AND t.create_time >= ? \
     ORDER BY t.update_time LIMIT 1";

const POSTGRES_STUCK: &str = "SELECT t.id, d.name AS document_name, \
     CAST(t.progress AS DOUBLE PRECISION) AS progress, t.progress_msg, t.update_time \
     FROM task t LEFT JOIN document d ON d.id = t.doc_id \
     WHERE t.progress > 0 AND t.progress < 1 AND t.update_time < $1 AND t.create_time >= $2 \
     ORDER BY t.update_time LIMIT 1";

/// The parsing pipeline's tasks created since some time.
#[derive(Clone, Debug, FromRow)]
pub struct Pipeline {
    /// Queued, not started.
    pub queued: i64,
    /// When the oldest queued task was created, unix milliseconds.
    pub oldest_queued_ms: Option<i64>,
    /// In progress.
    pub running: i64,
    /// In progress without an update since the cut-off.
    pub stuck: i64,
}

/// The longest-silent task in progress.
#[derive(Clone, Debug, FromRow)]
pub struct StuckTask {
    /// Task id.
    pub id: String,
    /// Document file name.
    pub document_name: Option<String>,
    /// Between 0 and 1.
    pub progress: f64,
    /// RAGFlow's progress log.
    pub progress_msg: Option<String>,
    /// Its last update, unix milliseconds.
    pub update_time: i64,
}

/// A task that finished or failed.
#[derive(Clone, Debug, Serialize, FromRow)]
pub struct EndedTask {
    /// Task id.
    pub id: String,
    /// Document id.
    pub doc_id: String,
    /// Document file name.
    pub document_name: Option<String>,
    /// 1 done, -1 failed.
    pub progress: f64,
    /// RAGFlow's progress log; on failure it holds the error.
    pub progress_msg: Option<String>,
    /// When the task ended, unix milliseconds.
    pub update_time: i64,
    /// `''` for ordinary parsing, else `dataflow`, `graph`, ...
    pub task_type: String,
    /// Seconds the task took.
    pub process_duration: Option<f64>,
}

/// RAGFlow's database, pooled (connections made on first use).
pub enum TaskSource {
    /// MySQL or MariaDB.
    Mysql(MySqlPool),
    /// PostgreSQL.
    Postgres(PgPool),
}

impl TaskSource {
    /// A pool for `[db]`; nothing connects until the first query.
    pub fn new(config: &DbConfig, timeout: Duration) -> Result<Self, KeyError> {
        let url = config.url.expose();
        Ok(match config.kind {
            DbKind::Mysql => Self::Mysql(
                MySqlPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(timeout)
                    .connect_lazy_with(
                        MySqlConnectOptions::from_url(url)
                            .map_err(|e| KeyError::new("db.url", e.to_string()))?
                            .disable_statement_logging(),
                    ),
            ),
            DbKind::Postgres => Self::Postgres(
                PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(timeout)
                    .connect_lazy_with(
                        PgConnectOptions::from_url(url)
                            .map_err(|e| KeyError::new("db.url", e.to_string()))?
                            .disable_statement_logging(),
                    ),
            ),
        })
    }

    /// The pipeline's tasks created at or after `since_ms`; in progress and not updated
    /// since `stuck_before_ms` counts as stuck.
    pub async fn pipeline(
        &self,
        since_ms: i64,
        stuck_before_ms: i64,
    ) -> Result<(Pipeline, Option<StuckTask>), sqlx::Error> {
        let pipeline: Pipeline = match self {
            Self::Mysql(pool) => {
                sqlx::query_as(MYSQL_PIPELINE)
                    .bind(stuck_before_ms)
                    .bind(since_ms)
                    .fetch_one(pool)
                    .await?
            }
            Self::Postgres(pool) => {
                sqlx::query_as(POSTGRES_PIPELINE)
                    .bind(stuck_before_ms)
                    .bind(since_ms)
                    .fetch_one(pool)
                    .await?
            }
        };
        if pipeline.stuck == 0 {
            return Ok((pipeline, None));
        }
        let stuck = match self {
            Self::Mysql(pool) => {
                sqlx::query_as(MYSQL_STUCK)
                    .bind(stuck_before_ms)
                    .bind(since_ms)
                    .fetch_optional(pool)
                    .await?
            }
            Self::Postgres(pool) => {
                sqlx::query_as(POSTGRES_STUCK)
                    .bind(stuck_before_ms)
                    .bind(since_ms)
                    .fetch_optional(pool)
                    .await?
            }
        };
        Ok((pipeline, stuck))
    }

    /// Tasks that ended in `[from_ms, to_ms)`, oldest first.
    pub async fn ended_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<EndedTask>, sqlx::Error> {
        match self {
            Self::Mysql(pool) => {
                sqlx::query_as(MYSQL_QUERY)
                    .bind(from_ms)
                    .bind(to_ms)
                    .bind(MAX_TASKS)
                    .fetch_all(pool)
                    .await
            }
            Self::Postgres(pool) => {
                sqlx::query_as(POSTGRES_QUERY)
                    .bind(from_ms)
                    .bind(to_ms)
                    .bind(MAX_TASKS)
                    .fetch_all(pool)
                    .await
            }
        }
    }
}
