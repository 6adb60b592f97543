//! The `Store`: where the packager puts init segments, parts, segments and playlists,
//! and where origins read them. Backends: [`MemoryStore`] (one process),
//! [`FsStore`] (a directory, atomic writes), [`S3Store`] (any S3-compatible server).
//! Writers announce each key they put; origins subscribe to wake blocking requests.
//!
//! ## Notifications across processes
//!
//! Every backend announces only the puts made *through it*, in its own process
//! ([`Store::subscribe`], a `tokio` broadcast). When the packager and the origins are
//! separate processes sharing an S3 bucket (or a directory), an origin cannot see those
//! announcements directly, so:
//!
//! - the packager serves its store's announcements at `GET /internal/notify` on its HTTP
//!   listener: a `text/event-stream` whose events carry one key each (`data: {key}`),
//!   plus [`ANY_KEY`] when announcements were dropped, and keep-alive comments every
//!   second;
//! - an origin started with `--notify-url http://packager:8080/internal/notify` wraps
//!   its store in `amphi_origin::notify::NotifyingStore`, whose `subscribe()` is fed
//!   from that stream (reconnecting with backoff). Reads still go to the shared store;
//!   only the wake-ups travel over HTTP, so any number of origins can follow one
//!   packager and a restarted origin needs nothing but the URL;
//! - while the stream is down, and once after each reconnection, the origin's
//!   subscribers receive [`ANY_KEY`] about every part duration: each waiting blocking
//!   request then re-reads its playlist from the store. Blocking requests therefore
//!   still complete (polling, at most one part late) and otherwise end at their
//!   timeout as usual.

use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Notifications buffered per subscriber before it lags (it then re-reads state).
pub const NOTIFY_CAPACITY: usize = 4096;

/// An announcement that any key may have changed (notifications were lost, or the
/// origin is polling while its notification stream is down): subscribers re-read what
/// they wait for. Never a key the packager writes.
pub const ANY_KEY: &str = "*";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `application/vnd.apple.mpegurl`
    Playlist,
    /// `video/mp4` (init segments, segments, parts)
    Mp4,
    /// `application/json`
    Json,
    /// `text/vtt` (subtitles segments, the replay's captions; always UTF-8)
    Vtt,
}

impl ContentType {
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Playlist => "application/vnd.apple.mpegurl",
            ContentType::Mp4 => "video/mp4",
            ContentType::Json => "application/json",
            ContentType::Vtt => "text/vtt",
        }
    }

    /// Guesses the content type from a key's extension.
    pub fn for_key(key: &str) -> ContentType {
        if key.ends_with(".m3u8") {
            ContentType::Playlist
        } else if key.ends_with(".json") {
            ContentType::Json
        } else if key.ends_with(".vtt") {
            ContentType::Vtt
        } else {
            ContentType::Mp4
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub data: Bytes,
    pub content_type: ContentType,
}

#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O error on {key}: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid store key {0:?}")]
    InvalidKey(String),
    #[error("store backend error on {key}: {message}")]
    Backend { key: String, message: String },
}

/// Keys are `/`-separated relative paths such as `live/demo/720p/part12.3.m4s`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores an object (replacing any previous one) and then announces its key.
    async fn put(&self, key: &str, object: Object) -> Result<(), StoreError>;
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Keys starting with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Keys put from now on, in order (notify-new-part).
    fn subscribe(&self) -> broadcast::Receiver<Arc<str>>;
}

/// Checks a key: relative, no `..`, no empty segments, printable ASCII.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
        && key.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidKey(key.to_owned()))
    }
}

pub mod fs;
mod memory;
#[cfg(feature = "s3")]
pub mod s3;
pub use fs::FsStore;
pub use memory::MemoryStore;
#[cfg(feature = "s3")]
pub use s3::{S3Config, S3Store};
