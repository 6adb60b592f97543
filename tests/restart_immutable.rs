//! A restart never reuses a name served `immutable`: publish with `--store fs`, hash
//! every init segment, part and segment the playlists list, kill amphi, start it again
//! on the same store and publish again. Every URL served before returns the same bytes,
//! the media sequence continues (never back to 0), a new init generation and an
//! `EXT-X-DISCONTINUITY` mark the join, and the multivariant playlist is unchanged.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// Every media URI a media playlist lists: init segments, parts, segments.
fn media_uris(playlist: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in playlist.lines() {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:") {
            out.extend(attr(&format!("X:{rest}"), "URI").map(str::to_owned));
        } else if let Some(rest) = line.strip_prefix("#EXT-X-PART:") {
            out.extend(attr(&format!("X:{rest}"), "URI").map(str::to_owned));
        }
    }
    out.extend(segment_uris(playlist));
    out
}

fn renditions(master: &str) -> Vec<String> {
    segment_uris(master)
        .iter()
        .filter_map(|u| u.split('/').next().map(str::to_owned))
        .collect()
}

/// Fetches every media object of every rendition: path → bytes.
fn served(
    c: &reqwest::blocking::Client,
    amphi: &Amphi,
    master: &str,
) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, String>) {
    let mut media = BTreeMap::new();
    let mut playlists = BTreeMap::new();
    for r in renditions(master) {
        let text = get_text(c, &amphi.url(&format!("/live/lecture/{r}/index.m3u8")))
            .expect("media playlist");
        for uri in media_uris(&text) {
            let path = format!("/live/lecture/{r}/{uri}");
            let bytes = get_bytes(c, &amphi.url(&path))
                .unwrap_or_else(|| panic!("{path} is listed but not served"));
            media.insert(path, bytes);
        }
        playlists.insert(r, text);
    }
    (media, playlists)
}

#[test]
fn a_restart_keeps_every_served_url_and_continues_the_numbering() {
    let data = tempdir_for_test();
    let args = ["--store", "fs", "--end-after", "60"];
    let events = [format!("lecture:{KEY}")];
    let events: Vec<&str> = events.iter().map(String::as_str).collect();
    let c = client();

    let amphi = Amphi::start_in_with(data.path(), &events, &args);
    let publisher = Publisher::start(&amphi.rtmp, KEY, 640, 360, 60);
    let master_before = wait_for("the master playlist", Duration::from_secs(30), || {
        get_text(&c, &amphi.url("/live/lecture/master.m3u8"))
            .filter(|m| m.contains("#EXT-X-STREAM-INF"))
    });
    let top = renditions(&master_before)[0].clone();
    let top_url = |a: &Amphi| a.url(&format!("/live/lecture/{top}/index.m3u8"));
    wait_for("three complete segments", Duration::from_secs(40), || {
        get_text(&c, &top_url(&amphi)).filter(|p| segment_uris(p).len() >= 3)
    });
    let (before, playlists) = served(&c, &amphi, &master_before);
    let hint_before = preload_hint(&playlists[&top]).expect("a live playlist");
    println!(
        "before the restart: {} objects served, edge at {hint_before:?}",
        before.len()
    );
    // The process dies (no clean shutdown), as with a crash or a kill -9.
    drop(publisher);
    drop(amphi);

    let amphi = Amphi::start_in_with(data.path(), &events, &args);
    let _publisher = Publisher::start(&amphi.rtmp, KEY, 640, 360, 60);
    let after = wait_for(
        "new segments after the restart",
        Duration::from_secs(40),
        || {
            get_text(&c, &top_url(&amphi))
                .filter(|p| preload_hint(p).is_some_and(|(msn, _)| msn >= hint_before.0 + 3))
        },
    );
    let (first_before, first_after) = (
        media_sequence(&playlists[&top]).expect("media sequence"),
        media_sequence(&after).expect("media sequence"),
    );
    assert!(
        first_after >= first_before && first_after <= hint_before.0,
        "the window continues from {first_before}:\n{after}"
    );
    assert!(after.contains("#EXT-X-DISCONTINUITY\n"), "{after}");
    assert!(
        after.contains("init-1.mp4"),
        "a new init generation:\n{after}"
    );
    // Segment numbers continue one by one.
    let msns: Vec<u64> = segment_uris(&after)
        .iter()
        .filter_map(|u| u.strip_prefix("seg")?.strip_suffix(".m4s")?.parse().ok())
        .collect();
    assert!(
        msns.windows(2).all(|w| w[1] == w[0] + 1),
        "contiguous: {msns:?}"
    );
    assert!(
        msns.contains(&hint_before.0),
        "the segment cut by the crash is closed and listed: {msns:?}"
    );

    // Every URL served before returns the same bytes.
    let mut same = 0;
    for (path, bytes) in &before {
        let now = get_bytes(&c, &amphi.url(path)).unwrap_or_else(|| panic!("{path} gone"));
        assert!(now == *bytes, "{path} changed after the restart");
        same += 1;
    }
    println!(
        "after the restart: {same} objects unchanged, edge at {:?}",
        preload_hint(&after)
    );
    let master_after = get_text(&c, &amphi.url("/live/lecture/master.m3u8")).expect("master");
    assert_eq!(
        master_after, master_before,
        "the multivariant playlist is unchanged"
    );
    assert!(amphi.logged("resumed from the store"), "{}", amphi.log());
}

fn tempdir_for_test() -> common::tempdir::TempDir {
    common::tempdir::TempDir::new("restart")
}
