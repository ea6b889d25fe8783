//! Redis: `PING`, the write check RAGFlow does (SET a key with a 3 s expiry, GET it back),
//! then version, mode, role, memory, clients and evictions from `INFO`.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError};

use super::kept::Kept;
use super::{Outcome, Probe, ProbeError, Status, into_details, near_limit};
use crate::config::{RedisConfig, host_port};

/// Key the write check sets; it expires by itself after 3 s.
pub const PROBE_KEY: &str = "ragwatch:probe";

/// Probes Redis over one kept multiplexed connection.
pub struct RedisProbe {
    client: redis::Client,
    write_check: bool,
    timeout: Duration,
    target: String,
    user: String,
    connection: Kept<MultiplexedConnection>,
}

impl RedisProbe {
    /// Reads the connection from `redis.url`.
    pub fn new(config: &RedisConfig, timeout: Duration) -> Result<Self, String> {
        let url = config.url.expose();
        let client = redis::Client::open(url.as_str()).map_err(|e| format!("redis.url: {e}"))?;
        let user = match url.username() {
            "" => "default".to_owned(),
            user => user.to_owned(),
        };
        Ok(Self {
            client,
            write_check: config.write_check,
            timeout,
            target: host_port(url, 6379),
            user,
            connection: Kept::new(),
        })
    }

    fn error(&self, error: RedisError) -> ProbeError {
        if error.kind() == ErrorKind::AuthenticationFailed {
            return ProbeError::Auth {
                user: self.user.clone(),
                detail: error.detail().map(str::to_owned),
            };
        }
        // A missing password can also surface wrapped, from the SELECT made on connect.
        if error.code() == Some("NOAUTH") || error.to_string().contains("Authentication required") {
            return ProbeError::Rejected(
                "authentication required (NOAUTH): put the password in redis.url".into(),
            );
        }
        if error.code() == Some("READONLY") {
            return ProbeError::Rejected(
                "write check failed: the server is a read-only replica (READONLY)".into(),
            );
        }
        if error.is_timeout() {
            ProbeError::Timeout(self.timeout)
        } else if error.is_connection_refusal() {
            ProbeError::Refused(self.target.clone())
        } else if error.is_io_error() {
            ProbeError::transport(&error, &self.target)
        } else {
            ProbeError::Rejected(format!("redis error: {error}"))
        }
    }

    async fn query(&self, conn: &mut MultiplexedConnection) -> Result<Outcome, RedisError> {
        redis::cmd("PING").query_async::<String>(conn).await?;
        if self.write_check {
            let value = jiff::Timestamp::now().as_nanosecond().to_string();
            redis::cmd("SET")
                .arg(PROBE_KEY)
                .arg(&value)
                .arg("EX")
                .arg(3)
                .query_async::<()>(conn)
                .await?;
            let read: Option<String> = redis::cmd("GET").arg(PROBE_KEY).query_async(conn).await?;
            if read.as_deref() != Some(value.as_str()) {
                return Ok(Outcome::degraded(
                    Status::Red,
                    format!(
                        "write check failed: GET {PROBE_KEY} did not return the value just SET"
                    ),
                    Default::default(),
                ));
            }
        }
        let info: String = redis::cmd("INFO").query_async(conn).await?;
        Ok(outcome_from_info(&info))
    }
}

/// Details from `INFO`, yellow when memory use reaches 90 % of `maxmemory`.
fn outcome_from_info(info: &str) -> Outcome {
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let number = |name: &str| field(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let used_memory = number("used_memory");
    let max_memory = number("maxmemory");
    let details = into_details(serde_json::json!({
        "version": field("redis_version"),
        "mode": field("redis_mode"),
        "role": field("role"),
        "used_memory_bytes": used_memory,
        "max_memory_bytes": max_memory,
        "connected_clients": number("connected_clients"),
        "evicted_keys": number("evicted_keys"),
        "uptime_s": number("uptime_in_seconds"),
    }));
    Outcome::yellow_if(near_limit("memory", used_memory, max_memory), details)
}

impl Probe for RedisProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connect = async {
            self.client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|e| self.error(e))
        };
        let mut conn = self.connection.take_or(connect).await?;
        let outcome = self.query(&mut conn).await.map_err(|e| self.error(e))?;
        self.connection.put_back(conn);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nuptime_in_seconds:42\r\n# Clients\r\nconnected_clients:3\r\n# Memory\r\nused_memory:950\r\nused_memory_human:950B\r\nmaxmemory:1000\r\n# Stats\r\nevicted_keys:7\r\n# Replication\r\nrole:master\r\n";

    #[test]
    fn info_fields_become_details() {
        let outcome = outcome_from_info(INFO);
        assert_eq!(outcome.details["version"], "7.0.15");
        assert_eq!(outcome.details["role"], "master");
        assert_eq!(outcome.details["used_memory_bytes"], 950);
        assert_eq!(outcome.details["evicted_keys"], 7);
    }

    #[test]
    fn memory_near_maxmemory_is_yellow() {
        let outcome = outcome_from_info(INFO);
        assert_eq!(outcome.status, Status::Yellow);
        assert_eq!(
            outcome.problem.as_deref(),
            Some("memory at 95% of the limit (950 of 1000)")
        );
        let unlimited = outcome_from_info(&INFO.replace("maxmemory:1000", "maxmemory:0"));
        assert_eq!(unlimited.status, Status::Green);
    }
}
