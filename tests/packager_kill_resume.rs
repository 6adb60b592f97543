//! Crash safety: a packager process (`--role packager --store fs`) killed with
//! SIGKILL and started again (as systemd `Restart=always` or Kubernetes would) resumes
//! its live event: the publisher reconnects as OBS does, new parts are listed within
//! 5 s of the restart, numbering continues, and a viewer following the stream through
//! a separate origin process keeps going without reloading anything.

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Follows a media playlist with blocking reloads like an LL-HLS player: asks for the
/// hinted part, then the next; retries through errors (the origin answers 503 while
/// nothing is produced). Records every edge it was answered with.
fn follow(url: String, stop: Arc<AtomicBool>, edges: Arc<Mutex<Vec<(u64, u32)>>>) {
    let c = client();
    let mut next = None;
    while !stop.load(Ordering::SeqCst) {
        let req = match next {
            Some((m, p)) => format!("{url}?_HLS_msn={m}&_HLS_part={p}"),
            None => url.clone(),
        };
        match get_text(&c, &req).and_then(|t| preload_hint(&t)) {
            Some(hint) => {
                edges.lock().expect("edges").push(hint);
                next = Some(hint);
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn a_killed_packager_resumes_its_live_event_within_five_seconds() {
    let data = tempdir::TempDir::new("kill");
    let store = data.path().join("media");
    let store = store.to_str().expect("utf-8 path");
    let events = [format!("lecture:{KEY}")];
    let events: Vec<&str> = events.iter().map(String::as_str).collect();
    let packager_args = [
        "--role",
        "packager",
        "--store",
        "fs",
        "--store-dir",
        store,
        "--end-after",
        "60",
    ];
    let origin_args = ["--role", "origin", "--store", "fs", "--store-dir", store];
    let c = client();

    let packager_dir = data.path().join("packager");
    std::fs::create_dir_all(&packager_dir).expect("dir");
    let packager = Amphi::start_in_with(&packager_dir, &events, &packager_args);
    let origin = Amphi::start_with(&events, &origin_args);
    let publisher = Publisher::start(&packager.rtmp, KEY, 640, 360, 120);
    let rendition = first_rendition(
        &c,
        &origin.url("/live/lecture/master.m3u8"),
        Duration::from_secs(30),
    );
    let url = origin.url(&format!("/live/lecture/{rendition}/index.m3u8"));
    wait_for("two complete segments", Duration::from_secs(40), || {
        get_text(&c, &url).filter(|p| segment_uris(p).len() >= 2)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let edges = Arc::new(Mutex::new(Vec::new()));
    let viewer = {
        let (url, stop, edges) = (url.clone(), stop.clone(), edges.clone());
        std::thread::spawn(move || follow(url, stop, edges))
    };
    std::thread::sleep(Duration::from_secs(2));

    // kill -9: no shutdown of any kind. The encoder loses its connection.
    drop(packager);
    drop(publisher);
    let cut = get_text(&c, &url).expect("the origin still serves the playlist");
    let (cut_msn, cut_part) = preload_hint(&cut).expect("the playlist was live");
    std::thread::sleep(Duration::from_secs(1));

    let restarted = Instant::now();
    let packager = Amphi::start_in_with(&packager_dir, &events, &packager_args);
    let ready = restarted.elapsed();
    // OBS reconnects on its own within a few seconds; ffmpeg here, at once.
    let _publisher = Publisher::start(&packager.rtmp, KEY, 640, 360, 120);
    let resumed = wait_for(
        "the playlist closing the segment the crash cut",
        Duration::from_secs(10),
        || {
            get_text(&c, &url)
                .filter(|p| preload_hint(p).is_some_and(|h| h > (cut_msn, cut_part)))
                .map(|_| restarted.elapsed())
        },
    );
    let (new_parts, playlist) = wait_for(
        "new parts after the restart",
        Duration::from_secs(20),
        || {
            get_text(&c, &url)
                .filter(|p| p.contains("#EXT-X-DISCONTINUITY\n"))
                .filter(|p| preload_hint(p).is_some_and(|(msn, part)| msn > cut_msn && part >= 1))
                .map(|p| (restarted.elapsed(), p))
        },
    );
    println!(
        "kill -9 resume: packager ready after {ready:?}, event resumed (crash-cut segment closed) after {resumed:?}, first new parts listed after {new_parts:?}"
    );
    assert!(
        new_parts < Duration::from_secs(5),
        "new parts within 5 s of the restart, took {new_parts:?}"
    );
    assert!(playlist.contains("init-1.mp4"), "{playlist}");
    assert!(packager.logged("event resumed"), "{}", packager.log());

    // The viewer went on through the crash: its edge only moved forward, past the cut.
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    viewer.join().expect("viewer");
    let edges = edges.lock().expect("edges").clone();
    assert!(
        edges.windows(2).all(|w| w[1] >= w[0]),
        "the viewer's edge never went back: {edges:?}"
    );
    assert!(
        edges.last().is_some_and(|e| e.0 > cut_msn),
        "the viewer followed past the cut at {cut_msn}: {edges:?}"
    );
}
