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
//! Keyframes of every encoded rung are forced at one point, the decoder's output, so
//! all renditions cut fragments (segments) at the same instants. With
//! [`KeyframePolicy::FollowSource`] they are forced exactly where the source has them
//! (the source's cadence makes the segments). With [`KeyframePolicy::Grid`] they are
//! forced on the first frame at least one segment duration after the previous forced
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
//! interval and parts keep flowing through loss; keyframes are forced on its output.
//! [`stall::StallWatch`] warns, with the event and the figures, if a rendition still
//! stops producing while frames go in.

use crate::ladder::{KeyframePolicy, Plan, RenditionKind};
use crate::segmenter::Chunk;
use crate::shedding::{LadderLoad, Shedding};
use crate::timing::FrameGrid;
use crate::PackagerError;
use amphi_ingest::{AudioConfig, EncodedFrame, FrameKind, MediaTime};
use bytes::{Bytes, BytesMut};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

#[path = "stall.rs"]
pub mod stall;

/// Longest hole in a grid-cut session's video that is filled by repeating the last
/// picture (a publisher silent for longer is ended by ingest first).
pub const MAX_FILLED_GAP: Duration = Duration::from_secs(10);

/// AAC bitrate of audio transcoded from Opus (bits/s).
pub const TRANSCODED_AAC_BITRATE: u64 = crate::ladder::AUDIO_BITRATE;

/// Muxer settings shared by every rendition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MuxSettings {
    pub segment_duration: Duration,
    pub part_duration: Duration,
    /// x264 speed preset name.
    pub x264_preset: &'static str,
    /// Whether the overload governor may shed renditions (off by default: a shed
    /// rendition is not brought back yet). Frame drops are measured either way.
    pub shed_renditions: bool,
}

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
}

pub struct LadderPipeline {
    pipeline: gst::Pipeline,
    video: gst_app::AppSrc,
    audio: Option<gst_app::AppSrc>,
    /// Source keyframe timestamps not yet seen at the decoder's output
    /// ([`KeyframePolicy::FollowSource`] only).
    keyframes: Option<Arc<Mutex<VecDeque<gst::ClockTime>>>>,
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

/// Shortest part duration an event may choose (6 frames at 30 fps).
pub const MIN_PART_DURATION: Duration = Duration::from_millis(200);
/// Longest part duration an event may choose.
pub const MAX_PART_DURATION: Duration = Duration::from_secs(1);

/// Reads a part duration in seconds, [`MIN_PART_DURATION`] to [`MAX_PART_DURATION`]
/// (e.g. `0.2`, `0.333`, `0.5`), as given on the command line.
pub fn parse_part_duration(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    let d = Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))?;
    if !(MIN_PART_DURATION..=MAX_PART_DURATION).contains(&d) {
        return Err(format!(
            "part duration {secs} s is outside {} s to {} s",
            MIN_PART_DURATION.as_secs_f64(),
            MAX_PART_DURATION.as_secs_f64()
        ));
    }
    Ok(d)
}

impl crate::PackagerConfig {
    /// Sets the part duration of the muxers and the playlists' PART-TARGET (the
    /// playlist writer derives PART-HOLD-BACK, 3 × PART-TARGET, from it). Segments keep
    /// their duration; the muxer rounds the part to a whole fraction of it.
    pub fn set_part_duration(&mut self, part: Duration) {
        let part = part.clamp(MIN_PART_DURATION, MAX_PART_DURATION);
        self.mux.part_duration = part;
        let (_, chunk) = mux_durations(&self.mux);
        // Announced in whole milliseconds, never below a real part.
        self.playlist.part_target = Duration::from_millis((chunk as u64).div_ceil(1_000_000));
    }
}

/// Fragment and chunk durations in nanoseconds. The fragment is a whole number of
/// chunks: with 333,333,333 ns chunks and a 2 s fragment, the sixth chunk would stop
/// a nanosecond short of the fragment end and the muxer would run the segment on to
/// the next keyframe.
pub fn mux_durations(settings: &MuxSettings) -> (u128, u128) {
    let frag = settings.segment_duration.as_nanos().max(1);
    let part = settings.part_duration.as_nanos().clamp(1, frag);
    let parts = ((frag as f64 / part as f64).round() as u128).max(1);
    let chunk = frag / parts;
    (chunk * parts, chunk)
}

/// Caps of the audio appsrc (and, for Opus, the transcoding elements after it).
fn audio_branch(audio: &AudioConfig) -> String {
    match audio {
        AudioConfig::Aac { .. } => "appsrc name=asrc format=time ! aacparse".into(),
        AudioConfig::Opus { channels } => format!(
            "appsrc name=asrc format=time ! opusdec ! audioconvert ! audioresample ! \
             audio/x-raw,rate=48000,channels={channels} ! avenc_aac bitrate={TRANSCODED_AAC_BITRATE} ! aacparse"
        ),
    }
}

fn launch_description(plan: &Plan, audio: Option<&AudioConfig>, settings: &MuxSettings) -> String {
    let (frag, chunk) = mux_durations(settings);
    // Queues: compressed branches hold a few seconds. For an encoder that keeps its
    // own cadence (RTMP, RTSP: keyframes follow the source), each encoder reads a raw
    // queue one part long that drops its oldest frame when full, and the muxers' inputs
    // leak past five seconds: a ladder short of CPU loses frames, not time. A browser
    // session (keyframes forced on a grid) sends bursts after loss: there, leaking
    // queues lost the frame after a forced keyframe request and split audio from video
    // in segments, so its queues block (raw ones one second).
    let q = "queue max-size-buffers=0 max-size-bytes=0 max-size-time=5000000000";
    let (qmux, qraw) = match plan.keyframes {
        KeyframePolicy::FollowSource => (
            "queue leaky=downstream max-size-buffers=0 max-size-bytes=0 max-size-time=5000000000"
                .to_owned(),
            format!(
                "queue leaky=downstream max-size-buffers=0 max-size-bytes=0 max-size-time={chunk}"
            ),
        ),
        KeyframePolicy::Grid(_) => (
            q.to_owned(),
            "queue max-size-buffers=0 max-size-bytes=0 max-size-time=1000000000".to_owned(),
        ),
    };
    let mut d = String::from("appsrc name=vsrc format=time ! h264parse ! tee name=vt ");
    let encoded = plan
        .renditions
        .iter()
        .any(|r| matches!(r.kind, RenditionKind::Encoded { .. }));
    if encoded {
        // `decoded` is where keyframes are forced: the decoder's output, or for a
        // grid-cut session the gap filler after it (see the module docs).
        let decoded = match plan.keyframes {
            KeyframePolicy::FollowSource => "avdec_h264 name=decoded".to_owned(),
            KeyframePolicy::Grid(_) => format!(
                "avdec_h264 ! videorate name=decoded skip-to-first=true max-duplication-time={}",
                MAX_FILLED_GAP.as_nanos()
            ),
        };
        d += &format!("vt. ! {q} ! {decoded} ! tee name=dt ");
    }
    for (i, r) in plan.renditions.iter().enumerate() {
        d += &format!(
            "isofmp4mux name=mux{i} fragment-duration={frag} chunk-duration={chunk} send-force-keyunit=false ! appsink name=sink{i} sync=false async=false "
        );
        match r.kind {
            RenditionKind::Passthrough => d += &format!("vt. ! {qmux} ! mux{i}. "),
            RenditionKind::Encoded { bitrate } => {
                let kbps = (bitrate / 1000).max(100);
                let profile = if r.height > 720 { "high" } else { "main" };
                d += &format!(
                    "dt. ! {qraw} name=rawq{i} ! videoscale ! videoconvert ! video/x-raw,format=I420,width={w},height={h},pixel-aspect-ratio=1/1 ! \
                     x264enc name=enc{i} tune=zerolatency speed-preset={preset} bitrate={kbps} vbv-buf-capacity=1000 key-int-max=1200 \
                     bframes=0 b-adapt=false option-string=scenecut=0 ! video/x-h264,profile={profile} ! h264parse ! {qmux} ! mux{i}. ",
                    w = r.width,
                    h = r.height,
                    preset = settings.x264_preset,
                );
            }
        }
    }
    if let (Some(audio), Some(_)) = (audio, plan.audio) {
        d += &audio_branch(audio);
        d += " ! tee name=at ";
        for i in 0..plan.renditions.len() {
            d += &format!("at. ! {qmux} ! mux{i}. ");
        }
    }
    d
}

impl LadderPipeline {
    pub fn build(
        plan: &Plan,
        avcc: &Bytes,
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
        video.set_caps(Some(
            &gst::Caps::builder("video/x-h264")
                .field("stream-format", "avc")
                .field("alignment", "au")
                .field("codec_data", gst::Buffer::from_slice(avcc.clone()))
                .field("framerate", gst::Fraction::new(fps_n, 1000))
                .build(),
        ));
        configure_appsrc(&video);
        let shedding =
            Shedding::install(&pipeline, plan, settings.shed_renditions, events.clone())?;
        let audio = match (audio, &plan.audio) {
            (Some(config), Some(info)) => {
                let a = by_name("asrc")?
                    .downcast::<gst_app::AppSrc>()
                    .map_err(|_| PackagerError::Pipeline("asrc is not an appsrc".into()))?;
                let caps = match config {
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
                };
                a.set_caps(Some(&caps));
                configure_appsrc(&a);
                Some(a)
            }
            _ => None,
        };

        let keyframes = match plan.keyframes {
            KeyframePolicy::FollowSource => Some(Arc::new(Mutex::new(VecDeque::new()))),
            KeyframePolicy::Grid(_) => None,
        };
        if let Some(dec) = pipeline.by_name("decoded") {
            let forcing = match (&keyframes, plan.keyframes) {
                (Some(k), _) => KeyframeForcing::Source(k.clone()),
                (None, KeyframePolicy::Grid(step)) => {
                    KeyframeForcing::Grid(Mutex::new(GridCutter::new(step)))
                }
                (None, KeyframePolicy::FollowSource) => {
                    return Err(PackagerError::Pipeline("keyframe queue missing".into()))
                }
            };
            install_keyframe_forcing(&dec, forcing, shedding.clone())?;
        }
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
            let output = SinkOutput {
                rendition: i,
                name: name.clone(),
                events: events.clone(),
                shedding: shedding.clone(),
                stall: stall.clone(),
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
            keyframes,
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
                if let (true, Some(keyframes)) = (keyframe, &self.keyframes) {
                    let mut k = keyframes.lock().expect("keyframe lock is never poisoned");
                    k.push_back(pts);
                    while k.len() > 64 {
                        k.pop_front();
                    }
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

/// Where the decoder's output gets a keyframe forced.
enum KeyframeForcing {
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
fn install_keyframe_forcing(
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
            let event = gstreamer_video::DownstreamForceKeyUnitEvent::builder()
                .timestamp(pts)
                .all_headers(true)
                .build();
            if let Some(peer) = pad.peer() {
                peer.send_event(event);
            }
        }
        gst::PadProbeReturn::Ok
    })
    .ok_or_else(|| PackagerError::Pipeline("could not add the keyframe probe".into()))?;
    Ok(())
}

/// Reassembles the muxer's buffers into init segments and chunks. fmp4mux marks its
/// stream header `HEADER|DISCONT`, each chunk's `moof` header `HEADER` (plus
/// `DELTA_UNIT` when the chunk does not start a fragment), and the chunk's last media
/// buffer `MARKER`.
/// Where one rendition's appsink hands its chunks.
struct SinkOutput {
    rendition: usize,
    name: String,
    events: mpsc::UnboundedSender<PipelineEvent>,
    shedding: Arc<Shedding>,
    stall: Arc<Mutex<stall::StallWatch>>,
    /// The session's span (the sink runs on a streaming thread).
    span: tracing::Span,
}

fn install_sink(sink: &gst_app::AppSink, out: SinkOutput) {
    let SinkOutput {
        rendition,
        name,
        events,
        shedding,
        stall,
        span,
    } = out;
    struct Pending {
        data: BytesMut,
        pts: gst::ClockTime,
        duration: gst::ClockTime,
        fragment_start: bool,
    }
    let mut pending: Option<Pending> = None;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let Some(buffer) = sample.buffer() else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let flags = buffer.flags();
                let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                if flags.contains(gst::BufferFlags::HEADER)
                    && flags.contains(gst::BufferFlags::DISCONT)
                {
                    let _ = events.send(PipelineEvent::Output {
                        rendition,
                        output: MuxOutput::Init(Bytes::copy_from_slice(&map)),
                    });
                    return Ok(gst::FlowSuccess::Ok);
                }
                if flags.contains(gst::BufferFlags::HEADER) {
                    let mut data = BytesMut::with_capacity(64 * 1024);
                    data.extend_from_slice(&map);
                    // On the running-time clock, which is the session's media time.
                    let segment = sample
                        .segment()
                        .and_then(|s| s.downcast_ref::<gst::ClockTime>());
                    let pts = buffer
                        .pts()
                        .map(|t| segment.and_then(|s| s.to_running_time(t)).unwrap_or(t));
                    pending = Some(Pending {
                        data,
                        pts: pts.unwrap_or(gst::ClockTime::ZERO),
                        duration: buffer.duration().unwrap_or(gst::ClockTime::ZERO),
                        fragment_start: !flags.contains(gst::BufferFlags::DELTA_UNIT),
                    });
                } else if let Some(p) = pending.as_mut() {
                    p.data.extend_from_slice(&map);
                }
                if flags.contains(gst::BufferFlags::MARKER) {
                    if let Some(p) = pending.take() {
                        let now = std::time::Instant::now();
                        let end = Duration::from_nanos((p.pts + p.duration).nseconds());
                        shedding.on_chunk(rendition, end, p.fragment_start, now);
                        let back = stall
                            .lock()
                            .ok()
                            .and_then(|mut w| w.on_chunk(rendition, now, end));
                        if let Some(stalled) = back {
                            span.in_scope(|| {
                                tracing::info!(
                                    rendition = %name,
                                    stalled_ms = stalled.as_millis() as u64,
                                    "ladder producing again"
                                )
                            });
                        }
                        let _ = events.send(PipelineEvent::Output {
                            rendition,
                            output: MuxOutput::Chunk(Chunk {
                                data: p.data.freeze(),
                                pts: Duration::from_nanos(p.pts.nseconds()),
                                duration: Duration::from_nanos(p.duration.nseconds()),
                                fragment_start: p.fragment_start,
                            }),
                        });
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
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
