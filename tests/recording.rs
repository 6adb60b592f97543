//! When the lecturer stops and does not come back, the event becomes a recording: the
//! same playlist URL now lists every kept segment as a VOD playlist (EXT-X-ENDLIST),
//! and everything it lists can be fetched.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn an_ended_live_becomes_a_vod_playlist() {
    let amphi = Amphi::start_with(
        &[&format!("lecture:{KEY}")],
        &["--end-after", "3", "--record-minutes", "5"],
    );
    let c = client();
    let publisher = Publisher::start(&amphi.rtmp, KEY, 640, 360, 10);
    let playlist_url = amphi.url("/live/lecture/360p/index.m3u8");
    wait_for("the live playlist", Duration::from_secs(30), || {
        get_text(&c, &playlist_url)
    });
    let (ok, _) = publisher.wait(Duration::from_secs(30));
    assert_eq!(ok, Some(true), "the publisher streams its 10 s");

    let vod = wait_for("the VOD playlist", Duration::from_secs(20), || {
        get_text(&c, &playlist_url).filter(|t| t.contains("#EXT-X-ENDLIST"))
    });
    assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{vod}");
    assert!(!vod.contains("#EXT-X-PRELOAD-HINT"), "{vod}");
    assert_eq!(
        media_sequence(&vod),
        Some(0),
        "the recording starts at the first segment:\n{vod}"
    );
    let segments = segment_uris(&vod);
    assert!(segments.len() >= 4, "about 10 s of segments:\n{vod}");
    let base = playlist_url.trim_end_matches("index.m3u8");
    for uri in segments
        .iter()
        .chain(std::iter::once(&"init.mp4".to_owned()))
    {
        let r = c.get(format!("{base}{uri}")).send().expect("get");
        assert!(r.status().is_success(), "{uri}: {}", r.status());
    }
    // The delta playlist is the same recording, and the event is no longer live.
    let delta = get_text(&c, &format!("{playlist_url}?_HLS_skip=YES")).expect("delta");
    assert!(delta.contains("#EXT-X-ENDLIST"), "{delta}");
    let events = get_text(&c, &amphi.url("/api/events")).expect("events");
    assert!(events.contains("\"live\":false"), "{events}");
    assert!(amphi.logged("live ended"), "{}", amphi.log());
}
