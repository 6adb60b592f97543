//! Bounds on what a source may send, checked by the hub for every protocol before the
//! packager sees anything: picture size (from the SPS), frame rate and bitrate
//! (measured on the source's own media clock, so a publisher sending faster than real
//! time is judged by what it encodes, not by how fast it sends), and timestamps that
//! stop advancing while frames keep coming.
//!
//! Sans-IO: [`SourceGuard`] takes frames and the wall-clock `now` and answers whether
//! the source stays within [`SourceLimits`].

use crate::codec;
use crate::frame::{EncodedFrame, FrameKind, MediaDuration, MediaTime, StreamConfig};
use std::fmt;
use std::time::{Duration, Instant};

/// Default largest picture: 1920×1080 (either orientation).
pub const DEFAULT_MAX_WIDTH: u32 = 1920;
pub const DEFAULT_MAX_HEIGHT: u32 = 1080;
/// Default highest frame rate.
pub const DEFAULT_MAX_FPS: u32 = 60;
/// Default bitrate ceiling (audio and video), in bits per second.
pub const DEFAULT_MAX_BITRATE: u64 = 20_000_000;
/// Media time over which the frame rate and the bitrate are measured.
pub const MEASURE_WINDOW: MediaDuration =
    MediaDuration::from_ticks(3 * crate::frame::MEDIA_CLOCK_HZ);
/// Wall time after which a source whose timestamps stopped advancing is refused.
pub const FROZEN_AFTER: Duration = Duration::from_secs(5);

/// What a source may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    /// Largest width and height; a portrait picture may swap them.
    pub max_width: u32,
    pub max_height: u32,
    pub max_fps: u32,
    /// Bits per second, audio and video together.
    pub max_bitrate: u64,
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            max_width: DEFAULT_MAX_WIDTH,
            max_height: DEFAULT_MAX_HEIGHT,
            max_fps: DEFAULT_MAX_FPS,
            max_bitrate: DEFAULT_MAX_BITRATE,
        }
    }
}

impl SourceLimits {
    fn fits(&self, width: u32, height: u32) -> bool {
        let (long, short) = (width.max(height), width.min(height));
        long <= self.max_width.max(self.max_height) && short <= self.max_width.min(self.max_height)
    }
}

/// Why a source is refused; shown in logs and, where the protocol allows, to the peer.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceRefusal {
    #[error("picture {width}x{height} exceeds the {max_width}x{max_height} limit")]
    TooLarge {
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
    },
    #[error("unreadable H.264 configuration: {0}")]
    BadConfig(codec::CodecError),
    #[error("{fps:.1} frames per second exceeds the {max} fps limit")]
    FrameRate { fps: f64, max: u32 },
    #[error("{} kb/s exceeds the {} kb/s limit", .bitrate / 1000, .max / 1000)]
    Bitrate { bitrate: u64, max: u64 },
    #[error("timestamps frozen at {at:.3} s for {} s while frames keep arriving", .stalled.as_secs())]
    FrozenTimestamps { at: f64, stalled: Duration },
}

/// One tumbling measurement window on the media clock.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: MediaTime,
    bytes: u64,
    video_frames: u64,
}

/// Checks one publish session against [`SourceLimits`].
#[derive(Debug)]
pub struct SourceGuard {
    limits: SourceLimits,
    window: Option<Window>,
    /// Highest decode time seen, and when (wall clock) it last went up.
    newest: Option<(MediaTime, Instant)>,
}

impl SourceGuard {
    pub fn new(limits: SourceLimits) -> Self {
        SourceGuard {
            limits,
            window: None,
            newest: None,
        }
    }

    /// Checks the stream configuration (the picture size in the SPS).
    pub fn check_config(&self, config: &StreamConfig) -> Result<(), SourceRefusal> {
        let info = codec::video_info(&config.video).map_err(SourceRefusal::BadConfig)?;
        if !self.limits.fits(info.width, info.height) {
            return Err(SourceRefusal::TooLarge {
                width: info.width,
                height: info.height,
                max_width: self.limits.max_width,
                max_height: self.limits.max_height,
            });
        }
        Ok(())
    }

    /// Accounts one frame received at `now`.
    pub fn on_frame(&mut self, now: Instant, frame: &EncodedFrame) -> Result<(), SourceRefusal> {
        let dts = frame.dts;
        match self.newest {
            Some((newest, since)) if dts <= newest => {
                let stalled = now.saturating_duration_since(since);
                if stalled >= FROZEN_AFTER {
                    return Err(SourceRefusal::FrozenTimestamps {
                        at: newest.as_secs_f64(),
                        stalled,
                    });
                }
            }
            _ => self.newest = Some((dts, now)),
        }
        let video = u64::from(matches!(frame.kind, FrameKind::Video { .. }));
        let bytes = frame.data.len() as u64;
        let w = self.window.get_or_insert(Window {
            start: dts,
            bytes: 0,
            video_frames: 0,
        });
        let span = dts - w.start;
        if span.is_negative() {
            // Timestamps went back (a publisher's clock reset): measure afresh.
            *w = Window {
                start: dts,
                bytes,
                video_frames: video,
            };
            return Ok(());
        }
        if span >= MEASURE_WINDOW {
            let secs = span.as_secs_f64();
            let bitrate = (w.bytes as f64 * 8.0 / secs) as u64;
            let fps = w.video_frames as f64 / secs;
            *w = Window {
                start: dts,
                bytes: 0,
                video_frames: 0,
            };
            if bitrate > self.limits.max_bitrate {
                return Err(SourceRefusal::Bitrate {
                    bitrate,
                    max: self.limits.max_bitrate,
                });
            }
            // A little tolerance for timestamp rounding at the window's edges.
            if fps > f64::from(self.limits.max_fps) * 1.05 + 0.5 {
                return Err(SourceRefusal::FrameRate {
                    fps,
                    max: self.limits.max_fps,
                });
            }
        }
        w.bytes += bytes;
        w.video_frames += video;
        Ok(())
    }
}

impl fmt::Display for SourceLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{} at {} fps, {} kb/s",
            self.max_width,
            self.max_height,
            self.max_fps,
            self.max_bitrate / 1000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::VideoConfig;
    use bytes::Bytes;

    // SPS of a 1920x1080 High 4.0 stream from ffmpeg's libx264.
    const SPS_1080P: [u8; 27] = [
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58,
    ];

    fn config(sps: &[u8]) -> StreamConfig {
        let mut avcc = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1, 0, sps.len() as u8];
        avcc.extend_from_slice(sps);
        avcc.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
        StreamConfig {
            video: VideoConfig::H264 {
                avcc: Bytes::from(avcc),
            },
            audio: None,
        }
    }

    fn video(ms: i64, len: usize) -> EncodedFrame {
        EncodedFrame {
            kind: FrameKind::Video { keyframe: false },
            dts: MediaTime::from_millis(ms),
            pts: MediaTime::from_millis(ms),
            data: Bytes::from(vec![0u8; len]),
        }
    }

    #[test]
    fn picture_size_is_bounded_in_either_orientation() {
        let g = SourceGuard::new(SourceLimits::default());
        assert_eq!(g.check_config(&config(&SPS_1080P)), Ok(()));
        let small = SourceGuard::new(SourceLimits {
            max_width: 1280,
            max_height: 720,
            ..SourceLimits::default()
        });
        let refused = small.check_config(&config(&SPS_1080P));
        assert!(
            matches!(
                refused,
                Err(SourceRefusal::TooLarge {
                    width: 1920,
                    height: 1080,
                    ..
                })
            ),
            "{refused:?}"
        );
        assert!(refused
            .expect_err("refused")
            .to_string()
            .contains("1920x1080 exceeds the 1280x720 limit"));
        let limits = SourceLimits::default();
        assert!(limits.fits(1080, 1920), "portrait 1080p fits");
        assert!(!limits.fits(2560, 1440));
        assert!(!limits.fits(16384, 8192));
        let garbage = StreamConfig {
            video: VideoConfig::H264 {
                avcc: Bytes::from_static(b"\x01\x64"),
            },
            audio: None,
        };
        assert!(matches!(
            g.check_config(&garbage),
            Err(SourceRefusal::BadConfig(_))
        ));
    }

    #[test]
    fn frame_rate_and_bitrate_are_measured_on_media_time() {
        let t0 = Instant::now();
        // 30 fps at 4 Mb/s, delivered ten times faster than real time: accepted.
        let mut g = SourceGuard::new(SourceLimits::default());
        for i in 0..300i64 {
            let now = t0 + Duration::from_micros(i as u64 * 3_333);
            g.on_frame(now, &video(i * 1000 / 30, 16_666))
                .expect("a 30 fps 4 Mb/s source fits");
        }
        // 120 fps: refused once a window is measured.
        let mut g = SourceGuard::new(SourceLimits::default());
        let refused = (0..1000i64)
            .map(|i| g.on_frame(t0, &video(i * 1000 / 120, 100)))
            .find_map(Result::err);
        assert!(
            matches!(refused, Some(SourceRefusal::FrameRate { max: 60, .. })),
            "{refused:?}"
        );
        // 40 Mb/s at 30 fps: refused.
        let mut g = SourceGuard::new(SourceLimits::default());
        let refused = (0..1000i64)
            .map(|i| g.on_frame(t0, &video(i * 1000 / 30, 166_666)))
            .find_map(Result::err);
        assert!(
            matches!(refused, Some(SourceRefusal::Bitrate { .. })),
            "{refused:?}"
        );
    }

    #[test]
    fn frozen_timestamps_are_refused_after_a_while() {
        let t0 = Instant::now();
        let mut g = SourceGuard::new(SourceLimits::default());
        g.on_frame(t0, &video(1000, 10)).expect("first frame");
        for s in 1..5u64 {
            g.on_frame(t0 + Duration::from_secs(s), &video(1000, 10))
                .expect("frozen for less than the limit");
        }
        let refused = g.on_frame(t0 + FROZEN_AFTER, &video(1000, 10));
        assert!(
            matches!(refused, Err(SourceRefusal::FrozenTimestamps { .. })),
            "{refused:?}"
        );
        // Advancing timestamps reset the clock.
        let mut g = SourceGuard::new(SourceLimits::default());
        for s in 0..20u64 {
            g.on_frame(t0 + Duration::from_secs(s), &video(s as i64 * 1000, 10))
                .expect("advancing");
        }
    }
}
