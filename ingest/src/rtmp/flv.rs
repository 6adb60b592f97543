//! FLV audio and video tag bodies, as RTMP audio (8) and video (9) messages carry
//! them: H.264 (codec id 7) and AAC (sound format 10); Enhanced RTMP video (HEVC,
//! AV1) is parsed by [`super::ertmp`].
//!
//! The AVCDecoderConfigurationRecord is validated here, because a broken one would
//! otherwise only fail far downstream in the packager.

use super::ertmp::{self, ErtmpError, ExVideoTag};
use bytes::Bytes;

/// FLV video codec id for AVC (H.264).
pub const CODEC_AVC: u8 = 7;
/// FLV sound format for AAC.
pub const SOUND_AAC: u8 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoTag {
    /// AVCDecoderConfigurationRecord (validated).
    AvcSequenceHeader(Bytes),
    /// One access unit as 4-byte-length-prefixed NAL units.
    AvcNalus {
        keyframe: bool,
        /// Composition time offset (pts − dts) in milliseconds.
        cts: i32,
        data: Bytes,
    },
    AvcEndOfSequence,
    /// A video info/command frame (frame type 5): no picture.
    Command,
    /// An Enhanced RTMP tag (IsExHeader set): HEVC, AV1, or H.264 by FourCC.
    Enhanced(ExVideoTag),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioTag {
    /// AudioSpecificConfig.
    AacSequenceHeader(Bytes),
    /// One raw AAC frame.
    AacRaw(Bytes),
}

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    #[error("unsupported video codec id {0} (only H.264, id 7)")]
    UnsupportedVideoCodec(u8),
    #[error("enhanced RTMP video: {0}")]
    Enhanced(#[from] ErtmpError),
    #[error("unsupported audio codec id {0} (only AAC, id 10)")]
    UnsupportedAudioCodec(u8),
    #[error("{what} truncated: {len} bytes")]
    Truncated { what: &'static str, len: usize },
    #[error("unknown AVC packet type {0}")]
    UnknownAvcPacketType(u8),
    #[error("unknown AAC packet type {0}")]
    UnknownAacPacketType(u8),
    #[error("invalid AVC decoder configuration record: {0}")]
    InvalidAvcConfig(&'static str),
    #[error("AVC NAL length size {0} unsupported (only 4)")]
    UnsupportedNalLengthSize(u8),
    #[error("AVC access unit: NAL unit at byte {offset} overruns the {len}-byte frame")]
    BadNalLength { offset: usize, len: usize },
    #[error("AAC AudioSpecificConfig too short ({0} bytes)")]
    InvalidAacConfig(usize),
}

/// Parses a video message body.
pub fn parse_video(payload: &Bytes) -> Result<VideoTag, FlvError> {
    let &first = payload.first().ok_or(FlvError::Truncated {
        what: "video tag",
        len: 0,
    })?;
    if first & ertmp::EX_HEADER != 0 {
        return Ok(VideoTag::Enhanced(ertmp::parse_ex_video(payload)?));
    }
    let frame_type = first >> 4;
    let codec = first & 0x0F;
    if codec != CODEC_AVC {
        return Err(FlvError::UnsupportedVideoCodec(codec));
    }
    if frame_type == 5 {
        return Ok(VideoTag::Command);
    }
    let Some(h) = payload.get(..5) else {
        return Err(FlvError::Truncated {
            what: "AVC video tag",
            len: payload.len(),
        });
    };
    // 24-bit signed composition time.
    let cts = (i32::from(h[2]) << 24 | i32::from(h[3]) << 16 | i32::from(h[4]) << 8) >> 8;
    let body = payload.slice(5..);
    match h[1] {
        0 => {
            validate_avcc(&body)?;
            Ok(VideoTag::AvcSequenceHeader(body))
        }
        1 => {
            validate_nalus(&body)?;
            Ok(VideoTag::AvcNalus {
                keyframe: frame_type == 1,
                cts,
                data: body,
            })
        }
        2 => Ok(VideoTag::AvcEndOfSequence),
        t => Err(FlvError::UnknownAvcPacketType(t)),
    }
}

/// Parses an audio message body.
pub fn parse_audio(payload: &Bytes) -> Result<AudioTag, FlvError> {
    let &first = payload.first().ok_or(FlvError::Truncated {
        what: "audio tag",
        len: 0,
    })?;
    let format = first >> 4;
    if format != SOUND_AAC {
        return Err(FlvError::UnsupportedAudioCodec(format));
    }
    let &packet_type = payload.get(1).ok_or(FlvError::Truncated {
        what: "AAC audio tag",
        len: payload.len(),
    })?;
    let body = payload.slice(2..);
    match packet_type {
        0 => {
            if body.len() < 2 {
                return Err(FlvError::InvalidAacConfig(body.len()));
            }
            Ok(AudioTag::AacSequenceHeader(body))
        }
        1 => Ok(AudioTag::AacRaw(body)),
        t => Err(FlvError::UnknownAacPacketType(t)),
    }
}

/// Checks an AVCDecoderConfigurationRecord (ISO 14496-15 §5.3.3.1): version 1,
/// 4-byte NAL lengths, at least one SPS and one PPS, all lengths within bounds.
pub fn validate_avcc(avcc: &[u8]) -> Result<(), FlvError> {
    use FlvError::InvalidAvcConfig as Invalid;
    if avcc.len() < 7 {
        return Err(Invalid("shorter than 7 bytes"));
    }
    if avcc[0] != 1 {
        return Err(Invalid("configuration version is not 1"));
    }
    let length_size = (avcc[4] & 0x03) + 1;
    if length_size != 4 {
        return Err(FlvError::UnsupportedNalLengthSize(length_size));
    }
    let num_sps = usize::from(avcc[5] & 0x1F);
    if num_sps == 0 {
        return Err(Invalid("no SPS"));
    }
    let mut pos = 6;
    for _ in 0..num_sps {
        let nal = length_prefixed(avcc, &mut pos).ok_or(Invalid("SPS overruns the record"))?;
        if nal.first().map(|b| b & 0x1F) != Some(7) {
            return Err(Invalid("SPS entry is not an SPS NAL unit"));
        }
    }
    let num_pps = usize::from(*avcc.get(pos).ok_or(Invalid("missing PPS count"))?);
    pos += 1;
    if num_pps == 0 {
        return Err(Invalid("no PPS"));
    }
    for _ in 0..num_pps {
        let nal = length_prefixed(avcc, &mut pos).ok_or(Invalid("PPS overruns the record"))?;
        if nal.first().map(|b| b & 0x1F) != Some(8) {
            return Err(Invalid("PPS entry is not a PPS NAL unit"));
        }
    }
    Ok(())
}

/// Reads a non-empty NAL unit with a 16-bit length prefix.
fn length_prefixed<'a>(data: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = usize::from(u16::from_be_bytes(
        data.get(*pos..*pos + 2)?.try_into().ok()?,
    ));
    let nal = data.get(*pos + 2..*pos + 2 + len)?;
    *pos += 2 + len;
    (!nal.is_empty()).then_some(nal)
}

/// Whether 4-byte NAL lengths tile the access unit exactly; else the offset of the
/// first length that is cut short or runs past the end. One rule for the classic FLV
/// video tag and the enhanced one (`ertmp`).
pub(crate) fn nal_lengths_tile(data: &[u8]) -> Result<(), usize> {
    let mut pos = 0;
    while pos < data.len() {
        let len = data
            .get(pos..pos + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
        match len {
            Some(len) if len <= data.len() - pos - 4 => pos += 4 + len,
            _ => return Err(pos),
        }
    }
    Ok(())
}

/// Checks that 4-byte NAL lengths tile the access unit exactly.
fn validate_nalus(data: &[u8]) -> Result<(), FlvError> {
    nal_lengths_tile(data).map_err(|offset| FlvError::BadNalLength {
        offset,
        len: data.len(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// An avcC in x264's layout (High profile, level 3.0): one SPS, one PPS.
    pub(crate) const AVCC: &[u8] = &[
        0x01, 0x64, 0x00, 0x1E, 0xFF, 0xE1, 0x00, 0x0F, 0x67, 0x64, 0x00, 0x1E, 0xAC, 0xD9, 0x40,
        0xA0, 0x2F, 0xF9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x01, 0x00, 0x06, 0x68, 0xEB, 0xE3, 0xCB,
        0x22, 0xC0,
    ];
    /// AAC-LC, 48 kHz, stereo.
    pub(crate) const ASC: &[u8] = &[0x11, 0x90];

    pub(crate) fn video_tag(frame_type: u8, packet_type: u8, cts: i32, body: &[u8]) -> Bytes {
        let mut v = vec![frame_type << 4 | CODEC_AVC, packet_type];
        v.extend(&cts.to_be_bytes()[1..]);
        v.extend(body);
        Bytes::from(v)
    }

    pub(crate) fn audio_tag(packet_type: u8, body: &[u8]) -> Bytes {
        let mut v = vec![0xAF, packet_type];
        v.extend(body);
        Bytes::from(v)
    }

    #[test]
    fn avc_sequence_header() {
        let tag = video_tag(1, 0, 0, AVCC);
        assert_eq!(
            parse_video(&tag).unwrap(),
            VideoTag::AvcSequenceHeader(Bytes::from_static(AVCC))
        );
    }

    #[test]
    fn avc_nalus_with_negative_and_positive_cts() {
        let au = [0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x06];
        assert_eq!(
            parse_video(&video_tag(1, 1, 66, &au)).unwrap(),
            VideoTag::AvcNalus {
                keyframe: true,
                cts: 66,
                data: Bytes::copy_from_slice(&au)
            }
        );
        match parse_video(&video_tag(2, 1, -33, &au)).unwrap() {
            VideoTag::AvcNalus { keyframe, cts, .. } => {
                assert!(!keyframe);
                assert_eq!(cts, -33);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse_video(&video_tag(2, 1, 0, &[0, 0, 0, 9, 1])),
            Err(FlvError::BadNalLength { offset: 0, .. })
        ));
        assert_eq!(
            parse_video(&video_tag(1, 2, 0, &[])).unwrap(),
            VideoTag::AvcEndOfSequence
        );
    }

    #[test]
    fn broken_avc_configs_rejected() {
        let mut wrong_version = AVCC.to_vec();
        wrong_version[0] = 0;
        let mut no_sps = AVCC.to_vec();
        no_sps[5] = 0xE0;
        let mut sps_overrun = AVCC.to_vec();
        sps_overrun[7] = 0xF0;
        let mut two_byte_lengths = AVCC.to_vec();
        two_byte_lengths[4] = 0xFD;
        let truncated = &AVCC[..AVCC.len() - 3];
        for bad in [
            &wrong_version[..],
            &no_sps,
            &sps_overrun,
            &two_byte_lengths,
            truncated,
            &[1, 2],
        ] {
            assert!(parse_video(&video_tag(1, 0, 0, bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn other_video_codecs_refused() {
        let err = parse_video(&Bytes::from_static(&[0x12, 0, 0, 0, 0])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported video codec id 2 (only H.264, id 7)"
        );
        assert_eq!(
            parse_video(&Bytes::from_static(&[0x90, b'v', b'p', b'0', b'9', 0]))
                .unwrap_err()
                .to_string(),
            "enhanced RTMP video: unsupported video codec vp09 at byte 1 \
             (Amphi ingests avc1, hvc1 and av01)"
        );
        assert!(parse_video(&Bytes::new()).is_err());
        assert!(parse_video(&Bytes::from_static(&[0x17, 1])).is_err());
    }

    #[test]
    fn aac_tags() {
        assert_eq!(
            parse_audio(&audio_tag(0, ASC)).unwrap(),
            AudioTag::AacSequenceHeader(Bytes::from_static(ASC))
        );
        assert_eq!(
            parse_audio(&audio_tag(1, &[0x21, 0x10])).unwrap(),
            AudioTag::AacRaw(Bytes::from_static(&[0x21, 0x10]))
        );
        assert_eq!(
            parse_audio(&audio_tag(0, &[0x11])),
            Err(FlvError::InvalidAacConfig(1))
        );
        assert_eq!(
            parse_audio(&Bytes::from_static(&[0x2F, 0xFF])),
            Err(FlvError::UnsupportedAudioCodec(2))
        );
        assert!(parse_audio(&Bytes::from_static(&[0xAF])).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        for seed in 1..3000u64 {
            let data = Bytes::from(crate::rtmp::testutil::garbage(seed, seed as usize % 64));
            let _ = parse_video(&data);
            let _ = parse_audio(&data);
            let _ = validate_avcc(&data);
        }
    }
}
