//! The HTTP server under hostile clients: idle and half-sent connections beyond the
//! open-files limit must not starve healthz or the probes, slow headers and idle keep-alive
//! connections are closed, and every rejection is JSON, even of a path no route can read.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::app::TestApp;
use common::{free_port, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_ragwatch");

/// The open-files limit the server runs under, and the idle connections sent at it.
const FILES: usize = 256;
const IDLE: usize = 320;

/// Redis alone, probed every 500 ms, history in `dir`.
fn redis_only(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let config = dir.join("ragwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [monitor]\ninterval = \"500ms\"\ntimeout = \"2s\"\n\
             [db]\nenabled = false\n[redis]\nurl = \"redis://127.0.0.1:6379/1\"\n\
             [doc_engine]\nenabled = false\n[storage]\nenabled = false\n\
             [task_executors]\nenabled = false\n\
             [history]\nurl = \"sqlite://{}/history.db\"\n",
            dir.display()
        ),
    )
    .unwrap();
    config
}

/// GET with a fresh connection, within `bound`.
async fn get(port: u16, path: &str, bound: Duration) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(bound)
        .build()
        .unwrap();
    let response = client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.map_err(|e| e.to_string())?))
}

#[tokio::test]
async fn idle_connections_beyond_the_file_limit_starve_neither_healthz_nor_probes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = redis_only(dir.path(), port);
    // The shell lowers the limit, then becomes ragwatch (same process id).
    let mut server = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {FILES} && exec \"$0\" serve --config \"$1\""
        ))
        .arg(BIN)
        .arg(&config)
        .env_remove("RAGWATCH_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = server.stderr.take().unwrap();
    let logs = tokio::spawn(async move {
        let mut logs = String::new();
        stderr.read_to_string(&mut logs).await.unwrap();
        logs
    });
    wait_until("ragwatch serves", || async {
        match get(port, "/v1/system/healthz", Duration::from_secs(5)).await? {
            (200, _) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

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
    let pid = server.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), server.wait())
        .await
        .expect("ragwatch stops on SIGTERM despite idle connections")
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    drop(idle);
    let logs = logs.await.unwrap();
    assert!(!logs.contains("Too many open files"), "{logs}");
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
