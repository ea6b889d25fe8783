//! Loading, as a pipeline: read the file, note where each key is written, read the secrets
//! its `<key>_file` twins name, import RAGFlow's configuration, merge the file over it,
//! apply `RAGWATCH_<SECTION>__<KEY>` overrides (the values of string keys as written),
//! deserialize, fill the defaults that follow a kind, validate. Every error names where
//! the offending value came from (file and line, or the environment variable) and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::ragflow::Import;
use super::schema::{self, Holds};
use super::secret_files;
use super::{Config, StorageConfig};

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

/// A value refused, and the key to blame. [`Config::invalid`] turns it into a
/// [`ConfigError`] that says where that key was set.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyError {
    /// The key (`storage.bucket`, `models[1].name`).
    pub key: String,
    /// What is wrong with its value.
    pub message: String,
    /// The key whose origin is shown, when it is not `key`: a key that is missing is
    /// blamed on the `kind` that needs it.
    pub blame: Option<String>,
}

impl KeyError {
    /// `key` is wrong: `message` says how.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
            blame: None,
        }
    }

    /// Shows where `key` was set instead of the error's own key.
    pub fn blaming(self, key: impl Into<String>) -> Self {
        Self {
            blame: Some(key.into()),
            ..self
        }
    }
}

/// Where a key's value came from.
#[derive(Clone, Debug)]
enum Origin {
    FileLine(usize),
    Env(String),
    Ragflow(String),
    /// A secret read from `file`, named by the `<key>_file` twin `twin`.
    SecretFile {
        file: String,
        twin: String,
    },
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
    let text = read_file(path)?;
    let mut origins = Origins::new(path, &text)?;
    let mut file: toml::Table = toml::from_str(&text).map_err(|e| origins.syntax_error(&e))?;
    for secret in secret_files::resolve(&mut file, "").map_err(|e| origins.invalid(e))? {
        origins.set(
            secret.key,
            Origin::SecretFile {
                file: secret.file,
                twin: secret.twin,
            },
        );
    }
    let imported = import_ragflow(ragflow, &env, &mut origins)?;
    let mut table = imported
        .as_ref()
        .map(|import| import.table.clone())
        .unwrap_or_default();
    merge(&mut table, file);
    apply_env(&mut table, &env, &mut origins)?;
    drop_imported_credentials(&mut table, &origins);
    let doc_engine_url_given = table
        .get("doc_engine")
        .and_then(|section| section.get("url"))
        .is_some();
    let mut config = deserialize(table).map_err(|e| origins.invalid(e))?;
    config.origins = origins;
    let filled = fill_kind_defaults(&mut config, doc_engine_url_given);
    filled
        .and_then(|()| config.validate())
        .map_err(|e| config.invalid(e))?;
    Ok((config, imported))
}

/// The file's text; none is an empty file.
fn read_file(path: Option<&Path>) -> Result<String, ConfigError> {
    let Some(path) = path else {
        return Ok(String::new());
    };
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// RAGFlow's configuration as ragwatch keys, each remembered as coming from RAGFlow unless
/// the file sets it too.
fn import_ragflow(
    ragflow: Option<&Path>,
    env: &BTreeMap<String, String>,
    origins: &mut Origins,
) -> Result<Option<Import>, ConfigError> {
    let Some(path) = ragflow else {
        return Ok(None);
    };
    let import = super::ragflow::import(path, env)?;
    for (key, sources) in &import.sources {
        origins.set_default(key.clone(), Origin::Ragflow(sources.join("; ")));
    }
    // The import names each model by name; the configuration keys it by its place.
    if let Some(toml::Value::Array(models)) = import.table.get("models") {
        for (i, model) in models.iter().enumerate() {
            let name = model.get("name").and_then(toml::Value::as_str);
            if let Some(sources) = name.and_then(|n| import.sources.get(&format!("models.{n}"))) {
                origins.set_default(format!("models[{i}]"), Origin::Ragflow(sources.join("; ")));
            }
        }
    }
    Ok(Some(import))
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

/// RAGFlow's credentials sign in at RAGFlow's address: a URL set over it (by the file or
/// a variable) with user info of its own signs in as that says, not as RAGFlow's keys do.
fn drop_imported_credentials(table: &mut toml::Table, origins: &Origins) {
    for (section, value) in table.iter_mut() {
        let Some(keys) = value.as_table_mut() else {
            continue;
        };
        let has_user_info = keys
            .get("url")
            .and_then(toml::Value::as_str)
            .and_then(|url| url::Url::parse(url).ok())
            .is_some_and(|url| !url.username().is_empty() || url.password().is_some());
        if !has_user_info || origins.is_imported(&format!("{section}.url")) {
            continue;
        }
        for credential in ["username", "password"] {
            if origins.is_imported(&format!("{section}.{credential}")) {
                keys.remove(credential);
            }
        }
    }
}

/// Sets every `RAGWATCH_<SECTION>__<KEY>` variable into the table; a `<key>_file` twin
/// sets its key, read from the file it names.
fn apply_env(
    table: &mut toml::Table,
    env: &BTreeMap<String, String>,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let overrides: BTreeMap<String, (&String, &String)> = env
        .iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX) && name.contains("__"))
        .map(|(name, raw)| (env_key_path(name), (name, raw)))
        .collect();
    for (key, (name, raw)) in &overrides {
        let located = |error: KeyError| ConfigError::Invalid {
            location: format!("environment variable {name}"),
            message: error.to_string(),
        };
        let Some(secret) = schema::twin_of(key) else {
            apply_override(table, name, raw)?;
            origins.set(key.clone(), Origin::Env(name.to_string()));
            continue;
        };
        if let Some((other, _)) = overrides.get(secret) {
            let mut error = secret_files::both(secret, key);
            error
                .message
                .push_str(&format!(" (both from {other} and {name})"));
            return Err(located(error));
        }
        let value = secret_files::read(key, raw).map_err(located)?;
        set_value(table, name, secret, toml::Value::String(value))?;
        origins.set(key.clone(), Origin::Env(name.to_string()));
        origins.set(
            secret.to_owned(),
            Origin::SecretFile {
                file: raw.to_string(),
                twin: key.clone(),
            },
        );
    }
    Ok(())
}

/// The typed configuration. `[storage]` is read on its own: its kind picks its struct.
fn deserialize(mut table: toml::Table) -> Result<Config, KeyError> {
    let storage = StorageConfig::read(table.remove("storage"))?;
    let mut config: Config =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            let message = e.inner().message();
            if is_unknown_key(&key, message) {
                KeyError::new(key, "unknown key")
            } else {
                KeyError::new(key, message)
            }
        })?;
    config.storage = storage;
    Ok(config)
}

/// Whether serde refused the last key of `path` as a field the struct does not have
/// (its `deny_unknown_fields` says so only in words).
pub(super) fn is_unknown_key(path: &str, message: &str) -> bool {
    let last = path.rsplit(['.', ']']).next().unwrap_or(path);
    message.starts_with(&format!("unknown field `{last}`"))
}

/// Defaults that follow a kind read in the same section, which serde fills too early:
/// an unset `doc_engine.url` is the kind's own address, and an HTTP engine's unset
/// credentials RAGFlow's.
fn fill_kind_defaults(config: &mut Config, doc_engine_url_given: bool) -> Result<(), KeyError> {
    if !doc_engine_url_given {
        config.doc_engine.default_url()?;
    }
    config.doc_engine.default_credentials();
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

/// Sets one override into the table. The value of a string key (a name, URL, duration,
/// password) is the string as written, so `12345` or `true` stays a password; a list of
/// tokens is an array when written as a TOML array of strings; any other key's value is
/// read as a TOML value when it is one (`false`, `3`, `["a"]`), else as a string.
fn apply_override(table: &mut toml::Table, name: &str, raw: &str) -> Result<(), ConfigError> {
    let key = env_key_path(name);
    let as_toml = || {
        toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
    };
    let text = || toml::Value::String(raw.to_owned());
    let value = match schema::holds(&key) {
        Some(Holds::Text | Holds::Secret) => text(),
        Some(Holds::SecretList) => as_toml()
            .filter(|value| {
                value
                    .as_array()
                    .is_some_and(|items| items.iter().all(toml::Value::is_str))
            })
            .unwrap_or_else(text),
        Some(Holds::Other) | None => as_toml().unwrap_or_else(text),
    };
    set_value(table, name, &key, value)
}

/// Sets `value` at the key path `key` of the table, for the environment variable `name`.
fn set_value(
    table: &mut toml::Table,
    name: &str,
    key: &str,
    value: toml::Value,
) -> Result<(), ConfigError> {
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

/// The origin of every key: the line it is written on, or the variable that overrode it.
#[derive(Clone, Debug, Default)]
pub(super) struct Origins {
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

    /// Whether the value of `key` is RAGFlow's.
    fn is_imported(&self, key: &str) -> bool {
        matches!(self.keys.get(key), Some(Origin::Ragflow(_)))
    }

    /// Records an origin for a key the file does not set itself.
    fn set_default(&mut self, key: String, origin: Origin) {
        self.keys.entry(key).or_insert(origin);
    }

    /// Where the value of `key` (or its nearest enclosing section) came from.
    pub(super) fn location(&self, key: &str) -> String {
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
                Some(origin) => return self.describe(origin),
                None => match probe.rfind(['.', '[']) {
                    Some(cut) => probe = &probe[..cut],
                    None => break,
                },
            }
        }
        self.file.clone().unwrap_or_else(|| "configuration".into())
    }

    /// Where exactly the value of `key` came from: its own origin, or that of an enclosing
    /// key that RAGFlow's configuration or a variable set as a whole; none for a default.
    pub(super) fn source(&self, key: &str) -> Option<String> {
        let brief = |origin: &Origin| match origin {
            Origin::Ragflow(_) => "RAGFlow's configuration (listed above)".to_owned(),
            other => self.describe(other),
        };
        if let Some(origin) = self.keys.get(key) {
            return Some(brief(origin));
        }
        let mut probe = key;
        while let Some(cut) = probe.rfind(['.', '[']) {
            probe = &probe[..cut];
            match self.keys.get(probe) {
                Some(origin @ (Origin::Env(_) | Origin::Ragflow(_))) => return Some(brief(origin)),
                Some(_) => return None,
                None => {}
            }
        }
        None
    }

    fn describe(&self, origin: &Origin) -> String {
        match origin {
            Origin::Env(name) => format!("environment variable {name}"),
            Origin::Ragflow(source) => format!("RAGFlow's {source}"),
            Origin::FileLine(line) => {
                format!("{}:{line}", self.file.as_deref().unwrap_or("config"))
            }
            Origin::SecretFile { file, twin } => {
                format!("file {file} ({twin}, {})", self.location(twin))
            }
        }
    }

    /// The error, located where its blamed key was set.
    pub(super) fn invalid(&self, error: KeyError) -> ConfigError {
        let KeyError {
            key,
            message,
            blame,
        } = error;
        let location = self.location(blame.as_deref().unwrap_or(&key));
        let message = if key.is_empty() || key == "." {
            message
        } else {
            format!("{key}: {message}")
        };
        ConfigError::Invalid { location, message }
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
    use crate::config::{DbKind, DocEngineKind, StorageKind};

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
        assert_eq!(config.storage.kind(), StorageKind::Minio);
        assert!(config.db.settings.enabled);
        assert_eq!(config.db.settings.required, None);
    }

    #[test]
    fn file_values_and_component_settings_are_read() {
        let f = file(
            "[monitor]\ninterval = \"4s\"\n[db]\nkind = \"postgres\"\nurl = \"postgres://u@h/d\"\nrequired = false\ntimeout = \"750ms\"\nslow_ms = 200\n",
        );
        let config = load(Some(f.path()), env(&[])).unwrap();
        assert_eq!(config.monitor.interval, Duration::from_secs(4));
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
            config.storage.service.endpoint().as_str(),
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
            config.storage.service.endpoint().as_str(),
            "http://127.0.0.1:10000/ragflowstore"
        );
        let gcs = "[storage]\nkind = \"gcs\"\nbucket = \"b\"\n";
        let config = load(Some(file(gcs).path()), env(&[])).unwrap();
        assert_eq!(
            config.storage.service.endpoint().as_str(),
            "https://storage.googleapis.com/"
        );
        let minio = load(None, env(&[])).unwrap();
        assert_eq!(
            minio.storage.service.endpoint().as_str(),
            "http://127.0.0.1:9000/"
        );
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
    fn errors_inside_sections_keep_their_key() {
        let cases = [
            (
                "a shared setting of a storage kind",
                "[storage]\nkind = \"gcs\"\nbucket = \"b\"\ntimeout = \"0s\"\n",
                "FILE:4: storage.timeout: duration \"0s\" must be greater than zero",
            ),
            (
                "a value of a storage kind",
                "[storage]\nkind = \"s3\"\n\naddressing_style = \"sideways\"\n",
                "FILE:4: storage.addressing_style: unknown variant `sideways`, expected `path` or `virtual`",
            ),
            (
                "a key of another storage kind",
                "[storage]\nkind = \"azure\"\naccount_name = \"a\"\ncontainer = \"c\"\nsas_token = \"sig=x\"\nregion = \"r\"\n",
                "FILE:6: storage.region: not used by kind = \"azure\"",
            ),
            (
                "an unknown key of a section without settings",
                "[history]\nurll = \"sqlite://x.db\"\n",
                "FILE:2: history.urll: unknown key",
            ),
            (
                "an unknown key of a model",
                "[[models]]\nname = \"e\"\nkind = \"tei\"\nurl = \"http://tei\"\nslow = 1\n",
                "FILE:5: models[0].slow: unknown key",
            ),
            (
                "a shared setting of a model",
                "[[models]]\nname = \"e\"\nkind = \"tei\"\nurl = \"http://tei\"\nrequired = \"yes\"\n",
                "FILE:5: models[0].required: invalid type: string \"yes\", expected a boolean",
            ),
        ];
        for (name, text, expected) in cases {
            assert_eq!(error_text(text, &[]), expected, "case {name}");
        }
    }

    #[test]
    fn environment_values_of_string_keys_stay_strings() {
        for password in [
            "12345",
            "true",
            "1e3",
            "[1]",
            "{a = 1}",
            "\"quoted\"",
            "3.5",
        ] {
            let config = load(
                None,
                env(&[
                    ("RAGWATCH_DB__PASSWORD", password),
                    ("RAGWATCH_DB__USERNAME", "4711"),
                    ("RAGWATCH_SERVER__TOKENS", password),
                    ("RAGWATCH_STORAGE__BUCKET", "2024"),
                ]),
            )
            .unwrap();
            let login = config.db.login();
            assert_eq!(login.password().unwrap().expose(), password);
            assert_eq!(login.username().as_deref(), Some("4711"));
            let tokens: Vec<&str> = config.server.tokens.iter().map(|t| t.expose()).collect();
            assert_eq!(tokens, [password.trim()], "{password}");
            let crate::config::StorageService::Minio(minio) = &config.storage.service else {
                panic!("not MinIO");
            };
            assert_eq!(minio.bucket, "2024");
        }
        // Keys of other types are read as TOML still; a list of tokens as an array too.
        let config = load(
            None,
            env(&[
                ("RAGWATCH_DB__SLOW_MS", "150"),
                ("RAGWATCH_DB__ENABLED", "false"),
                ("RAGWATCH_MONITOR__INTERVAL", "10s"),
                ("RAGWATCH_TASK_EXECUTORS__MAX_FAILURE_RATE", "0.25"),
                ("RAGWATCH_MESSAGE_QUEUE__KIND", "redis_stream"),
                ("RAGWATCH_MESSAGE_QUEUE__STREAMS", "[\"a\", \"b\"]"),
                ("RAGWATCH_SERVER__TOKENS", "[\"x\", \"y\"]"),
            ]),
        )
        .unwrap();
        assert_eq!(config.db.settings.slow_ms, Some(150));
        assert!(!config.db.settings.enabled);
        assert_eq!(config.monitor.interval, Duration::from_secs(10));
        assert_eq!(config.task_executors.max_failure_rate, 0.25);
        assert_eq!(config.message_queue.unwrap().streams, ["a", "b"]);
        let tokens: Vec<&str> = config.server.tokens.iter().map(|t| t.expose()).collect();
        assert_eq!(tokens, ["x", "y"]);
    }

    #[test]
    fn secrets_come_from_the_files_their_twins_name() {
        let dir = tempfile::tempdir().unwrap();
        let secret = |name: &str, content: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            path.display().to_string()
        };
        let db = secret("db", "p@ss #/?%: w\n");
        let redis = secret("redis", "from-env-file\n");
        let text = format!("[db]\nusername = \"ragflow\"\npassword_file = {db:?}\n");
        let f = file(&text);
        let config = load(
            Some(f.path()),
            env(&[("RAGWATCH_REDIS__PASSWORD_FILE", redis.as_str())]),
        )
        .unwrap();
        assert_eq!(
            config.db.login().password().unwrap().expose(),
            "p@ss #/?%: w"
        );
        assert_eq!(
            config.redis.login().password().unwrap().expose(),
            "from-env-file"
        );
        let shown = config.to_annotated_toml().unwrap();
        let path = f.path().display().to_string();
        assert!(
            shown.contains(&format!(
                "password = \"***\"  # from file {db} (db.password_file, {path}:3)\n"
            )),
            "{shown}"
        );
        assert!(
            shown.contains(&format!(
                "password = \"***\"  # from file {redis} (redis.password_file, environment variable RAGWATCH_REDIS__PASSWORD_FILE)\n"
            )),
            "{shown}"
        );
        assert!(
            shown.contains("url = \"redis://:***@127.0.0.1:6379/1\"  # default\n"),
            "{shown}"
        );
        assert!(!shown.contains("p@ss") && !shown.contains("from-env-file"));
        // The environment wins over the file, a twin as any key.
        let config = load(Some(f.path()), env(&[("RAGWATCH_DB__PASSWORD", "env")])).unwrap();
        assert_eq!(config.db.login().password().unwrap().expose(), "env");
        let config = load(
            Some(file("[redis]\npassword = \"file\"\n").path()),
            env(&[("RAGWATCH_REDIS__PASSWORD_FILE", redis.as_str())]),
        )
        .unwrap();
        assert_eq!(
            config.redis.login().password().unwrap().expose(),
            "from-env-file"
        );
        // A value read from a file is located there when it is wrong.
        let url = secret("url", "mysql://root:hunter2@db:3306/rag_flow\n");
        assert_eq!(
            error_text(
                &format!("[db]\nkind = \"postgres\"\nurl_file = {url:?}\n"),
                &[]
            ),
            format!(
                "file {url} (db.url_file, FILE:3): db.url: URL scheme `mysql` does not match db.kind = \"postgres\""
            )
        );
    }

    #[test]
    fn a_secret_and_its_twin_together_or_an_unreadable_file_are_refused() {
        let cases = [
            (
                "both in the file",
                "[redis]\npassword = \"x\"\npassword_file = \"/run/secrets/redis\"\n",
                vec![],
                "FILE:3: redis.password_file: set together with redis.password; give one of redis.password and redis.password_file",
            ),
            (
                "both in the environment",
                "",
                vec![
                    ("RAGWATCH_DB__PASSWORD", "hunter2"),
                    ("RAGWATCH_DB__PASSWORD_FILE", "/run/secrets/db"),
                ],
                "environment variable RAGWATCH_DB__PASSWORD_FILE: db.password_file: set together with db.password; give one of db.password and db.password_file (both from RAGWATCH_DB__PASSWORD and RAGWATCH_DB__PASSWORD_FILE)",
            ),
            (
                "an unreadable file",
                "[[models]]\nname = \"m\"\nkind = \"openai\"\nurl = \"http://m\"\napi_key_file = \"/nonexistent/key\"\n",
                vec![],
                "FILE:5: models[0].api_key_file: cannot read /nonexistent/key: No such file or directory (os error 2)",
            ),
            (
                "an unreadable file named by the environment",
                "",
                vec![("RAGWATCH_SERVER__TOKENS_FILE", "/nonexistent/tokens")],
                "environment variable RAGWATCH_SERVER__TOKENS_FILE: server.tokens_file: cannot read /nonexistent/tokens: No such file or directory (os error 2)",
            ),
            (
                "credentials for a SQLite history",
                "[history]\npassword = \"x\"\n",
                vec![],
                "FILE:2: history.password: is not used by a sqlite:// history",
            ),
        ];
        for (name, text, vars, expected) in cases {
            let text = error_text(text, &vars);
            assert_eq!(text, expected, "{name}");
            assert!(!text.contains("hunter2"), "{name}");
        }
    }

    #[test]
    fn an_http_engine_without_credentials_gets_ragflow_s() {
        let login = |vars: &[(&str, &str)]| {
            let login = load(None, env(vars)).unwrap().doc_engine.login();
            (
                login.username(),
                login.password().map(|p| p.expose().to_owned()),
            )
        };
        let ragflow = (Some("elastic".into()), Some("infini_rag_flow".into()));
        assert_eq!(login(&[]), ragflow);
        assert_eq!(
            login(&[("RAGWATCH_DOC_ENGINE__PASSWORD", "pw")]),
            (Some("elastic".into()), Some("pw".into()))
        );
        assert_eq!(
            login(&[("RAGWATCH_DOC_ENGINE__URL", "http://u:p@es:9200")]),
            (Some("u".into()), Some("p".into())),
            "the URL's credentials"
        );
        assert_eq!(
            login(&[("RAGWATCH_DOC_ENGINE__USERNAME", "")]),
            (None, Some("infini_rag_flow".into())),
            "no user: no credentials sent"
        );
        // A SQL engine signs in as its URL says, unless its keys say otherwise.
        assert_eq!(
            login(&[("RAGWATCH_DOC_ENGINE__KIND", "oceanbase")]),
            (Some("root@ragflow".into()), Some("infini_rag_flow".into()))
        );
        assert_eq!(
            login(&[
                ("RAGWATCH_DOC_ENGINE__KIND", "seekdb"),
                ("RAGWATCH_DOC_ENGINE__PASSWORD", "p@ss"),
            ]),
            (Some("root".into()), Some("p@ss".into()))
        );
    }

    #[test]
    fn the_executors_and_the_queue_sign_in_to_redis_with_its_credentials_unless_given_their_own() {
        let vars = [
            ("RAGWATCH_REDIS__URL", "redis://r:6379/1"),
            ("RAGWATCH_REDIS__USERNAME", "ragflow"),
            ("RAGWATCH_REDIS__PASSWORD", "redis-pw"),
            ("RAGWATCH_MESSAGE_QUEUE__KIND", "redis_stream"),
        ];
        let config = load(None, env(&vars)).unwrap();
        let parts = |login: crate::config::Login| {
            (
                login.url().expose().to_string(),
                login.username(),
                login.password().map(|p| p.expose().to_owned()),
            )
        };
        let redis = parts(config.redis.login());
        assert_eq!(parts(config.heartbeat_redis()), redis);
        let queue = config.message_queue.as_ref().unwrap();
        assert_eq!(parts(config.message_queue_login(queue)), redis);
        let mut own = vars.to_vec();
        own.extend([
            ("RAGWATCH_TASK_EXECUTORS__REDIS_PASSWORD", "executors-pw"),
            ("RAGWATCH_MESSAGE_QUEUE__USERNAME", "queue"),
        ]);
        let config = load(None, env(&own)).unwrap();
        assert_eq!(
            parts(config.heartbeat_redis()),
            (
                "redis://r:6379/1".into(),
                Some("ragflow".into()),
                Some("executors-pw".into())
            )
        );
        let queue = config.message_queue.as_ref().unwrap();
        assert_eq!(
            parts(config.message_queue_login(queue)),
            (
                "redis://r:6379/1".into(),
                Some("queue".into()),
                Some("redis-pw".into())
            )
        );
        let config = load(
            None,
            env(&[
                (
                    "RAGWATCH_TASK_EXECUTORS__REDIS_URL",
                    "redis://:url-pw@other:6379/2",
                ),
                ("RAGWATCH_TASK_EXECUTORS__REDIS_USERNAME", "te"),
            ]),
        )
        .unwrap();
        assert_eq!(
            parts(config.heartbeat_redis()),
            (
                "redis://:url-pw@other:6379/2".into(),
                Some("te".into()),
                Some("url-pw".into())
            )
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
