//! A private event end to end: the real binary with `--event ID:KEY:private`, ffmpeg
//! publishing, and viewers with no token (401), an expired one (403) and a valid one
//! (master, media playlist and a part through the `/live/{event}/t/{token}/…` path).

mod common;

use common::*;
use std::time::Duration;

const EVENT: &str = "seminar";
const SECRET: &str = "e2e-viewer-secret";

fn status(c: &reqwest::blocking::Client, url: &str) -> u16 {
    c.get(url).send().expect("request").status().as_u16()
}

#[test]
fn private_event_needs_a_viewer_token() {
    // The child inherits it; this file holds a single test, so nothing races on it.
    std::env::set_var("AMPHI_VIEWER_SECRET", SECRET);
    let amphi = Amphi::start(&[&format!("{EVENT}:{KEY}:private"), "open:open-key"]);
    let c = client();
    let _publisher = Publisher::start(&amphi.rtmp, KEY, 640, 360, 60);

    let valid = amphi_origin::token::sign(SECRET.as_bytes(), EVENT, now_plus(600));
    let base = amphi.url(&format!("/live/{EVENT}/t/{valid}"));
    let master = wait_for("the master playlist", Duration::from_secs(30), || {
        get_text(&c, &format!("{base}/master.m3u8"))
    });
    let rendition = master
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .expect("a rendition in the master playlist")
        .to_owned();
    assert!(
        !rendition.starts_with('/') && !rendition.contains("://"),
        "rendition URIs are relative, so they inherit the token: {rendition}"
    );
    let playlist_url = format!("{base}/{rendition}");
    let dir = playlist_url.trim_end_matches("index.m3u8").to_owned();
    let playlist = wait_for(
        "a part in the media playlist",
        Duration::from_secs(20),
        || {
            let t = get_text(&c, &playlist_url)?;
            t.contains("#EXT-X-PART:").then_some(t)
        },
    );
    let part = playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .find_map(|l| attr(l, "URI"))
        .expect("a part URI");
    let bytes = get_bytes(&c, &format!("{dir}{part}")).expect("the part downloads");
    assert!(!bytes.is_empty());
    let init = attr(
        playlist
            .lines()
            .find(|l| l.starts_with("#EXT-X-MAP:"))
            .expect("a map"),
        "URI",
    )
    .expect("a map URI");
    assert!(get_bytes(&c, &format!("{dir}{init}")).is_some());

    // No token: 401, on every kind of object.
    let plain = amphi.url(&format!("/live/{EVENT}"));
    for name in [
        "master.m3u8",
        &rendition,
        &format!("{}{part}", rendition.trim_end_matches("index.m3u8")),
    ] {
        assert_eq!(status(&c, &format!("{plain}/{name}")), 401, "{name}");
    }
    // Expired, forged, or for another event: 403.
    let expired = amphi_origin::token::sign(SECRET.as_bytes(), EVENT, now_plus(-5));
    let forged = amphi_origin::token::sign(b"guessed", EVENT, now_plus(600));
    let other = amphi_origin::token::sign(SECRET.as_bytes(), "open", now_plus(600));
    for bad in [&expired, &forged, &other] {
        let url = amphi.url(&format!("/live/{EVENT}/t/{bad}/master.m3u8"));
        assert_eq!(status(&c, &url), 403, "{bad}");
        let url = amphi.url(&format!("/live/{EVENT}/t/{bad}/{rendition}"));
        assert_eq!(status(&c, &url), 403, "{bad}");
    }
    // The token never reaches the log.
    assert!(!amphi.log().contains(&valid), "the viewer token was logged");
    assert!(
        !amphi.log().contains(SECRET),
        "the viewer secret was logged"
    );
    // A public event is not affected: its (not live) master is 404, not 401.
    assert_eq!(status(&c, &amphi.url("/live/open/master.m3u8")), 404);
}
