//! Model servers (`[[models]]`): TEI's `GET /health` (and `GET /info` for the model's name),
//! an OpenAI-compatible `GET /v1/models` with the API key, and Ollama's `GET /api/tags`. Each
//! asks the server only whether it serves, never runs a model.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use super::{Details, Outcome, Probe, ProbeError, api_url, fetch, into_details};
use crate::config::{KeyError, ModelConfig, ModelKind, Secret, host_port};

/// How many model names the details list.
const LISTED_MODELS: usize = 20;

/// Probes one model server.
pub struct ModelProbe {
    client: reqwest::Client,
    kind: ModelKind,
    base: Url,
    api_key: Secret,
    target: String,
    timeout: Duration,
}

impl ModelProbe {
    /// Reads the server's URL and key from its `[[models]]` entry; requests go through
    /// `client`.
    pub fn new(
        config: &ModelConfig,
        timeout: Duration,
        client: reqwest::Client,
    ) -> Result<Self, KeyError> {
        let mut base = config.url.expose().clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Self {
            client,
            kind: config.kind,
            target: host_port(&base, 80),
            base,
            api_key: config.api_key.clone(),
            timeout,
        })
    }

    async fn get(&self, path: &str) -> Result<(StatusCode, Vec<u8>), ProbeError> {
        // An OpenAI base URL is often given with its `/v1` already.
        let path = match self.base.path().ends_with("/v1/") {
            true => path.trim_start_matches("v1/"),
            false => path,
        };
        let url = api_url(&self.base, path).map_err(|e| ProbeError::Protocol {
            target: self.target.clone(),
            reason: format!("cannot build the request URL: {e}"),
        })?;
        let mut request = self.client.get(url);
        if !self.api_key.expose().is_empty() {
            request = request.bearer_auth(self.api_key.expose());
        }
        fetch(request, &self.target, self.timeout).await
    }

    /// A non-2xx answer in words: the key's refusal, a missing route, a server not ready.
    fn refusal(&self, path: &str, status: StatusCode, body: &[u8]) -> ProbeError {
        let reason = error_message(body)
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let what = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                if self.api_key.expose().is_empty() =>
            {
                "the server wants an API key: set api_key".to_owned()
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "the API key was refused".into(),
            StatusCode::NOT_FOUND => format!("GET /{path} is not served here: is kind right?"),
            StatusCode::SERVICE_UNAVAILABLE => "the model is not ready (still loading?)".into(),
            _ => "the server failed the request".into(),
        };
        ProbeError::Rejected(format!("{what} (HTTP {}{reason})", status.as_u16()))
    }

    fn unreadable(&self, path: &str) -> ProbeError {
        ProbeError::Protocol {
            target: self.target.clone(),
            reason: format!("GET /{path} did not answer the JSON this kind of server sends"),
        }
    }

    async fn tei(&self) -> Result<Outcome, ProbeError> {
        let (status, body) = self.get("health").await?;
        if !status.is_success() {
            return Err(self.refusal("health", status, &body));
        }
        // The model's identity is a detail: a server that is healthy but hides it is fine.
        let details = match self.get("info").await {
            Ok((status, body)) if status.is_success() => {
                let info: Value = serde_json::from_slice(&body).unwrap_or_default();
                pick(
                    &info,
                    &["model_id", "model_type", "version", "max_input_length"],
                )
            }
            _ => Details::new(),
        };
        Ok(Outcome::green(details))
    }

    /// OpenAI's `GET /v1/models` (`data[].id`) and Ollama's `GET /api/tags`
    /// (`models[].name`): a list of the models served.
    async fn listing(&self, path: &str, list: &str, name: &str) -> Result<Outcome, ProbeError> {
        let (status, body) = self.get(path).await?;
        if !status.is_success() {
            return Err(self.refusal(path, status, &body));
        }
        let answer: Value = serde_json::from_slice(&body).map_err(|_| self.unreadable(path))?;
        let models = answer[list]
            .as_array()
            .ok_or_else(|| self.unreadable(path))?;
        let names = models.iter().filter_map(|m| m[name].as_str());
        Ok(Outcome::green(listed(models.len(), names)))
    }
}

impl Probe for ModelProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        match self.kind {
            ModelKind::Tei => self.tei().await,
            ModelKind::Openai => self.listing("v1/models", "data", "id").await,
            ModelKind::Ollama => self.listing("api/tags", "models", "name").await,
        }
    }
}

/// `{"models": n, "names": [...]}`, the names cut at [`LISTED_MODELS`].
fn listed<'a>(count: usize, names: impl Iterator<Item = &'a str>) -> Details {
    let names: Vec<&str> = names.take(LISTED_MODELS).collect();
    into_details(json!({"models": count, "names": names}))
}

fn pick(value: &Value, keys: &[&str]) -> Details {
    keys.iter()
        .filter_map(|k| value.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

/// The message of an error body: OpenAI's `{"error": {"message"}}`, TEI's and Ollama's
/// `{"error": "..."}`.
fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let message = error.get("message").unwrap_or(error).as_str()?;
    Some(message.chars().take(300).collect())
}
