//! `GET /metrics`: Prometheus exposition, OpenMetrics when the scraper asks for it (as
//! Prometheus does), the classic text format otherwise.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric, read now.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus exposition (OpenMetrics when asked for)", content_type = "text/plain", body = String),
        (status = 401, description = "Missing or wrong token", body = ApiError),
    )
)]
pub async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let snapshot = state.monitor.snapshot();
    let present = crate::metrics::Present {
        snapshot: &snapshot,
        components: state.monitor.components(),
        executors: state.executors.as_deref(),
        history: state
            .history
            .as_ref()
            .map(|history| crate::metrics::HistoryFigures {
                up: history.health().error.is_none(),
                dropped: history.dropped(),
            }),
        receivers: state.alerts.as_ref().map(|alerts| alerts.health()),
        cluster: state.cluster.as_ref().map(|cluster| {
            let cluster = cluster.state();
            crate::metrics::ClusterFigures {
                leader: cluster.leading,
                observers: cluster.live(),
                term: cluster.term,
            }
        }),
    };
    let text = crate::metrics::render(&state.metrics, &present);
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("application/openmetrics-text"));
    if wants_openmetrics {
        ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response()
    } else {
        let classic = crate::metrics::classic_text(&text);
        ([(header::CONTENT_TYPE, CLASSIC)], classic).into_response()
    }
}
