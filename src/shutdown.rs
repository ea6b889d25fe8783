//! Stopping within a deadline. A part that holds work for later (the history writer, each
//! alert receiver) owns a [`Closer`] and gives its task a [`Closing`]. Closing it with a
//! deadline tells the task to take no more work, finish what it holds before the deadline,
//! and say how much it could not.

use std::future::Future;

use tokio::sync::watch;
use tokio::time::Instant;

/// Asks the tasks watching it to close, once, by a deadline.
pub struct Closer(watch::Sender<Option<Instant>>);

/// A task's view of its [`Closer`]: whether, and by when, it must close.
#[derive(Clone)]
pub struct Closing(watch::Receiver<Option<Instant>>);

impl Closer {
    /// A closer nobody has asked to close yet.
    pub fn new() -> Self {
        Self(watch::Sender::new(None))
    }

    /// A view for one task.
    pub fn subscribe(&self) -> Closing {
        Closing(self.0.subscribe())
    }

    /// Asks every task watching to finish what it holds before `deadline`, then stop.
    pub fn close(&self, deadline: Instant) {
        self.0.send_replace(Some(deadline));
    }
}

impl Default for Closer {
    fn default() -> Self {
        Self::new()
    }
}

impl Closing {
    /// Resolves once closing is asked for, with its deadline; never before.
    pub async fn asked(&mut self) -> Instant {
        let asked = self
            .0
            .wait_for(Option::is_some)
            .await
            .map(|deadline| *deadline);
        match asked {
            Ok(deadline) => deadline.expect("waited until it was set"),
            // The closer is gone: nobody can ask any more.
            Err(_) => std::future::pending().await,
        }
    }

    /// `work`, unless closing is asked for first: then `work` is dropped and the deadline
    /// returned. For waits that hold nothing (a queue, a pause).
    pub async fn unless_asked<F: Future>(&mut self, work: F) -> Result<F::Output, Instant> {
        tokio::select! {
            biased;
            deadline = self.asked() => Err(deadline),
            done = work => Ok(done),
        }
    }

    /// `work` to its end; once closing is asked for, no later than the deadline: `Err` with
    /// it when the deadline comes first. For work that must not be cut while it can still
    /// finish (a write, a delivery).
    pub async fn bounded<F: Future>(&mut self, work: F) -> Result<F::Output, Instant> {
        tokio::pin!(work);
        let deadline = tokio::select! {
            biased;
            done = &mut work => return Ok(done),
            deadline = self.asked() => deadline,
        };
        tokio::time::timeout_at(deadline, work)
            .await
            .map_err(|_| deadline)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn work_runs_on_until_closing_then_until_the_deadline() {
        let closer = Closer::new();
        let mut closing = closer.subscribe();
        let long = Duration::from_secs(3600);
        assert_eq!(
            closing.bounded(async { 7 }).await,
            Ok(7),
            "work ends on its own"
        );

        let started = Instant::now();
        let deadline = started + Duration::from_secs(10);
        let asked_later = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            closer.close(deadline);
        };
        let (cut, ()) = tokio::join!(closing.bounded(tokio::time::sleep(long)), asked_later);
        assert_eq!(cut, Err(deadline), "cut at the deadline, not when asked");
        assert_eq!(Instant::now(), deadline);

        assert_eq!(
            closing.bounded(async { 8 }).await,
            Ok(8),
            "work that ends before the deadline still ends"
        );
        assert_eq!(
            closing.unless_asked(tokio::time::sleep(long)).await,
            Err(deadline),
            "a wait ends once closing is asked"
        );
        assert_eq!(Instant::now(), deadline, "at once");
    }

    #[tokio::test(start_paused = true)]
    async fn waits_end_when_closing_is_asked() {
        let closer = Closer::new();
        let mut closing = closer.subscribe();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(10);
        let ask = async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            closer.close(deadline);
        };
        let (waited, ()) = tokio::join!(
            closing.unless_asked(tokio::time::sleep(Duration::from_secs(3600))),
            ask
        );
        assert_eq!(waited, Err(deadline));
        assert_eq!(Instant::now(), started + Duration::from_secs(2));
    }
}
