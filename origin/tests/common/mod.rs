//! Shared test helpers: an origin over a real `MemoryStore`, hand-written LL-HLS
//! playlists and a one-shot request helper.
#![allow(dead_code)]

use amphi_hls::store::{ContentType, MemoryStore, Object, Store};
use amphi_origin::{EventCatalog, EventInfo, OriginConfig};
use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

pub const EVENT: &str = "cs101";
pub const RENDITION: &str = "720p";
pub const PARTS_PER_SEGMENT: u32 = 6;

pub struct Catalog(pub Vec<EventInfo>);

impl EventCatalog for Catalog {
    fn events(&self) -> Vec<EventInfo> {
        self.0.clone()
    }
}

pub struct Origin {
    pub store: Arc<MemoryStore>,
    pub app: Router,
}

pub fn origin(config: OriginConfig) -> Origin {
    origin_with_events(config, Vec::new())
}

pub fn origin_with_events(config: OriginConfig, events: Vec<EventInfo>) -> Origin {
    let store = Arc::new(MemoryStore::new());
    let app = amphi_origin::router(store.clone(), Arc::new(Catalog(events)), config);
    Origin { store, app }
}

/// A config whose blocking waits end after `wait`.
pub fn short_wait(wait: Duration) -> OriginConfig {
    OriginConfig {
        max_blocking_wait: wait,
        ..OriginConfig::default()
    }
}

/// A live media playlist whose segments `first..next_msn` are complete (six parts
/// each, parts listed for all of them), with `next_part` parts of segment `next_msn`
/// and a preload hint for the next one; or an ended playlist without hint.
pub fn playlist(first: u64, next_msn: u64, next_part: u32, ended: bool) -> String {
    let mut s = String::from(
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002,CAN-SKIP-UNTIL=12.0\n\
         #EXT-X-PART-INF:PART-TARGET=0.334\n",
    );
    let _ = writeln!(s, "#EXT-X-MEDIA-SEQUENCE:{first}");
    s.push_str("#EXT-X-MAP:URI=\"init.mp4\"\n");
    for msn in first..next_msn {
        for p in 0..PARTS_PER_SEGMENT {
            let _ = writeln!(
                s,
                "#EXT-X-PART:DURATION=0.334,URI=\"part{msn}.{p}.m4s\"{}",
                independent(p)
            );
        }
        let _ = writeln!(s, "#EXTINF:2.004,\nseg{msn}.m4s");
    }
    for p in 0..next_part {
        let _ = writeln!(
            s,
            "#EXT-X-PART:DURATION=0.334,URI=\"part{next_msn}.{p}.m4s\"{}",
            independent(p)
        );
    }
    if ended {
        s.push_str("#EXT-X-ENDLIST\n");
    } else {
        let _ = writeln!(
            s,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part{next_msn}.{next_part}.m4s\""
        );
    }
    s
}

fn independent(p: u32) -> &'static str {
    if p == 0 {
        ",INDEPENDENT=YES"
    } else {
        ""
    }
}

pub fn key(name: &str) -> String {
    format!("live/{EVENT}/{RENDITION}/{name}")
}

pub fn url(name: &str) -> String {
    format!("/live/{EVENT}/{RENDITION}/{name}")
}

pub async fn put(store: &MemoryStore, key: &str, data: impl Into<Bytes>) {
    let object = Object {
        data: data.into(),
        content_type: ContentType::for_key(key),
    };
    store.put(key, object).await.expect("memory store put");
}

pub async fn put_playlist(store: &MemoryStore, text: String) {
    put(store, &key("index.m3u8"), text).await;
}

pub async fn request(app: &Router, method: &str, uri: &str) -> Response<Body> {
    request_with(app, method, uri, &[]).await
}

pub async fn request_with(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> Response<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(Body::empty()).expect("a valid test request");
    app.clone()
        .oneshot(req)
        .await
        .expect("the router is infallible")
}

pub async fn body(res: Response<Body>) -> Bytes {
    res.into_body()
        .collect()
        .await
        .expect("a readable body")
        .to_bytes()
}

pub async fn text(res: Response<Body>) -> String {
    String::from_utf8_lossy(&body(res).await).into_owned()
}

pub fn header<'a>(res: &'a Response<Body>, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}
