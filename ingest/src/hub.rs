//! The hub decides who may publish to which event and hands each accepted publish
//! session to the packager. One live publisher per event; a second one is refused,
//! never mixed in. Protocol servers (RTMP, WHIP, RTSP) only talk to the hub.

use crate::frame::{EncodedFrame, SessionEpoch, SessionMessage, StreamConfig};
use crate::pii::Redacted;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::mpsc;

/// Frames buffered between a protocol server and the packager before the publisher
/// is slowed down (about 10 s of 30 fps video plus audio).
pub const SESSION_QUEUE_FRAMES: usize = 1024;

/// An event's identifier: 1 to 64 characters of `[a-z0-9_-]`, safe in paths and URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(String);

impl EventId {
    pub fn parse(s: &str) -> Result<Self, InvalidEventId> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(EventId(s.to_owned()))
        } else {
            Err(InvalidEventId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event ids are 1 to 64 characters of a-z, 0-9, '-' and '_'")]
pub struct InvalidEventId;

/// Maps publisher credentials (RTMP stream keys, WHIP bearer tokens) to events.
pub trait KeyDirectory: Send + Sync + 'static {
    fn event_for_key(&self, key: &str) -> Option<EventId>;
}

/// Which protocol a publisher used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Rtmp,
    Whip,
    Rtsp,
    Demo,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Whip => "whip",
            Protocol::Rtsp => "rtsp",
            Protocol::Demo => "demo",
        })
    }
}

/// One publish session as the packager receives it.
#[derive(Debug)]
pub struct PublishSession {
    pub event: EventId,
    pub protocol: Protocol,
    pub epoch: SessionEpoch,
    pub messages: mpsc::Receiver<SessionMessage>,
}

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("unknown stream key {0}")]
    UnknownKey(Redacted),
    #[error("event {0} already has a live publisher")]
    AlreadyLive(EventId),
    #[error("the packager is not accepting sessions")]
    PackagerGone,
    #[error("the packager fell behind or stopped for event {0}")]
    SessionClosed(EventId),
    #[error("media before the stream configuration")]
    FrameBeforeConfig,
}

struct Inner {
    directory: Arc<dyn KeyDirectory>,
    live: Mutex<HashMap<EventId, Protocol>>,
    /// Media bytes received from each live publisher (for the ingest bitrate).
    received: Mutex<HashMap<EventId, Arc<AtomicU64>>>,
    sessions: mpsc::Sender<PublishSession>,
}

/// Shared by all protocol servers; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl Hub {
    /// Creates a hub and the receiving end the packager reads sessions from.
    pub fn new(directory: Arc<dyn KeyDirectory>) -> (Hub, mpsc::Receiver<PublishSession>) {
        let (tx, rx) = mpsc::channel(64);
        let hub = Hub {
            inner: Arc::new(Inner {
                directory,
                live: Mutex::new(HashMap::new()),
                received: Mutex::new(HashMap::new()),
                sessions: tx,
            }),
        };
        (hub, rx)
    }

    /// Resolves a key to its event without claiming it.
    pub fn event_for_key(&self, key: &str) -> Result<EventId, PublishError> {
        self.inner
            .directory
            .event_for_key(key)
            .ok_or_else(|| PublishError::UnknownKey(Redacted::new(key)))
    }

    /// Claims an event for a publisher authenticated by `key`.
    pub fn begin_publish(&self, key: &str, protocol: Protocol) -> Result<Publisher, PublishError> {
        let event = self.event_for_key(key)?;
        self.begin_publish_event(event, protocol)
    }

    /// Claims an event directly (for sources the server itself pulls or generates).
    pub fn begin_publish_event(
        &self,
        event: EventId,
        protocol: Protocol,
    ) -> Result<Publisher, PublishError> {
        let mut live = self.inner.live.lock().expect("hub lock is never poisoned");
        if live.contains_key(&event) {
            return Err(PublishError::AlreadyLive(event));
        }
        live.insert(event.clone(), protocol);
        let received = Arc::new(AtomicU64::new(0));
        self.inner
            .received
            .lock()
            .expect("hub lock is never poisoned")
            .insert(event.clone(), received.clone());
        Ok(Publisher {
            hub: self.clone(),
            event,
            protocol,
            state: PublisherState::Claimed,
            received,
        })
    }

    pub fn is_live(&self, event: &EventId) -> bool {
        self.inner
            .live
            .lock()
            .expect("hub lock is never poisoned")
            .contains_key(event)
    }

    /// The events with a live publisher, and by which protocol.
    pub fn live_events(&self) -> Vec<(EventId, Protocol)> {
        let live = self.inner.live.lock().expect("hub lock is never poisoned");
        let mut v: Vec<_> = live.iter().map(|(e, p)| (e.clone(), *p)).collect();
        v.sort();
        v
    }

    /// Media bytes received so far from each live publisher (payloads of the frames
    /// handed to the packager); a rate of it is the ingest bitrate.
    pub fn received_bytes(&self) -> Vec<(EventId, u64)> {
        let received = self
            .inner
            .received
            .lock()
            .expect("hub lock is never poisoned");
        let mut v: Vec<_> = received
            .iter()
            .map(|(e, n)| (e.clone(), n.load(Ordering::Relaxed)))
            .collect();
        v.sort();
        v
    }

    fn release(&self, event: &EventId) {
        self.inner
            .live
            .lock()
            .expect("hub lock is never poisoned")
            .remove(event);
        self.inner
            .received
            .lock()
            .expect("hub lock is never poisoned")
            .remove(event);
    }
}

impl PartialOrd for Protocol {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Protocol {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

enum PublisherState {
    Claimed,
    Configured(StreamConfig),
    Streaming(mpsc::Sender<SessionMessage>),
}

/// A claim on an event. Dropping it releases the event and ends the session.
pub struct Publisher {
    hub: Hub,
    event: EventId,
    protocol: Protocol,
    state: PublisherState,
    received: Arc<AtomicU64>,
}

impl Publisher {
    pub fn event(&self) -> &EventId {
        &self.event
    }

    /// Sets (or, before the first frame, replaces) the stream configuration.
    pub fn configure(&mut self, config: StreamConfig) {
        if let PublisherState::Streaming(_) = self.state {
            tracing::warn!(event = %self.event, "stream configuration changed mid-session; ignored");
            return;
        }
        self.state = PublisherState::Configured(config);
    }

    /// Whether a configuration has been set.
    pub fn is_configured(&self) -> bool {
        !matches!(self.state, PublisherState::Claimed)
    }

    /// Sends one frame. The first frame fixes the session's wall-clock epoch and
    /// hands the session to the packager.
    pub async fn send(&mut self, frame: EncodedFrame) -> Result<(), PublishError> {
        if let PublisherState::Configured(config) = &self.state {
            let (tx, rx) = mpsc::channel(SESSION_QUEUE_FRAMES);
            let now = SystemTime::now();
            let epoch = now
                .checked_sub(std::time::Duration::from_nanos(
                    frame.pts.as_nanos().max(0) as u64
                ))
                .unwrap_or(now);
            tx.try_send(SessionMessage::Config(config.clone()))
                .map_err(|_| PublishError::SessionClosed(self.event.clone()))?;
            let session = PublishSession {
                event: self.event.clone(),
                protocol: self.protocol,
                epoch: SessionEpoch(epoch),
                messages: rx,
            };
            self.hub
                .inner
                .sessions
                .send(session)
                .await
                .map_err(|_| PublishError::PackagerGone)?;
            self.state = PublisherState::Streaming(tx);
        }
        self.received
            .fetch_add(frame.data.len() as u64, Ordering::Relaxed);
        match &self.state {
            PublisherState::Streaming(tx) => tx
                .send(SessionMessage::Frame(frame))
                .await
                .map_err(|_| PublishError::SessionClosed(self.event.clone())),
            _ => Err(PublishError::FrameBeforeConfig),
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.hub.release(&self.event);
    }
}

/// A key directory backed by a fixed map, for tests and simple set-ups.
#[derive(Debug, Default, Clone)]
pub struct StaticKeys(pub HashMap<String, EventId>);

impl KeyDirectory for StaticKeys {
    fn event_for_key(&self, key: &str) -> Option<EventId> {
        self.0.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameKind, MediaTime, VideoConfig};
    use bytes::Bytes;

    fn hub() -> (Hub, mpsc::Receiver<PublishSession>) {
        let mut keys = StaticKeys::default();
        keys.0
            .insert("k1".into(), EventId::parse("ev1").expect("valid"));
        Hub::new(Arc::new(keys))
    }

    #[test]
    fn event_id_validation() {
        assert!(EventId::parse("lecture-1_a").is_ok());
        assert!(EventId::parse("").is_err());
        assert!(EventId::parse("../x").is_err());
        assert!(EventId::parse("Upper").is_err());
        assert!(EventId::parse(&"a".repeat(65)).is_err());
    }

    #[tokio::test]
    async fn unknown_key_and_second_publisher_refused() {
        let (hub, mut sessions) = hub();
        assert!(matches!(
            hub.begin_publish("nope", Protocol::Rtmp),
            Err(PublishError::UnknownKey(_))
        ));
        let mut p = hub
            .begin_publish("k1", Protocol::Rtmp)
            .expect("first publisher");
        assert!(hub.is_live(p.event()));
        assert!(matches!(
            hub.begin_publish("k1", Protocol::Rtmp),
            Err(PublishError::AlreadyLive(_))
        ));
        p.configure(StreamConfig {
            video: VideoConfig::H264 {
                avcc: Bytes::from_static(b"x"),
            },
            audio: None,
        });
        p.send(EncodedFrame {
            kind: FrameKind::Video { keyframe: true },
            dts: MediaTime::ZERO,
            pts: MediaTime::ZERO,
            data: Bytes::from_static(b"f"),
        })
        .await
        .expect("send");
        let mut s = sessions.recv().await.expect("session handed over");
        assert!(matches!(
            s.messages.recv().await,
            Some(SessionMessage::Config(_))
        ));
        assert!(matches!(
            s.messages.recv().await,
            Some(SessionMessage::Frame(_))
        ));
        let ev1 = EventId::parse("ev1").expect("valid");
        assert_eq!(hub.received_bytes(), vec![(ev1.clone(), 1)]);
        drop(p);
        assert!(s.messages.recv().await.is_none());
        assert!(!hub.is_live(&ev1));
        assert!(
            hub.received_bytes().is_empty(),
            "counted per live publisher"
        );
        assert!(hub.begin_publish("k1", Protocol::Rtmp).is_ok());
    }
}
