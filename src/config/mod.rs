//! The typed configuration: what ragwatch watches and how. Defaults match a stock RAGFlow
//! docker compose deployment on localhost, so ragwatch runs beside one with no set-up.

mod alerts;
mod canaries;
mod cluster;
mod components;
mod dotenv;
mod email;
mod history;
mod key;
mod kind;
mod load;
mod login;
mod maintenance;
mod print;
mod ragflow;
mod receivers;
mod schema;
mod secret;
mod secret_files;
mod section;
mod server;
mod storage;
mod tls;
mod window;

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

pub use section::MIN_INTERVAL;

pub use alerts::{AlertmanagerConfig, AlertsConfig, WebhookConfig};
pub use canaries::{CanaryConfig, CanaryKind};
pub use cluster::{ClusterConfig, Quorum};
pub use components::{
    DEFAULT_DB_URL, DEFAULT_DOC_ENGINE_URL, DEFAULT_NATS_URL, DEFAULT_RAGFLOW_URL,
    DEFAULT_REDIS_URL, DbConfig, DbKind, DocEngineConfig, DocEngineKind, EngineProtocol,
    MessageQueueConfig, MessageQueueKind, ModelConfig, ModelKind, ParsingConfig, RagflowApiConfig,
    RedisConfig, TaskExecutorsConfig,
};
pub use email::EmailConfig;
pub use history::{DEFAULT_HISTORY_URL, HistoryConfig};
pub use key::ComponentKey;
pub use kind::{Kind, UnknownKind};
pub use load::{ConfigError, KeyError, load, load_with_ragflow};
pub use login::Login;
pub use maintenance::MaintenanceConfig;
pub use ragflow::Import;
pub use receivers::{
    DingtalkConfig, DiscordConfig, FeishuConfig, GoogleChatConfig, NtfyConfig, OpsgenieConfig,
    PagerdutyConfig, ReceiverConfig, Routing, Severity, SlackConfig, TeamsConfig, TelegramConfig,
    TokenUrl, WecomConfig,
};
pub use secret::{
    REDACTED, Scrubber, Secret, SecretUrl, Secrets, basic_auth, host_port, redact_url,
};
pub use server::{
    DEFAULT_FRESH_MIN_INTERVAL, DEFAULT_LISTEN, DEFAULT_SHUTDOWN_TIMEOUT, ServerConfig,
};
pub use storage::{
    AddressingStyle, AzureConfig, DEFAULT_GCS_ENDPOINT, DEFAULT_STORAGE_ENDPOINT, GcsConfig,
    S3Config, StorageConfig, StorageKind, StorageService,
};
pub use tls::CaFile;
pub use window::{LONGEST_WINDOW, Stretch, Window};

/// The whole configuration (one TOML file plus `RAGWATCH_<SECTION>__<KEY>` overrides).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerConfig,
    /// Defaults shared by every component's schedule.
    pub monitor: MonitorConfig,
    /// The relational database (`db`).
    #[serde(deserialize_with = "section::one")]
    pub db: DbConfig,
    /// Redis (`redis`).
    #[serde(deserialize_with = "section::one")]
    pub redis: RedisConfig,
    /// The document engine (`doc_engine`).
    #[serde(deserialize_with = "section::one")]
    pub doc_engine: DocEngineConfig,
    /// Object storage (`storage`). The loader reads it ([`StorageConfig::read`]): its kind,
    /// wherever it stands in the table, picks the struct that reads the other keys.
    #[serde(skip_deserializing)]
    pub storage: StorageConfig,
    /// The message queue (`message_queue`); watched only when the section is present.
    #[serde(
        deserialize_with = "section::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_queue: Option<MessageQueueConfig>,
    /// RAGFlow's task executors (`task_executors`), read from their Redis heartbeats.
    #[serde(deserialize_with = "section::one")]
    pub task_executors: TaskExecutorsConfig,
    /// RAGFlow's own API server (`ragflow`); watched only when the section is present.
    #[serde(
        deserialize_with = "section::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub ragflow: Option<RagflowApiConfig>,
    /// RAGFlow's parsing pipeline (`parsing`): its task table and queue; watched only when
    /// the section is present.
    #[serde(
        deserialize_with = "section::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub parsing: Option<ParsingConfig>,
    /// Where results and incidents are kept.
    pub history: HistoryConfig,
    /// Replicas sharing the history, one leader and a quorum; a single instance when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
    /// Alerts on status changes; none are sent when the section is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertsConfig>,
    /// The model servers the platform calls (`[[models]]`), each a component.
    #[serde(
        deserialize_with = "section::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub models: Vec<ModelConfig>,
    /// Synthetic checks through RAGFlow's API (`[[canaries]]`), each a component.
    #[serde(
        deserialize_with = "section::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub canaries: Vec<CanaryConfig>,
    /// Where each key was set, so that an error found after loading names it too.
    #[serde(skip)]
    origins: load::Origins,
}

impl Config {
    /// The configuration as TOML that loads back to itself (keys sorted in each section).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(&toml::Table::try_from(self)?)
    }

    /// The configuration as `ragwatch config` prints it: [`Config::to_toml`] with a
    /// comment after each secret saying where it came from (a file, a variable, a line).
    pub fn to_annotated_toml(&self) -> Result<String, toml::ser::Error> {
        let text = self.to_toml()?;
        Ok(print::with_sources(&text, |key| self.origins.source(key)))
    }

    /// Every secret value in the configuration, for the [`Scrubber`].
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        Secrets::secrets(self, &mut secrets);
        secrets
    }

    /// A configuration error blamed on `error.key`, named by where that key was set (file
    /// and line, or environment variable): for errors found after loading, such as a URL
    /// a driver refuses.
    pub fn invalid(&self, error: KeyError) -> ConfigError {
        self.origins.invalid(error)
    }

    /// Where `key` (or the section holding it) was set: `file:line`, an environment
    /// variable, RAGFlow's configuration, or the file alone.
    pub fn origin(&self, key: &str) -> String {
        self.origins.location(key)
    }

    /// The Redis the task executors write their heartbeats to, and how to sign in to it:
    /// `task_executors.redis_url`, else `redis`'s, with the section's own credentials
    /// where given.
    pub fn heartbeat_redis(&self) -> Login {
        let executors = &self.task_executors;
        let (username, password) = (
            executors.redis_username.as_ref(),
            executors.redis_password.as_ref(),
        );
        match &executors.redis_url {
            Some(url) => Login::new(url.clone(), username.cloned(), password.cloned()),
            None => self.redis.login().with_keys(username, password),
        }
    }

    /// The certificate authorities of the heartbeat Redis: `task_executors.tls_ca_file`,
    /// else `redis.tls_ca_file` when the executors' Redis is `redis.url`.
    pub fn heartbeat_redis_ca_file(&self) -> Option<&CaFile> {
        let executors = &self.task_executors;
        executors.settings.tls_ca_file.as_ref().or_else(|| {
            executors
                .redis_url
                .is_none()
                .then_some(self.redis.settings.tls_ca_file.as_ref())
                .flatten()
        })
    }

    /// The certificate authorities of the message queue: its own `tls_ca_file`, else
    /// `redis.tls_ca_file` for Redis streams read from `redis.url`.
    pub fn message_queue_ca_file<'a>(
        &'a self,
        queue: &'a MessageQueueConfig,
    ) -> Option<&'a CaFile> {
        queue.settings.tls_ca_file.as_ref().or_else(|| {
            (queue.kind == MessageQueueKind::RedisStream && queue.url.is_none())
                .then_some(self.redis.settings.tls_ca_file.as_ref())
                .flatten()
        })
    }

    /// The message queue's server and how to sign in to it: its own URL, else the kind's
    /// default (NATS on localhost, or `redis`'s Redis for Redis streams), with its own
    /// credentials where given.
    pub fn message_queue_login(&self, queue: &MessageQueueConfig) -> Login {
        let (username, password) = (queue.username.as_ref(), queue.password.as_ref());
        let url = match (&queue.url, queue.kind) {
            (Some(url), _) => url.clone(),
            (None, MessageQueueKind::Nats) => {
                SecretUrl::parse(DEFAULT_NATS_URL).expect("default URL parses")
            }
            (None, MessageQueueKind::RedisStream) => {
                return self.redis.login().with_keys(username, password);
            }
        };
        Login::new(url, username.cloned(), password.cloned())
    }

    /// The `[[models]]` entry a model component key names.
    pub fn model(&self, key: &ComponentKey) -> Option<&ModelConfig> {
        let name = key.model_name()?;
        self.models.iter().find(|m| m.name == name)
    }

    /// The `[[canaries]]` entry a canary component key names.
    pub fn canary(&self, key: &ComponentKey) -> Option<&CanaryConfig> {
        let name = key.canary_name()?;
        self.canaries.iter().find(|c| c.name == name)
    }

    /// The interval and timeout of `key` when its section sets none: a canary's kind has
    /// its own, every other component takes `[monitor]`'s.
    pub fn default_schedule(&self, key: &ComponentKey) -> (Duration, Duration) {
        match self.canary(key) {
            Some(canary) => (
                canary.kind.default_interval(),
                canary.kind.default_timeout(),
            ),
            None => (self.monitor.interval, self.monitor.timeout),
        }
    }

    /// The settings and kind name of the section `key` names; `None` when that section is
    /// absent.
    pub fn component_settings(
        &self,
        key: &ComponentKey,
    ) -> Option<(&ComponentSettings, &'static str)> {
        Some(match key {
            ComponentKey::Db => (&self.db.settings, self.db.kind.as_str()),
            ComponentKey::Redis => (&self.redis.settings, "redis"),
            ComponentKey::DocEngine => (&self.doc_engine.settings, self.doc_engine.kind.as_str()),
            ComponentKey::Storage => (&self.storage.settings, self.storage.kind().as_str()),
            ComponentKey::MessageQueue => {
                let queue = self.message_queue.as_ref()?;
                (&queue.settings, queue.kind.as_str())
            }
            ComponentKey::TaskExecutors => (&self.task_executors.settings, "redis"),
            ComponentKey::Ragflow => (&self.ragflow.as_ref()?.settings, "http"),
            ComponentKey::Parsing => (&self.parsing.as_ref()?.settings, "ragflow"),
            ComponentKey::Model(_) => {
                let model = self.model(key)?;
                (&model.settings, model.kind.as_str())
            }
            ComponentKey::Canary(_) => {
                let canary = self.canary(key)?;
                (&canary.settings, canary.kind.as_str())
            }
        })
    }

    /// The scrubber that removes this configuration's secrets from free text.
    pub fn scrubber(&self) -> Scrubber {
        Scrubber::new(self.secrets())
    }

    /// Consistency rules serde cannot express, section by section. Returns the key to blame.
    pub fn validate(&self) -> Result<(), KeyError> {
        self.db.validate()?;
        self.redis.validate()?;
        self.doc_engine.validate()?;
        self.storage.validate()?;
        if let Some(queue) = &self.message_queue {
            queue.validate(&self.message_queue_login(queue))?;
        }
        self.task_executors.validate()?;
        self.history.validate()?;
        if let Some(cluster) = &self.cluster {
            cluster.validate(&self.history)?;
        }
        if let Some(alerts) = &self.alerts {
            alerts.validate()?;
            alerts.validate_routing(|key| {
                ComponentKey::ALL.iter().any(|k| k.as_str() == key)
                    || self
                        .models
                        .iter()
                        .any(|m| ComponentKey::model(&m.name).as_str() == key)
            })?;
        }
        for (i, model) in self.models.iter().enumerate() {
            model.validate(i, &self.models[..i])?;
        }
        for (i, canary) in self.canaries.iter().enumerate() {
            canary.validate(i, &self.canaries[..i], self.ragflow.as_ref())?;
        }
        if let Some(parsing) = &self.parsing
            && parsing.settings.tls_ca_file.is_some()
        {
            return Err(KeyError::new(
                "parsing.tls_ca_file",
                "the parsing pipeline reads the servers of [db] and [task_executors]: set tls_ca_file in those sections",
            ));
        }
        self.validate_schedules()
    }

    /// Every enabled component's timeout fits in its interval: a longer one would let a hung
    /// probe still run when the next is due, silently stretching the schedule to the
    /// timeout and leaving the latest result older than the interval promises.
    fn validate_schedules(&self) -> Result<(), KeyError> {
        let fixed = ComponentKey::ALL.into_iter().filter_map(|key| {
            let (settings, _) = self.component_settings(&key)?;
            Some((key.as_str().to_owned(), settings, key))
        });
        let models = (self.models.iter().enumerate()).map(|(i, model)| {
            let key = ComponentKey::model(&model.name);
            (format!("models[{i}]"), &model.settings, key)
        });
        let canaries = (self.canaries.iter().enumerate()).map(|(i, canary)| {
            let key = ComponentKey::canary(&canary.name);
            (format!("canaries[{i}]"), &canary.settings, key)
        });
        for (section, settings, key) in fixed.chain(models).chain(canaries) {
            let (default_interval, default_timeout) = self.default_schedule(&key);
            let interval = settings.interval.unwrap_or(default_interval);
            let timeout = settings.timeout.unwrap_or(default_timeout);
            if !settings.enabled || timeout <= interval {
                continue;
            }
            let (key, whose) = match (settings.timeout, settings.interval) {
                (Some(_), _) => (format!("{section}.timeout"), section),
                (None, Some(_)) => (format!("{section}.interval"), section),
                (None, None) => ("monitor.timeout".to_owned(), "the components".to_owned()),
            };
            return Err(KeyError::new(
                key,
                format!(
                    "{whose} would be probed every {} with a timeout of {}: a hung probe would still run when the next one is due; make the timeout at most the interval",
                    section::duration_text(interval),
                    section::duration_text(timeout)
                ),
            ));
        }
        Ok(())
    }
}

impl Secrets for Config {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            server,
            monitor,
            db,
            redis,
            doc_engine,
            storage,
            message_queue,
            task_executors,
            ragflow,
            parsing,
            history,
            cluster: _,
            alerts,
            models,
            canaries,
            origins: _,
        } = self;
        server.secrets(out);
        monitor.secrets(out);
        db.secrets(out);
        redis.secrets(out);
        doc_engine.secrets(out);
        storage.secrets(out);
        message_queue.secrets(out);
        task_executors.secrets(out);
        ragflow.secrets(out);
        parsing.secrets(out);
        history.secrets(out);
        alerts.secrets(out);
        models.secrets(out);
        canaries.secrets(out);
    }
}

/// `[monitor]`: the schedule every component uses unless its own section says otherwise.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// How often each component is probed (at least [`MIN_INTERVAL`]).
    #[serde(
        deserialize_with = "section::interval",
        serialize_with = "section::write_duration"
    )]
    pub interval: Duration,
    /// How long one probe may take before it counts as failed.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
}

/// Default probe interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Default probe timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Settings every component section takes, beside its own keys (read by the section
/// module: [`ComponentSettings::KEYS`]).
#[derive(Clone, Debug, Serialize)]
pub struct ComponentSettings {
    /// Probe this component at all.
    pub enabled: bool,
    /// Count it in the overall status; false shows it without counting it. Unset: the
    /// component's default (true, except for `task_executors`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Its own probe interval (default: `monitor.interval`).
    #[serde(
        serialize_with = "optional_duration_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    /// Its own probe timeout (default: `monitor.timeout`).
    #[serde(
        serialize_with = "optional_duration_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// Latency in milliseconds above which a working component is yellow (default: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_ms: Option<u64>,
    /// Certificate authorities its TLS connections trust beside the system's store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<CaFile>,
}

impl Default for ComponentSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            required: None,
            interval: None,
            timeout: None,
            slow_ms: None,
            tls_ca_file: None,
        }
    }
}

/// Durations written as text: `"5s"`, `"250ms"`, `"1m 30s"`.
mod duration_text {
    use super::*;

    pub use section::write_duration as serialize;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        section::DurationText::deserialize(deserializer).map(|text| text.0)
    }
}

/// Writes an optional per-component duration.
fn optional_duration_text<S: serde::Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(d) => section::write_duration(d, serializer),
        None => serializer.serialize_none(),
    }
}

// Each section's credentials, field by field (see [`Secrets`]).

impl Secrets for MonitorConfig {
    fn secrets(&self, _: &mut Vec<String>) {
        let Self {
            interval: _,
            timeout: _,
        } = self;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn every_credential_reaches_the_scrubber() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(EVERY_SECRET[0].as_bytes()).unwrap();
        let config = super::load(Some(file.path()), Vec::new()).unwrap();
        let mut secrets = config.secrets();
        let azure = |credential: &str| {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            write!(
                file,
                "[storage]\nkind = \"azure\"\naccount_name = \"a\"\ncontainer = \"c\"\n{credential}\n"
            )
            .unwrap();
            super::load(Some(file.path()), Vec::new())
                .unwrap()
                .secrets()
        };
        secrets.extend(azure("account_key = \"s-azure-key\""));
        secrets.extend(azure("sas_token = \"?sv=2021-06-08&sig=s-sas%2Bsig\""));
        for expected in [
            "s-token",
            "s-db",
            "s-db-key",
            "s-redis",
            "s-redis-key",
            "s-es-url",
            "s-es",
            "s-s3",
            "s-nats",
            "s-nats-key",
            "s-executors",
            "s-executors-key",
            "s-history",
            "s-history-key",
            "s-hook-url",
            "s-hook",
            "s-am",
            "s-azure-key",
            "s-canary",
            "?sv=2021-06-08&sig=s-sas%2Bsig",
            "s-sas%2Bsig",
            "s-sas+sig",
        ] {
            assert!(
                secrets.iter().any(|s| s == expected),
                "{expected} is not scrubbed"
            );
        }
    }

    /// A configuration setting every credential, one per storage kind that has its own.
    const EVERY_SECRET: [&str; 3] = [
        r#"
[server]
tokens = ["s-token"]
[db]
url = "mysql://root:s-db@h/d"
password = "s-db-key"
[redis]
url = "redis://:s-redis@h/1"
password = "s-redis-key"
[doc_engine]
url = "http://u:s-es-url@h:9200"
password = "s-es"
[storage]
secret_key = "s-s3"
[message_queue]
url = "nats://u:s-nats@h:4222"
password = "s-nats-key"
[task_executors]
redis_url = "redis://:s-executors@h/1"
redis_password = "s-executors-key"
[history]
url = "postgres://u:s-history@h/ragwatch"
password = "s-history-key"
[alerts]
[[alerts.webhook]]
url = "https://u:s-hook-url@hooks.example/x"
secret = "s-hook"
[[alerts.alertmanager]]
url = "http://u:s-am@am:9093"
[[alerts.slack]]
url = "https://hooks.slack.example/services/T1/B2/s-slack"
[[alerts.discord]]
url = "https://discord.example/api/webhooks/1/s-discord"
[[alerts.telegram]]
bot_token = "s-telegram"
chat_id = "-100"
[[alerts.ntfy]]
url = "https://ntfy.example/s-ntfy-topic"
token = "s-ntfy"
[[alerts.pagerduty]]
routing_key = "s-pagerduty"
[[alerts.teams]]
url = "https://x.logic.example/workflows/1/triggers/manual/paths/invoke?sig=s-teams"
[[alerts.googlechat]]
url = "https://chat.example/v1/spaces/S/messages?key=k&token=s-googlechat"
[[alerts.wecom]]
url = "https://qyapi.example/cgi-bin/webhook/send?key=s-wecom"
[[alerts.feishu]]
url = "https://open.feishu.example/open-apis/bot/v2/hook/s-feishu-url"
secret = "s-feishu"
[[alerts.dingtalk]]
url = "https://oapi.dingtalk.example/robot/send?access_token=s-dingtalk-url"
secret = "s-dingtalk"
[[alerts.opsgenie]]
api_key = "s-opsgenie"
[[alerts.email]]
smtp_url = "smtp://mail.example:587"
from = "ragwatch@example.com"
to = ["ops@example.com"]
username = "ragwatch"
password = "s-smtp"
[[models]]
name = "m"
kind = "openai"
url = "http://u:s-model-url@m"
api_key = "s-model"
[[canaries]]
name = "c"
kind = "retrieval"
url = "http://ragflow:9380"
api_key = "s-canary"
dataset_ids = ["d"]
question = "q"
"#,
        "[storage]\nkind = \"azure\"\naccount_name = \"a\"\ncontainer = \"c\"\naccount_key = \"s-azure\"\n",
        "[storage]\nkind = \"azure\"\naccount_name = \"a\"\ncontainer = \"c\"\nsas_token = \"sig=s-sas\"\n",
    ];

    /// The keys whose values `ragwatch config` shows redacted: every key of a secret type.
    fn redacted_keys(value: &toml::Value, path: String, out: &mut Vec<String>) {
        match value {
            toml::Value::String(text) if text.contains(super::REDACTED) => out.push(path),
            toml::Value::Table(table) => {
                for (key, value) in table {
                    let path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    redacted_keys(value, path, out);
                }
            }
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if item.is_table() {
                        redacted_keys(item, format!("{path}[{i}]"), out);
                    } else if item.as_str().is_some_and(|t| t.contains(super::REDACTED)) {
                        // A list of secrets (tokens) is one key.
                        out.push(path.clone());
                        break;
                    }
                }
            }
            _ => {}
        }
    }

    /// The table holding the key at `path` (`a.b[0].c`), made where missing, and the key.
    fn parent<'t>(table: &'t mut toml::Table, path: &'t str) -> (&'t mut toml::Table, &'t str) {
        let (parents, last) = path.rsplit_once('.').expect("a key in a section");
        let mut current = table;
        for segment in parents.split('.') {
            let (name, index) = match segment.split_once('[') {
                Some((name, index)) => (name, index.trim_end_matches(']').parse::<usize>().ok()),
                None => (segment, None),
            };
            let entry = current
                .entry(name)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            current = match index {
                Some(i) => entry.as_array_mut().unwrap()[i].as_table_mut().unwrap(),
                None => entry.as_table_mut().unwrap(),
            };
        }
        (current, last)
    }

    /// Sets the value at `path` of a table.
    fn set(table: &mut toml::Table, path: &str, value: toml::Value) {
        let (section, key) = parent(table, path);
        section.insert(key.to_owned(), value);
    }

    /// Removes the value at `path` of a table, returning it.
    fn take(table: &mut toml::Table, path: &str) -> Option<toml::Value> {
        let (section, key) = parent(table, path);
        section.remove(key)
    }

    /// Every secret key (every key `ragwatch config` shows redacted): a value of the wrong
    /// type in the file is refused naming the key and the type, never the value; from the
    /// environment any value is a string (`4711` is a password, not a number); and its
    /// `<key>_file` twin gives the same configuration, read from a file.
    #[test]
    fn every_secret_key_reads_text_from_the_environment_and_from_files() {
        let mut checked = Vec::new();
        for text in EVERY_SECRET {
            let config = super::load(Some(file(text).path()), Vec::new()).unwrap();
            let printed: toml::Value = toml::from_str(&config.to_toml().unwrap()).unwrap();
            let mut keys = Vec::new();
            redacted_keys(&printed, String::new(), &mut keys);
            let source: toml::Table = toml::from_str(text).unwrap();
            for key in keys {
                let mut bad = source.clone();
                set(&mut bad, &key, toml::Value::Integer(4711));
                let f = file(&toml::to_string(&bad).unwrap());
                let err = super::load(Some(f.path()), Vec::new())
                    .unwrap_err()
                    .to_string();
                let expected_type = if key == "server.tokens" {
                    "invalid type: integer, expected a token string or an array of token strings"
                } else {
                    "invalid type: integer, expected a string"
                };
                assert!(
                    err.ends_with(&format!("{key}: {expected_type}")),
                    "{key}: {err}"
                );
                assert!(!err.contains("4711"), "{key}: {err}");
                if !key.contains('[') {
                    let variable =
                        format!("RAGWATCH_{}", key.to_ascii_uppercase().replace('.', "__"));
                    let env = vec![(variable.clone(), "4711".to_owned())];
                    match super::load(Some(file(text).path()), env) {
                        Ok(config) => assert!(
                            config.secrets().iter().any(|s| s == "4711"),
                            "{variable}=4711 is not the secret"
                        ),
                        // A URL key reads it as a string too, and refuses it as a URL.
                        Err(err) => assert_eq!(
                            err.to_string(),
                            format!(
                                "environment variable {variable}: {key}: invalid URL (relative URL without a base); write it as scheme://[user:password@]host:port/..."
                            )
                        ),
                    }
                }
                let mut twin = source.clone();
                let Some(value) = take(&mut twin, &key) else {
                    continue; // a default, checked with the configuration that sets it
                };
                let secret = match &value {
                    toml::Value::Array(items) => items[0].as_str().unwrap().to_owned(),
                    other => other.as_str().unwrap().to_owned(),
                };
                let secret_file = file(&format!("{secret}\n"));
                let path = secret_file.path().display().to_string();
                set(&mut twin, &format!("{key}_file"), toml::Value::String(path));
                let from_file = super::load(
                    Some(file(&toml::to_string(&twin).unwrap()).path()),
                    Vec::new(),
                )
                .unwrap_or_else(|e| panic!("{key}_file: {e}"));
                assert_eq!(from_file.secrets(), config.secrets(), "{key}_file");
                checked.push(key);
            }
        }
        checked.sort();
        checked.dedup();
        let expected = [
            "alerts.alertmanager[0].url",
            "alerts.dingtalk[0].secret",
            "alerts.dingtalk[0].url",
            "alerts.discord[0].url",
            "alerts.email[0].password",
            "alerts.feishu[0].secret",
            "alerts.feishu[0].url",
            "alerts.googlechat[0].url",
            "alerts.ntfy[0].token",
            "alerts.ntfy[0].url",
            "alerts.opsgenie[0].api_key",
            "alerts.pagerduty[0].routing_key",
            "alerts.slack[0].url",
            "alerts.teams[0].url",
            "alerts.telegram[0].bot_token",
            "alerts.webhook[0].secret",
            "alerts.webhook[0].url",
            "alerts.wecom[0].url",
            "canaries[0].api_key",
            "db.password",
            "db.url",
            "doc_engine.password",
            "doc_engine.url",
            "history.password",
            "history.url",
            "message_queue.password",
            "message_queue.url",
            "models[0].api_key",
            "models[0].url",
            "redis.password",
            "redis.url",
            "server.tokens",
            "storage.account_key",
            "storage.sas_token",
            "storage.secret_key",
            "task_executors.redis_password",
            "task_executors.redis_url",
        ];
        assert_eq!(checked, expected);
        // The schema, which finds secret keys by their type as they are read, knows
        // exactly the keys printed redacted.
        let mut known: Vec<String> = super::schema::secret_keys()
            .map(|key| key.replace("[]", "[0]"))
            .collect();
        known.sort();
        assert_eq!(known, expected);
        // Every credential of the configurations is behind one of these keys.
        let secrets: usize = EVERY_SECRET
            .iter()
            .map(|text| {
                let config = super::load(Some(file(text).path()), Vec::new()).unwrap();
                config.secrets().len()
            })
            .sum();
        assert!(secrets >= expected.len(), "{secrets}");
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }
}
