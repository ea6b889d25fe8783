//! The cluster's rows in the shared PostgreSQL history: the lease, the observers' presence,
//! their views of each component, and the alerts firing. Every time is taken from the
//! database's clock in the statement itself, so no replica's clock decides who leads; every
//! write about alerts is fenced by the lease, so a replica that lost it writes nothing.

use std::time::Duration;

use jiff::Timestamp;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Row};

use super::quorum::ObserverView;
use crate::status::Status;

/// The database's clock, in unix milliseconds.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The lease row's name (one leader per history).
const LEASE: &str = "leader";

/// Who holds the lease, as the table says.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseRow {
    /// The holder's observer name.
    pub holder: String,
    /// Its term: one more at every change of holder.
    pub term: i64,
    /// Whether it is still in force on the database's clock.
    pub valid: bool,
}

/// An observer and when it last wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ObserverRow {
    /// Its name.
    pub name: String,
    /// When it last wrote.
    pub last_seen: Timestamp,
    /// Whether that was within one lease.
    pub live: bool,
}

/// A firing alert as the leader recorded it.
#[derive(Clone, Debug, PartialEq)]
pub struct FiringRow {
    /// Component key.
    pub component: String,
    /// Its status when it fired.
    pub status: Status,
    /// Its status before.
    pub previous_status: Status,
    /// The first failure's error.
    pub error: Option<String>,
    /// When the first observer's failures began.
    pub started_at: Timestamp,
    /// The term of the leader that fired it.
    pub term: i64,
}

/// The cluster's statements on their own small pool, so a busy history writer never
/// delays a lease renewal.
pub struct ClusterStore {
    pool: PgPool,
    lease_ms: i64,
}

impl ClusterStore {
    /// A store on the database `options` reach; `lease` is the lease's length and how
    /// recently an observer must have written to be live. Waits at most `timeout` for a
    /// connection.
    pub fn new(
        options: sqlx::postgres::PgConnectOptions,
        lease: Duration,
        timeout: Duration,
    ) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(timeout)
            .connect_lazy_with(options);
        Self {
            pool,
            lease_ms: i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// Takes the lease when it is free or expired, or renews it when `holder_id` holds it;
    /// returns the term held, or `None` when another holds it.
    pub async fn acquire(&self, holder: &str, holder_id: &str) -> Result<Option<i64>, sqlx::Error> {
        let statement = format!(
            "INSERT INTO cluster_lease (name, holder, holder_id, term, expires_at_ms) \
             VALUES ($1, $2, $3, 1, {NOW_MS} + $4) \
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, \
               holder_id = EXCLUDED.holder_id, \
               term = CASE WHEN cluster_lease.holder_id = EXCLUDED.holder_id \
                 THEN cluster_lease.term ELSE cluster_lease.term + 1 END, \
               expires_at_ms = EXCLUDED.expires_at_ms \
             WHERE cluster_lease.holder_id = EXCLUDED.holder_id \
               OR cluster_lease.expires_at_ms < {NOW_MS} \
             RETURNING term"
        );
        let row = sqlx::query(&statement)
            .bind(LEASE)
            .bind(holder)
            .bind(holder_id)
            .bind(self.lease_ms)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get::<i64, _>(0)).transpose()
    }

    /// Gives the lease up at once (a clean shutdown), so another takes over without
    /// waiting for it to expire.
    pub async fn release(&self, holder_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "UPDATE cluster_lease SET expires_at_ms = {NOW_MS} - 1 \
             WHERE name = $1 AND holder_id = $2"
        ))
        .bind(LEASE)
        .bind(holder_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Who holds the lease.
    pub async fn lease(&self) -> Result<Option<LeaseRow>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT holder, term, expires_at_ms > {NOW_MS} FROM cluster_lease WHERE name = $1"
        ))
        .bind(LEASE)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LeaseRow {
                holder: r.try_get(0)?,
                term: r.try_get(1)?,
                valid: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// Notes that `observer` is here, and writes its changed views in the same
    /// transaction.
    pub async fn report(
        &self,
        observer: &str,
        views: &[(String, ObserverView)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO cluster_observers (observer, last_seen_ms) VALUES ($1, {NOW_MS}) \
             ON CONFLICT (observer) DO UPDATE SET last_seen_ms = EXCLUDED.last_seen_ms"
        ))
        .bind(observer)
        .execute(&mut *tx)
        .await?;
        for (component, view) in views {
            write_view(&mut tx, observer, component, view).await?;
        }
        tx.commit().await
    }

    /// Every observer, newest first.
    pub async fn observers(&self) -> Result<Vec<ObserverRow>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT observer, last_seen_ms, last_seen_ms > {NOW_MS} - $1 \
             FROM cluster_observers ORDER BY last_seen_ms DESC, observer"
        ))
        .bind(self.lease_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ObserverRow {
                    name: r.try_get(0)?,
                    last_seen: millis(r.try_get(1)?),
                    live: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// The views of the live observers: (component, view).
    pub async fn live_views(&self) -> Result<Vec<(String, ObserverView)>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT v.component, v.observer, v.status, v.failures, v.successes, \
               v.failing_since_ms, v.failing_from, v.first_error, v.checked_at_ms, v.error \
             FROM cluster_views v JOIN cluster_observers o ON o.observer = v.observer \
             WHERE o.last_seen_ms > {NOW_MS} - $1 ORDER BY v.component, v.observer"
        ))
        .bind(self.lease_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(read_view).collect()
    }

    /// The alerts firing.
    pub async fn firing(&self) -> Result<Vec<FiringRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT component, status, previous_status, error, started_at_ms, term \
             FROM cluster_alerts ORDER BY component",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FiringRow {
                    component: r.try_get(0)?,
                    status: status(r.try_get(1)?)?,
                    previous_status: status(r.try_get(2)?)?,
                    error: r.try_get(3)?,
                    started_at: millis(r.try_get(4)?),
                    term: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Records an alert as firing, if `holder_id` still holds the lease in `term` and it
    /// was not firing; whether it was recorded (and so is to be sent).
    pub async fn fire(&self, holder_id: &str, alert: &FiringRow) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(&format!(
            "INSERT INTO cluster_alerts \
               (component, status, previous_status, error, started_at_ms, term) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE {} \
             ON CONFLICT (component) DO NOTHING",
            fence(6, 7)
        ))
        .bind(&alert.component)
        .bind(alert.status.as_str())
        .bind(alert.previous_status.as_str())
        .bind(&alert.error)
        .bind(alert.started_at.as_millisecond())
        .bind(alert.term)
        .bind(holder_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records an alert as resolved, if `holder_id` still holds the lease in `term`;
    /// whether it was firing (and so its resolution is to be sent).
    pub async fn resolve(
        &self,
        holder_id: &str,
        term: i64,
        component: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(&format!(
            "DELETE FROM cluster_alerts WHERE component = $1 AND {}",
            fence(2, 3)
        ))
        .bind(component)
        .bind(term)
        .bind(holder_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The guard of every alert write: the lease is held by parameter `$holder` in term
/// parameter `$term`, and in force.
fn fence(term: usize, holder: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM cluster_lease WHERE name = '{LEASE}' AND holder_id = ${holder} \
         AND term = ${term} AND expires_at_ms > {NOW_MS})"
    )
}

async fn write_view(
    tx: &mut PgConnection,
    observer: &str,
    component: &str,
    view: &ObserverView,
) -> Result<(), sqlx::Error> {
    let (since, from, first_error) = match &view.first_failure {
        Some((at, error, from)) => (
            Some(at.as_millisecond()),
            Some(from.as_str()),
            error.as_deref(),
        ),
        None => (None, None, None),
    };
    sqlx::query(
        "INSERT INTO cluster_views (observer, component, status, failures, successes, \
           failing_since_ms, failing_from, first_error, checked_at_ms, error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (observer, component) DO UPDATE SET status = EXCLUDED.status, \
           failures = EXCLUDED.failures, successes = EXCLUDED.successes, \
           failing_since_ms = EXCLUDED.failing_since_ms, failing_from = EXCLUDED.failing_from, \
           first_error = EXCLUDED.first_error, checked_at_ms = EXCLUDED.checked_at_ms, \
           error = EXCLUDED.error",
    )
    .bind(observer)
    .bind(component)
    .bind(view.status.as_str())
    .bind(i64::from(view.failures))
    .bind(i64::from(view.successes))
    .bind(since)
    .bind(from)
    .bind(first_error)
    .bind(view.checked_at.as_millisecond())
    .bind(view.error.as_deref())
    .execute(tx)
    .await?;
    Ok(())
}

fn read_view(r: &PgRow) -> Result<(String, ObserverView), sqlx::Error> {
    let since: Option<i64> = r.try_get(5)?;
    let from: Option<String> = r.try_get(6)?;
    let first_failure = match (since, from) {
        (Some(at), Some(from)) => Some((millis(at), r.try_get(7)?, status(from)?)),
        _ => None,
    };
    let count = |i: usize| -> Result<u32, sqlx::Error> {
        Ok(u32::try_from(r.try_get::<i64, _>(i)?).unwrap_or(u32::MAX))
    };
    Ok((
        r.try_get(0)?,
        ObserverView {
            observer: r.try_get(1)?,
            status: status(r.try_get(2)?)?,
            failures: count(3)?,
            successes: count(4)?,
            first_failure,
            checked_at: millis(r.try_get(8)?),
            error: r.try_get(9)?,
        },
    ))
}

fn millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn status(name: String) -> Result<Status, sqlx::Error> {
    name.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))
}
