//! The GCS probe: bucket metadata from a real GCS JSON API emulator (no credentials), and the
//! OAuth2 path with a service-account key against a local token endpoint and bucket API
//! that record what they were sent.

use crate::common;

use std::path::Path;

use common::app::{only, probe_only};
use common::{FaultProxy, FixtureResponse, FixtureServer, GcsEmulator, free_port};
use ragwatch::probe::{ProbeResult, Status};

const CLIENT_EMAIL: &str = "probe@ragwatch-test.iam.gserviceaccount.com";

async fn probe(endpoint: &str, bucket: &str, extra: &str) -> ProbeResult {
    probe_only(&format!(
        "{}[storage]\nkind = \"gcs\"\nendpoint = \"{endpoint}\"\nbucket = \"{bucket}\"\ntimeout = \"2s\"\n{extra}",
        only("storage")
    ))
    .await
}

#[tokio::test]
async fn bucket_metadata_is_green_with_location_and_class() {
    let gcs = GcsEmulator::start(&["ragflow"]).await;
    gcs.set_bucket("ragflow", "EUROPE-WEST4", "NEARLINE").await;
    let result = probe(&gcs.endpoint(), "ragflow", "").await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(result.details["bucket"], "ragflow");
    assert_eq!(result.details["location"], "EUROPE-WEST4");
    assert_eq!(result.details["storage_class"], "NEARLINE");
}

#[tokio::test]
async fn failures_say_what_to_fix() {
    let gcs = GcsEmulator::start(&["ragflow"]).await;
    let closed = free_port();
    let cases = [
        (
            "missing bucket",
            gcs.endpoint(),
            "gone",
            "bucket 'gone' does not exist".to_owned(),
        ),
        (
            "refused",
            format!("http://127.0.0.1:{closed}"),
            "ragflow",
            format!("connection refused to 127.0.0.1:{closed}"),
        ),
    ];
    for (name, endpoint, bucket, expected) in cases {
        let result = probe(&endpoint, bucket, "").await;
        assert_eq!(result.status, Status::Red, "{name}");
        assert_eq!(result.error.as_deref(), Some(expected.as_str()), "{name}");
    }
}

#[tokio::test]
async fn a_black_hole_is_bounded_by_the_timeout() {
    let hole = FaultProxy::black_hole().await;
    let result = probe_only(&format!(
        "{}[storage]\nkind = \"gcs\"\nendpoint = \"http://{}\"\nbucket = \"ragflow\"\ntimeout = \"600ms\"\n",
        only("storage"),
        hole.host_port()
    ))
    .await;
    assert_eq!(result.error.as_deref(), Some("timed out after 600 ms"));
}

/// A service-account key file whose token endpoint is `token_uri`, with a fresh RSA key.
fn credentials_file(dir: &Path, token_uri: &str) -> String {
    let pem = dir.join("key.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl (scripts/test-services.sh installs it)");
    assert!(status.success(), "openssl genpkey failed");
    let key = serde_json::json!({
        "type": "service_account",
        "project_id": "ragwatch-test",
        "private_key_id": "0123456789abcdef",
        "private_key": std::fs::read_to_string(&pem).unwrap(),
        "client_email": CLIENT_EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    });
    let path = dir.join("service-account.json");
    std::fs::write(&path, key.to_string()).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn a_service_account_sends_its_oauth2_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = FixtureServer::start([(
        "POST",
        "/token",
        FixtureResponse::json(
            200,
            r#"{"access_token":"ya29.ragwatch-test","expires_in":3600,"token_type":"Bearer"}"#,
        ),
    )])
    .await;
    let api = FixtureServer::start([(
        "GET",
        "/storage/v1/b/ragflow",
        FixtureResponse::json(
            200,
            r#"{"kind":"storage#bucket","name":"ragflow","location":"ASIA-EAST1","locationType":"region","storageClass":"STANDARD"}"#,
        ),
    )])
    .await;
    let file = credentials_file(dir.path(), &format!("{}/token", token.url()));
    let extra = format!("credentials_file = \"{file}\"\n");

    let result = probe(&api.url(), "ragflow", &extra).await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(result.details["location"], "ASIA-EAST1");
    let sent = api.requests_to("/storage/v1/b/ragflow");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].header("authorization"),
        Some("Bearer ya29.ragwatch-test")
    );
    let grant = String::from_utf8(token.requests_to("/token")[0].body.clone()).unwrap();
    assert!(
        grant.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"),
        "{grant}"
    );

    // GCS refuses the account: its reason is shown.
    api.set_route(
        "GET",
        "/storage/v1/b/ragflow",
        FixtureResponse::json(
            403,
            format!(
                r#"{{"error":{{"code":403,"message":"{CLIENT_EMAIL} does not have storage.buckets.get access to the Google Cloud Storage bucket."}}}}"#
            ),
        ),
    );
    let result = probe(&api.url(), "ragflow", &extra).await;
    assert_eq!(result.status, Status::Red);
    assert_eq!(
        result.error.as_deref(),
        Some(
            format!(
                "authentication failed for user {CLIENT_EMAIL} (HTTP 403: {CLIENT_EMAIL} does not have storage.buckets.get access to the Google Cloud Storage bucket.)"
            )
            .as_str()
        )
    );

    // The token endpoint refuses the key: no request reaches the bucket API.
    token.set_route(
        "POST",
        "/token",
        FixtureResponse::json(
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
        ),
    );
    api.clear_requests();
    let result = probe(&api.url(), "ragflow", &extra).await;
    assert_eq!(result.status, Status::Red);
    assert_eq!(
        result.error.as_deref(),
        Some(
            format!(
                "authentication failed for user {CLIENT_EMAIL} (no OAuth2 token: token request failed)"
            )
            .as_str()
        )
    );
    assert!(api.requests().is_empty());
}

#[tokio::test]
async fn a_refusal_without_credentials_asks_for_them() {
    let api = FixtureServer::start([(
        "GET",
        "/storage/v1/b/ragflow",
        FixtureResponse::json(
            401,
            r#"{"error":{"code":401,"message":"Anonymous caller does not have storage.buckets.get access."}}"#,
        ),
    )])
    .await;
    let result = probe(&api.url(), "ragflow", "").await;
    assert_eq!(result.status, Status::Red);
    assert_eq!(
        result.error.as_deref(),
        Some(
            "GCS refused a request without credentials (HTTP 401: Anonymous caller does not have storage.buckets.get access.): set storage.credentials_file"
        )
    );
    assert_eq!(api.requests()[0].header("authorization"), None);
}

/// `ragwatch check --json` of a gcs `[storage]` on `endpoint` with no credentials file, in
/// a process whose environment names a metadata server (as on Google Cloud, or as Google's
/// libraries are pointed at one with `GCE_METADATA_HOST`).
async fn check_with_metadata_host(endpoint: &str, metadata_host: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ragwatch.toml");
    std::fs::write(
        &file,
        format!(
            "{}[storage]\nkind = \"gcs\"\nendpoint = \"{endpoint}\"\nbucket = \"ragflow\"\ntimeout = \"2s\"\n",
            only("storage")
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ragwatch"))
        .args(["check", "--json", "--config", file.to_str().unwrap()])
        .env("GCE_METADATA_HOST", metadata_host)
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains(METADATA_TOKEN),
        "token on stderr: {stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains(METADATA_TOKEN), "token printed: {stdout}");
    serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["components"]["storage"].clone()
}

const METADATA_TOKEN: &str = "ya29.metadata-server-token";
const METADATA_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

#[tokio::test]
async fn without_a_key_file_the_metadata_servers_token_is_sent() {
    let metadata = FixtureServer::start([(
        "GET",
        METADATA_PATH,
        FixtureResponse::json(
            200,
            format!(
                r#"{{"access_token":"{METADATA_TOKEN}","expires_in":3599,"token_type":"Bearer"}}"#
            ),
        ),
    )])
    .await;
    let api = FixtureServer::start([(
        "GET",
        "/storage/v1/b/ragflow",
        FixtureResponse::json(
            200,
            r#"{"kind":"storage#bucket","name":"ragflow","location":"US","storageClass":"STANDARD"}"#,
        ),
    )])
    .await;
    let host = format!("127.0.0.1:{}", metadata.port());
    let storage = check_with_metadata_host(&api.url(), &host).await;
    assert_eq!(storage["status"], "green", "{storage}");
    assert_eq!(storage["details"]["location"], "US");
    let asked = metadata.requests_to(METADATA_PATH);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].header("metadata-flavor"), Some("Google"));
    let sent = api.requests_to("/storage/v1/b/ragflow");
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Bearer {METADATA_TOKEN}").as_str())
    );

    // GCS refuses the instance's service account: the way out is named.
    api.set_route(
        "GET",
        "/storage/v1/b/ragflow",
        FixtureResponse::json(
            403,
            r#"{"error":{"code":403,"message":"Permission 'storage.buckets.get' denied on resource."}}"#,
        ),
    );
    let storage = check_with_metadata_host(&api.url(), &host).await;
    assert_eq!(storage["status"], "red");
    assert_eq!(
        storage["error"],
        format!(
            "GCS refused the token of the metadata server {host} (HTTP 403: Permission 'storage.buckets.get' denied on resource.): grant its service account storage.buckets.get, or set storage.credentials_file"
        )
    );
}

#[tokio::test]
async fn an_unreachable_metadata_server_is_named_and_nothing_reaches_gcs() {
    let api = FixtureServer::start([(
        "GET",
        "/storage/v1/b/ragflow",
        FixtureResponse::json(200, r#"{"name":"ragflow"}"#),
    )])
    .await;
    let host = format!("127.0.0.1:{}", free_port());
    let storage = check_with_metadata_host(&api.url(), &host).await;
    assert_eq!(storage["status"], "red");
    let error = storage["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "no OAuth2 token from the metadata server {host} ("
        )),
        "{error}"
    );
    assert!(
        error.ends_with("): off Google Cloud, set storage.credentials_file"),
        "{error}"
    );
    assert!(api.requests().is_empty());
}
