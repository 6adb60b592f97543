//! Helpers shared by the store tests: a throwaway S3-compatible server (moto, started
//! on loopback by `scripts/s3-test-server.sh`, installed from PyPI if missing).

#![allow(dead_code)]

use amphi_hls::store::{S3Config, S3Store};
use std::path::PathBuf;
use std::process::Command;

pub struct S3Server {
    dir: tempfile::TempDir,
    port: u16,
    pub endpoint: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-test-server.sh")
}

impl S3Server {
    /// Starts moto on a free loopback port with `bucket` created.
    pub fn start(bucket: &str) -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir.path())
            .arg(port.to_string())
            .arg(bucket)
            .output()
            .expect("run s3-test-server.sh");
        assert!(
            out.status.success(),
            "s3-test-server.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let endpoint = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        S3Server {
            dir,
            port,
            endpoint,
        }
    }

    pub fn stop(&self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .arg(self.port.to_string())
            .status();
    }

    /// A store on `bucket` of this server.
    pub async fn store(&self, bucket: &str) -> S3Store {
        // Any credentials: moto does not check them.
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        let mut config = S3Config::new(bucket);
        config.endpoint = Some(self.endpoint.clone());
        config.path_style = true;
        S3Store::new(&config).await
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
