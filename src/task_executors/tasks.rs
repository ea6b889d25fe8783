//! RAGFlow's `task` table, read from its own database.
//! - The tasks that ended in an interval: rows whose `update_time` (unix milliseconds)
//!   falls in the window and whose `progress` is 1 (done) or -1 (failed), with the
//!   document's name from its `document` table. RAGFlow does not record which executor ran
//!   a task; the caller marks the ones that were in the executor's `current` tasks.
//! - The parsing pipeline: tasks queued (`progress` 0) and in progress (between 0 and 1),
//!   and those in progress without an update for a while.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use sqlx::FromRow;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};

use crate::config::{DbConfig, DbKind, KeyError};
use crate::connect;
use crate::dialect::Dialect;
use crate::net;

/// At most this many tasks are listed for one interval.
pub const MAX_TASKS: i64 = 500;

/// The statements, each written once and rendered in the database's dialect.
struct Statements {
    /// Tasks that ended in a window (from, to, limit).
    ended: String,
    /// Queued, running and stuck counts (stuck before, since).
    pipeline: String,
    /// The longest-silent task in progress (stuck before, since).
    stuck: String,
}

impl Statements {
    fn new(dialect: Dialect) -> Self {
        let p = |n| dialect.placeholder(n);
        let (p1, p2, p3) = (p(1), p(2), p(3));
        let double = dialect.double();
        Self {
            ended: format!(
                "SELECT t.id, t.doc_id, d.name AS document_name, \
                 CAST(t.progress AS {double}) AS progress, t.progress_msg, t.update_time, t.task_type, \
                 CAST(t.process_duration AS {double}) AS process_duration \
                 FROM task t LEFT JOIN document d ON d.id = t.doc_id \
                 WHERE t.update_time >= {p1} AND t.update_time < {p2} AND (t.progress = 1 OR t.progress = -1) \
                 ORDER BY t.update_time LIMIT {p3}"
            ),
            pipeline: format!(
                "SELECT \
                 COUNT(CASE WHEN progress = 0 THEN 1 END) AS queued, \
                 MIN(CASE WHEN progress = 0 THEN create_time END) AS oldest_queued_ms, \
                 COUNT(CASE WHEN progress > 0 AND progress < 1 THEN 1 END) AS running, \
                 COUNT(CASE WHEN progress > 0 AND progress < 1 AND update_time < {p1} THEN 1 END) AS stuck \
                 FROM task WHERE create_time >= {p2}"
            ),
            stuck: format!(
                "SELECT t.id, d.name AS document_name, \
                 CAST(t.progress AS {double}) AS progress, t.progress_msg, t.update_time \
                 FROM task t LEFT JOIN document d ON d.id = t.doc_id \
                 WHERE t.progress > 0 AND t.progress < 1 AND t.update_time < {p1} AND t.create_time >= {p2} \
                 ORDER BY t.update_time LIMIT 1"
            ),
        }
    }
}

/// The parsing pipeline's tasks created since some time.
#[derive(Clone, Debug, FromRow)]
pub struct Pipeline {
    /// Queued, not started.
    pub queued: i64,
    /// When the oldest queued task was created, unix milliseconds as RAGFlow stores it.
    oldest_queued_ms: Option<i64>,
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
    /// Its last update, unix milliseconds as RAGFlow stores it.
    update_time: i64,
}

impl Pipeline {
    /// When the oldest queued task was created.
    pub fn oldest_queued(&self) -> Option<Timestamp> {
        self.oldest_queued_ms.map(unix_ms)
    }
}

impl StuckTask {
    /// When it was last updated.
    pub fn updated(&self) -> Timestamp {
        unix_ms(self.update_time)
    }
}

/// A time RAGFlow stored as unix milliseconds (its own clock; clamped to what a time can be).
fn unix_ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
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

/// RAGFlow's database, pooled (connections made on first use), with its statements.
pub struct TaskSource {
    pool: TaskPool,
    statements: Statements,
}

/// The pool of whichever database RAGFlow uses.
enum TaskPool {
    Mysql(MySqlPool),
    Postgres(PgPool),
}

impl TaskSource {
    /// A pool for `[db]` (trusting its `tls_ca_file` too); nothing connects until the
    /// first query.
    pub fn new(config: &DbConfig, timeout: Duration) -> Result<Self, KeyError> {
        let login = config.login();
        let ca_file = config.settings.tls_ca_file.as_ref();
        let refused = |e: String| KeyError::new("db.url", e);
        let (pool, dialect) = match config.kind {
            DbKind::Mysql => (
                TaskPool::Mysql(
                    MySqlPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(timeout)
                        .connect_lazy_with(
                            net::mysql_tls(
                                connect::mysql(&login).map_err(|e| refused(e.to_string()))?,
                                ca_file,
                            )
                            .map_err(refused)?,
                        ),
                ),
                Dialect::Mysql,
            ),
            DbKind::Postgres => (
                TaskPool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(timeout)
                        .connect_lazy_with(
                            net::postgres_tls(
                                connect::postgres(&login).map_err(|e| refused(e.to_string()))?,
                                ca_file,
                            )
                            .map_err(refused)?,
                        ),
                ),
                Dialect::Postgres,
            ),
        };
        Ok(Self {
            pool,
            statements: Statements::new(dialect),
        })
    }

    /// The pipeline's tasks created at or after `since`; in progress and not updated since
    /// `stuck_before` counts as stuck.
    pub async fn pipeline(
        &self,
        since: Timestamp,
        stuck_before: Timestamp,
    ) -> Result<(Pipeline, Option<StuckTask>), sqlx::Error> {
        let params = [stuck_before.as_millisecond(), since.as_millisecond()];
        let pipeline: Pipeline = self
            .rows(&self.statements.pipeline, &params)
            .await?
            .into_iter()
            .next()
            .ok_or(sqlx::Error::RowNotFound)?;
        if pipeline.stuck == 0 {
            return Ok((pipeline, None));
        }
        let stuck = self.rows(&self.statements.stuck, &params).await?;
        Ok((pipeline, stuck.into_iter().next()))
    }

    /// Tasks that ended in `[from, to)`, oldest first.
    pub async fn ended_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<EndedTask>, sqlx::Error> {
        let params = [from.as_millisecond(), to.as_millisecond(), MAX_TASKS];
        self.rows(&self.statements.ended, &params).await
    }

    /// The rows `statement` returns with `params` bound in order.
    async fn rows<T>(&self, statement: &str, params: &[i64]) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, MySqlRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        match &self.pool {
            TaskPool::Mysql(pool) => {
                let query = params
                    .iter()
                    .fold(sqlx::query_as(statement), |query, param| query.bind(*param));
                query.fetch_all(pool).await
            }
            TaskPool::Postgres(pool) => {
                let query = params
                    .iter()
                    .fold(sqlx::query_as(statement), |query, param| query.bind(*param));
                query.fetch_all(pool).await
            }
        }
    }
}
