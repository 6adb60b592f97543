//! One WHIP publish session, sans-IO: a str0m [`Rtc`] plus what turns its depacketized
//! media into Amphi's [`SessionMessage`]s.
//!
//! Datagrams and time go in ([`WhipSession::handle_input`], [`WhipSession::handle_timeout`]);
//! [`WhipSession::poll_output`] returns datagrams to send, session messages (one
//! `Config`, then frames), the next time it needs to be woken, and finally why it ended.
//!
//! Invariants: nothing is emitted before the first complete H.264 keyframe with SPS and
//! PPS; after a lost or incomplete video frame, video resumes only at a keyframe;
//! keyframe requests (PLI, else FIR) are at least [`PLI_INTERVAL`] apart.

use super::h264::{annex_b_to_avcc, build_avcc};
use super::timing::{SessionClock, Track};
use crate::frame::{
    AudioConfig, EncodedFrame, FrameKind, SessionMessage, StreamConfig, VideoConfig,
};
use bytes::Bytes;
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::media::{KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::net::{Protocol as NetProtocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tracing::debug;

/// A session that receives no media for this long is over (a publisher that vanished
/// without DELETE; also bounds the time to connect after the answer).
pub const MEDIA_TIMEOUT: Duration = Duration::from_secs(10);
/// Minimum spacing of keyframe requests.
pub const PLI_INTERVAL: Duration = Duration::from_millis(500);
/// How far out the session asks to be woken when nothing else is due.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The publisher sent DELETE.
    Deleted,
    /// ICE lost the peer.
    IceDisconnected,
    /// No media for [`MEDIA_TIMEOUT`].
    NoMedia,
    /// The packager side of the session is gone.
    PackagerGone,
    /// str0m stopped the connection.
    Rtc(String),
    /// The server stopped the session (taken over by another publisher, source
    /// beyond limits).
    Stopped(String),
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::Deleted => f.write_str("publisher sent DELETE"),
            EndReason::IceDisconnected => f.write_str("ICE disconnected"),
            EndReason::NoMedia => write!(f, "no media for {} s", MEDIA_TIMEOUT.as_secs()),
            EndReason::PackagerGone => f.write_str("the packager closed the session"),
            EndReason::Rtc(e) => write!(f, "WebRTC error: {e}"),
            EndReason::Stopped(why) => write!(f, "stopped: {why}"),
        }
    }
}

/// What the session asks its driver to do next.
#[derive(Debug)]
pub enum SessionOutput {
    /// Send `data` to `destination` from the shared UDP socket.
    Transmit {
        destination: SocketAddr,
        data: Vec<u8>,
    },
    /// Hand a message to the hub publisher.
    Message(SessionMessage),
    /// Nothing more until this time (or a datagram).
    Timeout(Instant),
    /// The session is over; drop it.
    Ended(EndReason),
}

/// A WebRTC publish session.
pub struct WhipSession {
    rtc: Rtc,
    /// Our announced host candidate: the destination of every datagram we accept.
    local: SocketAddr,
    opus_channels: Option<u8>,
    video_mid: Option<Mid>,
    audio_mid: Option<Mid>,
    clock: SessionClock,
    config_sent: bool,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
    waiting_keyframe: bool,
    last_pli: Option<Instant>,
    last_media: Instant,
    pending: VecDeque<SessionOutput>,
    ended: Option<EndReason>,
    end_reported: bool,
    frames_out: u64,
}

/// A session created from an offer, and the SDP answer to send back.
pub struct Accepted {
    pub session: WhipSession,
    pub answer: String,
}

impl WhipSession {
    /// Accepts an SDP offer (already checked by [`super::signal::inspect_offer`]) with
    /// one local host candidate; H.264 and Opus are the only codecs answered.
    pub fn accept(
        offer: &str,
        opus_channels: Option<u8>,
        local: SocketAddr,
        now: Instant,
    ) -> Result<Accepted, String> {
        let offer = str0m::change::SdpOffer::from_sdp_string(offer).map_err(|e| e.to_string())?;
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true)
            .build();
        let candidate = Candidate::host(local, "udp").map_err(|e| e.to_string())?;
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| e.to_string())?
            .to_sdp_string();
        Ok(Accepted {
            session: WhipSession {
                rtc,
                local,
                opus_channels,
                video_mid: None,
                audio_mid: None,
                clock: SessionClock::new(),
                config_sent: false,
                sps: None,
                pps: None,
                waiting_keyframe: true,
                last_pli: None,
                last_media: now,
                pending: VecDeque::new(),
                ended: None,
                end_reported: false,
                frames_out: 0,
            },
            answer,
        })
    }

    /// Whether a datagram from `source` belongs to this session (ICE credentials or a
    /// known peer address).
    pub fn accepts(&self, now: Instant, source: SocketAddr, data: &[u8]) -> bool {
        match self.input(now, source, data) {
            Some(input) => self.rtc.accepts(&input),
            None => false,
        }
    }

    /// Feeds one datagram received at `now`.
    pub fn handle_input(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        let Some(input) = self.input(now, source, data) else {
            return;
        };
        // A panic inside the WebRTC stack on hostile input ends this session only,
        // never the driver that serves every other session (`Rtc` is unwind safe).
        let rtc = &mut self.rtc;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rtc.handle_input(input))) {
            Ok(Ok(())) => {}
            // One bad packet does not end a session; a dead Rtc does (see poll_output).
            Ok(Err(e)) => debug!(error = %e, "datagram refused"),
            Err(_) => self.end(EndReason::Rtc(
                "internal error on a received datagram".into(),
            )),
        }
    }

    /// Advances time without network input.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            debug!(error = %e, "timeout handling failed");
        }
        if now.saturating_duration_since(self.last_media) >= MEDIA_TIMEOUT {
            self.end(EndReason::NoMedia);
        }
        self.request_keyframe_if_due(now);
    }

    /// Ends the session (DELETE, or the packager went away).
    pub fn end(&mut self, reason: EndReason) {
        if self.ended.is_none() {
            self.ended = Some(reason);
        }
        self.rtc.disconnect();
    }

    /// The packager could not take a frame: skip video until the next keyframe.
    pub fn frame_dropped(&mut self, now: Instant) {
        if self.config_sent && !self.waiting_keyframe {
            debug!("frame dropped (packager busy); waiting for a keyframe");
            self.waiting_keyframe = true;
            self.request_keyframe_if_due(now);
        }
    }

    /// Frames emitted so far.
    pub fn frames_out(&self) -> u64 {
        self.frames_out
    }

    /// Next thing to do. Call until it returns `Timeout` or `Ended`.
    pub fn poll_output(&mut self, now: Instant) -> SessionOutput {
        loop {
            if let Some(out) = self.pending.pop_front() {
                return out;
            }
            if let Some(reason) = &self.ended {
                self.end_reported = true;
                return SessionOutput::Ended(reason.clone());
            }
            if !self.rtc.is_alive() {
                self.ended = Some(EndReason::Rtc("connection closed".into()));
                continue;
            }
            match self.rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    return SessionOutput::Transmit {
                        destination: t.destination,
                        data: t.contents.into(),
                    }
                }
                Ok(Output::Event(e)) => self.on_event(now, e),
                Ok(Output::Timeout(t)) => return SessionOutput::Timeout(self.next_wake(now, t)),
                Err(e) => self.end(EndReason::Rtc(e.to_string())),
            }
        }
    }

    /// Whether [`SessionOutput::Ended`] has been returned.
    pub fn is_over(&self) -> bool {
        self.end_reported
    }

    fn input<'a>(&self, now: Instant, source: SocketAddr, data: &'a [u8]) -> Option<Input<'a>> {
        if is_truncated_rtcp(data) {
            return None;
        }
        let receive = Receive::new(NetProtocol::Udp, source, self.local, data).ok()?;
        Some(Input::Receive(now, receive))
    }

    fn next_wake(&self, now: Instant, rtc: Instant) -> Instant {
        let mut t = rtc
            .min(now + IDLE_WAKE)
            .min(self.last_media + MEDIA_TIMEOUT);
        if self.waiting_keyframe {
            if let Some(last) = self.last_pli {
                t = t.min(last + PLI_INTERVAL);
            }
        }
        t
    }

    fn on_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Connected => debug!("WebRTC connected"),
            Event::IceConnectionStateChange(state) => {
                debug!(?state, "ICE state");
                if state == IceConnectionState::Disconnected {
                    self.end(EndReason::IceDisconnected);
                }
            }
            Event::MediaAdded(m) => match m.kind {
                MediaKind::Video if self.video_mid.is_none() => self.video_mid = Some(m.mid),
                MediaKind::Audio if self.audio_mid.is_none() => self.audio_mid = Some(m.mid),
                _ => debug!(mid = %m.mid, "extra media section ignored"),
            },
            Event::MediaData(data) => {
                if Some(data.mid) == self.video_mid {
                    self.on_video(now, data);
                } else if Some(data.mid) == self.audio_mid {
                    self.on_audio(data);
                }
            }
            _ => {}
        }
    }

    fn on_video(&mut self, now: Instant, data: MediaData) {
        self.last_media = now;
        let au = match annex_b_to_avcc(&data.data) {
            Ok(au) => au,
            Err(e) => {
                debug!(error = %e, "unusable video frame");
                self.waiting_keyframe = true;
                self.request_keyframe_if_due(now);
                return;
            }
        };
        if let Some(sps) = &au.sps {
            self.sps = Some(sps.clone());
        }
        if let Some(pps) = &au.pps {
            self.pps = Some(pps.clone());
        }
        if !data.contiguous && !au.keyframe {
            if !self.waiting_keyframe {
                debug!("video frame lost or incomplete; waiting for a keyframe");
            }
            self.waiting_keyframe = true;
        }
        if self.waiting_keyframe && !au.keyframe {
            self.request_keyframe_if_due(now);
            return;
        }
        if !self.config_sent {
            let (Some(sps), Some(pps)) = (&self.sps, &self.pps) else {
                debug!("keyframe without SPS/PPS; asking for another");
                self.request_keyframe_if_due(now);
                return;
            };
            let avcc = match build_avcc(sps, pps) {
                Ok(avcc) => avcc,
                Err(e) => {
                    debug!(error = %e, "cannot build avcC");
                    self.request_keyframe_if_due(now);
                    return;
                }
            };
            let config = StreamConfig {
                video: VideoConfig::H264 { avcc },
                audio: self
                    .audio_mid
                    .and(self.opus_channels)
                    .map(|channels| AudioConfig::Opus { channels }),
            };
            self.pending
                .push_back(SessionOutput::Message(SessionMessage::Config(config)));
            self.config_sent = true;
        }
        self.waiting_keyframe = false;
        let time = data.time;
        let pts = self
            .clock
            .map(Track::Video, time.numer(), time.denom(), data.network_time);
        self.emit(EncodedFrame {
            kind: FrameKind::Video {
                keyframe: au.keyframe,
            },
            dts: pts,
            pts,
            data: au.avcc,
        });
    }

    fn on_audio(&mut self, data: MediaData) {
        // Audio before the first keyframe has nothing to line up with: dropped.
        if !self.config_sent || data.data.is_empty() {
            return;
        }
        let time = data.time;
        let pts = self
            .clock
            .map(Track::Audio, time.numer(), time.denom(), data.network_time);
        self.emit(EncodedFrame {
            kind: FrameKind::Audio,
            dts: pts,
            pts,
            data: Bytes::from(data.data),
        });
    }

    fn emit(&mut self, frame: EncodedFrame) {
        self.frames_out += 1;
        self.pending
            .push_back(SessionOutput::Message(SessionMessage::Frame(frame)));
    }

    fn request_keyframe_if_due(&mut self, now: Instant) {
        if !self.waiting_keyframe || self.ended.is_some() {
            return;
        }
        let Some(mid) = self.video_mid else { return };
        if matches!(self.last_pli, Some(t) if now.saturating_duration_since(t) < PLI_INTERVAL) {
            return;
        }
        self.last_pli = Some(now);
        let Some(mut writer) = self.rtc.writer(mid) else {
            return;
        };
        let kind = if writer.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
            KeyframeRequestKind::Pli
        } else {
            KeyframeRequestKind::Fir
        };
        match writer.request_keyframe(None, kind) {
            Ok(()) => debug!(?kind, "keyframe requested"),
            // Before the first video packet there is no stream to ask yet.
            Err(e) => debug!(error = %e, "keyframe request not sent"),
        }
    }
}

/// SRTCP shorter than a header, an index and an AES-GCM tag carries nothing and trips
/// str0m 0.9's SRTCP decryption (a slice out of range): such datagrams never reach it.
fn is_truncated_rtcp(data: &[u8]) -> bool {
    const MIN_SRTCP: usize = 8 + 4 + 16;
    // RFC 7983: RTP/RTCP start with 128..=191; str0m takes a payload type byte (marker
    // bit masked) of 64..=95 as RTCP (RFC 5761 packet types 192..=223).
    matches!(data, [128..=191, b1, ..] if (64..=95).contains(&(b1 & 0x7f)))
        && data.len() < MIN_SRTCP
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
