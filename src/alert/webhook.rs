//! The generic JSON webhook: one POST per firing or resolved alert, signed with
//! HMAC-SHA256 (`X-Ragwatch-Signature: sha256=<hex>`) when a secret is set.

use async_trait::async_trait;
use serde::Serialize;

use super::notifier::{Context, Failure, Notifier, REQUEST_TIMEOUT, expect_success};
use super::template::{Template, templated};
use super::text::{Markup, Message};
use super::{Alert, AlertState};
use crate::config::ComponentKey;
use crate::config::{Secret, WebhookConfig};
use crate::status::Status;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Ragwatch-Signature";

/// The documented body.
#[derive(Serialize)]
struct Body<'a> {
    component: &'a str,
    kind: &'a str,
    state: AlertState,
    status: Status,
    previous_status: Status,
    required: bool,
    error: Option<&'a str>,
    started_at: jiff::Timestamp,
    resolved_at: Option<jiff::Timestamp>,
    held_back: &'a [ComponentKey],
    labels: &'a std::collections::BTreeMap<String, String>,
    link: String,
    /// What a person reads: the receiver's template, else the default text.
    text: String,
    /// A test notification (`ragwatch notify --test`), not an alert.
    test: bool,
    /// The cluster leader's term (`[cluster]` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    term: Option<i64>,
}

/// A webhook receiver.
pub struct Webhook {
    url: url::Url,
    secret: Secret,
    template: Option<Template>,
}

impl Webhook {
    /// From `[[alerts.webhook]]`.
    pub fn new(config: &WebhookConfig) -> Self {
        Self {
            url: config.url.expose().clone(),
            secret: config.secret.clone(),
            template: Template::of(config.template.as_deref(), Markup::Plain),
        }
    }
}

#[async_trait]
impl Notifier for Webhook {
    /// Posts one alert; any answer but 2xx is a failure to retry.
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        let body = serde_json::to_vec(&Body {
            component: alert.component.as_str(),
            kind: alert.kind,
            state: alert.state,
            status: alert.status,
            previous_status: alert.previous_status,
            required: alert.required,
            error: alert.error.as_deref(),
            started_at: alert.started_at,
            resolved_at: alert.resolved_at,
            held_back: &alert.held_back,
            labels: &context.labels,
            link: super::component_link(&context.external, alert.component.as_str()),
            text: templated(self.template.as_ref(), alert, context)
                .unwrap_or_else(|| Message::of(alert, context).plain()),
            test: context.test,
            term: alert.term,
        })
        .expect("alert body serialises");
        let mut request = client
            .post(self.url.clone())
            .timeout(REQUEST_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if !self.secret.is_empty() {
            request = request.header(SIGNATURE_HEADER, signature(&self.secret, &body));
        }
        expect_success(request.body(body).send().await).await?;
        Ok(())
    }
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &Secret, body: &[u8]) -> String {
    let hex: String = super::notifier::hmac_sha256(secret.expose().as_bytes(), body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        let secret = Secret::new("Jefe");
        assert_eq!(
            signature(&secret, b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
