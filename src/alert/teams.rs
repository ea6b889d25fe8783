//! Microsoft Teams through a Workflows webhook ("When a Teams webhook request is
//! received"): a message with one Adaptive Card attachment, the headline, the facts as a
//! FactSet and a button to the page. Card text is Markdown, so every part is escaped. The
//! retired Office 365 connector format (MessageCard) is not sent. Workflows answer `202`.

use async_trait::async_trait;
use serde_json::json;

use super::notifier::{Context, Failure, Notifier, post_json};
use super::template::{Template, templated};
use super::text::{self, Markup, Message};
use super::{Alert, AlertState};
use crate::config::TeamsConfig;

/// A Teams receiver.
pub struct Teams {
    url: url::Url,
    template: Option<Template>,
}

impl Teams {
    /// From `[[alerts.teams]]`.
    pub fn new(config: &TeamsConfig) -> Self {
        Self {
            url: config.url.expose().clone(),
            template: Template::of(config.template.as_deref(), Markup::Markdown),
        }
    }
}

#[async_trait]
impl Notifier for Teams {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        let message = Message::of(alert, context);
        // A templated text is the card's one text block, the button kept.
        let content = match templated(self.template.as_ref(), alert, context) {
            Some(text) => vec![json!({"type": "TextBlock", "text": text, "wrap": true})],
            None => default_content(alert, &message),
        };
        post_json(client, &self.url, &body(content, &message.link)).await?;
        Ok(())
    }
}

/// The default card's content: the headline, coloured by state, and the facts.
fn default_content(alert: &Alert, message: &Message) -> Vec<serde_json::Value> {
    let facts: Vec<serde_json::Value> = message
        .facts
        .iter()
        .map(|(name, value)| json!({"title": text::markdown(name), "value": text::markdown(value)}))
        .collect();
    let colour = match alert.state {
        AlertState::Firing => "Attention",
        AlertState::Resolved => "Good",
    };
    vec![
        json!({"type": "TextBlock", "text": text::markdown(&message.headline), "weight": "Bolder", "size": "Medium", "color": colour, "wrap": true}),
        json!({"type": "FactSet", "facts": facts}),
    ]
}

/// A message with one Adaptive Card: `content`, then a button to `link`.
fn body(content: Vec<serde_json::Value>, link: &str) -> serde_json::Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": content,
                "actions": [{"type": "Action.OpenUrl", "title": "Open ragwatch", "url": link}],
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::text::tests::{alert, context, hostile_error};

    #[test]
    fn a_hostile_error_stays_text() {
        let mut alert = alert(AlertState::Firing);
        alert.error = Some(hostile_error());
        let message = Message::of(&alert, &context());
        let body = body(default_content(&alert, &message), &message.link);
        let card = &body["attachments"][0]["content"];
        let error = card["body"][1]["facts"][0]["value"].as_str().unwrap();
        assert!(!error.contains("](") && !error.contains("<b>") && !error.contains("@all"));
    }
}
