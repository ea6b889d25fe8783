//! Infinity: `GET /admin/node/current` of its HTTP API, RAGFlow's own health rule over HTTP
//! (RAGFlow asks the same over Thrift): error code 0 and node status `started` (standalone)
//! or `alive` (cluster member). A working node's version comes from `GET /configs`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Map, Value};
use url::Url;

use super::{Details, Outcome, Probe, ProbeError, Status, api_url, fetch};
use crate::config::{DocEngineConfig, KeyError, host_port};

/// Infinity's default HTTP port (`http_port`, RAGFlow's `INFINITY_HTTP_PORT`).
const INFINITY_HTTP_PORT: u16 = 23820;

/// Probes an Infinity node's status API.
pub struct InfinityProbe {
    client: reqwest::Client,
    node_url: Url,
    configs_url: Url,
    target: String,
    timeout: Duration,
}

impl InfinityProbe {
    /// Reads the node's HTTP address from `doc_engine.url`; requests go through `client`.
    pub fn new(
        config: &DocEngineConfig,
        timeout: Duration,
        client: reqwest::Client,
    ) -> Result<Self, KeyError> {
        let base = config.url.expose();
        let endpoint =
            |path| api_url(base, path).map_err(|e| KeyError::new("doc_engine.url", e.to_string()));
        Ok(Self {
            client,
            node_url: endpoint("admin/node/current")?,
            configs_url: endpoint("configs")?,
            target: host_port(base, INFINITY_HTTP_PORT),
            timeout,
        })
    }

    /// The node's version from its configuration listing, when it tells it. The version is
    /// a detail: a node that does not say it is no less healthy.
    async fn version(&self) -> Option<String> {
        let request = self.client.get(self.configs_url.clone());
        let (status, body) = fetch(request, &self.target, self.timeout).await.ok()?;
        let configs: Map<String, Value> = serde_json::from_slice(&body).ok()?;
        if status != StatusCode::OK || error_of(&configs).is_some() {
            return None;
        }
        configs.get("version")?.as_str().map(str::to_owned)
    }
}

/// `error <code>: <message>` of an answer whose `error_code` is not 0.
fn error_of(answer: &Map<String, Value>) -> Option<String> {
    let code = answer
        .get("error_code")?
        .as_i64()
        .filter(|code| *code != 0)?;
    Some(match answer.get("error_msg").and_then(Value::as_str) {
        Some(message) => format!("error {code}: {message}"),
        None => format!("error {code}"),
    })
}

/// The component's colour from the node status answer. Infinity sets no content type, so
/// the body is read as JSON whatever the headers say.
fn node_outcome(status: StatusCode, body: &[u8], target: &str) -> Result<Outcome, ProbeError> {
    let unreadable = |reason: &str| ProbeError::Protocol {
        target: target.to_owned(),
        reason: reason.to_owned(),
    };
    let answer = serde_json::from_slice::<Map<String, Value>>(body).ok();
    let error = answer.as_ref().and_then(error_of);
    if status != StatusCode::OK {
        return Err(ProbeError::Rejected(match error {
            Some(error) => format!("Infinity answered HTTP {} with {error}", status.as_u16()),
            None => format!(
                "HTTP {} from {target}: is doc_engine.url the address of Infinity's HTTP API (port {INFINITY_HTTP_PORT})?",
                status.as_u16()
            ),
        }));
    }
    let answer = answer.ok_or_else(|| unreadable("the node status is not a JSON object"))?;
    if let Some(error) = error {
        return Err(ProbeError::Rejected(format!(
            "Infinity refused the node status request: {error}"
        )));
    }
    let node = answer
        .get("node")
        .and_then(Value::as_object)
        .ok_or_else(|| unreadable("the node status has no `node` object"))?;
    let field = |name: &str| node.get(name).and_then(Value::as_str);
    let node_status = field("status").ok_or_else(|| unreadable("the node has no status"))?;
    let details: Details = ["role", "status", "name", "address"]
        .into_iter()
        .filter_map(|name| Some((name.to_owned(), Value::from(field(name)?))))
        .collect();
    if matches!(node_status, "started" | "alive") {
        return Ok(Outcome::green(details));
    }
    // Cluster members (leader, follower, learner) have a name and an address.
    let who = match (field("role"), field("name"), field("address")) {
        (Some(role), Some(name), Some(address)) => {
            format!("Infinity {role} {name} ({address})")
        }
        _ => "Infinity".to_owned(),
    };
    let why = match node_status {
        "starting" => "it is still starting and serves no queries yet",
        "timeout" => "its heartbeats to the leader time out",
        // The docs spell it `lostconnection`, the server `lost connection`.
        "lost connection" | "lostconnection" => {
            "it lost its connection to the leader: check the network between the nodes"
        }
        "removed" => "it was removed from the cluster",
        _ => "a serving node is `started` (standalone) or `alive` (cluster)",
    };
    Ok(Outcome::degraded(
        Status::Red,
        format!("{who} is not serving: node status `{node_status}`; {why}"),
        details,
    ))
}

impl Probe for InfinityProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        let request = self.client.get(self.node_url.clone());
        let (status, body) = fetch(request, &self.target, self.timeout).await?;
        let mut outcome = node_outcome(status, &body, &self.target)?;
        if outcome.status == Status::Green
            && let Some(version) = self.version().await
        {
            outcome.details.insert("version".into(), version.into());
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_a_node_status_is_a_protocol_error() {
        let cases = [
            (
                &br#"{"error_code":0}"#[..],
                "the node status has no `node` object",
            ),
            (
                br#"{"error_code":0,"node":{"role":"standalone"}}"#,
                "the node has no status",
            ),
            (
                b"<html>proxy</html>",
                "the node status is not a JSON object",
            ),
        ];
        for (body, reason) in cases {
            let err = node_outcome(StatusCode::OK, body, "h:23820").unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("unexpected answer from h:23820: {reason}")
            );
        }
    }

    #[test]
    fn an_unknown_status_names_the_serving_ones() {
        let body = br#"{"error_code":0,"node":{"role":"standalone","status":"invalid"}}"#;
        let outcome = node_outcome(StatusCode::OK, body, "h:23820").unwrap();
        assert_eq!(outcome.status, Status::Red);
        assert_eq!(
            outcome.problem.as_deref(),
            Some(
                "Infinity is not serving: node status `invalid`; a serving node is `started` (standalone) or `alive` (cluster)"
            )
        );
    }
}
