//! The monitor: probes every component on its own schedule, all concurrently, and
//! publishes results into a snapshot swapped whole. A probe runs single-flight per
//! component: a scheduled probe and any number of `?fresh=1` requests share one run, and
//! `?fresh=1` probes a component at most once per `fresh_min_interval` (requests within it
//! get the newest result), so that no client can drive probe rounds of the dependencies.
//! Each result is also handed to the [`Sink`]s the monitor was given (metrics, history,
//! alerts); none of them knows the monitor.

mod snapshot;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

use crate::component::Component;
use crate::config::{ComponentKey, Scrubber};
use crate::probe::{self, ProbeResult};
use crate::status::Status;

pub use snapshot::{Snapshot, Timed, Verdict, all_required_ok};

/// One result as it is published.
pub struct Published<'a> {
    /// The component probed.
    pub component: &'a Component,
    /// Its status before this result; `None` for its first result since start.
    pub previous: Option<Status>,
    /// The new result.
    pub result: &'a ProbeResult,
    /// A dependency of the component whose latest result is red, if any: while it lasts,
    /// the component's own red is that dependency's consequence.
    pub held_by: Option<&'a ComponentKey>,
}

/// Something that takes every published result. It must not wait: the probe path calls it.
pub trait Sink: Send + Sync {
    /// Takes one result.
    fn publish(&self, published: &Published<'_>);
}

/// Per-component run state for the single-flight rule.
struct Flight {
    /// Held while a probe of this component runs.
    running: tokio::sync::Mutex<()>,
    /// Number of finished probes; tells a waiter that the run it waited for is done.
    finished: AtomicU64,
}

/// Watches the configured components.
pub struct Monitor {
    components: Vec<Component>,
    flights: Vec<Flight>,
    snapshot: ArcSwap<Snapshot>,
    scrubber: Scrubber,
    sinks: Vec<Arc<dyn Sink>>,
    fresh_min_interval: Duration,
}

impl Monitor {
    /// A monitor of these components, handing each result to `sinks`, probing a component
    /// for [`Monitor::fresh_all`] at most once per `fresh_min_interval`; nothing runs until
    /// [`Monitor::start`] or a refresh.
    pub fn new(
        components: Vec<Component>,
        scrubber: Scrubber,
        sinks: Vec<Arc<dyn Sink>>,
        fresh_min_interval: Duration,
    ) -> Self {
        let flights = components
            .iter()
            .map(|_| Flight {
                running: tokio::sync::Mutex::new(()),
                finished: AtomicU64::new(0),
            })
            .collect();
        Self {
            snapshot: ArcSwap::from_pointee(Snapshot::empty(components.len())),
            components,
            flights,
            scrubber,
            sinks,
            fresh_min_interval,
        }
    }

    /// The watched components, in healthz order.
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// The latest snapshot (lock-free).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Probes component `index` now, or joins the probe of it already running.
    pub async fn refresh(&self, index: usize) {
        self.probe_unless_newer(index, Duration::ZERO).await;
    }

    /// For `?fresh=1`: probes every component whose newest result is older than
    /// `fresh_min_interval` (or joins its probe already running); the others keep theirs.
    pub async fn fresh_all(&self) {
        let within = self.fresh_min_interval;
        let stale = (0..self.components.len()).filter(|&i| !self.has_result_within(i, within));
        futures_util::future::join_all(stale.map(|i| self.probe_unless_newer(i, within))).await;
    }

    /// Whether component `index` has a result published less than `within` ago.
    fn has_result_within(&self, index: usize, within: Duration) -> bool {
        self.snapshot.load().results[index]
            .as_ref()
            .is_some_and(|timed| timed.at.elapsed() < within)
    }

    /// Probes component `index` (single-flight) unless a result of it was published less
    /// than `within` ago, checked again once its turn comes: a probe that ended meanwhile
    /// counts.
    async fn probe_unless_newer(&self, index: usize, within: Duration) {
        let flight = &self.flights[index];
        let seen = flight.finished.load(Ordering::Acquire);
        let _running = flight.running.lock().await;
        if flight.finished.load(Ordering::Acquire) != seen || self.has_result_within(index, within)
        {
            return; // The run we waited for, or one just before, has published its result.
        }
        let component = &self.components[index];
        let span = tracing::info_span!(
            "probe",
            component = component.key.as_str(),
            kind = component.kind
        );
        let result = probe::run(&component.probe, component.limits, &self.scrubber)
            .instrument(span)
            .await;
        self.publish(index, result);
        flight.finished.fetch_add(1, Ordering::Release);
    }

    /// Refreshes every component concurrently (single-flight each).
    pub async fn refresh_all(&self) {
        futures_util::future::join_all((0..self.components.len()).map(|i| self.refresh(i))).await;
    }

    /// Refreshes the components that have no result yet.
    pub async fn refresh_missing(&self) {
        let snapshot = self.snapshot();
        let missing = (0..self.components.len()).filter(|&i| snapshot.results[i].is_none());
        futures_util::future::join_all(missing.map(|i| self.refresh(i))).await;
    }

    fn publish(&self, index: usize, result: ProbeResult) {
        let component = &self.components[index];
        let snapshot = self.snapshot();
        let previous = snapshot.results[index].as_ref().map(|t| t.result.status);
        if previous != Some(result.status) {
            log_change(component, previous, &result);
        }
        let published = Published {
            component,
            previous,
            result: &result,
            held_by: snapshot.red_dependency(component, &self.components),
        };
        for sink in &self.sinks {
            sink.publish(&published);
        }
        let timed = Timed {
            result: Arc::new(result),
            at: Instant::now(),
        };
        self.snapshot
            .rcu(|current| current.with(index, timed.clone()));
    }

    /// Starts every component's schedule. The tasks stop when `tasks` is dropped or shut
    /// down.
    pub fn start(self: &Arc<Self>, tasks: &mut JoinSet<()>) {
        for (index, component) in self.components.iter().enumerate() {
            let monitor = Arc::clone(self);
            let period = component.interval;
            tasks.spawn(async move {
                let mut ticks = tokio::time::interval(period);
                ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    monitor.refresh(index).await;
                }
            });
        }
    }
}

fn log_change(component: &Component, previous: Option<Status>, result: &ProbeResult) {
    let from = previous.map_or("none", Status::as_str);
    let (key, to) = (component.key.as_str(), result.status.as_str());
    let error = result.error.as_deref().unwrap_or("");
    match result.status {
        Status::Green => tracing::info!(component = key, from, to, "Component is healthy."),
        Status::Yellow => {
            tracing::warn!(
                component = key,
                from,
                to,
                error,
                "Component needs attention."
            )
        }
        Status::Red => tracing::warn!(component = key, from, to, error, "Component is failing."),
    }
}
