//! The program of a transport stream turned into Amphi's normalised session: one
//! [`StreamConfig`] (from the first keyframe's SPS/PPS and the first ADTS header), then
//! [`EncodedFrame`]s on the session's 90 kHz clock. Sans-IO: [`TsEvent`]s in,
//! [`SessionMessage`]s out.
//!
//! Timestamps: MPEG-TS PTS/DTS are 33-bit on a 90 kHz clock (the media clock's own
//! rate); they are unwrapped and counted from the first keyframe's DTS. Frames before
//! that keyframe are dropped. While the PMT lists an AAC stream whose first frame has
//! not come yet, frames wait (at most [`MAX_PENDING`] of them, [`AUDIO_WAIT`] of media
//! time); then the session starts without audio.

use super::adts;
use super::ts::{self, EsInfo, Pes, TsEvent};
use crate::frame::{AudioConfig, EncodedFrame, FrameKind, MediaTime, SessionMessage};
use crate::frame::{StreamConfig, VideoConfig};
use crate::whip::h264;
use bytes::Bytes;
use std::collections::VecDeque;

/// Frames held while waiting for the audio configuration.
pub const MAX_PENDING: usize = 256;
/// Media time after the first keyframe the audio configuration is waited for.
pub const AUDIO_WAIT: MediaTime = MediaTime::from_ticks(crate::frame::MEDIA_CLOCK_HZ);
const WRAP: i64 = 1 << 33;

/// Why a stream cannot be ingested; shown in logs.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("HEVC video (stream type 0x24) is not supported over SRT yet: send H.264")]
    Hevc,
    #[error("video stream type {0:#04x} is not supported: send H.264")]
    UnsupportedVideo(u8),
    #[error("the program has no video stream (audio-only sources are not accepted)")]
    NoVideo,
    #[error("PES packet at byte {at}: H.264: {error}")]
    H264 { at: u64, error: h264::H264Error },
}

/// Unwraps 33-bit timestamps into a continuous count of 90 kHz ticks.
#[derive(Debug, Default)]
struct Unwrapper {
    last: Option<i64>,
}

impl Unwrapper {
    fn unwrap(&mut self, raw: u64) -> i64 {
        let raw = (raw & (WRAP as u64 - 1)) as i64;
        let ext = match self.last {
            None => raw,
            Some(last) => {
                let mut delta = (raw - last.rem_euclid(WRAP)).rem_euclid(WRAP);
                if delta >= WRAP / 2 {
                    delta -= WRAP;
                }
                last + delta
            }
        };
        self.last = Some(ext);
        ext
    }
}

#[derive(Debug, Default)]
pub struct MediaAssembler {
    video: Option<EsInfo>,
    audio: Option<EsInfo>,
    ignored: Vec<EsInfo>,
    clock: Unwrapper,
    /// Unwrapped DTS of the first keyframe: media time zero.
    base: Option<i64>,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
    asc: Option<Bytes>,
    configured: bool,
    pending: VecDeque<EncodedFrame>,
    out: VecDeque<SessionMessage>,
    /// Audio PES packets whose ADTS framing could not be read.
    bad_audio: u64,
}

impl MediaAssembler {
    pub fn new() -> Self {
        MediaAssembler::default()
    }

    /// Streams of the program that are not ingested (other audio codecs, data).
    pub fn ignored_streams(&self) -> &[EsInfo] {
        &self.ignored
    }

    /// Audio PES packets dropped because their ADTS framing was unreadable.
    pub fn bad_audio_packets(&self) -> u64 {
        self.bad_audio
    }

    pub fn handle_event(&mut self, event: TsEvent) -> Result<(), MediaError> {
        match event {
            TsEvent::Program(streams) => self.on_program(&streams),
            TsEvent::Pes(pes) => self.on_pes(pes),
            TsEvent::Dropped { .. } => Ok(()),
        }
    }

    pub fn poll_message(&mut self) -> Option<SessionMessage> {
        self.out.pop_front()
    }

    fn on_program(&mut self, streams: &[EsInfo]) -> Result<(), MediaError> {
        let video = streams.iter().find(|s| is_video(s.stream_type));
        let video = match video {
            None => return Err(MediaError::NoVideo),
            Some(v) if v.stream_type == ts::STREAM_HEVC => return Err(MediaError::Hevc),
            Some(v) if v.stream_type != ts::STREAM_H264 => {
                return Err(MediaError::UnsupportedVideo(v.stream_type))
            }
            Some(v) => *v,
        };
        let audio = streams
            .iter()
            .find(|s| s.stream_type == ts::STREAM_AAC_ADTS)
            .copied();
        if self.configured && (Some(video) != self.video || audio != self.audio) {
            // A changed program mid-session keeps the configured streams' PIDs only
            // if they are still there; anything else starts media time afresh.
            tracing::debug!(?streams, "program changed while publishing");
        }
        self.ignored = streams
            .iter()
            .filter(|s| s.pid != video.pid && Some(s.pid) != audio.map(|a| a.pid))
            .copied()
            .collect();
        self.video = Some(video);
        self.audio = audio;
        Ok(())
    }

    fn on_pes(&mut self, pes: Pes) -> Result<(), MediaError> {
        let Some(pts) = pes.pts else {
            return Ok(());
        };
        let pts = self.clock.unwrap(pts);
        let dts = pes.dts.map(|d| self.clock.unwrap(d)).unwrap_or(pts);
        if self.video.is_some_and(|v| v.pid == pes.pid) {
            self.on_video(pes, pts, dts)
        } else if self.audio.is_some_and(|a| a.pid == pes.pid) {
            self.on_audio(pes, pts);
            Ok(())
        } else {
            Ok(())
        }
    }

    fn on_video(&mut self, pes: Pes, pts: i64, dts: i64) -> Result<(), MediaError> {
        let au = h264::annex_b_to_avcc(&pes.data)
            .map_err(|error| MediaError::H264 { at: pes.at, error })?;
        if au.keyframe {
            if let (Some(sps), Some(pps)) = (&au.sps, &au.pps) {
                if self.sps.is_none() {
                    self.sps = Some(sps.clone());
                    self.pps = Some(pps.clone());
                }
            }
        }
        if self.base.is_none() {
            if !au.keyframe || self.sps.is_none() {
                return Ok(());
            }
            self.base = Some(dts);
        }
        let frame = EncodedFrame {
            kind: FrameKind::Video {
                keyframe: au.keyframe,
            },
            dts: self.media_time(dts),
            pts: self.media_time(pts),
            data: au.avcc,
        };
        self.push(frame)
    }

    fn on_audio(&mut self, pes: Pes, pts: i64) {
        if self.base.is_none() || (self.configured && self.asc.is_none()) {
            return;
        }
        let frames = match adts::split(&pes.data) {
            Ok(f) => f,
            Err(e) => {
                self.bad_audio += 1;
                tracing::debug!(at = pes.at, "audio PES dropped: {e}");
                return;
            }
        };
        for (k, (header, data)) in frames.into_iter().enumerate() {
            if self.asc.is_none() {
                self.asc = Some(header.audio_specific_config());
            }
            let offset = k as i64 * adts::SAMPLES_PER_FRAME * crate::frame::MEDIA_CLOCK_HZ
                / i64::from(header.sample_rate());
            let t = self.media_time(pts + offset);
            if t < MediaTime::ZERO {
                continue;
            }
            let frame = EncodedFrame {
                kind: FrameKind::Audio,
                dts: t,
                pts: t,
                data,
            };
            // Errors come from video only.
            let _ = self.push(frame);
        }
    }

    fn media_time(&self, ticks: i64) -> MediaTime {
        MediaTime::from_ticks(ticks - self.base.unwrap_or(ticks))
    }

    fn push(&mut self, frame: EncodedFrame) -> Result<(), MediaError> {
        if self.configured {
            self.out.push_back(SessionMessage::Frame(frame));
            return Ok(());
        }
        let waited = frame.dts >= AUDIO_WAIT || self.pending.len() >= MAX_PENDING;
        self.pending.push_back(frame);
        if self.audio.is_none() || self.asc.is_some() || waited {
            self.configure();
        }
        Ok(())
    }

    fn configure(&mut self) {
        let (Some(sps), Some(pps)) = (&self.sps, &self.pps) else {
            return;
        };
        let Ok(avcc) = h264::build_avcc(sps, pps) else {
            // Unusable parameter sets: wait for a keyframe with better ones.
            self.sps = None;
            self.pps = None;
            self.base = None;
            self.pending.clear();
            return;
        };
        let audio = self.asc.clone().map(|asc| AudioConfig::Aac { asc });
        self.out.push_back(SessionMessage::Config(StreamConfig {
            video: VideoConfig::H264 { avcc },
            audio,
        }));
        self.configured = true;
        let has_audio = self.asc.is_some();
        for f in self.pending.drain(..) {
            if has_audio || !matches!(f.kind, FrameKind::Audio) {
                self.out.push_back(SessionMessage::Frame(f));
            }
        }
    }
}

fn is_video(stream_type: u8) -> bool {
    matches!(
        stream_type,
        ts::STREAM_MPEG1_VIDEO
            | ts::STREAM_MPEG2_VIDEO
            | ts::STREAM_MPEG4_VIDEO
            | ts::STREAM_H264
            | ts::STREAM_HEVC
            | 0x20 // MVC
            | 0x21 // JPEG 2000
            | 0x42 // AVS
            | 0xea // VC-1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_unwrap_across_the_33_bit_wrap() {
        let mut u = Unwrapper::default();
        let near = (WRAP - 3000) as u64;
        assert_eq!(u.unwrap(near), WRAP - 3000);
        assert_eq!(u.unwrap(1000), WRAP + 1000);
        // A slightly older timestamp (audio interleaved behind video) goes back a little.
        assert_eq!(u.unwrap((WRAP - 100) as u64), WRAP - 100);
        assert_eq!(u.unwrap(5000), WRAP + 5000);
    }
}
