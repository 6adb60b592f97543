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

mod identity;
mod publisher;
#[cfg(test)]
mod tests;

pub use identity::{EventId, InvalidEventId, KeyDirectory, Protocol, StaticKeys};
pub use publisher::Publisher;
use publisher::PublisherState;

use crate::frame::{SessionEpoch, SessionMessage};
use crate::limits::{SourceGuard, SourceLimits, SourceRefusal};
use crate::pii::Redacted;
use amphi_time::sync::lock;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// Frames buffered between a protocol server and the packager before the publisher
/// is slowed down (about 10 s of 30 fps video plus audio).
pub const SESSION_QUEUE_FRAMES: usize = 1024;

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
