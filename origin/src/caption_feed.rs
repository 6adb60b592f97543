//! The live captions of one event, read back from the store's subtitles rendition
//! (sans-IO): which WebVTT parts and segments to read as the subtitles playlist grows,
//! their cues turned into program time, each cue once, and the recent ones kept for
//! viewers who connect or reconnect.
//!
//! Model: the packager writes `subs/part{msn}.{n}.vtt` then the live subtitles
//! playlist listing it, and `subs/seg{msn}.vtt` when the segment closes (see
//! `amphi_hls::vtt`). Every cue a segment holds reaches one of its parts, so a segment
//! followed from its first part needs no segment read; one first seen already complete
//! (a follower that just started) or without its first part (captions began mid-way)
//! is read whole once complete. A cue's program time is its segment's
//! `EXT-X-PROGRAM-DATE-TIME` plus the cue's offset from the segment's `LOCAL` time in
//! the `X-TIMESTAMP-MAP` (the packager wrote it the other way round). A cue repeated in
//! several parts and segments (it spans them) is one cue: known by its times and text.

use amphi_hls::playlist::MediaListing;
use amphi_hls::vtt::{parse_segment, VttError};
use amphi_time::{ProgramTime, TimeDelta};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// How much of the recent captions a viewer who connects gets (program time before the
/// newest segment's start).
pub const RECENT_WINDOW: Duration = Duration::from_secs(30);
/// Recent cues kept at most, whatever their times.
pub const MAX_RECENT: usize = 512;
/// Segments the follower keeps track of at most (older ones are forgotten).
const MAX_TRACKED: usize = 64;

/// One cue pushed to viewers: program times in ms since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushedCue {
    pub start: ProgramTime,
    pub end: ProgramTime,
    pub text: String,
}

/// A WebVTT object of the subtitles rendition to read: a part, or a whole segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetch {
    pub msn: u64,
    /// `None` for the whole segment.
    pub part: Option<u32>,
    /// The segment's `EXT-X-PROGRAM-DATE-TIME`.
    pub program_date_time: ProgramTime,
}

impl Fetch {
    /// Its file name in the subtitles folder.
    pub fn file(&self) -> String {
        match self.part {
            Some(n) => amphi_hls::names::subtitle_part_name(self.msn, n),
            None => amphi_hls::names::subtitle_segment_name(self.msn),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Tracked {
    /// Its parts are read one by one from the first.
    by_parts: bool,
    /// The next part to read.
    next_part: u32,
    /// Read whole, or every part of it read.
    done: bool,
}

#[derive(Debug, Default)]
pub struct CaptionFeed {
    tracked: BTreeMap<u64, Tracked>,
    recent: VecDeque<Arc<PushedCue>>,
    seen: HashSet<(i64, i64, String)>,
    /// Program time of the newest segment listed.
    newest: Option<ProgramTime>,
    /// Segments before this one are forgotten: never read again.
    floor: u64,
}

impl CaptionFeed {
    pub fn new() -> CaptionFeed {
        CaptionFeed::default()
    }

    /// The subtitles playlist was read: the parts and segments to read now, in order.
    pub fn on_playlist(&mut self, listing: &MediaListing) -> Vec<Fetch> {
        let mut out = Vec::new();
        if let Some(last) = listing
            .segments
            .iter()
            .filter_map(|s| s.program_date_time)
            .max()
        {
            let last = ProgramTime::from(last);
            self.newest = Some(self.newest.map_or(last, |n| n.max(last)));
        }
        for seg in &listing.segments {
            if seg.msn < self.floor {
                continue;
            }
            let Some(pdt) = seg.program_date_time.map(ProgramTime::from) else {
                continue;
            };
            let complete = seg.uri.is_some();
            let parts: Vec<u32> = listing
                .parts
                .iter()
                .filter(|p| p.msn == seg.msn)
                .map(|p| p.index)
                .collect();
            let tracked = match self.tracked.get_mut(&seg.msn) {
                Some(t) => t,
                None => {
                    // Complete when first seen (or old): read whole. Open: its parts
                    // from the first, if the first is listed.
                    let by_parts = !complete && parts.first() == Some(&0);
                    self.tracked.insert(
                        seg.msn,
                        Tracked {
                            by_parts,
                            ..Tracked::default()
                        },
                    );
                    match self.tracked.get_mut(&seg.msn) {
                        Some(t) => t,
                        None => continue,
                    }
                }
            };
            if tracked.done {
                continue;
            }
            if tracked.by_parts {
                while parts.contains(&tracked.next_part) {
                    out.push(Fetch {
                        msn: seg.msn,
                        part: Some(tracked.next_part),
                        program_date_time: pdt,
                    });
                    tracked.next_part += 1;
                }
                if complete {
                    if parts.len() as u32 == tracked.next_part {
                        tracked.done = true;
                        continue;
                    }
                    // A part was never listed to us: the segment has them all.
                    tracked.by_parts = false;
                }
            }
            if complete && !tracked.by_parts {
                tracked.done = true;
                if self.fresh(pdt, seg.duration.unwrap_or_default()) {
                    out.push(Fetch {
                        msn: seg.msn,
                        part: None,
                        program_date_time: pdt,
                    });
                }
            }
        }
        while self.tracked.len() > MAX_TRACKED {
            if let Some((msn, _)) = self.tracked.pop_first() {
                self.floor = msn + 1;
            }
        }
        self.trim();
        out
    }

    /// Whether a segment from `start` lasting `duration` ends within the recent window.
    fn fresh(&self, start: ProgramTime, duration: Duration) -> bool {
        match self.newest {
            Some(newest) => start + duration + RECENT_WINDOW >= newest,
            None => true,
        }
    }

    /// The text of `fetch` was read: its cues not pushed before, in program time.
    pub fn on_vtt(&mut self, fetch: Fetch, text: &str) -> Result<Vec<Arc<PushedCue>>, VttError> {
        let parsed = parse_segment(text)?;
        let local = parsed.timestamp_map.map_or(Duration::ZERO, |(_, l)| l);
        let at = |t: Duration| {
            fetch.program_date_time + (TimeDelta::from_std(t) - TimeDelta::from_std(local))
        };
        let mut new = Vec::new();
        for cue in parsed.cues {
            let cue = PushedCue {
                start: at(cue.start),
                end: at(cue.end),
                text: cue.text,
            };
            let key = (
                cue.start.unix_millis(),
                cue.end.unix_millis(),
                cue.text.clone(),
            );
            if self.seen.contains(&key) {
                continue;
            }
            self.seen.insert(key);
            let cue = Arc::new(cue);
            self.recent.push_back(cue.clone());
            new.push(cue);
        }
        self.trim();
        Ok(new)
    }

    /// The cues a viewer who connects now gets first, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &Arc<PushedCue>> {
        self.recent.iter()
    }

    fn trim(&mut self) {
        let horizon = self.newest.map(|n| n - RECENT_WINDOW);
        while let Some(first) = self.recent.front() {
            let old = horizon.is_some_and(|h| first.end < h);
            if !old && self.recent.len() <= MAX_RECENT {
                break;
            }
            if let Some(cue) = self.recent.pop_front() {
                self.seen.remove(&(
                    cue.start.unix_millis(),
                    cue.end.unix_millis(),
                    cue.text.clone(),
                ));
            }
        }
    }
}

#[cfg(test)]
#[path = "caption_feed_tests.rs"]
mod tests;
