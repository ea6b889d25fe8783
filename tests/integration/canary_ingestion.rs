//! `[[canaries]]` of kind `ingestion`, against the stand-in of RAGFlow's API server
//! ([`RagflowServer`]) with real document state: the green path timed stage by stage, each
//! stage failing and named, and the canary's document deleted every time, with the leftovers
//! of earlier runs and never another document.

use crate::common;

use common::app::{only, probe_once};
use common::ragflow_server::{ParseFault, RagflowServer, UNAUTHORIZED_MESSAGE};
use ragwatch::probe::{ProbeResult, Status};

const API_KEY: &str = "ragflow-ingestion-key-81d0";

/// A server with one dataset holding a document of its own. Returns it and the dataset's id.
async fn kept_dataset() -> (RagflowServer, String) {
    let ragflow = RagflowServer::start(API_KEY).await;
    let dataset = ragflow.create_dataset();
    ragflow.add_parsed_document(&dataset, "handbook.pdf", &["Refunds within 30 days."]);
    (ragflow, dataset)
}

fn canary(ragflow: &RagflowServer, dataset: &str) -> String {
    format!(
        "{}[[canaries]]\nname = \"ingest\"\nkind = \"ingestion\"\nurl = \"{}\"\n\
         api_key = \"{API_KEY}\"\ndataset_id = \"{dataset}\"\npoll_interval = \"100ms\"\n\
         interval = \"1m\"\ntimeout = \"3s\"\n",
        only("none"),
        ragflow.url()
    )
}

async fn probe(toml: &str) -> ProbeResult {
    let mut results = probe_once(toml).await;
    assert_eq!(results.len(), 1, "one canary watched");
    let (key, result) = results.remove(0);
    assert_eq!(key, "canary.ingest");
    assert!(
        !format!("{result:?}").contains(API_KEY),
        "the key is never shown"
    );
    result
}

#[tokio::test]
async fn a_document_is_uploaded_parsed_found_and_deleted_with_earlier_leftovers() {
    let (ragflow, dataset) = kept_dataset().await;
    // An earlier run cancelled mid-way, and someone's copy of one: only the first is this
    // canary's to delete.
    ragflow.add_parsed_document(&dataset, "ragwatch-canary-ingest-1a2b.txt", &["old"]);
    ragflow.add_parsed_document(
        &dataset,
        "copy-of-ragwatch-canary-ingest-3c4d.txt",
        &["other"],
    );

    let result = probe(&canary(&ragflow, &dataset)).await;
    assert_eq!(result.status, Status::Green, "{result:?}");
    for stage in ["upload_ms", "queue_ms", "parsing_ms", "retrievable_ms"] {
        assert!(result.details[stage].is_u64(), "{stage}: {result:?}");
    }
    assert_eq!(result.details["leftovers_deleted"], 1);
    assert_eq!(
        ragflow.document_names(&dataset),
        ["handbook.pdf", "copy-of-ragwatch-canary-ingest-3c4d.txt"]
    );
    let requests = ragflow.requests();
    let path = format!("/api/v1/datasets/{dataset}");
    assert_eq!(requests[0], format!("GET {path}/documents"));
    assert_eq!(requests[1], format!("DELETE {path}/documents"));
    assert_eq!(requests[2], format!("POST {path}/documents"));
    assert_eq!(requests[3], format!("POST {path}/chunks"));
    assert!(requests.contains(&"POST /api/v1/retrieval".to_owned()));
    assert_eq!(
        requests.last().unwrap(),
        &format!("DELETE {path}/documents")
    );
}

#[tokio::test]
async fn each_failing_stage_is_named_and_the_document_is_deleted() {
    let (ragflow, dataset) = kept_dataset().await;
    let toml = canary(&ragflow, &dataset);
    for (case, fault, stage, expected) in [
        (
            "parse fails",
            ParseFault::Fails("Fail to parse: No module named 'deepdoc'".into()),
            "parsing",
            "parsing failed: [ERROR]Fail to parse: No module named 'deepdoc'",
        ),
        (
            "never taken",
            ParseFault::NeverStarts,
            "queue",
            "queued for ",
        ),
        (
            "never indexed",
            ParseFault::NotIndexed,
            "retrievable",
            "parsed but not retrievable: the document's sentence was not found in ",
        ),
    ] {
        ragflow.fail_parse(fault);
        let result = probe(&toml).await;
        assert_eq!(result.status, Status::Red, "{case}: {result:?}");
        assert_eq!(result.details["stage"], stage, "{case}: {result:?}");
        let error = result.error.unwrap();
        assert!(error.starts_with(expected), "{case}: {error}");
        if case == "never taken" {
            assert!(error.ends_with(": no executor took the task"), "{error}");
        }
        assert_eq!(
            ragflow.document_names(&dataset),
            ["handbook.pdf"],
            "{case}: cleaned up"
        );
    }
}

#[tokio::test]
async fn a_refused_upload_or_key_is_named_and_leaves_nothing() {
    let (ragflow, dataset) = kept_dataset().await;
    ragflow.fail_upload(Some((100, "Exception('MinIO is not reachable')")));
    let result = probe(&canary(&ragflow, &dataset)).await;
    assert_eq!(result.status, Status::Red, "{result:?}");
    assert_eq!(
        result.error.as_deref(),
        Some("upload failed: RAGFlow answered code 100: Exception('MinIO is not reachable')")
    );
    assert_eq!(result.details["stage"], "upload");
    assert_eq!(ragflow.document_names(&dataset), ["handbook.pdf"]);

    let wrong_key = canary(&ragflow, &dataset).replace(API_KEY, "ragflow-not-the-key");
    let result = probe(&wrong_key).await;
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
    assert_eq!(ragflow.document_names(&dataset), ["handbook.pdf"]);
}

#[tokio::test]
async fn an_ingestion_canary_depends_on_the_api_server_and_the_executors() {
    let (ragflow, dataset) = kept_dataset().await;
    // Without a url of its own it asks [ragflow]'s server.
    let toml = format!(
        "{}[ragflow]\nurl = \"{}\"\n[[canaries]]\nname = \"ingest\"\nkind = \"ingestion\"\n\
         api_key = \"{API_KEY}\"\ndataset_id = \"{dataset}\"\n",
        only("task_executors"),
        ragflow.url()
    );
    let app = common::app::TestApp::start_unscheduled(&toml).await;
    let (_, body) = app.get_json("/api/v1/components/canary.ingest").await;
    assert_eq!(
        body["depends_on"],
        serde_json::json!(["ragflow", "task_executors"]),
        "{body}"
    );
}

#[tokio::test]
async fn metrics_carry_each_stage_of_the_latest_run() {
    let (ragflow, dataset) = kept_dataset().await;
    let app = common::app::TestApp::start_unscheduled(&canary(&ragflow, &dataset)).await;
    app.get_json("/v1/system/healthz?fresh=1").await;
    let (status, _, metrics) = app.get("/metrics").await;
    assert_eq!(status, 200);
    for stage in ["upload", "queue", "parsing", "retrievable"] {
        let series =
            format!("ragwatch_canary_stage_seconds{{canary=\"ingest\",stage=\"{stage}\"}} ");
        assert!(metrics.contains(&series), "{series}\n{metrics}");
    }
    assert!(
        metrics.contains("ragwatch_probes_total{component=\"canary.ingest\",kind=\"ingestion\"} 1"),
        "{metrics}"
    );
}
