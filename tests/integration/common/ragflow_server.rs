//! [`RagflowServer`]: a stand-in for RAGFlow's HTTP API server, for the canaries. It keeps
//! the contract of RAGFlow's API reference (`docs/references/http_api_reference.md`) and of
//! its handlers and REST tests, checked on every request: the paths and methods, the
//! `Authorization: Bearer <API key>` (else its 401 body), the JSON body's documented fields
//! (an unknown one is refused, so a misspelt field fails a test), and its response envelope
//! `{"code", "message", "data"}` with RAGFlow's codes and messages. It keeps real state:
//! datasets hold documents and chunks; an uploaded document is parsed in steps, its `run`
//! and `progress` advancing each time its status is read, and only once `DONE` do its
//! chunks exist; a retrieval finds the chunks that share words with the question. It can be
//! told to fail the retrieval, or the parse at each stage, as RAGFlow does.

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

/// A document of a dataset, with RAGFlow's parse status.
#[derive(Clone, Debug)]
struct Document {
    id: String,
    name: String,
    content: String,
    run: &'static str,
    progress: f64,
    progress_msg: String,
}

/// How the parse of an uploaded document goes.
#[derive(Clone, Debug, Default)]
pub enum ParseFault {
    /// Queued, taken, parsed, indexed.
    #[default]
    None,
    /// Queued for ever: no task executor takes it.
    NeverStarts,
    /// Taken, then `FAIL` with this error in `progress_msg`.
    Fails(String),
    /// `DONE`, but its chunks never reach the index.
    NotIndexed,
}

#[derive(Default)]
struct Inner {
    /// Dataset id -> its documents.
    documents: BTreeMap<String, Vec<Document>>,
    parse_fault: ParseFault,
    /// What the upload answers instead of storing: `(code, message)`.
    upload_fault: Option<(i64, String)>,
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
        inner.documents.insert(id.clone(), Vec::new());
        id
    }

    /// Adds a parsed document to `dataset`: one chunk per text.
    pub fn add_parsed_document(&self, dataset: &str, name: &str, texts: &[&str]) {
        let mut inner = lock(&self.inner);
        let document_id = inner.id();
        let document = Document {
            id: document_id.clone(),
            name: name.to_owned(),
            content: texts.join("\n"),
            run: "DONE",
            progress: 1.0,
            progress_msg: String::new(),
        };
        documents(&mut inner, dataset).push(document);
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

    /// How the parses go from now on.
    pub fn fail_parse(&self, fault: ParseFault) {
        lock(&self.inner).parse_fault = fault;
    }

    /// Makes every upload answer RAGFlow's `code` and `message` (`None`: store again).
    pub fn fail_upload(&self, fault: Option<(i64, &str)>) {
        lock(&self.inner).upload_fault = fault.map(|(code, m)| (code, m.to_owned()));
    }

    /// The names of the documents in `dataset`, oldest first.
    pub fn document_names(&self, dataset: &str) -> Vec<String> {
        let inner = lock(&self.inner);
        inner.documents[dataset]
            .iter()
            .map(|d| d.name.clone())
            .collect()
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

fn documents<'a>(inner: &'a mut Inner, dataset: &str) -> &'a mut Vec<Document> {
    inner
        .documents
        .get_mut(dataset)
        .unwrap_or_else(|| panic!("no dataset {dataset}"))
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
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let ["api", "v1", "datasets", dataset, what] = segments.as_slice() {
        let mut inner = lock(&inner);
        if !authorized(&inner, &headers) {
            return unauthorized();
        }
        if !inner.datasets.contains_key(*dataset) {
            return data_error(&format!("You don't own the dataset {dataset}."));
        }
        let json = |fields: &[&str]| json_body(&headers, &body, fields);
        return match (method.as_str(), *what) {
            ("POST", "documents") => upload(&mut inner, dataset, &headers, &body),
            ("GET", "documents") => list(&mut inner, dataset, uri.query().unwrap_or_default()),
            ("DELETE", "documents") => match json(&["ids", "delete_all"]) {
                Ok(request) => delete(&mut inner, dataset, &request),
                Err(refusal) => *refusal,
            },
            ("POST", "chunks") => match json(&["document_ids"]) {
                Ok(request) => parse(&mut inner, dataset, &request),
                Err(refusal) => *refusal,
            },
            _ => not_found(&path),
        };
    }
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
        _ => not_found(&path),
    }
}

/// RAGFlow's 404 for a path it does not serve.
fn not_found(path: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "code": 404,
            "message": format!("Not Found: {path}"),
            "data": null,
            "error": "Not Found",
        })),
    )
        .into_response()
}

/// The `file` parts of a `multipart/form-data` body, as `(file name, content)`; `None` when
/// the body is not multipart or holds another field.
fn files(headers: &HeaderMap, body: &[u8]) -> Option<Vec<(String, String)>> {
    let content_type = headers.get("content-type")?.to_str().ok()?;
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")?
        .trim_matches('"');
    let body = String::from_utf8_lossy(body);
    let mut files = Vec::new();
    for part in body.split(&format!("--{boundary}")).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let (head, content) = part.trim_start_matches("\r\n").split_once("\r\n\r\n")?;
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        if !disposition.contains("name=\"file\"") {
            return None;
        }
        let name = disposition.split("filename=\"").nth(1)?.split('"').next()?;
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        files.push((name.to_owned(), content.to_owned()));
    }
    (!files.is_empty()).then_some(files)
}

/// `POST /api/v1/datasets/{id}/documents` (`type=local`): multipart `file` fields.
fn upload(inner: &mut Inner, dataset: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let Some(files) = files(headers, body) else {
        return answer(101, "No file part!", Value::Null);
    };
    if let Some((code, message)) = &inner.upload_fault {
        return answer(*code, message, Value::Null);
    }
    let mut uploaded = Vec::new();
    for (name, content) in files {
        let document = Document {
            id: inner.id(),
            name,
            content,
            run: "UNSTART",
            progress: 0.0,
            progress_msg: String::new(),
        };
        uploaded.push(json!({
            "chunk_method": "naive",
            "dataset_id": dataset,
            "id": document.id,
            "location": document.name,
            "name": document.name,
            "run": document.run,
            "size": document.content.len(),
            "thumbnail": "",
            "type": "doc",
        }));
        documents(inner, dataset).push(document);
    }
    answer(0, "", Value::Array(uploaded))
}

/// `GET /api/v1/datasets/{id}/documents?id=&keywords=&page_size=`. Reading a document in
/// progress advances its parse one step, as a task executor would meanwhile.
fn list(inner: &mut Inner, dataset: &str, query: &str) -> Response {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let id = param("id");
    let keywords = param("keywords").map(|k| k.to_lowercase());
    let page_size: usize = param("page_size").map_or(30, |s| s.parse().expect("page_size"));
    if let Some(id) = &id {
        advance(inner, dataset, id);
    }
    let docs: Vec<Value> = inner.documents[dataset]
        .iter()
        .filter(|d| id.as_ref().is_none_or(|id| &d.id == id))
        .filter(|d| (keywords.as_ref()).is_none_or(|k| d.name.to_lowercase().contains(k)))
        .take(page_size)
        .map(|d| {
            json!({
                "chunk_count": inner.datasets[dataset].iter().filter(|c| c.document_id == d.id).count(),
                "id": d.id,
                "knowledgebase_id": dataset,
                "location": d.name,
                "name": d.name,
                "chunk_method": "naive",
                "progress": d.progress,
                "progress_msg": d.progress_msg,
                "run": d.run,
                "size": d.content.len(),
                "source_type": "local",
                "status": "1",
                "type": "doc",
            })
        })
        .collect();
    let total = docs.len();
    answer(0, "", json!({"docs": docs, "total_datasets": total}))
}

/// One step of a running parse: taken (progress 0.5), then `DONE` with its chunk indexed,
/// or `FAIL`, as the fault says.
fn advance(inner: &mut Inner, dataset: &str, id: &str) {
    let fault = inner.parse_fault.clone();
    let chunk_id = inner.id();
    let Some(doc) = documents(inner, dataset).iter_mut().find(|d| d.id == id) else {
        return;
    };
    if doc.run != "RUNNING" {
        return;
    }
    match (&fault, doc.progress == 0.0) {
        (ParseFault::NeverStarts, _) => {}
        (_, true) => {
            doc.progress = 0.5;
            doc.progress_msg = "Task has been received.\nPage(1~100000000): Start to parse.".into();
        }
        (ParseFault::Fails(error), false) => {
            doc.run = "FAIL";
            doc.progress = -1.0;
            doc.progress_msg = format!("{}\n[ERROR]{error}", doc.progress_msg);
        }
        (_, false) => {
            doc.run = "DONE";
            doc.progress = 1.0;
            doc.progress_msg = format!("{}\nIndexing done.", doc.progress_msg);
            let chunk = Chunk {
                id: chunk_id,
                document_id: doc.id.clone(),
                document_name: doc.name.clone(),
                content: doc.content.clone(),
            };
            if !matches!(fault, ParseFault::NotIndexed) {
                inner.datasets.get_mut(dataset).unwrap().push(chunk);
            }
        }
    }
}

/// `POST /api/v1/datasets/{id}/chunks`: queues the documents' parse.
fn parse(inner: &mut Inner, dataset: &str, request: &Value) -> Response {
    let Some(ids) = request["document_ids"]
        .as_array()
        .filter(|ids| !ids.is_empty())
    else {
        return data_error("`document_ids` is required");
    };
    for id in ids {
        let id = id.as_str().unwrap_or_default();
        let Some(doc) = documents(inner, dataset).iter_mut().find(|d| d.id == id) else {
            return data_error(&format!("You don't own the document {id}."));
        };
        if doc.run == "RUNNING" {
            return data_error("Can't parse document that is currently being processed");
        }
        doc.run = "RUNNING";
        doc.progress = 0.0;
        doc.progress_msg = String::new();
    }
    answer(0, "", Value::Null)
}

/// `DELETE /api/v1/datasets/{id}/documents` with `ids`; the canary never sends
/// `delete_all`, which the stand-in refuses.
fn delete(inner: &mut Inner, dataset: &str, request: &Value) -> Response {
    if request.get("delete_all").is_some() {
        return answer(
            101,
            "stand-in: a canary must never send delete_all",
            Value::Null,
        );
    }
    let ids: Vec<String> = (request["ids"].as_array().cloned().unwrap_or_default())
        .iter()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !inner.documents[dataset].iter().any(|d| &&d.id == id))
        .collect();
    if !missing.is_empty() {
        return data_error(&format!("Documents not found: {missing:?}"));
    }
    documents(inner, dataset).retain(|d| !ids.contains(&d.id));
    (inner.datasets.get_mut(dataset).unwrap()).retain(|c| !ids.contains(&c.document_id));
    answer(0, "", Value::Null)
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
        .filter(|(_, chunk)| {
            (request["document_ids"].as_array())
                .is_none_or(|ids| ids.iter().any(|d| d == chunk.document_id.as_str()))
        })
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
