//! Waiting for a condition instead of sleeping a fixed time: a test polls until what it
//! expects is true, under one generous bound, so a machine with both cores busy is slower
//! but not wrong. [`settle`] is the one fixed wait, for asserting that something does
//! *not* happen: a slow machine can only make such a check miss, never fail wrongly.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long any condition may take before the test fails: generous, so that only a
/// behaviour that never happens fails, never a slow machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How often a condition is checked again.
const POLL: Duration = Duration::from_millis(100);

/// How long [`settle`] gives something that must not happen.
const SETTLE: Duration = Duration::from_secs(1);

/// Checks `check` until it returns `Ok`, and returns that value; panics with `what` and the
/// last complaint after [`PATIENCE`].
pub async fn wait_until<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    wait_until_within(what, PATIENCE, check).await
}

/// [`wait_until`] with a bound of its own, for what the program itself schedules minutes
/// apart (a bound still well above the schedule).
pub async fn wait_until_within<T, F, Fut>(what: &str, bound: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + bound;
    loop {
        let complaint = match check().await {
            Ok(value) => return value,
            Err(complaint) => complaint,
        };
        assert!(
            Instant::now() < deadline,
            "{what}: not so after {bound:?}: {complaint}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Checks `condition` until it is true; panics with `what` after [`PATIENCE`].
pub async fn wait_for<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_until(what, || {
        let holds = condition();
        async move { holds.await.then_some(()).ok_or_else(String::new) }
    })
    .await;
}

/// Gives something that must not happen the time to happen anyway (work already queued
/// in the program), before the test checks that it did not.
pub async fn settle() {
    tokio::time::sleep(SETTLE).await;
}
