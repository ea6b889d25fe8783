//! Retrieval canaries (`[[canaries]]` of kind `retrieval`): asks RAGFlow a question through
//! its own API (`POST /api/v1/retrieval` with an API key), as a user's assistant would, and
//! says which stage failed: the key, the datasets, the retrieval itself (RAGFlow's code and
//! message, e.g. an embedding model failing), too few chunks, or the expected document.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use super::{Details, Outcome, Probe, ProbeError, Status, api_url, fetch};
use crate::config::{CanaryConfig, KeyError, RagflowApiConfig, Secret, host_port};

/// The chunks asked for beyond `top_k`: RAGFlow's own default page size, so that an
/// expected document ranked below the top ones is still seen (yellow, not red).
const RAGFLOW_PAGE_SIZE: usize = 30;

/// How many document names the details and messages list.
const LISTED_DOCUMENTS: usize = 10;

/// The path it asks, as messages name it.
const RETRIEVAL_PATH: &str = "api/v1/retrieval";

/// Asks one question of RAGFlow's datasets.
pub struct RetrievalProbe {
    client: reqwest::Client,
    endpoint: Url,
    api_key: Secret,
    target: String,
    timeout: Duration,
    dataset_ids: Vec<String>,
    question: String,
    expect_document: Option<String>,
    min_chunks: usize,
    top_k: usize,
}

/// A stage of a canary, as details and messages name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// RAGFlow refused the API key.
    Auth,
    /// A dataset is not the key's, or does not exist.
    Dataset,
    /// RAGFlow failed the retrieval (embedding model, document engine, ...).
    Retrieval,
    /// Fewer chunks than `min_chunks` came back.
    Chunks,
    /// The expected document was not among them.
    ExpectedDocument,
    /// Finding and deleting an earlier run's document.
    Leftovers,
    /// Uploading the canary's document.
    Upload,
    /// Starting its parse.
    Parse,
    /// Waiting for a task executor to take the parse.
    Queue,
    /// Parsing, up to `DONE`.
    Parsing,
    /// Finding the parsed document by retrieval.
    Retrievable,
    /// Deleting the canary's document.
    Cleanup,
}

impl Stage {
    /// The stage as the details write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Dataset => "dataset",
            Self::Retrieval => "retrieval",
            Self::Chunks => "chunks",
            Self::ExpectedDocument => "expected_document",
            Self::Leftovers => "leftovers",
            Self::Upload => "upload",
            Self::Parse => "parse",
            Self::Queue => "queue",
            Self::Parsing => "parsing",
            Self::Retrievable => "retrievable",
            Self::Cleanup => "cleanup",
        }
    }
}

/// A RAGFlow answer that is not a success: the HTTP status, and the `code` and `message`
/// of its envelope (`{"code": ..., "message": ..., "data": ...}`).
#[derive(Debug)]
pub(super) struct Refusal {
    /// The HTTP status.
    pub http: StatusCode,
    /// RAGFlow's `code` (its `RetCode`: 100 exception, 102 data error, 401, ...).
    pub code: i64,
    /// RAGFlow's `message`.
    pub message: String,
}

impl Refusal {
    /// Whether RAGFlow refused the API key: its 401 answer, or an authentication code.
    pub fn is_auth(&self) -> bool {
        self.http == StatusCode::UNAUTHORIZED || matches!(self.code, 401 | 108 | 109)
    }

    /// `code N: message`, as RAGFlow wrote them.
    pub fn said(&self) -> String {
        format!("code {}: {}", self.code, self.message)
    }
}

/// Reads RAGFlow's response envelope: its `data` on code 0, else its refusal. `path` names
/// the call in an answer that is no envelope at all (not RAGFlow, or a proxy's page).
pub(super) fn envelope(
    status: StatusCode,
    body: &[u8],
    path: &str,
    target: &str,
) -> Result<Result<Value, Refusal>, ProbeError> {
    let unreadable = || ProbeError::Protocol {
        target: target.to_owned(),
        reason: format!(
            "{path} answered HTTP {} without RAGFlow's JSON envelope: is url RAGFlow's API server?",
            status.as_u16()
        ),
    };
    let answer: Value = serde_json::from_slice(body).map_err(|_| unreadable())?;
    let code = answer["code"].as_i64().ok_or_else(unreadable)?;
    if code == 0 && status.is_success() {
        return Ok(Ok(answer["data"].clone()));
    }
    let message = match &answer["message"] {
        Value::String(text) => text.chars().take(500).collect(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    Ok(Err(Refusal {
        http: status,
        code,
        message,
    }))
}

/// The outcome of RAGFlow's refusal of a call made at `stage`, in its own words: a refused
/// key or dataset is named as such whatever the call, anything else as `<doing> failed`.
pub(super) fn refused(refusal: Refusal, stage: Stage, doing: &str) -> Outcome {
    let mut details = Details::new();
    details.insert("code".into(), json!(refusal.code));
    details.insert("http_status".into(), json!(refusal.http.as_u16()));
    let said = refusal.said();
    if refusal.is_auth() {
        let problem = format!("authentication failed: RAGFlow refused the API key ({said})");
        return failed(Stage::Auth, problem, details);
    }
    // RAGFlow checks each dataset before it works on it: "You don't own the dataset <id>.",
    // "You do not own the dataset <id>." and "Dataset not found!".
    let message = refusal.message.to_ascii_lowercase();
    if message.contains("own the dataset") || message.contains("dataset not found") {
        let problem = format!("dataset unavailable: {said}");
        return failed(Stage::Dataset, problem, details);
    }
    failed(
        stage,
        format!("{doing} failed: RAGFlow answered {said}"),
        details,
    )
}

/// A red outcome for a failed `stage`, naming it in its details.
pub(super) fn failed(stage: Stage, problem: String, mut details: Details) -> Outcome {
    details.insert("stage".into(), json!(stage.as_str()));
    Outcome::degraded(Status::Red, problem, details)
}

impl RetrievalProbe {
    /// Reads the question, datasets and key from a `[[canaries]]` entry; requests go
    /// through `client` to its URL (else `[ragflow]`'s).
    pub fn new(
        config: &CanaryConfig,
        ragflow: Option<&RagflowApiConfig>,
        timeout: Duration,
        client: reqwest::Client,
    ) -> Result<Self, KeyError> {
        let base = config
            .api_url(ragflow)
            .ok_or_else(|| KeyError::new("canaries.url", "no RAGFlow API server to ask"))?;
        Ok(Self {
            client,
            endpoint: api_url(base, RETRIEVAL_PATH)
                .map_err(|e| KeyError::new("canaries.url", e.to_string()))?,
            target: host_port(base, 9380),
            api_key: config.api_key.clone(),
            timeout,
            dataset_ids: config.dataset_ids.clone(),
            question: config.question.clone(),
            expect_document: config.expect_document.clone(),
            min_chunks: config.min_chunks,
            top_k: config.top_k,
        })
    }

    /// Judges the chunks found: enough of them, and the expected document among the top.
    fn judge(&self, data: &Value) -> Result<Outcome, ProbeError> {
        let chunks = data["chunks"]
            .as_array()
            .ok_or_else(|| ProbeError::Protocol {
                target: self.target.clone(),
                reason: format!("/{RETRIEVAL_PATH} answered code 0 without data.chunks"),
            })?;
        let names: Vec<&str> = chunks
            .iter()
            .map(|c| c["document_keyword"].as_str().unwrap_or_default())
            .collect();
        let mut documents: Vec<&str> = Vec::new();
        for name in &names {
            if !documents.contains(name) {
                documents.push(name);
            }
        }
        documents.truncate(LISTED_DOCUMENTS);
        let top_similarity = chunks
            .iter()
            .filter_map(|c| c["similarity"].as_f64())
            .fold(None, |top: Option<f64>, s| {
                Some(top.map_or(s, |t| t.max(s)))
            });
        let mut details = Details::new();
        details.insert("chunks".into(), json!(chunks.len()));
        details.insert("total".into(), data["total"].clone());
        details.insert("top_similarity".into(), json!(top_similarity));
        details.insert("documents".into(), json!(documents));

        if chunks.len() < self.min_chunks {
            let problem = match chunks.len() {
                0 => "no chunks: the question found nothing in the datasets searched".to_owned(),
                found => format!(
                    "too few chunks: found {found}, min_chunks = {}",
                    self.min_chunks
                ),
            };
            return Ok(failed(Stage::Chunks, problem, details));
        }
        let Some(expected) = &self.expect_document else {
            return Ok(Outcome::green(details));
        };
        let Some(position) = names.iter().position(|name| name == expected) else {
            let problem = format!(
                "expected document missing: {expected:?} is not among the documents of the {} chunks found ({})",
                chunks.len(),
                documents.join(", ")
            );
            return Ok(failed(Stage::ExpectedDocument, problem, details));
        };
        let rank = position + 1;
        details.insert("expected_rank".into(), json!(rank));
        let warning = (rank > self.top_k).then(|| {
            format!(
                "expected document ranked low: {expected:?} first appears at chunk {rank}, below the top {}",
                self.top_k
            )
        });
        Ok(Outcome::yellow_if(warning, details))
    }
}

impl Probe for RetrievalProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        let body = json!({
            "question": self.question,
            "dataset_ids": self.dataset_ids,
            "page_size": self.top_k.max(RAGFLOW_PAGE_SIZE),
        });
        let request = (self.client.post(self.endpoint.clone()))
            .bearer_auth(self.api_key.expose())
            .json(&body);
        let (status, answer) = fetch(request, &self.target, self.timeout).await?;
        let path = format!("POST /{RETRIEVAL_PATH}");
        match envelope(status, &answer, &path, &self.target)? {
            Ok(data) => self.judge(&data),
            Err(refusal) => Ok(refused(refusal, Stage::Retrieval, "retrieval")),
        }
    }
}
