//! [`RagflowServer`]: a stand-in for RAGFlow's HTTP API server, for the canaries. It keeps
//! the contract of RAGFlow's API reference (`docs/references/http_api_reference.md`) and of
//! its handlers and REST tests, checked on every request: the paths and methods, the
//! `Authorization: Bearer <API key>` (else its 401 body), the JSON body's documented fields
//! (an unknown one is refused, so a misspelt field fails a test), and its response envelope
//! `{"code", "message", "data"}` with RAGFlow's codes and messages. It keeps real state:
//! datasets hold chunks, and a retrieval finds the chunks that share words with the
//! question. It can be told to fail the retrieval as RAGFlow does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;

use super::free_port;

/// RAGFlow's answer to a request without a valid key (`api/apps/__init__.py`'s handler of
/// quart_auth's `Unauthorized`, as its REST test `test_retrieval_compatibility_requires_auth`
/// expects it).
pub const UNAUTHORIZED_MESSAGE: &str = "<Unauthorized '401: Unauthorized'>";

/// The body fields `POST /api/v1/retrieval` documents.
const RETRIEVAL_FIELDS: [&str; 15] = [
    "question",
    "dataset_ids",
    "document_ids",
    "page",
    "page_size",
    "similarity_threshold",
    "vector_similarity_weight",
    "top_k",
    "rerank_id",
    "keyword",
    "highlight",
    "cross_languages",
    "metadata_condition",
    "use_kg",
    "toc_enhance",
];

/// One chunk of a parsed document.
#[derive(Clone, Debug)]
struct Chunk {
    id: String,
    document_id: String,
    document_name: String,
    content: String,
}

#[derive(Default)]
struct Inner {
    api_key: String,
    /// Dataset id -> its chunks, in the order they were added.
    datasets: BTreeMap<String, Vec<Chunk>>,
    /// What the retrieval answers instead of searching: `(code, message)`.
    retrieval_fault: Option<(i64, String)>,
    /// `METHOD /path` of every request, oldest first.
    requests: Vec<String>,
    next_id: u64,
}

impl Inner {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{:032x}", self.next_id)
    }
}

/// RAGFlow's API server on `127.0.0.1:<free port>`, for one API key. Stops when dropped.
pub struct RagflowServer {
    port: u16,
    inner: Arc<Mutex<Inner>>,
    task: JoinHandle<()>,
}

impl RagflowServer {
    /// Starts a server accepting `api_key`, with no datasets.
    pub async fn start(api_key: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            api_key: api_key.to_owned(),
            ..Inner::default()
        }));
        let port = free_port();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("RagflowServer: bind 127.0.0.1:{port}: {e}"));
        let app = Router::new().fallback(serve).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { port, inner, task }
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates an empty dataset and returns its id.
    pub fn create_dataset(&self) -> String {
        let mut inner = lock(&self.inner);
        let id = inner.id();
        inner.datasets.insert(id.clone(), Vec::new());
        id
    }

    /// Adds a parsed document to `dataset`: one chunk per text.
    pub fn add_parsed_document(&self, dataset: &str, name: &str, texts: &[&str]) {
        let mut inner = lock(&self.inner);
        let document_id = inner.id();
        let chunks: Vec<Chunk> = texts
            .iter()
            .map(|text| Chunk {
                id: inner.id(),
                document_id: document_id.clone(),
                document_name: name.to_owned(),
                content: (*text).to_owned(),
            })
            .collect();
        inner
            .datasets
            .get_mut(dataset)
            .unwrap_or_else(|| panic!("no dataset {dataset}"))
            .extend(chunks);
    }

    /// Makes every retrieval answer RAGFlow's `code` and `message` (`None`: search again).
    pub fn fail_retrieval(&self, fault: Option<(i64, &str)>) {
        lock(&self.inner).retrieval_fault = fault.map(|(code, m)| (code, m.to_owned()));
    }

    /// `METHOD /path` of every request so far, oldest first.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.inner).requests.clone()
    }

    /// Stops serving: connections are refused from now on.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for RagflowServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

/// RAGFlow's envelope with HTTP 200, as `get_json_result`/`get_result` answer.
fn answer(code: i64, message: &str, data: Value) -> Response {
    let mut body = Map::new();
    body.insert("code".into(), json!(code));
    if code == 0 {
        body.insert("data".into(), data);
    } else {
        body.insert("message".into(), json!(message));
    }
    axum::Json(Value::Object(body)).into_response()
}

/// RAGFlow's data error (`get_error_data_result`: code 102, HTTP 200).
fn data_error(message: &str) -> Response {
    answer(102, message, Value::Null)
}

async fn serve(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    lock(&inner).requests.push(format!("{method} {path}"));
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/v1/system/ping") => "pong".into_response(),
        ("POST", "/api/v1/retrieval") => {
            let mut inner = lock(&inner);
            if !authorized(&inner, &headers) {
                return unauthorized();
            }
            match json_body(&headers, &body, &RETRIEVAL_FIELDS) {
                Ok(request) => retrieval(&mut inner, &request),
                Err(refusal) => *refusal,
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "code": 404,
                "message": format!("Not Found: {path}"),
                "data": null,
                "error": "Not Found",
            })),
        )
            .into_response(),
    }
}

/// `Authorization: Bearer <key>` with the server's key.
fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    given == Some(inner.api_key.as_str())
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"code": 401, "message": UNAUTHORIZED_MESSAGE, "data": null})),
    )
        .into_response()
}

/// A JSON object body with only documented fields, or RAGFlow's argument error (101).
fn json_body(headers: &HeaderMap, body: &[u8], fields: &[&str]) -> Result<Value, Box<Response>> {
    let refuse = |message: &str| Box::new(answer(101, message, Value::Null));
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        return Err(refuse("Content-Type must be application/json"));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| refuse(&format!("invalid JSON body: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(refuse("the body must be a JSON object"));
    };
    if let Some(unknown) = object.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(refuse(&format!("undocumented field `{unknown}`")));
    }
    Ok(value)
}

/// `POST /api/v1/retrieval`, in the order of RAGFlow's `retrieval_test`.
fn retrieval(inner: &mut Inner, request: &Value) -> Response {
    let Some(ids) = request.get("dataset_ids").filter(|v| !is_empty(v)) else {
        return data_error("`dataset_ids` is required.");
    };
    let Some(ids) = ids.as_array() else {
        return data_error("`dataset_ids` should be a list");
    };
    let ids: Vec<&str> = ids.iter().filter_map(Value::as_str).collect();
    if let Some(unknown) = ids.iter().find(|id| !inner.datasets.contains_key(**id)) {
        return data_error(&format!("You don't own the dataset {unknown}."));
    }
    let Some(question) = request.get("question") else {
        return data_error("`question` is required.");
    };
    let page_size = match request.get("page_size") {
        None => 30,
        Some(size) => match size.as_u64().filter(|s| *s > 0) {
            Some(size) => size as usize,
            None => return answer(101, "`page_size` must be a positive integer", Value::Null),
        },
    };
    if let Some((code, message)) = &inner.retrieval_fault {
        return answer(*code, message, Value::Null);
    }
    let asked = words(question.as_str().unwrap_or_default());
    let mut found: Vec<(f64, &str, &Chunk)> = ids
        .iter()
        .flat_map(|id| inner.datasets[*id].iter().map(move |chunk| (*id, chunk)))
        .filter_map(|(dataset, chunk)| {
            let content = words(&chunk.content);
            let shared = asked.iter().filter(|w| content.contains(w)).count();
            (shared > 0).then(|| (shared as f64 / asked.len() as f64, dataset, chunk))
        })
        .collect();
    found.sort_by(|a, b| b.0.total_cmp(&a.0));
    let total = found.len();
    found.truncate(page_size);
    let mut aggs: Vec<Value> = Vec::new();
    for (_, _, chunk) in &found {
        match aggs.iter_mut().find(|a| a["doc_id"] == chunk.document_id) {
            Some(agg) => agg["count"] = json!(agg["count"].as_u64().unwrap() + 1),
            None => aggs.push(
                json!({"count": 1, "doc_id": chunk.document_id, "doc_name": chunk.document_name}),
            ),
        }
    }
    let chunks: Vec<Value> = found
        .iter()
        .map(|(similarity, dataset, chunk)| {
            json!({
                "content": chunk.content,
                "content_ltks": chunk.content.to_lowercase(),
                "document_id": chunk.document_id,
                "document_keyword": chunk.document_name,
                "highlight": chunk.content,
                "id": chunk.id,
                "image_id": "",
                "important_keywords": [""],
                "tag_kwd": [],
                "dataset_id": dataset,
                "positions": [""],
                "similarity": similarity,
                "term_similarity": similarity,
                "vector_similarity": similarity,
            })
        })
        .collect();
    answer(
        0,
        "",
        json!({"chunks": chunks, "doc_aggs": aggs, "total": total}),
    )
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::String(text) => text.is_empty(),
        _ => false,
    }
}

/// The lower-case words of a text longer than three letters (no "the" or "is"), a crude
/// stand-in for RAGFlow's tokenizer.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 3)
        .map(str::to_lowercase)
        .collect()
}
