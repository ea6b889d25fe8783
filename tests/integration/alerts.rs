//! Alerts: a local webhook receiver gets firing and resolved bodies with a valid signature
//! after the thresholds (the default and another); flapping below them sends nothing; a
//! receiver that fails or hangs is retried, delays nothing, and is given up on after the
//! last attempt; a real Alertmanager shows the alert and its resolution; Alertmanager gets
//! firing alerts again periodically, with severity `warning` for optional components; a
//! test notification (`notify --test`) fires and resolves at once in a real Alertmanager.

use crate::common;

use std::time::{Duration, Instant};

use common::app::TestApp;
use common::{
    Daemon, FaultProxy, FixtureResponse, FixtureServer, ProxyMode, RecordedRequest, settle,
    wait_for, wait_until, wait_until_within,
};
use ragwatch::alert::{MAX_ATTEMPTS, MAX_BACKOFF, RESEND_EVERY};
use ragwatch::config::Secret;

const SECRET: &str = "hook-Secret-31";

/// Redis behind `redis`, probed only on request. Red comes from refused connections, at
/// once; the timeout is generous so that a busy machine never turns a working Redis red
/// (one slow probe would reset a streak of ok results).
fn config(redis: &str, receivers: &str) -> String {
    format!(
        "[monitor]\ninterval = \"1h\"\ntimeout = \"5s\"\n[db]\nenabled = false\n[doc_engine]\nenabled = false\n\
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

/// Waits until the receiver has `count` requests, lets any more that are queued arrive,
/// and returns them all.
async fn received(hook: &FixtureServer, count: usize) -> Vec<RecordedRequest> {
    wait_for(&format!("{count} alert deliveries"), || async {
        hook.requests_to("/hook").len() >= count
    })
    .await;
    settled(hook).await
}

/// The receiver's requests, once anything still queued has had the time to arrive.
async fn settled(hook: &FixtureServer) -> Vec<RecordedRequest> {
    settle().await;
    hook.requests_to("/hook")
}

/// Each request's body as `component state` (webhook bodies).
fn summary(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            format!("{} {}", body["component"], body["state"]).replace('"', "")
        })
        .collect()
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
        settled(&hook).await.is_empty(),
        "one red result is below the threshold"
    );
    fresh(&app).await;
    assert_eq!(received(&hook, 1).await.len(), 1, "two red results fire");
    redis.set_mode(ProxyMode::Pass).await;
    fresh(&app).await;
    assert_eq!(
        settled(&hook).await.len(),
        1,
        "one ok result does not resolve"
    );
    fresh(&app).await;
    let requests = received(&hook, 2).await;
    assert_eq!(requests.len(), 2, "two ok results resolve");

    let bodies: Vec<serde_json::Value> = requests
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
    for request in &requests {
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
    assert!(settled(&hook).await.is_empty());
}

/// A webhook that answers 500, and Redis (behind the returned proxy) red twice: the firing
/// alert is being delivered to a receiver that fails.
async fn firing_to_a_broken_webhook() -> (FixtureServer, FaultProxy, TestApp) {
    let hook = FixtureServer::start([("POST", "/hook", FixtureResponse::new(500, "broken"))]).await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    redis.set_mode(ProxyMode::Refuse).await;
    let app = TestApp::start_unscheduled(&config(&redis.host_port(), &webhook(&hook))).await;
    fresh(&app).await;
    fresh(&app).await;
    (hook, redis, app)
}

#[tokio::test]
async fn a_failing_or_hanging_receiver_is_retried_and_delays_nothing() {
    let (hook, _redis, app) = firing_to_a_broken_webhook().await;
    assert!(received(&hook, 2).await.len() >= 2, "a 500 is retried");
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
    wait_until("the receiver is healthy again", || async {
        let healthy = app.get("/readyz?verbose").await.2;
        healthy
            .contains(&format!("[+]alerts {name} ok"))
            .then_some(())
            .ok_or(healthy)
    })
    .await;
    // Counted per receiver kind, its address kept out: every failed attempt, and the one
    // that got through; nothing given up.
    let metrics = app.get("/metrics").await.2;
    let count = |series: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {metrics}"))
    };
    let attempts = count("ragwatch_notifications_total{integration=\"webhook\"}");
    let failed = count("ragwatch_notifications_failed_total{integration=\"webhook\"}");
    assert!(failed >= 1 && attempts > failed, "{metrics}");
    for reason in ["queue_full", "retries_exhausted", "shutdown"] {
        let series = format!(
            "ragwatch_notifications_dropped_total{{integration=\"webhook\",reason=\"{reason}\"}}"
        );
        assert_eq!(count(&series), 0, "{metrics}");
    }
    assert!(
        !metrics.contains(&format!("127.0.0.1:{}", hook.port())),
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

/// Two deployments' ragwatch instances send to one real Alertmanager, told apart by
/// `alerts.labels`: both outages show as two alerts, and one resolving leaves the other.
#[tokio::test]
async fn two_deployments_alerts_stay_apart_in_one_alertmanager() {
    let alertmanager = alertmanager().await;
    let start = async |deployment: &str| {
        let redis = FaultProxy::start("127.0.0.1:6379").await;
        let receivers = format!(
            "[[alerts.alertmanager]]\nurl = \"{}\"\n[alerts.labels]\ndeployment = \"{deployment}\"\n",
            alertmanager.url("")
        );
        let app = TestApp::start_unscheduled(&config(&redis.host_port(), &receivers)).await;
        fresh(&app).await;
        redis.set_mode(ProxyMode::Refuse).await;
        fresh(&app).await;
        fresh(&app).await;
        (app, redis)
    };
    let (prod, prod_redis) = start("prod").await;
    let (_staging, _staging_redis) = start("staging").await;
    let deployments = async || {
        let mut seen: Vec<String> = alerts_about(&alertmanager, "redis")
            .await
            .iter()
            .map(|a| {
                a["labels"]["deployment"]
                    .as_str()
                    .unwrap_or("none")
                    .to_owned()
            })
            .collect();
        seen.sort();
        seen
    };
    wait_until("both deployments' alerts fire", || async {
        let seen = deployments().await;
        (seen == ["prod", "staging"])
            .then_some(())
            .ok_or(format!("{seen:?}"))
    })
    .await;
    prod_redis.set_mode(ProxyMode::Pass).await;
    fresh(&prod).await;
    fresh(&prod).await;
    wait_until("prod's alert resolves, staging's stays", || async {
        let seen = deployments().await;
        (seen == ["staging"])
            .then_some(())
            .ok_or(format!("{seen:?}"))
    })
    .await;
}

#[tokio::test]
async fn a_real_alertmanager_shows_the_alert_and_its_resolution() {
    let alertmanager = alertmanager().await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    let receivers = format!(
        "[[alerts.alertmanager]]\nurl = \"{}\"\n[alerts.labels]\ndeployment = \"prod\"\n",
        alertmanager.url("")
    );
    let app = TestApp::start_unscheduled(&config(&redis.host_port(), &receivers)).await;
    fresh(&app).await;
    redis.set_mode(ProxyMode::Refuse).await;
    fresh(&app).await;
    settle().await;
    assert!(
        alerts_about(&alertmanager, "redis").await.is_empty(),
        "below the threshold"
    );
    fresh(&app).await;
    let alertmanager = &alertmanager;
    let firing = wait_until("the alert fires", || async {
        let firing = alerts_about(alertmanager, "redis").await;
        (!firing.is_empty())
            .then_some(firing)
            .ok_or_else(String::new)
    })
    .await;
    assert_eq!(firing.len(), 1, "{firing:?}");
    let alert = &firing[0];
    assert_eq!(alert["labels"]["alertname"], "RagwatchComponentDown");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["kind"], "redis");
    assert_eq!(alert["labels"]["deployment"], "prod", "alerts.labels");
    assert_eq!(
        alert["annotations"]["description"],
        format!("connection refused to {}", redis.host_port())
    );
    assert_eq!(alert["generatorURL"], "http://ragwatch.example:9390/");
    assert_eq!(
        alert["annotations"]["runbook_url"],
        "README.md#ragwatchcomponentdown"
    );
    assert_eq!(alert["status"]["state"], "active");

    redis.set_mode(ProxyMode::Pass).await;
    fresh(&app).await;
    fresh(&app).await;
    wait_until("the alert is resolved", || async {
        let left = alerts_about(alertmanager, "redis").await;
        left.is_empty().then_some(()).ok_or(format!("{left:?}"))
    })
    .await;
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
        received(&hook, 1).await.len(),
        1,
        "fired before the restart"
    );
    wait_for("the outage is an open incident in the history", || async {
        let (_, body) = first.get_json("/api/v1/incidents").await;
        body["incidents"][0]["open"] == true
    })
    .await;
    drop(first);

    let second = TestApp::start_unscheduled(&toml).await;
    // The history opens, then the alerts firing before the restart are taken up.
    wait_for("the history is open", || async {
        second
            .get("/readyz?verbose")
            .await
            .2
            .contains("[+]history ok")
    })
    .await;
    settle().await;
    for _ in 0..3 {
        fresh(&second).await;
    }
    assert_eq!(
        settled(&hook).await.len(),
        1,
        "still firing: nothing sent again"
    );
    redis.set_mode(ProxyMode::Pass).await;
    fresh(&second).await;
    fresh(&second).await;
    let requests = received(&hook, 2).await;
    assert_eq!(requests.len(), 2, "the resolution is not forgotten");
    let first_body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    let resolved: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(resolved["state"], "resolved");
    assert_eq!(resolved["started_at"], first_body["started_at"]);
    assert_eq!(resolved["error"], first_body["error"]);
}

#[tokio::test]
async fn a_failure_threshold_of_three_fires_on_the_third_red_result() {
    // Redis is probed only on request; the database on its own two-second schedule, so its
    // alerts can mark a point in the receiver's queue while Redis's streak stands still.
    let hook = receiving().await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    let db = FaultProxy::start("127.0.0.1:3306").await;
    db.set_mode(ProxyMode::Refuse).await;
    let toml = config(&redis.host_port(), &webhook(&hook))
        .replace("failure_threshold = 2", "failure_threshold = 3")
        .replace(
            "[db]\nenabled = false\n",
            &format!(
                "[db]\nurl = \"mysql://root@{}/mysql\"\ninterval = \"2s\"\ntimeout = \"2s\"\n",
                db.host_port()
            ),
        );
    let app = TestApp::start(&toml).await;
    assert_eq!(summary(&received(&hook, 1).await), ["db firing"]);

    redis.set_mode(ProxyMode::Refuse).await;
    fresh(&app).await;
    fresh(&app).await;
    // The database resolves after the two red Redis results: were they enough to fire,
    // Redis's alert would be queued before the resolution and arrive first.
    db.set_mode(ProxyMode::Pass).await;
    assert_eq!(
        summary(&received(&hook, 2).await),
        ["db firing", "db resolved"],
        "two red results are below a threshold of three"
    );
    fresh(&app).await;
    assert_eq!(
        summary(&received(&hook, 3).await),
        ["db firing", "db resolved", "redis firing"],
        "the third red result fires"
    );
}

/// A local Alertmanager API that records what it is sent.
async fn alertmanager_api() -> FixtureServer {
    FixtureServer::start([("POST", "/api/v2/alerts", FixtureResponse::new(200, ""))]).await
}

/// Every alert posted to a recorded Alertmanager API, in order.
fn posted_alerts(api: &FixtureServer) -> Vec<serde_json::Value> {
    api.requests_to("/api/v2/alerts")
        .iter()
        .flat_map(|r| {
            let batch: Vec<serde_json::Value> = serde_json::from_slice(&r.body).unwrap();
            batch
        })
        .collect()
}

#[tokio::test]
async fn alertmanager_gets_firing_alerts_again_periodically() {
    let api = alertmanager_api().await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    redis.set_mode(ProxyMode::Refuse).await;
    let receivers = format!("[[alerts.alertmanager]]\nurl = \"{}\"\n", api.url());
    let app = TestApp::start_unscheduled(&config(&redis.host_port(), &receivers)).await;
    fresh(&app).await;
    fresh(&app).await;
    let api = &api;
    let first = wait_until("the alert is posted", || async {
        match posted_alerts(api).as_slice() {
            [alert] => Ok(alert.clone()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(first.get("endsAt").is_none(), "{first}");
    // No new result: the same firing alert comes again on the re-send schedule.
    let again = wait_until_within(
        "the firing alert is sent again",
        RESEND_EVERY * 2,
        || async {
            match posted_alerts(api).as_slice() {
                [_, again] => Ok(again.clone()),
                other => Err(format!("{} alerts posted", other.len())),
            }
        },
    )
    .await;
    assert_eq!(again, first, "the same alert, still firing");
}

#[tokio::test]
async fn a_receiver_that_keeps_failing_is_given_up_after_the_last_attempt() {
    let (hook, redis, app) = firing_to_a_broken_webhook().await;
    // Back-off doubles from 1 s up to its cap: every attempt within about two minutes.
    let attempts = usize::try_from(MAX_ATTEMPTS).unwrap();
    let hook = &hook;
    wait_until_within("every attempt is made", MAX_BACKOFF * 4, || async {
        let count = hook.requests_to("/hook").len();
        (count >= attempts)
            .then_some(())
            .ok_or(format!("{count} attempts so far"))
    })
    .await;
    // The receiver works again and Redis recovers: the next delivery is the resolution,
    // so the firing alert was not tried once more.
    hook.set_route("POST", "/hook", FixtureResponse::new(200, "ok"));
    redis.set_mode(ProxyMode::Pass).await;
    fresh(&app).await;
    fresh(&app).await;
    let requests = received(hook, attempts + 1).await;
    let mut expected = vec!["redis firing".to_owned(); attempts];
    expected.push("redis resolved".to_owned());
    assert_eq!(summary(&requests), expected);
}

#[tokio::test]
async fn alertmanager_severity_is_warning_for_an_optional_component() {
    let api = alertmanager_api().await;
    let redis = FaultProxy::start("127.0.0.1:6379").await;
    redis.set_mode(ProxyMode::Refuse).await;
    let receivers = format!("[[alerts.alertmanager]]\nurl = \"{}\"\n", api.url());
    let toml = config(&redis.host_port(), &receivers)
        .replace("[redis]\n", "[redis]\nrequired = false\n")
        .replace(
            "[db]\nenabled = false\n",
            &format!(
                "[db]\nurl = \"mysql://root@127.0.0.1:{}/mysql\"\n",
                common::free_port()
            ),
        );
    let app = TestApp::start_unscheduled(&toml).await;
    fresh(&app).await;
    fresh(&app).await;
    let api = &api;
    let severities = wait_until("both alerts are posted", || async {
        let alerts = posted_alerts(api);
        let severity = |component: &str| {
            alerts
                .iter()
                .find(|a| a["labels"]["component"] == component)
                .map(|a| a["labels"]["severity"].clone())
        };
        match (severity("redis"), severity("db")) {
            (Some(redis), Some(db)) => Ok((redis, db)),
            _ => Err(format!("{alerts:?}")),
        }
    })
    .await;
    assert_eq!(severities.0, "warning", "redis is optional");
    assert_eq!(severities.1, "critical", "db is required");
}

/// `ragwatch notify --test` to a real Alertmanager: the test alert arrives firing, then
/// resolved at once, so none stays active.
#[tokio::test]
async fn a_test_notification_leaves_no_alert_active_in_alertmanager() {
    let alertmanager = alertmanager().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ragwatch.toml");
    std::fs::write(
        &file,
        format!(
            "[alerts]\n[alerts.labels]\ndeployment = \"prod\"\n[[alerts.alertmanager]]\nurl = \"{}\"\n",
            alertmanager.url("")
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ragwatch"))
        .args(["notify", "--test", "--config"])
        .arg(&file)
        .env_remove("RAGWATCH_CONFIG")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout,
        format!(
            "ok     alertmanager 127.0.0.1:{} (alerts.alertmanager[0])\n",
            alertmanager.port()
        )
    );
    let metrics = reqwest::get(alertmanager.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for status in ["firing", "resolved"] {
        let received = metrics
            .lines()
            .find(|l| {
                l.starts_with("alertmanager_alerts_received_total{")
                    && l.contains(&format!("status=\"{status}\""))
                    && l.contains("version=\"v2\"")
            })
            .unwrap_or_else(|| panic!("no {status} count in {metrics}"));
        assert!(received.ends_with(" 1"), "{received}");
    }
    let active = alertmanager
        .get(
            "/api/v2/alerts",
            &[("filter", "alertname=\"RagwatchTest\"")],
        )
        .await;
    assert_eq!(active, serde_json::json!([]), "the test alert is resolved");
}
