//! Query-string reading that answers bad input with our JSON 400 naming the parameter.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;

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
