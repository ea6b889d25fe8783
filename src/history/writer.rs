//! The writer task behind [`History`]: it applies the migrations (retrying with back-off),
//! then sends records to the store in batches (at most every [`FLUSH_EVERY`]), retries
//! with back-off while the store is down, and keeps at most [`MAX_PENDING`] records
//! meanwhile (the oldest results go first). A store that lost its schema (a database
//! dropped and created again) is migrated again. On its first pass and every [`PRUNE_EVERY`]
//! after, it deletes rows past retention in bounded chunks. When the history is closed, it
//! takes no more records and writes what it holds and what is queued before the deadline,
//! logging how many records it could not.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Batch, History, Record, Store};
use crate::backoff::Backoff;
use crate::shutdown::Closing;

/// Records waiting in the channel before `record` starts dropping.
pub const CHANNEL_CAPACITY: usize = 10_000;
/// Records kept while the store is down.
pub const MAX_PENDING: usize = 100_000;
/// Longest wait between batches.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Rows deleted per table and statement by retention.
pub const PRUNE_CHUNK: i64 = 10_000;
/// Time between retention passes.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Waits between attempts while the store fails: 1 s doubling to 30 s.
const RETRY: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
/// Pause between two retention chunks, so the database is never locked long.
const PRUNE_PAUSE: Duration = Duration::from_millis(50);

/// Migrates, then writes what `receiver` brings until every sender is gone, or until
/// `closing` is asked: then writes everything held and queued before its deadline.
pub async fn run(history: Arc<History>, receiver: mpsc::Receiver<Record>, closing: Closing) {
    let mut writer = Writer {
        history,
        receiver,
        closing,
        pending: Batch::default(),
    };
    if let Err(deadline) = writer.write_until_closed().await {
        writer.drain(deadline).await;
    }
}

/// The writer's state: what it has taken from the channel and not yet written.
struct Writer {
    history: Arc<History>,
    receiver: mpsc::Receiver<Record>,
    closing: Closing,
    pending: Batch,
}

impl Writer {
    /// Migrates, then writes batches; `Err` with the deadline once closing is asked.
    async fn write_until_closed(&mut self) -> Result<(), Instant> {
        let history = Arc::clone(&self.history);
        let mut backoff = RETRY;
        while let Err(error) = self.closing.unless_asked(history.store.migrate()).await? {
            history.set_health(Some(error.to_string()), 0, false);
            let pause = tokio::time::sleep(backoff.next_delay());
            self.closing.unless_asked(pause).await?;
        }
        history.migrated.store(true, Ordering::Release);
        history.set_health(None, 0, false);
        let mut retention = PruneSchedule::starting(Instant::now());
        loop {
            if self.pending.is_empty() {
                match self.closing.unless_asked(self.receiver.recv()).await? {
                    Some(record) => push(&mut self.pending, record),
                    None => return Ok(()),
                }
            }
            // Gather what arrives within the flush period.
            let deadline = Instant::now() + FLUSH_EVERY;
            while self.pending.len() < MAX_PENDING {
                let next = tokio::time::timeout_at(deadline, self.receiver.recv());
                match self.closing.unless_asked(next).await? {
                    Ok(Some(record)) => push(&mut self.pending, record),
                    Ok(None) | Err(_) => break,
                }
            }
            // A write under way when closing is asked goes on (it may be committing); the
            // deadline bounds it.
            let write = history.store.write(&history.observer, &self.pending);
            match self.closing.bounded(write).await? {
                Ok(()) => {
                    self.pending = Batch::default();
                    backoff.reset();
                    history.set_health(None, 0, true);
                }
                Err(error) => {
                    trim(&mut self.pending, &history.dropped);
                    history.set_health(Some(error.to_string()), self.pending.len(), false);
                    if error.schema_missing() {
                        self.closing.unless_asked(remigrate(&history)).await?;
                    }
                    let pause = tokio::time::sleep(backoff.next_delay());
                    self.closing.unless_asked(pause).await?;
                }
            }
            if retention.due(Instant::now()) {
                self.closing.unless_asked(prune(&history)).await?;
                retention.ran(Instant::now());
            }
        }
    }

    /// Takes no more records; writes what is held and queued, retrying with back-off
    /// until `deadline`, and logs how many records could not be written.
    async fn drain(mut self, deadline: Instant) {
        self.receiver.close();
        while let Ok(record) = self.receiver.try_recv() {
            push(&mut self.pending, record);
        }
        let records = self.pending.len();
        if records == 0 {
            return;
        }
        let history = Arc::clone(&self.history);
        let pending = &self.pending;
        let mut last_error = history.health().error.clone();
        // A fresh back-off: the last chances come quickly.
        let mut backoff = RETRY;
        let written = tokio::time::timeout_at(deadline, async {
            let mut migrated = history.migrated.load(Ordering::Acquire);
            loop {
                let mut attempt = Ok(());
                if !migrated {
                    attempt = history.store.migrate().await;
                    migrated = attempt.is_ok();
                }
                if attempt.is_ok() {
                    attempt = history.store.write(&history.observer, pending).await;
                }
                let Err(error) = attempt else { return };
                migrated &= !error.schema_missing();
                let error = history.scrubber.scrub(&error.to_string());
                last_error = Some(error);
                tokio::time::sleep(backoff.next_delay()).await;
            }
        })
        .await;
        match written {
            Ok(()) => tracing::info!(records, "History written before shutting down."),
            Err(_) => tracing::error!(
                lost = records,
                error = last_error.as_deref().unwrap_or("the store did not answer"),
                "History records could not be written before the shutdown deadline."
            ),
        }
    }
}

/// Applies the migrations again to a database that lost its schema; the next attempt
/// writes the batch.
async fn remigrate(history: &History) {
    tracing::warn!("The history store has lost its schema; applying the migrations again.");
    if let Err(error) = history.store.migrate().await {
        history.set_health(Some(error.to_string()), history.health().pending, false);
    }
}

/// Deletes rows past retention, a chunk at a time, so the database is never locked long.
async fn prune(history: &History) {
    let now = jiff::Timestamp::now();
    let before = |retention: Duration| {
        // A retention beyond the representable past keeps everything.
        now.checked_sub(retention).unwrap_or(jiff::Timestamp::MIN)
    };
    let results_before = before(history.results_retention);
    let incidents_before = before(history.incidents_retention);
    loop {
        match history
            .store
            .prune(results_before, incidents_before, PRUNE_CHUNK)
            .await
        {
            Ok(deleted) if deleted > 0 => {
                tracing::debug!(deleted, "History retention deleted rows.");
                tokio::time::sleep(PRUNE_PAUSE).await;
            }
            Ok(_) => return,
            Err(error) => {
                history.set_health(Some(error.to_string()), 0, false);
                return;
            }
        }
    }
}

/// When retention runs: on the writer's first pass, then [`PRUNE_EVERY`] after the
/// previous run ended.
struct PruneSchedule {
    next: Instant,
}

impl PruneSchedule {
    fn starting(now: Instant) -> Self {
        Self { next: now }
    }

    fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    fn ran(&mut self, now: Instant) {
        self.next = now + PRUNE_EVERY;
    }
}

fn push(batch: &mut Batch, record: Record) {
    match record {
        Record::Result(result) => batch.results.push(result),
        Record::Change(change) => batch.changes.push(change),
        Record::Executor(executor) => batch.executors.push(executor),
        Record::Beat(beat) => batch.beats.push(beat),
        Record::Quiet(quiet) => batch.quiet.push(quiet),
    }
}

/// Keeps a failing batch within [`MAX_PENDING`], dropping the oldest results (status
/// changes are few and carry the incidents, so they stay).
fn trim(batch: &mut Batch, dropped: &AtomicU64) {
    let excess = batch.len().saturating_sub(MAX_PENDING);
    if excess > 0 {
        let cut = excess.min(batch.results.len());
        batch.results.drain(..cut);
        dropped.fetch_add(cut as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_runs_on_the_first_pass_then_every_ten_minutes() {
        assert_eq!(
            PRUNE_EVERY,
            Duration::from_secs(600),
            "README: every 10 minutes"
        );
        let start = Instant::now();
        let mut schedule = PruneSchedule::starting(start);
        assert!(schedule.due(start), "the first pass prunes");
        let ended = start + Duration::from_secs(3);
        schedule.ran(ended);
        assert!(!schedule.due(ended), "not on the next pass");
        assert!(!schedule.due(ended + PRUNE_EVERY - Duration::from_millis(1)));
        assert!(schedule.due(ended + PRUNE_EVERY), "again after PRUNE_EVERY");
    }
}
