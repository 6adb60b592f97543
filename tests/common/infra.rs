//! Throwaway infrastructure for end-to-end tests, on loopback: an S3-compatible server
//! (`scripts/s3-test-server.sh`), Varnish in front of origins (`scripts/varnish-test.sh`)
//! and the `amphi-loadgen` viewer simulator.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::tempdir::TempDir;

/// The moto driver the store tests use too.
#[path = "../../hls/tests/common/moto.rs"]
mod moto;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The port of a `http://host:port` URL.
pub fn port_of(url: &str) -> u16 {
    url.trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// A real S3-compatible server (moto) with one bucket, stopped on drop.
pub struct S3Server {
    dir: TempDir,
    pub port: u16,
    pub endpoint: String,
    pub bucket: String,
}

impl S3Server {
    pub fn start(bucket: &str) -> S3Server {
        let port = free_port();
        let dir = TempDir::new("s3");
        let endpoint = moto::start(dir.path(), port, bucket);
        S3Server {
            dir,
            port,
            endpoint,
            bucket: bucket.to_owned(),
        }
    }

    /// `amphi serve` arguments for this bucket at `endpoint` (this server's, or a proxy's).
    pub fn args(&self, endpoint: &str) -> Vec<String> {
        [
            "--store",
            "s3",
            "--s3-endpoint",
            endpoint,
            "--s3-bucket",
            &self.bucket,
            "--s3-path-style",
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        moto::stop(self.dir.path(), self.port);
    }
}

/// Varnish with the project's VCL in front of origins on the given ports, stopped on drop.
pub struct Varnish {
    dir: TempDir,
    pub url: String,
}

impl Varnish {
    /// Varnish in front of `backend_ports`, or `None` (after saying so) on a machine
    /// where it cannot be installed; installed but not starting is a failure.
    pub fn start_or_skip(backend_ports: &[u16]) -> Option<Varnish> {
        match Varnish::start(backend_ports) {
            Ok(v) => Some(v),
            Err(e) if !Varnish::is_installed() => {
                println!("SKIPPED: varnish could not be installed: {e}");
                None
            }
            Err(e) => panic!("varnish is installed but did not start: {e}"),
        }
    }

    /// Errors when Varnish cannot be installed or started (the message says why).
    pub fn start(backend_ports: &[u16]) -> Result<Varnish, String> {
        let dir = TempDir::new("varnish");
        let out = Command::new("bash")
            .arg(repo().join("scripts/varnish-test.sh"))
            .arg("start")
            .arg(dir.path())
            .arg(free_port().to_string())
            .args(backend_ports.iter().map(u16::to_string))
            .output()
            .map_err(|e| format!("running scripts/varnish-test.sh: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Ok(Varnish { dir, url })
    }

    pub fn is_installed() -> bool {
        Command::new("varnishd").arg("-V").output().is_ok()
            || Path::new("/usr/sbin/varnishd").exists()
    }
}

impl Drop for Varnish {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join("scripts/varnish-test.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// `amphi-loadgen` next to the `amphi` binary, built if missing.
pub fn loadgen_bin() -> PathBuf {
    let amphi = PathBuf::from(env!("CARGO_BIN_EXE_amphi"));
    let bin = amphi.with_file_name("amphi-loadgen");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(repo())
            .args(["build", "-p", "amphi-loadgen", "--bin", "amphi-loadgen"]);
        if amphi.parent().and_then(Path::file_name) == Some("release".as_ref()) {
            cmd.arg("--release");
        }
        let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
        assert!(ok && bin.exists(), "building amphi-loadgen");
    }
    bin
}
