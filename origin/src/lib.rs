//! Amphi origin: stateless HTTP serving of LL-HLS from a [`Store`], the event list and
//! the player pages.
//!
//! Model and invariants:
//! - Every response is computed from the store alone; several origins behind one CDN
//!   serve identical bytes and headers. No session, cookie or per-viewer parameter.
//! - Parts, segments and init segments are immutable (`max-age` one year); playlists
//!   are cacheable for about one part, blocking requests (`_HLS_msn`/`_HLS_part`) for a
//!   few seconds by their full URL, so a CDN collapses identical requests.
//! - A blocking request subscribes to the store's announcements *before* reading, then
//!   re-reads on each announcement of its key: no put is missed, no polling. It waits
//!   at most `blocking_timeout_factor` target durations (capped by
//!   `max_blocking_wait`): then 503 for playlists, 404 for parts and segments.
//! - Requests more than `max_segments_ahead` segments beyond the live edge get 400.
//! - The edge is the part the `EXT-X-PRELOAD-HINT` names: every part before it exists.
//! - Private events need a viewer token as one path segment,
//!   `/live/{event}/t/{token}/…`, shared by a cohort so caches still collapse requests:
//!   none gives 401, an invalid or expired one 403. Public events accept either form.
//! - An event in preview (the green room) is served only on `/live/{event}/p/{key}/…`,
//!   `private, no-store`; its viewer paths answer 404 until Go live ([`preview`]).
//!
//! Routes: `/live/{event}/…` (with `recording.mp4`, the whole recording as one file,
//! and `captions/events`, the live captions pushed as server-sent events),
//! `/api/events`, `/healthz`, and the player pages
//! (`/`, `/watch/{event}`, `/embed/{event}`, `/moderate/{event}`, `/present/{event}`,
//! `/publish/{event}`, `/assets/{file}`) embedded at build time from `player/dist/`.

mod assets;
pub mod budget;
pub mod caption_feed;
mod caption_stream;
pub mod client_addr;
pub mod cmcd;
mod download;
mod dvr;
mod edge;
#[doc(hidden)]
pub mod fuzzing;
pub mod listener;
mod live;
pub mod metrics;
pub mod notify;
pub mod page_policy;
pub mod preview;
mod query;
pub mod token;
mod waiters;

pub use client_addr::{ClientAddr, TrustedProxies};
pub use listener::{serve, HttpLimits};

use amphi_hls::store::Store;
use axum::http::{header, Method, Request};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

/// One event as the status page and the player see it (`GET /api/events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventInfo {
    pub id: String,
    pub title: String,
    /// A publisher is connected.
    pub live: bool,
    /// How the publisher is connected (`rtmp`, `whip`, …) while live.
    pub protocol: Option<String>,
    /// Planned start, RFC 3339.
    pub starts_at: Option<String>,
}

/// Who may fetch an event's playlists and media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone; a viewer token in the path is accepted and ignored.
    Public,
    /// Only with a viewer token (see [`token`]) signed with this secret.
    Private { viewer_secret: String },
}

/// Where the origin learns which events exist (the binary's directory and hub).
pub trait EventCatalog: Send + Sync + 'static {
    fn events(&self) -> Vec<EventInfo>;

    /// Whether `event` needs a viewer token. Unknown events are public (and not live).
    fn access(&self, _event: &str) -> Access {
        Access::Public
    }

    /// Sites allowed to frame `/embed/{event}` (CSP `frame-ancestors` sources such as
    /// `https://moodle.example.edu`); `None` or an empty list lets any site embed it.
    fn frame_ancestors(&self, _event: &str) -> Option<Vec<String>> {
        None
    }

    /// The event's green room ([`preview`]): whether viewers wait, and the key of its
    /// preview paths. By default every event is open and has no preview path.
    fn preview(&self, _event: &str) -> preview::Preview {
        preview::Preview::default()
    }
}

/// Whether `source` is a CSP source expression we pass through: a scheme and host
/// (`https://lms.example.edu`, `https://*.example.edu:8443`) or a bare host. Nothing
/// that could end the directive or the header (`;`, `,`, quotes, spaces, controls).
pub fn valid_frame_ancestor(source: &str) -> bool {
    !source.is_empty()
        && source.len() <= 255
        && source
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:/*-_".contains(&b))
}

/// The `Content-Security-Policy` of an embed page for these allowed sources.
pub fn frame_ancestors_policy(sources: Option<&[String]>) -> String {
    let valid: Vec<&str> = sources
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .filter(|s| valid_frame_ancestor(s))
        .collect();
    if valid.is_empty() {
        "frame-ancestors *".to_owned()
    } else {
        format!("frame-ancestors 'self' {}", valid.join(" "))
    }
}

/// Blocking requests wait at most this many target durations.
pub const DEFAULT_BLOCKING_TIMEOUT_FACTOR: f64 = 3.0;
/// Upper bound of any blocking wait, whatever the target duration says.
pub const DEFAULT_MAX_BLOCKING_WAIT: Duration = Duration::from_secs(6);
/// Requests further than this many segments beyond the live edge get 400.
pub const DEFAULT_MAX_SEGMENTS_AHEAD: u64 = 2;

#[derive(Clone, Debug)]
pub struct OriginConfig {
    /// Blocking wait in target durations (`EXT-X-TARGETDURATION`).
    pub blocking_timeout_factor: f64,
    /// Cap on the blocking wait.
    pub max_blocking_wait: Duration,
    /// How far beyond the live edge (in segments) a request may wait.
    pub max_segments_ahead: u64,
    /// Blocking requests held at once by this process; beyond, 503 + `Retry-After`.
    pub max_held_requests: usize,
    /// Blocking requests held at once per client address ([`ClientAddr`]).
    pub max_held_requests_per_client: usize,
}

impl Default for OriginConfig {
    fn default() -> Self {
        OriginConfig {
            blocking_timeout_factor: DEFAULT_BLOCKING_TIMEOUT_FACTOR,
            max_blocking_wait: DEFAULT_MAX_BLOCKING_WAIT,
            max_segments_ahead: DEFAULT_MAX_SEGMENTS_AHEAD,
            max_held_requests: budget::DEFAULT_MAX_HELD_REQUESTS,
            max_held_requests_per_client: budget::DEFAULT_MAX_HELD_REQUESTS_PER_CLIENT,
        }
    }
}

impl OriginConfig {
    /// How long a blocking request may wait, given the playlist's target duration.
    pub fn blocking_timeout(&self, target_duration: Duration) -> Duration {
        let factor =
            if self.blocking_timeout_factor.is_finite() && self.blocking_timeout_factor > 0.0 {
                self.blocking_timeout_factor
            } else {
                DEFAULT_BLOCKING_TIMEOUT_FACTOR
            };
        Duration::try_from_secs_f64(target_duration.as_secs_f64() * factor)
            .unwrap_or(self.max_blocking_wait)
            .min(self.max_blocking_wait)
    }
}

pub(crate) struct AppState {
    pub store: Arc<dyn Store>,
    pub catalog: Arc<dyn EventCatalog>,
    pub config: OriginConfig,
    pub assets: assets::AssetTable,
    pub metrics: Arc<metrics::Metrics>,
    pub held: Arc<budget::HeldBudget>,
    pub waiters: Arc<waiters::Waiters>,
    pub captions: caption_stream::CaptionHub,
}

/// The origin's routes. Defines no fallback, so it can be merged with other routers.
pub fn router(
    store: Arc<dyn Store>,
    catalog: Arc<dyn EventCatalog>,
    config: OriginConfig,
) -> Router {
    router_with_metrics(store, catalog, config, Arc::default())
}

/// [`router`] counting into `metrics` (served at `/metrics`), which other stages may
/// share to export their gauges ([`metrics::Metrics::set_gauge`]).
pub fn router_with_metrics(
    store: Arc<dyn Store>,
    catalog: Arc<dyn EventCatalog>,
    config: OriginConfig,
    metrics: Arc<metrics::Metrics>,
) -> Router {
    build(store, catalog, config, assets::PLAYER_ASSETS, metrics)
}

pub(crate) fn build(
    store: Arc<dyn Store>,
    catalog: Arc<dyn EventCatalog>,
    config: OriginConfig,
    assets: assets::AssetTable,
    metrics: Arc<metrics::Metrics>,
) -> Router {
    let held = Arc::new(budget::HeldBudget::new(
        config.max_held_requests,
        config.max_held_requests_per_client,
    ));
    let state = Arc::new(AppState {
        store,
        catalog,
        config,
        assets,
        metrics,
        held,
        waiters: Arc::default(),
        captions: caption_stream::CaptionHub::default(),
    });
    // MOOC pages on other sites embed the player and fetch media and the event list.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers(Any)
        .max_age(Duration::from_secs(86_400));
    let shared = Router::new()
        .route("/live/{event}/{*rest}", get(live::handle))
        .merge(download::routes(download::DEFAULT_MAX_DOWNLOADS))
        .route("/api/events", get(api_events))
        .layer(cors);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics::serve))
        .merge(shared)
        .merge(assets::routes())
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<axum::body::Body>| {
                tracing::info_span!("http", method = %req.method(), path = %live::redact_path(req.uri().path()))
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

async fn api_events(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> axum::response::Response {
    let events = state.catalog.events();
    ([(header::CACHE_CONTROL, "no-store")], Json(events)).into_response()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use amphi_hls::store::MemoryStore;
    use axum::body::Body;
    use axum::http::Response;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    struct NoEvents;
    impl EventCatalog for NoEvents {
        fn events(&self) -> Vec<EventInfo> {
            Vec::new()
        }
    }

    pub fn router_with(assets: assets::AssetTable) -> Router {
        build(
            Arc::new(MemoryStore::new()),
            Arc::new(NoEvents),
            OriginConfig::default(),
            assets,
            Arc::default(),
        )
    }

    pub async fn request(app: &Router, method: &str, uri: &str) -> Response<Body> {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .expect("a valid test request");
        app.clone().oneshot(req).await.expect("infallible")
    }

    pub async fn body_string(res: Response<Body>) -> String {
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn blocking_timeout_is_capped() {
        let c = OriginConfig::default();
        assert_eq!(
            c.blocking_timeout(Duration::from_secs(1)),
            Duration::from_secs(3)
        );
        assert_eq!(
            c.blocking_timeout(Duration::from_secs(2)),
            Duration::from_secs(6)
        );
        assert_eq!(
            c.blocking_timeout(Duration::from_secs(10)),
            Duration::from_secs(6)
        );
        let nan = OriginConfig {
            blocking_timeout_factor: f64::NAN,
            ..c
        };
        assert_eq!(
            nan.blocking_timeout(Duration::from_secs(1)),
            Duration::from_secs(3)
        );
    }
}
