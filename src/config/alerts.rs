//! `[alerts]`: the thresholds and receivers of notifications.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::Url;

use super::Window;
use super::email::EmailConfig;
use super::maintenance::MaintenanceConfig;
use super::receivers::{
    DingtalkConfig, DiscordConfig, FeishuConfig, GoogleChatConfig, NtfyConfig, OpsgenieConfig,
    PagerdutyConfig, ReceiverConfig, Severity, SlackConfig, TeamsConfig, TelegramConfig,
    WecomConfig, all_severities, check_http, yes,
};
use super::{CaFile, KeyError, Secret, SecretUrl, Secrets, secret};

/// `[alerts]`: notifications when a component's status changes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Consecutive red results before an alert fires.
    pub failure_threshold: u32,
    /// Consecutive ok results before a firing alert resolves.
    pub success_threshold: u32,
    /// ragwatch's own address as people reach it, for links in alerts.
    #[serde(deserialize_with = "secret::plain_url")]
    pub external_url: Url,
    /// Labels naming this deployment (`deployment = "prod"`), shown in every message and
    /// sent as labels.
    pub labels: BTreeMap<String, String>,
    /// Generic JSON webhooks.
    pub webhook: Vec<WebhookConfig>,
    /// Prometheus Alertmanagers (v2 API).
    pub alertmanager: Vec<AlertmanagerConfig>,
    /// Slack incoming webhooks.
    pub slack: Vec<SlackConfig>,
    /// Discord webhooks.
    pub discord: Vec<DiscordConfig>,
    /// Telegram bots.
    pub telegram: Vec<TelegramConfig>,
    /// ntfy topics.
    pub ntfy: Vec<NtfyConfig>,
    /// PagerDuty services (Events API v2).
    pub pagerduty: Vec<PagerdutyConfig>,
    /// Microsoft Teams Workflows webhooks.
    pub teams: Vec<TeamsConfig>,
    /// Google Chat webhooks.
    pub googlechat: Vec<GoogleChatConfig>,
    /// WeCom group robots.
    pub wecom: Vec<WecomConfig>,
    /// Feishu or Lark custom bots.
    pub feishu: Vec<FeishuConfig>,
    /// DingTalk robots.
    pub dingtalk: Vec<DingtalkConfig>,
    /// Opsgenie (Alert API).
    pub opsgenie: Vec<OpsgenieConfig>,
    /// E-mail through SMTP servers.
    pub email: Vec<EmailConfig>,
    /// Planned windows without notifications.
    pub maintenance: Vec<MaintenanceConfig>,
}

impl AlertsConfig {
    /// Thresholds of at least one, HTTP receivers, SMTP servers and addresses that read.
    pub(super) fn validate(&self) -> Result<(), KeyError> {
        if self.failure_threshold == 0 {
            return Err(KeyError::new(
                "alerts.failure_threshold",
                "must be at least 1",
            ));
        }
        if self.success_threshold == 0 {
            return Err(KeyError::new(
                "alerts.success_threshold",
                "must be at least 1",
            ));
        }
        let urls = self
            .webhook
            .iter()
            .map(|w| ("alerts.webhook", w.url.expose()))
            .chain(
                self.alertmanager
                    .iter()
                    .map(|a| ("alerts.alertmanager", a.url.expose())),
            )
            .chain(self.slack.iter().map(|r| ("alerts.slack", r.url.expose())))
            .chain(
                self.discord
                    .iter()
                    .map(|r| ("alerts.discord", r.url.expose())),
            )
            .chain(
                self.telegram
                    .iter()
                    .map(|r| ("alerts.telegram", &r.api_url)),
            )
            .chain(self.ntfy.iter().map(|r| ("alerts.ntfy", r.url.expose())))
            .chain(self.pagerduty.iter().map(|r| ("alerts.pagerduty", &r.url)))
            .chain(self.teams.iter().map(|r| ("alerts.teams", r.url.expose())))
            .chain(
                self.googlechat
                    .iter()
                    .map(|r| ("alerts.googlechat", r.url.expose())),
            )
            .chain(self.wecom.iter().map(|r| ("alerts.wecom", r.url.expose())))
            .chain(
                self.feishu
                    .iter()
                    .map(|r| ("alerts.feishu", r.url.expose())),
            )
            .chain(
                self.dingtalk
                    .iter()
                    .map(|r| ("alerts.dingtalk", r.url.expose())),
            )
            .chain(self.opsgenie.iter().map(|r| ("alerts.opsgenie", &r.url)));
        for (key, url) in urls {
            check_http(key, url)?;
        }
        for (i, email) in self.email.iter().enumerate() {
            email.validate(&format!("alerts.email[{i}]"))?;
        }
        self.windows()?;
        Ok(())
    }

    /// The maintenance windows, each with the components it quiets (all when empty).
    pub fn windows(&self) -> Result<Vec<(Window, Vec<String>)>, KeyError> {
        self.maintenance
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Ok((
                    m.window(&format!("alerts.maintenance[{i}]"))?,
                    m.components.clone(),
                ))
            })
            .collect()
    }
}

impl AlertsConfig {
    /// Every receiver with its key (`alerts.slack[0]`).
    fn receivers(&self) -> Vec<(String, &dyn ReceiverConfig)> {
        fn each<'a, C: ReceiverConfig>(
            key: &'static str,
            configs: &'a [C],
        ) -> impl Iterator<Item = (String, &'a dyn ReceiverConfig)> {
            configs
                .iter()
                .enumerate()
                .map(move |(i, c)| (format!("{key}[{i}]"), c as &dyn ReceiverConfig))
        }
        each("alerts.webhook", &self.webhook)
            .chain(each("alerts.alertmanager", &self.alertmanager))
            .chain(each("alerts.slack", &self.slack))
            .chain(each("alerts.discord", &self.discord))
            .chain(each("alerts.telegram", &self.telegram))
            .chain(each("alerts.ntfy", &self.ntfy))
            .chain(each("alerts.pagerduty", &self.pagerduty))
            .chain(each("alerts.teams", &self.teams))
            .chain(each("alerts.googlechat", &self.googlechat))
            .chain(each("alerts.wecom", &self.wecom))
            .chain(each("alerts.feishu", &self.feishu))
            .chain(each("alerts.dingtalk", &self.dingtalk))
            .chain(each("alerts.opsgenie", &self.opsgenie))
            .chain(each("alerts.email", &self.email))
            .collect()
    }

    /// Refuses a receiver's `components` entry that names no component of the
    /// configuration (`is_component`), which would silently filter its alerts away, and
    /// an empty `severities`, which would take none.
    pub(super) fn validate_routing(
        &self,
        is_component: impl Fn(&str) -> bool,
    ) -> Result<(), KeyError> {
        let unknown = |key: String, components: &[String]| match components
            .iter()
            .find(|c| !is_component(c))
        {
            Some(unknown) => Err(KeyError::new(
                format!("{key}.components"),
                format!(
                    "{unknown:?} is not a component key (db, redis, doc_engine, storage, message_queue, task_executors, ragflow, parsing, models.<name>)"
                ),
            )),
            None => Ok(()),
        };
        for (i, window) in self.maintenance.iter().enumerate() {
            unknown(format!("alerts.maintenance[{i}]"), &window.components)?;
        }
        for (key, receiver) in self.receivers() {
            let routing = receiver.routing();
            unknown(key.clone(), &routing.components)?;
            if routing.severities.is_empty() {
                return Err(KeyError::new(
                    format!("{key}.severities"),
                    "must name critical, warning or both",
                ));
            }
        }
        Ok(())
    }
}

impl AlertsConfig {
    /// Every receiver's `template`, keyed `alerts.slack[0].template`: the alerting checks
    /// them when the configuration loads (`check_templates` in the composition root).
    pub fn templates(&self) -> Vec<(String, &str)> {
        self.receivers()
            .into_iter()
            .filter_map(|(key, receiver)| Some((format!("{key}.template"), receiver.template()?)))
            .collect()
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 2,
            success_threshold: 2,
            external_url: Url::parse("http://localhost:9390").expect("default URL parses"),
            labels: BTreeMap::new(),
            webhook: Vec::new(),
            alertmanager: Vec::new(),
            slack: Vec::new(),
            discord: Vec::new(),
            telegram: Vec::new(),
            ntfy: Vec::new(),
            pagerduty: Vec::new(),
            teams: Vec::new(),
            googlechat: Vec::new(),
            wecom: Vec::new(),
            feishu: Vec::new(),
            dingtalk: Vec::new(),
            opsgenie: Vec::new(),
            email: Vec::new(),
            maintenance: Vec::new(),
        }
    }
}

/// `[[alerts.webhook]]`: a receiver of JSON alert bodies.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST.
    pub url: SecretUrl,
    /// When set, the body is signed with HMAC-SHA256 in the `X-Ragwatch-Signature` header.
    #[serde(default)]
    pub secret: Secret,
    /// Certificate authorities an `https://` receiver is trusted by beside the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<CaFile>,
    /// Component keys whose alerts it takes; all when empty.
    #[serde(default)]
    pub components: Vec<String>,
    /// The severities it takes; both by default.
    #[serde(default = "all_severities")]
    pub severities: Vec<Severity>,
    /// Whether resolutions are sent.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// A message template (minijinja) replacing the default text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// `[[alerts.alertmanager]]`: a Prometheus Alertmanager.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Its base URL (`http://alertmanager:9093`).
    pub url: SecretUrl,
    /// Certificate authorities an `https://` Alertmanager is trusted by beside the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<CaFile>,
    /// Component keys whose alerts it takes; all when empty.
    #[serde(default)]
    pub components: Vec<String>,
    /// The severities it takes; both by default.
    #[serde(default = "all_severities")]
    pub severities: Vec<Severity>,
    /// Whether resolutions are sent.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// A message template (minijinja) replacing the default text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl Secrets for AlertsConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            failure_threshold: _,
            success_threshold: _,
            external_url: _,
            labels: _,
            webhook,
            alertmanager,
            slack,
            discord,
            telegram,
            ntfy,
            pagerduty,
            teams,
            googlechat,
            wecom,
            feishu,
            dingtalk,
            opsgenie,
            email,
            maintenance: _,
        } = self;
        webhook.secrets(out);
        alertmanager.secrets(out);
        slack.secrets(out);
        discord.secrets(out);
        telegram.secrets(out);
        ntfy.secrets(out);
        pagerduty.secrets(out);
        teams.secrets(out);
        googlechat.secrets(out);
        wecom.secrets(out);
        feishu.secrets(out);
        dingtalk.secrets(out);
        opsgenie.secrets(out);
        email.secrets(out);
    }
}

impl Secrets for WebhookConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            url,
            secret,
            tls_ca_file: _,
            components: _,
            severities: _,
            send_resolved: _,
            template: _,
        } = self;
        url.secrets(out);
        secret.secrets(out);
    }
}

impl Secrets for AlertmanagerConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        let Self {
            url,
            tls_ca_file: _,
            components: _,
            severities: _,
            send_resolved: _,
            template: _,
        } = self;
        url.secrets(out);
    }
}
