//! Where every rendition cuts: the source's keyframes as they are pushed, or a chained
//! grid chosen at the decoder's output, recorded in one [`CutSchedule`]; each encoder's
//! input (`shedding::input`) then forces a keyframe on each of them, and every muxer is
//! told where segments start, so every rendition's fragments (segments) start at the
//! same instants.

use super::*;
use std::collections::VecDeque;

/// How many cut times the schedule keeps (at 2 s segments, two minutes of them; an
/// encoder further behind than its one-part input queue has lost them anyway).
pub const SCHEDULE_LENGTH: usize = 64;

/// The session's cut times on the media clock, in ascending order, shared by where
/// they are decided (the source's keyframes as they are pushed, or the decoder's
/// output for a grid) and every encoder's input (which reads them). Every rendition's
/// segment `n` starts at the `n`-th segment cut, whatever frames an encoder's leaky
/// input queue lost: a keyframe request travelling through that queue can be dropped
/// with the frames around it, the schedule cannot.
///
/// The muxers are told each segment cut too (`split-at-running-time`): isofmp4mux
/// closes a fragment as soon as its frames reach the fragment's nominal end, without
/// waiting for the keyframe, and starts the next one where the last frame ends. With
/// timestamps rounded to the millisecond off the frame grid (RTMP after a publisher's
/// timestamps jumped) that end is up to a millisecond past the keyframe; measured from
/// there, the next fragment's nominal end fell just after the next cut two seconds on,
/// and when the frames before that cut ended short of it (one lost, or a shed
/// rendition's repeat) the muxer let the keyframe pass: a segment of two targets. Told
/// the cut, the muxer ends the fragment there.
#[derive(Debug)]
pub struct CutSchedule {
    /// The muxers' fragment duration: a cut at least this long after the previous
    /// segment cut starts a segment (the muxers' own rule).
    fragment: Duration,
    state: Mutex<Cuts>,
}

#[derive(Debug, Default)]
struct Cuts {
    cuts: VecDeque<Duration>,
    last_segment_cut: Option<Duration>,
    muxers: Vec<gst::Element>,
}

impl CutSchedule {
    /// `fragment`: the muxers' fragment duration.
    pub fn new(fragment: Duration) -> CutSchedule {
        CutSchedule {
            fragment,
            state: Mutex::new(Cuts::default()),
        }
    }

    /// The muxers told about each segment cut from now on.
    pub fn tell_muxers(&self, muxers: Vec<gst::Element>) {
        if let Ok(mut s) = self.state.lock() {
            s.muxers = muxers;
        }
    }

    /// A cut at `at` (a keyframe in every encoded rendition); ignored unless later than
    /// the last one. Returns whether it starts a segment (and the muxers were told).
    pub fn push(&self, at: Duration) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        if s.cuts.back().is_some_and(|last| *last >= at) {
            return false;
        }
        s.cuts.push_back(at);
        while s.cuts.len() > SCHEDULE_LENGTH {
            s.cuts.pop_front();
        }
        let segment = s
            .last_segment_cut
            .is_none_or(|last| at >= last.saturating_add(self.fragment));
        if segment {
            s.last_segment_cut = Some(at);
            let time = gst::ClockTime::from_nseconds(at.as_nanos() as u64);
            for mux in &s.muxers {
                mux.emit_by_name::<()>("split-at-running-time", &[&time]);
            }
        }
        segment
    }

    /// The cuts at or before `pts`, oldest first.
    pub fn up_to(&self, pts: Duration) -> Vec<Duration> {
        self.state
            .lock()
            .map(|s| s.cuts.iter().copied().take_while(|c| *c <= pts).collect())
            .unwrap_or_default()
    }
}

/// Chooses the frames that start a GOP on the keyframe grid (pure): the first frame,
/// then the first frame at least `step` after the previous one chosen. A gap in the
/// source longer than a step gives one keyframe, on the first frame after it.
#[derive(Debug, Clone)]
pub struct GridCutter {
    step: Duration,
    next: Option<Duration>,
}

impl GridCutter {
    pub fn new(step: Duration) -> GridCutter {
        GridCutter {
            step: step.max(Duration::from_millis(1)),
            next: None,
        }
    }

    /// Whether the frame at `pts` (decoder output order, presentation time) starts a
    /// GOP. The first frame does (forcing it is harmless: an encoder starts with one).
    pub fn cut(&mut self, pts: Duration) -> bool {
        if self.next.is_some_and(|next| pts < next) {
            return false;
        }
        self.next = Some(pts.saturating_add(self.step));
        true
    }
}

/// Records in `schedule` the cut times `cutter` chooses as decoded frames leave the
/// decoder (a grid-cut session; a session that follows the source records its
/// keyframes as they are pushed).
pub(super) fn install_grid_cuts(
    dec: &gst::Element,
    cutter: GridCutter,
    schedule: Arc<CutSchedule>,
) -> Result<(), PackagerError> {
    let src = dec
        .static_pad("src")
        .ok_or_else(|| PackagerError::Pipeline("decoder without src pad".into()))?;
    let cutter = Mutex::new(cutter);
    src.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(pts) = info.buffer().and_then(|b| b.pts()) else {
            return gst::PadProbeReturn::Ok;
        };
        let at = Duration::from_nanos(pts.nseconds());
        if cutter.lock().expect("grid lock is never poisoned").cut(at) {
            tracing::trace!(pts = pts.nseconds(), "a cut in every encoded rendition");
            schedule.push(at);
        }
        gst::PadProbeReturn::Ok
    })
    .ok_or_else(|| PackagerError::Pipeline("could not add the keyframe probe".into()))?;
    Ok(())
}

/// The request for a keyframe on the next frame an encoder gets (with its headers),
/// `pts` being that frame's time. "As soon as possible", not at a running time: a
/// running time would be compared against x264enc's shifted output segment by
/// GStreamer 1.22 and ignored after the first one.
pub(crate) fn keyframe_request(pts: gst::ClockTime) -> gst::Event {
    gstreamer_video::DownstreamForceKeyUnitEvent::builder()
        .timestamp(pts)
        .all_headers(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_keeps_recent_cuts_in_order() {
        let ms = Duration::from_millis;
        let s = CutSchedule::new(ms(2000) - Duration::from_nanos(2));
        // Keyframes every second: every other one starts a segment.
        let starts: Vec<bool> = [0, 1000, 1999, 2000, 2000, 1500, 3000, 4000]
            .into_iter()
            .map(|t| s.push(ms(t)))
            .collect();
        assert_eq!(
            starts,
            [true, false, false, true, false, false, false, true]
        );
        assert_eq!(s.up_to(ms(2999)), [ms(0), ms(1000), ms(1999), ms(2000)]);
        assert_eq!(s.up_to(ms(4000)).len(), 6);
        for n in 3..200u64 {
            s.push(ms(n * 2000));
        }
        let all = s.up_to(Duration::MAX);
        assert_eq!(all.len(), SCHEDULE_LENGTH);
        assert_eq!(all.last(), Some(&ms(199 * 2000)));
    }
}
