//! Who may read the protected endpoints. With `server.tokens` configured, a request needs
//! `Authorization: Bearer <token>` naming one of them, compared in constant time; the
//! scheme's case does not matter (RFC 9110, section 11.1). A refusal says what RAGFlow's
//! own API server says, word for word, since RAGFlow's clients and system tests check it.
//!
//! With no tokens, the endpoints holding tenant data (document names, tenant ids, RAGFlow's
//! error texts) answer loopback clients only, unless `server.open`. The client is judged by
//! the TCP connection's peer address, never by a forwarding header a client can write: a
//! reverse proxy on the same host is a loopback client, so it must bring its own access rule.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;

/// RAGFlow's message for a request without a bearer token.
const MISSING: &str = "Missing Authorization header";
/// RAGFlow's message for a token it does not know.
const INVALID: &str = "Invalid access token";
/// The refusal of a client that is not on loopback while no tokens are configured.
const LOOPBACK_ONLY: &str = "ragwatch has no server.tokens, so it serves this to loopback clients only: \
     set server.tokens (or RAGWATCH_SERVER__TOKENS) and send Authorization: Bearer <token>, \
     or set server.open = true to serve every client";
/// Marks [`LOOPBACK_ONLY`] refusals, so that the System page says no token can help.
const ACCESS: HeaderName = HeaderName::from_static("x-ragwatch-access");

/// For endpoints without tenant data (`/metrics`): lets a request through when it carries a
/// configured token, or when none are configured.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    match check_token(&state, &request) {
        Ok(()) => next.run(request).await,
        Err(message) => refusal(message),
    }
}

/// For endpoints with tenant data: lets a request through when it carries a configured
/// token; with none configured, when it comes from a loopback address or `server.open`.
pub async fn require_token_or_loopback(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if state.tokens.is_empty() && !state.open {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
        // No peer address (a router not behind our server) is not known to be local.
        if !peer.is_some_and(|ConnectInfo(peer)| is_loopback(peer)) {
            let mut response = refusal(LOOPBACK_ONLY);
            response
                .headers_mut()
                .insert(ACCESS, HeaderValue::from_static("loopback-only"));
            return response;
        }
    }
    require_token(State(state), request, next).await
}

/// Whether the request may pass by its token: `Err` holds the refusal's message.
fn check_token(state: &AppState, request: &Request) -> Result<(), &'static str> {
    if state.tokens.is_empty() {
        return Ok(());
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(MISSING)?;
    // Check every token, so the time taken does not tell which one nearly matched.
    let known = state.tokens.iter().fold(false, |found, candidate| {
        found | bool::from(candidate.expose().as_bytes().ct_eq(presented.as_bytes()))
    });
    if known { Ok(()) } else { Err(INVALID) }
}

/// A 401 in RAGFlow's shape, with the challenge HTTP asks for.
fn refusal(message: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// 127.0.0.0/8 and ::1, also as an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, what a
/// dual-stack listener on `[::]` sees of an IPv4 client).
fn is_loopback(peer: &SocketAddr) -> bool {
    peer.ip().to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_judged_by_the_address_in_every_form() {
        for (case, address, loopback) in [
            ("ipv4 loopback", "127.0.0.1:1", true),
            ("another ipv4 loopback", "127.8.9.10:1", true),
            ("ipv6 loopback", "[::1]:1", true),
            ("ipv4-mapped loopback", "[::ffff:127.0.0.1]:1", true),
            ("private ipv4", "10.1.2.3:1", false),
            ("ipv4-mapped private", "[::ffff:10.1.2.3]:1", false),
            ("unspecified", "0.0.0.0:1", false),
            ("ipv6 unspecified", "[::]:1", false),
            ("ipv4-compatible ::127.0.0.1", "[::7f00:1]:1", false),
            ("link-local ipv6", "[fe80::1]:1", false),
        ] {
            let peer: SocketAddr = address.parse().unwrap();
            assert_eq!(is_loopback(&peer), loopback, "{case}");
        }
    }
}
