//! Exponential back-off: the waits between attempts at something that keeps failing (the
//! history store, an alert receiver), doubling from a first wait up to a cap.

use std::time::Duration;

/// Waits that start at `first` and double after each one, never beyond `cap`.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    next: Duration,
    cap: Duration,
}

impl Backoff {
    /// Back-off whose first wait is `first` and whose waits never exceed `cap`.
    pub const fn new(first: Duration, cap: Duration) -> Self {
        Self {
            first,
            next: first,
            cap,
        }
    }

    /// The wait before the next attempt; the one after is twice as long, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next.min(self.cap);
        self.next = delay.saturating_mul(2).min(self.cap);
        delay
    }

    /// Starts again from the first wait, after a success.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delays(backoff: &mut Backoff, n: usize) -> Vec<u64> {
        (0..n).map(|_| backoff.next_delay().as_secs()).collect()
    }

    #[test]
    fn waits_double_up_to_the_cap_and_start_over_after_a_reset() {
        let mut history = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        assert_eq!(delays(&mut history, 8), [1, 2, 4, 8, 16, 30, 30, 30]);
        history.reset();
        assert_eq!(delays(&mut history, 3), [1, 2, 4]);
        let mut alerts = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(delays(&mut alerts, 8), [1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
