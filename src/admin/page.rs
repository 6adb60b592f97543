//! `/admin`: the console page (`player/src/admin.html`, its script and style served
//! under `/assets/` with the other player files). A page that carries a session: the
//! headers of every such page (`amphi_origin::page_policy`), framed by no one.

use amphi_origin::page_policy::{page_csp, secret_page, FRAME_NONE};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../../player/src/admin.html");

pub async fn admin_page() -> Response {
    secret_page(StatusCode::OK, &page_csp(FRAME_NONE), PAGE)
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
