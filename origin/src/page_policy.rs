//! The browser-hardening headers of every HTML page Amphi serves, in one place: the
//! player's pages (`assets`), the console page and the binary's small pages (login
//! answers) all take their `Content-Security-Policy`, framing, caching and referrer
//! rules from here.
//!
//! - Every page: [`PAGE_CSP`] plus one `frame-ancestors` directive, and
//!   `X-Content-Type-Options: nosniff`.
//! - A page whose address or content carries a secret (a moderator token, a stream
//!   key, a console session): [`SECRET_PAGE_HEADERS`], never stored, framed, nor sent
//!   on as a referrer.
//! - A page without script (a login answer): [`SCRIPTLESS_CSP`].

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// `Referrer-Policy` of every response that sets no stricter one.
pub const REFERRER_POLICY: &str = "strict-origin-when-cross-origin";

/// The `Content-Security-Policy` of every page, before its `frame-ancestors`: scripts,
/// styles and everything else from this origin only (no inline script or style, no
/// eval); `blob:` for what hls.js makes itself (its worker, MediaSource URLs); `data:`
/// images (the empty favicon) and media (the empty WebVTT hls.js gives the text tracks
/// it creates for a subtitles rendition). Q&A live updates (SSE, WebSocket) and WHIP go to 'self'.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; media-src 'self' blob: data:; worker-src 'self' blob:; connect-src 'self'; \
font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'";

/// The policy of a page that runs no script and loads nothing, framed by no one.
pub const SCRIPTLESS_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The framing of a page no other page may frame.
pub const FRAME_NONE: &str = "frame-ancestors 'none'";

/// The headers of every page and asset.
pub const NOSNIFF: (HeaderName, &str) = (header::X_CONTENT_TYPE_OPTIONS, "nosniff");

/// The headers of a page whose address or content carries a secret: never cached nor
/// framed, nor sent on as a referrer.
pub const SECRET_PAGE_HEADERS: [(HeaderName, &str); 4] = [
    NOSNIFF,
    (header::CACHE_CONTROL, "no-store"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// The whole policy of a page whose framing is `frame_ancestors` (a directive).
pub fn page_csp(frame_ancestors: &str) -> String {
    format!("{PAGE_CSP}; {frame_ancestors}")
}

/// Sets `csp` and `headers` on a page's response. A policy that is not a valid header
/// value (sources are filtered before they get here) gives 500: a page is never served
/// without its policy.
pub fn harden(mut res: Response, csp: &str, headers: &[(HeaderName, &'static str)]) -> Response {
    for (name, value) in headers {
        res.headers_mut()
            .insert(name.clone(), HeaderValue::from_static(value));
    }
    match HeaderValue::from_str(csp) {
        Ok(v) => {
            res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            res
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "invalid page policy\n").into_response(),
    }
}

/// An HTML page that carries a secret, with the policy `csp`.
pub fn secret_page(status: StatusCode, csp: &str, html: impl IntoResponse) -> Response {
    let res = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    harden(res, csp, &SECRET_PAGE_HEADERS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_pages_are_never_stored_framed_or_referred() {
        let res = secret_page(StatusCode::OK, &page_csp(FRAME_NONE), "<p>hi</p>");
        let h = res.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(
            h[header::CONTENT_SECURITY_POLICY],
            format!("{PAGE_CSP}; frame-ancestors 'none'").as_str()
        );
    }

    #[test]
    fn a_policy_that_is_no_header_value_is_a_500() {
        let res = secret_page(StatusCode::OK, "frame-ancestors \n", "x");
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(res.headers().get(header::CONTENT_SECURITY_POLICY).is_none());
    }
}
