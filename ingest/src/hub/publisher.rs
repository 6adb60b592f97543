//! One publisher's side of a claim: its stream configuration, the hand-over of its
//! session to the packager on the first frame, the source limits every frame is
//! measured against, and the takeover that ends it.

use super::{
    lock, EventId, Hub, Protocol, PublishError, PublishSession, SessionSlot, Takeover,
    SESSION_QUEUE_FRAMES,
};
use crate::frame::{EncodedFrame, SessionEpoch, SessionMessage, StreamConfig, WallTime};
use crate::limits::{SourceGuard, SourceRefusal};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::{mpsc, watch};

pub(super) enum PublisherState {
    Claimed,
    Configured(StreamConfig),
    /// The session was handed to the packager; its queue is in the claim's slot.
    Streaming,
}

/// A claim on an event. Dropping it releases the event and ends the session.
pub struct Publisher {
    pub(super) hub: Hub,
    pub(super) event: EventId,
    pub(super) protocol: Protocol,
    pub(super) claim: u64,
    pub(super) state: PublisherState,
    pub(super) received: Arc<AtomicU64>,
    pub(super) slot: SessionSlot,
    pub(super) revoked: watch::Receiver<Option<Takeover>>,
    pub(super) guard: SourceGuard,
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
