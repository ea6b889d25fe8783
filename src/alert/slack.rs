//! Slack incoming webhooks: a Block Kit message (header, facts, link) with a plain-text
//! fallback for notifications. Slack answers `200 ok`, or `429` with `Retry-After`.

use async_trait::async_trait;
use serde_json::json;

use super::Alert;
use super::notifier::{Context, Failure, Notifier, post_json};
use super::template::{Template, templated};
use super::text::{self, Markup, Message};
use crate::config::SlackConfig;

/// A Slack receiver.
pub struct Slack {
    url: url::Url,
    template: Option<Template>,
}

impl Slack {
    /// From `[[alerts.slack]]`.
    pub fn new(config: &SlackConfig) -> Self {
        Self {
            url: config.url.expose().clone(),
            template: Template::of(config.template.as_deref(), Markup::Slack),
        }
    }
}

#[async_trait]
impl Notifier for Slack {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        // A templated text is the whole message, mrkdwn as Slack renders a message's text.
        let body = match templated(self.template.as_ref(), alert, context) {
            Some(text) => json!({ "text": text }),
            None => body(&Message::of(alert, context)),
        };
        post_json(client, &self.url, &body).await?;
        Ok(())
    }
}

/// The Block Kit body. The header is plain text (Slack renders no markup in it); the facts
/// are mrkdwn, each part escaped.
fn body(message: &Message) -> serde_json::Value {
    let facts = message.lines(text::slack, ("*", "*"));
    json!({
        "text": text::slack(&message.headline),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message.headline, "emoji": false}},
            {"type": "section", "text": {"type": "mrkdwn", "text": facts}},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("<{}|Open ragwatch>", text::slack(&message.link))}},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertState;
    use crate::alert::text::tests::{alert, context, hostile_error};

    #[test]
    fn a_hostile_error_stays_text() {
        let mut alert = alert(AlertState::Firing);
        alert.error = Some(hostile_error());
        let body = body(&Message::of(&alert, &context()));
        let facts = body["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(!facts.contains("<!channel>") && !facts.contains("<@U123>"));
        assert!(facts.contains("&lt;!channel&gt;"));
        assert!(facts.len() < 3000, "Slack's limit for a section");
    }
}
