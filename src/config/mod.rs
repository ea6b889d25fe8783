//! The typed configuration: what ragwatch watches and how. Defaults match a stock RAGFlow
//! docker compose deployment on localhost, so ragwatch runs beside one with no set-up.

mod key;
mod kind;
mod load;
mod ragflow;
mod secret;
mod section;
mod storage;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use kind::{Quoted, text_kinds};
use section::Section;

pub use section::MIN_INTERVAL;

pub use key::ComponentKey;
pub use kind::{Kind, UnknownKind};
pub use load::{ConfigError, KeyError, load, load_with_ragflow};
pub use ragflow::Import;
pub use secret::{
    REDACTED, Scrubber, Secret, SecretUrl, Secrets, basic_auth, host_port, redact_url,
};
pub use storage::{
    AddressingStyle, AzureConfig, DEFAULT_GCS_ENDPOINT, DEFAULT_STORAGE_ENDPOINT, GcsConfig,
    S3Config, StorageConfig, StorageKind, StorageService,
};

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
    /// Alerts on status changes; none are sent when the section is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertsConfig>,
    /// The model servers the platform calls (`[[models]]`), each a component.
    #[serde(
        deserialize_with = "section::list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub models: Vec<ModelConfig>,
    /// Where each key was set, so that an error found after loading names it too.
    #[serde(skip)]
    origins: load::Origins,
}

impl Config {
    /// The configuration as TOML that loads back to itself (keys sorted in each section).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(&toml::Table::try_from(self)?)
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

    /// The Redis the task executors write their heartbeats to.
    pub fn heartbeat_redis(&self) -> &SecretUrl {
        self.task_executors
            .redis_url
            .as_ref()
            .unwrap_or(&self.redis.url)
    }

    /// The message queue's URL: its own, else the kind's default (NATS on localhost, or
    /// the Redis of `redis.url` for Redis streams).
    pub fn message_queue_url(&self, queue: &MessageQueueConfig) -> SecretUrl {
        match (&queue.url, queue.kind) {
            (Some(url), _) => url.clone(),
            (None, MessageQueueKind::Nats) => {
                SecretUrl::parse(DEFAULT_NATS_URL).expect("default URL parses")
            }
            (None, MessageQueueKind::RedisStream) => self.redis.url.clone(),
        }
    }

    /// The `[[models]]` entry a model component key names.
    pub fn model(&self, key: &ComponentKey) -> Option<&ModelConfig> {
        let name = key.model_name()?;
        self.models.iter().find(|m| m.name == name)
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
            queue.validate(&self.message_queue_url(queue))?;
        }
        self.task_executors.validate()?;
        self.history.validate()?;
        if let Some(alerts) = &self.alerts {
            alerts.validate()?;
        }
        for (i, model) in self.models.iter().enumerate() {
            model.validate(i, &self.models[..i])?;
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
            alerts,
            models,
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
    }
}

/// What serves a model, and so how it is asked whether it works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// Hugging Face text-embeddings-inference (`GET /health`).
    Tei,
    /// An OpenAI-compatible API (`GET /v1/models` with the key).
    Openai,
    /// Ollama (`GET /api/tags`).
    Ollama,
}

impl ModelKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Tei, Self::Openai, Self::Ollama];

    /// The kind as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tei => "tei",
            Self::Openai => "openai",
            Self::Ollama => "ollama",
        }
    }
}

text_kinds!(ModelKind, DbKind, DocEngineKind, MessageQueueKind);

/// `[[models]]`: one model server (embedding, rerank, chat) the platform calls.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Names the component: `models.<name>`. Letters, digits, `-` and `_`.
    pub name: String,
    /// `tei`, `openai` or `ollama`.
    pub kind: ModelKind,
    /// Base URL of the server (for OpenAI-compatible APIs, with or without `/v1`).
    pub url: SecretUrl,
    /// Bearer key (OpenAI-compatible servers); never shown.
    #[serde(default)]
    pub api_key: Secret,
    /// Shared component settings; `required` defaults to false.
    #[serde(flatten, skip_deserializing)]
    pub settings: ComponentSettings,
}

impl Section for ModelConfig {
    fn settings_mut(&mut self) -> &mut ComponentSettings {
        &mut self.settings
    }
}

impl ModelConfig {
    /// A name that makes a usable component key, not taken by an `earlier` entry, and an
    /// HTTP URL. `index` is this entry's place in `[[models]]`.
    fn validate(&self, index: usize, earlier: &[ModelConfig]) -> Result<(), KeyError> {
        let name = &self.name;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(KeyError::new(
                format!("models[{index}].name"),
                format!("{name:?} is not a usable name: use letters, digits, `-` and `_`"),
            ));
        }
        if earlier.iter().any(|m| &m.name == name) {
            return Err(KeyError::new(
                format!("models[{index}].name"),
                format!("another model is already named {name:?}"),
            ));
        }
        let scheme = self.url.expose().scheme();
        if !matches!(scheme, "http" | "https") {
            return Err(KeyError::new(
                format!("models[{index}].url"),
                format!("URL scheme `{scheme}` is not supported; write http:// or https://"),
            ));
        }
        Ok(())
    }
}

/// `[server]`: where ragwatch listens and who may read protected endpoints.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Bearer tokens for protected endpoints; empty means open. A single string is one token.
    #[serde(deserialize_with = "one_or_many")]
    pub tokens: Vec<Secret>,
    /// Connections served at once; unset derives it from the open-files limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<NonZeroUsize>,
}

/// Default listen address: every interface, port 9390.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9390";

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("default listen address parses"),
            tokens: Vec::new(),
            max_connections: None,
        }
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
}

impl Default for ComponentSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            required: None,
            interval: None,
            timeout: None,
            slow_ms: None,
        }
    }
}

/// Database kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DbKind {
    /// MySQL or MariaDB.
    #[default]
    Mysql,
    /// PostgreSQL.
    Postgres,
}

impl DbKind {
    /// Every kind.
    pub const ALL: [Self; 2] = [Self::Mysql, Self::Postgres];

    /// The kind as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mysql => "mysql",
            Self::Postgres => "postgres",
        }
    }

    /// The URL schemes its drivers take.
    pub fn schemes(self) -> &'static [&'static str] {
        match self {
            Self::Mysql => &["mysql", "mariadb"],
            Self::Postgres => &["postgres", "postgresql"],
        }
    }
}

/// `[db]`: RAGFlow's relational database.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DbConfig {
    /// `mysql` (MySQL, MariaDB) or `postgres`.
    pub kind: DbKind,
    /// Connection URL, e.g. `mysql://root:pw@127.0.0.1:3306/rag_flow`.
    pub url: SecretUrl,
    /// Schedule and weight.
    #[serde(flatten, skip_deserializing)]
    pub settings: ComponentSettings,
}

/// Default database URL of a stock RAGFlow deployment.
pub const DEFAULT_DB_URL: &str = "mysql://root:infini_rag_flow@127.0.0.1:3306/rag_flow";

impl Section for DbConfig {
    fn settings_mut(&mut self) -> &mut ComponentSettings {
        &mut self.settings
    }
}

impl DbConfig {
    /// A URL its kind's driver takes.
    fn validate(&self) -> Result<(), KeyError> {
        let scheme = self.url.expose().scheme();
        if !self.kind.schemes().contains(&scheme) {
            return Err(KeyError::new(
                "db.url",
                format!(
                    "URL scheme `{scheme}` does not match db.kind = {}",
                    Quoted(self.kind)
                ),
            ));
        }
        Ok(())
    }
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            kind: DbKind::Mysql,
            url: SecretUrl::parse(DEFAULT_DB_URL).expect("default URL parses"),
            settings: ComponentSettings::default(),
        }
    }
}

/// `[redis]`: RAGFlow's Redis.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// Connection URL, e.g. `redis://:pw@127.0.0.1:6379/1`.
    pub url: SecretUrl,
    /// Also SET a probe key (3 s expiry) and GET it back, as RAGFlow does.
    pub write_check: bool,
    /// Schedule and weight.
    #[serde(flatten, skip_deserializing)]
    pub settings: ComponentSettings,
}

/// Default Redis URL of a stock RAGFlow deployment (database 1).
pub const DEFAULT_REDIS_URL: &str = "redis://:infini_rag_flow@127.0.0.1:6379/1";

impl Section for RedisConfig {
    fn settings_mut(&mut self) -> &mut ComponentSettings {
        &mut self.settings
    }
}

impl RedisConfig {
    /// A `redis://` URL.
    fn validate(&self) -> Result<(), KeyError> {
        let scheme = self.url.expose().scheme();
        if scheme != "redis" {
            return Err(KeyError::new(
                "redis.url",
                format!(
                    "URL scheme `{scheme}` is not supported; write redis://[:password@]host:port/db"
                ),
            ));
        }
        Ok(())
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: SecretUrl::parse(DEFAULT_REDIS_URL).expect("default URL parses"),
            write_check: true,
            settings: ComponentSettings::default(),
        }
    }
}

/// Document engine kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DocEngineKind {
    /// Elasticsearch.
    #[default]
    Elasticsearch,
    /// OpenSearch.
    Opensearch,
    /// Infinity, through its HTTP API.
    Infinity,
    /// OceanBase (MySQL protocol).
    Oceanbase,
    /// SeekDB, the lite OceanBase (MySQL protocol).
    Seekdb,
    /// GaussDB (PostgreSQL protocol).
    Gaussdb,
    /// SereneDB (PostgreSQL protocol).
    Serenedb,
}

/// The protocol a document engine kind is probed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineProtocol {
    /// An HTTP API (`http://`, `https://`).
    Http,
    /// The MySQL protocol (`mysql://`).
    Mysql,
    /// The PostgreSQL protocol (`postgres://`, `postgresql://`).
    Postgres,
}

impl DocEngineKind {
    /// Every kind.
    pub const ALL: [Self; 7] = [
        Self::Elasticsearch,
        Self::Opensearch,
        Self::Infinity,
        Self::Oceanbase,
        Self::Seekdb,
        Self::Gaussdb,
        Self::Serenedb,
    ];

    /// The kind as written in the configuration and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Elasticsearch => "elasticsearch",
            Self::Opensearch => "opensearch",
            Self::Infinity => "infinity",
            Self::Oceanbase => "oceanbase",
            Self::Seekdb => "seekdb",
            Self::Gaussdb => "gaussdb",
            Self::Serenedb => "serenedb",
        }
    }

    /// The protocol it speaks.
    pub fn protocol(self) -> EngineProtocol {
        match self {
            Self::Elasticsearch | Self::Opensearch | Self::Infinity => EngineProtocol::Http,
            Self::Oceanbase | Self::Seekdb => EngineProtocol::Mysql,
            Self::Gaussdb | Self::Serenedb => EngineProtocol::Postgres,
        }
    }

    /// The URL of the engine in a stock RAGFlow deployment on localhost, taken from its
    /// docker `.env` and `service_conf.yaml`; none for GaussDB, which RAGFlow does not run.
    pub fn default_url(self) -> Option<&'static str> {
        match self {
            Self::Elasticsearch | Self::Opensearch => Some(DEFAULT_DOC_ENGINE_URL),
            Self::Infinity => Some("http://127.0.0.1:23820"),
            // The tenant user `root@ragflow`, its `@` escaped.
            Self::Oceanbase => {
                Some("mysql://root%40ragflow:infini_rag_flow@127.0.0.1:2881/ragflow_doc")
            }
            Self::Seekdb => Some("mysql://root:infini_rag_flow@127.0.0.1:2881/ragflow_doc"),
            Self::Gaussdb => None,
            Self::Serenedb => Some("postgres://postgres:infini_rag_flow@127.0.0.1:7890/postgres"),
        }
    }
}

impl EngineProtocol {
    /// The URL schemes it accepts.
    pub fn schemes(self) -> &'static [&'static str] {
        match self {
            Self::Http => &["http", "https"],
            Self::Mysql => &["mysql"],
            Self::Postgres => &["postgres", "postgresql"],
        }
    }
}

/// `[doc_engine]`: the search cluster or database holding the documents' chunks.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocEngineConfig {
    /// `elasticsearch`, `opensearch`, `infinity`, `oceanbase`, `seekdb`, `gaussdb` or
    /// `serenedb`.
    pub kind: DocEngineKind,
    /// Base URL of the cluster's HTTP API, or the connection URL of a SQL engine
    /// (`mysql://`, `postgres://`). Unset: the kind's default (see the loader).
    pub url: SecretUrl,
    /// Elasticsearch/OpenSearch basic-auth user; empty sends no credentials.
    pub username: String,
    /// Elasticsearch/OpenSearch basic-auth password.
    pub password: Secret,
    /// Schedule and weight.
    #[serde(flatten, skip_deserializing)]
    pub settings: ComponentSettings,
}

/// Default document engine URL (Elasticsearch published on host port 1200).
pub const DEFAULT_DOC_ENGINE_URL: &str = "http://127.0.0.1:1200";

impl Section for DocEngineConfig {
    fn settings_mut(&mut self) -> &mut ComponentSettings {
        &mut self.settings
    }
}

impl DocEngineConfig {
    /// A URL of the protocol its kind speaks, with a host.
    fn validate(&self) -> Result<(), KeyError> {
        let protocol = self.kind.protocol();
        let url = self.url.expose();
        if !protocol.schemes().contains(&url.scheme()) {
            let speaks = match protocol {
                EngineProtocol::Http => "an HTTP API",
                EngineProtocol::Mysql => "the MySQL protocol",
                EngineProtocol::Postgres => "the PostgreSQL protocol",
            };
            return Err(KeyError::new(
                "doc_engine.url",
                format!(
                    "URL scheme `{}` does not match doc_engine.kind = {}, which speaks {speaks}: write {}://...",
                    url.scheme(),
                    Quoted(self.kind),
                    protocol.schemes()[0],
                ),
            ));
        }
        if url.host_str().is_none() {
            return Err(KeyError::new("doc_engine.url", "must name a host"));
        }
        Ok(())
    }

    /// An unset URL is the kind's default: serde fills defaults before it has read the
    /// kind, so the loader asks for this after.
    fn default_url(&mut self) -> Result<(), KeyError> {
        let kind = self.kind;
        let url = kind.default_url().ok_or_else(|| {
            let scheme = kind.protocol().schemes()[0];
            KeyError::new(
                "doc_engine.kind",
                format!(
                    "`{kind}` has no default address, as RAGFlow does not run one: set doc_engine.url = \"{scheme}://user:password@host:port/database\""
                ),
            )
        })?;
        self.url = SecretUrl::parse(url).expect("default URL parses");
        Ok(())
    }
}

impl Default for DocEngineConfig {
    fn default() -> Self {
        Self {
            kind: DocEngineKind::Elasticsearch,
            url: SecretUrl::parse(DEFAULT_DOC_ENGINE_URL).expect("default URL parses"),
            username: "elastic".into(),
            password: Secret::new("infini_rag_flow"),
            settings: ComponentSettings::default(),
        }
    }
}

/// Message queue kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MessageQueueKind {
    /// NATS (with JetStream).
    #[default]
    Nats,
    /// RAGFlow's Redis stream task queue.
    RedisStream,
}

impl MessageQueueKind {
    /// Every kind.
    pub const ALL: [Self; 2] = [Self::Nats, Self::RedisStream];

    /// The kind as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nats => "nats",
            Self::RedisStream => "redis_stream",
        }
    }
}

/// Default NATS URL.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// `[message_queue]`: the platform's message queue.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageQueueConfig {
    /// `nats` or `redis_stream`.
    pub kind: MessageQueueKind,
    /// Server URL; default `nats://127.0.0.1:4222` for NATS, `redis.url` for Redis streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<SecretUrl>,
    /// NATS: also read the JetStream account (streams, consumers, storage).
    pub jetstream: bool,
    /// Redis streams: the task queues to read, high priority first.
    pub streams: Vec<String>,
    /// Redis streams: the consumer group the task executors read with.
    pub group: String,
    /// Redis streams: yellow when a group has more pending (delivered, unacknowledged) tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pending: Option<u64>,
    /// Redis streams: yellow when a group lags more tasks behind the stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_lag: Option<u64>,
    /// Schedule and weight.
    #[serde(flatten, skip_deserializing)]
    pub settings: ComponentSettings,
}

impl Section for MessageQueueConfig {
    fn settings_mut(&mut self) -> &mut ComponentSettings {
        &mut self.settings
    }
}

impl MessageQueueConfig {
    /// `url` (its own or the default) speaks its kind; Redis streams name a stream.
    fn validate(&self, url: &SecretUrl) -> Result<(), KeyError> {
        let scheme = url.expose().scheme();
        let fits = match self.kind {
            MessageQueueKind::Nats => matches!(scheme, "nats" | "tls"),
            MessageQueueKind::RedisStream => scheme == "redis",
        };
        if !fits {
            return Err(KeyError::new(
                "message_queue.url",
                format!(
                    "URL scheme `{scheme}` does not match message_queue.kind = {}",
                    Quoted(self.kind)
                ),
            ));
        }
        if self.kind == MessageQueueKind::RedisStream && self.streams.is_empty() {
            return Err(KeyError::new(
                "message_queue.streams",
                "must name at least one stream",
            ));
        }
        Ok(())
    }
}

impl Default for MessageQueueConfig {
    fn default() -> Self {
        Self {
            kind: MessageQueueKind::Nats,
            url: None,
            jetstream: true,
            streams: vec!["te.1.common".into(), "te.0.common".into()],
            group: "rag_flow_svr_task_broker".into(),
            max_pending: None,
            max_lag: None,
            settings: ComponentSettings::default(),
        }
    }
}

/// `[ragflow]`: RAGFlow's API server, asked `GET /api/v1/system/ping`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RagflowApiConfig {
    /// Base URL of the API server.
    #[serde(deserialize_with = "secret::plain_url")]
    pub url: Url,
    /// Schedule and weight.
    #[serde(flatten, skip_deserializing)]
    pub settings: ComponentSettings,
}

/// Where a stock RAGFlow's API server listens.
pub const DEFAULT_RAGFLOW_URL: &str = "http://127.0.0.1:9380";

impl Section for RagflowApiConfig {
    fn settings_mut(&mut self) -> &mut ComponentSettings {
        &mut self.settings
    }
}

impl Default for RagflowApiConfig {
    fn default() -> Self {
        Self {
            url: Url::parse(DEFAULT_RAGFLOW_URL).expect("default URL parses"),
            settings: ComponentSettings::default(),
        }
    }
}

/// `[parsing]`: whether documents get parsed, from RAGFlow's `task` table (in `[db]`) and
/// its Redis task queue streams (in the heartbeat Redis).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ParsingConfig {
    /// Only tasks created this recently count (older abandoned rows would never clear).
    #[serde(with = "duration_text")]
    pub lookback: Duration,
    /// Yellow when the oldest queued (not started) task has waited this long.
    #[serde(with = "duration_text")]
    pub queued_warn: Duration,
    /// Red when it has waited this long.
    #[serde(with = "duration_text")]
    pub queued_critical: Duration,
    /// A task in progress without an update for this long is stuck (yellow).
    #[serde(with = "duration_text")]
    pub stuck_after: Duration,
    /// The task queue streams, high priority first.
    pub streams: Vec<String>,
    /// The consumer group the task executors read with.
    pub group: String,
    /// Yellow when a stream's group lags more tasks behind it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_lag: Option<u64>,
    /// Schedule and weight; not required unless `required = true`.
    #[serde(flatten, skip_deserializing)]
    pub settings: ComponentSettings,
}

impl Section for ParsingConfig {
    fn settings_mut(&mut self) -> &mut ComponentSettings {
        &mut self.settings
    }
}

impl Default for ParsingConfig {
    fn default() -> Self {
        let queue = MessageQueueConfig::default();
        Self {
            lookback: Duration::from_secs(7 * 24 * 3600),
            queued_warn: Duration::from_secs(10 * 60),
            queued_critical: Duration::from_secs(60 * 60),
            stuck_after: Duration::from_secs(15 * 60),
            streams: queue.streams,
            group: queue.group,
            max_lag: None,
            settings: ComponentSettings::default(),
        }
    }
}

/// `[task_executors]`: RAGFlow's task executors, from the heartbeats they write to Redis.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskExecutorsConfig {
    /// The Redis holding the heartbeats (default: `redis.url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<SecretUrl>,
    /// Red when fewer executors are alive.
    pub min_alive: u32,
    /// Yellow when more than this share of the tasks of the last 30 minutes failed.
    pub max_failure_rate: f64,
    /// Add a `task_executors` key to healthz.
    pub healthz: bool,
    /// How often an executor writes a heartbeat (RAGFlow: 30 s); two periods without one
    /// make it stale.
    #[serde(with = "duration_text")]
    pub heartbeat_period: Duration,
    /// After this long without a heartbeat an executor is dead (RAGFlow: 120 s).
    #[serde(with = "duration_text")]
    pub heartbeat_timeout: Duration,
    /// Schedule and weight; not required unless `required = true`.
    #[serde(flatten, skip_deserializing)]
    pub settings: ComponentSettings,
}

impl Section for TaskExecutorsConfig {
    fn settings_mut(&mut self) -> &mut ComponentSettings {
        &mut self.settings
    }
}

impl TaskExecutorsConfig {
    /// A share for the failure rate, a timeout longer than the period, a Redis URL.
    fn validate(&self) -> Result<(), KeyError> {
        if !(0.0..=1.0).contains(&self.max_failure_rate) {
            return Err(KeyError::new(
                "task_executors.max_failure_rate",
                "must be between 0 and 1 (a share of tasks)",
            ));
        }
        if self.heartbeat_timeout <= self.heartbeat_period {
            return Err(KeyError::new(
                "task_executors.heartbeat_timeout",
                "must be longer than task_executors.heartbeat_period",
            ));
        }
        if let Some(url) = &self.redis_url
            && url.expose().scheme() != "redis"
        {
            return Err(KeyError::new(
                "task_executors.redis_url",
                "must be a redis:// URL",
            ));
        }
        Ok(())
    }
}

impl Default for TaskExecutorsConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            min_alive: 1,
            max_failure_rate: 0.5,
            healthz: false,
            heartbeat_period: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(120),
            settings: ComponentSettings::default(),
        }
    }
}

/// `[history]`: the store of results and incidents.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Keep history at all (`ragwatch serve` only).
    pub enabled: bool,
    /// `sqlite://path` (created if missing) or `postgres://user:pw@host/db`.
    pub url: SecretUrl,
    /// How long raw results and minute roll-ups are kept.
    #[serde(with = "duration_text")]
    pub results_retention: Duration,
    /// How long incidents, status changes and hour roll-ups are kept.
    #[serde(with = "duration_text")]
    pub incidents_retention: Duration,
    /// The name this ragwatch records under in a shared history (default: the host name).
    pub observer: String,
    /// Fail readyz while the store cannot be written.
    pub required: bool,
}

/// Default history location: a SQLite file in the working directory.
pub const DEFAULT_HISTORY_URL: &str = "sqlite://ragwatch.db";

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            url: SecretUrl::parse(DEFAULT_HISTORY_URL).expect("default URL parses"),
            results_retention: Duration::from_secs(7 * 24 * 3600),
            incidents_retention: Duration::from_secs(90 * 24 * 3600),
            observer: String::new(),
            required: false,
        }
    }
}

impl HistoryConfig {
    /// A store ragwatch can write.
    fn validate(&self) -> Result<(), KeyError> {
        if !matches!(
            self.url.expose().scheme(),
            "sqlite" | "postgres" | "postgresql"
        ) {
            return Err(KeyError::new(
                "history.url",
                "must be a sqlite://path or postgres:// URL",
            ));
        }
        Ok(())
    }

    /// `observer`, or the host name when it is empty.
    pub fn observer_name(&self) -> String {
        if !self.observer.is_empty() {
            return self.observer.clone();
        }
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "ragwatch".into())
    }
}

/// `[alerts]`: notifications when a component's status changes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Consecutive red results before an alert fires.
    pub failure_threshold: u32,
    /// Consecutive ok results before a firing alert resolves.
    pub success_threshold: u32,
    /// ragwatch's own address as people reach it, for links in alerts.
    #[serde(deserialize_with = "secret::plain_url")]
    pub external_url: Url,
    /// Generic JSON webhooks.
    pub webhook: Vec<WebhookConfig>,
    /// Prometheus Alertmanagers (v2 API).
    pub alertmanager: Vec<AlertmanagerConfig>,
}

impl AlertsConfig {
    /// Thresholds of at least one, HTTP receivers.
    fn validate(&self) -> Result<(), KeyError> {
        if self.failure_threshold == 0 {
            return Err(KeyError::new(
                "alerts.failure_threshold",
                "must be at least 1",
            ));
        }
        if self.success_threshold == 0 {
            return Err(KeyError::new(
                "alerts.success_threshold",
                "must be at least 1",
            ));
        }
        let urls = self
            .webhook
            .iter()
            .map(|w| ("alerts.webhook", &w.url))
            .chain(
                self.alertmanager
                    .iter()
                    .map(|a| ("alerts.alertmanager", &a.url)),
            );
        for (key, url) in urls {
            if !matches!(url.expose().scheme(), "http" | "https") {
                return Err(KeyError::new(key, "url must be an http:// or https:// URL"));
            }
        }
        Ok(())
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 2,
            success_threshold: 2,
            external_url: Url::parse("http://localhost:9390").expect("default URL parses"),
            webhook: Vec::new(),
            alertmanager: Vec::new(),
        }
    }
}

/// `[[alerts.webhook]]`: a receiver of JSON alert bodies.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST.
    pub url: SecretUrl,
    /// When set, the body is signed with HMAC-SHA256 in the `X-Ragwatch-Signature` header.
    #[serde(default)]
    pub secret: Secret,
}

/// `[[alerts.alertmanager]]`: a Prometheus Alertmanager.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Its base URL (`http://alertmanager:9093`).
    pub url: SecretUrl,
}

/// Accepts `"tok"`, `"a,b"` (handy in environment variables) or `["a", "b"]`. An empty
/// token is refused: dropping it would leave the API open when it was the only one.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Secret>, D::Error> {
    let values = secret::text_list(deserializer, "a token string or an array of token strings")?;
    values
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let token = s.trim();
            if token.is_empty() {
                return Err(serde::de::Error::custom(format!(
                    "token {} is empty; every token needs characters (set no tokens, `tokens = []`, to leave the API open)",
                    i + 1
                )));
            }
            Ok(Secret::new(token))
        })
        .collect()
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

impl Secrets for ServerConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            listen: _,
            tokens,
            max_connections: _,
        } = self;
        tokens.secrets(out);
    }
}

impl Secrets for MonitorConfig {
    fn secrets(&self, _: &mut Vec<String>) {
        let Self {
            interval: _,
            timeout: _,
        } = self;
    }
}

impl Secrets for DbConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            kind: _,
            url,
            settings: _,
        } = self;
        url.secrets(out);
    }
}

impl Secrets for RedisConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            url,
            write_check: _,
            settings: _,
        } = self;
        url.secrets(out);
    }
}

impl Secrets for DocEngineConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            kind: _,
            url,
            username,
            password,
            settings: _,
        } = self;
        url.secrets(out);
        password.secrets(out);
        // What the probe sends in its Authorization header.
        if !username.is_empty() {
            out.push(basic_auth(username, password.expose()));
        }
    }
}

impl Secrets for MessageQueueConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            kind: _,
            url,
            jetstream: _,
            streams: _,
            group: _,
            max_pending: _,
            max_lag: _,
            settings: _,
        } = self;
        url.secrets(out);
    }
}

impl Secrets for TaskExecutorsConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            redis_url,
            min_alive: _,
            max_failure_rate: _,
            healthz: _,
            heartbeat_period: _,
            heartbeat_timeout: _,
            settings: _,
        } = self;
        redis_url.secrets(out);
    }
}

impl Secrets for RagflowApiConfig {
    fn secrets(&self, _: &mut Vec<String>) {
        let Self {
            url: _,
            settings: _,
        } = self;
    }
}

impl Secrets for ParsingConfig {
    fn secrets(&self, _: &mut Vec<String>) {
        let Self {
            lookback: _,
            queued_warn: _,
            queued_critical: _,
            stuck_after: _,
            streams: _,
            group: _,
            max_lag: _,
            settings: _,
        } = self;
    }
}

impl Secrets for HistoryConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            enabled: _,
            url,
            results_retention: _,
            incidents_retention: _,
            observer: _,
            required: _,
        } = self;
        url.secrets(out);
    }
}

impl Secrets for AlertsConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            failure_threshold: _,
            success_threshold: _,
            external_url: _,
            webhook,
            alertmanager,
        } = self;
        webhook.secrets(out);
        alertmanager.secrets(out);
    }
}

impl Secrets for WebhookConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self { url, secret } = self;
        url.secrets(out);
        secret.secrets(out);
    }
}

impl Secrets for AlertmanagerConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self { url } = self;
        url.secrets(out);
    }
}

impl Secrets for ModelConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            name: _,
            kind: _,
            url,
            api_key,
            settings: _,
        } = self;
        url.secrets(out);
        api_key.secrets(out);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn every_credential_reaches_the_scrubber() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(
            br#"
[server]
tokens = ["s-token"]
[db]
url = "mysql://root:s-db@h/d"
[redis]
url = "redis://:s-redis@h/1"
[doc_engine]
url = "http://u:s-es-url@h:9200"
password = "s-es"
[storage]
secret_key = "s-s3"
[message_queue]
url = "nats://u:s-nats@h:4222"
[task_executors]
redis_url = "redis://:s-executors@h/1"
[history]
url = "postgres://u:s-history@h/ragwatch"
[alerts]
[[alerts.webhook]]
url = "https://u:s-hook-url@hooks.example/x"
secret = "s-hook"
[[alerts.alertmanager]]
url = "http://u:s-am@am:9093"
"#,
        )
        .unwrap();
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
            "s-redis",
            "s-es-url",
            "s-es",
            "s-s3",
            "s-nats",
            "s-executors",
            "s-history",
            "s-hook-url",
            "s-hook",
            "s-am",
            "s-azure-key",
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
[redis]
url = "redis://:s-redis@h/1"
[doc_engine]
url = "http://u:s-es-url@h:9200"
password = "s-es"
[storage]
secret_key = "s-s3"
[message_queue]
url = "nats://u:s-nats@h:4222"
[task_executors]
redis_url = "redis://:s-executors@h/1"
[history]
url = "postgres://u:s-history@h/ragwatch"
[alerts]
[[alerts.webhook]]
url = "https://u:s-hook-url@hooks.example/x"
secret = "s-hook"
[[alerts.alertmanager]]
url = "http://u:s-am@am:9093"
[[models]]
name = "m"
kind = "openai"
url = "http://u:s-model-url@m"
api_key = "s-model"
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

    /// Sets the value at `path` (`a.b[0].c`) of a table.
    fn set(table: &mut toml::Table, path: &str, value: toml::Value) {
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
        current.insert(last.to_owned(), value);
    }

    /// Every secret key, given a value of the wrong type in the file or the environment,
    /// is refused naming the key and the type, never the value.
    #[test]
    fn a_wrong_typed_secret_is_refused_without_its_value() {
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
                    let err = super::load(Some(file(text).path()), env)
                        .unwrap_err()
                        .to_string();
                    assert_eq!(
                        err,
                        format!("environment variable {variable}: {key}: {expected_type}")
                    );
                }
                checked.push(key);
            }
        }
        checked.sort();
        checked.dedup();
        let expected = [
            "alerts.alertmanager[0].url",
            "alerts.webhook[0].secret",
            "alerts.webhook[0].url",
            "db.url",
            "doc_engine.password",
            "doc_engine.url",
            "history.url",
            "message_queue.url",
            "models[0].api_key",
            "models[0].url",
            "redis.url",
            "server.tokens",
            "storage.account_key",
            "storage.sas_token",
            "storage.secret_key",
            "task_executors.redis_url",
        ];
        assert_eq!(checked, expected);
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
