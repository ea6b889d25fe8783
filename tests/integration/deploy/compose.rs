//! docker compose: the fragment next to RAGFlow's points ragwatch at a stock RAGFlow (and at
//! one whose passwords were all changed), shows no password, publishes the port ragwatch
//! listens on and keeps the history in a volume.

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
    assert_eq!(db.username(), yaml_text(&mysql["user"]), "{whose}");
    assert_eq!(
        db.password().unwrap(),
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
    assert_eq!(url.username(), yaml_text(&redis["username"]), "{whose}");
    assert_eq!(
        url.password().unwrap(),
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

#[test]
fn the_compose_fragment_points_ragwatch_at_a_stock_ragflow() {
    let compose = yaml(COMPOSE);
    let service = &compose["services"]["ragwatch"];
    let stock = dotenv(&ragflow_docker("env"));
    // As shipped, and as an operator who followed .env's advice and changed every password.
    let mut changed = stock.clone();
    for (name, value) in [
        ("MYSQL_PASSWORD", "mysql-Pw-81"),
        ("REDIS_PASSWORD", "redis-Pw-82"),
        ("ELASTIC_PASSWORD", "elastic-Pw-83"),
        ("MINIO_PASSWORD", "minio-Pw-84"),
        ("MINIO_USER", "minio-user-85"),
    ] {
        changed.insert(name.into(), value.into());
    }
    for (whose, vars) in [("stock .env", &stock), ("changed .env", &changed)] {
        let env: Vec<(String, String)> = service["environment"]
            .as_mapping()
            .expect("environment as a mapping")
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().unwrap().to_owned(),
                    interpolate(&yaml_text(v), vars),
                )
            })
            .collect();
        let ragflow = ragflow_service_conf(vars);
        let config =
            ragwatch::config::load(None, env.clone()).unwrap_or_else(|e| panic!("{whose}: {e}"));
        assert_points_at_ragflow(&config, &ragflow, whose);

        // The binary accepts exactly this environment and shows no password.
        let printed = ragwatch_config(&["config"], &env);
        let mysql = &ragflow["mysql"];
        assert_eq!(
            toml_str(&printed, "db.url"),
            format!(
                "mysql://{}:***@{}:{}/{}",
                yaml_text(&mysql["user"]),
                yaml_text(&mysql["host"]),
                yaml_text(&mysql["port"]),
                yaml_text(&mysql["name"])
            )
        );
        let shown = toml::to_string(&printed).unwrap();
        for secret in [
            "MYSQL_PASSWORD",
            "REDIS_PASSWORD",
            "ELASTIC_PASSWORD",
            "MINIO_PASSWORD",
        ] {
            assert!(!shown.contains(&vars[secret]), "{whose}: {secret} shown");
        }

        // The published port is the one ragwatch listens on.
        let ports = service["ports"].as_sequence().unwrap();
        assert_eq!(ports.len(), 1);
        let mapping = interpolate(&yaml_text(&ports[0]), vars);
        let container_port: u16 = mapping.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(container_port, listen_port(&printed), "{whose}: {mapping}");

        // The history file is in a volume, so it outlives the container.
        let history = toml_str(&printed, "history.url");
        let history_dir = Path::new(history.strip_prefix("sqlite://").unwrap())
            .parent()
            .unwrap();
        let volumes: Vec<String> = service["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| yaml_text(v).split(':').nth(1).unwrap().to_owned())
            .collect();
        assert!(
            volumes.iter().any(|v| Path::new(v) == history_dir),
            "{history} is not in a volume: {volumes:?}"
        );
    }

    let test: Vec<String> = service["healthcheck"]["test"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(yaml_text)
        .collect();
    assert_eq!(test[..2], ["CMD", "ragwatch"], "{test:?}");
    assert_eq!(test[2], "check");
    assert_ragwatch_accepts(&test[2..].iter().map(String::as_str).collect::<Vec<_>>());
}
