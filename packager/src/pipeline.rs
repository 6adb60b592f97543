//! The GStreamer side of one publish session, kept thin: build the ladder pipeline,
//! push encoded frames in, hand muxer output back. All decisions about parts,
//! segments and playlists are made in `segmenter` and `event`.
//!
//! Shape: `appsrc (H.264 AVC) ! h264parse ! tee` → passthrough `queue ! mux` and
//! `queue ! avdec_h264 ! tee` → per rung `queue ! videoscale ! x264enc ! h264parse ! mux`;
//! `appsrc (AAC) ! aacparse ! tee` → every mux; each `isofmp4mux ! appsink`.
//! Keyframes of every encoded rung are forced exactly where the source has them, so
//! all renditions cut fragments (segments) at the same instants.

use crate::ladder::{Plan, RenditionKind};
use crate::segmenter::Chunk;
use crate::timing::FrameGrid;
use crate::PackagerError;
use amphi_ingest::{EncodedFrame, FrameKind, MediaTime};
use bytes::{Bytes, BytesMut};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Muxer settings shared by every rendition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MuxSettings {
    pub segment_duration: Duration,
    pub part_duration: Duration,
    /// x264 speed preset name.
    pub x264_preset: &'static str,
}

#[derive(Debug)]
pub enum MuxOutput {
    Init(Bytes),
    Chunk(Chunk),
}

#[derive(Debug)]
pub enum PipelineEvent {
    Output { rendition: usize, output: MuxOutput },
    Eos,
    Error(String),
}

pub struct LadderPipeline {
    pipeline: gst::Pipeline,
    video: gst_app::AppSrc,
    audio: Option<gst_app::AppSrc>,
    /// Source keyframe timestamps not yet seen at the decoder's output.
    keyframes: Arc<Mutex<VecDeque<gst::ClockTime>>>,
    /// Frame rate of the source, for `grid`.
    frame_rate: Option<f64>,
    /// Snaps millisecond-rounded video timestamps back onto the frame grid through
    /// the first video frame.
    /// The first video frame's timestamp and the grid through it.
    grid: std::cell::OnceCell<(MediaTime, Option<FrameGrid>)>,
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

fn launch_description(plan: &Plan, settings: &MuxSettings) -> String {
    let (frag, chunk) = mux_durations(settings);
    // Queues: compressed branches hold a few seconds, raw ones one second.
    let q = "queue max-size-buffers=0 max-size-bytes=0 max-size-time=5000000000";
    let qraw = "queue max-size-buffers=0 max-size-bytes=0 max-size-time=1000000000";
    let mut d = String::from("appsrc name=vsrc format=time ! h264parse ! tee name=vt ");
    let encoded = plan
        .renditions
        .iter()
        .any(|r| matches!(r.kind, RenditionKind::Encoded { .. }));
    if encoded {
        d += &format!("vt. ! {q} ! avdec_h264 name=dec ! tee name=dt ");
    }
    for (i, r) in plan.renditions.iter().enumerate() {
        d += &format!(
            "isofmp4mux name=mux{i} fragment-duration={frag} chunk-duration={chunk} send-force-keyunit=false ! appsink name=sink{i} sync=false async=false "
        );
        match r.kind {
            RenditionKind::Passthrough => d += &format!("vt. ! {q} ! mux{i}. "),
            RenditionKind::Encoded { bitrate } => {
                let kbps = (bitrate / 1000).max(100);
                let profile = if r.height > 720 { "high" } else { "main" };
                d += &format!(
                    "dt. ! {qraw} ! videoscale ! videoconvert ! video/x-raw,format=I420,width={w},height={h},pixel-aspect-ratio=1/1 ! \
                     x264enc name=enc{i} tune=zerolatency speed-preset={preset} bitrate={kbps} vbv-buf-capacity=1000 key-int-max=1200 \
                     bframes=0 b-adapt=false option-string=scenecut=0 ! video/x-h264,profile={profile} ! h264parse ! {q} ! mux{i}. ",
                    w = r.width,
                    h = r.height,
                    preset = settings.x264_preset,
                );
            }
        }
    }
    if plan.audio.is_some() {
        d += "appsrc name=asrc format=time ! aacparse ! tee name=at ";
        for i in 0..plan.renditions.len() {
            d += &format!("at. ! {q} ! mux{i}. ");
        }
    }
    d
}

impl LadderPipeline {
    pub fn build(
        plan: &Plan,
        avcc: &Bytes,
        asc: Option<&Bytes>,
        settings: &MuxSettings,
        events: mpsc::UnboundedSender<PipelineEvent>,
    ) -> Result<LadderPipeline, PackagerError> {
        let description = launch_description(plan, settings);
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
        let audio = match (asc, &plan.audio) {
            (Some(asc), Some(info)) => {
                let a = by_name("asrc")?
                    .downcast::<gst_app::AppSrc>()
                    .map_err(|_| PackagerError::Pipeline("asrc is not an appsrc".into()))?;
                a.set_caps(Some(
                    &gst::Caps::builder("audio/mpeg")
                        .field("mpegversion", 4i32)
                        .field("stream-format", "raw")
                        .field("framed", true)
                        .field("rate", info.sample_rate as i32)
                        .field("channels", info.channels as i32)
                        .field("codec_data", gst::Buffer::from_slice(asc.clone()))
                        .build(),
                ));
                configure_appsrc(&a);
                Some(a)
            }
            _ => None,
        };

        let keyframes = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(dec) = pipeline.by_name("dec") {
            install_keyframe_forcing(&dec, keyframes.clone())?;
        }
        for i in 0..plan.renditions.len() {
            let sink = by_name(&format!("sink{i}"))?
                .downcast::<gst_app::AppSink>()
                .map_err(|_| PackagerError::Pipeline("not an appsink".into()))?;
            install_sink(&sink, i, events.clone());
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
            frame_rate: plan.source.frame_rate,
            grid: std::cell::OnceCell::new(),
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
                if keyframe {
                    let mut k = self
                        .keyframes
                        .lock()
                        .expect("keyframe lock is never poisoned");
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

/// Sends a force-key-unit event ahead of each decoded frame that was a keyframe in
/// the source, so every encoder starts a GOP there.
fn install_keyframe_forcing(
    dec: &gst::Element,
    keyframes: Arc<Mutex<VecDeque<gst::ClockTime>>>,
) -> Result<(), PackagerError> {
    let src = dec
        .static_pad("src")
        .ok_or_else(|| PackagerError::Pipeline("decoder without src pad".into()))?;
    src.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(pts) = info.buffer().and_then(|b| b.pts()) else {
            return gst::PadProbeReturn::Ok;
        };
        let hit = {
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
fn install_sink(
    sink: &gst_app::AppSink,
    rendition: usize,
    events: mpsc::UnboundedSender<PipelineEvent>,
) {
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
        };
        let (frag, chunk) = mux_durations(&s);
        assert_eq!(chunk, 333_333_333);
        assert_eq!(frag, 6 * chunk);
    }
}
