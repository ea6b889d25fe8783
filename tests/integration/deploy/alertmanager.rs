//! Alertmanager: the example passes amtool and pages only for critical alerts, and a real
//! Alertmanager with it holds back the task executors' alerts while Redis is down.

use std::process::Command;

use serde_json::Value as Json;

use super::{repo, run_ok, yaml};
use crate::common::app::TestApp;
use crate::common::{
    Daemon, FaultProxy, FixtureResponse, FixtureServer, ProxyMode, RedisInstance, wait_until,
};

const ALERTMANAGER: &str = "deploy/alertmanager/alertmanager.yml";

#[test]
fn the_alertmanager_example_passes_amtool_and_pages_only_for_critical() {
    run_ok(
        Command::new("amtool")
            .arg("check-config")
            .arg(repo(ALERTMANAGER)),
    );
    let route = |labels: &[&str]| {
        run_ok(
            Command::new("amtool")
                .args(["config", "routes", "test"])
                .arg(format!("--config.file={}", repo(ALERTMANAGER).display()))
                .args(labels),
        )
        .trim()
        .to_owned()
    };
    let oncall = route(&[
        "alertname=RagwatchComponentDown",
        "component=redis",
        "severity=critical",
    ]);
    let team = route(&[
        "alertname=RagwatchComponentDown",
        "component=task_executors",
        "severity=warning",
    ]);
    assert_ne!(
        oncall, team,
        "critical and warning alerts reach different receivers"
    );
}

/// The Alertmanager's alerts with these labels.
async fn alerts_where(alertmanager: &Daemon, labels: &[(&str, &str)]) -> Vec<Json> {
    let all = alertmanager.get("/api/v2/alerts", &[]).await;
    all.as_array()
        .unwrap()
        .iter()
        .filter(|a| labels.iter().all(|(k, v)| a["labels"][*k] == *v))
        .cloned()
        .collect()
}

/// A real Alertmanager running the example config, its receivers pointed at `receiver`.
async fn example_alertmanager(receiver: &FixtureServer) -> Daemon {
    // The example config, its receivers pointed at a local server.
    let mut config = yaml(ALERTMANAGER);
    for entry in config["receivers"].as_sequence_mut().unwrap() {
        let name = entry["name"].as_str().unwrap().to_owned();
        let kinds: Vec<String> = entry
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .filter(|k| k != "name")
            .collect();
        assert_eq!(
            kinds,
            ["webhook_configs"],
            "{name}: only webhooks can be pointed here"
        );
        for webhook in entry["webhook_configs"].as_sequence_mut().unwrap() {
            webhook["url"] = format!("{}/{name}", receiver.url()).into();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alertmanager.yml");
    std::fs::write(&file, serde_norway::to_string(&config).unwrap()).unwrap();
    Daemon::start(
        "prometheus-alertmanager",
        &file,
        dir,
        &["--cluster.listen-address="],
    )
    .await
}

/// Posts alerts with these labels, as Prometheus does.
async fn post(alertmanager: &Daemon, alerts: &[&[(&str, &str)]]) {
    let alerts: Vec<Json> = alerts
        .iter()
        .map(|labels| {
            let labels: serde_json::Map<String, Json> = labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            serde_json::json!({"labels": labels, "annotations": {"summary": "test"}})
        })
        .collect();
    let posted = reqwest::Client::new()
        .post(alertmanager.url("/api/v2/alerts"))
        .json(&alerts)
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success());
}

#[tokio::test]
async fn one_deployments_redis_outage_holds_back_only_its_own_executors() {
    let receiver = FixtureServer::start([("POST", "*", FixtureResponse::new(200, "ok"))]).await;
    let alertmanager = &example_alertmanager(&receiver).await;
    let executors = |deployment| {
        [
            ("alertname", "RagwatchTaskExecutorsLost"),
            ("component", "task_executors"),
            ("kind", "redis"),
            ("severity", "warning"),
            ("deployment", deployment),
        ]
    };
    let (prod, staging) = (executors("prod"), executors("staging"));
    let redis_down = [
        ("alertname", "RagwatchComponentDown"),
        ("component", "redis"),
        ("kind", "redis"),
        ("severity", "critical"),
        ("deployment", "prod"),
    ];
    post(alertmanager, &[&prod, &staging, &redis_down]).await;
    for (labels, state) in [
        (&prod[..], "suppressed"),
        (&staging[..], "active"),
        (&redis_down[..], "active"),
    ] {
        wait_until(&format!("{labels:?} is {state}"), || async move {
            let alerts = alerts_where(alertmanager, labels).await;
            match alerts.as_slice() {
                [alert] if alert["status"]["state"] == state => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
}

#[tokio::test]
async fn while_redis_is_down_a_real_alertmanager_holds_back_the_task_executor_alerts() {
    let receiver = FixtureServer::start([("POST", "*", FixtureResponse::new(200, "ok"))]).await;
    let alertmanager = example_alertmanager(&receiver).await;

    // ragwatch sends its own alerts: Redis through a proxy the test can cut, and no task
    // executor has ever written a heartbeat, so task_executors is red (not required).
    let server = RedisInstance::start(None).await;
    let proxy = FaultProxy::start(server.addr()).await;
    let app = TestApp::start_unscheduled(&format!(
        "[monitor]\ninterval = \"1h\"\ntimeout = \"1s\"\n[db]\nenabled = false\n\
         [doc_engine]\nenabled = false\n[storage]\nenabled = false\n[history]\nenabled = false\n\
         [redis]\nurl = \"redis://{}/1\"\n\
         [alerts]\nfailure_threshold = 2\n[[alerts.alertmanager]]\nurl = \"{}\"\n",
        proxy.host_port(),
        alertmanager.url("")
    ))
    .await;
    fresh(&app).await;
    fresh(&app).await;
    // The same outage as Prometheus' rules would report it.
    let from_rules = [
        ("alertname", "RagwatchTaskExecutorsLost"),
        ("component", "task_executors"),
        ("kind", "redis"),
        ("severity", "warning"),
        ("job", "ragwatch"),
        ("instance", "ragwatch:9390"),
    ];
    post(&alertmanager, &[&from_rules]).await;
    let from_ragwatch = [
        ("alertname", "RagwatchComponentDown"),
        ("component", "task_executors"),
        ("severity", "warning"),
    ];

    // Redis works: both executor alerts are active, nothing inhibits them.
    let alertmanager = &alertmanager;
    for labels in [&from_ragwatch[..], &from_rules[..]] {
        wait_until("the executor alert is active", || async move {
            let alerts = alerts_where(alertmanager, labels).await;
            match alerts.as_slice() {
                [alert] if alert["status"]["state"] == "active" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }

    // Redis goes down: ragwatch fires for it, and Alertmanager holds back both executor
    // alerts because of it.
    proxy.set_mode(ProxyMode::Refuse).await;
    fresh(&app).await;
    fresh(&app).await;
    let redis_down = &[
        ("alertname", "RagwatchComponentDown"),
        ("component", "redis"),
    ][..];
    let fingerprint: String = wait_until("the Redis alert is active", || async move {
        let alerts = alerts_where(alertmanager, redis_down).await;
        match alerts.as_slice() {
            [alert] if alert["status"]["state"] == "active" => {
                assert_eq!(alert["labels"]["severity"], "critical");
                Ok(alert["fingerprint"].as_str().unwrap().to_owned())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let inhibited_by = &serde_json::json!([fingerprint]);
    for labels in [&from_ragwatch[..], &from_rules[..]] {
        wait_until("the executor alert is inhibited by Redis", || async move {
            let alerts = alerts_where(alertmanager, labels).await;
            match alerts.as_slice() {
                [alert]
                    if alert["status"]["state"] == "suppressed"
                        && &alert["status"]["inhibitedBy"] == inhibited_by =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    let redis_alert = alerts_where(alertmanager, redis_down).await;
    assert_eq!(
        redis_alert[0]["status"]["state"], "active",
        "{redis_alert:?}"
    );
}

async fn fresh(app: &TestApp) {
    app.get_json("/v1/system/healthz?fresh=1").await;
}
