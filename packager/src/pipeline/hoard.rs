//! Bounds what a wedged muxer can hold.
//!
//! isofmp4mux wedges on a hole in its input (a GOP missing its references, or one
//! frame spanning a fragment boundary: a publisher that dropped frames, a source
//! that skipped to a keyframe): it waits for the fragment to fill and, while it waits,
//! takes every buffer offered and keeps it. Nothing of the ladder's own makes such a
//! hole any more (its compressed queues never drop), but a source can, and a wedged
//! muxer would hold the rest of the lecture in memory, at the media's bit rate.
//!
//! A muxer that works holds about one part: it takes a buffer only when every one of
//! its inputs has one (the aggregator waits otherwise, and its queue holds its branch
//! back), and it puts out a chunk per part. [`HoardGuard`] (pure, media time is its
//! only input) adds up the video fed to one muxer since its last chunk (the steps
//! between consecutive timestamps, each counted up to [`MAX_STEP`], so a hole in the
//! source counts as one short step, not as held media); past [`HOARD_LIMIT`] the muxer
//! holds media it will not give back, and the rendition is cut off: from then on its inputs are dropped in front of
//! the muxer (its queues drain, so no tee waits for it), it leaves the multivariant
//! playlist, and the rest of the ladder goes on. A publisher's next session builds a
//! new ladder with every rendition.
//!
//! Audio is not measured: across a long hole in the source's video the muxer takes the
//! audio of the hole (it waits for the video's GOP to end) and gives it back when the
//! video returns. Measured on the real muxer (`tests/muxer_holes.rs`): video dropped
//! by the publisher up to a keyframe wedges the passthrough's muxer for good; 13 s
//! without video, with the audio going on, does not.

use super::*;

/// Video a muxer may take without putting out a chunk before it is cut off: well beyond a part, a segment, a long GOP, and the four seconds after which
/// the stall watch warns.
pub const HOARD_LIMIT: Duration = Duration::from_secs(12);

/// The most one step between consecutive video frames counts for (a slide
/// show's frame interval is well within it; a hole beyond it is not media held).
pub const MAX_STEP: Duration = Duration::from_millis(250);

/// What to do with a buffer on its way into a muxer.
#[derive(Debug, Clone, PartialEq)]
pub enum Admit {
    /// Into the muxer.
    Pass,
    /// Dropped: the muxer is cut off.
    Drop,
    /// Dropped, and the muxer cut off from now on: the figures for the warning.
    CutOff(Hoard),
}

/// What a muxer held when it was cut off.
#[derive(Debug, Clone, PartialEq)]
pub struct Hoard {
    /// Video taken since the last chunk.
    pub held: Duration,
    /// Media time of the newest video frame fed.
    pub newest_in: Duration,
    /// End of its last chunk (`None`: it never put one out).
    pub last_chunk_end: Option<Duration>,
    /// Buffers and bytes fed to it (all inputs) since its last chunk.
    pub buffers: u64,
    pub bytes: u64,
}

/// One muxer's inputs against its output (pure).
#[derive(Debug, Clone)]
pub struct HoardGuard {
    limit: Duration,
    newest: Option<Duration>,
    held: Duration,
    last_chunk_end: Option<Duration>,
    buffers: u64,
    bytes: u64,
    cut_off: bool,
}

impl HoardGuard {
    pub fn new(limit: Duration) -> HoardGuard {
        HoardGuard {
            limit,
            newest: None,
            held: Duration::ZERO,
            last_chunk_end: None,
            buffers: 0,
            bytes: 0,
            cut_off: false,
        }
    }

    /// A video frame of `bytes` with timestamp `ts` (running time: the decoding time
    /// where there is one) is on its way into the muxer.
    pub fn on_video(&mut self, ts: Duration, bytes: usize) -> Admit {
        if self.cut_off {
            return Admit::Drop;
        }
        if let Some(newest) = self.newest {
            self.held += ts.saturating_sub(newest).min(MAX_STEP);
        }
        let newest = self.newest.map_or(ts, |n| n.max(ts));
        self.newest = Some(newest);
        self.count(bytes);
        if self.held <= self.limit {
            return Admit::Pass;
        }
        self.cut_off = true;
        Admit::CutOff(Hoard {
            held: self.held,
            newest_in: newest,
            last_chunk_end: self.last_chunk_end,
            buffers: self.buffers,
            bytes: self.bytes,
        })
    }

    /// An audio frame of `bytes` is on its way into the muxer.
    pub fn on_audio(&mut self, bytes: usize) -> Admit {
        if self.cut_off {
            return Admit::Drop;
        }
        self.count(bytes);
        Admit::Pass
    }

    fn count(&mut self, bytes: usize) {
        self.buffers += 1;
        self.bytes += bytes as u64;
    }

    /// The muxer put out a chunk ending at media time `end`.
    pub fn on_chunk(&mut self, end: Duration) {
        self.last_chunk_end = Some(self.last_chunk_end.map_or(end, |e| e.max(end)));
        self.held = Duration::ZERO;
        self.buffers = 0;
        self.bytes = 0;
    }

    pub fn is_cut_off(&self) -> bool {
        self.cut_off
    }
}

/// Where the guard of one rendition reports.
pub(super) struct GuardOutput {
    pub(super) rendition: usize,
    pub(super) name: String,
    pub(super) shedding: Arc<Shedding>,
    pub(super) span: tracing::Span,
}

/// Watches (and, once cut off, drops) what the queues named `video` and `audio` hand
/// the muxer.
pub(super) fn install_hoard_guard(
    pipeline: &gst::Pipeline,
    video: &str,
    audio: Option<&str>,
    guard: Arc<Mutex<HoardGuard>>,
    out: GuardOutput,
) -> Result<(), PackagerError> {
    let out = Arc::new(out);
    for (queue, is_video) in std::iter::once((video, true)).chain(audio.map(|a| (a, false))) {
        let pad = pipeline
            .by_name(queue)
            .and_then(|q| q.static_pad("src"))
            .ok_or_else(|| PackagerError::Pipeline(format!("queue {queue} missing")))?;
        let guard = guard.clone();
        let out = out.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(buffer) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            // On the running-time clock the chunks are measured on (x264enc shifts its
            // output segment).
            let segment = pad
                .sticky_event::<gst::event::Segment>(0)
                .and_then(|e| e.segment().downcast_ref::<gst::ClockTime>().cloned());
            let Some(ts) = buffer
                .dts_or_pts()
                .map(|t| segment.and_then(|s| s.to_running_time(t)).unwrap_or(t))
            else {
                return gst::PadProbeReturn::Ok;
            };
            let size = buffer.size();
            let admit = match guard.lock() {
                Ok(mut g) if is_video => g.on_video(Duration::from_nanos(ts.nseconds()), size),
                Ok(mut g) => g.on_audio(size),
                Err(_) => return gst::PadProbeReturn::Ok,
            };
            match admit {
                Admit::Pass => return gst::PadProbeReturn::Ok,
                Admit::Drop => {}
                Admit::CutOff(h) => {
                    out.span.in_scope(|| {
                        tracing::warn!(
                            rendition = %out.name,
                            held_ms = h.held.as_millis() as u64,
                            newest_in_ms = h.newest_in.as_millis() as u64,
                            last_chunk_end_ms = h.last_chunk_end.map(|d| d.as_millis() as u64),
                            buffers = h.buffers,
                            bytes = h.bytes,
                            "muxer wedged (it holds what it is fed and puts out nothing, after \
                             a hole in its input): rendition cut off for the rest of the session"
                        )
                    });
                    out.shedding.cut_off(out.rendition);
                }
            }
            // Taken and handled, as the shed filter does (see `shedding`).
            info.data = None;
            gst::PadProbeReturn::Handled
        })
        .ok_or_else(|| PackagerError::Pipeline(format!("could not watch queue {queue}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_nanos(33_333_333);

    #[test]
    fn a_working_muxer_is_never_cut_off() {
        // Video and audio in, a chunk out every ten frames about a part behind.
        let mut g = HoardGuard::new(HOARD_LIMIT);
        for n in 0..10_000u32 {
            assert_eq!(g.on_video(FRAME * n, 5_000), Admit::Pass);
            assert_eq!(g.on_audio(300), Admit::Pass);
            if n % 10 == 9 && n > 20 {
                g.on_chunk(FRAME * (n - 10));
            }
        }
        assert!(!g.is_cut_off());
    }

    #[test]
    fn holes_in_the_source_are_not_media_held() {
        // Video skips 30 s twice, between chunks: each hole counts one step.
        let mut g = HoardGuard::new(HOARD_LIMIT);
        let mut t = Duration::ZERO;
        for n in 0..2_000u32 {
            if n % 700 == 350 {
                t += Duration::from_secs(30);
            }
            t += FRAME;
            assert_eq!(g.on_video(t, 1_000), Admit::Pass, "frame {n}");
            if n % 10 == 0 {
                g.on_chunk(t.saturating_sub(FRAME * 10));
            }
        }
        // Without any chunk, only the frames themselves count: 12 s of them.
        let mut g = HoardGuard::new(HOARD_LIMIT);
        let cut = (0..1_000u32).position(|n| {
            let t = FRAME * n + Duration::from_secs(if n > 100 { 60 } else { 0 });
            matches!(g.on_video(t, 1), Admit::CutOff(_))
        });
        assert_eq!(cut, Some(354), "12 s of frames and one 250 ms step");
    }

    #[test]
    fn a_wedged_muxer_is_cut_off_once_then_fed_nothing() {
        let mut g = HoardGuard::new(HOARD_LIMIT);
        for n in 0..60u32 {
            g.on_video(FRAME * n, 1_000);
        }
        g.on_chunk(Duration::from_secs(1));
        // Wedged from here: frames go in, no chunk comes out.
        let mut cut = Vec::new();
        for n in 60..1_000u32 {
            match g.on_video(FRAME * n, 1_000) {
                Admit::Pass => {}
                Admit::CutOff(h) => cut.push((n, h)),
                Admit::Drop => assert!(!cut.is_empty(), "dropped before the cut at {n}"),
            }
        }
        assert_eq!(cut.len(), 1, "{cut:?}");
        let (n, h) = &cut[0];
        // Cut off on the first frame more than the limit after the last chunk's.
        assert_eq!(*n, 59 + 361);
        assert_eq!(h.last_chunk_end, Some(Duration::from_secs(1)));
        assert!(h.held > HOARD_LIMIT && h.held <= HOARD_LIMIT + FRAME);
        assert_eq!(h.newest_in, FRAME * *n);
        assert_eq!(h.buffers, u64::from(*n) - 60 + 1);
        assert_eq!(h.bytes, h.buffers * 1_000);
        // A late chunk does not feed it again: a hole would follow.
        g.on_chunk(Duration::from_secs(20));
        assert_eq!(g.on_video(FRAME * 1_001, 10), Admit::Drop);
        assert_eq!(g.on_audio(10), Admit::Drop);
    }

    #[test]
    fn audio_taken_across_a_hole_in_the_video_is_not_held() {
        // The muxer takes the audio of a long hole in the video, and a chunk follows.
        let mut g = HoardGuard::new(HOARD_LIMIT);
        assert_eq!(g.on_video(Duration::ZERO, 1_000), Admit::Pass);
        for _ in 0..10_000 {
            assert_eq!(g.on_audio(300), Admit::Pass);
        }
        assert_eq!(g.on_video(Duration::from_secs(200), 1_000), Admit::Pass);
        assert!(!g.is_cut_off());
    }
}
