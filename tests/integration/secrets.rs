//! Secrets never reach output. ragwatch runs as a real process with debug logging, every
//! component configured with a secret that its real server rejects, so the secrets meet
//! every error path; then healthz, readyz, `check --json`, `config` and the logs are read.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::{FixtureResponse, FixtureServer, S3Server, free_port};
use tokio::io::AsyncReadExt;

const BIN: &str = env!("CARGO_BIN_EXE_ragwatch");
const SECRETS: [&str; 6] = [
    "db-Secret-4711",
    "redis-Secret-4711",
    "es-Secret-4711",
    "s3-Secret-4711",
    "token-Secret-4711",
    "history-Secret-4711",
];

async fn app_get(client: &reqwest::Client, base: &str, path: &str) -> (u16, (), String) {
    let response = client.get(format!("{base}{path}")).send().await.unwrap();
    (
        response.status().as_u16(),
        (),
        response.text().await.unwrap(),
    )
}

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} leaked in {what}:\n{text}");
    }
}

#[tokio::test]
async fn no_secret_reaches_bodies_logs_or_commands() {
    let es = FixtureServer::start([(
        "GET",
        "/_cluster/health",
        FixtureResponse::from_fixture(
            401,
            "elasticsearch/transcribed/error_401_wrong_password_8x.json",
        ),
    )])
    .await;
    let s3 = S3Server::start("ragwatch", "the-right-secret", &["ragflow"]).await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ragwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ntokens = [\"{token}\"]\n\
             [monitor]\ninterval = \"200ms\"\ntimeout = \"2s\"\n\
             [db]\nurl = \"mysql://root:{db}@127.0.0.1:3306/mysql\"\n\
             [redis]\nurl = \"redis://:{redis}@127.0.0.1:6379/1\"\n\
             [doc_engine]\nurl = \"{es_url}\"\npassword = \"{es}\"\n\
             [storage]\nendpoint = \"{s3_url}\"\naccess_key = \"ragwatch\"\nsecret_key = \"{s3}\"\nbucket = \"ragflow\"\n\
             [history]\nurl = \"postgres://ragwatch:{history}@127.0.0.1:{closed}/history\"\n",
            token = SECRETS[4],
            db = SECRETS[0],
            redis = SECRETS[1],
            es = SECRETS[2],
            s3 = SECRETS[3],
            history = SECRETS[5],
            closed = free_port(),
            es_url = es.url(),
            s3_url = s3.endpoint(),
        ),
    )
    .unwrap();

    let mut server = tokio::process::Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "trace")
        .env_remove("RAGWATCH_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut healthz = None;
    for _ in 0..100 {
        if let Ok(response) = client.get(format!("{base}/v1/system/healthz")).send().await {
            healthz = Some(response.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let healthz = healthz.expect("ragwatch serves");
    // Every component failed on its secret, so every error path was taken.
    let body: serde_json::Value = serde_json::from_str(&healthz).unwrap();
    for key in ["db", "redis", "doc_engine", "storage"] {
        assert_eq!(body[key], "nok", "{key}: {healthz}");
    }
    assert_eq!(
        body["_meta"]["storage"]["error"],
        "S3 rejected the secret key of access key 'ragwatch' (SignatureDoesNotMatch): check storage.secret_key"
    );
    assert_clean("healthz", &healthz);
    // Let a few rounds of probes (and their logs) happen.
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The history store cannot be reached either; readyz names it once it has tried.
    let mut readyz = String::new();
    for _ in 0..100 {
        readyz = app_get(&client, &base, "/readyz?verbose").await.2;
        if readyz.contains("history store postgres 127.0.0.1:") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        readyz.contains("[-]history failed (not required): history store postgres 127.0.0.1:"),
        "{readyz}"
    );
    for path in ["/readyz?verbose", "/v1/system/healthz?fresh=1", "/nope"] {
        let text = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_clean(path, &text);
    }

    let pid = server.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .expect("ragwatch stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    let mut logs = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();
    server
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();
    assert!(
        logs.contains("Component is failing."),
        "the failures were logged:\n{logs}"
    );
    assert!(logs.contains("Shutting down."), "{logs}");
    assert_clean("logs", &logs);

    for args in [vec!["check", "--json"], vec!["check"], vec!["config"]] {
        let out = std::process::Command::new(BIN)
            .args(&args)
            .args(["--config", config.to_str().unwrap()])
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        assert_clean(
            &format!("{args:?} stdout"),
            &String::from_utf8_lossy(&out.stdout),
        );
        assert_clean(
            &format!("{args:?} stderr"),
            &String::from_utf8_lossy(&out.stderr),
        );
    }
}
