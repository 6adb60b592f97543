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

/// `s` as HTML text or a quoted attribute value, for the small pages written in Rust
/// (console OIDC login answers, LTI pickers and forms).
pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
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

#[cfg(test)]
mod tests {
    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(
            super::html_escape("<a href=\"x\">Tom & Jerry's</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
    }
}
