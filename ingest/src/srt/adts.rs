//! AAC in ADTS framing (ISO 14496-3 §1.A.2) as MPEG-TS carries it: split into raw
//! frames, and the AudioSpecificConfig built from the header. Pure, bounded.

use bytes::Bytes;

/// Samples per AAC frame (AAC-LC).
pub const SAMPLES_PER_FRAME: i64 = 1024;

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdtsError {
    #[error("no ADTS sync word at byte {at} of the PES payload")]
    NoSync { at: usize },
    #[error("ADTS frame at byte {at} declares {len} bytes, {left} left")]
    Truncated { at: usize, len: usize, left: usize },
    #[error("ADTS frame at byte {at}: sampling frequency index {index} is reserved")]
    BadSampleRate { at: usize, index: u8 },
}

/// What an ADTS header says about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// Audio object type (2 = AAC-LC).
    pub object_type: u8,
    pub sample_rate_index: u8,
    pub channels: u8,
}

impl AdtsHeader {
    pub fn sample_rate(&self) -> u32 {
        SAMPLE_RATES[usize::from(self.sample_rate_index)]
    }

    /// The two-byte AudioSpecificConfig of this stream.
    pub fn audio_specific_config(&self) -> Bytes {
        let v: u16 = (u16::from(self.object_type) << 11)
            | (u16::from(self.sample_rate_index) << 7)
            | (u16::from(self.channels) << 3);
        Bytes::copy_from_slice(&v.to_be_bytes())
    }
}

/// Splits a PES payload into ADTS frames: (header, raw frame without its header).
pub fn split(data: &Bytes) -> Result<Vec<(AdtsHeader, Bytes)>, AdtsError> {
    let mut frames = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        let h = &data[at..];
        if h.len() < 7 || h[0] != 0xff || h[1] & 0xf6 != 0xf0 {
            return Err(AdtsError::NoSync { at });
        }
        let protection_absent = h[1] & 0x01 != 0;
        let profile = h[2] >> 6;
        let index = (h[2] >> 2) & 0x0f;
        if usize::from(index) >= SAMPLE_RATES.len() {
            return Err(AdtsError::BadSampleRate { at, index });
        }
        let channels = ((h[2] & 0x01) << 2) | (h[3] >> 6);
        let len =
            (usize::from(h[3] & 0x03) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        let header_len = if protection_absent { 7 } else { 9 };
        if len < header_len || len > h.len() {
            return Err(AdtsError::Truncated {
                at,
                len,
                left: h.len(),
            });
        }
        let header = AdtsHeader {
            object_type: profile + 1,
            sample_rate_index: index,
            channels,
        };
        frames.push((header, data.slice(at + header_len..at + len)));
        at += len;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ADTS header for AAC-LC 48 kHz stereo around `payload`.
    pub(crate) fn adts(payload: &[u8]) -> Vec<u8> {
        let len = payload.len() + 7;
        let mut v = vec![
            0xff,
            0xf1,
            (1 << 6) | (3 << 2),
            (2 << 6) | ((len >> 11) as u8 & 0x03),
            (len >> 3) as u8,
            ((len as u8 & 0x07) << 5) | 0x1f,
            0xfc,
        ];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn frames_and_config() {
        let mut data = adts(b"abc");
        data.extend(adts(b"defg"));
        let frames = split(&Bytes::from(data)).expect("two frames");
        assert_eq!(frames.len(), 2);
        assert_eq!(&frames[0].1[..], b"abc");
        assert_eq!(&frames[1].1[..], b"defg");
        let h = frames[0].0;
        assert_eq!((h.object_type, h.sample_rate(), h.channels), (2, 48000, 2));
        // AAC-LC, 48 kHz, stereo: 0x1190, as ffmpeg writes it.
        assert_eq!(&h.audio_specific_config()[..], &[0x11, 0x90]);
        let info = crate::codec::parse_asc(&h.audio_specific_config()).expect("readable");
        assert_eq!(info.sample_rate, 48000);
    }

    #[test]
    fn errors_say_where() {
        let mut data = adts(b"abc");
        data.extend_from_slice(b"\x00\x01");
        assert_eq!(split(&Bytes::from(data)), Err(AdtsError::NoSync { at: 10 }));
        let mut short = adts(b"abcdef");
        short.truncate(9);
        assert!(matches!(
            split(&Bytes::from(short)),
            Err(AdtsError::Truncated { at: 0, len: 13, .. })
        ));
    }
}
