//! Prometheus metrics. Probe counts, failures and durations accumulate as the monitor
//! publishes results; everything that describes the present (component status, executors,
//! the history store) is read from the snapshot and the executor board at scrape time, so
//! it can never disagree with the API. Names carry the `ragwatch_` prefix and base units;
//! labels are the component key and kind, or the executor name.

mod pipeline;
#[cfg(target_os = "linux")]
mod process;

use std::fmt::Write;
use std::time::Instant;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::alert::ReceiverHealth;
use crate::component::Component;
use crate::config::{CanaryKind, ComponentKey};
use crate::monitor::{Published, Sink, Snapshot, Verdict};
use crate::probe::stage_seconds;
use crate::status::Status;
use crate::task_executors::{self, State, Tracker};

/// Probes run, per component (`_total` is added by the encoder).
pub const PROBES: &str = "ragwatch_probes";
/// Probes that ended red, per component.
pub const PROBE_FAILURES: &str = "ragwatch_probe_failures";
/// Probe duration histogram, per component.
pub const PROBE_DURATION: &str = "ragwatch_probe_duration";
/// 1 when the component is ok (green or yellow).
pub const COMPONENT_UP: &str = "ragwatch_component_up";
/// 0 red, 1 yellow, 2 green.
pub const COMPONENT_STATUS: &str = "ragwatch_component_status";
/// 1 when the component counts in the overall status.
pub const COMPONENT_REQUIRED: &str = "ragwatch_component_required";
/// 1 while the component is held back (`unknown`) by a down dependency, its `cause`.
pub const COMPONENT_BLOCKED: &str = "ragwatch_component_blocked";
/// Always 1, labelled with the version and the revision it was built from.
pub const BUILD_INFO: &str = "ragwatch_build_info";
/// When the component was last checked.
pub const COMPONENT_LAST_CHECK: &str = "ragwatch_component_last_check_timestamp";
/// 1 when an executor is alive.
pub const EXECUTOR_ALIVE: &str = "ragwatch_task_executor_alive";
/// An executor's last heartbeat time.
pub const EXECUTOR_LAST_HEARTBEAT: &str = "ragwatch_task_executor_last_heartbeat_timestamp";
/// 1 when an executor fails more of its tasks than `task_executors.max_failure_rate`.
pub const EXECUTOR_FAILING: &str = "ragwatch_task_executor_failing";
/// Tasks an executor finished since it started.
pub const EXECUTOR_DONE: &str = "ragwatch_task_executor_done";
/// Tasks an executor failed since it started.
pub const EXECUTOR_FAILED: &str = "ragwatch_task_executor_failed";
/// Executors per state.
pub const EXECUTORS: &str = "ragwatch_task_executors";
/// 1 when the history store is being written.
pub const HISTORY_UP: &str = "ragwatch_history_up";
/// Records the history writer dropped because it was behind.
pub const HISTORY_DROPPED: &str = "ragwatch_history_dropped_records";
/// 1 on the replica that leads its cluster.
pub const CLUSTER_LEADER: &str = "ragwatch_cluster_leader";
/// Live observers of the cluster.
pub const CLUSTER_OBSERVERS: &str = "ragwatch_cluster_observers";
/// The cluster's leadership term.
pub const CLUSTER_TERM: &str = "ragwatch_cluster_term";
/// Notification delivery attempts, per receiver kind.
pub const NOTIFICATIONS: &str = "ragwatch_notifications";
/// Delivery attempts that failed, per receiver kind.
pub const NOTIFICATIONS_FAILED: &str = "ragwatch_notifications_failed";
/// Alerts given up, per receiver kind and reason.
pub const NOTIFICATIONS_DROPPED: &str = "ragwatch_notifications_dropped";
/// Alerts held back while quiet, per receiver kind and reason.
pub const NOTIFICATIONS_SUPPRESSED: &str = "ragwatch_notifications_suppressed";
/// How long each stage of a canary's latest run took (`_seconds` is added by the encoder).
pub const CANARY_STAGE: &str = "ragwatch_canary_stage";

/// Latency buckets in seconds, 1 ms to 10 s.
const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A component's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabels {
    /// Component key.
    pub component: ComponentKey,
    /// Its kind.
    pub kind: &'static str,
}

impl ComponentLabels {
    fn of(component: &Component) -> Self {
        Self {
            component: component.key.clone(),
            kind: component.kind,
        }
    }
}

impl EncodeLabelValue for ComponentKey {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        write_escaped(encoder, self.as_str())
    }
}

/// Writes a label value as both exposition formats require: a backslash, a double quote
/// and a line feed escaped, everything else as it is. prometheus-client writes values
/// verbatim, so every label that can hold outside text goes through here.
fn write_escaped(encoder: &mut LabelValueEncoder, value: &str) -> std::fmt::Result {
    let mut rest = value;
    while let Some(at) = rest.find(['\\', '"', '\n']) {
        encoder.write_str(&rest[..at])?;
        encoder.write_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            _ => "\\n",
        })?;
        rest = &rest[at + 1..];
    }
    encoder.write_str(rest)
}

/// A label value named outside ragwatch (an executor or a stream in Redis), written
/// escaped.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Text(String);

impl EncodeLabelValue for Text {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        write_escaped(encoder, &self.0)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExecutorLabels {
    executor: Text,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntegrationLabels {
    integration: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DroppedLabels {
    integration: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BlockedLabels {
    component: ComponentKey,
    cause: ComponentKey,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CanaryStageLabels {
    canary: Text,
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// What accumulates between scrapes.
pub struct Metrics {
    registry: Registry,
    probes: Family<ComponentLabels, Counter>,
    failures: Family<ComponentLabels, Counter>,
    durations: Family<ComponentLabels, Histogram>,
}

impl Metrics {
    /// Counters for these components, each series starting at zero.
    pub fn new(components: &[Component]) -> Self {
        let mut registry = Registry::default();
        let probes = Family::<ComponentLabels, Counter>::default();
        let failures = Family::<ComponentLabels, Counter>::default();
        let durations = Family::<ComponentLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(DURATION_BUCKETS)) as fn() -> Histogram,
        );
        registry.register(PROBES, "Probes run", probes.clone());
        registry.register(PROBE_FAILURES, "Probes that ended red", failures.clone());
        registry.register_with_unit(
            PROBE_DURATION,
            "How long probes took",
            Unit::Seconds,
            durations.clone(),
        );
        // Every series exists from the start, at zero.
        for component in components {
            let labels = ComponentLabels::of(component);
            drop(probes.get_or_create(&labels));
            drop(failures.get_or_create(&labels));
            drop(durations.get_or_create(&labels));
        }
        Self {
            registry,
            probes,
            failures,
            durations,
        }
    }
}

impl Sink for Metrics {
    /// Counts a published result.
    fn publish(&self, published: &Published<'_>) {
        let result = published.result;
        let labels = ComponentLabels::of(published.component);
        self.probes.get_or_create(&labels).inc();
        if result.status == Status::Red {
            self.failures.get_or_create(&labels).inc();
        }
        self.durations
            .get_or_create(&labels)
            .observe(result.elapsed_ms / 1000.0);
    }
}

/// What a scrape reads of the present, besides the monitor's snapshot.
pub struct Present<'a> {
    /// The latest results.
    pub snapshot: &'a Snapshot,
    /// The watched components, indexed like the snapshot.
    pub components: &'a [Component],
    /// The task executors' board, when they are watched.
    pub executors: Option<&'a Tracker>,
    /// The history store, when there is one.
    pub history: Option<HistoryFigures>,
    /// The alert receivers, when alerts are configured.
    pub receivers: Option<Vec<ReceiverHealth>>,
    /// The cluster, when this is one of its replicas.
    pub cluster: Option<ClusterFigures>,
}

/// A cluster replica's view, for its gauges.
#[derive(Clone, Copy, Debug)]
pub struct ClusterFigures {
    /// This replica leads.
    pub leader: bool,
    /// Observers that wrote within one lease.
    pub observers: u32,
    /// The current term.
    pub term: i64,
}

/// How the history store is doing, for its gauges.
#[derive(Clone, Copy, Debug)]
pub struct HistoryFigures {
    /// Batches are being written.
    pub up: bool,
    /// Records dropped since start.
    pub dropped: u64,
}

/// The OpenMetrics text: the counters accumulated so far plus the present read now.
pub fn render(counters: &Metrics, present: &Present<'_>) -> String {
    let mut live = Registry::default();
    register_build_info(&mut live);
    #[cfg(target_os = "linux")]
    process::register(&mut live);
    let verdicts = present
        .snapshot
        .verdicts(present.components, Instant::now());
    register_components(&mut live, present.components, &verdicts);
    register_canary_stages(&mut live, present.components, &verdicts);
    pipeline::register(&mut live, present.components, &verdicts);
    if let Some(tracker) = present.executors {
        register_executors(&mut live, tracker);
    }
    if let Some(history) = present.history {
        let up = Gauge::<i64>::default();
        up.set(i64::from(history.up));
        live.register(
            HISTORY_UP,
            "Whether the history store is being written (1) or failing (0)",
            up,
        );
        let dropped = Counter::<u64>::default();
        dropped.inc_by(history.dropped);
        live.register(
            HISTORY_DROPPED,
            "Records the history writer dropped because it was behind",
            dropped,
        );
    }
    if let Some(receivers) = &present.receivers {
        register_notifications(&mut live, receivers);
    }
    if let Some(cluster) = present.cluster {
        register_cluster(&mut live, cluster);
    }
    let mut text = String::new();
    encode_registry(&mut text, &counters.registry).expect("writing to a String");
    encode_registry(&mut text, &live).expect("writing to a String");
    encode_eof(&mut text).expect("writing to a String");
    text
}

/// A cluster replica's leadership, live observers and term.
fn register_cluster(registry: &mut Registry, cluster: ClusterFigures) {
    let gauges = [
        (
            CLUSTER_LEADER,
            "Whether this replica leads its cluster (1) or not (0)",
            i64::from(cluster.leader),
        ),
        (
            CLUSTER_OBSERVERS,
            "Observers of the cluster that wrote within one lease",
            i64::from(cluster.observers),
        ),
        (CLUSTER_TERM, "The cluster's leadership term", cluster.term),
    ];
    for (name, help, value) in gauges {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        registry.register(name, help, gauge);
    }
}

/// The stage times of each canary's latest result: a retrieval's one call, an
/// ingestion's upload, queue, parsing and retrievable stages.
fn register_canary_stages(registry: &mut Registry, components: &[Component], verdicts: &[Verdict]) {
    if !components.iter().any(|c| c.key.canary_name().is_some()) {
        return;
    }
    let stages = Family::<CanaryStageLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for (component, verdict) in components.iter().zip(verdicts) {
        let Some(name) = component.key.canary_name() else {
            continue;
        };
        let Some(result) = &verdict.result else {
            continue;
        };
        let times = match component.kind {
            kind if kind == CanaryKind::Retrieval.as_str() => {
                vec![("retrieval", result.elapsed_ms / 1000.0)]
            }
            _ => stage_seconds(&result.details),
        };
        for (stage, seconds) in times {
            let labels = CanaryStageLabels {
                canary: Text(name.to_owned()),
                stage,
            };
            stages.get_or_create(&labels).set(seconds);
        }
    }
    registry.register_with_unit(
        CANARY_STAGE,
        "How long each stage of a canary's latest run took",
        Unit::Seconds,
        stages,
    );
}

/// Notification counts summed per receiver kind: the receivers' addresses stay out of the
/// labels, so their number and names cannot multiply the series.
fn register_notifications(registry: &mut Registry, receivers: &[ReceiverHealth]) {
    let attempts = Family::<IntegrationLabels, Counter>::default();
    let failed = Family::<IntegrationLabels, Counter>::default();
    let dropped = Family::<DroppedLabels, Counter>::default();
    let suppressed = Family::<DroppedLabels, Counter>::default();
    for receiver in receivers {
        let integration = receiver.integration;
        let labels = IntegrationLabels { integration };
        attempts
            .get_or_create(&labels)
            .inc_by(receiver.counts.attempts);
        failed
            .get_or_create(&labels)
            .inc_by(receiver.counts.failures);
        for (reason, count) in &receiver.counts.dropped {
            dropped
                .get_or_create(&DroppedLabels {
                    integration,
                    reason: reason.as_str(),
                })
                .inc_by(*count);
        }
        for (reason, count) in &receiver.counts.suppressed {
            suppressed
                .get_or_create(&DroppedLabels {
                    integration,
                    reason: reason.as_str(),
                })
                .inc_by(*count);
        }
    }
    registry.register(
        NOTIFICATIONS,
        "Attempts to deliver a notification to an alert receiver",
        attempts,
    );
    registry.register(
        NOTIFICATIONS_FAILED,
        "Notification delivery attempts that failed (each is retried with back-off)",
        failed,
    );
    registry.register(
        NOTIFICATIONS_DROPPED,
        "Alerts given up without reaching the receiver: queue_full, retries_exhausted, shutdown",
        dropped,
    );
    registry.register(
        NOTIFICATIONS_SUPPRESSED,
        "Alerts held back while quiet: maintenance (a window) or silence; one still true when the quiet ends is sent then",
        suppressed,
    );
}

/// The revision ragwatch was built from: `RAGWATCH_REVISION` at build time (the image
/// build passes the commit), else `unknown`.
const REVISION: &str = match option_env!("RAGWATCH_REVISION") {
    Some(revision) => revision,
    None => "unknown",
};

fn register_build_info(registry: &mut Registry) {
    let info = Family::<BuildLabels, Gauge>::default();
    info.get_or_create(&BuildLabels {
        version: env!("CARGO_PKG_VERSION"),
        revision: REVISION,
    })
    .set(1);
    registry.register(
        BUILD_INFO,
        "ragwatch's version and the revision it was built from (always 1)",
        info,
    );
}

fn register_components(registry: &mut Registry, components: &[Component], verdicts: &[Verdict]) {
    let up = Family::<ComponentLabels, Gauge>::default();
    let status = Family::<ComponentLabels, Gauge>::default();
    let required = Family::<ComponentLabels, Gauge>::default();
    let checked = Family::<ComponentLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let blocked = Family::<BlockedLabels, Gauge>::default();
    for (component, verdict) in components.iter().zip(verdicts) {
        let labels = ComponentLabels::of(component);
        // One series per dependency, 0 or 1, so a rule can match on it at any time.
        for dependency in &component.depends_on {
            blocked
                .get_or_create(&BlockedLabels {
                    component: component.key.clone(),
                    cause: dependency.clone(),
                })
                .set(i64::from(verdict.cause.as_ref() == Some(dependency)));
        }
        up.get_or_create(&labels)
            .set(i64::from(verdict.status.is_ok()));
        status.get_or_create(&labels).set(match verdict.status {
            Status::Red => 0,
            Status::Yellow => 1,
            Status::Green => 2,
        });
        required
            .get_or_create(&labels)
            .set(i64::from(component.required));
        if let Some(result) = &verdict.result {
            checked
                .get_or_create(&labels)
                .set(result.checked_at.as_millisecond() as f64 / 1000.0);
        }
    }
    registry.register(
        COMPONENT_UP,
        "Whether the component is ok, green or yellow (1), or red (0)",
        up,
    );
    registry.register(
        COMPONENT_STATUS,
        "The component's status: red 0, yellow 1, green 2",
        status,
    );
    registry.register(
        COMPONENT_REQUIRED,
        "Whether the component counts in the overall status (1) or not (0)",
        required,
    );
    registry.register(
        COMPONENT_BLOCKED,
        "Whether the component is held back (unknown) because its dependency `cause` is down (1) or not (0)",
        blocked,
    );
    registry.register_with_unit(
        COMPONENT_LAST_CHECK,
        "When the component was last checked",
        Unit::Seconds,
        checked,
    );
}

fn register_executors(registry: &mut Registry, tracker: &Tracker) {
    let (board, liveness) = (tracker.board(), tracker.liveness());
    let now = jiff::Timestamp::now();
    let alive = Family::<ExecutorLabels, Gauge>::default();
    let failing = Family::<ExecutorLabels, Gauge>::default();
    let last = Family::<ExecutorLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let done = Family::<ExecutorLabels, Counter>::default();
    let failed = Family::<ExecutorLabels, Counter>::default();
    // Dead executors leave after `forget_after`: each redeploy names new ones, and the
    // remembered old names would otherwise add series for months.
    let exported = board
        .executors
        .values()
        .filter(|executor| !executor.forgotten(now, liveness));
    let states = Family::<StateLabels, Gauge>::default();
    for state in State::ALL {
        drop(states.get_or_create(&StateLabels {
            state: state.as_str(),
        }));
    }
    for executor in exported {
        let labels = ExecutorLabels {
            executor: Text(executor.name.clone()),
        };
        let state = executor.state(now, liveness);
        states
            .get_or_create(&StateLabels {
                state: state.as_str(),
            })
            .inc();
        alive
            .get_or_create(&labels)
            .set(i64::from(state == State::Alive));
        failing
            .get_or_create(&labels)
            .set(i64::from(tracker.failing(executor)));
        if let Some(beat) = &executor.last {
            last.get_or_create(&labels)
                .set(task_executors::time_score(beat.at));
            done.get_or_create(&labels).inc_by(beat.done);
            failed.get_or_create(&labels).inc_by(beat.failed);
        }
    }
    registry.register(
        EXECUTOR_ALIVE,
        "Whether the task executor is alive (1) or stale or dead (0)",
        alive,
    );
    registry.register(
        EXECUTOR_FAILING,
        "Whether the task executor failed more than task_executors.max_failure_rate of its tasks of the last 30 minutes (1) or not (0)",
        failing,
    );
    registry.register_with_unit(
        EXECUTOR_LAST_HEARTBEAT,
        "When the task executor last wrote a heartbeat",
        Unit::Seconds,
        last,
    );
    registry.register(
        EXECUTOR_DONE,
        "Tasks the executor finished since it started",
        done,
    );
    registry.register(
        EXECUTOR_FAILED,
        "Tasks the executor failed since it started",
        failed,
    );
    registry.register(
        EXECUTORS,
        "Task executors per state, those dead past forget_after left out",
        states,
    );
}

/// The classic Prometheus text format (0.0.4) of OpenMetrics text: counters are typed under
/// their `_total` sample name, and the `# UNIT` and `# EOF` lines go.
pub fn classic_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => writeln!(out, "{line}"),
            None => writeln!(out, "{line}"),
        }
        .expect("writing to a String");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let family = Family::<ExecutorLabels, Gauge>::default();
        family
            .get_or_create(&ExecutorLabels {
                executor: Text("a\"b\\c\nd\te".to_owned()),
            })
            .set(1);
        let mut registry = Registry::default();
        registry.register("x", "X", family);
        let mut text = String::new();
        encode_registry(&mut text, &registry).unwrap();
        assert!(
            text.contains("x{executor=\"a\\\"b\\\\c\\nd\te\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn classic_text_names_counters_by_their_samples() {
        let openmetrics = "# HELP ragwatch_probes Probes run.\n# TYPE ragwatch_probes counter\nragwatch_probes_total{component=\"db\"} 3\n# HELP ragwatch_probe_duration_seconds How long.\n# TYPE ragwatch_probe_duration_seconds histogram\n# UNIT ragwatch_probe_duration_seconds seconds\nragwatch_probe_duration_seconds_sum 0.5\n# EOF\n";
        assert_eq!(
            classic_text(openmetrics),
            "# HELP ragwatch_probes_total Probes run.\n# TYPE ragwatch_probes_total counter\nragwatch_probes_total{component=\"db\"} 3\n# HELP ragwatch_probe_duration_seconds How long.\n# TYPE ragwatch_probe_duration_seconds histogram\nragwatch_probe_duration_seconds_sum 0.5\n"
        );
    }
}
