//! The lecturer's encoder loses its link and reconnects while its old connection is
//! still half-open (no FIN ever arrives): the new publish with the same key takes the
//! event over at once, the old connection is closed, and the playlists continue
//! past a discontinuity within 3 s. The half-open publisher is an ffmpeg (RTMP) or
//! aiortc (WHIP) process frozen with SIGSTOP.
//!
//! Prints the takeover time: from the new publisher's connect (RTMP: its process
//! start; WHIP: its POST answered) to the first part of the new session listed.

mod common;

use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed on drop (and woken first, should it be stopped).
struct Proc(Child);

impl Proc {
    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {sig}");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.id().to_string()])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rtmp_publisher(amphi: &Amphi, key: &str) -> Proc {
    Proc(
        ffmpeg_publish_cmd(&amphi.rtmp, key, 640, 360, 120)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ffmpeg"),
    )
}

/// The first media playlist of the event's master playlist.
fn media_playlist_url(c: &reqwest::blocking::Client, amphi: &Amphi, event: &str) -> String {
    let master_url = amphi.url(&format!("/live/{event}/master.m3u8"));
    let master = wait_for("the master playlist", Duration::from_secs(30), || {
        get_text(c, &master_url)
    });
    let first = segment_uris(&master)
        .into_iter()
        .next()
        .expect("a rendition in the master playlist");
    amphi.url(&format!("/live/{event}/{first}"))
}

/// Parts listed after the last discontinuity, and the number of discontinuities.
fn parts_after_last_discontinuity(playlist: &str) -> (usize, usize) {
    let lines: Vec<&str> = playlist.lines().collect();
    let marks: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| **l == "#EXT-X-DISCONTINUITY")
        .map(|(i, _)| i)
        .collect();
    let Some(&last) = marks.last() else {
        return (0, 0);
    };
    let parts = lines[last..]
        .iter()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .count();
    (parts, marks.len())
}

/// Waits until the old session is listed with parts, then freezes its publisher.
fn freeze_when_live(c: &reqwest::blocking::Client, url: &str, publisher: &Proc) -> String {
    let before = wait_for(
        "parts of the first session",
        Duration::from_secs(40),
        || get_text(c, url).filter(|t| segment_uris(t).len() >= 2 && t.contains("#EXT-X-PART:")),
    );
    publisher.signal("-STOP");
    before
}

/// Polls until the new session's first part is listed (after a new discontinuity);
/// returns the time it took from `since`.
fn wait_new_session_part(
    c: &reqwest::blocking::Client,
    url: &str,
    discontinuities_before: usize,
    since: Instant,
) -> Duration {
    wait_for(
        "the new session's first part",
        Duration::from_secs(20),
        || {
            let t = get_text(c, url)?;
            let (parts, marks) = parts_after_last_discontinuity(&t);
            (marks > discontinuities_before && parts >= 1).then(|| since.elapsed())
        },
    );
    since.elapsed()
}

#[test]
fn rtmp_half_open_publisher_is_taken_over_within_3_s() {
    let amphi = Amphi::start(&[&format!("lecture:{KEY}")]);
    let c = client();
    let first = rtmp_publisher(&amphi, KEY);
    let url = media_playlist_url(&c, &amphi, "lecture");
    let before = freeze_when_live(&c, &url, &first);
    let (_, marks_before) = parts_after_last_discontinuity(&before);
    let hint_before = preload_hint(&before).expect("preload hint");
    std::thread::sleep(Duration::from_millis(500)); // the stream is now frozen

    let connect = Instant::now();
    let _second = rtmp_publisher(&amphi, KEY);
    let took = wait_new_session_part(&c, &url, marks_before, connect);
    eprintln!(
        "TAKEOVER rtmp: first part of the new session listed {} ms after the new publisher started",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(3), "takeover took {took:?}");

    // The playlist keeps advancing with the new publisher.
    let after = wait_for("the playlist advancing", Duration::from_secs(10), || {
        let hint = preload_hint(&get_text(&c, &url)?)?;
        (hint.0 >= hint_before.0 + 2).then_some(hint)
    });
    assert!(after > hint_before);
    assert!(
        amphi.logged("rtmp connection dropped: taken over by a rtmp publisher from 127.0.0.x:"),
        "the old connection is closed and says why:\n{}",
        amphi.log()
    );
    assert!(amphi.logged("publisher taken over"), "{}", amphi.log());
    let log = amphi.log();
    let warning = log
        .lines()
        .find(|l| l.contains("publisher taken over"))
        .expect("the takeover warning");
    assert!(
        warning.contains("old_peer")
            && warning.contains("new_peer")
            && warning.matches("127.0.0.x:").count() >= 2,
        "both peers logged, redacted: {warning}"
    );
    assert!(!log.contains(KEY), "the key reached the log");
}

const WHIP_KEY: &str = "whip-takeover-key";

/// The aiortc publisher with its stdout lines (and when each arrived).
struct Whip {
    proc: Proc,
    lines: Lines,
}

impl Whip {
    fn start(url: &str, seconds: u32) -> Whip {
        let seconds = seconds.to_string();
        let extra = ["--seconds", &seconds, "--no-delete"];
        let (child, lines) = whip_publisher(url, WHIP_KEY, &extra);
        Whip {
            proc: Proc(child),
            lines,
        }
    }

    /// When a line starting with `prefix` arrived, and the rest of it.
    fn wait_line(&self, prefix: &str, timeout: Duration) -> (Instant, String) {
        self.lines.wait(prefix, timeout)
    }
}

#[test]
fn whip_half_open_publisher_is_taken_over_within_3_s() {
    let amphi = Amphi::start(&[&format!("lecture:{WHIP_KEY}")]);
    let c = client();
    let whip = amphi.url("/whip/lecture");
    let first = Whip::start(&whip, 120);
    assert_eq!(
        first.wait_line("WHIP_STATUS", Duration::from_secs(20)).1,
        "201"
    );
    first.wait_line("WHIP_CONNECTED", Duration::from_secs(15));
    let url = media_playlist_url(&c, &amphi, "lecture");
    let before = freeze_when_live(&c, &url, &first.proc);
    let (_, marks_before) = parts_after_last_discontinuity(&before);
    std::thread::sleep(Duration::from_millis(500));

    let second = Whip::start(&whip, 60);
    let (answered, status) = second.wait_line("WHIP_STATUS", Duration::from_secs(20));
    assert_eq!(status, "201", "a second publish with the token takes over");
    let took = wait_new_session_part(&c, &url, marks_before, answered);
    eprintln!(
        "TAKEOVER whip: first part of the new session listed {} ms after the POST was answered",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(3), "takeover took {took:?}");
    assert!(
        amphi.logged("whip session ended: stopped: taken over by a whip publisher"),
        "the old session is ended:\n{}",
        amphi.log()
    );
    assert!(amphi.logged("publisher taken over"), "{}", amphi.log());
    let log = amphi.log();
    assert!(!log.contains(WHIP_KEY), "the token reached the log");
}
