//! The consecutive-result rule, per component: [`Thresholds`] decides when red results in a
//! row fire an alert and ok results in a row resolve it, and keeps each component's
//! [`Run`] (what a cluster replica reports as its view).

use std::collections::HashMap;

use super::{Alert, AlertState};
use crate::config::ComponentKey;
use crate::status::Status;

/// One component's run of results.
#[derive(Clone, Debug, Default)]
struct Streak {
    failures: u32,
    successes: u32,
    first_failure: Option<(jiff::Timestamp, Option<String>, Status)>,
    last_status: Option<Status>,
    firing: Option<Alert>,
}

/// A component's run of results: red ones in a row, ok ones in a row, and when the
/// failures began (with the first error and the status before).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    /// Red results in a row.
    pub failures: u32,
    /// Ok results in a row.
    pub successes: u32,
    /// The first failure of the run: when, its error, the status before it.
    pub first_failure: Option<(jiff::Timestamp, Option<String>, Status)>,
}

/// The consecutive-result rule, per component. Kept in one place so every receiver sees
/// the same alerts.
#[derive(Debug)]
pub struct Thresholds {
    failure: u32,
    success: u32,
    streaks: HashMap<ComponentKey, Streak>,
}

/// What a component is, for an alert.
#[derive(Clone, Debug)]
pub struct Subject {
    /// Component key.
    pub component: ComponentKey,
    /// Its kind.
    pub kind: &'static str,
    /// Counted in the overall status.
    pub required: bool,
}

impl Thresholds {
    /// Fire after `failure` red results in a row, resolve after `success` ok ones.
    pub fn new(failure: u32, success: u32) -> Self {
        Self {
            failure: failure.max(1),
            success: success.max(1),
            streaks: HashMap::new(),
        }
    }

    /// Marks an alert as already firing (remembered from before a restart).
    pub fn resume(&mut self, alert: Alert) {
        let streak = self.streaks.entry(alert.component.clone()).or_default();
        streak.failures = self.failure;
        streak.firing = Some(alert);
    }

    /// Takes a result; returns the alert to send, if this result fires or resolves one.
    pub fn observe(
        &mut self,
        subject: Subject,
        status: Status,
        error: Option<&str>,
        at: jiff::Timestamp,
    ) -> Option<Alert> {
        let (failure, success) = (self.failure, self.success);
        let streak = self.streaks.entry(subject.component.clone()).or_default();
        let previous = streak.last_status.replace(status);
        if status.is_ok() {
            streak.failures = 0;
            streak.first_failure = None;
            streak.successes += 1;
            if streak.successes >= success
                && let Some(firing) = streak.firing.take()
            {
                return Some(Alert {
                    state: AlertState::Resolved,
                    status,
                    resolved_at: Some(at),
                    ..firing
                });
            }
            return None;
        }
        streak.successes = 0;
        streak.failures += 1;
        let (started_at, first_error, before) = streak
            .first_failure
            .get_or_insert_with(|| {
                (
                    at,
                    error.map(str::to_owned),
                    previous.unwrap_or(Status::Green),
                )
            })
            .clone();
        if streak.failures >= failure && streak.firing.is_none() {
            let alert = Alert {
                component: subject.component,
                kind: subject.kind,
                required: subject.required,
                state: AlertState::Firing,
                status,
                previous_status: before,
                error: first_error,
                started_at,
                resolved_at: None,
                held_back: Vec::new(),
                term: None,
            };
            streak.firing = Some(alert.clone());
            return Some(alert);
        }
        None
    }

    /// A component's current run of results.
    pub fn run(&self, component: &ComponentKey) -> Option<Run> {
        let streak = self.streaks.get(component)?;
        Some(Run {
            failures: streak.failures,
            successes: streak.successes,
            first_failure: streak.first_failure.clone(),
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub const REDIS: Subject = Subject {
        component: ComponentKey::Redis,
        kind: "redis",
        required: true,
    };

    fn run(thresholds: &mut Thresholds, statuses: &[Status]) -> Vec<(usize, AlertState)> {
        statuses
            .iter()
            .enumerate()
            .filter_map(|(i, status)| {
                let at = jiff::Timestamp::from_second(1_000 + i as i64).unwrap();
                thresholds
                    .observe(REDIS, *status, Some("down"), at)
                    .map(|a| (i, a.state))
            })
            .collect()
    }

    #[test]
    fn fires_and_resolves_after_consecutive_results_only() {
        use Status::{Green as G, Red as R, Yellow as Y};
        let cases = [
            ("one red is not enough", vec![G, R, G, R, G], vec![]),
            (
                "flapping below the thresholds",
                vec![R, G, R, G, R, Y, R],
                vec![],
            ),
            (
                "two reds fire once",
                vec![G, R, R, R, R],
                vec![(2, AlertState::Firing)],
            ),
            (
                "two oks resolve; one does not",
                vec![R, R, G, R, G, Y],
                vec![(1, AlertState::Firing), (5, AlertState::Resolved)],
            ),
        ];
        for (name, statuses, expected) in cases {
            let mut thresholds = Thresholds::new(2, 2);
            assert_eq!(run(&mut thresholds, &statuses), expected, "{name}");
        }
    }

    #[test]
    fn a_firing_alert_carries_the_first_failure() {
        let mut thresholds = Thresholds::new(2, 1);
        let first = jiff::Timestamp::from_second(10).unwrap();
        let second = jiff::Timestamp::from_second(15).unwrap();
        assert_eq!(thresholds.observe(REDIS, Status::Green, None, first), None);
        assert_eq!(
            thresholds.observe(REDIS, Status::Red, Some("refused"), first),
            None
        );
        let alert = thresholds
            .observe(REDIS, Status::Red, Some("timed out"), second)
            .unwrap();
        assert_eq!(alert.started_at, first);
        assert_eq!(alert.error.as_deref(), Some("refused"));
        assert_eq!(alert.previous_status, Status::Green);
        assert_eq!(thresholds.streaks[&ComponentKey::Redis].firing, Some(alert));
    }

    /// Receivers hear the difference between what they were told and what is true.
    #[test]
    fn a_resumed_alert_resolves_without_firing_again() {
        let mut thresholds = Thresholds::new(2, 1);
        let mut alert = thresholds
            .observe(REDIS, Status::Red, None, jiff::Timestamp::UNIX_EPOCH)
            .or_else(|| thresholds.observe(REDIS, Status::Red, None, jiff::Timestamp::UNIX_EPOCH))
            .unwrap();
        alert.error = Some("before the restart".into());
        let mut restarted = Thresholds::new(2, 1);
        restarted.resume(alert);
        assert_eq!(
            run(&mut restarted, &[Status::Red, Status::Red, Status::Green]),
            [(2, AlertState::Resolved)]
        );
    }
}
