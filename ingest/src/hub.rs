//! The hub decides who may publish to which event and hands each accepted publish
//! session to the packager. One live publisher per event: a new publish with the
//! event's credentials takes the event over from the current one (the lecturer's
//! encoder reconnecting while its old connection is still half-open), and the old
//! session ends before the new one begins — never mixed in. Protocol servers (RTMP,
//! WHIP, RTSP) only talk to the hub.
//!
//! Crash safety: the hub's lock is held only for single map operations and recovers
//! from poisoning, so a panic in any task (a connection, an event's packager) leaves
//! every other event working.

use crate::frame::{EncodedFrame, SessionEpoch, SessionMessage, StreamConfig, WallTime};
use crate::limits::{SourceGuard, SourceLimits, SourceRefusal};
use crate::pii::Redacted;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;
use tokio::sync::{mpsc, watch};

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

    /// Whether a new publish with the event's credentials takes a live event over
    /// from its current publisher (the default) or is refused while it is live.
    fn takeover(&self, _event: &EventId) -> bool {
        true
    }
}

/// Which protocol a publisher used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Rtmp,
    Whip,
    Rtsp,
    Demo,
    Srt,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Whip => "whip",
            Protocol::Rtsp => "rtsp",
            Protocol::Demo => "demo",
            Protocol::Srt => "srt",
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
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
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
    #[error("another publisher took event {0} over")]
    TakenOver(EventId),
    #[error("source refused for event {event}: {reason}")]
    SourceRefused {
        event: EventId,
        reason: SourceRefusal,
    },
}

/// Locks a hub mutex whether or not a holder panicked. Every critical section in this
/// file leaves the maps consistent at each step (single inserts and removals), so a
/// panic elsewhere in a holder's thread cannot leave them half-changed: recovering the
/// guard is sound and keeps one failing connection from taking every event down.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Who took an event over from a publisher, as the old connection reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    pub protocol: Protocol,
    /// The new publisher's address, redacted.
    pub peer: Option<String>,
}

impl fmt::Display for Takeover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.peer {
            Some(peer) => write!(f, "a {} publisher from {peer}", self.protocol),
            None => write!(f, "a {} publisher", self.protocol),
        }
    }
}

/// The session queue of a streaming publisher. The hub keeps a handle on it so that
/// a takeover closes the old session at once, whatever its connection is doing.
type SessionSlot = Arc<Mutex<Option<mpsc::Sender<SessionMessage>>>>;

/// One event's current publisher, as the hub knows it.
struct Claim {
    id: u64,
    protocol: Protocol,
    peer: Option<String>,
    /// Media bytes received (for the ingest bitrate).
    received: Arc<AtomicU64>,
    slot: SessionSlot,
    revoke: watch::Sender<Option<Takeover>>,
}

struct Inner {
    directory: Arc<dyn KeyDirectory>,
    claims: Mutex<HashMap<EventId, Claim>>,
    next_claim: AtomicU64,
    limits: SourceLimits,
    sessions: mpsc::Sender<PublishSession>,
}

/// Shared by all protocol servers; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl Hub {
    /// Creates a hub with the default [`SourceLimits`] and the receiving end the
    /// packager reads sessions from.
    pub fn new(directory: Arc<dyn KeyDirectory>) -> (Hub, mpsc::Receiver<PublishSession>) {
        Hub::with_limits(directory, SourceLimits::default())
    }

    /// Creates a hub that refuses sources beyond `limits`.
    pub fn with_limits(
        directory: Arc<dyn KeyDirectory>,
        limits: SourceLimits,
    ) -> (Hub, mpsc::Receiver<PublishSession>) {
        let (tx, rx) = mpsc::channel(64);
        let hub = Hub {
            inner: Arc::new(Inner {
                directory,
                claims: Mutex::new(HashMap::new()),
                next_claim: AtomicU64::new(1),
                limits,
                sessions: tx,
            }),
        };
        (hub, rx)
    }

    /// The limits sources are held to.
    pub fn source_limits(&self) -> SourceLimits {
        self.inner.limits
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
        self.claim(event, protocol, None)
    }

    /// Claims an event directly (for sources the server itself pulls or generates, and
    /// for publishers authenticated by the caller).
    pub fn begin_publish_event(
        &self,
        event: EventId,
        protocol: Protocol,
    ) -> Result<Publisher, PublishError> {
        self.claim(event, protocol, None)
    }

    /// Claims an event for a publisher from `peer` (already redacted, for logs).
    ///
    /// An event has one publisher. A publisher that pushes (RTMP, SRT, WHIP) with the
    /// event's credentials takes the event over from the current one at once, when
    /// the event allows it ([`KeyDirectory::takeover`]): the old publisher's session
    /// ends (the packager sees it end before the new one begins) and its connection
    /// learns it through [`Publisher::taken_over`]. Sources the server pulls itself
    /// (RTSP, the demo) never take over; they get [`PublishError::AlreadyLive`].
    pub fn claim(
        &self,
        event: EventId,
        protocol: Protocol,
        peer: Option<String>,
    ) -> Result<Publisher, PublishError> {
        let pushes = matches!(protocol, Protocol::Rtmp | Protocol::Whip | Protocol::Srt);
        let takeover_allowed = pushes && self.inner.directory.takeover(&event);
        let id = self.inner.next_claim.fetch_add(1, Ordering::Relaxed);
        let received = Arc::new(AtomicU64::new(0));
        let slot: SessionSlot = Arc::new(Mutex::new(None));
        let (revoke, revoked) = watch::channel(None);
        let claim = Claim {
            id,
            protocol,
            peer: peer.clone(),
            received: received.clone(),
            slot: slot.clone(),
            revoke,
        };
        let old = {
            let mut claims = lock(&self.inner.claims);
            if claims.contains_key(&event) && !takeover_allowed {
                return Err(PublishError::AlreadyLive(event));
            }
            claims.insert(event.clone(), claim)
        };
        if let Some(old) = old {
            // Outside the hub lock: closing the old session's queue wakes its tasks.
            lock(&old.slot).take();
            old.revoke.send_replace(Some(Takeover {
                protocol,
                peer: peer.clone(),
            }));
            tracing::warn!(
                event = %event,
                old_protocol = %old.protocol,
                old_peer = old.peer.as_deref().unwrap_or("-"),
                new_protocol = %protocol,
                new_peer = peer.as_deref().unwrap_or("-"),
                "publisher taken over: the new publish replaces the live one"
            );
        }
        Ok(Publisher {
            hub: self.clone(),
            event,
            protocol,
            claim: id,
            state: PublisherState::Claimed,
            received,
            slot,
            revoked,
            guard: SourceGuard::new(self.inner.limits),
        })
    }

    pub fn is_live(&self, event: &EventId) -> bool {
        lock(&self.inner.claims).contains_key(event)
    }

    /// The events with a live publisher, and by which protocol.
    pub fn live_events(&self) -> Vec<(EventId, Protocol)> {
        let claims = lock(&self.inner.claims);
        let mut v: Vec<_> = claims
            .iter()
            .map(|(e, c)| (e.clone(), c.protocol))
            .collect();
        v.sort();
        v
    }

    /// Media bytes received so far from each live publisher (payloads of the frames
    /// handed to the packager); a rate of it is the ingest bitrate.
    pub fn received_bytes(&self) -> Vec<(EventId, u64)> {
        let claims = lock(&self.inner.claims);
        let mut v: Vec<_> = claims
            .iter()
            .map(|(e, c)| (e.clone(), c.received.load(Ordering::Relaxed)))
            .collect();
        v.sort();
        v
    }

    /// Releases `event` if claim `id` still holds it (a publisher that was taken over
    /// must not release its successor).
    fn release(&self, event: &EventId, id: u64) {
        let mut claims = lock(&self.inner.claims);
        if claims.get(event).is_some_and(|c| c.id == id) {
            claims.remove(event);
        }
    }

    /// Panics while holding the hub lock, as a bug in a holder would.
    #[cfg(test)]
    fn panic_holding_the_lock(&self) {
        let _claims = lock(&self.inner.claims);
        panic!("a holder of the hub lock panicked");
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
    /// The session was handed to the packager; its queue is in the claim's slot.
    Streaming,
}

/// A claim on an event. Dropping it releases the event and ends the session.
pub struct Publisher {
    hub: Hub,
    event: EventId,
    protocol: Protocol,
    claim: u64,
    state: PublisherState,
    received: Arc<AtomicU64>,
    slot: SessionSlot,
    revoked: watch::Receiver<Option<Takeover>>,
    guard: SourceGuard,
}

impl Publisher {
    pub fn event(&self) -> &EventId {
        &self.event
    }

    /// Sets (or, before the first frame, replaces) the stream configuration.
    pub fn configure(&mut self, config: StreamConfig) {
        if let PublisherState::Streaming = self.state {
            tracing::warn!(event = %self.event, "stream configuration changed mid-session; ignored");
            return;
        }
        self.state = PublisherState::Configured(config);
    }

    /// Whether a configuration has been set.
    pub fn is_configured(&self) -> bool {
        !matches!(self.state, PublisherState::Claimed)
    }

    /// Whether another publisher took the event over.
    pub fn is_taken_over(&self) -> bool {
        self.revoked.borrow().is_some()
    }

    /// Who took the event over, if anyone did.
    pub fn taken_over_by(&self) -> Option<Takeover> {
        self.revoked.borrow().clone()
    }

    /// Completes when another publisher takes the event over (never, otherwise). The
    /// connection then closes: the session is already ended.
    pub fn taken_over(&self) -> impl std::future::Future<Output = Takeover> + Send + 'static {
        let mut revoked = self.revoked.clone();
        async move {
            let by = match revoked.wait_for(Option::is_some).await {
                Ok(by) => by.clone(),
                Err(_) => None,
            };
            match by {
                Some(by) => by,
                // The claim is gone without a successor: only when the publisher itself
                // is gone, so nobody waits on this.
                None => std::future::pending().await,
            }
        }
    }

    /// Sends one frame. The first frame fixes the session's wall-clock epoch and
    /// hands the session to the packager, once its configuration passed the hub's
    /// [`SourceLimits`]; every frame is measured against them too.
    pub async fn send(&mut self, frame: EncodedFrame) -> Result<(), PublishError> {
        if self.is_taken_over() {
            return Err(PublishError::TakenOver(self.event.clone()));
        }
        let now = tokio::time::Instant::now().into_std();
        if let PublisherState::Configured(config) = &self.state {
            self.guard
                .check_config(config)
                .map_err(|reason| self.refused(reason))?;
            let (tx, rx) = mpsc::channel(SESSION_QUEUE_FRAMES);
            let epoch = SessionEpoch::received(frame.pts, WallTime::from(SystemTime::now()));
            tx.try_send(SessionMessage::Config(config.clone()))
                .map_err(|_| PublishError::SessionClosed(self.event.clone()))?;
            {
                let mut slot = lock(&self.slot);
                if self.is_taken_over() {
                    return Err(PublishError::TakenOver(self.event.clone()));
                }
                *slot = Some(tx);
            }
            let session = PublishSession {
                event: self.event.clone(),
                protocol: self.protocol,
                epoch,
                messages: rx,
            };
            self.hub
                .inner
                .sessions
                .send(session)
                .await
                .map_err(|_| PublishError::PackagerGone)?;
            self.state = PublisherState::Streaming;
        }
        if !matches!(self.state, PublisherState::Streaming) {
            return Err(PublishError::FrameBeforeConfig);
        }
        self.guard
            .on_frame(now, &frame)
            .map_err(|reason| self.refused(reason))?;
        self.received
            .fetch_add(frame.data.len() as u64, Ordering::Relaxed);
        // A clone of the queue's sender, so a takeover (which empties the slot) is
        // not held up by this send; the send is abandoned when the takeover comes.
        let Some(tx) = lock(&self.slot).clone() else {
            return Err(PublishError::TakenOver(self.event.clone()));
        };
        let mut revoked = self.revoked.clone();
        tokio::select! {
            biased;
            _ = revoked.wait_for(Option::is_some) => Err(PublishError::TakenOver(self.event.clone())),
            sent = tx.send(SessionMessage::Frame(frame)) => {
                sent.map_err(|_| PublishError::SessionClosed(self.event.clone()))
            }
        }
    }

    /// Ends the session now (the packager sees it end) for a source beyond limits.
    fn refused(&self, reason: SourceRefusal) -> PublishError {
        lock(&self.slot).take();
        PublishError::SourceRefused {
            event: self.event.clone(),
            reason,
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.hub.release(&self.event, self.claim);
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

    /// A valid avcC (x264, High 3.0, 640x360-class SPS).
    fn config() -> StreamConfig {
        StreamConfig {
            video: VideoConfig::H264 {
                avcc: Bytes::from_static(crate::rtmp::flv::tests::AVCC),
            },
            audio: None,
        }
    }

    fn frame(ms: i64) -> EncodedFrame {
        EncodedFrame {
            kind: FrameKind::Video { keyframe: ms == 0 },
            dts: MediaTime::from_millis(ms),
            pts: MediaTime::from_millis(ms),
            data: Bytes::from_static(b"f"),
        }
    }

    #[tokio::test]
    async fn unknown_key_refused_and_one_session_per_publisher() {
        let (hub, mut sessions) = hub();
        assert!(matches!(
            hub.begin_publish("nope", Protocol::Rtmp),
            Err(PublishError::UnknownKey(_))
        ));
        let mut p = hub
            .begin_publish("k1", Protocol::Rtmp)
            .expect("first publisher");
        assert!(hub.is_live(p.event()));
        p.configure(config());
        p.send(frame(0)).await.expect("send");
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

    #[tokio::test]
    async fn a_new_publish_takes_over_and_the_old_session_ends_first() {
        let (hub, mut sessions) = hub();
        let ev1 = EventId::parse("ev1").expect("valid");
        let mut old = hub
            .claim(ev1.clone(), Protocol::Rtmp, Some("10.0.0.x:1".into()))
            .expect("first publisher");
        old.configure(config());
        old.send(frame(0)).await.expect("send");
        let mut s1 = sessions.recv().await.expect("old session");
        let taken = old.taken_over();

        let mut new = hub
            .claim(ev1.clone(), Protocol::Whip, Some("10.0.0.x:2".into()))
            .expect("the same key takes over");
        // The old connection learns who took over; its session is closed already.
        let by = tokio::time::timeout(std::time::Duration::from_secs(1), taken)
            .await
            .expect("the old publisher is told at once");
        assert_eq!(by.protocol, Protocol::Whip);
        assert_eq!(by.peer.as_deref(), Some("10.0.0.x:2"));
        assert!(matches!(
            s1.messages.recv().await,
            Some(SessionMessage::Config(_))
        ));
        assert!(matches!(
            s1.messages.recv().await,
            Some(SessionMessage::Frame(_))
        ));
        assert!(s1.messages.recv().await.is_none(), "old session ended");
        // Nothing from the old publisher reaches the packager any more.
        assert_eq!(
            old.send(frame(40)).await,
            Err(PublishError::TakenOver(ev1.clone()))
        );
        new.configure(config());
        new.send(frame(0)).await.expect("new publisher sends");
        let mut s2 = sessions.recv().await.expect("new session");
        assert_eq!(s2.protocol, Protocol::Whip);
        assert!(matches!(
            s2.messages.recv().await,
            Some(SessionMessage::Config(_))
        ));
        // The old publisher going away does not release its successor's claim.
        drop(old);
        assert_eq!(hub.live_events(), vec![(ev1.clone(), Protocol::Whip)]);
        new.send(frame(40)).await.expect("still streaming");
        assert!(matches!(
            s2.messages.recv().await,
            Some(SessionMessage::Frame(_))
        ));
        drop(new);
        assert!(!hub.is_live(&ev1));
    }

    #[tokio::test]
    async fn a_send_blocked_on_a_full_queue_is_abandoned_by_a_takeover() {
        let (hub, mut sessions) = hub();
        let mut old = hub.begin_publish("k1", Protocol::Rtmp).expect("publisher");
        old.configure(config());
        old.send(frame(0)).await.expect("send");
        let _s1 = sessions.recv().await.expect("session, never read");
        let blocked = tokio::spawn(async move {
            let mut ms = 40;
            loop {
                if let Err(e) = old.send(frame(ms)).await {
                    return e;
                }
                ms += 40;
            }
        });
        tokio::task::yield_now().await;
        let _new = hub.begin_publish("k1", Protocol::Rtmp).expect("takes over");
        let e = tokio::time::timeout(std::time::Duration::from_secs(5), blocked)
            .await
            .expect("the blocked send ends")
            .expect("task");
        assert!(matches!(e, PublishError::TakenOver(_)), "{e:?}");
    }

    #[tokio::test]
    async fn pulled_sources_and_events_without_takeover_wait() {
        struct NoTakeover(StaticKeys);
        impl KeyDirectory for NoTakeover {
            fn event_for_key(&self, key: &str) -> Option<EventId> {
                self.0.event_for_key(key)
            }
            fn takeover(&self, _event: &EventId) -> bool {
                false
            }
        }
        let (hub, _sessions) = hub();
        let ev1 = EventId::parse("ev1").expect("valid");
        let camera = hub
            .begin_publish_event(ev1.clone(), Protocol::Rtsp)
            .expect("camera");
        // A camera never takes over an encoder; an encoder takes over a camera.
        let encoder = hub.begin_publish("k1", Protocol::Rtmp).expect("encoder");
        assert!(camera.is_taken_over());
        assert!(matches!(
            hub.begin_publish_event(ev1.clone(), Protocol::Rtsp),
            Err(PublishError::AlreadyLive(_))
        ));
        drop(encoder);
        drop(camera);
        assert!(!hub.is_live(&ev1));

        let mut keys = StaticKeys::default();
        keys.0.insert("k1".into(), ev1.clone());
        let (hub, _sessions) = Hub::new(Arc::new(NoTakeover(keys)));
        let _first = hub.begin_publish("k1", Protocol::Rtmp).expect("first");
        assert!(matches!(
            hub.begin_publish("k1", Protocol::Rtmp),
            Err(PublishError::AlreadyLive(_))
        ));
    }

    #[tokio::test]
    async fn sources_beyond_the_limits_are_refused_before_the_packager() {
        let mut keys = StaticKeys::default();
        keys.0
            .insert("k1".into(), EventId::parse("ev1").expect("valid"));
        let small = SourceLimits {
            max_width: 320,
            max_height: 240,
            ..SourceLimits::default()
        };
        let (hub, mut sessions) = Hub::with_limits(Arc::new(keys), small);
        let mut p = hub.begin_publish("k1", Protocol::Rtmp).expect("publisher");
        p.configure(config());
        let e = p.send(frame(0)).await.expect_err("too large");
        assert!(
            matches!(
                e,
                PublishError::SourceRefused {
                    reason: SourceRefusal::TooLarge { .. },
                    ..
                }
            ),
            "{e:?}"
        );
        drop(p);
        assert!(sessions.try_recv().is_err(), "the packager saw nothing");
    }

    #[tokio::test]
    async fn a_panic_in_a_holder_or_a_publisher_task_touches_no_other_event() {
        let (hub, _sessions) = hub();
        let h = hub.clone();
        let poisoned = std::thread::spawn(move || h.panic_holding_the_lock()).join();
        assert!(poisoned.is_err(), "the holder panicked");
        // The hub still works after its lock was poisoned.
        let ev2 = EventId::parse("ev2").expect("valid");
        let _other = hub
            .begin_publish_event(ev2.clone(), Protocol::Demo)
            .expect("another event");
        // A publisher's task panics: its event is released, the other one stays.
        let h = hub.clone();
        let task = tokio::spawn(async move {
            let _p = h.begin_publish("k1", Protocol::Rtmp).expect("claim");
            panic!("a bug in a connection task");
        });
        assert!(task.await.is_err());
        assert_eq!(hub.live_events(), vec![(ev2, Protocol::Demo)]);
        assert!(hub.begin_publish("k1", Protocol::Rtmp).is_ok());
    }
}
