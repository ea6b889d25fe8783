//! RAGFlow's task executors, from the heartbeats they write to Redis: the set `TASKEXE`
//! names them, and each name is a sorted set of heartbeat JSON members scored by unix time
//! (one about every 30 s, trimmed after 30 minutes). The [`Board`] is what ragwatch knows
//! of every executor it has seen, swapped whole on each read; executors that vanish from
//! Redis stay on it as dead.

mod heartbeat;
mod intervals;
pub mod memory;
mod reader;
mod tasks;
mod tracker;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

pub use heartbeat::{Heartbeat, Identity, MAX_HEARTBEAT_BYTES, score_time, time_score};
pub use intervals::{Interval, intervals};
pub use reader::{CLOCK_SKEW, EXECUTOR_SET, MAX_BEATS, MAX_NAME_BYTES, WINDOW, refresh};
pub use tasks::{EndedTask, Pipeline, StuckTask, TaskSource};
pub use tracker::Tracker;

/// Everything known about every executor seen since ragwatch started.
#[derive(Clone, Debug, Default)]
pub struct Board {
    /// Executors by name.
    pub executors: BTreeMap<String, Arc<Executor>>,
    /// Names in `TASKEXE` refused (too long, not UTF-8) since ragwatch started, each
    /// counted once while it stays listed.
    pub malformed_names: u64,
    /// Fingerprints of the refused names listed at the last read (never the names).
    pub refused: HashSet<u64>,
}

/// One executor.
#[derive(Clone, Debug, Default)]
pub struct Executor {
    /// Its name (`task_executor_<type>_<host>_<n>`).
    pub name: String,
    /// Heartbeats of the last 30 minutes, oldest first.
    pub beats: Vec<Heartbeat>,
    /// The newest heartbeat ever seen, kept after it leaves the window or Redis.
    pub last: Option<Heartbeat>,
    /// The newest member read, good or bad: the next read starts after it.
    pub cursor: Option<Timestamp>,
    /// Heartbeats of the window not kept, beyond the newest [`MAX_BEATS`].
    pub skipped: u64,
    /// Members dated more than [`CLOCK_SKEW`] past this clock at the last read: a clock
    /// running ahead. They count only once their time comes.
    pub ahead: u64,
    /// Members skipped as malformed since ragwatch started.
    pub malformed: u64,
    /// Why the last member was skipped.
    pub last_malformed: Option<String>,
    /// Named in `TASKEXE` at the last read.
    pub listed: bool,
}

/// Whether an executor is working.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// A heartbeat within two heartbeat periods.
    Alive,
    /// Older, but within the heartbeat timeout: RAGFlow has not given up on it yet.
    Stale,
    /// No heartbeat within the timeout (or none at all).
    Dead,
}

impl State {
    /// Every state.
    pub const ALL: [Self; 3] = [Self::Alive, Self::Stale, Self::Dead];

    /// The state as the API and the metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Stale => "stale",
            Self::Dead => "dead",
        }
    }
}

/// The heartbeat timing that decides [`State`].
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    /// How often an executor writes a heartbeat.
    pub period: Duration,
    /// After this long without one, it is dead.
    pub timeout: Duration,
    /// After this long without one, a dead executor leaves `/metrics` (the API still lists
    /// it), so a redeploy's replaced names stop adding series.
    pub forget_after: Duration,
}

impl Executor {
    /// An executor remembered from an earlier run: its last heartbeat and the heartbeats
    /// of its window (oldest first), each timed to the millisecond as stored.
    pub fn remembered(name: String, last: Heartbeat, beats: Vec<Heartbeat>) -> Self {
        // The member itself may be up to half a millisecond later than its stored time:
        // the next read starts past it, so it is not added twice.
        let cursor = last.at.checked_add(SignedDuration::from_micros(500)).ok();
        Self {
            name,
            cursor,
            last: Some(last),
            beats,
            ..Self::default()
        }
    }

    /// Seconds since the last heartbeat at `now`.
    pub fn age(&self, now: Timestamp) -> Option<f64> {
        self.last
            .as_ref()
            .map(|b| now.duration_since(b.at).as_secs_f64().max(0.0))
    }

    /// Its state at `now`.
    pub fn state(&self, now: Timestamp, liveness: Liveness) -> State {
        match self.age(now) {
            Some(age) if age <= 2.0 * liveness.period.as_secs_f64() => State::Alive,
            Some(age) if age <= liveness.timeout.as_secs_f64() => State::Stale,
            _ => State::Dead,
        }
    }

    /// Dead long enough to leave `/metrics` at `now`: its last heartbeat is older than
    /// `forget_after`, or it never wrote one and Redis no longer names it.
    pub fn forgotten(&self, now: Timestamp, liveness: Liveness) -> bool {
        match self.age(now) {
            Some(age) => age > liveness.forget_after.as_secs_f64(),
            None => !self.listed,
        }
    }

    /// Tasks done and failed over its window.
    pub fn window_counts(&self) -> (u64, u64) {
        intervals(&self.beats)
            .iter()
            .fold((0, 0), |(d, f), i| (d + i.done, f + i.failed))
    }

    /// Failed share of the tasks it ended in its window (0 when none ended).
    pub fn failure_rate(&self) -> f64 {
        let (done, failed) = self.window_counts();
        failed_share(done, failed)
    }

    /// It failed more than `max_failure_rate` of the tasks it ended in its window: one
    /// executor failing most of its tasks is flagged even while the fleet's share is low.
    pub fn failing(&self, max_failure_rate: f64) -> bool {
        self.failure_rate() > max_failure_rate
    }
}

/// Failed share of `done + failed` ended tasks (0 when none ended).
fn failed_share(done: u64, failed: u64) -> f64 {
    match done + failed {
        0 => 0.0,
        ended => failed as f64 / ended as f64,
    }
}

/// Counts over every executor, for the summary status.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Summary {
    /// Executors alive.
    pub alive: u32,
    /// Executors stale.
    pub stale: u32,
    /// Executors dead (including those gone from Redis).
    pub dead: u32,
    /// Tasks done in the last 30 minutes, all executors.
    pub done: u64,
    /// Tasks failed in the last 30 minutes, all executors.
    pub failed: u64,
    /// Heartbeats and names skipped as malformed since ragwatch started.
    pub malformed: u64,
    /// Executors with heartbeats dated ahead of this clock.
    pub ahead: u32,
}

impl Summary {
    /// Counts a board at `now`.
    pub fn of(board: &Board, now: Timestamp, liveness: Liveness) -> Self {
        let mut summary = Self {
            malformed: board.malformed_names,
            ..Self::default()
        };
        for executor in board.executors.values() {
            match executor.state(now, liveness) {
                State::Alive => summary.alive += 1,
                State::Stale => summary.stale += 1,
                State::Dead => summary.dead += 1,
            }
            let (done, failed) = executor.window_counts();
            summary.done += done;
            summary.failed += failed;
            summary.malformed += executor.malformed;
            summary.ahead += u32::from(executor.ahead > 0);
        }
        summary
    }

    /// Failed share of the tasks that ended in the window (0 when none ended).
    pub fn failure_rate(&self) -> f64 {
        failed_share(self.done, self.failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVENESS: Liveness = Liveness {
        period: Duration::from_secs(30),
        timeout: Duration::from_secs(120),
        forget_after: Duration::from_secs(3600),
    };

    fn executor_last_seen(at: Option<f64>) -> Executor {
        let last = at.map(|at| {
            let json = r#"{"boot_at": "b", "done": 0, "failed": 0, "pending": 0, "lag": 0}"#;
            Heartbeat::from_member(json.as_bytes(), at).unwrap()
        });
        Executor {
            last,
            ..Executor::default()
        }
    }

    #[test]
    fn state_follows_the_age_of_the_last_heartbeat() {
        let now = score_time(1000.0).unwrap();
        let cases = [
            ("just now", Some(999.0), State::Alive),
            ("two periods", Some(940.0), State::Alive),
            ("past two periods", Some(939.0), State::Stale),
            ("at the timeout", Some(880.0), State::Stale),
            ("past the timeout", Some(879.0), State::Dead),
            ("never", None, State::Dead),
        ];
        for (name, at, expected) in cases {
            assert_eq!(
                executor_last_seen(at).state(now, LIVENESS),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn an_executor_is_forgotten_past_forget_after_or_when_never_seen_and_unlisted() {
        let now = score_time(10_000.0).unwrap();
        let cases = [
            (
                "dead, within the hour",
                Some(10_000.0 - 3600.0),
                false,
                false,
            ),
            ("past the hour", Some(10_000.0 - 3601.0), false, true),
            (
                "past the hour, still listed",
                Some(10_000.0 - 3601.0),
                true,
                true,
            ),
            ("never seen, listed", None, true, false),
            ("never seen, unlisted", None, false, true),
        ];
        for (name, at, listed, expected) in cases {
            let executor = Executor {
                listed,
                ..executor_last_seen(at)
            };
            assert_eq!(executor.forgotten(now, LIVENESS), expected, "{name}");
        }
    }

    #[test]
    fn failure_rate_is_a_share_of_ended_tasks() {
        let summary = Summary {
            done: 3,
            failed: 1,
            ..Summary::default()
        };
        assert_eq!(summary.failure_rate(), 0.25);
        assert_eq!(Summary::default().failure_rate(), 0.0);
    }

    fn executor_with_counts(pairs: &[(u64, u64)]) -> Executor {
        let beats = pairs
            .iter()
            .enumerate()
            .map(|(i, (done, failed))| {
                let json = format!(
                    r#"{{"boot_at": "b", "done": {done}, "failed": {failed}, "pending": 0, "lag": 0}}"#
                );
                Heartbeat::from_member(json.as_bytes(), 30.0 * i as f64).unwrap()
            })
            .collect();
        Executor {
            beats,
            ..Executor::default()
        }
    }

    #[test]
    fn an_executor_failing_more_than_the_threshold_is_failing() {
        let cases = [
            ("65 % failed", &[(0, 0), (7, 13)][..], 0.65, true),
            ("half failed, not more", &[(0, 0), (5, 5)][..], 0.5, false),
            (
                "counted over the window",
                &[(10, 0), (11, 1), (11, 4)][..],
                0.8,
                true,
            ),
            ("nothing ended", &[(3, 1), (3, 1)][..], 0.0, false),
            ("one heartbeat", &[(3, 9)][..], 0.0, false),
        ];
        for (name, counts, rate, failing) in cases {
            let executor = executor_with_counts(counts);
            assert!((executor.failure_rate() - rate).abs() < 1e-9, "{name}");
            assert_eq!(executor.failing(0.5), failing, "{name}");
        }
    }
}
