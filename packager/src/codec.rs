//! Codec headers for the ladder. The readers (SPS, AVC configuration record, AAC
//! AudioSpecificConfig) are the ingest's, so a source is read one way everywhere;
//! this module adds what only the packager needs.

pub use amphi_ingest::codec::{
    opus_to_aac, parse_asc, parse_avcc, parse_sps, video_info, AudioInfo, CodecError, VideoCodec,
    VideoInfo,
};

/// Finds the `avcC` (or `hvcC`) box in an init segment and returns its RFC 6381 codec
/// string.
pub fn codec_string_from_init(init: &[u8]) -> Option<String> {
    if let Some(pos) = init.windows(4).position(|w| w == b"hvcC") {
        // The box: size (4 bytes), type, then the HEVCDecoderConfigurationRecord.
        let start = pos.checked_sub(4)?;
        let size = init.get(start..pos)?;
        let size = u32::from_be_bytes([size[0], size[1], size[2], size[3]]) as usize;
        let record = init.get(pos + 4..start.checked_add(size)?)?;
        return amphi_ingest::codec::hevc::parse_hvcc(record)
            .ok()
            .map(|r| r.codec_string());
    }
    let pos = init.windows(4).position(|w| w == b"avcC")?;
    let rec = init.get(pos + 4..pos + 8)?;
    (rec[0] == 1).then(|| format!("avc1.{:02x}{:02x}{:02x}", rec[1], rec[2], rec[3]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_string_of_an_init_segment() {
        let mut init = b"....moov....avcC".to_vec();
        init.extend_from_slice(&[1, 0x64, 0x00, 0x28, 0xff]);
        assert_eq!(
            codec_string_from_init(&init).as_deref(),
            Some("avc1.640028")
        );
        assert_eq!(codec_string_from_init(b"avcC"), None);
        assert_eq!(codec_string_from_init(b"....avcC\x02abc"), None);
        assert_eq!(codec_string_from_init(b"hvcC"), None);
        // An hvcC box around the record libx265 wrote: its codec string.
        let hvcc: &[u8] = include_bytes!("../../ingest/src/codec/testdata/x265-320x180.hvcc");
        let mut init = b"....moov".to_vec();
        init.extend_from_slice(&((hvcc.len() + 8) as u32).to_be_bytes());
        init.extend_from_slice(b"hvcC");
        init.extend_from_slice(hvcc);
        let codec = codec_string_from_init(&init).expect("hvc1 codec string");
        assert!(codec.starts_with("hvc1.1."), "{codec}");
    }
}
