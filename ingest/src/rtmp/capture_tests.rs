//! The handshake and the session against what real publishers sent: the first seconds
//! of ffmpeg's and GStreamer's (`rtmp2sink`) RTMP, client to server, recorded by
//! `testdata/record.py` (see `testdata/README.md`). Unlike the scripted client of
//! `session_tests.rs`, these bytes were written by other implementations, so a bug
//! shared by our encoder and decoder cannot cancel out here.
//!
//! The server half of the recorded handshake was random, so the recorded C2 echoes an
//! S1 this replay never sends: the handshake does not check C2 (neither do ffmpeg and
//! GStreamer check S2 for publishing), which these tests rely on.

use super::amf0::{self, Amf0Value};
use super::chunk::ChunkDecoder;
use super::flv;
use super::handshake::{Handshake, HANDSHAKE_SIZE, RANDOM_SIZE};
use super::message::msg_type;
use super::session::{Event, Session};
use crate::frame::{AudioConfig, EncodedFrame, FrameKind, StreamConfig, VideoConfig};

const FFMPEG: &[u8] = include_bytes!("testdata/ffmpeg-libx264-aac.rtmp");
const GSTREAMER: &[u8] = include_bytes!("testdata/gstreamer-rtmp2sink-x264-aac.rtmp");
/// The stream key both publishers were given (`rtmp://…/live/capture-key`).
const KEY: &str = "capture-key";

/// What the server side saw and said during one replay.
#[derive(Debug, PartialEq)]
struct Replay {
    keys: Vec<String>,
    config: Option<StreamConfig>,
    frames: Vec<EncodedFrame>,
    /// `code`s of the `_result`/`onStatus` info objects the session sent.
    statuses: Vec<String>,
    handshake_reply: usize,
}

/// Replays `capture` in reads of `read` bytes, accepting the publish.
fn replay(capture: &[u8], read: usize) -> Replay {
    let mut handshake = Some(Handshake::new(1, Box::new([0x42; RANDOM_SIZE])));
    let mut session = Session::new();
    let mut replies = ChunkDecoder::new();
    let mut out = Replay {
        keys: Vec::new(),
        config: None,
        frames: Vec::new(),
        statuses: Vec::new(),
        handshake_reply: 0,
    };
    for piece in capture.chunks(read) {
        let piece = match handshake.as_mut() {
            None => piece.to_vec(),
            Some(hs) => {
                hs.handle_input(piece).expect("the publisher's handshake");
                while let Some(b) = hs.poll_transmit() {
                    out.handshake_reply += b.len();
                }
                if !hs.is_done() {
                    continue;
                }
                let hs = handshake.take().expect("still in the handshake");
                hs.into_remaining().to_vec()
            }
        };
        session
            .handle_input(&piece)
            .expect("the session takes the publisher's bytes");
        loop {
            while let Some(event) = session.poll_event() {
                match event {
                    Event::Publish { key } => {
                        out.keys.push(key);
                        session.accept_publish().expect("publish accepted");
                    }
                    Event::Configure(c) => {
                        assert!(out.config.is_none(), "one configuration per publish");
                        out.config = Some(c);
                    }
                    Event::Frame(f) => out.frames.push(f),
                    Event::Unpublish => {}
                }
            }
            let Some(bytes) = session.poll_transmit() else {
                break;
            };
            replies.push(&bytes);
            while let Some(m) = replies.poll_message().expect("our replies decode") {
                if m.type_id == msg_type::SET_CHUNK_SIZE {
                    let size = m.payload_u32().expect("chunk size");
                    replies.set_chunk_size(size).expect("valid chunk size");
                }
                if m.type_id == msg_type::COMMAND_AMF0 {
                    let values = amf0::decode_all(&m.payload).expect("AMF0 reply");
                    if let Some(code) = values
                        .get(3)
                        .and_then(|i| i.get("code"))
                        .and_then(Amf0Value::as_str)
                    {
                        out.statuses.push(code.to_owned());
                    }
                }
            }
        }
    }
    out
}

/// NAL unit types of an AVCC access unit (4-byte lengths).
fn nal_types(au: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = au;
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let nal = &rest[4..4 + len];
        types.push(nal.first().map_or(0, |b| b & 0x1f));
        rest = &rest[4 + len..];
    }
    assert!(rest.is_empty(), "NAL lengths tile the access unit");
    types
}

/// AAC sampling frequencies by AudioSpecificConfig index (ISO 14496-3 §1.6.3.4).
const AAC_RATES: [f64; 12] = [
    96000.0, 88200.0, 64000.0, 48000.0, 44100.0, 32000.0, 24000.0, 22050.0, 16000.0, 12000.0,
    11025.0, 8000.0,
];

/// Checks one capture: the same events whatever the read sizes, the publish accepted
/// with its key, H.264 and AAC-LC configured, video at `fps` with increasing
/// timestamps, a keyframe first and at most every `gop` frames, audio frames of 1024
/// samples. Returns the video frame count.
fn check_capture(name: &str, capture: &[u8], fps: f64, gop: usize) -> usize {
    let whole = replay(capture, capture.len());
    for read in [1, 7, 1460, 4096] {
        assert!(
            replay(capture, read) == whole,
            "{name}: reads of {read} bytes change what the session sees"
        );
    }
    assert_eq!(
        whole.handshake_reply,
        1 + 2 * HANDSHAKE_SIZE,
        "{name}: S0+S1+S2"
    );
    assert_eq!(whole.keys, [KEY], "{name}: one publish with the key");
    for code in ["NetConnection.Connect.Success", "NetStream.Publish.Start"] {
        assert!(
            whole.statuses.iter().any(|c| c == code),
            "{name}: {code} sent"
        );
    }

    let config = whole.config.as_ref().expect("stream configured");
    let VideoConfig::H264 { avcc } = &config.video else {
        panic!("H.264 expected: {:?}", config.video);
    };
    flv::validate_avcc(avcc).expect("the publisher's avcC");
    assert!(
        [66, 77, 100].contains(&avcc[1]),
        "{name}: H.264 Baseline, Main or High, got profile {}",
        avcc[1]
    );
    let Some(AudioConfig::Aac { asc }) = &config.audio else {
        panic!("{name}: AAC configured, got {:?}", config.audio);
    };
    assert_eq!(asc[0] >> 3, 2, "{name}: AAC-LC");
    let rate_index = usize::from((asc[0] & 0x07) << 1 | asc[1] >> 7);
    let rate = AAC_RATES[rate_index];

    let video: Vec<&EncodedFrame> = whole
        .frames
        .iter()
        .filter(|f| matches!(f.kind, FrameKind::Video { .. }))
        .collect();
    let audio: Vec<&EncodedFrame> = whole
        .frames
        .iter()
        .filter(|f| f.kind == FrameKind::Audio)
        .collect();
    assert!(
        video.len() as f64 >= fps,
        "{name}: a second of video at least"
    );
    assert!(!audio.is_empty(), "{name}: audio frames");

    let frame_ms = 1000.0 / fps;
    let mut since_keyframe = 0;
    for (i, f) in video.iter().enumerate() {
        let FrameKind::Video { keyframe } = f.kind else {
            unreachable!("filtered on video");
        };
        let types = nal_types(&f.data);
        assert_eq!(
            keyframe,
            types.contains(&5),
            "{name}: frame {i} keyframe flag"
        );
        assert!(i > 0 || keyframe, "{name}: the first frame is a keyframe");
        since_keyframe = if keyframe { 0 } else { since_keyframe + 1 };
        assert!(
            since_keyframe < gop,
            "{name}: keyframe at most every {gop} frames"
        );
        assert!(f.pts >= f.dts, "{name}: frame {i} presented before decoded");
        if i > 0 {
            let step = (f.dts.as_secs_f64() - video[i - 1].dts.as_secs_f64()) * 1000.0;
            assert!(
                (step - frame_ms).abs() <= 1.5,
                "{name}: frame {i} {step} ms after the previous one"
            );
        }
    }
    let audio_ms = 1024.0 * 1000.0 / rate;
    for (i, pair) in audio.windows(2).enumerate() {
        let step = (pair[1].dts.as_secs_f64() - pair[0].dts.as_secs_f64()) * 1000.0;
        assert!(
            (step - audio_ms).abs() <= 1.5,
            "{name}: audio frame {} {step} ms after the previous one",
            i + 1
        );
    }
    video.len()
}

#[test]
fn ffmpeg_publish() {
    let frames = check_capture("ffmpeg", FFMPEG, 30.0, 60);
    assert!(frames >= 60, "two seconds recorded, {frames} frames");
}

#[test]
fn gstreamer_rtmp2sink_publish() {
    let frames = check_capture("gstreamer", GSTREAMER, 30.0, 60);
    assert!(frames >= 60, "two seconds recorded, {frames} frames");
}

/// A capture cut anywhere is only incomplete, never an error, and what the session
/// reported up to the cut is a prefix of the whole replay.
#[test]
fn captures_cut_anywhere() {
    for (name, capture) in [("ffmpeg", FFMPEG), ("gstreamer", GSTREAMER)] {
        let whole = replay(capture, 4096);
        let step = capture.len() / 97 + 1;
        for cut in (0..capture.len()).step_by(step) {
            let part = replay(&capture[..cut], 4096);
            assert!(part.keys.len() <= 1, "{name} cut at {cut}");
            assert!(
                whole.frames.starts_with(&part.frames),
                "{name} cut at {cut}: frames differ from the whole replay"
            );
            if part.config.is_some() {
                assert_eq!(part.config, whole.config, "{name} cut at {cut}");
            }
        }
    }
}

/// ffmpeg 9 publishing HEVC and AV1 over Enhanced RTMP (`-rtmp_enhanced_codecs
/// hvc1,av01`, so its connect carries a `fourCcList`): the session configures the
/// codec with its record, then frames from a keyframe on at 30 fps.
#[test]
fn ffmpeg9_enhanced_rtmp_publishes() {
    const HEVC: &[u8] = include_bytes!("testdata/ffmpeg9-libx265-aac.rtmp");
    const AV1: &[u8] = include_bytes!("testdata/ffmpeg9-libsvtav1-aac.rtmp");
    for (name, capture) in [("hevc", HEVC), ("av1", AV1)] {
        let whole = replay(capture, capture.len());
        for read in [1, 1460] {
            assert!(replay(capture, read) == whole, "{name}: reads of {read}");
        }
        assert_eq!(whole.keys, [KEY], "{name}");
        let config = whole.config.as_ref().expect("stream configured");
        let info = crate::codec::video_info(&config.video).expect("a readable record");
        assert_eq!(
            config.video.codec_name(),
            if name == "hevc" { "h265" } else { "av1" }
        );
        assert_eq!((info.width, info.height), (320, 180), "{name}");
        assert!(
            matches!(config.audio, Some(AudioConfig::Aac { .. })),
            "{name}"
        );
        let video: Vec<&EncodedFrame> = whole
            .frames
            .iter()
            .filter(|f| matches!(f.kind, FrameKind::Video { .. }))
            .collect();
        assert!(
            video.len() >= 30,
            "{name}: a second of video, {}",
            video.len()
        );
        assert_eq!(video[0].kind, FrameKind::Video { keyframe: true }, "{name}");
        for pair in video.windows(2) {
            let step = (pair[1].dts.as_secs_f64() - pair[0].dts.as_secs_f64()) * 1000.0;
            assert!((step - 1000.0 / 30.0).abs() <= 1.5, "{name}: {step} ms");
            assert!(pair[1].pts >= pair[1].dts, "{name}");
        }
    }
}
