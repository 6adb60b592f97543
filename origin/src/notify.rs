//! Store announcements across processes (see `amphi_hls::store` for the model).
//!
//! - [`routes`]: `GET /internal/notify` on the packager's HTTP listener, a
//!   `text/event-stream` of the keys its store puts (`data: {key}`), [`ANY_KEY`] first
//!   and whenever this subscriber lagged, a keep-alive comment every [`KEEP_ALIVE`].
//! - [`NotifyingStore`]: an origin's store whose `subscribe()` is fed from that stream;
//!   reads and writes go to the wrapped (shared) store. While the stream is down it
//!   announces [`ANY_KEY`] every `poll_interval`, so blocking requests re-read the
//!   store: they are served at most one poll late instead of waiting for a wake-up.
//!
//! The endpoint is internal: it reveals object names only (which playlists reveal
//! anyway) but a CDN must not cache or expose it.

use amphi_hls::store::{Object, Store, StoreError, ANY_KEY, NOTIFY_CAPACITY};
use async_trait::async_trait;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, StreamExt};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

pub const NOTIFY_PATH: &str = "/internal/notify";
/// Keep-alive comment interval of the stream; a follower that hears nothing for
/// [`DEFAULT_IDLE_TIMEOUT`] reconnects.
pub const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// Fallback polling interval while the stream is down: about one LL-HLS part.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(333);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest accepted line of the stream (keys are at most 512 bytes).
pub const MAX_LINE: usize = 4096;

/// The packager's notification endpoint, to merge into its HTTP router.
pub fn routes(store: Arc<dyn Store>) -> Router {
    Router::new()
        .route(NOTIFY_PATH, get(notify_stream))
        .with_state(store)
}

async fn notify_stream(State(store): State<Arc<dyn Store>>) -> impl IntoResponse {
    let rx = store.subscribe();
    // The follower may have missed puts before this subscription: re-read.
    let hello = stream::once(async { Ok::<_, Infallible>(Event::default().data(ANY_KEY)) });
    let keys = stream::unfold(rx, |mut rx| async move {
        let data: Arc<str> = match rx.recv().await {
            Ok(key) => key,
            Err(RecvError::Lagged(_)) => Arc::from(ANY_KEY),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(Event::default().data(&*data)), rx))
    });
    (
        [(header::CACHE_CONTROL, "no-store")],
        Sse::new(hello.chain(keys)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)),
    )
}

/// Incremental `text/event-stream` reader: bytes in, the `data` of each event out.
/// Bounded: a line longer than [`MAX_LINE`] is an error.
#[derive(Default)]
pub(crate) struct SseReader {
    line: Vec<u8>,
    data: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LineTooLong;

impl SseReader {
    pub(crate) fn push(&mut self, bytes: &[u8], out: &mut Vec<String>) -> Result<(), LineTooLong> {
        for &b in bytes {
            if b != b'\n' {
                if self.line.len() >= MAX_LINE {
                    return Err(LineTooLong);
                }
                self.line.push(b);
                continue;
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            let line = std::mem::take(&mut self.line);
            if line.is_empty() {
                if let Some(data) = self.data.take() {
                    out.push(data);
                }
                continue;
            }
            let line = String::from_utf8_lossy(&line);
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (&*line, ""),
            };
            if field == "data" {
                match &mut self.data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                }
            }
            // Comments (`:`), `event`, `id`, `retry`: nothing to do.
        }
        Ok(())
    }
}

/// Settings of a [`NotifyingStore`].
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// `http://packager:8080/internal/notify`; empty: no stream, poll only.
    pub url: String,
    /// Announce [`ANY_KEY`] this often while the stream is down.
    pub poll_interval: Duration,
    /// Reconnect when nothing (not even a keep-alive) arrives for this long.
    pub idle_timeout: Duration,
    pub max_backoff: Duration,
}

impl NotifyConfig {
    pub fn new(url: impl Into<String>) -> NotifyConfig {
        NotifyConfig {
            url: url.into(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

/// A store whose announcements come from a packager's `/internal/notify` stream.
pub struct NotifyingStore {
    inner: Arc<dyn Store>,
    notify: broadcast::Sender<Arc<str>>,
    connected: Arc<AtomicBool>,
    follower: AbortHandle,
}

impl NotifyingStore {
    /// Wraps `inner` and starts following the stream (call inside a tokio runtime).
    pub fn new(inner: Arc<dyn Store>, config: NotifyConfig) -> NotifyingStore {
        let (notify, _) = broadcast::channel(NOTIFY_CAPACITY);
        let connected = Arc::new(AtomicBool::new(false));
        let follower = tokio::spawn(follow(config, notify.clone(), connected.clone()));
        NotifyingStore {
            inner,
            notify,
            connected,
            follower: follower.abort_handle(),
        }
    }

    /// Whether the notification stream is up (otherwise subscribers are polling).
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

impl Drop for NotifyingStore {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

#[async_trait]
impl Store for NotifyingStore {
    async fn put(&self, key: &str, object: Object) -> Result<(), StoreError> {
        self.inner.put(key, object).await?;
        let _ = self.notify.send(Arc::from(key));
        Ok(())
    }
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix).await
    }
    fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.notify.subscribe()
    }
}

/// Why a connection to the stream ended.
#[derive(Debug)]
enum Ended {
    Connect(String),
    Status(u16),
    Read(String),
    Idle,
    Closed,
    LineTooLong,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Connect(e) => write!(f, "cannot connect: {e}"),
            Ended::Status(s) => write!(f, "answered HTTP {s}"),
            Ended::Read(e) => write!(f, "read error: {e}"),
            Ended::Idle => write!(f, "silent for too long"),
            Ended::Closed => write!(f, "closed by the packager"),
            Ended::LineTooLong => write!(f, "line longer than {MAX_LINE} bytes"),
        }
    }
}

async fn follow(config: NotifyConfig, tx: broadcast::Sender<Arc<str>>, connected: Arc<AtomicBool>) {
    let any: Arc<str> = Arc::from(ANY_KEY);
    if config.url.is_empty() {
        // No packager to follow: poll only.
        poll_until(&tx, &any, None, config.poll_interval).await;
        return;
    }
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn!(reason = %e, "cannot build the notification client: polling the store only");
            poll_until(&tx, &any, None, config.poll_interval).await;
            return;
        }
    };
    let mut backoff = INITIAL_BACKOFF;
    // Log once per burst: the first failure after a success (or at start).
    let mut failing = false;
    loop {
        let ended = stream_once(&client, &config, &tx, &connected, &mut failing).await;
        let was_connected = connected.swap(false, Ordering::Relaxed);
        if was_connected {
            backoff = INITIAL_BACKOFF;
        }
        if !failing {
            warn!(url = %config.url, reason = %ended, "store notifications lost: polling the store every {:?} until they are back", config.poll_interval);
            failing = true;
        } else {
            debug!(url = %config.url, reason = %ended, "store notifications still down");
        }
        let _ = tx.send(any.clone());
        poll_until(
            &tx,
            &any,
            Some(Instant::now() + backoff),
            config.poll_interval,
        )
        .await;
        backoff = (backoff * 2).min(config.max_backoff);
    }
}

/// Announces `any` every `interval` until `until` (forever if `None`).
async fn poll_until(
    tx: &broadcast::Sender<Arc<str>>,
    any: &Arc<str>,
    until: Option<Instant>,
    interval: Duration,
) {
    loop {
        let next = Instant::now() + interval;
        match until {
            Some(u) if u <= next => {
                tokio::time::sleep_until(u).await;
                return;
            }
            _ => tokio::time::sleep_until(next).await,
        }
        let _ = tx.send(any.clone());
    }
}

async fn stream_once(
    client: &reqwest::Client,
    config: &NotifyConfig,
    tx: &broadcast::Sender<Arc<str>>,
    connected: &AtomicBool,
    failing: &mut bool,
) -> Ended {
    let mut resp = match tokio::time::timeout(
        config.idle_timeout,
        client
            .get(&config.url)
            .header(header::ACCEPT, "text/event-stream")
            .send(),
    )
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Ended::Connect(e.to_string()),
        Err(_) => return Ended::Idle,
    };
    if !resp.status().is_success() {
        return Ended::Status(resp.status().as_u16());
    }
    connected.store(true, Ordering::Relaxed);
    if *failing {
        info!(url = %config.url, "store notifications are back");
        *failing = false;
    }
    let mut reader = SseReader::default();
    let mut events = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(config.idle_timeout, resp.chunk()).await {
            Err(_) => return Ended::Idle,
            Ok(Err(e)) => return Ended::Read(e.to_string()),
            Ok(Ok(None)) => return Ended::Closed,
            Ok(Ok(Some(c))) => c,
        };
        if reader.push(&chunk, &mut events).is_err() {
            return Ended::LineTooLong;
        }
        for key in events.drain(..) {
            // No subscriber is not an error.
            let _ = tx.send(Arc::from(key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_events_split_anywhere() {
        let text = b": keep-alive\n\ndata: *\n\ndata: live/a/720p/part1.0.m4s\r\n\r\nevent: x\ndata:live/a/index.m3u8\n\n";
        for split in 0..text.len() {
            let mut r = SseReader::default();
            let mut out = Vec::new();
            r.push(&text[..split], &mut out).expect("bounded");
            r.push(&text[split..], &mut out).expect("bounded");
            assert_eq!(
                out,
                vec!["*", "live/a/720p/part1.0.m4s", "live/a/index.m3u8"],
                "split at {split}"
            );
        }
    }

    #[test]
    fn overlong_lines_are_refused() {
        let mut r = SseReader::default();
        let mut out = Vec::new();
        assert_eq!(r.push(&[b'x'; MAX_LINE + 1], &mut out), Err(LineTooLong));
        let mut r = SseReader::default();
        assert!(r.push(&[b'x'; MAX_LINE], &mut out).is_ok());
    }

    #[test]
    fn arbitrary_bytes_do_not_panic() {
        let mut r = SseReader::default();
        let mut out = Vec::new();
        let junk: Vec<u8> = (0..=255u8)
            .chain(b"\n\n\xff\xfe:\n\n".iter().copied())
            .collect();
        for _ in 0..3 {
            let _ = r.push(&junk, &mut out);
        }
    }
}
