//! Redis: `PING`, the write check RAGFlow does (SET a key with a 3 s expiry, GET it back),
//! then version, mode, role, memory, clients and evictions from `INFO`.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, TlsCertificates};

use std::future::Future;

use super::kept::Kept;
use super::{Outcome, Probe, ProbeError, Status, into_details, near_limit};
use crate::config::{KeyError, Login, RedisConfig};
use crate::connect;
use crate::net::Roots;

/// Prefix of the key the write check sets (it expires by itself after 3 s). Each probe adds
/// its own random suffix: ragwatch replicas, or two deployments, sharing one Redis database
/// would otherwise overwrite each other's value between SET and GET and see a false red.
pub const PROBE_KEY_PREFIX: &str = "ragwatch:probe:";

/// A Redis server a probe talks to: one kept connection and the error wording. The Redis,
/// Redis-stream and task-executor probes share it.
pub struct RedisServer {
    client: redis::Client,
    timeout: Duration,
    target: String,
    user: String,
    /// The key a missing password is set with.
    password_key: String,
    connection: Kept<MultiplexedConnection>,
}

impl RedisServer {
    /// The server of a login whose URL is configured at `key` (`redis.url`,
    /// `task_executors.redis_url`), which errors name. Over TLS (`rediss://`) it trusts
    /// `roots`.
    pub fn new(
        login: &Login,
        timeout: Duration,
        key: &str,
        roots: &Roots,
    ) -> Result<Self, KeyError> {
        let info = connect::redis(login).map_err(|e| KeyError::new(key, e.to_string()))?;
        let client = if login.address().scheme() == "rediss" {
            let certificates = TlsCertificates {
                client_tls: None,
                root_cert: Some(roots.pem()),
            };
            redis::Client::build_with_tls(info, certificates)
        } else {
            redis::Client::open(info)
        }
        .map_err(|e| KeyError::new(key, e.to_string()))?;
        // Each URL key has its password key beside it: `redis.password`, `..._redis_password`.
        let password_key = match key.strip_suffix("url") {
            Some(stem) => format!("{stem}password"),
            None => key.to_owned(),
        };
        Ok(Self {
            client,
            timeout,
            target: login.host_port(6379),
            user: login.username().unwrap_or_else(|| "default".to_owned()),
            password_key,
            connection: Kept::new(),
        })
    }

    /// Runs `query` on the kept connection (or a new one), as [`Kept::run`] does.
    pub async fn run<T, Q>(
        &self,
        query: impl Fn(MultiplexedConnection) -> Q,
    ) -> Result<T, ProbeError>
    where
        Q: Future<Output = (MultiplexedConnection, Result<T, RedisError>)>,
    {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        self.connection
            .run(
                || {
                    self.client
                        .get_multiplexed_async_connection_with_config(&config)
                },
                query,
                |error| error.is_io_error() || error.is_connection_dropped(),
            )
            .await
            .map_err(|e| self.error(e))
    }

    /// What a Redis error means for an operator.
    pub fn error(&self, error: RedisError) -> ProbeError {
        if error.kind() == ErrorKind::AuthenticationFailed {
            return ProbeError::Auth {
                user: self.user.clone(),
                detail: error.detail().map(str::to_owned),
            };
        }
        // A missing password can also surface wrapped, from the SELECT made on connect.
        if error.code() == Some("NOAUTH") || error.to_string().contains("Authentication required") {
            return ProbeError::Rejected(format!(
                "authentication required (NOAUTH): set {} (or the password in the URL)",
                self.password_key
            ));
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
}

/// Probes the Redis that RAGFlow uses for its cache, locks and heartbeats.
pub struct RedisProbe {
    server: RedisServer,
    write_check: bool,
    /// This probe's own write-check key.
    probe_key: String,
}

impl RedisProbe {
    /// Reads the connection from `redis.url`; over TLS it trusts `roots`.
    pub fn new(config: &RedisConfig, timeout: Duration, roots: &Roots) -> Result<Self, KeyError> {
        Ok(Self {
            server: RedisServer::new(&config.login(), timeout, "redis.url", roots)?,
            write_check: config.write_check,
            probe_key: format!("{PROBE_KEY_PREFIX}{:016x}", crate::random::id()),
        })
    }

    async fn query(&self, conn: &mut MultiplexedConnection) -> Result<Outcome, RedisError> {
        redis::cmd("PING").query_async::<String>(conn).await?;
        if self.write_check {
            let value = jiff::Timestamp::now().as_nanosecond().to_string();
            redis::cmd("SET")
                .arg(&self.probe_key)
                .arg(&value)
                .arg("EX")
                .arg(3)
                .query_async::<()>(conn)
                .await?;
            let read: Option<String> = redis::cmd("GET")
                .arg(&self.probe_key)
                .query_async(conn)
                .await?;
            if read.as_deref() != Some(value.as_str()) {
                return Ok(Outcome::degraded(
                    Status::Red,
                    format!(
                        "write check failed: GET {} did not return the value just SET",
                        self.probe_key
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
        self.server
            .run(|mut conn| async move {
                let result = self.query(&mut conn).await;
                (conn, result)
            })
            .await
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
