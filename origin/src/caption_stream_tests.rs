#![allow(clippy::unwrap_used)]
//! The captions stream against a real in-memory store, written as the packager writes
//! (the hls crate's subtitles playlist and WebVTT writers), read through the router.

use super::*;
use crate::notify::SseReader;
use crate::{assets, build, EventCatalog, EventInfo, OriginConfig};
use amphi_hls::store::{ContentType, MemoryStore, Object, StoreError};
use amphi_hls::subtitles::{render_live_with_parts, LiveParts, SubtitleSegment};
use amphi_hls::vtt::{render_segment, VttCue};
use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::time::SystemTime;
use tower::ServiceExt;

const EVENT: &str = "cs101";
const PRIVATE: &str = "private-talk";
const SECRET: &str = "viewer-secret";
const PART: Duration = Duration::from_millis(500);

/// A memory store that counts the reads of each key.
#[derive(Default)]
struct CountingStore {
    inner: MemoryStore,
    gets: Mutex<HashMap<String, usize>>,
}

impl CountingStore {
    fn gets(&self, key: &str) -> usize {
        lock(&self.gets).get(key).copied().unwrap_or(0)
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn put(&self, key: &str, object: Object) -> Result<(), StoreError> {
        self.inner.put(key, object).await
    }
    async fn get(&self, key: &str) -> Result<Option<amphi_hls::store::Object>, StoreError> {
        *lock(&self.gets).entry(key.to_owned()).or_default() += 1;
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix).await
    }
    fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.inner.subscribe()
    }
}

struct Catalog;
impl EventCatalog for Catalog {
    fn events(&self) -> Vec<EventInfo> {
        Vec::new()
    }
    fn access(&self, event: &str) -> crate::Access {
        if event == PRIVATE {
            crate::Access::Private {
                viewer_secret: SECRET.to_owned(),
            }
        } else {
            crate::Access::Public
        }
    }
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000)
}

fn key(event: &str, file: &str) -> String {
    names::rendition_key(event, names::SUBTITLES_RENDITION, file)
}

async fn put(store: &dyn Store, key: &str, text: String, content_type: ContentType) {
    store
        .put(
            key,
            Object {
                data: Bytes::from(text),
                content_type,
            },
        )
        .await
        .unwrap();
}

/// Writes part `n` of the open segment 10 (program time `t0` + 20 s, media time 20 s)
/// with `cues` (ms after the segment's start), then the playlist listing it.
async fn write_part(store: &dyn Store, event: &str, n: u32, cues: &[(u64, u64, &str)]) {
    let local = Duration::from_secs(20);
    let vtt: Vec<VttCue<'_>> = cues
        .iter()
        .map(|&(s, e, text)| VttCue {
            start: local + Duration::from_millis(s),
            end: local + Duration::from_millis(e),
            text,
        })
        .collect();
    put(
        store,
        &key(event, &names::subtitle_part_name(10, n)),
        render_segment(1_800_000, local, &vtt),
        ContentType::Vtt,
    )
    .await;
    let open = SubtitleSegment {
        msn: 10,
        duration: Duration::ZERO,
        program_date_time: t0() + Duration::from_secs(20),
        discontinuity: false,
        parts: vec![PART; n as usize + 1],
    };
    let playlist = render_live_with_parts(
        &[],
        0,
        Duration::from_secs(2),
        LiveParts {
            part_target: PART,
            open: Some(&open),
        },
    );
    put(
        store,
        &names::playlist_key(event, names::SUBTITLES_RENDITION),
        playlist,
        ContentType::Playlist,
    )
    .await;
}

fn app(store: Arc<CountingStore>) -> Router {
    build(
        store,
        Arc::new(Catalog),
        OriginConfig::default(),
        assets::PLAYER_ASSETS,
        Arc::default(),
    )
}

async fn open(app: &Router, uri: &str) -> axum::response::Response {
    let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
    app.clone().oneshot(req).await.unwrap()
}

/// A stream's body read event by event.
struct Events {
    body: Body,
    reader: SseReader,
    ready: std::collections::VecDeque<String>,
}

impl Events {
    fn new(res: axum::response::Response) -> Events {
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(res.headers()["x-accel-buffering"], "no");
        Events {
            body: res.into_body(),
            reader: SseReader::default(),
            ready: Default::default(),
        }
    }

    /// The next cue pushed, as JSON.
    async fn next_cue(&mut self) -> serde_json::Value {
        loop {
            if let Some(data) = self.ready.pop_front() {
                return serde_json::from_str(&data).unwrap();
            }
            let frame = tokio::time::timeout(Duration::from_secs(5), self.body.frame())
                .await
                .expect("a cue within 5 s")
                .expect("the stream stays open")
                .unwrap();
            if let Some(bytes) = frame.data_ref() {
                let mut out = Vec::new();
                self.reader.push(bytes, &mut out).unwrap();
                self.ready.extend(out);
            }
        }
    }
}

fn at_ms(offset: u64) -> u64 {
    (t0() + Duration::from_millis(offset))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn pushes_each_cue_once_read_to_every_stream() {
    let store = Arc::new(CountingStore::default());
    let app = app(store.clone());
    write_part(&*store, EVENT, 0, &[]).await;
    let mut a = Events::new(open(&app, &format!("/live/{EVENT}/captions/events")).await);
    let mut b = Events::new(open(&app, &format!("/live/{EVENT}/captions/events")).await);
    write_part(&*store, EVENT, 1, &[(600, 2_600, "Entropy & <bits>")]).await;
    for s in [&mut a, &mut b] {
        let cue = s.next_cue().await;
        assert_eq!(cue["start"], at_ms(20_600));
        assert_eq!(cue["end"], at_ms(22_600));
        assert_eq!(cue["text"], "Entropy & <bits>");
    }
    // The same cue in the next part is not pushed again; a new one is.
    write_part(
        &*store,
        EVENT,
        2,
        &[(600, 2_600, "Entropy & <bits>"), (1_100, 1_900, "one bit")],
    )
    .await;
    for s in [&mut a, &mut b] {
        assert_eq!(s.next_cue().await["text"], "one bit");
    }
    // Read once by this origin, whatever the number of streams.
    assert_eq!(store.gets(&key(EVENT, "part10.1.vtt")), 1);
    assert_eq!(store.gets(&key(EVENT, "part10.2.vtt")), 1);

    // A viewer who (re)connects gets the recent cues first.
    let mut c = Events::new(open(&app, &format!("/live/{EVENT}/captions/events")).await);
    assert_eq!(c.next_cue().await["text"], "Entropy & <bits>");
    assert_eq!(c.next_cue().await["text"], "one bit");
}

#[tokio::test]
async fn private_events_need_a_viewer_token() {
    let store = Arc::new(CountingStore::default());
    let app = app(store.clone());
    write_part(&*store, PRIVATE, 0, &[(0, 1_000, "secret lecture")]).await;
    let res = open(&app, &format!("/live/{PRIVATE}/captions/events")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = open(&app, &format!("/live/{PRIVATE}/t/1.bad/captions/events")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let token = crate::token::sign(
        SECRET.as_bytes(),
        PRIVATE,
        crate::live::wall_now() + Duration::from_secs(600),
    );
    let mut s =
        Events::new(open(&app, &format!("/live/{PRIVATE}/t/{token}/captions/events")).await);
    write_part(&*store, PRIVATE, 1, &[(0, 1_000, "secret lecture")]).await;
    assert_eq!(s.next_cue().await["text"], "secret lecture");
    let res = open(&app, "/live/Bad.Event/captions/events").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn streams_are_capped_per_event_and_the_last_one_stops_the_follower() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let state = Arc::new(AppState {
        store: store.clone(),
        catalog: Arc::new(Catalog),
        config: OriginConfig::default(),
        assets: assets::PLAYER_ASSETS,
        metrics: Arc::default(),
        held: Arc::new(crate::budget::HeldBudget::new(10, 10)),
        waiters: Arc::default(),
        captions: CaptionHub {
            events: Mutex::default(),
            max_streams: 2,
        },
    });
    let first = serve(&state, EVENT).await.unwrap();
    let second = serve(&state, EVENT).await.unwrap();
    assert_eq!(state.captions.streams(EVENT), 2);
    match serve(&state, EVENT).await {
        Err(e @ LiveError::Busy(_)) => {
            assert_eq!(e.into_response().status(), StatusCode::SERVICE_UNAVAILABLE)
        }
        other => panic!("a third stream: {:?}", other.map(|r| r.status())),
    }
    // Another event has its own cap.
    let other = serve(&state, "other").await.unwrap();
    drop(first);
    assert_eq!(state.captions.streams(EVENT), 1);
    drop(second);
    assert_eq!(state.captions.streams(EVENT), 0);
    assert!(!lock(&state.captions.events).contains_key(EVENT));
    assert!(lock(&state.captions.events).contains_key("other"));
    drop(other);
    assert!(lock(&state.captions.events).is_empty());
}
