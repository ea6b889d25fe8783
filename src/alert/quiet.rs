//! When notifications wait: the one place that decides whether a component is quiet now,
//! from the `[[alerts.maintenance]]` windows of the configuration and the silences of the
//! history store (read again every [`SILENCES_REFRESH`], so a silence made through another
//! ragwatch on the same PostgreSQL applies here within seconds).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jiff::Timestamp;
use serde::Serialize;

use super::maintenance::{Stretch, Window};
use crate::config::AlertsConfig;
use crate::history::{History, Silence, Store};

/// How often the silences are read from the store.
pub const SILENCES_REFRESH: Duration = Duration::from_secs(2);

/// Why a component's notifications wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuietReason {
    /// A `[[alerts.maintenance]]` window holds.
    Maintenance,
    /// A silence made through the API holds.
    Silence,
}

impl QuietReason {
    /// Every reason.
    pub const ALL: [Self; 2] = [Self::Maintenance, Self::Silence];

    /// `maintenance` or `silence`, as the metrics' `reason` label and the incidents name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Maintenance => "maintenance",
            Self::Silence => "silence",
        }
    }
}

/// One `[[alerts.maintenance]]` entry.
struct Maintenance {
    window: Window,
    components: Vec<String>,
    comment: Option<String>,
}

/// A maintenance window as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WindowState {
    /// Component keys it quiets; all when empty.
    pub components: Vec<String>,
    /// Why.
    pub comment: Option<String>,
    /// The stretch holding now, if any.
    #[schema(value_type = Option<Object>)]
    pub active: Option<Stretch>,
    /// The next stretch to start.
    #[schema(value_type = Option<Object>)]
    pub next: Option<Stretch>,
}

/// The maintenance windows and the silences, asked per component.
pub struct Quiet {
    windows: Vec<Maintenance>,
    silences: ArcSwap<Vec<Silence>>,
    history: Option<Arc<History>>,
}

impl Quiet {
    /// The windows of `config` (checked at load) and the silences of `history`.
    pub fn new(config: &AlertsConfig, history: Option<Arc<History>>) -> Self {
        let windows = config
            .windows()
            .expect("maintenance windows are checked at load")
            .into_iter()
            .zip(&config.maintenance)
            .map(|((window, components), entry)| Maintenance {
                window,
                components,
                comment: entry.comment.clone(),
            })
            .collect();
        Self {
            windows,
            silences: ArcSwap::from_pointee(Vec::new()),
            history,
        }
    }

    /// Why `component`'s notifications wait at `at`, if they do. A window wins over a
    /// silence, which says less about why.
    pub fn reason(&self, component: &str, at: Timestamp) -> Option<QuietReason> {
        let in_window = self.windows.iter().any(|m| {
            (m.components.is_empty() || m.components.iter().any(|c| c == component))
                && m.window.active_at(at).is_some()
        });
        if in_window {
            return Some(QuietReason::Maintenance);
        }
        self.silences
            .load()
            .iter()
            .any(|s| s.holds(component, at))
            .then_some(QuietReason::Silence)
    }

    /// Every window with the stretch holding at `at` and the next one.
    pub fn windows(&self, at: Timestamp) -> Vec<WindowState> {
        self.windows
            .iter()
            .map(|m| WindowState {
                components: m.components.clone(),
                comment: m.comment.clone(),
                active: m.window.active_at(at),
                next: m.window.next_after(at),
            })
            .collect()
    }

    /// The silences as last read.
    pub fn silences(&self) -> Arc<Vec<Silence>> {
        self.silences.load_full()
    }

    /// Reads the silences from the store again; on failure the last ones read stay.
    pub async fn refresh(&self) {
        let Some(history) = &self.history else { return };
        let Ok(store) = history.store() else { return };
        match store.silences(Timestamp::now()).await {
            Ok(silences) => self.silences.store(Arc::new(silences)),
            Err(error) => {
                tracing::warn!(%error, "Cannot read the silences; the last ones read hold.")
            }
        }
    }
}
