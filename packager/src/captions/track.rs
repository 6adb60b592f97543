//! The subtitles rendition of one event (sans-IO): when the lead rendition writes a
//! media part, the cues it publishes become `subs/part{msn}.{n}.vtt` and the live
//! playlist lists it; when the lead rendition closes a media segment, the cues of that
//! span become `subs/seg{msn}.vtt` and the playlists are rewritten — the live window,
//! the recording, and every few segments the whole lecture's `captions.vtt` for the
//! replay. Parts leave the store a window after their segment left the live playlist.

use super::cues::{Cue, CueBuffer};
use crate::segmenter::{StoreOp, RECORDING_EVERY};
use amphi_hls::names;
use amphi_hls::store::{ContentType, Object};
use amphi_hls::subtitles::{
    render_live_with_parts, render_subtitle_playlist, Listing, LiveParts, SubtitleSegment,
};
use amphi_hls::vtt::{render_document, render_segment, VttCue};
use amphi_time::ProgramTime;
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Duration;

/// A media segment of the lead rendition, closed: what its WebVTT twin needs.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaSegment {
    pub msn: u64,
    pub program_date_time: ProgramTime,
    pub duration: Duration,
    pub discontinuity: bool,
    /// 90 kHz time of the segment's first sample in the fMP4 (its `tfdt`).
    pub mpegts: u64,
    /// The segment's start on the session's media clock (what `LOCAL` maps).
    pub media_start: Duration,
}

/// A part the lead rendition just wrote: its index in the open segment and its span in
/// program time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartSpan {
    pub index: u32,
    pub start: ProgramTime,
    pub duration: Duration,
    /// PART-TARGET of the media playlist.
    pub part_target: Duration,
}

#[derive(Debug, Clone)]
pub struct SubtitleTrack {
    event: String,
    nominal: Duration,
    window: usize,
    retain: usize,
    live: VecDeque<SubtitleSegment>,
    live_discontinuity_sequence: u64,
    recording: VecDeque<SubtitleSegment>,
    recording_discontinuity_sequence: u64,
    /// Every cue written, once, in program time (for `captions.vtt`).
    written: Vec<Cue>,
    unrecorded: usize,
    ended: bool,
    /// The open segment's parts written so far.
    open: Option<SubtitleSegment>,
    /// A part of the open segment was missed: it is listed whole only, once closed.
    open_missed: bool,
    part_target: Option<Duration>,
    /// Segments out of the live window whose parts are still in the store.
    retired: VecDeque<(u64, usize)>,
}

impl SubtitleTrack {
    pub fn new(event: &str, nominal: Duration, window: usize, retain: usize) -> Self {
        SubtitleTrack {
            event: event.to_owned(),
            nominal,
            window: window.max(1),
            retain: retain.max(window).max(1),
            live: VecDeque::new(),
            live_discontinuity_sequence: 0,
            recording: VecDeque::new(),
            recording_discontinuity_sequence: 0,
            written: Vec::new(),
            unrecorded: 0,
            ended: false,
            open: None,
            open_missed: false,
            part_target: None,
            retired: VecDeque::new(),
        }
    }

    fn key(&self, file: &str) -> String {
        names::rendition_key(&self.event, names::SUBTITLES_RENDITION, file)
    }

    fn put(&self, file: &str, text: String, content_type: ContentType) -> StoreOp {
        StoreOp::Put {
            key: self.key(file),
            object: Object {
                data: Bytes::from(text),
                content_type,
            },
        }
    }

    /// The lead rendition wrote part `part` of its open segment `seg` (whose duration
    /// so far includes the part): the cues it publishes are written as
    /// `part{msn}.{n}.vtt` and the live playlist lists it.
    pub fn on_part(
        &mut self,
        seg: &MediaSegment,
        part: PartSpan,
        cues: &mut CueBuffer,
    ) -> Vec<StoreOp> {
        if self.ended || self.live.back().is_some_and(|s| s.msn >= seg.msn) {
            // The segment is already listed whole (a fragment kept in it at a session's end).
            return Vec::new();
        }
        let mut open = match self.open.take() {
            Some(o) if o.msn == seg.msn => o,
            _ => {
                self.open_missed = false;
                SubtitleSegment {
                    msn: seg.msn,
                    duration: Duration::ZERO,
                    program_date_time: seg.program_date_time.to_system(),
                    discontinuity: seg.discontinuity,
                    parts: Vec::new(),
                }
            }
        };
        if self.open_missed || open.parts.len() != part.index as usize {
            // A part was missed (captions began mid-segment): no parts for this one.
            self.open_missed = true;
            self.open = Some(open);
            return Vec::new();
        }
        let taken = cues.take_part(
            seg.program_date_time,
            part.start,
            part.start + part.duration,
        );
        let vtt = self.render_cues(seg, &taken);
        open.parts.push(part.duration);
        open.duration += part.duration;
        self.open = Some(open);
        self.part_target = Some(part.part_target);
        vec![
            self.put(
                &names::subtitle_part_name(seg.msn, part.index),
                vtt,
                ContentType::Vtt,
            ),
            self.live_playlist(),
        ]
    }

    /// `seg{msn}.vtt` or a part of it: the cues on the media clock, mapped as the segment.
    fn render_cues(&self, seg: &MediaSegment, taken: &[Cue]) -> String {
        let start = seg.program_date_time;
        // Cue times on the media clock: the segment's media start plus the offset in
        // program time (never before the session's media time zero).
        let media = |t: ProgramTime| -> Duration {
            let offset = t - start;
            if offset.is_negative() {
                let back = (-offset).to_std().unwrap_or_default();
                seg.media_start.saturating_sub(back)
            } else {
                seg.media_start + offset.to_std().unwrap_or_default()
            }
        };
        let vtt: Vec<VttCue<'_>> = taken
            .iter()
            .map(|c| VttCue {
                start: media(c.start),
                end: media(c.end),
                text: &c.text,
            })
            .collect();
        render_segment(seg.mpegts, seg.media_start, &vtt)
    }

    /// The lead rendition closed `seg`: its cues are taken from `cues` and written.
    pub fn on_segment(&mut self, seg: &MediaSegment, cues: &mut CueBuffer) -> Vec<StoreOp> {
        let start = seg.program_date_time;
        let end = start + seg.duration;
        let taken = cues.take_segment(start, end);
        let mut ops = vec![self.put(
            &names::subtitle_segment_name(seg.msn),
            self.render_cues(seg, &taken),
            ContentType::Vtt,
        )];
        for cue in taken {
            if !self.written.iter().rev().take(64).any(|w| *w == cue) {
                self.written.push(cue);
            }
        }
        // Its parts, when every one was written (the open segment's, if it is this one).
        let parts = match self.open.take() {
            Some(o) if o.msn == seg.msn && !self.open_missed => o.parts,
            _ => Vec::new(),
        };
        let listed = SubtitleSegment {
            msn: seg.msn,
            duration: seg.duration,
            program_date_time: seg.program_date_time.to_system(),
            discontinuity: seg.discontinuity,
            parts,
        };
        let recorded = SubtitleSegment {
            parts: Vec::new(),
            ..listed.clone()
        };
        self.live.push_back(listed);
        while self.live.len() > self.window {
            if let Some(old) = self.live.pop_front() {
                if self.live.front().is_some_and(|s| s.discontinuity) {
                    self.live_discontinuity_sequence += 1;
                }
                if !old.parts.is_empty() {
                    self.retired.push_back((old.msn, old.parts.len()));
                }
            }
        }
        // A viewer a window behind may still ask for the parts of a segment just gone.
        while self.retired.len() > self.window {
            if let Some((msn, count)) = self.retired.pop_front() {
                for n in 0..count {
                    ops.push(StoreOp::Delete {
                        key: self.key(&names::subtitle_part_name(msn, n as u32)),
                    });
                }
            }
        }
        self.recording.push_back(recorded);
        while self.recording.len() > self.retain {
            if let Some(old) = self.recording.pop_front() {
                if self.recording.front().is_some_and(|s| s.discontinuity) {
                    self.recording_discontinuity_sequence += 1;
                }
                // Past the retention, as the media segments.
                ops.push(StoreOp::Delete {
                    key: self.key(&names::subtitle_segment_name(old.msn)),
                });
            }
        }
        ops.push(self.live_playlist());
        self.unrecorded += 1;
        if self.unrecorded >= RECORDING_EVERY {
            ops.extend(self.recording_ops());
        }
        ops
    }

    fn live_playlist(&self) -> StoreOp {
        let live: Vec<SubtitleSegment> = self.live.iter().cloned().collect();
        let text = if self.ended {
            self.recording_text(Listing::Vod)
        } else if let Some(part_target) = self.part_target {
            let open = self.open.as_ref().filter(|_| !self.open_missed);
            render_live_with_parts(
                &live,
                self.live_discontinuity_sequence,
                self.nominal,
                LiveParts { part_target, open },
            )
        } else {
            render_subtitle_playlist(
                &live,
                self.live_discontinuity_sequence,
                self.nominal,
                Listing::Live,
            )
        };
        self.put("index.m3u8", text, ContentType::Playlist)
    }

    fn recording_text(&self, listing: Listing) -> String {
        let all: Vec<SubtitleSegment> = self.recording.iter().cloned().collect();
        render_subtitle_playlist(
            &all,
            self.recording_discontinuity_sequence,
            self.nominal,
            listing,
        )
    }

    fn recording_ops(&mut self) -> Vec<StoreOp> {
        self.unrecorded = 0;
        if self.recording.is_empty() {
            return Vec::new();
        }
        let listing = if self.ended {
            Listing::Vod
        } else {
            Listing::Event
        };
        vec![
            self.put(
                names::RECORDING_PLAYLIST,
                self.recording_text(listing),
                ContentType::Playlist,
            ),
            self.put(names::CAPTIONS_FILE, self.document(), ContentType::Vtt),
        ]
    }

    /// The live is over: the playlist becomes the recording's VOD playlist.
    pub fn end(&mut self) -> Vec<StoreOp> {
        if self.recording.is_empty() {
            return Vec::new();
        }
        self.ended = true;
        let mut ops = self.recording_ops();
        ops.push(self.live_playlist());
        ops
    }

    /// The publisher left (the event may continue): the recording is brought up to date.
    pub fn finish(&mut self) -> Vec<StoreOp> {
        self.recording_ops()
    }

    /// The whole lecture's WebVTT: cue times on the recording's timeline (segments end
    /// to end, as a player of the recording plays them).
    pub fn document(&self) -> String {
        let mut timeline = Vec::with_capacity(self.recording.len());
        let mut at = Duration::ZERO;
        for s in &self.recording {
            let pdt = ProgramTime::from_system(s.program_date_time);
            timeline.push((pdt, pdt + s.duration, at));
            at += s.duration;
        }
        let place = |t: ProgramTime| -> Option<Duration> {
            let (start, _, offset) = timeline.iter().rev().find(|(s, _, _)| *s <= t)?;
            Some(*offset + (t - *start).to_std().unwrap_or_default())
        };
        let cues: Vec<VttCue<'_>> = self
            .written
            .iter()
            .filter_map(|c| {
                let start = place(c.start).or_else(|| {
                    // Began before the first retained segment: from the start.
                    timeline
                        .first()
                        .filter(|f| c.end > f.0)
                        .map(|_| Duration::ZERO)
                })?;
                let end = place(c.end)?;
                Some(VttCue {
                    start,
                    end: end.max(start),
                    text: &c.text,
                })
            })
            .collect();
        render_document(&cues)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::captions::cues::Offer;

    fn at(ms: i64) -> ProgramTime {
        ProgramTime::from_unix_millis(1_764_000_000_000 + ms)
    }

    fn seg(msn: u64, discontinuity: bool) -> MediaSegment {
        MediaSegment {
            msn,
            program_date_time: at(2000 * msn as i64),
            duration: Duration::from_secs(2),
            discontinuity,
            // The muxer's clock starts at 10 s; 90 kHz.
            mpegts: 900_000 + 180_000 * msn,
            media_start: Duration::from_secs(2 * msn),
        }
    }

    fn text_of(ops: &[StoreOp], suffix: &str) -> Option<String> {
        ops.iter().find_map(|o| match o {
            StoreOp::Put { key, object } if key.ends_with(suffix) => {
                Some(String::from_utf8_lossy(&object.data).into_owned())
            }
            _ => None,
        })
    }

    fn cue(start: i64, end: i64, text: &str) -> Cue {
        Cue {
            start: at(start),
            end: at(end),
            text: text.into(),
            id: None,
        }
    }

    #[test]
    fn every_segment_gets_a_vtt_on_the_media_timeline() {
        let mut cues = CueBuffer::default();
        let mut t = SubtitleTrack::new("ev", Duration::from_secs(2), 12, 300);
        assert!(matches!(
            cues.offer(cue(2500, 4500, "Entropy")),
            Offer::Held { .. }
        ));
        let ops = t.on_segment(&seg(0, false), &mut cues);
        assert_eq!(
            text_of(&ops, "subs/seg0.vtt").as_deref(),
            Some("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n"),
            "a segment without cues is still written"
        );
        let ops = t.on_segment(&seg(1, false), &mut cues);
        assert_eq!(
            text_of(&ops, "subs/seg1.vtt").as_deref(),
            Some("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:1080000,LOCAL:00:00:02.000\n\n00:00:02.500 --> 00:00:04.500\nEntropy\n")
        );
        let ops = t.on_segment(&seg(2, false), &mut cues);
        let vtt2 = text_of(&ops, "subs/seg2.vtt").unwrap_or_default();
        assert!(
            vtt2.ends_with("\n00:00:02.500 --> 00:00:04.500\nEntropy\n"),
            "{vtt2}"
        );
        let playlist = text_of(&ops, "subs/index.m3u8").unwrap_or_default();
        assert!(playlist.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{playlist}");
        assert!(playlist.ends_with("seg2.vtt\n"), "{playlist}");
    }

    fn part(index: u32, seg: &MediaSegment) -> PartSpan {
        PartSpan {
            index,
            start: seg.program_date_time + Duration::from_millis(500) * index,
            duration: Duration::from_millis(500),
            part_target: Duration::from_millis(500),
        }
    }

    #[test]
    fn parts_reach_the_live_playlist_before_their_segment() {
        let mut cues = CueBuffer::default();
        let mut t = SubtitleTrack::new("ev", Duration::from_secs(2), 2, 300);
        let mut deleted = Vec::new();
        for msn in 0..6u64 {
            let s = seg(msn, false);
            for n in 0..4 {
                if msn == 1 && n == 1 {
                    cues.offer(cue(2100, 3500, "Entropy"));
                }
                let ops = t.on_part(&s, part(n, &s), &mut cues);
                let name = format!("subs/part{msn}.{n}.vtt");
                let vtt = text_of(&ops, &name).unwrap_or_default();
                assert!(vtt.starts_with("WEBVTT\nX-TIMESTAMP-MAP="), "{name}: {vtt}");
                // Held when part 1 was written, published by part 2 (one part of
                // grace), on the segment's media clock; over by part 3.
                assert_eq!(
                    vtt.contains("00:00:02.100 --> 00:00:03.500\nEntropy"),
                    msn == 1 && n == 2,
                    "{name}: {vtt}"
                );
                let live = text_of(&ops, "subs/index.m3u8").unwrap_or_default();
                assert!(
                    live.ends_with(&format!("URI=\"part{msn}.{n}.vtt\",INDEPENDENT=YES\n")),
                    "{live}"
                );
                let listing = amphi_hls::playlist::read_media(&live).expect("readable");
                assert_eq!(listing.next(), (msn, n + 1));
            }
            let ops = t.on_segment(&s, &mut cues);
            let live = text_of(&ops, "subs/index.m3u8").unwrap_or_default();
            assert!(
                live.ends_with(&format!(
                    "part{msn}.3.vtt\",INDEPENDENT=YES\n#EXTINF:2.00000,\nseg{msn}.vtt\n"
                )),
                "{live}"
            );
            deleted.extend(ops.iter().filter_map(|o| match o {
                StoreOp::Delete { key } => Some(key.clone()),
                _ => None,
            }));
        }
        // Parts go a window (2 segments) after their segment left the live window.
        assert_eq!(
            deleted,
            (0..4)
                .map(|n| format!("live/ev/subs/part0.{n}.vtt"))
                .chain((0..4).map(|n| format!("live/ev/subs/part1.{n}.vtt")))
                .collect::<Vec<_>>()
        );
        // The recording lists segments only.
        let vod = text_of(&t.end(), "subs/recording.m3u8").unwrap_or_default();
        assert!(!vod.contains("EXT-X-PART"), "{vod}");
    }

    #[test]
    fn a_segment_joined_mid_way_gets_no_parts() {
        let mut cues = CueBuffer::default();
        let mut t = SubtitleTrack::new("ev", Duration::from_secs(2), 4, 300);
        let s = seg(3, false);
        assert!(t.on_part(&s, part(2, &s), &mut cues).is_empty());
        assert!(t.on_part(&s, part(3, &s), &mut cues).is_empty());
        let live = text_of(&t.on_segment(&s, &mut cues), "index.m3u8").unwrap_or_default();
        assert!(!live.contains("EXT-X-PART:"), "{live}");
        let s = seg(4, false);
        let ops = t.on_part(&s, part(0, &s), &mut cues);
        let live = text_of(&ops, "index.m3u8").unwrap_or_default();
        assert!(live.ends_with("seg3.vtt\n#EXT-X-PROGRAM-DATE-TIME:2025-11-24T16:00:08.000Z\n#EXT-X-PART:DURATION=0.50000,URI=\"part4.0.vtt\",INDEPENDENT=YES\n"), "{live}");
    }

    #[test]
    fn window_recording_and_whole_file() {
        let mut cues = CueBuffer::default();
        let mut t = SubtitleTrack::new("ev", Duration::from_secs(2), 3, 300);
        cues.offer(cue(1000, 2500, "one"));
        cues.offer(cue(9000, 9500, "two"));
        let mut all = Vec::new();
        for msn in 0..6 {
            all.extend(t.on_segment(&seg(msn, msn == 4), &mut cues));
        }
        let live = text_of(&all[all.len() - 1..], "index.m3u8").unwrap_or_default();
        assert!(live.contains("#EXT-X-MEDIA-SEQUENCE:3\n"), "{live}");
        assert!(live.contains("seg3.vtt\n#EXT-X-DISCONTINUITY\n"), "{live}");
        let ops = t.end();
        let vod = text_of(&ops, "subs/recording.m3u8").unwrap_or_default();
        assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD") && vod.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(text_of(&ops, "subs/index.m3u8"), Some(vod));
        let doc = text_of(&ops, "subs/captions.vtt").unwrap_or_default();
        assert_eq!(
            doc,
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\none\n\n00:00:09.000 --> 00:00:09.500\ntwo\n"
        );
    }
}
