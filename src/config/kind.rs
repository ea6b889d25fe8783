//! Kind names: every kind enum spells each kind once, in `as_str`; `FromStr`, serde, the
//! printed configuration, error messages and the RAGFlow importer all read that spelling.

use std::fmt;

/// A closed set of kinds (`mysql`, `postgres`, ...) written as text in the configuration.
pub trait Kind: Copy + Sized + 'static {
    /// Every kind, in the order messages list them.
    const ALL: &'static [Self];

    /// The kind as written in the configuration and shown in the API.
    fn as_str(self) -> &'static str;
}

/// A kind name no kind has; its text is serde's own wording for an unknown variant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown variant `{given}`, expected {}", one_of(.known))]
pub struct UnknownKind {
    /// The text given.
    pub given: String,
    /// Every name that would have been understood.
    pub known: Vec<&'static str>,
}

/// The kind spelled `text`.
pub fn parse<K: Kind>(text: &str) -> Result<K, UnknownKind> {
    K::ALL
        .iter()
        .copied()
        .find(|kind| kind.as_str() == text)
        .ok_or_else(|| UnknownKind {
            given: text.to_owned(),
            known: names::<K>(),
        })
}

/// Every kind's name, in order.
pub fn names<K: Kind>() -> Vec<&'static str> {
    K::ALL.iter().map(|kind| kind.as_str()).collect()
}

/// "`a`", "`a` or `b`", "one of `a`, `b`, `c`": as serde lists what it expected.
fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.as_slice() {
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        _ => format!("one of {}", quoted.join(", ")),
    }
}

/// [`Kind`], `FromStr`, `Display` and serde for kind enums, all through their own `ALL`
/// and `as_str`.
macro_rules! text_kinds {
    ($($kind:ty),* $(,)?) => {$(
        impl $crate::config::kind::Kind for $kind {
            const ALL: &'static [Self] = &<$kind>::ALL;

            fn as_str(self) -> &'static str {
                <$kind>::as_str(self)
            }
        }

        impl std::str::FromStr for $kind {
            type Err = $crate::config::kind::UnknownKind;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $crate::config::kind::parse(text)
            }
        }

        impl std::fmt::Display for $kind {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::config::kind::Kind::as_str(*self))
            }
        }

        impl serde::Serialize for $kind {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str($crate::config::kind::Kind::as_str(*self))
            }
        }

        impl<'de> serde::Deserialize<'de> for $kind {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

pub(crate) use text_kinds;

/// A kind shown as it is written in TOML: `"postgres"`.
pub struct Quoted<K>(pub K);

impl<K: Kind> fmt::Display for Quoted<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DbKind, DocEngineKind, MessageQueueKind, ModelKind, StorageKind};

    fn round_trips<K: Kind + PartialEq + std::fmt::Debug>() {
        for kind in K::ALL {
            assert_eq!(parse::<K>(kind.as_str()), Ok(*kind));
        }
    }

    #[test]
    fn every_kind_reads_back_its_own_name() {
        round_trips::<DbKind>();
        round_trips::<DocEngineKind>();
        round_trips::<StorageKind>();
        round_trips::<MessageQueueKind>();
        round_trips::<ModelKind>();
    }

    #[test]
    fn unknown_names_list_the_known_ones_as_serde_does() {
        assert_eq!(
            parse::<DbKind>("mongo").unwrap_err().to_string(),
            "unknown variant `mongo`, expected `mysql` or `postgres`"
        );
        assert_eq!(
            parse::<MessageQueueKind>("kafka").unwrap_err().to_string(),
            "unknown variant `kafka`, expected `nats` or `redis_stream`"
        );
        assert_eq!(
            parse::<ModelKind>("x").unwrap_err().to_string(),
            "unknown variant `x`, expected one of `tei`, `openai`, `ollama`"
        );
    }
}
