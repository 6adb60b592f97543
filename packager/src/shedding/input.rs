//! Each encoded rendition's input, just before its encoder: keyframes forced on the
//! session's cut schedule, and, while the rendition is shed, only what [`ShedFeed`]
//! keeps.
//!
//! The rule: every rendition's fragment (segment) `n` starts at the `n`-th cut. An
//! encoder reads a leaky queue one part long, which under load drops frames and the
//! keyframe requests between them alike. A keyframe that came a frame late made the
//! muxer measure its next fragment from there, so the next cut fell short of the
//! fragment's end and that fragment lasted two segment durations (its media sequence
//! numbers behind the passthrough's from there on); a request lost with its frames
//! gave no cut at all. Here the keyframe is forced on the first frame at or after each
//! cut, and when that frame is later than the cut (the cut's own frame was lost), the
//! last picture is repeated at the cut time first and made the keyframe: the fragment
//! starts exactly on the cut, in every rendition, shed, restored or at full rate.
//! A restored rendition runs at full rate again from a cut, so it rejoins at the
//! event's current segment, never with a numbering of its own.

use super::feed::ShedFeed;
use crate::pipeline::keyframes::{keyframe_request, CutSchedule};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A picture to give the encoder before the frame at hand: a repeat of the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    pub pts: Duration,
    pub duration: Duration,
    /// Forced as a keyframe (it stands on a cut whose frame was lost).
    pub keyframe: bool,
}

/// What to do with one frame at an encoder's input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Admit {
    /// Repeats of the last picture to send first, in order.
    pub repeats: Vec<Repeat>,
    /// Force a keyframe on the frame itself (it stands on a cut).
    pub keyframe: bool,
    /// Whether the frame reaches the encoder.
    pub pass: bool,
    /// The rendition was restored at a cut made for this frame: full rate from here.
    pub restored: bool,
}

/// One encoder's input (pure): the cut schedule, the shed feed and the repeats.
#[derive(Debug, Clone)]
pub struct EncoderInput {
    feed: ShedFeed,
    chunk: Duration,
    /// The last cut a keyframe was forced on.
    last_cut: Option<Duration>,
    /// The last frame's time and the gaps between the last few frames: the frame
    /// interval is the shortest of them.
    last_pts: Option<Duration>,
    gaps: [Option<Duration>; GAPS_KEPT],
}

/// Gaps between frames kept to tell the frame interval (a lost frame leaves a gap of
/// two intervals; the shortest of eight is the interval unless most were lost).
const GAPS_KEPT: usize = 8;

/// The longest frame interval the input assumes (30 fps). A slower source's frames can
/// overrun a chunk end by more than half of it without a loss and then get a repeat
/// there: a picture more to encode, never a part longer than its target.
const LONGEST_INTERVAL: Duration = Duration::from_nanos(1_000_000_000 / 30);

impl EncoderInput {
    /// `fragment` and `chunk`: the muxer's fragment and chunk durations.
    pub fn new(fragment: Duration, chunk: Duration) -> EncoderInput {
        EncoderInput {
            feed: ShedFeed::new(fragment, chunk),
            chunk: chunk.max(Duration::from_millis(1)),
            last_cut: None,
            last_pts: None,
            gaps: [None; GAPS_KEPT],
        }
    }

    /// The frame interval as the input sees it: the shortest recent gap, and never
    /// more than [`LONGEST_INTERVAL`]. An encoder whose first frames were lost has seen
    /// only long gaps (or none), and an interval taken from them would hide the losses
    /// they are.
    fn interval(&self) -> Duration {
        self.gaps
            .iter()
            .flatten()
            .copied()
            .fold(LONGEST_INTERVAL, Duration::min)
    }

    /// Repeats of the last picture on chunk starts the muxer would miss, told to the
    /// feed as frames (their durations are set once the frame after them is known).
    fn repeat_on(&mut self, starts: Vec<Duration>, repeats: &mut Vec<Repeat>) {
        for t in starts {
            self.feed.frame(t, false);
            repeats.push(Repeat {
                pts: t,
                duration: Duration::ZERO,
                keyframe: false,
            });
        }
    }

    fn remember(&mut self, pts: Duration) {
        if let Some(last) = self.last_pts.filter(|l| *l < pts) {
            self.gaps.rotate_right(1);
            self.gaps[0] = Some(pts - last);
        }
        self.last_pts = Some(pts);
    }

    /// The frame at `pts`, in the order the encoder's input gets them. `cuts`: the
    /// schedule's cuts at or before `pts`, oldest first; `shed`: the rendition is shed;
    /// `reopen`: it is to run at full rate again from its next cut.
    pub fn frame(&mut self, pts: Duration, cuts: &[Duration], shed: bool, reopen: bool) -> Admit {
        let due: Vec<Duration> = match self.last_cut {
            Some(last) => cuts
                .iter()
                .copied()
                .filter(|c| *c > last && *c <= pts)
                .collect(),
            // The encoder's first frame: its first keyframe on the latest cut, not on
            // every cut from before it started.
            None => cuts
                .iter()
                .copied()
                .rfind(|c| *c <= pts)
                .into_iter()
                .collect(),
        };
        let mut admit = Admit::default();
        if due.is_empty() {
            // Frames lost on chunk ends inside the fragment: repeats there, so no part
            // runs long (see [`ShedFeed::missed_chunk_starts`]).
            let missed = self.feed.missed_chunk_starts(pts, self.interval() / 2);
            self.repeat_on(missed, &mut admit.repeats);
        }
        for cut in due {
            // Frames lost from a chunk's end up to a fragment start: repeats on the
            // missing chunk starts (see [`ShedFeed::repeats_before`]).
            let missed = self.feed.repeats_before(cut);
            self.repeat_on(missed, &mut admit.repeats);
            if cut < pts {
                self.feed.frame(cut, true);
                admit.repeats.push(Repeat {
                    pts: cut,
                    duration: Duration::ZERO,
                    keyframe: true,
                });
            } else {
                admit.keyframe = true;
            }
            self.last_cut = Some(cut);
            admit.restored |= reopen;
        }
        // Each repeat lasts up to what follows it, a chunk at most.
        let mut next = pts;
        for r in admit.repeats.iter_mut().rev() {
            r.duration = self.chunk.min(next.saturating_sub(r.pts));
            next = r.pts;
        }
        self.remember(pts);
        let kept = self.feed.frame(pts, admit.keyframe);
        admit.pass = kept || !shed || admit.restored;
        admit
    }
}

/// A rendition's shedding state, shared by the governor's side and its encoder's input.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    /// Shed: only what [`ShedFeed`] keeps reaches the encoder.
    pub(crate) shed: AtomicBool,
    /// Restore decided: full rate again from the next cut.
    pub(crate) reopen: AtomicBool,
    /// Announce the rendition back at its next fragment start.
    pub(crate) announce: AtomicBool,
}

/// Installs [`EncoderInput`] on an encoder's sink `pad`. At the encoder's input, not
/// its queue's: a shed rung still scales for the rungs cascaded from it.
pub(crate) fn install(
    pad: &gst::Pad,
    flags: Arc<Flags>,
    schedule: Arc<CutSchedule>,
    fragment: Duration,
    chunk: Duration,
) {
    let input = Mutex::new(EncoderInput::new(fragment, chunk));
    // The last picture the encoder got, and whether a repeat of it is being sent.
    let last: Mutex<Option<gst::Buffer>> = Mutex::new(None);
    let repeating = AtomicBool::new(false);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if repeating.load(Ordering::Acquire) {
            return gst::PadProbeReturn::Ok;
        }
        let Some(buffer) = info.buffer().cloned() else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(pts) = buffer.pts() else {
            return gst::PadProbeReturn::Ok;
        };
        let at = Duration::from_nanos(pts.nseconds());
        let cuts = schedule.up_to(at);
        let admit = match input.lock() {
            Ok(mut input) => input.frame(
                at,
                &cuts,
                flags.shed.load(Ordering::Acquire),
                flags.reopen.load(Ordering::Acquire),
            ),
            Err(_) => return gst::PadProbeReturn::Ok,
        };
        if admit.restored && flags.reopen.swap(false, Ordering::AcqRel) {
            flags.shed.store(false, Ordering::Release);
            flags.announce.store(true, Ordering::Release);
        }
        if !admit.repeats.is_empty() {
            // The encoder's first frame stands in for the picture before it.
            let picture = last
                .lock()
                .ok()
                .and_then(|l| l.clone())
                .unwrap_or_else(|| buffer.clone());
            tracing::debug!(
                encoder = %pad.parent().map(|p| p.name()).unwrap_or_default(),
                keyframes = ?admit.repeats.iter().filter(|r| r.keyframe).map(|r| r.pts.as_nanos() as u64).collect::<Vec<_>>(),
                repeats = admit.repeats.len(),
                frame_ms = at.as_millis() as u64,
                "frames lost before a cut or a chunk end: repeating the last picture"
            );
            repeating.store(true, Ordering::Release);
            for r in &admit.repeats {
                if r.keyframe {
                    pad.send_event(keyframe_request(gst::ClockTime::from_nseconds(
                        r.pts.as_nanos() as u64,
                    )));
                }
                let mut copy = picture.copy();
                {
                    let b = copy.make_mut();
                    b.set_pts(gst::ClockTime::from_nseconds(r.pts.as_nanos() as u64));
                    b.set_dts(gst::ClockTime::NONE);
                    b.set_duration(gst::ClockTime::from_nseconds(r.duration.as_nanos() as u64));
                }
                let _ = pad.chain(copy);
            }
            repeating.store(false, Ordering::Release);
        }
        if admit.keyframe {
            tracing::trace!(
                encoder = %pad.parent().map(|p| p.name()).unwrap_or_default(),
                pts = pts.nseconds(),
                "keyframe forced on a cut"
            );
            repeating.store(true, Ordering::Release);
            pad.send_event(keyframe_request(pts));
            repeating.store(false, Ordering::Release);
        }
        if admit.pass {
            if let Ok(mut l) = last.lock() {
                *l = Some(buffer);
            }
            return gst::PadProbeReturn::Ok;
        }
        // Taken and handled, not `Drop`: with `Drop` the bindings free the buffer and
        // GStreamer unrefs the emptied slot again (a GStreamer-CRITICAL per dropped
        // frame).
        info.data = None;
        gst::PadProbeReturn::Handled
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which frames are lost before the encoder's input.
    type Lost = Box<dyn Fn(u64) -> bool>;
    const FRAGMENT: Duration = Duration::from_nanos(1_999_999_998);
    const CHUNK: Duration = Duration::from_nanos(333_333_333);

    fn frame_at(n: u64) -> Duration {
        Duration::from_nanos(21_000_000 + (n as f64 * 1e9 / 30.0).round() as u64)
    }

    /// 30 fps for `secs` seconds, a cut every 2 s (frame 0, 60, ...), the frames
    /// `lost(n)` lost before this input; shed over `shed`, restore asked at frame
    /// `reopen_at`. Returns the times keyframes reach the encoder (repeats included)
    /// and how many frames and repeats it got.
    fn keyframes(
        secs: u64,
        lost: impl Fn(u64) -> bool,
        shed: std::ops::Range<u64>,
        reopen_at: u64,
    ) -> (Vec<Duration>, usize) {
        let mut input = EncoderInput::new(FRAGMENT, CHUNK);
        let mut cuts = Vec::new();
        let mut keys = Vec::new();
        let mut got = 0;
        let mut shed_now = false;
        let mut reopen = false;
        for n in 0..secs * 30 {
            if n.is_multiple_of(60) {
                cuts.push(frame_at(n));
            }
            if n == shed.start {
                shed_now = true;
            }
            if n == reopen_at {
                reopen = true;
            }
            if lost(n) {
                continue;
            }
            let a = input.frame(frame_at(n), &cuts, shed_now, reopen);
            if a.restored {
                shed_now = false;
                reopen = false;
            }
            for r in &a.repeats {
                assert!(r.pts < frame_at(n) && r.duration > Duration::ZERO, "{r:?}");
                if r.keyframe {
                    keys.push(r.pts);
                }
            }
            got += a.repeats.len() + usize::from(a.pass);
            if a.keyframe {
                assert!(a.pass, "a keyframe reaches the encoder");
                keys.push(frame_at(n));
            }
        }
        (keys, got)
    }

    #[test]
    fn every_encoder_cuts_exactly_on_the_schedule_whatever_it_loses() {
        let every_cut: Vec<Duration> = (0..10).map(|k| frame_at(60 * k)).collect();
        // Nothing lost; the cut's frame lost; the keyframe request lost with a burst of
        // frames around it; a whole segment lost; the encoder's first frames lost.
        let cases: [(&str, Lost); 5] = [
            ("nothing lost", Box::new(|_| false)),
            ("cut frames lost", Box::new(|n| n % 60 == 0 && n > 0)),
            (
                "bursts",
                Box::new(|n| matches!(n % 60, 55..=59 | 0..=4) && n > 30),
            ),
            ("a segment", Box::new(|n| (100..=250).contains(&n))),
            ("the first frames", Box::new(|n| n < 7)),
        ];
        for (name, lost) in cases {
            for shed in [u64::MAX..u64::MAX, 70..u64::MAX] {
                let (keys, _) = keyframes(20, &lost, shed.clone(), u64::MAX);
                assert_eq!(keys, every_cut, "{name}, shed {shed:?}");
            }
        }
    }

    #[test]
    fn a_restored_rendition_runs_at_full_rate_from_a_cut() {
        let (keys, got) = keyframes(20, |_| false, 30..u64::MAX, 400);
        assert_eq!(keys.len(), 10, "{keys:?}");
        // Shed from frame 30 to the cut at frame 420, about 6 frames a second; all 180
        // frames after.
        let shed_frames = got - 30 - 180;
        assert!(
            (60..=90).contains(&shed_frames),
            "{shed_frames} frames while shed"
        );
        let mut input = EncoderInput::new(FRAGMENT, CHUNK);
        let cuts = [frame_at(0), frame_at(60)];
        assert!(!input.frame(frame_at(0), &cuts, false, false).restored);
        assert!(input.frame(frame_at(1), &cuts, true, false).pass);
        let a = input.frame(frame_at(2), &cuts, true, true);
        assert!(!a.restored && !a.pass, "between cuts: still shed");
        let a = input.frame(frame_at(61), &cuts, true, true);
        assert!(a.restored && a.pass, "restored from the cut");
        assert_eq!(
            a.repeats.last().map(|r| (r.pts, r.keyframe)),
            Some((frame_at(60), true))
        );
    }

    #[test]
    fn a_frame_lost_on_a_chunk_end_is_replaced_by_a_repeat() {
        // 30 fps, 1/3 s chunks: frame 10 stands on the first chunk end. Lost, the
        // next frame brings a repeat of the last picture at the chunk end; a frame a
        // few milliseconds late (jitter, not a loss) brings none.
        let mut input = EncoderInput::new(FRAGMENT, CHUNK);
        let cuts = [frame_at(0)];
        for n in 0..10 {
            assert!(input
                .frame(frame_at(n), &cuts, false, false)
                .repeats
                .is_empty());
        }
        let a = input.frame(frame_at(11), &cuts, false, false);
        assert_eq!(
            a.repeats,
            vec![Repeat {
                pts: frame_at(0) + CHUNK,
                duration: frame_at(11) - frame_at(0) - CHUNK,
                keyframe: false,
            }]
        );
        assert!(a.pass && !a.keyframe);

        let mut input = EncoderInput::new(FRAGMENT, CHUNK);
        for n in 0..10 {
            input.frame(frame_at(n), &cuts, false, false);
        }
        let late = frame_at(10) + Duration::from_millis(4);
        assert!(input.frame(late, &cuts, false, false).repeats.is_empty());
    }

    #[test]
    fn frames_lost_after_the_encoders_first_frame_are_replaced_by_repeats() {
        // The encoder's first frame, then frames 1-24 lost (a starved ladder at start),
        // frames 25 and 29, and frame 30 lost: every chunk start the muxer would miss
        // gets a repeat, though no gap seen yet is one frame interval.
        let mut input = EncoderInput::new(FRAGMENT, CHUNK);
        let cuts = [frame_at(0)];
        assert!(input
            .frame(frame_at(0), &cuts, false, false)
            .repeats
            .is_empty());
        let starts = |a: Admit| a.repeats.iter().map(|r| r.pts).collect::<Vec<_>>();
        assert_eq!(
            starts(input.frame(frame_at(25), &cuts, false, false)),
            vec![frame_at(0) + CHUNK, frame_at(0) + 2 * CHUNK]
        );
        // The open chunk started at the second repeat (frame 20's place); frame 31 is a
        // frame late for the next chunk start (frame 30's place).
        assert!(input
            .frame(frame_at(29), &cuts, false, false)
            .repeats
            .is_empty());
        assert_eq!(
            starts(input.frame(frame_at(31), &cuts, false, false)),
            vec![frame_at(0) + 3 * CHUNK]
        );
    }
}
