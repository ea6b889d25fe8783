//! `[server]`: where ragwatch listens, who may read protected endpoints, and how it stops.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::{Secret, Secrets, duration_text, secret, section};

/// `[server]`: where ragwatch listens and who may read protected endpoints.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Bearer tokens for protected endpoints; empty means loopback clients only (unless
    /// `open`). A single string is one token.
    #[serde(deserialize_with = "one_or_many")]
    pub tokens: Vec<Secret>,
    /// With no tokens, serve the protected endpoints to every client, not only loopback ones.
    pub open: bool,
    /// Connections served at once; unset derives it from the open-files limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<NonZeroUsize>,
    /// On SIGTERM or ctrl-c, how long the requests in flight, the history writer and the
    /// alert receivers may take to finish before ragwatch exits anyway.
    #[serde(with = "duration_text")]
    pub shutdown_timeout: Duration,
    /// The shortest time between two `?fresh=1` probes of a component; requests within it
    /// get the newest result. Zero leaves fresh requests unbounded.
    #[serde(
        deserialize_with = "section::duration_or_zero",
        serialize_with = "section::write_duration"
    )]
    pub fresh_min_interval: Duration,
}

/// Default listen address: every interface, port 9390.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9390";
/// Default time a shutdown may take.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default shortest time between two `?fresh=1` probes of a component.
pub const DEFAULT_FRESH_MIN_INTERVAL: Duration = Duration::from_secs(1);

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("default listen address parses"),
            tokens: Vec::new(),
            open: false,
            max_connections: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            fresh_min_interval: DEFAULT_FRESH_MIN_INTERVAL,
        }
    }
}

/// Accepts `"tok"`, `"a,b"` (handy in environment variables) or `["a", "b"]`. An empty
/// token is refused: dropping it would leave the API open when it was the only one.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Secret>, D::Error> {
    let values = secret::text_list(deserializer, "a token string or an array of token strings")?;
    values
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let token = s.trim();
            if token.is_empty() {
                return Err(serde::de::Error::custom(format!(
                    "token {} is empty; every token needs characters (set no tokens, `tokens = []`, to leave the API open)",
                    i + 1
                )));
            }
            Ok(Secret::new(token))
        })
        .collect()
}

impl Secrets for ServerConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            listen: _,
            tokens,
            open: _,
            max_connections: _,
            shutdown_timeout: _,
            fresh_min_interval: _,
        } = self;
        tokens.secrets(out);
    }
}
