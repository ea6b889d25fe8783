//! Google Chat space webhooks: a `cardsV2` card with the headline as its header, each fact
//! as a decorated text (whose text takes Chat's HTML subset, so it is HTML-escaped) and a
//! button to the page.

use async_trait::async_trait;
use serde_json::json;

use super::Alert;
use super::notifier::{Context, Failure, Notifier, post_json};
use super::template::{Template, templated};
use super::text::{self, Markup, Message};
use crate::config::GoogleChatConfig;

/// A Google Chat receiver.
pub struct GoogleChat {
    url: url::Url,
    template: Option<Template>,
}

impl GoogleChat {
    /// From `[[alerts.googlechat]]`.
    pub fn new(config: &GoogleChatConfig) -> Self {
        Self {
            url: config.url.expose().clone(),
            template: Template::of(config.template.as_deref(), Markup::Html),
        }
    }
}

#[async_trait]
impl Notifier for GoogleChat {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        let message = Message::of(alert, context);
        // A templated text is the card's one paragraph (Chat's HTML subset), the button kept.
        let body = match templated(self.template.as_ref(), alert, context) {
            Some(text) => card(
                None,
                vec![json!({"textParagraph": {"text": text}})],
                &message.link,
            ),
            None => body(&message),
        };
        post_json(client, &self.url, &body).await?;
        Ok(())
    }
}

fn body(message: &Message) -> serde_json::Value {
    let widgets: Vec<serde_json::Value> = message
        .facts
        .iter()
        .map(|(name, value)| {
            json!({"decoratedText": {"topLabel": name, "text": text::html(value), "wrapText": true}})
        })
        .collect();
    card(Some(&message.headline), widgets, &message.link)
}

/// A card with an optional header `title`, `widgets`, and a button to `link`.
fn card(title: Option<&str>, mut widgets: Vec<serde_json::Value>, link: &str) -> serde_json::Value {
    widgets.push(json!({"buttonList": {"buttons": [
        {"text": "Open ragwatch", "onClick": {"openLink": {"url": link}}}
    ]}}));
    let mut card = json!({"sections": [{"widgets": widgets}]});
    if let Some(title) = title {
        card["header"] = json!({ "title": title });
    }
    json!({"cardsV2": [{"cardId": "ragwatch", "card": card}]})
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
        let widgets = &body["cardsV2"][0]["card"]["sections"][0]["widgets"];
        let error = widgets[0]["decoratedText"]["text"].as_str().unwrap();
        assert!(!error.contains('<'), "{error}");
    }
}
