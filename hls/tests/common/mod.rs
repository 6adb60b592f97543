//! Helpers shared by the store tests: a throwaway S3-compatible server (moto, started
//! on loopback by `scripts/s3-test-server.sh`, installed from PyPI if missing).

#![allow(dead_code)]

use amphi_hls::store::{S3Config, S3Store};

pub mod moto;

pub struct S3Server {
    dir: tempfile::TempDir,
    port: u16,
    pub endpoint: String,
}

impl S3Server {
    /// Starts moto on a free loopback port with `bucket` created.
    pub fn start(bucket: &str) -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("tempdir");
        let endpoint = moto::start(dir.path(), port, bucket);
        S3Server {
            dir,
            port,
            endpoint,
        }
    }

    pub fn stop(&self) {
        moto::stop(self.dir.path(), self.port);
    }

    /// A store on `bucket` of this server.
    pub async fn store(&self, bucket: &str) -> S3Store {
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
