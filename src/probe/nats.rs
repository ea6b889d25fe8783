//! NATS: connect (credentials from the URL), a PING/PONG round trip, server info, and the
//! JetStream account (streams, consumers, storage) when asked for.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::{ConnectErrorKind, ConnectOptions};

use super::kept::Kept;
use super::{Outcome, Probe, ProbeError, into_details};
use crate::config::{MessageQueueConfig, SecretUrl};

/// Probes a NATS server over one kept client.
pub struct NatsProbe {
    url: String,
    target: String,
    user: String,
    jetstream: bool,
    timeout: Duration,
    client: Kept<async_nats::Client>,
}

impl NatsProbe {
    /// Reads the server URL and the JetStream switch from `[message_queue]`.
    pub fn new(
        config: &MessageQueueConfig,
        url: &SecretUrl,
        timeout: Duration,
    ) -> Result<Self, String> {
        Ok(Self {
            url: url.expose().to_string(),
            target: url.host_port(4222),
            user: url.expose().username().to_owned(),
            jetstream: config.jetstream,
            timeout,
            client: Kept::new(),
        })
    }

    async fn connect(&self) -> Result<async_nats::Client, ProbeError> {
        let options = ConnectOptions::new()
            .connection_timeout(self.timeout)
            .request_timeout(Some(self.timeout))
            .name("ragwatch");
        async_nats::connect_with_options(self.url.as_str(), options)
            .await
            .map_err(|error| match error.kind() {
                ConnectErrorKind::TimedOut => ProbeError::Timeout(self.timeout),
                ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
                    ProbeError::Auth {
                        user: if self.user.is_empty() {
                            "(none)".into()
                        } else {
                            self.user.clone()
                        },
                        detail: Some(error.to_string()),
                    }
                }
                _ => ProbeError::transport(&error, &self.target),
            })
    }
}

impl Probe for NatsProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        let mut client = self.client.take_or(self.connect()).await?;
        // A kept client reconnects by itself in the background; a disconnected one would
        // only wait, so start over and report why the server cannot be reached.
        if client.connection_state() != State::Connected {
            client = self.connect().await?;
        }
        client.flush().await.map_err(|e| ProbeError::Protocol {
            target: self.target.clone(),
            reason: format!("no answer to PING: {e}"),
        })?;
        let info = client.server_info();
        let mut details = into_details(serde_json::json!({
            "version": info.version,
            "server_id": info.server_id,
            "server_name": info.server_name,
            "max_payload": info.max_payload,
        }));
        let mut warning = None;
        if self.jetstream {
            match async_nats::jetstream::new(client.clone())
                .query_account()
                .await
            {
                Ok(account) => {
                    details.insert(
                        "jetstream".into(),
                        serde_json::json!({
                            "streams": account.streams,
                            "consumers": account.consumers,
                            "memory_bytes": account.memory,
                            "storage_bytes": account.storage,
                        }),
                    );
                }
                Err(error) => {
                    warning = Some(format!("JetStream account unavailable: {error}"));
                }
            }
        }
        self.client.put_back(client);
        Ok(Outcome::yellow_if(warning, details))
    }
}
