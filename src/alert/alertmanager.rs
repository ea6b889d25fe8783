//! Prometheus Alertmanager, v2 API: `POST /api/v2/alerts`. Firing alerts carry no end and
//! are sent again periodically (Alertmanager forgets an alert it has not heard of within
//! its resolve timeout); a resolved alert is sent once with `endsAt`.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::{Alert, AlertState};
use crate::config::AlertmanagerConfig;

/// How often firing alerts are sent again (well inside Alertmanager's 5-minute default).
pub const RESEND_EVERY: Duration = Duration::from_secs(60);

/// The alert name of a component that failed.
pub const ALERT_NAME: &str = "RagwatchComponentDown";

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

/// An Alertmanager receiver.
pub struct Alertmanager {
    url: url::Url,
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
        }
    }

    /// Posts alerts; any answer but 2xx is a failure to retry.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        alerts: &[Alert],
        external: &url::Url,
    ) -> Result<(), String> {
        let body: Vec<PostableAlert> = alerts
            .iter()
            .map(|alert| PostableAlert {
                labels: json!({
                    "alertname": ALERT_NAME,
                    "component": alert.component,
                    "kind": alert.kind,
                    "severity": if alert.required { "critical" } else { "warning" },
                }),
                annotations: json!({
                    "summary": format!("{} ({}) is {}", alert.component, alert.kind, alert.status.as_str()),
                    "description": alert.error.clone().unwrap_or_default(),
                }),
                starts_at: alert.started_at,
                ends_at: match alert.state {
                    AlertState::Firing => None,
                    AlertState::Resolved => alert.resolved_at,
                },
                generator_url: super::component_link(external, alert.component.as_str()),
            })
            .collect();
        let response = client
            .post(self.url.clone())
            .timeout(Duration::from_secs(10))
            .json(&body)
            .send()
            .await;
        super::expect_success(response)
    }
}
