//! Prometheus Operator: the ServiceMonitor scrapes the example's Service with its token
//! secret, and the PrometheusRule and the dashboard ConfigMap are written from the rules
//! file and the dashboard, so they cannot drift (`RAGWATCH_WRITE_OPERATOR=1` rewrites the
//! file after either changed).

use super::{Yaml, read, repo, yaml, yaml_documents};

const OPERATOR: &str = "deploy/kubernetes/prometheus-operator.yaml";
const HEADER: &str = "\
# For Prometheus Operator users, next to ragwatch.yaml (same namespace): a ServiceMonitor
# that scrapes the ragwatch Service with the API token, the alerting rules as a
# PrometheusRule, and the dashboard as a ConfigMap Grafana's sidecar loads. The scrape
# labels each series with `deployment` = the namespace, which the example Alertmanager's
# inhibition rules match on (one RAGFlow deployment per namespace).
# Written from deploy/prometheus/ragwatch-rules.yml and deploy/grafana/ragwatch-dashboard.json
# by `RAGWATCH_WRITE_OPERATOR=1 cargo test operator`: edit those, then run that.
";

/// The file as the rules and the dashboard make it.
fn operator_manifests() -> String {
    let documents = [
        serde_norway::from_str::<Yaml>(
            "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\n\
             metadata:\n  name: ragwatch\n  labels:\n    app.kubernetes.io/name: ragwatch\n\
             spec:\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: ragwatch\n\
             \x20 endpoints:\n  - port: http\n    path: /metrics\n    interval: 15s\n\
             \x20   authorization:\n      type: Bearer\n      credentials:\n        name: ragwatch-token\n        key: token\n\
             \x20   relabelings:\n    - sourceLabels: [__meta_kubernetes_namespace]\n      targetLabel: deployment\n",
        )
        .unwrap(),
        {
            let mut rule: Yaml = serde_norway::from_str(
                "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n\
                 metadata:\n  name: ragwatch\n  labels:\n    app.kubernetes.io/name: ragwatch\n\
                 spec:\n  groups: []\n",
            )
            .unwrap();
            rule["spec"]["groups"] = yaml("deploy/prometheus/ragwatch-rules.yml")["groups"].clone();
            rule
        },
        {
            let mut map: Yaml = serde_norway::from_str(
                "apiVersion: v1\nkind: ConfigMap\n\
                 metadata:\n  name: ragwatch-dashboard\n  labels:\n    app.kubernetes.io/name: ragwatch\n    grafana_dashboard: \"1\"\n\
                 data: {}\n",
            )
            .unwrap();
            map["data"]["ragwatch-dashboard.json"] =
                read("deploy/grafana/ragwatch-dashboard.json").into();
            map
        },
    ];
    let bodies: Vec<String> = documents
        .iter()
        .map(|d| serde_norway::to_string(d).unwrap())
        .collect();
    format!("{HEADER}{}", bodies.join("---\n"))
}

#[test]
fn the_operator_objects_follow_the_rules_the_dashboard_and_the_service() {
    let expected = operator_manifests();
    if std::env::var_os("RAGWATCH_WRITE_OPERATOR").is_some() {
        std::fs::write(repo(OPERATOR), &expected).unwrap();
    }
    assert!(
        read(OPERATOR) == expected,
        "{OPERATOR} is out of date: RAGWATCH_WRITE_OPERATOR=1 cargo test operator"
    );

    // The ServiceMonitor selects the example's Service, by its port's name, with the
    // token secret the Deployment mounts.
    let documents = yaml_documents(OPERATOR);
    let example = yaml_documents("deploy/kubernetes/ragwatch.yaml");
    let monitor = &documents[0];
    let service = example
        .iter()
        .find(|d| d["kind"] == "Service")
        .expect("a Service in the example");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(&service["metadata"]["labels"][key.as_str().unwrap()], value);
    }
    let endpoint = &monitor["spec"]["endpoints"][0];
    let ports = service["spec"]["ports"].as_sequence().unwrap();
    assert!(
        ports.iter().any(|p| p["name"] == endpoint["port"]),
        "{ports:?}"
    );
    let secret = endpoint["authorization"]["credentials"]["name"]
        .as_str()
        .unwrap();
    let example_text = read("deploy/kubernetes/ragwatch.yaml");
    assert!(
        example_text.contains(&format!("secretName: {secret}")),
        "the Deployment mounts no secret {secret}"
    );
    // The rules' job: the ServiceMonitor's job label is the Service's name.
    assert_eq!(service["metadata"]["name"], "ragwatch");
    // Grafana's sidecar loads ConfigMaps labelled grafana_dashboard.
    let dashboard = &documents[2];
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json: serde_json::Value = serde_json::from_str(
        dashboard["data"]["ragwatch-dashboard.json"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["uid"], super::grafana::dashboard()["uid"]);
}
