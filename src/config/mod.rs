//! The typed configuration: what ragwatch watches and how. Defaults match a stock RAGFlow
//! docker compose deployment on localhost, so ragwatch runs beside one with no set-up.

mod key;
mod load;
mod ragflow;
mod secret;

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

pub use key::ComponentKey;
pub use load::{ConfigError, load, load_with_ragflow};
pub use ragflow::Import;
pub use secret::{REDACTED, Scrubber, Secret, SecretUrl, host_port, redact_url};

/// The whole configuration (one TOML file plus `RAGWATCH_<SECTION>__<KEY>` overrides).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerConfig,
    /// Defaults shared by every component's schedule.
    pub monitor: MonitorConfig,
    /// The relational database (`db`).
    pub db: DbConfig,
    /// Redis (`redis`).
    pub redis: RedisConfig,
    /// The document engine (`doc_engine`).
    pub doc_engine: DocEngineConfig,
    /// Object storage (`storage`).
    pub storage: StorageConfig,
    /// The message queue (`message_queue`); watched only when the section is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_queue: Option<MessageQueueConfig>,
    /// RAGFlow's task executors (`task_executors`), read from their Redis heartbeats.
    pub task_executors: TaskExecutorsConfig,
    /// RAGFlow's own API server (`ragflow`); watched only when the section is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ragflow: Option<RagflowApiConfig>,
    /// RAGFlow's parsing pipeline (`parsing`): its task table and queue; watched only when
    /// the section is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parsing: Option<ParsingConfig>,
    /// Where results and incidents are kept.
    pub history: HistoryConfig,
    /// Alerts on status changes; none are sent when the section is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertsConfig>,
    /// The model servers the platform calls (`[[models]]`), each a component.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelConfig>,
}

impl Config {
    /// The configuration as TOML that loads back to itself: `[storage]` holds only the keys
    /// its kind reads, since a key of another kind is refused.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        let mut table = toml::Table::try_from(self)?;
        if let Some(toml::Value::Table(storage)) = table.get_mut("storage") {
            let kind = self.storage.kind;
            storage.retain(|key, _| !StorageKind::is_kind_key(key) || kind.reads(key));
        }
        toml::to_string_pretty(&table)
    }

    /// Every secret value in the configuration, for the [`Scrubber`].
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = self
            .server
            .tokens
            .iter()
            .map(|t| t.expose().to_owned())
            .collect();
        secrets.extend(self.db.url.password());
        secrets.extend(self.redis.url.password());
        secrets.extend(self.doc_engine.url.password());
        secrets.push(self.doc_engine.password.expose().to_owned());
        secrets.extend(self.storage.secrets());
        if let Some(queue) = &self.message_queue {
            secrets.extend(queue.url.as_ref().and_then(SecretUrl::password));
        }
        secrets.extend(
            self.task_executors
                .redis_url
                .as_ref()
                .and_then(SecretUrl::password),
        );
        secrets.extend(self.history.url.password());
        for model in &self.models {
            secrets.push(model.api_key.expose().to_owned());
            secrets.extend(model.url.password());
        }
        if let Some(alerts) = &self.alerts {
            for webhook in &alerts.webhook {
                secrets.push(webhook.secret.expose().to_owned());
                secrets.extend(webhook.url.password());
            }
            for receiver in &alerts.alertmanager {
                secrets.extend(receiver.url.password());
            }
        }
        secrets
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
}

/// What serves a model, and so how it is asked whether it works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Hugging Face text-embeddings-inference (`GET /health`).
    Tei,
    /// An OpenAI-compatible API (`GET /v1/models` with the key).
    Openai,
    /// Ollama (`GET /api/tags`).
    Ollama,
}

/// `[[models]]`: one model server (embedding, rerank, chat) the platform calls.
#[derive(Clone, Debug, Deserialize, Serialize)]
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
    #[serde(flatten)]
    pub settings: ComponentSettings,
}

/// `[server]`: where ragwatch listens and who may read protected endpoints.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Bearer tokens for protected endpoints; empty means open. A single string is one token.
    #[serde(deserialize_with = "one_or_many")]
    pub tokens: Vec<Secret>,
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
        }
    }
}

/// `[monitor]`: the schedule every component uses unless its own section says otherwise.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct MonitorConfig {
    /// How often each component is probed.
    #[serde(with = "duration_text")]
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

/// Settings every component section takes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct ComponentSettings {
    /// Probe this component at all.
    pub enabled: bool,
    /// Count it in the overall status; false shows it without counting it. Unset: the
    /// component's default (true, except for `task_executors`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Its own probe interval (default: `monitor.interval`).
    #[serde(
        with = "optional_duration_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    /// Its own probe timeout (default: `monitor.timeout`).
    #[serde(
        with = "optional_duration_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// Latency in milliseconds above which a working component is yellow (default: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_ms: Option<u64>,
}

impl ComponentSettings {
    /// The keys these settings take in every component section.
    pub const KEYS: [&'static str; 5] = ["enabled", "required", "interval", "timeout", "slow_ms"];
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
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DbKind {
    /// MySQL or MariaDB.
    #[default]
    Mysql,
    /// PostgreSQL.
    Postgres,
}

/// `[db]`: RAGFlow's relational database.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct DbConfig {
    /// `mysql` (MySQL, MariaDB) or `postgres`.
    pub kind: DbKind,
    /// Connection URL, e.g. `mysql://root:pw@127.0.0.1:3306/rag_flow`.
    pub url: SecretUrl,
    /// Schedule and weight.
    #[serde(flatten)]
    pub settings: ComponentSettings,
}

/// Default database URL of a stock RAGFlow deployment.
pub const DEFAULT_DB_URL: &str = "mysql://root:infini_rag_flow@127.0.0.1:3306/rag_flow";

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
#[serde(default)]
pub struct RedisConfig {
    /// Connection URL, e.g. `redis://:pw@127.0.0.1:6379/1`.
    pub url: SecretUrl,
    /// Also SET a probe key (3 s expiry) and GET it back, as RAGFlow does.
    pub write_check: bool,
    /// Schedule and weight.
    #[serde(flatten)]
    pub settings: ComponentSettings,
}

/// Default Redis URL of a stock RAGFlow deployment (database 1).
pub const DEFAULT_REDIS_URL: &str = "redis://:infini_rag_flow@127.0.0.1:6379/1";

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
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
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
#[serde(default)]
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
    #[serde(flatten)]
    pub settings: ComponentSettings,
}

/// Default document engine URL (Elasticsearch published on host port 1200).
pub const DEFAULT_DOC_ENGINE_URL: &str = "http://127.0.0.1:1200";

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

/// Object storage kinds.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    /// MinIO.
    #[default]
    Minio,
    /// Any S3-compatible service.
    S3,
    /// Alibaba Cloud OSS, through its S3-compatible API.
    Oss,
    /// Azure Blob Storage.
    Azure,
    /// Google Cloud Storage.
    Gcs,
}

impl StorageKind {
    /// Every kind.
    pub const ALL: [StorageKind; 5] = [Self::Minio, Self::S3, Self::Oss, Self::Azure, Self::Gcs];

    /// The kind as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minio => "minio",
            Self::S3 => "s3",
            Self::Oss => "oss",
            Self::Azure => "azure",
            Self::Gcs => "gcs",
        }
    }

    /// The `[storage]` keys this kind reads, and which of them must be given: the
    /// defaults of the others only fit a local MinIO.
    pub fn keys(self) -> &'static [(&'static str, Need)] {
        use Need::{Optional, Required};
        match self {
            Self::Minio | Self::S3 => &[
                ("endpoint", Optional),
                ("access_key", Optional),
                ("secret_key", Optional),
                ("bucket", Optional),
                ("region", Optional),
                ("addressing_style", Optional),
            ],
            Self::Oss => &[
                ("endpoint", Required),
                ("access_key", Required),
                ("secret_key", Required),
                ("bucket", Optional),
                ("region", Required),
                ("addressing_style", Optional),
            ],
            Self::Azure => &[
                ("endpoint", Optional),
                ("account_name", Required),
                ("account_key", Optional),
                ("sas_token", Optional),
                ("container", Required),
            ],
            Self::Gcs => &[
                ("endpoint", Optional),
                ("bucket", Required),
                ("credentials_file", Optional),
            ],
        }
    }

    /// Whether this kind reads `key`.
    pub fn reads(self, key: &str) -> bool {
        self.keys().iter().any(|(name, _)| *name == key)
    }

    /// Whether `key` is read by some kind (rather than being a schedule setting).
    pub fn is_kind_key(key: &str) -> bool {
        Self::ALL.iter().any(|kind| kind.reads(key))
    }

    /// The endpoint used when `storage.endpoint` is not given; `None` keeps MinIO's.
    pub fn default_endpoint(self, account_name: &str) -> Option<Url> {
        let url = match self {
            Self::Minio | Self::S3 | Self::Oss => return None,
            Self::Azure => format!("https://{account_name}.blob.core.windows.net"),
            Self::Gcs => DEFAULT_GCS_ENDPOINT.to_owned(),
        };
        Url::parse(&url).ok()
    }
}

/// Whether a kind needs a `[storage]` key to be given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// It must be given, and not empty.
    Required,
    /// It may be left out.
    Optional,
}

/// How an S3 request names the bucket.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AddressingStyle {
    /// `endpoint/bucket` (MinIO, most S3 servers).
    Path,
    /// `bucket.endpoint-host` (AWS, Alibaba Cloud OSS, which refuses path style).
    Virtual,
}

/// `[storage]`: object storage, probed read-only: S3 (SigV4-signed), Azure Blob (account
/// key or SAS) or Google Cloud Storage (OAuth2 token, or none for an emulator).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct StorageConfig {
    /// `minio`, `s3`, `oss`, `azure` or `gcs`.
    pub kind: StorageKind,
    /// Service endpoint URL. Default: MinIO on localhost; Azure:
    /// `https://<account_name>.blob.core.windows.net`; GCS: `https://storage.googleapis.com`.
    pub endpoint: Url,
    /// S3/OSS access key id (shown in messages; it is not a secret).
    pub access_key: String,
    /// S3/OSS secret access key.
    pub secret_key: Secret,
    /// S3/OSS bucket to check with HeadBucket (empty lists buckets instead); GCS bucket.
    pub bucket: String,
    /// S3/OSS signing region.
    pub region: String,
    /// S3/OSS: `path` or `virtual`; default `virtual` for `oss`, else `path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addressing_style: Option<AddressingStyle>,
    /// Azure storage account name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account_name: String,
    /// Azure storage account key (base64), for Shared Key signing.
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub account_key: Secret,
    /// Azure shared access signature (the query string, with or without `?`).
    #[serde(skip_serializing_if = "Secret::is_empty")]
    pub sas_token: Secret,
    /// Azure container to read the properties of.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container: String,
    /// GCS service-account key file (JSON); empty takes the metadata server's token for
    /// Google's endpoint and sends no credentials to any other (an emulator).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub credentials_file: String,
    /// Schedule and weight.
    #[serde(flatten)]
    pub settings: ComponentSettings,
}

/// Default storage endpoint (MinIO on port 9000).
pub const DEFAULT_STORAGE_ENDPOINT: &str = "http://127.0.0.1:9000";

/// Google Cloud Storage's JSON API endpoint.
pub const DEFAULT_GCS_ENDPOINT: &str = "https://storage.googleapis.com";

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            kind: StorageKind::Minio,
            endpoint: Url::parse(DEFAULT_STORAGE_ENDPOINT).expect("default URL parses"),
            access_key: "rag_flow".into(),
            secret_key: Secret::new("infini_rag_flow"),
            bucket: String::new(),
            region: "us-east-1".into(),
            addressing_style: None,
            account_name: String::new(),
            account_key: Secret::default(),
            sas_token: Secret::default(),
            container: String::new(),
            credentials_file: String::new(),
            settings: ComponentSettings::default(),
        }
    }
}

impl StorageConfig {
    /// The addressing style in force: the configured one, else the kind's.
    pub fn addressing_style(&self) -> AddressingStyle {
        self.addressing_style.unwrap_or(match self.kind {
            StorageKind::Oss => AddressingStyle::Virtual,
            _ => AddressingStyle::Path,
        })
    }

    /// The SAS token without a leading `?`.
    pub fn sas_query(&self) -> &str {
        self.sas_token.expose().trim_start_matches('?')
    }

    /// The credentials for the scrubber: secret key, account key, SAS token, and the
    /// SAS signature alone (raw and decoded), which is what a URL in an error shows.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![
            self.secret_key.expose().to_owned(),
            self.account_key.expose().to_owned(),
            self.sas_token.expose().to_owned(),
        ];
        for (name, value) in url::form_urlencoded::parse(self.sas_query().as_bytes()) {
            if name == "sig" {
                secrets.push(value.into_owned());
            }
        }
        secrets.extend(
            self.sas_query()
                .split('&')
                .filter_map(|pair| pair.strip_prefix("sig="))
                .map(str::to_owned),
        );
        secrets
    }
}

/// Message queue kinds.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MessageQueueKind {
    /// NATS (with JetStream).
    #[default]
    Nats,
    /// RAGFlow's Redis stream task queue.
    RedisStream,
}

/// Default NATS URL.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// `[message_queue]`: the platform's message queue.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
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
    #[serde(flatten)]
    pub settings: ComponentSettings,
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
#[serde(default)]
pub struct RagflowApiConfig {
    /// Base URL of the API server.
    pub url: Url,
    /// Schedule and weight.
    #[serde(flatten)]
    pub settings: ComponentSettings,
}

/// Where a stock RAGFlow's API server listens.
pub const DEFAULT_RAGFLOW_URL: &str = "http://127.0.0.1:9380";

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
#[serde(default)]
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
    #[serde(flatten)]
    pub settings: ComponentSettings,
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
#[serde(default)]
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
    #[serde(flatten)]
    pub settings: ComponentSettings,
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
#[serde(default)]
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
#[serde(default)]
pub struct AlertsConfig {
    /// Consecutive red results before an alert fires.
    pub failure_threshold: u32,
    /// Consecutive ok results before a firing alert resolves.
    pub success_threshold: u32,
    /// ragwatch's own address as people reach it, for links in alerts.
    pub external_url: Url,
    /// Generic JSON webhooks.
    pub webhook: Vec<WebhookConfig>,
    /// Prometheus Alertmanagers (v2 API).
    pub alertmanager: Vec<AlertmanagerConfig>,
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
pub struct WebhookConfig {
    /// Where to POST.
    pub url: SecretUrl,
    /// When set, the body is signed with HMAC-SHA256 in the `X-Ragwatch-Signature` header.
    #[serde(default)]
    pub secret: Secret,
}

/// `[[alerts.alertmanager]]`: a Prometheus Alertmanager.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AlertmanagerConfig {
    /// Its base URL (`http://alertmanager:9093`).
    pub url: SecretUrl,
}

/// Accepts `"tok"`, `"a,b"` (handy in environment variables) or `["a", "b"]`.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Secret>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let values = match OneOrMany::deserialize(deserializer).map_err(|_| {
        serde::de::Error::custom("expected a token string or an array of token strings")
    })? {
        OneOrMany::One(s) => s.split(',').map(str::to_owned).collect(),
        OneOrMany::Many(v) => v,
    };
    Ok(values
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .collect())
}

/// Durations written as text: `"5s"`, `"250ms"`, `"1m 30s"`.
mod duration_text {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    pub fn parse(text: &str) -> Result<Duration, String> {
        let duration = humantime::parse_duration(text).map_err(|e| {
            format!("invalid duration {text:?} ({e}); write e.g. \"5s\" or \"500ms\"")
        })?;
        if duration.is_zero() {
            return Err(format!("duration {text:?} must be greater than zero"));
        }
        Ok(duration)
    }
}

/// Like `duration_text`, for optional per-component overrides.
mod optional_duration_text {
    use super::*;

    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => duration_text::serialize(d, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(deserializer)?;
        duration_text::parse(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
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
}
