//! The HTTP side of the metrics: the middleware that classifies, times and counts
//! every request, and `GET /metrics`.

use super::classify::{classify, RequestKind};
use crate::AppState;
use amphi_hls::names;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
use std::sync::Arc;
use std::time::Instant;

/// Middleware: classifies, times and counts every request.
pub(crate) async fn track(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let (kind, rendition) = classify(req.uri().path(), req.uri().query());
    let rendition = rendition.map(|(e, r)| (e.to_owned(), r.to_owned()));
    let res = next.run(req).await;
    let metrics = &state.metrics;
    metrics.record_request(kind, res.status().as_u16());
    if kind == RequestKind::PlaylistBlocking {
        metrics.observe_blocking_wait(start.elapsed());
    }
    if let Some((event, rendition)) = rendition {
        if res.status().is_success() {
            metrics.record_playlist(&event, &rendition, start);
        }
    }
    res
}

/// `GET /metrics`. Part durations for the viewer estimate are read from the playlists
/// in the store here, so the request path stays free of parsing.
pub(crate) async fn serve(State(state): State<Arc<AppState>>) -> Response {
    let now = Instant::now();
    for (event, rendition, _) in state.metrics.estimated_viewers(now) {
        let key = names::playlist_key(&event, &rendition);
        if let Ok(Some(obj)) = state.store.get(&key).await {
            let edge = std::str::from_utf8(&obj.data)
                .ok()
                .and_then(crate::edge::parse_edge);
            if let Some(edge) = edge {
                state
                    .metrics
                    .set_part_duration(&event, &rendition, edge.part_target);
            }
        }
    }
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.metrics.render(now),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::super::tests::line_value;
    use super::*;

    #[tokio::test]
    async fn the_router_counts_requests_and_serves_the_exposition() {
        use crate::test_support::{body_string, request, router_with};
        let app = router_with(&[]);
        request(&app, "GET", "/healthz").await;
        request(&app, "GET", "/live/cs/master.m3u8").await;
        request(
            &app,
            "GET",
            "/live/cs/360p/index.m3u8?_HLS_msn=1&_HLS_part=0",
        )
        .await;
        let res = request(&app, "GET", "/metrics").await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = body_string(res).await;
        let v = |s: &str| line_value(&text, s);
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"other\",status=\"2xx\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"master\",status=\"4xx\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"playlist_blocking\",status=\"4xx\"}"),
            Some(1.0)
        );
        assert_eq!(v("amphi_origin_blocking_wait_seconds_count"), Some(1.0));
    }
}
