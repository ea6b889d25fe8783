//! Component keys: the names of the configuration sections that become components, as
//! healthz, the API, metrics and the history write them.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

/// A component's key, in the order RAGFlow's healthz lists them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentKey {
    /// The relational database.
    Db,
    /// Redis.
    Redis,
    /// The document engine.
    DocEngine,
    /// Object storage.
    Storage,
    /// The message queue (only when configured).
    MessageQueue,
    /// RAGFlow's task executors, from their heartbeats.
    TaskExecutors,
    /// RAGFlow's API server (only when configured).
    Ragflow,
    /// RAGFlow's parsing pipeline (only when configured).
    Parsing,
    /// A model server of `[[models]]`; holds its whole key, `models.<name>`.
    Model(Arc<str>),
    /// A synthetic check of `[[canaries]]`; holds its whole key, `canary.<name>`.
    Canary(Arc<str>),
}

impl ComponentKey {
    /// Every key of a fixed section, in healthz order (models follow them).
    pub const ALL: [ComponentKey; 8] = [
        Self::Db,
        Self::Redis,
        Self::DocEngine,
        Self::Storage,
        Self::MessageQueue,
        Self::TaskExecutors,
        Self::Ragflow,
        Self::Parsing,
    ];

    /// The key of the model named `name` (`models.<name>`).
    pub fn model(name: &str) -> Self {
        Self::Model(format!("models.{name}").into())
    }

    /// The key of the canary named `name` (`canary.<name>`).
    pub fn canary(name: &str) -> Self {
        Self::Canary(format!("canary.{name}").into())
    }

    /// The key as written in config, healthz and the API.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Db => "db",
            Self::Redis => "redis",
            Self::DocEngine => "doc_engine",
            Self::Storage => "storage",
            Self::MessageQueue => "message_queue",
            Self::TaskExecutors => "task_executors",
            Self::Ragflow => "ragflow",
            Self::Parsing => "parsing",
            Self::Model(key) | Self::Canary(key) => key,
        }
    }

    /// The model's name, for a model key.
    pub fn model_name(&self) -> Option<&str> {
        match self {
            Self::Model(key) => key.strip_prefix("models."),
            _ => None,
        }
    }

    /// The canary's name, for a canary key.
    pub fn canary_name(&self) -> Option<&str> {
        match self {
            Self::Canary(key) => key.strip_prefix("canary."),
            _ => None,
        }
    }
}

impl fmt::Display for ComponentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ComponentKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
