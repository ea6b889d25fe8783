//! `[[canaries]]`: synthetic checks that do what a user does through RAGFlow's own HTTP API
//! with an API key, each a component `canary.<name>`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use super::components::usable_name;
use super::section::Section;
use super::{ComponentSettings, KeyError, RagflowApiConfig, Secret, Secrets, secret};

/// What a canary does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanaryKind {
    /// Asks a question of datasets (`POST /api/v1/retrieval`) and checks the chunks found.
    Retrieval,
    /// Uploads a small document to a dataset kept for it, parses it, finds it by
    /// retrieval, and deletes it.
    Ingestion,
}

impl CanaryKind {
    /// Every kind.
    pub const ALL: [Self; 2] = [Self::Retrieval, Self::Ingestion];

    /// The kind as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retrieval => "retrieval",
            Self::Ingestion => "ingestion",
        }
    }

    /// How often it runs unless `interval` says otherwise: it costs RAGFlow an embedding
    /// and a search, so far less often than a ping.
    pub fn default_interval(self) -> Duration {
        match self {
            Self::Retrieval => DEFAULT_RETRIEVAL_INTERVAL,
            Self::Ingestion => DEFAULT_INGESTION_INTERVAL,
        }
    }

    /// How long one run may take unless `timeout` says otherwise.
    pub fn default_timeout(self) -> Duration {
        match self {
            Self::Retrieval => DEFAULT_RETRIEVAL_TIMEOUT,
            Self::Ingestion => DEFAULT_INGESTION_TIMEOUT,
        }
    }
}

super::kind::text_kinds!(CanaryKind);

/// A retrieval canary's default `interval`.
pub const DEFAULT_RETRIEVAL_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// A retrieval canary's default `timeout`.
pub const DEFAULT_RETRIEVAL_TIMEOUT: Duration = Duration::from_secs(30);

/// An ingestion canary's default `interval`: a parse occupies a task executor.
pub const DEFAULT_INGESTION_INTERVAL: Duration = Duration::from_secs(30 * 60);

/// An ingestion canary's default `timeout`: queueing and parsing take minutes.
pub const DEFAULT_INGESTION_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// How often an ingestion canary asks for its document's status unless `poll_interval`
/// says otherwise.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// `[[canaries]]`: one synthetic check of RAGFlow's API.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    /// Names the component: `canary.<name>`. Letters, digits, `-` and `_`.
    pub name: String,
    /// `retrieval`.
    pub kind: CanaryKind,
    /// Base URL of RAGFlow's API server (default: `ragflow.url`).
    #[serde(
        default,
        deserialize_with = "optional_plain_url",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<Url>,
    /// A RAGFlow API key (`Authorization: Bearer`); never shown.
    pub api_key: Secret,
    /// The dataset an ingestion uploads its document to: one kept for the canary.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dataset_id: String,
    /// How often an ingestion asks for its document's parsing status.
    #[serde(
        default = "default_poll_interval",
        deserialize_with = "super::section::interval",
        serialize_with = "super::section::write_duration"
    )]
    pub poll_interval: Duration,
    /// The datasets a retrieval searches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dataset_ids: Vec<String>,
    /// The question a retrieval asks.
    #[serde(default)]
    pub question: String,
    /// A document (its name in RAGFlow) that must be among the documents of the top
    /// `top_k` chunks; found lower it is yellow, missing red.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_document: Option<String>,
    /// The fewest chunks a retrieval must find.
    #[serde(default = "default_min_chunks")]
    pub min_chunks: usize,
    /// How many of the first chunks count as the top ones for `expect_document`.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Shared component settings; `required` defaults to false.
    #[serde(flatten, skip_deserializing)]
    pub settings: ComponentSettings,
}

/// `min_chunks` unless set.
pub const DEFAULT_MIN_CHUNKS: usize = 1;

/// `top_k` unless set.
pub const DEFAULT_TOP_K: usize = 5;

fn default_min_chunks() -> usize {
    DEFAULT_MIN_CHUNKS
}

fn default_poll_interval() -> Duration {
    DEFAULT_POLL_INTERVAL
}

fn default_top_k() -> usize {
    DEFAULT_TOP_K
}

fn optional_plain_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Url>, D::Error> {
    secret::plain_url(deserializer).map(Some)
}

impl Section for CanaryConfig {
    fn settings_mut(&mut self) -> &mut ComponentSettings {
        &mut self.settings
    }
}

impl CanaryConfig {
    /// The API server it talks to: its own `url`, else `[ragflow]`'s.
    pub fn api_url<'a>(&'a self, ragflow: Option<&'a RagflowApiConfig>) -> Option<&'a Url> {
        self.url.as_ref().or(ragflow.map(|api| &api.url))
    }

    /// A usable, unique name, a URL to reach, a key, and what its kind needs. `index` is
    /// this entry's place in `[[canaries]]`.
    pub(super) fn validate(
        &self,
        index: usize,
        earlier: &[CanaryConfig],
        ragflow: Option<&RagflowApiConfig>,
    ) -> Result<(), KeyError> {
        let key = |field: &str| format!("canaries[{index}].{field}");
        let name = &self.name;
        usable_name(key("name"), name)?;
        if earlier.iter().any(|c| &c.name == name) {
            return Err(KeyError::new(
                key("name"),
                format!("another canary is already named {name:?}"),
            ));
        }
        let Some(url) = self.api_url(ragflow) else {
            return Err(KeyError::new(
                key("url"),
                "no RAGFlow API server to ask: set url, or a [ragflow] section whose url it takes",
            ));
        };
        let scheme = url.scheme();
        if !matches!(scheme, "http" | "https") {
            return Err(KeyError::new(
                key("url"),
                format!("URL scheme `{scheme}` is not supported; write http:// or https://"),
            ));
        }
        if self.api_key.expose().trim().is_empty() {
            return Err(KeyError::new(
                key("api_key"),
                "is empty: canaries call RAGFlow's API with an API key of their own",
            ));
        }
        match self.kind {
            CanaryKind::Retrieval => {
                if self.dataset_ids.is_empty() {
                    return Err(KeyError::new(
                        key("dataset_ids"),
                        "a retrieval canary needs the id of at least one dataset to search",
                    ));
                }
                if self.question.trim().is_empty() {
                    return Err(KeyError::new(
                        key("question"),
                        "a retrieval canary needs a question to ask",
                    ));
                }
                if self.top_k == 0 {
                    return Err(KeyError::new(key("top_k"), "must be at least 1"));
                }
            }
            CanaryKind::Ingestion => {
                // The id goes into the request paths as it is.
                let id = &self.dataset_id;
                if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Err(KeyError::new(
                        key("dataset_id"),
                        "an ingestion canary needs the id of a dataset kept for it (letters, digits and `-`)",
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Secrets for CanaryConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            name: _,
            kind: _,
            url: _,
            api_key,
            dataset_id: _,
            poll_interval: _,
            dataset_ids: _,
            question: _,
            expect_document: _,
            min_chunks: _,
            top_k: _,
            settings: _,
        } = self;
        api_key.secrets(out);
    }
}
