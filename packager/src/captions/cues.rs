//! The cue buffer of one event (sans-IO): cues offered by the captions API wait here,
//! in program time, until the subtitles segment they fall in is written. Meanwhile the
//! live edge publishes them part by part ([`CueBuffer::take_part`]), so low-latency
//! viewers get a line about half a second after it is sent, not when its segment closes.
//!
//! Rules:
//! - a cue is known by its client id when it has one, else by `(start, end, text)`;
//!   offering it again is a duplicate (answered as such, nothing changes), so a
//!   speech-to-text service may resend a batch safely; out-of-order cues are fine;
//! - a cue with an id can be replaced (a correction) while none of it has been
//!   published: a part publishes only cues that were already held when the previous
//!   part was written (a grace of one to two parts, [`CORRECTION_PARTS`], which a
//!   correction does not extend), a segment every cue it overlaps; once published, a
//!   different text under that id is refused;
//! - every cue a segment holds reaches its parts too: one that a segment wrote but no
//!   part published (it came in the segment's last part) goes into the next part;
//! - a cue that starts before the end of the last written segment (it came late) is
//!   clipped to start there, or moved there whole if it would otherwise end too soon to
//!   be read, so it still reaches every viewer;
//! - the buffer is bounded: at most [`MAX_HELD`] cues wait, ids are remembered for
//!   [`REMEMBER`] of program time.

use amphi_time::ProgramTime;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Parts written while a cue is held before a part may publish it (its correction grace).
pub const CORRECTION_PARTS: u64 = 1;
/// Cues waiting for their segment, at most.
pub const MAX_HELD: usize = 2000;
/// Longest cue.
pub const MAX_CUE_DURATION: Duration = Duration::from_secs(30);
/// Shortest time a late cue stays on screen once moved.
pub const MIN_LATE_DISPLAY: Duration = Duration::from_millis(1500);
/// How long after it was written a cue's key still identifies duplicates.
pub const REMEMBER: Duration = Duration::from_secs(600);
/// Keys remembered at most (oldest forgotten first).
pub const MAX_REMEMBERED: usize = 20_000;

/// One cue in program time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub start: ProgramTime,
    pub end: ProgramTime,
    pub text: String,
    /// The client's id (a captioner's line, a speech-to-text segment), if any.
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Id(String),
    Content(i64, i64, String),
}

impl Cue {
    fn key(&self) -> Key {
        match &self.id {
            Some(id) => Key::Id(id.clone()),
            None => Key::Content(
                self.start.unix_nanos(),
                self.end.unix_nanos(),
                self.text.clone(),
            ),
        }
    }
}

/// What became of an offered cue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// Held for its segment, at these times (later than asked if it came late).
    Held {
        start: ProgramTime,
        end: ProgramTime,
        late: bool,
    },
    /// A held cue with this id was replaced.
    Corrected {
        start: ProgramTime,
        end: ProgramTime,
    },
    /// Already known: nothing changed.
    Duplicate,
    /// Its id names a cue already (partly) written with other text or times.
    AlreadyWritten,
    /// [`MAX_HELD`] cues are waiting.
    Full,
}

/// A waiting cue and the number of parts written when it came.
#[derive(Debug)]
struct Held {
    cue: Cue,
    parts_then: u64,
}

#[derive(Debug, Default)]
pub struct CueBuffer {
    /// Waiting cues by (start, arrival order).
    held: BTreeMap<(ProgramTime, u64), Held>,
    /// Key of every held cue, to its place in `held`.
    by_key: HashMap<Key, (ProgramTime, u64)>,
    /// Keys of written cues, with the end of the segment that wrote them last.
    written: HashMap<Key, (Cue, ProgramTime)>,
    /// End of the last written segment: nothing before it can be shown any more.
    written_until: Option<ProgramTime>,
    arrivals: u64,
    /// Parts written so far.
    parts: u64,
    /// Cues a segment wrote that no part published: for the next part.
    carry: Vec<Cue>,
}

impl CueBuffer {
    pub fn written_until(&self) -> Option<ProgramTime> {
        self.written_until
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Offers a cue (already validated: `end > start`, text not blank).
    pub fn offer(&mut self, mut cue: Cue) -> Offer {
        let key = cue.key();
        if let Some((written, _)) = self.written.get(&key) {
            return if written.text == cue.text && written.start == cue.start {
                Offer::Duplicate
            } else {
                Offer::AlreadyWritten
            };
        }
        let mut late = false;
        if let Some(until) = self.written_until {
            if cue.start < until {
                late = true;
                let min_end = until + MIN_LATE_DISPLAY;
                if cue.end < min_end {
                    let length = (cue.end - cue.start).to_std().unwrap_or_default();
                    cue.end = until + length.max(MIN_LATE_DISPLAY);
                }
                cue.start = until;
            }
        }
        if let Some(place) = self.by_key.get(&key).copied() {
            let Some(Held {
                cue: old,
                parts_then,
            }) = self.held.get(&place)
            else {
                return Offer::Full;
            };
            if old.text == cue.text && old.end == cue.end && (old.start == cue.start || late) {
                return Offer::Duplicate;
            }
            // The line keeps its place in time: a correction does not delay it.
            let parts_then = *parts_then;
            self.held.remove(&place);
            let (start, end) = (cue.start, cue.end);
            self.insert(key, cue, parts_then);
            return Offer::Corrected { start, end };
        }
        if self.held.len() >= MAX_HELD {
            return Offer::Full;
        }
        let (start, end) = (cue.start, cue.end);
        self.insert(key, cue, self.parts);
        Offer::Held { start, end, late }
    }

    fn insert(&mut self, key: Key, cue: Cue, parts_then: u64) {
        self.arrivals += 1;
        let place = (cue.start, self.arrivals);
        self.by_key.insert(key, place);
        self.held.insert(place, Held { cue, parts_then });
    }

    /// The cues a live part `[start, end)` of the open segment (which began at
    /// `segment_start`) publishes, in start order: those held since before the previous
    /// part that overlap the part, or the segment so far if no part published them yet,
    /// and any cue the previous segment wrote that no part published. Published cues
    /// stay held for their segment but can no longer be corrected.
    pub fn take_part(
        &mut self,
        segment_start: ProgramTime,
        start: ProgramTime,
        end: ProgramTime,
    ) -> Vec<Cue> {
        let mut out = std::mem::take(&mut self.carry);
        for (_, h) in self.held.range(..(end, 0)) {
            if self.parts.saturating_sub(h.parts_then) < CORRECTION_PARTS {
                continue;
            }
            let cue = &h.cue;
            let published = self.written.contains_key(&cue.key());
            if cue.end > start || (!published && cue.end > segment_start) {
                out.push(cue.clone());
            }
        }
        for cue in &out {
            self.written
                .entry(cue.key())
                .or_insert_with(|| (cue.clone(), end));
        }
        self.parts += 1;
        out
    }

    /// The cues overlapping the segment `[start, end)`, for its WebVTT file, in start
    /// order. Cues that end within it are done; longer ones wait for the next segment.
    pub fn take_segment(&mut self, start: ProgramTime, end: ProgramTime) -> Vec<Cue> {
        let mut out = Vec::new();
        let mut done = Vec::new();
        for (place, h) in self.held.range(..(end, 0)) {
            if h.cue.end > start {
                out.push(h.cue.clone());
            }
            if h.cue.end <= end {
                done.push(*place);
            }
        }
        for place in done {
            if let Some(Held { cue, .. }) = self.held.remove(&place) {
                let key = cue.key();
                self.by_key.remove(&key);
                if !self.written.contains_key(&key) && cue.end > start {
                    // Written by the segment only: low-latency viewers get it next part.
                    self.carry.push(cue.clone());
                }
                self.written.insert(key, (cue, end));
            }
        }
        // A cue written in part can no longer be corrected.
        for cue in &out {
            self.written
                .entry(cue.key())
                .or_insert_with(|| (cue.clone(), end));
        }
        self.written_until = Some(self.written_until.map_or(end, |u| u.max(end)));
        self.forget(end);
        out
    }

    fn forget(&mut self, now: ProgramTime) {
        let horizon = now - REMEMBER;
        self.written.retain(|_, (_, at)| *at >= horizon);
        if self.written.len() > MAX_REMEMBERED {
            let mut ats: Vec<ProgramTime> = self.written.values().map(|(_, at)| *at).collect();
            ats.sort_unstable();
            let cut = ats[self.written.len() - MAX_REMEMBERED];
            self.written.retain(|_, (_, at)| *at >= cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> ProgramTime {
        ProgramTime::from_unix_millis(1_764_000_000_000 + ms)
    }

    fn cue(start: i64, end: i64, text: &str, id: Option<&str>) -> Cue {
        Cue {
            start: at(start),
            end: at(end),
            text: text.into(),
            id: id.map(str::to_owned),
        }
    }

    #[test]
    fn cues_go_to_every_segment_they_overlap() {
        let mut b = CueBuffer::default();
        // Out of order.
        b.offer(cue(2500, 5000, "second", None));
        b.offer(cue(500, 1500, "first", None));
        let s0 = b.take_segment(at(0), at(2000));
        assert_eq!(
            s0.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
            ["first"]
        );
        let s1 = b.take_segment(at(2000), at(4000));
        assert_eq!(s1.len(), 1);
        let s2 = b.take_segment(at(4000), at(6000));
        assert_eq!(s2, s1, "the same cue, same times, in both segments");
        assert!(b.take_segment(at(6000), at(8000)).is_empty());
        assert_eq!(b.held(), 0);
    }

    #[test]
    fn duplicates_by_content_and_by_id() {
        let mut b = CueBuffer::default();
        assert!(matches!(
            b.offer(cue(0, 1000, "a", None)),
            Offer::Held { .. }
        ));
        assert_eq!(b.offer(cue(0, 1000, "a", None)), Offer::Duplicate);
        assert!(matches!(
            b.offer(cue(0, 1000, "b", None)),
            Offer::Held { .. }
        ));
        assert!(matches!(
            b.offer(cue(0, 900, "x", Some("l1"))),
            Offer::Held { .. }
        ));
        assert_eq!(b.offer(cue(0, 900, "x", Some("l1"))), Offer::Duplicate);
        assert_eq!(b.take_segment(at(0), at(2000)).len(), 3);
        // Resent after it was written: still a duplicate, not a late cue.
        assert_eq!(b.offer(cue(0, 1000, "a", None)), Offer::Duplicate);
        assert_eq!(b.offer(cue(0, 900, "x", Some("l1"))), Offer::Duplicate);
        assert!(b.take_segment(at(2000), at(4000)).is_empty());
    }

    #[test]
    fn a_line_can_be_corrected_until_its_segment_is_written() {
        let mut b = CueBuffer::default();
        b.take_segment(at(0), at(2000));
        b.offer(cue(2100, 4500, "helo", Some("line-1")));
        assert_eq!(
            b.offer(cue(2100, 4500, "hello", Some("line-1"))),
            Offer::Corrected {
                start: at(2100),
                end: at(4500)
            }
        );
        let s = b.take_segment(at(2000), at(4000));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].text, "hello");
        assert_eq!(
            b.offer(cue(2100, 4500, "hello!", Some("line-1"))),
            Offer::AlreadyWritten
        );
        // The rest of the cue keeps the text viewers already have.
        assert_eq!(b.take_segment(at(4000), at(6000))[0].text, "hello");
    }

    #[test]
    fn late_cues_are_clipped_or_moved_to_the_next_segment() {
        let mut b = CueBuffer::default();
        b.take_segment(at(0), at(2000));
        assert_eq!(
            b.offer(cue(1000, 5000, "clipped", None)),
            Offer::Held {
                start: at(2000),
                end: at(5000),
                late: true
            }
        );
        assert_eq!(
            b.offer(cue(500, 1500, "moved", None)),
            Offer::Held {
                start: at(2000),
                end: at(3500),
                late: true
            }
        );
        let s = b.take_segment(at(2000), at(4000));
        assert_eq!(s.len(), 2);
        assert!(s.iter().all(|c| c.start == at(2000)));
    }

    #[test]
    fn parts_publish_after_a_one_part_grace_then_no_correction() {
        let mut b = CueBuffer::default();
        b.offer(cue(100, 2500, "helo", Some("l1")));
        // The part written right after it came: still correctable, not published.
        assert!(b.take_part(at(0), at(0), at(333)).is_empty());
        assert!(matches!(
            b.offer(cue(100, 2500, "hello", Some("l1"))),
            Offer::Corrected { .. }
        ));
        // A correction keeps the line's grace: the next part publishes it.
        let p = b.take_part(at(0), at(333), at(667));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].text, "hello");
        assert_eq!(
            b.offer(cue(100, 2500, "hello!", Some("l1"))),
            Offer::AlreadyWritten
        );
        assert_eq!(
            b.offer(cue(100, 2500, "hello", Some("l1"))),
            Offer::Duplicate
        );
        // Still on screen: every later part overlapping it repeats it.
        assert_eq!(b.take_part(at(0), at(667), at(1000)).len(), 1);
        // The segment writes it too, and the next segment's parts while it lasts.
        assert_eq!(b.take_segment(at(0), at(2000)).len(), 1);
        assert_eq!(b.take_part(at(2000), at(2000), at(2333)).len(), 1);
        assert!(b.take_part(at(2000), at(2667), at(3000)).is_empty());
    }

    #[test]
    fn a_cue_published_late_in_a_part_keeps_its_program_time() {
        let mut b = CueBuffer::default();
        b.take_part(at(0), at(0), at(333));
        // Sent at 1.2 s for a moment the captioner saw at 0.1 s, ending at 0.9 s: the
        // segment is open, so nothing is clipped; the next parts publish it as it is.
        assert!(matches!(
            b.offer(cue(100, 900, "short", None)),
            Offer::Held { late: false, .. }
        ));
        b.take_part(at(0), at(1000), at(1333));
        let p = b.take_part(at(0), at(1333), at(1667));
        assert_eq!(p.len(), 1, "published though it ended before the part");
        assert_eq!(p[0].start, at(100));
        assert!(b.take_part(at(0), at(1667), at(2000)).is_empty());
    }

    #[test]
    fn a_cue_no_part_published_goes_into_the_next_part() {
        let mut b = CueBuffer::default();
        b.take_part(at(0), at(0), at(1667));
        // In the segment's last part: too late for its grace; the segment writes it.
        b.offer(cue(1700, 1900, "last words", None));
        assert!(b.take_part(at(0), at(1667), at(2000)).is_empty());
        assert_eq!(b.take_segment(at(0), at(2000)).len(), 1);
        let p = b.take_part(at(2000), at(2000), at(2333));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].text, "last words");
        assert!(b.take_part(at(2000), at(2333), at(2667)).is_empty());
    }

    #[test]
    fn the_buffer_is_bounded() {
        let mut b = CueBuffer::default();
        for i in 0..MAX_HELD as i64 {
            assert!(matches!(
                b.offer(cue(i, i + 1000, "x", None)),
                Offer::Held { .. }
            ));
        }
        assert_eq!(b.offer(cue(0, 5000, "one more", None)), Offer::Full);
        // Keys of written cues are forgotten after a while.
        b.take_segment(at(0), at(10_000));
        let later = at(10_000) + REMEMBER + Duration::from_secs(2);
        b.take_segment(later - Duration::from_secs(2), later);
        assert!(b.written.is_empty());
    }
}
