//! One heartbeat: a JSON member of an executor's sorted set, its score the unix time it
//! was written. A member that is too large, not UTF-8, not JSON, or lacks a counter of the
//! right type is malformed: skipped and counted, never fatal.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Members above this size are skipped unread (RAGFlow's are a few KiB at most).
pub const MAX_HEARTBEAT_BYTES: usize = 256 * 1024;

/// A heartbeat as an executor wrote it, with the fields ragwatch computes with.
#[derive(Clone, Debug)]
pub struct Heartbeat {
    /// When it was written (the sorted-set score).
    pub at: Timestamp,
    /// Tasks finished or cancelled since the executor started.
    pub done: u64,
    /// Tasks failed since the executor started.
    pub failed: u64,
    /// Pending tasks of the executor's consumer group.
    pub pending: u64,
    /// Tasks the consumer group lags behind its stream.
    pub lag: u64,
    /// When the executor process started; a new value means it restarted.
    pub boot_at: Arc<str>,
    /// The member exactly as written, for RAGFlow's status endpoint and the details view.
    pub raw: Arc<RawValue>,
}

/// The fields a heartbeat must carry, with the types RAGFlow writes.
#[derive(Deserialize)]
struct Counters {
    done: u64,
    failed: u64,
    pending: u64,
    lag: u64,
    boot_at: String,
}

/// The fields read from a heartbeat for display.
#[derive(Debug, Default, Deserialize)]
pub struct Identity {
    /// The executor host's IP address.
    pub ip_address: Option<String>,
    /// The executor's process id.
    pub pid: Option<i64>,
    /// The tasks it was working on (id -> task).
    #[serde(default)]
    pub current: serde_json::Map<String, serde_json::Value>,
}

/// The time a sorted-set score (unix seconds, as RAGFlow writes it) names, if any.
pub fn score_time(score: f64) -> Option<Timestamp> {
    let since_epoch = SignedDuration::try_from_secs_f64(score).ok()?;
    Timestamp::from_duration(since_epoch).ok()
}

/// A time as a sorted-set score: the inverse of [`score_time`], exact for every score
/// RAGFlow writes (microseconds, far within a nanosecond's reach).
pub fn time_score(at: Timestamp) -> f64 {
    at.as_duration().as_secs_f64()
}

impl Heartbeat {
    /// Reads a member of an executor's sorted set with its score; the error says why it
    /// was skipped.
    pub fn from_member(member: &[u8], score: f64) -> Result<Self, String> {
        let at = score_time(score).ok_or_else(|| format!("score {score} is not a time"))?;
        Self::parse(member, at)
    }

    /// Reads a heartbeat written at `at`; the error says why it was skipped.
    pub fn parse(member: &[u8], at: Timestamp) -> Result<Self, String> {
        if member.len() > MAX_HEARTBEAT_BYTES {
            return Err(format!(
                "{} bytes, above the {MAX_HEARTBEAT_BYTES} byte limit",
                member.len()
            ));
        }
        let text = std::str::from_utf8(member).map_err(|_| "not UTF-8".to_owned())?;
        let raw: Box<RawValue> =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let counters: Counters =
            serde_json::from_str(raw.get()).map_err(|e| format!("bad fields: {e}"))?;
        Ok(Self {
            at,
            done: counters.done,
            failed: counters.failed,
            pending: counters.pending,
            lag: counters.lag,
            boot_at: counters.boot_at.into(),
            raw: Arc::from(raw),
        })
    }

    /// Address, pid and current tasks, read from the raw member.
    pub fn identity(&self) -> Identity {
        serde_json::from_str(self.raw.get()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRITTEN: &str = r#"{"ip_address": "172.18.0.6", "pid": 43, "name": "task_executor_common_9f2c1b7a3d4e_1", "now": "2025-01-02T10:31:03.204+08:00", "boot_at": "2025-01-02T09:12:46.871+08:00", "pending": 3, "lag": 2, "done": 22, "failed": 0, "current": {}}"#;

    #[test]
    fn a_heartbeat_as_ragflow_writes_it_is_read() {
        let beat = Heartbeat::from_member(WRITTEN.as_bytes(), 1735785063.204123).unwrap();
        let to_the_microsecond = beat.at.round(jiff::Unit::Microsecond).unwrap();
        assert_eq!(
            to_the_microsecond.to_string(),
            "2025-01-02T02:31:03.204123Z"
        );
        assert_eq!(
            time_score(beat.at),
            1735785063.204123,
            "the score comes back exactly"
        );
        assert_eq!(
            (beat.done, beat.failed, beat.pending, beat.lag),
            (22, 0, 3, 2)
        );
        assert_eq!(&*beat.boot_at, "2025-01-02T09:12:46.871+08:00");
        assert_eq!(beat.raw.get(), WRITTEN, "kept byte for byte");
        let identity = beat.identity();
        assert_eq!(identity.ip_address.as_deref(), Some("172.18.0.6"));
        assert_eq!(identity.pid, Some(43));
    }

    #[test]
    fn malformed_members_say_why() {
        let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(MAX_HEARTBEAT_BYTES));
        let cases: [(&str, &[u8], &str); 5] = [
            ("not json", b"{done: 1", "not JSON"),
            ("not utf-8", b"\xff\xfe", "not UTF-8"),
            (
                "missing field",
                br#"{"done": 1, "failed": 0, "pending": 0, "lag": 0}"#,
                "bad fields: missing field `boot_at`",
            ),
            (
                "wrong type",
                br#"{"done": "1", "failed": 0, "pending": 0, "lag": 0, "boot_at": "x"}"#,
                "bad fields: invalid type",
            ),
            (
                "huge",
                huge.as_bytes(),
                "bytes, above the 262144 byte limit",
            ),
        ];
        for (name, member, expected) in cases {
            let error = Heartbeat::from_member(member, 1.0).unwrap_err();
            assert!(error.contains(expected), "{name}: {error}");
        }
        let member = br#"{"done": 1, "failed": 0, "pending": 0, "lag": 0, "boot_at": "x"}"#;
        let error = Heartbeat::from_member(member, f64::NAN).unwrap_err();
        assert_eq!(error, "score NaN is not a time");
    }
}
