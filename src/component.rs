//! Components: the dependencies ragwatch watches, each a key, a kind, a schedule and a probe.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::config::{ComponentSettings, Config, ConfigError, KeyError, MessageQueueKind};
use crate::probe::{AnyProbe, Limits};

/// A component's key, in the order RAGFlow's healthz lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    Model(&'static str),
}

impl Serialize for ComponentKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The key of the model named `name`. Keys are `Copy` and live as long as the process;
/// each distinct name is stored once, however often configurations are loaded.
pub fn model_key(name: &str) -> ComponentKey {
    static KEYS: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let key = format!("models.{name}");
    let mut keys = KEYS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let stored = match keys.get(key.as_str()) {
        Some(stored) => *stored,
        None => {
            let leaked: &'static str = Box::leak(key.into_boxed_str());
            keys.insert(leaked);
            leaked
        }
    };
    ComponentKey::Model(stored)
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

    /// The key as written in config, healthz and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Db => "db",
            Self::Redis => "redis",
            Self::DocEngine => "doc_engine",
            Self::Storage => "storage",
            Self::MessageQueue => "message_queue",
            Self::TaskExecutors => "task_executors",
            Self::Ragflow => "ragflow",
            Self::Parsing => "parsing",
            Self::Model(key) => key,
        }
    }

    /// Its section's settings and kind name; `None` when the section is absent.
    fn settings(self, config: &Config) -> Option<(&ComponentSettings, &'static str)> {
        Some(match self {
            Self::Db => (&config.db.settings, config.db.kind.as_str()),
            Self::Redis => (&config.redis.settings, "redis"),
            Self::DocEngine => (&config.doc_engine.settings, config.doc_engine.kind.as_str()),
            Self::Storage => (&config.storage.settings, config.storage.kind().as_str()),
            Self::MessageQueue => {
                let queue = config.message_queue.as_ref()?;
                (&queue.settings, queue.kind.as_str())
            }
            Self::TaskExecutors => (&config.task_executors.settings, "redis"),
            Self::Ragflow => (&config.ragflow.as_ref()?.settings, "http"),
            Self::Parsing => (&config.parsing.as_ref()?.settings, "ragflow"),
            Self::Model(_) => {
                let model = config.model(self)?;
                (&model.settings, model.kind.as_str())
            }
        })
    }

    /// Whether healthz lists it: RAGFlow's healthz has no models; the executor summary
    /// only when asked for.
    fn in_healthz(self, config: &Config) -> bool {
        match self {
            Self::TaskExecutors => config.task_executors.healthz,
            // RAGFlow's healthz is served by RAGFlow itself: it never lists itself.
            Self::Ragflow | Self::Parsing | Self::Model(_) => false,
            _ => true,
        }
    }

    /// The components this one cannot work without: when one of them is red, this one's
    /// red is its consequence, shown as `unknown` with that cause.
    fn dependencies(self, config: &Config) -> Vec<ComponentKey> {
        // Only a component reading the very Redis of `redis` depends on it.
        let same_redis = config.heartbeat_redis() == &config.redis.url;
        match self {
            Self::TaskExecutors if same_redis => vec![Self::Redis],
            Self::MessageQueue => match &config.message_queue {
                Some(queue)
                    if queue.kind == MessageQueueKind::RedisStream && queue.url.is_none() =>
                {
                    vec![Self::Redis]
                }
                _ => Vec::new(),
            },
            Self::Parsing => {
                let mut keys = vec![Self::Db];
                keys.extend(same_redis.then_some(Self::Redis));
                keys.extend([Self::DocEngine, Self::Storage]);
                keys.extend(config.models.iter().map(|m| model_key(&m.name)));
                keys
            }
            _ => Vec::new(),
        }
    }

    /// Counted in the overall status unless configured otherwise.
    fn required_by_default(self) -> bool {
        !matches!(self, Self::TaskExecutors | Self::Parsing | Self::Model(_))
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
    /// The watched components it cannot work without.
    pub depends_on: Vec<ComponentKey>,
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
    let models = config.models.iter().map(|m| model_key(&m.name));
    let mut components: Vec<Component> = ComponentKey::ALL
        .into_iter()
        .chain(models)
        .filter_map(|key| {
            let (settings, kind) = key.settings(config)?;
            settings.enabled.then_some((key, settings, kind))
        })
        .map(|(key, settings, kind)| {
            let timeout = settings.timeout.unwrap_or(config.monitor.timeout);
            let probe = AnyProbe::for_component(key, config, timeout).map_err(|error| {
                config.invalid(KeyError {
                    message: scrubber.scrub(&error.message),
                    ..error
                })
            })?;
            Ok(Component {
                key,
                kind,
                required: settings.required.unwrap_or(key.required_by_default()),
                in_healthz: key.in_healthz(config),
                depends_on: key.dependencies(config),
                interval: settings.interval.unwrap_or(config.monitor.interval),
                limits: Limits {
                    timeout,
                    slow: settings.slow_ms.map(Duration::from_millis),
                },
                probe,
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    // A dependency that is not watched cannot be a cause.
    let watched: Vec<ComponentKey> = components.iter().map(|c| c.key).collect();
    for component in &mut components {
        component.depends_on.retain(|key| watched.contains(key));
    }
    Ok(components)
}
