//! The operations ragwatch needs from a history database.

use std::future::Future;

use jiff::Timestamp;

use super::HistoryError;
use super::incidents::{Incident, IncidentQuery};
use super::records::{Batch, BeatRecord, ExecutorRecord};
use super::rollups::{Bucket, BucketQuery};
use super::silences::{NewSilence, Silence};

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

    /// Summed roll-ups of a component in `[since, until)`, one bucket per step.
    fn buckets(
        &self,
        query: &BucketQuery<'_>,
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
        since: Timestamp,
    ) -> impl Future<Output = Result<i64, HistoryError>> + Send;

    /// The executors an observer remembers.
    fn executors(
        &self,
        observer: &str,
    ) -> impl Future<Output = Result<Vec<ExecutorRecord>, HistoryError>> + Send;

    /// The heartbeats of the executors' windows an observer remembers, by executor, oldest
    /// first.
    fn executor_beats(
        &self,
        observer: &str,
    ) -> impl Future<Output = Result<Vec<BeatRecord>, HistoryError>> + Send;

    /// The silences not ended at `now`, oldest first.
    fn silences(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<Silence>, HistoryError>> + Send;

    /// Stores a silence.
    fn add_silence(
        &self,
        silence: &NewSilence,
    ) -> impl Future<Output = Result<Silence, HistoryError>> + Send;

    /// Deletes a silence; false when there was none with that id.
    fn delete_silence(&self, id: i64) -> impl Future<Output = Result<bool, HistoryError>> + Send;

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
