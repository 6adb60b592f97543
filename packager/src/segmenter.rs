//! Turns one rendition's muxer output (an init segment, then CMAF chunks) into store
//! operations and playlist updates (sans-IO: no GStreamer, no store, no clock).
//!
//! Invariants: a part object is written before any playlist that lists it; a segment
//! object is exactly the concatenation of its parts; names never change meaning (a new
//! publish session gets a new init generation); objects that slid out of the playlist
//! are deleted only after a further window, so clients holding an older playlist can
//! still fetch what it lists.

use crate::resume::Restored;
use amphi_hls::names;
use amphi_hls::playlist::{DateRange, MediaPlaylist, PlaylistConfig, RenditionReport};
use amphi_hls::store::{ContentType, Object};
use amphi_ingest::frame::{ProgramTime, SessionEpoch};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// One CMAF chunk (moof + mdat) as the muxer produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub data: Bytes,
    /// Presentation time of the chunk's first sample on the session's media clock.
    pub pts: Duration,
    pub duration: Duration,
    /// First chunk of a fragment: starts with a keyframe, opens a segment.
    pub fragment_start: bool,
}

/// What the store must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    Put { key: String, object: Object },
    Delete { key: String },
}

pub struct RenditionWriter {
    event: String,
    name: String,
    playlist: MediaPlaylist,
    generation: u64,
    /// The program time of the session's media time zero.
    epoch: SessionEpoch,
    open_parts: Vec<Bytes>,
    /// Segments out of the window, waiting to be deleted: (msn, parts, and whether
    /// the segment object goes too — not while it is recorded).
    retired: VecDeque<(u64, u32, bool)>,
    /// Chunks before the first fragment start of a session (cannot be played alone).
    dropped_chunks: u64,
    /// Segments closed since the recording playlist was last written.
    unrecorded: usize,
}

/// The recording playlist is rewritten after this many segments (fewer than a live
/// window, so a crash loses none: the live playlist lists the rest).
pub const RECORDING_EVERY: usize = 5;

impl RenditionWriter {
    pub fn new(event: &str, name: &str, config: PlaylistConfig) -> Self {
        RenditionWriter {
            event: event.to_owned(),
            name: name.to_owned(),
            playlist: MediaPlaylist::new(config),
            generation: 0,
            epoch: SessionEpoch::new(ProgramTime::UNIX_EPOCH),
            open_parts: Vec::new(),
            retired: VecDeque::new(),
            dropped_chunks: 0,
            unrecorded: 0,
        }
    }

    /// A writer that continues what the store holds (see [`crate::resume`]): the
    /// restored segments are replayed into the playlist model, so the window, the
    /// recording and the discontinuity sequence come out as the first run left them.
    /// Parts still stored for segments outside the window are deleted a window later.
    pub fn resume(event: &str, name: &str, config: PlaylistConfig, restored: &Restored) -> Self {
        let mut w = RenditionWriter::new(event, name, config);
        let Some(first) = restored.segments.first() else {
            return w;
        };
        w.playlist.next_msn = first.msn;
        for seg in &restored.segments {
            if seg.discontinuity {
                w.playlist.discontinuity(seg.generation);
            } else {
                w.playlist.generation = seg.generation;
            }
            w.playlist
                .begin_segment(seg.program_date_time.unwrap_or(SystemTime::UNIX_EPOCH));
            for p in &seg.parts {
                // A playlist just opened accepts parts.
                let _ = w.playlist.push_part(p.duration, p.independent);
            }
            w.playlist.close_segment();
            w.generation = seg.generation;
        }
        let window_start = w.playlist.segments.front().map_or(0, |s| s.msn);
        for msn in restored
            .stored_part_msns
            .iter()
            .filter(|m| **m < window_start)
        {
            w.retired.push_back((*msn, MAX_PARTS_PER_SEGMENT, false));
        }
        w
    }

    /// The recording playlist: an event playlist while live, VOD once ended.
    pub fn recording(&self) -> Option<StoreOp> {
        if !self.playlist.records() || self.playlist.segments.is_empty() {
            return None;
        }
        let vod = self.playlist.render_vod();
        let text = if self.playlist.is_ended() {
            vod
        } else {
            // The header's tag and the last line only: a marker's text may read alike.
            vod.replacen("#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-PLAYLIST-TYPE:EVENT", 1)
                .trim_end_matches("#EXT-X-ENDLIST\n")
                .to_owned()
        };
        Some(StoreOp::Put {
            key: names::recording_key(&self.event, &self.name),
            object: Object {
                data: Bytes::from(text),
                content_type: ContentType::Playlist,
            },
        })
    }

    fn write_recording(&mut self, ops: &mut Vec<StoreOp>) {
        if let Some(op) = self.recording() {
            ops.push(op);
        }
        self.unrecorded = 0;
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn playlist(&self) -> &MediaPlaylist {
        &self.playlist
    }

    /// The event's markers: the playlists written from now on list those within them.
    pub fn set_date_ranges(&mut self, ranges: std::sync::Arc<[DateRange]>) {
        self.playlist.set_date_ranges(ranges);
    }

    fn key(&self, file: &str) -> String {
        names::rendition_key(&self.event, &self.name, file)
    }

    /// Starts a publish session: `generation` 0 for the first, then one more per session.
    /// Any open segment must have been finished before.
    pub fn begin_session(&mut self, generation: u64, epoch: SessionEpoch) {
        if generation != self.generation || self.playlist.last_part().is_some() {
            self.playlist.discontinuity(generation);
        }
        self.generation = generation;
        self.epoch = epoch;
    }

    /// The init segment of the current session.
    pub fn on_init(&mut self, data: Bytes) -> Vec<StoreOp> {
        vec![StoreOp::Put {
            key: self.key(&names::init_name(self.generation)),
            object: Object {
                data,
                content_type: ContentType::Mp4,
            },
        }]
    }

    /// One chunk: closes the open segment at a fragment start, writes the part.
    pub fn on_chunk(&mut self, chunk: Chunk) -> Vec<StoreOp> {
        let mut ops = Vec::new();
        if chunk.fragment_start {
            tracing::debug!(rendition = %self.name, pts_ns = chunk.pts.as_nanos() as u64, msn = self.playlist.next_msn, "segment starts");
            self.close_segment(&mut ops);
            self.playlist
                .begin_segment(self.epoch.program_time(chunk.pts).to_system());
        }
        match self
            .playlist
            .push_part(chunk.duration, chunk.fragment_start)
        {
            Ok((msn, part)) => {
                self.open_parts.push(chunk.data.clone());
                ops.push(StoreOp::Put {
                    key: self.key(&names::part_name(msn, part)),
                    object: Object {
                        data: chunk.data,
                        content_type: ContentType::Mp4,
                    },
                });
            }
            Err(_) => self.dropped_chunks += 1,
        }
        ops
    }

    /// The live is over: the playlists become the VOD playlist of the recording
    /// (write them with `playlists` afterwards).
    pub fn end(&mut self) -> Vec<StoreOp> {
        let mut ops = Vec::new();
        self.close_segment(&mut ops);
        self.playlist.end();
        self.write_recording(&mut ops);
        ops
    }

    /// The publisher left: closes the open segment.
    pub fn finish(&mut self) -> Vec<StoreOp> {
        let mut ops = Vec::new();
        self.close_segment(&mut ops);
        self.write_recording(&mut ops);
        ops
    }

    fn close_segment(&mut self, ops: &mut Vec<StoreOp>) {
        let Some(closed) = self.playlist.close_segment() else {
            return;
        };
        let mut data = BytesMut::with_capacity(self.open_parts.iter().map(Bytes::len).sum());
        for p in self.open_parts.drain(..) {
            data.extend_from_slice(&p);
        }
        ops.push(StoreOp::Put {
            key: self.key(&names::segment_name(closed.msn)),
            object: Object {
                data: data.freeze(),
                content_type: ContentType::Mp4,
            },
        });
        self.unrecorded += 1;
        if self.unrecorded >= RECORDING_EVERY {
            self.write_recording(ops);
        }
        let window = self.playlist.config.window_segments.max(1);
        let recorded = self.playlist.records();
        for msn in closed.evicted {
            // Part count of evicted segments is unknown here; parts are deleted by a
            // bounded probe of indices (the store ignores missing keys).
            self.retired
                .push_back((msn, MAX_PARTS_PER_SEGMENT, !recorded));
        }
        // Recorded segments past the retention left every playlist long ago.
        for msn in closed.expired {
            ops.push(StoreOp::Delete {
                key: self.key(&names::segment_name(msn)),
            });
        }
        while self.retired.len() > window {
            if let Some((msn, parts, segment_too)) = self.retired.pop_front() {
                if segment_too {
                    ops.push(StoreOp::Delete {
                        key: self.key(&names::segment_name(msn)),
                    });
                }
                for p in 0..parts {
                    ops.push(StoreOp::Delete {
                        key: self.key(&names::part_name(msn, p)),
                    });
                }
            }
        }
    }

    /// The rendition's edge as other renditions report it.
    pub fn report_from(&self, other_name: &str) -> Option<RenditionReport> {
        let _ = other_name;
        let (last_msn, last_part) = self.playlist.last_part()?;
        Some(RenditionReport {
            uri: format!("../{}/index.m3u8", self.name),
            last_msn,
            last_part,
        })
    }

    /// The full and delta playlists, to be written after the media they list.
    pub fn playlists(&self, reports: &[RenditionReport]) -> Vec<StoreOp> {
        vec![
            StoreOp::Put {
                key: names::delta_playlist_key(&self.event, &self.name),
                object: Object {
                    data: Bytes::from(self.playlist.render(true, reports)),
                    content_type: ContentType::Playlist,
                },
            },
            StoreOp::Put {
                key: names::playlist_key(&self.event, &self.name),
                object: Object {
                    data: Bytes::from(self.playlist.render(false, reports)),
                    content_type: ContentType::Playlist,
                },
            },
        ]
    }
}

/// Upper bound on parts in one segment, used when deleting old parts.
pub const MAX_PARTS_PER_SEGMENT: u32 = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_at(unix_secs: u64) -> SessionEpoch {
        SessionEpoch::new(ProgramTime::from_unix_secs(unix_secs))
    }

    fn chunk(i: u32, start: bool) -> Chunk {
        Chunk {
            data: Bytes::from(vec![i as u8; 10 + i as usize]),
            pts: Duration::from_millis(333 * i as u64),
            duration: Duration::from_millis(333),
            fragment_start: start,
        }
    }

    fn puts(ops: &[StoreOp]) -> Vec<&str> {
        ops.iter()
            .filter_map(|o| match o {
                StoreOp::Put { key, .. } => Some(key.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn parts_concatenate_to_segments() {
        let mut w = RenditionWriter::new("ev", "720p", PlaylistConfig::default());
        w.begin_session(0, epoch_at(0));
        assert_eq!(
            puts(&w.on_init(Bytes::from_static(b"init"))),
            ["live/ev/720p/init.mp4"]
        );
        let mut parts = Vec::new();
        for i in 0..6 {
            let ops = w.on_chunk(chunk(i, i == 0));
            assert_eq!(puts(&ops), [format!("live/ev/720p/part0.{i}.m4s").as_str()]);
            parts.extend_from_slice(&chunk(i, false).data);
        }
        let ops = w.on_chunk(chunk(6, true));
        let seg = ops
            .iter()
            .find_map(|o| match o {
                StoreOp::Put { key, object } if key.ends_with("seg0.m4s") => {
                    Some(object.data.clone())
                }
                _ => None,
            })
            .expect("segment written at the next fragment start");
        assert_eq!(&seg[..], &parts[..]);
        assert_eq!(puts(&ops)[1], "live/ev/720p/part1.0.m4s");
        let text = w.playlist().render(false, &[]);
        assert!(text.contains("seg0.m4s"), "{text}");
        assert!(text.contains("part1.0.m4s"), "{text}");
    }

    #[test]
    fn chunks_before_a_fragment_start_are_dropped() {
        let mut w = RenditionWriter::new("ev", "360p", PlaylistConfig::default());
        w.begin_session(0, epoch_at(0));
        assert!(w.on_chunk(chunk(0, false)).is_empty());
        assert_eq!(w.on_chunk(chunk(1, true)).len(), 1);
    }

    #[test]
    fn a_new_session_is_a_discontinuity_with_a_new_init() {
        let mut w = RenditionWriter::new("ev", "720p", PlaylistConfig::default());
        w.begin_session(0, epoch_at(0));
        w.on_init(Bytes::from_static(b"a"));
        for i in 0..4 {
            w.on_chunk(chunk(i, i % 2 == 0));
        }
        let ops = w.finish();
        assert!(puts(&ops).contains(&"live/ev/720p/seg1.m4s"));
        w.begin_session(1, epoch_at(100));
        assert_eq!(
            puts(&w.on_init(Bytes::from_static(b"b"))),
            ["live/ev/720p/init-1.mp4"]
        );
        let ops = w.on_chunk(chunk(0, true));
        assert_eq!(puts(&ops), ["live/ev/720p/part2.0.m4s"], "msn continues");
        let text = w.playlist().render(false, &[]);
        assert!(text.contains("#EXT-X-DISCONTINUITY"), "{text}");
        assert!(text.contains("init-1.mp4"), "{text}");
    }

    /// A writer with a 3-segment window and `retain_segments`, fed 40 chunks (20
    /// segments of two); returns it and the keys it deleted.
    fn forty_chunks(retain_segments: usize) -> (RenditionWriter, Vec<String>) {
        let config = PlaylistConfig {
            window_segments: 3,
            retain_segments,
            ..PlaylistConfig::default()
        };
        let mut w = RenditionWriter::new("ev", "720p", config);
        w.begin_session(0, epoch_at(0));
        let mut deleted = Vec::new();
        for i in 0..40 {
            for op in w.on_chunk(chunk(i, i % 2 == 0)) {
                if let StoreOp::Delete { key } = op {
                    deleted.push(key);
                }
            }
        }
        (w, deleted)
    }

    #[test]
    fn old_segments_are_deleted_a_window_later() {
        let (_, deleted) = forty_chunks(3);
        // 20 segments: 19 closed, window 3, 16 evicted, of which 13 deleted so far.
        assert!(deleted.contains(&"live/ev/720p/seg0.m4s".to_owned()));
        assert!(deleted.contains(&"live/ev/720p/part0.0.m4s".to_owned()));
        assert!(!deleted.contains(&"live/ev/720p/seg13.m4s".to_owned()));
    }

    #[test]
    fn recorded_segments_outlive_their_parts_and_end_as_vod() {
        let (mut w, deleted) = forty_chunks(8);
        // Parts go a window after leaving the live playlist; segments only when they
        // pass the retention (8 segments: 19 closed, 0..=10 expired).
        assert!(deleted.contains(&"live/ev/720p/part0.0.m4s".to_owned()));
        assert!(deleted.contains(&"live/ev/720p/seg10.m4s".to_owned()));
        assert!(!deleted.contains(&"live/ev/720p/seg11.m4s".to_owned()));
        assert!(deleted.contains(&"live/ev/720p/part12.0.m4s".to_owned()));
        let ops = w.end();
        assert!(puts(&ops).contains(&"live/ev/720p/seg19.m4s"));
        let vod = match &w.playlists(&[])[1] {
            StoreOp::Put { object, .. } => String::from_utf8_lossy(&object.data).into_owned(),
            StoreOp::Delete { .. } => String::new(),
        };
        assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{vod}");
        assert!(vod.contains("#EXT-X-MEDIA-SEQUENCE:12\n"), "{vod}");
        assert!(vod.ends_with("seg19.m4s\n#EXT-X-ENDLIST\n"), "{vod}");
    }

    #[test]
    fn markers_are_listed_live_within_the_window_and_all_in_the_recording() {
        let (mut w, _) = forty_chunks(100);
        // Chunk i starts at 333 ms × i after the epoch (the Unix epoch here); the live
        // window is 3 segments of 666 ms: from 10.656 s on.
        let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        let early = DateRange::marker("chapter-1", at(1_000), "chapter", "Intro");
        let recent = DateRange::marker(
            "question-9",
            at(11_000),
            "question",
            "What is #EXT-X-PLAYLIST-TYPE:VOD?",
        );
        w.set_date_ranges(std::sync::Arc::from(vec![early, recent]));
        let live = text(&w.playlists(&[])[1]);
        assert!(!live.contains("chapter-1"), "{live}");
        assert!(
            live.contains("#EXT-X-DATERANGE:ID=\"question-9\""),
            "{live}"
        );
        let recording = text(&w.recording().expect("a recording"));
        assert!(
            recording.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"),
            "{recording}"
        );
        assert!(recording.contains("ID=\"chapter-1\""), "{recording}");
        // The marker's text is left as it was.
        assert!(recording.contains("X-AMPHI-TEXT=\"What is #EXT-X-PLAYLIST-TYPE:VOD?\""));
        let listing = amphi_hls::playlist::read_media(&recording).expect("readable");
        assert_eq!(listing.date_ranges.len(), 2);
    }

    fn text(op: &StoreOp) -> String {
        match op {
            StoreOp::Put { object, .. } => String::from_utf8_lossy(&object.data).into_owned(),
            StoreOp::Delete { .. } => String::new(),
        }
    }

    /// A writer fed `segments` segments of two chunks, then cut (a crash): what the
    /// store holds at that moment (last put of each key), and the next chunk index.
    fn crashed_run(segments: u32) -> (std::collections::BTreeMap<String, StoreOp>, u32) {
        let mut w = RenditionWriter::new("ev", "720p", PlaylistConfig::default());
        w.begin_session(0, epoch_at(0));
        let mut stored = std::collections::BTreeMap::new();
        let mut put = |ops: Vec<StoreOp>| {
            for op in ops {
                if let StoreOp::Put { key, .. } = &op {
                    stored.insert(key.clone(), op.clone());
                }
            }
        };
        put(w.on_init(Bytes::from_static(b"init")));
        let chunks = segments * 2 + 1; // the last segment is left open
        for i in 0..chunks {
            put(w.on_chunk(chunk(i, i % 2 == 0)));
            put(w.playlists(&[]));
        }
        (stored, chunks)
    }

    fn restore_from(stored: &std::collections::BTreeMap<String, StoreOp>) -> Restored {
        let get = |k: &str| stored.get(k).map(text);
        let files: Vec<String> = stored
            .keys()
            .filter_map(|k| k.strip_prefix("live/ev/720p/").map(str::to_owned))
            .collect();
        crate::resume::restore(
            get("live/ev/720p/index.m3u8").as_deref(),
            get("live/ev/720p/recording.m3u8").as_deref(),
            &files,
            Duration::from_millis(333),
        )
    }

    #[test]
    fn a_resumed_writer_never_writes_a_stored_name_again() {
        let (stored, chunks) = crashed_run(7);
        let restored = restore_from(&stored);
        assert_eq!(restored.next_msn(), 8, "7 closed, the open one closed too");
        assert_eq!(restored.build_segments, vec![(7, 1)]);
        let mut w = RenditionWriter::resume("ev", "720p", PlaylistConfig::default(), &restored);
        w.begin_session(1, epoch_at(60));
        let mut written = w.on_init(Bytes::from_static(b"init2"));
        for i in 0..6 {
            written.extend(w.on_chunk(chunk(chunks + i, i % 2 == 0)));
        }
        written.extend(w.finish());
        for op in &written {
            if let StoreOp::Put { key, .. } = op {
                let media = !key.ends_with(".m3u8");
                assert!(
                    !(media && stored.contains_key(key)),
                    "{key} was already stored"
                );
            }
        }
        assert!(puts(&written).contains(&"live/ev/720p/init-1.mp4"));
        assert!(puts(&written).contains(&"live/ev/720p/part8.0.m4s"));
        let live = w.playlist().render(false, &[]);
        assert!(live.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{live}");
        assert!(
            live.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\""),
            "{live}"
        );
    }

    #[test]
    fn the_recording_lists_every_segment_across_a_crash() {
        // 30 segments: far more than the live window of 12.
        let (stored, chunks) = crashed_run(30);
        let restored = restore_from(&stored);
        assert_eq!(restored.next_msn(), 31);
        let mut w = RenditionWriter::resume("ev", "720p", PlaylistConfig::default(), &restored);
        w.begin_session(1, epoch_at(600));
        w.on_init(Bytes::from_static(b"init2"));
        for i in 0..4 {
            w.on_chunk(chunk(chunks + i, i % 2 == 0));
        }
        let ops = w.end();
        let vod = ops
            .iter()
            .find(|op| matches!(op, StoreOp::Put { key, .. } if key.ends_with("recording.m3u8")))
            .map(text)
            .expect("the recording is written at the end");
        let listed: Vec<String> = vod
            .lines()
            .filter(|l| l.starts_with("seg"))
            .map(str::to_owned)
            .collect();
        let expected: Vec<String> = (0..33).map(|m| format!("seg{m}.m4s")).collect();
        assert_eq!(listed, expected, "{vod}");
        assert_eq!(vod.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{vod}");
        assert!(vod.ends_with("#EXT-X-ENDLIST\n"), "{vod}");
        // The live playlist was the window only, far behind.
        let live = text(&stored["live/ev/720p/index.m3u8"]);
        assert!(!live.contains("\nseg0.m4s"), "{live}");
    }
}
