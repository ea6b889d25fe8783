//! `GET /api/v1/components`, `/api/v1/components/{key}` and
//! `/api/v1/components/{key}/history?since=&until=&step=`: the latest result of every
//! component, one component with its uptime and flapping, and its history as a strip of
//! buckets from the roll-ups.

use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::QueryParams;
use crate::component::Component;
use crate::config::ComponentKey;
use crate::history::{AnyStore, Bucket, BucketQuery, Store};
use crate::monitor::{Snapshot, Verdict};
use crate::probe::Details;
use crate::status::Status;

/// Buckets one history answer may hold.
pub const MAX_BUCKETS: i64 = 10_000;
/// Buckets a history answer aims for when no step is given (a 24 h strip of 5 minutes).
pub const DEFAULT_BUCKETS: i64 = 288;

const MINUTE: SignedDuration = SignedDuration::from_mins(1);
const HOUR: SignedDuration = SignedDuration::from_hours(1);
const DAY: SignedDuration = SignedDuration::from_hours(24);

/// A component and its latest result.
#[derive(Serialize)]
pub struct ComponentView<'a> {
    key: &'a ComponentKey,
    kind: &'static str,
    required: bool,
    status: &'static str,
    /// Why it is `unknown`: a component it depends on is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<String>,
    depends_on: &'a [ComponentKey],
    elapsed_ms: f64,
    checked_at: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    details: Option<&'a Details>,
    /// In a cluster: what each live observer sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    observers: Option<BTreeMap<String, Seen>>,
}

/// One observer's latest result of a component.
#[derive(Serialize)]
struct Seen {
    status: Status,
    checked_at: jiff::Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What each live observer of a cluster sees of `component`.
fn observers(state: &AppState, component: &Component) -> Option<BTreeMap<String, Seen>> {
    let views = state.cluster.as_ref()?.views_of(component.key.as_str());
    Some(
        views
            .into_iter()
            .map(|v| {
                let seen = Seen {
                    status: v.status,
                    checked_at: v.checked_at,
                    error: v.error,
                };
                (v.observer, seen)
            })
            .collect(),
    )
}

fn view<'a>(
    state: &AppState,
    snapshot: &'a Snapshot,
    index: usize,
    component: &'a Component,
    verdict: Verdict,
) -> ComponentView<'a> {
    let result = snapshot.results[index].as_ref().map(|t| &t.result);
    ComponentView {
        key: &component.key,
        kind: component.kind,
        required: component.required,
        status: verdict.shown_status(),
        cause: verdict.cause_text(),
        depends_on: &component.depends_on,
        elapsed_ms: verdict.elapsed_ms,
        checked_at: result.map(|r| r.checked_at),
        error: verdict.error,
        details: result.map(|r| &r.details),
        observers: observers(state, component),
    }
}

/// Every component with its latest result.
#[utoipa::path(
    get,
    path = "/api/v1/components",
    tag = "components",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{components: [{key, kind, required, status (green, yellow, red, or unknown with a cause), cause, depends_on, elapsed_ms, checked_at, error, details, observers (in a cluster: {name: {status, checked_at, error}})}]}`", body = Object),
        (status = 401, description = "Missing or wrong token; with no tokens configured, a client not on loopback", body = ApiError),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let snapshot = state.monitor.snapshot();
    let components = state.monitor.components();
    let verdicts = snapshot.verdicts(components, Instant::now());
    let components: Vec<ComponentView> = components
        .iter()
        .zip(verdicts)
        .enumerate()
        .map(|(index, (component, verdict))| view(&state, &snapshot, index, component, verdict))
        .collect();
    Json(json!({ "components": components }))
}

fn find(state: &AppState, key: &str) -> Result<usize, ApiError> {
    state
        .monitor
        .components()
        .iter()
        .position(|c| c.key.as_str() == key)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no component {key} is watched"),
            )
        })
}

/// The history store, or 503 saying why there is none.
pub fn history_of(state: &AppState) -> Result<&AnyStore, ApiError> {
    let history = state.history.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "history is disabled (history.enabled = false)",
        )
    })?;
    history.store().map_err(|why| unavailable(state, why))
}

/// A failed history query as a 503 naming the store's problem.
pub fn unavailable(state: &AppState, error: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        unavailable_text(state, error),
    )
}

/// Why the history cannot answer, without secrets.
fn unavailable_text(state: &AppState, error: impl std::fmt::Display) -> String {
    state
        .scrubber
        .scrub(&format!("history unavailable: {error}"))
}

/// One component: its latest result, uptime over 24 h and 7 days, and the status changes
/// of the last hour (flapping).
#[utoipa::path(
    get,
    path = "/api/v1/components/{key}",
    tag = "components",
    security(("bearer" = [])),
    params(("key" = String, Path, description = "db, redis, doc_engine, storage, message_queue or task_executors")),
    responses(
        (status = 200, description = "The latest result plus `uptime: {last_24h, last_7d}` and `changes_last_hour`; instead `history_error` (why) when the history store is failing, answered at once", body = Object),
        (status = 404, description = "No such component is watched", body = ApiError),
        (status = 401, description = "Missing or wrong token; with no tokens configured, a client not on loopback", body = ApiError),
    )
)]
pub async fn one(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let index = find(&state, &key)?;
    let snapshot = state.monitor.snapshot();
    let component = &state.monitor.components()[index];
    let verdict = snapshot
        .verdicts(state.monitor.components(), Instant::now())
        .swap_remove(index);
    let mut body = json!(view(&state, &snapshot, index, component, verdict));
    if let Some(history) = state.history.as_ref() {
        // A store known to be down would hold each query for the pool's whole wait: the
        // latest result is answered at once, saying why the history is missing.
        let store = match history.store() {
            Ok(store) => match &history.health().error {
                Some(error) => Err(error.clone()),
                None => Ok(store),
            },
            Err(why) => Err(why),
        };
        let store = match store {
            Ok(store) => store,
            Err(why) => {
                body["history_error"] = json!(unavailable_text(&state, why));
                return Ok(Json(body));
            }
        };
        let now = Timestamp::now();
        // One bucket over the whole span, up to and including this millisecond.
        let uptime = |resolution_s: i64, span: SignedDuration| async move {
            let query = BucketQuery {
                component: component.key.as_str(),
                resolution_s,
                since: now - span,
                until: now + SignedDuration::from_millis(1),
                step: span,
            };
            store
                .buckets(&query)
                .await
                .map(|buckets| buckets.first().and_then(|b| b.uptime))
        };
        let answers = (
            uptime(60, DAY).await,
            uptime(3600, 7 * DAY).await,
            store
                .changes_since(component.key.as_str(), now - HOUR)
                .await,
        );
        match answers {
            (Ok(day), Ok(week), Ok(changes)) => {
                body["uptime"] = json!({ "last_24h": day, "last_7d": week });
                body["changes_last_hour"] = json!(changes);
            }
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                body["history_error"] = json!(state.scrubber.scrub(&e.to_string()));
            }
        }
    }
    Ok(Json(body))
}

#[utoipa::path(
    get,
    path = "/api/v1/components/{key}/history",
    tag = "components",
    security(("bearer" = [])),
    params(
        ("key" = String, Path, description = "Component key"),
        ("since" = Option<String>, Query, description = "Start: unix seconds or RFC 3339 (default: 24 h before `until`)"),
        ("until" = Option<String>, Query, description = "End: unix seconds or RFC 3339 (default: now)"),
        ("step" = Option<String>, Query, description = "Bucket size in whole minutes, as `5m` or seconds (default: 288 buckets)"),
    ),
    responses(
        (status = 200, description = "`{component, since_ms, until_ms, step_s, resolution_s, buckets}`", body = Vec<Bucket>),
        (status = 400, description = "Bad parameter, named in `parameter`", body = ApiError),
        (status = 404, description = "No such component is watched", body = ApiError),
        (status = 503, description = "History disabled or its store unavailable", body = ApiError),
    )
)]
/// The component's history in buckets of `step` between `since` and `until` (default: the
/// last 24 hours in 288 buckets). Steps of whole hours read the hour roll-ups; other steps
/// must be whole minutes.
pub async fn history(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    params: QueryParams,
) -> Result<Json<Value>, ApiError> {
    let index = find(&state, &key)?;
    let until = params.time("until")?.unwrap_or_else(Timestamp::now);
    let since = params.time("since")?.unwrap_or(until - DAY);
    if since >= until {
        return Err(ApiError::bad_parameter(
            "since",
            "parameter `since` must be before `until`",
        ));
    }
    let span = until.duration_since(since);
    let step = match params.duration("step", Duration::from_secs(60))? {
        Some(step) => {
            let too_long = || {
                ApiError::bad_parameter(
                    "step",
                    "parameter `step` is longer than any span ragwatch keeps",
                )
            };
            let step = SignedDuration::try_from(step).map_err(|_| too_long())?;
            if step.as_millis() % MINUTE.as_millis() != 0 {
                return Err(ApiError::bad_parameter(
                    "step",
                    "parameter `step` must be whole minutes",
                ));
            }
            if span.as_millis() / step.as_millis() > i128::from(MAX_BUCKETS) {
                return Err(ApiError::bad_parameter(
                    "step",
                    format!(
                        "parameter `step` makes more than {MAX_BUCKETS} buckets; choose a longer step or a shorter span"
                    ),
                ));
            }
            step
        }
        // The span in DEFAULT_BUCKETS steps, rounded up to whole minutes.
        None => {
            let minute = MINUTE.as_millis();
            let per_bucket = (span.as_millis() / i128::from(DEFAULT_BUCKETS)).max(minute);
            SignedDuration::from_mins(((per_bucket + minute - 1) / minute) as i64)
        }
    };
    let resolution_s = if step.as_millis() % HOUR.as_millis() == 0 {
        3600
    } else {
        60
    };
    let store = history_of(&state)?;
    let component = state.monitor.components()[index].key.as_str();
    let query = BucketQuery {
        component,
        resolution_s,
        since,
        until,
        step,
    };
    let buckets = store
        .buckets(&query)
        .await
        .map_err(|e| unavailable(&state, e))?;
    Ok(Json(json!({
        "component": component,
        "since_ms": since.as_millisecond(),
        "until_ms": until.as_millisecond(),
        "step_s": step.as_secs(),
        "resolution_s": resolution_s,
        "buckets": buckets,
    })))
}
