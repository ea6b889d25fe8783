//! `GET /livez` and `GET /readyz`, in the Kubernetes API server's style: plain text `ok`,
//! or with `?verbose` one `[+]name ok` / `[-]name failed: reason` line per check and a
//! closing verdict. `?exclude=name` (repeatable) leaves a check out of readiness. Reasons
//! come from outside (executor names, servers' errors), so each is kept to one line, its
//! control characters escaped, and cut at [`MAX_REASON_CHARS`]. `GET /startedz` says
//! whether ragwatch itself is ready, whatever its dependencies do.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::extract::QueryParams;
use crate::monitor::all_required_ok;

/// The longest reason a readyz line shows, in characters; longer ones end in "…".
pub const MAX_REASON_CHARS: usize = 500;

/// The process serves requests.
#[utoipa::path(
    get,
    path = "/livez",
    tag = "kubernetes",
    params(("verbose" = Option<bool>, Query, description = "List the check")),
    responses((status = 200, description = "`ok`", content_type = "text/plain", body = String))
)]
pub async fn livez(params: QueryParams) -> Result<Response, ApiError> {
    let body = if params.flag("verbose")? {
        "[+]ping ok\nlivez check passed\n"
    } else {
        "ok"
    };
    Ok(text(StatusCode::OK, body.to_owned()))
}

/// ragwatch itself is ready: its configuration is loaded, it serves, and its first round of
/// probes is done. It says nothing of the dependencies (that is `/readyz`), so an outage of
/// RAGFlow's Redis never makes ragwatch's own pod unready.
#[utoipa::path(
    get,
    path = "/startedz",
    tag = "kubernetes",
    params(("verbose" = Option<bool>, Query, description = "List the check")),
    responses(
        (status = 200, description = "`ok`", content_type = "text/plain", body = String),
        (status = 503, description = "The first round of probes could not be done", content_type = "text/plain", body = String),
        (status = 400, description = "Bad parameter", body = ApiError),
    )
)]
pub async fn startedz(
    State(state): State<Arc<AppState>>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let verbose = params.flag("verbose")?;
    // As healthz and readyz, the first request waits for the first round (at most a timeout).
    if state.monitor.snapshot().is_incomplete() {
        state.monitor.refresh_missing().await;
    }
    let started = !state.monitor.snapshot().is_incomplete();
    let (status, line) = if started {
        (StatusCode::OK, "[+]first-round ok\nstartedz check passed\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "[-]first-round failed: the first round of probes is not done yet\nstartedz check failed\n",
        )
    };
    let body = match (verbose, started) {
        (false, true) => "ok".to_owned(),
        _ => line.to_owned(),
    };
    Ok(text(status, body))
}

/// Every required component is ok.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "kubernetes",
    params(
        ("verbose" = Option<bool>, Query, description = "List every check with its reason"),
        ("exclude" = Option<Vec<String>>, Query, description = "Leave these components out (repeatable)"),
    ),
    responses(
        (status = 200, description = "`ok`, or the checks", content_type = "text/plain", body = String),
        (status = 500, description = "The checks, `[-]` for the failed ones", content_type = "text/plain", body = String),
        (status = 400, description = "Bad parameter", body = ApiError),
    )
)]
pub async fn readyz(
    State(state): State<Arc<AppState>>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let verbose = params.flag("verbose")?;
    let monitor = &state.monitor;
    let components = monitor.components();
    let excluded: Vec<&str> = params.all("exclude").collect();
    if let Some(unknown) = excluded
        .iter()
        .find(|name| !components.iter().any(|c| c.key.as_str() == **name))
    {
        return Err(ApiError::bad_parameter(
            "exclude",
            format!("parameter `exclude` names no check: {unknown}"),
        ));
    }
    if monitor.snapshot().is_incomplete() {
        monitor.refresh_missing().await;
    }
    let snapshot = monitor.snapshot();
    let verdicts = snapshot.verdicts(components, Instant::now());
    let judged = components.iter().zip(&verdicts);
    let mut passed = all_required_ok(
        judged
            .clone()
            .filter(|(c, _)| !excluded.contains(&c.key.as_str())),
    );
    let mut lines = String::new();
    for (component, verdict) in judged {
        let key = component.key.as_str();
        if excluded.contains(&key) {
            lines.push_str(&format!("[+]{key} excluded: ok\n"));
        } else if verdict.status.is_ok() {
            match &verdict.error {
                Some(why) => lines.push_str(&format!("[+]{key} ok (yellow: {})\n", reason(why))),
                None => lines.push_str(&format!("[+]{key} ok\n")),
            }
        } else {
            let optional = if component.required {
                ""
            } else {
                " (not required)"
            };
            let error = reason(verdict.error.as_deref().unwrap_or_default());
            match verdict.cause_text() {
                Some(cause) => lines.push_str(&format!(
                    "[-]{key} unknown{optional}: {} ({error})\n",
                    reason(&cause)
                )),
                None => lines.push_str(&format!("[-]{key} failed{optional}: {error}\n")),
            }
        }
    }
    if let Some(history) = &state.history {
        let required = state.history_required;
        match &history.health().error {
            None => lines.push_str("[+]history ok\n"),
            Some(error) => {
                passed &= !required;
                let optional = if required { "" } else { " (not required)" };
                lines.push_str(&format!("[-]history failed{optional}: {}\n", reason(error)));
            }
        }
    }
    // A receiver that cannot be reached is reported, but never fails readiness.
    for receiver in state
        .alerts
        .as_ref()
        .map(|a| a.health())
        .unwrap_or_default()
    {
        let name = reason(&receiver.name);
        match receiver.error {
            None => lines.push_str(&format!("[+]alerts {name} ok\n")),
            Some(error) => lines.push_str(&format!(
                "[-]alerts {name} failed (not required): {}\n",
                reason(&error)
            )),
        }
    }
    let status = if passed {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let body = match (verbose, passed) {
        (false, true) => "ok".to_owned(),
        (_, true) => format!("{lines}readyz check passed\n"),
        (_, false) => format!("{lines}readyz check failed\n"),
    };
    Ok(text(status, body))
}

/// `text` on one line, control characters escaped (`\n`, `\u{1b}`), at most
/// [`MAX_REASON_CHARS`] characters.
fn reason(text: &str) -> String {
    let mut shown = String::new();
    let mut count = 0;
    for c in text.chars() {
        let escaped = c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
        for c in c
            .escape_default()
            .filter(|_| escaped)
            .chain((!escaped).then_some(c))
        {
            if count == MAX_REASON_CHARS {
                shown.push('…');
                return shown;
            }
            shown.push(c);
            count += 1;
        }
    }
    shown
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_stay_on_one_short_line() {
        assert_eq!(reason("plain: 42 ok"), "plain: 42 ok");
        assert_eq!(reason("a\nb\r\tc\u{1b}"), r"a\nb\r\tc\u{1b}");
        assert_eq!(reason("quote \" and \\ stay"), "quote \" and \\ stay");
        let long = reason(&"é".repeat(2 * MAX_REASON_CHARS));
        assert_eq!(long.chars().count(), MAX_REASON_CHARS + 1);
        assert!(long.ends_with("é…"));
        assert_eq!(
            reason(&"x".repeat(MAX_REASON_CHARS)),
            "x".repeat(MAX_REASON_CHARS)
        );
    }
}
