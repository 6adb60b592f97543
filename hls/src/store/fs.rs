//! Filesystem store: one file per key under a root directory.
//!
//! Writes are atomic: the object is written to a temporary file under
//! `{root}/.amphi-tmp/` (same filesystem as the target) and renamed into place, so a
//! reader (this process, another process, or a web server serving the directory) sees
//! either the old object or the new one, never a partial file. The content type is not
//! stored: it is derived from the key's extension ([`ContentType::for_key`]), which is
//! how the packager names objects. Notifications are in-process only; see the module
//! docs of [`crate::store`] for other processes.

use super::{validate_key, ContentType, Object, Store, StoreError, NOTIFY_CAPACITY};
use async_trait::async_trait;
use bytes::Bytes;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Directory under the root for files being written; never listed.
pub const TMP_DIR: &str = ".amphi-tmp";

pub struct FsStore {
    root: PathBuf,
    notify: broadcast::Sender<Arc<str>>,
    next_tmp: AtomicU64,
}

impl FsStore {
    /// A store rooted at `root`, created if missing (with its temporary directory).
    pub fn new(root: impl Into<PathBuf>) -> Result<FsStore, StoreError> {
        let root = root.into();
        let tmp = root.join(TMP_DIR);
        std::fs::create_dir_all(&tmp).map_err(|source| StoreError::Io {
            key: tmp.display().to_string(),
            source,
        })?;
        let (notify, _) = broadcast::channel(NOTIFY_CAPACITY);
        Ok(FsStore {
            root,
            notify,
            next_tmp: AtomicU64::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> PathBuf {
        // validate_key guarantees a relative path without `.`/`..` components.
        self.root.join(key)
    }
}

fn io_err(key: &str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        key: key.to_owned(),
        source,
    }
}

fn write_atomic(tmp: &Path, target: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let result = (|| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(data)?;
        // No fsync: live media is short-lived; atomicity against readers is what matters.
        drop(f);
        std::fs::rename(tmp, target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// Keys under `dir` (recursively), as `/`-joined paths relative to `root`.
fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::NotADirectory => {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let Some(rel) = rel.to_str() else {
            continue; // not a name this store writes
        };
        let key = rel.replace(std::path::MAIN_SEPARATOR, "/");
        if key == TMP_DIR {
            continue;
        }
        let ty = entry.file_type()?;
        if ty.is_dir() {
            // Only descend where keys with the prefix can be.
            let dir_key = format!("{key}/");
            if dir_key.starts_with(prefix) || prefix.starts_with(&dir_key) {
                walk(root, &path, prefix, out)?;
            }
        } else if ty.is_file() && key.starts_with(prefix) {
            out.push(key);
        }
    }
    Ok(())
}

#[async_trait]
impl Store for FsStore {
    async fn put(&self, key: &str, object: Object) -> Result<(), StoreError> {
        validate_key(key)?;
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .root
            .join(TMP_DIR)
            .join(format!("{}.{n}", std::process::id()));
        let target = self.path(key);
        let data = object.data;
        tokio::task::spawn_blocking(move || write_atomic(&tmp, &target, &data))
            .await
            .map_err(|e| StoreError::Backend {
                key: key.to_owned(),
                message: format!("write task failed: {e}"),
            })?
            .map_err(io_err(key))?;
        let _ = self.notify.send(Arc::from(key));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        validate_key(key)?;
        match tokio::fs::read(self.path(key)).await {
            Ok(data) => Ok(Some(Object {
                data: Bytes::from(data),
                content_type: ContentType::for_key(key),
            })),
            Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::IsADirectory => {
                Ok(None)
            }
            Err(e) => Err(io_err(key)(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(key)(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let root = self.root.clone();
        let owned = prefix.to_owned();
        let mut keys = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk(&root, &root, &owned, &mut out).map(|()| out)
        })
        .await
        .map_err(|e| StoreError::Backend {
            key: prefix.to_owned(),
            message: format!("list task failed: {e}"),
        })?
        .map_err(io_err(prefix))?;
        keys.sort();
        Ok(keys)
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.notify.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(data: &'static [u8], content_type: ContentType) -> Object {
        Object {
            data: Bytes::from_static(data),
            content_type,
        }
    }

    // The behaviour every store shares is checked in `tests/store_contract.rs`; here,
    // what only files do.

    #[tokio::test]
    async fn replacing_leaves_no_temporary_file_and_lists_hide_the_tmp_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = FsStore::new(dir.path().join("store")).expect("store");
        for data in [&b"#EXTM3U"[..], b"#EXTM3U\n2"] {
            s.put(
                "live/a/720p/index.m3u8",
                Object {
                    data: Bytes::copy_from_slice(data),
                    content_type: ContentType::Playlist,
                },
            )
            .await
            .expect("put");
        }
        let tmp_files = std::fs::read_dir(dir.path().join("store").join(TMP_DIR))
            .expect("tmp dir")
            .count();
        assert_eq!(tmp_files, 0);
        assert_eq!(
            s.list("").await.expect("list"),
            vec!["live/a/720p/index.m3u8"]
        );
        // A key is a plain file under the root, which a web server could serve.
        assert_eq!(
            std::fs::read(dir.path().join("store/live/a/720p/index.m3u8")).expect("file"),
            b"#EXTM3U\n2"
        );
    }

    #[tokio::test]
    async fn a_second_store_on_the_same_root_reads_what_the_first_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = FsStore::new(dir.path()).expect("store");
        let reader = FsStore::new(dir.path()).expect("store");
        writer
            .put("live/x/seg1.m4s", obj(b"seg", ContentType::Mp4))
            .await
            .expect("put");
        assert_eq!(
            reader.get("live/x/seg1.m4s").await.expect("get"),
            Some(obj(b"seg", ContentType::Mp4))
        );
    }

    #[tokio::test]
    async fn concurrent_replacements_never_expose_partial_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Arc::new(FsStore::new(dir.path()).expect("store"));
        let big_a = Bytes::from(vec![b'a'; 256 * 1024]);
        let big_b = Bytes::from(vec![b'b'; 256 * 1024]);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = s.clone();
            let data = if i % 2 == 0 {
                big_a.clone()
            } else {
                big_b.clone()
            };
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    s.put(
                        "live/x/index.m3u8",
                        Object {
                            data: data.clone(),
                            content_type: ContentType::Playlist,
                        },
                    )
                    .await
                    .expect("put");
                    if let Some(o) = s.get("live/x/index.m3u8").await.expect("get") {
                        assert_eq!(o.data.len(), 256 * 1024);
                        assert!(o.data.iter().all(|&b| b == o.data[0]));
                    }
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    }
}
