//! The one `Store` contract, checked against every backend: memory, filesystem and S3
//! (a real S3-compatible server, moto, on loopback). What the packager and the origins
//! rely on is written once here; backend-specific behaviour (atomic replacement on a
//! filesystem, S3 paging and failure timing) is tested next to each backend.

#[cfg(feature = "s3")]
mod common;

use amphi_hls::store::{ContentType, FsStore, MemoryStore, Object, Store};
use bytes::Bytes;
use std::time::Duration;

fn obj(data: &'static [u8], content_type: ContentType) -> Object {
    Object {
        data: Bytes::from_static(data),
        content_type,
    }
}

/// Puts, gets, lists, replaces and deletes as the packager and the origin do.
async fn contract(s: &dyn Store) {
    let mut rx = s.subscribe();
    s.put("live/a/720p/part1.0.m4s", obj(b"part", ContentType::Mp4))
        .await
        .expect("put a part");
    s.put(
        "live/a/720p/index.m3u8",
        obj(b"#EXTM3U\n", ContentType::Playlist),
    )
    .await
    .expect("put a playlist");
    s.put("live/a/qa.json", obj(b"{}", ContentType::Json))
        .await
        .expect("put json");
    s.put(
        "live/ab/master.m3u8",
        obj(b"#EXTM3U\n", ContentType::Playlist),
    )
    .await
    .expect("put under a longer prefix");

    // Every put is announced after it is readable, in order.
    for expected in [
        "live/a/720p/part1.0.m4s",
        "live/a/720p/index.m3u8",
        "live/a/qa.json",
        "live/ab/master.m3u8",
    ] {
        let key = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("announced in time")
            .expect("announced");
        assert_eq!(&*key, expected);
        assert!(s.get(&key).await.expect("get").is_some(), "{key} readable");
    }

    // Objects and their content types come back as put.
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
    // A missing key, or a "directory", is not an error.
    assert_eq!(s.get("live/a/720p/part9.0.m4s").await.expect("get"), None);
    assert_eq!(s.get("live/a").await.expect("get"), None);

    // Listing: sorted, by plain string prefix, recursive.
    assert_eq!(
        s.list("live/a/").await.expect("list"),
        vec![
            "live/a/720p/index.m3u8",
            "live/a/720p/part1.0.m4s",
            "live/a/qa.json"
        ]
    );
    assert_eq!(
        s.list("live/a").await.expect("list"),
        vec![
            "live/a/720p/index.m3u8",
            "live/a/720p/part1.0.m4s",
            "live/a/qa.json",
            "live/ab/master.m3u8"
        ]
    );
    assert_eq!(s.list("live/a/720p/part").await.expect("list").len(), 1);
    assert_eq!(s.list("").await.expect("list").len(), 4);
    assert!(s.list("nothing/").await.expect("list").is_empty());

    // Replacing a playlist.
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

    // Deleting, twice (a missing key is fine).
    s.delete("live/a/720p/part1.0.m4s").await.expect("delete");
    s.delete("live/a/720p/part1.0.m4s")
        .await
        .expect("delete again");
    assert_eq!(s.get("live/a/720p/part1.0.m4s").await.expect("get"), None);
    assert_eq!(s.list("live/a/720p/").await.expect("list").len(), 1);

    // Keys that could escape the store are refused everywhere.
    for bad in ["../x", "/abs", "a//b", "a/./b", "", "a\\b"] {
        assert!(
            s.put(bad, obj(b"", ContentType::Mp4)).await.is_err(),
            "put {bad:?}"
        );
        assert!(s.get(bad).await.is_err(), "get {bad:?}");
        assert!(s.delete(bad).await.is_err(), "delete {bad:?}");
    }

    // Larger media objects survive byte for byte.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    s.put(
        "live/a/720p/seg1.m4s",
        Object {
            data: Bytes::from(big.clone()),
            content_type: ContentType::Mp4,
        },
    )
    .await
    .expect("put a segment");
    assert_eq!(
        s.get("live/a/720p/seg1.m4s")
            .await
            .expect("get")
            .map(|o| o.data.to_vec()),
        Some(big)
    );
}

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    contract(&MemoryStore::new()).await;
}

#[tokio::test]
async fn filesystem_store_keeps_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = FsStore::new(dir.path().join("store")).expect("store");
    contract(&s).await;
    // What it wrote is readable by another store on the same root (another process).
    let other = FsStore::new(dir.path().join("store")).expect("store");
    assert!(other.get("live/a/qa.json").await.expect("get").is_some());
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn s3_store_keeps_the_contract() {
    let server = common::S3Server::start("amphi-contract");
    let s = server.store("amphi-contract").await;
    s.check().await.expect("bucket reachable");
    contract(&s).await;
}
