//! Reading heartbeats from Redis in a fixed number of round trips, whatever the number of
//! executors: `SMEMBERS TASKEXE`, then one pipeline with three commands per executor (its
//! newest members, how many there are, how many are dated ahead of this clock).
//! Each read asks only for members newer than the last one read, good or bad, so a steady
//! state moves one heartbeat per executor per 30 s and a bad member is counted once.
//!
//! Whatever Redis holds, what one read takes is bounded: names longer than
//! [`MAX_NAME_BYTES`] (or not UTF-8) are refused unread, at most [`MAX_BEATS`] newest
//! heartbeats are kept per executor, and members dated more than [`CLOCK_SKEW`] past this
//! clock wait until their time comes instead of keeping an executor alive.

use std::collections::{BTreeSet, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{FromRedisValue, RedisError, RedisResult, Value};

use jiff::Timestamp;

use super::{Board, Executor, Heartbeat, score_time, time_score};
use crate::message;

/// The set naming every registered executor.
pub const EXECUTOR_SET: &str = "TASKEXE";

/// How far back heartbeats are kept (RAGFlow trims its own after 30 minutes).
pub const WINDOW: Duration = Duration::from_secs(30 * 60);

/// The longest executor name read: RAGFlow's are `task_executor_<type>_<host>_<n>`.
pub const MAX_NAME_BYTES: usize = 256;

/// Heartbeats kept per executor, the newest: RAGFlow writes 60 in its 30-minute window.
pub const MAX_BEATS: usize = 1000;

/// How far past this clock a heartbeat may be dated and still be read: clocks drift.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The longest reason kept for a skipped member, in bytes.
const MAX_REASON_BYTES: usize = 512;

/// One executor's read: its newest members (newest first, as `(member, score)`), how many
/// members the read range holds, and how many are dated past the horizon.
struct Read {
    members: Vec<(Vec<u8>, f64)>,
    in_range: u64,
    ahead: u64,
}

/// The board after one read of Redis at `now`.
pub async fn refresh(
    conn: &mut MultiplexedConnection,
    board: &Board,
    now: Timestamp,
) -> Result<Board, RedisError> {
    let names: Vec<Vec<u8>> = redis::cmd("SMEMBERS")
        .arg(EXECUTOR_SET)
        .query_async(conn)
        .await?;
    let mut listed = BTreeSet::new();
    let mut refused = HashSet::new();
    for name in names {
        match accepted(name) {
            Ok(name) => listed.insert(name),
            Err(fingerprint) => refused.insert(fingerprint),
        };
    }
    let window_start = now.checked_sub(WINDOW).unwrap_or(Timestamp::MIN);
    let horizon = time_score(now.checked_add(CLOCK_SKEW).unwrap_or(Timestamp::MAX));
    let reads: Vec<RedisResult<Read>> = if listed.is_empty() {
        Vec::new()
    } else {
        let mut pipe = redis::pipe();
        for name in &listed {
            // Exclusive lower bound: only members newer than the newest one read.
            let cursor = board.executors.get(name).and_then(|e| e.cursor);
            let since = match cursor {
                Some(cursor) if cursor > window_start => format!("({}", time_score(cursor)),
                _ => time_score(window_start).to_string(),
            };
            pipe.cmd("ZREVRANGEBYSCORE")
                .arg(name)
                .arg(horizon)
                .arg(&since)
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(0)
                .arg(MAX_BEATS);
            pipe.cmd("ZCOUNT").arg(name).arg(&since).arg(horizon);
            pipe.cmd("ZCOUNT")
                .arg(name)
                .arg(format!("({horizon}"))
                .arg("+inf");
        }
        let replies: Vec<Value> = pipe.ignore_errors().query_async(conn).await?;
        let mut replies = replies.into_iter();
        listed
            .iter()
            .map(|_| {
                let mut next = || replies.next().unwrap_or(Value::Nil);
                let (members, in_range, ahead) = (next(), next(), next());
                Ok(Read {
                    members: decode(members)?,
                    in_range: decode(in_range)?,
                    ahead: decode(ahead)?,
                })
            })
            .collect()
    };

    // Executors nothing happened to keep their `Arc`: a steady read copies almost nothing.
    let mut next = board.clone();
    let newly_refused = refused.difference(&board.refused).count() as u64;
    next.malformed_names += newly_refused;
    next.refused = refused;
    let unchanged = |old: Option<&Executor>, listed: bool| {
        old.is_some_and(|e| {
            e.listed == listed && e.beats.first().is_none_or(|b| b.at >= window_start)
        })
    };
    for (name, read) in listed.iter().zip(reads) {
        let old = board.executors.get(name).map(Arc::as_ref);
        let quiet = matches!(
            (&read, old),
            (Ok(r), Some(e)) if r.members.is_empty() && r.ahead == e.ahead
        );
        if quiet && unchanged(old, true) {
            continue;
        }
        let executor = updated(old, name, read, true, window_start);
        next.executors.insert(name.clone(), Arc::new(executor));
    }
    for (name, executor) in &board.executors {
        if !listed.contains(name) && !unchanged(Some(executor), false) {
            let nothing = Ok(Read {
                members: Vec::new(),
                in_range: 0,
                ahead: 0,
            });
            let gone = updated(Some(executor), name, nothing, false, window_start);
            next.executors.insert(name.clone(), Arc::new(gone));
        }
    }
    Ok(next)
}

/// A name from `TASKEXE` as an executor's name, or, when it cannot be one (too long, not
/// UTF-8), a fingerprint to count it by without keeping it.
fn accepted(name: Vec<u8>) -> Result<String, u64> {
    let fingerprint = |name: &[u8]| {
        let mut hasher = DefaultHasher::new();
        name.hash(&mut hasher);
        hasher.finish()
    };
    if name.len() > MAX_NAME_BYTES {
        return Err(fingerprint(&name));
    }
    String::from_utf8(name).map_err(|e| fingerprint(e.as_bytes()))
}

/// One pipeline reply as `T`, or the error Redis answered (a key of the wrong type).
fn decode<T: FromRedisValue>(value: Value) -> RedisResult<T> {
    RedisResult::<T>::from_redis_value(value).unwrap_or_else(|e| Err(e.into()))
}

/// An executor with new members added and the window trimmed. A reply that is an error
/// (the key is not a sorted set) counts as one malformed entry while it lasts.
fn updated(
    old: Option<&Executor>,
    name: &str,
    read: RedisResult<Read>,
    listed: bool,
    window_start: Timestamp,
) -> Executor {
    let mut executor = old.cloned().unwrap_or_else(|| Executor {
        name: name.to_owned(),
        ..Executor::default()
    });
    executor.listed = listed;
    match read {
        Ok(read) => {
            executor.skipped += read.in_range.saturating_sub(read.members.len() as u64);
            executor.ahead = read.ahead;
            // Oldest first, so the last good one is the newest.
            for (member, score) in read.members.into_iter().rev() {
                if let Some(at) = score_time(score) {
                    executor.cursor = Some(executor.cursor.map_or(at, |c| c.max(at)));
                }
                match Heartbeat::from_member(&member, score) {
                    Ok(beat) => {
                        executor.last = Some(beat.clone());
                        executor.beats.push(beat);
                    }
                    Err(why) => {
                        executor.malformed += 1;
                        executor.last_malformed =
                            Some(message::cut(&why, MAX_REASON_BYTES).into_owned());
                    }
                }
            }
        }
        Err(error) => {
            // The same broken key is read again every time: count it once.
            let why =
                message::cut(&format!("unreadable key: {error}"), MAX_REASON_BYTES).into_owned();
            if executor.last_malformed.as_deref() != Some(why.as_str()) {
                executor.malformed += 1;
                executor.last_malformed = Some(why);
            }
        }
    }
    executor.beats.retain(|b| b.at >= window_start);
    let excess = executor.beats.len().saturating_sub(MAX_BEATS);
    executor.beats.drain(..excess);
    executor.skipped += excess as u64;
    executor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_too_long_or_not_utf8_are_refused_by_fingerprint() {
        let name = "task_executor_common_9f2c1b7a3d4e_1";
        assert_eq!(accepted(name.as_bytes().to_vec()), Ok(name.to_owned()));
        assert!(accepted(vec![b'n'; MAX_NAME_BYTES]).is_ok());
        let long = vec![b'n'; MAX_NAME_BYTES + 1];
        let fingerprint = accepted(long.clone()).unwrap_err();
        assert_eq!(
            accepted(long).unwrap_err(),
            fingerprint,
            "the same name, the same print"
        );
        assert_ne!(accepted(vec![b'm'; 300]).unwrap_err(), fingerprint);
        assert!(accepted(vec![b'a', 0xff]).is_err());
    }

    #[test]
    fn the_history_keeps_the_window_this_reader_keeps() {
        assert_eq!(WINDOW, crate::history::REMEMBERED_SPAN);
    }
}
