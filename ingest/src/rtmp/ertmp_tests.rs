//! The E-RTMP tag parser against real tags, written by ffmpeg 9's FLV muxer (the same
//! tag bodies its RTMP output sends: see `testdata/README.md`), and against crafted
//! edge cases: ModEx, multitrack, truncation at every byte, garbage.

#![allow(clippy::unwrap_used)]

use super::*;

const HEVC_FLV: &[u8] = include_bytes!("testdata/ffmpeg9-libx265-aac.flv");
const AV1_FLV: &[u8] = include_bytes!("testdata/ffmpeg9-libsvtav1.flv");

/// The video tag bodies of an FLV file (test-only reader: header, then tags).
fn video_tags(flv: &[u8]) -> Vec<(u32, Bytes)> {
    let mut pos = 13;
    let mut out = Vec::new();
    while pos + 11 <= flv.len() {
        let t = flv[pos] & 0x1F;
        let size = usize::from(flv[pos + 1]) << 16
            | usize::from(flv[pos + 2]) << 8
            | usize::from(flv[pos + 3]);
        let ts = u32::from(flv[pos + 4]) << 16
            | u32::from(flv[pos + 5]) << 8
            | u32::from(flv[pos + 6])
            | u32::from(flv[pos + 7]) << 24;
        let body = &flv[pos + 11..pos + 11 + size];
        if t == 9 {
            out.push((ts, Bytes::copy_from_slice(body)));
        }
        pos += 11 + size + 4;
    }
    out
}

#[test]
fn ffmpeg_hevc_tags() {
    let tags = video_tags(HEVC_FLV);
    assert!(tags.len() > 10);
    let parsed: Vec<ExVideoTag> = tags
        .iter()
        .map(|(_, b)| {
            assert!(is_enhanced(b));
            parse_ex_video(b).unwrap()
        })
        .collect();
    let ExVideoTag::SequenceStart { fourcc, record } = &parsed[0] else {
        panic!("first tag {:?}", parsed[0]);
    };
    assert_eq!(*fourcc, FourCc::HEVC);
    let info = hevc::parse_hvcc_info(record).unwrap();
    assert_eq!((info.width, info.height), (160, 90));
    // ffmpeg sends colour metadata as a command frame with packet type Metadata.
    assert!(parsed.contains(&ExVideoTag::Ignored {
        packet_type: packet_type::METADATA
    }));
    let frames: Vec<(bool, i32)> = parsed
        .iter()
        .filter_map(|t| match t {
            ExVideoTag::CodedFrames {
                fourcc,
                keyframe,
                cts,
                data,
            } => {
                assert_eq!(*fourcc, FourCc::HEVC);
                assert!(!data.is_empty());
                Some((*keyframe, *cts))
            }
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 15, "0.5 s at 30 fps");
    assert!(frames[0].0, "starts on a keyframe");
    assert_eq!(frames.iter().filter(|f| f.0).count(), 1, "GOP 15");
    // x265 with B-frames: composition offsets, so CodedFrames (not only CodedFramesX).
    assert!(frames.iter().any(|f| f.1 > 0));
}

#[test]
fn ffmpeg_av1_tags() {
    let tags = video_tags(AV1_FLV);
    let parsed: Vec<ExVideoTag> = tags
        .iter()
        .map(|(_, b)| parse_ex_video(b).unwrap())
        .collect();
    let ExVideoTag::SequenceStart { fourcc, record } = &parsed[0] else {
        panic!("first tag {:?}", parsed[0]);
    };
    assert_eq!(*fourcc, FourCc::AV1);
    let info = av1::parse_av1c_info(record).unwrap();
    assert_eq!(info.width, 160);
    let frames = parsed
        .iter()
        .filter(|t| {
            matches!(
                t,
                ExVideoTag::CodedFrames {
                    fourcc: FourCc::AV1,
                    cts: 0,
                    ..
                }
            )
        })
        .count();
    assert_eq!(frames, 15);
}

#[test]
fn every_truncation_is_an_error_with_an_offset_not_a_panic() {
    for (_, tag) in video_tags(HEVC_FLV)
        .iter()
        .chain(&video_tags(AV1_FLV))
        .take(12)
    {
        for cut in 0..tag.len().min(300) {
            if let Err(e) = parse_ex_video(&tag.slice(..cut)) {
                let text = e.to_string();
                assert!(text.contains("byte"), "{text}");
            }
        }
    }
}

fn ex(frame_type: u8, packet: u8, rest: &[u8]) -> Bytes {
    let mut v = vec![EX_HEADER | frame_type << 4 | packet];
    v.extend(rest);
    Bytes::from(v)
}

#[test]
fn coded_frames_x_and_cts() {
    let nal = [0, 0, 0, 3, 0x26, 0x01, 0xAF];
    let mut body = b"hvc1".to_vec();
    body.extend(nal);
    assert_eq!(
        parse_ex_video(&ex(2, packet_type::CODED_FRAMES_X, &body)).unwrap(),
        ExVideoTag::CodedFrames {
            fourcc: FourCc::HEVC,
            keyframe: false,
            cts: 0,
            data: Bytes::copy_from_slice(&nal),
        }
    );
    let mut body = b"hvc1".to_vec();
    body.extend([0xFF, 0xFF, 0xDF]); // -33 ms
    body.extend(nal);
    match parse_ex_video(&ex(1, packet_type::CODED_FRAMES, &body)).unwrap() {
        ExVideoTag::CodedFrames { keyframe, cts, .. } => assert_eq!((keyframe, cts), (true, -33)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse_ex_video(&ex(1, packet_type::SEQUENCE_END, b"hvc1")).unwrap(),
        ExVideoTag::SequenceEnd {
            fourcc: FourCc::HEVC
        }
    );
    let mut bad = b"hvc1".to_vec();
    bad.extend([0, 0, 0, 9, 1]);
    assert_eq!(
        parse_ex_video(&ex(2, packet_type::CODED_FRAMES_X, &bad)).unwrap_err(),
        ErtmpError::BadNalLength {
            fourcc: FourCc::HEVC,
            offset: 5,
            len: 10
        }
    );
}

#[test]
fn mod_ex_prefix_is_skipped() {
    // ModEx: size 2 (stored as 1), a nanosecond offset, then [type 0 | next packet 3].
    let mut body = vec![0x01, 0x01, 0xF4, 0x03];
    body.extend(b"av01");
    body.extend([0x12, 0x00]); // a temporal delimiter OBU with size 0
    assert_eq!(
        parse_ex_video(&ex(1, packet_type::MOD_EX, &body)).unwrap(),
        ExVideoTag::CodedFrames {
            fourcc: FourCc::AV1,
            keyframe: true,
            cts: 0,
            data: Bytes::from_static(&[0x12, 0x00]),
        }
    );
}

#[test]
fn multitrack_takes_track_zero() {
    // One track: [OneTrack | CodedFramesX], FourCC, track id 0, body.
    let mut one = vec![packet_type::CODED_FRAMES_X];
    one.extend(b"av01");
    one.extend([0, 0x12, 0x00]);
    assert!(matches!(
        parse_ex_video(&ex(1, packet_type::MULTITRACK, &one)).unwrap(),
        ExVideoTag::CodedFrames {
            fourcc: FourCc::AV1,
            ..
        }
    ));
    // Many tracks, many codecs: track 1 (vp09, not ingested) then track 0 (av01).
    let mut many = vec![0x20 | packet_type::CODED_FRAMES_X];
    many.extend(b"vp09");
    many.extend([1, 0, 0, 2, 0xAA, 0xBB]);
    many.extend(b"av01");
    many.extend([0, 0, 0, 2, 0x12, 0x00]);
    assert_eq!(
        parse_ex_video(&ex(1, packet_type::MULTITRACK, &many)).unwrap(),
        ExVideoTag::CodedFrames {
            fourcc: FourCc::AV1,
            keyframe: true,
            cts: 0,
            data: Bytes::from_static(&[0x12, 0x00]),
        }
    );
    let mut other = vec![packet_type::CODED_FRAMES_X];
    other.extend(b"av01");
    other.extend([3, 0x12, 0x00]);
    assert_eq!(
        parse_ex_video(&ex(1, packet_type::MULTITRACK, &other)).unwrap(),
        ExVideoTag::OtherTrack
    );
    // A track size past the end.
    let mut over = vec![0x10 | packet_type::CODED_FRAMES_X];
    over.extend(b"av01");
    over.extend([0, 0, 1, 0, 0x12]);
    assert!(matches!(
        parse_ex_video(&ex(1, packet_type::MULTITRACK, &over)),
        Err(ErtmpError::Truncated {
            what: "track",
            offset: 10,
            ..
        })
    ));
}

#[test]
fn refusals_name_the_codec_and_the_byte() {
    let e = parse_ex_video(&ex(1, packet_type::SEQUENCE_START, b"vp09\x01")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unsupported video codec vp09 at byte 1 (Amphi ingests avc1, hvc1 and av01)"
    );
    let e = parse_ex_video(&ex(1, packet_type::SEQUENCE_START, b"hvc1\x00\x01")).unwrap_err();
    assert!(
        matches!(
            e,
            ErtmpError::BadRecord {
                fourcc: FourCc::HEVC,
                offset: 5,
                ..
            }
        ),
        "{e}"
    );
    let e = parse_ex_video(&ex(1, 9, b"hvc1")).unwrap_err();
    assert!(matches!(
        e,
        ErtmpError::UnknownPacketType { packet_type: 9, .. }
    ));
    // A command frame carries no FourCC.
    assert_eq!(
        parse_ex_video(&ex(5, packet_type::CODED_FRAMES, &[0])).unwrap(),
        ExVideoTag::Ignored { packet_type: 1 }
    );
    let mut obus = b"av01".to_vec();
    obus.extend([0x12, 0x05, 0x00]);
    assert!(matches!(
        parse_ex_video(&ex(1, packet_type::CODED_FRAMES, &obus)),
        Err(ErtmpError::BadObu { offset: 5, .. })
    ));
}

#[test]
fn garbage_never_panics() {
    for seed in 1..5000u64 {
        let mut data = crate::rtmp::testutil::garbage(seed, seed as usize % 80);
        if let Some(b) = data.first_mut() {
            *b |= EX_HEADER;
        }
        if data.len() > 5 && seed % 3 == 0 {
            let fourcc = FourCc::SUPPORTED[(seed / 3 % 3) as usize].0;
            data[1..5].copy_from_slice(&fourcc);
        }
        let _ = parse_ex_video(&Bytes::from(data));
    }
}
