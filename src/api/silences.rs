//! Silences at run time: `POST /api/v1/silences` holds back the notifications of some
//! components until a time, `GET` lists the active ones, `DELETE /api/v1/silences/{id}`
//! ends one early. They are kept in the history store (so they outlive a restart and every
//! ragwatch on one PostgreSQL shares them) and need `[alerts]`, whose notifications they
//! hold back. `GET /api/v1/maintenance` shows the maintenance windows beside them.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::components::{history_of, unavailable};
use super::error::ApiError;
use crate::alert::{Quiet, WindowState};
use crate::history::{NewSilence, Silence, Store};

/// The longest a silence may last.
pub const MAX_SILENCE: SignedDuration = SignedDuration::from_hours(30 * 24);
/// The longest comment, in characters.
pub const MAX_COMMENT: usize = 1000;
/// Silences active at once.
pub const MAX_SILENCES: usize = 100;

/// The body of `POST /api/v1/silences`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// Component keys to quiet; all when absent or empty.
    #[serde(default)]
    components: Vec<String>,
    /// When it ends (RFC 3339); or give `duration`.
    #[serde(default)]
    until: Option<String>,
    /// How long it lasts (`30m`, `2h`); or give `until`.
    #[serde(default)]
    duration: Option<String>,
    /// Why (at most 1000 characters).
    #[serde(default)]
    comment: String,
}

/// The silences' quiet, when notifications are configured.
fn quiet_of(state: &AppState) -> Result<&Arc<Quiet>, ApiError> {
    state.alerts.as_ref().map(|a| a.quiet()).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "silences hold back notifications, and none are configured ([alerts])",
        )
    })
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// Holds back the notifications of some components until a time.
#[utoipa::path(
    post,
    path = "/api/v1/silences",
    tag = "alerts",
    security(("bearer" = [])),
    request_body = SilenceRequest,
    responses(
        (status = 201, description = "The silence, with its id", body = Silence),
        (status = 400, description = "Bad JSON, an unknown component, an end in the past or more than 30 days ahead, a comment over 1000 characters", body = ApiError),
        (status = 409, description = "100 silences are active already", body = ApiError),
        (status = 503, description = "No [alerts], history disabled or its store unavailable", body = ApiError),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Silence>), ApiError> {
    let quiet = quiet_of(&state)?;
    let request: SilenceRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("bad JSON body: {e}")))?;
    let watched = state.monitor.components();
    if let Some(unknown) = request
        .components
        .iter()
        .find(|c| !watched.iter().any(|w| w.key.as_str() == c.as_str()))
    {
        return Err(bad(format!(
            "components: {unknown:?} is not a watched component"
        )));
    }
    // To the millisecond, as the store keeps times.
    let now = Timestamp::from_millisecond(Timestamp::now().as_millisecond())
        .expect("now is a valid time");
    let until = match (request.until.as_deref(), request.duration.as_deref()) {
        (Some(until), None) => until.parse::<Timestamp>().map_err(|e| {
            bad(format!(
                "until: {until:?} is not an RFC 3339 time with an offset ({e})"
            ))
        })?,
        (None, Some(duration)) => {
            let duration: Duration = humantime::parse_duration(duration).map_err(|e| {
                bad(format!(
                    "duration: {duration:?} is not a duration like \"30m\" or \"2h\" ({e})"
                ))
            })?;
            let duration = SignedDuration::try_from(duration)
                .ok()
                .filter(|d| *d <= MAX_SILENCE)
                .ok_or_else(|| bad("duration: a silence lasts at most 30 days"))?;
            now + duration
        }
        _ => return Err(bad("give either until (RFC 3339) or duration (\"30m\")")),
    };
    let until = Timestamp::from_millisecond(until.as_millisecond()).expect("a parsed time");
    if until <= now {
        return Err(bad("until: must be in the future"));
    }
    if until.duration_since(now) > MAX_SILENCE {
        return Err(bad("until: a silence lasts at most 30 days"));
    }
    if request.comment.chars().count() > MAX_COMMENT {
        return Err(bad(format!("comment: at most {MAX_COMMENT} characters")));
    }
    let store = history_of(&state)?;
    let active = store
        .silences(now)
        .await
        .map_err(|e| unavailable(&state, e))?;
    if active.len() >= MAX_SILENCES {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{MAX_SILENCES} silences are active already: delete one first"),
        ));
    }
    let silence = store
        .add_silence(&NewSilence {
            components: request.components,
            created_at: now,
            until,
            comment: request.comment,
        })
        .await
        .map_err(|e| unavailable(&state, e))?;
    tracing::info!(id = silence.id, components = ?silence.components, until = %silence.until, "Silence made.");
    quiet.refresh().await;
    Ok((StatusCode::CREATED, Json(silence)))
}

/// The silences not ended yet, as the store has them.
#[utoipa::path(
    get,
    path = "/api/v1/silences",
    tag = "alerts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{silences: [...]}`", body = Vec<Silence>),
        (status = 503, description = "No [alerts], history disabled or its store unavailable", body = ApiError),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    quiet_of(&state)?;
    let silences = history_of(&state)?
        .silences(Timestamp::now())
        .await
        .map_err(|e| unavailable(&state, e))?;
    Ok(Json(json!({ "silences": silences })))
}

/// Ends a silence now: what changed while it held is sent.
#[utoipa::path(
    delete,
    path = "/api/v1/silences/{id}",
    tag = "alerts",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The silence's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a number", body = ApiError),
        (status = 404, description = "No silence has this id", body = ApiError),
        (status = 503, description = "No [alerts], history disabled or its store unavailable", body = ApiError),
    )
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let quiet = quiet_of(&state)?;
    let id: i64 = id
        .parse()
        .map_err(|_| bad(format!("{id:?} is not a silence id")))?;
    let deleted = history_of(&state)?
        .delete_silence(id)
        .await
        .map_err(|e| unavailable(&state, e))?;
    if !deleted {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no silence has id {id}"),
        ));
    }
    tracing::info!(id, "Silence deleted.");
    quiet.refresh().await;
    Ok(StatusCode::NO_CONTENT)
}

/// The maintenance windows (each with the stretch holding now and the next) and the
/// active silences, as this ragwatch last read them.
#[utoipa::path(
    get,
    path = "/api/v1/maintenance",
    tag = "alerts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{windows: [...], silences: [...]}`; both empty without [alerts]", body = Object),
    )
)]
pub async fn maintenance(State(state): State<Arc<AppState>>) -> Json<Value> {
    let now = Timestamp::now();
    let (windows, silences): (Vec<WindowState>, Vec<Silence>) = match &state.alerts {
        Some(alerts) => (
            alerts.quiet().windows(now),
            alerts
                .quiet()
                .silences()
                .iter()
                .filter(|s| s.until > now)
                .cloned()
                .collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    Json(json!({ "windows": windows, "silences": silences }))
}
