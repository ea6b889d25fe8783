//! docker compose: the fragment next to RAGFlow's runs ragwatch on RAGFlow's own docker/
//! folder (mounted read-only), so it points where a stock RAGFlow goes, and where one whose
//! passwords were all changed (to ones with every character a URL reserves) goes; it shows
//! no password, publishes on the host's loopback only, takes the API token from a compose
//! secret, keeps the history in a volume and gives the drain time to finish.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Yaml, assert_ragwatch_accepts, listen_port, ragwatch_config, toml_str, yaml};
use crate::common;

const COMPOSE: &str = "deploy/compose/docker-compose.ragwatch.yml";
/// RAGFlow's stock docker files (`env` and `service_conf.yaml.template` of its `docker/`),
/// recorded in `tests/fixtures/ragflow/docker/`.
fn ragflow_docker(file: &str) -> String {
    let path = common::fixture_path("ragflow/docker").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Replaces `$$`, `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME-default}` as docker
/// compose (and RAGFlow's template rendering) do.
fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(inner) = rest.strip_prefix('{') {
            let end = inner.find('}').expect("unclosed ${");
            let expr = &inner[..end];
            rest = &inner[end + 1..];
            let name_end = expr
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expr.len());
            let (name, op) = expr.split_at(name_end);
            let value = vars.get(name);
            out.push_str(&match op {
                "" => value.cloned().unwrap_or_default(),
                _ if op.starts_with(":-") => value
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_else(|| interpolate(&op[2..], vars)),
                _ if op.starts_with('-') => value
                    .cloned()
                    .unwrap_or_else(|| interpolate(&op[1..], vars)),
                _ => panic!("interpolation ${{{expr}}} is not handled here"),
            });
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.push_str(vars.get(&rest[..end]).map_or("", String::as_str));
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// The variables of a compose `.env` file, each interpolated with those before it.
fn dotenv(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, raw) = line.split_once('=').unwrap();
        let raw = raw.trim();
        let value = match raw.chars().next() {
            Some(q @ ('"' | '\'')) => raw[1..].split(q).next().unwrap().to_owned(),
            _ => raw.split(" #").next().unwrap().trim().to_owned(),
        };
        let value = interpolate(&value, &vars);
        vars.insert(name.trim().to_owned(), value);
    }
    vars
}

/// RAGFlow's own view of its services, from its service_conf.yaml.template.
fn ragflow_service_conf(vars: &BTreeMap<String, String>) -> Yaml {
    let template = ragflow_docker("service_conf.yaml.template");
    serde_norway::from_str(&interpolate(&template, vars)).unwrap()
}

fn yaml_text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// Asserts that a loaded configuration points where RAGFlow itself goes.
fn assert_points_at_ragflow(config: &ragwatch::config::Config, ragflow: &Yaml, whose: &str) {
    let db = config.db.url.expose();
    let mysql = &ragflow["mysql"];
    assert_eq!(db.scheme(), "mysql", "{whose}");
    assert_eq!(db.host_str().unwrap(), yaml_text(&mysql["host"]), "{whose}");
    assert_eq!(
        db.port_or_known_default().unwrap().to_string(),
        yaml_text(&mysql["port"])
    );
    assert_eq!(
        db.path(),
        format!("/{}", yaml_text(&mysql["name"])),
        "{whose}"
    );
    let login = config.db.login();
    assert_eq!(
        login.username().unwrap_or_default(),
        yaml_text(&mysql["user"]),
        "{whose}"
    );
    assert_eq!(
        login.password().unwrap().expose(),
        yaml_text(&mysql["password"]),
        "{whose}"
    );

    let url = config.redis.url.expose();
    let redis = &ragflow["redis"];
    let host_port = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(6379));
    assert_eq!(host_port, yaml_text(&redis["host"]), "{whose}");
    assert_eq!(
        url.path(),
        format!("/{}", yaml_text(&redis["db"])),
        "{whose}"
    );
    let login = config.redis.login();
    assert_eq!(
        login.username().unwrap_or_default(),
        yaml_text(&redis["username"]),
        "{whose}"
    );
    assert_eq!(
        login.password().unwrap().expose(),
        yaml_text(&redis["password"]),
        "{whose}"
    );
    assert_eq!(config.heartbeat_redis().url().expose(), url, "{whose}");

    let es = &ragflow["es"];
    let doc_engine = config.doc_engine.url.expose().as_str();
    assert_eq!(
        doc_engine.trim_end_matches('/'),
        yaml_text(&es["hosts"]),
        "{whose}"
    );
    let login = config.doc_engine.login();
    assert_eq!(
        login.username().unwrap(),
        yaml_text(&es["username"]),
        "{whose}"
    );
    assert_eq!(
        login.password().unwrap().expose(),
        yaml_text(&es["password"])
    );

    let minio = &ragflow["minio"];
    let ragwatch::config::StorageService::Minio(storage) = &config.storage.service else {
        panic!("{whose}: storage is not MinIO");
    };
    let endpoint = &storage.endpoint;
    let host_port = format!(
        "{}:{}",
        endpoint.host_str().unwrap(),
        endpoint.port().unwrap()
    );
    assert_eq!(host_port, yaml_text(&minio["host"]), "{whose}");
    assert_eq!(storage.access_key, yaml_text(&minio["user"]), "{whose}");
    assert_eq!(storage.secret_key.expose(), yaml_text(&minio["password"]));
    assert_eq!(storage.bucket, yaml_text(&minio["bucket"]), "{whose}");
}

/// The `environment` mapping of a service, each value interpolated with `vars`.
fn service_env(service: &Yaml, vars: &BTreeMap<String, String>) -> Vec<(String, String)> {
    service["environment"]
        .as_mapping()
        .expect("environment as a mapping")
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                interpolate(&yaml_text(v), vars),
            )
        })
        .collect()
}

fn env_value<'a>(env: &'a [(String, String)], name: &str) -> &'a str {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{name} is not in the service's environment"))
}

/// `.env` as shipped with these values changed, each single-quoted (compose's literal form).
fn changed_env(stock: &str, changes: &[(&str, &str)]) -> String {
    stock
        .lines()
        .map(|line| {
            match changes
                .iter()
                .find(|(name, _)| line.starts_with(&format!("{name}=")))
            {
                Some((name, value)) => format!("{name}='{value}'"),
                None => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// RAGFlow's docker/ folder with this `.env`, as mounted into the container.
fn ragflow_docker_dir(env_text: &str) -> tempfile::TempDir {
    let docker = tempfile::tempdir().unwrap();
    std::fs::write(docker.path().join(".env"), env_text).unwrap();
    std::fs::write(
        docker.path().join("service_conf.yaml.template"),
        ragflow_docker("service_conf.yaml.template"),
    )
    .unwrap();
    docker
}

#[test]
fn the_ha_profile_runs_two_replicas_of_one_cluster_on_a_secret_history() {
    let compose = yaml(COMPOSE);
    assert!(
        compose["services"]["ragwatch"].get("profiles").is_none(),
        "the single instance stays the default"
    );
    let stock = ragflow_docker("env");
    let vars = dotenv(&stock);
    let docker = ragflow_docker_dir(&stock);
    let secrets = tempfile::tempdir().unwrap();
    let url = "postgres://ragwatch:ha%20Pw@pg.example:5432/ragwatch";
    let mut published = Vec::new();
    for name in ["ragwatch-a", "ragwatch-b"] {
        let service = &compose["services"][name];
        assert_eq!(service["profiles"][0], "ha", "{name}");
        let env: Vec<(String, String)> = service_env(service, &vars)
            .into_iter()
            .map(|(key, value)| {
                let value = match value.strip_prefix("/run/secrets/") {
                    Some(secret) => {
                        assert!(
                            service["secrets"]
                                .as_sequence()
                                .unwrap()
                                .iter()
                                .any(|s| s == secret),
                            "{name} does not take the secret {secret}"
                        );
                        let file = secrets.path().join(secret);
                        let content = if secret.contains("history") { url } else { "t" };
                        std::fs::write(&file, format!("{content}\n")).unwrap();
                        file.display().to_string()
                    }
                    None if value == "/ragflow" => docker.path().display().to_string(),
                    None => value,
                };
                (key, value)
            })
            .collect();
        let (config, _) =
            ragwatch::config::load_with_ragflow(None, Some(docker.path()), env.clone())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(config.cluster.is_some(), "{name} is a replica of a cluster");
        assert_eq!(config.history.url.expose().as_str(), url, "{name}");
        assert_eq!(
            config.history.observer, name,
            "each replica its own observer"
        );
        let printed = ragwatch_config(&["config"], &env);
        let shown = toml::to_string(&printed).unwrap();
        assert!(
            !shown.contains("ha%20Pw"),
            "{name}: the history's password shown"
        );
        let port = interpolate(&yaml_text(&service["ports"][0]), &vars);
        assert!(port.starts_with("127.0.0.1:"), "{name}: {port}");
        published.push(port);
    }
    assert_ne!(
        published[0], published[1],
        "each replica on a port of its own"
    );
}

#[test]
fn the_compose_fragment_runs_ragwatch_on_ragflows_own_configuration() {
    let compose = yaml(COMPOSE);
    let service = &compose["services"]["ragwatch"];
    assert!(
        service.get("container_name").is_none(),
        "a fixed container_name clashes with a second project on the host"
    );
    let stock = ragflow_docker("env");
    // As an operator who followed .env's advice and changed every password: no URL
    // splices them, so none needs encoding.
    let changed = changed_env(
        &stock,
        &[
            ("MYSQL_PASSWORD", "my sql@Pw#81/?%:x"),
            ("REDIS_PASSWORD", "redis@Pw#82"),
            ("ELASTIC_PASSWORD", "elastic Pw/83?"),
            ("MINIO_PASSWORD", "minio%Pw:84"),
            ("MINIO_USER", "minio-user-85"),
        ],
    );
    for (whose, env_text) in [("stock .env", &stock), ("changed .env", &changed)] {
        let vars = dotenv(env_text);
        let env = service_env(service, &vars);

        // RAGFlow's docker/ folder (the project directory: relative paths are relative to
        // the first -f file, RAGFlow's docker-compose.yml), mounted read-only where ragwatch
        // reads RAGFlow's configuration.
        let conf = env_value(&env, "RAGWATCH_RAGFLOW_CONF").to_owned();
        let mounts: Vec<Vec<String>> = service["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| yaml_text(v).split(':').map(str::to_owned).collect())
            .collect();
        assert!(
            mounts.iter().any(|m| matches!(m[0].as_str(), "." | "./")
                && m[1] == conf
                && m.get(2).is_some_and(|mode| mode == "ro")),
            "{whose}: RAGFlow's docker/ is not mounted read-only at {conf}: {mounts:?}"
        );

        // The token from a compose secret.
        let token_file = env_value(&env, "RAGWATCH_SERVER__TOKENS_FILE").to_owned();
        let secret = token_file
            .strip_prefix("/run/secrets/")
            .expect("a compose secret's path");
        assert!(
            service["secrets"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|s| s == secret),
            "{whose}: the service does not take the secret {secret}"
        );
        assert!(
            compose["secrets"][secret]["file"].is_string(),
            "{whose}: the secret {secret} has no file"
        );

        // The container as compose would start it: the mounted folder and the secret's file.
        let docker = ragflow_docker_dir(env_text);
        let secrets = tempfile::tempdir().unwrap();
        let token = secrets.path().join(secret);
        std::fs::write(&token, "compose-Token-7\n").unwrap();
        let env: Vec<(String, String)> = env
            .into_iter()
            .map(|(name, value)| {
                let value = match value {
                    v if v == conf => docker.path().display().to_string(),
                    v if v == token_file => token.display().to_string(),
                    v => v,
                };
                (name, value)
            })
            .collect();
        // As `RAGWATCH_RAGFLOW_CONF` gives it to the command line.
        let (config, _) =
            ragwatch::config::load_with_ragflow(None, Some(docker.path()), env.clone())
                .unwrap_or_else(|e| panic!("{whose}: {e}"));
        assert_points_at_ragflow(&config, &ragflow_service_conf(&vars), whose);
        let tokens: Vec<&str> = config.server.tokens.iter().map(|t| t.expose()).collect();
        assert_eq!(tokens, ["compose-Token-7"], "{whose}");
        let ragflow_api = config
            .ragflow
            .as_ref()
            .expect("RAGFlow's API server watched");
        assert_eq!(
            ragflow_api.url.as_str(),
            "http://ragflow-cpu:9380/",
            "{whose}: RAGFlow's API as the other containers reach it"
        );

        // The binary accepts exactly this environment and shows no password.
        let printed = ragwatch_config(&["config"], &env);
        let shown = toml::to_string(&printed).unwrap();
        for secret in [
            "MYSQL_PASSWORD",
            "REDIS_PASSWORD",
            "ELASTIC_PASSWORD",
            "MINIO_PASSWORD",
        ] {
            assert!(!shown.contains(&vars[secret]), "{whose}: {secret} shown");
        }
        assert!(
            !shown.contains("compose-Token-7"),
            "{whose}: the token shown"
        );

        // Published on the host's loopback only, on the port ragwatch listens on.
        let ports = service["ports"].as_sequence().unwrap();
        assert_eq!(ports.len(), 1);
        let mapping = interpolate(&yaml_text(&ports[0]), &vars);
        assert!(
            mapping.starts_with("127.0.0.1:"),
            "{whose}: {mapping} is published on every interface of the host"
        );
        let container_port: u16 = mapping.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(container_port, listen_port(&printed), "{whose}: {mapping}");

        // The history file is in a volume, so it outlives the container.
        let history = toml_str(&printed, "history.url");
        let history_dir = Path::new(history.strip_prefix("sqlite://").unwrap())
            .parent()
            .unwrap();
        assert!(
            mounts.iter().any(|m| Path::new(&m[1]) == history_dir),
            "{history} is not in a volume: {mounts:?}"
        );

        // Docker waits longer than the drain may take before it kills.
        let grace = humantime::parse_duration(&yaml_text(&service["stop_grace_period"])).unwrap();
        let drain =
            humantime::parse_duration(toml_str(&printed, "server.shutdown_timeout")).unwrap();
        assert!(grace > drain, "{whose}: {grace:?} <= {drain:?}");
    }

    // The healthcheck asks whether ragwatch itself works, with the same environment.
    let test: Vec<String> = service["healthcheck"]["test"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(yaml_text)
        .collect();
    assert_eq!(test, ["CMD", "ragwatch", "healthcheck"]);
    assert_ragwatch_accepts(&test[2..].iter().map(String::as_str).collect::<Vec<_>>());
}
