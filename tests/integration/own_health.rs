//! ragwatch's own health is not its dependencies': with RAGFlow's Redis dead, `ragwatch
//! healthcheck` (the image's HEALTHCHECK) passes and `/startedz` (the Kubernetes
//! readinessProbe) answers 200, while `/readyz` reports Redis down. A healthcheck of a
//! ragwatch that is not running, or of a configuration it cannot read, exits 1, never 2.

use std::process::Stdio;
use std::time::Duration;

use crate::common::{self, RedisInstance, wait_for, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_ragwatch");

/// Runs `ragwatch healthcheck` with `config`; returns its exit code and output.
async fn healthcheck(config: &std::path::Path) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(BIN)
        .args(["healthcheck", "--config"])
        .arg(config)
        .env_remove("RAGWATCH_CONFIG")
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// `GET http://127.0.0.1:<port><path>`: status and body, or the error.
async fn get(port: u16, path: &str) -> Result<(u16, String), reqwest::Error> {
    let response = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

#[tokio::test]
async fn a_dead_redis_leaves_ragwatch_healthy_and_started_while_readyz_reports_it() {
    let mut redis = RedisInstance::start(None).await;
    let port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ragwatch.toml");
    // Listening on every interface: the healthcheck asks on loopback.
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"0.0.0.0:{port}\"\n[monitor]\ninterval = \"1s\"\ntimeout = \"900ms\"\n\
             [redis]\nurl = \"{}\"\n[db]\nenabled = false\n[doc_engine]\nenabled = false\n\
             [storage]\nenabled = false\n[task_executors]\nenabled = false\n\
             [history]\nurl = \"sqlite://{}/history.db\"\n",
            redis.url(),
            dir.path().display()
        ),
    )
    .unwrap();
    let (code, text) = healthcheck(&config).await;
    assert_eq!(code, Some(1), "nothing serves yet: {text}");
    assert!(text.contains("does not answer"), "{text}");

    let mut server = tokio::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("RAGWATCH_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_until("ragwatch has done its first round", || async {
        match get(port, "/startedz").await {
            Ok((200, body)) if body == "ok" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    redis.kill();
    wait_for("readyz reports redis down", || async {
        matches!(get(port, "/readyz?verbose").await, Ok((500, body)) if body.contains("[-]redis failed"))
    })
    .await;
    let (code, text) = healthcheck(&config).await;
    assert_eq!(
        (code, text.as_str()),
        (Some(0), "ok\n"),
        "ragwatch itself works"
    );
    assert_eq!(
        get(port, "/startedz?verbose").await.unwrap(),
        (200, "[+]first-round ok\nstartedz check passed\n".to_owned())
    );

    server.kill().await.unwrap();
    let (code, text) = healthcheck(&config).await;
    assert_eq!(code, Some(1), "ragwatch is gone: {text}");
}

#[tokio::test]
async fn a_healthcheck_of_a_configuration_it_cannot_read_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ragwatch.toml");
    std::fs::write(&config, "[db]\nkind = \"mongodb\"\n").unwrap();
    let (code, text) = healthcheck(&config).await;
    assert_eq!(code, Some(1), "Docker reserves exit code 2: {text}");
    assert!(text.contains("invalid configuration"), "{text}");
}
