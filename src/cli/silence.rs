//! `ragwatch silence`: makes, lists or deletes silences through the running server's API
//! (`/api/v1/silences` at `server.listen`), with the token of `--token` (or
//! `RAGWATCH_API_TOKEN`), else the first of `server.tokens`, else none (a loopback client
//! needs none while no tokens are configured).

use anyhow::{Context, anyhow};
use clap::Args;
use serde_json::{Value, json};

use super::{Exit, Failure, local_address, write_stdout};
use crate::config::Config;

/// How long the server has to answer.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `ragwatch silence COMPONENTS DURATION [--comment TEXT]`, `--list`, `--delete ID`.
#[derive(Debug, Args)]
pub struct SilenceArgs {
    /// Component keys, comma-separated (`redis,db`), or `all`.
    #[arg(required_unless_present_any = ["list", "delete"])]
    components: Option<String>,
    /// How long (`30m`, `2h`; at most 30 days).
    #[arg(required_unless_present_any = ["list", "delete"])]
    duration: Option<String>,
    /// Why (shown with the silence).
    #[arg(long, default_value = "")]
    comment: String,
    /// List the active silences instead.
    #[arg(long, conflicts_with_all = ["components", "delete"])]
    list: bool,
    /// Delete this silence instead (what it held back is sent).
    #[arg(long, value_name = "ID", conflicts_with = "components")]
    delete: Option<i64>,
    /// Bearer token for the API; default: the first of server.tokens.
    #[arg(long, env = "RAGWATCH_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Runs `ragwatch silence`.
pub async fn silence(config: &Config, args: SilenceArgs) -> Result<Exit, Failure> {
    let base = format!("http://{}/api/v1/silences", local_address(config));
    let token = args
        .token
        .clone()
        .or_else(|| config.server.tokens.first().map(|t| t.expose().to_owned()));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
        .context("cannot make an HTTP client")?;
    let authorised = |request: reqwest::RequestBuilder| match &token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let text = if args.list {
        let body = answer(authorised(client.get(&base)), &base).await?;
        let mut out = format!("{:<6} {:<26} {:<30} COMMENT\n", "ID", "UNTIL", "COMPONENTS");
        for silence in body["silences"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "{:<6} {:<26} {:<30} {}\n",
                silence["id"],
                silence["until"].as_str().unwrap_or(""),
                components(silence),
                silence["comment"].as_str().unwrap_or("")
            ));
        }
        out
    } else if let Some(id) = args.delete {
        let url = format!("{base}/{id}");
        answer(authorised(client.delete(&url)), &url).await?;
        format!("silence {id} deleted\n")
    } else {
        let keys: Vec<&str> = match args.components.as_deref().unwrap_or_default() {
            "all" => Vec::new(),
            list => list.split(',').map(str::trim).collect(),
        };
        let body = json!({
            "components": keys,
            "duration": args.duration,
            "comment": args.comment,
        });
        let made = answer(authorised(client.post(&base).json(&body)), &base).await?;
        format!(
            "silence {}: {} until {}\n",
            made["id"],
            components(&made),
            made["until"].as_str().unwrap_or("")
        )
    };
    write_stdout(&text)?;
    Ok(Exit::Ok)
}

/// A silence's components, `all` when it names none.
fn components(silence: &Value) -> String {
    let keys: Vec<&str> = silence["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if keys.is_empty() {
        "all".to_owned()
    } else {
        keys.join(",")
    }
}

/// The answer's JSON (null for an empty one), or the API's error message.
async fn answer(request: reqwest::RequestBuilder, url: &str) -> Result<Value, Failure> {
    let response = request
        .send()
        .await
        .with_context(|| format!("ragwatch does not answer at {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if !status.is_success() {
        let message = value["message"].as_str().unwrap_or(body.as_str());
        return Err(anyhow!("{url} answered HTTP {}: {message}", status.as_u16()).into());
    }
    Ok(value)
}
