//! Roll-ups: per-minute and per-hour counts and latency histograms of the results, added
//! up as batches are written, and read back as [`Bucket`]s with uptime and percentiles.
//! The arithmetic is plain code; the store only adds and sums rows.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::records::ResultRecord;
use crate::config::ComponentKey;
use crate::status::Status;

/// Upper bounds (ms) of the latency histogram kept in roll-ups; the last bucket is +inf.
pub const LATENCY_BOUNDS_MS: [f64; 11] = [
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
];

/// Roll-up resolutions: minutes (24 h strips) and hours (7-day uptime).
pub const RESOLUTIONS_S: [i64; 2] = [60, 3600];

/// One roll-up row: a component's counts in one bucket, added onto what is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollup {
    /// Component key.
    pub component: ComponentKey,
    /// 60 or 3600.
    pub resolution_s: i64,
    /// Bucket start, unix milliseconds (the row's key as stored).
    pub bucket_ms: i64,
    /// What the bucket counted.
    pub counts: Counts,
}

/// Which span of a component's roll-ups to read, and in what steps.
#[derive(Clone, Debug)]
pub struct BucketQuery<'a> {
    /// Component key.
    pub component: &'a str,
    /// The roll-ups to read: 60 (minutes) or 3600 (hours).
    pub resolution_s: i64,
    /// From this time on.
    pub since: Timestamp,
    /// Up to (not including) this time.
    pub until: Timestamp,
    /// One bucket per step.
    pub step: SignedDuration,
}

/// Counts of results: per status, latency sum and maximum, and the latency histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    /// Results per status.
    pub green: i64,
    /// Results per status.
    pub yellow: i64,
    /// Results per status.
    pub red: i64,
    /// Sum of latencies.
    pub latency_sum_ms: f64,
    /// Largest latency.
    pub latency_max_ms: f64,
    /// Histogram counts per [`LATENCY_BOUNDS_MS`] bucket, then +inf.
    pub histogram: [i64; 12],
}

/// The roll-up rows a batch of results adds, one per component, resolution and bucket.
pub fn rollups(results: &[ResultRecord]) -> Vec<Rollup> {
    let mut rows: Vec<Rollup> = Vec::new();
    for result in results {
        let checked_at_ms = result.checked_at.as_millisecond();
        for resolution_s in RESOLUTIONS_S {
            let span = resolution_s * 1000;
            let bucket_ms = checked_at_ms.div_euclid(span) * span;
            let index = match rows.iter().position(|r| {
                r.component == result.component
                    && r.resolution_s == resolution_s
                    && r.bucket_ms == bucket_ms
            }) {
                Some(index) => index,
                None => {
                    rows.push(Rollup {
                        component: result.component.clone(),
                        resolution_s,
                        bucket_ms,
                        counts: Counts::default(),
                    });
                    rows.len() - 1
                }
            };
            let row = &mut rows[index].counts;
            match result.status {
                Status::Green => row.green += 1,
                Status::Yellow => row.yellow += 1,
                Status::Red => row.red += 1,
            }
            row.latency_sum_ms += result.elapsed_ms;
            row.latency_max_ms = row.latency_max_ms.max(result.elapsed_ms);
            let slot = LATENCY_BOUNDS_MS
                .iter()
                .position(|bound| result.elapsed_ms <= *bound)
                .unwrap_or(LATENCY_BOUNDS_MS.len());
            row.histogram[slot] += 1;
        }
    }
    rows
}

/// A span of history: the aggregated roll-ups (or results) of one step.
#[derive(Clone, Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Bucket {
    /// Start of the step (unix milliseconds in JSON).
    #[serde(
        rename = "start_ms",
        with = "jiff::fmt::serde::timestamp::millisecond::required"
    )]
    #[schema(value_type = i64)]
    pub start: Timestamp,
    /// Results per status.
    pub green: i64,
    /// Results per status.
    pub yellow: i64,
    /// Results per status.
    pub red: i64,
    /// Mean latency, ms.
    pub latency_mean_ms: Option<f64>,
    /// Median latency (from the histogram: the bucket's upper bound), ms.
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile latency (upper bound of its bucket), ms.
    pub latency_p95_ms: Option<f64>,
    /// Largest latency, ms.
    pub latency_max_ms: Option<f64>,
    /// Share of results that were ok (green or yellow); absent when there were none.
    pub uptime: Option<f64>,
}

impl Bucket {
    /// A bucket from summed roll-up counts.
    pub fn from_sums(start: Timestamp, rollup: &Counts) -> Self {
        let total = rollup.green + rollup.yellow + rollup.red;
        let latency = |value: f64| (total > 0).then_some(value);
        Self {
            start,
            green: rollup.green,
            yellow: rollup.yellow,
            red: rollup.red,
            latency_mean_ms: latency(rollup.latency_sum_ms / total.max(1) as f64),
            latency_p50_ms: percentile(&rollup.histogram, 0.50, rollup.latency_max_ms),
            latency_p95_ms: percentile(&rollup.histogram, 0.95, rollup.latency_max_ms),
            latency_max_ms: latency(rollup.latency_max_ms),
            uptime: (total > 0).then(|| (rollup.green + rollup.yellow) as f64 / total as f64),
        }
    }
}

/// The upper bound of the histogram bucket holding quantile `q`, capped by the maximum.
fn percentile(histogram: &[i64; 12], q: f64, max: f64) -> Option<f64> {
    let total: i64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (slot, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= rank {
            let bound = LATENCY_BOUNDS_MS.get(slot).copied().unwrap_or(max);
            return Some(bound.min(max));
        }
    }
    Some(max)
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;

    fn result(component: ComponentKey, at_ms: i64, status: Status, ms: f64) -> ResultRecord {
        ResultRecord {
            component,
            checked_at: Timestamp::from_millisecond(at_ms).unwrap(),
            status,
            elapsed_ms: ms,
            error: None,
        }
    }

    #[test]
    fn rollups_group_by_component_resolution_and_bucket() {
        let rows = rollups(&[
            result(ComponentKey::Db, 60_000, Status::Green, 3.0),
            result(ComponentKey::Db, 119_999, Status::Red, 700.0),
            result(ComponentKey::Db, 120_000, Status::Yellow, 0.5),
            result(ComponentKey::Redis, 60_000, Status::Green, 1.0),
        ]);
        let minute = |c: ComponentKey, b: i64| {
            &rows
                .iter()
                .find(|r| r.component == c && r.resolution_s == 60 && r.bucket_ms == b)
                .unwrap()
                .counts
        };
        let first = minute(ComponentKey::Db, 60_000);
        assert_eq!((first.green, first.yellow, first.red), (1, 0, 1));
        assert_eq!(first.latency_max_ms, 700.0);
        assert_eq!(first.histogram[1], 1, "3 ms is in the <= 5 ms bucket");
        assert_eq!(first.histogram[8], 1, "700 ms is in the <= 1000 ms bucket");
        assert_eq!(minute(ComponentKey::Db, 120_000).yellow, 1);
        let hour = &rows
            .iter()
            .find(|r| r.component == ComponentKey::Db && r.resolution_s == 3600)
            .unwrap()
            .counts;
        assert_eq!(hour.green + hour.yellow + hour.red, 3);
        assert_eq!(
            rows.len(),
            5,
            "db: two minutes and an hour; redis: a minute and an hour"
        );
    }

    #[test]
    fn percentiles_read_the_histogram() {
        let mut rollup = Counts::default();
        rollup.histogram[1] = 90; // <= 5 ms
        rollup.histogram[6] = 10; // <= 250 ms
        rollup.green = 100;
        rollup.latency_max_ms = 180.0;
        let bucket = Bucket::from_sums(Timestamp::UNIX_EPOCH, &rollup);
        assert_eq!(bucket.latency_p50_ms, Some(5.0));
        assert_eq!(
            bucket.latency_p95_ms,
            Some(180.0),
            "capped by the real maximum"
        );
        assert_eq!(bucket.uptime, Some(1.0));
        assert_eq!(
            Bucket::from_sums(Timestamp::UNIX_EPOCH, &Counts::default()).latency_p50_ms,
            None
        );
    }
}
