//! Entry points for the fuzz targets in `fuzz/` and for the stable tests that replay
//! their corpora (`tests/fuzz_corpus.rs` at the workspace root): each function takes untrusted bytes, drives
//! one parser through its public API and panics only when an invariant breaks (a
//! round trip that does not hold, output that the next stage refuses). Not an API.

#![allow(clippy::unwrap_used)]

use crate::frame::{AudioConfig, FrameKind, VideoConfig};
use crate::rtmp::amf0::{self, Amf0Value};
use crate::rtmp::chunk::{ChunkDecoder, ChunkEncoder};
use crate::rtmp::flv::{self, AudioTag, VideoTag};
use crate::rtmp::handshake::{Handshake, HANDSHAKE_SIZE, RANDOM_SIZE};
use crate::rtmp::message::{msg_type, Message};
use crate::rtmp::session::{Event, Session};
use crate::whip::{h264, signal};
use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};

mod ertmp;
mod srt_ts;
mod whip_rtp;
pub use ertmp::ertmp;
pub use srt_ts::srt_ts;
pub use whip_rtp::rtp_h264;

/// Splits fuzz input into pieces: each piece is preceded by one length byte (the rest
/// of the input is the last piece), so targets see data arriving in arbitrary reads.
fn pieces(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (&len, tail) = rest.split_first()?;
        let n = usize::from(len).min(tail.len());
        let (piece, after) = tail.split_at(n);
        rest = after;
        Some(piece)
    })
}

/// RTMP handshake: C0/C1/C2 split into arbitrary reads. S0+S1+S2 are produced once,
/// S2 echoes C1, and the bytes after C2 are kept intact.
pub fn rtmp_handshake(data: &[u8]) {
    let mut hs = Handshake::new(7, Box::new([0x5A; RANDOM_SIZE]));
    let mut fed = Vec::new();
    let mut sent = Vec::new();
    for piece in pieces(data) {
        if hs.is_done() {
            break;
        }
        fed.extend_from_slice(piece);
        if hs.handle_input(piece).is_err() {
            assert_ne!(fed[0], 3, "version 3 refused");
            return;
        }
        while let Some(out) = hs.poll_transmit() {
            sent.extend_from_slice(&out);
        }
    }
    if fed.len() > HANDSHAKE_SIZE {
        assert_eq!(sent.len(), 1 + 2 * HANDSHAKE_SIZE, "S0+S1+S2 once");
        assert_eq!(&sent[1 + HANDSHAKE_SIZE..], &fed[1..1 + HANDSHAKE_SIZE]);
    } else {
        assert!(sent.is_empty(), "reply before C1 is complete");
    }
    let done_at = 1 + 2 * HANDSHAKE_SIZE;
    assert_eq!(hs.is_done(), fed.len() >= done_at);
    if hs.is_done() {
        assert_eq!(&hs.into_remaining()[..], &fed[done_at..]);
    }
}

/// RTMP chunk stream: decodes messages from arbitrary reads, then re-encodes them with
/// our encoder and decodes that again: the same messages must come out.
pub fn rtmp_chunk(data: &[u8]) {
    let mut dec = ChunkDecoder::new();
    let mut msgs = Vec::new();
    'feed: for piece in pieces(data) {
        dec.push(piece);
        loop {
            match dec.poll_message() {
                Ok(Some(m)) => msgs.push(m),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    let enc = ChunkEncoder::new();
    let mut wire = BytesMut::new();
    for (i, m) in msgs.iter().enumerate() {
        // Control messages would change the decoder's state: keep the payloads opaque.
        let m = Message {
            type_id: if m.type_id <= msg_type::SET_PEER_BANDWIDTH {
                msg_type::DATA_AMF0
            } else {
                m.type_id
            },
            ..m.clone()
        };
        enc.encode(3 + (i as u32 % 5), &m, &mut wire);
    }
    let mut again = ChunkDecoder::new();
    again.push(&wire);
    for m in &msgs {
        let back = again.poll_message().unwrap().expect("re-encoded message");
        assert_eq!(back.payload, m.payload);
        assert_eq!(back.timestamp, m.timestamp);
        assert_eq!(back.stream_id, m.stream_id);
    }
    assert_eq!(again.poll_message().unwrap(), None);
}

/// AMF0: decode, encode, decode again: the second encoding equals the first.
pub fn amf0(data: &[u8]) {
    let Ok(values) = amf0::decode_all(data) else {
        return;
    };
    let once = amf0::encode_all(&values);
    let again = amf0::decode_all(&once).expect("our own encoding decodes");
    assert_eq!(again.len(), values.len());
    assert_eq!(amf0::encode_all(&again), once);
}

/// FLV tag bodies and the codec configuration records they carry. The first byte picks
/// audio or video; an accepted sequence header must also pass the record checks.
pub fn flv(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    if which & 1 == 0 {
        match flv::parse_video(&body) {
            Ok(VideoTag::AvcSequenceHeader(avcc)) => {
                assert!(flv::validate_avcc(&avcc).is_ok());
            }
            Ok(VideoTag::AvcNalus { data, .. }) => {
                // NAL lengths tile the body exactly.
                let mut pos = 0usize;
                while pos < data.len() {
                    let len = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap());
                    pos += 4 + len as usize;
                }
                assert_eq!(pos, data.len());
            }
            _ => {}
        }
        let _ = flv::validate_avcc(&body);
    } else if let Ok(AudioTag::AacSequenceHeader(asc)) = flv::parse_audio(&body) {
        assert!(asc.len() >= 2);
    }
}

/// One step of an RTMP publisher, as the session fuzz target composes them.
#[derive(Debug, Arbitrary)]
pub enum SessionOp {
    /// Raw bytes on the wire.
    Bytes(Vec<u8>),
    Connect {
        live: bool,
        app_suffix: String,
    },
    Prepare,
    Publish {
        key: String,
        stream_id: u8,
    },
    Accept,
    Refuse,
    SetChunkSize(u32),
    WindowAck(u32),
    Ping(u32),
    Command {
        name: String,
        stream_id: u8,
        args: Vec<ArbValue>,
    },
    VideoConfig {
        sps: Vec<u8>,
        pps: Vec<u8>,
    },
    Video {
        timestamp: u32,
        keyframe: bool,
        cts: i16,
        nals: Vec<Vec<u8>>,
    },
    AudioConfig([u8; 2]),
    Audio {
        timestamp: u32,
        data: Vec<u8>,
    },
    Message {
        csid: u8,
        type_id: u8,
        stream_id: u8,
        timestamp: u32,
        payload: Vec<u8>,
    },
}

/// AMF0 values for command arguments.
#[derive(Debug, Arbitrary)]
pub enum ArbValue {
    Number(f64),
    Bool(bool),
    Str(String),
    Null,
    Object(Vec<(String, String)>),
}

impl ArbValue {
    fn amf(&self) -> Amf0Value {
        match self {
            ArbValue::Number(n) => Amf0Value::Number(*n),
            ArbValue::Bool(b) => Amf0Value::Boolean(*b),
            ArbValue::Str(s) => Amf0Value::string(s),
            ArbValue::Null => Amf0Value::Null,
            ArbValue::Object(props) => Amf0Value::Object(
                props
                    .iter()
                    .map(|(k, v)| (k.clone(), Amf0Value::string(v)))
                    .collect(),
            ),
        }
    }
}

fn command(stream_id: u32, values: &[Amf0Value]) -> Message {
    Message {
        type_id: msg_type::COMMAND_AMF0,
        stream_id,
        timestamp: 0,
        payload: amf0::encode_all(values).freeze(),
    }
}

fn op_bytes(op: &SessionOp, enc: &mut ChunkEncoder) -> Vec<u8> {
    let mut out = BytesMut::new();
    let s = Amf0Value::string;
    match op {
        SessionOp::Bytes(b) => return b.clone(),
        SessionOp::Connect { live, app_suffix } => {
            let app = if *live {
                format!("live{app_suffix}")
            } else {
                app_suffix.clone()
            };
            let info = Amf0Value::object([("app", s(&app)), ("type", s("nonprivate"))]);
            let m = command(0, &[s("connect"), Amf0Value::Number(1.0), info]);
            enc.encode(3, &m, &mut out);
        }
        SessionOp::Prepare => {
            for (txn, name) in [(2.0, "releaseStream"), (3.0, "FCPublish")] {
                let m = command(
                    0,
                    &[s(name), Amf0Value::Number(txn), Amf0Value::Null, s("k")],
                );
                enc.encode(3, &m, &mut out);
            }
            let m = command(
                0,
                &[s("createStream"), Amf0Value::Number(4.0), Amf0Value::Null],
            );
            enc.encode(3, &m, &mut out);
        }
        SessionOp::Publish { key, stream_id } => {
            let args = [
                s("publish"),
                Amf0Value::Number(5.0),
                Amf0Value::Null,
                s(key),
                s("live"),
            ];
            enc.encode(8, &command(u32::from(*stream_id), &args), &mut out);
        }
        SessionOp::Accept | SessionOp::Refuse => {}
        SessionOp::SetChunkSize(size) => {
            let size = size & 0x7FFF_FFFF;
            enc.encode(2, &Message::set_chunk_size(size), &mut out);
            // Sizes the decoder refuses end the session anyway.
            if size > 0 {
                enc.set_chunk_size(size.min(1 << 24));
            }
        }
        SessionOp::WindowAck(size) => enc.encode(2, &Message::window_ack_size(*size), &mut out),
        SessionOp::Ping(v) => enc.encode(2, &Message::user_control(6, *v), &mut out),
        SessionOp::Command {
            name,
            stream_id,
            args,
        } => {
            let mut values = vec![s(name), Amf0Value::Number(9.0)];
            values.extend(args.iter().map(ArbValue::amf));
            enc.encode(3, &command(u32::from(*stream_id), &values), &mut out);
        }
        SessionOp::VideoConfig { sps, pps } => {
            let mut body = vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1];
            let sps: Vec<u8> = std::iter::once(0x67).chain(sps.iter().copied()).collect();
            let pps: Vec<u8> = std::iter::once(0x68).chain(pps.iter().copied()).collect();
            body.extend_from_slice(&(sps.len() as u16).to_be_bytes());
            body.extend_from_slice(&sps);
            body.push(1);
            body.extend_from_slice(&(pps.len() as u16).to_be_bytes());
            body.extend_from_slice(&pps);
            enc.encode(6, &media(msg_type::VIDEO, 0, body), &mut out);
        }
        SessionOp::Video {
            timestamp,
            keyframe,
            cts,
            nals,
        } => {
            let cts = i32::from(*cts).to_be_bytes();
            let mut body = vec![
                if *keyframe { 0x17 } else { 0x27 },
                1,
                cts[1],
                cts[2],
                cts[3],
            ];
            for nal in nals {
                body.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                body.extend_from_slice(nal);
            }
            enc.encode(6, &media(msg_type::VIDEO, *timestamp, body), &mut out);
        }
        SessionOp::AudioConfig(asc) => {
            let body = vec![0xAF, 0, asc[0], asc[1]];
            enc.encode(4, &media(msg_type::AUDIO, 0, body), &mut out);
        }
        SessionOp::Audio { timestamp, data } => {
            let mut body = vec![0xAF, 1];
            body.extend_from_slice(data);
            enc.encode(4, &media(msg_type::AUDIO, *timestamp, body), &mut out);
        }
        SessionOp::Message {
            csid,
            type_id,
            stream_id,
            timestamp,
            payload,
        } => {
            let m = Message {
                type_id: *type_id,
                stream_id: u32::from(*stream_id),
                timestamp: *timestamp,
                payload: Bytes::copy_from_slice(payload),
            };
            enc.encode(3 + u32::from(*csid % 60), &m, &mut out);
        }
    }
    out.to_vec()
}

fn media(type_id: u8, timestamp: u32, body: Vec<u8>) -> Message {
    Message {
        type_id,
        stream_id: 1,
        timestamp,
        payload: Bytes::from(body),
    }
}

/// The RTMP session state machine driven by a publisher's steps (decoded from the
/// input with `arbitrary`). Checks: events come in protocol order (a configuration
/// before any frame, frames only while publishing, a valid avcC), the server's output
/// always decodes as a chunk stream, and nothing is processed after an error.
pub fn rtmp_session(data: &[u8]) {
    let Ok(ops) = Vec::<SessionOp>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut session = Session::new();
    let mut enc = ChunkEncoder::new();
    let mut replies = ChunkDecoder::new();
    let mut pending = false;
    let mut publishing = false;
    let mut configured = false;
    let mut failed = false;
    for op in &ops {
        let result = match op {
            SessionOp::Accept if pending => {
                pending = false;
                publishing = true;
                session.accept_publish()
            }
            SessionOp::Refuse if pending => {
                session.refuse_publish();
                failed = true;
                Ok(())
            }
            op => session.handle_input(&op_bytes(op, &mut enc)),
        };
        while let Some(out) = session.poll_transmit() {
            assert!(!out.is_empty());
            replies.push(&out);
        }
        while let Some(m) = replies
            .poll_message()
            .expect("server output is a chunk stream")
        {
            if m.type_id == msg_type::SET_CHUNK_SIZE {
                let size = m.payload_u32().expect("4-byte chunk size");
                replies.set_chunk_size(size).expect("valid chunk size");
            }
        }
        while let Some(event) = session.poll_event() {
            assert!(!failed, "event after the session failed: {event:?}");
            match event {
                Event::Publish { key } => {
                    assert!(!key.is_empty() && !key.contains('?'));
                    assert!(!publishing);
                    pending = true;
                }
                Event::Configure(config) => {
                    assert!(publishing && !configured);
                    match &config.video {
                        VideoConfig::H264 { avcc } => assert!(flv::validate_avcc(avcc).is_ok()),
                        VideoConfig::H265 { hvcc } => {
                            assert!(crate::codec::hevc::parse_hvcc(hvcc).is_ok())
                        }
                        VideoConfig::Av1 { av1c } => {
                            assert!(crate::codec::av1::parse_av1c(av1c).is_ok())
                        }
                    }
                    if let Some(AudioConfig::Aac { asc }) = &config.audio {
                        assert!(asc.len() >= 2);
                    }
                    configured = true;
                }
                Event::Frame(frame) => {
                    assert!(publishing && configured, "frame before configuration");
                    if let FrameKind::Video { .. } = frame.kind {
                        assert!(!frame.data.is_empty(), "empty video frame");
                    }
                }
                Event::Unpublish => {
                    assert!(publishing);
                    publishing = false;
                    configured = false;
                }
            }
        }
        if result.is_err() {
            failed = true;
        }
        if failed {
            assert!(!session.is_publishing(), "still publishing after an error");
        }
    }
}

/// WHIP signalling: the header checks and the offer inspection; an offer that passes
/// is then accepted as the endpoint would (str0m parses it and writes the answer).
pub fn whip_sdp(data: &[u8]) {
    let (head, body) = data.split_at(data.len().min(64));
    let head = String::from_utf8_lossy(head);
    let (auth, ct) = head.split_once('\n').unwrap_or((&head, ""));
    if let Ok(token) = signal::bearer_token(Some(auth)) {
        assert!(!token.is_empty() && token.trim() == token);
    }
    let _ = signal::check_content_type(Some(ct));
    let Ok((offer, summary)) = signal::inspect_offer(body) else {
        return;
    };
    assert!(!summary.video_codecs.is_empty());
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    let now = std::time::Instant::now();
    if let Ok(accepted) =
        crate::whip::session::WhipSession::accept(&offer, summary.opus_channels, local, now)
    {
        assert!(accepted.answer.starts_with("v=0"));
    }
}

/// Annex B access units to AVCC: every NAL unit but AUDs is kept, length-prefixed, in
/// order; an SPS and PPS found build an avcC that the RTMP side's checks accept.
pub fn annexb_avcc(data: &[u8]) {
    let nals: Vec<&[u8]> = h264::split_annex_b(data)
        .into_iter()
        .filter(|n| h264::nal_type(n) != Some(h264::NAL_AUD))
        .collect();
    let Ok(au) = h264::annex_b_to_avcc(data) else {
        assert!(nals.is_empty());
        return;
    };
    let mut pos = 0usize;
    for nal in &nals {
        let len = u32::from_be_bytes(au.avcc[pos..pos + 4].try_into().unwrap()) as usize;
        assert_eq!(&au.avcc[pos + 4..pos + 4 + len], *nal);
        pos += 4 + len;
    }
    assert_eq!(pos, au.avcc.len());
    assert_eq!(
        au.keyframe,
        nals.iter()
            .any(|n| h264::nal_type(n) == Some(h264::NAL_IDR))
    );
    if let (Some(sps), Some(pps)) = (&au.sps, &au.pps) {
        if let Ok(avcc) = h264::build_avcc(sps, pps) {
            assert!(flv::validate_avcc(&avcc).is_ok(), "built avcC refused");
        }
    }
}
