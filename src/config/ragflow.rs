//! `--ragflow-conf`: builds the components from RAGFlow's own configuration. RAGFlow's
//! entrypoint renders `service_conf.yaml.template` by shell substitution of `${VAR:-default}`
//! with the container's environment (docker compose fills it from `.env`, and a variable set
//! in the process environment wins over `.env`); the backends are picked by `DOC_ENGINE`,
//! `DB_TYPE` and `STORAGE_IMPL` as RAGFlow's settings do. Every imported value remembers
//! where it came from, for `ragwatch config`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;
use url::Url;

use super::dotenv;
use super::kind::names;
use super::{ConfigError, DbKind, DocEngineKind, MessageQueueKind, ModelKind, StorageKind};

/// The RAGFlow configuration turned into ragwatch configuration keys.
pub struct Import {
    /// The ragwatch table (as if written in a ragwatch TOML file).
    pub table: toml::Table,
    /// The backend choices: `DOC_ENGINE = elasticsearch`, with where that came from.
    pub choices: Vec<(String, String)>,
    /// For each ragwatch key set: where its parts came from, in words, without the values.
    pub sources: BTreeMap<String, Vec<String>>,
    /// The files read, for the record.
    pub files: Vec<PathBuf>,
}

/// Where a `${VAR}` got its value.
#[derive(Clone, Debug)]
enum VarSource {
    Environment,
    DotEnv(usize),
    Default,
    Unset,
}

/// A variable as RAGFlow's container sees it.
struct Variables {
    values: BTreeMap<String, (String, VarSource)>,
    env_file: Option<PathBuf>,
}

impl Variables {
    /// The process environment over `.env` (read by compose's rules, its own
    /// `${VAR:-default}` expanded too; a later line wins over an earlier one).
    fn new(env: &BTreeMap<String, String>, env_file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut values: BTreeMap<String, (String, VarSource)> = env
            .iter()
            .map(|(k, v)| (k.clone(), (v.clone(), VarSource::Environment)))
            .collect();
        if let Some(path) = env_file {
            let statements =
                dotenv::parse(&read(path)?).map_err(|refused| ConfigError::Invalid {
                    location: format!("{}:{}", path.display(), refused.line),
                    message: refused.message,
                })?;
            for statement in statements {
                if matches!(
                    values.get(&statement.name),
                    Some((_, VarSource::Environment))
                ) {
                    continue; // the environment wins
                }
                let value = if statement.interpolate {
                    let known = Self {
                        values: values.clone(),
                        env_file: None,
                    };
                    // `$$` is a literal `$`.
                    let parts: Vec<String> = statement
                        .value
                        .split("$$")
                        .map(|part| known.expand(part).0)
                        .collect();
                    parts.join("$")
                } else {
                    statement.value
                };
                values.insert(statement.name, (value, VarSource::DotEnv(statement.line)));
            }
        }
        Ok(Self {
            values,
            env_file: env_file.map(Path::to_owned),
        })
    }

    fn get(&self, name: &str) -> Option<&(String, VarSource)> {
        self.values.get(name)
    }

    /// Shell-style expansion of `${VAR:-default}`, `${VAR-default}`, `${VAR}` and `$VAR`;
    /// returns the text and each variable used with where its value came from.
    fn expand(&self, text: &str) -> (String, Vec<(String, VarSource)>) {
        let mut out = String::new();
        let mut used = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            let (name, default, after) = if let Some(inner) = rest.strip_prefix('{') {
                let Some(end) = inner.find('}') else {
                    out.push('$');
                    continue;
                };
                let body = &inner[..end];
                let (name, default) = match body.find([':', '-']) {
                    Some(cut) => {
                        let default = body[cut..]
                            .strip_prefix(":-")
                            .or_else(|| body[cut..].strip_prefix('-'))
                            .map(|d| (d, body[cut..].starts_with(':')));
                        (&body[..cut], default)
                    }
                    None => (body, None),
                };
                (name, default, &inner[end + 1..])
            } else {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if end == 0 {
                    out.push('$');
                    continue;
                }
                (&rest[..end], None, &rest[end..])
            };
            let (value, source) = match (self.values.get(name), default) {
                // `:-` also replaces an empty value; `-` only an unset one.
                (Some((value, _)), Some((default, true))) if value.is_empty() => {
                    (default.to_owned(), VarSource::Default)
                }
                (Some((value, source)), _) => (value.clone(), source.clone()),
                (None, Some((default, _))) => (default.to_owned(), VarSource::Default),
                (None, None) => (String::new(), VarSource::Unset),
            };
            out.push_str(&value);
            used.push((name.to_owned(), source));
            rest = after;
        }
        out.push_str(rest);
        (out, used)
    }

    fn describe(&self, name: &str, source: &VarSource) -> String {
        match source {
            VarSource::Environment => format!("environment variable {name}"),
            VarSource::DotEnv(line) => format!(
                "{name} in {}:{line}",
                self.env_file.as_deref().map_or(".env".into(), file_name)
            ),
            VarSource::Default => format!("the default of ${{{name}}}"),
            VarSource::Unset => format!("{name} (not set: empty)"),
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The rendered template: its YAML, and per line the variables substituted in it.
struct Rendered {
    path: PathBuf,
    text: String,
    yaml: Value,
    substitutions: Vec<Vec<(String, VarSource)>>,
}

impl Rendered {
    fn new(path: &Path, variables: &Variables) -> Result<Self, ConfigError> {
        let template = read(path)?;
        let mut text = String::new();
        let mut substitutions = Vec::new();
        for line in template.lines() {
            let (rendered, used) = if line.trim_start().starts_with('#') {
                (line.to_owned(), Vec::new())
            } else {
                variables.expand(line)
            };
            text.push_str(&rendered);
            text.push('\n');
            substitutions.push(used);
        }
        let yaml: Value = serde_norway::from_str(&text).map_err(|e| ConfigError::Invalid {
            location: match e.location() {
                Some(at) => format!("{}:{}", path.display(), at.line()),
                None => path.display().to_string(),
            },
            message: format!("invalid YAML: {e}"),
        })?;
        Ok(Self {
            path: path.to_owned(),
            text,
            yaml,
            substitutions,
        })
    }

    fn section(&self, name: &str) -> Option<&Value> {
        self.yaml.get(name).filter(|v| !v.is_null())
    }

    /// The 1-based line where the key `path` (a path of block-mapping keys) is written.
    fn line_of(&self, path: &[&str]) -> Option<usize> {
        let mut depth = 0;
        let mut indent: Option<usize> = None;
        for (index, line) in self.text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let this_indent = line.len() - trimmed.len();
            if indent.is_some_and(|i| depth > 0 && this_indent <= i) {
                return None; // left the enclosing mapping
            }
            if trimmed.starts_with(&format!("{}:", path[depth])) {
                depth += 1;
                indent = Some(this_indent);
                if depth == path.len() {
                    return Some(index + 1);
                }
            }
        }
        None
    }

    /// A scalar under `section.key...`, as text, with where it came from in words.
    fn scalar(&self, variables: &Variables, path: &[&str]) -> Option<(String, String)> {
        let mut value = &self.yaml;
        for key in path {
            value = value.get(*key)?;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        let line = self.line_of(path);
        let mut origin = format!(
            "{} ({}{})",
            path.join("."),
            file_name(&self.path),
            line.map(|l| format!(":{l}")).unwrap_or_default()
        );
        let used = line.and_then(|l| self.substitutions.get(l - 1));
        if let Some(used) = used.filter(|u| !u.is_empty()) {
            let names: Vec<String> = used
                .iter()
                .map(|(name, source)| variables.describe(name, source))
                .collect();
            origin.push_str(&format!(" from {}", names.join(", ")));
        }
        Some((text, origin))
    }
}

/// What the import collects: ragwatch keys, their values and their sources.
struct Builder<'a> {
    rendered: &'a Rendered,
    variables: &'a Variables,
    table: toml::Table,
    choices: Vec<(String, String)>,
    sources: BTreeMap<String, Vec<String>>,
}

impl Builder<'_> {
    fn set(&mut self, key: &str, value: toml::Value, sources: Vec<String>) {
        let (section, field) = key.split_once('.').expect("section.field");
        self.table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("sections are tables")
            .insert(field.to_owned(), value);
        self.sources.insert(key.to_owned(), sources);
    }

    fn set_str(&mut self, key: &str, value: &str, sources: Vec<String>) {
        self.set(key, toml::Value::String(value.to_owned()), sources);
    }

    /// A value RAGFlow reads, or an error naming the section and key.
    fn need(&self, path: &[&str]) -> Result<(String, String), ConfigError> {
        self.rendered
            .scalar(self.variables, path)
            .ok_or_else(|| self.missing(&path.join(".")))
    }

    fn optional(&self, path: &[&str]) -> Option<(String, String)> {
        self.rendered.scalar(self.variables, path)
    }

    fn missing(&self, what: &str) -> ConfigError {
        ConfigError::Invalid {
            location: self.rendered.path.display().to_string(),
            message: format!("`{what}` is missing (is its section commented out?)"),
        }
    }

    /// `DOC_ENGINE`, `DB_TYPE`, `STORAGE_IMPL`: the variable or RAGFlow's default.
    fn choice(&mut self, variable: &str, default: &str) -> String {
        match self.variables.get(variable) {
            Some((value, source)) if !value.is_empty() => {
                let described = self.variables.describe(variable, source);
                self.choices
                    .push((format!("{variable} = {value}"), described));
                value.clone()
            }
            _ => {
                self.choices.push((
                    format!("{variable} = {default}"),
                    "RAGFlow's default (not set)".into(),
                ));
                default.to_owned()
            }
        }
    }

    fn section_of(&self, variable: &str, value: &str, section: &str) -> Result<(), ConfigError> {
        if self.rendered.section(section).is_some() {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            location: self.rendered.path.display().to_string(),
            message: format!(
                "{variable} = {value} needs the `{section}` section, which it does not have (is it commented out?)"
            ),
        })
    }

    /// `scheme://host:port/path` from RAGFlow's separate fields; the user and password
    /// become `component`'s own keys, which need no encoding.
    fn sql_url(
        &mut self,
        component: &str,
        scheme: &str,
        section: &[&str],
        fields: [&str; 5],
    ) -> Result<(String, Vec<String>), ConfigError> {
        let get = |field: &str| {
            let mut path = section.to_vec();
            path.push(field);
            self.need(&path)
        };
        let [user_key, password_key, host_key, port_key, name_key] = fields;
        let (user, password, host, port, name) = (
            get(user_key)?,
            get(password_key)?,
            get(host_key)?,
            get(port_key)?,
            get(name_key)?,
        );
        let url = self.url(
            &format!("{scheme}://{}:{}/{}", host.0, port.0, name.0),
            section,
        )?;
        self.set_credentials(component, Some(user), Some(password));
        Ok((url.to_string(), vec![host.1, port.1, name.1]))
    }

    /// `component.username` and `component.password`, each as RAGFlow gives it (none when
    /// empty), with where it came from.
    fn set_credentials(
        &mut self,
        component: &str,
        user: Option<(String, String)>,
        password: Option<(String, String)>,
    ) {
        for (key, given) in [("username", user), ("password", password)] {
            if let Some((value, source)) = given.filter(|(value, _)| !value.is_empty()) {
                self.set_str(&format!("{component}.{key}"), &value, vec![source]);
            }
        }
    }

    fn url(&self, text: &str, section: &[&str]) -> Result<Url, ConfigError> {
        Url::parse(text).map_err(|e| ConfigError::Invalid {
            location: self.rendered.path.display().to_string(),
            message: format!("`{}` does not make a valid address: {e}", section.join(".")),
        })
    }
}

/// Reads RAGFlow's configuration at `path`: a `service_conf.yaml` (or its `.template`), or
/// the docker folder holding it and `.env`.
pub fn import(path: &Path, env: &BTreeMap<String, String>) -> Result<Import, ConfigError> {
    let (conf, env_file) = locate(path)?;
    let variables = Variables::new(env, env_file.as_deref())?;
    let rendered = Rendered::new(&conf, &variables)?;
    let mut files = vec![conf];
    files.extend(env_file);
    let mut b = Builder {
        rendered: &rendered,
        variables: &variables,
        table: toml::Table::new(),
        choices: Vec::new(),
        sources: BTreeMap::new(),
    };
    import_db(&mut b)?;
    import_redis(&mut b)?;
    import_doc_engine(&mut b)?;
    import_storage(&mut b)?;
    import_message_queue(&mut b)?;
    import_models(&mut b)?;
    import_api_server(&mut b)?;
    // Every RAGFlow parses documents: watch the pipeline from its task table and queue.
    b.table
        .insert("parsing".into(), toml::Value::Table(toml::Table::new()));
    b.sources.insert(
        "parsing".into(),
        vec!["RAGFlow's task table (the db above) and task queue streams (the redis above)".into()],
    );
    Ok(Import {
        table: b.table,
        choices: b.choices,
        sources: b.sources,
        files,
    })
}

fn locate(path: &Path) -> Result<(PathBuf, Option<PathBuf>), ConfigError> {
    let dir_and_conf = if path.is_dir() {
        let conf = ["service_conf.yaml", "service_conf.yaml.template"]
            .iter()
            .map(|name| path.join(name))
            .find(|p| p.is_file())
            .ok_or_else(|| ConfigError::Invalid {
                location: path.display().to_string(),
                message: "holds neither service_conf.yaml nor service_conf.yaml.template".into(),
            })?;
        (path.to_owned(), conf)
    } else {
        let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        (dir, path.to_owned())
    };
    let (dir, conf) = dir_and_conf;
    let env_file = Some(dir.join(".env")).filter(|p| p.is_file());
    Ok((conf, env_file))
}

fn import_db(b: &mut Builder) -> Result<(), ConfigError> {
    let db_type = b.choice("DB_TYPE", DbKind::Mysql.as_str());
    // RAGFlow also takes PostgreSQL's own spelling.
    let kind = match db_type.as_str() {
        "postgresql" => DbKind::Postgres,
        other => other
            .parse()
            .map_err(|_| unsupported("DB_TYPE", other, &names::<DbKind>().join(", ")))?,
    };
    // RAGFlow's section for each database is named as the kind is.
    let section = kind.as_str();
    b.section_of("DB_TYPE", &db_type, section)?;
    let (url, sources) = b.sql_url(
        "db",
        kind.as_str(),
        &[section],
        ["user", "password", "host", "port", "name"],
    )?;
    b.set_str(
        "db.kind",
        kind.as_str(),
        vec![format!("DB_TYPE = {db_type}")],
    );
    b.set_str("db.url", &url, sources);
    Ok(())
}

fn import_redis(b: &mut Builder) -> Result<(), ConfigError> {
    b.section_of("redis", "used by every RAGFlow", "redis")?;
    let host = b.need(&["redis", "host"])?;
    let db = b.optional(&["redis", "db"]);
    let url = b.url(
        &format!(
            "redis://{}/{}",
            host.0,
            db.as_ref().map_or("1", |(d, _)| d.as_str())
        ),
        &["redis", "host"],
    )?;
    let mut sources = vec![host.1];
    sources.extend(db.map(|(_, s)| s));
    b.set_str("redis.url", url.as_str(), sources);
    let user = b.optional(&["redis", "username"]);
    let password = b.optional(&["redis", "password"]);
    b.set_credentials("redis", user, password);
    Ok(())
}

fn import_doc_engine(b: &mut Builder) -> Result<(), ConfigError> {
    let engine = b.choice("DOC_ENGINE", DocEngineKind::Elasticsearch.as_str());
    let kind: DocEngineKind = engine
        .parse()
        .map_err(|_| unsupported("DOC_ENGINE", &engine, &names::<DocEngineKind>().join(", ")))?;
    // RAGFlow's section for each engine: `es`, `os`, else the engine's own name.
    let section = match kind {
        DocEngineKind::Elasticsearch => "es",
        DocEngineKind::Opensearch => "os",
        other => other.as_str(),
    };
    b.section_of("DOC_ENGINE", &engine, section)?;
    b.set_str(
        "doc_engine.kind",
        kind.as_str(),
        vec![format!("DOC_ENGINE = {engine}")],
    );
    let fields = ["user", "password", "host", "port"];
    let (url, sources) = match kind {
        DocEngineKind::Elasticsearch | DocEngineKind::Opensearch => {
            // RAGFlow passes `hosts` to the client as given; the first one is enough to probe.
            let hosts = b.need(&[section, "hosts"])?;
            let first = hosts.0.split(',').next().unwrap_or_default().trim();
            let url = b.url(first, &[section, "hosts"])?;
            for field in ["username", "password"] {
                if let Some((value, source)) = b.optional(&[section, field]) {
                    b.set_str(&format!("doc_engine.{field}"), &value, vec![source]);
                }
            }
            (url.to_string(), vec![hosts.1])
        }
        DocEngineKind::Infinity => {
            // RAGFlow talks Thrift to `uri`; ragwatch asks the same host's HTTP API.
            let uri = b.need(&["infinity", "uri"])?;
            let host = uri.0.rsplit_once(':').map_or(uri.0.as_str(), |(h, _)| h);
            let (port, port_source) = match b.variables.get("INFINITY_HTTP_PORT") {
                Some((port, source)) if !port.is_empty() => (
                    port.clone(),
                    b.variables.describe("INFINITY_HTTP_PORT", source),
                ),
                _ => ("23820".into(), "Infinity's default HTTP port".into()),
            };
            let url = b.url(&format!("http://{host}:{port}"), &["infinity", "uri"])?;
            (url.to_string(), vec![uri.1, port_source])
        }
        DocEngineKind::Oceanbase | DocEngineKind::Seekdb => b.sql_url(
            "doc_engine",
            "mysql",
            &[section, "config"],
            [fields[0], fields[1], fields[2], fields[3], "db_name"],
        )?,
        DocEngineKind::Serenedb => b.sql_url(
            "doc_engine",
            "postgres",
            &[section],
            [fields[0], fields[1], fields[2], fields[3], "db_name"],
        )?,
        DocEngineKind::Gaussdb => b.sql_url(
            "doc_engine",
            "postgres",
            &[section],
            [fields[0], fields[1], fields[2], fields[3], "database"],
        )?,
    };
    b.set_str("doc_engine.url", &url, sources);
    Ok(())
}

/// RAGFlow's `STORAGE_IMPL` name of each storage kind.
fn storage_impl(kind: StorageKind) -> &'static str {
    match kind {
        StorageKind::Minio => "MINIO",
        StorageKind::S3 => "AWS_S3",
        StorageKind::Oss => "OSS",
        StorageKind::Azure => "AZURE_SAS",
        StorageKind::Gcs => "GCS",
    }
}

fn import_storage(b: &mut Builder) -> Result<(), ConfigError> {
    let implementation = b.choice("STORAGE_IMPL", storage_impl(StorageKind::Minio));
    if implementation == "AZURE_SPN" {
        return Err(ConfigError::Invalid {
            location: "RAGFlow's STORAGE_IMPL".into(),
            message: "STORAGE_IMPL = AZURE_SPN (a service principal) is not a way ragwatch signs in: \
                      give it the account key or a SAS token with RAGWATCH_STORAGE__ACCOUNT_KEY or RAGWATCH_STORAGE__SAS_TOKEN \
                      and the other storage keys in --config"
                .into(),
        });
    }
    let kind = StorageKind::ALL
        .into_iter()
        .find(|kind| storage_impl(*kind) == implementation)
        .ok_or_else(|| {
            let known: Vec<&str> = StorageKind::ALL.into_iter().map(storage_impl).collect();
            unsupported("STORAGE_IMPL", &implementation, &known.join(", "))
        })?;
    let chosen = vec![format!("STORAGE_IMPL = {implementation}")];
    b.set_str("storage.kind", kind.as_str(), chosen);
    match kind {
        StorageKind::Minio => {
            b.section_of("STORAGE_IMPL", &implementation, "minio")?;
            let host = b.need(&["minio", "host"])?;
            let secure = b
                .optional(&["minio", "secure"])
                .is_some_and(|(s, _)| s.eq_ignore_ascii_case("true"));
            let scheme = if secure { "https" } else { "http" };
            let url = b.url(&format!("{scheme}://{}", host.0), &["minio", "host"])?;
            let user = b.need(&["minio", "user"])?;
            let password = b.need(&["minio", "password"])?;
            b.set_str("storage.endpoint", url.as_str(), vec![host.1]);
            b.set_str("storage.access_key", &user.0, vec![user.1]);
            b.set_str("storage.secret_key", &password.0, vec![password.1]);
            if let Some((bucket, source)) = b.optional(&["minio", "bucket"]) {
                b.set_str("storage.bucket", &bucket, vec![source]);
            }
        }
        StorageKind::S3 => {
            b.section_of("STORAGE_IMPL", &implementation, "s3")?;
            for (field, key) in [
                ("access_key", "access_key"),
                ("secret_key", "secret_key"),
                ("bucket", "bucket"),
            ] {
                let (value, source) = b.need(&["s3", field])?;
                b.set_str(&format!("storage.{key}"), &value, vec![source]);
            }
            if let Some((region, source)) = b.optional(&["s3", "region"]) {
                b.set_str("storage.region", &region, vec![source]);
            }
            // Without an endpoint RAGFlow's boto3 client talks to AWS in the region.
            let endpoint = match b.optional(&["s3", "endpoint_url"]) {
                Some((url, source)) if !url.is_empty() => (url, source),
                _ => {
                    let region = b
                        .optional(&["s3", "region"])
                        .map_or_else(|| "us-east-1".to_owned(), |(r, _)| r);
                    (
                        format!("https://s3.{region}.amazonaws.com"),
                        "AWS's endpoint for the region (s3.endpoint_url is not set)".into(),
                    )
                }
            };
            let url = b.url(&endpoint.0, &["s3", "endpoint_url"])?;
            b.set_str("storage.endpoint", url.as_str(), vec![endpoint.1]);
        }
        StorageKind::Oss => {
            b.section_of("STORAGE_IMPL", &implementation, "oss")?;
            for (field, key) in [
                ("access_key", "access_key"),
                ("secret_key", "secret_key"),
                ("bucket", "bucket"),
                ("region", "region"),
                ("endpoint_url", "endpoint"),
            ] {
                let (value, source) = b.need(&["oss", field])?;
                b.set_str(&format!("storage.{key}"), &value, vec![source]);
            }
        }
        StorageKind::Azure => {
            b.section_of("STORAGE_IMPL", &implementation, "azure")?;
            // RAGFlow's container URL is https://<account>.blob.core.windows.net/<container>.
            let container_url = b.need(&["azure", "container_url"])?;
            let url = b.url(&container_url.0, &["azure", "container_url"])?;
            let account = url
                .host_str()
                .and_then(|h| h.split('.').next())
                .unwrap_or_default();
            let container = url.path().trim_matches('/');
            if account.is_empty() || container.is_empty() {
                return Err(ConfigError::Invalid {
                    location: b.rendered.path.display().to_string(),
                    message: "`azure.container_url` must be https://<account>.blob.core.windows.net/<container>".into(),
                });
            }
            let (account, container) = (account.to_owned(), container.to_owned());
            let mut endpoint = url.clone();
            endpoint.set_path("");
            let sas = b.need(&["azure", "sas_token"])?;
            let from = vec![container_url.1.clone()];
            b.set_str("storage.endpoint", endpoint.as_str(), from.clone());
            b.set_str("storage.account_name", &account, from.clone());
            b.set_str("storage.container", &container, from);
            b.set_str("storage.sas_token", &sas.0, vec![sas.1]);
        }
        StorageKind::Gcs => {
            b.section_of("STORAGE_IMPL", &implementation, "gcs")?;
            let (bucket, source) = b.need(&["gcs", "bucket"])?;
            b.set_str("storage.bucket", &bucket, vec![source]);
            if let Some((endpoint, source)) = b.optional(&["gcs", "endpoint_url"])
                && !endpoint.is_empty()
            {
                let url = b.url(&endpoint, &["gcs", "endpoint_url"])?;
                b.set_str("storage.endpoint", url.as_str(), vec![source]);
            }
            // RAGFlow's client finds its key as Google's libraries do.
            if let Some((file, source)) = b.variables.get("GOOGLE_APPLICATION_CREDENTIALS")
                && !file.is_empty()
            {
                let described = b
                    .variables
                    .describe("GOOGLE_APPLICATION_CREDENTIALS", source);
                b.set_str("storage.credentials_file", &file.clone(), vec![described]);
            }
        }
    }
    Ok(())
}

/// RAGFlow's NATS, when its ingestor uses it as the message queue.
fn import_message_queue(b: &mut Builder) -> Result<(), ConfigError> {
    let Some((mq_type, source)) = b.optional(&["ingestor", "mq_type"]) else {
        return Ok(());
    };
    if mq_type != MessageQueueKind::Nats.as_str() {
        return Ok(());
    }
    let host = b.need(&["nats", "host"])?;
    let port = b.need(&["nats", "port"])?;
    let url = b.url(&format!("nats://{}:{}", host.0, port.0), &["nats", "host"])?;
    b.set_str(
        "message_queue.kind",
        MessageQueueKind::Nats.as_str(),
        vec![source],
    );
    b.set_str("message_queue.url", url.as_str(), vec![host.1, port.1]);
    Ok(())
}

/// RAGFlow's default models that name a server (`base_url`): the stock compose's TEI
/// embedding server (its host is `TEI_HOST`), else OpenAI-compatible APIs with their key.
fn import_models(b: &mut Builder) -> Result<(), ConfigError> {
    let tei_host = b.variables.get("TEI_HOST").map(|(host, _)| host.clone());
    let mut models = Vec::new();
    for (field, name) in [
        ("embedding_model", "embedding"),
        ("rerank_model", "rerank"),
        ("chat_model", "chat"),
    ] {
        let path = ["user_default_llm", "default_models", field];
        let Some((base_url, source)) = b.optional(&[path[0], path[1], path[2], "base_url"]) else {
            continue;
        };
        // `http://${TEI_HOST}:80` with TEI_HOST unset names no server.
        if Url::parse(&base_url) == Err(url::ParseError::EmptyHost) {
            continue;
        }
        let url = b.url(&base_url, &path)?;
        let host = url.host_str().unwrap_or_default();
        let tei = tei_host.as_deref() == Some(host);
        let mut entry = toml::Table::new();
        entry.insert("name".into(), name.into());
        let kind = if tei {
            ModelKind::Tei
        } else {
            ModelKind::Openai
        };
        entry.insert("kind".into(), kind.as_str().into());
        entry.insert("url".into(), url.as_str().into());
        let mut sources = vec![source];
        if !tei && let Some((key, key_source)) = b.optional(&[path[0], path[1], path[2], "api_key"])
        {
            entry.insert("api_key".into(), key.into());
            sources.push(key_source);
        }
        b.sources.insert(format!("models.{name}"), sources);
        models.push(toml::Value::Table(entry));
    }
    if !models.is_empty() {
        b.table.insert("models".into(), toml::Value::Array(models));
    }
    Ok(())
}

/// RAGFlow's API server from `ragflow.host` and `http_port`. A wildcard bind address is
/// reached on the loopback; from another container, set `RAGWATCH_RAGFLOW__URL`.
fn import_api_server(b: &mut Builder) -> Result<(), ConfigError> {
    let Some(port) = b.optional(&["ragflow", "http_port"]) else {
        return Ok(());
    };
    let host = b.optional(&["ragflow", "host"]);
    let name = match host.as_ref().map(|(h, _)| h.as_str()) {
        None | Some("" | "0.0.0.0" | "::" | "[::]") => "127.0.0.1",
        Some(host) => host,
    };
    let url = b.url(&format!("http://{name}:{}", port.0), &["ragflow", "host"])?;
    let mut sources: Vec<String> = host.into_iter().map(|(_, s)| s).collect();
    sources.push(port.1);
    b.set_str("ragflow.url", url.as_str(), sources);
    Ok(())
}

fn unsupported(variable: &str, value: &str, known: &str) -> ConfigError {
    ConfigError::Invalid {
        location: format!("RAGFlow's {variable}"),
        message: format!("{variable} = {value} is not a backend ragwatch knows (it knows {known})"),
    }
}
