//! One rendition's appsink: the muxer's buffers back into init segments and chunks,
//! with the figures the overload governor and the stall watch need.

use super::*;

/// Reassembles the muxer's buffers into init segments and chunks. fmp4mux marks its
/// stream header `HEADER|DISCONT`, each chunk's `moof` header `HEADER` (plus
/// `DELTA_UNIT` when the chunk does not start a fragment), and the chunk's last media
/// buffer `MARKER`.
/// Where one rendition's appsink hands its chunks.
pub(super) struct SinkOutput {
    pub(super) rendition: usize,
    pub(super) name: String,
    pub(super) events: mpsc::UnboundedSender<PipelineEvent>,
    pub(super) shedding: Arc<Shedding>,
    pub(super) stall: Arc<Mutex<stall::StallWatch>>,
    /// The muxer's input against its output (see `hoard`).
    pub(super) hoard: Arc<Mutex<hoard::HoardGuard>>,
    /// The session's span (the sink runs on a streaming thread).
    pub(super) span: tracing::Span,
}

pub(super) fn install_sink(sink: &gst_app::AppSink, out: SinkOutput) {
    let SinkOutput {
        rendition,
        name,
        events,
        shedding,
        stall,
        hoard,
        span,
    } = out;
    struct Pending {
        data: BytesMut,
        pts: gst::ClockTime,
        duration: gst::ClockTime,
        fragment_start: bool,
    }
    let mut pending: Option<Pending> = None;
    // From the init segment: which track must start each segment on a keyframe.
    let mut video_track: Option<u32> = None;
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
                    video_track = crate::moof::video_track(&map);
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
                        // A fragment the muxer starts without a keyframe (audio
                        // alone at a session's end) stays in the open segment.
                        fragment_start: !flags.contains(gst::BufferFlags::DELTA_UNIT)
                            && crate::moof::starts_with_sync(&map, video_track) != Some(false),
                    });
                } else if let Some(p) = pending.as_mut() {
                    p.data.extend_from_slice(&map);
                }
                if flags.contains(gst::BufferFlags::MARKER) {
                    if let Some(p) = pending.take() {
                        let now = std::time::Instant::now();
                        let end = Duration::from_nanos((p.pts + p.duration).nseconds());
                        shedding.on_chunk(rendition, end, p.fragment_start, now);
                        if let Ok(mut h) = hoard.lock() {
                            h.on_chunk(end);
                        }
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
