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

/// Media of the current publish, up to and after its configuration.
#[derive(Debug, Default)]
struct Media {
    avcc: Option<Bytes>,
    asc: Option<Bytes>,
    configured: Option<StreamConfig>,
    /// Milliseconds of the last media message, and its position on the session clock.
    clock: Option<(u32, i64)>,
    warned_late_audio: bool,
    warned_config_change: bool,
}

impl Media {
    /// Milliseconds since the session's first media message (signed deltas between
    /// messages, so audio slightly behind video and 32-bit wrap-around are fine).
    fn millis(&mut self, timestamp: u32) -> i64 {
        let now = match self.clock {
            None => 0,
            Some((last, pos)) => pos + i64::from(timestamp.wrapping_sub(last) as i32),
        };
        self.clock = Some((timestamp, now));
        now
    }
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

    fn send_command(&mut self, csid: u32, stream_id: u32, values: &[Amf0Value]) {
        let msg = Message {
            type_id: msg_type::COMMAND_AMF0,
            stream_id,
            timestamp: 0,
            payload: amf0::encode_all(values).freeze(),
        };
        self.send(csid, msg);
    }

    fn on_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        let info = Amf0Value::object([
            ("level", Amf0Value::string(level)),
            ("code", Amf0Value::string(code)),
            ("description", Amf0Value::string(description)),
        ]);
        self.send_command(
            csid::STREAM,
            stream_id,
            &[
                Amf0Value::string("onStatus"),
                Amf0Value::Number(0.0),
                Amf0Value::Null,
                info,
            ],
        );
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

    fn handle_command(&mut self, msg: &Message) -> Result<(), SessionError> {
        let mut body = &msg.payload[..];
        if msg.type_id == msg_type::COMMAND_AMF3 && body.first() == Some(&0) {
            // AMF3 command messages start with a format byte; the values are AMF0.
            body = &body[1..];
        }
        let values = amf0::decode_all(body).map_err(|source| SessionError::Amf0 {
            type_id: msg.type_id,
            len: msg.payload.len(),
            source,
        })?;
        let name = values
            .first()
            .and_then(Amf0Value::as_str)
            .ok_or(SessionError::NoCommandName {
                type_id: msg.type_id,
            })?
            .to_owned();
        let txn = values.get(1).and_then(Amf0Value::as_number).unwrap_or(0.0);
        let arg = |i: usize| values.get(i);
        debug!(command = %name, txn, "command");

        if self.state == State::Start && name != "connect" {
            return Err(SessionError::BeforeConnect(name));
        }
        match name.as_str() {
            // A second connect would silently drop a publish (no `Unpublish`).
            "connect" if self.state != State::Start => return Err(SessionError::ConnectTwice),
            "connect" => {
                let app = arg(2)
                    .and_then(|o| o.get("app"))
                    .and_then(Amf0Value::as_str)
                    .unwrap_or("");
                let app_name = app.split('?').next().unwrap_or("").trim_end_matches('/');
                if app_name != APP {
                    let info = Amf0Value::object([
                        ("level", Amf0Value::string("error")),
                        ("code", Amf0Value::string("NetConnection.Connect.Rejected")),
                        ("description", Amf0Value::string("Unknown application.")),
                    ]);
                    let reply = [
                        Amf0Value::string("_error"),
                        Amf0Value::Number(txn),
                        Amf0Value::Null,
                        info,
                    ];
                    self.send_command(csid::COMMAND, 0, &reply);
                    return Err(SessionError::WrongApp(shown_app(app)));
                }
                self.send(csid::CONTROL, Message::window_ack_size(WINDOW_ACK_SIZE));
                self.send(
                    csid::CONTROL,
                    Message::set_peer_bandwidth(WINDOW_ACK_SIZE, message::BANDWIDTH_DYNAMIC),
                );
                self.send(csid::CONTROL, Message::set_chunk_size(OUT_CHUNK_SIZE));
                self.encoder.set_chunk_size(OUT_CHUNK_SIZE);
                let props = Amf0Value::object([
                    ("fmsVer", Amf0Value::string("FMS/3,0,1,123")),
                    ("capabilities", Amf0Value::Number(31.0)),
                ]);
                let info = Amf0Value::object([
                    ("level", Amf0Value::string("status")),
                    ("code", Amf0Value::string("NetConnection.Connect.Success")),
                    ("description", Amf0Value::string("Connection succeeded.")),
                    ("objectEncoding", Amf0Value::Number(0.0)),
                ]);
                let reply = [
                    Amf0Value::string("_result"),
                    Amf0Value::Number(txn),
                    props,
                    info,
                ];
                self.send_command(csid::COMMAND, 0, &reply);
                self.state = State::Connected;
            }
            "releaseStream" | "FCPublish" => self.result(txn, Amf0Value::Undefined),
            "createStream" => self.result(txn, Amf0Value::Number(f64::from(STREAM_ID))),
            "publish" => {
                if self.is_publishing() {
                    return Err(SessionError::AlreadyPublishing);
                }
                let stream_id = msg.stream_id;
                let key = arg(3).and_then(Amf0Value::as_str).unwrap_or("");
                let key = key.split('?').next().unwrap_or("");
                if key.is_empty() {
                    self.on_status(
                        stream_id,
                        "error",
                        "NetStream.Publish.BadName",
                        "No stream key.",
                    );
                    return Err(SessionError::NoStreamKey);
                }
                debug!(key = %Redacted::new(key), stream_id, "publish requested");
                self.events.push_back(Event::Publish {
                    key: key.to_owned(),
                });
                self.state = State::PublishPending { stream_id };
            }
            "FCUnpublish" | "deleteStream" | "closeStream" => {
                if self.is_publishing() {
                    self.state = State::Connected;
                    self.media = Media::default();
                    self.events.push_back(Event::Unpublish);
                }
                if name == "FCUnpublish" {
                    self.result(txn, Amf0Value::Undefined);
                }
            }
            "play" | "play2" => return Err(SessionError::PlayUnsupported(name)),
            _ => debug!(command = %name, "command ignored"),
        }
        Ok(())
    }

    /// Replies `_result` to a command with a non-zero transaction id.
    fn result(&mut self, txn: f64, value: Amf0Value) {
        if txn != 0.0 {
            let reply = [
                Amf0Value::string("_result"),
                Amf0Value::Number(txn),
                Amf0Value::Null,
                value,
            ];
            self.send_command(csid::COMMAND, 0, &reply);
        }
    }

    fn handle_video(&mut self, msg: &Message) -> Result<(), SessionError> {
        if !self.is_publishing() {
            return Err(SessionError::MediaBeforePublish { what: "video" });
        }
        if msg.payload.is_empty() {
            return Ok(());
        }
        let tag = flv::parse_video(&msg.payload).map_err(|source| SessionError::Media {
            what: "video",
            timestamp: msg.timestamp,
            source,
        })?;
        let dts = self.media.millis(msg.timestamp);
        match tag {
            VideoTag::AvcSequenceHeader(avcc) => match &self.media.configured {
                None => {
                    self.media.avcc = Some(avcc);
                    if self.media.asc.is_some() {
                        self.configure();
                    }
                }
                Some(StreamConfig {
                    video: VideoConfig::H264 { avcc: current },
                    ..
                }) => {
                    if *current != avcc && !self.media.warned_config_change {
                        self.media.warned_config_change = true;
                        warn!("AVC sequence header changed mid-session; the new one is ignored");
                    }
                }
            },
            VideoTag::AvcNalus {
                keyframe,
                cts,
                data,
            } => {
                if self.media.configured.is_none() {
                    if !keyframe || self.media.avcc.is_none() {
                        debug!(
                            keyframe,
                            "video frame before the stream configuration dropped"
                        );
                        return Ok(());
                    }
                    // No AAC header by the first keyframe: video only.
                    self.configure();
                }
                if data.is_empty() {
                    return Ok(());
                }
                self.events.push_back(Event::Frame(EncodedFrame {
                    kind: FrameKind::Video { keyframe },
                    dts: MediaTime::from_millis(dts),
                    pts: MediaTime::from_millis(dts + i64::from(cts)),
                    data,
                }));
            }
            VideoTag::AvcEndOfSequence | VideoTag::Command => {}
        }
        Ok(())
    }

    fn handle_audio(&mut self, msg: &Message) -> Result<(), SessionError> {
        if !self.is_publishing() {
            return Err(SessionError::MediaBeforePublish { what: "audio" });
        }
        if msg.payload.is_empty() {
            return Ok(());
        }
        let tag = flv::parse_audio(&msg.payload).map_err(|source| SessionError::Media {
            what: "audio",
            timestamp: msg.timestamp,
            source,
        })?;
        let dts = self.media.millis(msg.timestamp);
        match tag {
            AudioTag::AacSequenceHeader(asc) => match &self.media.configured {
                None => {
                    self.media.asc = Some(asc);
                    if self.media.avcc.is_some() {
                        self.configure();
                    }
                }
                Some(config) => {
                    let same =
                        matches!(&config.audio, Some(AudioConfig::Aac { asc: a }) if *a == asc);
                    if !same && !self.media.warned_late_audio {
                        self.media.warned_late_audio = true;
                        warn!("AAC sequence header after the stream started (or changed); ignored");
                    }
                }
            },
            AudioTag::AacRaw(data) => {
                if self.media.configured.is_none()
                    && self.media.avcc.is_none()
                    && dts >= AUDIO_ONLY_LIMIT_MS
                {
                    if let State::Publishing { stream_id } = self.state {
                        self.on_status(
                            stream_id,
                            "error",
                            PUBLISH_REJECTED,
                            "No H.264 video: a video track is required.",
                        );
                    }
                    return Err(SessionError::AudioOnly);
                }
                let audio = self
                    .media
                    .configured
                    .as_ref()
                    .and_then(|c| c.audio.as_ref());
                if audio.is_none() || data.is_empty() {
                    debug!("audio frame without an audio configuration dropped");
                    return Ok(());
                }
                self.events.push_back(Event::Frame(EncodedFrame {
                    kind: FrameKind::Audio,
                    dts: MediaTime::from_millis(dts),
                    pts: MediaTime::from_millis(dts),
                    data,
                }));
            }
        }
        Ok(())
    }

    fn configure(&mut self) {
        let Some(avcc) = self.media.avcc.clone() else {
            return;
        };
        let config = StreamConfig {
            video: VideoConfig::H264 { avcc },
            audio: self.media.asc.clone().map(|asc| AudioConfig::Aac { asc }),
        };
        self.media.configured = Some(config.clone());
        self.events.push_back(Event::Configure(config));
    }
}

/// An application name fit for logs: a misconfigured publisher may have put its
/// stream key after the first `/` (`rtmp://host/live/KEY` as the server URL).
fn shown_app(app: &str) -> String {
    let app: String = app.chars().take(256).collect();
    match app.split_once('/') {
        Some((first, rest)) if !rest.is_empty() => format!("{first}/{}", Redacted::new(rest)),
        _ => app,
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
