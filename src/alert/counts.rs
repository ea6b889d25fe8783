//! What happened to one receiver's notifications, for `/metrics`: attempts, failed
//! attempts, and alerts given up with the reason.

use std::sync::atomic::{AtomicU64, Ordering};

use super::QuietReason;

/// Why an alert was given up without reaching its receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The receiver's queue was full when the alert was decided.
    QueueFull,
    /// Every attempt failed ([`MAX_ATTEMPTS`](super::MAX_ATTEMPTS)).
    RetriesExhausted,
    /// The shutdown deadline came before it was delivered.
    Shutdown,
    /// This replica stopped leading its cluster before it was delivered.
    NotLeader,
}

impl DropReason {
    /// Every reason.
    pub const ALL: [Self; 4] = [
        Self::QueueFull,
        Self::RetriesExhausted,
        Self::Shutdown,
        Self::NotLeader,
    ];

    /// The reason as the `reason` label names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::RetriesExhausted => "retries_exhausted",
            Self::Shutdown => "shutdown",
            Self::NotLeader => "not_leader",
        }
    }
}

/// The counters of one receiver, since start.
#[derive(Debug, Default)]
pub struct Counts {
    attempts: AtomicU64,
    failures: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    suppressed: [AtomicU64; QuietReason::ALL.len()],
}

/// A reading of [`Counts`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CountsRead {
    /// Delivery attempts.
    pub attempts: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// Alerts given up, per reason (every reason, in [`DropReason::ALL`] order).
    pub dropped: Vec<(DropReason, u64)>,
    /// Alerts held back while quiet, per reason (in [`QuietReason::ALL`] order); one that
    /// is still true when the quiet ends is sent then.
    pub suppressed: Vec<(QuietReason, u64)>,
}

impl Counts {
    /// One attempt, failed or not.
    pub fn attempted(&self, failed: bool) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `alerts` given up for `reason`.
    pub fn dropped(&self, reason: DropReason, alerts: usize) {
        self.dropped[reason as usize].fetch_add(alerts as u64, Ordering::Relaxed);
    }

    /// An alert held back for `reason`.
    pub fn suppressed(&self, reason: QuietReason) {
        self.suppressed[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn read(&self) -> CountsRead {
        CountsRead {
            attempts: self.attempts.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            dropped: DropReason::ALL
                .iter()
                .map(|&reason| {
                    (
                        reason,
                        self.dropped[reason as usize].load(Ordering::Relaxed),
                    )
                })
                .collect(),
            suppressed: QuietReason::ALL
                .iter()
                .map(|&reason| {
                    (
                        reason,
                        self.suppressed[reason as usize].load(Ordering::Relaxed),
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_failures_and_drops_are_counted_apart() {
        let counts = Counts::default();
        counts.attempted(true);
        counts.attempted(false);
        counts.dropped(DropReason::Shutdown, 3);
        counts.dropped(DropReason::QueueFull, 1);
        counts.suppressed(QuietReason::Silence);
        assert_eq!(
            counts.read(),
            CountsRead {
                attempts: 2,
                failures: 1,
                dropped: vec![
                    (DropReason::QueueFull, 1),
                    (DropReason::RetriesExhausted, 0),
                    (DropReason::Shutdown, 3),
                    (DropReason::NotLeader, 0),
                ],
                suppressed: vec![(QuietReason::Maintenance, 0), (QuietReason::Silence, 1)],
            }
        );
    }
}
