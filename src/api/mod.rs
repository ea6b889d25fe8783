//! The HTTP API. [`router`] builds every route from the monitor; handlers only read the
//! monitor's snapshot (and join its single-flight refresh for `?fresh=1`).

mod error;
mod extract;
mod healthz;
mod kube;

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::monitor::Monitor;

pub use error::ApiError;

/// What every handler shares; cheap to clone behind an `Arc`.
pub struct AppState {
    monitor: Arc<Monitor>,
    healthz: ArcSwapOption<healthz::Rendered>,
}

/// Every route of ragwatch.
pub fn router(monitor: Arc<Monitor>) -> Router {
    let state = Arc::new(AppState {
        monitor,
        healthz: ArcSwapOption::empty(),
    });
    Router::new()
        .route("/v1/system/healthz", get(healthz::healthz))
        .route("/api/v1/system/healthz", get(healthz::healthz))
        .route("/livez", get(kube::livez))
        .route("/readyz", get(kube::readyz))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
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
