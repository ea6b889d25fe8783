//! Remembering task executors across restarts: the newest heartbeat of every executor goes
//! to the history store, and on start the executors it remembers are handed to the
//! tracker, so one that vanished from Redis while ragwatch was down is still
//! listed, as dead, with its last heartbeat (until the incidents retention drops it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{Timestamp, Unit};

use super::{Executor, Heartbeat, Tracker};
use crate::history::writer::{History, Record};
use crate::history::{ExecutorRecord, Store};

/// How often newest heartbeats are handed to the history.
pub const RECORD_EVERY: Duration = Duration::from_secs(2);

/// Runs until the task is dropped.
pub async fn run(tracker: Arc<Tracker>, history: Arc<History>) {
    let remembered = loop {
        if let Ok(store) = history.store() {
            match store.executors(history.observer()).await {
                Ok(remembered) => break remembered,
                Err(error) => tracing::warn!(%error, "Cannot read the remembered task executors."),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let mut recorded: HashMap<String, i64> = remembered
        .iter()
        .map(|r| (r.name.clone(), r.at_ms))
        .collect();
    tracker.remember(
        remembered
            .into_iter()
            .filter_map(|r| {
                let beat = Heartbeat::parse(
                    r.heartbeat.as_bytes(),
                    Timestamp::from_millisecond(r.at_ms).ok()?,
                )
                .ok()?;
                Some(Executor::remembered(r.name, beat))
            })
            .collect(),
    );
    let mut ticks = tokio::time::interval(RECORD_EVERY);
    loop {
        ticks.tick().await;
        for executor in tracker.board().executors.values() {
            let Some(last) = &executor.last else { continue };
            let at_ms = last
                .at
                .round(Unit::Millisecond)
                .map_or(0, |at| at.as_millisecond());
            if recorded.get(&executor.name) != Some(&at_ms) {
                recorded.insert(executor.name.clone(), at_ms);
                history.record(Record::Executor(ExecutorRecord {
                    name: executor.name.clone(),
                    at_ms,
                    heartbeat: last.raw.get().to_owned(),
                }));
            }
        }
    }
}
