//! A lecture-hall IP camera (a real RTSP server: gst-rtsp-server with H.264 720p30 +
//! AAC and basic authentication) is pulled with `--rtsp`: the LL-HLS ladder appears,
//! decodes, and survives the camera going away and coming back; wrong credentials are
//! reported and retried without harm. The camera's password never reaches the log.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "lecturer";
const PASSWORD: &str = "Hall-B-camera-pw-7731";

/// One amphi at a time: each binds the default ports of its other ingests.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The camera stand-in, killed on drop (like a camera losing power).
struct Camera {
    child: Child,
    port: u16,
}

impl Camera {
    fn start(port: u16) -> Camera {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/rtsp-test-server.py");
        // Debian's python3-gi lives with the system interpreter.
        let python = if std::path::Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        let mut child = Command::new(python)
            .arg(script)
            .args(["--port", &port.to_string(), "--user", USER])
            .args(["--password", PASSWORD])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn rtsp-test-server.py (needs python3-gi, gir1.2-gst-rtsp-server-1.0)");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("READY ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the RTSP server printed READY within 20 s");
        let port = url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .expect("port in READY line");
        Camera { child, port }
    }

    fn url(&self, password: &str) -> String {
        format!("rtsp://{USER}:{password}@127.0.0.1:{}/cam", self.port)
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rendition_urls(c: &reqwest::blocking::Client, amphi: &Amphi) -> Vec<(String, String)> {
    let master = get_text(c, &amphi.url("/live/cam/master.m3u8")).expect("master");
    segment_uris(&master)
        .into_iter()
        .map(|uri| {
            let playlist = amphi.url(&format!("/live/cam/{uri}"));
            let base = playlist.trim_end_matches("index.m3u8").to_owned();
            (playlist, base)
        })
        .collect()
}

/// Start times (s) of the first video and audio streams of a file.
fn probe_start_times(path: &std::path::Path) -> Option<(f64, f64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,start_time",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .ok()?;
    let (mut video, mut audio) = (None, None);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (kind, start) = line.split_once(',')?;
        let start: f64 = start.trim().parse().ok()?;
        match kind {
            "video" => video = video.or(Some(start)),
            "audio" => audio = audio.or(Some(start)),
            _ => {}
        }
    }
    Some((video?, audio?))
}

fn probe_audio_codec(path: &std::path::Path) -> Option<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0"])
        .args(["-show_entries", "stream=codec_name", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// Decodes the rendition's init segment plus its first complete segment.
fn check_rendition(c: &reqwest::blocking::Client, playlist_url: &str, base: &str, height: u32) {
    let playlist = wait_for("two complete segments", Duration::from_secs(30), || {
        let t = get_text(c, playlist_url)?;
        (segment_uris(&t).len() >= 2).then_some(t)
    });
    for tag in [
        "#EXT-X-PART:",
        "#EXT-X-PRELOAD-HINT:TYPE=PART",
        "#EXT-X-MAP:URI=",
        "INDEPENDENT=YES",
    ] {
        assert!(playlist.contains(tag), "{height}p lacks {tag}:\n{playlist}");
    }
    let map = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:").and_then(|_| attr(l, "URI")))
        .expect("map");
    let seg = segment_uris(&playlist).into_iter().next().expect("segment");
    let mut media = get_bytes(c, &format!("{base}{map}")).expect("init");
    media.extend(get_bytes(c, &format!("{base}{seg}")).expect("segment"));
    let dir = scratch_dir("rtsp-probe");
    let file = dir.join("media.mp4");
    std::fs::write(&file, &media).expect("write");
    let (codec, w, h) = probe_video(&file).expect("ffprobe reads the segment");
    assert_eq!(codec, "h264");
    assert_eq!(h, height, "{height}p decodes at {w}x{h}");
    let (vframes, aframes) = decode_counts(&file).expect("segment decodes");
    assert!(vframes >= 30, "{height}p: {vframes} video frames in {seg}");
    assert!(aframes >= 40, "{height}p: {aframes} audio frames in {seg}");
    assert_eq!(probe_audio_codec(&file).as_deref(), Some("aac"));
    // Audio and video on one timeline: the segment starts both together.
    let (v0, a0) = probe_start_times(&file).expect("start times");
    assert!(
        (v0 - a0).abs() < 0.1,
        "{height}p: video starts at {v0} s, audio at {a0} s"
    );
    eprintln!("{height}p: {w}x{h}, {vframes} video + {aframes} audio frames in {seg}, starts v {v0} a {a0}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn camera_to_llhls_ladder_and_reconnect() {
    let _serial = serial();
    let camera = Camera::start(0);
    let port = camera.port;
    let started = Instant::now();
    let amphi = Amphi::start_with(&[], &["--rtsp", &format!("cam={}", camera.url(PASSWORD))]);
    let c = client();

    // 720p source: passthrough plus 480p and 360p.
    let master_url = amphi.url("/live/cam/master.m3u8");
    let master = wait_for("a master playlist", Duration::from_secs(40), || {
        let t = get_text(&c, &master_url)?;
        (t.matches("#EXT-X-STREAM-INF").count() >= 3).then_some(t)
    });
    eprintln!("master playlist {:?} after start", started.elapsed());
    let parsed = m3u8_rs::parse_master_playlist_res(master.as_bytes()).expect("master parses");
    let heights: BTreeSet<u64> = parsed
        .variants
        .iter()
        .map(|v| v.resolution.expect("RESOLUTION").height)
        .collect();
    assert_eq!(
        heights.into_iter().collect::<Vec<_>>(),
        vec![360, 480, 720],
        "{master}"
    );
    for v in &parsed.variants {
        assert!(
            v.codecs.as_deref().is_some_and(|c| c.contains("mp4a.40.2")),
            "audio codec listed:\n{master}"
        );
    }
    let renditions = rendition_urls(&c, &amphi);
    for (v, (playlist, base)) in parsed.variants.iter().zip(&renditions) {
        let height = v.resolution.expect("RESOLUTION").height as u32;
        check_rendition(&c, playlist, base, height);
    }

    // The event is listed live, pulled over RTSP.
    let events = get_text(&c, &amphi.url("/api/events")).expect("events");
    assert!(events.contains("\"rtsp\""), "{events}");

    // The playlists advance.
    let (msn0, _) = preload_hint(&get_text(&c, &renditions[0].0).expect("playlist")).expect("hint");
    wait_for("the playlist to advance", Duration::from_secs(10), || {
        let (msn, _) = preload_hint(&get_text(&c, &renditions[0].0)?)?;
        (msn > msn0).then_some(())
    });

    // The camera loses power for about 3 s, then answers on the same port.
    let edge_before =
        preload_hint(&get_text(&c, &renditions[0].0).expect("playlist")).expect("hint");
    drop(camera);
    std::thread::sleep(Duration::from_secs(3));
    let _camera = Camera::start(port);
    let back = Instant::now();
    let after = wait_for(
        "segments after the camera came back",
        Duration::from_secs(40),
        || {
            let t = get_text(&c, &renditions[0].0)?;
            let (msn, _) = preload_hint(&t)?;
            (t.contains("#EXT-X-DISCONTINUITY") && msn >= edge_before.0 + 2).then_some(t)
        },
    );
    eprintln!(
        "playlist advancing again {:?} after the camera came back",
        back.elapsed()
    );
    assert!(after.contains("#EXT-X-PART:"), "{after}");
    for (playlist, _) in &renditions[1..] {
        let t = get_text(&c, playlist).expect("rendition playlist");
        assert!(t.contains("#EXT-X-DISCONTINUITY"), "{t}");
    }

    assert!(
        amphi.logged("rtsp camera failed"),
        "a failure line:\n{}",
        amphi.log()
    );
    let log = amphi.log();
    assert!(
        log.contains(&format!("rtsp://{USER}:***@127.0.0.1:{port}/cam")),
        "the URL is logged with the password hidden:\n{log}"
    );
    assert!(
        !log.contains(PASSWORD),
        "the camera password leaked:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn wrong_credentials_are_reported_and_retried() {
    let _serial = serial();
    let camera = Camera::start(0);
    let wrong = "not-the-camera-pw-4410";
    let amphi = Amphi::start_with(&[], &["--rtsp", &format!("cam={}", camera.url(wrong))]);
    let c = client();
    // Two failures with a clear reason: it keeps retrying.
    let log = wait_for(
        "two reported credential failures",
        Duration::from_secs(20),
        || {
            let log = amphi.log();
            (log.matches("check the user name and password").count() >= 2).then_some(log)
        },
    );
    assert!(log.contains("401 Unauthorized"), "{log}");
    assert!(
        log.contains(&format!("rtsp://{USER}:***@127.0.0.1:{}/cam", camera.port)),
        "{log}"
    );
    assert!(!log.contains(wrong), "the password leaked:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
    // The HTTP side answers meanwhile; the event exists but is not live.
    assert_eq!(get_text(&c, &amphi.url("/healthz")).as_deref(), Some("ok"));
    let events = get_text(&c, &amphi.url("/api/events")).expect("events");
    assert!(events.contains("\"cam\""), "{events}");
    assert!(!events.contains("\"rtsp\""), "not live: {events}");
}

#[test]
fn camera_waits_while_an_encoder_has_the_event_then_takes_over() {
    let _serial = serial();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("rtsp://{USER}:{PASSWORD}@127.0.0.1:{port}/cam");
    let amphi = Amphi::start_with(&[&format!("cam:{KEY}")], &["--rtsp", &format!("cam={url}")]);
    let c = client();
    let live_by = |protocol: &str| {
        get_text(&c, &amphi.url("/api/events"))
            .is_some_and(|t| t.contains(&format!("\"{protocol}\"")))
    };
    // OBS goes live first; the camera comes up while it streams and must wait.
    let encoder = Publisher::start(&amphi.rtmp, KEY, 640, 360, 120);
    wait_for("the RTMP publisher live", Duration::from_secs(20), || {
        live_by("rtmp").then_some(())
    });
    let _camera = Camera::start(port);
    wait_for("the camera to wait", Duration::from_secs(40), || {
        amphi
            .log()
            .contains("event is live from another publisher; the camera waits")
            .then_some(())
    });
    assert!(live_by("rtmp") && !live_by("rtsp"));
    // The encoder leaves: the camera takes the event over.
    encoder.kill();
    let left = Instant::now();
    wait_for("the camera to take over", Duration::from_secs(30), || {
        live_by("rtsp").then_some(())
    });
    eprintln!("camera live {:?} after the encoder left", left.elapsed());
    // The 360p rendition of the encoder's session continues with the camera's, past a
    // discontinuity; the camera's 720p adds the renditions above.
    let playlist = amphi.url("/live/cam/360p/index.m3u8");
    wait_for(
        "360p to continue after the take-over",
        Duration::from_secs(30),
        || {
            let t = get_text(&c, &playlist)?;
            let after = t.split("#EXT-X-DISCONTINUITY").nth(1)?;
            (!segment_uris(after).is_empty()).then_some(())
        },
    );
    wait_for(
        "720p in the master playlist",
        Duration::from_secs(10),
        || {
            let master = get_text(&c, &amphi.url("/live/cam/master.m3u8"))?;
            master.contains("RESOLUTION=1280x720").then_some(())
        },
    );
    let log = amphi.log();
    assert!(
        !log.contains(PASSWORD),
        "the camera password leaked:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}
