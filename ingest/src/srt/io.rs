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
use crate::conn::{self, next_input, now, Admission, Caps, Ended, Full};
use crate::frame::SessionMessage;
use crate::hub::{EventId, Hub, Protocol, PublishError, Publisher};
use crate::pii::{Redacted, RedactedAddr};
use crate::refusals::RefusalLog;
use crate::rtmp::budget::Watchdog;
use futures::{SinkExt, StreamExt};
use srt_tokio::access::{RejectReason, ServerRejectReason};
use srt_tokio::options::{KeySize, Passphrase};
use srt_tokio::{ConnectionRequest, SrtListener, SrtSocket};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, warn};

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
    #[error("{0}")]
    Full(#[from] Full),
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
    #[error(transparent)]
    Ended(#[from] Ended),
    #[error("{0}")]
    Ts(#[from] TsError),
    #[error("{0}")]
    Media(#[from] MediaError),
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
    let caps = Caps::new(settings.limits.max_connections);
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
            match admit(&hub, &settings, &request, &caps) {
                Ok((publisher, admission, passphrase)) => {
                    let span = tracing::info_span!(
                        "srt",
                        peer = %RedactedAddr(peer),
                        event = %publisher.event()
                    );
                    let limits = settings.limits;
                    conn::spawn(admission.open, span, async move {
                        connection(request, passphrase, publisher, limits).await;
                    });
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
    caps: &Caps,
) -> Result<(Publisher, Admission, Option<Passphrase>), Refusal> {
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
    let admission = caps.admit()?;
    let peer = Some(RedactedAddr(request.remote()).to_string());
    let publisher = hub
        .claim(event, Protocol::Srt, peer)
        .map_err(Refusal::Publish)?;
    debug!(key = %Redacted::new(&wanted.key), event = %publisher.event(), "srt caller admitted");
    Ok((publisher, admission, passphrase))
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
            match next_input(&mut self.watchdog, taken.as_mut(), socket.next()).await? {
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
                        let sent = self.publisher.send(frame).await;
                        sent.map_err(|e| Ended::of_send(&self.publisher, e))?;
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
