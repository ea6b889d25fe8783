//! Probes: one file per kind of service, all behind the [`Probe`] trait. [`run`] is the one
//! wrapper that bounds a probe by its timeout, times it, turns slowness into yellow and
//! scrubs secrets from what it reports. A probe's own body is protocol work only.

mod azure;
mod elasticsearch;
mod error;
mod gcs;
mod infinity;
mod ingestion;
mod kept;
mod model;
mod mysql;
mod nats;
mod parsing;
mod postgres;
mod ragflow_api;
mod redis;
mod redis_stream;
mod retrieval;
mod s3;
mod sql;
mod task_executors;

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

use std::sync::Arc;

use crate::config::{
    CaFile, CanaryKind, ComponentKey, Config, DbKind, DocEngineKind, KeyError, MessageQueueKind,
    Scrubber, StorageService,
};
use crate::message;
use crate::net::Network;
pub use crate::status::Status;
use crate::task_executors::{TaskSource, Tracker};

pub use azure::AzureProbe;
pub use elasticsearch::ElasticsearchProbe;
pub use error::{ProbeError, root_cause, tls_failure};
pub use gcs::GcsProbe;
pub use infinity::InfinityProbe;
pub use ingestion::{IngestionProbe, stage_seconds};
pub use model::ModelProbe;
pub use mysql::MysqlProbe;
pub use nats::NatsProbe;
pub use parsing::ParsingProbe;
pub use postgres::PostgresProbe;
pub use ragflow_api::RagflowApiProbe;
pub use redis::RedisProbe;
pub use redis_stream::RedisStreamProbe;
pub use retrieval::RetrievalProbe;
pub use s3::S3Probe;
pub use sql::SqlFacts;
pub use task_executors::TaskExecutorsProbe;

/// Kind-specific facts a probe learned (versions, counts, cluster health fields).
pub type Details = serde_json::Map<String, serde_json::Value>;

/// What a probe reports when the service answered.
#[derive(Debug)]
pub struct Outcome {
    /// Green, or yellow/red when the answer itself says something is wrong.
    pub status: Status,
    /// Why the status is not green.
    pub problem: Option<String>,
    /// Facts for the API and UI.
    pub details: Details,
}

impl Outcome {
    /// A working service.
    pub fn green(details: Details) -> Self {
        Self {
            status: Status::Green,
            problem: None,
            details,
        }
    }

    /// Green, or yellow for the given warning.
    pub fn yellow_if(warning: Option<String>, details: Details) -> Self {
        match warning {
            Some(problem) => Self::degraded(Status::Yellow, problem, details),
            None => Self::green(details),
        }
    }

    /// A service that answered but is degraded (`Yellow`) or broken (`Red`).
    pub fn degraded(status: Status, problem: String, details: Details) -> Self {
        Self {
            status,
            problem: Some(problem),
            details,
        }
    }
}

/// One probe result: the whole story of one check.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeResult {
    /// Green, yellow or red.
    pub status: Status,
    /// How long the check took, in milliseconds.
    pub elapsed_ms: f64,
    /// When the check started.
    pub checked_at: jiff::Timestamp,
    /// Why it is not green; absent when green.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Kind-specific facts.
    pub details: Details,
}

/// A check of one service over its real protocol.
pub trait Probe: Send + Sync {
    /// Checks the service once. It is cancelled when the component's timeout passes, so it
    /// never sleeps, retries or waits on its own.
    fn check(&self) -> impl Future<Output = Result<Outcome, ProbeError>> + Send;
}

/// Every probe kind; the `match` in [`AnyProbe::for_component`] is the only registry.
pub enum AnyProbe {
    /// `db` of kind `mysql`, or a MySQL-protocol `doc_engine` (`oceanbase`, `seekdb`).
    Mysql(MysqlProbe),
    /// `db` of kind `postgres`, or a PostgreSQL-protocol `doc_engine` (`gaussdb`,
    /// `serenedb`).
    Postgres(PostgresProbe),
    /// `redis`.
    Redis(RedisProbe),
    /// `doc_engine` of kind `elasticsearch` or `opensearch`.
    Elasticsearch(ElasticsearchProbe),
    /// `doc_engine` of kind `infinity`.
    Infinity(InfinityProbe),
    /// `storage` of kind `minio`, `s3` or `oss`.
    S3(S3Probe),
    /// `storage` of kind `azure`.
    Azure(AzureProbe),
    /// `storage` of kind `gcs`.
    Gcs(GcsProbe),
    /// `message_queue` of kind `nats`.
    Nats(NatsProbe),
    /// `message_queue` of kind `redis_stream`.
    RedisStream(RedisStreamProbe),
    /// `task_executors`.
    TaskExecutors(TaskExecutorsProbe),
    /// `ragflow`.
    Ragflow(RagflowApiProbe),
    /// `parsing`. Boxed: it holds a Redis client and its own settings, the largest probe.
    Parsing(Box<ParsingProbe>),
    /// A `[[models]]` server.
    Model(ModelProbe),
    /// A `[[canaries]]` entry of kind `retrieval`.
    Retrieval(RetrievalProbe),
    /// A `[[canaries]]` entry of kind `ingestion`.
    Ingestion(IngestionProbe),
}

impl AnyProbe {
    /// Builds the probe a component's configuration asks for, or says which key it cannot
    /// use.
    pub fn for_component(
        key: &ComponentKey,
        config: &Config,
        timeout: Duration,
        sources: &Sources,
    ) -> Result<Self, KeyError> {
        let network = &sources.network;
        let http = |ca_file: Option<&CaFile>, section: &str| {
            http_client(network, ca_file, timeout, section)
        };
        Ok(match key {
            ComponentKey::Db => {
                let (login, key) = (&config.db.login(), "db.url");
                let ca_file = config.db.settings.tls_ca_file.as_ref();
                match config.db.kind {
                    DbKind::Mysql => {
                        Self::Mysql(MysqlProbe::new(login, key, SqlFacts::Server, ca_file)?)
                    }
                    DbKind::Postgres => {
                        Self::Postgres(PostgresProbe::new(login, key, SqlFacts::Server, ca_file)?)
                    }
                }
            }
            ComponentKey::Redis => {
                let roots = network
                    .trust
                    .roots(config.redis.settings.tls_ca_file.as_ref());
                Self::Redis(RedisProbe::new(&config.redis, timeout, &roots)?)
            }
            ComponentKey::DocEngine => {
                let engine = &config.doc_engine;
                let (login, key) = (&engine.login(), "doc_engine.url");
                let ca_file = engine.settings.tls_ca_file.as_ref();
                let version = |product_version| SqlFacts::Version { product_version };
                match engine.kind {
                    DocEngineKind::Elasticsearch | DocEngineKind::Opensearch => {
                        Self::Elasticsearch(ElasticsearchProbe::new(
                            engine,
                            timeout,
                            http(ca_file, "doc_engine")?,
                        )?)
                    }
                    DocEngineKind::Infinity => Self::Infinity(InfinityProbe::new(
                        engine,
                        timeout,
                        http(ca_file, "doc_engine")?,
                    )?),
                    // VERSION() is MySQL's version with OceanBase's appended
                    // (`5.7.25-OceanBase_CE-v4.3.5.0`); OB_VERSION() is OceanBase's alone.
                    DocEngineKind::Oceanbase => Self::Mysql(MysqlProbe::new(
                        login,
                        key,
                        version(Some("SELECT OB_VERSION()")),
                        ca_file,
                    )?),
                    // VERSION() names SeekDB's release (`5.7.25-OceanBase seekdb-v1.0.0.0`).
                    DocEngineKind::Seekdb => {
                        Self::Mysql(MysqlProbe::new(login, key, version(None), ca_file)?)
                    }
                    // GaussDB, built on openGauss, keeps openGauss' version function: its
                    // kernel release alone, where version() is a whole build banner.
                    DocEngineKind::Gaussdb => Self::Postgres(PostgresProbe::new(
                        login,
                        key,
                        version(Some("SELECT opengauss_version()")),
                        ca_file,
                    )?),
                    DocEngineKind::Serenedb => {
                        Self::Postgres(PostgresProbe::new(login, key, version(None), ca_file)?)
                    }
                }
            }
            ComponentKey::Storage => {
                let kind = config.storage.kind();
                let client = http(config.storage.settings.tls_ca_file.as_ref(), "storage")?;
                match &config.storage.service {
                    StorageService::Minio(s3)
                    | StorageService::S3(s3)
                    | StorageService::Oss(s3) => Self::S3(S3Probe::new(s3, kind, timeout, client)?),
                    StorageService::Azure(azure) => {
                        Self::Azure(AzureProbe::new(azure, timeout, client)?)
                    }
                    StorageService::Gcs(gcs) => Self::Gcs(GcsProbe::new(gcs, timeout, client)?),
                }
            }
            ComponentKey::MessageQueue => {
                let queue = config
                    .message_queue
                    .as_ref()
                    .ok_or_else(|| KeyError::new("message_queue", "the section is missing"))?;
                let login = config.message_queue_login(queue);
                let roots = network.trust.roots(config.message_queue_ca_file(queue));
                match queue.kind {
                    MessageQueueKind::Nats => {
                        Self::Nats(NatsProbe::new(queue, &login, timeout, &roots)?)
                    }
                    MessageQueueKind::RedisStream => Self::RedisStream(RedisStreamProbe::new(
                        queue,
                        &login,
                        "message_queue.url",
                        timeout,
                        &roots,
                    )?),
                }
            }
            ComponentKey::TaskExecutors => {
                let tracker = sources.executors.clone().ok_or_else(|| {
                    KeyError::new("task_executors", "no executor tracker was built")
                })?;
                let roots = network.trust.roots(config.heartbeat_redis_ca_file());
                Self::TaskExecutors(TaskExecutorsProbe::new(config, tracker, timeout, &roots)?)
            }
            ComponentKey::Ragflow => {
                let api = config
                    .ragflow
                    .as_ref()
                    .ok_or_else(|| KeyError::new("ragflow", "the section is missing"))?;
                let client = http(api.settings.tls_ca_file.as_ref(), "ragflow")?;
                Self::Ragflow(RagflowApiProbe::new(api, timeout, client)?)
            }
            ComponentKey::Parsing => {
                let parsing = config
                    .parsing
                    .as_ref()
                    .ok_or_else(|| KeyError::new("parsing", "the section is missing"))?;
                let tasks = sources.tasks.clone().ok_or_else(|| {
                    KeyError::new("parsing", "RAGFlow's task table was not opened")
                })?;
                let roots = network.trust.roots(config.heartbeat_redis_ca_file());
                Self::Parsing(Box::new(ParsingProbe::new(
                    config, parsing, tasks, timeout, &roots,
                )?))
            }
            ComponentKey::Model(_) => {
                let model = config
                    .model(key)
                    .ok_or_else(|| KeyError::new(key.as_str(), "the model entry is missing"))?;
                let client = http(model.settings.tls_ca_file.as_ref(), "models")?;
                Self::Model(ModelProbe::new(model, timeout, client)?)
            }
            ComponentKey::Canary(_) => {
                let canary = config
                    .canary(key)
                    .ok_or_else(|| KeyError::new(key.as_str(), "the canary entry is missing"))?;
                let client = http(canary.settings.tls_ca_file.as_ref(), "canaries")?;
                match canary.kind {
                    CanaryKind::Retrieval => Self::Retrieval(RetrievalProbe::new(
                        canary,
                        config.ragflow.as_ref(),
                        timeout,
                        client,
                    )?),
                    CanaryKind::Ingestion => Self::Ingestion(IngestionProbe::new(
                        canary,
                        config.ragflow.as_ref(),
                        timeout,
                        client,
                    )?),
                }
            }
        })
    }

    async fn check(&self) -> Result<Outcome, ProbeError> {
        match self {
            Self::Mysql(p) => p.check().await,
            Self::Postgres(p) => p.check().await,
            Self::Redis(p) => p.check().await,
            Self::Elasticsearch(p) => p.check().await,
            Self::Infinity(p) => p.check().await,
            Self::S3(p) => p.check().await,
            Self::Azure(p) => p.check().await,
            Self::Gcs(p) => p.check().await,
            Self::Nats(p) => p.check().await,
            Self::RedisStream(p) => p.check().await,
            Self::TaskExecutors(p) => p.check().await,
            Self::Ragflow(p) => p.check().await,
            Self::Parsing(p) => p.check().await,
            Self::Model(p) => p.check().await,
            Self::Retrieval(p) => p.check().await,
            Self::Ingestion(p) => p.check().await,
        }
    }
}

/// What probes share with each other and with the rest of the program, built once by the
/// app.
#[derive(Clone)]
pub struct Sources {
    /// The executor board the task-executor probe writes.
    pub executors: Option<Arc<Tracker>>,
    /// RAGFlow's task table, read by the parsing probe (and the API).
    pub tasks: Option<Arc<TaskSource>>,
    /// The trusted roots and proxies every probe's client is built with.
    pub network: Network,
}

/// Limits one run of a probe obeys.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The probe is cancelled and red after this long.
    pub timeout: Duration,
    /// A green answer slower than this is yellow.
    pub slow: Option<Duration>,
}

/// The longest error message a probe result keeps, in bytes (then an ellipsis): results
/// are stored every run, and an answer or a Redis key may be of any size.
pub const MAX_ERROR_BYTES: usize = 4096;

/// The most of an answer's body an HTTP probe reads: health answers are small.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Runs a probe once under its limits: the only place that times, bounds and scrubs.
pub async fn run(probe: &AnyProbe, limits: Limits, scrubber: &Scrubber) -> ProbeResult {
    let checked_at = jiff::Timestamp::now();
    let started = Instant::now();
    let answer = tokio::time::timeout(limits.timeout, probe.check()).await;
    let elapsed = started.elapsed();
    let (status, problem, details) = match answer {
        Err(_) => (
            Status::Red,
            Some(ProbeError::Timeout(limits.timeout).to_string()),
            Details::new(),
        ),
        Ok(Err(error)) => (Status::Red, Some(error.to_string()), Details::new()),
        Ok(Ok(outcome)) => match limits.slow {
            Some(slow) if outcome.status == Status::Green && elapsed > slow => (
                Status::Yellow,
                Some(format!(
                    "slow: answered in {} ms, above slow_ms = {}",
                    elapsed.as_millis(),
                    slow.as_millis()
                )),
                outcome.details,
            ),
            _ => (outcome.status, outcome.problem, outcome.details),
        },
    };
    ProbeResult {
        status,
        elapsed_ms: elapsed.as_secs_f64() * 1000.0,
        checked_at,
        // Scrubbed whole first, so a cut never leaves part of a secret behind.
        error: problem.map(|p| message::cut(&scrubber.scrub(&p), MAX_ERROR_BYTES).into_owned()),
        details,
    }
}

/// The HTTP client of an HTTP probe: bounded connect and request time, trusting the
/// system's certificate authorities plus `ca_file`, through the environment's proxies
/// (never for loopback). A failure is blamed on `section`, whose probe could not be built.
pub fn http_client(
    network: &Network,
    ca_file: Option<&CaFile>,
    timeout: Duration,
    section: &str,
) -> Result<reqwest::Client, KeyError> {
    bounded(network.http_client(ca_file), timeout, section)
}

/// The HTTP client for the machine's own services (a cloud's metadata server, over plain
/// HTTP): never through a proxy.
pub fn direct_http_client(timeout: Duration, section: &str) -> Result<reqwest::Client, KeyError> {
    bounded(reqwest::Client::builder().no_proxy(), timeout, section)
}

fn bounded(
    builder: reqwest::ClientBuilder,
    timeout: Duration,
    section: &str,
) -> Result<reqwest::Client, KeyError> {
    builder
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(|e| KeyError::new(section, format!("cannot build the HTTP client: {e}")))
}

/// `path` under a base URL, keeping the base's own path: `http://h/es` and
/// `_cluster/health` give `http://h/es/_cluster/health` (`Url::join` alone drops `es`).
pub fn api_url(base: &url::Url, path: &str) -> Result<url::Url, url::ParseError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path)
}

/// Sends an HTTP probe request: the answer's status and body, or why there is none, in an
/// operator's words and without the URL.
pub async fn fetch(
    request: reqwest::RequestBuilder,
    target: &str,
    timeout: Duration,
) -> Result<(reqwest::StatusCode, Vec<u8>), ProbeError> {
    let response = request
        .send()
        .await
        .map_err(|e| ProbeError::http(e, target, timeout))?;
    let status = response.status();
    let body = read_body(response, target, timeout).await?;
    Ok((status, body))
}

/// Reads an answer's body chunk by chunk, refusing one larger than [`MAX_BODY_BYTES`]: a
/// service streaming without end costs a mebibyte, not memory without bound, and the
/// probe's timeout keeps running while the body arrives.
pub async fn read_body(
    mut response: reqwest::Response,
    target: &str,
    timeout: Duration,
) -> Result<Vec<u8>, ProbeError> {
    let too_large = || ProbeError::Protocol {
        target: target.to_owned(),
        reason: format!(
            "response too large (over {} MiB)",
            MAX_BODY_BYTES / (1024 * 1024)
        ),
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ProbeError::http(e, target, timeout))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The fields of a JSON object as [`Details`] (anything else gives none).
pub fn into_details(value: serde_json::Value) -> Details {
    match value {
        serde_json::Value::Object(map) => map,
        _ => Details::new(),
    }
}

/// Yellow when a used/limit ratio reaches 90 %: connections, memory.
pub fn near_limit(what: &str, used: u64, limit: u64) -> Option<String> {
    (limit > 0 && used * 10 >= limit * 9).then(|| {
        format!(
            "{what} at {}% of the limit ({used} of {limit})",
            used * 100 / limit
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_order_is_worst_first() {
        assert!(Status::Red < Status::Yellow && Status::Yellow < Status::Green);
        assert!(Status::Yellow.is_ok() && !Status::Red.is_ok());
    }

    #[test]
    fn near_limit_starts_at_ninety_percent() {
        assert_eq!(near_limit("connections", 89, 100), None);
        assert_eq!(
            near_limit("connections", 90, 100).as_deref(),
            Some("connections at 90% of the limit (90 of 100)")
        );
        assert_eq!(near_limit("memory", 5, 0), None);
    }
}
