//! `GET /live/{event}/captions/events` (or `/live/{event}/t/{token}/captions/events`
//! for a private event): the event's live captions pushed as server-sent events, one
//! long-lived stream per viewer instead of a subtitles playlist reload and a WebVTT
//! part per LL-HLS part.
//!
//! Each event with at least one stream on this origin has one follower task: it wakes
//! when the store announces the event's subtitles playlist (or lost announcements),
//! reads the WebVTT parts and segments it newly lists ONCE for all the event's viewers
//! ([`CaptionFeed`] decides which), and broadcasts their cues. Nothing depends on the
//! packager's process: the store and its announcements are all it reads, so any
//! number of origins can push. The task ends when the event's last stream closes.
//!
//! Stream: a `retry` hint, then the recent cues ([`RECENT_WINDOW`], so a viewer who
//! reconnects gets them again; players drop the ones they have), then each new cue, one
//! `data:` JSON object per cue: `{"start": ms, "end": ms, "text": "…"}` in program time
//! (`EXT-X-PROGRAM-DATE-TIME` clock, ms since the Unix epoch), text unescaped (plain
//! text: the player escapes it). A keep-alive comment every [`KEEP_ALIVE`]. Bounded: at
//! most [`MAX_STREAMS_PER_EVENT`] streams per event on this origin (then 503); a viewer
//! that falls [`CHANNEL_CAPACITY`] cues behind skips ahead.
//!
//! [`RECENT_WINDOW`]: crate::caption_feed::RECENT_WINDOW

use crate::caption_feed::{CaptionFeed, PushedCue};
use crate::live::LiveError;
use crate::AppState;
use amphi_hls::names;
use amphi_hls::playlist::read_media;
use amphi_hls::store::{Store, ANY_KEY};
use amphi_time::sync::lock;
use axum::http::{header, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::AbortHandle;
use tracing::{debug, warn, Instrument};

/// The stream's name under `/live/{event}/`.
pub const PATH: &str = "captions/events";
/// Concurrent streams per event on one origin.
pub const MAX_STREAMS_PER_EVENT: usize = 10_000;
/// Cues a stream may fall behind before it skips ahead.
pub const CHANNEL_CAPACITY: usize = 256;
/// Keep-alive comment interval (proxies and the browser keep the stream open).
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a browser waits before reconnecting a dropped stream.
pub const RETRY: Duration = Duration::from_secs(2);

/// The caption feeds of the events with viewers on this origin.
pub(crate) struct CaptionHub {
    events: Mutex<HashMap<String, Arc<EventFeed>>>,
    max_streams: usize,
}

impl Default for CaptionHub {
    fn default() -> Self {
        CaptionHub {
            events: Mutex::default(),
            max_streams: MAX_STREAMS_PER_EVENT,
        }
    }
}

struct EventFeed {
    /// The feed and the sender: a new stream subscribes and copies the recent cues under
    /// the same lock the follower broadcasts under, so it misses none and gets none twice.
    state: Mutex<(CaptionFeed, broadcast::Sender<Arc<PushedCue>>)>,
    streams: Mutex<usize>,
    follower: Mutex<Option<AbortHandle>>,
}

/// A stream's place in its event's count; the last one out stops the follower.
struct StreamGuard {
    hub: Arc<AppState>,
    event: String,
    feed: Arc<EventFeed>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let hub = &self.hub.captions;
        let mut events = lock(&hub.events);
        let mut streams = lock(&self.feed.streams);
        *streams = streams.saturating_sub(1);
        if *streams == 0 {
            if let Some(task) = lock(&self.feed.follower).take() {
                task.abort();
            }
            if events
                .get(&self.event)
                .is_some_and(|f| Arc::ptr_eq(f, &self.feed))
            {
                events.remove(&self.event);
            }
            debug!(event = %self.event, "last captions stream closed: follower stopped");
        }
    }
}

impl CaptionHub {
    /// A place for one more stream of `event`, starting its follower if it is the first.
    fn join(state: &Arc<AppState>, event: &str) -> Result<StreamGuard, LiveError> {
        let hub = &state.captions;
        let mut events = lock(&hub.events);
        let feed = events
            .entry(event.to_owned())
            .or_insert_with(|| {
                Arc::new(EventFeed {
                    state: Mutex::new((CaptionFeed::new(), broadcast::channel(CHANNEL_CAPACITY).0)),
                    streams: Mutex::new(0),
                    follower: Mutex::new(None),
                })
            })
            .clone();
        let mut streams = lock(&feed.streams);
        if *streams >= hub.max_streams {
            return Err(LiveError::Busy(
                "too many captions streams for this event on this server: retry after the Retry-After delay",
            ));
        }
        *streams += 1;
        if *streams == 1 {
            let task = tokio::spawn(
                follow(state.store.clone(), event.to_owned(), feed.clone())
                    .instrument(tracing::debug_span!("captions", %event)),
            );
            *lock(&feed.follower) = Some(task.abort_handle());
        }
        drop(streams);
        Ok(StreamGuard {
            hub: state.clone(),
            event: event.to_owned(),
            feed,
        })
    }

    /// Streams of `event` open on this origin.
    #[cfg(test)]
    fn streams(&self, event: &str) -> usize {
        lock(&self.events)
            .get(event)
            .map_or(0, |f| *lock(&f.streams))
    }
}

fn cue_event(cue: &PushedCue) -> Event {
    match serde_json::to_string(cue) {
        Ok(json) => Event::default().data(json),
        // A cue of times and text always serializes; were it not to, a comment.
        Err(_) => Event::default().comment("unserializable cue"),
    }
}

/// The captions stream of `event` (access already checked by the caller).
pub(crate) async fn serve(state: &Arc<AppState>, event: &str) -> Result<Response, LiveError> {
    if !crate::live::valid_event(event) {
        return Err(LiveError::BadRequest(
            "event ids are 1 to 64 characters of a-z, 0-9, '-' and '_'".to_owned(),
        ));
    }
    let guard = CaptionHub::join(state, event)?;
    let (rx, recent) = {
        let s = lock(&guard.feed.state);
        let rx = s.1.subscribe();
        let recent: Vec<Event> = s.0.recent().map(|c| cue_event(c)).collect();
        (rx, recent)
    };
    let hello = stream::iter(
        std::iter::once(Event::default().retry(RETRY).comment("amphi captions"))
            .chain(recent)
            .map(Ok::<_, Infallible>),
    );
    let live = stream::unfold((rx, guard), |(mut rx, guard)| async move {
        loop {
            match rx.recv().await {
                Ok(cue) => return Some((Ok(cue_event(&cue)), (rx, guard))),
                Err(RecvError::Lagged(n)) => {
                    debug!(event = %guard.event, skipped = n, "captions stream lagged: skipping ahead");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let mut res = Sse::new(hello.chain(live))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

/// Reads the event's subtitles as the store announces them, and broadcasts new cues.
async fn follow(store: Arc<dyn Store>, event: String, feed: Arc<EventFeed>) {
    // Subscribe before the first read: no put in between is missed.
    let mut announced = store.subscribe();
    let playlist = names::playlist_key(&event, names::SUBTITLES_RENDITION);
    let mut failing = false;
    loop {
        match read_once(&*store, &event, &playlist, &feed).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                warn!(%event, error = %e, "captions follower: cannot read the subtitles");
                failing = true;
            }
            Err(e) => debug!(%event, error = %e, "captions follower: still cannot read"),
        }
        loop {
            match announced.recv().await {
                Ok(key) if *key == *playlist || &*key == ANY_KEY => break,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => return,
            }
        }
    }
}

async fn read_once(
    store: &dyn Store,
    event: &str,
    playlist: &str,
    feed: &EventFeed,
) -> Result<(), String> {
    let Some(obj) = store.get(playlist).await.map_err(|e| e.to_string())? else {
        return Ok(()); // no captions (yet): not live, or no subtitles rendition
    };
    let text = std::str::from_utf8(&obj.data).map_err(|_| "playlist not UTF-8".to_owned())?;
    let listing = read_media(text).map_err(|e| format!("subtitles playlist: {e}"))?;
    let fetches = lock(&feed.state).0.on_playlist(&listing);
    for fetch in fetches {
        let key = names::rendition_key(event, names::SUBTITLES_RENDITION, &fetch.file());
        let Some(obj) = store.get(&key).await.map_err(|e| e.to_string())? else {
            debug!(%key, "listed WebVTT object not in the store");
            continue;
        };
        let text = String::from_utf8_lossy(&obj.data);
        let mut s = lock(&feed.state);
        match s.0.on_vtt(fetch, &text) {
            Ok(cues) => {
                for cue in cues {
                    // No stream listening is not an error.
                    let _ = s.1.send(cue);
                }
            }
            Err(e) => debug!(%key, error = %e, "unreadable WebVTT object skipped"),
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "caption_stream_tests.rs"]
mod tests;
