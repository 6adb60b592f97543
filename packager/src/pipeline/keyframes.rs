//! Keyframes forced at the decoder's output, so every encoded rendition cuts its
//! fragments at the same instants: where the source has them, or on a chained grid.

use super::*;

/// Where the decoder's output gets a keyframe forced.
pub(super) enum KeyframeForcing {
    /// Source keyframe timestamps not yet seen at the decoder's output.
    Source(Arc<Mutex<VecDeque<gst::ClockTime>>>),
    Grid(Mutex<GridCutter>),
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

/// Sends a force-key-unit event ahead of each decoded frame chosen by `forcing`, so
/// every encoder starts a GOP there.
pub(super) fn install_keyframe_forcing(
    dec: &gst::Element,
    forcing: KeyframeForcing,
    shedding: Arc<Shedding>,
) -> Result<(), PackagerError> {
    let src = dec
        .static_pad("src")
        .ok_or_else(|| PackagerError::Pipeline("decoder without src pad".into()))?;
    src.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(pts) = info.buffer().and_then(|b| b.pts()) else {
            return gst::PadProbeReturn::Ok;
        };
        let hit = match &forcing {
            KeyframeForcing::Source(keyframes) => {
                let mut k = keyframes.lock().expect("keyframe lock is never poisoned");
                while k.front().is_some_and(|t| *t < pts) {
                    k.pop_front();
                }
                if k.front() == Some(&pts) {
                    k.pop_front();
                    true
                } else {
                    false
                }
            }
            KeyframeForcing::Grid(cutter) => cutter
                .lock()
                .expect("grid lock is never poisoned")
                .cut(Duration::from_nanos(pts.nseconds())),
        };
        if hit {
            // "As soon as possible": the event travels just ahead of this frame through
            // the same queues, so each encoder starts a GOP on exactly this frame.
            // (A running time would be compared against x264enc's shifted output
            // segment by GStreamer 1.22 and ignored after the first one.)
            tracing::trace!(
                pts = pts.nseconds(),
                "forcing a keyframe in every encoded rendition"
            );
            shedding.on_forced_keyframe();
            force_keyframe_at(pad, pts);
        }
        gst::PadProbeReturn::Ok
    })
    .ok_or_else(|| PackagerError::Pipeline("could not add the keyframe probe".into()))?;
    Ok(())
}

/// Sends downstream of `pad`, just ahead of the frame at `pts`, the request for a
/// keyframe on that frame (with its headers).
pub(crate) fn force_keyframe_at(pad: &gst::Pad, pts: gst::ClockTime) {
    let event = gstreamer_video::DownstreamForceKeyUnitEvent::builder()
        .timestamp(pts)
        .all_headers(true)
        .build();
    if let Some(peer) = pad.peer() {
        peer.send_event(event);
    }
}
