//! OBS loses its network and reconnects with the same key: the event goes on. The
//! playlists continue after an EXT-X-DISCONTINUITY, and no URL that was listed starts
//! answering 404.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn rendition_urls(c: &reqwest::blocking::Client, amphi: &Amphi) -> Vec<(String, String)> {
    let master = get_text(c, &amphi.url("/live/lecture/master.m3u8")).expect("master");
    master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|uri| {
            let playlist = amphi.url(&format!("/live/lecture/{uri}"));
            let base = playlist.trim_end_matches("index.m3u8").to_owned();
            (playlist, base)
        })
        .collect()
}

fn listed_uris(playlist: &str) -> Vec<String> {
    let mut v = segment_uris(playlist);
    for l in playlist.lines() {
        if l.starts_with("#EXT-X-PART:") || l.starts_with("#EXT-X-MAP:") {
            if let Some(u) = attr(l, "URI") {
                v.push(u.to_owned());
            }
        }
    }
    v
}

#[test]
fn encoder_drop_and_reconnect_keeps_the_event_going() {
    let amphi = Amphi::start(&[&format!("lecture:{KEY}")]);
    let c = client();
    let first = Publisher::start(&amphi.rtmp, KEY, 1280, 720, 120);
    wait_for("three segments", Duration::from_secs(40), || {
        get_text(&c, &amphi.url("/live/lecture/master.m3u8"))?;
        let r = rendition_urls(&c, &amphi);
        let t = get_text(&c, &r.first()?.0)?;
        (segment_uris(&t).len() >= 3).then_some(())
    });
    let renditions = rendition_urls(&c, &amphi);
    let mut before = Vec::new();
    for (playlist, base) in &renditions {
        let t = get_text(&c, playlist).expect("playlist");
        for u in listed_uris(&t) {
            before.push(format!("{base}{u}"));
        }
    }
    let edge_before =
        preload_hint(&get_text(&c, &renditions[0].0).expect("playlist")).expect("hint");

    first.kill();
    std::thread::sleep(Duration::from_secs(3)); // the encoder is away for 3 s
    let _second = Publisher::start(&amphi.rtmp, KEY, 1280, 720, 120);
    let republished = Instant::now();

    // Within 10 s the playlists continue, past a discontinuity.
    let after = wait_for(
        "new segments after the reconnect",
        Duration::from_secs(10),
        || {
            let t = get_text(&c, &renditions[0].0)?;
            let (msn, _) = preload_hint(&t)?;
            (t.contains("#EXT-X-DISCONTINUITY") && msn >= edge_before.0 + 2).then_some(t)
        },
    );
    eprintln!(
        "playlist advancing again {:?} after the new publish",
        republished.elapsed()
    );
    assert!(
        after.contains("#EXT-X-MAP:URI=\"init-1.mp4\""),
        "a new init segment is announced:\n{after}"
    );
    assert!(
        media_sequence(&after).expect("media sequence") <= edge_before.0,
        "the media sequence continues"
    );

    // Nothing listed before the drop answers 404 now.
    for url in &before {
        let r = c.get(url).send().expect("get");
        assert!(
            r.status().is_success(),
            "{url} answered {} after the reconnect",
            r.status()
        );
    }
    // Every rendition continues.
    for (playlist, _) in &renditions {
        let t = get_text(&c, playlist).expect("playlist");
        assert!(t.contains("#EXT-X-DISCONTINUITY"), "{playlist}:\n{t}");
    }
}
