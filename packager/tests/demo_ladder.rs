//! The demo source through the real ladder and packager into a memory store: every
//! rendition gets an init segment, parts, segments and LL-HLS playlists.

use amphi_hls::names;
use amphi_hls::playlist::parse_edge;
use amphi_hls::store::{MemoryStore, Store};
use amphi_ingest::hub::StaticKeys;
use amphi_ingest::{EventId, Hub};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn text(store: &MemoryStore, key: &str) -> Option<String> {
    let o = store.get(key).await.expect("memory store get")?;
    Some(String::from_utf8_lossy(&o.data).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_source_becomes_ll_hls() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "debug".into()),
        )
        .with_test_writer()
        .try_init();
    amphi_packager::init().expect("GStreamer init");
    let (hub, sessions) = Hub::new(Arc::new(StaticKeys::default()));
    let store = Arc::new(MemoryStore::new());
    let packager = amphi_packager::Packager::new(store.clone(), Default::default());
    tokio::spawn(packager.run(sessions));
    let event = EventId::parse("demo").expect("event id");
    tokio::spawn(amphi_packager::demo::run_demo(
        hub.clone(),
        event,
        1280,
        720,
    ));

    let deadline = Instant::now() + Duration::from_secs(30);
    let master_key = names::master_key("demo");
    let master = loop {
        if let Some(m) = text(&store, &master_key).await {
            break m;
        }
        assert!(Instant::now() < deadline, "no master playlist after 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("{master}");
    // A 720p source: passthrough + 480p + 360p.
    let variants = m3u8_rs::parse_master_playlist_res(master.as_bytes()).expect("master parses");
    assert_eq!(variants.variants.len(), 3, "{master}");

    // Wait for three complete segments in every rendition.
    for v in &variants.variants {
        let rendition = v.uri.trim_end_matches("/index.m3u8").to_owned();
        let key = names::playlist_key("demo", &rendition);
        loop {
            if let Some(p) = text(&store, &key).await {
                let edge = parse_edge(&p).expect("playlist edge");
                if edge.next_msn >= 3 {
                    println!("{rendition}:\n{p}");
                    let parsed =
                        m3u8_rs::parse_media_playlist_res(p.as_bytes()).expect("media playlist");
                    for seg in parsed.segments.iter() {
                        assert!(
                            seg.duration > 1.5 && seg.duration < 2.6,
                            "segment {} lasts {}",
                            seg.uri,
                            seg.duration
                        );
                    }
                    break;
                }
            }
            assert!(
                Instant::now() < deadline + Duration::from_secs(10),
                "{rendition}: no 3 segments"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let init = store
            .get(&names::rendition_key("demo", &rendition, "init.mp4"))
            .await
            .expect("get")
            .expect("init segment");
        assert_eq!(&init.data[4..8], b"ftyp");
    }
}
