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
}

/// The component's verdict on a board at `now`, with the tracker's thresholds.
fn judge(board: &Board, now: jiff::Timestamp, tracker: &Tracker, min_alive: u32) -> Outcome {
    let summary = Summary::of(board, now, tracker.liveness());
    let rate = summary.failure_rate();
    let failing: Vec<&Executor> = board
        .executors
        .values()
        .map(|e| &**e)
        .filter(|e| tracker.failing(e))
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
    if summary.alive < min_alive {
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
                min_alive
            )
        };
        return Outcome::degraded(Status::Red, problem, details);
    }
    let mut warnings = Vec::new();
    let stale: Vec<String> = board
        .executors
        .values()
        .filter(|e| e.state(now, tracker.liveness()) == State::Stale)
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
            tracker.max_failure_rate() * 100.0,
            failing.join(", ")
        ));
    }
    if rate > tracker.max_failure_rate() {
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
        let outcome = judge(&board, now, &self.tracker, self.min_alive);
        self.tracker.publish(board);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::task_executors::{Executor, Heartbeat, Liveness, score_time};

    /// An executor whose heartbeats, 30 s apart up to `now`, carry these cumulative counts.
    fn executor(name: &str, now: f64, counts: &[(u64, u64)]) -> (String, Arc<Executor>) {
        let beats: Vec<Heartbeat> = counts
            .iter()
            .enumerate()
            .map(|(i, (done, failed))| {
                let json = format!(
                    r#"{{"boot_at": "b", "done": {done}, "failed": {failed}, "pending": 0, "lag": 0}}"#
                );
                let at = now - 30.0 * (counts.len() - 1 - i) as f64;
                Heartbeat::from_member(json.as_bytes(), at).unwrap()
            })
            .collect();
        let executor = Executor {
            name: name.to_owned(),
            last: beats.last().cloned(),
            beats,
            listed: true,
            ..Executor::default()
        };
        (name.to_owned(), Arc::new(executor))
    }

    #[test]
    fn one_executor_failing_most_tasks_turns_the_component_yellow_naming_it() {
        let now = 10_000.0;
        let tracker = Tracker::new(
            Liveness {
                period: Duration::from_secs(30),
                timeout: Duration::from_secs(120),
                forget_after: Duration::from_secs(3600),
            },
            0.5,
        );
        let board = Board {
            executors: [
                executor("te_busy", now, &[(0, 0), (20, 0), (40, 1)]),
                executor("te_failing", now, &[(0, 0), (1, 3)]),
            ]
            .into_iter()
            .collect(),
            ..Board::default()
        };
        let outcome = judge(&board, score_time(now).unwrap(), &tracker, 1);
        assert_eq!(outcome.status, Status::Yellow);
        // The fleet's share (4 of 45) is low: only the one executor is named.
        assert_eq!(
            outcome.problem.as_deref(),
            Some(
                "more than 50% of the tasks of the last 30 minutes failed on te_failing (75%: 3 failed, 1 done)"
            )
        );
        assert_eq!(outcome.details["failing"], 1);
    }
}
