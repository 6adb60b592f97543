//! The connection glue over an in-memory duplex stream, with a real [`Hub`].

#![allow(clippy::unwrap_used)]

use super::*;
use crate::frame::{FrameKind, SessionMessage, StreamConfig, VideoConfig};
use crate::hub::{PublishSession, StaticKeys};
use crate::rtmp::budget::Expired;
use crate::rtmp::flv::tests::{audio_tag, video_tag, ASC, AVCC};
use crate::rtmp::message::{msg_type, Message};
use crate::rtmp::testutil::{garbage, status_code, Client};
use std::sync::Arc;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

const KEYFRAME: &[u8] = &[0, 0, 0, 3, 0x65, 0x88, 0x84];

fn hub() -> (Hub, mpsc::Receiver<PublishSession>) {
    let mut keys = StaticKeys::default();
    keys.0.insert("k1".into(), EventId::parse("ev1").unwrap());
    Hub::new(Arc::new(keys))
}

/// Starts a server connection; returns the client end and the connection's result.
fn start(hub: &Hub) -> (DuplexStream, tokio::task::JoinHandle<Result<(), ConnError>>) {
    let (client, server) = tokio::io::duplex(256 * 1024);
    let hub = hub.clone();
    let task = tokio::spawn(async move {
        Connection::new(server, hub, None, RtmpLimits::default())
            .run()
            .await
    });
    (client, task)
}

async fn handshake(s: &mut DuplexStream) {
    let mut c0c1 = vec![3u8];
    c0c1.extend(garbage(9, 1536));
    s.write_all(&c0c1).await.unwrap();
    let mut s0s1s2 = vec![0u8; 1 + 2 * 1536];
    s.read_exact(&mut s0s1s2).await.unwrap();
    assert_eq!(s0s1s2[0], 3);
    assert_eq!(&s0s1s2[1537..], &c0c1[1..]);
    s.write_all(&s0s1s2[1..1537]).await.unwrap();
}

/// Reads server messages until one satisfies `done`.
async fn read_until(
    s: &mut DuplexStream,
    client: &mut Client,
    done: impl Fn(&Message) -> bool,
) -> Vec<Message> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("server answers")
            .unwrap();
        assert!(n > 0, "server closed; got {got:?}");
        for m in client.read(&buf[..n]) {
            let finished = done(&m);
            got.push(m);
            if finished {
                return got;
            }
        }
    }
}

fn is_status(m: &Message) -> bool {
    m.type_id == msg_type::COMMAND_AMF0 && status_code(m).starts_with("NetStream.")
}

/// Handshake, connect, createStream, publish: returns the onStatus code.
async fn publish(s: &mut DuplexStream, client: &mut Client, key: &str) -> String {
    handshake(s).await;
    s.write_all(&client.connect("live")).await.unwrap();
    s.write_all(&client.prepare(key)).await.unwrap();
    s.write_all(&client.publish(key)).await.unwrap();
    let msgs = read_until(s, client, is_status).await;
    status_code(msgs.last().unwrap())
}

/// A connection that published `key` (asserted): the stream, the server task, the client.
async fn published(
    hub: &Hub,
    key: &str,
) -> (
    DuplexStream,
    tokio::task::JoinHandle<Result<(), ConnError>>,
    Client,
) {
    let (mut s, task) = start(hub);
    let mut c = Client::new();
    assert_eq!(
        publish(&mut s, &mut c, key).await,
        "NetStream.Publish.Start"
    );
    (s, task, c)
}

/// An AVC sequence header and a keyframe: what starts a session.
fn avc_start(c: &Client) -> bytes::BytesMut {
    let mut media = c.media(msg_type::VIDEO, 0, video_tag(1, 0, 0, AVCC));
    media.extend(c.media(msg_type::VIDEO, 0, video_tag(1, 1, 0, KEYFRAME)));
    media
}

/// Waits for the server to close `s` and checks it did so at `deadline` after `t0`
/// (simulated time: within 5 ms).
async fn closed_at(s: &mut DuplexStream, t0: tokio::time::Instant, deadline: Duration) {
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest).await;
    let closed = t0.elapsed();
    assert!(
        closed >= deadline && closed <= deadline + Duration::from_millis(5),
        "{closed:?}"
    );
}

/// Checks the connection task ended within `deadline` after `t0`, farewell included.
fn ended_by(t0: tokio::time::Instant, deadline: Duration) {
    assert!(t0.elapsed() <= deadline + FAREWELL_TIMEOUT + Duration::from_millis(5));
}

/// Writes `byte` once a second for `secs` seconds (a publisher that trickles).
fn trickle(mut s: DuplexStream, byte: u8, secs: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for _ in 0..secs {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if s.write_all(&[byte]).await.is_err() {
                break;
            }
        }
    })
}

#[tokio::test]
async fn publish_reaches_the_hub_as_config_then_frames() {
    let (hub, mut sessions) = hub();
    let (mut s, task, c) = published(&hub, "k1").await;
    let ev1 = EventId::parse("ev1").unwrap();
    assert!(hub.is_live(&ev1));

    let mut media = c.media(msg_type::DATA_AMF0, 0, Bytes::from_static(&[5]));
    media.extend(c.media(msg_type::VIDEO, 0, video_tag(1, 0, 0, AVCC)));
    media.extend(c.media(msg_type::AUDIO, 0, audio_tag(0, ASC)));
    media.extend(c.media(msg_type::VIDEO, 0, video_tag(1, 1, 0, KEYFRAME)));
    media.extend(c.media(msg_type::AUDIO, 21, audio_tag(1, &[1, 2, 3])));
    s.write_all(&media).await.unwrap();

    let mut session = sessions.recv().await.unwrap();
    assert_eq!(session.event, ev1);
    assert_eq!(session.protocol, Protocol::Rtmp);
    match session.messages.recv().await.unwrap() {
        SessionMessage::Config(StreamConfig {
            video: VideoConfig::H264 { avcc },
            audio: Some(_),
        }) => assert_eq!(&avcc[..], AVCC),
        other => panic!("expected the config, got {other:?}"),
    }
    match session.messages.recv().await.unwrap() {
        SessionMessage::Frame(f) => assert_eq!(f.kind, FrameKind::Video { keyframe: true }),
        other => panic!("expected a frame, got {other:?}"),
    }
    match session.messages.recv().await.unwrap() {
        SessionMessage::Frame(f) => {
            assert_eq!(f.kind, FrameKind::Audio);
            assert_eq!(f.dts, crate::MediaTime::from_millis(21));
        }
        other => panic!("expected a frame, got {other:?}"),
    }

    drop(s);
    assert!(matches!(task.await.unwrap(), Err(ConnError::Disconnected)));
    assert!(session.messages.recv().await.is_none(), "session ended");
    assert!(!hub.is_live(&ev1));
}

#[tokio::test]
async fn unknown_key_refused() {
    let (hub, mut sessions) = hub();
    let (mut s, task) = start(&hub);
    let mut c = Client::new();
    assert_eq!(
        publish(&mut s, &mut c, "nope").await,
        "NetStream.Publish.BadName"
    );
    let err = task.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("unknown stream key"), "{err}");
    assert!(!err.to_string().contains("nope"), "key in clear: {err}");
    assert!(sessions.try_recv().is_err());
    assert!(hub.live_events().is_empty());
}

#[tokio::test]
async fn second_publisher_takes_over_and_the_first_is_closed() {
    let (hub, mut sessions) = hub();
    let (mut s1, task1, mut c1) = published(&hub, "k1").await;
    s1.write_all(&avc_start(&c1)).await.unwrap();
    let mut first = sessions.recv().await.unwrap();
    assert!(matches!(
        first.messages.recv().await,
        Some(SessionMessage::Config(_))
    ));

    // The first publisher then goes silent (half-open); a second one publishes.
    let (mut s2, _task2, c2) = published(&hub, "k1").await;
    // The first connection is told why at once, its session ended, then it is closed.
    let msgs = read_until(&mut s1, &mut c1, is_status).await;
    assert_eq!(
        status_code(msgs.last().unwrap()),
        crate::rtmp::session::PUBLISH_REJECTED
    );
    assert!(matches!(
        first.messages.recv().await,
        Some(SessionMessage::Frame(_))
    ));
    let ended = timeout(Duration::from_secs(1), first.messages.recv()).await;
    assert!(matches!(ended, Ok(None)), "the first session ended at once");
    let mut rest = Vec::new();
    let _ = s1.read_to_end(&mut rest).await;
    drop(s1);
    let err = timeout(Duration::from_secs(5), task1)
        .await
        .expect("the first connection ends")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, ConnError::Ended(Ended::TakenOver(_))),
        "{err}"
    );

    s2.write_all(&avc_start(&c2)).await.unwrap();
    let mut second = sessions.recv().await.unwrap();
    assert!(matches!(
        second.messages.recv().await,
        Some(SessionMessage::Config(_))
    ));
    assert!(matches!(
        second.messages.recv().await,
        Some(SessionMessage::Frame(_))
    ));
    assert_eq!(hub.live_events().len(), 1);
}

#[tokio::test]
async fn garbage_after_handshake_disconnects() {
    let (hub, _sessions) = hub();
    let (mut s, task) = start(&hub);
    handshake(&mut s).await;
    s.write_all(&garbage(3, 4000)).await.unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert!(matches!(err, ConnError::Session(_)), "{err}");
    // The server closed its end.
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest).await;
    // Nobody else is disturbed: a publisher can still connect.
    published(&hub, "k1").await;
}

#[tokio::test]
async fn broken_avc_header_disconnects_and_releases_the_event() {
    let (hub, mut sessions) = hub();
    let (mut s, task, c) = published(&hub, "k1").await;
    let mut broken = AVCC.to_vec();
    broken[5] = 0xE0; // no SPS
    s.write_all(&c.media(msg_type::VIDEO, 0, video_tag(1, 0, 0, &broken)))
        .await
        .unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("no SPS"), "{err}");
    assert!(hub.live_events().is_empty());
    assert!(sessions.try_recv().is_err());
}

#[tokio::test]
async fn wrong_handshake_version_and_deadlines() {
    let (hub, _sessions) = hub();
    let (mut s, task) = start(&hub);
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert!(matches!(
        task.await.unwrap(),
        Err(ConnError::Handshake(HandshakeError::UnsupportedVersion(
            b'G'
        )))
    ));

    tokio::time::pause();
    // Silent from the start: closed at the establishing deadline.
    let (mut s, task) = start(&hub);
    let t0 = tokio::time::Instant::now();
    closed_at(&mut s, t0, RtmpLimits::default().establish).await;
    drop(s);
    assert!(matches!(
        task.await.unwrap(),
        Err(ConnError::Ended(Ended::Expired(Expired::Establish(_))))
    ));
    // Handshake and connect, then a byte a second: the same deadline.
    let (mut s, task) = start(&hub);
    let t0 = tokio::time::Instant::now();
    handshake(&mut s).await;
    s.write_all(&Client::new().connect("live")).await.unwrap();
    let trickle = trickle(s, 0x03, 30);
    assert!(matches!(
        task.await.unwrap(),
        Err(ConnError::Ended(Ended::Expired(Expired::Establish(_))))
    ));
    ended_by(t0, RtmpLimits::default().establish);
    trickle.abort();
}

#[tokio::test]
async fn publishers_that_go_silent_or_trickle_are_closed() {
    let (hub, _sessions) = hub();
    tokio::time::pause();
    let (mut s, task, _) = published(&hub, "k1").await;
    let t0 = tokio::time::Instant::now();
    closed_at(&mut s, t0, RtmpLimits::default().idle).await;
    drop(s);
    assert!(matches!(
        task.await.unwrap(),
        Err(ConnError::Ended(Ended::Expired(Expired::Idle(_))))
    ));
    ended_by(t0, RtmpLimits::default().idle);
    assert!(hub.live_events().is_empty(), "the event is released");

    let (mut s, task, _) = published(&hub, "k1").await;
    let t0 = tokio::time::Instant::now();
    // One byte a second of a large message: the idle time never runs out, the rate does.
    s.write_all(&[0x06, 0, 0, 0, 0, 0x40, 0, 9, 1, 0, 0, 0])
        .await
        .unwrap();
    let trickle = trickle(s, 0, 60);
    let err = task.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            ConnError::Ended(Ended::Expired(Expired::TooSlow { .. }))
        ),
        "{err}"
    );
    ended_by(t0, RtmpLimits::default().rate_window);
    trickle.abort();
}
