//! The snapshot: every component's latest result, replaced whole on each new result and
//! read without locks by every request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::component::Component;
use crate::config::ComponentKey;
use crate::probe::ProbeResult;
use crate::status::Status;

/// A result and the monotonic instant it arrived, for the staleness rule.
#[derive(Clone, Debug)]
pub struct Timed {
    /// The probe result.
    pub result: Arc<ProbeResult>,
    /// When it was published.
    pub at: Instant,
}

/// The latest result of every component, indexed like the monitor's components.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Bumped on every change, so views rendered from it can be cached.
    pub version: u64,
    /// `None` until a component's first probe finishes.
    pub results: Vec<Option<Timed>>,
}

/// What a component's state counts as right now.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// Its status, red when the result is missing or stale.
    pub status: Status,
    /// Why it is not green.
    pub error: Option<String>,
    /// Duration of the probe behind it, in milliseconds.
    pub elapsed_ms: f64,
    /// The result behind it, if any.
    pub result: Option<Arc<ProbeResult>>,
    /// When it is red because a component it depends on is red: that component's key.
    /// It is then shown as `unknown`, the cause's red being the one to act on.
    pub cause: Option<ComponentKey>,
}

impl Verdict {
    /// The status as shown: `unknown` while a dependency is the cause, else the colour.
    pub fn shown_status(&self) -> &'static str {
        match self.cause {
            Some(_) => "unknown",
            None => self.status.as_str(),
        }
    }

    /// The cause in words: `redis is down`.
    pub fn cause_text(&self) -> Option<String> {
        self.cause.as_ref().map(|key| format!("{key} is down"))
    }
}

/// The one rule of the overall status: every required component among `judged` is ok
/// (green or yellow). healthz, readyz and `check` all answer with it.
pub fn all_required_ok<'a>(judged: impl IntoIterator<Item = (&'a Component, &'a Verdict)>) -> bool {
    judged
        .into_iter()
        .all(|(component, verdict)| verdict.status.is_ok() || !component.required)
}

impl Snapshot {
    /// An empty snapshot for `count` components.
    pub fn empty(count: usize) -> Self {
        Self {
            version: 0,
            results: vec![None; count],
        }
    }

    /// This snapshot with one component's result replaced.
    pub fn with(&self, index: usize, timed: Timed) -> Self {
        let mut results = self.results.clone();
        results[index] = Some(timed);
        Self {
            version: self.version + 1,
            results,
        }
    }

    /// True until every component has a first result.
    pub fn is_incomplete(&self) -> bool {
        self.results.iter().any(Option::is_none)
    }

    /// The verdict on component `index` at instant `now`: a result older than twice the
    /// interval plus the timeout counts as failed.
    pub fn verdict(&self, index: usize, component: &Component, now: Instant) -> Verdict {
        let Some(timed) = &self.results[index] else {
            return Verdict {
                status: Status::Red,
                error: Some("not checked yet".into()),
                elapsed_ms: 0.0,
                result: None,
                cause: None,
            };
        };
        let age = now.saturating_duration_since(timed.at);
        let result = &timed.result;
        let (status, error) = if age > component.stale_after() {
            (
                Status::Red,
                Some(format!(
                    "stale: the last result is {} s old (limit {} s)",
                    age.as_secs(),
                    component.stale_after().as_secs()
                )),
            )
        } else {
            (result.status, result.error.clone())
        };
        Verdict {
            status,
            error,
            elapsed_ms: result.elapsed_ms,
            result: Some(result.clone()),
            cause: None,
        }
    }

    /// The verdict on every component, with a red one whose dependency is red too marked
    /// with that dependency as its cause.
    pub fn verdicts(&self, components: &[Component], now: Instant) -> Vec<Verdict> {
        let mut verdicts: Vec<Verdict> = components
            .iter()
            .enumerate()
            .map(|(index, component)| self.verdict(index, component, now))
            .collect();
        let red: Vec<&ComponentKey> = components
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| v.status == Status::Red)
            .map(|(c, _)| &c.key)
            .collect();
        for (component, verdict) in components.iter().zip(&mut verdicts) {
            if verdict.status == Status::Red {
                verdict.cause = component
                    .depends_on
                    .iter()
                    .find(|key| red.contains(key))
                    .cloned();
            }
        }
        verdicts
    }

    /// The first dependency of `component` whose latest result is red: while it lasts,
    /// the component's own red is not alerted on.
    pub fn red_dependency<'a>(
        &self,
        component: &'a Component,
        components: &[Component],
    ) -> Option<&'a ComponentKey> {
        component.depends_on.iter().find(|key| {
            components
                .iter()
                .position(|c| c.key == **key)
                .and_then(|index| self.results[index].as_ref())
                .is_some_and(|timed| timed.result.status == Status::Red)
        })
    }

    /// The instant at which the first current result goes stale: views rendered now stay
    /// true until then (or until the next version). `None` while a result is missing.
    pub fn fresh_until(&self, components: &[Component]) -> Option<Instant> {
        self.results
            .iter()
            .zip(components)
            .map(|(timed, c)| timed.as_ref().map(|t| t.at + c.stale_after()))
            .try_fold(Instant::now() + Duration::from_secs(3600), |min, at| {
                at.map(|at| min.min(at))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// The components of a configuration, as the app builds them (inside a runtime: the
    /// task table's pool is made there).
    fn components_of(config: &Config) -> Vec<Component> {
        crate::app::components(config).unwrap().0
    }

    fn result(status: Status) -> Arc<ProbeResult> {
        Arc::new(ProbeResult {
            status,
            elapsed_ms: 1.5,
            checked_at: jiff::Timestamp::now(),
            error: None,
            details: Default::default(),
        })
    }

    #[tokio::test]
    async fn a_result_older_than_twice_the_interval_plus_the_timeout_is_stale() {
        // Defaults: interval 5 s, timeout 3 s, so results go stale after 13 s.
        let components = components_of(&Config::default());
        let now = Instant::now();
        let at = |age: u64| now.checked_sub(Duration::from_secs(age)).unwrap();
        let snapshot = Snapshot::empty(components.len())
            .with(
                0,
                Timed {
                    result: result(Status::Green),
                    at: at(12),
                },
            )
            .with(
                1,
                Timed {
                    result: result(Status::Green),
                    at: at(14),
                },
            );
        let fresh = snapshot.verdict(0, &components[0], now);
        assert_eq!(fresh.status, Status::Green);
        assert_eq!(fresh.error, None);
        let stale = snapshot.verdict(1, &components[1], now);
        assert_eq!(stale.status, Status::Red);
        assert_eq!(
            stale.error.as_deref(),
            Some("stale: the last result is 14 s old (limit 13 s)")
        );
        let missing = snapshot.verdict(2, &components[2], now);
        assert_eq!(missing.error.as_deref(), Some("not checked yet"));
        assert_eq!(snapshot.version, 2);
        assert!(snapshot.is_incomplete());
    }

    #[tokio::test]
    async fn fresh_until_is_the_first_expiry_once_complete() {
        let components = components_of(&Config::default());
        let now = Instant::now();
        let mut snapshot = Snapshot::empty(components.len());
        assert_eq!(snapshot.fresh_until(&components), None);
        assert_eq!(
            components.len(),
            5,
            "db, redis, doc_engine, storage, task_executors"
        );
        for (index, age) in [(0, 1), (1, 4), (2, 2), (3, 0), (4, 3)] {
            let at = now.checked_sub(Duration::from_secs(age)).unwrap();
            snapshot = snapshot.with(
                index,
                Timed {
                    result: result(Status::Yellow),
                    at,
                },
            );
        }
        let until = snapshot.fresh_until(&components).unwrap();
        assert_eq!(
            until,
            now - Duration::from_secs(4) + Duration::from_secs(13)
        );
    }

    #[tokio::test]
    async fn a_red_component_with_a_red_dependency_has_that_cause() {
        let config: Config = toml::from_str("[parsing]\n").unwrap();
        let components = components_of(&config);
        let keys: Vec<&str> = components.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "db",
                "redis",
                "doc_engine",
                "storage",
                "task_executors",
                "parsing"
            ]
        );
        let now = Instant::now();
        let snapshot_of = |statuses: [Status; 6]| {
            statuses.into_iter().enumerate().fold(
                Snapshot::empty(6),
                |snapshot, (index, status)| {
                    snapshot.with(
                        index,
                        Timed {
                            result: result(status),
                            at: now,
                        },
                    )
                },
            )
        };
        let (g, y, r) = (Status::Green, Status::Yellow, Status::Red);
        let causes = |snapshot: Snapshot| -> Vec<Option<String>> {
            snapshot
                .verdicts(&components, now)
                .iter()
                .map(|v| v.cause.as_ref().map(|key| key.as_str().to_owned()))
                .collect()
        };
        // Executors red on their own, parsing red while the document engine is down.
        assert_eq!(
            causes(snapshot_of([g, g, r, g, r, r])),
            [None, None, None, None, None, Some("doc_engine".to_owned())]
        );
        // Redis down: both dependents on it point at it; a yellow dependent stays yellow.
        let verdicts = snapshot_of([g, r, g, g, r, y]).verdicts(&components, now);
        assert_eq!(verdicts[4].cause, Some(ComponentKey::Redis));
        assert_eq!(verdicts[4].shown_status(), "unknown");
        assert_eq!(verdicts[4].cause_text().as_deref(), Some("redis is down"));
        assert_eq!(verdicts[5].cause, None);
        assert_eq!(verdicts[5].shown_status(), "yellow");
        assert_eq!(verdicts[1].shown_status(), "red");
    }
}
