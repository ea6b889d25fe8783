//! The System page: `GET /` and its two assets, embedded in the binary from `ui/`. The page
//! is static and open; the data it shows comes from the (token-protected) JSON API.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file with its validator.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: HeaderValue,
}

impl Asset {
    fn new(body: &'static [u8], content_type: &'static str) -> Self {
        let digest = Sha256::digest(body);
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let etag = HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header");
        Self {
            body,
            content_type,
            etag,
        }
    }

    /// The file, or 304 when the browser's copy is current. `no-cache` makes the browser ask
    /// every time, so a new ragwatch binary never runs with an old script.
    fn serve(&self, request: &HeaderMap) -> Response {
        let current = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .any(|tag| tag == self.etag);
        let mut response = if current {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            ([(header::CONTENT_TYPE, self.content_type)], self.body).into_response()
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, self.etag.clone());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        response
    }
}

static INDEX: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../../ui/index.html"),
        "text/html; charset=utf-8",
    )
});
static SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../../ui/app.js"),
        "text/javascript; charset=utf-8",
    )
});
static STYLE: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../../ui/app.css"),
        "text/css; charset=utf-8",
    )
});

/// Only our own script and style run, and the page talks only to ragwatch: data that slips
/// past escaping still cannot execute or send anything elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the page.
pub async fn index(request: HeaderMap) -> Response {
    let mut response = INDEX.serve(&request);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

/// `GET /ui/app.js`.
pub async fn script(request: HeaderMap) -> Response {
    SCRIPT.serve(&request)
}

/// `GET /ui/app.css`.
pub async fn style(request: HeaderMap) -> Response {
    STYLE.serve(&request)
}
