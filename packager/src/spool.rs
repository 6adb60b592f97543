//! The local spool of writes the store refused for longer than memory can hold (the
//! I/O half of [`crate::retry`]): one file per write under `{dir}/{event}/`, named by
//! the write's sequence number. A file holds a one-line header (`P {key} {mime}` for a
//! put, `D {key}` for a delete) and the object's bytes.
//!
//! Bounded by free space: a write that would leave less than [`MIN_FREE_BYTES`] on the
//! spool's filesystem is refused (and counted as lost by the queue). The spool is for
//! one run: leftovers of a crashed run are removed at start, since the resumed event
//! never named them (numbering continues from what the store holds).

use crate::segmenter::StoreOp;
use amphi_hls::store::{ContentType, Object};
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
    /// The spool of `event` under `root`; leftovers of an earlier run are removed.
    pub(crate) fn new(root: &Path, event: &str) -> Spool {
        let dir = root.join(event);
        let _ = std::fs::remove_dir_all(&dir);
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
}
