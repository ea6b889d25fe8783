//! The monitor: probes every component on its own schedule, all concurrently, and
//! publishes results into a snapshot swapped whole. A probe runs single-flight per
//! component: a scheduled probe and any number of `?fresh=1` requests share one run.

mod snapshot;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tracing::Instrument;

use crate::alert::Alerts;
use crate::component::Component;
use crate::config::Scrubber;
use crate::history::{ChangeRecord, History, Record, ResultRecord};
use crate::metrics::Metrics;
use crate::probe::{self, AnyProbe, ProbeResult, TaskExecutorsProbe};
use crate::status::Status;

pub use snapshot::{Snapshot, Timed, Verdict};

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
    history: Option<Arc<History>>,
    alerts: Option<Arc<Alerts>>,
    metrics: Metrics,
}

impl Monitor {
    /// A monitor of these components, recording into `history` when given; nothing runs
    /// until [`Monitor::start`] or a refresh.
    pub fn new(
        components: Vec<Component>,
        scrubber: Scrubber,
        history: Option<Arc<History>>,
        alerts: Option<Arc<Alerts>>,
    ) -> Arc<Self> {
        let flights = components
            .iter()
            .map(|_| Flight {
                running: tokio::sync::Mutex::new(()),
                finished: AtomicU64::new(0),
            })
            .collect();
        Arc::new(Self {
            snapshot: ArcSwap::from_pointee(Snapshot::empty(components.len())),
            metrics: Metrics::new(&components),
            components,
            flights,
            scrubber,
            history,
            alerts,
        })
    }

    /// The task-executor probe, when the executors are watched.
    pub fn task_executors(&self) -> Option<&TaskExecutorsProbe> {
        self.components.iter().find_map(|c| match &c.probe {
            AnyProbe::TaskExecutors(probe) => Some(probe),
            _ => None,
        })
    }

    /// The probe counters and durations.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The alerting, if configured.
    pub fn alerts(&self) -> Option<&Arc<Alerts>> {
        self.alerts.as_ref()
    }

    /// The history results are recorded into, if any.
    pub fn history(&self) -> Option<&Arc<History>> {
        self.history.as_ref()
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
        let flight = &self.flights[index];
        let seen = flight.finished.load(Ordering::Acquire);
        let _running = flight.running.lock().await;
        if flight.finished.load(Ordering::Acquire) != seen {
            return; // The run we waited for has just published its result.
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
        let previous = self.snapshot().results[index]
            .as_ref()
            .map(|t| t.result.status);
        self.metrics.observe(component, &result);
        if let Some(alerts) = &self.alerts {
            let held_by = self.snapshot().red_dependency(component, &self.components);
            alerts.observe(component, &result, held_by);
        }
        let changed = previous != Some(result.status);
        if changed {
            log_change(component, previous, &result);
        }
        if let Some(history) = &self.history {
            let key = component.key.as_str();
            if changed {
                history.record(Record::Change(ChangeRecord {
                    component: key,
                    at: result.checked_at,
                    from: previous,
                    to: result.status,
                    error: result.error.clone(),
                }));
            }
            history.record(Record::Result(ResultRecord {
                component: key,
                checked_at: result.checked_at,
                status: result.status,
                elapsed_ms: result.elapsed_ms,
                error: result.error.clone(),
            }));
        }
        let timed = Timed {
            result: Arc::new(result),
            at: Instant::now(),
        };
        self.snapshot
            .rcu(|current| current.with(index, timed.clone()));
    }

    /// Starts the background work: every component's schedule (when `scheduled`), the
    /// history writer and the executor memory. The tasks stop when the returned set is
    /// dropped or shut down.
    pub async fn start(self: &Arc<Self>, scheduled: bool) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        if let Some(alerts) = &self.alerts {
            alerts.start(&mut tasks);
        }
        if let (Some(alerts), Some(history)) = (&self.alerts, &self.history) {
            let (monitor, alerts, history) =
                (Arc::clone(self), Arc::clone(alerts), Arc::clone(history));
            tasks.spawn(async move { alerts.resume(&monitor, &history).await });
        }
        if let Some(history) = &self.history {
            history.start(&mut tasks).await;
            tasks.spawn(crate::task_executors::memory::run(
                Arc::clone(self),
                Arc::clone(history),
            ));
        }
        if !scheduled {
            return tasks;
        }
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
        tasks
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
