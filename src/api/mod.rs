//! The HTTP API. [`router`] builds every route from the monitor; handlers only read the
//! monitor's snapshot (and join its single-flight refresh for `?fresh=1`).

mod auth;
mod components;
mod error;
mod executors;
mod extract;
mod healthz;
mod incidents;
mod kube;
mod metrics;
mod openapi;
mod status;
mod ui;

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use axum::routing::get;
use axum::{Router, middleware};
use tokio::net::TcpListener;

use crate::config::{Config, ConfigError, Scrubber, Secret};
use crate::task_executors::TaskSource;
use crate::monitor::Monitor;

pub use error::ApiError;

/// What every handler shares; cheap to clone behind an `Arc`.
pub struct AppState {
    monitor: Arc<Monitor>,
    healthz: ArcSwapOption<healthz::Rendered>,
    tokens: Vec<Secret>,
    tasks: Option<TaskSource>,
    scrubber: Scrubber,
    history_required: bool,
}

/// Every route of ragwatch, for a monitor built from `config`.
pub fn router(monitor: Arc<Monitor>, config: &Config) -> Result<Router, ConfigError> {
    let tasks = if config.db.settings.enabled {
        let timeout = config.db.settings.timeout.unwrap_or(config.monitor.timeout);
        let source =
            TaskSource::new(&config.db, timeout).map_err(|message| ConfigError::Invalid {
                location: "db".into(),
                message: config.scrubber().scrub(&message),
            })?;
        Some(source)
    } else {
        None
    };
    let state = Arc::new(AppState {
        monitor,
        healthz: ArcSwapOption::empty(),
        tokens: config.server.tokens.clone(),
        tasks,
        scrubber: config.scrubber(),
        history_required: config.history.required,
    });
    let protected = Router::new()
        .route("/v1/system/status", get(status::status))
        .route("/api/v1/system/status", get(status::status))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/components", get(components::list))
        .route("/api/v1/components/{key}", get(components::one))
        .route("/api/v1/components/{key}/history", get(components::history))
        .route("/api/v1/incidents", get(incidents::list))
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
            auth::require_token,
        ));
    Ok(Router::new()
        .route("/", get(ui::index))
        .route("/ui/app.js", get(ui::script))
        .route("/ui/app.css", get(ui::style))
        .route("/v1/system/healthz", get(healthz::healthz))
        .route("/api/v1/system/healthz", get(healthz::healthz))
        .route("/livez", get(kube::livez))
        .route("/readyz", get(kube::readyz))
        .route("/api/v1/openapi.json", get(openapi::openapi))
        .merge(protected)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state))
}

/// Serves the router until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
