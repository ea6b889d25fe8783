//! Prometheus: the example config and the rules pass promtool, the rules' unit tests fire
//! every alert, and a real Prometheus runs the config and rules against a running ragwatch
//! and answers every dashboard query.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;

use super::grafana::{dashboard, dashboard_exprs};
use super::{TOKEN, Yaml, repo, run_ok, watched, yaml};
use crate::common::{Daemon, wait_until};

const RULES: &str = "deploy/prometheus/ragwatch-rules.yml";
const RULE_TESTS: &str = "deploy/prometheus/ragwatch-rules.test.yml";
const PROMETHEUS: &str = "deploy/prometheus/prometheus.yml";

pub(super) fn alert_rules() -> Vec<Yaml> {
    yaml(RULES)["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|group| group["rules"].as_sequence().unwrap().clone())
        .collect()
}

#[test]
fn the_rules_pass_promtool_and_their_unit_tests_fire_every_alert() {
    run_ok(
        Command::new("promtool")
            .args(["check", "rules"])
            .arg(repo(RULES)),
    );
    run_ok(
        Command::new("promtool")
            .args(["test", "rules"])
            .arg(repo(RULE_TESTS)),
    );

    let rules = alert_rules();
    assert!(!rules.is_empty());
    let mut fired = BTreeSet::new();
    for test in yaml(RULE_TESTS)["tests"].as_sequence().unwrap() {
        for case in test["alert_rule_test"].as_sequence().unwrap() {
            let expected = case["exp_alerts"].as_sequence().unwrap();
            for alert in expected {
                // Labels Alertmanager's inhibition and routing rely on.
                for label in ["component", "severity"] {
                    assert!(
                        alert["exp_labels"][label].is_string(),
                        "{case:?} lacks {label}"
                    );
                }
            }
            if !expected.is_empty() {
                fired.insert(case["alertname"].as_str().unwrap().to_owned());
            }
        }
    }
    let readme = super::read("README.md");
    for rule in &rules {
        let name = rule["alert"].as_str().expect("only alerting rules");
        assert!(fired.contains(name), "no unit test fires {name}");
        // The runbook is the README section named after the alert.
        assert_eq!(
            rule["annotations"]["runbook_url"].as_str(),
            Some(format!("README.md#{}", name.to_lowercase()).as_str()),
            "{name}: runbook_url"
        );
        assert!(
            readme.lines().any(|l| l == format!("#### {name}")),
            "README has no runbook section {name}"
        );
        let severity = rule["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning")),
            "{name}: severity {severity:?} is not one of ragwatch's"
        );
    }
}

#[test]
fn the_example_prometheus_config_passes_promtool() {
    // The scrape job's token file must exist for promtool; it is read next to the config.
    let dir = tempfile::tempdir().unwrap();
    for file in [PROMETHEUS, RULES] {
        std::fs::copy(
            repo(file),
            dir.path().join(Path::new(file).file_name().unwrap()),
        )
        .unwrap();
    }
    let config = yaml(PROMETHEUS);
    let job = ragwatch_job(&config);
    let token = job["authorization"]["credentials_file"].as_str().unwrap();
    std::fs::write(dir.path().join(token), TOKEN).unwrap();
    let out = run_ok(
        Command::new("promtool")
            .args(["check", "config", "prometheus.yml"])
            .current_dir(dir.path()),
    );
    assert!(out.contains("1 rule files found"), "{out}");
    let rule_files = config["rule_files"].as_sequence().unwrap();
    assert_eq!(rule_files, &[Yaml::from("ragwatch-rules.yml")]);
}

fn ragwatch_job(config: &Yaml) -> &Yaml {
    config["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|job| job["job_name"] == "ragwatch")
        .expect("a scrape job named ragwatch, as the rules' up{job=\"ragwatch\"} expects")
}

#[tokio::test]
async fn a_real_prometheus_runs_the_example_config_rules_and_dashboard_queries() {
    let watched = watched().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo(RULES), dir.path().join("ragwatch-rules.yml")).unwrap();
    let mut config = yaml(PROMETHEUS);
    // Only timing and addresses change: evaluate quickly, scrape this test's ragwatch, and
    // send no alerts (pending ones are enough).
    config["global"]["scrape_interval"] = "500ms".into();
    config["global"]["scrape_timeout"] = "400ms".into();
    config["global"]["evaluation_interval"] = "500ms".into();
    config.as_mapping_mut().unwrap().remove("alerting");
    let jobs = config["scrape_configs"].as_sequence_mut().unwrap();
    let job = jobs
        .iter_mut()
        .find(|j| j["job_name"] == "ragwatch")
        .unwrap();
    job["static_configs"][0]["targets"] = vec![Yaml::from(watched.app.addr.to_string())].into();
    let token = job["authorization"]["credentials_file"].as_str().unwrap();
    std::fs::write(dir.path().join(token), TOKEN).unwrap();
    let file = dir.path().join("prometheus.yml");
    std::fs::write(&file, serde_norway::to_string(&config).unwrap()).unwrap();
    let prometheus = Daemon::start("prometheus", &file, dir, &[]).await;

    // Every rule loads and evaluates without error against the real series.
    let expected = alert_rules().len();
    let prometheus = &prometheus;
    wait_until("the rules evaluate", || async move {
        let body = prometheus.get("/api/v1/rules", &[]).await;
        let rules: Vec<&Json> = body["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap())
            .collect();
        let healthy = rules.iter().filter(|r| r["health"] == "ok").count();
        if rules.len() == expected && healthy == expected {
            Ok(())
        } else {
            Err(format!("{healthy} of {expected} healthy: {body}"))
        }
    })
    .await;

    // The document engine is red and required: its alert is pending, labelled as
    // ragwatch's own.
    wait_until("RagwatchComponentDown for doc_engine", || async move {
        let body = prometheus.get("/api/v1/alerts", &[]).await;
        let found = body["data"]["alerts"].as_array().unwrap().iter().any(|a| {
            a["labels"]["alertname"] == "RagwatchComponentDown"
                && a["labels"]["component"] == "doc_engine"
                && a["labels"]["kind"] == "elasticsearch"
                && a["labels"]["severity"] == "critical"
        });
        found.then_some(()).ok_or(body.to_string())
    })
    .await;

    // Each dashboard query, with Grafana's variables as "All", answers with data.
    for expr in dashboard_exprs(&dashboard()) {
        let promql = expr
            .replace("$__rate_interval", "5s")
            .replace("$instance", ".*")
            .replace("$component", ".*");
        assert!(!promql.contains('$'), "unknown variable in {expr}");
        let promql = promql.as_str();
        wait_until(&format!("dashboard query {promql}"), || async move {
            let body = prometheus.get("/api/v1/query", &[("query", promql)]).await;
            let answered = body["status"] == "success"
                && !body["data"]["result"].as_array().unwrap().is_empty();
            answered.then_some(()).ok_or(body.to_string())
        })
        .await;
    }
    watched.finish().await;
}
