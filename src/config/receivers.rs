//! The chat and paging receivers of `[alerts]` (`[[alerts.slack]]`, `[[alerts.telegram]]`,
//! ...), and [`Routing`], which alerts a receiver takes. Every receiver has the keys
//! `components`, `severities`, `send_resolved` and `template`; the keys that hold a token are secrets
//! (with `<key>_file` twins): a chat webhook's whole `url` is one, its token sits in the
//! path or query.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use super::secret::host_port;
use super::{CaFile, KeyError, REDACTED, Secret, SecretUrl, Secrets, secret};

/// How bad an alert is: `critical` for a required component, `warning` for an optional one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A required component (counted in the overall status).
    Critical,
    /// An optional one.
    Warning,
}

impl Severity {
    /// The severity of a component's alert.
    pub fn of(required: bool) -> Self {
        if required {
            Self::Critical
        } else {
            Self::Warning
        }
    }

    /// `critical` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
        }
    }
}

/// Which alerts a receiver takes, from its `components`, `severities` and `send_resolved`.
#[derive(Clone, Debug, PartialEq)]
pub struct Routing {
    /// Component keys; all when empty.
    pub components: Vec<String>,
    /// Severities taken.
    pub severities: Vec<Severity>,
    /// Whether a resolution is sent.
    pub send_resolved: bool,
}

impl Routing {
    /// Whether an alert about `component` (of `severity`, resolved or not) is sent.
    pub fn takes(&self, component: &str, severity: Severity, resolved: bool) -> bool {
        (self.components.is_empty() || self.components.iter().any(|c| c == component))
            && self.severities.contains(&severity)
            && (self.send_resolved || !resolved)
    }
}

/// A receiver's configuration: where it sends and which alerts it takes.
pub trait ReceiverConfig {
    /// Which alerts it takes.
    fn routing(&self) -> Routing;
    /// The `host:port` it sends to, which names it (with its kind) in logs, readyz and
    /// metrics: never a secret.
    fn host(&self) -> String;
    /// Certificate authorities it trusts beside the system's.
    fn ca_file(&self) -> Option<CaFile>;
    /// Its `template`, replacing the default text.
    fn template(&self) -> Option<&str>;
}

/// Implements [`ReceiverConfig`] for a receiver with the three routing keys and `template`, given the
/// URL it sends to and its certificate authorities.
macro_rules! receiver_config {
    ($($config:ty: |$c:ident| $url:expr, $ca:expr;)*) => {$(
        impl ReceiverConfig for $config {
            fn routing(&self) -> Routing {
                Routing {
                    components: self.components.clone(),
                    severities: self.severities.clone(),
                    send_resolved: self.send_resolved,
                }
            }
            fn host(&self) -> String {
                let $c = self;
                host_port($url, 443)
            }
            fn ca_file(&self) -> Option<CaFile> {
                // Most receivers are public services and take no authorities of their own.
                #[allow(unused_variables)]
                let $c = self;
                $ca
            }
            fn template(&self) -> Option<&str> {
                self.template.as_deref()
            }
        }
    )*};
}

receiver_config! {
    super::WebhookConfig: |c| c.url.expose(), c.tls_ca_file.clone();
    super::AlertmanagerConfig: |c| c.url.expose(), c.tls_ca_file.clone();
    SlackConfig: |c| c.url.expose(), None;
    DiscordConfig: |c| c.url.expose(), None;
    TeamsConfig: |c| c.url.expose(), None;
    GoogleChatConfig: |c| c.url.expose(), None;
    WecomConfig: |c| c.url.expose(), None;
    FeishuConfig: |c| c.url.expose(), None;
    DingtalkConfig: |c| c.url.expose(), None;
    OpsgenieConfig: |c| &c.url, None;
    TelegramConfig: |c| &c.api_url, None;
    NtfyConfig: |c| c.url.expose(), None;
    PagerdutyConfig: |c| &c.url, None;
}

/// Both severities, the default of `severities`.
pub(super) fn all_severities() -> Vec<Severity> {
    vec![Severity::Critical, Severity::Warning]
}

/// `true`, the default of `send_resolved`.
pub(super) fn yes() -> bool {
    true
}

/// A webhook URL whose path or query holds its token (Slack's `/services/T/B/token`,
/// a topic name): all of it is secret, and it shows as `https://host:port/***`.
#[derive(Clone)]
pub struct TokenUrl(SecretUrl);

impl TokenUrl {
    /// The real URL, for the client. Never format it.
    pub fn expose(&self) -> &Url {
        self.0.expose()
    }

    /// What is shown of it: where it goes, not the token.
    fn shown(&self) -> String {
        let url = self.expose();
        format!("{}://{}/{REDACTED}", url.scheme(), host_port(url, 443))
    }
}

impl fmt::Debug for TokenUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl Serialize for TokenUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.shown())
    }
}

impl<'de> Deserialize<'de> for TokenUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        SecretUrl::deserialize(deserializer).map(Self)
    }
}

impl Secrets for TokenUrl {
    /// Any credential of the URL, and its path and query, where the token sits.
    fn secrets(&self, out: &mut Vec<String>) {
        self.0.secrets(out);
        let url = self.expose();
        if url.path().len() > 1 {
            out.push(url.path().to_owned());
        }
        if let Some(query) = url.query().filter(|q| !q.is_empty()) {
            out.push(query.to_owned());
        }
    }
}

/// Refuses a receiver URL that is not `http://` or `https://`.
pub(super) fn check_http(key: &str, url: &Url) -> Result<(), KeyError> {
    if matches!(url.scheme(), "http" | "https") {
        Ok(())
    } else {
        Err(KeyError::new(key, "url must be an http:// or https:// URL"))
    }
}

/// Declares a receiver whose own keys are a webhook `url` holding its token and the
/// optional secrets listed.
macro_rules! webhook_receiver {
    ($(#[$doc:meta])* $name:ident $({ $($(#[$secret_doc:meta])* $secret:ident),* })?) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The webhook URL; its path or query holds the token, so all of it is secret.
            pub url: TokenUrl,
            $($(
                $(#[$secret_doc])*
                #[serde(default)]
                pub $secret: Secret,
            )*)?
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

        impl Secrets for $name {
            fn secrets(&self, out: &mut Vec<String>) {
                self.url.secrets(out);
                $($(self.$secret.secrets(out);)*)?
            }
        }
    };
}

webhook_receiver!(
    /// `[[alerts.slack]]`: a Slack incoming webhook, sent Block Kit messages.
    SlackConfig
);
webhook_receiver!(
    /// `[[alerts.discord]]`: a Discord webhook, sent an embed coloured by status.
    DiscordConfig
);
webhook_receiver!(
    /// `[[alerts.teams]]`: a Microsoft Teams Workflows webhook, sent an Adaptive Card.
    TeamsConfig
);
webhook_receiver!(
    /// `[[alerts.googlechat]]`: a Google Chat space webhook, sent a card.
    GoogleChatConfig
);
webhook_receiver!(
    /// `[[alerts.wecom]]`: a WeCom (WeChat Work) group robot, sent Markdown.
    WecomConfig
);
webhook_receiver!(
    /// `[[alerts.feishu]]`: a Feishu or Lark custom bot, sent an interactive card.
    FeishuConfig {
        /// When set, each message is signed (timestamp and HMAC-SHA256 `sign`).
        secret
    }
);
webhook_receiver!(
    /// `[[alerts.dingtalk]]`: a DingTalk robot, sent Markdown.
    DingtalkConfig {
        /// When set, each request is signed (`timestamp` and `sign` in the query).
        secret
    }
);

/// `[[alerts.opsgenie]]`: Opsgenie's Alert API.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieConfig {
    /// An API integration's key, sent as `Authorization: GenieKey`.
    pub api_key: Secret,
    /// The API's address (`https://api.eu.opsgenie.com` for the EU instance).
    #[serde(default = "opsgenie_api", deserialize_with = "secret::plain_url")]
    pub url: Url,
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

fn opsgenie_api() -> Url {
    Url::parse("https://api.opsgenie.com").expect("the default URL parses")
}

impl Secrets for OpsgenieConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        self.api_key.secrets(out);
    }
}

/// `[[alerts.telegram]]`: a Telegram bot posting to one chat with `sendMessage`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The bot's token from BotFather.
    pub bot_token: Secret,
    /// The chat (`-1001234567890`, `@channel`).
    #[serde(deserialize_with = "secret::text")]
    pub chat_id: String,
    /// The Bot API's address.
    #[serde(default = "telegram_api", deserialize_with = "secret::plain_url")]
    pub api_url: Url,
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

fn telegram_api() -> Url {
    Url::parse("https://api.telegram.org").expect("the default URL parses")
}

impl Secrets for TelegramConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        self.bot_token.secrets(out);
    }
}

/// `[[alerts.ntfy]]`: an ntfy topic, priority by severity.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NtfyConfig {
    /// The topic's URL (`https://ntfy.sh/ragwatch-prod`); a topic name is a shared secret.
    pub url: TokenUrl,
    /// An access token, sent as `Authorization: Bearer`, when the topic needs one.
    #[serde(default)]
    pub token: Secret,
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

impl Secrets for NtfyConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        self.url.secrets(out);
        self.token.secrets(out);
    }
}

/// `[[alerts.pagerduty]]`: PagerDuty's Events API v2.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyConfig {
    /// The integration's routing key.
    pub routing_key: Secret,
    /// The Events API's enqueue address.
    #[serde(default = "pagerduty_api", deserialize_with = "secret::plain_url")]
    pub url: Url,
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

fn pagerduty_api() -> Url {
    Url::parse("https://events.pagerduty.com/v2/enqueue").expect("the default URL parses")
}

impl Secrets for PagerdutyConfig {
    fn secrets(&self, out: &mut Vec<String>) {
        self.routing_key.secrets(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_filters_by_component_severity_and_resolution() {
        let all = Routing {
            components: Vec::new(),
            severities: all_severities(),
            send_resolved: true,
        };
        assert!(all.takes("redis", Severity::Critical, true));
        assert!(all.takes("models.llm", Severity::Warning, false));
        let narrow = Routing {
            components: vec!["redis".into()],
            severities: vec![Severity::Critical],
            send_resolved: false,
        };
        assert!(narrow.takes("redis", Severity::Critical, false));
        assert!(!narrow.takes("redis", Severity::Critical, true));
        assert!(!narrow.takes("db", Severity::Critical, false));
        assert!(!narrow.takes("redis", Severity::Warning, false));
    }
}
