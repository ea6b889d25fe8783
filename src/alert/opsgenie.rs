//! Opsgenie's Alert API: `POST /v2/alerts` creates an alert whose `alias` is the incident's
//! key, and `POST /v2/alerts/{alias}/close?identifierType=alias` closes it on resolve, with
//! `Authorization: GenieKey <api_key>`. Both answer `202`.

use async_trait::async_trait;
use serde_json::json;

use super::notifier::{Context, Failure, Notifier, REQUEST_TIMEOUT, expect_success};
use super::template::{Template, templated};
use super::text::{self, Markup, Message};
use super::{Alert, AlertState};
use crate::config::{OpsgenieConfig, Secret, Severity};

/// An Opsgenie receiver.
pub struct Opsgenie {
    url: url::Url,
    api_key: Secret,
    template: Option<Template>,
}

impl Opsgenie {
    /// From `[[alerts.opsgenie]]`.
    pub fn new(config: &OpsgenieConfig) -> Self {
        Self {
            url: config.url.clone(),
            api_key: config.api_key.clone(),
            template: Template::of(config.template.as_deref(), Markup::Plain),
        }
    }

    /// The API path `segments` under the configured address.
    fn endpoint(&self, segments: &[&str]) -> url::Url {
        let mut url = self.url.clone();
        url.path_segments_mut()
            .expect("an http URL has a path")
            .pop_if_empty()
            .extend(segments);
        url
    }
}

#[async_trait]
impl Notifier for Opsgenie {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        let message = Message::of(alert, context);
        // A templated text is the description and the close note, its first line the
        // alert's message.
        let templated = templated(self.template.as_ref(), alert, context);
        let headline = match &templated {
            Some(text) => text::title_and_body(text).0,
            None => &message.headline,
        };
        let alias = alert.incident_key();
        let (url, body) = match alert.state {
            AlertState::Firing => {
                let details: serde_json::Map<String, serde_json::Value> = message
                    .facts
                    .iter()
                    .map(|(name, value)| (name.clone(), value.clone().into()))
                    .collect();
                let priority = match alert.severity() {
                    Severity::Critical => "P1",
                    Severity::Warning => "P3",
                };
                let body = json!({
                    "message": crate::message::cut(headline, 130),
                    "alias": alias,
                    "description": templated.clone().unwrap_or_else(|| format!("{}\n{}", message.lines(str::to_owned, ("", "")), message.link)),
                    "priority": priority,
                    "source": "ragwatch",
                    "entity": alert.component,
                    "tags": ["ragwatch", alert.component.as_str()],
                    "details": details,
                });
                (self.endpoint(&["v2", "alerts"]), body)
            }
            AlertState::Resolved => {
                let mut url = self.endpoint(&["v2", "alerts", &alias, "close"]);
                url.query_pairs_mut().append_pair("identifierType", "alias");
                let note = templated.unwrap_or_else(|| message.lines(str::to_owned, ("", "")));
                (url, json!({"source": "ragwatch", "note": note}))
            }
        };
        let request = client
            .post(url)
            .timeout(REQUEST_TIMEOUT)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("GenieKey {}", self.api_key.expose()),
            )
            .json(&body);
        expect_success(request.send().await).await?;
        Ok(())
    }

    /// A trigger opens an incident until it is resolved.
    fn opens_incidents(&self) -> bool {
        true
    }
}
