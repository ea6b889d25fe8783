//! Secrets never reach output. ragwatch runs as a real process logging JSON at trace level,
//! every credential it can be given configured with a distinctive value that its real (or
//! recorded) server rejects, so the secrets meet every error path (in URLs, in keys of their
//! own, read from files and from the environment); then every endpoint
//! (the protected ones with the token, and every call the page makes), the probes'
//! details, the alert bodies each kind of receiver gets, `check --json`, `config` and the
//! logs are read.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::ragflow_server::RagflowServer;
use common::{
    FixtureResponse, FixtureServer, NatsInstance, NatsOptions, S3Server, free_port, settle,
    wait_until,
};
use tokio::io::AsyncReadExt;

const BIN: &str = env!("CARGO_BIN_EXE_ragwatch");
const TOKEN: &str = "token-Secret-4711";
const SECRETS: [&str; 14] = [
    "db-Secret-4711",
    "redis-Secret-4711",
    "es-Secret-4711",
    "s3-Secret-4711",
    TOKEN,
    "history-Secret-4711",
    "queue-Secret-4711",
    "executors-Secret-4711",
    "model-Secret-4711",
    "modelurl-Secret-4711",
    "webhook-Secret-4711",
    "hookurl-Secret-4711",
    "am-Secret-4711",
    "canary-Secret-4711",
];

/// Every component the configuration watches, as the API names them.
const COMPONENTS: [&str; 8] = [
    "db",
    "redis",
    "doc_engine",
    "storage",
    "message_queue",
    "task_executors",
    "models.embedding",
    "canary.handbook",
];

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} leaked in {what}:\n{text}");
    }
}

/// `http://<user>:<password>@<host:port>` from `http://<host:port>`.
fn with_password(url: &str, user: &str, password: &str) -> String {
    url.replace("http://", &format!("http://{user}:{password}@"))
}

/// Every path to read: the protected API (each component, its history as the page asks
/// for it, incidents, executors) and the public endpoints, error answers included.
fn paths() -> Vec<String> {
    let mut paths: Vec<String> = [
        "/v1/system/status",
        "/api/v1/system/status",
        "/metrics",
        "/api/v1/components",
        "/api/v1/incidents",
        "/api/v1/incidents?limit=20",
        "/api/v1/executors",
        "/api/v1/executors/task_executor_0/intervals",
        "/api/v1/executors/task_executor_0/intervals/1700000000000",
        "/",
        "/ui/app.js",
        "/v1/system/healthz",
        "/api/v1/system/healthz",
        "/v1/system/healthz?fresh=1",
        "/readyz?verbose",
        "/livez?verbose",
        "/api/v1/openapi.json",
        "/nope",
        "/v1/system/healthz?fresh=maybe",
    ]
    .map(str::to_owned)
    .to_vec();
    let since = jiff::Timestamp::now().as_second() / 60 * 60 - 3600;
    for key in COMPONENTS {
        paths.push(format!("/api/v1/components/{key}"));
        paths.push(format!(
            "/api/v1/components/{key}/history?since={since}&step=60"
        ));
    }
    paths
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
    let model = FixtureServer::start([(
        "GET",
        "/v1/models",
        FixtureResponse::json(
            401,
            r#"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        ),
    )])
    .await;
    let receiver = FixtureServer::start([
        ("POST", "/hook", FixtureResponse::new(200, "ok")),
        ("POST", "/am/api/v2/alerts", FixtureResponse::new(200, "")),
    ])
    .await;
    let s3 = S3Server::start("ragwatch", "the-right-secret", &["ragflow"]).await;
    let ragflow = RagflowServer::start("ragflow-the-right-key").await;
    let nats = NatsInstance::start(NatsOptions {
        credentials: Some(("ragwatch".into(), "the-right-password".into())),
        ..NatsOptions::default()
    })
    .await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ragwatch.toml");
    let db_password = dir.path().join("db_password");
    std::fs::write(&db_password, format!("{}\n", SECRETS[0])).unwrap();
    // The Redis password from the environment, for the server and each command.
    let env = [("RAGWATCH_REDIS__PASSWORD", SECRETS[1])];
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ntokens = [\"{TOKEN}\"]\n\
             [monitor]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
             [db]\nurl = \"mysql://root@127.0.0.1:3306/mysql\"\npassword_file = {db_password:?}\n\
             [redis]\nurl = \"redis://127.0.0.1:6379/1\"\n\
             [doc_engine]\nurl = \"{es_url}\"\npassword = \"{es}\"\n\
             [storage]\nendpoint = \"{s3_url}\"\naccess_key = \"ragwatch\"\nsecret_key = \"{s3}\"\nbucket = \"ragflow\"\n\
             [message_queue]\nurl = \"nats://ragwatch:{queue}@127.0.0.1:{nats}\"\n\
             [task_executors]\nredis_url = \"redis://:{executors}@127.0.0.1:6379/1\"\n\
             [history]\nurl = \"postgres://ragwatch:{history}@127.0.0.1:{closed}/history\"\n\
             [[models]]\nname = \"embedding\"\nkind = \"openai\"\nurl = \"{model_url}\"\napi_key = \"{model_key}\"\n\
             [[canaries]]\nname = \"handbook\"\nkind = \"retrieval\"\nurl = \"{ragflow_url}\"\napi_key = \"{canary_key}\"\n\
             dataset_ids = [\"d1\"]\nquestion = \"What is the refund period?\"\ninterval = \"1s\"\ntimeout = \"1s\"\n\
             [alerts]\n\
             [[alerts.webhook]]\nurl = \"{hook}/hook\"\nsecret = \"{webhook}\"\n\
             [[alerts.alertmanager]]\nurl = \"{am}/am\"\n",
            es = SECRETS[2],
            s3 = SECRETS[3],
            history = SECRETS[5],
            queue = SECRETS[6],
            executors = SECRETS[7],
            model_key = SECRETS[8],
            model_url = with_password(&model.url(), "model", SECRETS[9]),
            webhook = SECRETS[10],
            hook = with_password(&receiver.url(), "hook", SECRETS[11]),
            am = with_password(&receiver.url(), "am", SECRETS[12]),
            canary_key = SECRETS[13],
            ragflow_url = ragflow.url(),
            nats = nats.port(),
            closed = free_port(),
            es_url = es.url(),
            s3_url = s3.endpoint(),
        ),
    )
    .unwrap();

    let mut server = tokio::process::Command::new(BIN)
        .args(["serve", "--log-format", "json", "--config"])
        .arg(&config)
        .env("RUST_LOG", "trace")
        .envs(env)
        .env_remove("RAGWATCH_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read the logs as they come, so that the pipe never fills up.
    let mut stderr = server.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut logs = String::new();
        stderr.read_to_string(&mut logs).await.unwrap();
        logs
    });

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let get = |path: String| {
        let request = client.get(format!("{base}{path}")).bearer_auth(TOKEN);
        async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            Ok::<_, String>((status, response.text().await.unwrap()))
        }
    };
    let (_, healthz) = wait_until("ragwatch serves", || get("/v1/system/healthz".into())).await;
    // Every component failed on its secret, so every error path was taken.
    let body: serde_json::Value = serde_json::from_str(&healthz).unwrap();
    for key in ["db", "redis", "doc_engine", "storage"] {
        assert_eq!(body[key], "nok", "{key}: {healthz}");
    }
    assert_eq!(
        body["_meta"]["storage"]["error"],
        "S3 rejected the secret key of access key 'ragwatch' (SignatureDoesNotMatch): check storage.secret_key"
    );
    // The history store cannot be reached either; readyz names it once it has tried.
    let readyz = wait_until("readyz names the history store", || async {
        let (_, readyz) = get("/readyz?verbose".into()).await?;
        readyz
            .contains("history store postgres 127.0.0.1:")
            .then_some(readyz.clone())
            .ok_or(readyz)
    })
    .await;
    assert!(
        readyz.contains("[-]history failed (not required): history store postgres 127.0.0.1:"),
        "{readyz}"
    );
    // The canary's key was refused by RAGFlow's API.
    wait_until("the canary is refused its API key", || async {
        let (_, canary) = get("/api/v1/components/canary.handbook".into()).await?;
        canary
            .contains("authentication failed: RAGFlow refused the API key")
            .then_some(())
            .ok_or(canary)
    })
    .await;
    // Both kinds of receiver got alerts (failures in a row reach the threshold).
    let receiver = &receiver;
    wait_until("every receiver got an alert", || async {
        let hook = receiver.requests_to("/hook").len();
        let am = receiver.requests_to("/am/api/v2/alerts").len();
        (hook > 0 && am > 0)
            .then_some(())
            .ok_or(format!("{hook} webhook and {am} Alertmanager requests"))
    })
    .await;

    for path in paths() {
        let (status, text) = get(path.clone()).await.unwrap();
        assert_ne!(status, 401, "{path}: the token is accepted");
        assert_clean(&path, &text);
    }
    // The probes' details are in what was read: the page's list has every component.
    let (_, list) = get("/api/v1/components".into()).await.unwrap();
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let mut listed: Vec<&str> = list["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut expected = COMPONENTS;
    expected.sort_unstable();
    assert_eq!(listed, expected);
    for request in receiver.requests() {
        let what = format!("alert to {}", request.path_and_query);
        assert_clean(&what, &String::from_utf8_lossy(&request.body));
        for (name, value) in &request.headers {
            assert_clean(&format!("{what}, header {name}"), value);
        }
    }

    // Let a few more rounds of probes (and their logs) happen, then stop.
    settle().await;
    let pid = server.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .expect("ragwatch stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    let logs = stderr.await.unwrap();
    for line in logs.lines() {
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(entry["level"].is_string(), "{line}");
    }
    assert!(
        logs.contains("\"level\":\"TRACE\""),
        "trace level was logged"
    );
    assert!(
        logs.contains("Component is failing."),
        "the failures were logged:\n{logs}"
    );
    assert!(logs.contains("Shutting down."), "{logs}");
    assert_clean("logs", &logs);
    let mut stdout = String::new();
    server
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .await
        .unwrap();
    assert_clean("stdout", &stdout);

    for args in [vec!["check", "--json"], vec!["check"], vec!["config"]] {
        let out = std::process::Command::new(BIN)
            .args(&args)
            .args(["--config", config.to_str().unwrap()])
            .env("RUST_LOG", "trace")
            .envs(env)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_clean(&format!("{args:?} stdout"), &stdout);
        if args == ["config"] {
            // Each secret shows where it came from instead.
            for source in [
                format!("password = \"***\"  # from file {}", db_password.display()),
                "password = \"***\"  # from environment variable RAGWATCH_REDIS__PASSWORD".into(),
            ] {
                assert!(stdout.contains(&source), "{source} not in\n{stdout}");
            }
        }
        assert_clean(
            &format!("{args:?} stderr"),
            &String::from_utf8_lossy(&out.stderr),
        );
    }
}

/// An Elasticsearch that echoes the request's `Authorization` header in its 401 error (and
/// the password percent-encoded, as a proxy might) puts neither into unauthenticated
/// healthz: the scrubber knows the Base64 of `user:password` and the encoded forms.
#[tokio::test]
async fn an_echoed_authorization_header_never_reaches_healthz() {
    const USER: &str = "elastic";
    const PASSWORD: &str = "echo-Secret/4711 x";
    let header = common::basic_auth_header(USER, PASSWORD);
    let encoded = "echo-Secret%2F4711%20x";
    let es = FixtureServer::start([(
        "GET",
        "/_cluster/health",
        FixtureResponse::json(
            401,
            format!(
                r#"{{"error":{{"type":"security_exception","reason":"unable to authenticate with [{header}] password {encoded}"}},"status":401}}"#
            ),
        ),
    )])
    .await;
    let config = format!(
        "{}[monitor]\ninterval = \"1h\"\ntimeout = \"2s\"\n[doc_engine]\nurl = \"{}\"\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\n",
        common::app::only("doc_engine"),
        es.url()
    );
    let app = common::app::TestApp::start(&config).await;
    let (status, body) = app.get_json("/v1/system/healthz").await;
    assert_eq!(status, 500, "{body}");
    let error = body["_meta"]["doc_engine"]["error"].as_str().unwrap();
    assert!(error.contains("unable to authenticate with"), "{error}");
    let encoded_header = header.trim_start_matches("Basic ");
    let shown = body.to_string();
    for leaked in [encoded_header, encoded, PASSWORD, "4711"] {
        assert!(!shown.contains(leaked), "{leaked} leaked: {shown}");
    }
    // The request did carry the credentials the body echoed.
    let sent = es.requests_to("/_cluster/health");
    assert_eq!(sent[0].header("authorization"), Some(header.as_str()));
}
