//! Whether an event's renditions keep one segment timeline (pure): segment `n` of every
//! rendition must start at the same media time, so a player switching renditions by
//! media sequence number (hls.js aligns by it and by program date-time) lands where it
//! left. The ladder makes it so (one cut schedule, see `pipeline::keyframes`); this
//! watch reports a rendition that drifts off it, once per session, for the logs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How far apart segment starts may be and still count as one (the muxers' segment
/// start is the earliest sample, audio or video: up to an audio frame apart).
pub const TOLERANCE: Duration = Duration::from_millis(25);

/// How many segment starts are remembered.
const REMEMBERED: usize = 64;

/// A rendition whose segment `msn` starts elsewhere than another rendition's did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misaligned {
    pub rendition: String,
    pub msn: u64,
    /// Its start (media time).
    pub start: Duration,
    /// The rendition that opened segment `msn` first, and where.
    pub other: String,
    pub other_start: Duration,
}

/// Segment starts per media sequence number, for one publish session.
#[derive(Debug, Default)]
pub struct AlignmentWatch {
    starts: BTreeMap<u64, (Duration, String)>,
    /// Renditions already reported this session.
    reported: BTreeSet<String>,
}

impl AlignmentWatch {
    pub fn new() -> AlignmentWatch {
        AlignmentWatch::default()
    }

    /// Rendition `rendition` opened segment `msn` at media time `start`. Returns the
    /// misalignment the first time this rendition drifts.
    pub fn on_segment(&mut self, rendition: &str, msn: u64, start: Duration) -> Option<Misaligned> {
        let (other_start, other) = self
            .starts
            .entry(msn)
            .or_insert_with(|| (start, rendition.to_owned()))
            .clone();
        while self.starts.len() > REMEMBERED {
            self.starts.pop_first();
        }
        if start.abs_diff(other_start) <= TOLERANCE || !self.reported.insert(rendition.to_owned()) {
            return None;
        }
        Some(Misaligned {
            rendition: rendition.to_owned(),
            msn,
            start,
            other,
            other_start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendition_off_the_timeline_is_reported_once() {
        let ms = Duration::from_millis;
        let mut w = AlignmentWatch::new();
        for (msn, t) in [(0, 21), (1, 2021), (2, 4021)] {
            assert_eq!(w.on_segment("1080p", msn, ms(t)), None);
            // An audio frame earlier is the same start.
            assert_eq!(w.on_segment("720p", msn, ms(t - 5)), None);
        }
        // 720p's third segment a cut late (its second ran on for two targets): its msn
        // 3 starts where 1080p's msn 4 will.
        assert_eq!(w.on_segment("1080p", 3, ms(6021)), None);
        let m = w.on_segment("720p", 3, ms(8021)).expect("reported");
        assert_eq!(
            (m.msn, m.start, m.other.as_str(), m.other_start),
            (3, ms(8021), "1080p", ms(6021))
        );
        assert_eq!(w.on_segment("720p", 4, ms(10_021)), None, "once");
        // Whichever opens a segment first is the other one named.
        assert!(
            w.on_segment("360p", 5, ms(9000)).is_none(),
            "first to open msn 5"
        );
        let m = w.on_segment("1080p", 5, ms(10_021)).expect("reported");
        assert_eq!((m.other.as_str(), m.other_start), ("360p", ms(9000)));
    }
}
