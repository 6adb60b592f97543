use super::*;
use crate::test_support::{body_string, request};
use crate::{build, Access, EventCatalog, EventInfo, OriginConfig};
use amphi_hls::names;
use amphi_hls::store::{ContentType, MemoryStore, Object, Store};
use bytes::Bytes;
use http_body_util::BodyExt;

struct Catalog {
    live: bool,
    private: bool,
}

impl EventCatalog for Catalog {
    fn events(&self) -> Vec<EventInfo> {
        vec![EventInfo {
            id: "cours".into(),
            title: "Entropie: cours n°2".into(),
            live: self.live,
            protocol: None,
            starts_at: None,
        }]
    }
    fn access(&self, _event: &str) -> Access {
        if self.private {
            Access::Private {
                viewer_secret: "s3cret".into(),
            }
        } else {
            Access::Public
        }
    }
}

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

fn full(rest: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 0];
    v.extend_from_slice(rest);
    v
}

/// A one-track init segment (timescale 1000) and a segment starting at `tfdt`.
fn init() -> Vec<u8> {
    let header = full(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 232, 0, 0, 0, 0]);
    let tkhd = full(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    let stbl = bx(b"stbl", &bx(b"stsd", &full(&[0, 0, 0, 0])));
    let mut mdia = bx(b"mdhd", &header);
    mdia.extend(bx(b"minf", &stbl));
    let mut trak = bx(b"tkhd", &tkhd);
    trak.extend(bx(b"mdia", &mdia));
    let mut moov = bx(b"mvhd", &header);
    moov.extend(bx(b"trak", &trak));
    moov.extend(bx(b"mvex", &bx(b"trex", &full(&[0; 20]))));
    bx(b"moov", &moov)
}

fn segment(tfdt: u32) -> Vec<u8> {
    let mut traf = bx(b"tfhd", &full(&1u32.to_be_bytes()));
    traf.extend(bx(b"tfdt", &full(&tfdt.to_be_bytes())));
    let mut moof = bx(b"mfhd", &full(&[0, 0, 0, 9]));
    moof.extend(bx(b"traf", &traf));
    let mut out = bx(b"moof", &moof);
    out.extend(bx(b"mdat", b"frames"));
    out
}

async fn put(store: &MemoryStore, key: &str, data: Vec<u8>) {
    store
        .put(
            key,
            Object {
                data: Bytes::from(data),
                content_type: ContentType::for_key(key),
            },
        )
        .await
        .expect("memory store put");
}

async fn recorded(ended: bool) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    put(
        &store,
        &names::master_key("cours"),
        b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=600000\n360p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2500000\n720p/index.m3u8\n".to_vec(),
    )
    .await;
    let mut playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n\
        #EXTINF:2.0,\nseg0.m4s\n#EXTINF:2.0,\nseg1.m4s\n"
        .to_owned();
    if ended {
        playlist.push_str("#EXT-X-ENDLIST\n");
    }
    put(
        &store,
        &names::recording_key("cours", "720p"),
        playlist.into_bytes(),
    )
    .await;
    put(
        &store,
        &names::rendition_key("cours", "720p", "init.mp4"),
        init(),
    )
    .await;
    put(
        &store,
        &names::rendition_key("cours", "720p", "seg0.m4s"),
        segment(5000),
    )
    .await;
    put(
        &store,
        &names::rendition_key("cours", "720p", "seg1.m4s"),
        segment(7000),
    )
    .await;
    store
}

fn app(store: Arc<MemoryStore>, live: bool, private: bool) -> axum::Router {
    build(
        store,
        Arc::new(Catalog { live, private }),
        OriginConfig::default(),
        &[],
        Arc::default(),
    )
}

#[tokio::test]
async fn an_ended_recording_downloads_as_one_mp4_of_the_top_rendition() {
    let app = app(recorded(true).await, false, false);
    let res = request(&app, "GET", "/live/cours/recording.mp4").await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert_eq!(h[header::CONTENT_TYPE], "video/mp4");
    assert_eq!(h[header::CACHE_CONTROL], CACHE_ENDED);
    let disposition = h[header::CONTENT_DISPOSITION].to_str().expect("ascii");
    assert!(
        disposition.starts_with("attachment; filename=\"Entropie_ cours n_2.mp4\""),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename*=UTF-8''Entropie%3A%20cours%20n%C2%B02.mp4"),
        "{disposition}"
    );
    assert!(
        h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none()
            || h[header::ACCESS_CONTROL_ALLOW_ORIGIN] == "*"
    );
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    // Init (with a 20-byte mehd) then both segments, retimed to start at 0.
    assert_eq!(bytes.len(), init().len() + 20 + 2 * segment(0).len());
    let first = &bytes[init().len() + 20..];
    let second = &first[segment(0).len()..];
    let u32_at = |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    assert_eq!(
        (u32_at(first, 20), u32_at(first, 60)),
        (1, 0),
        "sequence 1 at 0 s"
    );
    assert_eq!(
        (u32_at(second, 20), u32_at(second, 60)),
        (2, 2000),
        "sequence 2 at 2 s"
    );
}

#[tokio::test]
async fn during_the_live_the_recording_so_far_is_not_cached() {
    let app = app(recorded(false).await, true, false);
    let res = request(&app, "GET", "/live/cours/recording.mp4").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn no_recording_is_404_and_a_private_event_needs_a_token() {
    let empty = app(Arc::new(MemoryStore::new()), false, false);
    let res = request(&empty, "GET", "/live/cours/recording.mp4").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(body_string(res).await.contains("no recording"));

    let private = app(recorded(true).await, false, true);
    let res = request(&private, "GET", "/live/cours/recording.mp4").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = request(&private, "GET", "/live/cours/t/forged/recording.mp4").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let token = crate::token::sign(
        b"s3cret",
        "cours",
        wall_now() + std::time::Duration::from_secs(600),
    );
    let res = request(
        &private,
        "GET",
        &format!("/live/cours/t/{token}/recording.mp4"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The media routes still answer beside the download.
    let res = request(
        &private,
        "GET",
        &format!("/live/cours/t/{token}/720p/init.mp4"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn downloads_beyond_the_cap_wait_for_a_slot() {
    let store = recorded(true).await;
    let app = build(
        store,
        Arc::new(Catalog {
            live: false,
            private: false,
        }),
        OriginConfig::default(),
        &[],
        Arc::default(),
    );
    let mut held = Vec::new();
    for _ in 0..DEFAULT_MAX_DOWNLOADS {
        let res = request(&app, "GET", "/live/cours/recording.mp4").await;
        assert_eq!(res.status(), StatusCode::OK);
        held.push(res);
    }
    let res = request(&app, "GET", "/live/cours/recording.mp4").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    // A finished download frees its slot.
    let done = held.pop().expect("one held");
    let _ = done.into_body().collect().await;
    let res = request(&app, "GET", "/live/cours/recording.mp4").await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[test]
fn file_names_are_safe() {
    assert_eq!(
        content_disposition("\"quoted\"; x=1\r\n"),
        "attachment; filename=\"_quoted__ x_1.mp4\"; filename*=UTF-8''%22quoted%22%3B%20x%3D1.mp4"
    );
    assert!(content_disposition("").contains("filename=\"recording.mp4\""));
    assert!(HeaderValue::from_str(&content_disposition("Cours d'été ✓")).is_ok());
}
