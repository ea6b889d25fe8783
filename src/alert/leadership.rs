//! Whether this replica may send notifications, in a cluster: the term it leads and the
//! instant until which its lease is surely in force. The cluster sets it each round; the
//! receivers ask it before every attempt, so a replica that cannot renew stops sending on
//! its own, before another can take over.

use std::sync::Mutex;

use tokio::time::Instant;

/// The lease this replica holds, if any.
#[derive(Debug, Default)]
pub struct Leadership {
    held: Mutex<Option<(i64, Instant)>>,
}

impl Leadership {
    /// Leads in `term` until `until`.
    pub fn hold(&self, term: i64, until: Instant) {
        *self.held.lock().expect("leadership lock") = Some((term, until));
    }

    /// Leads no more.
    pub fn clear(&self) {
        *self.held.lock().expect("leadership lock") = None;
    }

    /// The term led, while the lease is surely in force.
    pub fn term(&self) -> Option<i64> {
        let held = *self.held.lock().expect("leadership lock");
        held.filter(|(_, until)| Instant::now() < *until)
            .map(|(term, _)| term)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_term_lapses_with_the_lease_unless_renewed() {
        let leadership = Leadership::default();
        assert_eq!(leadership.term(), None);
        leadership.hold(3, Instant::now() + std::time::Duration::from_secs(2));
        assert_eq!(leadership.term(), Some(3));
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        assert_eq!(leadership.term(), None);
    }
}
