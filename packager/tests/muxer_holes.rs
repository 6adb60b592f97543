//! The ladder never feeds a muxer a hole, and a muxer wedged by a hole in the source
//! cannot hold the rest of the session in memory.
//!
//! A 320x180 H.264 + AAC source (x264enc and avenc_aac, made faster than real time)
//! goes through the real ladder (`LadderPipeline`: passthrough + one encoded rung,
//! isofmp4mux) pushed faster than real time.

use amphi_ingest::frame::MediaDuration;
use amphi_ingest::{AudioConfig, EncodedFrame, FrameKind, MediaTime, VideoConfig};
use amphi_packager::ladder::{plan, KeyframePolicy, Plan, RenditionKind, Rung};
use amphi_packager::pipeline::{LadderPipeline, MuxOutput, PipelineEvent};
use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const FPS: u64 = 30;

struct Source {
    video: VideoConfig,
    audio: AudioConfig,
    /// Video frames, then audio frames, each in decoding order.
    video_frames: Vec<EncodedFrame>,
    audio_frames: Vec<EncodedFrame>,
}

impl Source {
    /// The presentation time of the source's last video frame, in ms.
    fn last_video_ms(&self) -> u64 {
        self.video_frames
            .iter()
            .map(|f| ms(f.pts))
            .max()
            .unwrap_or(0)
    }

    /// Every frame in the order a publisher sends them (each audio frame before the
    /// first video frame after it), without the video frames in `hole` (ms).
    fn sent_without(&self, hole: std::ops::Range<u64>) -> Vec<&EncodedFrame> {
        let mut sent = Vec::new();
        let mut audio = self.audio_frames.iter().peekable();
        for v in self
            .video_frames
            .iter()
            .filter(|f| !hole.contains(&ms(f.pts)))
        {
            while let Some(a) = audio.next_if(|a| a.pts <= v.pts) {
                sent.push(a);
            }
            sent.push(v);
        }
        sent.extend(audio);
        sent
    }
}

/// `secs` seconds of 320x180 H.264 (a keyframe every 2 s) and AAC, made at once.
fn source(secs: u64) -> Source {
    amphi_packager::init().expect("GStreamer");
    let d = format!(
        "videotestsrc num-buffers={n} pattern=ball ! video/x-raw,width=320,height=180,framerate={FPS}/1 ! \
         x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bframes=0 bitrate=300 ! \
         video/x-h264,profile=high ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! appsink name=v sync=false \
         audiotestsrc num-buffers={a} samplesperbuffer=1024 wave=sine ! audio/x-raw,rate=48000,channels=2 ! \
         audioconvert ! avenc_aac bitrate=64000 ! aacparse ! audio/mpeg,stream-format=raw ! appsink name=a sync=false",
        n = secs * FPS,
        a = secs * 48_000 / 1024,
    );
    let pipeline = gst::parse::launch(&d)
        .expect("source pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = |name: &str| {
        pipeline
            .by_name(name)
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .expect("appsink")
    };
    let (v, a) = (sink("v"), sink("a"));
    pipeline.set_state(gst::State::Playing).expect("playing");
    let read = |sink: &gst_app::AppSink, video: bool| {
        let mut config = None;
        let mut frames = Vec::new();
        while let Ok(sample) = sink.pull_sample() {
            if config.is_none() {
                let caps = sample.caps().expect("caps");
                let cd = caps
                    .structure(0)
                    .and_then(|s| s.get::<gst::Buffer>("codec_data").ok())
                    .expect("codec_data");
                config = Some(Bytes::copy_from_slice(&cd.map_readable().expect("map")));
            }
            let buffer = sample.buffer().expect("buffer");
            let segment = sample
                .segment()
                .and_then(|s| s.downcast_ref::<gst::ClockTime>())
                .expect("time segment");
            // Running time (x264enc shifts its output segment).
            let running = |t: Option<gst::ClockTime>| {
                t.and_then(|t| segment.to_running_time(t))
                    .map(|t| MediaTime::ZERO + MediaDuration::from_std(t.into()))
            };
            let pts = running(buffer.pts()).expect("pts");
            let kind = if video {
                FrameKind::Video {
                    keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                }
            } else {
                FrameKind::Audio
            };
            frames.push(EncodedFrame {
                kind,
                dts: running(buffer.dts()).unwrap_or(pts),
                pts,
                data: Bytes::copy_from_slice(&buffer.map_readable().expect("map")),
            });
        }
        (config.expect("no frames"), frames)
    };
    let (avcc, video_frames) = read(&v, true);
    let (asc, audio_frames) = read(&a, false);
    let _ = pipeline.set_state(gst::State::Null);
    Source {
        video: VideoConfig::H264 { avcc },
        audio: AudioConfig::Aac { asc },
        video_frames,
        audio_frames,
    }
}

fn ladder_plan(src: &Source) -> Plan {
    let AudioConfig::Aac { asc } = &src.audio else {
        unreachable!("the source's audio is AAC")
    };
    let p = plan(
        amphi_packager::codec::video_info(&src.video).expect("avcC"),
        Some(amphi_packager::codec::parse_asc(asc).expect("ASC")),
        &[Rung {
            height: 90,
            bitrate: 150_000,
        }],
        KeyframePolicy::FollowSource,
    );
    let kinds: Vec<bool> = p
        .renditions
        .iter()
        .map(|r| r.kind == RenditionKind::Passthrough)
        .collect();
    assert_eq!(kinds, [true, false], "passthrough and one encoded rung");
    p
}

/// Per rendition, the chunks (start, end) in ms, and the ladder loads reported.
#[derive(Default, Debug)]
struct Output {
    chunks: Vec<Vec<(u64, u64)>>,
    running: Option<Vec<bool>>,
}

impl Output {
    fn take(&mut self, rx: &mut mpsc::UnboundedReceiver<PipelineEvent>) {
        while let Ok(e) = rx.try_recv() {
            match e {
                PipelineEvent::Output {
                    rendition,
                    output: MuxOutput::Chunk(c),
                } => {
                    if self.chunks.len() <= rendition {
                        self.chunks.resize(rendition + 1, Vec::new());
                    }
                    let start = c.pts.as_millis() as u64;
                    self.chunks[rendition].push((start, start + c.duration.as_millis() as u64));
                }
                PipelineEvent::Load(l) => self.running = Some(l.running),
                PipelineEvent::Error(e) => panic!("pipeline error: {e}"),
                _ => {}
            }
        }
    }

    fn end(&self, rendition: usize) -> u64 {
        self.chunks
            .get(rendition)
            .and_then(|c| c.iter().map(|c| c.1).max())
            .unwrap_or(0)
    }

    /// Waits (without EOS, which drains a wedged muxer) until `done` holds or 30 s.
    fn wait(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<PipelineEvent>,
        done: impl Fn(&Output) -> bool,
    ) -> Duration {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            self.take(rx);
            if done(self) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        t0.elapsed()
    }
}

/// The parts these holes were found to wedge the passthrough's muxer with (which
/// holes wedge it depends on where parts fall).
const PART: Duration = Duration::from_nanos(333_333_333);

fn settings() -> amphi_packager::pipeline::MuxSettings {
    let mut c = amphi_packager::PackagerConfig::default();
    c.set_part_duration(PART);
    c.mux.x264_preset = "ultrafast";
    c.mux
}

fn ms(t: MediaTime) -> u64 {
    (t - MediaTime::ZERO)
        .to_std()
        .map_or(0, |d| d.as_millis() as u64)
}

#[test]
fn audio_late_by_more_than_the_queues_hold_leaves_no_hole() {
    // Video for 20 s, audio only for the first 2 s, then the rest of the audio: each
    // muxer waits for audio while the video piles up in front of it, well past its
    // queue's five seconds. A queue that dropped frames then (they were leaky) left a
    // hole in the passthrough's video and its muxer never put out another part.
    let src = source(20);
    let p = ladder_plan(&src);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let ladder =
        LadderPipeline::build(&p, &src.video, Some(&src.audio), &settings(), tx).expect("ladder");
    let (early, late): (Vec<_>, Vec<_>) = src.audio_frames.iter().partition(|f| ms(f.pts) < 2_000);
    for f in early.iter().copied().chain(&src.video_frames) {
        ladder.push(f).expect("push");
    }
    // Both muxers put out what the early audio allows, then wait for audio with the
    // video in front of them.
    let mut out = Output::default();
    out.wait(&mut rx, |o| (0..2).all(|r| o.end(r) >= 1_300));
    // The audio is late by a second of wall time (the ladder is well ahead by then).
    std::thread::sleep(Duration::from_secs(1));
    for f in late {
        ladder.push(f).expect("push");
    }
    let last_video = src.last_video_ms();
    let waited = out.wait(&mut rx, |o| (0..2).all(|r| o.end(r) + 1_000 >= last_video));
    for r in 0..2 {
        let chunks = out.chunks.get(r).cloned().unwrap_or_default();
        eprintln!(
            "rendition {r}: {} chunks, the last ending at {} ms of {last_video} ms ({:.1} s waited)",
            chunks.len(),
            out.end(r),
            waited.as_secs_f64()
        );
        assert!(
            out.end(r) + 1_000 >= last_video,
            "rendition {r} stopped at {} ms of {last_video} ms",
            out.end(r)
        );
        // One timeline without a hole: each chunk starts where the previous one ended
        // (a fragment's first chunk may start with an audio frame up to 21 ms early).
        for w in chunks.windows(2) {
            assert!(
                w[1].0.abs_diff(w[0].1) <= 25,
                "rendition {r}: a hole between chunks {w:?}"
            );
        }
    }
    assert!(
        out.running.as_ref().is_none_or(|r| r[0]),
        "the passthrough stays listed: {:?}",
        out.running
    );
    ladder.end();
}

/// 30 s of the source through the ladder without the video frames in `hole` (ms),
/// audio and video interleaved as a publisher sends them. Returns the output once
/// every listed rendition reached the end (or 30 s passed), and the last frame's time.
fn through_the_ladder_with_a_hole(hole: std::ops::Range<u64>) -> (Output, u64) {
    let src = source(30);
    let p = ladder_plan(&src);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let ladder =
        LadderPipeline::build(&p, &src.video, Some(&src.audio), &settings(), tx).expect("ladder");
    for f in src.sent_without(hole.clone()) {
        ladder.push(f).expect("push");
    }
    let last_video = src.last_video_ms();
    let mut out = Output::default();
    let waited = out.wait(&mut rx, |o| {
        (0..2).all(|r| {
            let cut_off = o.running.as_ref().is_some_and(|running| !running[r]);
            cut_off || o.end(r) + 1_000 >= last_video
        })
    });
    eprintln!(
        "video without {hole:?} ms: passthrough to {} ms, encoded to {} ms of {last_video} ms, listed {:?} ({:.1} s waited)",
        out.end(0),
        out.end(1),
        out.running,
        waited.as_secs_f64()
    );
    ladder.end();
    (out, last_video)
}

#[test]
fn a_passthrough_wedged_by_frames_dropped_up_to_a_keyframe_is_cut_off() {
    // The publisher drops its video from 2.5 s up to the keyframe at 4 s (OBS does so
    // on a congested link): the passthrough's muxer runs a part past the segment end
    // and never closes the segment, taking every frame after. It is cut off, with at
    // most the guard's limit of video held; the encoded rung (which repeats its last
    // picture over the hole) goes on to the end.
    let (out, last_video) = through_the_ladder_with_a_hole(2_500..4_000);
    assert!(
        out.end(1) + 1_000 >= last_video,
        "the encoded rung stopped at {} ms",
        out.end(1)
    );
    assert_eq!(
        out.running.clone(),
        Some(vec![false, true]),
        "the wedged passthrough is cut off and unlisted, the encoded rung stays"
    );
    assert!(
        out.end(0) < 4_500,
        "the passthrough went on to {} ms: no wedge to cut off",
        out.end(0)
    );
}

#[test]
fn a_long_hole_in_the_video_is_not_a_wedge() {
    // 13 s without video, the audio going on: the muxers take the audio of the hole
    // and give it back when the video returns; nothing is cut off.
    let (out, last_video) = through_the_ladder_with_a_hole(2_000..15_000);
    for r in 0..2 {
        assert!(
            out.end(r) + 1_000 >= last_video,
            "rendition {r} stopped at {} ms",
            out.end(r)
        );
    }
    assert!(
        out.running.as_ref().is_none_or(|r| r.iter().all(|&l| l)),
        "{:?}",
        out.running
    );
}

/// `(uri of its init, PROGRAM-DATE-TIME in ms since the Unix epoch, duration in s)`
/// of each segment of a media playlist, and the index of the first segment after the
/// last discontinuity.
fn segments(playlist: &str) -> (Vec<(String, i64, f64)>, usize) {
    let (mut out, mut after) = (Vec::new(), 0);
    let (mut init, mut pdt, mut dur) = (String::new(), None, None);
    for l in playlist.lines() {
        if let Some(uri) = l.strip_prefix("#EXT-X-MAP:URI=\"") {
            init = uri.trim_end_matches('"').to_owned();
        } else if l == "#EXT-X-DISCONTINUITY" {
            after = out.len();
        } else if let Some(t) = l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = chrono_ms(t);
        } else if let Some(d) = l.strip_prefix("#EXTINF:") {
            dur = d.trim_end_matches(',').parse::<f64>().ok();
        } else if !l.starts_with('#') && !l.is_empty() {
            out.push((
                init.clone(),
                pdt.take().unwrap_or(-1),
                dur.take().unwrap_or(0.0),
            ));
        }
    }
    (out, after)
}

/// Milliseconds since the Unix epoch of an ISO 8601 UTC date-time
/// (`2026-12-02T16:10:00.123Z`).
fn chrono_ms(t: &str) -> Option<i64> {
    let (date, time) = t.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut h = time.split(':');
    let (hh, mm) = (
        h.next()?.parse::<i64>().ok()?,
        h.next()?.parse::<i64>().ok()?,
    );
    let secs: f64 = h.next()?.parse().ok()?;
    // Days from the civil date (proleptic Gregorian).
    let (y, m) = if m <= 2 { (y - 1, m + 12) } else { (y, m) };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * (m - 3) + 2) / 5 + day - 719_469;
    Some(days * 86_400_000 + hh * 3_600_000 + mm * 60_000 + (secs * 1000.0).round() as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wedged_passthrough_comes_back_with_a_new_ladder_at_the_next_keyframe() {
    use amphi_hls::names;
    use amphi_hls::store::{MemoryStore, Store};
    use amphi_ingest::frame::ProgramTime;
    use amphi_ingest::{
        EventId, Protocol, PublishSession, SessionEpoch, SessionMessage, StreamConfig,
    };
    use amphi_packager::{Packager, PackagerConfig};
    use std::sync::Arc;

    // The publisher drops its video from 2.5 s up to the keyframe at 4 s, as in
    // `a_passthrough_wedged_by_frames_dropped_up_to_a_keyframe_is_cut_off`, but
    // through the event's packager: the passthrough is cut off, then the whole ladder
    // is rebuilt at the source's next keyframe, and every rendition goes on after a
    // discontinuity, on the session's clock, to the end of the source.
    const EVENT: &str = "holes";
    let src = source(40);
    let last_video = src.last_video_ms();
    let store = Arc::new(MemoryStore::new());
    let mut config = PackagerConfig {
        ladder: vec![Rung {
            height: 90,
            bitrate: 150_000,
        }],
        end_after: Duration::from_secs(1),
        ..Default::default()
    };
    config.set_part_duration(PART);
    config.mux.x264_preset = "ultrafast";
    let (sessions_tx, sessions) = mpsc::channel(1);
    let packager = tokio::spawn(Packager::new(store.clone(), config).run(sessions));
    let (tx, messages) = mpsc::channel(256);
    let epoch_ms = 1_800_000_000_000i64;
    let epoch = SessionEpoch::new(ProgramTime::from(
        std::time::UNIX_EPOCH + Duration::from_millis(epoch_ms as u64),
    ));
    sessions_tx
        .send(PublishSession {
            event: EventId::parse(EVENT).expect("event id"),
            protocol: Protocol::Rtmp,
            epoch,
            messages,
        })
        .await
        .expect("the packager takes the session");
    tx.send(SessionMessage::Config(StreamConfig {
        video: src.video.clone(),
        audio: Some(src.audio.clone()),
    }))
    .await
    .expect("config");
    for f in src.sent_without(2_500..4_000) {
        tx.send(SessionMessage::Frame(f.clone()))
            .await
            .expect("frame");
        if f.kind != FrameKind::Audio {
            // A little slower than the muxers, so the hoard guard sees the wedge while
            // the source still has keyframes to come.
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    drop(tx);
    drop(sessions_tx);
    tokio::time::timeout(Duration::from_secs(60), packager)
        .await
        .expect("the event ended within 60 s")
        .expect("packager task");

    let text = |key: String| {
        let store = store.clone();
        async move {
            let o = store.get(&key).await.expect("store").expect("stored");
            String::from_utf8_lossy(&o.data).into_owned()
        }
    };
    let master = text(names::master_key(EVENT)).await;
    let renditions: Vec<&str> = master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.trim_end_matches("/index.m3u8"))
        .collect();
    assert_eq!(
        renditions.len(),
        2,
        "both renditions listed again:\n{master}"
    );
    for r in renditions {
        let playlist = text(names::recording_key(EVENT, r)).await;
        let (segs, after) = segments(&playlist);
        assert!(
            after > 0 && after < segs.len(),
            "{r}: a discontinuity with segments after it:\n{playlist}"
        );
        assert_ne!(segs[0].0, segs[after].0, "{r}: a new init segment after it");
        let (first_pdt, last) = (segs[after].1, &segs[segs.len() - 1]);
        let end_ms = last.1 - epoch_ms + (last.2 * 1000.0) as i64;
        eprintln!(
            "{r}: {} segments, the new ladder's first at {} ms of media, the last ends at {end_ms} ms of {last_video} ms",
            segs.len(),
            first_pdt - epoch_ms
        );
        assert!(
            first_pdt - epoch_ms > 4_000,
            "{r}: the new ladder starts after the hole, on the session's clock"
        );
        assert!(
            end_ms + 2_500 >= last_video as i64,
            "{r}: went on to {end_ms} ms of {last_video} ms"
        );
        // On the session's clock: each segment starts where the previous one ended,
        // except across the discontinuity.
        for (i, w) in segs.windows(2).enumerate() {
            if i + 1 != after {
                let gap = w[1].1 - (w[0].1 + (w[0].2 * 1000.0) as i64);
                assert!(
                    gap.abs() <= 40,
                    "{r}: segment {i} ends {gap} ms off the next"
                );
            }
        }
    }
}
