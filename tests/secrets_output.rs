//! Secrets stay out of what services keep: `amphi serve` under a service manager (stdout
//! a pipe or a file, as journald and `kubectl logs` capture it) prints no stream key,
//! WHIP bearer token or moderator token, and says where to read them; `amphi event
//! show` (a person asking) and an interactive run (stdout a terminal, here a pty made
//! by `script`) do show them.

mod common;

use common::tempdir::TempDir;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const CLI_KEY: &str = "cli-event-key-do-not-print";
const BIN: &str = env!("CARGO_BIN_EXE_amphi");

struct Secrets {
    stream_key: String,
    moderator_token: String,
}

/// Creates a saved event with `amphi event create`.
fn create_event(data: &Path, id: &str) {
    let out = Command::new(BIN)
        .arg("event")
        .arg("--data-dir")
        .arg(data)
        .args(["create", id])
        .output()
        .expect("run amphi event create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A saved event's secrets, read from `events.json` (the oracle: what the server
/// accepts). Read after `amphi serve` started, which persists the moderator token.
fn secrets(data: &Path, id: &str) -> Secrets {
    let text = std::fs::read_to_string(data.join("events.json")).expect("events.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("events.json is JSON");
    let event = json["events"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["id"] == id))
        .expect("the event is saved");
    let field = |name: &str| event[name].as_str().expect(name).to_owned();
    Secrets {
        stream_key: field("stream_key"),
        moderator_token: field("moderator_token"),
    }
}

fn serve_args(data: &Path) -> Vec<String> {
    [
        "serve",
        "--http",
        "127.0.0.1:0",
        "--rtmp",
        "127.0.0.1:0",
        "--webrtc-udp",
        "127.0.0.1:0",
        "--no-demo",
        "--event",
        &format!("cli:{CLI_KEY}"),
        "--data-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([data.display().to_string()])
    .collect()
}

/// Reads `child`'s stdout until a line contains `end_marker` (or `timeout`), kills it,
/// and returns all it printed on stdout and on stderr.
fn banner_and_logs(mut child: Child, end_marker: &str, timeout: Duration) -> (String, String) {
    let stdout = child.stdout.take().expect("stdout piped");
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut err = String::new();
            let _ = e.read_to_string(&mut err);
            err
        })
    });
    let (tx, rx) = mpsc::channel();
    let marker = end_marker.to_owned();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(&marker) {
                let _ = tx.send(seen.clone());
            }
        }
        let _ = tx.send(seen);
    });
    // Up to the marker (or the timeout), then the rest of the banner.
    let _ = rx.recv_timeout(timeout);
    std::thread::sleep(Duration::from_millis(500));
    let _ = child.kill();
    let _ = child.wait();
    // The reader sends everything it saw when stdout closes.
    let out = rx.iter().last().unwrap_or_default();
    let err = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    (out, err)
}

#[test]
fn secrets_not_printed_when_stdout_is_not_a_terminal() {
    let data = TempDir::new("secrets-pipe");
    create_event(data.path(), "lecture");
    let child = Command::new(BIN)
        .args(serve_args(data.path()))
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn amphi");
    let (out, err) = banner_and_logs(child, "--print-secrets", Duration::from_secs(30));
    eprintln!("--- stdout ---\n{out}");
    assert!(out.contains("AMPHI_READY "), "amphi started:\n{out}\n{err}");
    let lecture = secrets(data.path(), "lecture");
    for (what, secret) in [
        ("stream key", lecture.stream_key.as_str()),
        ("moderator token", lecture.moderator_token.as_str()),
        ("--event key", CLI_KEY),
    ] {
        assert!(!out.contains(secret), "{what} printed on stdout:\n{out}");
        assert!(!err.contains(secret), "{what} in the logs");
    }
    assert!(!out.contains("AMPHI_MODERATOR"), "{out}");
    // Where to read them instead.
    assert!(
        out.contains(&format!(
            "amphi event --data-dir {} show lecture",
            data.path().display()
        )),
        "{out}"
    );
    assert!(out.contains("Bearer token (the stream key)"), "{out}");

    // A person asking gets them.
    let show = Command::new(BIN)
        .arg("event")
        .arg("--data-dir")
        .arg(data.path())
        .args(["show", "lecture"])
        .output()
        .expect("run amphi event show");
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(show.contains(&lecture.stream_key), "{show}");
    assert!(show.contains(&lecture.moderator_token), "{show}");
}

#[test]
fn secrets_printed_for_scripts_that_ask() {
    let data = TempDir::new("secrets-flag");
    create_event(data.path(), "lecture");
    let child = Command::new(BIN)
        .args(serve_args(data.path()))
        .arg("--print-secrets")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn amphi");
    let (out, _) = banner_and_logs(child, "Amphi is running", Duration::from_secs(30));
    let lecture = secrets(data.path(), "lecture");
    assert!(out.contains(&lecture.stream_key), "{out}");
    assert!(out.contains(&lecture.moderator_token), "{out}");
    assert!(out.contains(CLI_KEY), "{out}");
    assert!(
        out.contains("AMPHI_MODERATOR event=lecture token="),
        "{out}"
    );
    assert!(out.contains("AMPHI_MODERATOR event=cli token="), "{out}");
}

#[test]
fn secrets_printed_on_an_interactive_first_run() {
    let data = TempDir::new("secrets-tty");
    // `script` runs amphi with stdout on a pseudo-terminal, as a person's shell does;
    // `timeout` ends it (and `script`) after the banner.
    let command = format!(
        "timeout -s INT 8 {BIN} {}",
        serve_args(data.path())
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
            + " --first-event"
    );
    let child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn script (util-linux)");
    let (out, _) = banner_and_logs(child, "Amphi is running", Duration::from_secs(30));
    assert!(out.contains("AMPHI_READY "), "{out}");
    let lecture = secrets(data.path(), "lecture");
    assert!(
        out.contains(&lecture.stream_key),
        "the first event's key is shown:\n{out}"
    );
    assert!(out.contains(&lecture.moderator_token), "{out}");
    assert!(out.contains(CLI_KEY), "{out}");
    assert!(
        out.contains("AMPHI_MODERATOR event=lecture token="),
        "{out}"
    );
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
