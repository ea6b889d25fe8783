//! `[ragflow]`: RAGFlow's API server answers `GET /api/v1/system/ping` with `pong` (its
//! documented answer, served here by a local HTTP server); anything else is red and named.

use crate::common;

use std::time::Duration;

use common::app::{only, probe_once};
use common::{FixtureResponse, FixtureServer};
use ragwatch::probe::{ProbeResult, Status};

async fn ping(server: &FixtureServer) -> ProbeResult {
    let results = probe_once(&format!(
        "{}[monitor]\ntimeout = \"1s\"\n[ragflow]\nurl = \"{}\"\n",
        only("none"),
        server.url()
    ))
    .await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].0, "ragflow");
    results[0].1.clone()
}

#[tokio::test]
async fn pong_is_green_and_anything_else_is_named() {
    let server = FixtureServer::start([(
        "GET",
        "/api/v1/system/ping",
        FixtureResponse::new(200, "pong").with_header("content-type", "text/html; charset=utf-8"),
    )])
    .await;
    let result = ping(&server).await;
    assert_eq!(result.status, Status::Green, "{result:?}");

    server.set_route(
        "GET",
        "/api/v1/system/ping",
        FixtureResponse::new(502, "<html>Bad Gateway</html>"),
    );
    let result = ping(&server).await;
    assert_eq!(result.status, Status::Red);
    assert_eq!(
        result.error.as_deref(),
        Some(
            "GET /api/v1/system/ping answered HTTP 502 \"<html>Bad Gateway</html>\", not \"pong\": is ragflow.url RAGFlow's API server?"
        )
    );

    server.set_route(
        "GET",
        "/api/v1/system/ping",
        FixtureResponse::new(200, "pong").with_delay(Duration::from_secs(30)),
    );
    let result = ping(&server).await;
    assert_eq!(result.error.as_deref(), Some("timed out after 1000 ms"));
}

#[tokio::test]
async fn a_refused_api_server_names_its_address() {
    let port = common::free_port();
    let results = probe_once(&format!(
        "{}[monitor]\ntimeout = \"1s\"\n[ragflow]\nurl = \"http://127.0.0.1:{port}\"\n",
        only("none")
    ))
    .await;
    assert_eq!(
        results[0].1.error.as_deref(),
        Some(format!("connection refused to 127.0.0.1:{port}").as_str())
    );
}
