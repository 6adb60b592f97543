//! An event's own part duration: two saved events on one server, one with the
//! server's default (0.2 s), one created with `amphi event create --part-duration
//! 0.5`, both published by ffmpeg; each media
//! playlist announces its event's PART-TARGET (and PART-HOLD-BACK, three of them) and
//! its parts last no longer.

mod common;

use common::*;
use std::time::Duration;

/// `amphi event create ID ARGS…`; returns the stream key it prints.
fn create_event(data: &std::path::Path, id: &str, args: &[&str]) -> String {
    let mut all = vec!["event", "create", id];
    all.extend_from_slice(args);
    let out = amphi_cli(data, &all, "");
    out.lines()
        .find_map(|l| l.strip_prefix("stream key: "))
        .expect("the new event's stream key")
        .trim()
        .to_owned()
}

/// The live media playlist of `event`'s first rendition once it lists parts.
fn live_playlist(c: &reqwest::blocking::Client, amphi: &Amphi, event: &str) -> String {
    let rendition = first_rendition(
        c,
        &amphi.url(&format!("/live/{event}/master.m3u8")),
        Duration::from_secs(30),
    );
    let url = amphi.url(&format!("/live/{event}/{rendition}/index.m3u8"));
    wait_for(
        "a playlist with two segments' parts",
        Duration::from_secs(30),
        || get_text(c, &url).filter(|p| p.matches("#EXTINF").count() >= 2),
    )
}

fn part_durations(playlist: &str) -> Vec<f64> {
    playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .filter_map(|l| attr(l, "DURATION")?.parse().ok())
        .collect()
}

#[test]
fn each_event_announces_and_cuts_its_own_parts() {
    let data = tempdir::TempDir::new("part-duration");
    let fast_key = create_event(data.path(), "fast", &[]);
    let slow_key = create_event(data.path(), "slow", &["--part-duration", "0.5"]);
    let amphi = Amphi::start_in(data.path(), &[]);
    let c = client();
    let _fast = Publisher::start(&amphi.rtmp, &fast_key, 320, 180, 40);
    let _slow = Publisher::start(&amphi.rtmp, &slow_key, 320, 180, 40);

    let fast = live_playlist(&c, &amphi, "fast");
    let slow = live_playlist(&c, &amphi, "slow");
    assert!(
        fast.contains("#EXT-X-PART-INF:PART-TARGET=0.200") && fast.contains("PART-HOLD-BACK=0.600"),
        "the default event's playlist:\n{fast}"
    );
    assert!(
        slow.contains("#EXT-X-PART-INF:PART-TARGET=0.500") && slow.contains("PART-HOLD-BACK=1.500"),
        "the slow event's playlist:\n{slow}"
    );
    for (name, playlist, target) in [("fast", &fast, 0.2), ("slow", &slow, 0.5)] {
        let parts = part_durations(playlist);
        assert!(parts.len() >= 4, "{name}: parts listed: {parts:?}");
        assert!(
            parts.iter().all(|&d| d <= target + 0.001),
            "{name}: every part within its target {target}: {parts:?}"
        );
    }
    let mean = |p: &str| {
        let d = part_durations(p);
        d.iter().sum::<f64>() / d.len() as f64
    };
    assert!(
        mean(&fast) < 0.25 && mean(&slow) > 0.4,
        "mean parts: {} s and {} s",
        mean(&fast),
        mean(&slow)
    );
}
