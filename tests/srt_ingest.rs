//! SRT ingest end to end, with real callers: ffmpeg's SRT output (libsrt) and
//! GStreamer's `srtsink` publish MPEG-TS (H.264 + AAC) to `amphi serve --srt`; the
//! LL-HLS playlists advance and ffprobe decodes a part. A wrong key, a key of another
//! event and a missing passphrase are refused in the SRT handshake (the caller fails
//! to connect, amphi logs the reason, never the key). Through a link with 2 % loss
//! (`scripts/netns.sh`, the publisher in a namespace of its own) parts keep coming.

mod common;

use common::netns::{Netns, EXEC, LINK_IP};
use common::*;
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "srt-lecture-key-3141";
const OTHER_KEY: &str = "srt-other-key-2718";

/// A free UDP port on `ip` (the listener binds it right after).
fn free_udp_port(ip: &str) -> u16 {
    let s = std::net::UdpSocket::bind((ip, 0)).expect("bind an ephemeral UDP port");
    s.local_addr().expect("local addr").port()
}

fn start_amphi(srt_ip: &str, extra: &[&str]) -> (Amphi, String) {
    let addr = format!("{srt_ip}:{}", free_udp_port(srt_ip));
    let mut args = vec!["--srt", addr.as_str()];
    args.extend_from_slice(extra);
    let amphi = Amphi::start_with(&[&format!("ev1:{KEY}"), &format!("ev2:{OTHER_KEY}")], &args);
    assert!(
        amphi.logged("SRT listener ready"),
        "the SRT listener is up before AMPHI_READY"
    );
    (amphi, format!("srt://{addr}"))
}

/// ffmpeg publishing a synthetic lecture (320x180 30 fps, 2 s keyframes, AAC 48 kHz)
/// as MPEG-TS over SRT, paced in real time.
fn ffmpeg_srt(prefix: &[&str], url: &str, seconds: u32) -> Command {
    let lecture = Lecture {
        audio_kbps: 64,
        log_level: "warning",
        ..Lecture::new(320, 180, 600, seconds)
    };
    let mut c = lecture.ffmpeg(prefix, true);
    c.args(["-f", "mpegts", url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Kills the child on drop.
struct Proc(Child);

impl Proc {
    /// Waits (bounded) for the exit; returns (success, stderr).
    fn wait(mut self, timeout: Duration) -> (Option<bool>, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.0.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                return (Some(status.success()), err);
            }
            if Instant::now() > deadline {
                return (None, String::new());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `EXT-X-PART` URIs of a media playlist, in order.
fn part_uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .filter_map(|l| attr(l, "URI").map(|u| u.trim_matches('"').to_owned()))
        .collect()
}

/// Follows a media playlist for `span`: returns each new part's first sighting.
fn follow_parts(c: &reqwest::blocking::Client, url: &str, span: Duration) -> Vec<Instant> {
    let mut seen = HashSet::new();
    let mut arrivals = Vec::new();
    let end = Instant::now() + span;
    let mut first = true;
    while Instant::now() < end {
        if let Some(p) = get_text(c, url) {
            for uri in part_uris(&p) {
                if seen.insert(uri) && !first {
                    arrivals.push(Instant::now());
                }
            }
            first = false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    arrivals
}

/// Follows the first rendition of `event` for `span`: each new part's first sighting
/// and the longest wait for one.
fn part_flow(
    c: &reqwest::blocking::Client,
    amphi: &Amphi,
    event: &str,
    span: Duration,
) -> (Vec<Instant>, Duration) {
    let master = amphi.url(&format!("/live/{event}/master.m3u8"));
    let rendition = first_rendition(c, &master, Duration::from_secs(5));
    let media = amphi.url(&format!("/live/{event}/{rendition}/index.m3u8"));
    let t0 = Instant::now();
    let arrivals = follow_parts(c, &media, span);
    let gap = longest_gap(&arrivals, t0);
    (arrivals, gap)
}

fn longest_gap(arrivals: &[Instant], from: Instant) -> Duration {
    let mut prev = from;
    let mut gap = Duration::ZERO;
    for &a in arrivals {
        gap = gap.max(a.saturating_duration_since(prev));
        prev = a;
    }
    gap
}

/// Waits for the event's first rendition to list parts; fetches its init segment and
/// its latest part and decodes them with ffprobe: (video frames, audio frames).
fn decode_a_part(amphi: &Amphi, c: &reqwest::blocking::Client, event: &str) -> (u64, u64) {
    let base = amphi.url(&format!("/live/{event}/"));
    let rendition = first_rendition(c, &format!("{base}master.m3u8"), Duration::from_secs(30));
    let media = format!("{base}{rendition}/index.m3u8");
    // An independent part (it starts with a keyframe) decodes on its own.
    let independent = |p: &str| -> Option<String> {
        p.lines()
            .filter(|l| l.starts_with("#EXT-X-PART:") && l.contains("INDEPENDENT=YES"))
            .filter_map(|l| attr(l, "URI").map(|u| u.trim_matches('"').to_owned()))
            .next_back()
    };
    let part = wait_for("an independent part", Duration::from_secs(20), || {
        get_text(c, &media).and_then(|p| independent(&p))
    });
    let mut bytes = get_bytes(c, &format!("{base}{rendition}/init.mp4")).expect("init.mp4");
    bytes.extend(get_bytes(c, &format!("{base}{rendition}/{part}")).expect("the part"));
    let file = scratch_dir("srt-part").join("part.mp4");
    std::fs::write(&file, &bytes).expect("write the part");
    decode_counts(&file).expect("ffprobe decodes the part")
}

#[test]
fn ffmpeg_publishes_over_srt_and_the_lecture_plays() {
    let (amphi, srt) = start_amphi("127.0.0.1", &[]);
    let c = client();
    let url = format!("{srt}?streamid=#!::r=ev1,s={KEY},m=publish&latency=200000");
    let publisher = Proc(ffmpeg_srt(&[], &url, 20).spawn().expect("spawn ffmpeg"));
    let (video, audio) = decode_a_part(&amphi, &c, "ev1");
    eprintln!("a part decodes: {video} video frames, {audio} audio frames");
    assert!(video > 0, "the part has video frames");

    let (arrivals, gap) = part_flow(&c, &amphi, "ev1", Duration::from_secs(5));
    eprintln!("{} new parts in 5 s, longest gap {gap:?}", arrivals.len());
    assert!(arrivals.len() >= 8, "parts advance: {}", arrivals.len());
    assert!(gap < Duration::from_secs(2), "no stall: {gap:?}");
    assert!(
        amphi.logged("srt") && !amphi.log().contains(KEY),
        "the key is never logged"
    );
    drop(publisher);
}

#[test]
fn wrong_keys_and_a_missing_passphrase_are_refused_in_the_handshake() {
    let passphrase = "lecture-passphrase-42";
    let (amphi, srt) = start_amphi(
        "127.0.0.1",
        &["--srt-event-passphrase", &format!("ev2:{passphrase}")],
    );
    let refused = |streamid: &str, what: &str| {
        let url = format!("{srt}?streamid={streamid}&connect_timeout=3000000");
        let (ok, stderr) =
            Proc(ffmpeg_srt(&[], &url, 3).spawn().expect("ffmpeg")).wait(Duration::from_secs(15));
        assert_eq!(ok, Some(false), "{what}: ffmpeg fails to connect");
        eprintln!(
            "{what}: ffmpeg says {}",
            stderr.lines().last().unwrap_or("")
        );
        // Refusals are logged at most once a second (a flood must not flood the log).
        std::thread::sleep(Duration::from_millis(1100));
    };
    let wrong = "not-the-key-987654";
    refused(&format!("#!::r=ev1,s={wrong},m=publish"), "a wrong key");
    refused(
        &format!("#!::r=ev1,s={OTHER_KEY},m=publish"),
        "another event's key",
    );
    refused(
        &format!("#!::r=ev2,s={OTHER_KEY},m=publish"),
        "no passphrase",
    );
    refused("#!::m=publish", "no key");
    wait_for("refusals in the log", Duration::from_secs(5), || {
        amphi.log_contains("srt connection refused").then_some(())
    });
    let log = amphi.log();
    for key in [wrong, KEY, OTHER_KEY] {
        assert!(!log.contains(key), "a key reached the log:\n{log}");
    }
    assert!(
        log.contains("srt connection refused: unknown stream key"),
        "{log}"
    );
    assert!(log.contains("is not the key of event \"ev1\""), "{log}");
    assert!(log.contains("a passphrase is required"), "{log}");
    assert!(log.contains("no stream key"), "{log}");
    let c = client();
    assert!(
        get_text(&c, &amphi.url("/live/ev1/master.m3u8"))
            .is_none_or(|m| !m.contains("#EXT-X-STREAM-INF")),
        "nothing was published"
    );
    // With the passphrase, the encrypted publish goes through.
    let url = format!(
        "{srt}?streamid=#!::r=ev2,s={OTHER_KEY},m=publish&passphrase={passphrase}&pbkeylen=16"
    );
    let _publisher = Proc(ffmpeg_srt(&[], &url, 15).spawn().expect("ffmpeg"));
    let (video, _) = decode_a_part(&amphi, &c, "ev2");
    assert!(video > 0);
}

#[test]
fn gstreamer_srtsink_publishes() {
    let (amphi, srt) = start_amphi("127.0.0.1", &[]);
    let streamid = format!("#!::r=ev1/{KEY},m=publish");
    let pipeline = format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=180,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bitrate=600 \
         ! h264parse ! mpegtsmux name=m alignment=7 ! srtsink uri={srt}?mode=caller \
         streamid=\"{streamid}\" latency=200 \
         audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=2 ! audioconvert \
         ! avenc_aac ! aacparse ! m."
    );
    let child = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(shell_words(&pipeline))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gst-launch-1.0");
    let _publisher = Proc(child);
    let c = client();
    let (video, audio) = decode_a_part(&amphi, &c, "ev1");
    eprintln!("srtsink: a part decodes: {video} video frames, {audio} audio frames");
    assert!(video > 0);
}

/// Splits a gst-launch description into arguments (double quotes group).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in s.chars() {
        match ch {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn srt_lecture_keeps_advancing_through_two_percent_loss() {
    let ns = Netns::up();
    let (amphi, srt) = start_amphi(LINK_IP, &["--srt-latency", "300"]);
    let c = client();
    let url = format!("{srt}?streamid=#!::r=ev1,s={KEY},m=publish&latency=300000");
    let _publisher = Proc(
        ffmpeg_srt(&EXEC, &url, 45)
            .spawn()
            .expect("ffmpeg in the namespace"),
    );
    let (video, _) = decode_a_part(&amphi, &c, "ev1");
    assert!(video > 0);
    ns.fault(&["loss-jitter", "2", "20", "10"]);
    let (arrivals, gap) = part_flow(&c, &amphi, "ev1", Duration::from_secs(20));
    eprintln!(
        "2 % loss: {} new parts in 20 s, longest gap {gap:?}",
        arrivals.len()
    );
    ns.clear();
    // Parts are ~1/3 s: 60 in 20 s at full pace; loss must not stall the lecture.
    assert!(
        arrivals.len() >= 40,
        "parts keep coming: {}",
        arrivals.len()
    );
    assert!(gap < Duration::from_secs(2), "no stall: {gap:?}");
    assert!(
        !amphi.log().contains("srt connection dropped"),
        "the SRT connection survived the loss:\n{}",
        amphi.log()
    );
}
