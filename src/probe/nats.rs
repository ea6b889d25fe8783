//! NATS: connect (user and password, or a token), a PING/PONG round trip,
//! server info, and the JetStream account (streams, consumers, storage) when asked for.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::{ConnectErrorKind, ConnectOptions};
use serde_json::Value;

use super::kept::Kept;
use super::{Outcome, Probe, ProbeError, into_details};
use crate::config::{KeyError, Login, MessageQueueConfig, Secret};
use crate::net::Roots;

/// Probes a NATS server over one kept client.
pub struct NatsProbe {
    url: String,
    target: String,
    user: Option<String>,
    password: Option<Secret>,
    jetstream: bool,
    timeout: Duration,
    roots: Roots,
    client: Kept<async_nats::Client>,
}

impl NatsProbe {
    /// Reads the server's login and the JetStream switch from `[message_queue]`; over TLS
    /// (`tls://`, or a server that requires it) it trusts `roots`.
    pub fn new(
        config: &MessageQueueConfig,
        login: &Login,
        timeout: Duration,
        roots: &Roots,
    ) -> Result<Self, KeyError> {
        // Credentials travel in the CONNECT message, not in the address.
        Ok(Self {
            url: login.address().to_string(),
            target: login.host_port(4222),
            user: login.username(),
            password: login.password(),
            jetstream: config.jetstream,
            timeout,
            roots: roots.clone(),
            client: Kept::new(),
        })
    }

    async fn connect(&self) -> Result<async_nats::Client, ProbeError> {
        // A password without a user is a token, as `nats://TOKEN@host` is.
        let options = match (&self.user, &self.password) {
            (Some(user), password) => ConnectOptions::with_user_and_password(
                user.clone(),
                password.as_ref().map_or("", Secret::expose).into(),
            ),
            (None, Some(token)) => ConnectOptions::with_token(token.expose().into()),
            (None, None) => ConnectOptions::new(),
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
                    let user = match (&self.user, &self.password) {
                        (Some(user), _) => user.clone(),
                        (None, Some(_)) => "(token)".to_owned(),
                        (None, None) => "(none)".to_owned(),
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
