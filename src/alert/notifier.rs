//! What every receiver kind implements ([`Notifier`]), what it is handed beside the alert
//! ([`Context`]), and how an HTTP answer becomes a success or a [`Failure`] with the
//! service's own hint of when to try again.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use super::{Alert, MAX_BACKOFF};
use crate::config::Scrubber;

/// What every message needs beside the alert.
#[derive(Clone, Debug)]
pub struct Context {
    /// ragwatch's address as people reach it (`alerts.external_url`).
    pub external: url::Url,
    /// `alerts.labels`: which deployment this is.
    pub labels: BTreeMap<String, String>,
    /// Whether the messages are test notifications (`ragwatch notify --test`).
    pub test: bool,
    /// Scrubs the configuration's secrets from what is logged.
    pub scrubber: Scrubber,
}

impl Context {
    /// A deployment labelled `deployment = "prod"` at `https://ragwatch.example/`: what a
    /// template is checked against when the configuration loads.
    pub fn sample() -> Self {
        Self {
            external: url::Url::parse("https://ragwatch.example/").expect("the URL parses"),
            labels: [("deployment".to_owned(), "prod".to_owned())].into(),
            test: false,
            scrubber: Scrubber::default(),
        }
    }

    /// The link to ragwatch's page.
    pub fn page_link(&self) -> String {
        format!("{}/", self.external.as_str().trim_end_matches('/'))
    }
}

/// A delivery that did not succeed.
#[derive(Debug, PartialEq)]
pub struct Failure {
    /// Why, for the log and readyz (scrubbed before it is shown).
    pub message: String,
    /// How long the service asked to wait before the next attempt (429).
    pub retry_after: Option<Duration>,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            message,
            retry_after: None,
        }
    }
}

/// A receiver kind: turns alerts into its service's requests.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Sends one alert; any answer but success is a failure to retry.
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure>;

    /// Sends several, one at a time unless the service takes them together.
    async fn send_all(
        &self,
        client: &reqwest::Client,
        alerts: &[Alert],
        context: &Context,
    ) -> Result<(), Failure> {
        for alert in alerts {
            self.send(client, alert, context).await?;
        }
        Ok(())
    }

    /// Whether firing alerts are sent again periodically (a service that forgets them).
    fn resends_firing(&self) -> bool {
        false
    }

    /// Whether a firing alert opens something that stays open until it resolves (an
    /// incident of a paging service): a test notification resolves at once.
    fn opens_incidents(&self) -> bool {
        false
    }
}

/// The client's timeout for one request to a receiver.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A 2xx answer, or why not; a 429 carries the wait the service asked for, from
/// `Retry-After` or a JSON `retry_after` (Discord) or `parameters.retry_after` (Telegram),
/// never longer than [`MAX_BACKOFF`].
pub async fn expect_success(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<reqwest::Response, Failure> {
    let response = match response {
        Ok(response) => response,
        Err(error) => {
            let error = error.without_url();
            return Err(crate::probe::tls_failure(&error)
                .unwrap_or_else(|| crate::probe::root_cause(&error))
                .into());
        }
    };
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let message = format!("HTTP {}", status.as_u16());
    if status != reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(message.into());
    }
    let header = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    let body: Option<serde_json::Value> = response.json().await.ok();
    let in_body = body.as_ref().and_then(|b| {
        b.get("retry_after")
            .or_else(|| b.pointer("/parameters/retry_after"))
            .and_then(serde_json::Value::as_f64)
    });
    let retry_after = header
        .or(in_body)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s).min(MAX_BACKOFF));
    Err(Failure {
        message,
        retry_after,
    })
}

/// POSTs `body` as JSON to `url`; the answer if it is a success.
pub async fn post_json(
    client: &reqwest::Client,
    url: &url::Url,
    body: &serde_json::Value,
) -> Result<reqwest::Response, Failure> {
    let request = client.post(url.clone()).timeout(REQUEST_TIMEOUT).json(body);
    expect_success(request.send().await).await
}

/// POSTs `body` as JSON to a service that answers failures with HTTP 200 too (Feishu,
/// DingTalk, WeCom): a success only when the answer's `field` is 0.
pub async fn post_json_checked(
    client: &reqwest::Client,
    url: &url::Url,
    body: &serde_json::Value,
    field: &str,
) -> Result<(), Failure> {
    let answer: serde_json::Value = post_json(client, url, body)
        .await?
        .json()
        .await
        .map_err(|_| Failure::from("the answer is not JSON".to_owned()))?;
    match answer.get(field).and_then(serde_json::Value::as_i64) {
        Some(0) => Ok(()),
        code => {
            let why = answer
                .get("msg")
                .or_else(|| answer.get("errmsg"))
                .and_then(serde_json::Value::as_str)
                .map(|m| crate::message::cut(m, 200).into_owned())
                .unwrap_or_default();
            Err(format!("{field} {} {why}", code.unwrap_or(-1)).into())
        }
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use hmac::Mac as _;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Standard Base64, as Feishu and DingTalk want signatures.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
