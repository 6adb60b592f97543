//! The whole SRT media path on captures: transport stream → normalised session.

use super::media::{MediaAssembler, MediaError};
use super::ts::TsDemuxer;
use crate::frame::{AudioConfig, FrameKind, MediaTime, SessionMessage, VideoConfig};

const H264_AAC: &[u8] = include_bytes!("testdata/ffmpeg_h264_aac.ts");
/// 0.3 s of 160x90 HEVC from ffmpeg's libx265.
const HEVC: &[u8] = include_bytes!("testdata/ffmpeg_hevc.ts");

fn session(ts: &[u8]) -> Result<Vec<SessionMessage>, MediaError> {
    let mut demux = TsDemuxer::new();
    let mut media = MediaAssembler::new();
    let mut out = Vec::new();
    for chunk in ts.chunks(1316) {
        demux.handle_input(chunk).expect("a transport stream");
        while let Some(e) = demux.poll_event() {
            media.handle_event(e)?;
        }
        while let Some(m) = media.poll_message() {
            out.push(m);
        }
    }
    demux.finish();
    while let Some(e) = demux.poll_event() {
        media.handle_event(e)?;
    }
    while let Some(m) = media.poll_message() {
        out.push(m);
    }
    Ok(out)
}

#[test]
fn an_ffmpeg_capture_becomes_one_configured_session() {
    let messages = session(H264_AAC).expect("H.264 + AAC is accepted");
    let Some(SessionMessage::Config(config)) = messages.first() else {
        panic!("the configuration comes first: {:?}", messages.first());
    };
    let VideoConfig::H264 { avcc } = &config.video else {
        panic!("H.264 expected: {:?}", config.video);
    };
    let video = crate::codec::parse_avcc(avcc).expect("a readable avcC");
    assert_eq!((video.width, video.height), (160, 90));
    let Some(AudioConfig::Aac { asc }) = &config.audio else {
        panic!("AAC audio: {:?}", config.audio);
    };
    let audio = crate::codec::parse_asc(asc).expect("a readable ASC");
    assert_eq!((audio.sample_rate, audio.channels), (48_000, 1));

    let frames: Vec<_> = messages[1..]
        .iter()
        .map(|m| match m {
            SessionMessage::Frame(f) => f,
            other => panic!("one configuration only: {other:?}"),
        })
        .collect();
    let video: Vec<_> = frames
        .iter()
        .filter(|f| matches!(f.kind, FrameKind::Video { .. }))
        .collect();
    // ffprobe reads 21 video frames in the capture; the first is a keyframe at zero.
    assert_eq!(video.len(), 21);
    assert_eq!(video[0].kind, FrameKind::Video { keyframe: true });
    assert_eq!(video[0].dts, MediaTime::ZERO);
    let keyframes = video
        .iter()
        .filter(|f| f.kind == FrameKind::Video { keyframe: true })
        .count();
    assert_eq!(keyframes, 3, "a keyframe every 10 frames");
    // 15 fps: 6000 ticks apart.
    assert_eq!(video[1].dts.ticks() - video[0].dts.ticks(), 6000);
    for f in &video {
        // AVCC: the first NAL unit's length fits in the payload.
        let len = u32::from_be_bytes([f.data[0], f.data[1], f.data[2], f.data[3]]) as usize;
        assert!(len + 4 <= f.data.len());
    }
    let audio: Vec<_> = frames
        .iter()
        .filter(|f| f.kind == FrameKind::Audio)
        .collect();
    // ffprobe reads 67 AAC frames; those before the first keyframe are dropped.
    assert!(audio.len() >= 60 && audio.len() <= 67, "{}", audio.len());
    for w in audio.windows(2) {
        // 1024 samples at 48 kHz: 1920 ticks.
        assert_eq!(w[1].dts.ticks() - w[0].dts.ticks(), 1920);
    }
    assert!(audio
        .iter()
        .all(|f| f.data[0] != 0xff || f.data[1] & 0xf0 != 0xf0));
}

#[test]
fn hevc_is_refused_with_the_reason() {
    let e = session(HEVC).expect_err("HEVC is refused");
    assert_eq!(e, MediaError::Hevc);
    assert!(e.to_string().contains("send H.264"));
}
