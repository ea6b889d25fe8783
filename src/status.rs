//! The vocabulary every layer shares: how healthy a component is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Health of a component, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It cannot do its job.
    Red,
    /// It works but needs attention.
    Yellow,
    /// It works.
    Green,
}

impl Status {
    /// Green and yellow are "ok" in RAGFlow's healthz vocabulary.
    pub fn is_ok(self) -> bool {
        self != Status::Red
    }

    /// The lowercase name (`green`, `yellow`, `red`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Red => "red",
            Status::Yellow => "yellow",
            Status::Green => "green",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not `green`, `yellow` or `red`.
#[derive(Debug, thiserror::Error)]
#[error("unknown status {0:?}: expected green, yellow or red")]
pub struct UnknownStatus(String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "green" => Ok(Status::Green),
            "yellow" => Ok(Status::Yellow),
            "red" => Ok(Status::Red),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for status in [Status::Red, Status::Yellow, Status::Green] {
            assert_eq!(status.as_str().parse::<Status>().unwrap(), status);
        }
        assert!("purple".parse::<Status>().is_err());
        assert!(Status::Red < Status::Yellow && Status::Yellow < Status::Green);
    }
}
