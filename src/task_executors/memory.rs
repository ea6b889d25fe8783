//! Remembering task executors across restarts: the newest heartbeat of every executor goes
//! to the history store, and on start the executors it remembers are handed to the
//! tracker, so one that vanished from Redis while ragwatch was down is still
//! listed, as dead, with its last heartbeat (until the incidents retention drops it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Unit;

use super::{Executor, Heartbeat, Tracker};
use crate::history::{ExecutorRecord, History, Record, Store};

/// How often newest heartbeats are handed to the history.
pub const RECORD_EVERY: Duration = Duration::from_secs(2);

/// Runs until the task is dropped.
pub async fn run(tracker: Arc<Tracker>, history: Arc<History>) {
    let remembered = loop {
        match history.opened().await.executors(history.observer()).await {
            Ok(remembered) => break remembered,
            Err(error) => tracing::warn!(%error, "Cannot read the remembered task executors."),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let mut recorded: HashMap<String, jiff::Timestamp> =
        remembered.iter().map(|r| (r.name.clone(), r.at)).collect();
    tracker.remember(
        remembered
            .into_iter()
            .filter_map(|r| {
                let beat = Heartbeat::parse(r.heartbeat.as_bytes(), r.at).ok()?;
                Some(Executor::remembered(r.name, beat))
            })
            .collect(),
    );
    let mut ticks = tokio::time::interval(RECORD_EVERY);
    loop {
        ticks.tick().await;
        for executor in tracker.board().executors.values() {
            let Some(last) = &executor.last else { continue };
            let Ok(at) = last.at.round(Unit::Millisecond) else {
                continue;
            };
            if recorded.get(&executor.name) != Some(&at) {
                recorded.insert(executor.name.clone(), at);
                history.record(Record::Executor(ExecutorRecord {
                    name: executor.name.clone(),
                    at,
                    heartbeat: last.raw.get().to_owned(),
                }));
            }
        }
    }
}
