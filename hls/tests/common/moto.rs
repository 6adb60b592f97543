//! The one driver of `scripts/s3-test-server.sh` (moto on loopback), shared by the
//! store tests here and the end-to-end tests in `tests/` (included there by path).

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("scripts/s3-test-server.sh").is_file())
        .expect("scripts/s3-test-server.sh above the crate")
        .join("scripts/s3-test-server.sh")
}

/// Starts moto in `dir` on loopback `port` with `bucket` created; returns its endpoint.
/// moto accepts any credentials, the SDK wants some: they are set here too.
pub fn start(dir: &Path, port: u16, bucket: &str) -> String {
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    let out = Command::new("bash")
        .arg(script())
        .arg("start")
        .arg(dir)
        .arg(port.to_string())
        .arg(bucket)
        .output()
        .expect("run s3-test-server.sh");
    assert!(
        out.status.success(),
        "s3-test-server.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Stops the moto started in `dir` on `port` (best effort: used from `Drop`).
pub fn stop(dir: &Path, port: u16) {
    let _ = Command::new("bash")
        .arg(script())
        .arg("stop")
        .arg(dir)
        .arg(port.to_string())
        .status();
}
