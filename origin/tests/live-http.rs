//! Plain (non-blocking) requests: names, status codes, headers, CORS, the event list.

mod common;

use amphi_origin::{EventInfo, OriginConfig};
use common::*;

const PLAYLIST_MIME: &str = "application/vnd.apple.mpegurl";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

async fn live_origin() -> Origin {
    let o = origin(OriginConfig::default());
    put(&o.store, &format!("live/{EVENT}/master.m3u8"), "#EXTM3U\n").await;
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    put(&o.store, &key("init.mp4"), &b"init"[..]).await;
    put(&o.store, &key("seg4.m4s"), &b"segment four"[..]).await;
    put(&o.store, &key("part5.1.m4s"), &b"part 5.1"[..]).await;
    o
}

#[tokio::test]
async fn serves_objects_with_types_and_cache_headers() {
    let o = live_origin().await;

    let res = request(&o.app, "GET", &format!("/live/{EVENT}/master.m3u8")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), PLAYLIST_MIME);
    assert_eq!(header(&res, "cache-control"), "public, max-age=2");

    let res = request(&o.app, "GET", &url("index.m3u8")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), PLAYLIST_MIME);
    assert_eq!(header(&res, "cache-control"), "public, max-age=1");
    assert_eq!(text(res).await, playlist(3, 5, 2, false));

    for (name, data) in [
        ("init.mp4", "init"),
        ("seg4.m4s", "segment four"),
        ("part5.1.m4s", "part 5.1"),
    ] {
        let res = request(&o.app, "GET", &url(name)).await;
        assert_eq!(res.status(), 200, "{name}");
        assert_eq!(header(&res, "content-type"), "video/mp4", "{name}");
        assert_eq!(header(&res, "cache-control"), IMMUTABLE, "{name}");
        assert_eq!(text(res).await, data, "{name}");
    }
}

#[tokio::test]
async fn head_has_headers_and_no_body() {
    let o = live_origin().await;
    let res = request(&o.app, "HEAD", &url("part5.1.m4s")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "video/mp4");
    assert_eq!(header(&res, "content-length"), "8");
    assert!(body(res).await.is_empty());
}

#[tokio::test]
async fn unknown_names_are_404_and_bad_ids_400() {
    let o = live_origin().await;
    for path in [
        url("index.txt"),
        url("seg.m4s"),
        url("part5.m4s"),
        format!("/live/{EVENT}/{RENDITION}/sub/seg4.m4s"),
        format!("/live/{EVENT}/events.json"),
        format!("/live/{EVENT}/a%20b/seg4.m4s"),
        format!("/live/{EVENT}/{RENDITION}/init-0.mp4"),
    ] {
        let res = request(&o.app, "GET", &path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(header(&res, "cache-control"), "no-cache", "{path}");
    }
    let res = request(&o.app, "GET", "/live/CS101!/master.m3u8").await;
    assert_eq!(res.status(), 400);
    assert!(text(res).await.contains("event ids"));
}

#[tokio::test]
async fn events_that_are_not_live_are_404() {
    let o = origin(OriginConfig::default());
    for path in [
        format!("/live/{EVENT}/master.m3u8"),
        url("index.m3u8"),
        url("index.m3u8?_HLS_msn=3"),
        url("seg3.m4s"),
        url("part3.0.m4s"),
        url("init.mp4"),
    ] {
        let res = request(&o.app, "GET", &path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(header(&res, "cache-control"), "no-cache", "{path}");
    }
}

#[tokio::test]
async fn bad_directives_are_400() {
    let o = live_origin().await;
    for q in [
        "_HLS_part=1",
        "_HLS_msn=abc",
        "_HLS_msn=5&_HLS_part=-1",
        "_HLS_skip=maybe",
        "_HLS_msn=8",
        "_HLS_msn=99&_HLS_part=0",
    ] {
        let res = request(&o.app, "GET", &url(&format!("index.m3u8?{q}"))).await;
        assert_eq!(res.status(), 400, "{q}");
        assert_eq!(header(&res, "cache-control"), "no-cache", "{q}");
    }
    let res = request(&o.app, "GET", &url("index.m3u8?_HLS_part=1")).await;
    assert_eq!(text(res).await, "_HLS_part without _HLS_msn\n");
}

#[tokio::test]
async fn past_and_far_media_requests() {
    let o = live_origin().await;
    // Before the edge (5.2) but not in the store: evicted or never produced.
    let res = request(&o.app, "GET", &url("part4.3.m4s")).await;
    assert_eq!(res.status(), 404);
    let res = request(&o.app, "GET", &url("seg2.m4s")).await;
    assert_eq!(res.status(), 404);
    // More than two segments ahead.
    let res = request(&o.app, "GET", &url("part8.0.m4s")).await;
    assert_eq!(res.status(), 400);
    let res = request(&o.app, "GET", &url("seg8.m4s")).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn cors_on_media_and_preflight() {
    let o = live_origin().await;
    let origin_hdr = [("origin", "https://mooc.example.org")];
    let res = request_with(&o.app, "GET", &url("index.m3u8"), &origin_hdr).await;
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    let res = request_with(&o.app, "GET", &url("seg4.m4s"), &origin_hdr).await;
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    let res = request_with(&o.app, "GET", &url("seg99.m4s"), &origin_hdr).await;
    assert_eq!(res.status(), 400);
    assert_eq!(header(&res, "access-control-allow-origin"), "*");

    let res = request_with(
        &o.app,
        "OPTIONS",
        &url("part5.2.m4s"),
        &[
            ("origin", "https://mooc.example.org"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "range"),
        ],
    )
    .await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    assert!(header(&res, "access-control-allow-methods").contains("GET"));
    assert!(!header(&res, "access-control-allow-headers").is_empty());
}

#[tokio::test]
async fn event_list_and_health() {
    let events = vec![
        EventInfo {
            id: "cs101".into(),
            title: "Algorithms".into(),
            live: true,
            protocol: Some("rtmp".into()),
            starts_at: Some("2030-01-01T09:00:00Z".into()),
        },
        EventInfo {
            id: "ma201".into(),
            title: "Analysis".into(),
            live: false,
            protocol: None,
            starts_at: None,
        },
    ];
    let o = origin_with_events(OriginConfig::default(), events);
    let res = request(&o.app, "GET", "/api/events").await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "application/json");
    assert_eq!(header(&res, "cache-control"), "no-store");
    let json: serde_json::Value = serde_json::from_slice(&body(res).await).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!([
            {"id": "cs101", "title": "Algorithms", "live": true, "protocol": "rtmp", "starts_at": "2030-01-01T09:00:00Z"},
            {"id": "ma201", "title": "Analysis", "live": false, "protocol": null, "starts_at": null},
        ])
    );

    let res = request(&o.app, "GET", "/healthz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(text(res).await, "ok");
}

#[tokio::test]
async fn merges_with_other_routers() {
    let o = origin(OriginConfig::default());
    let app = o
        .app
        .merge(axum::Router::new().route("/api/qa/x", axum::routing::get(|| async { "qa" })));
    let res = request(&app, "GET", "/api/qa/x").await;
    assert_eq!(text(res).await, "qa");
}

#[tokio::test]
async fn malformed_requests_never_panic() {
    let o = origin(short_wait(std::time::Duration::from_millis(20)));
    put_playlist(
        &o.store,
        "garbage\n#EXT-X-TARGETDURATION:\n#EXT-X-PRELOAD-HINT:URI=\"".to_owned(),
    )
    .await;
    // An unreadable playlist is served as is, without holding the request.
    let res = request(&o.app, "GET", &url("index.m3u8?_HLS_msn=1")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "public, max-age=1");
    let res = request(&o.app, "GET", &url("part1.0.m4s")).await;
    assert_eq!(res.status(), 404);

    let paths = [
        "/live/".to_owned(),
        "/live/x".to_owned(),
        "/live/x/".to_owned(),
        "/live/%2e%2e/master.m3u8".to_owned(),
        format!("/live/{EVENT}/%2e%2e/seg1.m4s"),
        format!("/live/{EVENT}/{RENDITION}/seg18446744073709551615.m4s"),
        format!("/live/{EVENT}/{RENDITION}/part18446744073709551615.4294967295.m4s"),
        format!("/live/{EVENT}/{RENDITION}/part1.4294967296.m4s"),
        url("index.m3u8?_HLS_msn=18446744073709551615&_HLS_part=4294967295"),
        url("index.m3u8?_HLS_msn=18446744073709551616"),
        url("index.m3u8?&&=&_HLS_msn&_HLS_part"),
        url("index.m3u8?_HLS_msn=%31"),
        url("index.delta.m3u8?_HLS_msn=1&_HLS_skip=YES"),
        format!("/live/{EVENT}/{RENDITION}/{}", "a".repeat(5000)),
        format!("/watch/{}", "%ff".repeat(100)),
        "/assets/..%2fCargo.toml".to_owned(),
    ];
    for path in paths {
        let res = request(&o.app, "GET", &path).await;
        assert!(
            matches!(res.status().as_u16(), 200 | 400 | 404),
            "{path}: {}",
            res.status()
        );
    }
}
