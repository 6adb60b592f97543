//! LL-HLS blocking playlist reload and blocking preload-hint requests: a held request
//! wakes as soon as the awaited object is put, and gives up at its deadline.

mod common;

use amphi_origin::OriginConfig;
use common::*;
use std::future::IntoFuture;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Wake-up delay allowed between a put and the held response.
const MAX_WAKE: Duration = Duration::from_millis(50);
/// Time given to a spawned request to subscribe before the test puts.
const SETTLE: Duration = Duration::from_millis(50);

#[tokio::test]
async fn satisfied_requests_are_served_at_once() {
    let o = origin(OriginConfig::default());
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    for q in [
        "_HLS_msn=5&_HLS_part=1",
        "_HLS_msn=4",
        "_HLS_msn=3&_HLS_part=0",
        "_HLS_msn=4&_HLS_part=9",
    ] {
        let res = request(&o.app, "GET", &url(&format!("index.m3u8?{q}"))).await;
        assert_eq!(res.status(), 200, "{q}");
        assert_eq!(header(&res, "cache-control"), "public, max-age=6", "{q}");
        assert_eq!(
            header(&res, "content-type"),
            "application/vnd.apple.mpegurl",
            "{q}"
        );
    }
}

#[tokio::test]
async fn ended_playlists_answer_any_blocking_request() {
    let o = origin(OriginConfig::default());
    put_playlist(&o.store, playlist(3, 6, 0, true)).await;
    let res = request(&o.app, "GET", &url("index.m3u8?_HLS_msn=40&_HLS_part=0")).await;
    assert_eq!(res.status(), 200);
    // Nothing more will be produced: a hinted part is gone.
    let res = request(&o.app, "GET", &url("part6.0.m4s")).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_request_wakes_when_the_part_is_announced() {
    let o = origin(OriginConfig::default());
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    let app = o.app.clone();
    let held = tokio::spawn(async move {
        let res = request(&app, "GET", &url("index.m3u8?_HLS_msn=5&_HLS_part=2")).await;
        (
            Instant::now(),
            res.status(),
            header(&res, "cache-control").to_owned(),
            text(res).await,
        )
    });
    tokio::time::sleep(SETTLE).await;
    assert!(!held.is_finished(), "the request must be held");
    // Unrelated keys (another rendition, media) do not answer it.
    put(
        &o.store,
        &format!("live/{EVENT}/360p/index.m3u8"),
        playlist(3, 5, 3, false),
    )
    .await;
    put(&o.store, &key("part5.2.m4s"), &b"p"[..]).await;
    tokio::time::sleep(SETTLE).await;
    assert!(
        !held.is_finished(),
        "only the playlist with the part answers"
    );

    let put_at = Instant::now();
    put_playlist(&o.store, playlist(3, 5, 3, false)).await;
    let (done, status, cache, body) = held.await.expect("request task");
    let delay = done.duration_since(put_at);
    println!("blocking playlist reload woke {delay:?} after the put");
    assert_eq!(status, 200);
    assert_eq!(cache, "public, max-age=6");
    assert_eq!(body, playlist(3, 5, 3, false));
    assert!(delay < MAX_WAKE, "woke after {delay:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msn_only_request_waits_for_the_segment_to_close() {
    let o = origin(OriginConfig::default());
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    let app = o.app.clone();
    let held = tokio::spawn(async move {
        request(&app, "GET", &url("index.m3u8?_HLS_msn=5"))
            .await
            .status()
    });
    tokio::time::sleep(SETTLE).await;
    put_playlist(&o.store, playlist(3, 5, 5, false)).await;
    tokio::time::sleep(SETTLE).await;
    assert!(!held.is_finished(), "segment 5 is still open");
    put_playlist(&o.store, playlist(3, 6, 0, false)).await;
    assert_eq!(held.await.expect("request task"), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_socket_wakes_within_the_budget() {
    let o = origin(OriginConfig::default());
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local address");
    let server = tokio::spawn(axum::serve(listener, o.app.clone()).into_future());

    let held = tokio::spawn(async move {
        let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n",
            url("index.m3u8?_HLS_msn=5&_HLS_part=2")
        );
        sock.write_all(req.as_bytes()).await.expect("write");
        let mut first = [0u8; 1];
        sock.read_exact(&mut first).await.expect("first byte");
        let at = Instant::now();
        let mut rest = Vec::new();
        sock.read_to_end(&mut rest).await.expect("read");
        (
            at,
            String::from_utf8_lossy(&[&first[..], &rest].concat()).into_owned(),
        )
    });
    tokio::time::sleep(SETTLE * 2).await;
    assert!(!held.is_finished(), "the request must be held");
    let put_at = Instant::now();
    put_playlist(&o.store, playlist(3, 5, 3, false)).await;
    let (at, response) = held.await.expect("client task");
    let delay = at.duration_since(put_at);
    println!("over TCP: first response byte {delay:?} after the put");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("cache-control: public, max-age=6"),
        "{response}"
    );
    assert!(delay < MAX_WAKE, "woke after {delay:?}");
    server.abort();
}

#[tokio::test]
async fn blocking_request_times_out_with_503() {
    let wait = Duration::from_millis(150);
    let o = origin(short_wait(wait));
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    let started = Instant::now();
    let res = request(&o.app, "GET", &url("index.m3u8?_HLS_msn=7&_HLS_part=0")).await;
    let elapsed = started.elapsed();
    assert_eq!(res.status(), 503);
    assert_eq!(header(&res, "retry-after"), "1");
    assert_eq!(header(&res, "cache-control"), "no-cache");
    assert!(elapsed >= wait, "gave up after {elapsed:?}");
    assert!(elapsed < wait * 4, "gave up after {elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn timeout_follows_the_target_duration() {
    // The wait is `blocking_timeout_factor` target durations: 0.1 × 2 s on a paused clock.
    let o = origin(OriginConfig {
        blocking_timeout_factor: 0.1,
        ..OriginConfig::default()
    });
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    let started = tokio::time::Instant::now();
    let res = request(&o.app, "GET", &url("index.m3u8?_HLS_msn=5&_HLS_part=2")).await;
    assert_eq!(res.status(), 503);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(300),
        "{elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_serves_the_delta_playlist() {
    let o = origin(OriginConfig::default());
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    // Without a delta playlist the full one is served.
    let res = request(&o.app, "GET", &url("index.m3u8?_HLS_skip=YES")).await;
    assert_eq!(text(res).await, playlist(3, 5, 2, false));

    let delta = |next_part| {
        playlist(3, 5, next_part, false).replace(
            "#EXT-X-MEDIA-SEQUENCE:3\n",
            "#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-SKIP:SKIPPED-SEGMENTS=0\n",
        )
    };
    put(&o.store, &key("index.delta.m3u8"), delta(2)).await;
    let res = request(
        &o.app,
        "GET",
        &url("index.m3u8?_HLS_msn=5&_HLS_part=1&_HLS_skip=v2"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(text(res).await, delta(2));

    let app = o.app.clone();
    let held = tokio::spawn(async move {
        text(
            request(
                &app,
                "GET",
                &url("index.m3u8?_HLS_msn=5&_HLS_part=2&_HLS_skip=YES"),
            )
            .await,
        )
        .await
    });
    tokio::time::sleep(SETTLE).await;
    // The full playlist is written first; the held request answers with the delta.
    put_playlist(&o.store, playlist(3, 5, 3, false)).await;
    tokio::time::sleep(SETTLE).await;
    assert!(
        !held.is_finished(),
        "the delta playlist does not have the part yet"
    );
    put(&o.store, &key("index.delta.m3u8"), delta(3)).await;
    assert_eq!(held.await.expect("request task"), delta(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preload_hint_part_waits_until_put() {
    let o = origin(OriginConfig::default());
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    let app = o.app.clone();
    let held = tokio::spawn(async move {
        let res = request(&app, "GET", &url("part5.2.m4s")).await;
        (
            Instant::now(),
            res.status(),
            header(&res, "cache-control").to_owned(),
            text(res).await,
        )
    });
    tokio::time::sleep(SETTLE).await;
    assert!(!held.is_finished(), "the hinted part must be held");
    let put_at = Instant::now();
    put(&o.store, &key("part5.2.m4s"), &b"hinted part"[..]).await;
    let (done, status, cache, body) = held.await.expect("request task");
    let delay = done.duration_since(put_at);
    println!("preload hint request woke {delay:?} after the put");
    assert_eq!(status, 200);
    assert_eq!(cache, "public, max-age=31536000, immutable");
    assert_eq!(body, "hinted part");
    assert!(delay < MAX_WAKE, "woke after {delay:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_request_waits_for_the_segment() {
    let o = origin(OriginConfig::default());
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    let app = o.app.clone();
    let held = tokio::spawn(async move { request(&app, "GET", &url("seg5.m4s")).await.status() });
    tokio::time::sleep(SETTLE).await;
    assert!(!held.is_finished());
    put(&o.store, &key("seg5.m4s"), &b"s"[..]).await;
    assert_eq!(held.await.expect("request task"), 200);
}

#[tokio::test]
async fn a_part_that_never_comes_is_404_not_503() {
    let o = origin(short_wait(Duration::from_millis(100)));
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    let res = request(&o.app, "GET", &url("part5.2.m4s")).await;
    assert_eq!(res.status(), 404);
    assert_eq!(header(&res, "cache-control"), "no-cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hinted_part_skipped_by_the_edge_is_404_at_once() {
    // The segment closed with fewer parts than hinted: the edge moves past the part.
    let o = origin(OriginConfig::default());
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    let app = o.app.clone();
    let held =
        tokio::spawn(async move { request(&app, "GET", &url("part5.2.m4s")).await.status() });
    tokio::time::sleep(SETTLE).await;
    let started = Instant::now();
    put_playlist(&o.store, playlist(3, 6, 0, false)).await;
    assert_eq!(held.await.expect("request task"), 404);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_waiter_re_reads() {
    let o = origin(OriginConfig::default());
    put_playlist(&o.store, playlist(3, 5, 2, false)).await;
    let app = o.app.clone();
    let held = tokio::spawn(async move {
        request(&app, "GET", &url("index.m3u8?_HLS_msn=5&_HLS_part=2"))
            .await
            .status()
    });
    tokio::time::sleep(SETTLE).await;
    // Far more announcements than a subscriber buffers, the last one the answer.
    for i in 0..(amphi_hls::store::NOTIFY_CAPACITY + 100) {
        put(
            &o.store,
            &format!("live/other/720p/part{i}.0.m4s"),
            &b"x"[..],
        )
        .await;
    }
    put_playlist(&o.store, playlist(3, 5, 3, false)).await;
    let status = tokio::time::timeout(Duration::from_secs(2), held)
        .await
        .expect("answered")
        .expect("request task");
    assert_eq!(status, 200);
}
