//! Ingestion canaries (`[[canaries]]` of kind `ingestion`): through RAGFlow's own API, with
//! an API key, upload a small text document holding a unique sentence to a dataset kept for
//! the canary, parse it, follow its `run`/`progress` until `DONE` or `FAIL`, find the
//! sentence by retrieval, and delete the document: always, also after a failure, and the
//! documents of earlier runs (found by their name) first. It never touches another
//! document. Red names the stage; the details time each one.

use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use url::Url;

use super::retrieval::{Stage, envelope, failed, refused};
use super::{Details, Outcome, Probe, ProbeError, api_url, fetch};
use crate::config::{CanaryConfig, KeyError, RagflowApiConfig, Secret, host_port};

/// What the canary's document names start with; nothing else is ever deleted.
const NAME_PREFIX: &str = "ragwatch-canary-";

/// Earlier runs' documents looked for at once (a run leaves at most one behind).
const LEFTOVER_PAGE: usize = 100;

/// Runs one upload-parse-retrieve-delete cycle.
pub struct IngestionProbe {
    client: reqwest::Client,
    base: Url,
    api_key: Secret,
    target: String,
    timeout: Duration,
    name: String,
    dataset_id: String,
    poll: Duration,
}

/// A call's answer: RAGFlow's `data`, or the outcome of its refusal.
type Answer = Result<Value, Box<Outcome>>;

impl IngestionProbe {
    /// Reads the dataset and key from a `[[canaries]]` entry; requests go through `client`
    /// to its URL (else `[ragflow]`'s).
    pub fn new(
        config: &CanaryConfig,
        ragflow: Option<&RagflowApiConfig>,
        timeout: Duration,
        client: reqwest::Client,
    ) -> Result<Self, KeyError> {
        let base = config
            .api_url(ragflow)
            .ok_or_else(|| KeyError::new("canaries.url", "no RAGFlow API server to ask"))?;
        Ok(Self {
            client,
            target: host_port(base, 9380),
            base: base.clone(),
            api_key: config.api_key.clone(),
            timeout,
            name: config.name.clone(),
            dataset_id: config.dataset_id.clone(),
            poll: config.poll_interval,
        })
    }

    /// The URL of `path` under the API server.
    fn url(&self, path: &str) -> Result<Url, ProbeError> {
        api_url(&self.base, path).map_err(|e| ProbeError::Protocol {
            target: self.target.clone(),
            reason: format!("cannot build the request URL: {e}"),
        })
    }

    fn documents_path(&self) -> String {
        format!("api/v1/datasets/{}/documents", self.dataset_id)
    }

    /// Sends one call with the key; a refusal becomes the outcome of `stage`.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
        stage: Stage,
        doing: &str,
    ) -> Result<Answer, ProbeError> {
        let request = request.bearer_auth(self.api_key.expose());
        let (status, body) = fetch(request, &self.target, self.timeout).await?;
        Ok(envelope(status, &body, what, &self.target)?
            .map_err(|refusal| Box::new(refused(refusal, stage, doing))))
    }

    /// The canary's own documents in the dataset (by name), as `(id, name)`.
    async fn own_documents(&self) -> Result<Result<Vec<String>, Box<Outcome>>, ProbeError> {
        let mut url = self.url(&self.documents_path())?;
        url.query_pairs_mut()
            .append_pair("keywords", &self.name_prefix())
            .append_pair("page_size", &LEFTOVER_PAGE.to_string());
        let what = format!("GET /{}", self.documents_path());
        let data = match self
            .call(
                self.client.get(url),
                &what,
                Stage::Leftovers,
                "listing documents",
            )
            .await?
        {
            Ok(data) => data,
            Err(outcome) => return Ok(Err(outcome)),
        };
        let docs = data["docs"].as_array().cloned().unwrap_or_default();
        Ok(Ok(docs
            .iter()
            .filter(|doc| {
                (doc["name"].as_str()).is_some_and(|name| name.starts_with(&self.name_prefix()))
            })
            .filter_map(|doc| doc["id"].as_str().map(str::to_owned))
            .collect()))
    }

    /// `ragwatch-canary-<name>-`: what this canary's document names start with.
    fn name_prefix(&self) -> String {
        format!("{NAME_PREFIX}{}-", self.name)
    }

    /// Deletes the canary's documents `ids`.
    async fn delete(&self, ids: &[String], stage: Stage) -> Result<Answer, ProbeError> {
        let request =
            (self.client.delete(self.url(&self.documents_path())?)).json(&json!({"ids": ids}));
        let what = format!("DELETE /{}", self.documents_path());
        self.call(request, &what, stage, "deleting the canary's document")
            .await
    }

    /// Uploads, parses, waits and retrieves, noting the uploaded document's id in
    /// `uploaded` so that it is deleted whatever happens next.
    async fn cycle(
        &self,
        deadline: Instant,
        uploaded: &mut Option<String>,
        details: &mut Details,
    ) -> Result<Outcome, ProbeError> {
        let token = unique_token();
        let file_name = format!("{}{token}.txt", self.name_prefix());
        let sentence = format!("ragwatch canary {} passphrase {token}", self.name);

        let started = Instant::now();
        let form = Form::new().part(
            "file",
            Part::bytes(format!("{sentence}\n").into_bytes())
                .file_name(file_name)
                .mime_str("text/plain")
                .expect("a valid MIME type"),
        );
        let request = self
            .client
            .post(self.url(&self.documents_path())?)
            .multipart(form);
        let what = format!("POST /{}", self.documents_path());
        let data = match self.call(request, &what, Stage::Upload, "upload").await? {
            Ok(data) => data,
            Err(outcome) => return Ok(*outcome),
        };
        let Some(id) = data[0]["id"].as_str() else {
            return Err(ProbeError::Protocol {
                target: self.target.clone(),
                reason: format!("{what} answered code 0 without the document's id"),
            });
        };
        *uploaded = Some(id.to_owned());
        insert_ms(details, Stage::Upload, started.elapsed());

        let path = format!("api/v1/datasets/{}/chunks", self.dataset_id);
        let request = (self.client.post(self.url(&path)?)).json(&json!({"document_ids": [id]}));
        if let Err(outcome) = self
            .call(
                request,
                &format!("POST /{path}"),
                Stage::Parse,
                "starting the parse",
            )
            .await?
        {
            return Ok(*outcome);
        }

        let queued = Instant::now();
        let mut began: Option<Instant> = None;
        loop {
            let mut url = self.url(&self.documents_path())?;
            url.query_pairs_mut().append_pair("id", id);
            let what = format!("GET /{}", self.documents_path());
            let data = match self
                .call(
                    self.client.get(url),
                    &what,
                    Stage::Parsing,
                    "reading the parse status",
                )
                .await?
            {
                Ok(data) => data,
                Err(outcome) => return Ok(*outcome),
            };
            let doc = &data["docs"][0];
            let run = doc["run"].as_str().unwrap_or_default();
            let progress = doc["progress"].as_f64().unwrap_or_default();
            let message = last_line(doc["progress_msg"].as_str().unwrap_or_default());
            if began.is_none() && (progress > 0.0 || run == "DONE") {
                began = Some(Instant::now());
                insert_ms(details, Stage::Queue, queued.elapsed());
            }
            match run {
                "DONE" => break,
                "FAIL" => {
                    let problem = format!("parsing failed: {message}");
                    return Ok(failed(Stage::Parsing, problem, details.clone()));
                }
                "CANCEL" => {
                    let problem = "parsing failed: the parse was cancelled".to_owned();
                    return Ok(failed(Stage::Parsing, problem, details.clone()));
                }
                _ => {}
            }
            if Instant::now() + self.poll > deadline {
                return Ok(match began {
                    None => failed(
                        Stage::Queue,
                        format!(
                            "queued for {}: no executor took the task",
                            seconds(queued.elapsed())
                        ),
                        details.clone(),
                    ),
                    Some(began) => failed(
                        Stage::Parsing,
                        format!(
                            "parsing not done after {} (progress {:.0}%): {message}",
                            seconds(began.elapsed()),
                            progress * 100.0
                        ),
                        details.clone(),
                    ),
                });
            }
            // Waiting is this canary's job: a parse takes a task executor seconds to
            // minutes, and the deadline (inside the timeout) bounds it.
            tokio::time::sleep(self.poll).await;
        }
        let parsed = began.unwrap_or(queued);
        insert_ms(details, Stage::Parsing, parsed.elapsed());

        // Indexing may trail `DONE` by a moment: ask until the sentence is found.
        let done = Instant::now();
        let body =
            json!({"question": sentence, "dataset_ids": [self.dataset_id], "document_ids": [id]});
        loop {
            let request = self.client.post(self.url("api/v1/retrieval")?).json(&body);
            let answer = self
                .call(
                    request,
                    "POST /api/v1/retrieval",
                    Stage::Retrievable,
                    "parsed but not retrievable: retrieval",
                )
                .await?;
            let data = match answer {
                Ok(data) => data,
                Err(outcome) => return Ok(*outcome),
            };
            let chunks = data["chunks"].as_array().cloned().unwrap_or_default();
            let found = chunks.iter().any(|c| {
                c["content"]
                    .as_str()
                    .is_some_and(|text| text.contains(&token))
            });
            if found {
                insert_ms(details, Stage::Retrievable, done.elapsed());
                return Ok(Outcome::green(details.clone()));
            }
            if Instant::now() + self.poll > deadline {
                let problem = format!(
                    "parsed but not retrievable: the document's sentence was not found in {} ({} chunks returned)",
                    seconds(done.elapsed()),
                    chunks.len()
                );
                return Ok(failed(Stage::Retrievable, problem, details.clone()));
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

impl Probe for IngestionProbe {
    async fn check(&self) -> Result<Outcome, ProbeError> {
        // A tenth of the timeout is kept for deleting the document after a stage ran out of
        // time: the wrapper cancels the probe at the timeout, cleanup included.
        let deadline = Instant::now() + self.timeout - self.timeout / 10;
        let mut details = Details::new();
        let leftovers = match self.own_documents().await? {
            Ok(ids) => ids,
            Err(outcome) => return Ok(*outcome),
        };
        if !leftovers.is_empty() {
            if let Err(outcome) = self.delete(&leftovers, Stage::Leftovers).await? {
                return Ok(*outcome);
            }
            details.insert("leftovers_deleted".into(), json!(leftovers.len()));
        }
        let mut uploaded = None;
        let outcome = self.cycle(deadline, &mut uploaded, &mut details).await;
        let Some(id) = uploaded else {
            return outcome;
        };
        let cleanup = self.delete(&[id], Stage::Cleanup).await;
        match (outcome, cleanup) {
            // The first failure is the story; a failed cleanup is found by the next run.
            (Err(error), _) => Err(error),
            (Ok(outcome), _) if outcome.status == super::Status::Red => Ok(outcome),
            (Ok(_), Err(error)) => Err(error),
            (Ok(_), Ok(Err(refusal))) => Ok(*refusal),
            (Ok(outcome), Ok(Ok(_))) => Ok(outcome),
        }
    }
}

/// A token no earlier run used: the time in nanoseconds and the process id, in hex.
fn unique_token() -> String {
    let nanos = jiff::Timestamp::now().as_nanosecond();
    format!("{nanos:x}{:x}", std::process::id())
}

/// The stages an ingestion times, in order.
const TIMED_STAGES: [Stage; 4] = [
    Stage::Upload,
    Stage::Queue,
    Stage::Parsing,
    Stage::Retrievable,
];

/// Notes how long `stage` took, as `<stage>_ms`.
fn insert_ms(details: &mut Details, stage: Stage, elapsed: Duration) {
    let key = format!("{}_ms", stage.as_str());
    details.insert(key, json!(elapsed.as_millis() as u64));
}

/// The stage times an ingestion canary's result holds, as `(stage, seconds)`.
pub fn stage_seconds(details: &Details) -> Vec<(&'static str, f64)> {
    TIMED_STAGES
        .iter()
        .filter_map(|stage| {
            let ms = details.get(&format!("{}_ms", stage.as_str()))?.as_f64()?;
            Some((stage.as_str(), ms / 1000.0))
        })
        .collect()
}

fn seconds(elapsed: Duration) -> String {
    format!("{:.1} s", elapsed.as_secs_f64())
}

/// The last line of RAGFlow's `progress_msg` (a log of the whole parse), cut short.
fn last_line(message: &str) -> String {
    let line = message
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    line.chars().take(300).collect()
}
