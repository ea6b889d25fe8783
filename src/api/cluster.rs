//! `GET /api/v1/cluster`: the replicas sharing this history, who leads and in which term,
//! and the quorum in force; `{"enabled": false}` for a single instance.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;

/// The cluster as this replica saw it in its latest round.
#[utoipa::path(
    get,
    path = "/api/v1/cluster",
    tag = "components",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{enabled, observer, leader, term, leading, quorum, quorum_needed, observers: [{name, last_seen, live, leader}], error}`; only `{enabled: false}` without `[cluster]`", body = Object),
        (status = 401, description = "Missing or wrong token; with no tokens configured, a client not on loopback", body = ApiError),
    )
)]
pub async fn cluster(State(state): State<Arc<AppState>>) -> Json<Value> {
    match &state.cluster {
        Some(cluster) => {
            let mut body = json!(*cluster.state());
            body["enabled"] = json!(true);
            Json(body)
        }
        None => Json(json!({ "enabled": false })),
    }
}
