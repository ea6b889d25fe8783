//! What both databases run, written once: statements use `$n` placeholders in first-use
//! order (PostgreSQL's syntax, which SQLite reads as named parameters bound in that order),
//! and the functions are generic over sqlx's `Database`.

use sqlx::migrate::MigrateError;
use sqlx::{
    ColumnIndex, ConnectOptions, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type,
};

use super::migrations::{Dialect, migrator};
use super::{
    Batch, Bucket, Counts, ExecutorRecord, HistoryError, Incident, IncidentAction, IncidentQuery,
    OpenIncident, Store, incident_action, parse_status, rollups,
};

/// Rows per multi-row INSERT (6 parameters each).
const INSERT_CHUNK: usize = 1000;

const INSERT_CHANGE: &str = "INSERT INTO status_changes (observer, component, at_ms, from_status, to_status, error) VALUES ($1, $2, $3, $4, $5, $6)";
const OPEN_INCIDENT: &str = "SELECT id, worst_status, last_status FROM incidents WHERE observer = $1 AND component = $2 AND ended_at_ms IS NULL ORDER BY id DESC LIMIT 1";
const OPEN: &str = "INSERT INTO incidents (observer, component, from_status, worst_status, last_status, started_at_ms, first_error, changes) VALUES ($1, $2, $3, $4, $4, $5, $6, 1)";
const UPDATE: &str =
    "UPDATE incidents SET worst_status = $1, last_status = $2, changes = changes + 1 WHERE id = $3";
const CLOSE: &str = "UPDATE incidents SET ended_at_ms = $1, last_status = 'green', changes = changes + 1 WHERE id = $2";
/// The newest closed and the newest open incidents, each walked down the start-time index
/// and cut at the limit (one ORDER BY over both sorted every incident of the period); the
/// caller puts the open ones first and keeps `limit` in all.
const INCIDENTS: &str = "SELECT * FROM (SELECT id, observer, component, from_status, worst_status, last_status, started_at_ms, ended_at_ms, first_error, changes \
     FROM incidents WHERE ended_at_ms >= $1 AND ($2 IS NULL OR component = $2) ORDER BY started_at_ms DESC LIMIT $3) AS closed \
     UNION ALL \
     SELECT * FROM (SELECT id, observer, component, from_status, worst_status, last_status, started_at_ms, ended_at_ms, first_error, changes \
     FROM incidents WHERE ended_at_ms IS NULL AND ($2 IS NULL OR component = $2) ORDER BY started_at_ms DESC LIMIT $3) AS open";
const REMEMBER_EXECUTOR: &str = "INSERT INTO executors (observer, name, last_at_ms, heartbeat) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (observer, name) DO UPDATE SET last_at_ms = excluded.last_at_ms, heartbeat = excluded.heartbeat \
     WHERE excluded.last_at_ms > executors.last_at_ms";
const EXECUTORS: &str =
    "SELECT name, last_at_ms, heartbeat FROM executors WHERE observer = $1 ORDER BY name";
const CHANGES_SINCE: &str = "SELECT COUNT(*) FROM status_changes WHERE component = $1 AND at_ms >= $2 AND from_status IS NOT NULL";

/// Bounded deletes, each with (cut-off, limit): raw results and minute roll-ups follow the
/// results retention, the rest the incidents retention.
const PRUNE: [(&str, bool); 6] = [
    (
        "DELETE FROM results WHERE id IN (SELECT id FROM results WHERE checked_at_ms < $1 LIMIT $2)",
        true,
    ),
    (
        "DELETE FROM rollups WHERE (component, resolution_s, bucket_ms) IN (SELECT component, resolution_s, bucket_ms FROM rollups WHERE resolution_s = 60 AND bucket_ms < $1 LIMIT $2)",
        true,
    ),
    (
        "DELETE FROM rollups WHERE (component, resolution_s, bucket_ms) IN (SELECT component, resolution_s, bucket_ms FROM rollups WHERE resolution_s = 3600 AND bucket_ms < $1 LIMIT $2)",
        false,
    ),
    (
        "DELETE FROM status_changes WHERE id IN (SELECT id FROM status_changes WHERE at_ms < $1 LIMIT $2)",
        false,
    ),
    (
        "DELETE FROM incidents WHERE id IN (SELECT id FROM incidents WHERE ended_at_ms < $1 LIMIT $2)",
        false,
    ),
    (
        "DELETE FROM executors WHERE (observer, name) IN (SELECT observer, name FROM executors WHERE last_at_ms < $1 LIMIT $2)",
        false,
    ),
];

/// A history store on a sqlx database: the pool, the dialect's statements, and how to read
/// a driver's affected-row count. SQLite and PostgreSQL differ only in how they connect.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
    name: String,
    dialect: Dialect,
    upsert: String,
    buckets: String,
    affected: fn(&DB::QueryResult) -> u64,
}

impl<DB: Database> SqlStore<DB> {
    /// A store on `pool`; `name` says which in errors, `greatest` is the dialect's
    /// two-argument maximum.
    pub fn new(
        pool: Pool<DB>,
        name: String,
        dialect: Dialect,
        greatest: &str,
        affected: fn(&DB::QueryResult) -> u64,
    ) -> Self {
        Self {
            pool,
            name,
            dialect,
            upsert: super::rollup_upsert_sql(param, greatest),
            buckets: super::bucket_query_sql(param),
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
        match migrator(self.dialect)
            .await
            .map_err(failed)?
            .run(&self.pool)
            .await
        {
            Ok(()) => Ok(()),
            Err(MigrateError::Execute(source)) => {
                Err(failed(MigrateError::Execute(self.cause(source).await)))
            }
            Err(other) => Err(failed(other)),
        }
    }

    async fn write(&self, observer: &str, batch: &Batch) -> Result<(), HistoryError> {
        self.explained(write(&self.pool, &self.upsert, observer, batch).await)
            .await
    }

    async fn buckets(
        &self,
        component: &str,
        resolution_s: i64,
        since_ms: i64,
        until_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<Bucket>, HistoryError> {
        self.explained(
            buckets(
                &self.pool,
                &self.buckets,
                component,
                resolution_s,
                since_ms,
                until_ms,
                step_ms,
            )
            .await,
        )
        .await
    }

    async fn incidents(&self, query: &IncidentQuery) -> Result<Vec<Incident>, HistoryError> {
        self.explained(incidents(&self.pool, query).await).await
    }

    async fn changes_since(&self, component: &str, since_ms: i64) -> Result<i64, HistoryError> {
        self.explained(changes_since(&self.pool, component, since_ms).await)
            .await
    }

    async fn executors(&self, observer: &str) -> Result<Vec<ExecutorRecord>, HistoryError> {
        self.explained(executors(&self.pool, observer).await).await
    }

    async fn prune(
        &self,
        results_before_ms: i64,
        incidents_before_ms: i64,
        limit: i64,
    ) -> Result<u64, HistoryError> {
        self.explained(
            prune(
                &self.pool,
                results_before_ms,
                incidents_before_ms,
                limit,
                self.affected,
            )
            .await,
        )
        .await
    }
}

/// A `$n` placeholder.
pub fn param(n: usize) -> String {
    format!("${n}")
}

/// Writes a batch in one transaction.
pub async fn write<DB>(
    pool: &Pool<DB>,
    upsert: &str,
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
    let mut tx = pool.begin().await?;
    for chunk in batch.results.chunks(INSERT_CHUNK) {
        let statement = super::insert_results_sql(param, chunk.len());
        let mut insert = sqlx::query::<DB>(&statement);
        for r in chunk {
            insert = insert
                .bind(observer)
                .bind(r.component.as_str())
                .bind(r.checked_at_ms)
                .bind(r.status.as_str())
                .bind(r.elapsed_ms)
                .bind(r.error.as_deref());
        }
        insert.execute(&mut *tx).await?;
    }
    for rollup in rollups(&batch.results) {
        let mut query = sqlx::query::<DB>(upsert)
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
        sqlx::query::<DB>(INSERT_CHANGE)
            .bind(observer)
            .bind(change.component.as_str())
            .bind(change.at_ms)
            .bind(change.from.map(|s| s.as_str()))
            .bind(change.to.as_str())
            .bind(change.error.as_deref())
            .execute(&mut *tx)
            .await?;
        let open = match sqlx::query::<DB>(OPEN_INCIDENT)
            .bind(observer)
            .bind(change.component.as_str())
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(row) => Some(OpenIncident {
                id: row.try_get(0)?,
                worst: parse_status(row.try_get(1)?),
                last: parse_status(row.try_get(2)?),
            }),
            None => None,
        };
        let statement = match incident_action(open.as_ref(), change) {
            IncidentAction::Open { from, to } => sqlx::query::<DB>(OPEN)
                .bind(observer)
                .bind(change.component.as_str())
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(change.at_ms)
                .bind(change.error.as_deref()),
            IncidentAction::Update { id, worst, last } => sqlx::query::<DB>(UPDATE)
                .bind(worst.as_str())
                .bind(last.as_str())
                .bind(id),
            IncidentAction::Close { id } => sqlx::query::<DB>(CLOSE).bind(change.at_ms).bind(id),
            IncidentAction::Nothing => continue,
        };
        statement.execute(&mut *tx).await?;
    }
    for executor in &batch.executors {
        sqlx::query::<DB>(REMEMBER_EXECUTOR)
            .bind(observer)
            .bind(executor.name.as_str())
            .bind(executor.at_ms)
            .bind(executor.heartbeat.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// The executors an observer remembers.
pub async fn executors<DB>(
    pool: &Pool<DB>,
    observer: &str,
) -> Result<Vec<ExecutorRecord>, sqlx::Error>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let rows = sqlx::query::<DB>(EXECUTORS)
        .bind(observer)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(ExecutorRecord {
                name: row.try_get(0)?,
                at_ms: row.try_get(1)?,
                heartbeat: row.try_get(2)?,
            })
        })
        .collect()
}

/// Summed roll-ups per step.
pub async fn buckets<DB>(
    pool: &Pool<DB>,
    query: &str,
    component: &str,
    resolution_s: i64,
    since_ms: i64,
    until_ms: i64,
    step_ms: i64,
) -> Result<Vec<Bucket>, sqlx::Error>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'r> f64: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let rows = sqlx::query::<DB>(query)
        .bind(step_ms)
        .bind(component)
        .bind(resolution_s)
        .bind(since_ms)
        .bind(until_ms)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
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
            Ok(Bucket::from_sums(row.try_get(0)?, &rollup))
        })
        .collect()
}

/// Incidents, open first, then newest first.
pub async fn incidents<DB>(
    pool: &Pool<DB>,
    query: &IncidentQuery,
) -> Result<Vec<Incident>, sqlx::Error>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'r> Option<i64>: Decode<'r, DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB>,
    usize: ColumnIndex<DB::Row>,
{
    let rows = sqlx::query::<DB>(INCIDENTS)
        .bind(query.since_ms)
        .bind(query.component.as_deref())
        .bind(query.limit)
        .fetch_all(pool)
        .await?;
    let mut list = rows
        .iter()
        .map(|row| {
            Ok(Incident {
                id: row.try_get(0)?,
                observer: row.try_get(1)?,
                component: row.try_get(2)?,
                from: row.try_get(3)?,
                worst: row.try_get(4)?,
                last: row.try_get(5)?,
                started_at_ms: row.try_get(6)?,
                ended_at_ms: row.try_get(7)?,
                first_error: row.try_get(8)?,
                changes: row.try_get(9)?,
            })
        })
        .collect::<Result<Vec<Incident>, sqlx::Error>>()?;
    // Open ones first, then the newest.
    list.sort_by_key(|i| (i.ended_at_ms.is_some(), std::cmp::Reverse(i.started_at_ms)));
    list.truncate(usize::try_from(query.limit).unwrap_or(0));
    Ok(list)
}

/// Status changes of a component since a time, not counting first results after starts.
pub async fn changes_since<DB>(
    pool: &Pool<DB>,
    component: &str,
    since_ms: i64,
) -> Result<i64, sqlx::Error>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB>,
    usize: ColumnIndex<DB::Row>,
{
    sqlx::query_scalar::<DB, i64>(CHANGES_SINCE)
        .bind(component)
        .bind(since_ms)
        .fetch_one(pool)
        .await
}

/// Deletes at most `limit` rows per table older than the cut-offs; `affected` reads a
/// driver's row count.
pub async fn prune<DB>(
    pool: &Pool<DB>,
    results_before_ms: i64,
    incidents_before_ms: i64,
    limit: i64,
    affected: impl Fn(&DB::QueryResult) -> u64,
) -> Result<u64, sqlx::Error>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let mut deleted = 0;
    for (sql, by_results) in PRUNE {
        let before = if by_results {
            results_before_ms
        } else {
            incidents_before_ms
        };
        let done = sqlx::query::<DB>(sql)
            .bind(before)
            .bind(limit)
            .execute(pool)
            .await?;
        deleted += affected(&done);
    }
    Ok(deleted)
}
