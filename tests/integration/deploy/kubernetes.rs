//! Kubernetes: in both examples (one replica, and two in a cluster) the objects select each
//! other, the pod's configuration loads with the passwords of the secrets mounted as files
//! (none in the environment, none in a URL), the pod carries no service-account token, the
//! ports agree and the probe paths answer on a running ragwatch. The single replica keeps
//! its history on a persistent volume; the cluster shares a PostgreSQL history whose URL is
//! a secret, keeps two replicas on different nodes and one through a voluntary disruption.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::dockerfile::dockerfile_user;
use super::{
    Yaml, assert_ragwatch_accepts, listen_port, ragwatch_config, toml_str, yaml_documents,
};
use crate::common::app::TestApp;

const KUBERNETES: &str = "deploy/kubernetes/ragwatch.yaml";
const KUBERNETES_HA: &str = "deploy/kubernetes/ragwatch-ha.yaml";

/// The shared history's URL, as the HA example's secret holds it.
const HISTORY_URL: &str = "postgres://ragwatch:k8s%20pg@ragwatch-postgres:5432/ragwatch";

fn of_kind<'a>(documents: &'a [Yaml], kind: &str, name: &str) -> &'a Yaml {
    documents
        .iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// Where an example keeps its history.
#[derive(Clone, Copy, PartialEq)]
enum HistoryIn {
    /// A SQLite file on a persistent volume (one replica).
    Volume,
    /// A PostgreSQL database every replica shares, its URL a secret (`[cluster]`).
    SharedPostgres,
}

/// Asserts every `key: value` of `subset` is in `labels`.
fn assert_selects(selector: &Yaml, labels: &Yaml, what: &str) {
    let selector = selector.as_mapping().unwrap();
    assert!(!selector.is_empty(), "{what}: empty selector");
    for (key, value) in selector {
        assert_eq!(
            &labels[key.as_str().unwrap()],
            value,
            "{what} does not select the pod"
        );
    }
}

/// Writes the pod's secret volumes under `root` as the kubelet mounts them (each item of
/// the secret a file at its path, from `secrets`); returns each mount path with its folder.
fn mount_secrets(
    container: &Yaml,
    volumes: &[Yaml],
    secrets: &BTreeMap<&str, BTreeMap<&str, &str>>,
    root: &Path,
) -> Vec<(String, PathBuf)> {
    let mut mounted = Vec::new();
    for mount in container["volumeMounts"].as_sequence().unwrap() {
        let volume = volumes.iter().find(|v| v["name"] == mount["name"]).unwrap();
        let Some(secret) = volume.get("secret") else {
            continue;
        };
        let name = secret["secretName"].as_str().unwrap();
        let values = secrets
            .get(name)
            .unwrap_or_else(|| panic!("no secret {name}"));
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let items: Vec<(&str, &str)> = match secret.get("items") {
            Some(items) => items
                .as_sequence()
                .unwrap()
                .iter()
                .map(|i| (i["key"].as_str().unwrap(), i["path"].as_str().unwrap()))
                .collect(),
            None => values.keys().map(|k| (*k, *k)).collect(),
        };
        for (key, path) in items {
            let value = values
                .get(key)
                .unwrap_or_else(|| panic!("{name} has no {key}"));
            // Secret values are often written with a trailing newline.
            std::fs::write(dir.join(path), format!("{value}\n")).unwrap();
        }
        mounted.push((mount["mountPath"].as_str().unwrap().to_owned(), dir));
    }
    mounted
}

#[tokio::test]
async fn the_kubernetes_example_is_consistent_and_its_probes_answer() {
    assert_consistent(KUBERNETES, HistoryIn::Volume).await;
}

#[tokio::test]
async fn the_high_availability_example_runs_two_replicas_apart_on_a_shared_history() {
    let documents = assert_consistent(KUBERNETES_HA, HistoryIn::SharedPostgres).await;
    let deployment = of_kind(&documents, "Deployment", "ragwatch");
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);
    assert_ne!(
        deployment["spec"]["strategy"]["type"], "Recreate",
        "a rollout keeps a replica serving"
    );
    let budget = of_kind(&documents, "PodDisruptionBudget", "ragwatch");
    assert_selects(
        &budget["spec"]["selector"]["matchLabels"],
        pod_labels,
        "PodDisruptionBudget",
    );
    assert_eq!(budget["spec"]["minAvailable"].as_u64(), Some(1));
    let apart = &deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
    let rule = apart["requiredDuringSchedulingIgnoredDuringExecution"]
        .as_sequence()
        .or_else(|| apart["preferredDuringSchedulingIgnoredDuringExecution"].as_sequence())
        .expect("pod anti-affinity")
        .first()
        .map(|r| r.get("podAffinityTerm").unwrap_or(r))
        .unwrap();
    assert_eq!(rule["topologyKey"], "kubernetes.io/hostname");
    assert_selects(
        &rule["labelSelector"]["matchLabels"],
        pod_labels,
        "anti-affinity",
    );
}

/// The checks both examples pass; returns the example's objects.
async fn assert_consistent(example: &str, history_in: HistoryIn) -> Vec<Yaml> {
    let documents = yaml_documents(example);
    let deployment = of_kind(&documents, "Deployment", "ragwatch");
    let pod = &deployment["spec"]["template"];
    let pod_labels = &pod["metadata"]["labels"];
    assert_selects(
        &deployment["spec"]["selector"]["matchLabels"],
        pod_labels,
        "Deployment",
    );
    let containers = pod["spec"]["containers"].as_sequence().unwrap();
    let container = &containers[0];

    // The configuration the pod would load: its file from the mounted ConfigMap, the
    // passwords from the secret.
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "serve");
    assert_ragwatch_accepts(&args);
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    let mounts = container["volumeMounts"].as_sequence().unwrap();
    let volumes = pod["spec"]["volumes"].as_sequence().unwrap();
    let volume = |name: &Yaml| {
        volumes
            .iter()
            .find(|v| &v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name:?}"))
    };
    let mount_of = |path: &Path| {
        mounts
            .iter()
            .filter(|m| path.starts_with(m["mountPath"].as_str().unwrap()))
            .max_by_key(|m| m["mountPath"].as_str().unwrap().len())
            .unwrap_or_else(|| panic!("{} is on no volume", path.display()))
    };
    let config_mount = mount_of(Path::new(config_path));
    let config_map_name = volume(&config_mount["name"])["configMap"]["name"]
        .as_str()
        .unwrap();
    let config_map = of_kind(&documents, "ConfigMap", config_map_name);
    let key = Path::new(config_path)
        .strip_prefix(config_mount["mountPath"].as_str().unwrap())
        .unwrap();
    let toml = config_map["data"][key.to_str().unwrap()].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ragwatch.toml");

    // Passwords with every character a URL reserves: nothing is spliced into a URL.
    let ragflow = BTreeMap::from([
        ("MYSQL_PASSWORD", "k8s mysql@Pw#/?%:1"),
        ("REDIS_PASSWORD", "k8s-redis-Pw"),
        ("ELASTIC_PASSWORD", "k8s-elastic-Pw"),
        ("MINIO_PASSWORD", "k8s-minio-Pw"),
    ]);
    let secrets = BTreeMap::from([
        ("ragflow-env-config", ragflow.clone()),
        (
            "ragwatch-token",
            BTreeMap::from([("token", "k8s-token-0123")]),
        ),
        ("ragwatch-history", BTreeMap::from([("url", HISTORY_URL)])),
    ]);
    let mut toml = toml.to_owned();
    for (mount_path, dir) in mount_secrets(container, volumes, &secrets, dir.path()) {
        toml = toml.replace(&format!("{mount_path}/"), &format!("{}/", dir.display()));
    }
    std::fs::write(&file, &toml).unwrap();
    assert!(
        container.get("env").is_none() && container.get("envFrom").is_none(),
        "credentials come from secret volumes, not the environment"
    );
    assert!(
        !serde_norway::to_string(container).unwrap().contains("$("),
        "nothing is spliced into the container's settings"
    );
    assert_eq!(
        pod["spec"]["automountServiceAccountToken"], false,
        "the pod has no use for a service-account token"
    );
    let file_arg = file.display().to_string();
    let mut config_args = args.clone();
    config_args[0] = "config";
    let at = config_args.iter().position(|a| *a == config_path).unwrap();
    config_args[at] = &file_arg;
    let printed = ragwatch_config(&config_args, &[]);
    let shown = toml::to_string(&printed).unwrap();
    for secret in ragflow.values() {
        assert!(!shown.contains(secret), "ragwatch config shows {secret}");
    }
    let config = ragwatch::config::load(Some(&file), Vec::new()).unwrap();
    let password = |login: ragwatch::config::Login| login.password().map(|p| p.expose().to_owned());
    assert_eq!(
        password(config.db.login()).as_deref(),
        Some(ragflow["MYSQL_PASSWORD"])
    );
    assert_eq!(
        password(config.redis.login()).as_deref(),
        Some(ragflow["REDIS_PASSWORD"])
    );
    assert_eq!(
        password(config.doc_engine.login()).as_deref(),
        Some(ragflow["ELASTIC_PASSWORD"])
    );
    let ragwatch::config::StorageService::Minio(minio) = &config.storage.service else {
        panic!("storage is not MinIO");
    };
    assert_eq!(minio.secret_key.expose(), ragflow["MINIO_PASSWORD"]);
    let tokens: Vec<&str> = config.server.tokens.iter().map(|t| t.expose()).collect();
    assert_eq!(tokens, ["k8s-token-0123"]);

    // Kubernetes sets no open-files limit per pod, so the cap is fixed: below the lowest
    // usual runtime limit, 1024, less the quarter ragwatch keeps for the probes.
    let cap = config
        .server
        .max_connections
        .expect("server.max_connections is set")
        .get();
    assert!(cap <= 1024 - 1024 / 4, "max_connections = {cap}");

    match history_in {
        HistoryIn::Volume => {
            // The history file is on the persistent volume, writable.
            let history = toml_str(&printed, "history.url");
            let history_mount = mount_of(Path::new(history.strip_prefix("sqlite://").unwrap()));
            assert_ne!(history_mount["readOnly"], true);
            let claim = volume(&history_mount["name"])["persistentVolumeClaim"]["claimName"]
                .as_str()
                .expect("the history on a PersistentVolumeClaim");
            of_kind(&documents, "PersistentVolumeClaim", claim);
            assert!(config.cluster.is_none());
        }
        HistoryIn::SharedPostgres => {
            // The replicas share the PostgreSQL history the secret names, as a cluster;
            // each pod is its own observer (its host name).
            assert_eq!(config.history.url.expose().as_str(), HISTORY_URL);
            assert!(
                !shown.contains("k8s%20pg"),
                "ragwatch config shows the URL's password"
            );
            assert!(config.cluster.is_some(), "[cluster] is configured");
            assert!(config.history.observer.is_empty());
            assert!(
                !documents
                    .iter()
                    .any(|d| d["kind"] == "PersistentVolumeClaim"),
                "no volume to share between replicas"
            );
        }
    }

    // Ports: ragwatch listens on the container port the probes and the Service use.
    let port = listen_port(&printed);
    let ports = container["ports"].as_sequence().unwrap();
    let resolve = |port: &Yaml| -> u64 {
        match port {
            Yaml::Number(n) => n.as_u64().unwrap(),
            Yaml::String(name) => ports
                .iter()
                .find(|p| p["name"] == name.as_str())
                .unwrap_or_else(|| panic!("no container port named {name}"))["containerPort"]
                .as_u64()
                .unwrap(),
            other => panic!("port {other:?}"),
        }
    };
    let mut paths = Vec::new();
    for (probe, expected) in [("livenessProbe", "/livez"), ("readinessProbe", "/startedz")] {
        let get = &container[probe]["httpGet"];
        let path = get["path"].as_str().unwrap();
        assert_eq!(path.split('?').next().unwrap(), expected, "{probe}");
        assert_eq!(resolve(&get["port"]), u64::from(port), "{probe}");
        paths.push(path.to_owned());
    }
    let service = of_kind(&documents, "Service", "ragwatch");
    assert_selects(&service["spec"]["selector"], pod_labels, "Service");
    for service_port in service["spec"]["ports"].as_sequence().unwrap() {
        assert_eq!(resolve(&service_port["targetPort"]), u64::from(port));
    }

    // The pod runs as the image's user (the Dockerfile's USER), which owns the volume.
    let user = dockerfile_user();
    let security = &pod["spec"]["securityContext"];
    assert_eq!(security["runAsUser"].as_u64(), Some(user));
    assert_eq!(security["fsGroup"].as_u64(), Some(user));

    // Both probe paths exist on a running ragwatch and answer 200 while it is healthy.
    let app = TestApp::start_unscheduled(
        "[redis]\nurl = \"redis://127.0.0.1:6379/1\"\n[db]\nenabled = false\n\
         [doc_engine]\nenabled = false\n[storage]\nenabled = false\n\
         [task_executors]\nenabled = false\n[history]\nenabled = false\n",
    )
    .await;
    for path in paths {
        let (status, _, body) = app.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    documents
}
