//! The history's SQL, each statement written once as a function of the [`Dialect`] and
//! rendered when the store is made.

use super::records::MAX_REMEMBERED_BEATS;
use crate::dialect::Dialect;

/// Columns of the latency histogram, in `LATENCY_BOUNDS_MS` order then +inf.
const HISTOGRAM_COLUMNS: [&str; 12] = [
    "le_1", "le_5", "le_10", "le_25", "le_50", "le_100", "le_250", "le_500", "le_1000", "le_2500",
    "le_5000", "le_inf",
];

/// The columns an incident is read with, in the order [`Statements::incidents`] and
/// [`Statements::open_incidents`] return them.
const INCIDENT_COLUMNS: &str = "id, observer, component, from_status, worst_status, last_status, started_at_ms, ended_at_ms, first_error, changes, quiet";

/// Which retention a pruning statement follows.
#[derive(Clone, Copy, Debug)]
pub enum Retention {
    /// Raw results and minute roll-ups.
    Results,
    /// Incidents, status changes, hour roll-ups and remembered executors with their
    /// heartbeats.
    Incidents,
}

/// Every statement a store runs, in its dialect.
pub struct Statements {
    dialect: Dialect,
    /// Records a status change (observer, component, at, from, to, error).
    pub insert_change: String,
    /// The incident open for a component (observer, component).
    pub open_incident: String,
    /// Opens an incident (observer, component, from, status, at, error).
    pub open: String,
    /// Updates the open incident (worst, last, id).
    pub update: String,
    /// Closes the open incident (at, id).
    pub close: String,
    /// Adds one roll-up row onto the stored one (its 20 columns).
    pub upsert_rollup: String,
    /// Sums roll-ups per step (step, component, resolution, since, until).
    pub buckets: String,
    /// The newest closed and the newest open incidents, each walked down the start-time
    /// index and cut at the limit (one ORDER BY over both sorted every incident of the
    /// period); the caller puts the open ones first and keeps `limit` in all
    /// (since, component or NULL, limit).
    pub incidents: String,
    /// The incidents an observer has open (observer).
    pub open_incidents: String,
    /// Remembers an executor's heartbeat unless a newer one is stored (observer, name,
    /// at, heartbeat).
    pub remember_executor: String,
    /// The executors an observer remembers (observer).
    pub executors: String,
    /// Stores a heartbeat of an executor's window, once (observer, executor, at,
    /// heartbeat).
    pub remember_beat: String,
    /// Drops an executor's stored heartbeats beyond the newest [`MAX_REMEMBERED_BEATS`] or
    /// older than a cut-off (observer, executor, cut-off).
    pub trim_beats: String,
    /// The stored heartbeats of an observer's executors, by executor, oldest first
    /// (observer).
    pub executor_beats: String,
    /// Status changes of a component since a time, not counting first results after
    /// starts (component, since).
    pub changes_since: String,
    /// Marks the open incident of a component quiet, once (reason, observer, component).
    pub mark_quiet: String,
    /// Silences not yet ended (now).
    pub silences: String,
    /// Stores a silence, returning its id (components, created, until, comment).
    pub add_silence: String,
    /// Deletes a silence (id).
    pub delete_silence: String,
    /// Bounded deletes (cut-off, limit), each with the retention it follows.
    pub prune: [(String, Retention); 8],
}

impl Statements {
    /// The statements in `dialect`.
    pub fn new(dialect: Dialect) -> Self {
        let p = |n| dialect.placeholder(n);
        let (p1, p2, p3, p4, p5, p6) = (p(1), p(2), p(3), p(4), p(5), p(6));
        let greatest = dialect.greatest();
        let prune = |table: &str, key: &str, condition: &str, retention| {
            (
                format!(
                    "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {condition} < {p1} LIMIT {p2})"
                ),
                retention,
            )
        };
        let rollup_key = "component, resolution_s, bucket_ms";
        Self {
            dialect,
            insert_change: format!(
                "INSERT INTO status_changes (observer, component, at_ms, from_status, to_status, error) VALUES ({p1}, {p2}, {p3}, {p4}, {p5}, {p6})"
            ),
            open_incident: format!(
                "SELECT id, worst_status, last_status FROM incidents WHERE observer = {p1} AND component = {p2} AND ended_at_ms IS NULL ORDER BY id DESC LIMIT 1"
            ),
            open: format!(
                "INSERT INTO incidents (observer, component, from_status, worst_status, last_status, started_at_ms, first_error, changes) VALUES ({p1}, {p2}, {p3}, {p4}, {p4}, {p5}, {p6}, 1)"
            ),
            update: format!(
                "UPDATE incidents SET worst_status = {p1}, last_status = {p2}, changes = changes + 1 WHERE id = {p3}"
            ),
            close: format!(
                "UPDATE incidents SET ended_at_ms = {p1}, last_status = 'green', changes = changes + 1 WHERE id = {p2}"
            ),
            upsert_rollup: upsert_rollup(dialect, greatest),
            buckets: buckets(dialect),
            incidents: format!(
                "SELECT * FROM (SELECT {INCIDENT_COLUMNS} \
                 FROM incidents WHERE ended_at_ms >= {p1} AND ({p2} IS NULL OR component = {p2}) ORDER BY started_at_ms DESC LIMIT {p3}) AS closed \
                 UNION ALL \
                 SELECT * FROM (SELECT {INCIDENT_COLUMNS} \
                 FROM incidents WHERE ended_at_ms IS NULL AND ({p2} IS NULL OR component = {p2}) ORDER BY started_at_ms DESC LIMIT {p3}) AS open"
            ),
            open_incidents: format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE observer = {p1} AND ended_at_ms IS NULL ORDER BY started_at_ms DESC"
            ),
            remember_executor: format!(
                "INSERT INTO executors (observer, name, last_at_ms, heartbeat) VALUES ({p1}, {p2}, {p3}, {p4}) \
                 ON CONFLICT (observer, name) DO UPDATE SET last_at_ms = excluded.last_at_ms, heartbeat = excluded.heartbeat \
                 WHERE excluded.last_at_ms > executors.last_at_ms"
            ),
            executors: format!(
                "SELECT name, last_at_ms, heartbeat FROM executors WHERE observer = {p1} ORDER BY name"
            ),
            remember_beat: format!(
                "INSERT INTO executor_heartbeats (observer, executor, at_ms, heartbeat) VALUES ({p1}, {p2}, {p3}, {p4}) \
                 ON CONFLICT (observer, executor, at_ms) DO NOTHING"
            ),
            trim_beats: format!(
                "DELETE FROM executor_heartbeats WHERE observer = {p1} AND executor = {p2} AND (at_ms < {p3} OR at_ms < \
                 (SELECT at_ms FROM executor_heartbeats WHERE observer = {p1} AND executor = {p2} \
                 ORDER BY at_ms DESC LIMIT 1 OFFSET {}))",
                MAX_REMEMBERED_BEATS - 1
            ),
            executor_beats: format!(
                "SELECT executor, at_ms, heartbeat FROM executor_heartbeats WHERE observer = {p1} ORDER BY executor, at_ms"
            ),
            changes_since: format!(
                "SELECT COUNT(*) FROM status_changes WHERE component = {p1} AND at_ms >= {p2} AND from_status IS NOT NULL"
            ),
            mark_quiet: format!(
                "UPDATE incidents SET quiet = {p1} WHERE observer = {p2} AND component = {p3} AND ended_at_ms IS NULL AND quiet IS NULL"
            ),
            silences: format!(
                "SELECT id, components, created_at_ms, until_ms, comment FROM silences WHERE until_ms > {p1} ORDER BY id"
            ),
            add_silence: format!(
                "INSERT INTO silences (components, created_at_ms, until_ms, comment) VALUES ({p1}, {p2}, {p3}, {p4}) RETURNING id"
            ),
            delete_silence: format!("DELETE FROM silences WHERE id = {p1}"),
            prune: [
                prune("results", "id", "checked_at_ms", Retention::Results),
                prune(
                    "rollups",
                    rollup_key,
                    "resolution_s = 60 AND bucket_ms",
                    Retention::Results,
                ),
                prune(
                    "rollups",
                    rollup_key,
                    "resolution_s = 3600 AND bucket_ms",
                    Retention::Incidents,
                ),
                prune("status_changes", "id", "at_ms", Retention::Incidents),
                prune("incidents", "id", "ended_at_ms", Retention::Incidents),
                prune("silences", "id", "until_ms", Retention::Incidents),
                prune(
                    "executors",
                    "observer, name",
                    "last_at_ms",
                    Retention::Incidents,
                ),
                // Never newer than the executor's newest: they go with it, or before.
                prune(
                    "executor_heartbeats",
                    "observer, executor, at_ms",
                    "at_ms",
                    Retention::Incidents,
                ),
            ],
        }
    }

    /// A multi-row INSERT of `rows` results (6 parameters each, numbered in order).
    pub fn insert_results(&self, rows: usize) -> String {
        let values: Vec<String> = (0..rows)
            .map(|row| {
                let params: Vec<String> = (1..=6)
                    .map(|column| self.dialect.placeholder(row * 6 + column))
                    .collect();
                format!("({})", params.join(", "))
            })
            .collect();
        format!(
            "INSERT INTO results (observer, component, checked_at_ms, status, elapsed_ms, error) VALUES {}",
            values.join(", ")
        )
    }
}

/// The statement that adds one roll-up row onto the stored one.
fn upsert_rollup(dialect: Dialect, greatest: &str) -> String {
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
    let values: Vec<String> = (1..=columns.len())
        .map(|n| dialect.placeholder(n))
        .collect();
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

/// The statement that sums roll-ups per step.
fn buckets(dialect: Dialect) -> String {
    let p = |n| dialect.placeholder(n);
    let histogram: Vec<String> = HISTOGRAM_COLUMNS
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect();
    let step = p(1);
    format!(
        "SELECT (bucket_ms / {step}) * {step} AS start_ms, CAST(SUM(green) AS BIGINT), \
         CAST(SUM(yellow) AS BIGINT), CAST(SUM(red) AS BIGINT), SUM(latency_sum_ms), \
         MAX(latency_max_ms), {} FROM rollups WHERE component = {} AND resolution_s = {} \
         AND bucket_ms >= {} AND bucket_ms < {} GROUP BY start_ms ORDER BY start_ms",
        histogram.join(", "),
        p(2),
        p(3),
        p(4),
        p(5),
    )
}
