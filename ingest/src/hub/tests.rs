//! The hub's claims, takeovers and session hand-over, on simulated time.

use super::*;
use crate::frame::{EncodedFrame, FrameKind, MediaTime, StreamConfig, VideoConfig};
use bytes::Bytes;

fn hub() -> (Hub, mpsc::Receiver<PublishSession>) {
    let mut keys = StaticKeys::default();
    keys.0
        .insert("k1".into(), EventId::parse("ev1").expect("valid"));
    Hub::new(Arc::new(keys))
}

#[test]
fn event_id_validation() {
    assert!(EventId::parse("lecture-1_a").is_ok());
    assert!(EventId::parse("").is_err());
    assert!(EventId::parse("../x").is_err());
    assert!(EventId::parse("Upper").is_err());
    assert!(EventId::parse(&"a".repeat(65)).is_err());
}

/// A valid avcC (x264, High 3.0, 640x360-class SPS).
fn config() -> StreamConfig {
    StreamConfig {
        video: VideoConfig::H264 {
            avcc: Bytes::from_static(crate::rtmp::flv::tests::AVCC),
        },
        audio: None,
    }
}

fn frame(ms: i64) -> EncodedFrame {
    EncodedFrame {
        kind: FrameKind::Video { keyframe: ms == 0 },
        dts: MediaTime::from_millis(ms),
        pts: MediaTime::from_millis(ms),
        data: Bytes::from_static(b"f"),
    }
}

#[tokio::test]
async fn unknown_key_refused_and_one_session_per_publisher() {
    let (hub, mut sessions) = hub();
    assert!(matches!(
        hub.begin_publish("nope", Protocol::Rtmp),
        Err(PublishError::UnknownKey(_))
    ));
    let mut p = hub
        .begin_publish("k1", Protocol::Rtmp)
        .expect("first publisher");
    assert!(hub.is_live(p.event()));
    p.configure(config());
    p.send(frame(0)).await.expect("send");
    let mut s = sessions.recv().await.expect("session handed over");
    assert!(matches!(
        s.messages.recv().await,
        Some(SessionMessage::Config(_))
    ));
    assert!(matches!(
        s.messages.recv().await,
        Some(SessionMessage::Frame(_))
    ));
    let ev1 = EventId::parse("ev1").expect("valid");
    assert_eq!(hub.received_bytes(), vec![(ev1.clone(), 1)]);
    drop(p);
    assert!(s.messages.recv().await.is_none());
    assert!(!hub.is_live(&ev1));
    assert!(
        hub.received_bytes().is_empty(),
        "counted per live publisher"
    );
    assert!(hub.begin_publish("k1", Protocol::Rtmp).is_ok());
}

#[tokio::test]
async fn a_new_publish_takes_over_and_the_old_session_ends_first() {
    let (hub, mut sessions) = hub();
    let ev1 = EventId::parse("ev1").expect("valid");
    let mut old = hub
        .claim(ev1.clone(), Protocol::Rtmp, Some("10.0.0.x:1".into()))
        .expect("first publisher");
    old.configure(config());
    old.send(frame(0)).await.expect("send");
    let mut s1 = sessions.recv().await.expect("old session");
    let taken = old.taken_over();

    let mut new = hub
        .claim(ev1.clone(), Protocol::Whip, Some("10.0.0.x:2".into()))
        .expect("the same key takes over");
    // The old connection learns who took over; its session is closed already.
    let by = tokio::time::timeout(std::time::Duration::from_secs(1), taken)
        .await
        .expect("the old publisher is told at once");
    assert_eq!(by.protocol, Protocol::Whip);
    assert_eq!(by.peer.as_deref(), Some("10.0.0.x:2"));
    assert!(matches!(
        s1.messages.recv().await,
        Some(SessionMessage::Config(_))
    ));
    assert!(matches!(
        s1.messages.recv().await,
        Some(SessionMessage::Frame(_))
    ));
    assert!(s1.messages.recv().await.is_none(), "old session ended");
    // Nothing from the old publisher reaches the packager any more.
    assert_eq!(
        old.send(frame(40)).await,
        Err(PublishError::TakenOver(ev1.clone()))
    );
    new.configure(config());
    new.send(frame(0)).await.expect("new publisher sends");
    let mut s2 = sessions.recv().await.expect("new session");
    assert_eq!(s2.protocol, Protocol::Whip);
    assert!(matches!(
        s2.messages.recv().await,
        Some(SessionMessage::Config(_))
    ));
    // The old publisher going away does not release its successor's claim.
    drop(old);
    assert_eq!(hub.live_events(), vec![(ev1.clone(), Protocol::Whip)]);
    new.send(frame(40)).await.expect("still streaming");
    assert!(matches!(
        s2.messages.recv().await,
        Some(SessionMessage::Frame(_))
    ));
    drop(new);
    assert!(!hub.is_live(&ev1));
}

#[tokio::test]
async fn a_send_blocked_on_a_full_queue_is_abandoned_by_a_takeover() {
    let (hub, mut sessions) = hub();
    let mut old = hub.begin_publish("k1", Protocol::Rtmp).expect("publisher");
    old.configure(config());
    old.send(frame(0)).await.expect("send");
    let _s1 = sessions.recv().await.expect("session, never read");
    let blocked = tokio::spawn(async move {
        let mut ms = 40;
        loop {
            if let Err(e) = old.send(frame(ms)).await {
                return e;
            }
            ms += 40;
        }
    });
    tokio::task::yield_now().await;
    let _new = hub.begin_publish("k1", Protocol::Rtmp).expect("takes over");
    let e = tokio::time::timeout(std::time::Duration::from_secs(5), blocked)
        .await
        .expect("the blocked send ends")
        .expect("task");
    assert!(matches!(e, PublishError::TakenOver(_)), "{e:?}");
}

#[tokio::test]
async fn pulled_sources_and_events_without_takeover_wait() {
    struct NoTakeover(StaticKeys);
    impl KeyDirectory for NoTakeover {
        fn event_for_key(&self, key: &str) -> Option<EventId> {
            self.0.event_for_key(key)
        }
        fn takeover(&self, _event: &EventId) -> bool {
            false
        }
    }
    let (hub, _sessions) = hub();
    let ev1 = EventId::parse("ev1").expect("valid");
    let camera = hub
        .begin_publish_event(ev1.clone(), Protocol::Rtsp)
        .expect("camera");
    // A camera never takes over an encoder; an encoder takes over a camera.
    let encoder = hub.begin_publish("k1", Protocol::Rtmp).expect("encoder");
    assert!(camera.is_taken_over());
    assert!(matches!(
        hub.begin_publish_event(ev1.clone(), Protocol::Rtsp),
        Err(PublishError::AlreadyLive(_))
    ));
    drop(encoder);
    drop(camera);
    assert!(!hub.is_live(&ev1));

    let mut keys = StaticKeys::default();
    keys.0.insert("k1".into(), ev1.clone());
    let (hub, _sessions) = Hub::new(Arc::new(NoTakeover(keys)));
    let _first = hub.begin_publish("k1", Protocol::Rtmp).expect("first");
    assert!(matches!(
        hub.begin_publish("k1", Protocol::Rtmp),
        Err(PublishError::AlreadyLive(_))
    ));
}

#[tokio::test]
async fn sources_beyond_the_limits_are_refused_before_the_packager() {
    let mut keys = StaticKeys::default();
    keys.0
        .insert("k1".into(), EventId::parse("ev1").expect("valid"));
    let small = SourceLimits {
        max_width: 320,
        max_height: 240,
        ..SourceLimits::default()
    };
    let (hub, mut sessions) = Hub::with_limits(Arc::new(keys), small);
    let mut p = hub.begin_publish("k1", Protocol::Rtmp).expect("publisher");
    p.configure(config());
    let e = p.send(frame(0)).await.expect_err("too large");
    assert!(
        matches!(
            e,
            PublishError::SourceRefused {
                reason: SourceRefusal::TooLarge { .. },
                ..
            }
        ),
        "{e:?}"
    );
    drop(p);
    assert!(sessions.try_recv().is_err(), "the packager saw nothing");
}

#[tokio::test]
async fn a_panic_in_a_holder_or_a_publisher_task_touches_no_other_event() {
    let (hub, _sessions) = hub();
    let h = hub.clone();
    let poisoned = std::thread::spawn(move || h.panic_holding_the_lock()).join();
    assert!(poisoned.is_err(), "the holder panicked");
    // The hub still works after its lock was poisoned.
    let ev2 = EventId::parse("ev2").expect("valid");
    let _other = hub
        .begin_publish_event(ev2.clone(), Protocol::Demo)
        .expect("another event");
    // A publisher's task panics: its event is released, the other one stays.
    let h = hub.clone();
    let task = tokio::spawn(async move {
        let _p = h.begin_publish("k1", Protocol::Rtmp).expect("claim");
        panic!("a bug in a connection task");
    });
    assert!(task.await.is_err());
    assert_eq!(hub.live_events(), vec![(ev2, Protocol::Demo)]);
    assert!(hub.begin_publish("k1", Protocol::Rtmp).is_ok());
}
