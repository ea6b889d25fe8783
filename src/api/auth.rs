//! Bearer tokens for protected endpoints. With no `server.tokens` configured every endpoint
//! is open; otherwise a request needs `Authorization: Bearer <token>` naming one of them,
//! compared in constant time. The scheme's case does not matter (RFC 9110, section 11.1).
//! A refusal says what RAGFlow's own API server says, word for word, since RAGFlow's clients
//! and system tests check it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;

/// RAGFlow's message for a request without a bearer token.
const MISSING: &str = "Missing Authorization header";
/// RAGFlow's message for a token it does not know.
const INVALID: &str = "Invalid access token";

/// Lets a request through when it carries a configured token (or none are configured).
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.tokens.is_empty() {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let message = match presented {
        None => MISSING,
        Some(token) => {
            // Check every token, so the time taken does not tell which one nearly matched.
            let known = state.tokens.iter().fold(false, |found, candidate| {
                found | bool::from(candidate.expose().as_bytes().ct_eq(token.as_bytes()))
            });
            if known {
                return next.run(request).await;
            }
            INVALID
        }
    };
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}
