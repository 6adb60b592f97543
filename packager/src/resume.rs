//! Resuming a rendition's numbering from what the store already holds (sans-IO: text
//! and key names in, a plan out).
//!
//! A packager that starts (process start, restart after a crash, a new session after
//! the event ended) must never write a name that was already served `immutable`. It
//! reads back the rendition's live playlist (`index.m3u8`: the window, with the parts of
//! the last segments), its recording playlist (`recording.m3u8`: every complete segment
//! up to a few segments ago) and the names of the objects still stored, and rebuilds:
//!
//! - the segments, contiguous by media sequence number, with their discontinuities,
//!   init generations and program date-times (the live playlist wins where both list
//!   a segment, since it also lists parts);
//! - the segment a crash left open (parts listed, no `EXTINF`): it is closed with every
//!   part stored under its number, and its segment object is built from those parts
//!   unless it was already written;
//! - parts stored beyond the listing (written just before a crash, never listed): their
//!   segment is closed the same way, so the number is never used again;
//! - the highest init generation stored, so the next session takes a new one.
//!
//! Durations of parts a playlist does not list are estimated (the segment's duration
//! shared equally among its stored parts); they are only ever rendered for the last
//! segments of a live window, whose parts the live playlist listed.

use amphi_hls::names::{parse_media_name, MediaName};
use amphi_hls::playlist::{read_media, Part};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

/// One segment as restored.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredSegment {
    pub msn: u64,
    pub program_date_time: Option<SystemTime>,
    pub generation: u64,
    pub discontinuity: bool,
    pub parts: Vec<Part>,
    /// `EXTINF` when listed complete.
    pub duration: Option<Duration>,
}

/// What a rendition's stored state says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Restored {
    /// Complete segments, contiguous by msn, oldest first (the open one closed).
    pub segments: Vec<RestoredSegment>,
    /// Segments whose object must be built from their stored parts: `(msn, parts)`.
    pub build_segments: Vec<(u64, u32)>,
    /// The live playlist had `EXT-X-ENDLIST` (the live had ended).
    pub ended: bool,
    /// Highest init generation stored for this rendition.
    pub max_generation: Option<u64>,
    /// Segment numbers with parts still stored.
    pub stored_part_msns: BTreeSet<u64>,
}

impl Restored {
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The next media sequence number.
    pub fn next_msn(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.msn + 1)
    }
}

/// Segments as one playlist lists them, by msn.
#[derive(Debug, Default)]
struct Listing {
    segments: BTreeMap<u64, RestoredSegment>,
    ended: bool,
}

/// Reads one of our media playlists (live, event or VOD) with the one playlist reader
/// ([`read_media`]). Segments and parts are placed by the numbers in their names; one
/// whose name is not ours is skipped. A playlist the reader refuses lists nothing: what
/// it held is still found from the stored objects' names.
fn read_listing(text: &str) -> Listing {
    let Ok(listing) = read_media(text) else {
        return Listing::default();
    };
    let mut out = Listing {
        segments: BTreeMap::new(),
        ended: listing.ended,
    };
    let mut generation = 0u64;
    for listed in &listing.segments {
        if let Some(MediaName::Init { generation: g }) =
            listed.map_uri.as_deref().and_then(parse_media_name)
        {
            generation = g;
        }
        // A complete segment by its name; the open one by the name of its first part.
        let msn = match &listed.uri {
            Some(uri) => match parse_media_name(uri) {
                Some(MediaName::Segment { msn }) => msn,
                _ => continue,
            },
            None => match listing
                .parts
                .iter()
                .find(|p| p.msn == listed.msn)
                .and_then(|p| parse_media_name(&p.uri))
            {
                Some(MediaName::Part { msn, .. }) => msn,
                _ => continue,
            },
        };
        out.segments.insert(
            msn,
            RestoredSegment {
                msn,
                program_date_time: listed.program_date_time,
                generation,
                discontinuity: listed.discontinuity,
                parts: Vec::new(),
                duration: listed.duration,
            },
        );
    }
    for part in &listing.parts {
        if let Some(MediaName::Part { msn, .. }) = parse_media_name(&part.uri) {
            if let Some(segment) = out.segments.get_mut(&msn) {
                segment.parts.push(Part {
                    duration: part.duration,
                    independent: part.independent,
                });
            }
        }
    }
    out
}

/// The complete segments a playlist lists (a recording, or a live window), in order,
/// with their init generation and discontinuities: what a remux of the recording needs.
pub fn listed_segments(text: &str) -> Vec<RestoredSegment> {
    read_listing(text)
        .segments
        .into_values()
        .filter(|s| s.duration.is_some())
        .collect()
}

/// Parts `n` sharing `total` equally (at least one part).
fn estimated_parts(total: Duration, n: u32) -> Vec<Part> {
    let n = n.max(1);
    (0..n)
        .map(|i| Part {
            duration: total / n,
            independent: i == 0,
        })
        .collect()
}

/// Rebuilds a rendition's state from its stored playlists and the file names in its
/// folder (`part12.3.m4s`, `seg12.m4s`, `init-2.mp4`, …). `part_target` sizes the
/// parts of segments no playlist details.
pub fn restore(
    live: Option<&str>,
    recording: Option<&str>,
    files: &[String],
    part_target: Duration,
) -> Restored {
    let mut segments: BTreeMap<u64, RestoredSegment> = BTreeMap::new();
    let mut ended = false;
    if let Some(text) = recording {
        segments.extend(read_listing(text).segments);
    }
    if let Some(text) = live {
        let listing = read_listing(text);
        ended = listing.ended;
        for (msn, seg) in listing.segments {
            // The live playlist lists parts; keep a recording entry's duration if the
            // live one is the open segment of a crashed run.
            let merged = match segments.remove(&msn) {
                Some(old) if seg.parts.is_empty() => old,
                Some(old) => RestoredSegment {
                    duration: seg.duration.or(old.duration),
                    ..seg
                },
                None => seg,
            };
            segments.insert(msn, merged);
        }
    }
    let mut stored_parts: BTreeMap<u64, u32> = BTreeMap::new();
    let mut stored_segments: BTreeSet<u64> = BTreeSet::new();
    let mut max_generation = None;
    for f in files {
        match parse_media_name(f) {
            Some(MediaName::Part { msn, part }) => {
                let n = stored_parts.entry(msn).or_insert(0);
                *n = (*n).max(part + 1);
            }
            Some(MediaName::Segment { msn }) => {
                stored_segments.insert(msn);
            }
            Some(MediaName::Init { generation }) => {
                max_generation = max_generation.max(Some(generation));
            }
            _ => {}
        }
    }
    // Parts stored beyond the listing: segments written just before a crash.
    let last_listed = segments.keys().next_back().copied();
    let last_stored = stored_parts.keys().next_back().copied();
    if let Some(last) = last_stored {
        let from = last_listed.map_or(0, |l| l + 1);
        if last_listed.is_none_or(|l| last > l) {
            let mut generation = segments.values().next_back().map_or(0, |s| s.generation);
            if last_listed.is_none() {
                generation = max_generation.unwrap_or(0);
            }
            for msn in from..=last {
                segments.insert(
                    msn,
                    RestoredSegment {
                        msn,
                        program_date_time: None,
                        generation,
                        discontinuity: false,
                        parts: Vec::new(),
                        duration: None,
                    },
                );
            }
        }
    }
    // Keep the contiguous run that ends at the newest segment.
    let mut run: Vec<RestoredSegment> = Vec::new();
    for (msn, seg) in segments.into_iter().rev() {
        if run.last().is_some_and(|next| next.msn != msn + 1) {
            break;
        }
        run.push(seg);
    }
    run.reverse();
    // Close what is open and fill in what no playlist detailed.
    let mut build_segments = Vec::new();
    let mut prev_end: Option<SystemTime> = None;
    for seg in &mut run {
        let stored = stored_parts.get(&seg.msn).copied().unwrap_or(0);
        match seg.duration {
            Some(d) if seg.parts.is_empty() => {
                let n = if stored > 0 {
                    stored
                } else {
                    (d.as_secs_f64() / part_target.as_secs_f64().max(1e-3)).round() as u32
                };
                seg.parts = estimated_parts(d, n);
            }
            Some(_) => {}
            None => {
                // Open when the run stopped: every stored part belongs to it.
                let listed = seg.parts.len() as u32;
                for i in listed..stored.max(listed) {
                    seg.parts.push(Part {
                        duration: part_target,
                        independent: i == 0,
                    });
                }
                if seg.parts.is_empty() {
                    seg.parts = estimated_parts(part_target, 1);
                }
                seg.duration = Some(seg.parts.iter().map(|p| p.duration).sum());
                if !stored_segments.contains(&seg.msn) && stored > 0 {
                    build_segments.push((seg.msn, stored));
                }
            }
        }
        if seg.program_date_time.is_none() {
            seg.program_date_time = prev_end;
        }
        prev_end = seg.program_date_time.zip(seg.duration).map(|(t, d)| t + d);
    }
    Restored {
        segments: run,
        build_segments,
        ended,
        max_generation,
        stored_part_msns: stored_parts.keys().copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amphi_hls::playlist::parse_pdt;

    const LIVE: &str = "#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-DISCONTINUITY-SEQUENCE:1
#EXT-X-MAP:URI=\"init-1.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T10:00:08.000Z
#EXTINF:2.00000,
seg4.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T10:00:10.000Z
#EXT-X-PART:DURATION=1.00000,URI=\"part5.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=1.00000,URI=\"part5.1.m4s\"
#EXTINF:2.00000,
seg5.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI=\"init-2.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T10:01:00.000Z
#EXT-X-PART:DURATION=0.50000,URI=\"part6.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI=\"part6.1.m4s\"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part6.2.m4s\"
";

    const RECORDING: &str = "#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-MAP:URI=\"init.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T10:00:00.000Z
#EXTINF:2.00000,
seg0.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T10:00:02.000Z
#EXTINF:2.00000,
seg1.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI=\"init-1.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T10:00:04.000Z
#EXTINF:2.00000,
seg2.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T10:00:06.000Z
#EXTINF:2.00000,
seg3.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T10:00:08.000Z
#EXTINF:2.00000,
seg4.m4s
";

    fn files(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_crashed_live_is_rebuilt_from_recording_window_and_keys() {
        let r = restore(
            Some(LIVE),
            Some(RECORDING),
            &files(&[
                "init.mp4",
                "init-1.mp4",
                "init-2.mp4",
                "part5.0.m4s",
                "part5.1.m4s",
                "part6.0.m4s",
                "part6.1.m4s",
                "part6.2.m4s",
                "seg5.m4s",
                "index.m3u8",
            ]),
            Duration::from_millis(500),
        );
        let msns: Vec<u64> = r.segments.iter().map(|s| s.msn).collect();
        assert_eq!(msns, [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(r.next_msn(), 7);
        assert!(!r.ended);
        assert_eq!(r.max_generation, Some(2));
        let gens: Vec<u64> = r.segments.iter().map(|s| s.generation).collect();
        assert_eq!(gens, [0, 0, 1, 1, 1, 1, 2]);
        let disc: Vec<u64> = r.segments.iter().map(|s| s.discontinuity as u64).collect();
        assert_eq!(disc, [0, 0, 1, 0, 0, 0, 1]);
        // The open segment takes the part written but never listed, and its object
        // must be built from its three parts.
        let open = &r.segments[6];
        assert_eq!(open.parts.len(), 3);
        assert_eq!(open.duration, Some(Duration::from_millis(1500)));
        assert_eq!(r.build_segments, vec![(6, 3)]);
        // Listed parts are kept as listed; others are estimated from the duration.
        assert_eq!(r.segments[5].parts.len(), 2);
        assert!(r.segments[5].parts[0].independent);
        assert_eq!(r.segments[0].parts.len(), 4);
        assert_eq!(
            r.segments[0].program_date_time,
            parse_pdt("2026-11-30T10:00:00Z")
        );
    }

    #[test]
    fn parts_beyond_the_listing_close_a_segment_of_their_own() {
        let r = restore(
            Some(LIVE),
            None,
            &files(&["part6.0.m4s", "part6.1.m4s", "part7.0.m4s", "seg6.m4s"]),
            Duration::from_millis(500),
        );
        assert_eq!(r.next_msn(), 8);
        // seg6 was already written: kept; seg7 is built from its one part.
        assert_eq!(r.build_segments, vec![(7, 1)]);
        assert_eq!(r.segments.last().map(|s| s.generation), Some(2));
        assert_eq!(
            r.segments.last().and_then(|s| s.program_date_time),
            parse_pdt("2026-11-30T10:01:01Z")
        );
    }

    #[test]
    fn an_ended_vod_resumes_after_its_last_segment() {
        let vod = format!("{RECORDING}#EXT-X-ENDLIST\n").replace("EVENT", "VOD");
        let r = restore(
            Some(&vod),
            Some(&vod),
            &files(&["init.mp4", "init-1.mp4", "part4.0.m4s", "part4.1.m4s"]),
            Duration::from_millis(500),
        );
        assert!(r.ended);
        assert_eq!(r.next_msn(), 5);
        assert!(r.build_segments.is_empty());
        // Segment 4's parts are still stored: two of them, sharing its duration.
        assert_eq!(r.segments[4].parts.len(), 2);
        assert_eq!(r.segments[4].parts[1].duration, Duration::from_secs(1));
    }

    #[test]
    fn nothing_stored_is_a_fresh_start() {
        let r = restore(None, None, &[], Duration::from_millis(333));
        assert!(r.is_empty());
        assert_eq!(r.next_msn(), 0);
        assert_eq!(r.max_generation, None);
        // Parts alone (the playlist never written) still reserve their numbers.
        let r = restore(
            None,
            None,
            &files(&["init.mp4", "part0.0.m4s"]),
            Duration::from_millis(333),
        );
        assert_eq!(r.next_msn(), 1);
        assert_eq!(r.build_segments, vec![(0, 1)]);
    }

    #[test]
    fn garbage_is_ignored() {
        let r = restore(
            Some("#EXTM3U\n#EXTINF:abc,\nseg1.m4s\n#EXT-X-PART:URI=\"x\"\nnot-a-seg\n"),
            Some("\u{0}\u{1}"),
            &files(&["../x", "seg.m4s"]),
            Duration::from_millis(333),
        );
        assert!(r.is_empty());
    }
}
