//! The Elasticsearch/OpenSearch probe against real recorded responses served over HTTP:
//! every fixture's colour, the error shapes of both products, basic auth on the wire, and
//! a cluster configured as OpenSearch answering with OpenSearch's own recorded responses.

use crate::common;

use common::app::{TestApp, only, probe_only};
use common::{FaultProxy, FixtureResponse, FixtureServer, basic_auth_header};
use ragwatch::probe::Status;

async fn probe(es: &FixtureServer, section: &str) -> ragwatch::probe::ProbeResult {
    let config = format!(
        "{}[monitor]\ntimeout = \"2s\"\n[doc_engine]\nurl = \"{}\"\n{section}",
        only("doc_engine"),
        es.url()
    );
    probe_only(&config).await
}

async fn serving(status: u16, fixture: &str) -> FixtureServer {
    FixtureServer::start([(
        "GET",
        "/_cluster/health",
        FixtureResponse::from_fixture(status, fixture),
    )])
    .await
}

#[tokio::test]
async fn every_recorded_cluster_health_maps_to_its_colour() {
    let cases = [
        (
            "es 1.7.6",
            "elasticsearch/clusterhealth/1.7.6.json",
            Status::Yellow,
        ),
        (
            "es 2.4.5",
            "elasticsearch/clusterhealth/2.4.5.json",
            Status::Yellow,
        ),
        (
            "es 5.4.2",
            "elasticsearch/clusterhealth/5.4.2.json",
            Status::Yellow,
        ),
        (
            "es 5.6.16",
            "elasticsearch/clusterhealth/5.6.16.json",
            Status::Yellow,
        ),
        (
            "es 6.5.4",
            "elasticsearch/clusterhealth/6.5.4.json",
            Status::Yellow,
        ),
        (
            "es 6.8.8",
            "elasticsearch/clusterhealth/6.8.8.json",
            Status::Yellow,
        ),
        (
            "es 7.13.1",
            "elasticsearch/clusterhealth/7.13.1.json",
            Status::Yellow,
        ),
        (
            "es 7.9.0 green",
            "elasticsearch/netdata/v7.9.0/cluster_health.json",
            Status::Green,
        ),
        (
            "es 8.4.2 green",
            "elasticsearch/netdata/v8.4.2/cluster_health.json",
            Status::Green,
        ),
        (
            "es 8.x red",
            "elasticsearch/transcribed/cluster_health_red_8x_single_node.json",
            Status::Red,
        ),
        (
            "es red 3 nodes",
            "elasticsearch/transcribed/cluster_health_red_3node.json",
            Status::Red,
        ),
        (
            "opensearch 2.5.0 green",
            "opensearch/cluster_health_2.5.0_4node_green.json",
            Status::Green,
        ),
        (
            "opensearch 1.x docs",
            "opensearch/cluster_health_docs_example_1x.json",
            Status::Green,
        ),
    ];
    for (name, fixture, expected) in cases {
        let es = serving(200, fixture).await;
        let result = probe(&es, "").await;
        assert_eq!(result.status, expected, "{name}: {:?}", result.error);
        let recorded: serde_json::Value =
            serde_json::from_str(&common::fixture_str(fixture)).unwrap();
        assert_eq!(
            result.details["cluster_name"], recorded["cluster_name"],
            "{name}: details carry the health fields"
        );
        assert_eq!(
            result.details["number_of_nodes"], recorded["number_of_nodes"],
            "{name}"
        );
        assert_eq!(result.error.is_none(), expected == Status::Green, "{name}");
    }
}

#[tokio::test]
async fn colour_problems_are_explained() {
    let es = serving(
        200,
        "elasticsearch/transcribed/cluster_health_red_3node.json",
    )
    .await;
    let result = probe(&es, "").await;
    assert_eq!(
        result.error.as_deref(),
        Some("cluster status is red: 996 shards unassigned")
    );
    let es = serving(200, "elasticsearch/clusterhealth/7.13.1.json").await;
    let result = probe(&es, "").await;
    let unassigned = result.details["unassigned_shards"].as_u64().unwrap();
    assert_eq!(
        result.error.unwrap(),
        format!(
            "cluster status is yellow: {unassigned} replica shard{} unassigned",
            if unassigned == 1 { "" } else { "s" }
        )
    );
}

#[tokio::test]
async fn a_health_wait_that_timed_out_answers_408_and_still_counts() {
    let fixture = "elasticsearch/clusterhealth/7.13.1.json";
    let body = common::fixture_str(fixture).replace("\"timed_out\": false", "\"timed_out\": true");
    assert!(
        body.contains("\"timed_out\": true"),
        "fixture shape changed"
    );
    let es =
        FixtureServer::start([("GET", "/_cluster/health", FixtureResponse::json(408, body))]).await;
    let result = probe(&es, "").await;
    assert_eq!(result.status, Status::Yellow);
    assert!(
        result
            .error
            .unwrap()
            .ends_with("(the health request timed out)")
    );
}

#[tokio::test]
async fn error_answers_become_actionable_messages() {
    let cases = [
        (
            "es 8 wrong password",
            FixtureResponse::from_fixture(
                401,
                "elasticsearch/transcribed/error_401_wrong_password_8x.json",
            ),
            "authentication failed for user elastic (unable to authenticate user [elastic] for REST request [/_cat/nodes])",
        ),
        (
            "es 7 missing credentials",
            FixtureResponse::from_fixture(
                401,
                "elasticsearch/transcribed/error_401_missing_credentials_7x.json",
            ),
            "authentication failed for user elastic (missing authentication credentials for REST request [/_cluster/health/])",
        ),
        (
            "opensearch plain-text 401",
            FixtureResponse::new(
                401,
                common::fixture("opensearch/error_401_unauthorized_body.txt"),
            )
            .with_header("WWW-Authenticate", "Basic realm=\"OpenSearch Security\""),
            "authentication failed for user elastic (Unauthorized)",
        ),
        (
            "no master",
            FixtureResponse::from_fixture(
                503,
                "elasticsearch/transcribed/error_503_master_not_discovered.json",
            ),
            "cluster has no elected master (master_not_discovered_exception)",
        ),
        (
            "no monitor privilege",
            FixtureResponse::from_fixture(
                403,
                "elasticsearch/transcribed/error_403_cluster_monitor_health_unauthorized.json",
            ),
            "user elastic may not read cluster health (it needs the `monitor` privilege): \
             action [cluster:monitor/health] is unauthorized for user [adm]",
        ),
        (
            "not json",
            FixtureResponse::new(200, "<html>proxy login</html>"),
            "unexpected answer from 127.0.0.1:PORT: the cluster health answer is not a JSON object",
        ),
    ];
    for (name, response, expected) in cases {
        let es = FixtureServer::start([("GET", "/_cluster/health", response)]).await;
        let result = probe(&es, "").await;
        assert_eq!(result.status, Status::Red, "{name}");
        let error = result.error.unwrap();
        let expected = expected.replace("PORT", &es.port().to_string());
        assert!(error.starts_with(&expected), "{name}: {error}");
    }
}

#[tokio::test]
async fn credentials_go_in_the_authorization_header() {
    let es = serving(200, "elasticsearch/netdata/v8.4.2/cluster_health.json").await;
    probe(&es, "username = \"elastic\"\npassword = \"s3cret-es\"\n").await;
    let seen = es.requests_to("/_cluster/health");
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("authorization"),
        Some(basic_auth_header("elastic", "s3cret-es").as_str())
    );
    // An empty username sends no credentials, and a 401 then says what to configure.
    let es = FixtureServer::start([(
        "GET",
        "/_cluster/health",
        FixtureResponse::from_fixture(
            401,
            "elasticsearch/transcribed/error_401_missing_credentials_7x.json",
        ),
    )])
    .await;
    let result = probe(&es, "username = \"\"\n").await;
    assert_eq!(
        es.requests_to("/_cluster/health")[0].header("authorization"),
        None
    );
    assert_eq!(
        result.error.as_deref(),
        Some(
            "the cluster requires authentication: set doc_engine.username and doc_engine.password"
        )
    );
}

#[tokio::test]
async fn a_cluster_that_never_answers_is_bounded_by_the_timeout() {
    let hole = FaultProxy::black_hole().await;
    let config = format!(
        "{}[doc_engine]\nurl = \"http://{}\"\ntimeout = \"700ms\"\n",
        only("doc_engine"),
        hole.host_port()
    );
    let started = std::time::Instant::now();
    let result = probe_only(&config).await;
    assert_eq!(result.error.as_deref(), Some("timed out after 700 ms"));
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn opensearch_is_probed_from_its_recorded_answers() {
    let green = "opensearch/cluster_health_2.5.0_4node_green.json";
    let cluster = serving(200, green).await;
    let app = TestApp::start_unscheduled(&format!(
        "{}[monitor]\ntimeout = \"2s\"\n[doc_engine]\nkind = \"opensearch\"\nurl = \"{}\"\n\
         username = \"admin\"\npassword = \"os-Pw-9\"\n[history]\nenabled = false\n",
        only("doc_engine"),
        cluster.url()
    ))
    .await;
    let (status, body) = app.get_json("/v1/system/status").await;
    assert_eq!(status, 200, "{body}");
    let doc_engine = &body["data"]["doc_engine"];
    assert_eq!(doc_engine["type"], "opensearch", "{body}");
    assert_eq!(doc_engine["status"], "green", "{body}");
    let recorded: serde_json::Value = serde_json::from_str(&common::fixture_str(green)).unwrap();
    for field in [
        "cluster_name",
        "discovered_cluster_manager",
        "number_of_nodes",
    ] {
        assert_eq!(doc_engine[field], recorded[field], "{field}");
    }
    assert_eq!(
        cluster.requests_to("/_cluster/health")[0].header("authorization"),
        Some(basic_auth_header("admin", "os-Pw-9").as_str())
    );

    // A wrong password: OpenSearch's security plugin answers in plain text.
    cluster.set_route(
        "GET",
        "/_cluster/health",
        FixtureResponse::new(
            401,
            common::fixture("opensearch/error_401_unauthorized_body.txt"),
        )
        .with_header("WWW-Authenticate", "Basic realm=\"OpenSearch Security\""),
    );
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body["_meta"]["doc_engine"]["error"], "authentication failed for user admin (Unauthorized)",
        "{body}"
    );
}

/// An HTTP server whose every answer is 200 with a body of `size` bytes of JSON whitespace,
/// streamed as fast as the client reads: a document engine gone mad. The length is
/// declared, or not (the body then ends when the connection closes).
async fn endless_server(size: u64, declared: bool) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let length = if declared {
                    format!("content-length: {size}")
                } else {
                    "connection: close".to_owned()
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{length}\r\n\r\n"
                );
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                let mut sent = 0u64;
                while sent < size {
                    let n = chunk.len().min((size - sent) as usize);
                    if socket.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    sent += n as u64;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_endless_answer_is_cut_at_a_mebibyte_within_the_timeout() {
    for declared in [true, false] {
        let addr = endless_server(2 * 1024 * 1024 * 1024, declared).await;
        let config = format!(
            "{}[monitor]\ntimeout = \"1s\"\n[doc_engine]\nurl = \"http://{addr}\"\n",
            only("doc_engine"),
        );
        let started = std::time::Instant::now();
        let result = probe_only(&config).await;
        let took = started.elapsed();
        assert_eq!(result.status, Status::Red, "{result:?}");
        let error = result.error.as_deref().unwrap_or_default();
        assert!(
            error.contains("response too large (over 1 MiB)"),
            "length declared {declared}: {error}"
        );
        assert!(result.elapsed_ms < 1000.0, "{} ms", result.elapsed_ms);
        assert!(took < std::time::Duration::from_millis(2500), "{took:?}");
    }
}
