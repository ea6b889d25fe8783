//! When notifications wait: the one place that decides whether a component is quiet now,
//! from the `[[alerts.maintenance]]` windows of the configuration and the silences of the
//! history store (read again every [`SILENCES_REFRESH`], so a silence made through another
//! ragwatch on the same PostgreSQL applies here within seconds).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use jiff::Timestamp;
use serde::Serialize;

use crate::config::AlertsConfig;
use crate::config::{Stretch, Window};
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

/// One `[[alerts.maintenance]]` entry, with its last answer.
struct Maintenance {
    window: Window,
    components: Vec<String>,
    comment: Option<String>,
    known: Mutex<Option<Known>>,
}

/// A window's stretch holding at a time, and the next one after it.
#[derive(Clone, Copy, Debug)]
struct Known {
    at: Timestamp,
    active: Option<Stretch>,
    next: Option<Stretch>,
}

impl Known {
    /// Whether this answer still holds at `at`: until the active stretch ends, or while
    /// none is active, until the next one starts.
    fn still_holds(&self, at: Timestamp) -> bool {
        at >= self.at
            && match (self.active, self.next) {
                (Some(active), _) => at < active.end,
                (None, next) => next.is_none_or(|next| at < next.start),
            }
    }
}

impl Maintenance {
    fn quiets(&self, component: &str) -> bool {
        self.components.is_empty() || self.components.iter().any(|c| c == component)
    }

    /// The stretch holding at `at` and the next one, computed again only once the last
    /// answer may have changed (a recurring window's stretches take a walk over its cron
    /// starts to find, and every result and every second ask).
    fn state(&self, at: Timestamp) -> Known {
        let mut known = self.known.lock().expect("window lock");
        if let Some(known) = *known
            && known.still_holds(at)
        {
            return known;
        }
        let active = self.window.active_at(at);
        // The next stretch after the one holding now (starts at its very end would have
        // been merged into it).
        let after = active.map_or(at, |a| a.end - jiff::SignedDuration::from_millis(1));
        let fresh = Known {
            at,
            active,
            next: self.window.next_after(after),
        };
        *known = Some(fresh);
        fresh
    }
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
                known: Mutex::new(None),
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
        let in_window = self
            .windows
            .iter()
            .any(|m| m.quiets(component) && m.state(at).active.is_some());
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
            .map(|m| {
                let known = m.state(at);
                WindowState {
                    components: m.components.clone(),
                    comment: m.comment.clone(),
                    active: known.active,
                    next: known.next,
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MaintenanceConfig;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// The remembered answer is asked again once it may have changed, whichever way the
    /// clock is asked.
    #[test]
    fn a_window_quiets_its_components_from_start_to_end_only() {
        let config = AlertsConfig {
            maintenance: vec![MaintenanceConfig {
                cron: Some("0 2 * * *".into()),
                timezone: Some("UTC".into()),
                duration: Some(Duration::from_secs(3600)),
                start: None,
                end: None,
                components: vec!["redis".into()],
                comment: None,
            }],
            ..AlertsConfig::default()
        };
        let quiet = Quiet::new(&config, None);
        let cases = [
            ("2026-12-01T01:59:59Z", None),
            ("2026-12-01T02:00:00Z", Some(QuietReason::Maintenance)),
            ("2026-12-01T02:59:59Z", Some(QuietReason::Maintenance)),
            ("2026-12-01T03:00:00Z", None),
            ("2026-12-02T02:30:00Z", Some(QuietReason::Maintenance)),
            ("2026-12-01T02:30:00Z", Some(QuietReason::Maintenance)),
            ("2026-12-01T01:30:00Z", None),
        ];
        for (time, reason) in cases {
            assert_eq!(quiet.reason("redis", at(time)), reason, "{time}");
            assert_eq!(quiet.reason("db", at(time)), None, "{time}: db");
        }
        let shown = quiet.windows(at("2026-12-01T02:30:00Z"));
        assert_eq!(shown[0].active.unwrap().end, at("2026-12-01T03:00:00Z"));
        assert_eq!(shown[0].next.unwrap().start, at("2026-12-02T02:00:00Z"));
    }
}
