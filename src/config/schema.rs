//! What each configuration key holds, read from the types themselves: text, a secret, or
//! another value. The loader asks it which environment values stay strings and which keys
//! have a `<key>_file` twin, so no list of keys is kept beside the types: a new secret
//! field is found by its type ([`Secret`](super::Secret), [`SecretUrl`](super::SecretUrl)).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};

use super::secret::{SECRET_LIST_MARK, SECRET_MARK};
use super::section::field_names;
use super::{
    AlertmanagerConfig, AlertsConfig, AzureConfig, CanaryConfig, ClusterConfig, ComponentSettings,
    DbConfig, DocEngineConfig, GcsConfig, HistoryConfig, MessageQueueConfig, ModelConfig,
    MonitorConfig, ParsingConfig, RagflowApiConfig, RedisConfig, S3Config, ServerConfig,
    StorageKind, TaskExecutorsConfig, WebhookConfig,
};
use super::{
    DingtalkConfig, DiscordConfig, EmailConfig, FeishuConfig, GoogleChatConfig, MaintenanceConfig,
    NtfyConfig, OpsgenieConfig, PagerdutyConfig, SlackConfig, TeamsConfig, TelegramConfig,
    WecomConfig,
};

/// What a key's value is, as its type reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holds {
    /// A string: a name, an address, a duration, a kind.
    Text,
    /// A credential, or a URL that may carry one: a string that is never shown.
    Secret,
    /// A list of credentials (`server.tokens`): one string, or an array of them.
    SecretList,
    /// Anything else: a number, a boolean, a list, a table.
    Other,
}

impl Holds {
    /// Whether the value is a credential.
    pub fn is_secret(self) -> bool {
        matches!(self, Self::Secret | Self::SecretList)
    }
}

/// The ending of a secret key's twin, which names a file holding the value instead.
pub const FILE_TWIN: &str = "_file";

/// What the key at `path` (`db.password`, `models[2].api_key`) holds; a `<secret>_file`
/// twin holds text (a path). None for a key the configuration does not have.
pub fn holds(path: &str) -> Option<Holds> {
    let pattern = pattern(path);
    if let Some(holds) = KEYS.get(&pattern) {
        return Some(*holds);
    }
    let stem = pattern.strip_suffix(FILE_TWIN)?;
    KEYS.get(stem)
        .filter(|holds| holds.is_secret())
        .map(|_| Holds::Text)
}

/// The secret key that `path` is the `<key>_file` twin of, if it is one (a key of its own
/// ending in `_file`, such as `storage.credentials_file`, is not).
pub fn twin_of(path: &str) -> Option<&str> {
    let stem = path.strip_suffix(FILE_TWIN)?;
    let is_twin = !KEYS.contains_key(&pattern(path))
        && KEYS
            .get(&pattern(stem))
            .is_some_and(|holds| holds.is_secret());
    is_twin.then_some(stem)
}

/// Every secret key, as patterns (`models[].api_key`).
#[cfg(test)]
pub fn secret_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter()
        .filter(|(_, holds)| holds.is_secret())
        .map(|(key, _)| key.as_str())
}

/// The path with every array index left out: `models[2].url` -> `models[].url`.
fn pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push(c);
            }
            ']' => {
                in_index = false;
                out.push(c);
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

/// Every key of every section, with what it holds. The sections are the fields of
/// [`Config`](super::Config) (a test keeps the two in step); their keys come from the types.
static KEYS: LazyLock<BTreeMap<String, Holds>> = LazyLock::new(|| {
    let storage = [("kind", value::<StorageKind>())]
        .into_iter()
        .chain(fields::<S3Config>())
        .chain(fields::<AzureConfig>())
        .chain(fields::<GcsConfig>())
        .chain(shared_settings())
        .collect();
    let sections: [(&str, Vec<(&'static str, Holds)>); 30] = [
        ("server", fields::<ServerConfig>()),
        ("monitor", fields::<MonitorConfig>()),
        ("db", component::<DbConfig>()),
        ("redis", component::<RedisConfig>()),
        ("doc_engine", component::<DocEngineConfig>()),
        ("storage", storage),
        ("message_queue", component::<MessageQueueConfig>()),
        ("task_executors", component::<TaskExecutorsConfig>()),
        ("ragflow", component::<RagflowApiConfig>()),
        ("parsing", component::<ParsingConfig>()),
        ("history", fields::<HistoryConfig>()),
        ("cluster", fields::<ClusterConfig>()),
        ("alerts", fields::<AlertsConfig>()),
        ("alerts.webhook[]", fields::<WebhookConfig>()),
        ("alerts.alertmanager[]", fields::<AlertmanagerConfig>()),
        ("alerts.slack[]", fields::<SlackConfig>()),
        ("alerts.discord[]", fields::<DiscordConfig>()),
        ("alerts.telegram[]", fields::<TelegramConfig>()),
        ("alerts.ntfy[]", fields::<NtfyConfig>()),
        ("alerts.pagerduty[]", fields::<PagerdutyConfig>()),
        ("alerts.teams[]", fields::<TeamsConfig>()),
        ("alerts.googlechat[]", fields::<GoogleChatConfig>()),
        ("alerts.wecom[]", fields::<WecomConfig>()),
        ("alerts.feishu[]", fields::<FeishuConfig>()),
        ("alerts.dingtalk[]", fields::<DingtalkConfig>()),
        ("alerts.opsgenie[]", fields::<OpsgenieConfig>()),
        ("alerts.email[]", fields::<EmailConfig>()),
        ("alerts.maintenance[]", fields::<MaintenanceConfig>()),
        ("models[]", component::<ModelConfig>()),
        ("canaries[]", component::<CanaryConfig>()),
    ];
    let mut keys = BTreeMap::new();
    for (section, fields) in sections {
        keys.insert(section.trim_end_matches("[]").to_owned(), Holds::Other);
        for (field, holds) in fields {
            keys.insert(format!("{section}.{field}"), holds);
        }
    }
    keys
});

/// A component section's own keys and the shared settings.
fn component<'de, T: Deserialize<'de>>() -> Vec<(&'static str, Holds)> {
    let mut fields = fields::<T>();
    fields.extend(shared_settings());
    fields
}

/// The keys of a derived struct, each with what its type reads.
fn fields<'de, T: Deserialize<'de>>() -> Vec<(&'static str, Holds)> {
    field_names::<T>()
        .iter()
        .map(|field| {
            let mut holds = Holds::Other;
            let _ = T::deserialize(OneField {
                field,
                holds: &mut holds,
            });
            (*field, holds)
        })
        .collect()
}

/// The settings every component section takes, as [`ComponentSettings`] reads them.
fn shared_settings() -> Vec<(&'static str, Holds)> {
    ComponentSettings::KEYS
        .iter()
        .map(|name| {
            let mut holds = Holds::Other;
            let mut map = OneFieldMap {
                field: None,
                holds: &mut holds,
            };
            let _ = ComponentSettings::default().read(name, &mut map);
            (*name, holds)
        })
        .collect()
}

/// What a type reads, as a value.
fn value<'de, T: Deserialize<'de>>() -> Holds {
    let mut holds = Holds::Other;
    let _ = T::deserialize(ValueProbe(&mut holds));
    holds
}

/// The reading stops as soon as the type has said what it wants.
fn stop() -> de::value::Error {
    de::Error::custom("only what the type reads was wanted")
}

/// A struct with one field, whose value is a [`ValueProbe`].
struct OneField<'a> {
    field: &'static str,
    holds: &'a mut Holds,
}

impl<'de> Deserializer<'de> for OneField<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_map(OneFieldMap {
            field: Some(self.field),
            holds: self.holds,
        })
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(stop())
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The map of [`OneField`]: its one key (if any), then the probe as its value.
struct OneFieldMap<'a> {
    field: Option<&'static str>,
    holds: &'a mut Holds,
}

impl<'de> MapAccess<'de> for OneFieldMap<'_> {
    type Error = de::value::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.field.take() {
            Some(field) => seed
                .deserialize(IntoDeserializer::<Self::Error>::into_deserializer(field))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        seed.deserialize(ValueProbe(self.holds))
    }
}

/// Notes what a type asks to read: a string, a marked secret, or anything else.
struct ValueProbe<'a>(&'a mut Holds);

impl<'de> Deserializer<'de> for ValueProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_str<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        *self.0 = Holds::Text;
        Err(stop())
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = match name {
            SECRET_MARK => Holds::Secret,
            SECRET_LIST_MARK => Holds::SecretList,
            _ => Holds::Other,
        };
        Err(stop())
    }

    /// An optional value holds what its inner type does.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        *self.0 = Holds::Other;
        Err(stop())
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_what_their_types_read() {
        for (key, expected) in [
            ("server.listen", Holds::Text),
            ("server.tokens", Holds::SecretList),
            ("server.max_connections", Holds::Other),
            ("monitor.interval", Holds::Text),
            ("db.kind", Holds::Text),
            ("db.url", Holds::Secret),
            ("db.interval", Holds::Text),
            ("db.enabled", Holds::Other),
            ("db.slow_ms", Holds::Other),
            ("redis.write_check", Holds::Other),
            ("doc_engine.username", Holds::Text),
            ("doc_engine.password", Holds::Secret),
            ("storage.kind", Holds::Text),
            ("storage.secret_key", Holds::Secret),
            ("storage.credentials_file", Holds::Text),
            ("message_queue.streams", Holds::Other),
            ("message_queue.max_lag", Holds::Other),
            ("task_executors.redis_url", Holds::Secret),
            ("task_executors.max_failure_rate", Holds::Other),
            ("models[3].api_key", Holds::Secret),
            ("models[0].name", Holds::Text),
            ("alerts.webhook[1].secret", Holds::Secret),
            ("alerts.email[0].password", Holds::Secret),
            ("alerts.email[0].username", Holds::Text),
            ("alerts.webhook", Holds::Other),
            ("alerts.external_url", Holds::Text),
            ("history", Holds::Other),
        ] {
            assert_eq!(holds(key), Some(expected), "{key}");
        }
        assert_eq!(holds("db.nope"), None);
        assert_eq!(holds("nope"), None);
    }

    #[test]
    fn only_secret_keys_have_file_twins() {
        assert_eq!(twin_of("db.url_file"), Some("db.url"));
        assert_eq!(twin_of("models[1].api_key_file"), Some("models[1].api_key"));
        assert_eq!(twin_of("server.tokens_file"), Some("server.tokens"));
        assert_eq!(
            twin_of("alerts.email[1].password_file"),
            Some("alerts.email[1].password")
        );
        assert_eq!(holds("server.tokens_file"), Some(Holds::Text));
        assert_eq!(
            twin_of("storage.credentials_file"),
            None,
            "a key of its own"
        );
        assert_eq!(twin_of("storage.bucket_file"), None, "not a secret");
        assert_eq!(holds("storage.bucket_file"), None);
        assert_eq!(twin_of("db.password"), None);
    }

    /// The sections are every section [`Config`](super::super::Config) reads (its
    /// storage aside, which the loader reads by kind).
    #[test]
    fn every_section_of_the_configuration_is_known() {
        for section in field_names::<super::super::Config>() {
            assert_eq!(holds(section), Some(Holds::Other), "{section}");
        }
        assert_eq!(holds("storage"), Some(Holds::Other));
    }
}
