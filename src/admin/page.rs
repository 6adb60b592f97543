//! `/admin`: the console page (`player/src/admin.html`, its script and style served
//! under `/assets/` with the other player files). Never cached, never framed, no
//! referrer; scripts from this origin only.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../../player/src/admin.html");

/// The page's `Content-Security-Policy`: no inline script or style, no framing.
pub const ADMIN_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

pub async fn admin_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, ADMIN_CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        PAGE,
    )
        .into_response()
}

const OPENAPI: &str = include_str!("openapi.json");

/// `/api/openapi.json`: the console API, hand-written and checked against the router.
pub async fn openapi() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        OPENAPI,
    )
        .into_response()
}

#[cfg(test)]
pub fn openapi_text() -> &'static str {
    OPENAPI
}
