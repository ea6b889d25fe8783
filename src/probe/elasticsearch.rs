//! Elasticsearch and OpenSearch: `GET /_cluster/health` with basic auth. The cluster's own
//! colour is the component's colour; the health fields are the details (RAGFlow's status
//! page shows them as they are).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use super::{Details, Outcome, Probe, ProbeError, Status, api_url, fetch};
use crate::config::{DocEngineConfig, KeyError, Secret, host_port};

/// Probes a cluster's health API.
pub struct ElasticsearchProbe {
    client: reqwest::Client,
    health_url: Url,
    username: String,
    password: Secret,
    target: String,
    timeout: Duration,
}

impl ElasticsearchProbe {
    /// Reads the cluster URL and credentials from `[doc_engine]` (its keys over the URL's).
    /// Requests go through `client`.
    pub fn new(
        config: &DocEngineConfig,
        timeout: Duration,
        client: reqwest::Client,
    ) -> Result<Self, KeyError> {
        let login = config.login();
        let username = login.username().unwrap_or_default();
        let password = login.password().unwrap_or_default();
        // Credentials travel in the Authorization header, never in the URL.
        let base = login.address();
        let health_url = api_url(&base, "_cluster/health")
            .map_err(|e| KeyError::new("doc_engine.url", e.to_string()))?;
        Ok(Self {
            client,
            target: host_port(&base, 9200),
            health_url,
            username,
            password,
            timeout,
        })
    }

    fn refusal(&self, status: StatusCode, body: &[u8]) -> ProbeError {
        let reason = error_reason(body);
        match status {
            StatusCode::UNAUTHORIZED if self.username.is_empty() => ProbeError::Rejected(
                "the cluster requires authentication: set doc_engine.username and doc_engine.password"
                    .into(),
            ),
            StatusCode::UNAUTHORIZED => ProbeError::Auth {
                user: self.username.clone(),
                detail: reason,
            },
            StatusCode::FORBIDDEN => ProbeError::Rejected(format!(
                "user {} may not read cluster health (it needs the `monitor` privilege){}",
                self.username,
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            )),
            StatusCode::SERVICE_UNAVAILABLE
                if reason.as_deref() == Some("master_not_discovered_exception") =>
            {
                ProbeError::Rejected(
                    "cluster has no elected master (master_not_discovered_exception)".into(),
                )
            }
            _ => ProbeError::Rejected(format!(
                "HTTP {} from {}{}",
                status.as_u16(),
                self.target,
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            )),
        }
    }
}

/// What an error body says: the `reason` (or `type`) of an Elasticsearch-shaped error,
/// an `error` string, or the text itself (OpenSearch's security plugin answers
/// `Unauthorized` in plain text).
fn error_reason(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let reason = match serde_json::from_str::<Value>(text) {
        Ok(json) => match &json["error"] {
            Value::String(s) => s.clone(),
            Value::Object(error) => error
                .get("reason")
                .and_then(Value::as_str)
                .or_else(|| error.get("type").and_then(Value::as_str))
                .unwrap_or("unknown error")
                .to_owned(),
            _ => text.to_owned(),
        },
        Err(_) => text.to_owned(),
    };
    Some(reason.chars().take(300).collect())
}

/// The component's colour from a health body (200, or 408 when a wait timed out).
fn outcome_from_health(body: &[u8], target: &str) -> Result<Outcome, ProbeError> {
    let unreadable = |reason: &str| ProbeError::Protocol {
        target: target.to_owned(),
        reason: reason.to_owned(),
    };
    let health: Details = serde_json::from_slice(body)
        .map_err(|_| unreadable("the cluster health answer is not a JSON object"))?;
    let count = |field: &str| health.get(field).and_then(Value::as_u64);
    let unassigned = count("unassigned_shards").unwrap_or(0);
    let timed_out = if health.get("timed_out") == Some(&Value::Bool(true)) {
        " (the health request timed out)"
    } else {
        ""
    };
    let outcome = match health.get("status").and_then(Value::as_str) {
        Some("green") => Outcome::green(health),
        Some("yellow") => Outcome::degraded(
            Status::Yellow,
            format!(
                "cluster status is yellow: {} unassigned{timed_out}",
                shards(unassigned, "replica shard")
            ),
            health,
        ),
        Some("red") => {
            let primaries = count("unassigned_primary_shards")
                .map(|n| format!(" ({n} primary)"))
                .unwrap_or_default();
            Outcome::degraded(
                Status::Red,
                format!(
                    "cluster status is red: {} unassigned{primaries}{timed_out}",
                    shards(unassigned, "shard")
                ),
                health,
            )
        }
        _ => {
            return Err(unreadable(
                "the cluster health answer has no green/yellow/red status",
            ));
        }
    };
    Ok(outcome)
}

/// "1 shard", "5 shards".
fn shards(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

impl Probe for ElasticsearchProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        let mut request = self.client.get(self.health_url.clone());
        if !self.username.is_empty() {
            request = request.basic_auth(&self.username, Some(self.password.expose()));
        }
        let (status, body) = fetch(request, &self.target, self.timeout).await?;
        match status {
            StatusCode::OK | StatusCode::REQUEST_TIMEOUT => {
                outcome_from_health(&body, &self.target)
            }
            _ => Err(self.refusal(status, &body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_reason_reads_every_documented_shape() {
        let es = br#"{"error":{"root_cause":[],"type":"security_exception","reason":"unable to authenticate user [elastic]"},"status":401}"#;
        assert_eq!(
            error_reason(es).as_deref(),
            Some("unable to authenticate user [elastic]")
        );
        let no_reason =
            br#"{"error":{"type":"master_not_discovered_exception","reason":null},"status":503}"#;
        assert_eq!(
            error_reason(no_reason).as_deref(),
            Some("master_not_discovered_exception")
        );
        let string_error = br#"{"error":"Incorrect HTTP method","status":405}"#;
        assert_eq!(
            error_reason(string_error).as_deref(),
            Some("Incorrect HTTP method")
        );
        assert_eq!(
            error_reason(b"Unauthorized").as_deref(),
            Some("Unauthorized")
        );
        assert_eq!(error_reason(b"  "), None);
    }

    #[test]
    fn health_without_status_is_a_protocol_error() {
        let err = outcome_from_health(br#"{"cluster_name":"x"}"#, "h:9200").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected answer from h:9200: the cluster health answer has no green/yellow/red status"
        );
    }
}
