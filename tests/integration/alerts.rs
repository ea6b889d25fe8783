//! Alerts: a local webhook receiver gets firing and resolved bodies with a valid signature
//! after the thresholds; flapping below them sends nothing; a receiver that fails or hangs
//! is retried and delays nothing; a real Alertmanager shows the alert and its resolution.

use crate::common;

use std::time::{Duration, Instant};

use common::app::TestApp;
use common::Daemon;
use common::{FaultProxy, FixtureResponse, FixtureServer, ProxyMode, RecordedRequest};
use ragwatch::config::Secret;

const SECRET: &str = "hook-Secret-31";

fn config(redis: &str, receivers: &str) -> String {
    format!(
        "[monitor]\ninterval = \"1h\"\ntimeout = \"1s\"\n[db]\nenabled = false\n[doc_engine]\nenabled = false\n\
         [storage]\nenabled = false\n[task_executors]\nenabled = false\n[history]\nenabled = false\n\
         [redis]\nurl = \"redis://{redis}/1\"\n\
         [alerts]\nfailure_threshold = 2\nsuccess_threshold = 2\nexternal_url = \"http://ragwatch.example:9390\"\n{receivers}"
    )
}

fn webhook(hook: &FixtureServer) -> String {
    format!(
        "[[alerts.webhook]]\nurl = \"{}/hook\"\nsecret = \"{SECRET}\"\n",
        hook.url()
    )
}

async fn receiving() -> FixtureServer {
    FixtureServer::start([("POST", "/hook", FixtureResponse::new(200, "ok"))]).await
}

/// Waits until the receiver has `count` requests, then a little longer to catch extras.
async fn requests(hook: &FixtureServer, count: usize) -> Vec<RecordedRequest> {
    for _ in 0..100 {
        if hook.requests_to("/hook").len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    hook.requests_to("/hook")
}

async fn fresh(app: &TestApp) {
    app.get_json("/v1/system/healthz?fresh=1").await;
}

#[tokio::test]
async fn a_webhook_gets_signed_firing_and_resolved_bodies_after_the_thresholds() {
    let hook = receiving().await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    let app = TestApp::start_unscheduled(&config(&redis.host_port(), &webhook(&hook))).await;
    fresh(&app).await;
    redis.set_mode(ProxyMode::Refuse).await;
    fresh(&app).await;
    assert!(
        requests(&hook, 1).await.is_empty(),
        "one red result is below the threshold"
    );
    fresh(&app).await;
    assert_eq!(requests(&hook, 1).await.len(), 1, "two red results fire");
    redis.set_mode(ProxyMode::Pass).await;
    fresh(&app).await;
    assert_eq!(
        requests(&hook, 2).await.len(),
        1,
        "one ok result does not resolve"
    );
    fresh(&app).await;
    let received = requests(&hook, 2).await;
    assert_eq!(received.len(), 2, "two ok results resolve");

    let bodies: Vec<serde_json::Value> = received
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["state"], "firing");
    assert_eq!(bodies[0]["component"], "redis");
    assert_eq!(bodies[0]["status"], "red");
    assert_eq!(bodies[0]["previous_status"], "green");
    assert_eq!(
        bodies[0]["error"],
        format!("connection refused to {}", redis.host_port())
    );
    assert_eq!(
        bodies[0]["link"],
        "http://ragwatch.example:9390/api/v1/components/redis"
    );
    assert_eq!(bodies[0]["resolved_at"], serde_json::Value::Null);
    assert_eq!(bodies[1]["state"], "resolved");
    assert_eq!(bodies[1]["status"], "green");
    assert_eq!(bodies[1]["started_at"], bodies[0]["started_at"]);
    assert!(bodies[1]["resolved_at"].is_string());
    for request in &received {
        let expected = ragwatch::alert::signature(&Secret::new(SECRET), &request.body);
        assert_eq!(
            request.header("x-ragwatch-signature"),
            Some(expected.as_str())
        );
        assert!(!String::from_utf8_lossy(&request.body).contains(SECRET));
    }
}

#[tokio::test]
async fn flapping_below_the_thresholds_sends_nothing() {
    let hook = receiving().await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    let app = TestApp::start_unscheduled(&config(&redis.host_port(), &webhook(&hook))).await;
    for mode in [ProxyMode::Refuse, ProxyMode::Pass].repeat(4) {
        redis.set_mode(mode).await;
        fresh(&app).await;
    }
    assert!(requests(&hook, 1).await.is_empty());
}

#[tokio::test]
async fn a_failing_or_hanging_receiver_is_retried_and_delays_nothing() {
    let hook = FixtureServer::start([("POST", "/hook", FixtureResponse::new(500, "broken"))]).await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    redis.set_mode(ProxyMode::Refuse).await;
    let app = TestApp::start_unscheduled(&config(&redis.host_port(), &webhook(&hook))).await;
    fresh(&app).await;
    fresh(&app).await;
    assert!(requests(&hook, 2).await.len() >= 2, "a 500 is retried");
    let (_, _, readyz) = app.get("/readyz?verbose").await;
    let name = format!("webhook 127.0.0.1:{}", hook.port());
    assert!(
        readyz.contains(&format!("[-]alerts {name} failed (not required): HTTP 500")),
        "{readyz}"
    );
    // Now it hangs: probing and healthz go on at full speed.
    hook.set_route(
        "POST",
        "/hook",
        FixtureResponse::new(200, "ok").with_delay(Duration::from_secs(30)),
    );
    for _ in 0..3 {
        let started = Instant::now();
        fresh(&app).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "healthz waited {:?}",
            started.elapsed()
        );
    }
    // And it recovers: the alert gets through, the receiver is healthy again.
    hook.set_route("POST", "/hook", FixtureResponse::new(200, "ok"));
    let mut healthy = String::new();
    for _ in 0..80 {
        healthy = app.get("/readyz?verbose").await.2;
        if healthy.contains(&format!("[+]alerts {name} ok")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        healthy.contains(&format!("[+]alerts {name} ok")),
        "{healthy}"
    );
    let metrics = app.get("/metrics").await.2;
    assert!(
        metrics.lines().any(|l| l.starts_with(&format!(
            "ragwatch_alert_delivery_failures_total{{receiver=\"{name}\"}}"
        )) && !l.ends_with(" 0")),
        "{metrics}"
    );
}

/// An Alertmanager of our own that routes everything nowhere.
async fn alertmanager() -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    Daemon::start(
        "prometheus-alertmanager",
        &config,
        dir,
        &["--cluster.listen-address="],
    )
    .await
}

/// The active alerts about `component`.
async fn alerts_about(alertmanager: &Daemon, component: &str) -> Vec<serde_json::Value> {
    let all = alertmanager.get("/api/v2/alerts", &[]).await;
    all.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["component"] == component)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_real_alertmanager_shows_the_alert_and_its_resolution() {
    let alertmanager = alertmanager().await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    let receivers = format!(
        "[[alerts.alertmanager]]\nurl = \"{}\"\n",
        alertmanager.url("")
    );
    let app = TestApp::start_unscheduled(&config(&redis.host_port(), &receivers)).await;
    fresh(&app).await;
    redis.set_mode(ProxyMode::Refuse).await;
    fresh(&app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        alerts_about(&alertmanager, "redis").await.is_empty(),
        "below the threshold"
    );
    fresh(&app).await;
    let mut firing = Vec::new();
    for _ in 0..50 {
        firing = alerts_about(&alertmanager, "redis").await;
        if !firing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(firing.len(), 1, "{firing:?}");
    let alert = &firing[0];
    assert_eq!(alert["labels"]["alertname"], "RagwatchComponentDown");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["kind"], "redis");
    assert_eq!(
        alert["annotations"]["description"],
        format!("connection refused to {}", redis.host_port())
    );
    assert_eq!(
        alert["generatorURL"],
        "http://ragwatch.example:9390/api/v1/components/redis"
    );
    assert_eq!(alert["status"]["state"], "active");

    redis.set_mode(ProxyMode::Pass).await;
    fresh(&app).await;
    fresh(&app).await;
    let mut left = firing;
    for _ in 0..50 {
        left = alerts_about(&alertmanager, "redis").await;
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(left.is_empty(), "resolved: {left:?}");
}

#[tokio::test]
async fn a_restart_neither_re_sends_nor_forgets_a_firing_alert() {
    let hook = receiving().await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    redis.set_mode(ProxyMode::Refuse).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config(&redis.host_port(), &webhook(&hook)).replace(
        "[history]\nenabled = false\n",
        &format!(
            "[history]\nurl = \"sqlite://{}/history.db\"\n",
            dir.path().display()
        ),
    );
    let first = TestApp::start_unscheduled(&toml).await;
    fresh(&first).await;
    fresh(&first).await;
    assert_eq!(
        requests(&hook, 1).await.len(),
        1,
        "fired before the restart"
    );
    // Wait until the outage is an open incident in the history.
    let mut open = false;
    for _ in 0..50 {
        let (_, body) = first.get_json("/api/v1/incidents").await;
        open = body["incidents"][0]["open"] == true;
        if open {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(open, "the incident is stored");
    drop(first);

    let second = TestApp::start_unscheduled(&toml).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // the history opens, alerts resume
    for _ in 0..3 {
        fresh(&second).await;
    }
    assert_eq!(
        requests(&hook, 2).await.len(),
        1,
        "still firing: nothing sent again"
    );
    redis.set_mode(ProxyMode::Pass).await;
    fresh(&second).await;
    fresh(&second).await;
    let received = requests(&hook, 2).await;
    assert_eq!(received.len(), 2, "the resolution is not forgotten");
    let first_body: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    let resolved: serde_json::Value = serde_json::from_slice(&received[1].body).unwrap();
    assert_eq!(resolved["state"], "resolved");
    assert_eq!(resolved["started_at"], first_body["started_at"]);
    assert_eq!(resolved["error"], first_body["error"]);
}
