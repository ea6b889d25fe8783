//! The Redis probe against the machine's Redis and our own instances.

use crate::common;

use common::app::{TestApp, only, probe_only};
use common::{FaultProxy, RedisInstance, free_port};
use ragwatch::probe::{ProbeResult, Status};

async fn probe(url: &str, extra: &str) -> ProbeResult {
    let timeout = if extra.contains("timeout") {
        ""
    } else {
        "timeout = \"2s\"\n"
    };
    probe_only(&format!(
        "{}[redis]\nurl = \"{url}\"\n{timeout}{extra}",
        only("redis")
    ))
    .await
}

async fn command(url: &str, args: &[&str]) -> redis::Value {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut conn).await.unwrap()
}

#[tokio::test]
async fn green_with_info_details() {
    let result = probe("redis://127.0.0.1:6379/1", "").await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert!(result.details["version"].as_str().unwrap().starts_with('7'));
    assert_eq!(result.details["role"], "master");
    assert!(result.details["connected_clients"].as_u64().unwrap() >= 1);
}

/// The write-check keys in the database.
async fn probe_keys(url: &str) -> Vec<String> {
    match command(url, &["KEYS", "ragwatch:probe:*"]).await {
        redis::Value::Array(keys) => keys
            .into_iter()
            .map(|key| redis::from_redis_value(key).unwrap())
            .collect(),
        other => panic!("KEYS answered {other:?}"),
    }
}

#[tokio::test]
async fn the_write_check_sets_a_key_with_a_short_expiry_and_can_be_turned_off() {
    let server = RedisInstance::start(None).await;
    let url = format!("redis://127.0.0.1:{}/1", server.port());
    probe(&url, "write_check = false\n").await;
    assert_eq!(probe_keys(&url).await, Vec::<String>::new());
    let result = probe(&url, "").await;
    assert_eq!(result.status, Status::Green);
    let keys = probe_keys(&url).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    match command(&url, &["PTTL", &keys[0]]).await {
        redis::Value::Int(ms) => assert!((1..=3000).contains(&ms), "expiry {ms} ms"),
        other => panic!("PTTL answered {other:?}"),
    }
}

/// Two ragwatch instances on one Redis database (replicas, or two deployments) probing at
/// the same moments: each writes its own key, so neither reads the other's value.
#[tokio::test]
async fn two_instances_on_one_database_never_fail_each_others_write_check() {
    let server = RedisInstance::start(None).await;
    let config = format!(
        "{}[redis]\nurl = \"redis://127.0.0.1:{}/1\"\ntimeout = \"2s\"\n",
        only("redis"),
        server.port()
    );
    let (a, b) = (
        TestApp::start_unscheduled(&config).await,
        TestApp::start_unscheduled(&config).await,
    );
    let rounds = |app: TestApp| async move {
        let mut errors = Vec::new();
        for _ in 0..150 {
            let (_, body) = app.get_json("/v1/system/healthz?fresh=1").await;
            if body["redis"] != "ok" {
                errors.push(body["_meta"]["redis"]["error"].to_string());
            }
        }
        errors
    };
    let (errors_a, errors_b) = tokio::join!(rounds(a), rounds(b));
    assert!(
        errors_a.is_empty() && errors_b.is_empty(),
        "{errors_a:?} {errors_b:?}"
    );
    assert_eq!(probe_keys(&server_url(&server)).await.len(), 2);
}

fn server_url(server: &RedisInstance) -> String {
    format!("redis://127.0.0.1:{}/1", server.port())
}

#[tokio::test]
async fn failures_say_what_to_fix() {
    let server = RedisInstance::start(Some("the-password")).await;
    let closed = free_port();
    let port = server.port();
    let cases = [
        (
            "refused",
            format!("redis://127.0.0.1:{closed}/1"),
            format!("connection refused to 127.0.0.1:{closed}"),
        ),
        (
            "wrong password",
            format!("redis://:wrong@127.0.0.1:{port}/1"),
            "authentication failed for user default".to_owned(),
        ),
        (
            "no password",
            format!("redis://127.0.0.1:{port}/1"),
            "authentication required (NOAUTH): set redis.password (or the password in the URL)"
                .to_owned(),
        ),
        (
            "database out of range",
            format!("redis://:the-password@127.0.0.1:{port}/99"),
            "redis error".to_owned(),
        ),
    ];
    for (name, url, expected) in cases {
        let result = probe(&url, "").await;
        assert_eq!(result.status, Status::Red, "{name}");
        let error = result.error.unwrap();
        assert!(error.starts_with(&expected), "{name}: {error}");
    }
    let result = probe(&format!("redis://:the-password@127.0.0.1:{port}/1"), "").await;
    assert_eq!(result.status, Status::Green);
}

#[tokio::test]
async fn memory_near_maxmemory_is_yellow() {
    let server = RedisInstance::start(None).await;
    let url = format!("redis://127.0.0.1:{}/0", server.port());
    let used = match command(&url, &["MEMORY", "STATS"]).await {
        redis::Value::Array(_) | redis::Value::Map(_) => {
            let info = match command(&url, &["INFO", "memory"]).await {
                redis::Value::BulkString(bytes) => String::from_utf8(bytes).unwrap(),
                redis::Value::VerbatimString { text, .. } => text,
                other => panic!("INFO answered {other:?}"),
            };
            info.lines()
                .find_map(|l| l.strip_prefix("used_memory:"))
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap()
        }
        other => panic!("MEMORY STATS answered {other:?}"),
    };
    // A limit just above what is used: within 90 %, and no eviction needed.
    let limit = (used + used / 20).to_string();
    command(&url, &["CONFIG", "SET", "maxmemory", &limit]).await;
    let result = probe(&url, "write_check = false\n").await;
    assert_eq!(result.status, Status::Yellow, "{:?}", result.error);
    let error = result.error.unwrap();
    let percent: u64 = error
        .strip_prefix("memory at ")
        .and_then(|rest| rest.split('%').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{error}"));
    assert!(percent >= 90, "{error}");
}

#[tokio::test]
async fn a_black_hole_is_bounded_by_the_timeout() {
    let hole = FaultProxy::black_hole().await;
    let url = format!("redis://{}/1", hole.host_port());
    let result = probe(&url, "timeout = \"600ms\"\n").await;
    assert_eq!(result.error.as_deref(), Some("timed out after 600 ms"));
}

#[tokio::test]
async fn a_killed_and_restarted_server_is_reconnected() {
    let mut server = RedisInstance::start(None).await;
    let toml = format!(
        "{}[redis]\nurl = \"redis://127.0.0.1:{}/1\"\ntimeout = \"2s\"\n",
        only("redis"),
        server.port()
    );
    let app = common::app::TestApp::start_unscheduled(&toml).await;
    assert_eq!(app.get_json("/v1/system/healthz?fresh=1").await.0, 200);
    server.kill();
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 500, "{body}");
    server.start_again().await;
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_server_restarted_between_probes_is_green_at_once() {
    let mut server = RedisInstance::start(None).await;
    let toml = format!(
        "{}[redis]\nurl = \"redis://127.0.0.1:{}/1\"\ntimeout = \"2s\"\n",
        only("redis"),
        server.port()
    );
    let app = common::app::TestApp::start_unscheduled(&toml).await;
    assert_eq!(app.get_json("/v1/system/healthz?fresh=1").await.0, 200);
    server.restart().await;
    let (status, body) = app.get_json("/v1/system/healthz?fresh=1").await;
    assert_eq!(status, 200, "{body}");
}
