//! Intervals: one per consecutive pair of heartbeats (about 30 s), with the tasks done and
//! failed in it. The counters are cumulative since the executor started, so an interval's
//! count is the difference, unless the executor restarted in between (a new `boot_at`, or
//! a counter that went down): then the counters started again from zero.

use std::sync::Arc;

use jiff::{Timestamp, Unit};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::Heartbeat;
use super::heartbeat::time_score;

/// Work an executor did between two heartbeats.
#[derive(Clone, Debug, Serialize)]
pub struct Interval {
    /// When the heartbeat that opens it was written (unix seconds in JSON, as scored).
    #[serde(serialize_with = "unix_seconds")]
    pub start: Timestamp,
    /// When the heartbeat that closes it was written.
    #[serde(serialize_with = "unix_seconds")]
    pub end: Timestamp,
    /// Tasks finished or cancelled in the interval.
    pub done: u64,
    /// Tasks failed in the interval.
    pub failed: u64,
    /// Cumulative done count at the end, as RAGFlow's page plots it.
    pub done_total: u64,
    /// Cumulative failed count at the end.
    pub failed_total: u64,
    /// Pending tasks at the end.
    pub pending: u64,
    /// Consumer group lag at the end.
    pub lag: u64,
    /// The executor restarted in the interval.
    pub restarted: bool,
    /// The closing heartbeat as written: in one interval's details, not in the list of
    /// them (a page polling every executor's list needs only the counts).
    #[serde(skip)]
    pub heartbeat: Arc<RawValue>,
}

impl Interval {
    /// The interval's identity in the API: its end in unix milliseconds.
    pub fn end_ms(&self) -> i64 {
        self.bounds().1.as_millisecond()
    }

    /// Its start and end to the millisecond, as RAGFlow's task table keeps times.
    pub fn bounds(&self) -> (Timestamp, Timestamp) {
        let to_ms = |at: Timestamp| at.round(Unit::Millisecond).unwrap_or(at);
        (to_ms(self.start), to_ms(self.end))
    }
}

/// A time as the API has always shown interval bounds: unix seconds, as scored in Redis.
fn unix_seconds<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(time_score(*at))
}

/// The intervals between consecutive heartbeats (oldest first).
pub fn intervals(beats: &[Heartbeat]) -> Vec<Interval> {
    beats
        .windows(2)
        .map(|pair| {
            let (open, close) = (&pair[0], &pair[1]);
            let restarted = open.boot_at != close.boot_at
                || close.done < open.done
                || close.failed < open.failed;
            let (done, failed) = if restarted {
                (close.done, close.failed)
            } else {
                (close.done - open.done, close.failed - open.failed)
            };
            Interval {
                start: open.at,
                end: close.at,
                done,
                failed,
                done_total: close.done,
                failed_total: close.failed,
                pending: close.pending,
                lag: close.lag,
                restarted,
                heartbeat: Arc::clone(&close.raw),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(at: f64, boot: &str, done: u64, failed: u64) -> Heartbeat {
        let json = format!(
            r#"{{"boot_at": "{boot}", "done": {done}, "failed": {failed}, "pending": 1, "lag": 0}}"#
        );
        Heartbeat::from_member(json.as_bytes(), at).unwrap()
    }

    #[test]
    fn counts_are_differences_of_the_cumulative_counters() {
        let beats = [
            beat(0.0, "a", 10, 1),
            beat(30.0, "a", 14, 1),
            beat(60.0, "a", 14, 3),
        ];
        let got: Vec<(u64, u64, u64, bool)> = intervals(&beats)
            .iter()
            .map(|i| (i.done, i.failed, i.done_total, i.restarted))
            .collect();
        assert_eq!(got, [(4, 0, 14, false), (0, 2, 14, false)]);
    }

    #[test]
    fn a_restart_counts_from_zero() {
        let cases = [
            ("new boot_at", beat(30.0, "b", 12, 0)),
            ("counter went down", beat(30.0, "a", 2, 0)),
        ];
        for (name, after) in cases {
            let beats = [beat(0.0, "a", 10, 1), after.clone()];
            let interval = &intervals(&beats)[0];
            assert!(interval.restarted, "{name}");
            assert_eq!(
                (interval.done, interval.failed),
                (after.done, after.failed),
                "{name}"
            );
        }
    }

    #[test]
    fn one_heartbeat_makes_no_interval() {
        assert!(intervals(&[beat(0.0, "a", 1, 0)]).is_empty());
    }
}
