//! The Infinity probe against the node-status answers of its HTTP API served over HTTP: every
//! role and status, its error shapes, a hung node. No recorded node-status answer exists: those
//! bodies are derived from Infinity's handler source, the error bodies are its documentation's
//! examples (tests/fixtures/infinity/README.md says which is which).

use crate::common;

use common::app::{TestApp, only, probe_only};
use common::{FixtureResponse, FixtureServer, free_port};
use ragwatch::probe::{ProbeResult, Status};
use serde_json::Value;

const NODE: &str = "/admin/node/current";
const CONFIGS: &str = "/configs";

fn section(url: &str, extra: &str) -> String {
    let timeout = if extra.contains("timeout") {
        ""
    } else {
        "timeout = \"2s\"\n"
    };
    format!(
        "{}[doc_engine]\nkind = \"infinity\"\nurl = \"{url}\"\n{timeout}{extra}",
        only("doc_engine")
    )
}

async fn probe(server: &FixtureServer) -> ProbeResult {
    probe_only(&section(&server.url(), "")).await
}

/// A node answering `node` for its status and the documented configuration listing.
async fn node(node: FixtureResponse) -> FixtureServer {
    FixtureServer::start([
        ("GET", NODE, node),
        (
            "GET",
            CONFIGS,
            FixtureResponse::from_fixture(200, "infinity/configs.docs.json"),
        ),
    ])
    .await
}

/// The derived cluster leader's answer with another role and status, as a follower or
/// learner reports itself (same shape, see the README).
fn cluster_member(role: &str, status: &str) -> FixtureResponse {
    let derived = common::fixture_str("infinity/admin_node_current.cluster_leader.derived.json");
    let mut answer: Value = serde_json::from_str(&derived).unwrap();
    answer["node"]["role"] = role.into();
    answer["node"]["status"] = status.into();
    // As the server sends it: no content type.
    FixtureResponse::new(200, answer.to_string())
}

#[tokio::test]
async fn a_started_standalone_node_is_green_with_role_status_and_version() {
    let infinity = node(FixtureResponse::from_fixture(
        200,
        "infinity/admin_node_current.standalone.derived.json",
    ))
    .await;
    let result = probe(&infinity).await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert!(result.error.is_none());
    assert_eq!(
        Value::Object(result.details),
        serde_json::json!({"role": "standalone", "status": "started", "version": "0.7.0"}),
        "standalone nodes have no name or address; the version is the configs' one"
    );
    let requests = infinity.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests.iter().all(|r| r.method == "GET"),
        "a monitor never writes: {requests:?}"
    );
}

#[tokio::test]
async fn a_node_that_is_still_starting_is_red_and_says_so() {
    let infinity = node(FixtureResponse::from_fixture(
        200,
        "infinity/admin_node_current.starting.derived.json",
    ))
    .await;
    let result = probe(&infinity).await;
    assert_eq!(result.status, Status::Red);
    assert_eq!(
        result.error.as_deref(),
        Some(
            "Infinity is not serving: node status `starting`; it is still starting and serves no queries yet"
        )
    );
    assert_eq!(result.details["status"], "starting");
    assert!(
        infinity.requests_to(CONFIGS).is_empty(),
        "the version is read from serving nodes only"
    );
}

#[tokio::test]
async fn cluster_members_are_named_with_their_address() {
    let leader = node(FixtureResponse::from_fixture(
        200,
        "infinity/admin_node_current.cluster_leader.derived.json",
    ))
    .await;
    let result = probe(&leader).await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(
        Value::Object(result.details),
        serde_json::json!({
            "role": "leader", "status": "alive", "name": "boss",
            "address": "0.0.0.0:23851", "version": "0.7.0",
        })
    );
    let cases = [
        ("follower", "alive", None),
        ("learner", "alive", None),
        (
            "follower",
            "timeout",
            Some(
                "Infinity follower boss (0.0.0.0:23851) is not serving: node status `timeout`; its heartbeats to the leader time out",
            ),
        ),
        (
            "learner",
            "lost connection",
            Some(
                "Infinity learner boss (0.0.0.0:23851) is not serving: node status `lost connection`; it lost its connection to the leader: check the network between the nodes",
            ),
        ),
        (
            "follower",
            "removed",
            Some(
                "Infinity follower boss (0.0.0.0:23851) is not serving: node status `removed`; it was removed from the cluster",
            ),
        ),
    ];
    for (role, status, error) in cases {
        let member = node(cluster_member(role, status)).await;
        let result = probe(&member).await;
        let name = format!("{role} {status}");
        assert_eq!(result.error.as_deref(), error, "{name}");
        let expected = if error.is_some() {
            Status::Red
        } else {
            Status::Green
        };
        assert_eq!(result.status, expected, "{name}");
        assert_eq!(result.details["role"], role, "{name}");
        assert_eq!(result.details["status"], status, "{name}");
    }
}

#[tokio::test]
async fn error_answers_become_actionable_messages() {
    let error = || common::fixture("infinity/admin_variable_error_500.docs.json");
    let cases = [
        (
            "HTTP 500 with an error body",
            FixtureResponse::new(500, error()),
            "Infinity answered HTTP 500 with error 3027: variable does not exist : role.".to_owned(),
        ),
        (
            "error_code not 0",
            FixtureResponse::new(200, error()),
            "Infinity refused the node status request: error 3027: variable does not exist : role."
                .to_owned(),
        ),
        (
            "not Infinity",
            FixtureResponse::new(404, "Not Found"),
            "HTTP 404 from 127.0.0.1:PORT: is doc_engine.url the address of Infinity's HTTP API (port 23820)?"
                .to_owned(),
        ),
        (
            "not JSON",
            FixtureResponse::new(200, "<html>proxy login</html>"),
            "unexpected answer from 127.0.0.1:PORT: the node status is not a JSON object".to_owned(),
        ),
    ];
    for (name, response, expected) in cases {
        let infinity = node(response).await;
        let result = probe(&infinity).await;
        assert_eq!(result.status, Status::Red, "{name}");
        let expected = expected.replace("PORT", &infinity.port().to_string());
        assert_eq!(result.error.as_deref(), Some(expected.as_str()), "{name}");
    }
}

#[tokio::test]
async fn a_node_without_a_version_is_still_green() {
    let standalone = || {
        FixtureResponse::from_fixture(200, "infinity/admin_node_current.standalone.derived.json")
    };
    let unversioned = [
        ("no configs route", FixtureResponse::new(404, "Not Found")),
        (
            "configs error",
            FixtureResponse::from_fixture(500, "infinity/admin_variable_error_500.docs.json"),
        ),
    ];
    for (name, configs) in unversioned {
        let infinity =
            FixtureServer::start([("GET", NODE, standalone()), ("GET", CONFIGS, configs)]).await;
        let result = probe(&infinity).await;
        assert_eq!(result.status, Status::Green, "{name}: {:?}", result.error);
        assert_eq!(result.details.get("version"), None, "{name}");
        assert_eq!(infinity.requests_to(CONFIGS).len(), 1, "{name}");
    }
}

#[tokio::test]
async fn a_hung_node_is_bounded_by_the_timeout() {
    let infinity = node(
        FixtureResponse::from_fixture(200, "infinity/admin_node_current.standalone.derived.json")
            .with_delay(std::time::Duration::from_secs(10)),
    )
    .await;
    let started = std::time::Instant::now();
    let result = probe_only(&section(&infinity.url(), "timeout = \"700ms\"\n")).await;
    assert_eq!(result.error.as_deref(), Some("timed out after 700 ms"));
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn a_closed_port_is_named() {
    let port = free_port();
    let result = probe_only(&section(&format!("http://127.0.0.1:{port}"), "")).await;
    assert_eq!(result.status, Status::Red);
    assert_eq!(
        result.error,
        Some(format!("connection refused to 127.0.0.1:{port}"))
    );
}

#[tokio::test]
async fn ragflow_status_and_healthz_report_the_infinity_kind() {
    let infinity = node(FixtureResponse::from_fixture(
        200,
        "infinity/admin_node_current.standalone.derived.json",
    ))
    .await;
    let app = TestApp::start_unscheduled(&section(&infinity.url(), "")).await;
    let (code, healthz) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(code, 200, "{healthz}");
    assert_eq!(healthz["doc_engine"], "ok");
    let (_, status) = app.get_json("/v1/system/status").await;
    let doc_engine = &status["data"]["doc_engine"];
    assert_eq!(doc_engine["type"], "infinity", "{status}");
    assert_eq!(doc_engine["status"], "green", "{status}");
    assert_eq!(doc_engine["role"], "standalone", "{status}");

    infinity.set_route(
        "GET",
        NODE,
        FixtureResponse::from_fixture(200, "infinity/admin_node_current.starting.derived.json"),
    );
    let (code, healthz) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(code, 500, "{healthz}");
    assert_eq!(healthz["doc_engine"], "nok");
}
