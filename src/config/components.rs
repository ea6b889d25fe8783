//! The sections of the components ragwatch probes: the database, Redis, the document
//! engine, the message queue, RAGFlow's API server, its parsing pipeline and task
//! executors, and the model servers. Each reads, defaults, validates and names its secrets.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::kind::{Quoted, text_kinds};
use super::section::Section;
use super::{
    ComponentSettings, KeyError, Login, Secret, SecretUrl, Secrets, basic_auth, duration_text,
    secret,
};

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
    /// User name; wins over the URL's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password; wins over the URL's, and needs no percent-encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
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
    /// The URL and the credentials to sign in with.
    pub fn login(&self) -> Login {
        Login::new(
            self.url.clone(),
            self.username.clone(),
            self.password.clone(),
        )
    }

    /// A URL its kind's driver takes.
    pub(super) fn validate(&self) -> Result<(), KeyError> {
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
            username: None,
            password: None,
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
    /// ACL user name; wins over the URL's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password; wins over the URL's, and needs no percent-encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
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
    /// The URL and the credentials to sign in with.
    pub fn login(&self) -> Login {
        Login::new(
            self.url.clone(),
            self.username.clone(),
            self.password.clone(),
        )
    }

    /// A `redis://` or `rediss://` (TLS) URL.
    pub(super) fn validate(&self) -> Result<(), KeyError> {
        let scheme = self.url.expose().scheme();
        if !is_redis_scheme(scheme) {
            return Err(KeyError::new(
                "redis.url",
                format!(
                    "URL scheme `{scheme}` is not supported; write redis://[:password@]host:port/db (rediss:// for TLS)"
                ),
            ));
        }
        Ok(())
    }
}

/// Whether a URL scheme is Redis': `redis`, or `rediss` over TLS.
fn is_redis_scheme(scheme: &str) -> bool {
    matches!(scheme, "redis" | "rediss")
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: SecretUrl::parse(DEFAULT_REDIS_URL).expect("default URL parses"),
            username: None,
            password: None,
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
    /// User name (basic auth for HTTP engines); wins over the URL's; empty sends none.
    /// Unset for Elasticsearch or OpenSearch with no user in the URL: RAGFlow's `elastic`.
    // Absent reads as unset (not as the default kind's), for the loader to fill by kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password; wins over the URL's, and needs no percent-encoding. Unset for
    /// Elasticsearch or OpenSearch with none in the URL: RAGFlow's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
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
    /// The URL and the credentials to sign in with.
    pub fn login(&self) -> Login {
        Login::new(
            self.url.clone(),
            self.username.clone(),
            self.password.clone(),
        )
    }

    /// RAGFlow's Elasticsearch credentials for an HTTP engine given none, neither as keys
    /// nor in the URL: serde fills defaults before it has read the kind, so the loader asks
    /// for this after.
    pub(super) fn default_credentials(&mut self) {
        if self.kind.protocol() != EngineProtocol::Http {
            return;
        }
        let defaults = Self::default();
        if self.username.is_none() && self.url.username().is_none() {
            self.username = defaults.username;
        }
        if self.password.is_none() && self.url.password().is_none() {
            self.password = defaults.password;
        }
    }

    /// A URL of the protocol its kind speaks, with a host.
    pub(super) fn validate(&self) -> Result<(), KeyError> {
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
    pub(super) fn default_url(&mut self) -> Result<(), KeyError> {
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
            username: Some("elastic".into()),
            password: Some(Secret::new("infini_rag_flow")),
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
    /// User name; wins over the URL's (for Redis streams without a URL, over `redis`'s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password (NATS: alone, a token); wins over the URL's, and needs no
    /// percent-encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
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
    /// Its server (its own or the default) speaks its kind; Redis streams name a stream.
    pub(super) fn validate(&self, login: &Login) -> Result<(), KeyError> {
        let scheme = login.url().expose().scheme();
        let fits = match self.kind {
            MessageQueueKind::Nats => matches!(scheme, "nats" | "tls"),
            MessageQueueKind::RedisStream => is_redis_scheme(scheme),
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
            username: None,
            password: None,
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
    /// The user name in that Redis; wins over the URL's (without `redis_url`, over
    /// `redis`'s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_username: Option<String>,
    /// The password in that Redis; wins over the URL's (without `redis_url`, over
    /// `redis`'s), and needs no percent-encoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_password: Option<Secret>,
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
    /// After this long without a heartbeat an executor's series leave `/metrics`; the API
    /// and the page still list it.
    #[serde(with = "duration_text")]
    pub forget_after: Duration,
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
    pub(super) fn validate(&self) -> Result<(), KeyError> {
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
        if self.forget_after < self.heartbeat_timeout {
            return Err(KeyError::new(
                "task_executors.forget_after",
                "must be at least task_executors.heartbeat_timeout (only dead executors are forgotten)",
            ));
        }
        if let Some(url) = &self.redis_url
            && !is_redis_scheme(url.expose().scheme())
        {
            return Err(KeyError::new(
                "task_executors.redis_url",
                "must be a redis:// (or rediss://) URL",
            ));
        }
        Ok(())
    }
}

impl Default for TaskExecutorsConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_username: None,
            redis_password: None,
            min_alive: 1,
            max_failure_rate: 0.5,
            healthz: false,
            heartbeat_period: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(120),
            forget_after: Duration::from_secs(3600),
            settings: ComponentSettings::default(),
        }
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
    pub(super) fn validate(&self, index: usize, earlier: &[ModelConfig]) -> Result<(), KeyError> {
        let name = &self.name;
        usable_name(format!("models[{index}].name"), name)?;
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

/// A name that makes a usable component key (`models.<name>`, `canary.<name>`): letters,
/// digits, `-` and `_`. `key` is the key to blame.
pub(super) fn usable_name(key: String, name: &str) -> Result<(), KeyError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(KeyError::new(
            key,
            format!("{name:?} is not a usable name: use letters, digits, `-` and `_`"),
        ));
    }
    Ok(())
}

impl Secrets for DbConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            kind: _,
            url,
            username: _,
            password,
            settings: _,
        } = self;
        url.secrets(out);
        password.secrets(out);
    }
}

impl Secrets for RedisConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            url,
            username: _,
            password,
            write_check: _,
            settings: _,
        } = self;
        url.secrets(out);
        password.secrets(out);
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
        let login = Login::new(url.clone(), username.clone(), password.clone());
        if let (Some(user), Some(password)) = (login.username(), login.password()) {
            out.push(basic_auth(&user, password.expose()));
        }
    }
}

impl Secrets for MessageQueueConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            kind: _,
            url,
            username: _,
            password,
            jetstream: _,
            streams: _,
            group: _,
            max_pending: _,
            max_lag: _,
            settings: _,
        } = self;
        url.secrets(out);
        password.secrets(out);
    }
}

impl Secrets for TaskExecutorsConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            redis_url,
            redis_username: _,
            redis_password,
            min_alive: _,
            max_failure_rate: _,
            healthz: _,
            heartbeat_period: _,
            heartbeat_timeout: _,
            forget_after: _,
            settings: _,
        } = self;
        redis_url.secrets(out);
        redis_password.secrets(out);
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
