//! The executor tracker: the board of every executor seen, owned by the app. The
//! task-executor probe writes it after each read of Redis; the API, the metrics and the
//! executor memory read it. Data flows one way, from the probe out.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::{Board, Executor, Liveness};

/// Holds the current board, swapped whole, read without locks.
pub struct Tracker {
    board: ArcSwap<Board>,
    /// Executors remembered from an earlier run, added to the board by the next read.
    remembered: Mutex<Vec<Executor>>,
    liveness: Liveness,
    /// Above this failed share of its tasks, an executor is failing.
    max_failure_rate: f64,
}

impl Tracker {
    /// An empty board judged with `liveness` and `max_failure_rate`
    /// (`task_executors.max_failure_rate`).
    pub fn new(liveness: Liveness, max_failure_rate: f64) -> Self {
        Self {
            board: ArcSwap::from_pointee(Board::default()),
            remembered: Mutex::new(Vec::new()),
            liveness,
            max_failure_rate,
        }
    }

    /// The board as of the last read.
    pub fn board(&self) -> Arc<Board> {
        self.board.load_full()
    }

    /// The timing that decides alive, stale and dead.
    pub fn liveness(&self) -> Liveness {
        self.liveness
    }

    /// Whether `executor` fails more of its tasks than allowed: one judgement for the
    /// component, the API and the metrics.
    pub fn failing(&self, executor: &Executor) -> bool {
        executor.failing(self.max_failure_rate)
    }

    /// The failed share of tasks above which the fleet, or one executor, is yellow.
    pub fn max_failure_rate(&self) -> f64 {
        self.max_failure_rate
    }

    /// Adds executors remembered from the history to the board at the next read, unless
    /// Redis has them already.
    pub fn remember(&self, executors: Vec<Executor>) {
        self.remembered
            .lock()
            .expect("remembered executors lock")
            .extend(executors);
    }

    /// The board a new read starts from: the current one plus the remembered executors
    /// not on it yet.
    pub fn starting_board(&self) -> Board {
        let mut board = Board::clone(&self.board.load_full());
        let remembered =
            std::mem::take(&mut *self.remembered.lock().expect("remembered executors lock"));
        for executor in remembered {
            board
                .executors
                .entry(executor.name.clone())
                .or_insert_with(|| Arc::new(executor));
        }
        board
    }

    /// Publishes the board a read produced.
    pub fn publish(&self, board: Board) {
        self.board.store(Arc::new(board));
    }
}
