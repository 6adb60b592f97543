//! Sources beyond the configured limits are refused before the packager spends
//! anything on them, with an RTMP onStatus error the publisher shows and a log line
//! that says why: a picture larger than 1920x1080 (read from the SPS), a bitrate above
//! the ceiling (measured on the media clock) and audio without video. A good event on
//! the same server, within the limits, is not disturbed. (Frozen timestamps are
//! covered by the unit tests of `amphi_ingest::limits`.)

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs ffmpeg to its end (bounded); returns whether it succeeded and its stderr.
fn ffmpeg(args: &[&str], url: &str) -> (bool, String) {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(args)
        .args(["-f", "flv", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("ffmpeg ended within 60 s")
        .expect("ffmpeg output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A child process killed on drop.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn live(c: &reqwest::blocking::Client, amphi: &Amphi, event: &str) -> bool {
    get_text(c, &amphi.url("/api/events"))
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v.as_array()?
                .iter()
                .find(|e| e["id"] == event)
                .map(|e| e["live"] == true)
        })
        .unwrap_or(false)
}

#[test]
fn oversized_audio_only_and_too_fast_sources_are_refused() {
    let amphi = Amphi::start_with(
        &[
            &format!("good:{KEY}"),
            "big:big-secret-key",
            "radio:radio-secret-key",
            "fat:fat-secret-key",
        ],
        &["--max-source-kbps", "1000"],
    );
    let c = client();
    // The good event stays well under the ceiling: about 300 + 64 kb/s.
    let mut good = ffmpeg_publish_cmd(&amphi.rtmp, KEY, 426, 240, 120);
    let args: Vec<String> = good
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let args: Vec<String> = args
        .iter()
        .map(|a| match a.as_str() {
            "4500k" => "300k".to_owned(),
            "9000k" => "300k".to_owned(),
            "128k" => "64k".to_owned(),
            other => other.to_owned(),
        })
        .collect();
    good = Command::new("ffmpeg");
    good.args(&args).stdout(Stdio::null()).stderr(Stdio::null());
    let _good = Proc(good.spawn().expect("spawn ffmpeg"));
    let good_url = amphi.url("/live/good/240p/index.m3u8");
    wait_for("the good event's parts", Duration::from_secs(40), || {
        get_text(&c, &good_url).filter(|t| t.contains("#EXT-X-PART:"))
    });
    let hint = || get_text(&c, &good_url).and_then(|t| preload_hint(&t));
    let before = hint().expect("preload hint");

    // 2560x1440 (a few tiny frames): refused at the first frame.
    let started = Instant::now();
    let (ok, err) = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=2560x1440:rate=5",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "10",
        ],
        &format!("{}/big-secret-key", amphi.rtmp),
    );
    eprintln!(
        "2560x1440 publisher ended after {:?}: {err}",
        started.elapsed()
    );
    assert!(!ok, "ffmpeg should fail: {err}");
    assert!(
        err.contains("Source refused: picture 2560x1440 exceeds the 1920x1080 limit"),
        "ffmpeg shows the server's reason: {err}"
    );
    assert!(amphi.logged(
        "rtmp connection dropped: source refused: picture 2560x1440 exceeds the 1920x1080 limit"
    ));
    assert!(!live(&c, &amphi, "big"));
    assert!(
        get_text(&c, &amphi.url("/live/big/master.m3u8")).is_none(),
        "the packager never started the oversized source"
    );

    // Audio without video, faster than real time: refused after 5 s of media.
    let (ok, err) = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "20",
            "-c:a",
            "aac",
        ],
        &format!("{}/radio-secret-key", amphi.rtmp),
    );
    assert!(!ok, "ffmpeg should fail: {err}");
    assert!(err.contains("No H.264 video"), "{err}");
    assert!(amphi.logged("audio only: no H.264 video in the first 5 s of media"));

    // Above the 1000 kb/s ceiling (the usual 4.5 Mb/s encoder settings).
    let (ok, err) = ffmpeg(
        &[
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-t",
            "15",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "4500k",
            "-minrate",
            "4500k",
            "-maxrate",
            "4500k",
            "-bufsize",
            "4500k",
            "-g",
            "30",
        ],
        &format!("{}/fat-secret-key", amphi.rtmp),
    );
    assert!(!ok, "ffmpeg should fail: {err}");
    assert!(err.contains("exceeds the 1000 kb/s limit"), "{err}");
    assert!(amphi.logged("source refused: "));
    let log = amphi.log();
    assert!(
        !log.lines()
            .any(|l| l.contains("connection dropped") && l.contains("\"good\"")),
        "the good event was refused:\n{log}"
    );

    // Meanwhile the good event kept going.
    let after = wait_for("the good event advancing", Duration::from_secs(5), || {
        hint().filter(|h| h.0 > before.0)
    });
    assert!(after > before);
    for key in ["big-secret-key", "radio-secret-key", "fat-secret-key"] {
        assert!(!amphi.log_contains(key), "a key reached the log");
    }
}
