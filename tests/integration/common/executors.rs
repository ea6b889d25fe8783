//! ragwatch watching only RAGFlow's task executors, and reading its executor list: what the
//! executor tests share.

use serde_json::Value;

use super::app::TestApp;

/// The token the executor endpoints are read with.
pub const TOKEN: &str = "executors-test-token";

/// ragwatch watching only the executors of `redis_url` (plus anything in `extra`, written
/// into `[task_executors]`), probed only on request.
pub async fn app(redis_url: &str, extra: &str) -> TestApp {
    TestApp::start_unscheduled(&format!(
        "[server]\ntokens = [\"{TOKEN}\"]\n[monitor]\ninterval = \"1h\"\ntimeout = \"5s\"\n\
         [db]\nenabled = false\n[redis]\nurl = \"{redis_url}\"\n\
         [doc_engine]\nenabled = false\n[storage]\nenabled = false\n\
         [task_executors]\n{extra}"
    ))
    .await
}

/// Refreshes every component, then reads the executor list.
pub async fn executors(app: &TestApp) -> Value {
    app.get_json("/v1/system/healthz?fresh=1").await;
    let (status, body) = app.get_json_as("/api/v1/executors", Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The executor named `name` in an executor list.
pub fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["executors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {list:#}"))
}
