//! What only the S3 backend does, against a real S3-compatible server (moto on
//! loopback): paging long listings, telling a missing bucket from a missing key, and
//! failing fast when the server is gone. The behaviour every store shares is checked
//! once for all backends in `store_contract.rs`.

mod common;

use amphi_hls::store::{ContentType, Object, Store};
use bytes::Bytes;
use std::time::{Duration, Instant};

fn obj(data: &'static [u8], content_type: ContentType) -> Object {
    Object {
        data: Bytes::from_static(data),
        content_type,
    }
}

#[tokio::test]
async fn a_missing_bucket_is_an_error_not_a_missing_key() {
    let server = common::S3Server::start("amphi-test");
    let other = server.store("no-such-bucket").await;
    assert!(other.get("live/a/x.m4s").await.is_err());
    other.create_bucket_if_missing().await.expect("create");
    assert_eq!(other.get("live/a/x.m4s").await.expect("get"), None);
}

#[tokio::test]
async fn list_pages_through_more_than_one_response() {
    let server = common::S3Server::start("amphi-list");
    let s = std::sync::Arc::new(server.store("amphi-list").await);
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
    let server = common::S3Server::start("amphi-down");
    let s = server.store("amphi-down").await;
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
