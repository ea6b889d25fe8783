//! Telegram: the Bot API's `sendMessage` to one chat, in HTML parse mode with every part
//! escaped. The API answers `{"ok": true}`, or `429` with `parameters.retry_after`.

use async_trait::async_trait;
use serde_json::json;

use super::Alert;
use super::notifier::{Context, Failure, Notifier, post_json};
use super::template::{Template, templated};
use super::text::{self, Markup, Message};
use crate::config::{Secret, TelegramConfig};

/// A Telegram receiver.
pub struct Telegram {
    api_url: url::Url,
    bot_token: Secret,
    chat_id: String,
    template: Option<Template>,
}

impl Telegram {
    /// From `[[alerts.telegram]]`.
    pub fn new(config: &TelegramConfig) -> Self {
        Self {
            api_url: config.api_url.clone(),
            bot_token: config.bot_token.clone(),
            chat_id: config.chat_id.clone(),
            template: Template::of(config.template.as_deref(), Markup::Html),
        }
    }
}

#[async_trait]
impl Notifier for Telegram {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        let base = self.api_url.as_str().trim_end_matches('/');
        let url = url::Url::parse(&format!(
            "{base}/bot{}/sendMessage",
            self.bot_token.expose()
        ))
        .map_err(|_| Failure::from("the bot token does not fit in a URL".to_owned()))?;
        let text = templated(self.template.as_ref(), alert, context)
            .unwrap_or_else(|| html(&Message::of(alert, context)));
        let body = json!({
            "chat_id": self.chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
        });
        let answer: serde_json::Value = post_json(client, &url, &body)
            .await?
            .json()
            .await
            .map_err(|_| Failure::from("the answer is not Bot API JSON".to_owned()))?;
        if answer["ok"] != true {
            return Err("the Bot API answered ok: false".to_owned().into());
        }
        Ok(())
    }
}

/// The message in Telegram's HTML: headline in bold, facts with bold names, the link.
fn html(message: &Message) -> String {
    format!(
        "<b>{}</b>\n{}\n<a href=\"{}\">Open ragwatch</a>",
        text::html(&message.headline),
        message.lines(text::html, ("<b>", "</b>")),
        text::html(&message.link),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertState;
    use crate::alert::text::tests::{alert, context, hostile_error};

    #[test]
    fn a_hostile_error_stays_text_within_telegrams_limit() {
        let mut alert = alert(AlertState::Firing);
        alert.error = Some(hostile_error());
        let html = html(&Message::of(&alert, &context()));
        assert!(!html.contains("<b>x</b>") && !html.contains("</code>"));
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(html.chars().count() <= 4096, "sendMessage's limit");
    }
}
