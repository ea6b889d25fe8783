//! Benchmark: 1,000 task executors x 60 heartbeats in a real Redis (a private redis-server).
//! Times ragwatch's heartbeat reads (cold: everything; steady: one new heartbeat per
//! executor), its `/v1/system/status` and `/api/v1/executors` endpoints, and RAGFlow's own
//! algorithm (SMEMBERS, then one ZRANGEBYSCORE per executor, with redis-py) in the same run.
//!
//! Run with `bench/executors.sh` (it installs redis-py when missing), or
//! `cargo bench --bench executors` with `EXECUTORS` and `HEARTBEATS` to change the size.

#![allow(clippy::print_stdout, missing_docs)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ragwatch::app::{App, Mode};
use ragwatch::task_executors::{self, Board};

const REPS: usize = 15;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A heartbeat as RAGFlow writes it (Python json.dumps separators); every fifth one is busy
/// with a task, as in the recorded fixture.
fn member(name: &str, at: f64, index: usize) -> String {
    let current = if index.is_multiple_of(5) {
        r#"{"4f1c2d3e5a6b47c8a9d0e1f2a3b4c5d6": {"id": "4f1c2d3e5a6b47c8a9d0e1f2a3b4c5d6", "doc_id": "9a8b7c6d5e4f40312a3b4c5d6e7f8091", "from_page": 0, "to_page": 12, "task_type": "", "retry_count": 0, "kb_id": "c1d2e3f4a5b64c7d8e9f0a1b2c3d4e5f", "parser_id": "naive", "parser_config": {"pages": [[1, 1000000]], "table_context_size": 0, "image_context_size": 0}, "name": "annual_report_2024.pdf", "type": "pdf", "location": "annual_report_2024.pdf", "size": 2483921, "tenant_id": "7e6d5c4b3a2940f1e0d9c8b7a6f5e4d3", "language": "English", "embd_id": "BAAI/bge-large-zh-v1.5@BAAI", "pagerank": 0, "update_time": 1735785061123}}"#
    } else {
        "{}"
    };
    let now = jiff::Timestamp::from_millisecond((at * 1000.0) as i64).unwrap();
    format!(
        r#"{{"ip_address": "172.18.0.6", "pid": 41, "name": "{name}", "now": "{now}", "boot_at": "2025-01-02T09:12:44.903+08:00", "pending": 3, "lag": 2, "done": {index}, "failed": {}, "current": {current}}}"#,
        index / 7
    )
}

struct RedisServer(Child, u16);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> RedisServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server runs (scripts/test-services.sh installs it)");
    let server = RedisServer(child, port);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("redis-server did not start");
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    let executor_count = env_usize("EXECUTORS", 1000);
    let beat_count = env_usize("HEARTBEATS", 60);
    let redis_server = start_redis();
    let url = format!("redis://127.0.0.1:{}/0", redis_server.1);
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();

    let now = task_executors::time_score(jiff::Timestamp::now());
    let mut bytes = 0;
    for e in 0..executor_count {
        let name = format!("task_executor_common_host{:04}_0", e);
        let mut pipe = redis::pipe();
        pipe.cmd("SADD").arg("TASKEXE").arg(&name);
        for b in 0..beat_count {
            let at = now - 30.0 * (beat_count - b) as f64 + 30.0;
            let m = member(&name, at, b);
            bytes += m.len();
            pipe.cmd("ZADD").arg(&name).arg(at).arg(m);
        }
        pipe.query_async::<()>(&mut conn).await.unwrap();
    }
    println!(
        "data: {executor_count} executors x {beat_count} heartbeats = {} members, {:.1} MB",
        executor_count * beat_count,
        bytes as f64 / 1e6
    );

    // ragwatch's read: two round trips for every executor together.
    let mut cold = Vec::new();
    let mut board = Board::default();
    for _ in 0..REPS {
        let started = Instant::now();
        board = task_executors::refresh(&mut conn, &Board::default(), jiff::Timestamp::now())
            .await
            .unwrap();
        cold.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let read: usize = board.executors.values().map(|e| e.beats.len()).sum();
    assert_eq!(read, executor_count * beat_count, "every heartbeat read");
    // RAGFlow's read, with redis-py, in the same run against the same data.
    let python = Command::new("python3")
        .args(["bench/ragflow_heartbeats.py", &url, "5"])
        .output()
        .expect("python3 runs");
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    let ragflow: serde_json::Value = serde_json::from_slice(&python.stdout).unwrap();
    let ragflow_ms = ragflow["median_ms"].as_f64().unwrap();

    // ragwatch's endpoints, served in-process from the board a probe keeps current.
    let file = std::env::temp_dir().join(format!("ragwatch-bench-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        format!(
            "[monitor]\ninterval = \"1h\"\ntimeout = \"10s\"\n[db]\nenabled = false\n[redis]\nurl = \"{url}\"\n[doc_engine]\nenabled = false\n[storage]\nenabled = false\n[history]\nenabled = false\n"
        ),
    )
    .unwrap();
    let config = ragwatch::config::load(Some(&file), std::iter::empty()).unwrap();
    let _ = std::fs::remove_file(&file);
    let app = App::build(config, Mode::Serve).unwrap();
    app.monitor.refresh_all().await;
    let router = app.router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ragwatch::api::serve(
        listener,
        router,
        ragwatch::api::Limits::of(&app.config().server),
        std::future::pending(),
    ));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let endpoint = |path: &'static str| {
        let http = http.clone();
        async move {
            let mut samples = Vec::new();
            let mut size = 0;
            for _ in 0..REPS {
                let started = Instant::now();
                let body = http
                    .get(format!("http://{addr}{path}"))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                samples.push(started.elapsed().as_secs_f64() * 1000.0);
                size = body.len();
            }
            (median(samples), size)
        }
    };
    let (status_ms, status_bytes) = endpoint("/v1/system/status").await;
    let (list_ms, list_bytes) = endpoint("/api/v1/executors").await;

    // Steady state: one new heartbeat per executor since the last read.
    let mut steady = Vec::new();
    for rep in 0..REPS {
        let at = task_executors::time_score(jiff::Timestamp::now()) + rep as f64 * 0.001;
        let mut pipe = redis::pipe();
        for name in board.executors.keys() {
            pipe.cmd("ZADD")
                .arg(name)
                .arg(at)
                .arg(member(name, at, beat_count + rep));
        }
        pipe.query_async::<()>(&mut conn).await.unwrap();
        let started = Instant::now();
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
        board = task_executors::refresh(&mut conn, &board, later)
            .await
            .unwrap();
        steady.push(started.elapsed().as_secs_f64() * 1000.0);
    }

    let (cold_ms, steady_ms) = (median(cold), median(steady));
    println!(
        "ragflow read (redis-py, 1 + {executor_count} round trips): {ragflow_ms:8.1} ms  ({} executors, {} heartbeats)",
        ragflow["executors"], ragflow["heartbeats"]
    );
    println!(
        "ragwatch cold read (2 round trips):           {cold_ms:8.1} ms  ({:.1}x faster)",
        ragflow_ms / cold_ms
    );
    println!(
        "ragwatch steady read (1 new beat each):       {steady_ms:8.1} ms  ({:.1}x faster)",
        ragflow_ms / steady_ms
    );
    println!(
        "GET /v1/system/status:                        {status_ms:8.1} ms  ({:.1} MB, {:.1}x faster)  target < 100 ms: {}",
        status_bytes as f64 / 1e6,
        ragflow_ms / status_ms,
        verdict(status_ms < 100.0)
    );
    println!(
        "GET /api/v1/executors:                        {list_ms:8.1} ms  ({:.1} kB, {:.1}x faster)  target < 100 ms: {}",
        list_bytes as f64 / 1e3,
        ragflow_ms / list_ms,
        verdict(list_ms < 100.0)
    );
    println!(
        "target >= 10x RAGFlow's read: status {}, executors {}",
        verdict(ragflow_ms / status_ms >= 10.0),
        verdict(ragflow_ms / list_ms >= 10.0)
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "PASS" } else { "MISS" }
}
