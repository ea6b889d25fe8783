//! Components: the dependencies ragwatch watches, each a key, a kind, a schedule and a probe.

use std::time::Duration;

use serde::Serialize;

use crate::config::{
    ComponentSettings, Config, ConfigError, DbKind, DocEngineKind, MessageQueueKind, StorageKind,
};
use crate::probe::{AnyProbe, Limits};

/// A component's key, in the order RAGFlow's healthz lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
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
}

impl ComponentKey {
    /// Every key, in healthz order.
    pub const ALL: [ComponentKey; 6] = [
        Self::Db,
        Self::Redis,
        Self::DocEngine,
        Self::Storage,
        Self::MessageQueue,
        Self::TaskExecutors,
    ];

    /// The key as written in config, healthz and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Db => "db",
            Self::Redis => "redis",
            Self::DocEngine => "doc_engine",
            Self::Storage => "storage",
            Self::MessageQueue => "message_queue",
            Self::TaskExecutors => "task_executors",
        }
    }

    /// Its section's settings and kind name; `None` when the section is absent.
    fn settings(self, config: &Config) -> Option<(&ComponentSettings, &'static str)> {
        Some(match self {
            Self::Db => (
                &config.db.settings,
                match config.db.kind {
                    DbKind::Mysql => "mysql",
                    DbKind::Postgres => "postgres",
                },
            ),
            Self::Redis => (&config.redis.settings, "redis"),
            Self::DocEngine => (
                &config.doc_engine.settings,
                match config.doc_engine.kind {
                    DocEngineKind::Elasticsearch => "elasticsearch",
                    DocEngineKind::Opensearch => "opensearch",
                },
            ),
            Self::Storage => (
                &config.storage.settings,
                match config.storage.kind {
                    StorageKind::Minio => "minio",
                    StorageKind::S3 => "s3",
                },
            ),
            Self::MessageQueue => {
                let queue = config.message_queue.as_ref()?;
                (
                    &queue.settings,
                    match queue.kind {
                        MessageQueueKind::Nats => "nats",
                        MessageQueueKind::RedisStream => "redis_stream",
                    },
                )
            }
            Self::TaskExecutors => (&config.task_executors.settings, "redis"),
        })
    }

    /// Whether healthz lists it (the executor summary only when asked for).
    fn in_healthz(self, config: &Config) -> bool {
        self != Self::TaskExecutors || config.task_executors.healthz
    }
}

/// One watched dependency.
pub struct Component {
    /// Which dependency.
    pub key: ComponentKey,
    /// Its kind (`mysql`, `redis`, `elasticsearch`, ...).
    pub kind: &'static str,
    /// Counted in the overall status.
    pub required: bool,
    /// Listed in healthz (readyz and the API list every component).
    pub in_healthz: bool,
    /// Time between probes.
    pub interval: Duration,
    /// Timeout and slowness threshold of each probe.
    pub limits: Limits,
    /// The probe itself.
    pub probe: AnyProbe,
}

impl Component {
    /// Age after which a result no longer counts: twice the interval plus the timeout.
    pub fn stale_after(&self) -> Duration {
        self.interval * 2 + self.limits.timeout
    }
}

/// The enabled components of a configuration, in healthz order.
pub fn from_config(config: &Config) -> Result<Vec<Component>, ConfigError> {
    let scrubber = config.scrubber();
    ComponentKey::ALL
        .into_iter()
        .filter_map(|key| {
            let (settings, kind) = key.settings(config)?;
            settings.enabled.then_some((key, settings, kind))
        })
        .map(|(key, settings, kind)| {
            let timeout = settings.timeout.unwrap_or(config.monitor.timeout);
            let probe = AnyProbe::for_component(key, config, timeout).map_err(|message| {
                ConfigError::Invalid {
                    location: key.as_str().to_owned(),
                    message: scrubber.scrub(&message),
                }
            })?;
            Ok(Component {
                key,
                kind,
                required: settings
                    .required
                    .unwrap_or(key != ComponentKey::TaskExecutors),
                in_healthz: key.in_healthz(config),
                interval: settings.interval.unwrap_or(config.monitor.interval),
                limits: Limits {
                    timeout,
                    slow: settings.slow_ms.map(Duration::from_millis),
                },
                probe,
            })
        })
        .collect()
}
