//! The tokio glue: one UDP socket for all WebRTC media, one driver task that owns every
//! [`WhipSession`] and routes each datagram to the session that accepts it, and one
//! small task per session that hands its messages to the hub [`Publisher`].
//!
//! The driver never waits on a packager: messages go through a bounded queue per
//! session, and a full queue drops the frame (video then resumes at a keyframe), so a
//! slow event cannot delay another event's media.

use super::session::{EndReason, SessionOutput, WhipSession};
use super::signal::{bearer_token, check_content_type, inspect_offer, WhipError};
use crate::frame::SessionMessage;
use crate::hub::{EventId, Hub, Protocol, PublishError, Publisher};
use crate::pii::{Redacted, RedactedAddr};
use amphi_time::sync::lock;
use rand::RngCore;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn, Instrument};

/// Messages queued between the driver and one session's publisher task (~5 s of media).
pub const SESSION_QUEUE: usize = 512;
/// Largest datagram read (WebRTC keeps packets under the path MTU).
const DATAGRAM_BUFFER: usize = 2048;

/// A successful WHIP offer.
#[derive(Debug, Clone)]
pub struct WhipAnswer {
    pub event: EventId,
    /// Unguessable session id (128 random bits, hex).
    pub session_id: String,
    /// `/whip/{event}/{session_id}`.
    pub location: String,
    pub etag: String,
    pub sdp: String,
}

enum Command {
    Add {
        id: String,
        session: Box<WhipSession>,
        messages: mpsc::Sender<SessionMessage>,
        span: tracing::Span,
    },
    End {
        id: String,
        reason: EndReason,
        done: oneshot::Sender<()>,
    },
}

struct Shared {
    hub: Hub,
    /// The host candidate announced in answers (socket port, announced IP).
    candidate: SocketAddr,
    commands: mpsc::UnboundedSender<Command>,
    /// Live sessions: id → event.
    sessions: Mutex<HashMap<String, EventId>>,
}

/// The WHIP server: answers offers and ends sessions; cheap to clone.
#[derive(Clone)]
pub struct WhipServer {
    shared: Arc<Shared>,
}

impl WhipServer {
    /// Starts the media driver on `socket`, announcing `announce` (an address peers can
    /// reach that lands on this socket) as the host candidate.
    pub fn start(
        hub: Hub,
        socket: UdpSocket,
        announce: SocketAddr,
    ) -> (WhipServer, tokio::task::JoinHandle<std::io::Result<()>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            hub,
            candidate: announce,
            commands: tx,
            sessions: Mutex::new(HashMap::new()),
        });
        let driver = Driver {
            socket,
            candidate: announce,
            sessions: HashMap::new(),
            shared: shared.clone(),
        };
        let task = tokio::spawn(driver.run(rx));
        (WhipServer { shared }, task)
    }

    /// The host candidate this server announces.
    pub fn candidate(&self) -> SocketAddr {
        self.shared.candidate
    }

    /// Number of live WHIP sessions.
    pub fn session_count(&self) -> usize {
        self.sessions().len()
    }

    /// Handles `POST /whip/{event}`. Every refusal is logged once (token redacted).
    /// A publish with the event's token takes a live event over from its current
    /// publisher (see [`Hub::claim`]).
    pub fn publish(
        &self,
        event: &str,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<WhipAnswer, WhipError> {
        self.publish_from(event, authorization, content_type, body, None)
    }

    /// [`Self::publish`] from the HTTP client at `peer` (shown redacted in logs).
    pub fn publish_from(
        &self,
        event: &str,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
        peer: Option<SocketAddr>,
    ) -> Result<WhipAnswer, WhipError> {
        let result = self.try_publish(event, authorization, content_type, body, peer);
        if let Err(e) = &result {
            warn!(event, status = e.status(), "whip publish refused: {e}");
        }
        result
    }

    fn try_publish(
        &self,
        event: &str,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
        peer: Option<SocketAddr>,
    ) -> Result<WhipAnswer, WhipError> {
        let token = bearer_token(authorization)?;
        let event = match (EventId::parse(event), self.shared.hub.event_for_key(token)) {
            (Ok(wanted), Ok(owner)) if wanted == owner => wanted,
            _ => return Err(WhipError::WrongToken(Redacted::new(token))),
        };
        check_content_type(content_type)?;
        let (sdp, summary) = inspect_offer(body)?;
        // The offer must be acceptable before the event is claimed: a bad offer never
        // takes a live event over.
        let accepted = WhipSession::accept(
            &sdp,
            summary.opus_channels,
            self.shared.candidate,
            Instant::now(),
        )
        .map_err(WhipError::MalformedSdp)?;
        if !accepted.answer.contains("H264/90000") {
            return Err(WhipError::NoH264(summary.video_codecs.join(", ")));
        }
        let peer = peer.map(|p| RedactedAddr(p).to_string());
        let publisher = self
            .shared
            .hub
            .claim(event.clone(), Protocol::Whip, peer)
            .map_err(|e| match e {
                PublishError::AlreadyLive(ev) => WhipError::AlreadyLive(ev),
                _ => WhipError::Unavailable,
            })?;
        let id = random_hex(16);
        let etag = format!("\"{}\"", random_hex(8));
        let span = tracing::info_span!("whip", event = %event, session = &id[..8]);
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        self.sessions().insert(id.clone(), event.clone());
        let stop = Stop {
            id: id.clone(),
            commands: self.shared.commands.clone(),
        };
        tokio::spawn(forward(publisher, rx, stop).instrument(span.clone()));
        let add = Command::Add {
            id: id.clone(),
            session: Box::new(accepted.session),
            messages: tx,
            span: span.clone(),
        };
        if self.shared.commands.send(add).is_err() {
            self.sessions().remove(&id);
            return Err(WhipError::Unavailable);
        }
        span.in_scope(|| {
            info!(
                video = %summary.video_codecs.join(","),
                opus_channels = ?summary.opus_channels,
                "whip session started"
            )
        });
        Ok(WhipAnswer {
            location: format!("/whip/{event}/{id}"),
            event,
            session_id: id,
            etag,
            sdp: accepted.answer,
        })
    }

    /// Handles `DELETE /whip/{event}/{session}`: ends the session; the event is
    /// released once its queued media is handed over.
    pub async fn end(&self, event: &str, session_id: &str) -> Result<(), WhipError> {
        let known = matches!(self.sessions().get(session_id), Some(e) if e.as_str() == event);
        if !known {
            warn!(event, "whip delete refused: no such session");
            return Err(WhipError::UnknownSession);
        }
        let (done, wait) = oneshot::channel();
        let cmd = Command::End {
            id: session_id.to_owned(),
            reason: EndReason::Deleted,
            done,
        };
        self.shared
            .commands
            .send(cmd)
            .map_err(|_| WhipError::Unavailable)?;
        let _ = wait.await;
        Ok(())
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, EventId>> {
        lock(&self.shared.sessions)
    }
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// How a session's publisher task ends its WebRTC session.
struct Stop {
    id: String,
    commands: mpsc::UnboundedSender<Command>,
}

impl Stop {
    fn stop(self, why: String) {
        let (done, _) = oneshot::channel();
        let _ = self.commands.send(Command::End {
            id: self.id,
            reason: EndReason::Stopped(why),
            done,
        });
    }
}

/// Hands one session's messages to its hub publisher; dropping the publisher at the end
/// releases the event. A takeover or a source beyond limits ends the WebRTC session.
async fn forward(
    mut publisher: Publisher,
    mut messages: mpsc::Receiver<SessionMessage>,
    stop: Stop,
) {
    let taken = publisher.taken_over();
    tokio::pin!(taken);
    loop {
        let msg = tokio::select! {
            msg = messages.recv() => msg,
            by = &mut taken => {
                warn!("whip session taken over by {by}");
                stop.stop(format!("taken over by {by}"));
                return;
            }
        };
        let Some(msg) = msg else { break };
        match msg {
            SessionMessage::Config(config) => publisher.configure(config),
            SessionMessage::Frame(frame) => {
                if let Err(e) = publisher.send(frame).await {
                    let why = match (&e, publisher.taken_over_by()) {
                        (PublishError::TakenOver(_), Some(by)) => format!("taken over by {by}"),
                        _ => e.to_string(),
                    };
                    warn!("whip session stopped: {why}");
                    drop(publisher);
                    stop.stop(why);
                    return;
                }
            }
        }
    }
    debug!("whip publisher released");
}

struct Entry {
    session: Box<WhipSession>,
    messages: mpsc::Sender<SessionMessage>,
    wake: Instant,
    span: tracing::Span,
}

struct Driver {
    socket: UdpSocket,
    candidate: SocketAddr,
    sessions: HashMap<String, Entry>,
    shared: Arc<Shared>,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) -> std::io::Result<()> {
        let mut buf = vec![0u8; DATAGRAM_BUFFER];
        debug!(candidate = %self.candidate, "whip media driver running");
        loop {
            let wake = self.sessions.values().map(|e| e.wake).min();
            let sleep = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((n, source)) => self.on_datagram(Instant::now(), source, &buf[..n]),
                    // ICMP port unreachable and the like surface here on some systems.
                    Err(e) => debug!(error = %e, "udp receive failed"),
                },
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => return Ok(()),
                },
                _ = sleep => {}
            }
            self.on_timeouts(Instant::now());
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Add {
                id,
                session,
                messages,
                span,
            } => {
                let entry = Entry {
                    session,
                    messages,
                    wake: now,
                    span,
                };
                self.sessions.insert(id.clone(), entry);
                self.drain(&id, now);
            }
            Command::End { id, reason, done } => {
                if let Some(entry) = self.sessions.get_mut(&id) {
                    entry.session.end(reason);
                    self.drain(&id, now);
                }
                let _ = done.send(());
            }
        }
    }

    fn on_datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        let id = self
            .sessions
            .iter()
            .find(|(_, e)| e.session.accepts(now, source, data))
            .map(|(id, _)| id.clone());
        let Some(id) = id else {
            return;
        };
        if let Some(entry) = self.sessions.get_mut(&id) {
            let _enter = entry.span.enter();
            entry.session.handle_input(now, source, data);
        }
        self.drain(&id, now);
    }

    fn on_timeouts(&mut self, now: Instant) {
        let due: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.wake <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            if let Some(entry) = self.sessions.get_mut(&id) {
                let _enter = entry.span.enter();
                entry.session.handle_timeout(now);
            }
            self.drain(&id, now);
        }
    }

    /// Applies a session's outputs until it waits; removes it when it ends.
    fn drain(&mut self, id: &str, now: Instant) {
        let Some(entry) = self.sessions.get_mut(id) else {
            return;
        };
        let span = entry.span.clone();
        let _enter = span.enter();
        loop {
            match entry.session.poll_output(now) {
                SessionOutput::Transmit { destination, data } => {
                    if let Err(e) = self.socket.try_send_to(&data, destination) {
                        debug!(error = %e, "udp send failed");
                    }
                }
                SessionOutput::Message(msg) => match entry.messages.try_send(msg) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => entry.session.frame_dropped(now),
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        entry.session.end(EndReason::PackagerGone)
                    }
                },
                SessionOutput::Timeout(t) => {
                    entry.wake = t;
                    return;
                }
                SessionOutput::Ended(reason) => {
                    info!(
                        frames = entry.session.frames_out(),
                        "whip session ended: {reason}"
                    );
                    break;
                }
            }
        }
        // Dropping the entry closes the message queue; the publisher task then drains
        // it and releases the event.
        self.sessions.remove(id);
        lock(&self.shared.sessions).remove(id);
    }
}
