//! The GStreamer side of one publish session, kept thin: build the ladder pipeline,
//! push encoded frames in, hand muxer output back. All decisions about parts,
//! segments and playlists are made in `segmenter` and `event`.
//!
//! Shape: `appsrc (H.264 AVC) ! h264parse ! tee` → passthrough `queue ! mux` and
//! `queue ! avdec_h264 ! tee` → per rung `queue ! videoscale ! x264enc ! h264parse ! mux`;
//! `appsrc (AAC) ! aacparse ! tee` → every mux; each `isofmp4mux ! appsink`. Opus
//! (from WHIP) is transcoded on the way: `appsrc (Opus) ! opusdec ! audioconvert !
//! audioresample ! avenc_aac ! aacparse ! tee`, so every rendition carries AAC-LC.
//!
//! Where every rendition cuts is kept in one [`CutSchedule`]; each encoder's input
//! forces its keyframes on those times exactly (repeating the last picture on a cut
//! whose frame its leaky queue lost), and every muxer is told where each segment
//! starts, so all renditions cut fragments (segments) at the same instants. With
//! [`KeyframePolicy::FollowSource`] the cuts are the source's keyframes, recorded as
//! they are pushed (the source's cadence makes the segments). With
//! [`KeyframePolicy::Grid`] they are chosen at the decoder's output, on the first frame at least one segment duration after the previous forced
//! keyframe, whatever the source does ([`GridCutter`]). The grid is chained rather than
//! fixed on multiples of the duration from the first frame because the muxers measure
//! each fragment from its own first keyframe: with variable frame timing two keyframes
//! on a fixed grid can be a few milliseconds closer than the fragment duration, and the
//! muxer would then run the segment on to the next one (4 s), or, with a shorter
//! fragment duration, close the audio of the fragment early. Chained, segments last
//! the duration plus less than one frame interval, parts stay ~333 ms.
//!
//! A grid-cut session (a browser over WebRTC) has holes in its video: after a lost
//! packet the session skips frames until the next keyframe, so one frame can stand for
//! a second or more. Such a frame spanning a fragment boundary wedged the muxer for
//! good (fmp4mux drained it as an ordinary chunk ending past the fragment's end, then
//! waited for the closed fragment to fill). Decoded frames therefore pass a `videorate`
//! that repeats the last picture across a hole, so every frame lasts one frame
//! interval and parts keep flowing through loss; the cuts are chosen on its output.
//! [`stall::StallWatch`] warns, with the event and the figures, if a rendition still
//! stops producing while frames go in.
//!
//! No queue in front of a muxer drops compressed frames (a hole there wedges it); a
//! muxer wedged all the same, by a hole in the source, is cut off before it holds more
//! than [`hoard::HOARD_LIMIT`] of video ([`hoard::HoardGuard`]).

use crate::ladder::{KeyframePolicy, Plan, RenditionKind};
use crate::segmenter::Chunk;
use crate::shedding::{LadderLoad, Shedding};
use crate::timing::FrameGrid;
use crate::PackagerError;
use amphi_ingest::{AudioConfig, EncodedFrame, FrameKind, MediaTime, VideoConfig};
use bytes::{Bytes, BytesMut};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

#[path = "stall.rs"]
pub mod stall;

pub mod hoard;
mod launch;
mod sink;

pub(crate) mod keyframes;
use keyframes::install_grid_cuts;
pub use keyframes::{CutSchedule, GridCutter};
pub use launch::{
    cascade_source, check_part_duration, launch_description, mux_durations, parse_part_duration,
    MuxSettings, MAX_FILLED_GAP, MAX_PART_DURATION, MIN_PART_DURATION, TRANSCODED_AAC_BITRATE,
};
use sink::{install_sink, SinkOutput};

#[derive(Debug)]
pub enum MuxOutput {
    Init(Bytes),
    Chunk(Chunk),
}

#[derive(Debug)]
pub enum PipelineEvent {
    Output {
        rendition: usize,
        output: MuxOutput,
    },
    Eos,
    Error(String),
    /// The ladder's load and shedding state (every `shedding::TICK` and on changes).
    Load(LadderLoad),
    /// A rendition's muxer wedged on a hole in the source and was cut off (see
    /// [`hoard`]); only a new ladder brings it back.
    CutOff(usize),
}

pub struct LadderPipeline {
    pipeline: gst::Pipeline,
    video: gst_app::AppSrc,
    audio: Option<gst_app::AppSrc>,
    /// Where the source's keyframes are recorded as cuts as they are pushed
    /// ([`KeyframePolicy::FollowSource`] only; a grid is cut at the decoder's output).
    cuts: Option<Arc<CutSchedule>>,
    /// Frame rate of the source, for `grid`; `None` when timestamps are not snapped.
    frame_rate: Option<f64>,
    /// Snaps millisecond-rounded video timestamps back onto the frame grid through
    /// the first video frame.
    /// The first video frame's timestamp and the grid through it.
    grid: std::cell::OnceCell<(MediaTime, Option<FrameGrid>)>,
    /// Graceful overload: frame drops, lag, renditions shed.
    shedding: Arc<Shedding>,
    /// Frames in against chunks out, per rendition.
    stall: Arc<Mutex<stall::StallWatch>>,
    /// Rendition names, for warnings.
    names: Vec<String>,
}

impl LadderPipeline {
    pub fn build(
        plan: &Plan,
        video_config: &VideoConfig,
        audio: Option<&AudioConfig>,
        settings: &MuxSettings,
        events: mpsc::UnboundedSender<PipelineEvent>,
    ) -> Result<LadderPipeline, PackagerError> {
        let description = launch_description(plan, audio, settings);
        tracing::debug!(%description, "building ladder pipeline");
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| PackagerError::Pipeline(format!("building the pipeline: {e}")))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| PackagerError::Pipeline("not a pipeline".into()))?;
        let by_name = |name: &str| {
            pipeline
                .by_name(name)
                .ok_or_else(|| PackagerError::Pipeline(format!("element {name} missing")))
        };
        let video = by_name("vsrc")?
            .downcast::<gst_app::AppSrc>()
            .map_err(|_| PackagerError::Pipeline("vsrc is not an appsrc".into()))?;
        let fps = plan
            .renditions
            .first()
            .map(|r| r.frame_rate)
            .unwrap_or(30.0);
        let fps_n = (fps * 1000.0).round() as i32;
        video.set_caps(Some(&source_caps(video_config, fps_n)));
        configure_appsrc(&video);
        let part = Duration::from_nanos(mux_durations(settings).1 as u64);
        // Where every rendition cuts: recorded as the source's keyframes are pushed (or
        // on a grid at the decoder's output), forced at each encoder's input and told
        // to every muxer (see `keyframes` and `shedding::input`).
        let schedule = Arc::new(CutSchedule::new(Duration::from_nanos(
            mux_durations(settings).0 as u64,
        )));
        schedule.tell_muxers(
            (0..plan.renditions.len())
                .map(|i| by_name(&format!("mux{i}")))
                .collect::<Result<_, _>>()?,
        );
        let shedding = Shedding::install(
            &pipeline,
            plan,
            settings.shed_renditions,
            part,
            schedule.clone(),
            events.clone(),
        )?;
        let audio = match (audio, &plan.audio) {
            (Some(config), Some(info)) => {
                let a = by_name("asrc")?
                    .downcast::<gst_app::AppSrc>()
                    .map_err(|_| PackagerError::Pipeline("asrc is not an appsrc".into()))?;
                a.set_caps(Some(&audio_caps(config, info)));
                configure_appsrc(&a);
                Some(a)
            }
            _ => None,
        };

        let cuts = match (plan.keyframes, pipeline.by_name("decoded")) {
            (KeyframePolicy::FollowSource, _) => Some(schedule),
            (KeyframePolicy::Grid(step), Some(dec)) => {
                install_grid_cuts(&dec, GridCutter::new(step), schedule)?;
                None
            }
            (KeyframePolicy::Grid(_), None) => None,
        };
        let names: Vec<String> = plan.renditions.iter().map(|r| r.name.clone()).collect();
        let stall = Arc::new(Mutex::new(stall::StallWatch::new(
            names.len(),
            std::time::Instant::now(),
            stall::STALL_AFTER,
        )));
        for (i, name) in names.iter().enumerate() {
            let sink = by_name(&format!("sink{i}"))?
                .downcast::<gst_app::AppSink>()
                .map_err(|_| PackagerError::Pipeline("not an appsink".into()))?;
            // What this rendition's muxer is fed, against what it puts out.
            let guard = Arc::new(Mutex::new(hoard::HoardGuard::new(hoard::HOARD_LIMIT)));
            let audio_queue = audio.is_some().then(|| format!("aq{i}"));
            let watched = hoard::GuardOutput {
                rendition: i,
                name: name.clone(),
                shedding: shedding.clone(),
                span: tracing::Span::current(),
            };
            hoard::install_hoard_guard(
                &pipeline,
                &format!("vq{i}"),
                audio_queue.as_deref(),
                guard.clone(),
                watched,
            )?;
            let output = SinkOutput {
                rendition: i,
                name: name.clone(),
                events: events.clone(),
                shedding: shedding.clone(),
                stall: stall.clone(),
                hoard: guard,
                span: tracing::Span::current(),
            };
            install_sink(&sink, output);
        }
        let bus = pipeline
            .bus()
            .ok_or_else(|| PackagerError::Pipeline("pipeline without a bus".into()))?;
        bus.set_sync_handler(move |_, msg| {
            match msg.view() {
                gst::MessageView::Eos(_) => {
                    let _ = events.send(PipelineEvent::Eos);
                }
                gst::MessageView::Error(e) => {
                    let src = e
                        .src()
                        .map(|s| s.path_string().to_string())
                        .unwrap_or_default();
                    let _ = events.send(PipelineEvent::Error(format!("{src}: {}", e.error())));
                }
                _ => {}
            }
            gst::BusSyncReply::Drop
        });
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| PackagerError::Pipeline(format!("starting the pipeline: {e}")))?;
        Ok(LadderPipeline {
            pipeline,
            video,
            audio,
            cuts,
            // Millisecond-rounded timestamps are snapped back onto the frame grid;
            // grid-cut sources (90 kHz RTP time, variable frame timing) are left as sent.
            frame_rate: match plan.keyframes {
                KeyframePolicy::FollowSource => plan.source.frame_rate,
                KeyframePolicy::Grid(_) => None,
            },
            grid: std::cell::OnceCell::new(),
            shedding,
            stall,
            names,
        })
    }

    /// Pushes one frame; timestamps are the session's media time.
    pub fn push(&self, frame: &EncodedFrame) -> Result<(), PackagerError> {
        let mut buffer = gst::Buffer::from_slice(frame.data.clone());
        let (pts, dts) = match frame.kind {
            FrameKind::Video { .. } => {
                let (_, grid) = self.grid.get_or_init(|| {
                    (
                        frame.pts,
                        self.frame_rate
                            .and_then(|fps| FrameGrid::new(fps, frame.pts)),
                    )
                });
                match grid {
                    Some(g) => (g.snap(frame.pts), g.snap(frame.dts)),
                    None => (frame.pts, frame.dts),
                }
            }
            FrameKind::Audio => match self.grid.get() {
                // Audio from before the first video frame would only lengthen the
                // first part beyond the part target.
                Some((first_video, _)) if frame.pts >= *first_video => (frame.pts, frame.dts),
                _ => return Ok(()),
            },
        };
        let pts = gst::ClockTime::from_nseconds(pts.as_nanos().max(0) as u64);
        let dts = gst::ClockTime::from_nseconds(dts.as_nanos().max(0) as u64);
        if let FrameKind::Video { .. } = frame.kind {
            let now = std::time::Instant::now();
            self.shedding
                .on_arrival(Duration::from_nanos(pts.nseconds()), now);
            self.shedding.tick(now);
            self.watch_for_stalls(now, Duration::from_nanos(pts.nseconds()));
        }
        {
            let b = buffer
                .get_mut()
                .expect("a buffer just created has a single owner");
            b.set_pts(pts);
            b.set_dts(dts);
            if let FrameKind::Video { keyframe: false } = frame.kind {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        let src = match frame.kind {
            FrameKind::Video { keyframe } => {
                if let (true, Some(cuts)) = (keyframe, &self.cuts) {
                    // Before the frame enters the pipeline: every encoder's input and
                    // every muxer know the cut before the frame reaches them.
                    cuts.push(Duration::from_nanos(pts.nseconds()));
                }
                &self.video
            }
            FrameKind::Audio => match &self.audio {
                Some(a) => a,
                None => return Ok(()),
            },
        };
        src.push_buffer(buffer)
            .map(|_| ())
            .map_err(|e| PackagerError::Pipeline(format!("pushing a frame: {e:?}")))
    }

    /// Warns about each rendition that stopped producing while frames go in.
    fn watch_for_stalls(&self, now: std::time::Instant, pts: Duration) {
        let stalls = match self.stall.lock() {
            Ok(mut w) => w.on_frame(now, pts),
            Err(_) => return,
        };
        for s in stalls {
            let rendition = self.names.get(s.rendition).map_or("?", String::as_str);
            tracing::warn!(
                rendition,
                silent_ms = s.silent_for.as_millis() as u64,
                frames_in = s.frames_in,
                newest_frame_ms = s.newest_frame.as_millis() as u64,
                last_chunk_end_ms = s.last_chunk_end.map(|d| d.as_millis() as u64),
                reason = s.reason(),
                "ladder stalled: frames keep arriving but this rendition produces no parts"
            );
        }
    }

    /// Signals the end of the session; the muxers drain and the bus reports EOS.
    pub fn end(&self) {
        let _ = self.video.end_of_stream();
        if let Some(a) = &self.audio {
            let _ = a.end_of_stream();
        }
    }
}

impl Drop for LadderPipeline {
    fn drop(&mut self) {
        if let Some(bus) = self.pipeline.bus() {
            bus.unset_sync_handler();
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn configure_appsrc(src: &gst_app::AppSrc) {
    src.set_format(gst::Format::Time);
    src.set_is_live(false);
    src.set_do_timestamp(false);
    src.set_block(false);
    // Frames arrive in real time; a generous queue absorbs encoder hiccups.
    src.set_max_bytes(64 * 1024 * 1024);
}

/// Caps of the audio appsrc (also the audio level probe's): AAC with its
/// AudioSpecificConfig as `codec_data`, or Opus from WHIP.
pub(crate) fn audio_caps(config: &AudioConfig, info: &amphi_ingest::codec::AudioInfo) -> gst::Caps {
    match config {
        AudioConfig::Aac { asc } => gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 4i32)
            .field("stream-format", "raw")
            .field("framed", true)
            .field("rate", info.sample_rate as i32)
            .field("channels", info.channels as i32)
            .field("codec_data", gst::Buffer::from_slice(asc.clone()))
            .build(),
        AudioConfig::Opus { channels } => gst::Caps::builder("audio/x-opus")
            .field("rate", 48_000i32)
            .field("channels", *channels as i32)
            .field("channel-mapping-family", 0i32)
            .build(),
    }
}

/// Caps of the video appsrc: the source's codec, its configuration record as
/// `codec_data`, whole access units (AV1: temporal units).
fn source_caps(video: &VideoConfig, fps_milli: i32) -> gst::Caps {
    let (media, format, alignment, record) = match video {
        VideoConfig::H264 { avcc } => ("video/x-h264", "avc", "au", avcc),
        VideoConfig::H265 { hvcc } => ("video/x-h265", "hvc1", "au", hvcc),
        VideoConfig::Av1 { av1c } => ("video/x-av1", "obu-stream", "tu", av1c),
    };
    gst::Caps::builder(media)
        .field("stream-format", format)
        .field("alignment", alignment)
        .field("codec_data", gst::Buffer::from_slice(record.clone()))
        .field("framerate", gst::Fraction::new(fps_milli, 1000))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_number_of_chunks_reaches_the_fragment_end() {
        let s = MuxSettings {
            segment_duration: Duration::from_secs(2),
            part_duration: Duration::from_nanos(333_333_333),
            x264_preset: "veryfast",
            shed_renditions: false,
        };
        let (frag, chunk) = mux_durations(&s);
        assert_eq!(chunk, 333_333_333);
        assert_eq!(frag, 6 * chunk);
    }

    #[test]
    fn part_durations_from_the_command_line() {
        assert_eq!(parse_part_duration("0.2"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_part_duration(" 1 "), Ok(Duration::from_secs(1)));
        for bad in ["0.1", "1.5", "-1", "fast", "NaN"] {
            assert!(parse_part_duration(bad).is_err(), "{bad}");
        }
        let mut c = crate::PackagerConfig::default();
        for (asked, chunk_ms, target_ms) in [
            (200, 200, 200),
            (333, 333, 334),
            (500, 500, 500),
            (250, 250, 250),
            (300, 285, 286),
        ] {
            c.set_part_duration(Duration::from_millis(asked));
            let (frag, chunk) = mux_durations(&c.mux);
            assert!(
                (1_999_999_990..=2_000_000_000).contains(&frag),
                "segments stay 2 s: {frag}"
            );
            assert_eq!((chunk / 1_000_000) as u64, chunk_ms, "asked {asked} ms");
            assert_eq!(c.playlist.part_target, Duration::from_millis(target_ms));
        }
    }

    #[test]
    fn grid_cutter_cuts_one_segment_duration_after_the_previous_cut() {
        let ms = Duration::from_millis;
        let mut g = GridCutter::new(ms(2000));
        // Irregular frames from 100 ms.
        let frames = [
            100, 133, 1990, 2099, 2100, 2130, 4099, 4105, 5000, 9000, 9050, 11_000, 11_010,
        ];
        let cuts: Vec<u64> = frames.iter().filter(|&&t| g.cut(ms(t))).copied().collect();
        // Never closer than 2 s (the muxer's fragment duration), never later than the
        // first frame after: after a long gap (5000 → 9000) the grid restarts there.
        assert_eq!(cuts, [100, 2100, 4105, 9000, 11_000]);
        // A fragment's duration is whole parts and not longer than the step.
        let s = MuxSettings {
            segment_duration: Duration::from_secs(2),
            part_duration: Duration::from_nanos(333_333_333),
            x264_preset: "veryfast",
            shed_renditions: false,
        };
        assert!(mux_durations(&s).0 <= ms(2000).as_nanos());
    }
}
