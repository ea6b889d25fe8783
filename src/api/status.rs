//! `GET /v1/system/status` and `/api/v1/system/status`: RAGFlow's System page data, in its
//! shape: `{"code": 0, "message": "success", "data": {doc_engine, storage, database, redis,
//! task_executor_heartbeats}}`. Each component carries `status` (`green`, `yellow`, `red`),
//! `elapsed` (milliseconds, one decimal, as a string) and `error` when not green; the
//! document engine also every `_cluster/health` field; the heartbeats are the members of
//! the last 30 minutes exactly as the executors wrote them, oldest first.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use crate::config::ComponentKey;

#[derive(Serialize)]
struct StatusBody {
    code: i32,
    message: &'static str,
    data: StatusData,
}

#[derive(Serialize)]
struct StatusData {
    #[serde(skip_serializing_if = "Option::is_none")]
    doc_engine: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<Map<String, Value>>,
    task_executor_heartbeats: BTreeMap<String, Vec<Arc<RawValue>>>,
}

/// The System page's data from the latest results.
#[utoipa::path(
    get,
    path = "/v1/system/status",
    tag = "ragflow",
    summary = "RAGFlow's System page data: components and task-executor heartbeats",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{code, message, data: {doc_engine, storage, database, redis, task_executor_heartbeats}}`", body = Object),
        (status = 401, description = "Missing or wrong token; with no tokens configured, a client not on loopback", body = ApiError),
    )
)]
pub async fn status(State(state): State<Arc<AppState>>) -> Json<impl Serialize> {
    let monitor = &state.monitor;
    if monitor.snapshot().is_incomplete() {
        monitor.refresh_missing().await;
    }
    let snapshot = monitor.snapshot();
    let now = Instant::now();
    let mut data = StatusData {
        doc_engine: None,
        storage: None,
        database: None,
        redis: None,
        task_executor_heartbeats: BTreeMap::new(),
    };
    for (index, component) in monitor.components().iter().enumerate() {
        let verdict = snapshot.verdict(index, component, now);
        let mut entry = Map::new();
        let slot = match component.key {
            ComponentKey::DocEngine => {
                if let Some(result) = &verdict.result {
                    entry.extend(result.details.clone());
                }
                entry.insert("type".into(), json!(component.kind));
                &mut data.doc_engine
            }
            ComponentKey::Storage => {
                entry.insert("storage".into(), json!(component.kind));
                &mut data.storage
            }
            ComponentKey::Db => {
                entry.insert("database".into(), json!(component.kind));
                &mut data.database
            }
            ComponentKey::Redis => &mut data.redis,
            ComponentKey::MessageQueue
            | ComponentKey::TaskExecutors
            | ComponentKey::Ragflow
            | ComponentKey::Parsing
            | ComponentKey::Model(_)
            | ComponentKey::Canary(_) => {
                continue;
            }
        };
        entry.insert("status".into(), json!(verdict.status.as_str()));
        entry.insert(
            "elapsed".into(),
            json!(format!("{:.1}", verdict.elapsed_ms)),
        );
        if let Some(error) = verdict.error {
            entry.insert("error".into(), json!(error));
        }
        *slot = Some(entry);
    }
    if let Some(probe) = &state.executors {
        for executor in probe.board().executors.values().filter(|e| e.listed) {
            let beats = executor.beats.iter().map(|b| Arc::clone(&b.raw)).collect();
            data.task_executor_heartbeats
                .insert(executor.name.clone(), beats);
        }
    }
    Json(StatusBody {
        code: 0,
        message: "success",
        data,
    })
}
