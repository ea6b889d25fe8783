//! Staleness end to end: when a component's schedule dies, its last result ages past
//! twice the interval plus the timeout, and healthz (through its rendered cache), readyz
//! and the page's `/api/v1/components` all turn it failed, saying it is stale.

use crate::common;

use common::app::TestApp;
use common::wait_until;
use serde_json::Value;

/// Only Redis (the real one), probed every second with a one-second timeout: its results
/// go stale 3 s after they arrive.
const CONFIG: &str = "[monitor]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
     [redis]\nurl = \"redis://127.0.0.1:6379/1\"\n[db]\nenabled = false\n\
     [doc_engine]\nenabled = false\n[storage]\nenabled = false\n\
     [task_executors]\nenabled = false\n[history]\nenabled = false\n";

async fn redis_on_the_page(app: &TestApp) -> Value {
    let (status, list) = app.get_json("/api/v1/components").await;
    assert_eq!(status, 200, "{list}");
    list["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "redis")
        .cloned()
        .unwrap_or_else(|| panic!("no redis in {list}"))
}

#[tokio::test]
async fn a_component_whose_schedule_died_turns_stale_everywhere() {
    let mut app = TestApp::start(CONFIG).await;
    // Fresh and green: healthz is rendered (and cached) while the result is current.
    wait_until("healthz is ok", || async {
        let (status, body) = app.get_json("/v1/system/healthz").await;
        (status == 200 && body["redis"] == "ok")
            .then_some(())
            .ok_or(format!("{status} {body}"))
    })
    .await;
    let (status, ready) = (app.get("/readyz").await.0, redis_on_the_page(&app).await);
    assert_eq!(status, 200);
    assert_eq!(ready["status"], "green", "{ready}");

    // The schedule dies; nothing probes Redis any more.
    app.stop_background();

    let body = wait_until("healthz turns nok", || async {
        let (status, body) = app.get_json("/v1/system/healthz").await;
        (status == 500)
            .then_some(body.clone())
            .ok_or(body.to_string())
    })
    .await;
    assert_eq!(body["redis"], "nok", "{body}");
    assert_eq!(body["status"], "nok", "{body}");
    let error = body["_meta"]["redis"]["error"].as_str().unwrap();
    assert!(error.starts_with("stale: the last result is "), "{body}");
    assert!(error.ends_with("(limit 3 s)"), "{body}");

    let (status, _, readyz) = app.get("/readyz?verbose").await;
    assert_eq!(status, 500, "{readyz}");
    assert!(readyz.contains("[-]redis failed: stale: "), "{readyz}");

    let redis = redis_on_the_page(&app).await;
    assert_eq!(redis["status"], "red", "{redis}");
    assert!(
        redis["error"].as_str().unwrap().starts_with("stale: "),
        "{redis}"
    );
}
