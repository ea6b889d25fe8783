//! The store both databases share: [`SqlStore`] runs the [`Statements`] of its dialect
//! through sqlx, generic over the `Database`. Here, and only here, times become unix
//! milliseconds and statuses their stored names, and back.

use std::collections::BTreeMap;

use jiff::Timestamp;
use sqlx::migrate::MigrateError;
use sqlx::pool::PoolConnection;
use sqlx::{
    ColumnIndex, ConnectOptions, Connection, Database, Decode, Encode, Executor, IntoArguments,
    Pool, Row, Type,
};

use super::HistoryError;
use super::incidents::{Incident, IncidentAction, IncidentQuery, OpenIncident, incident_action};
use super::migrations::migrator;
use super::records::{Batch, BeatRecord, ExecutorRecord, REMEMBERED_SPAN};
use super::rollups::{Bucket, BucketQuery, Counts, rollups};
use super::silences::{NewSilence, Silence};
use super::statements::{Retention, Statements};
use super::store::Store;
use crate::dialect::Dialect;
use crate::status::Status;

/// Rows per multi-row INSERT (6 parameters each).
const INSERT_CHUNK: usize = 1000;

/// A history store on a sqlx database: the pool, the dialect's statements, and how to read
/// a driver's affected-row count. SQLite and PostgreSQL differ only in how they connect.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
    name: String,
    dialect: Dialect,
    statements: Statements,
    affected: fn(&DB::QueryResult) -> u64,
}

impl<DB: Database> SqlStore<DB> {
    /// A store on `pool`; `name` says which in errors.
    pub fn new(
        pool: Pool<DB>,
        name: String,
        dialect: Dialect,
        affected: fn(&DB::QueryResult) -> u64,
    ) -> Self {
        Self {
            pool,
            name,
            dialect,
            statements: Statements::new(dialect),
            affected,
        }
    }

    /// The result with a failure named after this store. A pool that cannot open a
    /// connection retries until its acquire timeout and then says only "pool timed out":
    /// one direct attempt tells why (refused, unknown host, wrong password).
    async fn explained<T>(&self, result: Result<T, sqlx::Error>) -> Result<T, HistoryError> {
        match result {
            Ok(value) => Ok(value),
            Err(source) => Err(HistoryError::Database {
                store: self.name.clone(),
                source: self.cause(source).await,
            }),
        }
    }

    async fn cause(&self, source: sqlx::Error) -> sqlx::Error {
        if !matches!(source, sqlx::Error::PoolTimedOut) {
            return source;
        }
        let options = self.pool.connect_options();
        let wait = self.pool.options().get_acquire_timeout();
        match tokio::time::timeout(wait, options.connect()).await {
            Ok(Err(cause)) => cause,
            // It connects (the pool is merely busy), or it hangs: the pool's word stands.
            _ => source,
        }
    }
}

impl<DB> Store for SqlStore<DB>
where
    DB: Database,
    DB::Connection: sqlx::migrate::Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'r> Option<i64>: Decode<'r, DB>,
    for<'r> f64: Decode<'r, DB>,
    for<'r> &'r str: Decode<'r, DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn migrate(&self) -> Result<(), HistoryError> {
        let failed = |source| HistoryError::Migrate {
            store: self.name.clone(),
            source,
        };
        let migrator = migrator(self.dialect).await.map_err(failed)?;
        let migrated = match self.pool.acquire().await {
            Ok(mut conn) => {
                // `run` takes a pool or a concrete connection type only; this is what it calls.
                let migrated = migrator.run_direct(&mut *conn).await;
                if migrated.is_err() {
                    forget(&mut conn);
                }
                migrated
            }
            Err(error) => Err(MigrateError::Execute(error)),
        };
        match migrated {
            Ok(()) => Ok(()),
            Err(MigrateError::Execute(source)) => {
                Err(failed(MigrateError::Execute(self.cause(source).await)))
            }
            Err(other) => Err(failed(other)),
        }
    }

    async fn write(&self, observer: &str, batch: &Batch) -> Result<(), HistoryError> {
        let written = match self.pool.acquire().await {
            Ok(mut conn) => {
                let written = write(&mut conn, &self.statements, observer, batch).await;
                if written.is_err() {
                    forget(&mut conn);
                }
                written
            }
            Err(error) => Err(error),
        };
        self.explained(written).await
    }

    async fn buckets(&self, query: &BucketQuery<'_>) -> Result<Vec<Bucket>, HistoryError> {
        // A step longer than the span makes one bucket; any such step reads the same.
        let step_ms = i64::try_from(query.step.as_millis()).unwrap_or(i64::MAX);
        let rows = sqlx::query::<DB>(&self.statements.buckets)
            .bind(step_ms.max(1))
            .bind(query.component)
            .bind(query.resolution_s)
            .bind(query.since.as_millisecond())
            .bind(query.until.as_millisecond())
            .fetch_all(&self.pool)
            .await;
        self.explained(rows.and_then(|rows| rows.iter().map(bucket).collect()))
            .await
    }

    async fn incidents(&self, query: &IncidentQuery) -> Result<Vec<Incident>, HistoryError> {
        let rows = sqlx::query::<DB>(&self.statements.incidents)
            .bind(query.since.as_millisecond())
            .bind(query.component.as_deref())
            .bind(query.limit)
            .fetch_all(&self.pool)
            .await;
        let mut list: Vec<Incident> = self
            .explained(rows.and_then(|rows| rows.iter().map(incident).collect()))
            .await?;
        // Open ones first, then the newest.
        list.sort_by_key(|i| (i.ended_at.is_some(), std::cmp::Reverse(i.started_at)));
        list.truncate(usize::try_from(query.limit).unwrap_or(0));
        Ok(list)
    }

    async fn open_incidents(&self, observer: &str) -> Result<Vec<Incident>, HistoryError> {
        let rows = sqlx::query::<DB>(&self.statements.open_incidents)
            .bind(observer)
            .fetch_all(&self.pool)
            .await;
        self.explained(rows.and_then(|rows| rows.iter().map(incident).collect()))
            .await
    }

    async fn changes_since(&self, component: &str, since: Timestamp) -> Result<i64, HistoryError> {
        let count = sqlx::query_scalar::<DB, i64>(&self.statements.changes_since)
            .bind(component)
            .bind(since.as_millisecond())
            .fetch_one(&self.pool)
            .await;
        self.explained(count).await
    }

    async fn executors(&self, observer: &str) -> Result<Vec<ExecutorRecord>, HistoryError> {
        let rows = sqlx::query::<DB>(&self.statements.executors)
            .bind(observer)
            .fetch_all(&self.pool)
            .await;
        self.explained(rows.and_then(|rows| {
            rows.iter()
                .map(|row| {
                    Ok(ExecutorRecord {
                        name: row.try_get(0)?,
                        at: timestamp(row, 1)?,
                        heartbeat: row.try_get(2)?,
                    })
                })
                .collect()
        }))
        .await
    }

    async fn executor_beats(&self, observer: &str) -> Result<Vec<BeatRecord>, HistoryError> {
        let rows = sqlx::query::<DB>(&self.statements.executor_beats)
            .bind(observer)
            .fetch_all(&self.pool)
            .await;
        self.explained(rows.and_then(|rows| {
            rows.iter()
                .map(|row| {
                    Ok(BeatRecord {
                        executor: row.try_get(0)?,
                        at: timestamp(row, 1)?,
                        heartbeat: row.try_get(2)?,
                    })
                })
                .collect()
        }))
        .await
    }

    async fn silences(&self, now: Timestamp) -> Result<Vec<Silence>, HistoryError> {
        let rows = sqlx::query::<DB>(&self.statements.silences)
            .bind(now.as_millisecond())
            .fetch_all(&self.pool)
            .await;
        self.explained(rows.and_then(|rows| rows.iter().map(silence).collect()))
            .await
    }

    async fn add_silence(&self, new: &NewSilence) -> Result<Silence, HistoryError> {
        let components = serde_json::to_string(&new.components).expect("strings serialise");
        let id = sqlx::query_scalar::<DB, i64>(&self.statements.add_silence)
            .bind(components.as_str())
            .bind(new.created_at.as_millisecond())
            .bind(new.until.as_millisecond())
            .bind(new.comment.as_str())
            .fetch_one(&self.pool)
            .await;
        Ok(Silence {
            id: self.explained(id).await?,
            components: new.components.clone(),
            created_at: new.created_at,
            until: new.until,
            comment: new.comment.clone(),
        })
    }

    async fn delete_silence(&self, id: i64) -> Result<bool, HistoryError> {
        let done = sqlx::query::<DB>(&self.statements.delete_silence)
            .bind(id)
            .execute(&self.pool)
            .await;
        Ok((self.affected)(&self.explained(done).await?) > 0)
    }

    async fn prune(
        &self,
        results_before: Timestamp,
        incidents_before: Timestamp,
        limit: i64,
    ) -> Result<u64, HistoryError> {
        let mut deleted = 0;
        for (statement, retention) in &self.statements.prune {
            let before = match retention {
                Retention::Results => results_before,
                Retention::Incidents => incidents_before,
            };
            let done = sqlx::query::<DB>(statement)
                .bind(before.as_millisecond())
                .bind(limit)
                .execute(&self.pool)
                .await;
            deleted += (self.affected)(&self.explained(done).await?);
        }
        Ok(deleted)
    }
}

/// Closes a connection a failed transaction ran on instead of returning it to the pool.
/// The driver may have lost track of the transaction: SQLite rolls back by itself when
/// the disk is full, the driver's own ROLLBACK then fails, and it would run the next
/// batch as a savepoint inside a transaction never committed, reporting success while
/// its readers alone see the rows. A fresh connection has no such past.
fn forget<DB: Database>(conn: &mut PoolConnection<DB>) {
    conn.close_on_drop();
}

/// Writes a batch in one transaction.
async fn write<DB>(
    conn: &mut DB::Connection,
    statements: &Statements,
    observer: &str,
    batch: &Batch,
) -> Result<(), sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'r> &'r str: Decode<'r, DB>,
    usize: ColumnIndex<DB::Row>,
{
    let mut tx = conn.begin().await?;
    for chunk in batch.results.chunks(INSERT_CHUNK) {
        let statement = statements.insert_results(chunk.len());
        let mut insert = sqlx::query::<DB>(&statement);
        for r in chunk {
            insert = insert
                .bind(observer)
                .bind(r.component.as_str())
                .bind(r.checked_at.as_millisecond())
                .bind(r.status.as_str())
                .bind(r.elapsed_ms)
                .bind(r.error.as_deref());
        }
        insert.execute(&mut *tx).await?;
    }
    for rollup in rollups(&batch.results) {
        let mut query = sqlx::query::<DB>(&statements.upsert_rollup)
            .bind(rollup.component.as_str())
            .bind(rollup.resolution_s)
            .bind(rollup.bucket_ms)
            .bind(rollup.counts.green)
            .bind(rollup.counts.yellow)
            .bind(rollup.counts.red)
            .bind(rollup.counts.latency_sum_ms)
            .bind(rollup.counts.latency_max_ms);
        for count in rollup.counts.histogram {
            query = query.bind(count);
        }
        query.execute(&mut *tx).await?;
    }
    for change in &batch.changes {
        let at_ms = change.at.as_millisecond();
        sqlx::query::<DB>(&statements.insert_change)
            .bind(observer)
            .bind(change.component.as_str())
            .bind(at_ms)
            .bind(change.from.map(Status::as_str))
            .bind(change.to.as_str())
            .bind(change.error.as_deref())
            .execute(&mut *tx)
            .await?;
        let open = match sqlx::query::<DB>(&statements.open_incident)
            .bind(observer)
            .bind(change.component.as_str())
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(row) => Some(OpenIncident {
                id: row.try_get(0)?,
                worst: status(&row, 1)?,
                last: status(&row, 2)?,
            }),
            None => None,
        };
        let statement = match incident_action(open.as_ref(), change) {
            IncidentAction::Open { from, to } => sqlx::query::<DB>(&statements.open)
                .bind(observer)
                .bind(change.component.as_str())
                .bind(from.map(Status::as_str))
                .bind(to.as_str())
                .bind(at_ms)
                .bind(change.error.as_deref()),
            IncidentAction::Update { id, worst, last } => sqlx::query::<DB>(&statements.update)
                .bind(worst.as_str())
                .bind(last.as_str())
                .bind(id),
            IncidentAction::Close { id } => {
                sqlx::query::<DB>(&statements.close).bind(at_ms).bind(id)
            }
            IncidentAction::Nothing => continue,
        };
        statement.execute(&mut *tx).await?;
    }
    for executor in &batch.executors {
        sqlx::query::<DB>(&statements.remember_executor)
            .bind(observer)
            .bind(executor.name.as_str())
            .bind(executor.at.as_millisecond())
            .bind(executor.heartbeat.as_str())
            .execute(&mut *tx)
            .await?;
    }
    let mut newest_beats = BTreeMap::new();
    for beat in &batch.beats {
        sqlx::query::<DB>(&statements.remember_beat)
            .bind(observer)
            .bind(beat.executor.as_str())
            .bind(beat.at.as_millisecond())
            .bind(beat.heartbeat.as_str())
            .execute(&mut *tx)
            .await?;
        let newest = newest_beats
            .entry(beat.executor.as_str())
            .or_insert(beat.at);
        *newest = beat.at.max(*newest);
    }
    for (executor, newest) in newest_beats {
        let cut_off = newest
            .checked_sub(REMEMBERED_SPAN)
            .unwrap_or(Timestamp::MIN);
        sqlx::query::<DB>(&statements.trim_beats)
            .bind(observer)
            .bind(executor)
            .bind(cut_off.as_millisecond())
            .execute(&mut *tx)
            .await?;
    }
    for quiet in &batch.quiet {
        sqlx::query::<DB>(&statements.mark_quiet)
            .bind(quiet.reason)
            .bind(observer)
            .bind(quiet.component.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// A silence from a row of [`Statements::silences`].
fn silence<R: Row>(row: &R) -> Result<Silence, sqlx::Error>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> &'r str: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    usize: ColumnIndex<R>,
{
    let components: &str = row.try_get(1)?;
    Ok(Silence {
        id: row.try_get(0)?,
        components: serde_json::from_str(components).map_err(|e| column_error(1, e))?,
        created_at: timestamp(row, 2)?,
        until: timestamp(row, 3)?,
        comment: row.try_get(4)?,
    })
}

/// A bucket from a row of [`Statements::buckets`].
fn bucket<R: Row>(row: &R) -> Result<Bucket, sqlx::Error>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
    usize: ColumnIndex<R>,
{
    let mut rollup = Counts {
        green: row.try_get(1)?,
        yellow: row.try_get(2)?,
        red: row.try_get(3)?,
        latency_sum_ms: row.try_get(4)?,
        latency_max_ms: row.try_get(5)?,
        ..Counts::default()
    };
    for (slot, count) in rollup.histogram.iter_mut().enumerate() {
        *count = row.try_get(6 + slot)?;
    }
    let start = Timestamp::from_millisecond(row.try_get(0)?)
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Bucket::from_sums(start, &rollup))
}

/// An incident from a row of [`Statements::incidents`] or [`Statements::open_incidents`].
fn incident<R: Row>(row: &R) -> Result<Incident, sqlx::Error>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database>,
    for<'r> &'r str: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database>,
    usize: ColumnIndex<R>,
{
    let ended_at_ms: Option<i64> = row.try_get(7)?;
    Ok(Incident {
        id: row.try_get(0)?,
        observer: row.try_get(1)?,
        component: row.try_get(2)?,
        from: row
            .try_get::<Option<&str>, _>(3)?
            .map(|name| name.parse().map_err(|e| column_error(3, e)))
            .transpose()?,
        worst: status(row, 4)?,
        last: status(row, 5)?,
        started_at: timestamp(row, 6)?,
        ended_at: ended_at_ms.map(|ms| millisecond(ms, 7)).transpose()?,
        first_error: row.try_get(8)?,
        changes: row.try_get(9)?,
        quiet: row.try_get(10)?,
    })
}

/// The status stored by name in column `index`; a name that is none is an error.
fn status<R: Row>(row: &R, index: usize) -> Result<Status, sqlx::Error>
where
    for<'r> &'r str: Decode<'r, R::Database> + Type<R::Database>,
    usize: ColumnIndex<R>,
{
    let name: &str = row.try_get(index)?;
    name.parse().map_err(|e| column_error(index, e))
}

/// The time stored as unix milliseconds in column `index`.
fn timestamp<R: Row>(row: &R, index: usize) -> Result<Timestamp, sqlx::Error>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    usize: ColumnIndex<R>,
{
    millisecond(row.try_get(index)?, index)
}

fn millisecond(ms: i64, index: usize) -> Result<Timestamp, sqlx::Error> {
    Timestamp::from_millisecond(ms).map_err(|e| column_error(index, e))
}

fn column_error(
    index: usize,
    source: impl std::error::Error + Send + Sync + 'static,
) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source: Box::new(source),
    }
}
