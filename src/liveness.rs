//! Live state of events in a process that does not ingest (`--role origin`). Such a
//! process has no publishers of its own: an event is live while its packager keeps
//! putting media parts, which the origin learns from the store's announcements (the
//! packager's `/internal/notify` stream, see `amphi_origin::notify`). Playlists alone do
//! not count: turning a finished live into its recording rewrites them.

use amphi_hls::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

/// An event is live if a part was put within this time (a few parts, and more than a
/// part's worth of store latency).
pub const LIVE_WINDOW: Duration = Duration::from_secs(6);

/// The event a store key announces a part of: `live/{event}/{rendition}/part….m4s`.
pub fn part_event(key: &str) -> Option<&str> {
    let mut it = key.split('/');
    let (Some("live"), Some(event), Some(_rendition), Some(name), None) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    (name.starts_with("part") && name.ends_with(".m4s")).then_some(event)
}

#[derive(Debug, Default)]
pub struct StoreLiveness {
    last_part: Mutex<HashMap<String, Instant>>,
}

impl StoreLiveness {
    /// Follows `store`'s announcements until the store's sender goes away.
    pub fn follow(store: &Arc<dyn Store>) -> Arc<StoreLiveness> {
        let me = Arc::new(StoreLiveness::default());
        let mut rx = store.subscribe();
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(key) => match weak.upgrade() {
                        Some(me) => me.saw(&key, Instant::now()),
                        None => return,
                    },
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                }
            }
        });
        me
    }

    pub fn saw(&self, key: &str, now: Instant) {
        if let Some(event) = part_event(key) {
            if let Ok(mut map) = self.last_part.lock() {
                match map.get_mut(event) {
                    Some(t) => *t = now,
                    None => {
                        map.insert(event.to_owned(), now);
                    }
                }
            }
        }
    }

    pub fn is_live(&self, event: &str, now: Instant) -> bool {
        self.last_part
            .lock()
            .ok()
            .and_then(|m| m.get(event).copied())
            .is_some_and(|t| now.duration_since(t) < LIVE_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_make_an_event_live_for_a_while() {
        assert_eq!(part_event("live/cs101/720p/part12.3.m4s"), Some("cs101"));
        assert_eq!(part_event("live/cs101/720p/index.m3u8"), None);
        assert_eq!(part_event("live/cs101/720p/seg12.m4s"), None);
        assert_eq!(part_event("live/cs101/master.m3u8"), None);
        assert_eq!(part_event("*"), None);
        let l = StoreLiveness::default();
        let t0 = Instant::now();
        l.saw("live/cs101/master.m3u8", t0);
        assert!(!l.is_live("cs101", t0));
        l.saw("live/cs101/360p/part3.0.m4s", t0);
        assert!(l.is_live("cs101", t0 + Duration::from_secs(1)));
        assert!(!l.is_live("other", t0));
        assert!(!l.is_live("cs101", t0 + LIVE_WINDOW));
    }

    #[tokio::test]
    async fn follows_the_store() {
        let store: Arc<dyn Store> = Arc::new(amphi_hls::store::MemoryStore::new());
        let l = StoreLiveness::follow(&store);
        let part = amphi_hls::store::Object {
            data: bytes::Bytes::from_static(b"x"),
            content_type: amphi_hls::store::ContentType::Mp4,
        };
        store
            .put("live/lec/360p/part0.0.m4s", part)
            .await
            .expect("put");
        for _ in 0..50 {
            if l.is_live("lec", Instant::now()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the announcement of a part did not make the event live");
    }
}
