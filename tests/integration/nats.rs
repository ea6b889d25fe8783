//! The `[message_queue]` probe of kind `nats` against the machine's NATS (with JetStream) and
//! our own `nats-server` instances.

use crate::common;

use common::app::{TestApp, only, probe_only};
use common::{
    FaultProxy, FixtureResponse, FixtureServer, NatsInstance, NatsOptions, S3Server, free_port,
};
use ragwatch::probe::{ProbeResult, Status};

const SHARED_NATS: &str = "nats://127.0.0.1:4222";

/// Probes `[message_queue]` of kind `nats` alone; `url` is left out when empty (the default
/// applies), `extra` lands in the section (a 2 s timeout unless it sets one).
async fn probe(url: &str, extra: &str) -> ProbeResult {
    let url = if url.is_empty() {
        String::new()
    } else {
        format!("url = \"{url}\"\n")
    };
    let timeout = if extra.contains("timeout") {
        ""
    } else {
        "timeout = \"2s\"\n"
    };
    probe_only(&format!(
        "{}[message_queue]\nkind = \"nats\"\n{url}{timeout}{extra}",
        only("message_queue")
    ))
    .await
}

fn number(result: &ProbeResult, pointer: &str) -> u64 {
    let details = serde_json::Value::Object(result.details.clone());
    details
        .pointer(pointer)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} is not a number in {details}"))
}

#[tokio::test]
async fn the_machines_nats_is_green_with_server_and_jetstream_details() {
    for (name, url) in [("explicit url", SHARED_NATS), ("default url", "")] {
        let result = probe(url, "").await;
        assert_eq!(result.status, Status::Green, "{name}: {:?}", result.error);
        assert_eq!(result.error, None, "{name}");
        let version = result.details["version"].as_str().unwrap();
        assert!(
            version.split('.').count() == 3 && version.starts_with("2."),
            "{name}: version {version}"
        );
        let server_id = result.details["server_id"].as_str().unwrap();
        assert!(server_id.starts_with('N'), "{name}: server_id {server_id}");
        assert!(!result.details["server_name"].as_str().unwrap().is_empty());
        assert!(number(&result, "/max_payload") > 0, "{name}");
        let jetstream = result.details["jetstream"].as_object().unwrap();
        let keys: Vec<&str> = jetstream.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["streams", "consumers", "memory_bytes", "storage_bytes"],
            "{name}"
        );
        assert!(jetstream.values().all(serde_json::Value::is_u64), "{name}");
    }
}

#[tokio::test]
async fn jetstream_details_count_the_accounts_streams_and_consumers() {
    let server = NatsInstance::start(NatsOptions {
        jetstream: true,
        ..NatsOptions::default()
    })
    .await;
    let result = probe(&server.url(), "").await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(result.details["version"], server.version());
    assert_eq!(number(&result, "/max_payload"), 1024 * 1024);
    assert_eq!(number(&result, "/jetstream/streams"), 0);
    assert_eq!(number(&result, "/jetstream/consumers"), 0);

    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    for name in ["tasks", "results"] {
        js.create_stream(async_nats::jetstream::stream::Config {
            name: name.into(),
            subjects: vec![format!("{name}.>")],
            ..Default::default()
        })
        .await
        .unwrap();
    }
    js.publish("tasks.parse", "one".into())
        .await
        .unwrap()
        .await
        .unwrap();
    js.get_stream("tasks")
        .await
        .unwrap()
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("executors".into()),
            ..Default::default()
        })
        .await
        .unwrap();

    let result = probe(&server.url(), "").await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(number(&result, "/jetstream/streams"), 2);
    assert_eq!(number(&result, "/jetstream/consumers"), 1);
    assert!(number(&result, "/jetstream/storage_bytes") > 0);
    assert_eq!(number(&result, "/jetstream/memory_bytes"), 0);
}

#[tokio::test]
async fn credentials_in_the_url_log_in() {
    let server = NatsInstance::start(NatsOptions {
        credentials: Some(("u".into(), "p-secret".into())),
        jetstream: true,
    })
    .await;
    let result = probe(&server.url_with("u", "p-secret"), "").await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(number(&result, "/jetstream/streams"), 0);
}

#[tokio::test]
async fn failures_say_what_to_fix() {
    let server = NatsInstance::start(NatsOptions {
        credentials: Some(("u".into(), "p-secret".into())),
        jetstream: false,
    })
    .await;
    let closed = free_port();
    let cases = [
        (
            "refused",
            format!("nats://127.0.0.1:{closed}"),
            format!("connection refused to 127.0.0.1:{closed}"),
        ),
        (
            "wrong password",
            server.url_with("u", "wrong-secret"),
            "authentication failed for user u".to_owned(),
        ),
        (
            "unknown user",
            server.url_with("nobody", "p-secret"),
            "authentication failed for user nobody".to_owned(),
        ),
        (
            "no credentials",
            server.url(),
            "authentication failed for user (none)".to_owned(),
        ),
    ];
    for (name, url, expected) in cases {
        let result = probe(&url, "").await;
        assert_eq!(result.status, Status::Red, "{name}");
        let error = result.error.unwrap();
        assert!(error.starts_with(&expected), "{name}: {error}");
        assert!(!error.contains("secret"), "{name}: password shown: {error}");
        assert!(result.details.is_empty(), "{name}: {:?}", result.details);
    }
}

#[tokio::test]
async fn a_server_without_jetstream_is_yellow_only_when_jetstream_is_asked_for() {
    let plain = NatsInstance::start(NatsOptions::default()).await;
    let with_js = NatsInstance::start(NatsOptions {
        jetstream: true,
        ..NatsOptions::default()
    })
    .await;
    let cases = [
        ("no JetStream, asked for", &plain, "", Status::Yellow, false),
        (
            "no JetStream, explicitly asked for",
            &plain,
            "jetstream = true\n",
            Status::Yellow,
            false,
        ),
        (
            "no JetStream, not asked for",
            &plain,
            "jetstream = false\n",
            Status::Green,
            false,
        ),
        (
            "JetStream, not asked for",
            &with_js,
            "jetstream = false\n",
            Status::Green,
            false,
        ),
        ("JetStream, asked for", &with_js, "", Status::Green, true),
    ];
    for (name, server, extra, status, has_jetstream) in cases {
        let result = probe(&server.url(), extra).await;
        assert_eq!(result.status, status, "{name}: {:?}", result.error);
        match status {
            Status::Yellow => {
                let error = result.error.as_deref().unwrap();
                assert!(
                    error.starts_with("JetStream account unavailable"),
                    "{name}: {error}"
                );
            }
            _ => assert_eq!(result.error, None, "{name}"),
        }
        assert_eq!(
            result.details.contains_key("jetstream"),
            has_jetstream,
            "{name}: {:?}",
            result.details
        );
        // The server facts are there either way.
        assert_eq!(result.details["version"], server.version(), "{name}");
    }
}

#[tokio::test]
async fn a_black_hole_is_bounded_by_the_timeout() {
    let hole = FaultProxy::black_hole().await;
    let url = format!("nats://{}", hole.host_port());
    for timeout_ms in [300u64, 700] {
        let result = probe(&url, &format!("timeout = \"{timeout_ms}ms\"\n")).await;
        assert_eq!(result.status, Status::Red);
        assert_eq!(
            result.error.as_deref(),
            Some(format!("timed out after {timeout_ms} ms").as_str())
        );
        let elapsed = result.elapsed_ms;
        assert!(
            elapsed >= timeout_ms as f64 && elapsed < (timeout_ms + 2500) as f64,
            "{timeout_ms} ms timeout took {elapsed} ms"
        );
    }
    assert!(hole.accepted() >= 2, "the probes never reached the proxy");
}

#[tokio::test]
async fn a_killed_and_restarted_server_is_reconnected() {
    let mut server = NatsInstance::start(NatsOptions {
        jetstream: true,
        ..NatsOptions::default()
    })
    .await;
    let toml = format!(
        "{}[message_queue]\nurl = \"{}\"\ntimeout = \"2s\"\n",
        only("message_queue"),
        server.url()
    );
    let app = TestApp::start_unscheduled(&toml).await;
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"message_queue": "ok", "status": "ok"})
    );

    server.kill();
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["message_queue"], "nok", "{body}");
    let error = body["_meta"]["message_queue"]["error"].as_str().unwrap();
    let refused = format!("connection refused to 127.0.0.1:{}", server.port());
    assert!(
        error == refused || error == "timed out after 2000 ms",
        "unexpected error: {error}"
    );

    server.start_again().await;
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"message_queue": "ok", "status": "ok"})
    );
}

/// All four stock components working (the machine's MariaDB and Redis, a recorded green
/// Elasticsearch, an S3 server) plus `message_queue` at `nats_url`.
async fn healthz_body(nats_url: Option<&str>) -> (u16, String) {
    let es = FixtureServer::start([(
        "GET",
        "/_cluster/health",
        FixtureResponse::from_fixture(200, "elasticsearch/netdata/v8.4.2/cluster_health.json"),
    )])
    .await;
    let s3 = S3Server::start("ragwatch", "ragwatch-secret-key", &["ragflow"]).await;
    let queue = nats_url
        .map(|url| format!("[message_queue]\nkind = \"nats\"\nurl = \"{url}\"\n"))
        .unwrap_or_default();
    let toml = format!(
        "[monitor]\ninterval = \"1h\"\ntimeout = \"2s\"\n\
         [db]\nurl = \"mysql://root@127.0.0.1:3306/mysql\"\n\
         [redis]\nurl = \"redis://127.0.0.1:6379/1\"\n\
         [doc_engine]\nurl = \"{es}\"\n\
         [task_executors]\nenabled = false\n\
         [storage]\nendpoint = \"{s3}\"\naccess_key = \"ragwatch\"\n\
         secret_key = \"ragwatch-secret-key\"\nbucket = \"ragflow\"\n{queue}",
        es = es.url(),
        s3 = s3.endpoint(),
    );
    let app = TestApp::start_unscheduled(&toml).await;
    let (status, _, body) = app.get("/v1/system/healthz?fresh=1").await;
    (status, body)
}

#[tokio::test]
async fn healthz_lists_message_queue_after_storage_only_when_configured() {
    let closed = free_port();
    let refused = format!("nats://127.0.0.1:{closed}");
    let cases = [
        (
            "not configured",
            None,
            200,
            r#"{"db":"ok","redis":"ok","doc_engine":"ok","storage":"ok","status":"ok"}"#
                .to_owned(),
        ),
        (
            "working",
            Some(SHARED_NATS),
            200,
            r#"{"db":"ok","redis":"ok","doc_engine":"ok","storage":"ok","message_queue":"ok","status":"ok"}"#
                .to_owned(),
        ),
        (
            "refused",
            Some(refused.as_str()),
            500,
            format!(
                r#"{{"db":"ok","redis":"ok","doc_engine":"ok","storage":"ok","message_queue":"nok","status":"nok","_meta":{{"message_queue":{{"elapsed":"ELAPSED","error":"connection refused to 127.0.0.1:{closed}"}}}}}}"#
            ),
        ),
    ];
    for (name, url, expected_status, expected_body) in cases {
        let (status, body) = healthz_body(url).await;
        assert_eq!(status, expected_status, "{name}: {body}");
        // The elapsed time is the one thing not known in advance.
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let body = match json["_meta"]["message_queue"]["elapsed"].as_str() {
            Some(elapsed) => {
                let (whole, fraction) = elapsed.split_once('.').expect("one decimal");
                assert!(
                    whole.parse::<u64>().is_ok() && fraction.len() == 1,
                    "{elapsed}"
                );
                body.replace(
                    &format!(r#""elapsed":"{elapsed}""#),
                    r#""elapsed":"ELAPSED""#,
                )
            }
            None => body,
        };
        assert_eq!(body, expected_body, "{name}");
    }
}
