//! Feishu and Lark custom bots: an interactive card, red or green header, the facts as
//! plain text (no markup to inject), a button to the page. With a `secret`, the body
//! carries `timestamp` (seconds) and `sign`: Base64 of HMAC-SHA256 keyed with
//! `timestamp + "\n" + secret` over nothing. The bot answers HTTP 200 with `code` 0, or
//! another code (such as 19021 for a bad signature).

use async_trait::async_trait;
use serde_json::json;

use super::notifier::{Context, Failure, Notifier, base64, hmac_sha256, post_json_checked};
use super::template::{Template, templated};
use super::text::{self, Markup, Message};
use super::{Alert, AlertState};
use crate::config::{FeishuConfig, Secret};

/// A Feishu or Lark receiver.
pub struct Feishu {
    url: url::Url,
    secret: Secret,
    template: Option<Template>,
}

impl Feishu {
    /// From `[[alerts.feishu]]`.
    pub fn new(config: &FeishuConfig) -> Self {
        Self {
            url: config.url.expose().clone(),
            secret: config.secret.clone(),
            template: Template::of(config.template.as_deref(), Markup::Plain),
        }
    }
}

/// Feishu's signature of a timestamp.
pub fn sign(secret: &Secret, timestamp: i64) -> String {
    base64(&hmac_sha256(
        format!("{timestamp}\n{}", secret.expose()).as_bytes(),
        b"",
    ))
}

#[async_trait]
impl Notifier for Feishu {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        let message = Message::of(alert, context);
        let mut body = match templated(self.template.as_ref(), alert, context) {
            Some(text) => {
                let (title, rest) = text::title_and_body(&text);
                body(alert, title, rest, &message.link)
            }
            None => body(
                alert,
                &message.headline,
                &message.lines(str::to_owned, ("", "")),
                &message.link,
            ),
        };
        if !self.secret.is_empty() {
            let timestamp = jiff::Timestamp::now().as_second();
            body["timestamp"] = timestamp.to_string().into();
            body["sign"] = sign(&self.secret, timestamp).into();
        }
        post_json_checked(client, &self.url, &body, "code").await
    }
}

/// The card: `title` in a header coloured by state, `text`, and a button to `link`.
fn body(alert: &Alert, title: &str, text: &str, link: &str) -> serde_json::Value {
    let template = match alert.state {
        AlertState::Firing => "red",
        AlertState::Resolved => "green",
    };
    json!({
        "msg_type": "interactive",
        "card": {
            "header": {
                "title": {"tag": "plain_text", "content": title},
                "template": template,
            },
            "elements": [
                {"tag": "div", "text": {"tag": "plain_text", "content": text}},
                {"tag": "action", "actions": [{
                    "tag": "button",
                    "text": {"tag": "plain_text", "content": "Open ragwatch"},
                    "url": link,
                    "type": "primary",
                }]},
            ],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_feishus() {
        // Python: base64(hmac.new(f"{ts}\n{secret}".encode(), b"", sha256).digest())
        assert_eq!(
            sign(&Secret::new("SEC-feishu"), 1_700_000_000),
            "RWwVl8ny//K/ygVTfkc3pG6B3yRqkGsck9yzDxW+2b0="
        );
    }
}
