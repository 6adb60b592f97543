//! `S3Store` against a real S3-compatible server (moto, started on loopback by
//! `scripts/s3-test-server.sh`, installed from PyPI if missing).

use amphi_hls::store::{ContentType, Object, S3Config, S3Store, Store};
use bytes::Bytes;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

struct S3Server {
    dir: tempfile::TempDir,
    port: u16,
    endpoint: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-test-server.sh")
}

impl S3Server {
    fn start(bucket: &str) -> S3Server {
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

    fn stop(&self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .arg(self.port.to_string())
            .status();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn store(endpoint: &str, bucket: &str) -> S3Store {
    // Any credentials: moto does not check them.
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    let mut config = S3Config::new(bucket);
    config.endpoint = Some(endpoint.to_owned());
    config.path_style = true;
    S3Store::new(&config).await
}

fn obj(data: &'static [u8], content_type: ContentType) -> Object {
    Object {
        data: Bytes::from_static(data),
        content_type,
    }
}

#[tokio::test]
async fn put_get_list_delete_against_a_real_server() {
    let server = S3Server::start("amphi-test");
    let s = store(&server.endpoint, "amphi-test").await;
    s.check().await.expect("bucket reachable");
    let mut rx = s.subscribe();

    s.put("live/a/720p/part1.0.m4s", obj(b"part", ContentType::Mp4))
        .await
        .expect("put");
    s.put(
        "live/a/720p/index.m3u8",
        obj(b"#EXTM3U\n", ContentType::Playlist),
    )
    .await
    .expect("put");
    s.put("live/a/qa.json", obj(b"{}", ContentType::Json))
        .await
        .expect("put");
    s.put(
        "live/ab/master.m3u8",
        obj(b"#EXTM3U\n", ContentType::Playlist),
    )
    .await
    .expect("put");
    assert_eq!(
        &*rx.recv().await.expect("announced"),
        "live/a/720p/part1.0.m4s"
    );

    // Content types survive the round trip.
    assert_eq!(
        s.get("live/a/720p/index.m3u8").await.expect("get"),
        Some(obj(b"#EXTM3U\n", ContentType::Playlist))
    );
    assert_eq!(
        s.get("live/a/720p/part1.0.m4s").await.expect("get"),
        Some(obj(b"part", ContentType::Mp4))
    );
    assert_eq!(
        s.get("live/a/qa.json").await.expect("get"),
        Some(obj(b"{}", ContentType::Json))
    );
    // A missing key is not an error.
    assert_eq!(s.get("live/a/720p/part9.0.m4s").await.expect("get"), None);

    assert_eq!(
        s.list("live/a/").await.expect("list"),
        vec![
            "live/a/720p/index.m3u8",
            "live/a/720p/part1.0.m4s",
            "live/a/qa.json"
        ]
    );
    assert_eq!(s.list("live/").await.expect("list").len(), 4);
    assert!(s.list("nothing/").await.expect("list").is_empty());

    // Replace, then delete (twice: deleting a missing key is fine).
    s.put(
        "live/a/720p/index.m3u8",
        obj(b"#EXTM3U\n2", ContentType::Playlist),
    )
    .await
    .expect("replace");
    assert_eq!(
        s.get("live/a/720p/index.m3u8")
            .await
            .expect("get")
            .map(|o| o.data),
        Some(Bytes::from_static(b"#EXTM3U\n2"))
    );
    s.delete("live/a/720p/part1.0.m4s").await.expect("delete");
    s.delete("live/a/720p/part1.0.m4s")
        .await
        .expect("delete again");
    assert_eq!(s.get("live/a/720p/part1.0.m4s").await.expect("get"), None);
    assert!(s.get("../etc/passwd").await.is_err(), "invalid key");

    // A bucket that does not exist is an error, not "missing".
    let other = store(&server.endpoint, "no-such-bucket").await;
    assert!(other.get("live/a/x.m4s").await.is_err());
    other.create_bucket_if_missing().await.expect("create");
    assert_eq!(other.get("live/a/x.m4s").await.expect("get"), None);
}

#[tokio::test]
async fn list_pages_through_more_than_one_response() {
    let server = S3Server::start("amphi-list");
    let s = std::sync::Arc::new(store(&server.endpoint, "amphi-list").await);
    // S3 pages listings by 1000 keys.
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..10 {
        let s = s.clone();
        tasks.spawn(async move {
            for i in 0..101 {
                let key = format!("live/p/part{}.0.m4s", chunk * 101 + i);
                s.put(&key, obj(b"x", ContentType::Mp4)).await.expect("put");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    let keys = s.list("live/p/").await.expect("list");
    assert_eq!(keys.len(), 1010);
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "sorted, no duplicates"
    );
}

#[tokio::test]
async fn a_stopped_server_fails_fast() {
    let server = S3Server::start("amphi-down");
    let s = store(&server.endpoint, "amphi-down").await;
    s.put("live/d/seg1.m4s", obj(b"1", ContentType::Mp4))
        .await
        .expect("put");
    server.stop();
    let t = Instant::now();
    let err = s
        .put("live/d/seg2.m4s", obj(b"2", ContentType::Mp4))
        .await
        .expect_err("server is down");
    let took = t.elapsed();
    eprintln!("put to a stopped server failed after {took:?}: {err}");
    assert!(took < Duration::from_secs(6), "bounded by the timeouts");
    assert!(s.get("live/d/seg1.m4s").await.is_err());
}
