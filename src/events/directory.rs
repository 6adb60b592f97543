//! The events this process serves, in memory: stream-key look-ups for the ingest hub,
//! event settings for the Q&A API, access and embedding rules and the live list for the
//! origin.

use super::record::EventRecord;
use amphi_ingest::{EventId, Hub, KeyDirectory};
use std::sync::RwLock;

/// The events this process serves; answers key look-ups for the ingest hub and the
/// event list for the origin.
pub struct Directory {
    events: RwLock<Vec<EventRecord>>,
}

impl Directory {
    pub fn new(events: Vec<EventRecord>) -> Self {
        Directory {
            events: RwLock::new(events),
        }
    }

    /// Reads one event's record, if it exists.
    fn with_event<T>(&self, event: &str, read: impl FnOnce(&EventRecord) -> T) -> Option<T> {
        let events = self
            .events
            .read()
            .expect("directory lock is never poisoned");
        events.iter().find(|e| e.id == event).map(read)
    }

    /// Sites allowed to embed the event's player; `None`: any site.
    pub fn frame_ancestors(&self, event: &str) -> Option<Vec<String>> {
        self.with_event(event, |e| e.embed_on.clone())
            .filter(|v| !v.is_empty())
    }

    /// The event's own LL-HLS part duration, if it has one.
    pub fn part_duration(&self, event: &str) -> Option<std::time::Duration> {
        self.with_event(event, |e| e.part_duration_ms)
            .flatten()
            .map(|ms| std::time::Duration::from_millis(u64::from(ms)))
    }

    /// Whether the origin asks viewers of `event` for a token.
    pub fn access(&self, event: &str) -> amphi_origin::Access {
        match self.with_event(event, |e| e.private.then(|| e.viewer_secret.clone())) {
            Some(Some(viewer_secret)) => amphi_origin::Access::Private { viewer_secret },
            _ => amphi_origin::Access::Public,
        }
    }

    /// The event's green room: whether viewers wait, and its preview key.
    pub fn preview(&self, event: &str) -> amphi_origin::preview::Preview {
        self.with_event(event, |e| amphi_origin::preview::Preview {
            in_preview: e.preview,
            key: Some(amphi_origin::preview::preview_key(
                &e.moderator_token,
                &e.id,
            )),
        })
        .unwrap_or_default()
    }

    /// Opens the event to viewers (Go live) at program date-time `at` (RFC 3339); the
    /// record as it is now, or `None` for an unknown event.
    pub fn go_live(&self, event: &str, at: &str) -> Option<EventRecord> {
        let mut events = self
            .events
            .write()
            .expect("directory lock is never poisoned");
        let e = events.iter_mut().find(|e| e.id == event)?;
        e.preview = false;
        e.went_live_at = Some(at.to_owned());
        Some(e.clone())
    }

    /// Replaces the events this process serves (after the console changed the file):
    /// keys, privacy and takeover take effect for the next publish or request.
    pub fn replace(&self, events: Vec<EventRecord>) {
        *self
            .events
            .write()
            .expect("directory lock is never poisoned") = events;
    }

    pub fn list(&self) -> Vec<EventRecord> {
        self.events
            .read()
            .expect("directory lock is never poisoned")
            .clone()
    }
}

/// Compares without an early exit, so timing does not reveal how much of a key matched.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl KeyDirectory for Directory {
    fn event_for_key(&self, key: &str) -> Option<EventId> {
        let events = self
            .events
            .read()
            .expect("directory lock is never poisoned");
        events
            .iter()
            .find(|e| constant_time_eq(e.stream_key.as_bytes(), key.as_bytes()))
            .and_then(|e| EventId::parse(&e.id).ok())
    }

    fn takeover(&self, event: &EventId) -> bool {
        !self
            .with_event(event.as_str(), |e| e.no_takeover)
            .unwrap_or(false)
    }
}

impl amphi_qa::QaEvents for Directory {
    fn moderator_token(&self, event: &str) -> Option<String> {
        self.with_event(event, |e| e.moderator_token.clone())
    }

    fn settings(&self, event: &str) -> Option<amphi_qa::EventQaSettings> {
        self.with_event(event, |e| amphi_qa::EventQaSettings {
            premoderated: e.premoderated,
            require_name: e.named_viewers,
            private: e.private,
            ..Default::default()
        })
    }

    fn check_viewer_token(
        &self,
        event: &str,
        token: &str,
        now: amphi_time::WallTime,
    ) -> Option<amphi_qa::TokenClaims> {
        let secret = self.with_event(event, |e| e.viewer_secret.clone())?;
        amphi_origin::token::verify_claims(secret.as_bytes(), event, token, now)
            .ok()
            .map(|c| amphi_qa::TokenClaims {
                expires: c.expires,
                name: c.name,
            })
    }
}

/// The origin's view of events: the directory plus live state from the hub, or, in a
/// process without ingest (`--role origin`), from the parts its store announces.
pub struct Catalog {
    pub directory: std::sync::Arc<Directory>,
    pub hub: Hub,
    pub liveness: Option<std::sync::Arc<crate::liveness::StoreLiveness>>,
}

impl amphi_origin::EventCatalog for Catalog {
    fn events(&self) -> Vec<amphi_origin::EventInfo> {
        if let Some(liveness) = &self.liveness {
            let now = std::time::Instant::now();
            return self
                .directory
                .list()
                .into_iter()
                .map(|e| amphi_origin::EventInfo {
                    // Viewers wait while the event is in preview (the green room).
                    live: liveness.is_live(&e.id, now) && !e.preview,
                    protocol: None,
                    id: e.id,
                    title: e.title,
                    starts_at: e.starts_at,
                })
                .collect();
        }
        let live = self.hub.live_events();
        self.directory
            .list()
            .into_iter()
            .map(|e| {
                let protocol = live
                    .iter()
                    .find(|(id, _)| id.as_str() == e.id)
                    .map(|(_, p)| p.to_string());
                amphi_origin::EventInfo {
                    live: protocol.is_some() && !e.preview,
                    protocol,
                    id: e.id,
                    title: e.title,
                    starts_at: e.starts_at,
                }
            })
            .collect()
    }

    fn access(&self, event: &str) -> amphi_origin::Access {
        self.directory.access(event)
    }

    fn frame_ancestors(&self, event: &str) -> Option<Vec<String>> {
        self.directory.frame_ancestors(event)
    }

    fn preview(&self, event: &str) -> amphi_origin::preview::Preview {
        self.directory.preview(event)
    }
}
