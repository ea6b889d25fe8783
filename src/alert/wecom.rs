//! WeCom (WeChat Work) group robots: a Markdown message (at most 4,096 bytes) with every
//! part escaped. The robot answers HTTP 200 with `errcode` 0, or another code.

use async_trait::async_trait;
use serde_json::json;

use super::Alert;
use super::notifier::{Context, Failure, Notifier, post_json_checked};
use super::template::{Template, templated};
use super::text::{Markup, Message};
use crate::config::WecomConfig;

/// A WeCom receiver.
pub struct Wecom {
    url: url::Url,
    template: Option<Template>,
}

impl Wecom {
    /// From `[[alerts.wecom]]`.
    pub fn new(config: &WecomConfig) -> Self {
        Self {
            url: config.url.expose().clone(),
            template: Template::of(config.template.as_deref(), Markup::Markdown),
        }
    }
}

#[async_trait]
impl Notifier for Wecom {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        let content = templated(self.template.as_ref(), alert, context)
            .unwrap_or_else(|| super::dingtalk::markdown(&Message::of(alert, context)));
        let body = json!({
            "msgtype": "markdown",
            "markdown": {"content": content},
        });
        post_json_checked(client, &self.url, &body, "errcode").await
    }
}
