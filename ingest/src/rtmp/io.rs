//! The tokio glue: accepts TCP connections and drives one [`Handshake`] and one
//! [`Session`] per connection, applying the session's events to the [`Hub`].
//!
//! Every connection runs in its own task and `rtmp` span (peer address, then the
//! event id once publishing). Any error ends the connection with one `warn!` line;
//! dropping the [`Publisher`] releases the event.

use super::handshake::{Handshake, HandshakeError, RANDOM_SIZE};
use super::session::{Event, Session, SessionError};
use crate::hub::{EventId, Hub, Protocol, PublishError, Publisher};
use crate::pii::Redacted;
use bytes::Bytes;
use rand::RngCore;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::timeout;
use tracing::{debug, warn, Instrument};

/// Time allowed for the whole handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that sends nothing for this long is closed.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for one write to the peer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const READ_BUFFER: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error("handshake timed out")]
    HandshakeTimeout,
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("connection closed during the handshake")]
    ClosedInHandshake,
    #[error("publisher timed out (nothing received for {} s)", READ_TIMEOUT.as_secs())]
    ReadTimeout,
    #[error("write to the peer timed out")]
    WriteTimeout,
    #[error("publisher disconnected without unpublishing")]
    Disconnected,
    #[error("{0}")]
    Session(#[from] SessionError),
    #[error("publish refused: {0}")]
    Refused(PublishError),
    #[error("{0}")]
    Publish(PublishError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

pub(super) async fn serve(listener: TcpListener, hub: Hub) -> std::io::Result<()> {
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
        if let Err(e) = stream.set_nodelay(true) {
            debug!(%peer, error = %e, "set_nodelay failed");
        }
        let span = tracing::info_span!("rtmp", %peer, event = tracing::field::Empty);
        tokio::spawn(run(stream, peer, hub.clone()).instrument(span));
    }
}

/// Runs one connection to its end and logs why it ended.
pub(crate) async fn run<S>(stream: S, peer: SocketAddr, hub: Hub) -> Result<(), ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = Connection::new(stream, hub);
    debug!("rtmp connection accepted");
    let result = conn.run().await;
    let event = conn.event.as_ref().map(EventId::as_str).unwrap_or("-");
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
    publisher: Option<Publisher>,
    /// The last event this connection published to.
    event: Option<EventId>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    fn new(stream: S, hub: Hub) -> Self {
        Connection {
            stream,
            hub,
            publisher: None,
            event: None,
        }
    }

    async fn run(&mut self) -> Result<(), ConnError> {
        let remaining = timeout(HANDSHAKE_TIMEOUT, self.handshake())
            .await
            .map_err(|_| ConnError::HandshakeTimeout)??;
        let mut session = Session::new();
        let result = self.drive(&mut session, remaining).await;
        if result.is_err() {
            // Best effort: the peer may be told why (`_error`, `onStatus`).
            let _ = self.flush(&mut session).await;
        }
        result
    }

    async fn handshake(&mut self) -> Result<Bytes, ConnError> {
        let mut random = Box::new([0u8; RANDOM_SIZE]);
        rand::thread_rng().fill_bytes(&mut random[..]);
        let mut hs = Handshake::new(0, random);
        let mut buf = vec![0u8; 4096];
        while !hs.is_done() {
            let n = self.stream.read(&mut buf).await?;
            if n == 0 {
                return Err(ConnError::ClosedInHandshake);
            }
            hs.handle_input(&buf[..n])?;
            if let Some(out) = hs.poll_transmit() {
                self.stream.write_all(&out).await?;
            }
        }
        Ok(hs.into_remaining())
    }

    async fn drive(&mut self, session: &mut Session, first: Bytes) -> Result<(), ConnError> {
        session.handle_input(&first)?;
        self.apply_events(session).await?;
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            let n = timeout(READ_TIMEOUT, self.stream.read(&mut buf))
                .await
                .map_err(|_| ConnError::ReadTimeout)??;
            if n == 0 {
                return if self.publisher.is_some() {
                    Err(ConnError::Disconnected)
                } else {
                    Ok(())
                };
            }
            session.handle_input(&buf[..n])?;
            self.apply_events(session).await?;
        }
    }

    async fn apply_events(&mut self, session: &mut Session) -> Result<(), ConnError> {
        while let Some(event) = session.poll_event() {
            match event {
                Event::Publish { key } => match self.hub.begin_publish(&key, Protocol::Rtmp) {
                    Ok(publisher) => {
                        let event = publisher.event().clone();
                        tracing::Span::current().record("event", event.as_str());
                        debug!(key = %Redacted::new(&key), %event, "publishing");
                        self.event = Some(event);
                        self.publisher = Some(publisher);
                        session.accept_publish()?;
                    }
                    Err(e) => {
                        session.refuse_publish();
                        if let PublishError::AlreadyLive(event) = &e {
                            self.event = Some(event.clone());
                        }
                        return Err(ConnError::Refused(e));
                    }
                },
                Event::Configure(config) => {
                    if let Some(p) = &mut self.publisher {
                        p.configure(config);
                    }
                }
                Event::Frame(frame) => {
                    // Flush replies (acks) before possibly waiting on the packager.
                    self.flush(session).await?;
                    if let Some(p) = &mut self.publisher {
                        p.send(frame).await.map_err(ConnError::Publish)?;
                    }
                }
                Event::Unpublish => {
                    debug!("unpublished");
                    self.publisher = None;
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
