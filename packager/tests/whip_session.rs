//! A browser-like publish session (WHIP: H.264 with a keyframe only every 10 s,
//! jittered frame timing, Opus audio) through the real ladder and packager into a
//! memory store: segments are cut on the 2 s grid in every rendition, parts stay
//! near the part duration, every segment decodes on its own, and the audio is AAC-LC.

use amphi_hls::names;
use amphi_hls::store::{MemoryStore, Store};
use amphi_ingest::frame::{MediaDuration, ProgramTime};
use amphi_ingest::{
    AudioConfig, EncodedFrame, EventId, FrameKind, MediaTime, Protocol, PublishSession,
    SessionEpoch, SessionMessage, StreamConfig, VideoConfig,
};
use amphi_packager::ladder::Rung;
use amphi_packager::{Packager, PackagerConfig};
use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

const EVENT: &str = "webcam";
const SECONDS: u32 = 16;
const FPS: u32 = 30;

struct Source {
    avcc: Bytes,
    frames: Vec<EncodedFrame>,
}

/// Encodes `seconds` of test pattern and tone the way a browser would send them:
/// H.264 (keyframe every 300 frames, parameter sets also in-band), Opus in 20 ms packets.
fn encode_source(width: u32, height: u32, seconds: u32) -> Source {
    let frames_n = seconds * FPS;
    let desc = format!(
        "videotestsrc num-buffers={frames_n} pattern=ball ! video/x-raw,width={width},height={height},framerate={FPS}/1 ! \
         videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=300 bitrate=800 ! \
         video/x-h264,profile=constrained-baseline ! h264parse config-interval=-1 ! video/x-h264,stream-format=avc,alignment=au ! \
         appsink name=v sync=false \
         audiotestsrc num-buffers={} samplesperbuffer=960 wave=sine freq=440 volume=0.2 ! \
         audio/x-raw,rate=48000,channels=2 ! opusenc bitrate=64000 ! appsink name=a sync=false",
        seconds * 50
    );
    let pipeline = gst::parse::launch(&desc)
        .expect("source pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let frames: Arc<Mutex<Vec<EncodedFrame>>> = Arc::default();
    let avcc: Arc<Mutex<Option<Bytes>>> = Arc::default();
    for (name, video) in [("v", true), ("a", false)] {
        let sink = pipeline
            .by_name(name)
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .expect("appsink");
        let frames = frames.clone();
        let avcc = avcc.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if video {
                        let cd = sample
                            .caps()
                            .and_then(|c| c.structure(0))
                            .and_then(|st| st.get::<gst::Buffer>("codec_data").ok());
                        if let Some(cd) = cd {
                            let map = cd.map_readable().map_err(|_| gst::FlowError::Error)?;
                            avcc.lock()
                                .expect("lock")
                                .get_or_insert_with(|| Bytes::copy_from_slice(&map));
                        }
                    }
                    let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                    // On the running-time clock both sinks share (x264enc shifts its
                    // output segment to keep DTS positive).
                    let segment = sample
                        .segment()
                        .and_then(|s| s.downcast_ref::<gst::ClockTime>());
                    let running = |t: Option<gst::ClockTime>| {
                        t.map(|t| {
                            segment
                                .and_then(|s| s.to_running_time(t))
                                .unwrap_or(t)
                                .nseconds() as i64
                        })
                    };
                    let pts = running(buffer.pts()).unwrap_or(0);
                    let dts = running(buffer.dts()).unwrap_or(pts);
                    let tick = |ns: i64| MediaTime::from_rate(ns, 1_000_000_000);
                    let kind = if video {
                        FrameKind::Video {
                            keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                        }
                    } else {
                        FrameKind::Audio
                    };
                    frames.lock().expect("lock").push(EncodedFrame {
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
    pipeline.set_state(gst::State::Playing).expect("playing");
    let bus = pipeline.bus().expect("bus");
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("source pipeline: {}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).expect("stopped");
    let mut frames = std::mem::take(&mut *frames.lock().expect("lock"));
    let avcc = avcc
        .lock()
        .expect("lock")
        .clone()
        .expect("H.264 codec data");
    // RTP-like timing: every video frame a few milliseconds off the 30 fps grid (no
    // B-frames, so presentation order is decode order), session time from zero.
    let mut seed = 0x2545_f491u32;
    for f in frames.iter_mut() {
        if let FrameKind::Video { .. } = f.kind {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let jitter = (seed % 1081) as i64 - 540; // ±6 ms in 90 kHz ticks
            let t = (f.pts.ticks() + jitter).max(0);
            f.pts = MediaTime::from_ticks(t);
            f.dts = MediaTime::from_ticks(t);
        }
    }
    frames.sort_by_key(|f| f.dts);
    let first_video = frames
        .iter()
        .position(|f| f.kind == FrameKind::Video { keyframe: true })
        .expect("a keyframe");
    let base = frames[first_video].dts;
    let frames = frames
        .into_iter()
        .filter(|f| f.dts >= base)
        .map(|mut f| {
            f.dts = MediaTime::ZERO + (f.dts - base);
            f.pts = MediaTime::ZERO + (f.pts - base);
            f
        })
        .collect();
    Source { avcc, frames }
}

async fn text(store: &MemoryStore, key: &str) -> Option<String> {
    let o = store.get(key).await.expect("memory store get")?;
    Some(String::from_utf8_lossy(&o.data).into_owned())
}

async fn bytes(store: &MemoryStore, key: &str) -> Bytes {
    store
        .get(key)
        .await
        .expect("memory store get")
        .unwrap_or_else(|| panic!("{key} is missing"))
        .data
}

/// `(uri, duration)` of every `#EXT-X-PART` in a media playlist.
fn parts(playlist: &str) -> Vec<(String, f64)> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-PART:"))
        .filter_map(|attrs| {
            let mut duration = None;
            let mut uri = None;
            for a in attrs.split(',') {
                if let Some(v) = a.strip_prefix("DURATION=") {
                    duration = v.parse::<f64>().ok();
                } else if let Some(v) = a.strip_prefix("URI=") {
                    uri = Some(v.trim_matches('"').to_owned());
                }
            }
            Some((uri?, duration?))
        })
        .collect()
}

/// ffprobe's `codec_type,codec_name,profile,...` lines for one file.
/// `ffprobe -v error ARGS… -of csv=p=0 PATH`.
fn ffprobe(args: &[&str], path: &Path) -> std::process::Output {
    Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs")
}

fn probe(path: &Path) -> String {
    let out = ffprobe(
        &[
            "-show_entries",
            "stream=codec_type,codec_name,profile,sample_rate,channels,width,height,start_time",
        ],
        path,
    );
    assert!(
        out.status.success(),
        "ffprobe {}: {:?}",
        path.display(),
        out
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Decodes every frame of `path`; returns the number of video frames decoded.
fn decode(path: &Path) -> u64 {
    let out = ffprobe(
        &[
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
        ],
        path,
    );
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "decoding {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_end_matches(',')
        .parse()
        .unwrap_or(0)
}

/// Whether the first video packet of `path` is a keyframe (ffprobe's `K` flag).
fn first_video_is_keyframe(path: &Path) -> bool {
    let out = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-read_intervals",
            "%+#1",
            "-show_entries",
            "packet=flags",
        ],
        path,
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .is_some_and(|flags| flags.starts_with('K'))
}

/// Starts a packager on `store` with `ladder` and hands it one browser-like (WHIP)
/// session carrying H.264 `avcc` and Opus; returns where its frames go.
async fn start_whip_session(
    store: &Arc<MemoryStore>,
    ladder: Vec<Rung>,
    avcc: Bytes,
) -> mpsc::Sender<SessionMessage> {
    let config = PackagerConfig {
        ladder,
        end_after: Duration::from_secs(1),
        ..Default::default()
    };
    let (sessions_tx, sessions) = mpsc::channel(1);
    tokio::spawn(Packager::new(store.clone(), config).run(sessions));
    let (tx, messages) = mpsc::channel(256);
    sessions_tx
        .send(PublishSession {
            event: EventId::parse(EVENT).expect("event id"),
            protocol: Protocol::Whip,
            epoch: SessionEpoch::new(ProgramTime::from(SystemTime::now())),
            messages,
        })
        .await
        .expect("packager takes the session");
    tx.send(SessionMessage::Config(StreamConfig {
        video: VideoConfig::H264 { avcc },
        audio: Some(AudioConfig::Opus { channels: 2 }),
    }))
    .await
    .expect("config");
    tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_session_is_cut_on_the_segment_grid_with_aac_audio() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
    amphi_packager::init().expect("GStreamer init");
    let source = encode_source(640, 360, SECONDS);
    let keyframes = source
        .frames
        .iter()
        .filter(|f| f.kind == FrameKind::Video { keyframe: true })
        .count();
    assert!(keyframes <= 2, "the source has {keyframes} keyframes");

    let store = Arc::new(MemoryStore::new());
    // Two rungs below a 640x360 source keep the test light.
    let ladder = vec![
        Rung {
            height: 360,
            bitrate: 600_000,
        },
        Rung {
            height: 240,
            bitrate: 300_000,
        },
    ];
    let tx = start_whip_session(&store, ladder, source.avcc.clone()).await;

    // Feed the frames (as fast as the ladder takes them) while collecting every part
    // the playlists list.
    let deadline = Instant::now() + Duration::from_secs(150);
    let feeder = tokio::spawn(async move {
        for f in source.frames {
            tx.send(SessionMessage::Frame(f)).await.expect("frame");
        }
    });
    let master_key = names::master_key(EVENT);
    let mut seen_parts: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let (master, finals) = loop {
        assert!(Instant::now() < deadline, "the session did not end in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Some(master) = text(&store, &master_key).await else {
            continue;
        };
        let renditions: Vec<String> = master
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.trim_end_matches("/index.m3u8").to_owned())
            .collect();
        let mut finals = Vec::new();
        for r in &renditions {
            if let Some(p) = text(&store, &names::playlist_key(EVENT, r)).await {
                let seen = seen_parts.entry(r.clone()).or_default();
                seen.extend(parts(&p));
                if p.contains("#EXT-X-ENDLIST") {
                    finals.push((r.clone(), p));
                }
            }
        }
        if !renditions.is_empty() && finals.len() == renditions.len() {
            break (master, finals);
        }
    };
    feeder.await.expect("feeder");
    println!("{master}");

    // The multivariant playlist: no passthrough of a source without keyframe cadence,
    // a rendition at the source size, AAC-LC audio.
    let parsed = m3u8_rs::parse_master_playlist_res(master.as_bytes()).expect("master parses");
    let sizes: Vec<_> = parsed
        .variants
        .iter()
        .map(|v| v.resolution.map(|r| (r.width, r.height)))
        .collect();
    assert_eq!(
        sizes,
        [Some((640, 360)), Some((428, 240))],
        "renditions: {master}"
    );
    for v in &parsed.variants {
        let codecs = v.codecs.as_deref().unwrap_or_default();
        assert!(codecs.contains("mp4a.40.2"), "CODECS={codecs}");
    }

    let dir = std::env::temp_dir().join(format!("amphi-whip-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (rendition, playlist) in &finals {
        println!("{rendition}:\n{playlist}");
        let media = m3u8_rs::parse_media_playlist_res(playlist.as_bytes()).expect("media playlist");
        let n = media.segments.len();
        assert!(n >= 7, "{rendition}: {n} segments for {SECONDS} s");
        let total: f64 = media.segments.iter().map(|s| s.duration as f64).sum();
        assert!(
            (total - SECONDS as f64).abs() < 1.0,
            "{rendition}: {total} s of segments"
        );
        for (i, seg) in media.segments.iter().enumerate() {
            let last = i + 1 == n;
            assert!(
                seg.duration < 2.5 && (last || seg.duration > 1.6),
                "{rendition}: segment {} lasts {} s (expected ~2 s, not the source's 10 s GOP)",
                seg.uri,
                seg.duration
            );
        }
        // Parts: near the part duration, none much longer.
        let part = PackagerConfig::default().mux.part_duration.as_secs_f64();
        let seen = &seen_parts[rendition];
        assert!(seen.len() >= 20, "{rendition}: saw {} parts", seen.len());
        let longest = seen.values().copied().fold(0.0, f64::max);
        let mean = seen.values().sum::<f64>() / seen.len() as f64;
        println!(
            "{rendition}: {} parts seen, mean {mean:.3} s, longest {longest:.3} s",
            seen.len()
        );
        assert!(
            longest < part + 0.07,
            "{rendition}: a part lasts {longest} s"
        );
        assert!(
            (mean - part).abs() < 0.04,
            "{rendition}: parts average {mean} s"
        );

        // Every segment decodes on its own after the init segment: video and AAC-LC.
        let init_uri = playlist
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
            .and_then(|l| l.split('"').next())
            .expect("EXT-X-MAP");
        let init = bytes(&store, &names::rendition_key(EVENT, rendition, init_uri)).await;
        let mut decoded = 0;
        for seg in &media.segments {
            let data = bytes(&store, &names::rendition_key(EVENT, rendition, &seg.uri)).await;
            let path = dir.join(format!("{rendition}-{}.mp4", seg.uri));
            std::fs::write(&path, [&init[..], &data[..]].concat()).expect("write");
            let streams = probe(&path);
            println!("{rendition} {}: {}", seg.uri, streams.replace('\n', " | "));
            // Audio and video start together in every segment (the transcoded audio is
            // cut at the video keyframe, not earlier).
            let start = |kind: &str| -> f64 {
                streams
                    .lines()
                    .find(|l| l.contains(kind))
                    .and_then(|l| l.rsplit(',').next())
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(f64::NAN)
            };
            let skew = (start(",audio,") - start(",video,")).abs();
            assert!(
                skew < 0.05,
                "{rendition} {}: audio and video start {skew} s apart",
                seg.uri
            );
            assert!(
                streams
                    .lines()
                    .any(|l| l.starts_with("aac,LC,audio,48000,2")
                        || (l.contains("aac") && l.contains("audio") && l.contains("48000"))),
                "{rendition} {}: no AAC-LC 48 kHz audio: {streams}",
                seg.uri
            );
            assert!(
                streams.contains("h264"),
                "{rendition} {}: {streams}",
                seg.uri
            );
            // Every segment, the last one too (the session's end leaves no stub of
            // delta frames), starts with a keyframe and decodes in full on its own.
            assert!(
                first_video_is_keyframe(&path),
                "{rendition} {}: the segment does not start with a keyframe",
                seg.uri
            );
            let frames = decode(&path);
            assert!(
                frames as f64 >= seg.duration as f64 * FPS as f64 * 0.8,
                "{rendition} {}: {frames} frames decoded in {} s",
                seg.uri,
                seg.duration
            );
            decoded += frames;
        }
        println!("{rendition}: {decoded} frames decoded from {n} segments");
    }
    if std::env::var_os("AMPHI_TEST_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A shared window resized mid-session: the browser's frames change size at a keyframe
/// (new parameter sets in-band, the session's configuration unchanged). The ladder keeps
/// its planned sizes and every segment still decodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_change_mid_session_keeps_the_ladder() {
    amphi_packager::init().expect("GStreamer init");
    let first = encode_source(640, 360, 4);
    let second = encode_source(960, 540, 4);
    let offset = 4 * 90_000;
    let frames: Vec<EncodedFrame> = first
        .frames
        .into_iter()
        .chain(second.frames.into_iter().map(|mut f| {
            f.pts += MediaDuration::from_ticks(offset);
            f.dts += MediaDuration::from_ticks(offset);
            f
        }))
        .collect();
    let store = Arc::new(MemoryStore::new());
    let ladder = vec![Rung {
        height: 240,
        bitrate: 300_000,
    }];
    let tx = start_whip_session(&store, ladder, first.avcc).await;
    for f in frames {
        tx.send(SessionMessage::Frame(f)).await.expect("frame");
    }
    drop(tx);

    let deadline = Instant::now() + Duration::from_secs(120);
    let renditions = ["360p", "240p"];
    let mut finals = Vec::new();
    for r in renditions {
        let key = names::playlist_key(EVENT, r);
        loop {
            assert!(
                Instant::now() < deadline,
                "{r}: the session did not end in time"
            );
            match text(&store, &key).await {
                Some(p) if p.contains("#EXT-X-ENDLIST") => {
                    finals.push((r, p));
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("amphi-whip-resize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (rendition, playlist) in &finals {
        println!("{rendition}:\n{playlist}");
        let media = m3u8_rs::parse_media_playlist_res(playlist.as_bytes()).expect("media playlist");
        let total: f64 = media.segments.iter().map(|s| s.duration as f64).sum();
        assert!(
            (total - 8.0).abs() < 1.0,
            "{rendition}: {total} s of segments"
        );
        let init = bytes(&store, &names::rendition_key(EVENT, rendition, "init.mp4")).await;
        for seg in &media.segments {
            assert!(
                seg.duration < 2.5,
                "{rendition} {}: {} s",
                seg.uri,
                seg.duration
            );
            let data = bytes(&store, &names::rendition_key(EVENT, rendition, &seg.uri)).await;
            let path = dir.join(format!("{rendition}-{}.mp4", seg.uri));
            std::fs::write(&path, [&init[..], &data[..]].concat()).expect("write");
            let streams = probe(&path);
            let size = if *rendition == "360p" {
                "640,360"
            } else {
                "428,240"
            };
            assert!(streams.contains(size), "{rendition} {}: {streams}", seg.uri);
            // Every segment, the last one too (the session's end leaves no stub of
            // delta frames), starts with a keyframe and decodes in full on its own.
            assert!(
                first_video_is_keyframe(&path),
                "{rendition} {}: the segment does not start with a keyframe",
                seg.uri
            );
            let frames = decode(&path);
            assert!(
                frames as f64 >= seg.duration as f64 * FPS as f64 * 0.8,
                "{rendition} {}: {frames} frames decoded in {} s",
                seg.uri,
                seg.duration
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
