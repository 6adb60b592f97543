//! What every publishing connection shares, whatever its protocol (RTMP over TCP, SRT
//! over UDP): the listener's caps on connections at once ([`Caps`]), the clock the
//! deadlines run on ([`now`]), the wait that races a connection's next input against
//! its deadlines and a takeover ([`next_input`]), and the ways a publishing
//! connection ends that are not its protocol's own ([`Ended`]).
//!
//! The deadlines themselves are the sans-IO [`Watchdog`] of `rtmp::budget`, with the
//! limits of [`crate::rtmp::RtmpLimits`]; each listener accepts its own way and then
//! admits, spans and spawns every connection through [`Caps`] and [`spawn`].

use crate::hub::{PublishError, Publisher, Takeover};
use crate::limits::SourceRefusal;
use crate::rtmp::budget::{Expired, Watchdog};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

/// The clock deadlines are computed on (tokio's, so tests can pause it).
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Why a connection is refused at once, before its protocol says a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Full {
    #[error("{0} connections open already")]
    Open(usize),
    #[error("{0} connections not yet publishing already")]
    Pending(usize),
}

/// One listener's caps: connections open at once and, optionally, connections open
/// that are not publishing yet (a peer that connects and says nothing holds one).
#[derive(Debug, Clone)]
pub(crate) struct Caps {
    open: Arc<Semaphore>,
    max_open: usize,
    pending: Option<(Arc<Semaphore>, usize)>,
}

/// A connection's places among the open ones (held until it ends) and, where capped,
/// among those not yet publishing (given back when it publishes).
#[derive(Debug)]
pub(crate) struct Admission {
    pub open: OwnedSemaphorePermit,
    pub pending: Option<OwnedSemaphorePermit>,
}

impl Caps {
    pub(crate) fn new(max_open: usize) -> Self {
        Caps {
            open: Arc::new(Semaphore::new(max_open)),
            max_open,
            pending: None,
        }
    }

    /// Also caps the connections not yet publishing at `max_pending`.
    pub(crate) fn with_pending(mut self, max_pending: usize) -> Self {
        self.pending = Some((Arc::new(Semaphore::new(max_pending)), max_pending));
        self
    }

    /// A place for one more connection, or why there is none.
    pub(crate) fn admit(&self) -> Result<Admission, Full> {
        let open = self
            .open
            .clone()
            .try_acquire_owned()
            .map_err(|_| Full::Open(self.max_open))?;
        let pending = match &self.pending {
            None => None,
            Some((pending, max)) => Some(
                pending
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| Full::Pending(*max))?,
            ),
        };
        Ok(Admission { open, pending })
    }
}

/// Runs an admitted connection in its own task and span; its place among the open
/// connections is given back when `connection` ends.
pub(crate) fn spawn<F>(open: OwnedSemaphorePermit, span: tracing::Span, connection: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(
        async move {
            connection.await;
            drop(open);
        }
        .instrument(span),
    );
}

/// How a publishing connection ends that is not its protocol's own doing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Ended {
    #[error("timed out: {0}")]
    Expired(Expired),
    #[error("taken over by {0}")]
    TakenOver(Takeover),
    #[error("source refused: {0}")]
    SourceRefused(SourceRefusal),
    #[error("{0}")]
    Publish(PublishError),
}

impl Ended {
    /// Why `publisher` could not send a frame.
    pub(crate) fn of_send(publisher: &Publisher, e: PublishError) -> Ended {
        match e {
            PublishError::TakenOver(_) => match publisher.taken_over_by() {
                Some(by) => Ended::TakenOver(by),
                None => Ended::Publish(e),
            },
            PublishError::SourceRefused { reason, .. } => Ended::SourceRefused(reason),
            e => Ended::Publish(e),
        }
    }
}

/// Waits for `input` within the watchdog's deadlines, unless the event is taken over
/// (`taken`) first. Bytes received are counted by the caller, which knows how many.
pub(crate) async fn next_input<I, T>(
    watchdog: &mut Watchdog,
    mut taken: Pin<&mut T>,
    input: I,
) -> Result<I::Output, Ended>
where
    I: Future,
    T: Future<Output = Takeover>,
{
    tokio::pin!(input);
    loop {
        let deadline = tokio::time::Instant::from_std(watchdog.poll_timeout());
        tokio::select! {
            got = &mut input => return Ok(got),
            by = &mut taken => return Err(Ended::TakenOver(by)),
            _ = tokio::time::sleep_until(deadline) => {
                watchdog.check(now()).map_err(Ended::Expired)?;
            }
        }
    }
}
