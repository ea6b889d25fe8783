//! RAGFlow's task executors as one component: each run reads the new heartbeats from Redis
//! into the executor board (which the API serves) and judges the whole: red when fewer
//! executors are alive than `min_alive`, yellow when one is stale or too many tasks fail.

use std::sync::Arc;
use std::time::Duration;

use super::redis::RedisServer;
use super::{Outcome, Probe, ProbeError, Status, into_details};
use crate::config::{Config, KeyError};
use crate::net::Roots;
use crate::task_executors::{self, Board, Executor, State, Summary, Tracker};

/// Reads the heartbeats into the tracker's board and summarises it.
pub struct TaskExecutorsProbe {
    server: RedisServer,
    tracker: Arc<Tracker>,
    min_alive: u32,
}

impl TaskExecutorsProbe {
    /// Reads the heartbeat Redis (trusted by `roots` over TLS) and thresholds from
    /// `[task_executors]`; each check publishes the board to `tracker`.
    pub fn new(
        config: &Config,
        tracker: Arc<Tracker>,
        timeout: Duration,
        roots: &Roots,
    ) -> Result<Self, KeyError> {
        let settings = &config.task_executors;
        Ok(Self {
            server: RedisServer::new(
                &config.heartbeat_redis(),
                timeout,
                "task_executors.redis_url",
                roots,
            )?,
            tracker,
            min_alive: settings.min_alive,
        })
    }

    fn judge(&self, board: &Board, now: jiff::Timestamp) -> Outcome {
        let summary = Summary::of(board, now, self.tracker.liveness());
        let rate = summary.failure_rate();
        let failing: Vec<&Executor> = board
            .executors
            .values()
            .map(|e| &**e)
            .filter(|e| self.tracker.failing(e))
            .collect();
        let details = into_details(serde_json::json!({
            "executors": board.executors.len(),
            "alive": summary.alive,
            "stale": summary.stale,
            "dead": summary.dead,
            "done_30m": summary.done,
            "failed_30m": summary.failed,
            "failure_rate": rate,
            "malformed": summary.malformed,
            "clock_ahead": summary.ahead,
            "failing": failing.len(),
        }));
        if summary.alive < self.min_alive {
            let problem = if board.executors.is_empty() {
                format!(
                    "no task executor is registered in {}",
                    task_executors::EXECUTOR_SET
                )
            } else {
                format!(
                    "{} of {} task executors alive, at least {} needed",
                    summary.alive,
                    board.executors.len(),
                    self.min_alive
                )
            };
            return Outcome::degraded(Status::Red, problem, details);
        }
        let mut warnings = Vec::new();
        let stale: Vec<String> = board
            .executors
            .values()
            .filter(|e| e.state(now, self.tracker.liveness()) == State::Stale)
            .map(|e| format!("{} ({:.0} s)", e.name, e.age(now).unwrap_or_default()))
            .collect();
        if !stale.is_empty() {
            warnings.push(format!("no recent heartbeat from {}", stale.join(", ")));
        }
        let ahead: Vec<&str> = board
            .executors
            .values()
            .filter(|e| e.ahead > 0)
            .map(|e| e.name.as_str())
            .collect();
        if !ahead.is_empty() {
            warnings.push(format!(
                "heartbeats of {} are dated more than {} s ahead of this clock",
                ahead.join(", "),
                task_executors::CLOCK_SKEW.as_secs()
            ));
        }
        let failing: Vec<String> = failing
            .iter()
            .map(|e| {
                let (done, failed) = e.window_counts();
                format!(
                    "{} ({:.0}%: {failed} failed, {done} done)",
                    e.name,
                    e.failure_rate() * 100.0
                )
            })
            .collect();
        if !failing.is_empty() {
            warnings.push(format!(
                "more than {:.0}% of the tasks of the last 30 minutes failed on {}",
                self.tracker.max_failure_rate() * 100.0,
                failing.join(", ")
            ));
        }
        if rate > self.tracker.max_failure_rate() {
            warnings.push(format!(
                "{:.0}% of the tasks of the last 30 minutes failed ({} failed, {} done)",
                rate * 100.0,
                summary.failed,
                summary.done
            ));
        }
        let warning = (!warnings.is_empty()).then(|| warnings.join("; "));
        Outcome::yellow_if(warning, details)
    }
}

impl Probe for TaskExecutorsProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        let now = jiff::Timestamp::now();
        let previous = self.tracker.starting_board();
        let board = self
            .server
            .run(|mut conn| {
                let previous = &previous;
                async move {
                    let result = task_executors::refresh(&mut conn, previous, now).await;
                    (conn, result)
                }
            })
            .await?;
        let outcome = self.judge(&board, now);
        self.tracker.publish(board);
        Ok(outcome)
    }
}
