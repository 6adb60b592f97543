//! The ladder's side of graceful overload, kept thin: counts the frames each encoder's
//! leaky input queue drops, measures each rendition's lag (arrival of a frame at the
//! packager → its chunk out of the muxer), hands both to the [`Governor`] every
//! [`TICK`], and carries out its decisions at each encoder's input.
//!
//! A shed rendition is not torn down: from the decision on, its encoder gets two
//! frames per part ([`ShedFeed`]: the keyframes, and the frames that open and close
//! each of its muxer's chunks), a fifth of its work, and its audio flows as before.
//! Its muxer and playlist keep going without a gap in the
//! timeline (a slide show at 6 fps for a player that was on it), and nothing upstream
//! ever waits for it; it leaves the multivariant playlist. A restored one gets
//! every frame again from its next cut, and is listed again (a [`LadderLoad`] with
//! `changed`) with its first full-rate fragment. Shed or not, every encoder's keyframes
//! fall exactly on the session's cut schedule ([`EncoderInput`]), so every rendition's
//! segment `n` starts at the same program time.

use crate::ladder::{Plan, RenditionKind};
use crate::overload::{Action, Governor, Reading, RenditionCost};
use crate::pipeline::{CutSchedule, PipelineEvent};
use crate::PackagerError;
use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{info, warn};

mod feed;
mod input;
#[cfg(test)]
mod muxer_tests;
pub use feed::ShedFeed;
use input::Flags;
pub use input::{Admit, EncoderInput, Repeat};

/// How often the governor looks at the figures.
pub const TICK: Duration = Duration::from_millis(500);

const NONE: u64 = u64::MAX;

/// The ladder's load, sent to the event task every [`TICK`] and on every change.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderLoad {
    /// Per rendition: whether it is listed (running, or shed but not yet back).
    pub running: Vec<bool>,
    /// Per rendition: frames its encoder's input queue dropped in this session.
    pub dropped_frames: Vec<u64>,
    /// The rendition that was just shed or is back with this report.
    pub changed: Option<usize>,
}

/// The plan and init segments of the renditions `running` lists (for the
/// multivariant playlist).
pub fn listed(
    plan: &Plan,
    inits: &[Option<Bytes>],
    running: &[bool],
) -> (Plan, Vec<Option<Bytes>>) {
    let keep = |i: usize| running.get(i).copied().unwrap_or(true);
    let mut listed = plan.clone();
    listed.renditions = plan
        .renditions
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, r)| r.clone())
        .collect();
    let inits = inits
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, x)| x.clone())
        .collect();
    (listed, inits)
}

/// One encoded rendition's controls and counters.
struct Rung {
    queue: gst::Element,
    /// Shed, restore decided, announce: shared with the encoder's input.
    flags: Arc<Flags>,
    frames_in: Arc<AtomicU64>,
    frames_out: Arc<AtomicU64>,
    /// Listed in the multivariant playlist.
    listed: AtomicBool,
}

pub struct Shedding {
    rungs: Vec<Option<Rung>>,
    /// Latest lag per rendition, ns ([`NONE`] before the first chunk).
    lags: Vec<AtomicU64>,
    /// The earliest arrival instant minus media time seen: the instant media time zero
    /// would have arrived.
    base: Mutex<Option<Instant>>,
    governor: Mutex<(Governor, Option<Instant>)>,
    /// Whether the governor's decisions are carried out (`--shed-renditions`).
    enabled: bool,
    /// Per rendition: cut off for good (its muxer wedged, see `pipeline::hoard`).
    cut_off: Vec<AtomicBool>,
    events: mpsc::UnboundedSender<PipelineEvent>,
}

impl Shedding {
    /// Finds the queues and encoders `pipeline::launch_description` named `rawq{i}` and
    /// `enc{i}` and installs the counters and the encoders' input filter.
    pub fn install(
        pipeline: &gst::Pipeline,
        plan: &Plan,
        enabled: bool,
        part: Duration,
        schedule: Arc<CutSchedule>,
        events: mpsc::UnboundedSender<PipelineEvent>,
    ) -> Result<Arc<Shedding>, PackagerError> {
        let mut rungs = Vec::with_capacity(plan.renditions.len());
        let mut costs = Vec::with_capacity(plan.renditions.len());
        for (i, r) in plan.renditions.iter().enumerate() {
            let encoded = matches!(r.kind, RenditionKind::Encoded { .. });
            costs.push(RenditionCost {
                encoded,
                cost: r.width as f64 * r.height as f64 * r.frame_rate,
            });
            if !encoded {
                rungs.push(None);
                continue;
            }
            let queue = pipeline
                .by_name(&format!("rawq{i}"))
                .ok_or_else(|| PackagerError::Pipeline(format!("element rawq{i} missing")))?;
            let pad = |name: &str| {
                queue
                    .static_pad(name)
                    .ok_or_else(|| PackagerError::Pipeline(format!("rawq{i} without {name} pad")))
            };
            let flags = Arc::new(Flags::default());
            let frames_in = Arc::new(AtomicU64::new(0));
            let frames_out = Arc::new(AtomicU64::new(0));
            let encoder = pipeline
                .by_name(&format!("enc{i}"))
                .and_then(|e| e.static_pad("sink"))
                .ok_or_else(|| PackagerError::Pipeline(format!("encoder enc{i} missing")))?;
            // The feed follows this rendition's muxer, so it reads the muxer's own
            // durations.
            let fragment = pipeline
                .by_name(&format!("mux{i}"))
                .map(|m| m.property::<u64>("fragment-duration"))
                .ok_or_else(|| PackagerError::Pipeline(format!("muxer mux{i} missing")))?;
            let chunk = pipeline
                .by_name(&format!("mux{i}"))
                .map(|m| m.property::<u64>("chunk-duration"))
                .filter(|&c| c > 0 && c != u64::MAX)
                .map_or(part, Duration::from_nanos);
            input::install(
                &encoder,
                flags.clone(),
                schedule.clone(),
                Duration::from_nanos(fragment),
                chunk,
            );
            let inc = frames_in.clone();
            pad("sink")?.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                inc.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
            let out = frames_out.clone();
            pad("src")?.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                out.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
            rungs.push(Some(Rung {
                queue,
                flags,
                frames_in,
                frames_out,
                listed: AtomicBool::new(true),
            }));
        }
        Ok(Arc::new(Shedding {
            lags: (0..rungs.len()).map(|_| AtomicU64::new(NONE)).collect(),
            cut_off: (0..rungs.len()).map(|_| AtomicBool::new(false)).collect(),
            rungs,
            base: Mutex::new(None),
            governor: Mutex::new((Governor::new(&costs), None)),
            enabled,
            events,
        }))
    }

    /// A video frame at media time `pts` arrived now.
    pub fn on_arrival(&self, pts: Duration, now: Instant) {
        let Some(at) = now.checked_sub(pts) else {
            return;
        };
        if let Ok(mut base) = self.base.lock() {
            if base.is_none_or(|b| at < b) {
                *base = Some(at);
            }
        }
    }

    /// A chunk of rendition `i` ending at media time `end` left the muxer now; called
    /// before the chunk is handed on.
    pub fn on_chunk(&self, i: usize, end: Duration, fragment_start: bool, now: Instant) {
        let full_rate = match self.rungs.get(i) {
            Some(Some(r)) => !r.flags.shed.load(Ordering::Acquire),
            _ => true,
        };
        let base = self.base.lock().ok().and_then(|b| *b);
        if let (Some(base), Some(lag), true) = (base, self.lags.get(i), full_rate) {
            let lag_ns = now.saturating_duration_since(base + end).as_nanos();
            lag.store(lag_ns.min(NONE as u128 - 1) as u64, Ordering::Relaxed);
        }
        let Some(Some(rung)) = self.rungs.get(i) else {
            return;
        };
        if fragment_start && rung.flags.announce.swap(false, Ordering::AcqRel) {
            rung.listed.store(true, Ordering::Release);
            info!(rendition = i, "CPU is back: rendition restored");
            let _ = self.events.send(PipelineEvent::Load(self.load(Some(i))));
        }
    }

    /// Rendition `i` is cut off for the rest of the session (its muxer wedged): it
    /// leaves the multivariant playlist, whatever the governor does.
    pub fn cut_off(&self, i: usize) {
        let Some(cut) = self.cut_off.get(i) else {
            return;
        };
        if !cut.swap(true, Ordering::AcqRel) {
            let _ = self.events.send(PipelineEvent::Load(self.load(Some(i))));
            let _ = self.events.send(PipelineEvent::CutOff(i));
        }
    }

    fn load(&self, changed: Option<usize>) -> LadderLoad {
        let running = self
            .rungs
            .iter()
            .zip(&self.cut_off)
            .map(|(r, cut)| {
                !cut.load(Ordering::Acquire)
                    && r.as_ref().is_none_or(|r| r.listed.load(Ordering::Acquire))
            })
            .collect();
        let dropped_frames = self.rungs.iter().map(|r| self.dropped(r)).collect();
        LadderLoad {
            running,
            dropped_frames,
            changed,
        }
    }

    fn dropped(&self, rung: &Option<Rung>) -> u64 {
        let Some(r) = rung else { return 0 };
        let level = r.queue.property::<u32>("current-level-buffers") as u64;
        r.frames_in
            .load(Ordering::Relaxed)
            .saturating_sub(r.frames_out.load(Ordering::Relaxed))
            .saturating_sub(level)
    }

    /// Runs the governor if [`TICK`] passed since its last look.
    pub fn tick(&self, now: Instant) {
        let Ok(mut g) = self.governor.lock() else {
            return;
        };
        if g.1.is_some_and(|last| now.duration_since(last) < TICK) {
            return;
        }
        g.1 = Some(now);
        let readings: Vec<Reading> = self
            .rungs
            .iter()
            .zip(&self.lags)
            .map(|(r, lag)| {
                let lag = lag.load(Ordering::Relaxed);
                Reading {
                    frames_in: r
                        .as_ref()
                        .map_or(0, |r| r.frames_in.load(Ordering::Relaxed)),
                    frames_dropped: self.dropped(r),
                    lag: (lag != NONE).then(|| Duration::from_nanos(lag)),
                }
            })
            .collect();
        let action = if self.enabled {
            g.0.tick(now, &readings)
        } else {
            None
        };
        drop(g);
        let changed = match action {
            Some(Action::Shed(i)) => {
                if let Some(Some(r)) = self.rungs.get(i) {
                    r.flags.reopen.store(false, Ordering::Release);
                    r.flags.announce.store(false, Ordering::Release);
                    r.flags.shed.store(true, Ordering::Release);
                    r.listed.store(false, Ordering::Release);
                }
                if let Some(l) = self.lags.get(i) {
                    l.store(NONE, Ordering::Relaxed);
                }
                warn!(
                    rendition = i,
                    dropped = ?readings.get(i).map(|r| r.frames_dropped),
                    lag = ?readings.iter().filter_map(|r| r.lag).max(),
                    "ladder cannot keep up: rendition shed"
                );
                Some(i)
            }
            Some(Action::Restore(i)) => {
                if let Some(Some(r)) = self.rungs.get(i) {
                    r.flags.reopen.store(true, Ordering::Release);
                }
                // Its lag while shed (one frame per segment) says nothing of now.
                if let Some(l) = self.lags.get(i) {
                    l.store(NONE, Ordering::Relaxed);
                }
                info!(
                    rendition = i,
                    "CPU is back: restoring the rendition at the next keyframe"
                );
                None
            }
            None => None,
        };
        let _ = self.events.send(PipelineEvent::Load(self.load(changed)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::VideoInfo;
    use crate::ladder::{plan, KeyframePolicy, DEFAULT_LADDER};

    /// A 1080p30 H.264 High source.
    fn source_1080p() -> VideoInfo {
        VideoInfo {
            codec: Default::default(),
            width: 1920,
            height: 1080,
            frame_rate: Some(30.0),
            profile_idc: 100,
            constraint_flags: 0,
            level_idc: 40,
        }
    }

    #[test]
    fn shed_renditions_leave_the_listing_in_order() {
        let source = source_1080p();
        let p = plan(source, None, &DEFAULT_LADDER, KeyframePolicy::FollowSource);
        let inits: Vec<Option<Bytes>> = (0..4u8).map(|i| Some(Bytes::from(vec![i]))).collect();
        let (l, i) = listed(&p, &inits, &[true, false, true, true]);
        let names: Vec<&str> = l.renditions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["1080p", "480p", "360p"]);
        assert_eq!(
            i,
            [
                Some(Bytes::from(vec![0])),
                Some(Bytes::from(vec![2])),
                Some(Bytes::from(vec![3]))
            ]
        );
        let (l, _) = listed(&p, &inits, &[true; 4]);
        assert_eq!(l, p);
    }

    #[test]
    fn rungs_scale_from_the_rung_above() {
        use crate::pipeline::{cascade_source, launch_description};
        let mut source = source_1080p();
        // 1080p passthrough: 720p from the decoded picture, then 480p, 360p cascaded.
        let p = plan(source, None, &DEFAULT_LADDER, KeyframePolicy::FollowSource);
        let from: Vec<Option<usize>> = (0..4).map(|i| cascade_source(&p, i)).collect();
        assert_eq!(from, [None, None, Some(1), Some(2)]);
        let settings = crate::PackagerConfig::default().mux;
        let d = launch_description(&p, None, &settings);
        assert!(
            d.contains("st1. ! queue") && d.contains("name=rawq2"),
            "{d}"
        );
        crate::init().expect("GStreamer");
        gstreamer::parse::launch(&d).expect("the cascaded ladder builds");
        // A source every rung is encoded from (a browser's 1080p): 1080p from the
        // decoded picture, and each rung below from the one above.
        source.width = 1280;
        source.height = 720;
        let p = plan(
            source,
            None,
            &DEFAULT_LADDER,
            KeyframePolicy::Grid(Duration::from_secs(2)),
        );
        let from: Vec<Option<usize>> = (0..p.renditions.len())
            .map(|i| cascade_source(&p, i))
            .collect();
        let encoded: Vec<bool> = p
            .renditions
            .iter()
            .map(|r| matches!(r.kind, RenditionKind::Encoded { .. }))
            .collect();
        for (i, f) in from.iter().enumerate() {
            match f {
                Some(k) => assert!(*k < i && encoded[*k]),
                None => assert!(!encoded[..i].iter().any(|&e| e), "{from:?}"),
            }
        }
    }
}
