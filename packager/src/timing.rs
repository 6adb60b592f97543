//! Frame-grid snapping for sources whose timestamps are rounded to milliseconds
//! (RTMP/FLV). At 30 fps the tenth frame arrives stamped 333 ms instead of 333.33 ms,
//! which would put it into the part that ends at 333.33 ms and make parts of 10 and
//! 11 frames alternate. Snapping every timestamp that sits within 1.5 ms of the
//! frame grid back onto it keeps parts exactly `part duration` long; timestamps that
//! are really off the grid (variable frame rate) are left alone.
//!
//! Snapping needs the frame rate from the SPS: without VUI timing there is no grid and
//! timestamps pass unchanged. Sessions cut on the keyframe grid (WHIP: 90 kHz RTP
//! timestamps, variable frame timing) are not snapped at all (see `pipeline`). Where
//! it applies, snapping never reorders frames: it moves a timestamp to its nearest
//! grid point only, so a later frame never lands before an earlier one.

use amphi_ingest::frame::{MediaDuration, MediaTime};

/// Largest correction applied, in 90 kHz ticks (1.5 ms).
pub const MAX_SNAP_TICKS: i64 = 135;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameGrid {
    /// Frame duration in 90 kHz ticks.
    frame_ticks: f64,
    /// A timestamp on the grid (the session's first video frame): protocols stamp
    /// audio and video from a common zero that need not be a frame boundary.
    origin: MediaTime,
}

impl FrameGrid {
    /// A grid for `fps` frames per second through `origin`; `None` for implausible rates.
    pub fn new(fps: f64, origin: MediaTime) -> Option<FrameGrid> {
        (fps.is_finite() && (1.0..=240.0).contains(&fps)).then(|| FrameGrid {
            frame_ticks: amphi_ingest::frame::MEDIA_CLOCK_HZ as f64 / fps,
            origin,
        })
    }

    pub fn snap(&self, t: MediaTime) -> MediaTime {
        let n = ((t - self.origin).ticks() as f64 / self.frame_ticks).round();
        let snapped =
            self.origin + MediaDuration::from_ticks((n * self.frame_ticks).round() as i64);
        if (snapped - t).ticks().abs() <= MAX_SNAP_TICKS {
            snapped
        } else {
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millisecond_stamps_land_on_the_30_fps_grid() {
        let g = FrameGrid::new(30.0, MediaTime::ZERO).expect("grid");
        for n in 0..300i64 {
            let ms = (n as f64 * 1000.0 / 30.0).round() as i64;
            assert_eq!(
                g.snap(MediaTime::from_millis(ms)),
                MediaTime::from_ticks(n * 3000),
                "frame {n}"
            );
        }
        // Ten frames make exactly one 333,333,333 ns part.
        assert_eq!(g.snap(MediaTime::from_millis(333)).as_nanos(), 333_333_333);
        // Video starting 21 ms after the session's zero (audio came first).
        let g = FrameGrid::new(30.0, MediaTime::from_millis(21)).expect("grid");
        for n in 0..300i64 {
            let ms = 21 + (n as f64 * 1000.0 / 30.0).round() as i64;
            assert_eq!(
                g.snap(MediaTime::from_millis(ms)),
                MediaTime::from_ticks(21 * 90 + n * 3000),
                "frame {n}"
            );
        }
    }

    #[test]
    fn ntsc_rates_and_off_grid_stamps() {
        let g = FrameGrid::new(30_000.0 / 1001.0, MediaTime::ZERO).expect("grid");
        assert_eq!(
            g.snap(MediaTime::from_millis(334)),
            MediaTime::from_ticks(30_030)
        );
        let g = FrameGrid::new(30.0, MediaTime::ZERO).expect("grid");
        // 16 ms is half a frame off: not a rounding artefact, kept as is.
        assert_eq!(
            g.snap(MediaTime::from_millis(16)),
            MediaTime::from_millis(16)
        );
        assert_eq!(FrameGrid::new(0.0, MediaTime::ZERO), None);
        assert_eq!(FrameGrid::new(f64::NAN, MediaTime::ZERO), None);
    }

    #[test]
    fn irregular_stamps_keep_their_order_and_move_at_most_1_5_ms() {
        // Variable frame timing on a 90 kHz clock (a browser's RTP timestamps) against
        // a 30 fps grid an SPS might claim: jittered, with bursts and gaps.
        let g = FrameGrid::new(30.0, MediaTime::from_ticks(1234)).expect("grid");
        let mut seed = 0x9e37_79b9u32;
        let mut t = 1234i64;
        let mut last = i64::MIN;
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            t += 1 + (seed % 9000) as i64;
            let s = g.snap(MediaTime::from_ticks(t)).ticks();
            assert!((s - t).abs() <= MAX_SNAP_TICKS, "{t} moved to {s}");
            assert!(s >= last, "{t} snapped to {s}, before {last}");
            last = s;
        }
    }
}
