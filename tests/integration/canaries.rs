//! `[[canaries]]` of kind `retrieval`, against a stand-in of RAGFlow's API server that keeps
//! its contract ([`RagflowServer`]): the green path with its details, and each stage failing
//! and named (the key, the dataset, RAGFlow's own error, no chunks, the expected document),
//! the key never shown, and a canary whose API server is down shown `unknown`.

use crate::common;

use common::app::{TestApp, only, probe_once};
use common::ragflow_server::{RagflowServer, UNAUTHORIZED_MESSAGE};
use ragwatch::probe::{ProbeResult, Status};
use serde_json::json;

const API_KEY: &str = "ragflow-canary-key-4f9c2e";

const REFUND: &str =
    "Refunds are accepted within 30 days of purchase; the refund period starts on delivery.";

/// A server with one dataset: the refund policy, a shipping page that mentions refunds
/// once, and an unrelated page. Returns the server and the dataset's id.
async fn handbook() -> (RagflowServer, String) {
    let ragflow = RagflowServer::start(API_KEY).await;
    let dataset = ragflow.create_dataset();
    ragflow.add_parsed_document(&dataset, "refund-policy.pdf", &[REFUND]);
    ragflow.add_parsed_document(
        &dataset,
        "shipping.md",
        &["Shipping takes five days; a refund of shipping costs is never made."],
    );
    ragflow.add_parsed_document(&dataset, "holidays.txt", &["The office closes in August."]);
    (ragflow, dataset)
}

/// Only this canary is watched.
fn canary(url: &str, dataset: &str, extra: &str) -> String {
    format!(
        "{}[[canaries]]\nname = \"handbook\"\nkind = \"retrieval\"\nurl = \"{url}\"\n\
         api_key = \"{API_KEY}\"\ndataset_ids = [\"{dataset}\"]\n\
         question = \"What is the refund period?\"\n{extra}",
        only("none")
    )
}

async fn probe(toml: &str) -> ProbeResult {
    let mut results = probe_once(toml).await;
    assert_eq!(results.len(), 1, "one canary watched");
    let (key, result) = results.remove(0);
    assert_eq!(key, "canary.handbook");
    result
}

#[tokio::test]
async fn a_retrieval_finding_the_expected_document_is_green_with_its_details() {
    let (ragflow, dataset) = handbook().await;
    let toml = canary(
        &ragflow.url(),
        &dataset,
        "expect_document = \"refund-policy.pdf\"\n",
    );
    let result = probe(&toml).await;
    assert_eq!(result.status, Status::Green, "{result:?}");
    assert_eq!(result.details["chunks"], 2);
    assert_eq!(result.details["total"], 2);
    assert_eq!(
        result.details["documents"],
        json!(["refund-policy.pdf", "shipping.md"])
    );
    assert_eq!(result.details["expected_rank"], 1);
    let top = result.details["top_similarity"].as_f64().unwrap();
    assert!(top > 0.5, "{top}");
    assert_eq!(ragflow.requests(), ["POST /api/v1/retrieval"]);
}

#[tokio::test]
async fn the_expected_document_below_the_top_is_yellow_and_missing_is_red() {
    let (ragflow, dataset) = handbook().await;
    // Outranked by the refund policy, shipping.md is second: below a top of one.
    let low = canary(
        &ragflow.url(),
        &dataset,
        "expect_document = \"shipping.md\"\ntop_k = 1\n",
    );
    let result = probe(&low).await;
    assert_eq!(result.status, Status::Yellow, "{result:?}");
    assert_eq!(
        result.error.as_deref(),
        Some(
            "expected document ranked low: \"shipping.md\" first appears at chunk 2, below the top 1"
        )
    );

    let missing = canary(
        &ragflow.url(),
        &dataset,
        "expect_document = \"holidays.txt\"\n",
    );
    let result = probe(&missing).await;
    assert_eq!(result.status, Status::Red, "{result:?}");
    assert_eq!(
        result.error.as_deref(),
        Some(
            "expected document missing: \"holidays.txt\" is not among the documents of the 2 chunks found (refund-policy.pdf, shipping.md)"
        )
    );
    assert_eq!(result.details["stage"], "expected_document");
}

#[tokio::test]
async fn no_chunks_or_too_few_are_red() {
    let (ragflow, dataset) = handbook().await;
    let empty = ragflow.create_dataset();
    let result = probe(&canary(&ragflow.url(), &empty, "")).await;
    assert_eq!(result.status, Status::Red, "{result:?}");
    assert_eq!(
        result.error.as_deref(),
        Some("no chunks: the question found nothing in the datasets searched")
    );
    assert_eq!(result.details["stage"], "chunks");

    let result = probe(&canary(&ragflow.url(), &dataset, "min_chunks = 3\n")).await;
    assert_eq!(result.status, Status::Red, "{result:?}");
    assert_eq!(
        result.error.as_deref(),
        Some("too few chunks: found 2, min_chunks = 3")
    );
}

#[tokio::test]
async fn ragflow_refusals_name_their_stage_in_ragflow_words_and_never_show_the_key() {
    let (ragflow, dataset) = handbook().await;

    let wrong_key = canary(&ragflow.url(), &dataset, "").replace(API_KEY, "ragflow-wrong-key");
    let result = probe(&wrong_key).await;
    assert_eq!(result.status, Status::Red, "{result:?}");
    assert_eq!(
        result.error.as_deref(),
        Some(
            format!(
                "authentication failed: RAGFlow refused the API key (code 401: {UNAUTHORIZED_MESSAGE})"
            )
            .as_str()
        )
    );
    assert_eq!(result.details["stage"], "auth");
    assert_eq!(result.details["http_status"], 401);

    let result = probe(&canary(&ragflow.url(), &dataset, "").replace(&dataset, "not-mine")).await;
    assert_eq!(
        result.error.as_deref(),
        Some("dataset unavailable: code 102: You don't own the dataset not-mine.")
    );
    assert_eq!(result.details["stage"], "dataset");

    // What `server_error_response` answers when the embedding model fails: code 100, the
    // exception's repr, and a message echoing the key the model server was called with.
    let failure = format!("Exception('**ERROR**: Embedding model failed with key {API_KEY}')");
    ragflow.fail_retrieval(Some((100, &failure)));
    let toml = canary(&ragflow.url(), &dataset, "");
    let result = probe(&toml).await;
    assert_eq!(result.status, Status::Red, "{result:?}");
    assert_eq!(
        result.error.as_deref(),
        Some(
            "retrieval failed: RAGFlow answered code 100: Exception('**ERROR**: Embedding model failed with key ***')"
        )
    );
    assert_eq!(result.details["stage"], "retrieval");
    assert_eq!(result.details["code"], 100);

    // Nor through the API.
    let app = TestApp::start_unscheduled(&toml).await;
    app.get_json("/v1/system/healthz?fresh=1").await;
    let (status, body) = app.get_json("/api/v1/components/canary.handbook").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "red", "{body}");
    assert!(!body.to_string().contains(API_KEY), "{body}");
}

#[tokio::test]
async fn a_canary_whose_api_server_is_down_is_unknown_with_that_cause() {
    let (ragflow, dataset) = handbook().await;
    // No url of its own: it asks [ragflow]'s server, and depends on it.
    let toml = format!(
        "{}[ragflow]\nurl = \"{}\"\n[[canaries]]\nname = \"handbook\"\nkind = \"retrieval\"\n\
         api_key = \"{API_KEY}\"\ndataset_ids = [\"{dataset}\"]\nquestion = \"refund period\"\n",
        only("none"),
        ragflow.url()
    );
    let app = TestApp::start_unscheduled(&toml).await;
    let component = || async {
        app.get_json("/v1/system/healthz?fresh=1").await;
        let (_, body) = app.get_json("/api/v1/components/canary.handbook").await;
        body
    };
    let body = component().await;
    assert_eq!(body["status"], "green", "{body}");
    assert_eq!(body["depends_on"], json!(["ragflow"]), "{body}");

    ragflow.stop();
    let body = component().await;
    assert_eq!(body["status"], "unknown", "{body}");
    assert_eq!(body["cause"], "ragflow is down", "{body}");
    let (_, _, readyz) = app.get("/readyz?verbose").await;
    assert!(
        readyz.contains("[-]canary.handbook unknown (not required): ragflow is down"),
        "{readyz}"
    );
    let (_, healthz) = app.get_json("/v1/system/healthz").await;
    assert!(healthz.get("canary.handbook").is_none(), "{healthz}");
}

#[tokio::test]
async fn metrics_carry_the_retrieval_time() {
    let (ragflow, dataset) = handbook().await;
    let app = TestApp::start_unscheduled(&canary(&ragflow.url(), &dataset, "")).await;
    app.get_json("/v1/system/healthz?fresh=1").await;
    let (_, _, metrics) = app.get("/metrics").await;
    assert!(
        metrics.contains("ragwatch_canary_stage_seconds{canary=\"handbook\",stage=\"retrieval\"} "),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_answer_that_is_not_ragflow_s_is_red_and_says_so() {
    // A reverse proxy in front of a stopped API server.
    let proxy = common::FixtureServer::start([(
        "POST",
        "/api/v1/retrieval",
        common::FixtureResponse::new(502, "<html><body>502 Bad Gateway</body></html>"),
    )])
    .await;
    let result = probe(&canary(&proxy.url(), "b2a6", "")).await;
    assert_eq!(result.status, Status::Red, "{result:?}");
    assert_eq!(
        result.error.as_deref(),
        Some(
            format!(
                "unexpected answer from 127.0.0.1:{}: POST /api/v1/retrieval answered HTTP 502 without RAGFlow's JSON envelope: is url RAGFlow's API server?",
                proxy.port()
            )
            .as_str()
        )
    );
}

/// `ragwatch check` runs the canary with the other components: a required canary refused
/// its key fails the check (exit 1) and says why, in the table and the JSON.
#[tokio::test]
async fn check_runs_the_canary_and_fails_on_a_required_one() {
    let (ragflow, dataset) = handbook().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ragwatch.toml");
    // The stand-in runs on this test's runtime: the command is awaited, never blocked on.
    let run = async |config: String| {
        std::fs::write(&file, config).unwrap();
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ragwatch"))
            .args(["check", "--json", "--config", file.to_str().unwrap()])
            .env_remove("RAGWATCH_CONFIG")
            .output()
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
        (output.status.code(), json)
    };
    let (code, json) = run(canary(&ragflow.url(), &dataset, "required = true\n")).await;
    assert_eq!(code, Some(0), "{json}");
    let wrong = canary(&ragflow.url(), &dataset, "required = true\n")
        .replace(API_KEY, "ragflow-not-the-key");
    let (code, json) = run(wrong).await;
    assert_eq!(code, Some(1), "{json}");
    let text = json.to_string();
    assert!(text.contains("canary.handbook"), "{text}");
    assert!(
        text.contains("authentication failed: RAGFlow refused the API key"),
        "{text}"
    );
    assert!(!text.contains("ragflow-not-the-key"), "{text}");
}

/// A canary red on its own (RAGFlow's own error) fires an alert like any component, and
/// resolves.
#[tokio::test]
async fn a_failing_canary_fires_an_alert_and_resolves() {
    let (ragflow, dataset) = handbook().await;
    let hook =
        common::FixtureServer::start([("POST", "/hook", common::FixtureResponse::new(200, "ok"))])
            .await;
    let toml = format!(
        "{}[alerts]\nfailure_threshold = 1\nsuccess_threshold = 1\n[[alerts.webhook]]\nurl = \"{}/hook\"\n",
        canary(
            &ragflow.url(),
            &dataset,
            "expect_document = \"refund-policy.pdf\"\n"
        ),
        hook.url()
    );
    let app = TestApp::start_unscheduled(&toml).await;
    let fired = |count: usize| {
        let hook = &hook;
        async move {
            common::wait_until("the webhook hears of the canary", || async {
                let bodies: Vec<serde_json::Value> = hook
                    .requests_to("/hook")
                    .iter()
                    .map(|r| serde_json::from_slice(&r.body).unwrap())
                    .collect();
                (bodies.len() >= count)
                    .then_some(bodies.clone())
                    .ok_or(format!("{bodies:?}"))
            })
            .await
        }
    };
    app.get_json("/v1/system/healthz?fresh=1").await;
    let (_, body) = app.get_json("/api/v1/components/canary.handbook").await;
    assert_eq!(body["status"], "green", "{body}");
    // RAGFlow's embedding model fails: the canary is red and fires.
    ragflow.fail_retrieval(Some((100, "Embedding model not found")));
    app.get_json("/v1/system/healthz?fresh=1").await;
    let bodies = fired(1).await;
    assert_eq!(bodies[0]["component"], "canary.handbook", "{bodies:?}");
    assert_eq!(bodies[0]["state"], "firing", "{bodies:?}");
    assert!(
        bodies[0]["error"]
            .as_str()
            .unwrap()
            .contains("Embedding model not found"),
        "{bodies:?}"
    );
    ragflow.fail_retrieval(None);
    app.get_json("/v1/system/healthz?fresh=1").await;
    let bodies = fired(2).await;
    assert_eq!(bodies[1]["state"], "resolved", "{bodies:?}");
}
