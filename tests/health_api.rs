//! Live health and the green room, end to end with ffmpeg publishers over RTMP:
//!
//! - an event in preview: students get 404 (the waiting room) on the viewer paths, the
//!   moderators' preview playlist plays (`private, no-store`), `/api/events` says not live;
//! - a publisher with a 10 s keyframe interval (`-g 300` at 30 fps) turns the keyframe
//!   check red with the OBS fix, in the API, the warnings and `/metrics`;
//! - a good publisher taking over turns every check of the stream green; its audio (a
//!   440 Hz sine at 1/8 of full scale, made stereo by ffmpeg at −3 dB a channel: −24
//!   dBFS RMS) reads, decoded, within 2 dB of what ffmpeg's `volumedetect` measures of
//!   the same samples, in the API, the audio check and `/metrics`;
//! - a player's CMCD session is counted; the API refuses a missing or wrong token;
//! - console users: the session cookie of an admin or of the event's lecturer is
//!   accepted, a lecturer of another event gets 403, Go live without the console's CSRF
//!   token gets 403;
//! - Go live (from a lecturer's console session) opens the event: the viewer paths
//!   answer, the event file says so, the start is the "Lecture starts" chapter.

mod common;

use common::{client, console_login, wait_for, Amphi};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EVENT: &str = "green";
const KEY: &str = "health-test-key";
const MODERATOR: &str = "health-test-moderator-token";

/// The publisher's audio as its AAC encoder gets it (ffmpeg's `sine`, 48 kHz stereo),
/// measured by ffmpeg's `volumedetect`: (RMS, peak) in dBFS.
fn publisher_audio_level() -> (f64, f64) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-f", "lavfi"])
        .args(["-i", "sine=frequency=440:sample_rate=48000", "-t", "4"])
        .args([
            "-af",
            "aformat=sample_rates=48000:channel_layouts=stereo,volumedetect",
        ])
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg volumedetect");
    let log = String::from_utf8_lossy(&out.stderr);
    let read = |name: &str| -> f64 {
        log.lines()
            .find_map(|l| {
                let v = l.split_once(name)?.1.trim().strip_suffix("dB")?;
                v.trim().parse().ok()
            })
            .unwrap_or_else(|| panic!("{name} in ffmpeg's log: {log}"))
    };
    (read("mean_volume:"), read("max_volume:"))
}

/// An ffmpeg publisher at 320x180 30 fps with a keyframe every `gop` frames, killed on drop.
struct Ffmpeg(Child);

impl Ffmpeg {
    fn start(rtmp: &str, gop: u32) -> Ffmpeg {
        let gop = gop.to_string();
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", "60", "-c:v", "libx264", "-preset", "ultrafast"])
            .args(["-tune", "zerolatency", "-g", &gop, "-keyint_min", &gop])
            .args(["-sc_threshold", "0", "-b:v", "600k", "-pix_fmt", "yuv420p"])
            .args(["-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"])
            .args(["-f", "flv", &format!("{rtmp}/{KEY}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ffmpeg");
        Ffmpeg(child)
    }
}

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn health(c: &reqwest::blocking::Client, amphi: &Amphi, token: Option<&str>) -> (u16, Value) {
    let mut req = c.get(amphi.url(&format!("/api/events/{EVENT}/health")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().expect("health request");
    let status = res.status().as_u16();
    let body = serde_json::from_str(&res.text().unwrap_or_default()).unwrap_or(Value::Null);
    (status, body)
}

/// Logs `user` (whose password is "{user}'s long password") into the console; returns
/// the `name=value` of the session cookie and the session's CSRF token.
fn login(c: &reqwest::blocking::Client, amphi: &Amphi, user: &str) -> (String, String) {
    console_login(c, amphi, user, &format!("{user}'s long password"))
}

fn health_of_session(c: &reqwest::blocking::Client, amphi: &Amphi, cookie: &str) -> (u16, Value) {
    let res = c
        .get(amphi.url(&format!("/api/events/{EVENT}/health")))
        .header("cookie", cookie)
        .send()
        .expect("health request");
    let status = res.status().as_u16();
    let body = serde_json::from_str(&res.text().unwrap_or_default()).unwrap_or(Value::Null);
    (status, body)
}

fn check<'a>(h: &'a Value, id: &str) -> Option<&'a Value> {
    h["checks"]
        .as_array()?
        .iter()
        .find(|c| c["id"].as_str() == Some(id))
}

fn get(c: &reqwest::blocking::Client, url: &str) -> (u16, String, String) {
    let res = c.get(url).send().expect("request");
    let status = res.status().as_u16();
    let cache = res
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, cache, res.text().unwrap_or_default())
}

#[test]
fn health_checks_and_the_green_room() {
    let t0 = Instant::now();
    let data = common::tempdir::TempDir::new("health");
    let events = serde_json::json!({ "events": [{
        "id": EVENT, "title": "Green room test", "stream_key": KEY,
        "moderator_token": MODERATOR, "preview": true,
        "starts_at": "2030-01-01T09:00:00Z",
    }]});
    std::fs::write(data.path().join("events.json"), events.to_string()).expect("events.json");
    for (user, role) in [
        ("ada", "admin"),
        ("lee", "lecturer:green"),
        ("max", "lecturer:another"),
    ] {
        common::amphi_cli(
            data.path(),
            &["user", "add", user, "--role", role],
            &format!("{user}'s long password\n"),
        );
    }
    let amphi = Amphi::start_in(data.path(), &[]);
    let c = client();

    // Console users: an admin and the event's lecturer, not a lecturer of another event.
    let (admin, _) = login(&c, &amphi, "ada");
    let (lecturer, lecturer_csrf) = login(&c, &amphi, "lee");
    let (other, other_csrf) = login(&c, &amphi, "max");
    let (status, h) = health_of_session(&c, &amphi, &admin);
    assert_eq!(status, 200, "admin: {h}");
    assert_eq!(h["stage"]["preview"], true);
    assert_eq!(health_of_session(&c, &amphi, &lecturer).0, 200);
    assert_eq!(health_of_session(&c, &amphi, &other).0, 403);
    assert_eq!(health_of_session(&c, &amphi, "amphi_session=forged").0, 401);
    let go = amphi.url(&format!("/api/events/{EVENT}/go-live"));
    let go_as = |cookie: &str, csrf: Option<&str>| -> u16 {
        let mut req = c
            .post(&go)
            .header("cookie", cookie)
            .header("origin", &amphi.http);
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        req.send().expect("go live").status().as_u16()
    };
    assert_eq!(
        go_as(&lecturer, None),
        403,
        "Go live without the CSRF token"
    );
    assert_eq!(
        go_as(&other, Some(&other_csrf)),
        403,
        "another event's lecturer"
    );
    wait_for("the refusals logged", Duration::from_secs(5), || {
        (amphi.log_contains("CSRF check failed") && amphi.log_contains("roles do not allow"))
            .then_some(())
    });

    // Refusals: no token, a wrong token.
    assert_eq!(health(&c, &amphi, None).0, 401);
    assert_eq!(health(&c, &amphi, Some("wrong")).0, 401);
    let (status, h) = health(&c, &amphi, Some(MODERATOR));
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["stage"]["preview"], true);
    let preview = h["stage"]["preview_playlist"]
        .as_str()
        .expect("preview playlist")
        .to_owned();
    assert!(
        preview.starts_with(&format!("/live/{EVENT}/p/")),
        "{preview}"
    );

    // A 10 s keyframe interval: red, with the OBS setting to change.
    let bad = Ffmpeg::start(&amphi.rtmp, 300);
    let (red_after, k) = wait_for(
        "the keyframe check to turn red",
        Duration::from_secs(20),
        || {
            let (_, h) = health(&c, &amphi, Some(MODERATOR));
            let k = check(&h, "keyframe_interval")?.clone();
            (k["level"] == "red").then(|| (t0.elapsed(), k))
        },
    );
    println!("keyframe check red {red_after:?} after start: {k}");
    let fix = k["fix"].as_str().unwrap_or_default();
    assert!(fix.contains("Keyframe Interval to 2 s in OBS"), "{k}");
    let (_, h) = health(&c, &amphi, Some(MODERATOR));
    assert_eq!(h["overall"], "red");
    let warned = h["warnings"].as_array().is_some_and(|w| {
        w.iter().any(|w| {
            w["check"] == "keyframe_interval"
                && w["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("Keyframe Interval to 2 s"))
        })
    });
    assert!(warned, "a warning with the fix: {}", h["warnings"]);
    let gauge = |metrics: &str, name: &str, labels: &[&str]| -> Option<f64> {
        metrics.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix('{')?;
            let (set, value) = rest.split_once("} ")?;
            labels
                .iter()
                .all(|want| set.split(',').any(|have| have == *want))
                .then(|| value.trim().parse().ok())?
        })
    };
    let event_label = format!("event=\"{EVENT}\"");
    wait_for(
        "the keyframe check red in /metrics",
        Duration::from_secs(5),
        || {
            let m = common::get_text(&c, &amphi.url("/metrics"))?;
            let level = gauge(
                &m,
                "amphi_health_check_level",
                &["check=\"keyframe_interval\"", &event_label],
            )?;
            let interval = gauge(
                &m,
                "amphi_ingest_keyframe_interval_seconds",
                &[&event_label],
            )?;
            (level == 2.0 && interval > 4.0).then_some(())
        },
    );

    // In preview: students wait, the preview plays and is never cached.
    let preview_url = amphi.url(&preview);
    let (master, cache) = wait_for("the preview playlist", Duration::from_secs(20), || {
        let (s, cache, body) = get(&c, &preview_url);
        (s == 200).then_some((body, cache))
    });
    assert_eq!(cache, "private, no-store");
    let (s, cache, _) = get(&c, &amphi.url(&format!("/live/{EVENT}/master.m3u8")));
    assert_eq!(
        (s, cache.as_str()),
        (404, "no-cache"),
        "students wait in preview"
    );
    let rendition = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .expect("a rendition in the preview")
        .to_owned();
    let base = preview_url.trim_end_matches("master.m3u8");
    let (s, cache, _) = get(&c, &format!("{base}{rendition}"));
    assert_eq!((s, cache.as_str()), (200, "private, no-store"));
    let (s, _, _) = get(
        &c,
        &amphi.url(&format!("/live/{EVENT}/p/wrongkey/master.m3u8")),
    );
    assert_eq!(s, 403);
    let listed = common::get_text(&c, &amphi.url("/api/events")).expect("events");
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed[0]["live"], false, "not live for students: {listed}");

    // A player sending CMCD is counted.
    let cmcd = format!("{preview_url}?CMCD=br%3D600%2Csid%3D%22player-one%22");
    assert_eq!(get(&c, &cmcd).0, 200);
    wait_for(
        "the CMCD session in the health",
        Duration::from_secs(5),
        || {
            let (_, h) = health(&c, &amphi, Some(MODERATOR));
            (h["viewers"]["cmcd"]["sessions"] == 1).then_some(())
        },
    );

    // A good publisher takes over: every check of the stream turns green.
    drop(bad);
    let good_from = Instant::now();
    let _good = Ffmpeg::start(&amphi.rtmp, 60);
    let stream_checks = [
        "stream",
        "bitrate",
        "frame_rate",
        "keyframe_interval",
        "audio",
        "av_drift",
    ];
    let h = wait_for("every stream check green", Duration::from_secs(20), || {
        let (_, h) = health(&c, &amphi, Some(MODERATOR));
        let green = stream_checks
            .iter()
            .all(|id| check(&h, id).is_some_and(|c| c["level"] == "green"));
        let measured = check(&h, "keyframe_interval").is_some_and(|k| k["value"] == "2.0 s");
        let level = h["ingest"]["audio"]["level_dbfs"].is_number();
        (green && measured && level).then_some(h)
    });
    println!(
        "stream checks green {:?} after the good publisher started; overall {}, ingest {}",
        good_from.elapsed(),
        h["overall"],
        h["ingest"]
    );
    for c in h["checks"].as_array().into_iter().flatten() {
        println!(
            "  {} {} {} {}",
            c["id"], c["level"], c["value"], c["message"]
        );
    }
    let fps = h["ingest"]["frame_rate"].as_f64().unwrap_or(0.0);
    assert!((fps - 30.0).abs() < 1.5, "frame rate {fps}");
    assert_eq!(h["ingest"]["audio"]["present"], true);
    assert_eq!(h["ingest"]["audio"]["silent"], false);
    // The level, decoded: ffmpeg's sine at 1/8 amplitude.
    let audio = &h["ingest"]["audio"];
    let (level, peak) = (
        audio["level_dbfs"].as_f64().unwrap_or(f64::NAN),
        audio["peak_dbfs"].as_f64().unwrap_or(f64::NAN),
    );
    let (expected, expected_peak) = publisher_audio_level();
    println!(
        "audio level {level:.2} dBFS, peak {peak:.2} dBFS; volumedetect of the publisher's samples: {expected:.1} dB, peak {expected_peak:.1} dB"
    );
    assert!((level - expected).abs() <= 2.0, "level: {audio}");
    assert!((peak - expected_peak).abs() <= 2.0, "peak: {audio}");
    assert_eq!(audio["level_source"], "decoded samples");
    let shown = check(&h, "audio").map(|c| c["value"].to_string());
    let want = format!("{:.0} dBFS", level);
    assert!(
        shown.as_deref().is_some_and(|v| v.contains(&want)),
        "audio check shows {want}: {shown:?}"
    );
    wait_for(
        "the audio level in /metrics",
        Duration::from_secs(5),
        || {
            let m = common::get_text(&c, &amphi.url("/metrics"))?;
            let level = gauge(&m, "amphi_ingest_audio_level_dbfs", &[&event_label])?;
            let peak = gauge(&m, "amphi_ingest_audio_peak_dbfs", &[&event_label])?;
            ((level - expected).abs() <= 2.0 && (peak - expected_peak).abs() <= 2.0).then_some(())
        },
    );

    // Go live: refused without a token or session, then the event's lecturer opens it
    // to students from the console.
    assert_eq!(c.post(&go).send().expect("post").status().as_u16(), 401);
    let res = c
        .post(&go)
        .header("cookie", &lecturer)
        .header("origin", &amphi.http)
        .header("x-csrf-token", &lecturer_csrf)
        .send()
        .expect("go live");
    assert_eq!(res.status().as_u16(), 200);
    let went: Value = serde_json::from_str(&res.text().unwrap_or_default()).expect("json");
    let at = went["program_time_ms"].as_i64().expect("program time");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    assert!(
        (now_ms - at).abs() < 5_000,
        "go-live program time {at} vs now {now_ms}"
    );
    let (s, cache, _) = get(&c, &amphi.url(&format!("/live/{EVENT}/master.m3u8")));
    assert_eq!(s, 200, "students play after Go live");
    assert!(cache.starts_with("public"), "{cache}");
    let (_, h) = health(&c, &amphi, Some(MODERATOR));
    assert_eq!(h["stage"]["preview"], false);
    let saved = std::fs::read_to_string(data.path().join("events.json")).expect("events.json");
    let saved: Value = serde_json::from_str(&saved).expect("json");
    assert!(
        saved["events"][0].get("preview").is_none(),
        "saved out of preview: {saved}"
    );
    assert_eq!(saved["events"][0]["went_live_at"], went["went_live_at"]);
    let chapters = common::get_text(&c, &amphi.url(&format!("/api/events/{EVENT}/chapters")))
        .expect("chapters");
    let chapters: Value = serde_json::from_str(&chapters).expect("json");
    let start = chapters["chapters"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["text"] == "Lecture starts"))
        .unwrap_or_else(|| panic!("the start as a chapter: {chapters}"));
    assert_eq!(start["program_time"].as_i64(), Some(at), "{start}");
    println!("health test took {:?}", t0.elapsed());
}
