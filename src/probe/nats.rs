//! NATS: connect (user and password, or a token, from the URL), a PING/PONG round trip,
//! server info, and the JetStream account (streams, consumers, storage) when asked for.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::{ConnectErrorKind, ConnectOptions};
use serde_json::Value;

use super::kept::Kept;
use super::{Outcome, Probe, ProbeError, into_details};
use crate::config::{KeyError, MessageQueueConfig, Secret, SecretUrl};
use crate::net::Roots;

/// Probes a NATS server over one kept client.
pub struct NatsProbe {
    url: String,
    target: String,
    user: String,
    password: Option<Secret>,
    jetstream: bool,
    timeout: Duration,
    roots: Roots,
    client: Kept<async_nats::Client>,
}

impl NatsProbe {
    /// Reads the server URL and the JetStream switch from `[message_queue]`; over TLS
    /// (`tls://`, or a server that requires it) it trusts `roots`.
    pub fn new(
        config: &MessageQueueConfig,
        url: &SecretUrl,
        timeout: Duration,
        roots: &Roots,
    ) -> Result<Self, KeyError> {
        // Credentials travel in the CONNECT message, not in the address.
        let mut address = url.expose().clone();
        let _ = address.set_username("");
        let _ = address.set_password(None);
        Ok(Self {
            url: address.to_string(),
            target: url.host_port(4222),
            user: url.expose().username().to_owned(),
            password: url.password().map(Secret::new),
            jetstream: config.jetstream,
            timeout,
            roots: roots.clone(),
            client: Kept::new(),
        })
    }

    async fn connect(&self) -> Result<async_nats::Client, ProbeError> {
        let options = match (&self.password, self.user.as_str()) {
            (Some(password), user) => {
                ConnectOptions::with_user_and_password(user.into(), password.expose().into())
            }
            (None, "") => ConnectOptions::new(),
            (None, token) => ConnectOptions::with_token(token.into()),
        };
        let options = options
            .connection_timeout(self.timeout)
            .request_timeout(Some(self.timeout))
            .tls_client_config(self.roots.rustls())
            .name("ragwatch");
        async_nats::connect_with_options(self.url.as_str(), options)
            .await
            .map_err(|error| match error.kind() {
                ConnectErrorKind::TimedOut => ProbeError::Timeout(self.timeout),
                ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
                    // A user without a password is a token: never print it.
                    let user = match (&self.password, self.user.as_str()) {
                        (_, "") => "(none)".to_owned(),
                        (None, _) => "(token)".to_owned(),
                        (Some(_), user) => user.to_owned(),
                    };
                    ProbeError::Auth {
                        user,
                        detail: Some(error.to_string()),
                    }
                }
                _ => ProbeError::transport(&error, &self.target),
            })
    }
}

impl NatsProbe {
    /// The JetStream account (`$JS.API.INFO`), read leniently: servers of different
    /// versions answer with different fields.
    async fn jetstream_account(&self, client: &async_nats::Client) -> Result<Value, String> {
        let reply = client
            .request("$JS.API.INFO", "".into())
            .await
            .map_err(|e| e.to_string())?;
        let info: Value = serde_json::from_slice(&reply.payload)
            .map_err(|_| "the answer is not JSON".to_owned())?;
        if let Some(error) = info.get("error") {
            let description = error["description"].as_str().unwrap_or("unknown error");
            return Err(format!("{description} (code {})", error["code"]));
        }
        Ok(serde_json::json!({
            "streams": info["streams"],
            "consumers": info["consumers"],
            "memory_bytes": info["memory"],
            "storage_bytes": info["storage"],
        }))
    }
}

impl NatsProbe {
    /// PING/PONG, server info and the JetStream account over a connected client.
    async fn query(&self, client: &async_nats::Client) -> Result<Outcome, ProbeError> {
        // A kept client reconnects by itself in the background; one that is not connected
        // would only wait, so it counts as dead and the probe connects afresh.
        if client.connection_state() != State::Connected {
            return Err(ProbeError::Connect {
                target: self.target.clone(),
                reason: "disconnected".into(),
            });
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
            match self.jetstream_account(client).await {
                Ok(account) => {
                    details.insert("jetstream".into(), account);
                }
                Err(why) => warning = Some(format!("JetStream account unavailable: {why}")),
            }
        }
        Ok(Outcome::yellow_if(warning, details))
    }
}

impl Probe for NatsProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        self.client
            .run(
                || self.connect(),
                |client| async move {
                    let result = self.query(&client).await;
                    (client, result)
                },
                |error| {
                    matches!(
                        error,
                        ProbeError::Connect { .. } | ProbeError::Protocol { .. }
                    )
                },
            )
            .await
    }
}
