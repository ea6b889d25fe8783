//! `GET /api/v1/openapi.json`: the OpenAPI document of every endpoint, generated from the
//! annotations on the handlers.

use axum::Json;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::ApiError;
use super::silences::SilenceRequest;
use super::{cluster, components, executors, healthz, incidents, kube, metrics, silences, status};
use crate::alert::WindowState;
use crate::history::{Bucket, Incident, Silence};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ragwatch",
        description = "Health of the services a RAG platform depends on; a drop-in for RAGFlow's healthz and System page."
    ),
    paths(
        healthz::healthz,
        status::status,
        kube::livez,
        kube::startedz,
        kube::readyz,
        components::list,
        components::one,
        components::history,
        incidents::list,
        cluster::cluster,
        incidents::open,
        silences::create,
        silences::list,
        silences::delete,
        silences::maintenance,
        executors::list,
        executors::intervals,
        executors::interval,
        metrics::metrics,
        openapi,
    ),
    components(schemas(ApiError, Bucket, Incident, Silence, SilenceRequest, WindowState)),
    modifiers(&SecurityAndAliases)
)]
struct ApiDoc;

/// The bearer scheme, and the second path RAGFlow serves healthz and status under.
struct SecurityAndAliases;

impl Modify for SecurityAndAliases {
    fn modify(&self, document: &mut Document) {
        if let Some(components) = document.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
        for (path, alias) in [
            ("/v1/system/healthz", "/api/v1/system/healthz"),
            ("/v1/system/status", "/api/v1/system/status"),
        ] {
            if let Some(item) = document.paths.paths.get(path).cloned() {
                document.paths.paths.insert(alias.to_owned(), item);
            }
        }
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn openapi() -> Json<Document> {
    Json(ApiDoc::openapi())
}
