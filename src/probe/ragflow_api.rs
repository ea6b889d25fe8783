//! RAGFlow's API server (`[ragflow]`): `GET /api/v1/system/ping` answers `pong` (no
//! authentication), as both its Python and its Go server do.

use std::time::Duration;

use url::Url;

use super::{Details, Outcome, Probe, ProbeError, api_url, fetch};
use crate::config::{KeyError, RagflowApiConfig, host_port};

/// Pings the API server.
pub struct RagflowApiProbe {
    client: reqwest::Client,
    ping: Url,
    target: String,
    timeout: Duration,
}

impl RagflowApiProbe {
    /// Reads the server's URL from `[ragflow]`; requests go through `client`.
    pub fn new(
        config: &RagflowApiConfig,
        timeout: Duration,
        client: reqwest::Client,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            client,
            ping: api_url(&config.url, "api/v1/system/ping")
                .map_err(|e| KeyError::new("ragflow.url", e.to_string()))?,
            target: host_port(&config.url, 9380),
            timeout,
        })
    }
}

impl Probe for RagflowApiProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        let request = self.client.get(self.ping.clone());
        let (status, body) = fetch(request, &self.target, self.timeout).await?;
        let text = String::from_utf8_lossy(&body);
        // Python's `return "pong"` is text; a JSON-quoted "pong" counts too.
        if status.is_success() && text.trim().trim_matches('"') == "pong" {
            return Ok(Outcome::green(Details::new()));
        }
        let answer: String = text.chars().take(200).collect();
        Err(ProbeError::Rejected(format!(
            "GET /api/v1/system/ping answered HTTP {} {answer:?}, not \"pong\": is ragflow.url RAGFlow's API server?",
            status.as_u16()
        )))
    }
}
