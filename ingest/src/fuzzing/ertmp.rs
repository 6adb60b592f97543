//! Enhanced RTMP video tags: any body with the IsExHeader bit set. What the parser
//! accepts must be usable downstream: a sequence start's record reads as its codec's
//! configuration, and a frame's NAL units or OBUs tile its data exactly.

use crate::codec;
use crate::frame::VideoConfig;
use crate::rtmp::ertmp::{parse_ex_video, ExVideoTag, FourCc, EX_HEADER};
use bytes::Bytes;

pub fn ertmp(data: &[u8]) {
    let mut body = data.to_vec();
    if let Some(b) = body.first_mut() {
        *b |= EX_HEADER;
    }
    let body = Bytes::from(body);
    match parse_ex_video(&body) {
        Ok(ExVideoTag::SequenceStart { fourcc, record }) => {
            let config = match fourcc {
                FourCc::HEVC => VideoConfig::H265 { hvcc: record },
                FourCc::AV1 => VideoConfig::Av1 { av1c: record },
                _ => VideoConfig::H264 { avcc: record },
            };
            // HEVC and AV1 records are checked whole; the picture size may still be
            // unreadable (the session's limits refuse such a source).
            let _ = codec::video_info(&config);
        }
        Ok(ExVideoTag::CodedFrames { fourcc, data, .. }) => {
            if fourcc == FourCc::AV1 {
                return;
            }
            let mut pos = 0usize;
            while pos < data.len() {
                let len = u32::from_be_bytes(
                    data[pos..pos + 4]
                        .try_into()
                        .expect("the parser checked 4 length bytes"),
                );
                pos += 4 + len as usize;
            }
            assert_eq!(pos, data.len());
        }
        Ok(_) => {}
        Err(e) => assert!(e.to_string().contains("byte"), "{e}"),
    }
}
