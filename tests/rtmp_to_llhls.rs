//! A lecturer publishes 1080p30 H.264 High + AAC over RTMP exactly as OBS does; the
//! LL-HLS output is checked against the media and HTTP contracts and decoded by ffprobe.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[test]
fn rtmp_1080p_to_four_llhls_renditions() {
    let amphi = Amphi::start(&[&format!("lecture:{KEY}")]);
    let _publisher = Publisher::start(&amphi.rtmp, KEY, 1920, 1080, 60);
    let c = client();

    // Multivariant playlist with four renditions.
    let master_url = amphi.url("/live/lecture/master.m3u8");
    let master = wait_for(
        "a master playlist with 4 renditions",
        Duration::from_secs(30),
        || {
            let text = get_text(&c, &master_url)?;
            (text.matches("#EXT-X-STREAM-INF").count() >= 4).then_some(text)
        },
    );
    let parsed = m3u8_rs::parse_master_playlist_res(master.as_bytes()).expect("master parses");
    let mut heights = BTreeSet::new();
    for v in &parsed.variants {
        assert!(v.bandwidth > 0, "{master}");
        assert!(
            v.average_bandwidth.is_some(),
            "AVERAGE-BANDWIDTH missing:\n{master}"
        );
        assert!(
            v.codecs.as_deref().is_some_and(|c| c.contains("avc1.")),
            "CODECS:\n{master}"
        );
        assert!(v.frame_rate.is_some(), "FRAME-RATE missing:\n{master}");
        heights.insert(v.resolution.expect("RESOLUTION").height);
    }
    assert_eq!(
        heights.into_iter().collect::<Vec<_>>(),
        vec![360, 480, 720, 1080],
        "{master}"
    );

    let head = c.get(&master_url).send().expect("master");
    assert_eq!(
        head.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );

    for v in &parsed.variants {
        let height = v.resolution.expect("RESOLUTION").height as u32;
        let base = master_url.trim_end_matches("master.m3u8").to_owned()
            + v.uri.trim_end_matches("index.m3u8");
        check_rendition(&c, &amphi, &base, height);
    }

    // Delta updates once the window is longer than CAN-SKIP-UNTIL (12 s).
    let first = &parsed.variants[0].uri;
    let playlist_url = format!("{}{}", master_url.trim_end_matches("master.m3u8"), first);
    let delta = wait_for(
        "a delta playlist with EXT-X-SKIP",
        Duration::from_secs(40),
        || {
            let text = get_text(&c, &format!("{playlist_url}?_HLS_skip=YES"))?;
            text.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=")
                .then_some(text)
        },
    );
    let full = get_text(&c, &playlist_url).expect("full playlist");
    assert!(
        segment_uris(&delta).len() < segment_uris(&full).len(),
        "delta is shorter"
    );
}

fn check_rendition(c: &reqwest::blocking::Client, amphi: &Amphi, base: &str, height: u32) {
    let url = format!("{base}index.m3u8");
    // Wait for two complete segments.
    let playlist = wait_for("two complete segments", Duration::from_secs(30), || {
        let t = get_text(c, &url)?;
        (segment_uris(&t).len() >= 2).then_some(t)
    });
    for tag in [
        "#EXT-X-TARGETDURATION:",
        "#EXT-X-PART-INF:PART-TARGET=",
        "#EXT-X-SERVER-CONTROL:",
        "#EXT-X-PRELOAD-HINT:TYPE=PART",
        "#EXT-X-PROGRAM-DATE-TIME:",
        "#EXT-X-RENDITION-REPORT:",
        "#EXT-X-MAP:URI=",
        "INDEPENDENT=YES",
    ] {
        assert!(
            playlist.contains(tag),
            "{height}p playlist lacks {tag}:\n{playlist}"
        );
    }
    let sc = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-SERVER-CONTROL:"))
        .expect("server control");
    assert_eq!(attr(sc, "CAN-BLOCK-RELOAD"), Some("YES"));
    assert!(attr(sc, "CAN-SKIP-UNTIL").is_some());
    let pinf = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PART-INF:"))
        .expect("part inf");
    let part_target: f64 = attr(pinf, "PART-TARGET")
        .and_then(|v| v.parse().ok())
        .expect("PART-TARGET");
    let hold_back: f64 = attr(sc, "PART-HOLD-BACK")
        .and_then(|v| v.parse().ok())
        .expect("PART-HOLD-BACK");
    assert!(
        hold_back >= 3.0 * part_target - 1e-6,
        "PART-HOLD-BACK {hold_back} < 3 × {part_target}"
    );
    assert!(
        (0.2..=0.5).contains(&part_target),
        "{height}p: part target {part_target}:\n{playlist}"
    );

    // The first part of every segment listed with parts is independent.
    let mut expect_independent = true;
    for l in playlist.lines() {
        if l.starts_with("#EXT-X-PART:") {
            if expect_independent {
                assert_eq!(
                    attr(l, "INDEPENDENT"),
                    Some("YES"),
                    "first part not independent: {l}"
                );
            }
            expect_independent = false;
        } else if !l.starts_with('#') && !l.is_empty() {
            expect_independent = true;
        }
    }

    // Blocking reload: ask for the part the preload hint announces.
    let (msn, part) = preload_hint(&playlist).expect("preload hint");
    let t0 = Instant::now();
    let r = c
        .get(format!("{url}?_HLS_msn={msn}&_HLS_part={part}"))
        .send()
        .expect("blocking reload");
    let waited = t0.elapsed();
    assert!(r.status().is_success(), "blocking reload: {}", r.status());
    assert!(
        r.headers().get("cache-control").is_some(),
        "blocking response carries Cache-Control"
    );
    let next = r.text().expect("text");
    let part_uri = format!("part{msn}.{part}.m4s");
    let seg_uri = format!("seg{msn}.m4s");
    assert!(
        next.contains(&part_uri) || next.contains(&seg_uri),
        "blocked playlist lacks {part_uri}"
    );
    eprintln!("{height}p: blocking reload answered in {waited:?} (part target {part_target} s)");
    assert!(
        waited.as_secs_f64() < part_target + 0.7,
        "blocking reload took {waited:?}, part target {part_target}"
    );
    // Far-future requests are refused, malformed ones too.
    let far = c
        .get(format!("{url}?_HLS_msn={}", msn + 5))
        .send()
        .expect("far");
    assert_eq!(far.status().as_u16(), 400);
    let bad = c.get(format!("{url}?_HLS_part=1")).send().expect("bad");
    assert_eq!(bad.status().as_u16(), 400);

    // Decode init + a complete segment, and check parts concatenate to the segment.
    let playlist = get_text(c, &url).expect("playlist");
    let lines: Vec<&str> = playlist.lines().collect();
    let map_uri = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:").and_then(|_| attr(l, "URI")))
        .expect("map");
    let init = get_bytes(c, &format!("{base}{map_uri}")).expect("init");
    // Find a segment line preceded by its parts.
    let mut parts: Vec<String> = Vec::new();
    let mut extinf = 0.0;
    let mut checked = false;
    for l in &lines {
        if let Some(d) = l.strip_prefix("#EXTINF:") {
            extinf = d.trim_end_matches(',').parse::<f64>().unwrap_or(0.0);
        } else if l.starts_with("#EXT-X-PART:") {
            parts.push(attr(l, "URI").expect("part uri").to_owned());
        } else if !l.starts_with('#') && !l.is_empty() {
            if !parts.is_empty() {
                let seg = get_bytes(c, &format!("{base}{l}")).expect("segment");
                let mut cat = Vec::new();
                for p in &parts {
                    let resp = c.get(format!("{base}{p}")).send().expect("part");
                    assert_eq!(
                        resp.headers()
                            .get("cache-control")
                            .and_then(|v| v.to_str().ok()),
                        Some("public, max-age=31536000, immutable")
                    );
                    cat.extend_from_slice(&resp.bytes().expect("part bytes"));
                }
                assert!(
                    cat == seg,
                    "{height}p: parts of {l} do not concatenate to the segment"
                );
                let dir = scratch_dir("probe");
                let file = dir.join("media.mp4");
                let mut all = init.clone();
                all.extend_from_slice(&seg);
                std::fs::write(&file, &all).expect("write");
                let (codec, w, h) = probe_video(&file).expect("ffprobe reads the segment");
                assert_eq!(codec, "h264");
                assert_eq!(h, height, "{height}p decodes at {w}x{h}");
                let (vframes, aframes) = decode_counts(&file).expect("segment decodes");
                // Frames a loaded machine's ladder lost: each encoder reads a leaky
                // queue, and a lower rung is scaled from the one above it, so a loss
                // there is a loss below too. The encoder's input still puts a picture
                // on every part's start (a repeat where the frame was lost). The
                // passthrough loses none.
                let dropped = ladder_drops(c, amphi);
                let passthrough = height == 1080;
                let floor = if dropped > 0.0 && !passthrough {
                    parts.len() as u64
                } else {
                    50
                };
                eprintln!(
                    "{height}p: {vframes} video frames in {l} ({extinf} s, {} parts; ladder queues dropped {dropped} frames)",
                    parts.len()
                );
                assert!(
                    vframes >= floor,
                    "{height}p: {vframes} video frames in a 2 s segment of {} parts (ladder dropped {dropped})",
                    parts.len()
                );
                assert!(
                    aframes >= 80,
                    "{height}p: {aframes} audio frames in a 2 s segment"
                );
                let _ = std::fs::remove_dir_all(&dir);
                checked = true;
                break;
            }
            parts.clear();
        }
    }
    assert!(
        checked,
        "{height}p: no complete segment listed with its parts:\n{playlist}"
    );
}

/// Frames all the encoders' input queues of the event dropped so far (`/metrics`).
fn ladder_drops(c: &reqwest::blocking::Client, amphi: &Amphi) -> f64 {
    let text = get_text(c, &amphi.url("/metrics")).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("amphi_encoder_dropped_frames{event=\"lecture\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
