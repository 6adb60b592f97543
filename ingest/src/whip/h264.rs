//! H.264 access units as WebRTC delivers them (Annex B, after RTP depacketization)
//! turned into what the rest of Amphi reads: AVCC payloads (4-byte lengths) and an
//! `avcC` record built from the stream's SPS and PPS.
//!
//! Pure functions over byte slices; nothing here allocates from a length the peer
//! declared without a cap.

use bytes::{BufMut, Bytes, BytesMut};

/// NAL unit types (ITU-T H.264 table 7-1) that matter here.
pub const NAL_IDR: u8 = 5;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;

/// An access unit larger than this is refused (a 1080p I-frame is well below 2 MiB).
pub const MAX_ACCESS_UNIT: usize = 4 * 1024 * 1024;
/// Parameter sets longer than this are refused (they are tens of bytes in practice).
pub const MAX_PARAMETER_SET: usize = 1024;

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum H264Error {
    #[error("access unit of {0} bytes exceeds the {MAX_ACCESS_UNIT}-byte limit")]
    TooLarge(usize),
    #[error("access unit without any NAL unit")]
    Empty,
    #[error("SPS of {0} bytes is too short or too long")]
    BadSps(usize),
    #[error("PPS of {0} bytes is too long or empty")]
    BadPps(usize),
}

/// The type of a NAL unit (low 5 bits of its header byte).
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1f)
}

/// Splits an Annex B byte stream into NAL units (start codes of 3 or 4 bytes removed,
/// empty units skipped). Data before the first start code is taken as one unit, so a
/// bare NAL unit without a start code is accepted too.
pub fn split_annex_b(data: &[u8]) -> Vec<&[u8]> {
    let mut nals = Vec::new();
    let mut start = 0usize;
    let mut i = 0usize;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            // A 4-byte start code leaves one zero at the end of the previous unit.
            let mut end = i;
            if end > start && data[end - 1] == 0 {
                end -= 1;
            }
            if end > start {
                nals.push(&data[start..end]);
            }
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    if start < data.len() {
        nals.push(&data[start..]);
    }
    nals
}

/// One access unit converted to AVCC, with what was learnt from its NAL units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// NAL units with 4-byte big-endian length prefixes (AUD removed, SPS/PPS kept).
    pub avcc: Bytes,
    /// Whether it carries an IDR slice.
    pub keyframe: bool,
    /// The first SPS and PPS it carries, if any.
    pub sps: Option<Bytes>,
    pub pps: Option<Bytes>,
}

/// Converts an Annex B access unit to AVCC.
pub fn annex_b_to_avcc(data: &[u8]) -> Result<AccessUnit, H264Error> {
    if data.len() > MAX_ACCESS_UNIT {
        return Err(H264Error::TooLarge(data.len()));
    }
    let nals = split_annex_b(data);
    let mut out = BytesMut::with_capacity(data.len() + 4 * nals.len());
    let (mut keyframe, mut sps, mut pps) = (false, None, None);
    for nal in nals {
        match nal_type(nal) {
            Some(NAL_AUD) | None => continue,
            Some(NAL_IDR) => keyframe = true,
            Some(NAL_SPS) if sps.is_none() => sps = Some(Bytes::copy_from_slice(nal)),
            Some(NAL_PPS) if pps.is_none() => pps = Some(Bytes::copy_from_slice(nal)),
            _ => {}
        }
        // Bounded by MAX_ACCESS_UNIT above, so the length fits in 32 bits.
        out.put_u32(nal.len() as u32);
        out.put_slice(nal);
    }
    if out.is_empty() {
        return Err(H264Error::Empty);
    }
    Ok(AccessUnit {
        avcc: out.freeze(),
        keyframe,
        sps,
        pps,
    })
}

/// Builds an AVCDecoderConfigurationRecord (ISO 14496-15 §5.3.3.1) from one SPS and
/// one PPS (each without start code). Profile, compatibility and level come from the
/// SPS; NAL length size is 4.
pub fn build_avcc(sps: &[u8], pps: &[u8]) -> Result<Bytes, H264Error> {
    if sps.len() < 4 || sps.len() > MAX_PARAMETER_SET {
        return Err(H264Error::BadSps(sps.len()));
    }
    if pps.is_empty() || pps.len() > MAX_PARAMETER_SET {
        return Err(H264Error::BadPps(pps.len()));
    }
    let mut b = BytesMut::with_capacity(11 + sps.len() + pps.len());
    b.put_u8(1); // configurationVersion
    b.put_u8(sps[1]); // AVCProfileIndication
    b.put_u8(sps[2]); // profile_compatibility
    b.put_u8(sps[3]); // AVCLevelIndication
    b.put_u8(0xfc | 3); // reserved + lengthSizeMinusOne = 3
    b.put_u8(0xe0 | 1); // reserved + numOfSequenceParameterSets = 1
    b.put_u16(sps.len() as u16);
    b.put_slice(sps);
    b.put_u8(1); // numOfPictureParameterSets
    b.put_u16(pps.len() as u16);
    b.put_slice(pps);
    // High profiles (100, 110, 122, 144) may carry chroma/bit depth fields; decoders
    // take them from the SPS, and the short form is what most muxers write.
    Ok(b.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];
    const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00, 0x33];
    const SLICE: &[u8] = &[0x41, 0x9a, 0x02];

    fn annex_b(nals: &[&[u8]], four: bool) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            if four {
                v.extend_from_slice(&[0, 0, 0, 1]);
            } else {
                v.extend_from_slice(&[0, 0, 1]);
            }
            v.extend_from_slice(n);
        }
        v
    }

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        for four in [false, true] {
            let data = annex_b(&[SPS, PPS, IDR], four);
            assert_eq!(split_annex_b(&data), vec![SPS, PPS, IDR]);
        }
        let mut mixed = vec![0, 0, 0, 1];
        mixed.extend_from_slice(SPS);
        mixed.extend_from_slice(&[0, 0, 1]);
        mixed.extend_from_slice(PPS);
        assert_eq!(split_annex_b(&mixed), vec![SPS, PPS]);
    }

    #[test]
    fn bare_nal_and_garbage_do_not_panic() {
        assert_eq!(split_annex_b(SLICE), vec![SLICE]);
        assert!(split_annex_b(&[]).is_empty());
        assert!(split_annex_b(&[0, 0, 1]).is_empty());
        assert!(split_annex_b(&[0, 0, 0, 1, 0, 0, 1]).is_empty());
        assert_eq!(annex_b_to_avcc(&[0, 0, 1]), Err(H264Error::Empty));
        for len in 0..12 {
            let v: Vec<u8> = (0..len).map(|i| (i * 37) as u8 % 3).collect();
            let _ = annex_b_to_avcc(&v);
        }
    }

    #[test]
    fn keyframe_to_avcc_keeps_parameter_sets_and_drops_aud() {
        let aud: &[u8] = &[0x09, 0xf0];
        let au = annex_b_to_avcc(&annex_b(&[aud, SPS, PPS, IDR], true)).expect("valid");
        assert!(au.keyframe);
        assert_eq!(au.sps.as_deref(), Some(SPS));
        assert_eq!(au.pps.as_deref(), Some(PPS));
        let mut expected = Vec::new();
        for n in [SPS, PPS, IDR] {
            expected.extend_from_slice(&(n.len() as u32).to_be_bytes());
            expected.extend_from_slice(n);
        }
        assert_eq!(&au.avcc[..], &expected[..]);
    }

    #[test]
    fn delta_frame_is_not_a_keyframe() {
        let au = annex_b_to_avcc(&annex_b(&[SLICE], false)).expect("valid");
        assert!(!au.keyframe);
        assert_eq!(au.sps, None);
        assert_eq!(&au.avcc[..4], &[0, 0, 0, 3]);
    }

    #[test]
    fn avcc_record_layout() {
        let rec = build_avcc(SPS, PPS).expect("valid");
        assert_eq!(&rec[..6], &[1, 0x42, 0xc0, 0x1f, 0xff, 0xe1]);
        assert_eq!(&rec[6..8], &(SPS.len() as u16).to_be_bytes());
        assert_eq!(&rec[8..8 + SPS.len()], SPS);
        let rest = &rec[8 + SPS.len()..];
        assert_eq!(rest[0], 1);
        assert_eq!(&rest[1..3], &(PPS.len() as u16).to_be_bytes());
        assert_eq!(&rest[3..], PPS);
        assert_eq!(build_avcc(&SPS[..3], PPS), Err(H264Error::BadSps(3)));
        assert_eq!(build_avcc(SPS, &[]), Err(H264Error::BadPps(0)));
        assert!(build_avcc(&vec![0x67; 2000], PPS).is_err());
    }
}
