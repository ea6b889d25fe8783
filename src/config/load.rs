//! Loading: the TOML file, then `RAGWATCH_<SECTION>__<KEY>` environment overrides, then
//! validation. Every error names where the offending value came from (file and line, or
//! the environment variable) and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use serde::Deserialize;

use super::ragflow::Import;
use super::{
    ComponentKey, ComponentSettings, Config, DbKind, EngineProtocol, MessageQueueKind, Need,
    SecretUrl, StorageKind,
};

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "RAGWATCH_";

/// Why a configuration was refused. Its text is what the operator sees.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A value is malformed, unknown or inconsistent.
    #[error("{location}: {message}")]
    Invalid {
        /// `file:line`, `environment variable NAME`, or the file alone.
        location: String,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// Where a key's value came from.
#[derive(Clone, Debug)]
enum Origin {
    FileLine(usize),
    Env(String),
    Ragflow(String),
}

/// Loads the configuration from an optional file and the given environment.
pub fn load(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    load_with_ragflow(path, None, env).map(|(config, _)| config)
}

/// Loads the configuration: RAGFlow's own (`--ragflow-conf`) when given, then the ragwatch
/// file over it, then `RAGWATCH_*` variables over both. Returns what was imported from
/// RAGFlow too, so that `ragwatch config` can say where each value came from.
pub fn load_with_ragflow(
    path: Option<&Path>,
    ragflow: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(Config, Option<Import>), ConfigError> {
    let env: BTreeMap<String, String> = env.into_iter().collect();
    let text = match path {
        Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
            path: p.to_owned(),
            source,
        })?,
        None => String::new(),
    };
    let mut origins = Origins::new(path, &text)?;
    let file_table: toml::Table = toml::from_str(&text).map_err(|e| origins.syntax_error(&e))?;
    let imported = ragflow
        .map(|p| super::ragflow::import(p, &env))
        .transpose()?;
    let mut table = match &imported {
        Some(import) => {
            for (key, sources) in &import.sources {
                origins.set_default(key.clone(), Origin::Ragflow(sources.join("; ")));
            }
            import.table.clone()
        }
        None => toml::Table::new(),
    };
    merge(&mut table, file_table);

    let overrides = env
        .iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX) && name.contains("__"));
    for (name, raw) in overrides {
        apply_override(&mut table, name, raw)?;
        origins.set(env_key_path(name), Origin::Env(name.clone()));
    }

    check_component_settings(&table, &origins)?;
    check_storage_keys(&table, &origins)?;
    let endpoint_given = storage_value(&table, "endpoint").is_some();
    let input = toml::Value::Table(table);
    let mut config: Config = serde_path_to_error::deserialize(input.clone()).map_err(|e| {
        let key = e.path().to_string();
        origins.invalid(&key, e.inner().message().to_owned())
    })?;
    if !endpoint_given
        && let Some(url) = config
            .storage
            .kind
            .default_endpoint(&config.storage.account_name)
    {
        config.storage.endpoint = url;
    }
    if let Some(key) = first_unknown_key(&input, &config) {
        return Err(origins.invalid(&key, "unknown key".into()));
    }
    let invalid = |(key, message)| origins.invalid(key, message);
    default_doc_engine_url(&input, &mut config).map_err(invalid)?;
    validate(&config).map_err(invalid)?;
    validate_models(&config).map_err(|(key, message)| origins.invalid(&key, message))?;
    Ok((config, imported))
}

/// `[[models]]`: names that make usable, distinct component keys, and HTTP URLs.
fn validate_models(config: &Config) -> Result<(), (String, String)> {
    for (i, model) in config.models.iter().enumerate() {
        let name = &model.name;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err((
                format!("models[{i}].name"),
                format!("{name:?} is not a usable name: use letters, digits, `-` and `_`"),
            ));
        }
        if config.models[..i].iter().any(|m| &m.name == name) {
            return Err((
                format!("models[{i}].name"),
                format!("another model is already named {name:?}"),
            ));
        }
        let scheme = model.url.expose().scheme();
        if !matches!(scheme, "http" | "https") {
            return Err((
                format!("models[{i}].url"),
                format!("URL scheme `{scheme}` is not supported; write http:// or https://"),
            ));
        }
    }
    Ok(())
}

/// Writes `over` into `base`, section by section; `over`'s values win.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => merge(inner, value),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// An unset `doc_engine.url` is the kind's default: serde fills defaults before it has
/// read the kind, so this one is filled after.
fn default_doc_engine_url(
    input: &toml::Value,
    config: &mut Config,
) -> Result<(), (&'static str, String)> {
    if input.get("doc_engine").and_then(|s| s.get("url")).is_some() {
        return Ok(());
    }
    let kind = config.doc_engine.kind;
    let url = kind.default_url().ok_or_else(|| {
        let scheme = kind.protocol().schemes()[0];
        (
            "doc_engine.kind",
            format!(
                "`{}` has no default address, as RAGFlow does not run one: set doc_engine.url = \"{scheme}://user:password@host:port/database\"",
                kind.as_str()
            ),
        )
    })?;
    config.doc_engine.url = SecretUrl::parse(url).expect("default URL parses");
    Ok(())
}

/// The key path an environment variable names: `RAGWATCH_DOC_ENGINE__URL` -> `doc_engine.url`.
fn env_key_path(name: &str) -> String {
    name[ENV_PREFIX.len()..]
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join(".")
}

/// Sets one override into the table. The value is read as a TOML value when it is one
/// (`false`, `3`, `["a"]`), else taken as a string (URLs, durations, passwords).
fn apply_override(table: &mut toml::Table, name: &str, raw: &str) -> Result<(), ConfigError> {
    let key = env_key_path(name);
    let segments: Vec<&str> = key.split('.').collect();
    let invalid = |message: String| ConfigError::Invalid {
        location: format!("environment variable {name}"),
        message,
    };
    if segments.iter().any(|s| s.is_empty()) {
        return Err(invalid(format!(
            "cannot tell which key it sets; write {ENV_PREFIX}<SECTION>__<KEY>"
        )));
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let (last, parents) = segments.split_last().expect("at least one segment");
    let mut current = table;
    for (depth, segment) in parents.iter().enumerate() {
        let entry = current
            .entry(segment.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| {
            invalid(format!(
                "`{}` is a value, not a section",
                segments[..=depth].join(".")
            ))
        })?;
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// Reads each component section's shared settings on their own first: inside the full
/// configuration they are flattened, and serde loses the key of a flattened field's error.
fn check_component_settings(table: &toml::Table, origins: &Origins) -> Result<(), ConfigError> {
    for key in &ComponentKey::ALL {
        let section = key.as_str();
        let Some(toml::Value::Table(fields)) = table.get(section) else {
            continue;
        };
        let shared: toml::Table = fields
            .iter()
            .filter(|(key, _)| ComponentSettings::KEYS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        serde_path_to_error::deserialize::<_, ComponentSettings>(toml::Value::Table(shared))
            .map_err(|e| {
                let key = format!("{section}.{}", e.path());
                origins.invalid(&key, e.inner().message().to_owned())
            })?;
    }
    Ok(())
}

/// A key of `[storage]` as given in the file or the environment.
fn storage_value<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    table.get("storage")?.as_table()?.get(key)
}

/// Each storage kind reads its own keys: a required one must be given (the defaults only
/// fit a local MinIO), and a key of another kind is refused rather than silently ignored.
fn check_storage_keys(table: &toml::Table, origins: &Origins) -> Result<(), ConfigError> {
    let kind = match storage_value(table, "kind") {
        None => StorageKind::default(),
        Some(value) => match StorageKind::deserialize(value.clone()) {
            Ok(kind) => kind,
            // Deserialization names the unknown kind and its alternatives.
            Err(_) => return Ok(()),
        },
    };
    let given = |key: &str| storage_value(table, key);
    let kind_text = format!("kind = \"{}\"", kind.as_str());
    let missing = |message: String| ConfigError::Invalid {
        location: origins.location("storage.kind"),
        message,
    };
    if let Some(toml::Value::Table(storage)) = table.get("storage") {
        let foreign = storage
            .keys()
            .find(|key| StorageKind::is_kind_key(key) && !kind.reads(key));
        if let Some(key) = foreign {
            return Err(origins.invalid(
                &format!("storage.{key}"),
                format!("not used by {kind_text}"),
            ));
        }
    }
    for (key, need) in kind.keys() {
        match given(key) {
            Some(toml::Value::String(text))
                if text.trim().is_empty() && *need == Need::Required =>
            {
                return Err(origins.invalid(&format!("storage.{key}"), "must not be empty".into()));
            }
            None if *need == Need::Required => {
                return Err(missing(format!(
                    "storage.{key}: missing; {kind_text} needs it"
                )));
            }
            _ => {}
        }
    }
    if kind == StorageKind::Azure {
        let set = |key: &str| {
            given(key).is_some_and(|value| value.as_str().is_none_or(|s| !s.trim().is_empty()))
        };
        match (set("account_key"), set("sas_token")) {
            (false, false) => {
                return Err(missing(format!(
                    "storage.account_key: missing; {kind_text} needs storage.account_key or storage.sas_token"
                )));
            }
            (true, true) => {
                return Err(origins.invalid(
                    "storage.sas_token",
                    "set storage.account_key or storage.sas_token, not both".into(),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A key the input has that the typed configuration does not know. Serde skips unknown
/// keys when a section flattens its shared settings, so compare against a round trip.
fn first_unknown_key(input: &toml::Value, config: &Config) -> Option<String> {
    let known = toml::Value::try_from(config).expect("the configuration serialises");
    unknown_in(input, &known, "")
}

fn unknown_in(input: &toml::Value, known: &toml::Value, prefix: &str) -> Option<String> {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match (input, known) {
        (toml::Value::Table(input), toml::Value::Table(known)) => {
            input.iter().find_map(|(key, value)| match known.get(key) {
                None => Some(join(key)),
                Some(known_value) => unknown_in(value, known_value, &join(key)),
            })
        }
        (toml::Value::Array(input), toml::Value::Array(known)) => input
            .iter()
            .zip(known)
            .enumerate()
            .find_map(|(i, (a, b))| unknown_in(a, b, &format!("{prefix}[{i}]"))),
        _ => None,
    }
}

/// Consistency rules serde cannot express. Returns the key and what is wrong.
fn validate(config: &Config) -> Result<(), (&'static str, String)> {
    let db_scheme = config.db.url.expose().scheme();
    let db_ok = match config.db.kind {
        DbKind::Mysql => matches!(db_scheme, "mysql" | "mariadb"),
        DbKind::Postgres => matches!(db_scheme, "postgres" | "postgresql"),
    };
    if !db_ok {
        let kind = toml::Value::try_from(config.db.kind).expect("kind serialises");
        return Err((
            "db.url",
            format!("URL scheme `{db_scheme}` does not match db.kind = {kind}"),
        ));
    }
    let redis_scheme = config.redis.url.expose().scheme();
    if redis_scheme != "redis" {
        return Err((
            "redis.url",
            format!(
                "URL scheme `{redis_scheme}` is not supported; write redis://[:password@]host:port/db"
            ),
        ));
    }
    let engine = &config.doc_engine;
    let protocol = engine.kind.protocol();
    let engine_url = engine.url.expose();
    if !protocol.schemes().contains(&engine_url.scheme()) {
        let speaks = match protocol {
            EngineProtocol::Http => "an HTTP API",
            EngineProtocol::Mysql => "the MySQL protocol",
            EngineProtocol::Postgres => "the PostgreSQL protocol",
        };
        return Err((
            "doc_engine.url",
            format!(
                "URL scheme `{}` does not match doc_engine.kind = \"{}\", which speaks {speaks}: write {}://...",
                engine_url.scheme(),
                engine.kind.as_str(),
                protocol.schemes()[0],
            ),
        ));
    }
    if engine_url.host_str().is_none() {
        return Err(("doc_engine.url", "must name a host".into()));
    }
    let storage = &config.storage.endpoint;
    if !matches!(storage.scheme(), "http" | "https") || storage.host_str().is_none() {
        return Err((
            "storage.endpoint",
            "must be an http:// or https:// URL with a host".into(),
        ));
    }
    let account = &config.storage.account_name;
    if !account
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Err((
            "storage.account_name",
            "must be lowercase letters and digits only, as Azure storage account names are".into(),
        ));
    }
    if config.storage.region.trim().is_empty() {
        return Err(("storage.region", "must not be empty".into()));
    }
    if let Some(queue) = &config.message_queue {
        let scheme = config.message_queue_url(queue).expose().scheme().to_owned();
        let fits = match queue.kind {
            MessageQueueKind::Nats => matches!(scheme.as_str(), "nats" | "tls"),
            MessageQueueKind::RedisStream => scheme == "redis",
        };
        if !fits {
            let kind = toml::Value::try_from(queue.kind).expect("kind serialises");
            return Err((
                "message_queue.url",
                format!("URL scheme `{scheme}` does not match message_queue.kind = {kind}"),
            ));
        }
        if queue.kind == MessageQueueKind::RedisStream && queue.streams.is_empty() {
            return Err((
                "message_queue.streams",
                "must name at least one stream".into(),
            ));
        }
    }
    let executors = &config.task_executors;
    if !(0.0..=1.0).contains(&executors.max_failure_rate) {
        return Err((
            "task_executors.max_failure_rate",
            "must be between 0 and 1 (a share of tasks)".into(),
        ));
    }
    if executors.heartbeat_timeout <= executors.heartbeat_period {
        return Err((
            "task_executors.heartbeat_timeout",
            "must be longer than task_executors.heartbeat_period".into(),
        ));
    }
    if !matches!(
        config.history.url.expose().scheme(),
        "sqlite" | "postgres" | "postgresql"
    ) {
        return Err((
            "history.url",
            "must be a sqlite://path or postgres:// URL".into(),
        ));
    }
    if let Some(alerts) = &config.alerts {
        if alerts.failure_threshold == 0 {
            return Err(("alerts.failure_threshold", "must be at least 1".into()));
        }
        if alerts.success_threshold == 0 {
            return Err(("alerts.success_threshold", "must be at least 1".into()));
        }
        let urls = alerts
            .webhook
            .iter()
            .map(|w| ("alerts.webhook", &w.url))
            .chain(
                alerts
                    .alertmanager
                    .iter()
                    .map(|a| ("alerts.alertmanager", &a.url)),
            );
        for (key, url) in urls {
            if !matches!(url.expose().scheme(), "http" | "https") {
                return Err((key, "url must be an http:// or https:// URL".into()));
            }
        }
    }
    if let Some(url) = &executors.redis_url
        && url.expose().scheme() != "redis"
    {
        return Err(("task_executors.redis_url", "must be a redis:// URL".into()));
    }
    Ok(())
}

/// The origin of every key: the line it is written on, or the variable that overrode it.
struct Origins {
    file: Option<String>,
    keys: BTreeMap<String, Origin>,
}

impl Origins {
    fn new(path: Option<&Path>, text: &str) -> Result<Self, ConfigError> {
        let mut origins = Self {
            file: path.map(|p| p.display().to_string()),
            keys: BTreeMap::new(),
        };
        let document = DeTable::parse(text).map_err(|e| origins.syntax_error(&e))?;
        origins.record_table(document.get_ref(), "", text);
        Ok(origins)
    }

    fn record_table(&mut self, table: &DeTable<'_>, prefix: &str, text: &str) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            let line = line_of(text, key.span().start);
            self.keys.insert(path.clone(), Origin::FileLine(line));
            self.record_value(value.get_ref(), &path, text);
        }
    }

    fn record_value(&mut self, value: &DeValue<'_>, path: &str, text: &str) {
        match value {
            DeValue::Table(table) => self.record_table(table, path, text),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    self.keys.insert(
                        item_path.clone(),
                        Origin::FileLine(line_of(text, item.span().start)),
                    );
                    self.record_value(item.get_ref(), &item_path, text);
                }
            }
            _ => {}
        }
    }

    fn set(&mut self, key: String, origin: Origin) {
        self.keys.insert(key, origin);
    }

    /// Records an origin for a key the file does not set itself.
    fn set_default(&mut self, key: String, origin: Origin) {
        self.keys.entry(key).or_insert(origin);
    }

    /// Where the value of `key` (or its nearest enclosing section) came from.
    fn location(&self, key: &str) -> String {
        // A value set below this key (an override that made a section of it) is the cause.
        let below = self.keys.iter().find(|(k, _)| {
            k.strip_prefix(key)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        });
        let mut probe = match below {
            Some((k, _)) if !self.keys.contains_key(key) => k.as_str(),
            _ => key,
        };
        loop {
            match self.keys.get(probe) {
                Some(Origin::Env(name)) => return format!("environment variable {name}"),
                Some(Origin::Ragflow(source)) => return format!("RAGFlow's {source}"),
                Some(Origin::FileLine(line)) => {
                    return format!("{}:{line}", self.file.as_deref().unwrap_or("config"));
                }
                None => match probe.rfind(['.', '[']) {
                    Some(cut) => probe = &probe[..cut],
                    None => break,
                },
            }
        }
        self.file.clone().unwrap_or_else(|| "configuration".into())
    }

    fn invalid(&self, key: &str, message: String) -> ConfigError {
        let message = if key.is_empty() || key == "." {
            message
        } else {
            format!("{key}: {message}")
        };
        ConfigError::Invalid {
            location: self.location(key),
            message,
        }
    }

    fn syntax_error(&self, error: &toml::de::Error) -> ConfigError {
        let file = self.file.as_deref().unwrap_or("config");
        let location = match (error.span(), &self.file) {
            (Some(span), Some(path)) => std::fs::read_to_string(path)
                .map(|text| format!("{file}:{}", line_of(&text, span.start)))
                .unwrap_or_else(|_| file.to_owned()),
            _ => file.to_owned(),
        };
        ConfigError::Invalid {
            location,
            message: format!("invalid TOML: {}", error.message()),
        }
    }
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;
    use crate::config::{DocEngineKind, StorageKind};

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn error_text(text: &str, vars: &[(&str, &str)]) -> String {
        let f = file(text);
        let err = load(Some(f.path()), env(vars)).unwrap_err();
        err.to_string()
            .replace(&f.path().display().to_string(), "FILE")
    }

    #[test]
    fn no_file_gives_ragflow_defaults() {
        let config = load(None, env(&[])).unwrap();
        assert_eq!(config.server.listen.to_string(), "0.0.0.0:9390");
        assert_eq!(config.monitor.interval, Duration::from_secs(5));
        assert_eq!(config.monitor.timeout, Duration::from_secs(3));
        assert_eq!(config.db.kind, DbKind::Mysql);
        assert_eq!(
            config.db.url.expose().as_str(),
            super::super::DEFAULT_DB_URL
        );
        assert_eq!(
            config.redis.url.expose().as_str(),
            super::super::DEFAULT_REDIS_URL
        );
        assert!(config.redis.write_check);
        assert_eq!(config.doc_engine.kind, DocEngineKind::Elasticsearch);
        assert_eq!(config.storage.kind, StorageKind::Minio);
        assert!(config.db.settings.enabled);
        assert_eq!(config.db.settings.required, None);
    }

    #[test]
    fn file_values_and_component_settings_are_read() {
        let f = file(
            "[monitor]\ninterval = \"2s\"\n[db]\nkind = \"postgres\"\nurl = \"postgres://u@h/d\"\nrequired = false\ntimeout = \"750ms\"\nslow_ms = 200\n",
        );
        let config = load(Some(f.path()), env(&[])).unwrap();
        assert_eq!(config.monitor.interval, Duration::from_secs(2));
        assert_eq!(config.db.kind, DbKind::Postgres);
        assert_eq!(config.db.settings.required, Some(false));
        assert_eq!(config.db.settings.timeout, Some(Duration::from_millis(750)));
        assert_eq!(config.db.settings.slow_ms, Some(200));
    }

    #[test]
    fn environment_overrides_the_file() {
        let f = file("[redis]\nurl = \"redis://file:6379/0\"\n");
        let config = load(
            Some(f.path()),
            env(&[
                ("RAGWATCH_REDIS__URL", "redis://:pw@env:6380/1"),
                ("RAGWATCH_REDIS__WRITE_CHECK", "false"),
                ("RAGWATCH_DB__SLOW_MS", "150"),
                ("RAGWATCH_SERVER__TOKENS", "a, b"),
                ("RAGWATCH_CONFIG", "ignored: no double underscore"),
            ]),
        )
        .unwrap();
        assert_eq!(config.redis.url.expose().host_str(), Some("env"));
        assert!(!config.redis.write_check);
        assert_eq!(config.db.settings.slow_ms, Some(150));
        let tokens: Vec<&str> = config.server.tokens.iter().map(|t| t.expose()).collect();
        assert_eq!(tokens, ["a", "b"]);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                "unknown kind",
                "[db]\nkind = \"mongo\"\n",
                "FILE:2: db.kind: unknown variant `mongo`, expected `mysql` or `postgres`",
            ),
            (
                "invalid url",
                "\n[redis]\nurl = \"::nope\"\n",
                "FILE:3: redis.url: invalid URL (relative URL without a base); write it as scheme://[user:password@]host:port/...",
            ),
            (
                "unknown key",
                "[storage]\nbucket = \"b\"\nbukcet = \"typo\"\n",
                "FILE:3: storage.bukcet: unknown key",
            ),
            (
                "unknown section",
                "[nope]\nx = 1\n",
                "FILE:1: nope: unknown key",
            ),
            (
                "bad duration",
                "[monitor]\ninterval = \"soon\"\n",
                "FILE:2: monitor.interval: invalid duration \"soon\" (expected number at 0); write e.g. \"5s\" or \"500ms\"",
            ),
            (
                "wrong type",
                "[redis]\nwrite_check = \"yes\"\n",
                "FILE:2: redis.write_check: invalid type: string \"yes\", expected a boolean",
            ),
            (
                "scheme mismatch",
                "[db]\nkind = \"postgres\"\nurl = \"mysql://h/d\"\n",
                "FILE:3: db.url: URL scheme `mysql` does not match db.kind = \"postgres\"",
            ),
            (
                "doc engine scheme mismatch",
                "[doc_engine]\nkind = \"oceanbase\"\nurl = \"postgres://h/d\"\n",
                "FILE:3: doc_engine.url: URL scheme `postgres` does not match doc_engine.kind = \"oceanbase\", which speaks the MySQL protocol: write mysql://...",
            ),
            (
                "gaussdb without url",
                "[doc_engine]\nkind = \"gaussdb\"\n",
                "FILE:2: doc_engine.kind: `gaussdb` has no default address, as RAGFlow does not run one: set doc_engine.url = \"postgres://user:password@host:port/database\"",
            ),
            (
                "malformed toml",
                "[db\nkind = 1\n",
                "FILE:1: invalid TOML: unclosed table, expected `]`",
            ),
        ];
        for (name, text, expected) in cases {
            assert_eq!(error_text(text, &[]), expected, "case {name}");
        }
    }

    #[test]
    fn an_unset_doc_engine_url_follows_the_kind() {
        let cases = [
            ("elasticsearch", "http://127.0.0.1:1200/"),
            ("infinity", "http://127.0.0.1:23820/"),
            (
                "oceanbase",
                "mysql://root%40ragflow:infini_rag_flow@127.0.0.1:2881/ragflow_doc",
            ),
            (
                "seekdb",
                "mysql://root:infini_rag_flow@127.0.0.1:2881/ragflow_doc",
            ),
            (
                "serenedb",
                "postgres://postgres:infini_rag_flow@127.0.0.1:7890/postgres",
            ),
        ];
        for (kind, url) in cases {
            let config = load(None, env(&[("RAGWATCH_DOC_ENGINE__KIND", kind)])).unwrap();
            assert_eq!(config.doc_engine.url.expose().as_str(), url, "{kind}");
        }
        let set = load(
            None,
            env(&[
                ("RAGWATCH_DOC_ENGINE__KIND", "gaussdb"),
                (
                    "RAGWATCH_DOC_ENGINE__URL",
                    "postgresql://u:p@gauss:8000/postgres",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(set.doc_engine.kind, DocEngineKind::Gaussdb);
        assert_eq!(
            set.doc_engine.url.expose().as_str(),
            "postgresql://u:p@gauss:8000/postgres"
        );
        assert_eq!(
            error_text("", &[("RAGWATCH_DOC_ENGINE__KIND", "gaussdb")]),
            "environment variable RAGWATCH_DOC_ENGINE__KIND: doc_engine.kind: `gaussdb` has no default address, as RAGFlow does not run one: set doc_engine.url = \"postgres://user:password@host:port/database\""
        );
    }

    #[test]
    fn errors_from_the_environment_name_the_variable() {
        let text = error_text("", &[("RAGWATCH_DB__KIND", "oracle")]);
        assert_eq!(
            text,
            "environment variable RAGWATCH_DB__KIND: db.kind: unknown variant `oracle`, expected `mysql` or `postgres`"
        );
        let text = error_text("", &[("RAGWATCH_REDIS__URL__X", "1")]);
        assert_eq!(
            text,
            "environment variable RAGWATCH_REDIS__URL__X: redis.url: invalid type: map, expected a string"
        );
    }

    #[test]
    fn azure_and_gcs_endpoints_default_to_the_cloud_unless_given() {
        let azure = "[storage]\nkind = \"azure\"\naccount_name = \"ragflowstore\"\nsas_token = \"sig=x\"\ncontainer = \"c\"\n";
        let config = load(Some(file(azure).path()), env(&[])).unwrap();
        assert_eq!(
            config.storage.endpoint.as_str(),
            "https://ragflowstore.blob.core.windows.net/"
        );
        let config = load(
            Some(file(azure).path()),
            env(&[(
                "RAGWATCH_STORAGE__ENDPOINT",
                "http://127.0.0.1:10000/ragflowstore",
            )]),
        )
        .unwrap();
        assert_eq!(
            config.storage.endpoint.as_str(),
            "http://127.0.0.1:10000/ragflowstore"
        );
        let gcs = "[storage]\nkind = \"gcs\"\nbucket = \"b\"\n";
        let config = load(Some(file(gcs).path()), env(&[])).unwrap();
        assert_eq!(
            config.storage.endpoint.as_str(),
            "https://storage.googleapis.com/"
        );
        let minio = load(None, env(&[])).unwrap();
        assert_eq!(minio.storage.endpoint.as_str(), "http://127.0.0.1:9000/");
    }

    #[test]
    fn a_storage_kind_set_by_the_environment_names_the_variable() {
        let text = error_text("", &[("RAGWATCH_STORAGE__KIND", "gcs")]);
        assert_eq!(
            text,
            "environment variable RAGWATCH_STORAGE__KIND: storage.bucket: missing; kind = \"gcs\" needs it"
        );
        let text = error_text(
            "[storage]\nkind = \"azure\"\naccount_name = \"Upper\"\nsas_token = \"sig=x\"\ncontainer = \"c\"\n",
            &[],
        );
        assert_eq!(
            text,
            "FILE:3: storage.account_name: must be lowercase letters and digits only, as Azure storage account names are"
        );
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = load(Some(Path::new("/nonexistent/ragwatch.toml")), env(&[])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read config file /nonexistent/ragwatch.toml")
        );
    }
}
