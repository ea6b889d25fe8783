//! `GET /api/v1/incidents?since=&component=&limit=`: stretches of time components were not
//! green, open ones first, then newest first, with their durations; `GET
//! /api/v1/incidents/open`: those this ragwatch has open now.

use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use super::components::{history_of, unavailable};
use super::error::ApiError;
use super::extract::QueryParams;
use crate::history::{Incident, IncidentQuery, Store};

const WEEK: SignedDuration = SignedDuration::from_hours(7 * 24);

/// Incidents open or ended since `since` (default: 7 days ago).
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    tag = "components",
    security(("bearer" = [])),
    params(
        ("since" = Option<String>, Query, description = "Open, or ended at or after this: unix seconds or RFC 3339 (default: 7 days ago)"),
        ("component" = Option<String>, Query, description = "Only this component"),
        ("limit" = Option<i64>, Query, description = "At most this many, 1 to 1000 (default 100)"),
    ),
    responses(
        (status = 200, description = "`{incidents: [...]}`, each with `open` and `duration_ms`", body = Vec<Incident>),
        (status = 400, description = "Bad parameter, named in `parameter`", body = ApiError),
        (status = 503, description = "History disabled or its store unavailable", body = ApiError),
    )
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    params: QueryParams,
) -> Result<Json<Value>, ApiError> {
    let now = Timestamp::now();
    let since = params.time("since")?.unwrap_or(now - WEEK);
    let component = params.last("component").map(str::to_owned);
    // A fixed key names a component even while it is disabled; a model only while watched.
    if let Some(key) = &component
        && !crate::config::ComponentKey::ALL
            .iter()
            .any(|k| k.as_str() == key)
        && !state
            .monitor
            .components()
            .iter()
            .any(|c| c.key.as_str() == key)
    {
        return Err(ApiError::bad_parameter(
            "component",
            format!("parameter `component` names no component: {key}"),
        ));
    }
    let limit = params.number("limit", 1, 1000)?.unwrap_or(100);
    let incidents = history_of(&state)?
        .incidents(&IncidentQuery {
            since,
            component,
            limit,
        })
        .await
        .map_err(|e| unavailable(&state, e))?;
    Ok(Json(answer(incidents, now)))
}

/// The incidents this ragwatch has open now (its `history.observer`'s, not those of others
/// sharing the store): what the page's "since" and its links to incidents come from.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/open",
    tag = "components",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{incidents: [...]}`: this ragwatch's open incidents, at most one per component, newest first, each with `open` and `duration_ms`", body = Vec<Incident>),
        (status = 503, description = "History disabled or its store unavailable", body = ApiError),
    )
)]
pub async fn open(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let now = Timestamp::now();
    let store = history_of(&state)?;
    let observer = state.history.as_ref().map_or("", |h| h.observer());
    let incidents = store
        .open_incidents(observer)
        .await
        .map_err(|e| unavailable(&state, e))?;
    Ok(Json(answer(incidents, now)))
}

/// `{incidents: [...]}`, each incident with `open` and its duration up to `now`.
fn answer(incidents: Vec<Incident>, now: Timestamp) -> Value {
    let incidents: Vec<Value> = incidents
        .into_iter()
        .map(|incident| {
            let ended = incident.ended_at.unwrap_or(now);
            let duration_ms = ended.duration_since(incident.started_at).as_millis();
            let open = incident.ended_at.is_none();
            let mut value = json!(incident);
            value["open"] = json!(open);
            value["duration_ms"] = json!(duration_ms);
            value
        })
        .collect();
    json!({ "incidents": incidents })
}
