//! Cross-process wake-ups: a packager-side store announces puts at `/internal/notify`;
//! an origin whose store is a `NotifyingStore` following that stream answers blocking
//! playlist requests. Measures the delay from the put to the origin's answer, and
//! checks the fallbacks (polling while the stream is down, reconnection).

use amphi_hls::store::{ContentType, MemoryStore, Object, Store};
use amphi_origin::notify::{self, NotifyConfig, NotifyingStore};
use amphi_origin::{EventCatalog, EventInfo};
use axum::serve::ListenerExt;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

struct NoEvents;
impl EventCatalog for NoEvents {
    fn events(&self) -> Vec<EventInfo> {
        Vec::new()
    }
}

const KEY: &str = "live/wake/720p/index.m3u8";

/// A media playlist whose preload hint (the edge) is part `part` of segment `msn`.
fn playlist(msn: u64, part: u32) -> Object {
    let text = format!(
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
         #EXT-X-PART-INF:PART-TARGET=0.33334\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0\n\
         #EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part{msn}.{part}.m4s\"\n"
    );
    Object {
        data: Bytes::from(text),
        content_type: ContentType::Playlist,
    }
}

async fn serve(app: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn origin(store: Arc<dyn Store>) -> String {
    serve(amphi_origin::router(
        store,
        Arc::new(NoEvents),
        Default::default(),
    ))
    .await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Puts edge (i, 1) while a request for (i, 0) is blocked; returns the delay from the
/// put to the answer.
async fn one_wakeup(packager: &dyn Store, c: &reqwest::Client, origin: &str, i: u64) -> Duration {
    packager.put(KEY, playlist(i, 0)).await.expect("put");
    let url = format!("{origin}/live/wake/720p/index.m3u8?_HLS_msn={i}&_HLS_part=0");
    let c2 = c.clone();
    let request = tokio::spawn(async move {
        let r = c2.get(url).send().await.expect("request");
        let at = Instant::now();
        assert_eq!(r.status(), 200);
        let body = r.text().await.expect("body");
        (at, body)
    });
    // Let the request reach the origin and block.
    tokio::time::sleep(Duration::from_millis(15)).await;
    assert!(!request.is_finished(), "the request blocked");
    let put_at = Instant::now();
    packager.put(KEY, playlist(i, 1)).await.expect("put");
    let (answered_at, body) = request.await.expect("request task");
    assert!(body.contains(&format!("part{i}.1.m4s")), "{body}");
    answered_at.saturating_duration_since(put_at)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_to_origin_answer_over_the_notify_stream() {
    // The shared store (S3 in production): the packager writes, the origin reads, but
    // the origin hears of puts only through the packager's HTTP stream.
    let shared = Arc::new(MemoryStore::new());
    let packager_http = serve(notify::routes(shared.clone())).await;
    let origin_store = Arc::new(NotifyingStore::new(
        shared.clone(),
        NotifyConfig::new(format!("{packager_http}{}", notify::NOTIFY_PATH)),
    ));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !origin_store.is_connected() {
        assert!(Instant::now() < deadline, "follower connected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let origin = origin(origin_store.clone()).await;
    let c = client();

    let mut delays = Vec::new();
    for i in 0..100 {
        delays.push(one_wakeup(&*shared, &c, &origin, i).await);
    }
    delays.sort();
    let (median, p99, max) = (
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays[delays.len() - 1],
    );
    println!(
        "wake-up delay, packager put -> origin answer over /internal/notify ({} samples): median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        delays.len(),
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    assert!(median < Duration::from_millis(20), "median {median:?}");
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_stream_blocking_requests_complete_by_polling() {
    let shared = Arc::new(MemoryStore::new());
    // Nothing listens there.
    let dead = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}{}",
        dead.local_addr().expect("addr"),
        notify::NOTIFY_PATH
    );
    drop(dead);
    let mut config = NotifyConfig::new(url);
    config.poll_interval = Duration::from_millis(100);
    let origin_store = Arc::new(NotifyingStore::new(shared.clone(), config));
    let origin = origin(origin_store.clone()).await;
    let c = client();
    let mut delays = Vec::new();
    for i in 0..5 {
        delays.push(one_wakeup(&*shared, &c, &origin, i).await);
    }
    assert!(!origin_store.is_connected());
    println!("wake-up delay while polling every 100 ms: {delays:?}");
    assert!(
        delays.iter().all(|d| *d < Duration::from_millis(400)),
        "answered within a poll or so: {delays:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_reconnects_when_the_packager_comes_back() {
    let shared = Arc::new(MemoryStore::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let origin_store = Arc::new(NotifyingStore::new(
        shared.clone(),
        NotifyConfig::new(format!("http://{addr}{}", notify::NOTIFY_PATH)),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!origin_store.is_connected());
    // The packager starts (on the same address) after the origin.
    let listener = TcpListener::bind(addr).await.expect("rebind");
    let app = notify::routes(shared.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let started = Instant::now();
    while !origin_store.is_connected() {
        assert!(started.elapsed() < Duration::from_secs(6), "reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "reconnected {:?} after the packager came back",
        started.elapsed()
    );
    let mut rx = origin_store.subscribe();
    shared.put(KEY, playlist(0, 1)).await.expect("put");
    let key = loop {
        let k = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("announced in time")
            .expect("open");
        if &*k != amphi_hls::store::ANY_KEY {
            break k;
        }
    };
    assert_eq!(&*key, KEY);
}
