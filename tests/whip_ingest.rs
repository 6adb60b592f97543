//! WHIP ingest end to end with a real WebRTC peer (aiortc, tests/whip/publish.py):
//! H.264 + Opus over SRTP → hub → packager → LL-HLS, decoded by ffprobe; then every
//! refusal the endpoint makes, a publisher that vanishes without DELETE, and a second
//! publish that takes the event over, while an RTMP event on the same server keeps
//! advancing.
//!
//! Needs the Python venv with aiortc (`scripts/install-deps.sh test`).

mod common;

use common::*;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const WHIP_KEY: &str = "whip-e2e-key";
const OTHER_KEY: &str = "rtmp-e2e-key";

/// The aiortc publisher, killed (SIGKILL) on drop.
struct WhipClient {
    child: Child,
    lines: Lines,
}

impl WhipClient {
    fn start(url: &str, token: &str, extra: &[&str]) -> WhipClient {
        let (child, lines) = whip_publisher(url, token, extra);
        WhipClient { child, lines }
    }

    /// The rest of the first line starting with `prefix`.
    fn line(&self, prefix: &str) -> Option<String> {
        self.lines.find(prefix).map(|(_, rest)| rest)
    }

    fn wait_line(&self, prefix: &str, timeout: Duration) -> String {
        self.lines.wait(prefix, timeout).1
    }

    fn output(&self) -> String {
        self.lines.joined()
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for WhipClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_amphi(events: &[&str]) -> Amphi {
    Amphi::start_with(events, &["--webrtc-udp", "127.0.0.1:0"])
}

/// `Some(protocol)` while the event is live, per /api/events.
fn live_protocol(c: &reqwest::blocking::Client, amphi: &Amphi, event: &str) -> Option<String> {
    let text = get_text(c, &amphi.url("/api/events"))?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let e = v.as_array()?.iter().find(|e| e["id"] == event)?;
    if e["live"] == true {
        Some(e["protocol"].as_str().unwrap_or("?").to_owned())
    } else {
        None
    }
}

/// (codec_type, codec_name) of every stream of a file.
fn probe_codecs(path: &std::path::Path) -> Vec<(String, String)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, kind) = l.split_once(',')?;
            Some((kind.trim().to_owned(), name.trim().to_owned()))
        })
        .collect()
}

#[test]
fn whip_h264_opus_publisher_reaches_llhls() {
    let amphi = start_amphi(&[&format!("lecture:{WHIP_KEY}")]);
    let c = client();
    let master_url = amphi.url("/live/lecture/master.m3u8");
    let mut pubr = WhipClient::start(
        &amphi.url("/whip/lecture"),
        WHIP_KEY,
        &["--seconds", "16", "--watch", &master_url],
    );
    assert_eq!(
        pubr.wait_line("WHIP_STATUS", Duration::from_secs(20)),
        "201",
        "{}",
        amphi.log()
    );
    let location = pubr.wait_line("WHIP_LOCATION", Duration::from_secs(5));
    assert!(
        location.contains("/whip/lecture/") && location.len() > 40,
        "Location {location}"
    );
    pubr.wait_line("WHIP_CONNECTED", Duration::from_secs(15));
    let protocol = wait_for("the event live", Duration::from_secs(10), || {
        live_protocol(&c, &amphi, "lecture")
    });
    assert_eq!(protocol, "whip");
    let first_part = pubr.wait_line("WHIP_FIRST_PART", Duration::from_secs(15));
    eprintln!("first LL-HLS part {first_part} ms after POST /whip");

    let master = wait_for("a master playlist", Duration::from_secs(20), || {
        get_text(&c, &master_url)
    });
    let variants = segment_uris(&master);
    assert!(!variants.is_empty(), "{master}");
    let scratch = scratch_dir("whip");
    for (i, v) in variants.iter().enumerate() {
        let url = format!("{}{v}", master_url.trim_end_matches("master.m3u8"));
        let playlist = wait_for(
            &format!("parts and a segment in {v}"),
            Duration::from_secs(25),
            || {
                let t = get_text(&c, &url)?;
                (t.contains("#EXT-X-PART:") && !segment_uris(&t).is_empty()).then_some(t)
            },
        );
        let base = url.trim_end_matches("index.m3u8");
        let init = get_bytes(&c, &format!("{base}init.mp4")).expect("init.mp4");
        let seg = &segment_uris(&playlist)[0];
        let media = get_bytes(&c, &format!("{base}{seg}")).expect("segment");
        let path = scratch.join(format!("r{i}.mp4"));
        std::fs::write(&path, [init, media].concat()).expect("write");
        let (video, audio) = decode_counts(&path).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert!(video >= 30, "{v}: {video} video frames decoded");
        let codecs = probe_codecs(&path);
        assert!(
            codecs.contains(&("video".into(), "h264".into())),
            "{v}: {codecs:?}"
        );
        // Opus from WebRTC is transcoded to AAC by the packager.
        assert!(
            codecs.contains(&("audio".into(), "aac".into())),
            "{v}: {codecs:?}"
        );
        assert!(audio > 0, "{v}: no audio frame decoded");
    }
    let _ = std::fs::remove_dir_all(&scratch);

    // The publisher ends with DELETE; the event is no longer live.
    assert_eq!(
        pubr.wait_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        pubr.output()
    );
    assert_eq!(pubr.line("WHIP_DELETE").as_deref(), Some("200"));
    wait_for("the event not live", Duration::from_secs(5), || {
        live_protocol(&c, &amphi, "lecture").is_none().then_some(())
    });
    assert!(amphi.logged("whip session ended: publisher sent DELETE"));
    assert!(!amphi.log_contains(WHIP_KEY), "the token reached the log");
}

/// A minimal browser-like offer; only its shape matters (refused before ICE).
const H264_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n\
a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n";

#[test]
fn whip_refusals_and_a_vanishing_publisher() {
    let amphi = start_amphi(&[
        &format!("lecture:{WHIP_KEY}"),
        &format!("other:{OTHER_KEY}"),
    ]);
    let c = client();
    // Another event, published over RTMP, must not be disturbed by anything below.
    let _rtmp = Publisher::start(&amphi.rtmp, OTHER_KEY, 640, 360, 90);
    let other_url = amphi.url("/live/other/360p/index.m3u8");
    wait_for("the RTMP event's playlist", Duration::from_secs(30), || {
        get_text(&c, &other_url).filter(|t| t.contains("#EXT-X-PART:"))
    });
    let other_hint = || get_text(&c, &other_url).and_then(|t| preload_hint(&t));
    let before = other_hint().expect("preload hint");

    let whip = amphi.url("/whip/lecture");
    let post = |auth: Option<&str>, ct: &str, body: &str| {
        let mut r = c
            .post(&whip)
            .header("content-type", ct)
            .body(body.to_owned());
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send().expect("POST")
    };
    let bearer = format!("Bearer {WHIP_KEY}");

    // CORS preflight.
    let r = c
        .request(reqwest::Method::OPTIONS, &whip)
        .send()
        .expect("OPTIONS");
    assert_eq!(r.status().as_u16(), 204);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .expect("ascii")
        .contains("DELETE"));
    assert!(h["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .contains("Location"));
    assert_eq!(h["accept-post"], "application/sdp");

    // No token, a token of another event, an unknown token: 401.
    for auth in [
        None,
        Some(format!("Bearer {OTHER_KEY}")),
        Some("Bearer nope".into()),
    ] {
        let r = post(auth.as_deref(), "application/sdp", H264_OFFER);
        assert_eq!(r.status().as_u16(), 401, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
    }
    // Wrong content type: 415.
    let r = post(Some(&bearer), "application/json", H264_OFFER);
    assert_eq!(r.status().as_u16(), 415);
    // Malformed SDP: 400 with a reason.
    let r = post(Some(&bearer), "application/sdp", "hello");
    assert_eq!(r.status().as_u16(), 400);
    let reason = r.text().expect("body");
    assert!(reason.contains("malformed SDP"), "{reason}");
    // Too large: 413.
    let r = post(Some(&bearer), "application/sdp", &"a".repeat(70_000));
    assert_eq!(r.status().as_u16(), 413);
    // A real VP8-only offer from aiortc: 406 with a reason.
    let mut vp8 = WhipClient::start(&whip, WHIP_KEY, &["--codec", "vp8", "--seconds", "1"]);
    assert_eq!(vp8.wait_line("WHIP_STATUS", Duration::from_secs(20)), "406");
    assert_eq!(vp8.wait_exit(Duration::from_secs(10)), Some(3));
    assert!(vp8.output().contains("no H.264 video"), "{}", vp8.output());
    // Trickle ICE: 405 with Allow. Unknown session: 404.
    let r = c
        .patch(format!("{whip}/0123456789abcdef"))
        .send()
        .expect("PATCH");
    assert_eq!(r.status().as_u16(), 405);
    assert!(r.headers().contains_key("allow"));
    let r = c
        .delete(format!("{whip}/0123456789abcdef"))
        .send()
        .expect("DELETE");
    assert_eq!(r.status().as_u16(), 404);
    // Refusals logged with the event, never the token.
    assert!(amphi.logged("whip publish refused"));
    assert!(!amphi.log_contains(WHIP_KEY), "the token reached the log");
    assert_eq!(live_protocol(&c, &amphi, "lecture"), None);

    // A publisher that vanishes (kill -9, no DELETE) ends within ~15 s.
    let mut gone = WhipClient::start(&whip, WHIP_KEY, &["--seconds", "120"]);
    assert_eq!(
        gone.wait_line("WHIP_STATUS", Duration::from_secs(20)),
        "201"
    );
    gone.wait_line("WHIP_CONNECTED", Duration::from_secs(15));
    wait_for("the WHIP event live", Duration::from_secs(10), || {
        live_protocol(&c, &amphi, "lecture")
    });
    // Let some media flow, then vanish.
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    let _ = gone.child.kill();
    let _ = gone.child.wait();
    wait_for(
        "the vanished publisher's event not live",
        Duration::from_secs(16),
        || live_protocol(&c, &amphi, "lecture").is_none().then_some(()),
    );
    eprintln!(
        "vanished WHIP publisher detected after {:.1} s",
        killed.elapsed().as_secs_f64()
    );
    assert!(amphi.logged("whip session ended"));

    // A second publish with the token to a live event takes it over (the encoder
    // reconnecting while its old session is still up): both answered 201, the first
    // session is ended, the event stays live for the second.
    let r = post(Some(&bearer), "application/sdp", H264_OFFER);
    assert_eq!(r.status().as_u16(), 201);
    let r = post(Some(&bearer), "application/sdp", H264_OFFER);
    assert_eq!(r.status().as_u16(), 201);
    wait_for("the first session ended", Duration::from_secs(5), || {
        amphi
            .log_contains("whip session ended: stopped: taken over by a whip publisher")
            .then_some(())
    });
    assert_eq!(
        live_protocol(&c, &amphi, "lecture").as_deref(),
        Some("whip")
    );

    // The RTMP event kept going all along.
    let after = wait_for("the RTMP event advancing", Duration::from_secs(10), || {
        other_hint().filter(|h| *h > before)
    });
    assert!(after > before, "{before:?} → {after:?}");
    assert_eq!(live_protocol(&c, &amphi, "other").as_deref(), Some("rtmp"));
}
