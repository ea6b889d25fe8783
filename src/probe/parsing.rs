//! RAGFlow's parsing pipeline (`[parsing]`): are documents getting parsed? From RAGFlow's
//! `task` table, the tasks queued and how long the oldest has waited, and the tasks in
//! progress without an update for a while (stuck); from its Redis task queue streams, the
//! executors' group pending and lag (the same reading as the `redis_stream` queue probe).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;

use super::{Details, Outcome, Probe, ProbeError, RedisStreamProbe, Status, root_cause};
use crate::config::{Config, KeyError, MessageQueueConfig, MessageQueueKind, ParsingConfig};
use crate::net::Roots;
use crate::task_executors::{Pipeline, StuckTask, TaskSource};

/// Probes the task table and the task queue.
pub struct ParsingProbe {
    tasks: Arc<TaskSource>,
    queue: RedisStreamProbe,
    settings: ParsingConfig,
}

impl ParsingProbe {
    /// Reads RAGFlow's task table from `tasks` and its queue from the heartbeat Redis
    /// (trusted by `roots` over TLS).
    pub fn new(
        config: &Config,
        settings: &ParsingConfig,
        tasks: Arc<TaskSource>,
        timeout: Duration,
        roots: &Roots,
    ) -> Result<Self, KeyError> {
        let queue = MessageQueueConfig {
            kind: MessageQueueKind::RedisStream,
            streams: settings.streams.clone(),
            group: settings.group.clone(),
            max_lag: settings.max_lag,
            ..MessageQueueConfig::default()
        };
        Ok(Self {
            tasks,
            queue: RedisStreamProbe::new(
                &queue,
                &config.heartbeat_redis(),
                "task_executors.redis_url",
                timeout,
                roots,
            )?,
            settings: settings.clone(),
        })
    }

    /// The consumer group its queue reading follows.
    pub fn group(&self) -> &str {
        self.queue.group()
    }

    /// The table's verdict: red when the oldest queued task waited past the critical age,
    /// yellow past the warning age or with stuck tasks.
    fn judge(
        &self,
        pipeline: &Pipeline,
        stuck: Option<&StuckTask>,
        now: Timestamp,
    ) -> (Status, Vec<String>) {
        let mut status = Status::Green;
        let mut problems = Vec::new();
        if let Some(created) = pipeline.oldest_queued() {
            let waited = age(now, created);
            let level = if waited >= self.settings.queued_critical {
                Status::Red
            } else if waited >= self.settings.queued_warn {
                Status::Yellow
            } else {
                Status::Green
            };
            if level != Status::Green {
                status = status.min(level);
                // What was measured and the threshold it passed: why no executor took the
                // task (none alive, all busy, a queue nobody reads) is not known here.
                let threshold = if level == Status::Red {
                    ("queued_critical", self.settings.queued_critical)
                } else {
                    ("queued_warn", self.settings.queued_warn)
                };
                problems.push(format!(
                    "{} queued, the oldest not started after {} ({} {})",
                    tasks(pipeline.queued),
                    minutes(waited),
                    threshold.0,
                    minutes(threshold.1)
                ));
            }
        }
        if let Some(task) = stuck {
            status = status.min(Status::Yellow);
            let silent = age(now, task.updated());
            let document = task.document_name.as_deref().unwrap_or(&task.id);
            let last = task
                .progress_msg
                .as_deref()
                .and_then(|m| m.lines().rev().find(|l| !l.trim().is_empty()))
                .map(|l| format!(", last message: {}", l.trim()))
                .unwrap_or_default();
            problems.push(format!(
                "{} in progress without an update for {} or more; the longest: {document} at {:.0} % for {}{last}",
                tasks(pipeline.stuck),
                minutes(self.settings.stuck_after),
                task.progress * 100.0,
                minutes(silent)
            ));
        }
        (status, problems)
    }
}

impl Probe for ParsingProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        let now = Timestamp::now();
        let since = now
            .checked_sub(self.settings.lookback)
            .unwrap_or(Timestamp::MIN);
        let stuck_before = now
            .checked_sub(self.settings.stuck_after)
            .unwrap_or(Timestamp::MIN);
        let (table, queue) =
            tokio::join!(self.tasks.pipeline(since, stuck_before), self.queue.check());
        let (pipeline, stuck) = table.map_err(|e| {
            ProbeError::Rejected(format!(
                "cannot read RAGFlow's task table: {}",
                root_cause(&e)
            ))
        })?;
        let queue = queue?;
        let (mut status, mut problems) = self.judge(&pipeline, stuck.as_ref(), now);
        if let Some(problem) = queue.problem {
            status = status.min(queue.status);
            problems.push(problem);
        }
        let mut details = Details::new();
        details.insert("queued".into(), json!(pipeline.queued));
        details.insert(
            "oldest_queued_s".into(),
            json!(pipeline.oldest_queued().map(|t| age(now, t).as_secs())),
        );
        details.insert("running".into(), json!(pipeline.running));
        details.insert("stuck".into(), json!(pipeline.stuck));
        details.insert("queue".into(), json!(queue.details));
        Ok(match problems.is_empty() {
            true => Outcome::green(details),
            false => Outcome::degraded(status, problems.join("; "), details),
        })
    }
}

/// How long ago `then` was at `now`; zero for a time ahead of ours (another clock).
fn age(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or(Duration::ZERO)
}

fn tasks(n: i64) -> String {
    if n == 1 {
        "1 task".into()
    } else {
        format!("{n} tasks")
    }
}

fn minutes(duration: Duration) -> String {
    let minutes = duration.as_secs() / 60;
    if minutes < 120 {
        format!("{minutes} min")
    } else {
        format!("{} h {} min", minutes / 60, minutes % 60)
    }
}
