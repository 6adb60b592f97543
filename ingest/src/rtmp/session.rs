//! The server side of one RTMP connection after the handshake, sans-IO: bytes in
//! ([`Session::handle_input`]), bytes out ([`Session::poll_transmit`]) and events
//! out ([`Session::poll_event`]).
//!
//! The session answers the NetConnection/NetStream commands publishers send
//! (`connect`, `releaseStream`, `FCPublish`, `createStream`, `publish`, …), turns
//! audio and video messages into one [`StreamConfig`] followed by
//! [`EncodedFrame`]s, and sends acknowledgements. Claiming the event is the
//! caller's job: on [`Event::Publish`] it asks the hub and answers with
//! [`Session::accept_publish`] or [`Session::refuse_publish`]; no further input is
//! processed until then.

use super::amf0::{self, Amf0Error, Amf0Value};
use super::chunk::{ChunkDecoder, ChunkEncoder, ChunkError};
use super::flv::{self, AudioTag, FlvError, VideoTag};
use super::message::{self, csid, msg_type, user_control, Message};
use crate::frame::{AudioConfig, EncodedFrame, FrameKind, MediaTime, StreamConfig, VideoConfig};
use crate::pii::Redacted;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use tracing::{debug, warn};

mod commands;
mod media;

use media::Media;

/// The only application publishers may connect to (`rtmp://host/live/KEY`).
pub const APP: &str = "live";
/// Window acknowledgement size and peer bandwidth we announce.
pub const WINDOW_ACK_SIZE: u32 = 2_500_000;
/// Our outgoing chunk size.
pub const OUT_CHUNK_SIZE: u32 = 4096;
/// The message stream id `createStream` hands out.
pub const STREAM_ID: u32 = 1;
/// Largest message before the publish is accepted: commands are small, and nothing
/// large is buffered for a peer that has not shown a valid key.
pub const PRE_PUBLISH_MAX_MESSAGE: u32 = 64 * 1024;
/// Most bytes of partly received messages before the publish is accepted.
pub const PRE_PUBLISH_MAX_PENDING: usize = 128 * 1024;
/// Media time a publish may send audio without any H.264 video before it is refused.
pub const AUDIO_ONLY_LIMIT_MS: i64 = 5_000;
/// The onStatus code of a publish the server stops (source beyond limits, taken over).
pub const PUBLISH_REJECTED: &str = "NetStream.Publish.Rejected";

/// What the caller must act on, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer wants to publish with this stream key (query string stripped).
    /// Answer with [`Session::accept_publish`] or [`Session::refuse_publish`].
    Publish {
        key: String,
    },
    /// The stream's configuration is known (emitted once per publish).
    Configure(StreamConfig),
    Frame(EncodedFrame),
    /// The peer stopped publishing (`FCUnpublish`, `deleteStream`, `closeStream`).
    Unpublish,
}

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionError {
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    #[error("command message (type {type_id}, {len} bytes): {source}")]
    Amf0 {
        type_id: u8,
        len: usize,
        source: Amf0Error,
    },
    #[error("command message (type {type_id}) without a command name")]
    NoCommandName { type_id: u8 },
    #[error("connect to application {0:?} refused (only \"live\" is served)")]
    WrongApp(String),
    #[error("{0} before connect")]
    BeforeConnect(String),
    #[error("connect on a connection that is already connected")]
    ConnectTwice,
    #[error("publish without a stream key")]
    NoStreamKey,
    #[error("publish while already publishing")]
    AlreadyPublishing,
    #[error("{what} message before publish")]
    MediaBeforePublish { what: &'static str },
    #[error("{what} at {timestamp} ms: {source}")]
    Media {
        what: &'static str,
        timestamp: u32,
        source: FlvError,
    },
    #[error("playback ({0}) is not supported: this server only ingests")]
    PlayUnsupported(String),
    #[error("publish refused")]
    PublishRefused,
    #[error("audio only: no H.264 video in the first {} s of media (video is required)", AUDIO_ONLY_LIMIT_MS / 1000)]
    AudioOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before `connect`.
    Start,
    Connected,
    /// Waiting for the caller to answer [`Event::Publish`].
    PublishPending {
        stream_id: u32,
    },
    Publishing {
        stream_id: u32,
    },
    /// After an error or a refusal: nothing more is processed.
    Closed,
}

pub struct Session {
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    out: BytesMut,
    events: VecDeque<Event>,
    state: State,
    /// Bytes received, the peer's acknowledgement window, and the last acknowledged total.
    received: u64,
    peer_window: Option<u32>,
    acked: u64,
    media: Media,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    pub fn new() -> Self {
        let mut decoder = ChunkDecoder::new();
        decoder.set_limits(PRE_PUBLISH_MAX_MESSAGE, PRE_PUBLISH_MAX_PENDING);
        Session {
            decoder,
            encoder: ChunkEncoder::new(),
            out: BytesMut::new(),
            events: VecDeque::new(),
            state: State::Start,
            received: 0,
            peer_window: None,
            acked: 0,
            media: Media::default(),
        }
    }

    /// Feeds bytes from the peer. After an error the connection must be closed
    /// (once [`Self::poll_transmit`] has been drained: it may hold an error reply).
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), SessionError> {
        if self.state == State::Closed {
            return Ok(());
        }
        self.decoder.push(data);
        self.received += data.len() as u64;
        if let Some(window) = self.peer_window.filter(|&w| w > 0) {
            if self.received - self.acked >= u64::from(window) {
                self.acked = self.received;
                // The sequence number wraps at 2^32 like the byte count it reports.
                self.send(
                    csid::CONTROL,
                    Message::acknowledgement(self.received as u32),
                );
            }
        }
        self.process()
    }

    /// The caller claimed the event: confirm the publish and continue.
    pub fn accept_publish(&mut self) -> Result<(), SessionError> {
        let State::PublishPending { stream_id } = self.state else {
            return Ok(());
        };
        self.state = State::Publishing { stream_id };
        self.media = Media::default();
        self.decoder.set_limits(
            super::chunk::MAX_MESSAGE_LEN,
            super::chunk::MAX_PENDING_BYTES,
        );
        self.send(
            csid::CONTROL,
            Message::user_control(user_control::STREAM_BEGIN, stream_id),
        );
        self.on_status(
            stream_id,
            "status",
            "NetStream.Publish.Start",
            "Publishing.",
        );
        self.process()
    }

    /// The caller refused the publish: tell the peer; the connection should close.
    pub fn refuse_publish(&mut self) {
        if let State::PublishPending { stream_id } = self.state {
            self.on_status(
                stream_id,
                "error",
                "NetStream.Publish.BadName",
                "Publishing refused.",
            );
        }
        self.state = State::Closed;
    }

    /// The caller stops an accepted publish (the source is beyond limits, another
    /// publisher took the event over): tell the peer why; the connection should close.
    pub fn fail_publish(&mut self, description: &str) {
        if let State::Publishing { stream_id } | State::PublishPending { stream_id } = self.state {
            self.on_status(stream_id, "error", PUBLISH_REJECTED, description);
        }
        self.state = State::Closed;
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    pub fn is_publishing(&self) -> bool {
        matches!(self.state, State::Publishing { .. })
    }

    fn process(&mut self) -> Result<(), SessionError> {
        while matches!(
            self.state,
            State::Start | State::Connected | State::Publishing { .. }
        ) {
            let msg = match self.decoder.poll_message() {
                Ok(Some(msg)) => msg,
                Ok(None) => break,
                Err(e) => {
                    // A broken chunk stream ends the session like any other error.
                    self.state = State::Closed;
                    return Err(e.into());
                }
            };
            if let Err(e) = self.handle_message(msg) {
                self.state = State::Closed;
                return Err(e);
            }
        }
        Ok(())
    }

    fn send(&mut self, csid: u32, msg: Message) {
        self.encoder.encode(csid, &msg, &mut self.out);
    }

    fn handle_message(&mut self, msg: Message) -> Result<(), SessionError> {
        match msg.type_id {
            // Applied by the chunk decoder.
            msg_type::SET_CHUNK_SIZE | msg_type::ABORT | msg_type::ACKNOWLEDGEMENT => {}
            msg_type::WINDOW_ACK_SIZE => {
                if let Some(size) = msg.payload_u32() {
                    self.peer_window = Some(size);
                }
            }
            msg_type::SET_PEER_BANDWIDTH => {}
            msg_type::USER_CONTROL => {
                if let Some((user_control::PING_REQUEST, value)) = msg.user_control_event() {
                    self.send(
                        csid::CONTROL,
                        Message::user_control(user_control::PING_RESPONSE, value),
                    );
                }
            }
            msg_type::COMMAND_AMF0 | msg_type::COMMAND_AMF3 => self.handle_command(&msg)?,
            msg_type::DATA_AMF0 | msg_type::DATA_AMF3 => {
                let name = amf0::decode_all(&msg.payload)
                    .ok()
                    .and_then(|v| v.first().and_then(|n| n.as_str().map(str::to_owned)));
                debug!(
                    name = name.as_deref().unwrap_or("?"),
                    "data message ignored"
                );
            }
            msg_type::VIDEO => self.handle_video(&msg)?,
            msg_type::AUDIO => self.handle_audio(&msg)?,
            other => debug!(type_id = other, "message ignored"),
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
