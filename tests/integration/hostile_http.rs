//! The HTTP server under hostile or careless clients: idle and half-sent connections beyond
//! the open-files limit starve neither healthz nor the probes, slow headers and idle
//! keep-alive connections are closed, the bearer scheme is case-insensitive, readyz lines
//! stay one line each and short whatever executors are named, and every rejection is JSON,
//! even of a path that is not UTF-8.

use crate::common;

use std::time::{Duration, Instant};

use common::app::TestApp;
use common::ragflow::{Beat, redis, unix_now};
use common::served::{Served, get};
use common::{FaultProxy, ProxyMode, RedisInstance, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The open-files limit the server runs under, and the idle connections sent at it.
const FILES: usize = 256;
const IDLE: usize = 320;

/// Redis (at `redis`) alone, history in `dir`, `monitor` as the `[monitor]` section.
fn redis_only(dir: &std::path::Path, port: u16, redis: &str, monitor: &str) -> std::path::PathBuf {
    let config = dir.join("ragwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [monitor]\n{monitor}\n\
             [db]\nenabled = false\n[redis]\nurl = \"redis://{redis}/1\"\n\
             [doc_engine]\nenabled = false\n[storage]\nenabled = false\n\
             [task_executors]\nenabled = false\n\
             [history]\nurl = \"sqlite://{}/history.db\"\n",
            dir.display()
        ),
    )
    .unwrap();
    config
}

#[tokio::test]
async fn idle_connections_beyond_the_file_limit_starve_neither_healthz_nor_probes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = redis_only(
        dir.path(),
        port,
        "127.0.0.1:6379",
        "interval = \"1s\"\ntimeout = \"1s\"",
    );
    let server = Served::start(&config, port, FILES).await;

    let mut idle = Vec::new();
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    // Several rounds of probes while the idle connections are open.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let (status, body) = get(port, "/v1/system/healthz", Duration::from_secs(5))
        .await
        .expect("a new client is answered");
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"redis":"ok","status":"ok"}"#)
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "healthz took {:?}",
        started.elapsed()
    );
    let (status, incidents) = get(port, "/api/v1/incidents", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(status, 200, "{incidents}");
    let incidents: serde_json::Value = serde_json::from_str(&incidents).unwrap();
    assert_eq!(
        incidents["incidents"],
        serde_json::json!([]),
        "no false outage"
    );

    // SIGTERM with the idle connections still open: a clean, prompt stop.
    let logs = server.stop(Duration::from_secs(5)).await;
    drop(idle);
    assert!(!logs.contains("Too many open files"), "{logs}");
}

#[tokio::test]
async fn sigterm_finishes_the_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // A Redis that never answers: `?fresh=1` waits the whole probe timeout.
    let silent = FaultProxy::start("127.0.0.1:6379").await;
    silent.set_mode(ProxyMode::BlackHole).await;
    let config = redis_only(
        dir.path(),
        port,
        &silent.host_port(),
        "interval = \"1h\"\ntimeout = \"3s\"",
    );
    let server = Served::start(&config, port, 1024).await;
    let in_flight = tokio::spawn(get(
        port,
        "/v1/system/healthz?fresh=1",
        Duration::from_secs(20),
    ));
    // Well inside the 3 s the probe waits.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let logs = server.stop(Duration::from_secs(15)).await;
    let (status, body) = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains(r#""redis":"nok""#), "{body}");
    assert!(logs.contains("Stopped."), "{logs}");
}

/// Reads until the server closes the connection; the time it took.
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(bound, stream.read(&mut buffer)).await {
            Err(_) => panic!("still open after {bound:?}"),
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn slow_headers_and_idle_keep_alive_are_closed() {
    let app = TestApp::start_unscheduled(&common::app::only("redis")).await;
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let mut half = TcpStream::connect(app.addr).await.unwrap();
    half.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut kept = TcpStream::connect(app.addr).await.unwrap();
    kept.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let bound = ragwatch::api::HEADER_TIMEOUT + Duration::from_secs(5);
    let (silent, half, kept) = tokio::join!(
        closed_within(&mut silent, bound),
        closed_within(&mut half, bound),
        closed_within(&mut kept, bound),
    );
    for (what, took) in [
        ("silent", silent),
        ("half-sent", half),
        ("keep-alive", kept),
    ] {
        assert!(
            took >= ragwatch::api::HEADER_TIMEOUT - Duration::from_secs(1),
            "{what} closed early, after {took:?}"
        );
    }
}

/// Sends `request` as raw bytes and reads the whole answer (the request asks to close).
async fn raw(app: &TestApp, request: &str) -> String {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::start_unscheduled(&format!(
        "[server]\ntokens = [\"s3cret\"]\n{}",
        common::app::only("redis")
    ))
    .await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let cases = [
        ("Bearer s3cret", 200),
        ("bearer s3cret", 200),
        ("BEARER s3cret", 200),
        ("bEaReR   s3cret", 200),
        ("bearer wrong", 401),
        ("Basic s3cret", 401),
        ("bearers3cret", 401),
    ];
    for (header, expected) in cases {
        let response = client
            .get(app.url("/api/v1/components"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{header}");
    }
}

#[tokio::test]
async fn readyz_lines_are_escaped_and_bounded_whatever_the_executors_are_named() {
    let server = RedisInstance::start(None).await;
    let mut conn = redis(&server.url()).await;
    let now = unix_now();
    // One executor alive; thousands stale, one of them with a line break in its name.
    let mut names = vec!["te_alive".to_owned(), "te_split\n[+]forged ok".to_owned()];
    names.extend((0..5000).map(|i| format!("te_stale_{i:04}")));
    let mut pipe = redis::pipe();
    for (i, name) in names.iter().enumerate() {
        let at = if i == 0 { now - 1.0 } else { now - 90.0 };
        pipe.cmd("SADD").arg("TASKEXE").arg(name);
        pipe.cmd("ZADD")
            .arg(name)
            .arg(at)
            .arg(Beat::new(at, 1, 0).json(name));
    }
    pipe.query_async::<()>(&mut conn).await.unwrap();
    let app = TestApp::start_unscheduled(&format!(
        "[db]\nenabled = false\n[redis]\nurl = \"{}\"\n\
         [doc_engine]\nenabled = false\n[storage]\nenabled = false\n[history]\nenabled = false\n",
        server.url()
    ))
    .await;
    app.get("/v1/system/healthz?fresh=1").await;
    let (status, _, body) = app.get("/readyz?verbose").await;
    assert_eq!(status, 200, "{body}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.last(), Some(&"readyz check passed"), "{body}");
    for line in &lines[..lines.len() - 1] {
        assert!(line.starts_with("[+]") || line.starts_with("[-]"), "{line}");
        assert!(
            line.chars().count() <= 600,
            "a line of {} characters",
            line.len()
        );
    }
    assert!(!lines.iter().any(|l| l.starts_with("[+]forged")), "{body}");
    let executors = lines
        .iter()
        .find(|l| l.starts_with("[+]task_executors"))
        .unwrap();
    assert!(executors.contains(r"te_split\n[+]forged ok"), "{executors}");
    assert!(executors.ends_with("…)"), "{executors}");
}

#[tokio::test]
async fn every_rejection_is_json_even_of_a_path_that_is_not_utf8() {
    let app = TestApp::start_unscheduled(&common::app::only("redis")).await;
    for target in [
        "/api/v1/components/%FF",
        "/api/v1/components/%C3%28/history",
        "/api/v1/executors/%FF%FE/intervals",
        "/api/v1/executors/te/intervals/%E2%82",
        "/api/v1/components/redis/history?since=%FF",
        "/api/v1/incidents?limit=%FF",
    ] {
        let answer = raw(
            &app,
            &format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 400") || head.starts_with("HTTP/1.1 404"),
            "{target}: {answer}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{target}: {answer}"
        );
        let json: serde_json::Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{target}: not JSON ({e}): {answer}"));
        assert!(
            json["code"].is_u64() && json["message"].is_string(),
            "{target}: {body}"
        );
    }
}
