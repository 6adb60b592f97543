//! The local spool of writes the store refused for longer than memory can hold (the
//! I/O half of [`crate::retry`]): one file per write under `{dir}/{event}/`, named by
//! the write's sequence number. A file holds a one-line header (`P {key} {mime}` for a
//! put, `D {key}` for a delete) and the object's bytes.
//!
//! Bounded by free space: a write that would leave less than [`MIN_FREE_BYTES`] on the
//! spool's filesystem is refused (and counted as lost by the queue).
//!
//! A run that dies (`kill -9`, power loss) during a store outage leaves its spool
//! behind. At start, before the event resumes from the store, [`Spool::replay`] writes
//! those leftovers to the store in order, then removes them:
//! - a media object the store already holds is not written again; one it holds with
//!   other bytes is left alone (a name served `immutable` keeps its bytes) and counted;
//! - a playlist is written only if every object it names is in the store, since the
//!   writes still in memory when the run died are gone and a playlist must never name
//!   a missing part;
//! - the resumed event then continues numbering after what the store holds.

use crate::segmenter::StoreOp;
use amphi_hls::store::{ContentType, Object, Store};
use bytes::Bytes;
use std::io::{Error, ErrorKind};
use std::path::{Path, PathBuf};

/// Free space the spool always leaves on its filesystem.
pub const MIN_FREE_BYTES: u64 = 512 << 20;

pub(crate) struct Spool {
    dir: PathBuf,
    created: bool,
}

/// Bytes available to unprivileged users on the filesystem of `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| Error::new(ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` is writable storage for one
    // statvfs; the struct is read only when the call succeeded.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let st = unsafe { st.assume_init() };
    // The field types vary by platform (u32 on some).
    #[allow(clippy::unnecessary_cast)]
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

fn encode(op: &StoreOp) -> Vec<u8> {
    match op {
        StoreOp::Put { key, object } => {
            let mut v = format!("P {key} {}\n", object.content_type.mime()).into_bytes();
            v.extend_from_slice(&object.data);
            v
        }
        StoreOp::Delete { key } => format!("D {key}\n").into_bytes(),
    }
}

fn decode(data: Vec<u8>, file: &Path) -> std::io::Result<StoreOp> {
    let bad = || {
        Error::new(
            ErrorKind::InvalidData,
            format!("spool file {} has no valid header", file.display()),
        )
    };
    let nl = data.iter().position(|&b| b == b'\n').ok_or_else(bad)?;
    let header = std::str::from_utf8(&data[..nl]).map_err(|_| bad())?;
    let mut words = header.split(' ');
    match (words.next(), words.next(), words.next()) {
        (Some("P"), Some(key), Some(_mime)) => {
            let key = key.to_owned();
            let mut data = data;
            let body = data.split_off(nl + 1);
            Ok(StoreOp::Put {
                object: Object {
                    data: Bytes::from(body),
                    content_type: ContentType::for_key(&key),
                },
                key,
            })
        }
        (Some("D"), Some(key), None) => Ok(StoreOp::Delete {
            key: key.to_owned(),
        }),
        _ => Err(bad()),
    }
}

impl Spool {
    /// The spool of `event` under `root`; leftovers of an earlier run stay until
    /// [`Spool::replay`].
    pub(crate) fn new(root: &Path, event: &str) -> Spool {
        let dir = root.join(event);
        Spool {
            dir,
            created: false,
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id}.op"))
    }

    pub(crate) async fn write(&mut self, id: u64, op: &StoreOp) -> std::io::Result<()> {
        if !self.created {
            tokio::fs::create_dir_all(&self.dir).await?;
            self.created = true;
        }
        let data = encode(op);
        let dir = self.dir.clone();
        let free = tokio::task::spawn_blocking(move || free_bytes(&dir))
            .await
            .map_err(Error::other)??;
        if free < MIN_FREE_BYTES + data.len() as u64 {
            return Err(Error::new(
                ErrorKind::StorageFull,
                format!(
                    "{} has {free} bytes free, keeping {MIN_FREE_BYTES}",
                    self.dir.display()
                ),
            ));
        }
        tokio::fs::write(self.file(id), data).await
    }

    pub(crate) async fn read(&self, id: u64) -> std::io::Result<StoreOp> {
        let file = self.file(id);
        let data = tokio::fs::read(&file).await?;
        decode(data, &file)
    }

    pub(crate) async fn remove(&self, id: u64) {
        let _ = tokio::fs::remove_file(self.file(id)).await;
    }
}

/// What [`Spool::replay`] did with an earlier run's leftovers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Writes applied to the store.
    pub written: usize,
    /// Objects the store already held with the same bytes.
    pub already_stored: usize,
    /// Objects the store held with other bytes (left alone).
    pub conflicts: usize,
    /// Playlists not written because they name objects the store lacks.
    pub playlists_skipped: usize,
    /// Spool files that could not be read back.
    pub unreadable: usize,
}

/// The keys a playlist at `key` names (URI lines and `URI="…"` attributes, but not
/// the preload hint, which names a part still to come, nor rendition reports), resolved
/// against its folder; `None` for names that leave it (`..`, absolute URLs).
fn named_keys(key: &str, text: &str) -> Option<Vec<String>> {
    let dir = key.rsplit_once('/').map_or("", |(d, _)| d);
    let mut uris: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('#') {
            uris.push(line);
            continue;
        }
        // A preload hint names a part still to come; a report names another playlist.
        if line.starts_with("#EXT-X-PRELOAD-HINT") || line.starts_with("#EXT-X-RENDITION-REPORT") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("URI=\"") {
            let after = &rest[at + 5..];
            let Some(end) = after.find('"') else { break };
            uris.push(&after[..end]);
            rest = &after[end..];
        }
    }
    uris.into_iter()
        .map(|u| {
            let ok = !u.contains("..") && !u.contains(':') && !u.starts_with('/');
            ok.then(|| format!("{dir}/{u}"))
        })
        .collect()
}

impl Spool {
    /// Ids of the files an earlier run left, oldest first.
    pub(crate) async fn leftovers(&self) -> Vec<u64> {
        let mut ids = Vec::new();
        let Ok(mut dir) = tokio::fs::read_dir(&self.dir).await else {
            return ids;
        };
        while let Ok(Some(entry)) = dir.next_entry().await {
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".op"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        ids
    }

    /// Writes an earlier run's leftovers to `store` in order and removes them; store
    /// errors are retried (with `retry`) until the store answers, as resuming does.
    pub(crate) async fn replay<F, Fut>(&mut self, store: &dyn Store, mut retry: F) -> Replayed
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut report = Replayed::default();
        for id in self.leftovers().await {
            let op = match self.read(id).await {
                Ok(op) => op,
                Err(e) => {
                    tracing::warn!(file = %self.file(id).display(), reason = %e, "a spooled write of an earlier run cannot be read: skipped");
                    report.unreadable += 1;
                    self.remove(id).await;
                    continue;
                }
            };
            loop {
                match replay_one(store, &op, &mut report).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(reason = %e, "store refused a spooled write of an earlier run; retrying");
                        retry().await;
                    }
                }
            }
            self.remove(id).await;
        }
        let _ = tokio::fs::remove_dir(&self.dir).await;
        report
    }
}

async fn replay_one(
    store: &dyn Store,
    op: &StoreOp,
    report: &mut Replayed,
) -> Result<(), amphi_hls::store::StoreError> {
    match op {
        StoreOp::Delete { key } => {
            store.delete(key).await?;
            report.written += 1;
        }
        StoreOp::Put { key, object } if key.ends_with(".m3u8") => {
            let text = String::from_utf8_lossy(&object.data);
            let complete = match named_keys(key, &text) {
                Some(keys) => {
                    let dir = key.rsplit_once('/').map_or("", |(d, _)| d);
                    let stored = store.list(&format!("{dir}/")).await?;
                    keys.iter().all(|k| stored.binary_search(k).is_ok())
                }
                None => false,
            };
            if complete {
                store.put(key, object.clone()).await?;
                report.written += 1;
            } else {
                tracing::warn!(%key, "a spooled playlist names objects the store lacks: not written");
                report.playlists_skipped += 1;
            }
        }
        StoreOp::Put { key, object } => match store.get(key).await? {
            None => {
                store.put(key, object.clone()).await?;
                report.written += 1;
            }
            Some(old) if old.data == object.data => report.already_stored += 1,
            Some(_) => {
                tracing::warn!(%key, "the store holds other bytes under a spooled name: kept as stored");
                report.conflicts += 1;
            }
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip() {
        let put = StoreOp::Put {
            key: "live/a/720p/part1.0.m4s".into(),
            object: Object {
                data: Bytes::from_static(b"\n\x00moof"),
                content_type: ContentType::Mp4,
            },
        };
        let del = StoreOp::Delete {
            key: "live/a/720p/seg0.m4s".into(),
        };
        let f = Path::new("x");
        assert_eq!(decode(encode(&put), f).ok(), Some(put));
        assert_eq!(decode(encode(&del), f).ok(), Some(del));
        assert!(decode(b"Q x\n".to_vec(), f).is_err());
        assert!(decode(b"P".to_vec(), f).is_err());
    }

    #[test]
    fn free_space_is_readable() {
        assert!(free_bytes(&std::env::temp_dir()).is_ok_and(|b| b > 0));
        assert!(free_bytes(Path::new("/no/such/dir")).is_err());
    }

    fn put(key: &str, data: &[u8]) -> StoreOp {
        StoreOp::Put {
            key: key.into(),
            object: Object {
                data: Bytes::copy_from_slice(data),
                content_type: ContentType::for_key(key),
            },
        }
    }

    #[tokio::test]
    async fn an_earlier_runs_leftovers_are_replayed_in_order() {
        use amphi_hls::store::MemoryStore;
        let root = std::env::temp_dir().join(format!("amphi-spool-test-{}", std::process::id()));
        let store = MemoryStore::new();
        store
            .put(
                "live/ev/720p/part0.0.m4s",
                Object {
                    data: Bytes::from_static(b"served"),
                    content_type: ContentType::Mp4,
                },
            )
            .await
            .expect("put");
        {
            let mut old = Spool::new(&root, "ev");
            let ops = [
                put("live/ev/720p/part0.0.m4s", b"other bytes"),
                put("live/ev/720p/part0.1.m4s", b"p01"),
                put("live/ev/720p/index.m3u8", b"#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-PART:DURATION=0.3,URI=\"part0.1.m4s\"\n"),
                put("live/ev/720p/init.mp4", b"init"),
                put("live/ev/720p/part0.2.m4s", b"p02"),
                put("live/ev/720p/index.m3u8", b"#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-PART:DURATION=0.3,URI=\"part0.2.m4s\"\n"),
                StoreOp::Delete { key: "live/ev/720p/gone.m4s".into() },
            ];
            // Ids as the queue gives them: not contiguous, sorted by number not text.
            for (i, op) in ops.iter().enumerate() {
                old.write([3, 9, 10, 11, 20, 100, 101][i], op)
                    .await
                    .expect("spool write");
            }
        }
        let mut spool = Spool::new(&root, "ev");
        assert_eq!(spool.leftovers().await, vec![3, 9, 10, 11, 20, 100, 101]);
        let report = spool.replay(&store, || async {}).await;
        assert_eq!(
            report,
            Replayed {
                written: 5,
                already_stored: 0,
                conflicts: 1,
                playlists_skipped: 1,
                unreadable: 0
            }
        );
        let get = |k: &'static str| {
            let store = &store;
            async move { store.get(k).await.expect("get").map(|o| o.data) }
        };
        assert_eq!(
            get("live/ev/720p/part0.0.m4s").await.as_deref(),
            Some(&b"served"[..]),
            "immutable bytes kept"
        );
        assert_eq!(
            get("live/ev/720p/part0.2.m4s").await.as_deref(),
            Some(&b"p02"[..])
        );
        let playlist = get("live/ev/720p/index.m3u8")
            .await
            .expect("playlist written");
        assert!(
            String::from_utf8_lossy(&playlist).contains("part0.2.m4s"),
            "the later, complete playlist"
        );
        assert!(spool.leftovers().await.is_empty(), "leftovers removed");
        assert!(!root.join("ev").exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn playlists_name_keys_in_their_folder() {
        assert_eq!(
            named_keys("live/e/720p/index.m3u8", "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\nseg1.m4s\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part2.0.m4s\"\n"),
            Some(vec!["live/e/720p/init.mp4".into(), "live/e/720p/seg1.m4s".into()])
        );
        assert_eq!(
            named_keys("live/e/720p/index.m3u8", "../x/seg1.m4s\n"),
            None
        );
    }
}
