//! PagerDuty's Events API v2: `trigger` when an alert fires and `resolve` when it ends, both
//! with the incident's `dedup_key` (the component and the first failure's time, which a
//! restart keeps), so PagerDuty opens one incident and closes that one. It answers `202`,
//! or `429` when the routing key sends too much.

use async_trait::async_trait;
use serde_json::json;

use super::notifier::{Context, Failure, Notifier, post_json};
use super::template::{Template, templated};
use super::text::{self, Markup, Message};
use super::{Alert, AlertState};
use crate::config::{PagerdutyConfig, Secret};

/// A PagerDuty receiver.
pub struct Pagerduty {
    url: url::Url,
    routing_key: Secret,
    template: Option<Template>,
}

impl Pagerduty {
    /// From `[[alerts.pagerduty]]`.
    pub fn new(config: &PagerdutyConfig) -> Self {
        Self {
            url: config.url.clone(),
            routing_key: config.routing_key.clone(),
            template: Template::of(config.template.as_deref(), Markup::Plain),
        }
    }
}

#[async_trait]
impl Notifier for Pagerduty {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        let message = Message::of(alert, context);
        // The summary is PagerDuty's one line of text: a template's first line.
        let summary = match templated(self.template.as_ref(), alert, context) {
            Some(text) => text::title_and_body(&text).0.to_owned(),
            None => message.headline.clone(),
        };
        let details: serde_json::Map<String, serde_json::Value> = message
            .facts
            .iter()
            .map(|(name, value)| (name.clone(), value.clone().into()))
            .collect();
        let body = match alert.state {
            AlertState::Firing => json!({
                "routing_key": self.routing_key.expose(),
                "event_action": "trigger",
                "dedup_key": alert.incident_key(),
                "payload": {
                    "summary": crate::message::cut(&summary, 1024),
                    "source": context.external.host_str().unwrap_or("ragwatch"),
                    "severity": alert.severity().as_str(),
                    "timestamp": alert.started_at,
                    "component": alert.component,
                    "class": alert.kind,
                    "custom_details": details,
                },
                "links": [{"href": message.link, "text": "ragwatch"}],
            }),
            AlertState::Resolved => json!({
                "routing_key": self.routing_key.expose(),
                "event_action": "resolve",
                "dedup_key": alert.incident_key(),
            }),
        };
        post_json(client, &self.url, &body).await?;
        Ok(())
    }

    /// A trigger opens an incident until it is resolved.
    fn opens_incidents(&self) -> bool {
        true
    }
}
