//! `[cluster]`: several ragwatch replicas on one PostgreSQL history, one leader sending
//! notifications, and a component's alert decided by a quorum of observers.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{HistoryConfig, KeyError, duration_text};

/// `[cluster]`: present, this ragwatch is one replica of several.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// How long a leader's lease lasts; it is renewed every third of it. An observer is
    /// live while it has written within one lease.
    #[serde(with = "duration_text")]
    pub lease: Duration,
    /// How many live observers must see a component red for its alert to fire.
    pub quorum: Quorum,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(10),
            quorum: Quorum::Majority,
        }
    }
}

/// The shortest lease: renewals every third of it must fit several database round trips.
pub const MIN_LEASE: Duration = Duration::from_secs(1);

impl ClusterConfig {
    /// A lease long enough to renew, a quorum of at least one, and a history every
    /// replica shares.
    pub(super) fn validate(&self, history: &HistoryConfig) -> Result<(), KeyError> {
        if self.lease < MIN_LEASE {
            return Err(KeyError::new(
                "cluster.lease",
                "must be at least 1s: it is renewed every third of it",
            ));
        }
        if self.quorum == Quorum::AtLeast(0) {
            return Err(KeyError::new(
                "cluster.quorum",
                "must be \"majority\" or a number of at least 1",
            ));
        }
        let shared = matches!(history.url.expose().scheme(), "postgres" | "postgresql");
        if !history.enabled || !shared {
            return Err(KeyError::new(
                "cluster",
                "the replicas share their leader, alerts and results through the history: [cluster] needs [history] enabled with a postgres:// url",
            ));
        }
        Ok(())
    }

    /// How often the lease is renewed (and the observer's presence written).
    pub fn renew_every(&self) -> Duration {
        self.lease / 3
    }
}

/// `quorum`: `"majority"` (more than half of the live observers) or a fixed number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quorum {
    /// More than half of the live observers.
    Majority,
    /// At least this many live observers.
    AtLeast(u32),
}

impl Quorum {
    /// The number of observers that must agree when `live` observers are live (at least
    /// one: with nobody live, the leader itself still counts).
    pub fn needed(self, live: u32) -> u32 {
        match self {
            Self::Majority => live / 2 + 1,
            Self::AtLeast(n) => n,
        }
    }
}

impl fmt::Display for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Majority => f.write_str("majority"),
            Self::AtLeast(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for Quorum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Majority => serializer.serialize_str("majority"),
            Self::AtLeast(n) => serializer.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Quorum {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QuorumVisitor;

        impl Visitor<'_> for QuorumVisitor {
            type Value = Quorum;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"majority\" or a number of observers")
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Quorum, E> {
                u32::try_from(n)
                    .map(Quorum::AtLeast)
                    .map_err(|_| E::custom(format!("{n} is not a number of observers")))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Quorum, E> {
                u32::try_from(n)
                    .map(Quorum::AtLeast)
                    .map_err(|_| E::custom(format!("{n} is not a number of observers")))
            }

            // An environment variable arrives as text.
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Quorum, E> {
                match text.trim() {
                    "majority" => Ok(Quorum::Majority),
                    number => number.parse().map(Quorum::AtLeast).map_err(|_| {
                        E::custom(format!(
                            "{text:?} is neither \"majority\" nor a number of observers"
                        ))
                    }),
                }
            }
        }

        deserializer.deserialize_any(QuorumVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_majority_is_more_than_half_of_the_live_observers() {
        let needed: Vec<u32> = (0..=5).map(|live| Quorum::Majority.needed(live)).collect();
        assert_eq!(needed, [1, 1, 2, 2, 3, 3]);
        assert_eq!(Quorum::AtLeast(1).needed(3), 1);
    }
}
