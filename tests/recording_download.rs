//! A student downloads the lecture: `GET /live/{event}/recording.mp4` streams the
//! recording as one MP4, during the live (the lecture so far, not cached) and after it
//! (the whole lecture). ffprobe, an independent reader, checks the file: video and
//! audio, and a duration within 1 s of what the recording playlist lists.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

const MEDIA_SECONDS: u32 = 14;

/// Every frame decodes (ffmpeg reports no error).
fn decodes(path: &std::path::Path) -> bool {
    Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .status()
        .is_ok_and(|s| s.success())
}

fn download(
    c: &reqwest::blocking::Client,
    url: &str,
    to: &std::path::Path,
) -> reqwest::header::HeaderMap {
    let res = c.get(url).send().expect("GET recording.mp4");
    assert_eq!(res.status(), 200, "{url}");
    let headers = res.headers().clone();
    let bytes = res.bytes().expect("the whole MP4");
    std::fs::write(to, &bytes).expect("write the MP4");
    headers
}

#[test]
fn the_recording_downloads_as_one_mp4_during_and_after_the_live() {
    let data = tempdir::TempDir::new("download");
    let store = data.path().join("media");
    let store = store.to_str().expect("utf-8 path");
    // A saved event (the console manages saved events) and a console admin.
    let key = create_event(data.path(), "lecture");
    add_admin(data.path());
    let amphi = Amphi::start_in_with(
        data.path(),
        &[],
        &["--store", "fs", "--store-dir", store, "--end-after", "2"],
    );
    let c = client();
    let publisher = Publisher::start(&amphi.rtmp, &key, 320, 180, MEDIA_SECONDS);
    let rendition = first_rendition(
        &c,
        &amphi.url("/live/lecture/master.m3u8"),
        Duration::from_secs(20),
    );
    let download_url = amphi.url("/live/lecture/recording.mp4");

    // During the live: the lecture so far, never cached.
    let live = amphi.url(&format!("/live/lecture/{rendition}/index.m3u8"));
    wait_for("two complete segments", Duration::from_secs(20), || {
        get_text(&c, &live).filter(|t| segment_uris(t).len() >= 2)
    });
    let partial = data.path().join("partial.mp4");
    let headers = download(&c, &download_url, &partial);
    assert_eq!(headers["cache-control"], "no-store");
    let (so_far, codecs) = probe_duration_and_codecs(&partial);
    println!("during the live: {so_far:.2} s ({codecs:?})");
    assert!(so_far >= 3.5, "at least the two segments: {so_far:.2} s");
    assert!(decodes(&partial), "the partial MP4 decodes");

    let (ok, err) = publisher.wait(Duration::from_secs(MEDIA_SECONDS as u64 + 20));
    assert_eq!(
        ok,
        Some(true),
        "ffmpeg published its {MEDIA_SECONDS} s: {err}"
    );
    // The ended live playlist lists the whole recording.
    let vod = wait_for("the live to end", Duration::from_secs(20), || {
        get_text(&c, &live).filter(|t| t.contains("#EXT-X-ENDLIST"))
    });
    let listed = extinf_total(&vod);

    // After the live: the whole lecture.
    let whole = data.path().join("whole.mp4");
    let started = std::time::Instant::now();
    let headers = download(&c, &download_url, &whole);
    let took = started.elapsed();
    assert_eq!(headers["content-type"], "video/mp4");
    let disposition = headers["content-disposition"].to_str().expect("ascii");
    assert!(
        disposition.starts_with("attachment;") && disposition.contains(".mp4"),
        "{disposition}"
    );
    assert!(
        !headers["cache-control"]
            .to_str()
            .unwrap_or("")
            .contains("immutable"),
        "a recording can grow if the event goes live again"
    );
    let size = std::fs::metadata(&whole).map(|m| m.len()).unwrap_or(0);
    let (duration, codecs) = probe_duration_and_codecs(&whole);
    println!(
        "after the live: {duration:.2} s, {size} bytes in {took:?}; recording lists {listed:.2} s; streams {codecs:?}"
    );
    assert!(
        (duration - listed).abs() < 1.0,
        "the MP4 lasts as long as the recording: {duration:.2} s vs {listed:.2} s"
    );
    assert!(
        (listed - MEDIA_SECONDS as f64).abs() < 2.5,
        "the recording is the lecture: {listed:.2} s of {MEDIA_SECONDS} s"
    );
    assert!(codecs.iter().any(|c| c == "h264"), "video: {codecs:?}");
    assert!(codecs.iter().any(|c| c == "aac"), "audio: {codecs:?}");
    assert!(decodes(&whole), "the MP4 decodes without error");

    // The console's download of the top rendition is the viewers' download, byte for byte.
    let console = console_downloads(&c, &amphi);
    let viewers = std::fs::read(&whole).expect("read whole.mp4");
    println!(
        "console downloads: {:?}",
        console
            .iter()
            .map(|(r, b)| (r, b.len()))
            .collect::<Vec<_>>()
    );
    assert!(
        console.iter().any(|(_, bytes)| *bytes == viewers),
        "one rendition's console download is the viewers' MP4 ({} bytes)",
        viewers.len()
    );

    // The CLI export is the same remux, made progressive.
    let cli = data.path().join("cli.mp4");
    let out = Command::new(env!("CARGO_BIN_EXE_amphi"))
        .args(["event", "--data-dir"])
        .arg(data.path())
        .args(["recording", "lecture", "--mp4"])
        .arg(&cli)
        .args(["--store", "fs", "--store-dir", store])
        .output()
        .expect("amphi event recording");
    assert!(
        out.status.success(),
        "amphi event recording: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (cli_duration, _) = probe_duration_and_codecs(&cli);
    assert!(
        (cli_duration - duration).abs() < 0.2,
        "the CLI's MP4 matches the download: {cli_duration:.2} s vs {duration:.2} s"
    );
}

/// `amphi event create ID`; returns its stream key, read from `events.json`.
fn create_event(data: &std::path::Path, id: &str) -> String {
    amphi_cli(data, &["event", "create", id], "");
    let text = std::fs::read_to_string(data.join("events.json")).expect("events.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("events.json is JSON");
    json["events"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["id"] == id))
        .and_then(|e| e["stream_key"].as_str())
        .expect("the saved event's stream key")
        .to_owned()
}

const ADMIN_PASSWORD: &str = "a long enough console password";

/// `amphi user add admin --role admin`, the password on stdin.
fn add_admin(data: &std::path::Path) {
    amphi_cli(
        data,
        &["user", "add", "admin", "--role", "admin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
}

/// Logs into the console and downloads every listed rendition's recording.
fn console_downloads(c: &reqwest::blocking::Client, amphi: &Amphi) -> Vec<(String, Vec<u8>)> {
    let (cookie, _) = console_login(c, amphi, "admin", ADMIN_PASSWORD);
    let get = |path: &str| {
        let res = c
            .get(amphi.url(path))
            .header("cookie", &cookie)
            .send()
            .expect("console GET");
        assert_eq!(res.status(), 200, "GET {path}");
        res.bytes().expect("body").to_vec()
    };
    let list: serde_json::Value =
        serde_json::from_slice(&get("/api/admin/events/lecture/recordings")).expect("json");
    let list = list
        .as_array()
        .or_else(|| list["recordings"].as_array())
        .cloned()
        .unwrap_or_default();
    assert!(!list.is_empty(), "the console lists the recordings");
    list.iter()
        .map(|r| {
            let rendition = r["rendition"].as_str().expect("rendition").to_owned();
            let url = r["download_url"].as_str().expect("download_url").to_owned();
            (rendition, get(&url))
        })
        .collect()
}
