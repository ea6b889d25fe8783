//! RAGFlow's Redis stream task queue: for each queue stream (`te.1.common`, `te.0.common`),
//! the task executors' consumer group, its pending (delivered, unacknowledged) tasks and its
//! lag (tasks not yet delivered).

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::StreamInfoGroupsReply;
use redis::{RedisError, RedisResult};

use super::redis::RedisServer;
use super::{Details, Outcome, Probe, ProbeError};
use crate::config::{KeyError, Login, MessageQueueConfig};
use crate::net::Roots;

/// Probes the consumer group of each task queue stream.
pub struct RedisStreamProbe {
    server: RedisServer,
    streams: Vec<String>,
    group: String,
    max_pending: Option<u64>,
    max_lag: Option<u64>,
}

impl RedisStreamProbe {
    /// Reads streams, group and thresholds from `[message_queue]`; the Redis is the login
    /// whose URL is configured at `key`, trusted by `roots` over TLS.
    pub fn new(
        config: &MessageQueueConfig,
        login: &Login,
        key: &str,
        timeout: Duration,
        roots: &Roots,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            server: RedisServer::new(login, timeout, key, roots)?,
            streams: config.streams.clone(),
            group: config.group.clone(),
            max_pending: config.max_pending,
            max_lag: config.max_lag,
        })
    }

    /// The consumer group it reads.
    pub fn group(&self) -> &str {
        &self.group
    }

    async fn query(&self, conn: &mut MultiplexedConnection) -> Result<Outcome, RedisError> {
        let mut pipe = redis::pipe();
        for stream in &self.streams {
            pipe.cmd("XINFO").arg("GROUPS").arg(stream);
        }
        let replies: Vec<RedisResult<StreamInfoGroupsReply>> =
            pipe.ignore_errors().query_async(conn).await?;
        let mut details = Details::new();
        let mut warnings = Vec::new();
        for (stream, reply) in self.streams.iter().zip(replies) {
            let reply = match reply {
                Ok(reply) => reply,
                Err(error) if error.to_string().contains("no such key") => {
                    warnings.push(format!("stream {stream} does not exist yet"));
                    continue;
                }
                Err(error) => return Err(error),
            };
            let Some(group) = reply.groups.iter().find(|g| g.name == self.group) else {
                warnings.push(format!(
                    "stream {stream} has no consumer group {}",
                    self.group
                ));
                continue;
            };
            let (pending, lag) = (group.pending as u64, group.lag.map(|l| l as u64));
            if let Some(max) = self.max_pending.filter(|max| pending > *max) {
                warnings.push(format!("{stream}: {pending} pending tasks, above {max}"));
            }
            if let (Some(lag), Some(max)) = (lag, self.max_lag)
                && lag > max
            {
                warnings.push(format!("{stream}: lag of {lag} tasks, above {max}"));
            }
            details.insert(
                stream.clone(),
                serde_json::json!({
                    "consumers": group.consumers,
                    "pending": pending,
                    "lag": lag,
                }),
            );
        }
        let warning = (!warnings.is_empty()).then(|| warnings.join("; "));
        Ok(Outcome::yellow_if(warning, details))
    }
}

impl Probe for RedisStreamProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        self.server
            .run(|mut conn| async move {
                let result = self.query(&mut conn).await;
                (conn, result)
            })
            .await
    }
}
