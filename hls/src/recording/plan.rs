//! Which stored objects make a recording, read from its playlist (`recording.m3u8`, or
//! an ended `index.m3u8`): runs of consecutive segments that share one init segment,
//! split where the playlist has a discontinuity, a new `EXT-X-MAP` or a gap in the
//! media sequence numbers.

use crate::names::{parse_media_name, MediaName};
use crate::playlist::read_media;
use std::time::Duration;

/// Segments decoded with one init segment, one after the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The init segment's file name (`init.mp4`, `init-2.mp4`).
    pub init: String,
    /// `(msn, duration)` of each segment, in order.
    pub segments: Vec<(u64, Duration)>,
}

impl Run {
    pub fn duration(&self) -> Duration {
        self.segments.iter().map(|(_, d)| *d).sum()
    }
}

/// A whole recording as its playlist lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub runs: Vec<Run>,
    /// The playlist has `EXT-X-ENDLIST`: the live has ended.
    pub ended: bool,
}

impl Plan {
    pub fn duration(&self) -> Duration {
        self.runs.iter().map(Run::duration).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.runs.iter().map(|r| r.segments.len()).sum()
    }

    /// Appends the segments of `later` (the live playlist's window) that come after
    /// this plan's last one, so a recording read during the live is complete up to the
    /// live edge. A segment continues the last run when it follows it with the same
    /// init segment; otherwise it starts a run.
    pub fn extend_with(&mut self, later: Plan) {
        let last = self
            .runs
            .last()
            .and_then(|r| r.segments.last())
            .map(|(msn, _)| *msn);
        for run in later.runs {
            for (msn, duration) in run.segments {
                if last.is_some_and(|l| msn <= l) {
                    continue;
                }
                match self.runs.last_mut() {
                    Some(r)
                        if r.init == run.init
                            && r.segments.last().is_some_and(|(m, _)| m + 1 == msn) =>
                    {
                        r.segments.push((msn, duration))
                    }
                    _ => self.runs.push(Run {
                        init: run.init.clone(),
                        segments: vec![(msn, duration)],
                    }),
                }
            }
        }
        self.ended |= later.ended;
    }

    /// Reads a media playlist with the one playlist reader ([`read_media`]): a
    /// segment whose URI is not one of our segment names is skipped, and a playlist
    /// the reader refuses is an empty plan.
    pub fn from_playlist(text: &str) -> Plan {
        let Ok(listing) = read_media(text) else {
            return Plan::default();
        };
        let mut plan = Plan {
            runs: Vec::new(),
            ended: listing.ended,
        };
        let mut init = crate::names::init_name(0);
        let mut cut = true;
        for segment in &listing.segments {
            if let Some(uri) = segment
                .map_uri
                .as_deref()
                .filter(|u| matches!(parse_media_name(u), Some(MediaName::Init { .. })))
            {
                if uri != init {
                    init = uri.to_owned();
                    cut = true;
                }
            }
            cut |= segment.discontinuity;
            let (Some(MediaName::Segment { msn }), Some(duration)) = (
                segment.uri.as_deref().and_then(parse_media_name),
                segment.duration,
            ) else {
                continue;
            };
            let follows = plan
                .runs
                .last()
                .and_then(|r| r.segments.last())
                .is_some_and(|(last, _)| last.checked_add(1) == Some(msn));
            match plan.runs.last_mut() {
                Some(run) if !cut && follows => run.segments.push((msn, duration)),
                _ => plan.runs.push(Run {
                    init: init.clone(),
                    segments: vec![(msn, duration)],
                }),
            }
            cut = false;
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each run's init segment and segment numbers.
    fn runs(plan: &Plan) -> Vec<(&str, Vec<u64>)> {
        plan.runs
            .iter()
            .map(|r| (r.init.as_str(), r.segments.iter().map(|s| s.0).collect()))
            .collect()
    }

    #[test]
    fn runs_split_at_discontinuities_maps_and_gaps() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n\
            #EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.000,\nseg0.m4s\n#EXTINF:1.500,\nseg1.m4s\n\
            #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z\n\
            #EXTINF:2.000,\nseg2.m4s\n#EXTINF:2.000,\nseg3.m4s\n#EXTINF:2.000,\nseg5.m4s\n\
            #EXTINF:2.000,\n../evil.m4s\n#EXT-X-ENDLIST\n";
        let plan = Plan::from_playlist(text);
        assert!(plan.ended);
        assert_eq!(
            runs(&plan),
            vec![
                ("init.mp4", vec![0, 1]),
                ("init-1.mp4", vec![2, 3]),
                ("init-1.mp4", vec![5])
            ]
        );
        assert_eq!(plan.duration(), Duration::from_millis(9_500));
        assert_eq!(plan.segment_count(), 5);
    }

    #[test]
    fn the_live_window_completes_the_recording() {
        let mut plan = Plan::from_playlist(
            "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\nseg0.m4s\n#EXTINF:2,\nseg1.m4s\n",
        );
        let live = Plan::from_playlist(
            "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\nseg1.m4s\n\
             #EXTINF:2,\nseg2.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n\
             #EXTINF:2,\nseg3.m4s\n#EXT-X-PART:DURATION=0.333,URI=\"part4.0.m4s\"\n",
        );
        plan.extend_with(live);
        assert_eq!(
            runs(&plan),
            vec![("init.mp4", vec![0, 1, 2]), ("init-1.mp4", vec![3])]
        );
        assert!(!plan.ended);
        let mut empty = Plan::default();
        empty.extend_with(Plan::from_playlist("#EXTM3U\n#EXTINF:2,\nseg7.m4s\n"));
        assert_eq!(empty.segment_count(), 1);
    }

    #[test]
    fn an_event_playlist_is_not_ended_and_an_empty_one_has_no_run() {
        let plan =
            Plan::from_playlist("#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:2,\nseg0.m4s\n");
        assert!(!plan.ended);
        assert_eq!(plan.runs.len(), 1);
        assert_eq!(Plan::from_playlist("#EXTM3U\n"), Plan::default());
        assert_eq!(
            Plan::from_playlist("garbage\n#EXTINF:x,\nseg1.m4s"),
            Plan::default()
        );
    }
}
