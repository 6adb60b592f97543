//! Enhanced RTMP (what OBS 30+ sends for HEVC and AV1): a real E-RTMP publisher, the
//! ffmpeg 9 build that the `imageio-ffmpeg` wheel ships (libx265, libsvtav1, the
//! `-rtmp_enhanced_codecs` connect option; Debian 12's ffmpeg 5.1 cannot send E-RTMP),
//! installed into the test venv by `scripts/install-deps.sh test`. Set
//! `AMPHI_ERTMP_FFMPEG` to use another E-RTMP-capable ffmpeg.
//!
//! An HEVC 320x180 publish, then an AV1 one, are decoded once and packaged into the
//! H.264 ladder; ffprobe decodes the output (every frame of two whole segments). The
//! HEVC source is also offered as it is (an `hvc1` variant). A publish with a wrong
//! key is still refused.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The E-RTMP-capable ffmpeg: `$AMPHI_ERTMP_FFMPEG`, or the binary of the venv's
/// `imageio-ffmpeg` package.
fn ertmp_ffmpeg() -> PathBuf {
    if let Some(p) = std::env::var_os("AMPHI_ERTMP_FFMPEG") {
        return PathBuf::from(p);
    }
    let out = Command::new(aiortc_python())
        .args([
            "-c",
            "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())",
        ])
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "imageio-ffmpeg missing from the test venv: run scripts/install-deps.sh test\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let version = Command::new(&path)
        .arg("-version")
        .output()
        .expect("ffmpeg -version");
    let first = String::from_utf8_lossy(&version.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    println!("E-RTMP publisher: {first}");
    path
}

/// Publishes `seconds` of 320x180 30 fps video in `codec` (`hevc` or `av1`) with AAC,
/// paced in real time, over Enhanced RTMP with 2 s keyframes as OBS sends them.
fn publish(ffmpeg: &PathBuf, url: &str, codec: &str, seconds: u32) -> Child {
    let mut c = Command::new(ffmpeg);
    c.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string()]);
    match codec {
        "hevc" => c.args([
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error:keyint=60:min-keyint=60:scenecut=0",
        ]),
        "av1" => c.env("SVT_LOG", "1").args([
            "-c:v",
            "libsvtav1",
            "-preset",
            "12",
            "-g",
            "60",
            "-svtav1-params",
            "keyint=60:scd=0",
        ]),
        other => panic!("codec {other}"),
    };
    c.args(["-b:v", "300k", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"])
        // The connect command's fourCcList, as OBS sends it.
        .args(["-rtmp_enhanced_codecs", "hvc1,av01"])
        .args(["-f", "flv", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the E-RTMP ffmpeg")
}

/// Waits for `event`'s H.264 rendition to hold two whole segments, then decodes init
/// + both with ffprobe: H.264 at 320x180, every frame.
fn check_packaged(amphi: &Amphi, event: &str, started: Instant) {
    let c = client();
    let master_url = amphi.url(&format!("/live/{event}/master.m3u8"));
    // The H.264 rendition (an HEVC source also has an `hvc1` variant).
    let (rendition, master) = wait_for("an H.264 variant", Duration::from_secs(20), || {
        let master = get_text(&c, &master_url)?;
        let parsed = m3u8_rs::parse_master_playlist_res(master.as_bytes()).ok()?;
        let v = parsed
            .variants
            .iter()
            .find(|v| v.codecs.as_deref().is_some_and(|c| c.starts_with("avc1.")))?;
        Some((v.uri.trim_end_matches("/index.m3u8").to_owned(), master))
    });
    println!(
        "{event}: master after {:.1} s:\n{master}",
        started.elapsed().as_secs_f64()
    );
    let base = amphi.url(&format!("/live/{event}/{rendition}/"));
    let playlist = wait_for("two whole segments", Duration::from_secs(20), || {
        let p = get_text(&c, &format!("{base}index.m3u8"))?;
        (segment_uris(&p).len() >= 2).then_some(p)
    });
    println!(
        "{event}: two segments after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let dir = scratch_dir(&format!("ertmp-{event}"));
    let mut file = get_bytes(&c, &format!("{base}init.mp4")).expect("init.mp4");
    for uri in segment_uris(&playlist).iter().take(2) {
        file.extend(get_bytes(&c, &format!("{base}{uri}")).expect("segment"));
    }
    let path = dir.join("out.mp4");
    std::fs::write(&path, &file).expect("write");
    let (codec, w, h) = probe_video(&path).expect("ffprobe reads the rendition");
    assert_eq!((codec.as_str(), w, h), ("h264", 320, 180));
    let (video, audio) = decode_counts(&path).expect("ffprobe decodes every frame");
    println!("{event}: decoded {video} video and {audio} audio frames from 2 segments");
    // Two 2 s segments at 30 fps; AAC at 48 kHz is 46.9 frames a second.
    assert!((110..=130).contains(&video), "{video} video frames");
    assert!(audio >= 150, "{audio} audio frames");
    let _ = std::fs::remove_dir_all(dir);
}

/// The HEVC source is also listed as it is, with an `hvc1` CODECS, beside the H.264
/// rendition; its segments are the publisher's HEVC.
fn check_hevc_passthrough(amphi: &Amphi, started: Instant) {
    let c = client();
    let master = get_text(&c, &amphi.url("/live/hevc/master.m3u8")).expect("master");
    let parsed = m3u8_rs::parse_master_playlist_res(master.as_bytes()).expect("master parses");
    let codecs: Vec<&str> = parsed
        .variants
        .iter()
        .map(|v| v.codecs.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(codecs.len(), 2, "{master}");
    assert_eq!(
        codecs.iter().filter(|c| c.starts_with("avc1.")).count(),
        1,
        "{master}"
    );
    let hevc = codecs
        .iter()
        .position(|c| c.starts_with("hvc1."))
        .unwrap_or_else(|| panic!("an hvc1 variant:\n{master}"));
    assert!(codecs[hevc].ends_with(",mp4a.40.2"), "{master}");
    let base = amphi.url(&format!(
        "/live/hevc/{}",
        parsed.variants[hevc].uri.trim_end_matches("index.m3u8")
    ));
    let playlist = wait_for("a whole HEVC segment", Duration::from_secs(10), || {
        let p = get_text(&c, &format!("{base}index.m3u8"))?;
        (!segment_uris(&p).is_empty()).then_some(p)
    });
    let mut file = get_bytes(&c, &format!("{base}init.mp4")).expect("init.mp4");
    file.extend(get_bytes(&c, &format!("{base}{}", segment_uris(&playlist)[0])).expect("seg"));
    let dir = scratch_dir("ertmp-hevc-passthrough");
    let path = dir.join("out.mp4");
    std::fs::write(&path, &file).expect("write");
    let (codec, w, h) = probe_video(&path).expect("ffprobe reads the HEVC rendition");
    assert_eq!((codec.as_str(), w, h), ("hevc", 320, 180));
    let (video, _) = decode_counts(&path).expect("ffprobe decodes the HEVC segment");
    assert!(
        (55..=65).contains(&video),
        "{video} HEVC frames in a 2 s segment"
    );
    println!(
        "hevc: passthrough {} ({video} frames in its first segment) after {:.1} s",
        codecs[hevc],
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn hevc_and_av1_publishes_feed_the_h264_ladder() {
    let started = Instant::now();
    let ffmpeg = ertmp_ffmpeg();
    let amphi = Amphi::start(&["hevc:hevc-key", "av1:av1-key"]);

    let mut hevc = publish(&ffmpeg, &format!("{}/hevc-key", amphi.rtmp), "hevc", 8);
    check_packaged(&amphi, "hevc", started);
    assert!(
        amphi.logged("\"h265\""),
        "the session was HEVC:\n{}",
        amphi.log()
    );
    check_hevc_passthrough(&amphi, started);
    let _ = hevc.kill();
    let _ = hevc.wait();

    let t = Instant::now();
    let mut av1 = publish(&ffmpeg, &format!("{}/av1-key", amphi.rtmp), "av1", 8);
    check_packaged(&amphi, "av1", t);
    assert!(amphi.logged("\"av1\""), "{}", amphi.log());
    let _ = av1.kill();
    let _ = av1.wait();
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn hevc_publish_with_a_wrong_key_is_refused() {
    let ffmpeg = ertmp_ffmpeg();
    let amphi = Amphi::start(&["hevc:hevc-key"]);
    let started = Instant::now();
    let mut wrong = publish(&ffmpeg, &format!("{}/not-a-key", amphi.rtmp), "hevc", 20);
    let status = wait_for("ffmpeg to give up", Duration::from_secs(15), || {
        wrong.try_wait().ok().flatten()
    });
    assert!(!status.success(), "ffmpeg with a wrong key must fail");
    println!("refused after {:.1} s", started.elapsed().as_secs_f64());
    wait_for("the refusal in the log", Duration::from_secs(5), || {
        amphi.log_contains("unknown stream key").then_some(())
    });
    assert!(
        !amphi.log_contains("not-a-key"),
        "stream keys never appear in logs"
    );
    let c = client();
    assert!(
        get_text(&c, &amphi.url("/live/hevc/master.m3u8"))
            .is_none_or(|m| !m.contains("#EXT-X-STREAM-INF")),
        "nothing was packaged"
    );
}
