//! H.265: the HEVCDecoderConfigurationRecord (`hvcC`, ISO 14496-15 §8.3.3.1) that an
//! Enhanced RTMP sequence start carries, and the picture size in its SPS.
//!
//! Bounded and panic-free: every length is checked against the record before use, and
//! errors name the byte where the record went wrong.

use super::{unescape, Bits, CodecError, VideoCodec, VideoInfo};

/// Bytes of the record before its NAL unit arrays.
pub const HVCC_HEADER_LEN: usize = 23;
/// NAL unit types of the parameter sets.
pub const NAL_VPS: u8 = 32;
pub const NAL_SPS: u8 = 33;
pub const NAL_PPS: u8 = 34;

/// One parameter set NAL unit in the record, with its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterSet<'a> {
    pub nal_type: u8,
    pub nal: &'a [u8],
}

/// The fields of the record's fixed part that the packager needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hvcc<'a> {
    pub profile_space: u8,
    pub tier_high: bool,
    pub profile_idc: u8,
    pub compatibility_flags: u32,
    pub constraint_flags: [u8; 6],
    pub level_idc: u8,
    /// Frames per 256 seconds, 0 when unspecified.
    pub avg_frame_rate: u16,
    pub length_size: u8,
    pub parameter_sets: Vec<ParameterSet<'a>>,
}

impl Hvcc<'_> {
    /// The first SPS NAL unit of the record.
    pub fn sps(&self) -> Option<&[u8]> {
        self.parameter_sets
            .iter()
            .find(|p| p.nal_type == NAL_SPS)
            .map(|p| p.nal)
    }

    /// RFC 6381 codec string as ISO 14496-15 Annex E spells it for `hvc1`, e.g.
    /// `hvc1.1.6.L93.B0`.
    pub fn codec_string(&self) -> String {
        let space = match self.profile_space {
            1 => "A",
            2 => "B",
            3 => "C",
            _ => "",
        };
        // The compatibility flags in reverse bit order, in hex without leading zeros.
        let compat = self.compatibility_flags.reverse_bits();
        let tier = if self.tier_high { 'H' } else { 'L' };
        let mut s = format!(
            "hvc1.{space}{}.{compat:X}.{tier}{}",
            self.profile_idc, self.level_idc
        );
        // Constraint bytes, trailing zero bytes omitted.
        let used = self
            .constraint_flags
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        for b in &self.constraint_flags[..used] {
            s += &format!(".{b:X}");
        }
        s
    }
}

/// Reads and checks an HEVCDecoderConfigurationRecord: version 1, 4-byte NAL lengths,
/// at least one VPS, SPS and PPS, every length inside the record.
pub fn parse_hvcc(hvcc: &[u8]) -> Result<Hvcc<'_>, CodecError> {
    use CodecError::BadHvcc as Bad;
    let h = hvcc
        .get(..HVCC_HEADER_LEN)
        .ok_or(Bad(hvcc.len(), "shorter than its 23-byte header"))?;
    if h[0] != 1 {
        return Err(Bad(0, "configuration version is not 1"));
    }
    let length_size = (h[21] & 0x03) + 1;
    if length_size != 4 {
        return Err(Bad(21, "NAL unit length size is not 4 bytes"));
    }
    let mut parameter_sets = Vec::new();
    let mut pos = HVCC_HEADER_LEN;
    for _ in 0..h[22] {
        let head = hvcc
            .get(pos..pos + 3)
            .ok_or(Bad(pos, "NAL unit array header overruns the record"))?;
        let nal_type = head[0] & 0x3F;
        let count = u16::from_be_bytes([head[1], head[2]]);
        pos += 3;
        for _ in 0..count {
            let len = hvcc
                .get(pos..pos + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .ok_or(Bad(pos, "NAL unit length overruns the record"))?;
            let nal = hvcc
                .get(pos + 2..pos + 2 + len)
                .ok_or(Bad(pos, "NAL unit overruns the record"))?;
            if nal.len() < 2 || (nal[0] >> 1) & 0x3F != nal_type {
                return Err(Bad(pos, "NAL unit does not match its array's type"));
            }
            parameter_sets.push(ParameterSet { nal_type, nal });
            pos += 2 + len;
        }
    }
    for (t, what) in [
        (NAL_VPS, "no VPS"),
        (NAL_SPS, "no SPS"),
        (NAL_PPS, "no PPS"),
    ] {
        if !parameter_sets.iter().any(|p| p.nal_type == t) {
            return Err(Bad(pos, what));
        }
    }
    let mut constraint_flags = [0u8; 6];
    constraint_flags.copy_from_slice(&h[6..12]);
    Ok(Hvcc {
        profile_space: h[1] >> 6,
        tier_high: h[1] & 0x20 != 0,
        profile_idc: h[1] & 0x1F,
        compatibility_flags: u32::from_be_bytes([h[2], h[3], h[4], h[5]]),
        constraint_flags,
        level_idc: h[12],
        avg_frame_rate: u16::from_be_bytes([h[19], h[20]]),
        length_size,
        parameter_sets,
    })
}

/// Picture size and profile of an HEVC source from its `hvcC` (the first SPS).
pub fn parse_hvcc_info(hvcc: &[u8]) -> Result<VideoInfo, CodecError> {
    let record = parse_hvcc(hvcc)?;
    let sps = record.sps().ok_or(CodecError::BadHvcc(0, "no SPS"))?;
    let (width, height) = sps_picture_size(sps)?;
    let frame_rate = (record.avg_frame_rate > 0)
        .then(|| f64::from(record.avg_frame_rate) / 256.0)
        .filter(|f| (1.0..=240.0).contains(f));
    Ok(VideoInfo {
        codec: VideoCodec::H265,
        width,
        height,
        frame_rate,
        profile_idc: record.profile_idc,
        constraint_flags: 0,
        level_idc: record.level_idc,
    })
}

/// The cropped picture size in an H.265 SPS NAL unit (H.265 §7.3.2.2.1), read up to
/// the conformance window.
pub fn sps_picture_size(nal: &[u8]) -> Result<(u32, u32), CodecError> {
    if nal.len() < 3 || (nal[0] >> 1) & 0x3F != NAL_SPS {
        return Err(CodecError::BadSps("not an H.265 SPS"));
    }
    let rbsp = unescape(&nal[2..]);
    let mut r = Bits::new(&rbsp);
    r.bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)?;
    r.bit()?; // sps_temporal_id_nesting_flag
              // profile_tier_level(1, max_sub_layers_minus1)
    r.bits(32)?;
    r.bits(32)?;
    r.bits(24)?; // general profile, flags (88 bits)
    r.bits(8)?; // general_level_idc
    let sub_layers = max_sub_layers_minus1 as usize;
    // (sub_layer_profile_present_flag, sub_layer_level_present_flag) per sub-layer.
    let mut present = [(false, false); 8];
    for p in present.iter_mut().take(sub_layers) {
        *p = (r.bit()? == 1, r.bit()? == 1);
    }
    if sub_layers > 0 {
        for _ in sub_layers..8 {
            r.bits(2)?; // reserved_zero_2bits
        }
    }
    for &(profile, level) in present.iter().take(sub_layers) {
        if profile {
            r.bits(32)?;
            r.bits(32)?;
            r.bits(24)?;
        }
        if level {
            r.bits(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc > 3 {
        return Err(CodecError::BadSps("chroma_format_idc"));
    }
    let separate_colour_plane = chroma_format_idc == 3 && r.bit()? == 1;
    let width = u64::from(r.ue()?);
    let height = u64::from(r.ue()?);
    let (mut w, mut h) = (width, height);
    if r.bit()? == 1 {
        let (sub_w, sub_h) = match (chroma_format_idc, separate_colour_plane) {
            (1, false) => (2, 2),
            (2, false) => (2, 1),
            _ => (1, 1),
        };
        let (left, right) = (u64::from(r.ue()?), u64::from(r.ue()?));
        let (top, bottom) = (u64::from(r.ue()?), u64::from(r.ue()?));
        w = width
            .checked_sub(sub_w * (left + right))
            .ok_or(CodecError::BadSps("cropping"))?;
        h = height
            .checked_sub(sub_h * (top + bottom))
            .ok_or(CodecError::BadSps("cropping"))?;
    }
    if w == 0 || h == 0 || w > 16384 || h > 16384 {
        return Err(CodecError::BadSps("picture size"));
    }
    Ok((w as u32, h as u32))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// The hvcC ffmpeg 9's libx265 wrote for 320x180 Main (`-x265-params` defaults).
    pub(crate) const HVCC_320X180: &[u8] = include_bytes!("testdata/x265-320x180.hvcc");

    #[test]
    fn record_of_x265() {
        let r = parse_hvcc(HVCC_320X180).unwrap();
        assert_eq!(r.profile_idc, 1);
        assert_eq!(r.length_size, 4);
        let types: Vec<u8> = r.parameter_sets.iter().map(|p| p.nal_type).collect();
        assert!(types.contains(&NAL_VPS) && types.contains(&NAL_SPS) && types.contains(&NAL_PPS));
        let info = parse_hvcc_info(HVCC_320X180).unwrap();
        assert_eq!((info.width, info.height), (320, 180));
        assert_eq!(info.codec, VideoCodec::H265);
        assert!(
            r.codec_string().starts_with("hvc1.1."),
            "{}",
            r.codec_string()
        );
    }

    #[test]
    fn broken_records_refused_with_the_byte() {
        let mut v0 = HVCC_320X180.to_vec();
        v0[0] = 0;
        assert_eq!(
            parse_hvcc(&v0).unwrap_err(),
            CodecError::BadHvcc(0, "configuration version is not 1")
        );
        let mut two = HVCC_320X180.to_vec();
        two[21] = (two[21] & !3) | 1;
        assert!(matches!(parse_hvcc(&two), Err(CodecError::BadHvcc(21, _))));
        for cut in [0, 5, 22, 24, HVCC_320X180.len() - 1] {
            assert!(parse_hvcc(&HVCC_320X180[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        for seed in 1..3000u64 {
            let mut data = crate::rtmp::testutil::garbage(seed, seed as usize % 96);
            if let Some(b) = data.first_mut() {
                *b = 1;
            }
            if data.len() > 21 {
                data[21] |= 3;
            }
            let _ = parse_hvcc_info(&data);
            let _ = sps_picture_size(&data);
        }
    }
}
