//! The OpenAPI document describes every endpoint ragwatch serves, and every path it
//! describes is served.

use crate::common;

use common::app::TestApp;
use serde_json::Value;

/// Every route of the router, as the document must name it.
const ROUTES: [&str; 21] = [
    "/v1/system/healthz",
    "/api/v1/system/healthz",
    "/v1/system/status",
    "/api/v1/system/status",
    "/livez",
    "/startedz",
    "/readyz",
    "/api/v1/components",
    "/api/v1/components/{key}",
    "/api/v1/components/{key}/history",
    "/api/v1/incidents",
    "/api/v1/cluster",
    "/api/v1/incidents/open",
    "/api/v1/silences",
    "/api/v1/silences/{id}",
    "/api/v1/maintenance",
    "/api/v1/executors",
    "/api/v1/executors/{name}/intervals",
    "/api/v1/executors/{name}/intervals/{end}",
    "/api/v1/openapi.json",
    "/metrics",
];

#[tokio::test]
async fn the_document_lists_exactly_the_served_routes() {
    let app = TestApp::start_unscheduled(
        "[server]\ntokens = [\"t\"]\n[db]\nenabled = false\n[redis]\nurl = \"redis://127.0.0.1:6379/1\"\n[doc_engine]\nenabled = false\n[storage]\nenabled = false\n",
    )
    .await;
    let (status, document) = app.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200, "the document is open");
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        document["openapi"]
    );
    let paths: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = ROUTES.to_vec();
    expected.sort_unstable();
    let mut listed = paths.clone();
    listed.sort_unstable();
    assert_eq!(listed, expected);
    for path in paths {
        // Each path's operations: GET for all but the silences' DELETE and POST.
        let operations = document["paths"][path].as_object().unwrap();
        let (method, operation) = operations.iter().next().unwrap();
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        if path != "/api/v1/silences/{id}" {
            assert!(operations["get"].is_object(), "{path} has a GET");
            assert!(
                operations["get"]["responses"]["200"].is_object(),
                "{path} documents its 200"
            );
        }
        // Documented means served: no route answers 404 for its own path.
        let concrete = path
            .replace("{key}", "redis")
            .replace("{name}", "task_executor_x_0")
            .replace("{end}", "1")
            .replace("{id}", "1");
        let (status, body) = app
            .request_as(method.clone(), &concrete, Some("t"), None)
            .await;
        let unknown_route = status == 404 && body.contains("no route for");
        assert!(!unknown_route, "{path} is documented but not served");
        let protected = operation["security"].is_array();
        let expect_protected = !matches!(
            path,
            "/v1/system/healthz"
                | "/api/v1/system/healthz"
                | "/livez"
                | "/startedz"
                | "/readyz"
                | "/api/v1/openapi.json"
        );
        assert_eq!(
            protected, expect_protected,
            "{path}: security documented as served"
        );
        // What the document says is what the router does: every protected route refuses a
        // request without the token, so a route moved out of the protected group fails here.
        let (status, body) = app.request_as(method, &concrete, None, None).await;
        assert_eq!(
            status == 401,
            protected,
            "{path} without a token answered {status}: {body}"
        );
    }
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        Value::from("bearer")
    );
    assert!(document["components"]["schemas"]["ApiError"].is_object());
}
