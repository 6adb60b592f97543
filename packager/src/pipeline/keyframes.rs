//! Where every encoded rendition cuts: the decoder's output decides the cut times
//! (where the source has keyframes, or on a chained grid) and records them in one
//! [`CutSchedule`]; each encoder's input (`shedding::input`) then forces a keyframe on
//! each of them, so every rendition's fragments (segments) start at the same instants.

use super::*;

/// Where the decoder's output decides the cuts.
pub(super) enum KeyframeForcing {
    /// Source keyframe timestamps not yet seen at the decoder's output.
    Source(Arc<Mutex<VecDeque<gst::ClockTime>>>),
    Grid(Mutex<GridCutter>),
}

/// How many cut times the schedule keeps (at 2 s segments, two minutes of them; an
/// encoder further behind than its one-part input queue has lost them anyway).
pub const SCHEDULE_LENGTH: usize = 64;

/// The session's cut times on the media clock, in ascending order, shared by the
/// decoder's output (which adds them) and every encoder's input (which reads them).
/// Every rendition's segment `n` starts at the `n`-th cut, whatever frames an encoder's
/// leaky input queue lost: a keyframe request travelling through that queue can be
/// dropped with the frames around it, the schedule cannot.
#[derive(Debug, Default)]
pub struct CutSchedule {
    cuts: Mutex<VecDeque<Duration>>,
}

impl CutSchedule {
    pub fn new() -> CutSchedule {
        CutSchedule::default()
    }

    /// A cut at `at`; ignored unless later than the last one.
    pub fn push(&self, at: Duration) {
        let Ok(mut cuts) = self.cuts.lock() else {
            return;
        };
        if cuts.back().is_some_and(|last| *last >= at) {
            return;
        }
        cuts.push_back(at);
        while cuts.len() > SCHEDULE_LENGTH {
            cuts.pop_front();
        }
    }

    /// The cuts at or before `pts`, oldest first.
    pub fn up_to(&self, pts: Duration) -> Vec<Duration> {
        self.cuts
            .lock()
            .map(|c| c.iter().copied().take_while(|c| *c <= pts).collect())
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

/// Records in `schedule` the cut times `forcing` chooses as decoded frames leave the
/// decoder. With [`KeyframeForcing::Source`] every source keyframe the decoder's
/// output reaches is a cut, also one whose own frame the decoder did not put out (the
/// passthrough starts a segment there all the same).
pub(super) fn install_keyframe_forcing(
    dec: &gst::Element,
    forcing: KeyframeForcing,
    schedule: Arc<CutSchedule>,
) -> Result<(), PackagerError> {
    let src = dec
        .static_pad("src")
        .ok_or_else(|| PackagerError::Pipeline("decoder without src pad".into()))?;
    src.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(pts) = info.buffer().and_then(|b| b.pts()) else {
            return gst::PadProbeReturn::Ok;
        };
        match &forcing {
            KeyframeForcing::Source(keyframes) => {
                let mut k = keyframes.lock().expect("keyframe lock is never poisoned");
                while let Some(t) = k.front().copied().filter(|t| *t <= pts) {
                    k.pop_front();
                    tracing::trace!(pts = t.nseconds(), "a cut in every encoded rendition");
                    schedule.push(Duration::from_nanos(t.nseconds()));
                }
            }
            KeyframeForcing::Grid(cutter) => {
                let at = Duration::from_nanos(pts.nseconds());
                if cutter.lock().expect("grid lock is never poisoned").cut(at) {
                    tracing::trace!(pts = pts.nseconds(), "a cut in every encoded rendition");
                    schedule.push(at);
                }
            }
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
        let s = CutSchedule::new();
        let ms = Duration::from_millis;
        for t in [0, 2000, 2000, 1500, 4000] {
            s.push(ms(t));
        }
        assert_eq!(s.up_to(ms(3999)), [ms(0), ms(2000)]);
        assert_eq!(s.up_to(ms(4000)), [ms(0), ms(2000), ms(4000)]);
        for n in 3..200u64 {
            s.push(ms(n * 2000));
        }
        let all = s.up_to(Duration::MAX);
        assert_eq!(all.len(), SCHEDULE_LENGTH);
        assert_eq!(all.last(), Some(&ms(199 * 2000)));
    }
}
