//! Discord webhooks: one embed coloured by status (red down, amber degraded, green back
//! up), its text Markdown-escaped, and no mention allowed. Discord answers `204`, or `429`
//! with `retry_after` (seconds) in the body.

use async_trait::async_trait;
use serde_json::json;

use super::notifier::{Context, Failure, Notifier, post_json};
use super::template::{Template, templated};
use super::text::{self, Markup, Message};
use super::{Alert, AlertState};
use crate::config::DiscordConfig;
use crate::status::Status;

/// A Discord receiver.
pub struct Discord {
    url: url::Url,
    template: Option<Template>,
}

impl Discord {
    /// From `[[alerts.discord]]`.
    pub fn new(config: &DiscordConfig) -> Self {
        Self {
            url: config.url.expose().clone(),
            template: Template::of(config.template.as_deref(), Markup::Markdown),
        }
    }
}

#[async_trait]
impl Notifier for Discord {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        // A templated text is the embed's description (up to 4,096 characters).
        let body = match templated(self.template.as_ref(), alert, context) {
            Some(text) => json!({
                "allowed_mentions": {"parse": []},
                "embeds": [{"description": text, "color": colour(alert)}],
            }),
            None => body(alert, &Message::of(alert, context)),
        };
        post_json(client, &self.url, &body).await?;
        Ok(())
    }
}

/// Red, amber and green (the e-mail's headline takes them too).
pub(super) fn colour(alert: &Alert) -> u32 {
    match (alert.state, alert.status) {
        (AlertState::Resolved, _) => 0x2e_b8_6e,
        (AlertState::Firing, Status::Yellow) => 0xf0_a0_20,
        (AlertState::Firing, _) => 0xd9_30_25,
    }
}

fn body(alert: &Alert, message: &Message) -> serde_json::Value {
    let fields: Vec<serde_json::Value> = message
        .facts
        .iter()
        .map(|(name, value)| {
            json!({"name": text::markdown(name), "value": text::markdown(value), "inline": false})
        })
        .collect();
    json!({
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": text::markdown(&message.headline),
            "url": message.link,
            "color": colour(alert),
            "fields": fields,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::text::tests::{alert, context, hostile_error};

    #[test]
    fn a_hostile_error_stays_text_within_discords_limits() {
        let mut alert = alert(AlertState::Firing);
        alert.error = Some(hostile_error());
        let body = body(&alert, &Message::of(&alert, &context()));
        let error = body["embeds"][0]["fields"][0]["value"].as_str().unwrap();
        assert!(!error.contains("@everyone") && !error.contains("*bold*"));
        assert!(error.chars().count() <= 1024, "an embed field's limit");
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
    }
}
