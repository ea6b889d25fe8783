//! Reading heartbeats from Redis in a fixed number of round trips, whatever the number of
//! executors: `SMEMBERS TASKEXE`, then one pipeline with a `ZRANGEBYSCORE` per executor.
//! Each read asks only for heartbeats newer than the last one already on the board, so a
//! steady state moves one heartbeat per executor per 30 s.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{RedisError, RedisResult};

use jiff::Timestamp;

use super::{Board, Executor, Heartbeat, time_score};

/// The set naming every registered executor.
pub const EXECUTOR_SET: &str = "TASKEXE";

/// How far back heartbeats are kept (RAGFlow trims its own after 30 minutes).
pub const WINDOW: Duration = Duration::from_secs(30 * 60);

/// One executor's reply: `(member, score)` pairs, or why its key could not be read.
type Members = RedisResult<Vec<(Vec<u8>, f64)>>;

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
    let listed: BTreeSet<String> = names
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    let window_start = now.checked_sub(WINDOW).unwrap_or(Timestamp::MIN);
    let replies: Vec<Members> = if listed.is_empty() {
        Vec::new()
    } else {
        let mut pipe = redis::pipe();
        for name in &listed {
            // Exclusive lower bound: only heartbeats newer than the newest one we have.
            let since = match board.executors.get(name).and_then(|e| e.last.as_ref()) {
                Some(last) if last.at > window_start => format!("({}", time_score(last.at)),
                _ => time_score(window_start).to_string(),
            };
            pipe.cmd("ZRANGEBYSCORE")
                .arg(name)
                .arg(since)
                .arg("+inf")
                .arg("WITHSCORES");
        }
        pipe.ignore_errors().query_async(conn).await?
    };

    // Executors nothing happened to keep their `Arc`: a steady read copies almost nothing.
    let mut next = board.clone();
    let unchanged = |old: Option<&Executor>, listed: bool| {
        old.is_some_and(|e| {
            e.listed == listed && e.beats.first().is_none_or(|b| b.at >= window_start)
        })
    };
    for (name, reply) in listed.iter().zip(replies) {
        let old = board.executors.get(name).map(Arc::as_ref);
        if matches!(&reply, Ok(members) if members.is_empty()) && unchanged(old, true) {
            continue;
        }
        let executor = updated(old, name, reply, true, window_start);
        next.executors.insert(name.clone(), Arc::new(executor));
    }
    for (name, executor) in &board.executors {
        if !listed.contains(name) && !unchanged(Some(executor), false) {
            let gone = updated(Some(executor), name, Ok(Vec::new()), false, window_start);
            next.executors.insert(name.clone(), Arc::new(gone));
        }
    }
    Ok(next)
}

/// An executor with new members added and the window trimmed. A reply that is an error
/// (the key is not a sorted set) counts as one malformed entry while it lasts.
fn updated(
    old: Option<&Executor>,
    name: &str,
    reply: Members,
    listed: bool,
    window_start: Timestamp,
) -> Executor {
    let mut executor = old.cloned().unwrap_or_else(|| Executor {
        name: name.to_owned(),
        ..Executor::default()
    });
    executor.listed = listed;
    match reply {
        Ok(members) => {
            for (member, score) in members {
                match Heartbeat::from_member(&member, score) {
                    Ok(beat) => {
                        executor.last = Some(beat.clone());
                        executor.beats.push(beat);
                    }
                    Err(why) => {
                        executor.malformed += 1;
                        executor.last_malformed = Some(why);
                    }
                }
            }
        }
        Err(error) => {
            // The same broken key is read again every time: count it once.
            let why = format!("unreadable key: {error}");
            if executor.last_malformed.as_deref() != Some(why.as_str()) {
                executor.malformed += 1;
                executor.last_malformed = Some(why);
            }
        }
    }
    executor.beats.retain(|b| b.at >= window_start);
    executor
}
