//! Components: the dependencies ragwatch watches, each a key, a kind, a schedule and a probe.

use std::time::Duration;

use crate::config::{CanaryKind, ComponentKey, Config, ConfigError, KeyError, MessageQueueKind};
use crate::probe::{AnyProbe, Limits, Sources};

/// Whether healthz lists it: RAGFlow's healthz has no models; the executor summary only
/// when asked for.
fn in_healthz(key: &ComponentKey, config: &Config) -> bool {
    match key {
        ComponentKey::TaskExecutors => config.task_executors.healthz,
        // RAGFlow's healthz is served by RAGFlow itself: it never lists itself.
        ComponentKey::Ragflow
        | ComponentKey::Parsing
        | ComponentKey::Model(_)
        | ComponentKey::Canary(_) => false,
        _ => true,
    }
}

/// The components this one cannot work without: when one of them is red, this one's red
/// is its consequence, shown as `unknown` with that cause.
fn dependencies(key: &ComponentKey, config: &Config) -> Vec<ComponentKey> {
    // Only a component reading the very Redis of `redis` depends on it.
    let same_redis = config.heartbeat_redis().url() == &config.redis.url;
    match key {
        ComponentKey::TaskExecutors if same_redis => vec![ComponentKey::Redis],
        ComponentKey::MessageQueue => match &config.message_queue {
            Some(queue) if queue.kind == MessageQueueKind::RedisStream && queue.url.is_none() => {
                vec![ComponentKey::Redis]
            }
            _ => Vec::new(),
        },
        ComponentKey::Parsing => {
            let mut keys = vec![ComponentKey::Db];
            keys.extend(same_redis.then_some(ComponentKey::Redis));
            keys.extend([ComponentKey::DocEngine, ComponentKey::Storage]);
            keys.extend(config.models.iter().map(|m| ComponentKey::model(&m.name)));
            keys
        }
        // A canary asking `[ragflow]`'s API server cannot answer while that server is down;
        // an ingestion cannot parse without the executors and the parsing pipeline.
        ComponentKey::Canary(_) => {
            let Some(canary) = config.canary(key) else {
                return Vec::new();
            };
            let mut keys = Vec::new();
            if let Some(ragflow) = &config.ragflow
                && canary.api_url(Some(ragflow)) == Some(&ragflow.url)
            {
                keys.push(ComponentKey::Ragflow);
            }
            if canary.kind == CanaryKind::Ingestion {
                keys.extend([ComponentKey::TaskExecutors, ComponentKey::Parsing]);
            }
            keys
        }
        _ => Vec::new(),
    }
}

/// Counted in the overall status unless configured otherwise.
fn required_by_default(key: &ComponentKey) -> bool {
    !matches!(
        key,
        ComponentKey::TaskExecutors
            | ComponentKey::Parsing
            | ComponentKey::Model(_)
            | ComponentKey::Canary(_)
    )
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

/// The enabled components of a configuration, in healthz order, their probes sharing
/// `sources`.
pub fn from_config(config: &Config, sources: &Sources) -> Result<Vec<Component>, ConfigError> {
    let scrubber = config.scrubber();
    let models = config.models.iter().map(|m| ComponentKey::model(&m.name));
    let canaries = config
        .canaries
        .iter()
        .map(|c| ComponentKey::canary(&c.name));
    let mut components: Vec<Component> = ComponentKey::ALL
        .into_iter()
        .chain(models)
        .chain(canaries)
        .filter_map(|key| {
            let (settings, kind) = config.component_settings(&key)?;
            settings.enabled.then_some((key, settings, kind))
        })
        .map(|(key, settings, kind)| {
            let (default_interval, default_timeout) = config.default_schedule(&key);
            let timeout = settings.timeout.unwrap_or(default_timeout);
            let probe =
                AnyProbe::for_component(&key, config, timeout, sources).map_err(|error| {
                    config.invalid(KeyError {
                        message: scrubber.scrub(&error.message),
                        ..error
                    })
                })?;
            Ok(Component {
                required: settings.required.unwrap_or(required_by_default(&key)),
                in_healthz: in_healthz(&key, config),
                depends_on: dependencies(&key, config),
                interval: settings.interval.unwrap_or(default_interval),
                limits: Limits {
                    timeout,
                    slow: settings.slow_ms.map(Duration::from_millis),
                },
                key,
                kind,
                probe,
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    // A dependency that is not watched cannot be a cause.
    let watched: Vec<ComponentKey> = components.iter().map(|c| c.key.clone()).collect();
    for component in &mut components {
        component.depends_on.retain(|key| watched.contains(key));
    }
    Ok(components)
}
