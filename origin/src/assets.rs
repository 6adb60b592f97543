//! The player pages and their assets, embedded at build time from `player/dist/`
//! (see `build.rs`): `/`, `/watch/{event}`, `/embed/{event}`, `/moderate/{event}`,
//! `/present/{event}`, `/publish/{event}`, `/caption/{event}`, `/preview/{event}` (the
//! green room) and `/assets/{file}`.

use crate::live::valid_event;
use crate::page_policy::{
    harden, page_csp, FRAME_NONE, NOSNIFF, REFERRER_POLICY, SECRET_PAGE_HEADERS,
};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tracing::debug;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/player_assets.rs"));
}

/// `(file name, bytes)`, sorted by name.
pub(crate) type AssetTable = &'static [(&'static str, &'static [u8])];

pub(crate) static PLAYER_ASSETS: AssetTable = embedded::PLAYER_ASSETS;

pub(crate) const NOT_BUILT: &str = "player assets were not built: run `make player`\n";
pub(crate) const CACHE_ASSET: &str = "public, max-age=300";
pub(crate) const CACHE_PAGE: &str = "no-cache";

fn lookup(table: AssetTable, name: &str) -> Option<&'static [u8]> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, data)| *data)
}

/// Content type from a file name's extension.
pub(crate) fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match ext.to_ascii_lowercase().as_str() {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" | "map" => "application/json",
        "ico" => "image/x-icon",
        "png" => "image/png",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn missing(table: AssetTable, name: &str) -> Response {
    debug!(
        file = name,
        built = !table.is_empty(),
        "player asset not found"
    );
    let body = if table.is_empty() {
        NOT_BUILT
    } else {
        "no such player asset\n"
    };
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Index,
    Watch,
    Embed,
    Moderate,
    Caption,
    Present,
    Publish,
    Preview,
}

impl Page {
    fn file(self) -> &'static str {
        match self {
            Page::Index => "index.html",
            Page::Watch => "watch.html",
            Page::Embed => "embed.html",
            Page::Moderate => "moderate.html",
            Page::Caption => "caption.html",
            Page::Present => "present.html",
            Page::Publish => "publish.html",
            Page::Preview => "preview.html",
        }
    }

    /// Headers beyond the content type and the CSP.
    fn headers(self) -> Vec<(HeaderName, &'static str)> {
        match self {
            // Moderator tokens and stream keys live in these pages' addresses.
            Page::Moderate | Page::Caption | Page::Publish | Page::Preview => {
                SECRET_PAGE_HEADERS.to_vec()
            }
            Page::Present => vec![
                NOSNIFF,
                (header::CACHE_CONTROL, CACHE_PAGE),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            Page::Index | Page::Watch | Page::Embed => vec![
                NOSNIFF,
                (header::CACHE_CONTROL, CACHE_PAGE),
                (header::REFERRER_POLICY, REFERRER_POLICY),
            ],
        }
    }

    /// Who may frame the page when the event does not say (watch and embed pages
    /// follow the event's embed setting instead).
    fn default_frame_ancestors(self) -> &'static str {
        match self {
            Page::Moderate | Page::Caption | Page::Publish | Page::Preview => FRAME_NONE,
            Page::Index | Page::Present => "frame-ancestors 'self'",
            Page::Watch | Page::Embed => "frame-ancestors *",
        }
    }
}

fn page(table: AssetTable, page: Page, frame_ancestors: Option<&str>) -> Response {
    let Some(data) = lookup(table, page.file()) else {
        return missing(table, page.file());
    };
    let res = ([(header::CONTENT_TYPE, content_type(page.file()))], data).into_response();
    // Sources are filtered by `valid_frame_ancestor`, so the policy is a valid value.
    let csp = page_csp(frame_ancestors.unwrap_or(page.default_frame_ancestors()));
    harden(res, &csp, &page.headers())
}

async fn event_page(state: &AppState, which: Page, event: &str) -> Response {
    if !valid_event(event) {
        debug!(%event, page = which.file(), "page for an invalid event id");
        return (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, "no-cache")],
            "no such event: ids are 1 to 64 characters of a-z, 0-9, '-' and '_'\n",
        )
            .into_response();
    }
    // Watch and embed pages may be framed where the event's embed setting says.
    let framing = matches!(which, Page::Watch | Page::Embed).then(|| {
        let allowed = state.catalog.frame_ancestors(event);
        crate::frame_ancestors_policy(allowed.as_deref())
    });
    page(state.assets, which, framing.as_deref())
}

async fn asset(State(state): State<Arc<AppState>>, Path(file): Path<String>) -> Response {
    match lookup(state.assets, &file) {
        Some(data) => (
            [
                (header::CONTENT_TYPE, content_type(&file)),
                (header::CACHE_CONTROL, CACHE_ASSET),
                NOSNIFF,
            ],
            data,
        )
            .into_response(),
        None => missing(state.assets, &file),
    }
}

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/",
            get(|State(s): State<Arc<AppState>>| async move { page(s.assets, Page::Index, None) }),
        )
        .route(
            "/watch/{event}",
            get(
                |State(s): State<Arc<AppState>>, Path(e): Path<String>| async move {
                    event_page(&s, Page::Watch, &e).await
                },
            ),
        )
        .route(
            "/embed/{event}",
            get(
                |State(s): State<Arc<AppState>>, Path(e): Path<String>| async move {
                    event_page(&s, Page::Embed, &e).await
                },
            ),
        )
        .route(
            "/moderate/{event}",
            get(
                |State(s): State<Arc<AppState>>, Path(e): Path<String>| async move {
                    event_page(&s, Page::Moderate, &e).await
                },
            ),
        )
        .route(
            "/caption/{event}",
            get(
                |State(s): State<Arc<AppState>>, Path(e): Path<String>| async move {
                    event_page(&s, Page::Caption, &e).await
                },
            ),
        )
        .route(
            "/publish/{event}",
            get(
                |State(s): State<Arc<AppState>>, Path(e): Path<String>| async move {
                    event_page(&s, Page::Publish, &e).await
                },
            ),
        )
        .route(
            "/preview/{event}",
            get(
                |State(s): State<Arc<AppState>>, Path(e): Path<String>| async move {
                    event_page(&s, Page::Preview, &e).await
                },
            ),
        )
        .route(
            "/present/{event}",
            get(
                |State(s): State<Arc<AppState>>, Path(e): Path<String>| async move {
                    event_page(&s, Page::Present, &e).await
                },
            ),
        )
        .route("/assets/{file}", get(asset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page_policy::PAGE_CSP;
    use crate::test_support::{body_string, request, router_with};

    static FAKE: AssetTable = &[
        ("embed.html", b"<p>embed</p>"),
        ("index.html", b"<p>index</p>"),
        ("moderate.html", b"<p>moderate</p>"),
        ("player.js", b"console.log(1)"),
        ("present.html", b"<p>present</p>"),
        ("publish.html", b"<p>publish</p>"),
        ("style.css", b"body{}"),
        ("watch.html", b"<p>watch</p>"),
    ];

    #[tokio::test]
    async fn serves_pages_with_their_headers() {
        let app = router_with(FAKE);
        let csp = |res: &Response| {
            res.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .expect("ascii policy")
                .to_owned()
        };
        let res = request(&app, "GET", "/").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(
            res.headers()[header::CONTENT_SECURITY_POLICY],
            format!("{PAGE_CSP}; frame-ancestors 'self'").as_str()
        );
        assert_eq!(body_string(res).await, "<p>index</p>");

        let res = request(&app, "GET", "/watch/cs101").await;
        assert_eq!(csp(&res), format!("{PAGE_CSP}; frame-ancestors *"));
        assert_eq!(
            res.headers()[header::REFERRER_POLICY],
            "strict-origin-when-cross-origin"
        );
        assert_eq!(body_string(res).await, "<p>watch</p>");

        let res = request(&app, "GET", "/embed/cs101").await;
        assert_eq!(csp(&res), format!("{PAGE_CSP}; frame-ancestors *"));
        assert!(res.headers().get(header::X_FRAME_OPTIONS).is_none());
        assert_eq!(body_string(res).await, "<p>embed</p>");

        let res = request(&app, "GET", "/moderate/cs101").await;
        assert!(csp(&res).ends_with("; frame-ancestors 'none'"));
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(res.headers()[header::X_FRAME_OPTIONS], "DENY");

        let res = request(&app, "GET", "/present/cs101").await;
        assert_eq!(body_string(res).await, "<p>present</p>");

        let res = request(&app, "GET", "/publish/cs101").await;
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(res.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(res.headers()[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(body_string(res).await, "<p>publish</p>");
        let res = request(&app, "GET", "/publish/Bad%20Id").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);

        let res = request(&app, "GET", "/watch/Not%20An%20Id").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }

    struct EmbedOnLms;
    impl crate::EventCatalog for EmbedOnLms {
        fn events(&self) -> Vec<crate::EventInfo> {
            Vec::new()
        }
        fn frame_ancestors(&self, event: &str) -> Option<Vec<String>> {
            (event == "cs101").then(|| vec!["https://lms.example.edu".to_owned()])
        }
    }

    #[tokio::test]
    async fn watch_and_embed_follow_the_events_embed_setting() {
        let app = crate::build(
            Arc::new(amphi_hls::store::MemoryStore::new()),
            Arc::new(EmbedOnLms),
            crate::OriginConfig::default(),
            FAKE,
            Arc::default(),
        );
        for path in ["/watch/cs101", "/embed/cs101"] {
            let res = request(&app, "GET", path).await;
            assert_eq!(
                res.headers()[header::CONTENT_SECURITY_POLICY],
                format!("{PAGE_CSP}; frame-ancestors 'self' https://lms.example.edu").as_str(),
                "{path}"
            );
        }
        let res = request(&app, "GET", "/watch/other").await;
        assert!(res.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii")
            .ends_with("; frame-ancestors *"));
        let res = request(&app, "GET", "/present/cs101").await;
        assert!(res.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii")
            .ends_with("; frame-ancestors 'self'"));
    }

    #[test]
    fn page_policy_forbids_inline_code() {
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "worker-src 'self' blob:",
            "media-src 'self' blob: data:",
            "connect-src 'self'",
            "object-src 'none'",
        ] {
            assert!(PAGE_CSP.split("; ").any(|d| d == directive), "{directive}");
        }
        assert!(!PAGE_CSP.contains("unsafe"));
        assert!(!PAGE_CSP.contains("frame-ancestors"));
    }

    #[test]
    fn frame_ancestors_policies() {
        use crate::frame_ancestors_policy as policy;
        assert_eq!(policy(None), "frame-ancestors *");
        assert_eq!(policy(Some(&[])), "frame-ancestors *");
        let sites = [
            "https://moodle.example.edu".to_owned(),
            "https://*.fun-mooc.fr:8443".to_owned(),
        ];
        assert_eq!(
            policy(Some(&sites)),
            "frame-ancestors 'self' https://moodle.example.edu https://*.fun-mooc.fr:8443"
        );
        // Anything that could end the directive or the header is dropped.
        let hostile = [
            "https://a.edu; script-src *".to_owned(),
            "x\r\ny".to_owned(),
            "https://ok.edu".to_owned(),
        ];
        assert_eq!(
            policy(Some(&hostile)),
            "frame-ancestors 'self' https://ok.edu"
        );
    }

    #[tokio::test]
    async fn serves_assets_by_extension() {
        let app = router_with(FAKE);
        let res = request(&app, "GET", "/assets/player.js").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(res.headers()[header::CACHE_CONTROL], CACHE_ASSET);
        let res = request(&app, "GET", "/assets/style.css").await;
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
        let res = request(&app, "HEAD", "/assets/style.css").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_string(res).await, "");
        let res = request(&app, "GET", "/assets/nope.js").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(body_string(res).await, "no such player asset\n");
    }

    #[tokio::test]
    async fn explains_missing_build() {
        let app = router_with(&[]);
        for path in ["/", "/watch/cs101", "/assets/player.js"] {
            let res = request(&app, "GET", path).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(body_string(res).await, NOT_BUILT, "{path}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("a.svg"), "image/svg+xml");
        assert_eq!(content_type("a.json"), "application/json");
        assert_eq!(content_type("favicon.ico"), "image/x-icon");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
