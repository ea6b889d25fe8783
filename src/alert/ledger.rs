//! What receivers were last told about each component, against what is true now: while a
//! component is quiet (a maintenance window, a silence) its alerts wait, and when the quiet
//! ends the [`Ledger`]'s difference is sent.

use super::{Alert, AlertState};

/// What receivers were last told about one component, and what is true now.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Ledger {
    /// The firing alert receivers were told of and not yet of its resolution.
    pub(super) told: Option<Alert>,
    /// The alert firing now.
    firing: Option<Alert>,
    /// The resolution of `told`, while it waits.
    resolution: Option<Alert>,
}

impl Ledger {
    /// Takes a decided alert as the truth.
    pub(super) fn learn(&mut self, alert: &Alert) {
        match alert.state {
            AlertState::Firing => self.firing = Some(alert.clone()),
            AlertState::Resolved => {
                self.firing = None;
                if self.told.as_ref().map(Alert::incident_key) == Some(alert.incident_key()) {
                    self.resolution = Some(alert.clone());
                }
            }
        }
    }

    /// What receivers must hear for what they were told to match the truth: the resolution
    /// of a told alert that no longer fires, then an alert firing they were not told of.
    pub(super) fn difference(&self) -> Vec<Alert> {
        let key = |a: &Option<Alert>| a.as_ref().map(Alert::incident_key);
        let mut out = Vec::new();
        if let Some(told) = &self.told
            && key(&self.firing) != key(&self.told)
        {
            out.push(self.resolution.clone().unwrap_or_else(|| Alert {
                state: AlertState::Resolved,
                resolved_at: Some(jiff::Timestamp::now()),
                ..told.clone()
            }));
        }
        if let Some(firing) = &self.firing
            && key(&self.firing) != key(&self.told)
        {
            out.push(firing.clone());
        }
        out
    }

    /// Receivers have been told the difference.
    pub(super) fn told(&mut self) {
        self.told = self.firing.clone();
        self.resolution = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Thresholds;
    use crate::alert::thresholds::tests::REDIS;
    use crate::status::Status;

    #[test]
    fn the_difference_after_a_quiet_is_what_receivers_were_not_told() {
        let mut thresholds = Thresholds::new(1, 1);
        let mut at = 0;
        let mut next = |status| {
            at += 1;
            let when = jiff::Timestamp::from_second(at).unwrap();
            thresholds
                .observe(REDIS, status, Some("down"), when)
                .unwrap()
        };
        let states = |ledger: &Ledger| -> Vec<(AlertState, i64)> {
            ledger
                .difference()
                .iter()
                .map(|a| (a.state, a.started_at.as_second()))
                .collect()
        };
        // Fired and resolved while quiet: nothing.
        let mut ledger = Ledger::default();
        ledger.learn(&next(Status::Red));
        ledger.learn(&next(Status::Green));
        assert_eq!(states(&ledger), []);
        // Fired while quiet, still firing: the firing.
        ledger.learn(&next(Status::Red));
        assert_eq!(states(&ledger), [(AlertState::Firing, 3)]);
        ledger.told();
        assert_eq!(states(&ledger), [], "told");
        // Told before, resolved while quiet: its resolution, with its own time.
        let resolved = next(Status::Green);
        ledger.learn(&resolved);
        assert_eq!(ledger.difference(), [resolved]);
        // ... and firing again while quiet: the resolution, then the new firing.
        ledger.learn(&next(Status::Red));
        assert_eq!(
            states(&ledger),
            [(AlertState::Resolved, 3), (AlertState::Firing, 5)]
        );
        ledger.told();
        assert_eq!(states(&ledger), []);
    }
}
