//! Prometheus Alertmanager, v2 API: `POST /api/v2/alerts`. Firing alerts carry no end and
//! are sent again periodically (Alertmanager forgets an alert it has not heard of within
//! its resolve timeout); a resolved alert is sent once with `endsAt`.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::json;

use super::notifier::{Context, Failure, Notifier, REQUEST_TIMEOUT, expect_success};
use super::template::{Template, templated};
use super::text::{self, Markup};
use super::{Alert, AlertState};
use crate::config::AlertmanagerConfig;

/// How often firing alerts are sent again (well inside Alertmanager's 5-minute default).
pub const RESEND_EVERY: Duration = Duration::from_secs(60);

/// The alert name of a component that failed.
pub const ALERT_NAME: &str = "RagwatchComponentDown";
/// The alert name of a test notification (`ragwatch notify --test`).
pub const TEST_ALERT_NAME: &str = "RagwatchTest";
/// Where the README says what to check for [`ALERT_NAME`] (the example rules' form).
pub const RUNBOOK_URL: &str = "README.md#ragwatchcomponentdown";

/// One alert in Alertmanager's shape.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    labels: serde_json::Value,
    annotations: serde_json::Value,
    starts_at: jiff::Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    ends_at: Option<jiff::Timestamp>,
    #[serde(rename = "generatorURL")]
    generator_url: String,
}

/// The annotations, with the cluster leader's term when there is one: an annotation, as a
/// label would split the alert's identity at every change of leader.
fn annotations(mut annotations: serde_json::Value, term: Option<i64>) -> serde_json::Value {
    if let Some(term) = term {
        annotations["term"] = json!(term.to_string());
    }
    annotations
}

/// An Alertmanager receiver.
pub struct Alertmanager {
    url: url::Url,
    template: Option<Template>,
}

impl Alertmanager {
    /// From `[[alerts.alertmanager]]`.
    pub fn new(config: &AlertmanagerConfig) -> Self {
        let mut url = config.url.expose().clone();
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        Self {
            url: url.join("api/v2/alerts").expect("a relative path joins"),
            template: Template::of(config.template.as_deref(), Markup::Plain),
        }
    }
}

#[async_trait]
impl Notifier for Alertmanager {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        context: &Context,
    ) -> Result<(), Failure> {
        self.send_all(client, std::slice::from_ref(alert), context)
            .await
    }

    /// Posts alerts together; any answer but 2xx is a failure to retry.
    async fn send_all(
        &self,
        client: &reqwest::Client,
        alerts: &[Alert],
        context: &Context,
    ) -> Result<(), Failure> {
        let body: Vec<PostableAlert> = alerts
            .iter()
            .map(|alert| PostableAlert {
                labels: labels(alert, context),
                annotations: annotations(json!({
                    "summary": if context.test {
                        text::TEST_HEADLINE.to_owned()
                    } else {
                        format!("{} ({}) is {}", alert.component, alert.kind, alert.status.as_str())
                    },
                    // A template's text, else the error.
                    "description": templated(self.template.as_ref(), alert, context)
                        .or_else(|| alert.error.clone())
                        .unwrap_or_default(),
                    // The README's Runbook section, as the example rules' alerts have it.
                    "runbook_url": RUNBOOK_URL,
                }), alert.term),
                starts_at: alert.started_at,
                ends_at: match alert.state {
                    AlertState::Firing => None,
                    AlertState::Resolved => alert.resolved_at,
                },
                // A person follows it: the System page, not the API's JSON.
                generator_url: context.page_link(),
            })
            .collect();
        let response = client
            .post(self.url.clone())
            .timeout(REQUEST_TIMEOUT)
            .json(&body)
            .send()
            .await;
        expect_success(response).await?;
        Ok(())
    }

    /// Alertmanager forgets a firing alert it has not heard of within its resolve timeout.
    fn resends_firing(&self) -> bool {
        true
    }

    /// A firing alert stays active (and notifies) until it ends.
    fn opens_incidents(&self) -> bool {
        true
    }
}

/// `alerts.labels`, then ragwatch's own (which win a clash, as routing relies on them).
fn labels(alert: &Alert, context: &Context) -> serde_json::Value {
    let mut labels: serde_json::Map<String, serde_json::Value> = context
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    labels.extend([
        (
            "alertname".to_owned(),
            if context.test {
                TEST_ALERT_NAME
            } else {
                ALERT_NAME
            }
            .into(),
        ),
        ("component".to_owned(), alert.component.as_str().into()),
        ("kind".to_owned(), alert.kind.into()),
        ("severity".to_owned(), alert.severity().as_str().into()),
    ]);
    labels.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_term_is_an_annotation_only_in_a_cluster() {
        let base = json!({"summary": "s"});
        assert_eq!(annotations(base.clone(), None), base);
        assert_eq!(
            annotations(base, Some(4)),
            json!({"summary": "s", "term": "4"})
        );
    }
}
