//! AV1: the AV1CodecConfigurationRecord (`av1C`, AV1-ISOBMFF §2.3) that an Enhanced
//! RTMP sequence start carries, and the maximum frame size in the sequence header OBU
//! it holds (AV1 §5.5). Bounded and panic-free; errors name the byte.

use super::{Bits, CodecError, VideoCodec, VideoInfo};

/// Bytes of the record before its configuration OBUs.
pub const AV1C_HEADER_LEN: usize = 4;
const OBU_SEQUENCE_HEADER: u8 = 1;

/// The record's fixed fields the packager needs, and its sequence header OBU payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1c<'a> {
    pub profile: u8,
    pub level_idx: u8,
    pub tier_high: bool,
    pub bit_depth: u8,
    pub monochrome: bool,
    /// The payload of the sequence header OBU (without its OBU header).
    pub sequence_header: &'a [u8],
}

impl Av1c<'_> {
    /// RFC 6381 codec string as the AV1-ISOBMFF binding spells it, e.g. `av01.0.04M.08`.
    pub fn codec_string(&self) -> String {
        let tier = if self.tier_high { 'H' } else { 'M' };
        format!(
            "av01.{}.{:02}{tier}.{:02}",
            self.profile, self.level_idx, self.bit_depth
        )
    }
}

/// Reads and checks an `av1C`: marker and version 1, and a sequence header OBU among
/// its configuration OBUs (Amphi needs it to know the picture size).
pub fn parse_av1c(av1c: &[u8]) -> Result<Av1c<'_>, CodecError> {
    use CodecError::BadAv1c as Bad;
    let h = av1c
        .get(..AV1C_HEADER_LEN)
        .ok_or(Bad(av1c.len(), "shorter than its 4-byte header"))?;
    if h[0] != 0x81 {
        return Err(Bad(0, "marker and version are not 1"));
    }
    let high_bitdepth = h[2] & 0x40 != 0;
    let twelve_bit = h[2] & 0x20 != 0;
    let mut pos = AV1C_HEADER_LEN;
    while pos < av1c.len() {
        let header = av1c[pos];
        let obu_type = (header >> 3) & 0x0F;
        let extension = header & 0x04 != 0;
        let has_size = header & 0x02 != 0;
        let mut p = pos + 1 + usize::from(extension);
        let size = if has_size {
            let (size, used) = leb128(av1c.get(p..).unwrap_or_default())
                .ok_or(Bad(p, "OBU size overruns the record"))?;
            p += used;
            size
        } else {
            av1c.len().saturating_sub(p)
        };
        let payload = p
            .checked_add(size)
            .and_then(|end| av1c.get(p..end))
            .ok_or(Bad(pos, "OBU overruns the record"))?;
        if obu_type == OBU_SEQUENCE_HEADER {
            return Ok(Av1c {
                profile: h[1] >> 5,
                level_idx: h[1] & 0x1F,
                tier_high: h[2] & 0x80 != 0,
                bit_depth: match (high_bitdepth, twelve_bit) {
                    (false, _) => 8,
                    (true, false) => 10,
                    (true, true) => 12,
                },
                monochrome: h[2] & 0x10 != 0,
                sequence_header: payload,
            });
        }
        pos = p + size;
    }
    Err(Bad(pos, "no sequence header OBU"))
}

/// An unsigned LEB128 value (at most 8 bytes) and the bytes it took.
fn leb128(data: &[u8]) -> Option<(usize, usize)> {
    let mut value: u64 = 0;
    for (i, &b) in data.iter().take(8).enumerate() {
        value |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return usize::try_from(value).ok().map(|v| (v, i + 1));
        }
    }
    None
}

/// Picture size and frame rate of an AV1 source from its `av1C`.
pub fn parse_av1c_info(av1c: &[u8]) -> Result<VideoInfo, CodecError> {
    let record = parse_av1c(av1c)?;
    let seq = sequence_header(record.sequence_header)?;
    Ok(VideoInfo {
        codec: VideoCodec::Av1,
        width: seq.width,
        height: seq.height,
        frame_rate: seq.frame_rate,
        profile_idc: record.profile,
        constraint_flags: 0,
        level_idc: record.level_idx,
    })
}

struct SequenceHeader {
    width: u32,
    height: u32,
    frame_rate: Option<f64>,
}

/// Reads a sequence header OBU payload up to the maximum frame size (AV1 §5.5.1).
fn sequence_header(payload: &[u8]) -> Result<SequenceHeader, CodecError> {
    let bad = |_| CodecError::BadSequenceHeader("truncated");
    let mut r = Bits::new(payload);
    r.bits(3).map_err(bad)?; // seq_profile
    r.bit().map_err(bad)?; // still_picture
    let reduced = r.bit().map_err(bad)? == 1;
    let mut frame_rate = None;
    if reduced {
        r.bits(5).map_err(bad)?; // seq_level_idx[0]
    } else {
        let mut decoder_model_info = false;
        let mut buffer_delay_length = 0;
        if r.bit().map_err(bad)? == 1 {
            // timing_info()
            let units = r.bits(32).map_err(bad)?;
            let time_scale = r.bits(32).map_err(bad)?;
            let mut ticks = 1u64;
            if r.bit().map_err(bad)? == 1 {
                ticks = u64::from(uvlc(&mut r)?) + 1;
            }
            if units > 0 && time_scale > 0 {
                let fps = f64::from(time_scale) / (f64::from(units) * ticks as f64);
                frame_rate = Some(fps).filter(|f| (1.0..=240.0).contains(f));
            }
            decoder_model_info = r.bit().map_err(bad)? == 1;
            if decoder_model_info {
                buffer_delay_length = r.bits(5).map_err(bad)? + 1;
                r.bits(32).map_err(bad)?; // num_units_in_decoding_tick
                r.bits(10).map_err(bad)?; // two more lengths
            }
        }
        let initial_display_delay = r.bit().map_err(bad)? == 1;
        let operating_points = r.bits(5).map_err(bad)? + 1;
        for _ in 0..operating_points {
            r.bits(12).map_err(bad)?; // operating_point_idc
            if r.bits(5).map_err(bad)? > 7 {
                r.bit().map_err(bad)?; // seq_tier
            }
            if decoder_model_info && r.bit().map_err(bad)? == 1 {
                r.bits(buffer_delay_length).map_err(bad)?;
                r.bits(buffer_delay_length).map_err(bad)?;
                r.bit().map_err(bad)?; // low_delay_mode_flag
            }
            if initial_display_delay && r.bit().map_err(bad)? == 1 {
                r.bits(4).map_err(bad)?;
            }
        }
    }
    let width_bits = r.bits(4).map_err(bad)? + 1;
    let height_bits = r.bits(4).map_err(bad)? + 1;
    let width = r.bits(width_bits).map_err(bad)? + 1;
    let height = r.bits(height_bits).map_err(bad)? + 1;
    if width > 16384 || height > 16384 {
        return Err(CodecError::BadSequenceHeader("picture size"));
    }
    Ok(SequenceHeader {
        width,
        height,
        frame_rate,
    })
}

/// AV1's variable-length code (§4.10.3).
fn uvlc(r: &mut Bits) -> Result<u32, CodecError> {
    let mut zeros = 0;
    while r.bit()? == 0 {
        zeros += 1;
        if zeros >= 32 {
            return Err(CodecError::BadSequenceHeader("uvlc too long"));
        }
    }
    let value = r.bits(zeros)?;
    Ok(((1u64 << zeros) - 1 + u64::from(value)).min(u64::from(u32::MAX)) as u32)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The av1C ffmpeg 9's libsvtav1 wrote for a 320x180 input (SVT-AV1 codes 320x184).
    const AV1C_SVT: &[u8] = include_bytes!("testdata/svtav1-320x180.av1c");

    #[test]
    fn record_of_svt_av1() {
        let r = parse_av1c(AV1C_SVT).unwrap();
        assert_eq!((r.profile, r.bit_depth), (0, 8));
        assert!(
            r.codec_string().starts_with("av01.0."),
            "{}",
            r.codec_string()
        );
        let info = parse_av1c_info(AV1C_SVT).unwrap();
        assert_eq!(info.codec, VideoCodec::Av1);
        assert_eq!(info.width, 320);
        assert!((180..=184).contains(&info.height), "{}", info.height);
    }

    #[test]
    fn broken_records_refused_with_the_byte() {
        let mut v = AV1C_SVT.to_vec();
        v[0] = 0x01;
        assert_eq!(
            parse_av1c(&v).unwrap_err(),
            CodecError::BadAv1c(0, "marker and version are not 1")
        );
        assert!(matches!(
            parse_av1c(&AV1C_SVT[..4]),
            Err(CodecError::BadAv1c(4, "no sequence header OBU"))
        ));
        for cut in 0..AV1C_SVT.len() {
            let _ = parse_av1c_info(&AV1C_SVT[..cut]);
        }
        assert_eq!(leb128(&[0x80, 0x01]), Some((128, 2)));
        assert_eq!(leb128(&[0x80; 9]), None);
    }

    #[test]
    fn garbage_never_panics() {
        for seed in 1..3000u64 {
            let mut data = crate::rtmp::testutil::garbage(seed, seed as usize % 64);
            if let Some(b) = data.first_mut() {
                *b = 0x81;
            }
            let _ = parse_av1c_info(&data);
        }
    }
}
