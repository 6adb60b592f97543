//! Puts a camera's RTP timestamps on one publish session's 90 kHz media clock.
//!
//! Each RTSP stream has its own clock rate (90 kHz video, 48 kHz audio, …) and counts
//! from its own `RTP-Info` start; retina gives each frame's time since that start
//! (normal play time), which is common to all streams of one `PLAY`. The session's
//! [`MediaTime::ZERO`] is the first video keyframe: nothing before it is sent (a
//! decoder could not use it), and later audio that would land before zero is dropped.
//!
//! RTP carries presentation times only. Cameras send no B-frames, so the decode time
//! is the presentation time, nudged forward by one tick if a camera repeats a
//! timestamp so the packager always sees increasing decode times.

use crate::frame::MediaTime;

/// Where a frame lands on the session clock, or why it is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Send with these times.
    At { dts: MediaTime, pts: MediaTime },
    /// Before the first keyframe, or audio from before zero or out of order.
    Skip,
}

/// Per publish session: the clock's zero and the last times sent on each stream.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// Session zero in 90 kHz ticks of normal play time.
    zero: Option<i64>,
    last_video_dts: Option<i64>,
    last_audio: Option<i64>,
}

/// Converts `ticks` of a `hz` clock to 90 kHz ticks (rounding towards negative
/// infinity); `None` for a zero clock rate.
pub fn to_90khz(ticks: i64, hz: u32) -> Option<i64> {
    MediaTime::checked_from_rate(ticks, hz).map(MediaTime::ticks)
}

impl Timeline {
    pub fn new() -> Self {
        Timeline::default()
    }

    /// Whether the first keyframe has been seen (the session has a zero).
    pub fn started(&self) -> bool {
        self.zero.is_some()
    }

    /// A video frame `elapsed` ticks of a `hz` clock after the stream's start.
    pub fn video(&mut self, elapsed: i64, hz: u32, keyframe: bool) -> Placement {
        let Some(t) = to_90khz(elapsed, hz) else {
            return Placement::Skip;
        };
        let zero = match self.zero {
            Some(z) => z,
            None if keyframe => {
                self.zero = Some(t);
                t
            }
            None => return Placement::Skip,
        };
        let pts = t.saturating_sub(zero);
        let dts = match self.last_video_dts {
            Some(last) if pts <= last => last.saturating_add(1),
            _ => pts,
        };
        self.last_video_dts = Some(dts);
        Placement::At {
            dts: MediaTime::from_ticks(dts),
            pts: MediaTime::from_ticks(pts.max(dts)),
        }
    }

    /// An audio frame `elapsed` ticks of a `hz` clock after the stream's start.
    pub fn audio(&mut self, elapsed: i64, hz: u32) -> Placement {
        let (Some(zero), Some(t)) = (self.zero, to_90khz(elapsed, hz)) else {
            return Placement::Skip;
        };
        let at = t.saturating_sub(zero);
        if at < 0 || self.last_audio.is_some_and(|last| at <= last) {
            return Placement::Skip;
        }
        self.last_audio = Some(at);
        Placement::At {
            dts: MediaTime::from_ticks(at),
            pts: MediaTime::from_ticks(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(p: Placement) -> (i64, i64) {
        match p {
            Placement::At { dts, pts } => (dts.ticks(), pts.ticks()),
            Placement::Skip => panic!("expected a placement, got Skip"),
        }
    }

    #[test]
    fn clock_rates_convert_to_90khz() {
        assert_eq!(to_90khz(48_000, 48_000), Some(90_000));
        assert_eq!(to_90khz(1024, 48_000), Some(1920));
        assert_eq!(to_90khz(1024, 44_100), Some(2089));
        assert_eq!(to_90khz(-1, 48_000), Some(-2));
        assert_eq!(to_90khz(3003, 90_000), Some(3003));
        assert_eq!(to_90khz(5, 0), None);
        assert_eq!(to_90khz(i64::MAX, 1), None);
    }

    #[test]
    fn starts_at_the_first_keyframe() {
        let mut t = Timeline::new();
        assert_eq!(t.audio(0, 48_000), Placement::Skip);
        assert_eq!(t.video(900_000, 90_000, false), Placement::Skip);
        assert!(!t.started());
        assert_eq!(at(t.video(903_000, 90_000, true)), (0, 0));
        assert!(t.started());
        assert_eq!(at(t.video(906_000, 90_000, false)), (3000, 3000));
        // Audio on the same normal-play-time line: 10.05 s in → 0.0166… s after zero.
        assert_eq!(at(t.audio(482_400, 48_000)), (1500, 1500));
        // Audio captured just before the keyframe is dropped.
        let mut t2 = Timeline::new();
        t2.video(903_000, 90_000, true);
        assert_eq!(t2.audio(481_000, 48_000), Placement::Skip);
    }

    #[test]
    fn decode_times_always_increase() {
        let mut t = Timeline::new();
        assert_eq!(at(t.video(0, 90_000, true)), (0, 0));
        assert_eq!(at(t.video(0, 90_000, false)), (1, 1));
        assert_eq!(at(t.video(3000, 90_000, false)), (3000, 3000));
        // A timestamp going backwards still gets a later decode time.
        assert_eq!(at(t.video(1000, 90_000, false)), (3001, 3001));
    }

    #[test]
    fn out_of_order_audio_is_dropped() {
        let mut t = Timeline::new();
        t.video(0, 90_000, true);
        assert_eq!(at(t.audio(1024, 48_000)), (1920, 1920));
        assert_eq!(t.audio(1024, 48_000), Placement::Skip);
        assert_eq!(t.audio(0, 48_000), Placement::Skip);
        assert_eq!(at(t.audio(2048, 48_000)), (3840, 3840));
    }

    #[test]
    fn hostile_timestamps_do_not_panic() {
        let mut t = Timeline::new();
        for (e, hz) in [
            (i64::MIN, 1),
            (i64::MAX, 90_000),
            (0, 0),
            (i64::MIN, u32::MAX),
        ] {
            let _ = t.video(e, hz, true);
            let _ = t.audio(e, hz);
        }
    }
}
