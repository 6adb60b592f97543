//! The aiortc WHIP publisher (`tests/whip/publish.py`): a real WebRTC peer, and the lines
//! it prints as it goes.

use super::wait_for;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The Python of the venv with aiortc (the WHIP publisher, `tests/whip/publish.py`):
/// `$AMPHI_VENV` or `~/.cache/amphi-venv`, as `scripts/install-deps.sh test` makes it.
pub fn aiortc_python() -> PathBuf {
    let venv = std::env::var_os("AMPHI_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/amphi-venv")
        });
    let py = venv.join("bin/python");
    assert!(
        py.exists(),
        "{} missing: run scripts/install-deps.sh test (creates a venv with aiortc)",
        py.display()
    );
    py
}

/// A test peer's stdout lines, each echoed to stderr and kept with when it arrived.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<(Instant, String)>>>);

impl Lines {
    /// Collects `child`'s piped stdout from a thread, echoing each line as `[tag] line`.
    pub fn collect(child: &mut Child, tag: &'static str) -> Lines {
        let lines = Lines::default();
        let stdout = child.stdout.take().expect("stdout piped");
        let kept = lines.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("[{tag}] {line}");
                kept.lock().expect("lines").push((Instant::now(), line));
            }
        });
        lines
    }

    /// When the first line starting with `prefix` arrived, and the rest of it.
    pub fn find(&self, prefix: &str) -> Option<(Instant, String)> {
        self.0
            .lock()
            .expect("lines")
            .iter()
            .find_map(|(t, l)| l.strip_prefix(prefix).map(|r| (*t, r.trim().to_owned())))
    }

    /// Waits up to `timeout` for a line starting with `prefix`.
    pub fn wait(&self, prefix: &str, timeout: Duration) -> (Instant, String) {
        wait_for(prefix, timeout, || self.find(prefix))
    }

    /// Every line so far.
    pub fn joined(&self) -> String {
        let lines = self.0.lock().expect("lines");
        lines
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The aiortc WHIP publisher (`tests/whip/publish.py`) to `url` with the bearer `token`
/// and `extra` arguments, and its stdout lines (`WHIP_STATUS`, `WHIP_CONNECTED`, …).
pub fn whip_publisher(url: &str, token: &str, extra: &[&str]) -> (Child, Lines) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/whip/publish.py");
    let mut child = Command::new(aiortc_python())
        .arg(script)
        .args([url, token])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the WHIP publisher");
    let lines = Lines::collect(&mut child, "whip client");
    (child, lines)
}
