//! One JSON file of the console's in the data dir (local accounts, LTI platforms, OIDC
//! settings): read whole, where an absent file means "nothing yet", and written whole to
//! a temporary file then renamed over the old one, so a crash never leaves half a file
//! and a reader never sees one. A file holding password hashes is readable by its owner
//! only ([`JsonFile::private`]).

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a data-dir file could not be read or written; each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not {what}: {source}")]
    Parse {
        path: PathBuf,
        what: &'static str,
        source: serde_json::Error,
    },
}

/// A JSON file in the data dir.
#[derive(Debug, Clone)]
pub struct JsonFile {
    path: PathBuf,
    /// What the file holds, as its parse error says it ("a platform list").
    what: &'static str,
    private: bool,
}

impl JsonFile {
    /// The file `name` of `data_dir`, holding `what`.
    pub fn new(data_dir: &Path, name: &str, what: &'static str) -> JsonFile {
        JsonFile {
            path: data_dir.join(name),
            what,
            private: false,
        }
    }

    /// The same file, written readable by its owner only (mode 0600 on Unix).
    pub fn private(self) -> JsonFile {
        JsonFile {
            private: true,
            ..self
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's value, or `None` when there is no file.
    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>, FileError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|source| FileError::Parse {
                        path: self.path.clone(),
                        what: self.what,
                        source,
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(FileError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Replaces the file with `value` (the data dir is created if need be).
    pub fn save<T: Serialize>(&self, value: &T) -> Result<(), FileError> {
        let write = |path: &Path| {
            let path = path.to_owned();
            move |source| FileError::Write { path, source }
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(write(dir))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(value)
            .map_err(|e| write(&self.path)(std::io::Error::other(e)))?;
        write_synced(&tmp, &bytes, self.private).map_err(write(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(write(&self.path))
    }

    /// Removes the file; true if there was one.
    pub fn remove(&self) -> Result<bool, FileError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(FileError::Write {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("amphi-file-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn absent_saved_loaded_removed() {
        let d = dir("round");
        let file = JsonFile::new(&d.join("sub"), "x.json", "a test list");
        assert_eq!(file.load::<Vec<u32>>().expect("absent"), None);
        file.save(&vec![1u32, 2]).expect("save");
        assert_eq!(file.load::<Vec<u32>>().expect("load"), Some(vec![1, 2]));
        assert!(!file.path().with_extension("json.tmp").exists());
        assert!(file.remove().expect("remove"));
        assert!(!file.remove().expect("remove twice"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_bad_file_is_named_with_what_it_should_hold() {
        let d = dir("bad");
        let file = JsonFile::new(&d, "x.json", "a test list");
        std::fs::create_dir_all(&d).expect("dir");
        std::fs::write(file.path(), "{").expect("write");
        let e = file.load::<Vec<u32>>().expect_err("not JSON");
        let text = e.to_string();
        assert!(text.contains("x.json is not a test list: "), "{text}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn a_private_file_is_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("private");
        let file = JsonFile::new(&d, "x.json", "a test list").private();
        file.save(&1u32).expect("save");
        let mode = std::fs::metadata(file.path()).expect("meta").permissions();
        assert_eq!(mode.mode() & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&d);
    }
}
