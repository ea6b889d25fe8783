//! The HTTP API. [`router`] builds every route from the parts the app hands it; handlers
//! only read the monitor's snapshot (and join its single-flight refresh for `?fresh=1`),
//! the executor board, the history and the alert receivers' health.

mod auth;
mod cluster;
mod components;
mod error;
mod executors;
mod extract;
mod healthz;
mod incidents;
mod kube;
mod metrics;
mod openapi;
mod server;
mod silences;
mod status;
mod ui;

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use axum::routing::{delete, get};
use axum::{Router, middleware};
use tower_http::compression::CompressionLayer;

use crate::alert::Alerts;
use crate::cluster::Cluster;
use crate::config::{Scrubber, Secret};
use crate::history::History;
use crate::metrics::Metrics;
use crate::monitor::Monitor;
use crate::task_executors::{TaskSource, Tracker};

pub use error::ApiError;
pub use server::{DEFAULT_MAX_CONNECTIONS, HEADER_TIMEOUT, Limits, MIN_RESERVE, serve};

/// What the HTTP layer reads, handed over by the app.
pub struct Parts {
    /// Latest results, and the single-flight refresh for `?fresh=1`.
    pub monitor: Arc<Monitor>,
    /// Probe counters, for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The history, when kept.
    pub history: Option<Arc<History>>,
    /// The alerting, when configured (its receivers' health).
    pub alerts: Option<Arc<Alerts>>,
    /// This replica of a cluster, when configured.
    pub cluster: Option<Arc<Cluster>>,
    /// The task executors' board, when they are watched.
    pub executors: Option<Arc<Tracker>>,
    /// RAGFlow's task table, for the tasks of an executor's interval.
    pub tasks: Option<Arc<TaskSource>>,
    /// Bearer tokens of the protected endpoints; none leaves them to loopback clients
    /// (`/metrics` to everyone).
    pub tokens: Vec<Secret>,
    /// With no tokens, serve the protected endpoints to every client.
    pub open: bool,
    /// Removes configured secrets from error texts.
    pub scrubber: Scrubber,
    /// Whether readyz fails while the history store cannot be written.
    pub history_required: bool,
}

/// What every handler shares, behind an `Arc`.
pub struct AppState {
    parts: Parts,
    healthz: ArcSwapOption<healthz::Rendered>,
}

impl std::ops::Deref for AppState {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.parts
    }
}

/// Every route of ragwatch.
pub fn router(parts: Parts) -> Router {
    let state = Arc::new(AppState {
        parts,
        healthz: ArcSwapOption::empty(),
    });
    // Tenant data: document names, tenant ids, RAGFlow's error texts.
    let protected = Router::new()
        .route("/v1/system/status", get(status::status))
        .route("/api/v1/system/status", get(status::status))
        .route("/api/v1/components", get(components::list))
        .route("/api/v1/components/{key}", get(components::one))
        .route("/api/v1/components/{key}/history", get(components::history))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/cluster", get(cluster::cluster))
        .route("/api/v1/incidents/open", get(incidents::open))
        .route(
            "/api/v1/silences",
            get(silences::list).post(silences::create),
        )
        .route("/api/v1/silences/{id}", delete(silences::delete))
        .route("/api/v1/maintenance", get(silences::maintenance))
        .route("/api/v1/executors", get(executors::list))
        .route(
            "/api/v1/executors/{name}/intervals",
            get(executors::intervals),
        )
        .route(
            "/api/v1/executors/{name}/intervals/{end}",
            get(executors::interval),
        )
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_token_or_loopback,
        ));
    // Counts and states only (tests/integration/metrics.rs checks it), for any scraper.
    let exposition = Router::new()
        .route("/metrics", get(metrics::metrics))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_token,
        ));
    Router::new()
        .route("/", get(ui::index))
        .route("/ui/app.js", get(ui::script))
        .route("/ui/app.css", get(ui::style))
        .route("/v1/system/healthz", get(healthz::healthz))
        .route("/api/v1/system/healthz", get(healthz::healthz))
        .route("/livez", get(kube::livez))
        .route("/startedz", get(kube::startedz))
        .route("/readyz", get(kube::readyz))
        .route("/api/v1/openapi.json", get(openapi::openapi))
        .merge(protected)
        .merge(exposition)
        .route_layer(middleware::from_fn(extract::require_utf8_path))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        // gzip when the client asks for it (browsers and Prometheus do): the page's JSON
        // shrinks about tenfold.
        .layer(CompressionLayer::new())
        .with_state(state)
}
