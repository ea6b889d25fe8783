//! History: every probe result, per-minute and per-hour roll-ups, status changes and
//! incidents, kept in an embedded SQLite file (the default) or PostgreSQL (so replicas
//! can share it). The [`Store`] trait is implemented once, generic over the sqlx database
//! (`sql.rs`), and each database's file says only how it connects; roll-up arithmetic,
//! incident decisions and percentiles are plain code in this module.
//! Results reach the store through the [`writer`], in batches, off the probing path.

mod migrations;
mod postgres;
mod sql;
mod sqlite;
pub mod writer;

use std::future::Future;

use serde::Serialize;

use crate::config::ComponentKey;
use crate::status::Status;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Upper bounds (ms) of the latency histogram kept in roll-ups; the last bucket is +inf.
pub const LATENCY_BOUNDS_MS: [f64; 11] = [
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
];

/// Roll-up resolutions: minutes (24 h strips) and hours (7-day uptime).
pub const RESOLUTIONS_S: [i64; 2] = [60, 3600];

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

/// One probe result as stored.
#[derive(Clone, Debug)]
pub struct ResultRecord {
    /// Component key.
    pub component: ComponentKey,
    /// When the probe started, unix milliseconds.
    pub checked_at_ms: i64,
    /// Its status.
    pub status: Status,
    /// How long it took.
    pub elapsed_ms: f64,
    /// Why it was not green.
    pub error: Option<String>,
}

/// A component's status changed (or was first seen, `from: None`).
#[derive(Clone, Debug)]
pub struct ChangeRecord {
    /// Component key.
    pub component: ComponentKey,
    /// When, unix milliseconds.
    pub at_ms: i64,
    /// The previous status this process saw; `None` for the first result after start.
    pub from: Option<Status>,
    /// The new status.
    pub to: Status,
    /// Why it is not green.
    pub error: Option<String>,
}

/// A task executor's newest heartbeat, to remember it across restarts.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutorRecord {
    /// Executor name.
    pub name: String,
    /// Heartbeat time, unix milliseconds.
    pub at_ms: i64,
    /// The heartbeat as the executor wrote it.
    pub heartbeat: String,
}

/// What one write carries: results, changes and executors of one observer.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Results, oldest first.
    pub results: Vec<ResultRecord>,
    /// Status changes, oldest first.
    pub changes: Vec<ChangeRecord>,
    /// Executors whose newest heartbeat changed.
    pub executors: Vec<ExecutorRecord>,
}

impl Batch {
    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.results.len() + self.changes.len() + self.executors.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One roll-up row: a component's counts in one bucket, added onto what is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollup {
    /// Component key.
    pub component: ComponentKey,
    /// 60 or 3600.
    pub resolution_s: i64,
    /// Bucket start, unix milliseconds.
    pub bucket_ms: i64,
    /// What the bucket counted.
    pub counts: Counts,
}

/// Counts of results: per status, latency sum and maximum, and the latency histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    /// Results per status.
    pub green: i64,
    /// Results per status.
    pub yellow: i64,
    /// Results per status.
    pub red: i64,
    /// Sum of latencies.
    pub latency_sum_ms: f64,
    /// Largest latency.
    pub latency_max_ms: f64,
    /// Histogram counts per [`LATENCY_BOUNDS_MS`] bucket, then +inf.
    pub histogram: [i64; 12],
}

/// The roll-up rows a batch of results adds, one per component, resolution and bucket.
pub fn rollups(results: &[ResultRecord]) -> Vec<Rollup> {
    let mut rows: Vec<Rollup> = Vec::new();
    for result in results {
        for resolution_s in RESOLUTIONS_S {
            let span = resolution_s * 1000;
            let bucket_ms = result.checked_at_ms.div_euclid(span) * span;
            let index = match rows.iter().position(|r| {
                r.component == result.component
                    && r.resolution_s == resolution_s
                    && r.bucket_ms == bucket_ms
            }) {
                Some(index) => index,
                None => {
                    rows.push(Rollup {
                        component: result.component.clone(),
                        resolution_s,
                        bucket_ms,
                        counts: Counts::default(),
                    });
                    rows.len() - 1
                }
            };
            let row = &mut rows[index].counts;
            match result.status {
                Status::Green => row.green += 1,
                Status::Yellow => row.yellow += 1,
                Status::Red => row.red += 1,
            }
            row.latency_sum_ms += result.elapsed_ms;
            row.latency_max_ms = row.latency_max_ms.max(result.elapsed_ms);
            let slot = LATENCY_BOUNDS_MS
                .iter()
                .position(|bound| result.elapsed_ms <= *bound)
                .unwrap_or(LATENCY_BOUNDS_MS.len());
            row.histogram[slot] += 1;
        }
    }
    rows
}

/// Columns of the latency histogram, in [`LATENCY_BOUNDS_MS`] order then +inf.
pub const HISTOGRAM_COLUMNS: [&str; 12] = [
    "le_1", "le_5", "le_10", "le_25", "le_50", "le_100", "le_250", "le_500", "le_1000", "le_2500",
    "le_5000", "le_inf",
];

/// The statement that adds one roll-up row onto the stored one. `param(n)` writes the
/// n-th placeholder (1-based) and `greatest` names the two-argument maximum function.
pub fn rollup_upsert_sql(param: impl Fn(usize) -> String, greatest: &str) -> String {
    let counts: Vec<&str> = ["green", "yellow", "red", "latency_sum_ms"]
        .into_iter()
        .chain(HISTOGRAM_COLUMNS)
        .collect();
    let columns = [
        "component",
        "resolution_s",
        "bucket_ms",
        "green",
        "yellow",
        "red",
        "latency_sum_ms",
        "latency_max_ms",
    ]
    .into_iter()
    .chain(HISTOGRAM_COLUMNS)
    .collect::<Vec<_>>();
    let values: Vec<String> = (1..=columns.len()).map(&param).collect();
    let updates: Vec<String> = counts
        .iter()
        .map(|c| format!("{c} = rollups.{c} + excluded.{c}"))
        .chain([format!(
            "latency_max_ms = {greatest}(rollups.latency_max_ms, excluded.latency_max_ms)"
        )])
        .collect();
    format!(
        "INSERT INTO rollups ({}) VALUES ({}) ON CONFLICT (component, resolution_s, bucket_ms) DO UPDATE SET {}",
        columns.join(", "),
        values.join(", "),
        updates.join(", ")
    )
}

/// The statement that sums roll-ups per step (parameters: step, component, resolution,
/// since, until); `param(n)` writes the n-th placeholder.
pub fn bucket_query_sql(param: impl Fn(usize) -> String) -> String {
    let histogram: Vec<String> = HISTOGRAM_COLUMNS
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect();
    let step = param(1);
    format!(
        "SELECT (bucket_ms / {step}) * {step} AS start_ms, CAST(SUM(green) AS BIGINT), \
         CAST(SUM(yellow) AS BIGINT), CAST(SUM(red) AS BIGINT), SUM(latency_sum_ms), \
         MAX(latency_max_ms), {} FROM rollups WHERE component = {} AND resolution_s = {} \
         AND bucket_ms >= {} AND bucket_ms < {} GROUP BY start_ms ORDER BY start_ms",
        histogram.join(", "),
        param(2),
        param(3),
        param(4),
        param(5),
    )
}

/// A multi-row INSERT of `rows` results (6 parameters each, numbered in order).
pub fn insert_results_sql(param: impl Fn(usize) -> String, rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=6).map(|column| param(row * 6 + column)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO results (observer, component, checked_at_ms, status, elapsed_ms, error) VALUES {}",
        values.join(", ")
    )
}

/// An incident still open for a component, as the store has it.
#[derive(Clone, Debug)]
pub struct OpenIncident {
    /// Its row id.
    pub id: i64,
    /// Worst status so far.
    pub worst: Status,
    /// Latest status.
    pub last: Status,
}

/// What a status change does to the incidents of its component.
#[derive(Clone, Debug, PartialEq)]
pub enum IncidentAction {
    /// Open a new incident.
    Open {
        /// The status before (green when unknown).
        from: Status,
        /// The new, non-green status.
        to: Status,
    },
    /// The open incident changed status.
    Update {
        /// Its id.
        id: i64,
        /// Worst status now.
        worst: Status,
        /// Latest status.
        last: Status,
    },
    /// The open incident ended.
    Close {
        /// Its id.
        id: i64,
    },
    /// Nothing to record (e.g. the first result after a restart repeats what was open).
    Nothing,
}

/// Decides what a change does, given the incident open for its component (if any). After
/// a restart the first result arrives with `from: None`; the stored incident tells whether
/// the outage is still going on.
pub fn incident_action(open: Option<&OpenIncident>, change: &ChangeRecord) -> IncidentAction {
    match (open, change.to) {
        (Some(open), Status::Green) => IncidentAction::Close { id: open.id },
        (Some(open), to) if to != open.last => IncidentAction::Update {
            id: open.id,
            worst: open.worst.min(to),
            last: to,
        },
        (Some(_), _) | (None, Status::Green) => IncidentAction::Nothing,
        (None, to) => IncidentAction::Open {
            from: change.from.unwrap_or(Status::Green),
            to,
        },
    }
}

/// A status from its stored name.
pub fn parse_status(name: &str) -> Status {
    match name {
        "green" => Status::Green,
        "yellow" => Status::Yellow,
        _ => Status::Red,
    }
}

/// A span of history: the aggregated roll-ups (or results) of one step.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Bucket {
    /// Start of the step, unix milliseconds.
    pub start_ms: i64,
    /// Results per status.
    pub green: i64,
    /// Results per status.
    pub yellow: i64,
    /// Results per status.
    pub red: i64,
    /// Mean latency, ms.
    pub latency_mean_ms: Option<f64>,
    /// Median latency (from the histogram: the bucket's upper bound), ms.
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile latency (upper bound of its bucket), ms.
    pub latency_p95_ms: Option<f64>,
    /// Largest latency, ms.
    pub latency_max_ms: Option<f64>,
    /// Share of results that were ok (green or yellow); absent when there were none.
    pub uptime: Option<f64>,
}

impl Bucket {
    /// A bucket from summed roll-up counts.
    pub fn from_sums(start_ms: i64, rollup: &Counts) -> Self {
        let total = rollup.green + rollup.yellow + rollup.red;
        let latency = |value: f64| (total > 0).then_some(value);
        Self {
            start_ms,
            green: rollup.green,
            yellow: rollup.yellow,
            red: rollup.red,
            latency_mean_ms: latency(rollup.latency_sum_ms / total.max(1) as f64),
            latency_p50_ms: percentile(&rollup.histogram, 0.50, rollup.latency_max_ms),
            latency_p95_ms: percentile(&rollup.histogram, 0.95, rollup.latency_max_ms),
            latency_max_ms: latency(rollup.latency_max_ms),
            uptime: (total > 0).then(|| (rollup.green + rollup.yellow) as f64 / total as f64),
        }
    }
}

/// The upper bound of the histogram bucket holding quantile `q`, capped by the maximum.
fn percentile(histogram: &[i64; 12], q: f64, max: f64) -> Option<f64> {
    let total: i64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (slot, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= rank {
            let bound = LATENCY_BOUNDS_MS.get(slot).copied().unwrap_or(max);
            return Some(bound.min(max));
        }
    }
    Some(max)
}

/// Uptime shares over standard windows.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Uptime {
    /// Last 24 hours.
    pub last_24h: Option<f64>,
    /// Last 7 days.
    pub last_7d: Option<f64>,
}

/// A stored incident.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Incident {
    /// Row id.
    pub id: i64,
    /// Which ragwatch saw it.
    pub observer: String,
    /// Component key.
    pub component: String,
    /// Status before it began.
    pub from: String,
    /// Worst status during it.
    pub worst: String,
    /// Latest status (green once ended).
    pub last: String,
    /// Start, unix milliseconds.
    pub started_at_ms: i64,
    /// End, unix milliseconds; absent while open.
    pub ended_at_ms: Option<i64>,
    /// The error when it began.
    pub first_error: Option<String>,
    /// Status changes during it.
    pub changes: i64,
}

/// Which incidents to list.
#[derive(Clone, Debug)]
pub struct IncidentQuery {
    /// Only those still open or ended at or after this time.
    pub since_ms: i64,
    /// Only this component.
    pub component: Option<String>,
    /// At most this many.
    pub limit: i64,
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
    pub fn open(
        url: &crate::config::SecretUrl,
        timeout: std::time::Duration,
    ) -> Result<Self, String> {
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
        results_before_ms: i64,
        incidents_before_ms: i64,
        limit: i64,
    ) -> Result<u64, HistoryError> {
        match self {
            Self::Sqlite(s) => s.prune(results_before_ms, incidents_before_ms, limit).await,
            Self::Postgres(s) => s.prune(results_before_ms, incidents_before_ms, limit).await,
        }
    }
}

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

    /// Deletes at most `limit` rows older than the cut-offs; returns how many went.
    fn prune(
        &self,
        results_before_ms: i64,
        incidents_before_ms: i64,
        limit: i64,
    ) -> impl Future<Output = Result<u64, HistoryError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(component: ComponentKey, at: i64, status: Status, ms: f64) -> ResultRecord {
        ResultRecord {
            component,
            checked_at_ms: at,
            status,
            elapsed_ms: ms,
            error: None,
        }
    }

    #[test]
    fn rollups_group_by_component_resolution_and_bucket() {
        let rows = rollups(&[
            result(ComponentKey::Db, 60_000, Status::Green, 3.0),
            result(ComponentKey::Db, 119_999, Status::Red, 700.0),
            result(ComponentKey::Db, 120_000, Status::Yellow, 0.5),
            result(ComponentKey::Redis, 60_000, Status::Green, 1.0),
        ]);
        let minute = |c: ComponentKey, b: i64| {
            &rows
                .iter()
                .find(|r| r.component == c && r.resolution_s == 60 && r.bucket_ms == b)
                .unwrap()
                .counts
        };
        let first = minute(ComponentKey::Db, 60_000);
        assert_eq!((first.green, first.yellow, first.red), (1, 0, 1));
        assert_eq!(first.latency_max_ms, 700.0);
        assert_eq!(first.histogram[1], 1, "3 ms is in the <= 5 ms bucket");
        assert_eq!(first.histogram[8], 1, "700 ms is in the <= 1000 ms bucket");
        assert_eq!(minute(ComponentKey::Db, 120_000).yellow, 1);
        let hour = &rows
            .iter()
            .find(|r| r.component == ComponentKey::Db && r.resolution_s == 3600)
            .unwrap()
            .counts;
        assert_eq!(hour.green + hour.yellow + hour.red, 3);
        assert_eq!(
            rows.len(),
            5,
            "db: two minutes and an hour; redis: a minute and an hour"
        );
    }

    #[test]
    fn percentiles_read_the_histogram() {
        let mut rollup = Counts::default();
        rollup.histogram[1] = 90; // <= 5 ms
        rollup.histogram[6] = 10; // <= 250 ms
        rollup.green = 100;
        rollup.latency_max_ms = 180.0;
        let bucket = Bucket::from_sums(0, &rollup);
        assert_eq!(bucket.latency_p50_ms, Some(5.0));
        assert_eq!(
            bucket.latency_p95_ms,
            Some(180.0),
            "capped by the real maximum"
        );
        assert_eq!(bucket.uptime, Some(1.0));
        assert_eq!(
            Bucket::from_sums(0, &Counts::default()).latency_p50_ms,
            None
        );
    }

    #[test]
    fn incidents_open_update_and_close_on_changes() {
        let change = |from: Option<Status>, to: Status| ChangeRecord {
            component: ComponentKey::Db,
            at_ms: 1,
            from,
            to,
            error: None,
        };
        let open = OpenIncident {
            id: 7,
            worst: Status::Yellow,
            last: Status::Yellow,
        };
        let cases = [
            (
                "green to red opens",
                None,
                change(Some(Status::Green), Status::Red),
                IncidentAction::Open {
                    from: Status::Green,
                    to: Status::Red,
                },
            ),
            (
                "first result red opens",
                None,
                change(None, Status::Red),
                IncidentAction::Open {
                    from: Status::Green,
                    to: Status::Red,
                },
            ),
            (
                "first result green: nothing",
                None,
                change(None, Status::Green),
                IncidentAction::Nothing,
            ),
            (
                "yellow to red worsens",
                Some(&open),
                change(Some(Status::Yellow), Status::Red),
                IncidentAction::Update {
                    id: 7,
                    worst: Status::Red,
                    last: Status::Red,
                },
            ),
            (
                "back to green closes",
                Some(&open),
                change(Some(Status::Yellow), Status::Green),
                IncidentAction::Close { id: 7 },
            ),
            (
                "restart, still yellow",
                Some(&open),
                change(None, Status::Yellow),
                IncidentAction::Nothing,
            ),
        ];
        for (name, open, change, expected) in cases {
            assert_eq!(incident_action(open, &change), expected, "{name}");
        }
    }
}
