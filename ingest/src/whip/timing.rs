//! RTP time of each WebRTC track → the publish session's 90 kHz media clock.
//!
//! Media time zero is the arrival of the session's first emitted frame. Each track is
//! anchored once, on the arrival time of its own first frame, and then follows its
//! RTP clock (so jitter does not reach the timestamps); audio and video line up to
//! within the network jitter of those two first packets. Output is strictly
//! increasing per track.

use crate::frame::{MediaDuration, MediaTime};
use std::time::Instant;

/// Which track of the session a timestamp belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Video,
    Audio,
}

#[derive(Debug, Default, Clone, Copy)]
struct TrackClock {
    /// (first extended RTP timestamp, its media time in 90 kHz ticks).
    anchor: Option<(u64, MediaTime)>,
    last: Option<MediaTime>,
}

/// The media clock of one publish session.
#[derive(Debug, Default, Clone)]
pub struct SessionClock {
    start: Option<Instant>,
    video: TrackClock,
    audio: TrackClock,
}

impl SessionClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether media time zero has been fixed.
    pub fn is_started(&self) -> bool {
        self.start.is_some()
    }

    /// Maps one frame's extended RTP timestamp (`rtp` at `rate` Hz) received at
    /// `arrival` to media time. The first call fixes media time zero at `arrival`.
    pub fn map(&mut self, track: Track, rtp: u64, rate: u32, arrival: Instant) -> MediaTime {
        let start = *self.start.get_or_insert(arrival);
        let clock = match track {
            Track::Video => &mut self.video,
            Track::Audio => &mut self.audio,
        };
        let (first_rtp, first_ticks) = *clock.anchor.get_or_insert_with(|| {
            let since = arrival.saturating_duration_since(start);
            (rtp, MediaTime::ZERO + MediaDuration::from_std(since))
        });
        // Extended timestamps only grow, but a peer may still jump backwards.
        let delta = rtp.wrapping_sub(first_rtp) as i64;
        let at = first_ticks + MediaDuration::from_rate(delta, rate.max(1));
        let at = match clock.last {
            Some(last) if at <= last => last + MediaDuration::from_ticks(1),
            _ => at,
        };
        clock.last = Some(at);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn first_frame_is_zero_and_tracks_follow_their_rtp_clocks() {
        let t0 = Instant::now();
        let mut c = SessionClock::new();
        assert!(!c.is_started());
        assert_eq!(
            c.map(Track::Video, 1_000_000, 90_000, t0),
            MediaTime::from_ticks(0)
        );
        assert!(c.is_started());
        // Audio's first packet arrives 20 ms later: anchored there.
        let a0 = c.map(Track::Audio, 5_000, 48_000, t0 + Duration::from_millis(20));
        assert_eq!(a0, MediaTime::from_millis(20));
        // Then each follows its RTP clock whatever the arrival jitter.
        let v1 = c.map(
            Track::Video,
            1_003_000,
            90_000,
            t0 + Duration::from_millis(90),
        );
        assert_eq!(v1, MediaTime::from_ticks(3_000));
        let a1 = c.map(Track::Audio, 5_960, 48_000, t0 + Duration::from_millis(200));
        assert_eq!(a1, MediaTime::from_millis(40));
    }

    #[test]
    fn strictly_increasing_even_when_rtp_goes_back() {
        let t0 = Instant::now();
        let mut c = SessionClock::new();
        assert_eq!(
            c.map(Track::Video, 9_000, 90_000, t0),
            MediaTime::from_ticks(0)
        );
        assert_eq!(
            c.map(Track::Video, 12_000, 90_000, t0),
            MediaTime::from_ticks(3_000)
        );
        assert_eq!(
            c.map(Track::Video, 12_000, 90_000, t0),
            MediaTime::from_ticks(3_001)
        );
        assert_eq!(
            c.map(Track::Video, 100, 90_000, t0),
            MediaTime::from_ticks(3_002)
        );
        assert_eq!(
            c.map(Track::Video, 15_000, 90_000, t0),
            MediaTime::from_ticks(6_000)
        );
    }

    #[test]
    fn arrival_before_start_is_clamped_to_zero() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut c = SessionClock::new();
        c.map(Track::Video, 0, 90_000, t0);
        let a = c.map(Track::Audio, 0, 48_000, t0 - Duration::from_millis(5));
        assert_eq!(a, MediaTime::from_ticks(0));
        // A zero rate does not divide by zero.
        let _ = c.map(Track::Audio, 10, 0, t0);
    }
}
