//! The normalised stream every ingest protocol emits: codec configuration, then
//! timestamped encoded frames. Media time is a 90 kHz clock local to one publish
//! session; wall-clock time appears once, as the session's epoch.

use bytes::Bytes;

pub use amphi_time::{MediaDuration, MediaTime, ProgramTime, WallTime, MEDIA_CLOCK_HZ};

/// Video codec configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoConfig {
    /// H.264 with its AVCDecoderConfigurationRecord (ISO 14496-15 `avcC`).
    H264 { avcc: Bytes },
    /// H.265 with its HEVCDecoderConfigurationRecord (ISO 14496-15 `hvcC`), as
    /// Enhanced RTMP carries it (FourCC `hvc1`).
    H265 { hvcc: Bytes },
    /// AV1 with its AV1CodecConfigurationRecord (`av1C`, holding the sequence header
    /// OBU), as Enhanced RTMP carries it (FourCC `av01`).
    Av1 { av1c: Bytes },
}

impl VideoConfig {
    /// The H.264 configuration record, if the source is H.264.
    pub fn avcc(&self) -> Option<&Bytes> {
        match self {
            VideoConfig::H264 { avcc } => Some(avcc),
            _ => None,
        }
    }

    /// The codec's name for logs and refusals (`h264`, `h265`, `av1`).
    pub fn codec_name(&self) -> &'static str {
        match self {
            VideoConfig::H264 { .. } => "h264",
            VideoConfig::H265 { .. } => "h265",
            VideoConfig::Av1 { .. } => "av1",
        }
    }
}

/// Audio codec configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioConfig {
    /// AAC with its AudioSpecificConfig (ISO 14496-3).
    Aac { asc: Bytes },
    /// Opus (as WebRTC carries it), 48 kHz.
    Opus { channels: u8 },
}

/// What a publish session carries, known before its first video keyframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamConfig {
    pub video: VideoConfig,
    pub audio: Option<AudioConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Video { keyframe: bool },
    Audio,
}

/// One encoded access unit.
///
/// H.264 and H.265 video payloads are NAL units each prefixed by a 4-byte big-endian
/// length, without parameter sets being required in-band (they are in
/// [`VideoConfig`]); AV1 payloads are one temporal unit of OBUs in the low-overhead
/// format (each with its size field), as in an MP4 sample.
/// AAC payloads are raw frames (no ADTS header); Opus payloads are raw packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    pub kind: FrameKind,
    pub dts: MediaTime,
    pub pts: MediaTime,
    pub data: Bytes,
}

/// Messages of one publish session, in order: exactly one `Config` first, then frames.
/// The channel closing means the publisher went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionMessage {
    Config(StreamConfig),
    Frame(EncodedFrame),
}

/// Where a session's media clock sits on the program clock: `MediaTime::ZERO` was
/// captured (received at ingest) at program time `zero`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEpoch {
    zero: ProgramTime,
}

impl SessionEpoch {
    /// A session whose media time zero was captured at `zero`.
    pub const fn new(zero: ProgramTime) -> Self {
        SessionEpoch { zero }
    }

    /// The epoch of a session whose frame at media time `at` was received at `now`.
    pub fn received(at: MediaTime, now: WallTime) -> Self {
        let since_zero = at.since_zero().to_std().unwrap_or_default();
        SessionEpoch::new(ProgramTime::captured_at(now) - since_zero)
    }

    /// The program time of media time zero.
    pub const fn zero(self) -> ProgramTime {
        self.zero
    }

    /// The program time of media `offset` after media time zero.
    pub fn program_time(self, offset: std::time::Duration) -> ProgramTime {
        self.zero + offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_is_the_program_time_of_media_time_zero() {
        let now = WallTime::from_unix_millis(10_000);
        let e = SessionEpoch::received(MediaTime::from_millis(2_500), now);
        assert_eq!(e.zero(), ProgramTime::from_unix_millis(7_500));
        assert_eq!(
            e.program_time(std::time::Duration::from_millis(2_500)),
            ProgramTime::captured_at(now)
        );
        // A frame before zero (a B-frame's decode time) does not move the epoch later.
        let e = SessionEpoch::received(MediaTime::from_millis(-40), now);
        assert_eq!(e.zero(), ProgramTime::captured_at(now));
    }
}
