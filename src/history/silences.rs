//! Silences: notifications held back for some components until a time, made at run time
//! through the API and kept in the store, so they outlive a restart and every ragwatch on
//! one PostgreSQL sees them.

use jiff::Timestamp;
use serde::Serialize;

/// A stored silence.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Silence {
    /// Its id.
    pub id: i64,
    /// Component keys it quiets; all when empty.
    pub components: Vec<String>,
    /// When it was made (RFC 3339).
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// When it ends (RFC 3339).
    #[schema(value_type = String)]
    pub until: Timestamp,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// Whether it quiets `component` at `at`.
    pub fn holds(&self, component: &str, at: Timestamp) -> bool {
        at < self.until
            && (self.components.is_empty() || self.components.iter().any(|c| c == component))
    }
}

/// A silence to store.
#[derive(Clone, Debug)]
pub struct NewSilence {
    /// Component keys; all when empty.
    pub components: Vec<String>,
    /// Now.
    pub created_at: Timestamp,
    /// Its end.
    pub until: Timestamp,
    /// Why.
    pub comment: String,
}

/// An open incident's notifications waited (a window or a silence held while it was open).
#[derive(Clone, Debug)]
pub struct QuietRecord {
    /// Component key.
    pub component: crate::config::ComponentKey,
    /// `maintenance` or `silence`.
    pub reason: &'static str,
}
