//! The tokio glue: one `srt-tokio` listener on the shared UDP port; each caller's
//! request is decided (streamid, key, passphrase, connection cap) before it is
//! accepted or rejected in the handshake, then one task per accepted caller feeds its
//! datagrams through [`TsDemuxer`] and [`MediaAssembler`] into the hub's
//! [`Publisher`], within the connection budget ([`Watchdog`]).
//!
//! Every connection runs in an `srt` span (redacted peer, event). Any error ends the
//! connection with one `warn!` line; dropping the [`Publisher`] releases the event.

use super::media::{MediaAssembler, MediaError};
use super::streamid::{self, Mode, StreamIdError};
use super::ts::{TsDemuxer, TsError, TsEvent};
use super::SrtSettings;
use crate::frame::SessionMessage;
use crate::hub::{EventId, Hub, Protocol, PublishError, Publisher, Takeover};
use crate::limits::SourceRefusal;
use crate::pii::{Redacted, RedactedAddr};
use crate::refusals::RefusalLog;
use crate::rtmp::budget::{Expired, Watchdog};
use futures::{SinkExt, StreamExt};
use srt_tokio::access::{RejectReason, ServerRejectReason};
use srt_tokio::options::{KeySize, Passphrase};
use srt_tokio::{ConnectionRequest, SrtListener, SrtSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, warn, Instrument};

/// Time allowed to close a connection politely.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause before the listener is started again after it stopped.
const RESTART_PAUSE: Duration = Duration::from_millis(200);

/// Why a caller is refused in the handshake.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("{0}")]
    StreamId(#[from] StreamIdError),
    #[error("only m=publish is offered")]
    NotPublish,
    #[error("the key is not the key of event {0:?}")]
    WrongEvent(String),
    #[error("{0}")]
    Publish(PublishError),
    #[error("{0} connections open already")]
    Full(usize),
    #[error("a passphrase is required and the caller has none")]
    NoPassphrase,
    #[error("the caller encrypts but no passphrase is set for this event")]
    UnexpectedEncryption,
}

impl Refusal {
    fn reason(&self) -> RejectReason {
        let r = match self {
            Refusal::StreamId(_) => ServerRejectReason::BadRequest,
            Refusal::NotPublish => ServerRejectReason::BadMode,
            Refusal::WrongEvent(_) => ServerRejectReason::Forbidden,
            Refusal::Publish(PublishError::UnknownKey(_)) => ServerRejectReason::Forbidden,
            Refusal::Publish(PublishError::AlreadyLive(_)) => ServerRejectReason::Conflict,
            Refusal::Publish(_) => ServerRejectReason::Down,
            Refusal::Full(_) => ServerRejectReason::Overload,
            Refusal::NoPassphrase | Refusal::UnexpectedEncryption => {
                ServerRejectReason::Unauthorized
            }
        };
        RejectReason::Server(r)
    }
}

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("timed out: {0}")]
    Expired(Expired),
    #[error("{0}")]
    Ts(#[from] TsError),
    #[error("{0}")]
    Media(#[from] MediaError),
    #[error("taken over by {0}")]
    TakenOver(Takeover),
    #[error("source refused: {0}")]
    SourceRefused(SourceRefusal),
    #[error("{0}")]
    Publish(PublishError),
    #[error("receive: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the listener; starts it again if it stops (its task ended on a bad packet).
pub(super) async fn serve(
    socket: tokio::net::UdpSocket,
    hub: Hub,
    settings: SrtSettings,
) -> std::io::Result<()> {
    let std_socket = socket.into_std()?;
    let local = std_socket.local_addr()?;
    let settings = Arc::new(settings);
    let connections = Arc::new(Semaphore::new(settings.limits.max_connections));
    let mut refusals = RefusalLog::new("srt");
    loop {
        let socket = tokio::net::UdpSocket::from_std(std_socket.try_clone()?)?;
        let (_listener, mut incoming) = SrtListener::builder()
            .latency(settings.latency)
            .socket(socket)
            .bind(local)
            .await?;
        debug!(%local, "srt listener started");
        while let Some(request) = incoming.incoming().next().await {
            let peer = request.remote();
            match admit(&hub, &settings, &request, &connections) {
                Ok((publisher, permit, passphrase)) => {
                    let span = tracing::info_span!(
                        "srt",
                        peer = %RedactedAddr(peer),
                        event = %publisher.event()
                    );
                    let limits = settings.limits;
                    tokio::spawn(
                        async move {
                            connection(request, passphrase, publisher, limits).await;
                            drop(permit);
                        }
                        .instrument(span),
                    );
                }
                Err(refusal) => {
                    refusals.refused(peer, &refusal);
                    let _ = request.reject(refusal.reason()).await;
                }
            }
        }
        warn!(%local, "srt listener stopped; starting it again");
        tokio::time::sleep(RESTART_PAUSE).await;
    }
}

/// Decides a caller from its handshake: the event it may publish to, its place among
/// the connections, and the passphrase the link uses.
fn admit(
    hub: &Hub,
    settings: &SrtSettings,
    request: &ConnectionRequest,
    connections: &Arc<Semaphore>,
) -> Result<(Publisher, OwnedSemaphorePermit, Option<Passphrase>), Refusal> {
    let sid = request.stream_id().map(|s| s.to_string());
    let wanted = streamid::parse(sid.as_deref())?;
    if wanted.mode != Mode::Publish {
        return Err(Refusal::NotPublish);
    }
    let event = hub.event_for_key(&wanted.key).map_err(Refusal::Publish)?;
    if let Some(named) = &wanted.event {
        if named != event.as_str() {
            return Err(Refusal::WrongEvent(named.clone()));
        }
    }
    let passphrase = passphrase_for(settings, &event);
    let encrypted = request.key_size() != KeySize::Unspecified;
    match (&passphrase, encrypted) {
        (Some(_), false) => return Err(Refusal::NoPassphrase),
        (None, true) => return Err(Refusal::UnexpectedEncryption),
        _ => {}
    }
    let permit = connections
        .clone()
        .try_acquire_owned()
        .map_err(|_| Refusal::Full(settings.limits.max_connections))?;
    let peer = Some(RedactedAddr(request.remote()).to_string());
    let publisher = hub
        .claim(event, Protocol::Srt, peer)
        .map_err(Refusal::Publish)?;
    debug!(key = %Redacted::new(&wanted.key), event = %publisher.event(), "srt caller admitted");
    Ok((publisher, permit, passphrase))
}

fn passphrase_for(settings: &SrtSettings, event: &EventId) -> Option<Passphrase> {
    let p = settings
        .event_passphrases
        .get(event)
        .or(settings.passphrase.as_ref())?;
    // Lengths were checked when the server was set up.
    Passphrase::try_from(p.clone()).ok()
}

/// Accepts the caller and runs its connection to the end.
async fn connection(
    request: ConnectionRequest,
    passphrase: Option<Passphrase>,
    publisher: Publisher,
    limits: crate::rtmp::RtmpLimits,
) {
    let key_size = request.key_size();
    let key_settings = passphrase.map(|passphrase| srt_protocol::settings::KeySettings {
        key_size,
        passphrase,
    });
    let mut socket = match request.accept(key_settings).await {
        Ok(s) => s,
        Err(e) => {
            warn!("srt accept failed: {e}");
            return;
        }
    };
    debug!("srt connection accepted");
    let mut conn = Connection {
        publisher,
        demux: TsDemuxer::new(),
        media: MediaAssembler::new(),
        watchdog: Watchdog::new(now(), limits),
        ignored_logged: false,
    };
    let result = conn.run(&mut socket).await;
    drop(conn);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close()).await;
    match result {
        Ok(()) => debug!("srt publisher closed the connection"),
        Err(e) => warn!("srt connection dropped: {e}"),
    }
}

struct Connection {
    publisher: Publisher,
    demux: TsDemuxer,
    media: MediaAssembler,
    watchdog: Watchdog,
    ignored_logged: bool,
}

impl Connection {
    async fn run(&mut self, socket: &mut SrtSocket) -> Result<(), ConnError> {
        let taken = self.publisher.taken_over();
        tokio::pin!(taken);
        loop {
            let deadline = tokio::time::Instant::from_std(self.watchdog.poll_timeout());
            tokio::select! {
                item = socket.next() => match item {
                    Some(Ok((_, data))) => {
                        self.watchdog.on_bytes(now(), data.len());
                        self.demux.handle_input(&data)?;
                        self.drain().await?;
                    }
                    Some(Err(e)) => return Err(ConnError::Io(e)),
                    None => {
                        self.demux.finish();
                        return self.drain().await;
                    }
                },
                by = &mut taken => return Err(ConnError::TakenOver(by)),
                _ = tokio::time::sleep_until(deadline) => {
                    self.watchdog.check(now()).map_err(ConnError::Expired)?;
                }
            }
        }
    }

    /// Moves what the demuxer produced through the assembler to the hub.
    async fn drain(&mut self) -> Result<(), ConnError> {
        while let Some(event) = self.demux.poll_event() {
            if let TsEvent::Dropped { pid, at, reason } = &event {
                debug!(pid, at, ?reason, "transport stream data dropped");
            }
            self.media.handle_event(event)?;
            if !self.ignored_logged && !self.media.ignored_streams().is_empty() {
                self.ignored_logged = true;
                debug!(streams = ?self.media.ignored_streams(), "streams not ingested");
            }
            while let Some(message) = self.media.poll_message() {
                match message {
                    SessionMessage::Config(config) => self.publisher.configure(config),
                    SessionMessage::Frame(frame) => {
                        self.publisher.send(frame).await.map_err(|e| match e {
                            PublishError::TakenOver(_) => match self.publisher.taken_over_by() {
                                Some(by) => ConnError::TakenOver(by),
                                None => ConnError::Publish(e),
                            },
                            PublishError::SourceRefused { reason, .. } => {
                                ConnError::SourceRefused(reason)
                            }
                            e => ConnError::Publish(e),
                        })?;
                        if !self.watchdog.is_publishing() {
                            self.watchdog.on_publishing(now());
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The clock deadlines are computed on (tokio's, so tests can pause it).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
