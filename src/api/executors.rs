//! `GET /api/v1/executors`, `/api/v1/executors/{name}/intervals?since=` and
//! `/api/v1/executors/{name}/intervals/{end}`: every executor ragwatch has seen, its
//! 30-second intervals, and one interval's details with the tasks that ended in it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::QueryParams;
use jiff::{Timestamp, Unit};

use crate::task_executors::{
    self, EndedTask, Executor, Interval, State as ExecutorState, Summary, Tracker,
};

/// One executor in the list.
#[derive(Serialize)]
struct ExecutorView<'a> {
    name: &'a str,
    state: ExecutorState,
    listed: bool,
    last_heartbeat: Option<jiff::Timestamp>,
    age_s: Option<f64>,
    boot_at: Option<&'a str>,
    ip_address: Option<String>,
    pid: Option<i64>,
    current_tasks: usize,
    pending: Option<u64>,
    lag: Option<u64>,
    done_total: Option<u64>,
    failed_total: Option<u64>,
    done_30m: u64,
    failed_30m: u64,
    failure_rate_30m: f64,
    /// Failing more than `task_executors.max_failure_rate` of its tasks, as the component
    /// judges it.
    failing: bool,
    heartbeats_30m: usize,
    skipped: u64,
    heartbeats_ahead: u64,
    malformed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_malformed: Option<&'a str>,
}

fn view<'a>(executor: &'a Executor, now: Timestamp, probe: &Tracker) -> ExecutorView<'a> {
    let last = executor.last.as_ref();
    let identity = last.map(|b| b.identity()).unwrap_or_default();
    let (done_30m, failed_30m) = executor.window_counts();
    ExecutorView {
        name: &executor.name,
        state: executor.state(now, probe.liveness()),
        listed: executor.listed,
        last_heartbeat: last.and_then(|b| b.at.round(Unit::Millisecond).ok()),
        age_s: executor.age(now),
        boot_at: last.map(|b| &*b.boot_at),
        ip_address: identity.ip_address,
        pid: identity.pid,
        current_tasks: identity.current.len(),
        pending: last.map(|b| b.pending),
        lag: last.map(|b| b.lag),
        done_total: last.map(|b| b.done),
        failed_total: last.map(|b| b.failed),
        done_30m,
        failed_30m,
        failure_rate_30m: executor.failure_rate(),
        failing: probe.failing(executor),
        heartbeats_30m: executor.beats.len(),
        skipped: executor.skipped,
        heartbeats_ahead: executor.ahead,
        malformed: executor.malformed,
        last_malformed: executor.last_malformed.as_deref(),
    }
}

fn watched(state: &AppState) -> Result<&Tracker, ApiError> {
    state.executors.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "task executors are not watched (task_executors.enabled = false)",
        )
    })
}

fn find(board: &task_executors::Board, name: &str) -> Result<Arc<Executor>, ApiError> {
    board.executors.get(name).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no task executor named {name}"),
        )
    })
}

/// Every executor seen, with the summary counts.
#[utoipa::path(
    get,
    path = "/api/v1/executors",
    tag = "executors",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{summary, executors: [{name, state, failing, listed, last_heartbeat, age_s, ...}]}`", body = Object),
        (status = 404, description = "Task executors are not watched", body = ApiError),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let probe = watched(&state)?;
    let board = probe.board();
    let now = Timestamp::now();
    let summary = Summary::of(&board, now, probe.liveness());
    let views: Vec<ExecutorView> = board
        .executors
        .values()
        .map(|e| view(e, now, probe))
        .collect();
    Ok(Json(json!({
        "summary": {
            "alive": summary.alive,
            "stale": summary.stale,
            "dead": summary.dead,
            "done_30m": summary.done,
            "failed_30m": summary.failed,
            "failure_rate": summary.failure_rate(),
            "max_failure_rate": probe.max_failure_rate(),
            "malformed": summary.malformed,
            "malformed_names": board.malformed_names,
        },
        "executors": views,
    })))
}

#[utoipa::path(
    get,
    path = "/api/v1/executors/{name}/intervals",
    tag = "executors",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Executor name"),
        ("since" = Option<String>, Query, description = "Only intervals ending at or after this: unix seconds or RFC 3339"),
    ),
    responses(
        (status = 200, description = "`{name, state, intervals: [{start, end, done, failed, done_total, failed_total, pending, lag, restarted}]}`", body = Object),
        (status = 400, description = "Bad parameter", body = ApiError),
        (status = 404, description = "No such executor", body = ApiError),
    )
)]
/// An executor's intervals, optionally only those ending at or after `since` (unix
/// seconds or RFC 3339). At most [`task_executors::MAX_BEATS`] heartbeats are kept per
/// executor, so the answer is bounded; it is serialized straight from the intervals.
pub async fn intervals(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Json<IntervalsView>, ApiError> {
    let since = params.time("since")?.unwrap_or(Timestamp::MIN);
    let probe = watched(&state)?;
    let executor = find(&probe.board(), &name)?;
    let intervals: Vec<Interval> = task_executors::intervals(&executor.beats)
        .into_iter()
        .filter(|i| i.end >= since)
        .collect();
    Ok(Json(IntervalsView {
        state: executor.state(Timestamp::now(), probe.liveness()),
        name: executor.name.clone(),
        intervals,
    }))
}

/// An executor's intervals, as `/api/v1/executors/{name}/intervals` answers.
#[derive(Serialize)]
pub struct IntervalsView {
    name: String,
    state: ExecutorState,
    intervals: Vec<Interval>,
}

#[utoipa::path(
    get,
    path = "/api/v1/executors/{name}/intervals/{end}",
    tag = "executors",
    security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Executor name"),
        ("end" = i64, Path, description = "The interval's end, unix milliseconds"),
    ),
    responses(
        (status = 200, description = "`{name, interval, opening_heartbeat, running_at_start, tasks, tasks_error}`", body = Object),
        (status = 400, description = "Bad `end`", body = ApiError),
        (status = 404, description = "No such executor or interval", body = ApiError),
    )
)]
/// One interval (named by its end, unix milliseconds): both heartbeats, and the tasks that
/// ended in it from RAGFlow's database, marked `ran_here` when the executor was working on
/// them at the interval's start.
pub async fn interval(
    State(state): State<Arc<AppState>>,
    Path((name, end)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let end_ms: i64 = end.parse().map_err(|_| {
        ApiError::bad_parameter(
            "end",
            format!("`end` must be the interval's end in unix milliseconds, not {end:?}"),
        )
    })?;
    let probe = watched(&state)?;
    let executor = find(&probe.board(), &name)?;
    let position = task_executors::intervals(&executor.beats)
        .iter()
        .position(|i| i.end_ms() == end_ms)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "{name} has no interval ending at {end_ms} (it may be older than 30 minutes)"
                ),
            )
        })?;
    let opening = &executor.beats[position];
    let interval = task_executors::intervals(&executor.beats[position..=position + 1]).remove(0);
    let running_at_start = opening.identity().current;
    let (tasks, tasks_error) = match &state.tasks {
        None => (None, Some("the db component is disabled".to_owned())),
        Some(source) => {
            let (from, to) = interval.bounds();
            match source.ended_between(from, to).await {
                Ok(tasks) => (Some(mark_ran_here(tasks, &running_at_start)), None),
                Err(error) => (
                    None,
                    Some(
                        state
                            .scrubber
                            .scrub(&format!("cannot read RAGFlow's task table: {error}")),
                    ),
                ),
            }
        }
    };
    let mut interval_view = json!(interval);
    interval_view["heartbeat"] = json!(interval.heartbeat);
    Ok(Json(json!({
        "name": executor.name,
        "interval": interval_view,
        "opening_heartbeat": opening.raw,
        "running_at_start": running_at_start.keys().collect::<Vec<_>>(),
        "tasks": tasks,
        "tasks_error": tasks_error,
    })))
}

fn mark_ran_here(tasks: Vec<EndedTask>, running: &serde_json::Map<String, Value>) -> Vec<Value> {
    tasks
        .into_iter()
        .map(|task| {
            let ran_here = running.contains_key(&task.id);
            let outcome = if task.progress < 0.0 {
                "failed"
            } else {
                "done"
            };
            let mut value = json!(task);
            value["ran_here"] = json!(ran_here);
            value["outcome"] = json!(outcome);
            value
        })
        .collect()
}
