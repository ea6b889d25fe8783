//! A connection kept between probes. A connection pool would hide connect errors behind
//! its own retry loop ("pool timed out" instead of "connection refused"); probes of one
//! component never overlap (the monitor runs them single-flight), so one kept connection
//! is the whole pool they need.

use std::future::Future;
use std::sync::Mutex;

/// One connection, reused while it works and dropped as soon as it fails.
pub struct Kept<C> {
    slot: Mutex<Option<C>>,
}

impl<C: Send> Kept<C> {
    /// No connection yet.
    pub fn new() -> Self {
        Self {
            slot: Mutex::new(None),
        }
    }

    /// Runs `work` on the kept connection, or on a new one from `connect`; `work` takes the
    /// connection and hands it back with its result. A kept connection that fails at the
    /// transport level (`dead`: the server restarted since, or something dropped it) says
    /// nothing about the server now, so the work runs once more on a new connection. A
    /// connection that failed, or whose probe the timeout cancelled, is dropped; one that
    /// worked is kept.
    pub async fn run<T, E, F, W>(
        &self,
        connect: impl Fn() -> F,
        work: impl Fn(C) -> W,
        dead: impl Fn(&E) -> bool,
    ) -> Result<T, E>
    where
        F: Future<Output = Result<C, E>>,
        W: Future<Output = (C, Result<T, E>)>,
    {
        let kept = self.slot.lock().expect("kept connection lock").take();
        let connection = match kept {
            Some(connection) => match work(connection).await {
                (connection, Ok(value)) => {
                    self.put_back(connection);
                    return Ok(value);
                }
                (_, Err(error)) if dead(&error) => connect().await?,
                (_, Err(error)) => return Err(error),
            },
            None => connect().await?,
        };
        let (connection, result) = work(connection).await;
        let value = result?;
        self.put_back(connection);
        Ok(value)
    }

    fn put_back(&self, connection: C) {
        *self.slot.lock().expect("kept connection lock") = Some(connection);
    }
}
