//! The normalised stream every ingest protocol emits: codec configuration, then
//! timestamped encoded frames. Media time is a 90 kHz clock local to one publish
//! session; wall-clock time appears once, as the session's epoch.

use bytes::Bytes;
use std::time::SystemTime;

/// Ticks of the 90 kHz media clock.
pub const MEDIA_CLOCK_HZ: i64 = 90_000;

/// A point on a publish session's 90 kHz media clock (ticks since the session's first frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MediaTime(pub i64);

impl MediaTime {
    pub const ZERO: MediaTime = MediaTime(0);

    pub fn from_millis(ms: i64) -> Self {
        MediaTime(ms * (MEDIA_CLOCK_HZ / 1000))
    }

    /// Converts from another clock rate (e.g. 48 kHz RTP audio), rounding down.
    pub fn from_rate(ticks: i64, hz: i64) -> Self {
        MediaTime(((ticks as i128 * MEDIA_CLOCK_HZ as i128) / hz as i128) as i64)
    }

    pub fn as_nanos(self) -> i64 {
        ((self.0 as i128 * 1_000_000_000) / MEDIA_CLOCK_HZ as i128) as i64
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MEDIA_CLOCK_HZ as f64
    }
}

/// Video codec configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoConfig {
    /// H.264 with its AVCDecoderConfigurationRecord (ISO 14496-15 `avcC`).
    H264 { avcc: Bytes },
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
/// Video payloads are AVCC: NAL units each prefixed by a 4-byte big-endian length,
/// without parameter sets being required in-band (they are in [`VideoConfig`]).
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

/// Where a session's media clock sits on the wall clock: `MediaTime::ZERO` was
/// captured (received at ingest) at `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionEpoch(pub SystemTime);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_time_conversions() {
        assert_eq!(MediaTime::from_millis(1000).0, 90_000);
        assert_eq!(MediaTime::from_rate(48_000, 48_000).0, 90_000);
        assert_eq!(MediaTime(90_000).as_nanos(), 1_000_000_000);
        assert!((MediaTime(45_000).as_secs_f64() - 0.5).abs() < 1e-9);
    }
}
