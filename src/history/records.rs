//! What the history remembers, as the program hands it over: probe results, status
//! changes, task executors' newest heartbeats and the heartbeats of their windows, and the
//! batch one write carries.

use jiff::Timestamp;

use super::silences::QuietRecord;
use crate::config::ComponentKey;
use crate::status::Status;

/// One probe result as stored.
#[derive(Clone, Debug)]
pub struct ResultRecord {
    /// Component key.
    pub component: ComponentKey,
    /// When the probe started.
    pub checked_at: Timestamp,
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
    /// When.
    pub at: Timestamp,
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
    /// Heartbeat time.
    pub at: Timestamp,
    /// The heartbeat as the executor wrote it.
    pub heartbeat: String,
}

/// Heartbeats an executor's window keeps in the history: the newest this many, at most
/// 30 minutes older than its newest (RAGFlow writes 60 in 30 minutes; the rest is slack
/// for a shorter period).
pub const MAX_REMEMBERED_BEATS: usize = 120;

/// How much older than an executor's newest heartbeat a kept one may be: the executors'
/// window (the task executors' own `WINDOW`, which a test there keeps equal to this).
pub const REMEMBERED_SPAN: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// One heartbeat of a task executor's window, to give the window back after a restart.
#[derive(Clone, Debug, PartialEq)]
pub struct BeatRecord {
    /// Executor name.
    pub executor: String,
    /// Heartbeat time.
    pub at: Timestamp,
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
    /// Heartbeats of executors' windows not stored yet, oldest first per executor.
    pub beats: Vec<BeatRecord>,
    /// Open incidents whose notifications wait, after the changes.
    pub quiet: Vec<QuietRecord>,
}

impl Batch {
    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.results.len()
            + self.changes.len()
            + self.executors.len()
            + self.beats.len()
            + self.quiet.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
