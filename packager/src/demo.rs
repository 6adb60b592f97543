//! The demo event: a GStreamer test pattern with a clock and a tone, encoded to H.264
//! and AAC and published through the hub exactly like an RTMP publisher, so it goes
//! through the same ladder, packager and origin.

use amphi_ingest::frame::MediaDuration;
use amphi_ingest::{
    AudioConfig, EncodedFrame, EventId, FrameKind, Hub, MediaTime, Protocol, StreamConfig,
    VideoConfig,
};
use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Pause before restarting a failed demo source.
pub const RESTART_DELAY: Duration = Duration::from_secs(2);

enum DemoMsg {
    Config {
        avcc: Option<Bytes>,
        asc: Option<Bytes>,
    },
    Frame(EncodedFrame),
    Failed(String),
}

fn description(width: u32, height: u32) -> String {
    format!(
        "videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! video/x-raw,width={width},height={height},framerate=30/1 ! \
         clockoverlay halignment=center valignment=center font-desc=\"Sans 48\" time-format=\"%H:%M:%S\" ! \
         timeoverlay halignment=right valignment=bottom ! videoconvert ! \
         x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bitrate=3000 ! video/x-h264,profile=high ! h264parse ! \
         video/x-h264,stream-format=avc,alignment=au ! appsink name=v sync=false \
         audiotestsrc is-live=true wave=sine freq=440 volume=0.1 ! audio/x-raw,rate=48000,channels=2 ! audioconvert ! \
         avenc_aac bitrate=128000 ! aacparse ! audio/mpeg,stream-format=raw ! appsink name=a sync=false"
    )
}

fn codec_data(sample: &gst::Sample) -> Option<Bytes> {
    let caps = sample.caps()?;
    let s = caps.structure(0)?;
    let buf = s.get::<gst::Buffer>("codec_data").ok()?;
    let map = buf.map_readable().ok()?;
    Some(Bytes::copy_from_slice(&map))
}

fn start_source(
    width: u32,
    height: u32,
    tx: mpsc::UnboundedSender<DemoMsg>,
) -> Result<gst::Pipeline, String> {
    let pipeline = gst::parse::launch(&description(width, height))
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    for (name, video) in [("v", true), ("a", false)] {
        let sink = pipeline
            .by_name(name)
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or("appsink missing")?;
        let tx = tx.clone();
        let mut sent_config = false;
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if !sent_config {
                        let cd = codec_data(&sample);
                        let msg = if video {
                            DemoMsg::Config {
                                avcc: cd,
                                asc: None,
                            }
                        } else {
                            DemoMsg::Config {
                                avcc: None,
                                asc: cd,
                            }
                        };
                        let _ = tx.send(msg);
                        sent_config = true;
                    }
                    let Some(buffer) = sample.buffer() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                    // Timestamps on the running-time clock both sinks share (x264enc
                    // shifts its segment by 1000 hours to keep DTS positive).
                    let segment = sample
                        .segment()
                        .and_then(|s| s.downcast_ref::<gst::ClockTime>());
                    let running = |t: Option<gst::ClockTime>| -> Option<u64> {
                        let t = t?;
                        Some(
                            segment
                                .and_then(|s| s.to_running_time(t))
                                .unwrap_or(t)
                                .nseconds(),
                        )
                    };
                    let pts = running(buffer.pts()).unwrap_or(0);
                    let dts = running(buffer.dts()).unwrap_or(pts);
                    let to_media = |ns: u64| {
                        MediaTime::ZERO + MediaDuration::from_std(Duration::from_nanos(ns))
                    };
                    let kind = if video {
                        FrameKind::Video {
                            keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                        }
                    } else {
                        FrameKind::Audio
                    };
                    let _ = tx.send(DemoMsg::Frame(EncodedFrame {
                        kind,
                        dts: to_media(dts),
                        pts: to_media(pts),
                        data: Bytes::copy_from_slice(&map),
                    }));
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    let bus = pipeline.bus().ok_or("no bus")?;
    bus.set_sync_handler(move |_, msg| {
        if let gst::MessageView::Error(e) = msg.view() {
            let _ = tx.send(DemoMsg::Failed(e.error().to_string()));
        }
        gst::BusSyncReply::Drop
    });
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    Ok(pipeline)
}

/// Runs the demo publisher for `event` forever, restarting it if it fails.
pub async fn run_demo(hub: Hub, event: EventId, width: u32, height: u32) {
    loop {
        if let Err(e) = run_once(&hub, &event, width, height).await {
            warn!(event = %event, reason = %e, "demo source stopped; restarting");
        }
        tokio::time::sleep(RESTART_DELAY).await;
    }
}

async fn run_once(hub: &Hub, event: &EventId, width: u32, height: u32) -> Result<(), String> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pipeline = start_source(width, height, tx)?;
    let _guard = PipelineGuard(pipeline);
    let mut publisher = hub
        .begin_publish_event(event.clone(), Protocol::Demo)
        .map_err(|e| e.to_string())?;
    info!(event = %event, width, height, "demo source started");
    let (mut avcc, mut asc) = (None, None);
    let mut base: Option<MediaTime> = None;
    let mut started = false;
    while let Some(msg) = rx.recv().await {
        match msg {
            DemoMsg::Config { avcc: v, asc: a } => {
                avcc = v.or(avcc);
                asc = a.or(asc);
            }
            DemoMsg::Failed(e) => return Err(e),
            DemoMsg::Frame(mut frame) => {
                if !started {
                    // Start on a keyframe once both configurations are known.
                    let ready = avcc.is_some() && asc.is_some();
                    if !(ready && frame.kind == (FrameKind::Video { keyframe: true })) {
                        continue;
                    }
                    publisher.configure(StreamConfig {
                        video: VideoConfig::H264 {
                            avcc: avcc.clone().ok_or("no avcC")?,
                        },
                        audio: asc.clone().map(|asc| AudioConfig::Aac { asc }),
                    });
                    base = Some(frame.dts);
                    started = true;
                }
                let b = base.unwrap_or(MediaTime::ZERO);
                tracing::trace!(kind = ?frame.kind, dts = frame.dts.ticks(), base = b.ticks(), "demo frame");
                if frame.dts < b {
                    continue; // audio from before the first keyframe
                }
                frame.dts = MediaTime::ZERO + (frame.dts - b);
                frame.pts = MediaTime::ZERO + (frame.pts - b);
                publisher.send(frame).await.map_err(|e| e.to_string())?;
            }
        }
    }
    Err("demo source ended".into())
}

struct PipelineGuard(gst::Pipeline);

impl Drop for PipelineGuard {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}
