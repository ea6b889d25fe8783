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

impl<C> Kept<C> {
    /// No connection yet.
    pub fn new() -> Self {
        Self {
            slot: Mutex::new(None),
        }
    }

    /// The kept connection, or a new one from `connect`. Give it back with [`Kept::put_back`]
    /// once it has worked; a connection that failed, or whose probe was cancelled by the
    /// timeout, is simply dropped, so the next probe reconnects.
    pub async fn take_or<E>(&self, connect: impl Future<Output = Result<C, E>>) -> Result<C, E> {
        let kept = self.slot.lock().expect("kept connection lock").take();
        match kept {
            Some(connection) => Ok(connection),
            None => connect.await,
        }
    }

    /// Keeps a connection that just worked for the next probe.
    pub fn put_back(&self, connection: C) {
        *self.slot.lock().expect("kept connection lock") = Some(connection);
    }
}
