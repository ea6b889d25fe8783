//! DingTalk robots: a Markdown message with every part escaped and no one mentioned. With
//! a `secret`, the URL carries `timestamp` (milliseconds) and `sign`: Base64 of
//! HMAC-SHA256 keyed with the secret over `timestamp + "\n" + secret`. The robot answers
//! HTTP 200 with `errcode` 0, or another code (310000 for a bad signature).

use async_trait::async_trait;
use serde_json::json;

use super::Alert;
use super::notifier::{Context, Failure, Notifier, base64, hmac_sha256, post_json_checked};
use super::template::{Template, templated};
use super::text::{self, Markup, Message};
use crate::config::{DingtalkConfig, Secret};

/// A DingTalk receiver.
pub struct Dingtalk {
    url: url::Url,
    secret: Secret,
    template: Option<Template>,
}

impl Dingtalk {
    /// From `[[alerts.dingtalk]]`.
    pub fn new(config: &DingtalkConfig) -> Self {
        Self {
            url: config.url.expose().clone(),
            secret: config.secret.clone(),
            template: Template::of(config.template.as_deref(), Markup::Markdown),
        }
    }
}

/// DingTalk's signature of a timestamp.
pub fn sign(secret: &Secret, timestamp: i64) -> String {
    base64(&hmac_sha256(
        secret.expose().as_bytes(),
        format!("{timestamp}\n{}", secret.expose()).as_bytes(),
    ))
}

#[async_trait]
impl Notifier for Dingtalk {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        let mut url = self.url.clone();
        if !self.secret.is_empty() {
            let timestamp = jiff::Timestamp::now().as_millisecond();
            url.query_pairs_mut()
                .append_pair("timestamp", &timestamp.to_string())
                .append_pair("sign", &sign(&self.secret, timestamp));
        }
        let message = Message::of(alert, context);
        // The title is what a notification shows; a template makes the text.
        let text =
            templated(self.template.as_ref(), alert, context).unwrap_or_else(|| markdown(&message));
        let body = json!({
            "msgtype": "markdown",
            "markdown": {"title": message.headline, "text": text},
            "at": {"isAtAll": false},
        });
        post_json_checked(client, &url, &body, "errcode").await
    }
}

/// The message in Markdown, one list item per fact.
pub fn markdown(message: &Message) -> String {
    let facts = message
        .facts
        .iter()
        .map(|(name, value)| format!("- **{}:** {}", text::markdown(name), text::markdown(value)))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "#### {}\n\n{facts}\n\n[Open ragwatch]({})",
        text::markdown(&message.headline),
        message.link
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertState;
    use crate::alert::text::tests::{alert, context, hostile_error};

    #[test]
    fn the_signature_is_dingtalks() {
        // Python: base64(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), sha256).digest())
        assert_eq!(
            sign(&Secret::new("SEC-dingtalk"), 1_700_000_000_123),
            "uxahO3gX7ze1gplEtmmIfnBxCOUiOJcATao+jj0BVD4="
        );
    }

    #[test]
    fn a_hostile_error_stays_text() {
        let mut alert = alert(AlertState::Firing);
        alert.error = Some(hostile_error());
        let markdown = markdown(&Message::of(&alert, &context()));
        assert!(!markdown.contains("@all") && !markdown.contains("<b>"));
        assert_eq!(markdown.matches("](").count(), 1, "the page's link only");
        assert!(markdown.len() < 4096, "{}", markdown.len());
    }
}
