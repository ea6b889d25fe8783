//! `[[models]]`: TEI, OpenAI-compatible and Ollama servers, served by a local HTTP server
//! in the test with the response shapes each documents (TEI's `/health` and `/info`,
//! OpenAI's `{"object": "list", "data": [...]}`, Ollama's `{"models": [...]}`).

use crate::common;

use std::time::{Duration, Instant};

use common::app::{TestApp, only, probe_once};
use common::{FixtureResponse, FixtureServer};
use ragwatch::probe::Status;

const TEI_INFO: &str = r#"{"model_id":"BAAI/bge-m3","model_sha":null,"model_dtype":"float16","model_type":{"embedding":{"pooling":"cls"}},"max_concurrent_requests":512,"max_input_length":8192,"max_batch_tokens":16384,"max_batch_requests":null,"max_client_batch_size":32,"auto_truncate":false,"tokenization_workers":4,"version":"1.8.0"}"#;
const OPENAI_MODELS: &str = r#"{"object":"list","data":[{"id":"qwen2.5-7b-instruct","object":"model","created":1715367049,"owned_by":"system"},{"id":"bge-m3","object":"model","created":1715367049,"owned_by":"system"}]}"#;
const OPENAI_401: &str = r#"{"error":{"message":"Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
const OLLAMA_TAGS: &str = r#"{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"2026-10-01T10:00:00Z","size":2019393189,"digest":"a80c4f17acd5","details":{"format":"gguf","family":"llama","parameter_size":"3.2B","quantization_level":"Q4_K_M"}}]}"#;

/// Only the given `[[models]]` entries are watched.
fn models(entries: &str) -> String {
    format!("{}[monitor]\ntimeout = \"1s\"\n{entries}", only("none"))
}

async fn probe_model(entry: &str) -> ragwatch::probe::ProbeResult {
    let mut results = probe_once(&models(entry)).await;
    assert_eq!(results.len(), 1, "one model watched");
    results.remove(0).1
}

#[tokio::test]
async fn tei_is_green_with_its_model_and_red_while_loading() {
    let tei = FixtureServer::start([
        ("GET", "/health", FixtureResponse::new(200, "")),
        ("GET", "/info", FixtureResponse::json(200, TEI_INFO)),
    ])
    .await;
    let entry = format!(
        "[[models]]\nname = \"embedding\"\nkind = \"tei\"\nurl = \"{}\"\n",
        tei.url()
    );
    let result = probe_model(&entry).await;
    assert_eq!(result.status, Status::Green, "{result:?}");
    assert_eq!(result.details["model_id"], "BAAI/bge-m3");
    assert_eq!(result.details["version"], "1.8.0");

    tei.set_route("GET", "/health", FixtureResponse::new(503, ""));
    let result = probe_model(&entry).await;
    assert_eq!(result.status, Status::Red);
    assert_eq!(
        result.error.as_deref(),
        Some("the model is not ready (still loading?) (HTTP 503)")
    );
}

#[tokio::test]
async fn openai_lists_models_with_the_key_and_a_wrong_key_is_red_without_showing_it() {
    let api = FixtureServer::start([(
        "GET",
        "/v1/models",
        FixtureResponse::json(200, OPENAI_MODELS),
    )])
    .await;
    // RAGFlow's base URLs usually end in /v1; both spellings reach /v1/models.
    for base in [api.url(), format!("{}/v1", api.url())] {
        let entry = format!(
            "[[models]]\nname = \"chat\"\nkind = \"openai\"\nurl = \"{base}\"\napi_key = \"sk-test-7f3a9c\"\n"
        );
        api.clear_requests();
        let result = probe_model(&entry).await;
        assert_eq!(result.status, Status::Green, "{base}: {result:?}");
        assert_eq!(result.details["models"], 2);
        assert_eq!(
            result.details["names"],
            serde_json::json!(["qwen2.5-7b-instruct", "bge-m3"])
        );
        let requests = api.requests_to("/v1/models");
        assert_eq!(requests.len(), 1, "{base}");
        assert_eq!(
            requests[0].header("authorization"),
            Some("Bearer sk-test-7f3a9c")
        );
    }

    api.set_route("GET", "/v1/models", FixtureResponse::json(401, OPENAI_401));
    let entry = format!(
        "[[models]]\nname = \"chat\"\nkind = \"openai\"\nurl = \"{}/v1\"\napi_key = \"sk-test-7f3a9c\"\n",
        api.url()
    );
    let result = probe_model(&entry).await;
    assert_eq!(result.status, Status::Red);
    let error = result.error.unwrap();
    assert!(
        error.starts_with("the API key was refused (HTTP 401: Incorrect API key provided."),
        "{error}"
    );
    assert!(!error.contains("sk-test"), "{error}");

    let keyless = format!(
        "[[models]]\nname = \"chat\"\nkind = \"openai\"\nurl = \"{}\"\n",
        api.url()
    );
    let result = probe_model(&keyless).await;
    assert!(
        result
            .error
            .unwrap()
            .starts_with("the server wants an API key: set api_key (HTTP 401")
    );
}

#[tokio::test]
async fn ollama_lists_its_models_and_a_wrong_kind_is_named() {
    let ollama =
        FixtureServer::start([("GET", "/api/tags", FixtureResponse::json(200, OLLAMA_TAGS))]).await;
    let result = probe_model(&format!(
        "[[models]]\nname = \"local\"\nkind = \"ollama\"\nurl = \"{}\"\n",
        ollama.url()
    ))
    .await;
    assert_eq!(result.status, Status::Green, "{result:?}");
    assert_eq!(
        result.details["names"],
        serde_json::json!(["llama3.2:latest"])
    );

    // Ollama has no /health: a server configured as TEI says where to look.
    let result = probe_model(&format!(
        "[[models]]\nname = \"local\"\nkind = \"tei\"\nurl = \"{}\"\n",
        ollama.url()
    ))
    .await;
    assert_eq!(result.status, Status::Red);
    assert!(
        result
            .error
            .unwrap()
            .contains("GET /health is not served here"),
    );
}

#[tokio::test]
async fn a_hung_model_server_is_bounded_by_the_timeout() {
    let hung = FixtureServer::start([(
        "GET",
        "/health",
        FixtureResponse::new(200, "").with_delay(Duration::from_secs(30)),
    )])
    .await;
    let started = Instant::now();
    let result = probe_model(&format!(
        "[[models]]\nname = \"embedding\"\nkind = \"tei\"\nurl = \"{}\"\n",
        hung.url()
    ))
    .await;
    assert_eq!(result.status, Status::Red);
    assert_eq!(result.error.as_deref(), Some("timed out after 1000 ms"));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn models_are_components_of_the_api_and_metrics_but_not_of_ragflows_healthz() {
    let tei = FixtureServer::start([("GET", "/health", FixtureResponse::new(200, ""))]).await;
    let app = TestApp::start_unscheduled(&format!(
        "{}[[models]]\nname = \"embedding\"\nkind = \"tei\"\nurl = \"{}\"\n",
        only("redis"),
        tei.url()
    ))
    .await;
    let (_, healthz) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert!(healthz.get("models.embedding").is_none(), "{healthz}");
    let (_, list) = app.get_json("/api/v1/components").await;
    let one = list["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "models.embedding")
        .unwrap_or_else(|| panic!("no models.embedding in {list}"))
        .clone();
    assert_eq!(one["kind"], "tei");
    assert_eq!(one["required"], false);
    assert_eq!(one["status"], "green");
    let (_, _, metrics) = app.get("/metrics").await;
    assert!(
        metrics.contains(r#"ragwatch_component_up{component="models.embedding",kind="tei"} 1"#),
        "{metrics}"
    );
    // The incident filter knows the model's key (once the history store has opened).
    common::wait_until("the history opens", || async {
        let (status, body) = app
            .get_json("/api/v1/incidents?component=models.embedding")
            .await;
        assert!(matches!(status, 200 | 503), "{status} {body}");
        (status == 200).then_some(()).ok_or(body.to_string())
    })
    .await;
    let (status, body) = app
        .get_json("/api/v1/incidents?component=models.nope")
        .await;
    assert_eq!(status, 400, "{body}");
}
