//! Shared helpers for end-to-end tests: a running `amphi` process, an ffmpeg publisher
//! configured like OBS, an HTTP client, and bounded polling. Beside them: reading
//! playlists (`playlist`), ffprobe's view of a file (`probe`), the WHIP peer (`whip`),
//! loopback infrastructure (`infra`), network namespaces (`netns`), a raw RTMP client
//! and a TCP proxy.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const KEY: &str = "e2e-secret-key";

/// A running amphi process, killed on drop. Its stderr is kept for failure messages.
pub struct Amphi {
    child: Child,
    pub http: String,
    pub rtmp: String,
    pub log: Arc<Mutex<String>>,
    /// The data directory, removed on drop unless it was given (`start_in`).
    _data: Option<tempdir::TempDir>,
}

pub mod infra;
pub mod netns;
mod playlist;
mod probe;
pub mod rtmp_client;
pub mod tcp_proxy;
mod whip;

// Each test binary uses some of these; the rest would be unused imports there.
#[allow(unused_imports)]
pub use playlist::{attr, extinf_total, media_sequence, preload_hint, segment_uris};
#[allow(unused_imports)]
pub use probe::{decode_counts, probe_duration_and_codecs, probe_video};
#[allow(unused_imports)]
pub use whip::{aiortc_python, whip_publisher, Lines};

pub mod tempdir {
    use std::path::{Path, PathBuf};
    pub struct TempDir(PathBuf);
    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            let n = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let p = std::env::temp_dir().join(format!("amphi-{tag}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).expect("temp dir");
            TempDir(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Amphi {
    /// Starts `amphi serve` on loopback with ephemeral ports and the given `ID:KEY` events.
    pub fn start(events: &[&str]) -> Amphi {
        Amphi::start_with(events, &[])
    }

    /// [`Amphi::start`] with extra `amphi serve` arguments (`--role`, `--store`, …).
    pub fn start_with(events: &[&str], extra: &[&str]) -> Amphi {
        let data = tempdir::TempDir::new("data");
        let mut amphi = Amphi::start_in_with(data.path(), events, extra);
        amphi._data = Some(data);
        amphi
    }

    /// Like [`Amphi::start`] on a data directory the caller keeps (e.g. across restarts).
    pub fn start_in(data: &std::path::Path, events: &[&str]) -> Amphi {
        Amphi::start_in_with(data, events, &[])
    }

    /// [`Amphi::start_in`] with extra `amphi serve` arguments.
    pub fn start_in_with(data: &std::path::Path, events: &[&str], extra: &[&str]) -> Amphi {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_amphi"));
        cmd.args(["serve", "--no-demo"]).arg("--data-dir").arg(data);
        // Loopback with ephemeral ports unless the test listens elsewhere (a namespace).
        for flag in ["--http", "--rtmp"] {
            if !extra.contains(&flag) {
                cmd.args([flag, "127.0.0.1:0"]);
            }
        }
        for e in events {
            cmd.args(["--event", e]);
        }
        // Several amphi processes may run at once: WebRTC media on a port of its own.
        if !extra.contains(&"--webrtc-udp") {
            cmd.args(["--webrtc-udp", "127.0.0.1:0"]);
        }
        cmd.args(extra);
        cmd.env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn amphi");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[amphi] {line}");
                log2.lock().expect("log lock").push_str(&(line + "\n"));
            }
        });
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && line.starts_with("AMPHI_READY ") {
                    let _ = tx.send(line);
                    sent = true;
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("amphi printed AMPHI_READY within 20 s");
        let field = |name: &str| -> String {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .expect("field in ready line")
                .to_owned()
        };
        Amphi {
            child,
            http: field("http"),
            rtmp: field("rtmp"),
            log,
            _data: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.http, path)
    }

    /// The amphi process's id (to signal it or limit its CPU).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        self.log.lock().expect("log lock").contains(needle)
    }

    /// Whether the log holds `needle` within 5 s: the log is read from the
    /// child's stderr by a thread, so a line can trail the response it explains.
    pub fn logged(&self, needle: &str) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            if self.log_contains(needle) {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `n` origins (`--role origin`) reading the fs store `store_dir` that a packager
    /// writes, told of its new keys by `notify` (the packager's /internal/notify).
    pub fn origins(events: &[&str], store_dir: &str, notify: &str, n: usize) -> Vec<Amphi> {
        (0..n)
            .map(|_| {
                Amphi::start_with(
                    events,
                    &[
                        "--role",
                        "origin",
                        "--store",
                        "fs",
                        "--store-dir",
                        store_dir,
                        "--notify-url",
                        notify,
                    ],
                )
            })
            .collect()
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }
}

impl Drop for Amphi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An ffmpeg process publishing a synthetic lecture over RTMP the way OBS does
/// (H.264 High, CBR-ish, 2 s keyframes, AAC 48 kHz), killed on drop.
pub struct Publisher {
    child: Child,
}

impl Publisher {
    pub fn start(rtmp_base: &str, key: &str, width: u32, height: u32, seconds: u32) -> Publisher {
        let child = ffmpeg_publish_cmd(rtmp_base, key, width, height, seconds)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ffmpeg");
        Publisher { child }
    }

    /// Kills it like a lost network connection (no clean RTMP close).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for it to exit (bounded) and returns whether it succeeded and its stderr.
    pub fn wait(mut self, timeout: Duration) -> (Option<bool>, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                return (Some(status.success()), err);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return (None, String::new());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The synthetic lecture every test sends: `testsrc2` and a 440 Hz tone, x264
/// `ultrafast`/`zerolatency` High profile with 2 s closed GOPs (OBS's settings for
/// Amphi), constant bitrate, AAC 48 kHz stereo; size, bitrates and length per test.
#[derive(Debug, Clone, Copy)]
pub struct Lecture {
    pub width: u32,
    pub height: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    pub seconds: u32,
    /// ffmpeg's `-loglevel`.
    pub log_level: &'static str,
}

impl Lecture {
    /// A `width`x`height` lecture of `seconds`, at `video_kbps` with 128 kb/s audio.
    pub fn new(width: u32, height: u32, video_kbps: u32, seconds: u32) -> Self {
        Lecture {
            width,
            height,
            video_kbps,
            audio_kbps: 128,
            seconds,
            log_level: "error",
        }
    }

    /// ffmpeg (run through `prefix`, e.g. `ip netns exec …`, when not empty) encoding
    /// the lecture, paced in real time when `paced`; the caller adds the output.
    pub fn ffmpeg(&self, prefix: &[&str], paced: bool) -> Command {
        let mut c = Command::new(prefix.first().copied().unwrap_or("ffmpeg"));
        if !prefix.is_empty() {
            c.args(&prefix[1..]).arg("ffmpeg");
        }
        c.args(["-hide_banner", "-loglevel", self.log_level, "-nostdin"]);
        if paced {
            c.arg("-re");
        }
        let (w, h, v, a) = (self.width, self.height, self.video_kbps, self.audio_kbps);
        c.args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={w}x{h}:rate=30"),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &self.seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-profile:v", "high", "-pix_fmt", "yuv420p"])
        .args(["-g", "60", "-keyint_min", "60", "-sc_threshold", "0"])
        .args(["-b:v", &format!("{v}k"), "-maxrate", &format!("{v}k")])
        .args(["-bufsize", &format!("{}k", 2 * v)])
        .args([
            "-c:a",
            "aac",
            "-b:a",
            &format!("{a}k"),
            "-ar",
            "48000",
            "-ac",
            "2",
        ]);
        c
    }
}

/// ffmpeg publishing a `width`x`height` lecture at 4.5 Mb/s over RTMP to
/// `{rtmp_base}/{key}`, paced in real time.
pub fn ffmpeg_publish_cmd(
    rtmp_base: &str,
    key: &str,
    width: u32,
    height: u32,
    seconds: u32,
) -> Command {
    let mut c = Lecture::new(width, height, 4500, seconds).ffmpeg(&[], true);
    c.args(["-f", "flv", &format!("{rtmp_base}/{key}")]);
    c
}

/// The wall clock now, moved by `secs` seconds (an expiry for a token).
pub fn now_plus(secs: i64) -> amphi_time::WallTime {
    amphi_time::WallTime::from(std::time::SystemTime::now())
        + amphi_time::TimeDelta::from_millis(secs * 1000)
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("http client")
}

/// Polls `f` every 100 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn get_text(c: &reqwest::blocking::Client, url: &str) -> Option<String> {
    let r = c.get(url).send().ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.text().ok()
}

pub fn get_bytes(c: &reqwest::blocking::Client, url: &str) -> Option<Vec<u8>> {
    let r = c.get(url).send().ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.bytes().ok().map(|b| b.to_vec())
}

/// `%XX` and `+` decoding of a URL's query value, written here apart from the
/// server's decoders so the tests read its redirects independently.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// The decoded value of query parameter `name` in `url` (before any `#fragment`).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .map(percent_decode)
}

pub fn scratch_dir(tag: &str) -> PathBuf {
    let d = tempdir::TempDir::new(tag);
    let p = d.path().to_path_buf();
    std::mem::forget(d);
    p
}

/// A console session of `user` logged in with `password`: the `name=value` of its cookie
/// and its CSRF token.
pub fn console_login(
    c: &reqwest::blocking::Client,
    amphi: &Amphi,
    user: &str,
    password: &str,
) -> (String, String) {
    let res = c
        .post(amphi.url("/api/admin/login"))
        .header("origin", &amphi.http)
        .header("content-type", "application/json")
        .body(serde_json::json!({ "user": user, "password": password }).to_string())
        .send()
        .expect("console login request");
    assert_eq!(res.status().as_u16(), 200, "console login of {user}");
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .expect("ascii cookie")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    let body: serde_json::Value =
        serde_json::from_str(&res.text().unwrap_or_default()).expect("json");
    let csrf = body["csrf_token"].as_str().expect("csrf token").to_owned();
    (cookie, csrf)
}

/// Waits up to `timeout` for the multivariant playlist at `master_url` to list its
/// renditions and returns the first one's name (the folder of its media playlist).
pub fn first_rendition(
    c: &reqwest::blocking::Client,
    master_url: &str,
    timeout: Duration,
) -> String {
    let master = wait_for("the master playlist", timeout, || {
        get_text(c, master_url).filter(|m| m.contains("#EXT-X-STREAM-INF"))
    });
    segment_uris(&master)[0]
        .split('/')
        .next()
        .expect("rendition")
        .to_owned()
}

/// Runs `amphi SUBCOMMAND --data-dir DATA REST…` (`args[0]` is the subcommand) with
/// `stdin` on its standard input (a password, say); asserts it succeeded and returns
/// its standard output.
pub fn amphi_cli(data: &std::path::Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_amphi"))
        .arg(args[0])
        .arg("--data-dir")
        .arg(data)
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn amphi");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("amphi ran");
    assert!(
        out.status.success(),
        "amphi {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
