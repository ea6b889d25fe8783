//! `GET /v1/system/healthz` and `/api/v1/system/healthz`: RAGFlow's contract. Keys `db`,
//! `redis`, `doc_engine`, `storage` (each configured component, in that order) are `ok`
//! or `nok`, then `status`, then `_meta` with `elapsed` and `error` of each failed
//! component. 200 when every required component is ok, else 500. One deliberate
//! difference: an Elasticsearch/OpenSearch cluster whose status is red is `nok`.
//!
//! The body is rendered once per snapshot change and served as shared bytes.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::QueryParams;
use crate::component::Component;
use crate::monitor::{Snapshot, all_required_ok};

/// A rendered healthz answer and how long it stays true.
pub struct Rendered {
    version: u64,
    fresh_until: Option<Instant>,
    ok: bool,
    body: Bytes,
}

/// Serves healthz from the latest results; `?fresh=1` first joins or starts a probe of
/// every component whose newest result is older than `server.fresh_min_interval` (bounded
/// by their timeouts).
#[utoipa::path(
    get,
    path = "/v1/system/healthz",
    tag = "ragflow",
    summary = "RAGFlow's healthz: each component ok or nok, 500 when one required is not ok",
    params(("fresh" = Option<bool>, Query, description = "Probe every component first (single-flight, at most once per server.fresh_min_interval), at most their timeout")),
    responses(
        (status = 200, description = "Every required component ok", body = Object,
         example = json!({"db": "ok", "redis": "ok", "doc_engine": "ok", "storage": "ok", "status": "ok"})),
        (status = 500, description = "A required component is not ok; `_meta` says why", body = Object,
         example = json!({"db": "ok", "redis": "nok", "doc_engine": "ok", "storage": "ok", "status": "nok",
                          "_meta": {"redis": {"elapsed": "0.4", "error": "connection refused to 127.0.0.1:6379"}}})),
        (status = 400, description = "Bad parameter", body = ApiError),
    )
)]
pub async fn healthz(
    State(state): State<Arc<AppState>>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    if params.flag("fresh")? {
        state.monitor.fresh_all().await;
    } else if state.monitor.snapshot().is_incomplete() {
        state.monitor.refresh_missing().await;
    }
    let rendered = current(&state);
    let status = if rendered.ok {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    Ok((
        status,
        [(header::CONTENT_TYPE, "application/json")],
        rendered.body.clone(),
    )
        .into_response())
}

/// The cached rendering when it still describes the latest snapshot, else a new one.
fn current(state: &AppState) -> Arc<Rendered> {
    let snapshot = state.monitor.snapshot();
    if let Some(cached) = state.healthz.load_full()
        && cached.version == snapshot.version
        && cached
            .fresh_until
            .is_some_and(|until| Instant::now() < until)
    {
        return cached;
    }
    let rendered = Arc::new(render(state.monitor.components(), &snapshot));
    state.healthz.store(Some(Arc::clone(&rendered)));
    rendered
}

fn render(components: &[Component], snapshot: &Snapshot) -> Rendered {
    let now = Instant::now();
    let mut body = Map::new();
    let mut meta = Map::new();
    let verdicts = snapshot.verdicts(components, now);
    let listed = components
        .iter()
        .zip(&verdicts)
        .filter(|(c, _)| c.in_healthz);
    let ok = all_required_ok(listed.clone());
    for (component, verdict) in listed {
        let key = component.key.as_str().to_owned();
        if verdict.status.is_ok() {
            body.insert(key, json!("ok"));
        } else {
            body.insert(key.clone(), json!("nok"));
            let mut entry = json!({
                "elapsed": format!("{:.1}", verdict.elapsed_ms),
                "error": verdict.error.clone().unwrap_or_default(),
            });
            // RAGFlow's keys stay as they are; a consequence of another failure says so.
            if let Some(cause) = verdict.cause_text() {
                entry["status"] = json!("unknown");
                entry["cause"] = json!(cause);
            }
            meta.insert(key, entry);
        }
    }
    body.insert("status".into(), json!(if ok { "ok" } else { "nok" }));
    if !meta.is_empty() {
        body.insert("_meta".into(), Value::Object(meta));
    }
    Rendered {
        version: snapshot.version,
        fresh_until: snapshot.fresh_until(components),
        ok,
        body: Bytes::from(serde_json::to_vec(&body).expect("JSON map serialises")),
    }
}
