//! Ladder benchmark: an H.264 High + AAC MP4 file (1080p30 for the figures in the
//! README) is demuxed into memory, then pushed as fast as the ladder takes it through
//! the packager (passthrough + 720p/480p/360p x264, CMAF parts, playlists, memory
//! store). Prints the real-time factor (media seconds per wall second), the CPU time
//! and the peak resident memory of this process. `bench/ladder.sh` runs the same
//! ladder with `gst-launch-1.0` beside it and prints the ratio.
//!
//! Usage: cargo bench -p amphi-packager --bench ladder -- FILE.mp4

use amphi_hls::names;
use amphi_hls::store::{MemoryStore, Store};
use amphi_ingest::hub::StaticKeys;
use amphi_ingest::{
    AudioConfig, EncodedFrame, EventId, FrameKind, Hub, MediaTime, Protocol, StreamConfig,
    VideoConfig,
};
use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Demuxed {
    avcc: Bytes,
    asc: Option<Bytes>,
    frames: Vec<EncodedFrame>,
}

fn demux(path: &str) -> Result<Demuxed, String> {
    let desc = format!(
        "filesrc location=\"{path}\" ! qtdemux name=d \
         d.video_0 ! queue ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! appsink name=v sync=false \
         d.audio_0 ! queue ! aacparse ! audio/mpeg,stream-format=raw ! appsink name=a sync=false"
    );
    let pipeline = gst::parse::launch(&desc)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let frames = Arc::new(Mutex::new(Vec::new()));
    let configs: Arc<Mutex<(Option<Bytes>, Option<Bytes>)>> = Arc::default();
    for (name, video) in [("v", true), ("a", false)] {
        let sink = pipeline
            .by_name(name)
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or("appsink")?;
        let frames = frames.clone();
        let configs = configs.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(cd) = sample
                        .caps()
                        .and_then(|c| c.structure(0))
                        .and_then(|st| st.get::<gst::Buffer>("codec_data").ok())
                    {
                        let map = cd.map_readable().map_err(|_| gst::FlowError::Error)?;
                        let mut c = configs.lock().map_err(|_| gst::FlowError::Error)?;
                        let slot = if video { &mut c.0 } else { &mut c.1 };
                        slot.get_or_insert_with(|| Bytes::copy_from_slice(&map));
                    }
                    let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                    let ns = |t: Option<gst::ClockTime>| t.map(|t| t.nseconds() as i64);
                    let pts = ns(buffer.pts()).unwrap_or(0);
                    let dts = ns(buffer.dts()).unwrap_or(pts);
                    let tick = |n: i64| MediaTime::from_rate(n, 1_000_000_000);
                    let kind = if video {
                        FrameKind::Video {
                            keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                        }
                    } else {
                        FrameKind::Audio
                    };
                    frames
                        .lock()
                        .map_err(|_| gst::FlowError::Error)?
                        .push(EncodedFrame {
                            kind,
                            dts: tick(dts),
                            pts: tick(pts),
                            data: Bytes::copy_from_slice(&map),
                        });
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let bus = pipeline.bus().ok_or("bus")?;
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => return Err(e.error().to_string()),
            _ => {}
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    let mut frames = std::mem::take(&mut *frames.lock().map_err(|_| "lock")?);
    // Interleave by decode time, as a publisher sends them.
    frames.sort_by_key(|f| f.dts);
    let (avcc, asc) = configs.lock().map_err(|_| "lock")?.clone();
    Ok(Demuxed {
        avcc: avcc.ok_or("no H.264 codec data")?,
        asc,
        frames,
    })
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, from /proc (Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let Some(path) = std::env::args().skip(1).find(|a| !a.starts_with("--")) else {
        eprintln!("usage: cargo bench -p amphi-packager --bench ladder -- FILE.mp4");
        std::process::exit(2);
    };
    amphi_packager::init().expect("GStreamer");
    let input = demux(&path).expect("demuxing the input");
    let last = input.frames.iter().map(|f| f.pts).max().unwrap_or_default();
    let first = input.frames.iter().map(|f| f.pts).min().unwrap_or_default();
    let media_seconds = (last - first).as_secs_f64();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let (hub, sessions) = Hub::new(Arc::new(StaticKeys::default()));
        let store = Arc::new(MemoryStore::new());
        let packager = amphi_packager::Packager::new(store.clone(), Default::default());
        tokio::spawn(packager.run(sessions));
        let event = EventId::parse("bench").expect("event id");
        let mut publisher = hub
            .begin_publish_event(event, Protocol::Demo)
            .expect("publish");
        publisher.configure(StreamConfig {
            video: VideoConfig::H264 {
                avcc: input.avcc.clone(),
            },
            audio: input.asc.clone().map(|asc| AudioConfig::Aac { asc }),
        });
        let segments = (media_seconds / 2.0).floor() as u64;
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        for f in input.frames {
            publisher.send(f).await.expect("send");
        }
        drop(publisher);
        // Done when the second-to-last segment exists in every rendition.
        let master = loop {
            if let Some(m) = store.get(&names::master_key("bench")).await.expect("get") {
                break String::from_utf8_lossy(&m.data).into_owned();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let renditions: Vec<String> = master
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.trim_end_matches("/index.m3u8").to_owned())
            .collect();
        let target = segments.saturating_sub(2);
        loop {
            let mut done = true;
            for r in &renditions {
                let key = names::rendition_key("bench", r, &names::segment_name(target));
                done &= store.get(&key).await.expect("get").is_some();
            }
            if done {
                break;
            }
            if t0.elapsed() > Duration::from_secs(600) {
                panic!("the ladder did not finish in 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let wall = t0.elapsed().as_secs_f64();
        let media = (target + 1) as f64 * 2.0;
        let cpu = cpu_seconds() - cpu0;
        println!("renditions: {}", renditions.join(", "));
        println!(
            "amphi ladder: {media:.1} s of media in {wall:.2} s wall: {:.2}x real time",
            media / wall
        );
        println!(
            "amphi ladder: CPU {cpu:.1} s ({:.0}% of one core), peak RSS {:.0} MiB",
            100.0 * cpu / wall,
            peak_rss_mib()
        );
        println!("AMPHI_LADDER_RTF={:.3}", media / wall);
    });
}
