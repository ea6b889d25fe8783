//! Reading a request's input so that bad input gets our JSON 400: query parameters (naming
//! the parameter), and paths that are not UTF-8 once percent-decoded (which axum's `Path`
//! would refuse in plain text).

use jiff::Timestamp;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Refuses a path that is not UTF-8 once percent-decoded, before any route reads it.
pub async fn require_utf8_path(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .is_err()
    {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the path {path} is not UTF-8 once percent-decoded"),
        )
        .into_response();
    }
    next.run(request).await
}

/// The raw query parameters of a request, in order.
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Self(
            url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl QueryParams {
    /// A yes/no parameter: absent is false; present bare (`?verbose`), `1` or `true` is
    /// true; `0` or `false` is false; anything else is a 400 naming it.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.last(name) {
            None => Ok(false),
            Some(value) => match value {
                "" | "1" | "true" => Ok(true),
                "0" | "false" => Ok(false),
                _ => Err(ApiError::bad_parameter(
                    name,
                    format!("parameter `{name}` must be 1, true, 0 or false"),
                )),
            },
        }
    }

    /// The last value of a parameter, if present.
    pub fn last(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A time, as unix seconds (`1735785062.5`) or RFC 3339 (`2025-01-02T02:31:02Z`), to
    /// the millisecond.
    pub fn time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        let Some(raw) = self.last(name) else {
            return Ok(None);
        };
        let milliseconds = match raw.parse::<f64>() {
            Ok(seconds) if seconds.is_finite() && seconds.abs() < 1e11 => {
                Some((seconds * 1000.0).round() as i64)
            }
            Ok(_) => None,
            Err(_) => raw.parse::<Timestamp>().ok().map(|t| t.as_millisecond()),
        };
        let parsed = milliseconds.and_then(|ms| Timestamp::from_millisecond(ms).ok());
        parsed.map(Some).ok_or_else(|| {
            ApiError::bad_parameter(
                name,
                format!("parameter `{name}` must be unix seconds or an RFC 3339 time, not {raw:?}"),
            )
        })
    }

    /// A duration, as text (`5m`, `1h`) or seconds (`300`), at least `min`.
    pub fn duration(&self, name: &str, min: Duration) -> Result<Option<Duration>, ApiError> {
        let Some(raw) = self.last(name) else {
            return Ok(None);
        };
        let parsed = match raw.parse::<u64>() {
            Ok(seconds) => Some(Duration::from_secs(seconds)),
            Err(_) => humantime::parse_duration(raw).ok(),
        };
        match parsed {
            Some(duration) if duration >= min => Ok(Some(duration)),
            _ => Err(ApiError::bad_parameter(
                name,
                format!(
                    "parameter `{name}` must be a duration of at least {} (e.g. \"5m\" or 300), not {raw:?}",
                    humantime::format_duration(min)
                ),
            )),
        }
    }

    /// A whole number between `min` and `max`.
    pub fn number(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.last(name) else {
            return Ok(None);
        };
        match raw.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::bad_parameter(
                name,
                format!(
                    "parameter `{name}` must be a whole number from {min} to {max}, not {raw:?}"
                ),
            )),
        }
    }

    /// Every value of a repeatable parameter.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn times_are_unix_seconds_or_rfc3339() {
        let cases = [
            ("unix seconds", "1735785062.5", Some(1_735_785_062_500)),
            ("utc", "2025-01-02T02:31:02Z", Some(1_735_785_062_000)),
            (
                "offset",
                "2025-01-02T10:31:02+08:00",
                Some(1_735_785_062_000),
            ),
            ("words", "yesterday", None),
            ("nan", "NaN", None),
            ("absurd", "1e300", None),
        ];
        for (name, raw, expected) in cases {
            let got = params(&[("since", raw)])
                .time("since")
                .ok()
                .flatten()
                .map(|t| t.as_millisecond());
            assert_eq!(got, expected, "case {name}");
        }
    }

    #[test]
    fn durations_are_text_or_seconds_above_a_minimum() {
        let minute = Duration::from_secs(60);
        let cases = [
            ("text", "5m", Some(300)),
            ("seconds", "3600", Some(3600)),
            ("too short", "10s", None),
            ("garbage", "often", None),
        ];
        for (name, raw, expected) in cases {
            let got = params(&[("step", raw)])
                .duration("step", minute)
                .ok()
                .flatten()
                .map(|d| d.as_secs());
            assert_eq!(got, expected, "case {name}");
        }
    }

    #[test]
    fn flags_accept_documented_spellings_only() {
        let cases = [
            ("bare", vec![("fresh", "")], Some(true)),
            ("one", vec![("fresh", "1")], Some(true)),
            ("true", vec![("fresh", "true")], Some(true)),
            ("zero", vec![("fresh", "0")], Some(false)),
            ("absent", vec![("other", "1")], Some(false)),
            ("garbage", vec![("fresh", "yes please")], None),
        ];
        for (name, pairs, expected) in cases {
            let got = params(&pairs).flag("fresh").ok();
            assert_eq!(got, expected, "case {name}");
        }
    }
}
