//! Bounded readers for the codec headers of a source: the H.264 SPS inside an
//! AVCDecoderConfigurationRecord (size, frame rate, profile) and the AAC
//! AudioSpecificConfig (sample rate, channels). Never panic on hostile bytes.
//!
//! The one place these headers are read: the hub checks a source's size against the
//! configured limits with it, and the packager plans its ladder with it.

pub mod av1;
pub mod hevc;

use crate::frame::VideoConfig;

/// The source's video codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VideoCodec {
    #[default]
    H264,
    H265,
    Av1,
}

/// What the ladder needs to know about the source video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoInfo {
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    /// Frames per second from the SPS VUI timing info, if present.
    pub frame_rate: Option<f64>,
    /// H.264: profile_idc; H.265: general_profile_idc; AV1: seq_profile.
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
}

impl VideoInfo {
    /// RFC 6381 codec string of an H.264 source, e.g. `avc1.64002a` (for H.265 and
    /// AV1, [`hevc::Hvcc::codec_string`] and [`av1::Av1c::codec_string`] read the
    /// whole record).
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile_idc, self.constraint_flags, self.level_idc
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioInfo {
    pub object_type: u8,
    pub sample_rate: u32,
    pub channels: u8,
}

impl AudioInfo {
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }
}

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("AVC configuration record too short or malformed at byte {0}")]
    BadAvcc(usize),
    #[error("HEVC configuration record (hvcC) malformed at byte {0}: {1}")]
    BadHvcc(usize, &'static str),
    #[error("AV1 configuration record (av1C) malformed at byte {0}: {1}")]
    BadAv1c(usize, &'static str),
    #[error("AV1 sequence header malformed: {0}")]
    BadSequenceHeader(&'static str),
    #[error("SPS malformed: {0}")]
    BadSps(&'static str),
    #[error("AudioSpecificConfig malformed: {0}")]
    BadAsc(&'static str),
    #[error(
        "Opus with {0} channels: only mono and stereo (channel mapping family 0) are supported"
    )]
    OpusChannels(u8),
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, pos: 0 }
    }
    fn bit(&mut self) -> Result<u32, CodecError> {
        let byte = *self
            .data
            .get(self.pos / 8)
            .ok_or(CodecError::BadSps("truncated"))?;
        let b = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(b as u32)
    }
    fn bits(&mut self, n: u32) -> Result<u32, CodecError> {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Ok(v)
    }
    fn ue(&mut self) -> Result<u32, CodecError> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(CodecError::BadSps("exp-Golomb code too long"));
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + rest as u64).min(u32::MAX as u64) as u32)
    }
    fn se(&mut self) -> Result<i32, CodecError> {
        let k = self.ue()? as i64;
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) } as i32)
    }
}

/// Removes emulation-prevention bytes (00 00 03 → 00 00).
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Picture size, frame rate and profile of a source, whatever its codec.
pub fn video_info(config: &VideoConfig) -> Result<VideoInfo, CodecError> {
    match config {
        VideoConfig::H264 { avcc } => parse_avcc(avcc),
        VideoConfig::H265 { hvcc } => hevc::parse_hvcc_info(hvcc),
        VideoConfig::Av1 { av1c } => av1::parse_av1c_info(av1c),
    }
}

/// Parses the first SPS of an AVCDecoderConfigurationRecord.
pub fn parse_avcc(avcc: &[u8]) -> Result<VideoInfo, CodecError> {
    if avcc.len() < 7 || avcc[0] != 1 {
        return Err(CodecError::BadAvcc(0));
    }
    let num_sps = (avcc[5] & 0x1f) as usize;
    if num_sps == 0 {
        return Err(CodecError::BadAvcc(5));
    }
    let len = u16::from_be_bytes([avcc[6], *avcc.get(7).ok_or(CodecError::BadAvcc(7))?]) as usize;
    let sps = avcc.get(8..8 + len).ok_or(CodecError::BadAvcc(8))?;
    parse_sps(sps)
}

/// Parses an SPS NAL unit (with its one-byte NAL header).
pub fn parse_sps(nal: &[u8]) -> Result<VideoInfo, CodecError> {
    if nal.len() < 4 || nal[0] & 0x1f != 7 {
        return Err(CodecError::BadSps("not an SPS"));
    }
    let rbsp = unescape(&nal[1..]);
    let mut r = Bits::new(&rbsp);
    let profile_idc = r.bits(8)? as u8;
    let constraint_flags = r.bits(8)? as u8;
    let level_idc = r.bits(8)? as u8;
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = 0;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Err(CodecError::BadSps("chroma_format_idc"));
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256) % 256;
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    let poc_type = r.ue()?;
    if poc_type == 0 {
        r.ue()?;
    } else if poc_type == 1 {
        r.bit()?;
        r.se()?;
        r.se()?;
        let n = r.ue()?;
        if n > 255 {
            return Err(CodecError::BadSps("num_ref_frames_in_pic_order_cnt_cycle"));
        }
        for _ in 0..n {
            r.se()?;
        }
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? as u64 + 1;
    let height_map_units = r.ue()? as u64 + 1;
    let frame_mbs_only = r.bit()? as u64;
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? == 1 {
        cl = r.ue()? as u64;
        cr = r.ue()? as u64;
        ct = r.ue()? as u64;
        cb = r.ue()? as u64;
    }
    let (sub_w, sub_h) = match (chroma_format_idc, separate_colour_plane) {
        (1, 0) => (2, 2),
        (2, 0) => (2, 1),
        _ => (1, 1),
    };
    let crop_unit_x = if chroma_format_idc == 0 || separate_colour_plane == 1 {
        1
    } else {
        sub_w
    };
    let crop_unit_y = (if chroma_format_idc == 0 || separate_colour_plane == 1 {
        1
    } else {
        sub_h
    }) * (2 - frame_mbs_only);
    let width = (width_mbs * 16)
        .checked_sub(crop_unit_x * (cl + cr))
        .ok_or(CodecError::BadSps("cropping"))?;
    let height = ((2 - frame_mbs_only) * height_map_units * 16)
        .checked_sub(crop_unit_y * (ct + cb))
        .ok_or(CodecError::BadSps("cropping"))?;
    if width == 0 || height == 0 || width > 16384 || height > 16384 {
        return Err(CodecError::BadSps("picture size"));
    }
    let frame_rate = read_vui_frame_rate(&mut r).ok().flatten();
    Ok(VideoInfo {
        codec: VideoCodec::H264,
        width: width as u32,
        height: height as u32,
        frame_rate,
        profile_idc,
        constraint_flags,
        level_idc,
    })
}

fn read_vui_frame_rate(r: &mut Bits) -> Result<Option<f64>, CodecError> {
    if r.bit()? == 0 {
        return Ok(None); // vui_parameters_present_flag
    }
    if r.bit()? == 1 {
        // aspect_ratio_info_present_flag
        if r.bits(8)? == 255 {
            r.bits(32)?;
        }
    }
    if r.bit()? == 1 {
        r.bit()?; // overscan_appropriate_flag
    }
    if r.bit()? == 1 {
        r.bits(4)?; // video_format, full_range
        if r.bit()? == 1 {
            r.bits(24)?;
        }
    }
    if r.bit()? == 1 {
        r.ue()?;
        r.ue()?;
    }
    if r.bit()? == 1 {
        let num_units_in_tick = r.bits(32)?;
        let time_scale = r.bits(32)?;
        if num_units_in_tick > 0 && time_scale > 0 {
            let fps = time_scale as f64 / (2.0 * num_units_in_tick as f64);
            if (1.0..=240.0).contains(&fps) {
                return Ok(Some(fps));
            }
        }
    }
    Ok(None)
}

/// Parses an AAC AudioSpecificConfig.
pub fn parse_asc(asc: &[u8]) -> Result<AudioInfo, CodecError> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let mut r = Bits::new(asc);
    let map = |_| CodecError::BadAsc("truncated");
    let mut object_type = r.bits(5).map_err(map)? as u8;
    if object_type == 31 {
        object_type = 32 + r.bits(6).map_err(map)? as u8;
    }
    let idx = r.bits(4).map_err(map)? as usize;
    let sample_rate = if idx == 15 {
        r.bits(24).map_err(map)?
    } else {
        *RATES
            .get(idx)
            .ok_or(CodecError::BadAsc("sampling frequency index"))?
    };
    let channels = r.bits(4).map_err(map)? as u8;
    if object_type == 0 || sample_rate == 0 || channels == 0 || channels > 7 {
        return Err(CodecError::BadAsc("unsupported configuration"));
    }
    Ok(AudioInfo {
        object_type,
        sample_rate,
        channels: if channels == 7 { 8 } else { channels },
    })
}

/// The AAC-LC that Opus audio with `channels` channels (48 kHz, as WebRTC carries
/// it, channel mapping family 0) is transcoded to.
pub fn opus_to_aac(channels: u8) -> Result<AudioInfo, CodecError> {
    match channels {
        1 | 2 => Ok(AudioInfo {
            object_type: 2,
            sample_rate: 48_000,
            channels,
        }),
        n => Err(CodecError::OpusChannels(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPS of a 1920x1080 High 4.0 stream from ffmpeg's libx264 (VUI timing: 30 fps).
    const SPS_1080P: [u8; 27] = [
        0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58,
    ];
    // 640x360 Constrained Baseline 3.0 at 25 fps.
    const SPS_360P: [u8; 25] = [
        0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00,
        0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x58, 0xba, 0x80,
    ];

    #[test]
    fn parses_baseline_360p_sps() {
        let info = parse_sps(&SPS_360P).expect("valid SPS");
        assert_eq!((info.width, info.height), (640, 360));
        assert_eq!(info.codec_string(), "avc1.42c01e");
        let fps = info.frame_rate.expect("timing info");
        assert!((fps - 25.0).abs() < 0.01, "{fps}");
    }

    #[test]
    fn parses_x264_1080p_sps() {
        let info = parse_sps(&SPS_1080P).expect("valid SPS");
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.profile_idc, 100);
        assert_eq!(info.codec_string(), "avc1.640028");
        let fps = info.frame_rate.expect("timing info");
        assert!((fps - 30.0).abs() < 0.01, "{fps}");
    }

    #[test]
    fn parses_avcc() {
        let mut avcc = vec![1, 0x64, 0x00, 0x28, 0xff, 0xe1, 0, SPS_1080P.len() as u8];
        avcc.extend_from_slice(&SPS_1080P);
        avcc.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
        let info = parse_avcc(&avcc).expect("valid avcC");
        assert_eq!(info.height, 1080);
    }

    #[test]
    fn parses_asc() {
        let a = parse_asc(&[0x11, 0x90]).expect("AAC-LC 48 kHz stereo");
        assert_eq!((a.object_type, a.sample_rate, a.channels), (2, 48000, 2));
        assert_eq!(a.codec_string(), "mp4a.40.2");
        assert!(parse_asc(&[]).is_err());
        assert!(parse_asc(&[0x00, 0x00]).is_err());
    }

    #[test]
    fn opus_becomes_aac_lc() {
        let a = opus_to_aac(2).expect("stereo");
        assert_eq!((a.sample_rate, a.channels), (48_000, 2));
        assert_eq!(a.codec_string(), "mp4a.40.2");
        assert_eq!(opus_to_aac(1).map(|a| a.channels), Ok(1));
        assert_eq!(opus_to_aac(0), Err(CodecError::OpusChannels(0)));
        assert_eq!(opus_to_aac(6), Err(CodecError::OpusChannels(6)));
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let mut hostile = crate::test_bytes::HostileBytes::new(0x1234_5678);
        for len in 0..64 {
            for _ in 0..200 {
                let bytes = hostile.take(len);
                let _ = parse_avcc(&bytes);
                let mut sps = bytes.clone();
                if !sps.is_empty() {
                    sps[0] = 0x67;
                }
                let _ = parse_sps(&sps);
                let _ = parse_asc(&bytes);
            }
        }
    }
}
