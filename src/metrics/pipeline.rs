//! RAGFlow's task queue and parsing pipeline, from the latest details of the components
//! that read them: a `redis_stream` message queue and the parsing pipeline. Queue figures
//! are the consumer group's own, once per `{stream, group}`, so `sum()` adds up.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use serde_json::Value;

use super::Text;
use crate::component::Component;
use crate::monitor::Verdict;
use crate::probe::{AnyProbe, Details};

/// Pending (delivered, unacknowledged) tasks of a consumer group.
pub const QUEUE_PENDING: &str = "ragwatch_queue_pending";
/// Tasks of a stream not yet delivered to a consumer group.
pub const QUEUE_LAG: &str = "ragwatch_queue_lag";
/// Consumers of a consumer group.
pub const QUEUE_CONSUMERS: &str = "ragwatch_queue_consumers";
/// Tasks queued, not started.
pub const PARSING_QUEUED: &str = "ragwatch_parsing_queued_tasks";
/// How long the oldest queued task has waited (`_seconds` is added by the encoder).
pub const PARSING_OLDEST_QUEUED: &str = "ragwatch_parsing_oldest_queued";
/// Tasks in progress.
pub const PARSING_RUNNING: &str = "ragwatch_parsing_running_tasks";
/// Tasks in progress without an update for `parsing.stuck_after`.
pub const PARSING_STUCK: &str = "ragwatch_parsing_stuck_tasks";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    stream: Text,
    group: Text,
}

/// Registers the queue and parsing figures of the latest results. A component whose probe
/// failed has no details, so its figures are absent until it answers again.
pub fn register(registry: &mut Registry, components: &[Component], verdicts: &[Verdict]) {
    let pending = Family::<QueueLabels, Gauge>::default();
    let lag = Family::<QueueLabels, Gauge>::default();
    let consumers = Family::<QueueLabels, Gauge>::default();
    let queued = Gauge::<i64>::default();
    let oldest = Gauge::<f64, AtomicU64>::default();
    let running = Gauge::<i64>::default();
    let stuck = Gauge::<i64>::default();
    let mut parsing_read = false;
    for (component, verdict) in components.iter().zip(verdicts) {
        let Some(result) = &verdict.result else {
            continue;
        };
        let details = &result.details;
        let (group, streams) = match &component.probe {
            AnyProbe::RedisStream(probe) => (probe.group(), Some(details)),
            AnyProbe::Parsing(probe) => {
                if let Some(figure) = details.get("queued").and_then(Value::as_i64) {
                    parsing_read = true;
                    queued.set(figure);
                    oldest.set(number(details, "oldest_queued_s").unwrap_or(0.0));
                    running.set(integer(details, "running"));
                    stuck.set(integer(details, "stuck"));
                }
                (
                    probe.group(),
                    details.get("queue").and_then(Value::as_object),
                )
            }
            _ => continue,
        };
        for (stream, figures) in streams.into_iter().flatten() {
            let Some(figures) = figures.as_object() else {
                continue;
            };
            let labels = QueueLabels {
                stream: Text(stream.clone()),
                group: Text(group.to_owned()),
            };
            pending
                .get_or_create(&labels)
                .set(integer(figures, "pending"));
            consumers
                .get_or_create(&labels)
                .set(integer(figures, "consumers"));
            // Redis leaves the lag unknown after some deletions: absent, not zero.
            if let Some(figure) = figures.get("lag").and_then(Value::as_i64) {
                lag.get_or_create(&labels).set(figure);
            }
        }
    }
    registry.register(
        QUEUE_PENDING,
        "Tasks delivered to the consumer group and not acknowledged",
        pending,
    );
    registry.register(
        QUEUE_LAG,
        "Tasks of the stream not yet delivered to the consumer group",
        lag,
    );
    registry.register(
        QUEUE_CONSUMERS,
        "Consumers of the consumer group",
        consumers,
    );
    if parsing_read {
        registry.register(PARSING_QUEUED, "Parsing tasks queued, not started", queued);
        registry.register_with_unit(
            PARSING_OLDEST_QUEUED,
            "How long the oldest queued parsing task has waited (0 when none is queued)",
            Unit::Seconds,
            oldest,
        );
        registry.register(PARSING_RUNNING, "Parsing tasks in progress", running);
        registry.register(
            PARSING_STUCK,
            "Parsing tasks in progress without an update for parsing.stuck_after",
            stuck,
        );
    }
}

fn number(details: &Details, key: &str) -> Option<f64> {
    details.get(key).and_then(Value::as_f64)
}

fn integer(details: &Details, key: &str) -> i64 {
    details.get(key).and_then(Value::as_i64).unwrap_or(0)
}
