//! Unit tests of the session state machine, driven by a scripted client.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::rtmp::flv::tests::{audio_tag, video_tag, ASC, AVCC};
use crate::rtmp::testutil::{status_code, values, Client};

const KEYFRAME: &[u8] = &[0, 0, 0, 3, 0x65, 0x88, 0x84];
const INTER: &[u8] = &[0, 0, 0, 2, 0x41, 0x9A];
const AAC: &[u8] = &[0x21, 0x10, 0x04];

fn output(s: &mut Session, client: &mut Client) -> Vec<Message> {
    let mut msgs = Vec::new();
    while let Some(b) = s.poll_transmit() {
        msgs.extend(client.read(&b));
    }
    msgs
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// A session that has accepted a publish with key `k1`.
fn publishing() -> (Session, Client) {
    let mut s = Session::new();
    let mut c = Client::new();
    s.handle_input(&c.connect("live")).unwrap();
    s.handle_input(&c.prepare("k1")).unwrap();
    s.handle_input(&c.publish("k1")).unwrap();
    assert_eq!(events(&mut s), vec![Event::Publish { key: "k1".into() }]);
    s.accept_publish().unwrap();
    output(&mut s, &mut c);
    (s, c)
}

#[test]
fn connect_create_stream_publish_exchange() {
    let mut s = Session::new();
    let mut c = Client::new();
    s.handle_input(&c.connect("live")).unwrap();
    let out = output(&mut s, &mut c);
    assert_eq!(out.len(), 4, "{out:?}");
    assert_eq!(out[0].type_id, msg_type::WINDOW_ACK_SIZE);
    assert_eq!(out[0].payload_u32(), Some(2_500_000));
    assert_eq!(out[1].type_id, msg_type::SET_PEER_BANDWIDTH);
    assert_eq!(&out[1].payload[..], &[0x00, 0x26, 0x25, 0xA0, 2]);
    assert_eq!(out[2].type_id, msg_type::SET_CHUNK_SIZE);
    assert_eq!(out[2].payload_u32(), Some(4096));
    assert_eq!(c.dec.chunk_size(), 4096);
    let v = values(&out[3]);
    assert_eq!(v[0].as_str(), Some("_result"));
    assert_eq!(v[1].as_number(), Some(1.0));
    assert_eq!(
        v[2].get("fmsVer").and_then(Amf0Value::as_str),
        Some("FMS/3,0,1,123")
    );
    assert_eq!(
        v[2].get("capabilities").and_then(Amf0Value::as_number),
        Some(31.0)
    );
    assert_eq!(status_code(&out[3]), "NetConnection.Connect.Success");
    assert_eq!(
        v[3].get("objectEncoding").and_then(Amf0Value::as_number),
        Some(0.0)
    );

    s.handle_input(&c.prepare("k1")).unwrap();
    let out = output(&mut s, &mut c);
    let txns: Vec<_> = out.iter().map(|m| values(m)[1].as_number()).collect();
    assert_eq!(txns, vec![Some(2.0), Some(3.0), Some(4.0)]);
    assert_eq!(values(&out[2])[3].as_number(), Some(1.0), "stream id 1");

    // Publish, with media right behind it in the same read: nothing more is
    // processed until the publish is answered.
    let mut input = c.publish("k1?token=abc");
    input.extend(c.media(msg_type::VIDEO, 0, video_tag(1, 0, 0, AVCC)));
    input.extend(c.media(msg_type::AUDIO, 0, audio_tag(0, ASC)));
    s.handle_input(&input).unwrap();
    assert_eq!(events(&mut s), vec![Event::Publish { key: "k1".into() }]);
    assert!(output(&mut s, &mut c).is_empty());
    s.accept_publish().unwrap();
    let out = output(&mut s, &mut c);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[0].user_control_event(),
        Some((user_control::STREAM_BEGIN, 1))
    );
    assert_eq!(out[1].stream_id, 1);
    assert_eq!(values(&out[1])[0].as_str(), Some("onStatus"));
    assert_eq!(status_code(&out[1]), "NetStream.Publish.Start");
    let config = StreamConfig {
        video: VideoConfig::H264 {
            avcc: Bytes::from_static(AVCC),
        },
        audio: Some(AudioConfig::Aac {
            asc: Bytes::from_static(ASC),
        }),
    };
    assert_eq!(events(&mut s), vec![Event::Configure(config)]);

    let mut input = c.media(msg_type::VIDEO, 1000, video_tag(1, 1, 66, KEYFRAME));
    input.extend(c.media(msg_type::AUDIO, 1010, audio_tag(1, AAC)));
    input.extend(c.media(msg_type::VIDEO, 1033, video_tag(2, 1, -33, INTER)));
    s.handle_input(&input).unwrap();
    let ev = events(&mut s);
    assert_eq!(
        ev,
        vec![
            Event::Frame(EncodedFrame {
                kind: FrameKind::Video { keyframe: true },
                dts: MediaTime::from_millis(1000),
                pts: MediaTime::from_millis(1066),
                data: Bytes::from_static(KEYFRAME),
            }),
            Event::Frame(EncodedFrame {
                kind: FrameKind::Audio,
                dts: MediaTime::from_millis(1010),
                pts: MediaTime::from_millis(1010),
                data: Bytes::from_static(AAC),
            }),
            Event::Frame(EncodedFrame {
                kind: FrameKind::Video { keyframe: false },
                dts: MediaTime::from_millis(1033),
                pts: MediaTime::from_millis(1000),
                data: Bytes::from_static(INTER),
            }),
        ]
    );

    s.handle_input(&c.command(
        0,
        &[
            Amf0Value::string("FCUnpublish"),
            Amf0Value::Number(6.0),
            Amf0Value::Null,
            Amf0Value::string("k1"),
        ],
    ))
    .unwrap();
    assert_eq!(events(&mut s), vec![Event::Unpublish]);
    assert!(!s.is_publishing());
}

#[test]
fn timestamps_are_relative_to_the_first_media_message() {
    let (mut s, c) = publishing();
    let mut input = c.media(msg_type::VIDEO, 5000, video_tag(1, 0, 0, AVCC));
    input.extend(c.media(msg_type::AUDIO, 5000, audio_tag(0, ASC)));
    input.extend(c.media(msg_type::AUDIO, 4990, audio_tag(1, AAC)));
    input.extend(c.media(msg_type::VIDEO, 5020, video_tag(1, 1, 0, KEYFRAME)));
    s.handle_input(&input).unwrap();
    let dts: Vec<_> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f.dts),
            _ => None,
        })
        .collect();
    assert_eq!(
        dts,
        vec![MediaTime::from_millis(-10), MediaTime::from_millis(20)]
    );
}

#[test]
fn video_only_when_no_audio_header_by_the_first_keyframe() {
    let (mut s, c) = publishing();
    let mut input = c.media(msg_type::VIDEO, 0, video_tag(1, 1, 0, KEYFRAME));
    input.extend(c.media(msg_type::VIDEO, 0, video_tag(1, 0, 0, AVCC)));
    input.extend(c.media(msg_type::VIDEO, 10, video_tag(2, 1, 0, INTER)));
    input.extend(c.media(msg_type::VIDEO, 20, video_tag(1, 1, 0, KEYFRAME)));
    input.extend(c.media(msg_type::AUDIO, 25, audio_tag(0, ASC)));
    input.extend(c.media(msg_type::AUDIO, 30, audio_tag(1, AAC)));
    input.extend(c.media(msg_type::VIDEO, 40, video_tag(2, 1, 0, INTER)));
    s.handle_input(&input).unwrap();
    let ev = events(&mut s);
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert!(matches!(
        &ev[0],
        Event::Configure(StreamConfig { audio: None, .. })
    ));
    assert!(
        matches!(&ev[1], Event::Frame(f) if f.kind == FrameKind::Video { keyframe: true } && f.dts == MediaTime::from_millis(20))
    );
    assert!(matches!(&ev[2], Event::Frame(f) if f.kind == FrameKind::Video { keyframe: false }));
}

#[test]
fn wrong_app_refused() {
    let mut s = Session::new();
    let mut c = Client::new();
    let err = s.handle_input(&c.connect("vod")).unwrap_err();
    assert_eq!(err, SessionError::WrongApp("vod".into()));
    let out = output(&mut s, &mut c);
    assert_eq!(values(&out[0])[0].as_str(), Some("_error"));
    assert_eq!(status_code(&out[0]), "NetConnection.Connect.Rejected");
    let err = Session::new()
        .handle_input(&c.connect("live/secretkey"))
        .unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");
    // "live/" and "live?x" are the same application.
    assert!(Session::new().handle_input(&c.connect("live/")).is_ok());
    assert!(Session::new().handle_input(&c.connect("live?x=1")).is_ok());
}

#[test]
fn refused_publish_gets_bad_name() {
    let mut s = Session::new();
    let mut c = Client::new();
    s.handle_input(&c.connect("live")).unwrap();
    s.handle_input(&c.prepare("nope")).unwrap();
    s.handle_input(&c.publish("nope")).unwrap();
    output(&mut s, &mut c);
    assert_eq!(events(&mut s), vec![Event::Publish { key: "nope".into() }]);
    s.refuse_publish();
    let out = output(&mut s, &mut c);
    assert_eq!(out.len(), 1);
    assert_eq!(status_code(&out[0]), "NetStream.Publish.BadName");
    assert_eq!(
        values(&out[0])[3].get("level"),
        Some(&Amf0Value::string("error"))
    );
    // Nothing more is processed.
    s.handle_input(&c.media(msg_type::VIDEO, 0, video_tag(1, 0, 0, AVCC)))
        .unwrap();
    assert!(events(&mut s).is_empty());
}

#[test]
fn protocol_errors() {
    let c = Client::new();
    let mut s = Session::new();
    s.handle_input(&c.connect("live")).unwrap();
    assert_eq!(
        s.handle_input(&c.media(msg_type::VIDEO, 0, video_tag(1, 0, 0, AVCC))),
        Err(SessionError::MediaBeforePublish { what: "video" })
    );

    let mut s = Session::new();
    assert!(matches!(
        s.handle_input(&c.prepare("k")),
        Err(SessionError::BeforeConnect(n)) if n == "releaseStream"
    ));

    let (mut s, c) = publishing();
    let mut broken = AVCC.to_vec();
    broken[0] = 2;
    let err = s
        .handle_input(&c.media(msg_type::VIDEO, 0, video_tag(1, 0, 0, &broken)))
        .unwrap_err();
    assert!(err.to_string().contains("configuration version"), "{err}");

    let (mut s, c) = publishing();
    let err = s
        .handle_input(&c.media(msg_type::VIDEO, 0, Bytes::from_static(&[0x12, 0, 0])))
        .unwrap_err();
    assert!(
        err.to_string().contains("unsupported video codec id 2"),
        "{err}"
    );
}

#[test]
fn acknowledgements_and_pings() {
    let mut s = Session::new();
    let mut c = Client::new();
    s.handle_input(&c.connect("live")).unwrap();
    output(&mut s, &mut c);
    let mut input = BytesMut::new();
    c.enc.encode(2, &Message::window_ack_size(500), &mut input);
    c.enc.encode(
        2,
        &Message::user_control(user_control::PING_REQUEST, 1234),
        &mut input,
    );
    s.handle_input(&input).unwrap();
    let out = output(&mut s, &mut c);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].user_control_event(),
        Some((user_control::PING_RESPONSE, 1234))
    );
    let total_before = s.received;
    // A large ignored data message crosses the window.
    let data = c.media(msg_type::DATA_AMF0, 0, Bytes::from(vec![5u8; 600]));
    s.handle_input(&data).unwrap();
    let out = output(&mut s, &mut c);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].type_id, msg_type::ACKNOWLEDGEMENT);
    assert_eq!(
        out[0].payload_u32(),
        Some((total_before + data.len() as u64) as u32)
    );
}

#[test]
fn garbage_never_panics() {
    for seed in 1..1000u64 {
        let c = Client::new();
        let mut s = Session::new();
        let _ = s.handle_input(&c.connect("live"));
        let data = crate::rtmp::testutil::garbage(seed, 16 + seed as usize % 500);
        for piece in data.chunks(1 + seed as usize % 37) {
            if s.handle_input(piece).is_err() {
                break;
            }
        }
        while s.poll_event().is_some() {}
        while s.poll_transmit().is_some() {}
    }
    // Garbage media while publishing.
    for seed in 1..1000u64 {
        let (mut s, c) = publishing();
        let body = Bytes::from(crate::rtmp::testutil::garbage(seed, seed as usize % 200));
        let type_id = if seed % 2 == 0 {
            msg_type::VIDEO
        } else {
            msg_type::AUDIO
        };
        let _ = s.handle_input(&c.media(type_id, seed as u32, body));
    }
}

#[test]
fn nothing_large_is_accepted_before_the_publish() {
    let mut s = Session::new();
    let mut c = Client::new();
    s.handle_input(&c.connect("live")).unwrap();
    output(&mut s, &mut c);
    // A 1 MiB message announced by a peer that has shown no key: refused at its header.
    let e = s
        .handle_input(&[0x04, 0, 0, 0, 0x10, 0, 0, 9, 1, 0, 0, 0])
        .unwrap_err();
    assert!(
        matches!(
            e,
            SessionError::Chunk(crate::rtmp::chunk::ChunkError::MessageTooLong { .. })
        ),
        "{e:?}"
    );
    // After the publish is accepted, full-size media is fine.
    let (mut s, c) = publishing();
    let big = vec![0u8; 200_000];
    let mut body = vec![0, 0, 0, 0];
    body[..4].copy_from_slice(&(big.len() as u32 - 4).to_be_bytes());
    let mut nal = body;
    nal.extend_from_slice(&big[4..]);
    s.handle_input(&c.media(msg_type::VIDEO, 0, video_tag(1, 0, 0, AVCC)))
        .unwrap();
    s.handle_input(&c.media(msg_type::VIDEO, 0, video_tag(1, 1, 0, &nal)))
        .unwrap();
    assert!(events(&mut s)
        .iter()
        .any(|e| matches!(e, Event::Frame(f) if f.data.len() == 200_000)));
}

#[test]
fn an_audio_only_publish_is_refused_with_a_reason() {
    let (mut s, mut c) = publishing();
    s.handle_input(&c.media(msg_type::AUDIO, 0, audio_tag(0, ASC)))
        .unwrap();
    let mut result = Ok(());
    for i in 0..300u32 {
        result = s.handle_input(&c.media(msg_type::AUDIO, i * 21, audio_tag(1, AAC)));
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(SessionError::AudioOnly));
    assert!(SessionError::AudioOnly
        .to_string()
        .contains("no H.264 video"));
    let out = output(&mut s, &mut c);
    assert_eq!(status_code(out.last().unwrap()), PUBLISH_REJECTED);
}

#[test]
fn a_stopped_publish_tells_the_peer_why() {
    let (mut s, mut c) = publishing();
    s.fail_publish("Another publisher took this event over.");
    let out = output(&mut s, &mut c);
    assert_eq!(status_code(&out[0]), PUBLISH_REJECTED);
    assert_eq!(
        values(&out[0])[3]
            .get("description")
            .and_then(Amf0Value::as_str),
        Some("Another publisher took this event over.")
    );
    assert!(!s.is_publishing());
}

/// Enhanced RTMP: a connect with `fourCcList` learns which codecs are ingested; a
/// plain connect's reply is unchanged.
#[test]
fn connect_with_four_cc_list_gets_the_accepted_codecs() {
    let mut s = Session::new();
    let mut c = Client::new();
    let connect = c.command(
        0,
        &[
            Amf0Value::string("connect"),
            Amf0Value::Number(1.0),
            Amf0Value::object([
                ("app", Amf0Value::string("live")),
                (
                    "fourCcList",
                    Amf0Value::StrictArray(vec![
                        Amf0Value::string("av01"),
                        Amf0Value::string("vp09"),
                        Amf0Value::string("hvc1"),
                    ]),
                ),
            ]),
        ],
    );
    s.handle_input(&connect).unwrap();
    let out = output(&mut s, &mut c);
    let v = values(&out[3]);
    assert_eq!(
        v[2].get("fourCcList"),
        Some(&Amf0Value::StrictArray(vec![
            Amf0Value::string("hvc1"),
            Amf0Value::string("av01"),
        ]))
    );
    let mut plain = Session::new();
    let mut c = Client::new();
    plain.handle_input(&c.connect("live")).unwrap();
    let out = output(&mut plain, &mut c);
    assert_eq!(values(&out[3])[2].get("fourCcList"), None);
}

/// An HEVC publish over Enhanced RTMP: the sequence start configures H.265, frames
/// of another codec are dropped, CodedFrames carry their composition offset.
#[test]
fn hevc_publish_configures_h265() {
    let hvcc = crate::codec::hevc::tests::HVCC_320X180;
    let (mut s, c) = publishing();
    let ex = |first: u8, rest: &[u8]| {
        let mut v = vec![first];
        v.extend(b"hvc1");
        v.extend(rest);
        Bytes::from(v)
    };
    s.handle_input(&c.media(msg_type::AUDIO, 0, audio_tag(0, ASC)))
        .unwrap();
    s.handle_input(&c.media(msg_type::VIDEO, 0, ex(0x90, hvcc)))
        .unwrap();
    let config = match events(&mut s).as_slice() {
        [Event::Configure(config)] => config.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        config.video,
        VideoConfig::H265 {
            hvcc: Bytes::from_static(hvcc)
        }
    );
    // An H.264 frame on an H.265 stream is dropped; an HEVC keyframe with a 66 ms
    // composition offset goes through.
    s.handle_input(&c.media(msg_type::VIDEO, 33, video_tag(1, 1, 0, KEYFRAME)))
        .unwrap();
    let mut coded = vec![0, 0, 66];
    coded.extend([0, 0, 0, 3, 0x26, 0x01, 0xAF]);
    s.handle_input(&c.media(msg_type::VIDEO, 66, ex(0x91, &coded)))
        .unwrap();
    match events(&mut s).as_slice() {
        [Event::Frame(f)] => {
            assert_eq!(f.kind, FrameKind::Video { keyframe: true });
            assert_eq!(f.pts, MediaTime::from_millis(132));
            assert_eq!(&f.data[..], &[0, 0, 0, 3, 0x26, 0x01, 0xAF]);
        }
        other => panic!("{other:?}"),
    }
}
