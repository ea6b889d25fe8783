//! Dependency-aware status: with its own Redis killed, the task executors (which read their
//! heartbeats from it) show `unknown` with the cause in the API, healthz's `_meta` and
//! readyz instead of a second red; only Redis's alert is sent, naming the executors as held
//! back; all recovers with Redis.

use crate::common;

use common::app::TestApp;
use common::ragflow::{Beat, redis, unix_now, write_beats};
use common::{FixtureResponse, FixtureServer, RedisInstance};
use serde_json::{Value, json};

async fn heartbeats(server: &RedisInstance) {
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    write_beats(
        &mut conn,
        "task_executor_dep_0",
        &[Beat::new(now - 30.0, 5, 0), Beat::new(now - 1.0, 6, 0)],
    )
    .await;
}

async fn components(app: &TestApp) -> Value {
    let (_, list) = app.get_json("/api/v1/components").await;
    list["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap().to_owned(), c.clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Alerts received, as `component state` lines, once there are `count` and any more still
/// queued have had the time to arrive.
async fn alerts(hook: &FixtureServer, count: usize) -> Vec<String> {
    common::wait_for(&format!("{count} alerts"), || async {
        hook.requests_to("/hook").len() >= count
    })
    .await;
    common::settle().await;
    hook.requests_to("/hook")
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            format!(
                "{} {}",
                body["component"].as_str().unwrap(),
                body["state"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn executors_are_unknown_while_their_redis_is_down_and_only_redis_alerts() {
    let mut server = RedisInstance::start(None).await;
    heartbeats(&server).await;
    let hook = FixtureServer::start([("POST", "/hook", FixtureResponse::new(200, "ok"))]).await;
    let app = TestApp::start_unscheduled(&format!(
        "[monitor]\ninterval = \"1h\"\ntimeout = \"5s\"\n[db]\nenabled = false\n\
         [doc_engine]\nenabled = false\n[storage]\nenabled = false\n[history]\nenabled = false\n\
         [redis]\nurl = \"{}\"\n[task_executors]\nhealthz = true\nheartbeat_period = \"1s\"\nheartbeat_timeout = \"3s\"\n\
         [alerts]\nfailure_threshold = 2\nsuccess_threshold = 1\n\
         [[alerts.webhook]]\nurl = \"{}/hook\"\n",
        server.url(),
        hook.url()
    ))
    .await;
    let fresh = || app.get_json("/v1/system/healthz?fresh=1");
    fresh().await;
    let all = components(&app).await;
    assert_eq!(all["redis"]["status"], "green");
    assert_eq!(all["task_executors"]["status"], "green");
    assert_eq!(all["task_executors"]["depends_on"], json!(["redis"]));

    server.kill();
    for _ in 0..4 {
        fresh().await;
    }
    let all = components(&app).await;
    assert_eq!(all["redis"]["status"], "red");
    assert!(all["redis"].get("cause").is_none());
    assert_eq!(all["task_executors"]["status"], "unknown", "{all}");
    assert_eq!(all["task_executors"]["cause"], "redis is down");

    let (status, healthz) = app.get_json("/v1/system/healthz").await;
    assert_eq!(status, 500);
    assert_eq!(
        healthz["task_executors"], "nok",
        "RAGFlow's keys keep ok/nok"
    );
    assert_eq!(healthz["_meta"]["task_executors"]["status"], "unknown");
    assert_eq!(healthz["_meta"]["task_executors"]["cause"], "redis is down");
    assert!(
        healthz["_meta"]["redis"].get("cause").is_none(),
        "{healthz}"
    );

    let (_, _, readyz) = app.get("/readyz?verbose").await;
    assert!(
        readyz.contains("[-]task_executors unknown (not required): redis is down ("),
        "{readyz}"
    );
    assert!(
        readyz.contains("[-]redis failed: connection refused"),
        "{readyz}"
    );

    assert_eq!(
        alerts(&hook, 1).await,
        ["redis firing"],
        "one alert: the cause, not its consequence"
    );
    let firing: Value = serde_json::from_slice(&hook.requests_to("/hook")[0].body).unwrap();
    assert_eq!(
        firing["held_back"],
        json!(["task_executors"]),
        "the cause's alert names what waits on it"
    );

    // Redis comes back empty; the executor writes its next heartbeat.
    server.start_again().await;
    heartbeats(&server).await;
    fresh().await;
    let all = components(&app).await;
    assert_eq!(all["redis"]["status"], "green");
    assert_eq!(all["task_executors"]["status"], "green");
    assert_eq!(alerts(&hook, 2).await, ["redis firing", "redis resolved"]);

    // A failure of its own, with Redis fine, is red, not unknown, and alerts: the executor
    // stops writing heartbeats and is dead after the 3 s timeout.
    common::wait_for("the executor is dead", || async {
        fresh().await;
        components(&app).await["task_executors"]["status"] == "red"
    })
    .await;
    fresh().await;
    let all = components(&app).await;
    assert_eq!(all["task_executors"]["status"], "red");
    assert!(all["task_executors"].get("cause").is_none());
    assert_eq!(
        alerts(&hook, 3).await,
        ["redis firing", "redis resolved", "task_executors firing"]
    );
}
