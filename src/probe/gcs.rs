//! Google Cloud Storage, read-only: the bucket's metadata from the JSON API
//! (`GET {endpoint}/storage/v1/b/{bucket}`), with a read-only OAuth2 token made from a
//! service-account key by gcp_auth, or with no credentials for an emulator.

use std::time::Duration;

use gcp_auth::{CustomServiceAccount, TokenProvider};
use reqwest::StatusCode;
use url::Url;

use super::{Outcome, Probe, ProbeError, http_client, into_details, root_cause};
use crate::config::{StorageConfig, host_port};

/// Reading bucket metadata needs no more than this.
const READ_ONLY_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";

/// A service account and the token maker for it.
struct ServiceAccount {
    email: String,
    tokens: CustomServiceAccount,
}

/// Probes one bucket without writing anything.
pub struct GcsProbe {
    client: reqwest::Client,
    url: Url,
    bucket: String,
    /// Boxed: gcp_auth's token maker is large, and probes sit side by side in an enum.
    account: Option<Box<ServiceAccount>>,
    target: String,
    timeout: Duration,
}

impl GcsProbe {
    /// Reads endpoint, bucket and credentials file from `[storage]`; the file is read now,
    /// so a missing or malformed one is a configuration error.
    pub fn new(config: &StorageConfig, timeout: Duration) -> Result<Self, String> {
        let mut url = config.endpoint.clone();
        url.path_segments_mut()
            .map_err(|()| "storage.endpoint: cannot hold a bucket path".to_owned())?
            .pop_if_empty()
            .extend(["storage", "v1", "b", &config.bucket]);
        let account = match config.credentials_file.trim() {
            "" => None,
            path => Some(Box::new(service_account(path)?)),
        };
        Ok(Self {
            client: http_client(timeout)?,
            url,
            bucket: config.bucket.clone(),
            account,
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
        match (status, &self.account) {
            (StatusCode::NOT_FOUND, _) => {
                ProbeError::Rejected(format!("bucket '{}' does not exist", self.bucket))
            }
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, Some(account)) => ProbeError::Auth {
                user: account.email.clone(),
                detail: Some(detail),
            },
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, None) => {
                ProbeError::Rejected(format!(
                    "GCS refused a request without credentials ({detail}): set storage.credentials_file"
                ))
            }
            _ => ProbeError::Rejected(format!("{detail} from {}", self.target)),
        }
    }
}

/// Reads a service-account key file (`"type": "service_account"`, as the console exports).
fn service_account(path: &str) -> Result<ServiceAccount, String> {
    let invalid = |reason: String| format!("storage.credentials_file: {path}: {reason}");
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
        if let Some(account) = &self.account {
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
        let http_error = |e| ProbeError::http(e, &self.target, self.timeout);
        let response = request.send().await.map_err(http_error)?;
        let status = response.status();
        let body = response.text().await.map_err(http_error)?;
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
