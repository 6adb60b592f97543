//! The tokio glue: accepts TCP connections within the listener's [`RtmpLimits`] and
//! drives one [`Handshake`] and one [`Session`] per connection, applying the
//! session's events to the [`Hub`] and the connection's deadlines ([`Watchdog`]).
//!
//! Every connection runs in its own task and `rtmp` span (redacted peer address,
//! then the event id once publishing). Any error ends the connection with one
//! `warn!` line; dropping the [`Publisher`] releases the event. A publisher that
//! another one takes the event over from is closed at once, whatever it is doing.

use super::budget::{RtmpLimits, Watchdog};
use super::handshake::{Handshake, HandshakeError, RANDOM_SIZE};
use super::session::{Event, Session, SessionError};
use crate::conn::{self, next_input, now, Caps, Ended};
use crate::hub::{EventId, Hub, Protocol, PublishError, Publisher};
use crate::pii::{Redacted, RedactedAddr};
use crate::refusals::RefusalLog;
use bytes::Bytes;
use rand::RngCore;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::timeout;
use tracing::{debug, warn};

/// Time allowed for one write to the peer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for the last words to a peer being closed (its refusal).
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(2);
/// Reads once publishing (media).
const READ_BUFFER: usize = 64 * 1024;
/// Reads before the publish is accepted (handshake and commands).
const PRE_PUBLISH_READ_BUFFER: usize = 4 * 1024;
/// TCP keepalive on accepted sockets: first probe after this much silence, then
/// probes every `KEEPALIVE_INTERVAL`, `KEEPALIVE_RETRIES` times.
const KEEPALIVE_TIME: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("connection closed during the handshake")]
    ClosedInHandshake,
    #[error(transparent)]
    Ended(#[from] Ended),
    #[error("write to the peer timed out")]
    WriteTimeout,
    #[error("publisher disconnected without unpublishing")]
    Disconnected,
    #[error("{0}")]
    Session(#[from] SessionError),
    #[error("publish refused: {0}")]
    Refused(PublishError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

pub(super) async fn serve(
    listener: TcpListener,
    hub: Hub,
    limits: RtmpLimits,
) -> std::io::Result<()> {
    let caps = Caps::new(limits.max_connections).with_pending(limits.max_unauthenticated);
    let mut refusals = RefusalLog::new("rtmp");
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Usually transient (out of file descriptors, connection reset).
                warn!(error = %e, "rtmp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Refused connections are closed at once: before the handshake there is no
        // way to tell the peer why (no onStatus without a NetConnection).
        let admission = match caps.admit() {
            Ok(admission) => admission,
            Err(full) => {
                refusals.refused(peer, &full);
                continue;
            }
        };
        tune_socket(&stream, peer);
        let span =
            tracing::info_span!("rtmp", peer = %RedactedAddr(peer), event = tracing::field::Empty);
        let hub = hub.clone();
        let pending = admission.pending;
        conn::spawn(admission.open, span, async move {
            let _ = run(stream, peer, hub, limits, pending).await;
        });
    }
}

fn tune_socket(stream: &TcpStream, peer: SocketAddr) {
    if let Err(e) = stream.set_nodelay(true) {
        debug!(peer = %RedactedAddr(peer), error = %e, "set_nodelay failed");
    }
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_TIME)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_RETRIES);
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        debug!(peer = %RedactedAddr(peer), error = %e, "TCP keepalive not set");
    }
}

/// Runs one connection to its end and logs why it ended.
pub(crate) async fn run<S>(
    stream: S,
    peer: SocketAddr,
    hub: Hub,
    limits: RtmpLimits,
    pending: Option<OwnedSemaphorePermit>,
) -> Result<(), ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = Connection::new(stream, hub, Some(peer), limits);
    conn.pending = pending;
    debug!("rtmp connection accepted");
    let result = conn.run().await;
    let event = conn.event.as_ref().map(EventId::as_str).unwrap_or("-");
    let peer = RedactedAddr(peer);
    match result {
        Ok(()) => {
            debug!(%peer, event, "rtmp connection closed");
            Ok(())
        }
        Err(e) => {
            warn!(%peer, event, "rtmp connection dropped: {e}");
            Err(())
        }
    }
}

struct Connection<S> {
    stream: S,
    hub: Hub,
    peer: Option<SocketAddr>,
    limits: RtmpLimits,
    /// A place among the connections not yet publishing, given back on publish.
    pending: Option<OwnedSemaphorePermit>,
    publisher: Option<Publisher>,
    /// The last event this connection published to.
    event: Option<EventId>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    fn new(stream: S, hub: Hub, peer: Option<SocketAddr>, limits: RtmpLimits) -> Self {
        Connection {
            stream,
            hub,
            peer,
            limits,
            pending: None,
            publisher: None,
            event: None,
        }
    }

    async fn run(&mut self) -> Result<(), ConnError> {
        let mut watchdog = Watchdog::new(now(), self.limits);
        let mut session = Session::new();
        let result = match self.handshake(&mut watchdog).await {
            Ok(remaining) => self.drive(&mut session, &mut watchdog, remaining).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            // Release the event before the last words to the peer.
            self.publisher = None;
            match e {
                ConnError::Ended(Ended::TakenOver(_)) => {
                    session.fail_publish("Another publisher took this event over.")
                }
                ConnError::Ended(Ended::SourceRefused(reason)) => {
                    session.fail_publish(&format!("Source refused: {reason}."))
                }
                ConnError::Ended(Ended::Publish(e)) => session.fail_publish(&format!("{e}.")),
                _ => {}
            }
            // Best effort: the peer may be told why (`_error`, `onStatus`). Then close
            // gracefully and read what it still sends for a moment: closing with unread
            // input resets the connection, and a reset makes the peer's system drop our
            // last words before the encoder reads them.
            let _ = timeout(FAREWELL_TIMEOUT, async {
                self.flush(&mut session).await?;
                self.stream.shutdown().await?;
                let mut sink = [0u8; 4096];
                while self.stream.read(&mut sink).await? > 0 {}
                Ok::<(), ConnError>(())
            })
            .await;
        }
        result
    }

    /// Reads some bytes, within the watchdog's deadlines, unless the event is taken
    /// over meanwhile.
    async fn read_some(
        &mut self,
        buf: &mut [u8],
        watchdog: &mut Watchdog,
    ) -> Result<usize, ConnError> {
        let taken = self.publisher.as_ref().map(Publisher::taken_over);
        let taken = async move {
            match taken {
                Some(t) => t.await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(taken);
        let n = next_input(watchdog, taken, self.stream.read(buf)).await??;
        watchdog.on_bytes(now(), n);
        Ok(n)
    }

    async fn handshake(&mut self, watchdog: &mut Watchdog) -> Result<Bytes, ConnError> {
        let mut random = Box::new([0u8; RANDOM_SIZE]);
        rand::thread_rng().fill_bytes(&mut random[..]);
        let mut hs = Handshake::new(0, random);
        let mut buf = vec![0u8; PRE_PUBLISH_READ_BUFFER];
        while !hs.is_done() {
            let n = self.read_some(&mut buf, watchdog).await?;
            if n == 0 {
                return Err(ConnError::ClosedInHandshake);
            }
            hs.handle_input(&buf[..n])?;
            if let Some(out) = hs.poll_transmit() {
                timeout(WRITE_TIMEOUT, self.stream.write_all(&out))
                    .await
                    .map_err(|_| ConnError::WriteTimeout)??;
            }
        }
        Ok(hs.into_remaining())
    }

    async fn drive(
        &mut self,
        session: &mut Session,
        watchdog: &mut Watchdog,
        first: Bytes,
    ) -> Result<(), ConnError> {
        session.handle_input(&first)?;
        self.apply_events(session, watchdog).await?;
        let mut buf = vec![0u8; PRE_PUBLISH_READ_BUFFER];
        loop {
            if self.publisher.is_some() && buf.len() < READ_BUFFER {
                buf.resize(READ_BUFFER, 0);
            }
            let n = self.read_some(&mut buf, watchdog).await?;
            if n == 0 {
                return if self.publisher.is_some() {
                    Err(ConnError::Disconnected)
                } else {
                    Ok(())
                };
            }
            session.handle_input(&buf[..n])?;
            self.apply_events(session, watchdog).await?;
        }
    }

    async fn apply_events(
        &mut self,
        session: &mut Session,
        watchdog: &mut Watchdog,
    ) -> Result<(), ConnError> {
        while let Some(event) = session.poll_event() {
            match event {
                Event::Publish { key } => {
                    let peer = self.peer.map(|p| RedactedAddr(p).to_string());
                    let claimed = self
                        .hub
                        .event_for_key(&key)
                        .and_then(|event| self.hub.claim(event, Protocol::Rtmp, peer));
                    match claimed {
                        Ok(publisher) => {
                            let event = publisher.event().clone();
                            tracing::Span::current().record("event", event.as_str());
                            debug!(key = %Redacted::new(&key), %event, "publishing");
                            self.event = Some(event);
                            self.publisher = Some(publisher);
                            self.pending = None;
                            watchdog.on_publishing(now());
                            session.accept_publish()?;
                        }
                        Err(e) => {
                            session.refuse_publish();
                            if let PublishError::AlreadyLive(event) = &e {
                                self.event = Some(event.clone());
                            }
                            return Err(ConnError::Refused(e));
                        }
                    }
                }
                Event::Configure(config) => {
                    if let Some(p) = &mut self.publisher {
                        p.configure(config);
                    }
                }
                Event::Frame(frame) => {
                    // Flush replies (acks) before possibly waiting on the packager.
                    self.flush(session).await?;
                    if let Some(p) = &mut self.publisher {
                        if let Err(e) = p.send(frame).await {
                            return Err(Ended::of_send(p, e).into());
                        }
                    }
                }
                Event::Unpublish => {
                    debug!("unpublished");
                    self.publisher = None;
                    watchdog.on_unpublished(now());
                }
            }
        }
        self.flush(session).await
    }

    async fn flush(&mut self, session: &mut Session) -> Result<(), ConnError> {
        while let Some(out) = session.poll_transmit() {
            timeout(WRITE_TIMEOUT, self.stream.write_all(&out))
                .await
                .map_err(|_| ConnError::WriteTimeout)??;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "io_tests.rs"]
mod tests;
