//! The quorum rule, over what every live observer last reported of a component: an alert
//! fires when enough observers have each seen the component red `failure_threshold` times
//! in a row, and resolves when fewer than that many have not yet seen it ok
//! `success_threshold` times in a row. Pure, so the rule is tested apart from the store.

use jiff::Timestamp;

use crate::config::Quorum;
use crate::status::Status;

/// One observer's run of results for one component, as it reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct ObserverView {
    /// The observer's name.
    pub observer: String,
    /// Its latest status.
    pub status: Status,
    /// Red results in a row (held-back results are not counted).
    pub failures: u32,
    /// Ok results in a row.
    pub successes: u32,
    /// When its current run of failures began, with the first failure's error and the
    /// status before it.
    pub first_failure: Option<(Timestamp, Option<String>, Status)>,
    /// Its latest result's time.
    pub checked_at: Timestamp,
    /// Its latest result's error.
    pub error: Option<String>,
}

/// The thresholds and quorum in force.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Red results in a row an observer needs to count as seeing the component down.
    pub failure_threshold: u32,
    /// Ok results in a row an observer needs to count as seeing it back.
    pub success_threshold: u32,
    /// How many observers must agree.
    pub quorum: Quorum,
}

/// What the leader must do about one component.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Enough observers see it down: fire, as the observer that saw it first.
    Fire {
        /// When that observer's run of failures began.
        started_at: Timestamp,
        /// Its first error.
        error: Option<String>,
        /// Its status before the run.
        previous_status: Status,
        /// The worst status the agreeing observers see now (statuses order worst first).
        status: Status,
    },
    /// Too few observers still see it down: resolve.
    Resolve {
        /// The best status the observers see now.
        status: Status,
    },
}

impl Rule {
    /// The decision for one component, given the views of the `live` observers that have
    /// reported it and whether its alert is firing now; `None` when nothing changes.
    pub fn decide(&self, views: &[ObserverView], live: u32, firing: bool) -> Option<Decision> {
        let needed = self.quorum.needed(live);
        let down: Vec<&ObserverView> = views
            .iter()
            .filter(|v| v.failures >= self.failure_threshold)
            .collect();
        if !firing {
            if (down.len() as u32) < needed {
                return None;
            }
            let first = down
                .iter()
                .filter_map(|v| v.first_failure.as_ref())
                .min_by_key(|(at, _, _)| *at)?;
            let status = down.iter().map(|v| v.status).min()?;
            return Some(Decision::Fire {
                started_at: first.0,
                error: first.1.clone(),
                previous_status: first.2,
                status,
            });
        }
        let not_back = views
            .iter()
            .filter(|v| v.successes < self.success_threshold)
            .count() as u32;
        if not_back >= needed {
            return None;
        }
        let status = views
            .iter()
            .map(|v| v.status)
            .max()
            .unwrap_or(Status::Green);
        Some(Decision::Resolve { status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(observer: &str, status: Status, failures: u32, successes: u32) -> ObserverView {
        let at = Timestamp::from_second(1_000 + i64::from(failures)).unwrap();
        ObserverView {
            observer: observer.into(),
            status,
            failures,
            successes,
            first_failure: (failures > 0).then(|| {
                let began = Timestamp::from_second(1_000 - observer.len() as i64).unwrap();
                (began, Some(format!("{observer} saw it")), Status::Green)
            }),
            checked_at: at,
            error: None,
        }
    }

    const RULE: Rule = Rule {
        failure_threshold: 2,
        success_threshold: 2,
        quorum: Quorum::Majority,
    };

    #[test]
    fn one_observer_of_three_does_not_fire_a_majority() {
        let views = [
            view("a", Status::Red, 5, 0),
            view("b", Status::Green, 0, 5),
            view("c", Status::Green, 0, 5),
        ];
        assert_eq!(RULE.decide(&views, 3, false), None);
        let one = Rule {
            quorum: Quorum::AtLeast(1),
            ..RULE
        };
        assert!(matches!(
            one.decide(&views, 3, false),
            Some(Decision::Fire { .. })
        ));
    }

    #[test]
    fn a_majority_fires_as_the_observer_that_saw_it_first() {
        let views = [
            view("a", Status::Red, 2, 0),
            view("bbb", Status::Red, 3, 0),
            view("c", Status::Green, 1, 0),
        ];
        let Some(Decision::Fire {
            started_at, error, ..
        }) = RULE.decide(&views, 3, false)
        else {
            panic!("two of three fire");
        };
        assert_eq!(started_at, Timestamp::from_second(997).unwrap());
        assert_eq!(error.as_deref(), Some("bbb saw it"));
        // Below the failure threshold an observer does not count yet.
        let early = [view("a", Status::Red, 2, 0), view("b", Status::Red, 1, 0)];
        assert_eq!(RULE.decide(&early, 3, false), None);
    }

    #[test]
    fn it_resolves_once_fewer_than_the_quorum_are_not_yet_back() {
        let still = [
            view("a", Status::Green, 0, 2),
            view("b", Status::Red, 4, 0),
            view("c", Status::Green, 0, 1),
        ];
        assert_eq!(RULE.decide(&still, 3, true), None);
        let back = [
            view("a", Status::Green, 0, 2),
            view("b", Status::Red, 4, 0),
            view("c", Status::Green, 0, 2),
        ];
        assert_eq!(
            RULE.decide(&back, 3, true),
            Some(Decision::Resolve {
                status: Status::Green
            })
        );
    }
}
