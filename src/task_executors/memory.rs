//! Remembering task executors across restarts: the newest heartbeat of every executor, and
//! the heartbeats of its window (at most [`MAX_REMEMBERED_BEATS`]), go to the history
//! store, and on start the executors it remembers are handed to the tracker with their
//! windows, so one that vanished from Redis or died while ragwatch was down is still
//! listed, as dead, with its last heartbeat and what it did in its last 30 minutes
//! (until the incidents retention drops it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{Timestamp, Unit};

use super::{Executor, Heartbeat, Tracker};
use crate::history::{BeatRecord, ExecutorRecord, History, MAX_REMEMBERED_BEATS, Record, Store};

/// How often newest heartbeats are handed to the history.
pub const RECORD_EVERY: Duration = Duration::from_secs(2);

/// Runs until the task is dropped.
pub async fn run(tracker: Arc<Tracker>, history: Arc<History>) {
    let (remembered, beats) = loop {
        let store = history.opened().await;
        let observer = history.observer();
        match tokio::try_join!(store.executors(observer), store.executor_beats(observer)) {
            Ok(remembered) => break remembered,
            Err(error) => tracing::warn!(%error, "Cannot read the remembered task executors."),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let mut windows: HashMap<String, Vec<Heartbeat>> = HashMap::new();
    for beat in beats {
        if let Ok(parsed) = Heartbeat::parse(beat.heartbeat.as_bytes(), beat.at) {
            windows.entry(beat.executor).or_default().push(parsed);
        }
    }
    let mut recorded: HashMap<String, Timestamp> =
        remembered.iter().map(|r| (r.name.clone(), r.at)).collect();
    tracker.remember(
        remembered
            .into_iter()
            .filter_map(|r| {
                let last = Heartbeat::parse(r.heartbeat.as_bytes(), r.at).ok()?;
                let window = windows.remove(&r.name).unwrap_or_default();
                Some(Executor::remembered(r.name, last, window))
            })
            .collect(),
    );
    let mut ticks = tokio::time::interval(RECORD_EVERY);
    loop {
        ticks.tick().await;
        for executor in tracker.board().executors.values() {
            let Some(last) = &executor.last else { continue };
            let Some(at) = to_the_millisecond(last.at) else {
                continue;
            };
            let previous = recorded.insert(executor.name.clone(), at);
            if previous == Some(at) {
                continue;
            }
            let fresh: Vec<(Timestamp, &Heartbeat)> = executor
                .beats
                .iter()
                .filter_map(|b| Some((to_the_millisecond(b.at)?, b)))
                .filter(|(at, _)| previous.is_none_or(|p| *at > p))
                .collect();
            for (at, beat) in &fresh[fresh.len().saturating_sub(MAX_REMEMBERED_BEATS)..] {
                history.record(Record::Beat(BeatRecord {
                    executor: executor.name.clone(),
                    at: *at,
                    heartbeat: beat.raw.get().to_owned(),
                }));
            }
            history.record(Record::Executor(ExecutorRecord {
                name: executor.name.clone(),
                at,
                heartbeat: last.raw.get().to_owned(),
            }));
        }
    }
}

/// A heartbeat's time as the history stores it.
fn to_the_millisecond(at: Timestamp) -> Option<Timestamp> {
    at.round(Unit::Millisecond).ok()
}
