//! The Azure Blob probe against a real Azure Blob service (Azurite) with its own account:
//! Get Container Properties signed with the account key (Shared Key) or with a SAS token.

use crate::common;

use common::app::{only, probe_only};
use common::{AzuriteServer, FaultProxy, free_port};
use ragwatch::probe::{ProbeResult, Status};

const ACCOUNT: &str = "ragwatchstore";
/// Base64 of "ragwatch-azurite-account-key-01".
const KEY: &str = "cmFnd2F0Y2gtYXp1cml0ZS1hY2NvdW50LWtleS0wMQ==";
/// Base64 of "another-key-of-the-same-length!".
const WRONG_KEY: &str = "YW5vdGhlci1rZXktb2YtdGhlLXNhbWUtbGVuZ3RoIQ==";

/// Probes `[storage]` of kind azure with the given credential line and container.
async fn probe(endpoint: &str, credential: &str, container: &str) -> ProbeResult {
    probe_only(&format!(
        "{}[storage]\nkind = \"azure\"\nendpoint = \"{endpoint}\"\naccount_name = \"{ACCOUNT}\"\n{credential}\ncontainer = \"{container}\"\ntimeout = \"2s\"\n",
        only("storage")
    ))
    .await
}

fn account_key(key: &str) -> String {
    format!("account_key = \"{key}\"")
}

fn sas_token(token: &str) -> String {
    format!("sas_token = \"{token}\"")
}

/// The error of a red result, after checking that no credential leaked into it.
fn red_error(result: &ProbeResult, secrets: &[&str]) -> String {
    assert_eq!(result.status, Status::Red, "{result:?}");
    let error = result.error.clone().expect("a red result has an error");
    for secret in secrets {
        assert!(!error.contains(secret), "{secret} leaked: {error}");
    }
    error
}

#[tokio::test]
async fn container_properties_with_the_account_key_are_green() {
    let azurite = AzuriteServer::start(ACCOUNT, KEY, &["ragflow"]).await;
    let result = probe(&azurite.endpoint(), &account_key(KEY), "ragflow").await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(result.details["container"], "ragflow");
    assert_eq!(result.details["account"], ACCOUNT);
    assert_eq!(result.details["lease_state"], "available");
    assert_eq!(result.details["public_access"], "none");
    let modified = result.details["last_modified"].as_str().unwrap();
    assert!(
        modified.parse::<jiff::Timestamp>().is_ok(),
        "last_modified {modified}"
    );
}

#[tokio::test]
async fn a_missing_container_is_named() {
    let azurite = AzuriteServer::start(ACCOUNT, KEY, &["ragflow"]).await;
    let result = probe(&azurite.endpoint(), &account_key(KEY), "gone").await;
    assert_eq!(
        red_error(&result, &[KEY]),
        format!("container 'gone' does not exist in account '{ACCOUNT}'")
    );
}

#[tokio::test]
async fn a_wrong_account_key_fails_authentication_without_showing_a_key() {
    let azurite = AzuriteServer::start(ACCOUNT, KEY, &["ragflow"]).await;
    let result = probe(&azurite.endpoint(), &account_key(WRONG_KEY), "ragflow").await;
    assert_eq!(
        red_error(&result, &[KEY, WRONG_KEY]),
        format!(
            "authentication failed for account '{ACCOUNT}' (HTTP 403 AuthorizationFailure): check storage.account_key"
        )
    );
}

#[tokio::test]
async fn sas_tokens_are_checked_by_the_service() {
    let azurite = AzuriteServer::start(ACCOUNT, KEY, &["ragflow"]).await;
    let endpoint = azurite.endpoint();

    let good = azurite.account_sas(KEY, "rl", "sco");
    let result = probe(&endpoint, &sas_token(&format!("?{good}")), "ragflow").await;
    assert_eq!(result.status, Status::Green, "{:?}", result.error);
    assert_eq!(result.details["container"], "ragflow");

    let forged = azurite.account_sas(WRONG_KEY, "rl", "sco");
    let signature = forged.split("sig=").nth(1).unwrap();
    let result = probe(&endpoint, &sas_token(&forged), "ragflow").await;
    assert_eq!(
        red_error(&result, &[&forged, signature, KEY, WRONG_KEY]),
        format!(
            "authentication failed for account '{ACCOUNT}' (HTTP 403 AuthorizationFailure): check storage.sas_token"
        )
    );

    // Signed right, but only for blobs (objects), not containers.
    let objects_only = azurite.account_sas(KEY, "rl", "o");
    let result = probe(&endpoint, &sas_token(&objects_only), "ragflow").await;
    assert_eq!(
        red_error(&result, &[&objects_only]),
        format!(
            "account '{ACCOUNT}' may not read container 'ragflow' with storage.sas_token (AuthorizationResourceTypeMismatch)"
        )
    );
}

#[tokio::test]
async fn a_closed_port_is_refused() {
    let port = free_port();
    let result = probe(
        &format!("http://127.0.0.1:{port}/{ACCOUNT}"),
        &account_key(KEY),
        "ragflow",
    )
    .await;
    assert_eq!(
        red_error(&result, &[KEY]),
        format!("connection refused to 127.0.0.1:{port}")
    );
}

#[tokio::test]
async fn a_black_hole_is_bounded_by_the_timeout() {
    let hole = FaultProxy::black_hole().await;
    let result = probe_only(&format!(
        "{}[storage]\nkind = \"azure\"\nendpoint = \"http://{}/{ACCOUNT}\"\naccount_name = \"{ACCOUNT}\"\naccount_key = \"{KEY}\"\ncontainer = \"ragflow\"\ntimeout = \"600ms\"\n",
        only("storage"),
        hole.host_port()
    ))
    .await;
    assert_eq!(result.error.as_deref(), Some("timed out after 600 ms"));
    assert!(result.elapsed_ms < 3000.0, "{} ms", result.elapsed_ms);
}

#[tokio::test]
async fn an_unknown_account_is_named() {
    let azurite = AzuriteServer::start(ACCOUNT, KEY, &["ragflow"]).await;
    let result = probe_only(&format!(
        "{}[storage]\nkind = \"azure\"\nendpoint = \"http://127.0.0.1:{}/otheraccount\"\naccount_name = \"otheraccount\"\naccount_key = \"{KEY}\"\ncontainer = \"ragflow\"\ntimeout = \"2s\"\n",
        only("storage"),
        azurite.port()
    ))
    .await;
    assert_eq!(
        red_error(&result, &[KEY]),
        format!(
            "account 'otheraccount' not found at 127.0.0.1:{} (ResourceNotFound): check storage.endpoint and storage.account_name",
            azurite.port()
        )
    );
}
