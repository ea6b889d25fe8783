//! Google Cloud Storage, read-only: the bucket's metadata from the JSON API
//! (`GET {endpoint}/storage/v1/b/{bucket}`), with a read-only OAuth2 token made from a
//! service-account key by gcp_auth, or one from the metadata server on Google Cloud (as
//! RAGFlow's client finds its credentials there), or with no credentials for an emulator.

use std::time::{Duration, Instant};

use gcp_auth::{CustomServiceAccount, TokenProvider};
use reqwest::StatusCode;
use url::Url;

use super::{
    Outcome, Probe, ProbeError, direct_http_client, fetch, into_details, read_body, root_cause,
};
use crate::config::{DEFAULT_GCS_ENDPOINT, GcsConfig, KeyError, host_port};

/// Reading bucket metadata needs no more than this.
const READ_ONLY_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";

/// A service account and the token maker for it.
struct ServiceAccount {
    email: String,
    tokens: CustomServiceAccount,
}

/// How the probe signs in.
enum Credentials {
    /// No token: an emulator, or a public bucket.
    Anonymous,
    /// A service-account key file. Boxed: gcp_auth's token maker is large, and probes sit
    /// side by side in an enum.
    Key(Box<ServiceAccount>),
    /// The metadata server of a Google Cloud VM or GKE pod (workload identity).
    Metadata(MetadataServer),
}

/// Tokens from the metadata server, kept until a minute before they expire. gcp_auth's
/// provider for it cannot be pointed at `GCE_METADATA_HOST`, hence this one request.
struct MetadataServer {
    host: String,
    url: Url,
    client: reqwest::Client,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

/// The metadata server's token answer.
#[derive(serde::Deserialize)]
struct MetadataToken {
    access_token: String,
    expires_in: u64,
}

impl MetadataServer {
    /// Where Google's client libraries look: `GCE_METADATA_HOST`, else the well-known name.
    fn new(host: &str, timeout: Duration) -> Result<Self, KeyError> {
        let url = Url::parse(&format!(
            "http://{host}/computeMetadata/v1/instance/service-accounts/default/token"
        ))
        .map_err(|e| KeyError::new("storage", format!("GCE_METADATA_HOST {host:?}: {e}")))?;
        Ok(Self {
            host: host.to_owned(),
            url,
            client: direct_http_client(timeout, "storage")?,
            token: tokio::sync::Mutex::new(None),
        })
    }

    async fn token(&self, timeout: Duration) -> Result<String, String> {
        let mut kept = self.token.lock().await;
        if let Some((token, expires)) = kept.as_ref()
            && Instant::now() + Duration::from_secs(60) < *expires
        {
            return Ok(token.clone());
        }
        let response = self
            .client
            .get(self.url.clone())
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .map_err(|e| root_cause(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        let body = read_body(response, &self.host, timeout)
            .await
            .map_err(|e| e.to_string())?;
        let answer: MetadataToken =
            serde_json::from_slice(&body).map_err(|e| format!("not a token: {e}"))?;
        let expires = Instant::now() + Duration::from_secs(answer.expires_in);
        *kept = Some((answer.access_token.clone(), expires));
        Ok(answer.access_token)
    }
}

/// Probes one bucket without writing anything.
pub struct GcsProbe {
    client: reqwest::Client,
    url: Url,
    bucket: String,
    credentials: Credentials,
    target: String,
    timeout: Duration,
}

impl GcsProbe {
    /// Reads endpoint, bucket and credentials file from `[storage]`; the file is read now,
    /// so a missing or malformed one is a configuration error. Without a file, Google's own
    /// endpoint (or a `GCE_METADATA_HOST` in the environment) takes the metadata server's
    /// token; any other endpoint is an emulator and gets none.
    ///
    /// Bucket requests go through `client`; the metadata server, the machine's own, is
    /// asked directly.
    pub fn new(
        config: &GcsConfig,
        timeout: Duration,
        client: reqwest::Client,
    ) -> Result<Self, KeyError> {
        let mut url = config.endpoint.clone();
        url.path_segments_mut()
            .map_err(|()| KeyError::new("storage.endpoint", "cannot hold a bucket path"))?
            .pop_if_empty()
            .extend(["storage", "v1", "b", &config.bucket]);
        let metadata_host = std::env::var("GCE_METADATA_HOST").unwrap_or_default();
        let credentials = match config.credentials_file.trim() {
            "" if !metadata_host.is_empty() => {
                Credentials::Metadata(MetadataServer::new(&metadata_host, timeout)?)
            }
            "" if config.endpoint.as_str().trim_end_matches('/') == DEFAULT_GCS_ENDPOINT => {
                Credentials::Metadata(MetadataServer::new("metadata.google.internal", timeout)?)
            }
            "" => Credentials::Anonymous,
            path => Credentials::Key(Box::new(service_account(path)?)),
        };
        Ok(Self {
            client,
            url,
            bucket: config.bucket.clone(),
            credentials,
            target: host_port(&config.endpoint, 443),
            timeout,
        })
    }

    /// The error of a non-2xx answer, with GCS's own reason (`{"error": {"message"}}`).
    fn refused(&self, status: StatusCode, body: &str) -> ProbeError {
        let reason = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
        let detail = format!("HTTP {}: {reason}", status.as_u16());
        match (status, &self.credentials) {
            (StatusCode::NOT_FOUND, _) => {
                ProbeError::Rejected(format!("bucket '{}' does not exist", self.bucket))
            }
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, Credentials::Key(account)) => {
                ProbeError::Auth {
                    user: account.email.clone(),
                    detail: Some(detail),
                }
            }
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, Credentials::Metadata(server)) => {
                ProbeError::Rejected(format!(
                    "GCS refused the token of the metadata server {} ({detail}): grant its service account storage.buckets.get, or set storage.credentials_file",
                    server.host
                ))
            }
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, Credentials::Anonymous) => {
                ProbeError::Rejected(format!(
                    "GCS refused a request without credentials ({detail}): set storage.credentials_file"
                ))
            }
            _ => ProbeError::Rejected(format!("{detail} from {}", self.target)),
        }
    }
}

/// Reads a service-account key file (`"type": "service_account"`, as the console exports).
fn service_account(path: &str) -> Result<ServiceAccount, KeyError> {
    let invalid =
        |reason: String| KeyError::new("storage.credentials_file", format!("{path}: {reason}"));
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    let email = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|key| key["client_email"].as_str().map(str::to_owned))
        .ok_or_else(|| invalid("not a service-account key (no client_email)".into()))?;
    let tokens = CustomServiceAccount::from_json(&text).map_err(|e| invalid(e.to_string()))?;
    Ok(ServiceAccount { email, tokens })
}

impl Probe for GcsProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        let mut request = self.client.get(self.url.clone());
        match &self.credentials {
            Credentials::Anonymous => {}
            Credentials::Key(account) => {
                let token = account
                    .tokens
                    .token(&[READ_ONLY_SCOPE])
                    .await
                    .map_err(|e| ProbeError::Auth {
                        user: account.email.clone(),
                        detail: Some(format!("no OAuth2 token: {}", root_cause(&e))),
                    })?;
                request = request.bearer_auth(token.as_str());
            }
            Credentials::Metadata(server) => {
                let token = server.token(self.timeout).await.map_err(|reason| {
                    ProbeError::Rejected(format!(
                        "no OAuth2 token from the metadata server {} ({reason}): off Google Cloud, set storage.credentials_file",
                        server.host
                    ))
                })?;
                request = request.bearer_auth(token);
            }
        }
        let (status, body) = fetch(request, &self.target, self.timeout).await?;
        let body = String::from_utf8_lossy(&body);
        if !status.is_success() {
            return Err(self.refused(status, &body));
        }
        let bucket: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| ProbeError::Protocol {
                target: self.target.clone(),
                reason: format!("bucket metadata is not JSON: {e}"),
            })?;
        Ok(Outcome::green(into_details(serde_json::json!({
            "bucket": bucket["name"],
            "location": bucket["location"],
            "location_type": bucket["locationType"],
            "storage_class": bucket["storageClass"],
        }))))
    }
}
