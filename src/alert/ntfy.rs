//! ntfy: a JSON publish of the topic's message (plain text: ntfy renders no Markdown
//! unless asked), with the headline as title, priority by severity (urgent for critical,
//! high for warning, default once resolved), a tag shown as an emoji, and the page as the
//! click action. An access token goes as `Authorization: Bearer`.

use async_trait::async_trait;
use serde_json::json;

use super::notifier::{Context, Failure, Notifier, REQUEST_TIMEOUT, expect_success};
use super::template::{Template, templated};
use super::text::{self, Markup, Message};
use super::{Alert, AlertState};
use crate::config::{NtfyConfig, Secret, Severity};

/// An ntfy receiver.
pub struct Ntfy {
    /// The server's root, where JSON is published.
    server: url::Url,
    topic: String,
    token: Secret,
    template: Option<Template>,
}

impl Ntfy {
    /// From `[[alerts.ntfy]]`: the topic is the URL's last path segment.
    pub fn new(config: &NtfyConfig) -> Self {
        let url = config.url.expose();
        let path = url.path().trim_end_matches('/');
        let (root, topic) = path.rsplit_once('/').unwrap_or(("", path));
        let mut server = url.clone();
        server.set_path(&format!("{root}/"));
        server.set_query(None);
        Self {
            server,
            topic: topic.to_owned(),
            token: config.token.clone(),
            template: Template::of(config.template.as_deref(), Markup::Plain),
        }
    }
}

#[async_trait]
impl Notifier for Ntfy {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        let message = Message::of(alert, context);
        let (title, text) = match templated(self.template.as_ref(), alert, context) {
            Some(text) => {
                let (title, rest) = text::title_and_body(&text);
                (title.to_owned(), rest.to_owned())
            }
            None => (
                message.headline.clone(),
                message.lines(str::to_owned, ("", "")),
            ),
        };
        let (priority, tag) = match (alert.state, alert.severity()) {
            (AlertState::Resolved, _) => (3, "white_check_mark"),
            (AlertState::Firing, Severity::Critical) => (5, "rotating_light"),
            (AlertState::Firing, Severity::Warning) => (4, "warning"),
        };
        let body = json!({
            "topic": self.topic,
            "title": title,
            "message": text,
            "priority": priority,
            "tags": [tag],
            "click": message.link,
        });
        let mut request = client
            .post(self.server.clone())
            .timeout(REQUEST_TIMEOUT)
            .json(&body);
        if !self.token.is_empty() {
            request = request.bearer_auth(self.token.expose());
        }
        expect_success(request.send().await).await?;
        Ok(())
    }
}
