//! The recording is the whole lecture with a persistent store: 12 minutes of media
//! (sent faster than real time, at a low resolution) end as one VOD playlist listing
//! every segment from the first, and `amphi event recording ID --mp4 FILE` remuxes it
//! into one MP4 whose duration matches (checked with ffprobe).

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds of media published: more than the old 10-minute recording window.
const MEDIA_SECONDS: u32 = 12 * 60 + 10;

/// ffmpeg publishing as fast as it can (no `-re`): a small OBS-like stream.
fn fast_publisher(rtmp: &str) -> std::process::Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &MEDIA_SECONDS.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-profile:v",
            "high",
        ])
        .args(["-g", "60", "-keyint_min", "60", "-sc_threshold", "0"])
        .args(["-b:v", "200k", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "64k", "-ar", "48000", "-ac", "2"])
        .args(["-f", "flv", &format!("{rtmp}/{KEY}")])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn ffmpeg")
}

#[test]
fn a_recording_longer_than_ten_minutes_is_whole_and_exports_to_mp4() {
    let data = tempdir::TempDir::new("recording");
    let store = data.path().join("media");
    let store = store.to_str().expect("utf-8 path");
    let amphi = Amphi::start_in_with(
        data.path(),
        &[&format!("lecture:{KEY}")],
        &["--store", "fs", "--store-dir", store, "--end-after", "2"],
    );
    wait_for(
        "the recording policy in the log",
        Duration::from_secs(5),
        || {
            amphi
                .log_contains("recordings keep the whole event")
                .then_some(())
        },
    );
    let c = client();
    let started = Instant::now();
    let mut publisher = fast_publisher(&amphi.rtmp);
    let status = wait_for("the publisher to finish", Duration::from_secs(240), || {
        publisher.try_wait().ok().flatten()
    });
    assert!(status.success(), "ffmpeg published its {MEDIA_SECONDS} s");
    println!(
        "{MEDIA_SECONDS} s of media published in {:?}",
        started.elapsed()
    );

    let rendition = first_rendition(
        &c,
        &amphi.url("/live/lecture/master.m3u8"),
        Duration::from_secs(10),
    );
    let url = amphi.url(&format!("/live/lecture/{rendition}/index.m3u8"));
    let vod = wait_for("the VOD playlist", Duration::from_secs(60), || {
        get_text(&c, &url).filter(|t| t.contains("#EXT-X-ENDLIST"))
    });
    assert_eq!(media_sequence(&vod), Some(0), "from the first segment");
    let listed = extinf_total(&vod);
    let segments = segment_uris(&vod);
    println!(
        "VOD playlist: {} segments, {listed:.1} s (published {MEDIA_SECONDS} s)",
        segments.len()
    );
    assert!(
        (listed - MEDIA_SECONDS as f64).abs() < 3.0,
        "the whole lecture is listed: {listed:.1} s of {MEDIA_SECONDS} s"
    );
    let base = url.trim_end_matches("index.m3u8");
    for uri in [&segments[0], &segments[segments.len() / 2]] {
        assert!(
            get_bytes(&c, &format!("{base}{uri}")).is_some(),
            "{uri} served"
        );
    }

    let mp4 = data.path().join("lecture.mp4");
    let out = Command::new(env!("CARGO_BIN_EXE_amphi"))
        .args(["event", "--data-dir"])
        .arg(data.path())
        .args(["recording", "lecture", "--mp4"])
        .arg(&mp4)
        .args(["--store", "fs", "--store-dir", store])
        .output()
        .expect("amphi event recording");
    assert!(
        out.status.success(),
        "amphi event recording failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{}", String::from_utf8_lossy(&out.stdout).trim());
    let (duration, codecs) = probe_duration_and_codecs(&mp4);
    println!("MP4: {duration:.2} s");
    assert!(
        (duration - listed).abs() < 1.0,
        "the MP4 lasts as long as the recording: {duration:.2} s vs {listed:.2} s"
    );
    assert!(codecs.iter().any(|c| c == "h264"), "video: {codecs:?}");
    assert!(codecs.iter().any(|c| c == "aac"), "audio: {codecs:?}");
}
