//! A real publisher: ffmpeg pushes H.264 + AAC to the RTMP server, and the hub hands
//! the packager one session with the right configuration and frames. Skipped (with
//! a message) when `ffmpeg` is not installed.

#![allow(clippy::unwrap_used)]

use amphi_ingest::hub::StaticKeys;
use amphi_ingest::rtmp::flv::validate_avcc;
use amphi_ingest::{AudioConfig, EventId, FrameKind, Hub, SessionMessage, VideoConfig};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::time::timeout;

fn ffmpeg_available() -> bool {
    std::process::Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("amphi_ingest=debug")
        .try_init();
}

async fn start_server() -> (
    u16,
    Hub,
    tokio::sync::mpsc::Receiver<amphi_ingest::PublishSession>,
) {
    init_logs();
    let mut keys = StaticKeys::default();
    keys.0
        .insert("lecture-key".into(), EventId::parse("ev1").unwrap());
    let (hub, sessions) = Hub::new(Arc::new(keys));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(amphi_ingest::rtmp::serve(listener, hub.clone()));
    (port, hub, sessions)
}

fn ffmpeg(port: u16, key: &str) -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "3", "-c:v", "libx264", "-preset", "veryfast"])
        .args(["-tune", "zerolatency", "-g", "60", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "128k", "-f", "flv"])
        .arg(format!("rtmp://127.0.0.1:{port}/live/{key}"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publishes_h264_and_aac() {
    if !ffmpeg_available() {
        eprintln!("SKIPPED: ffmpeg is not installed");
        return;
    }
    let (port, hub, mut sessions) = start_server().await;
    let mut child = ffmpeg(port, "lecture-key").spawn().unwrap();

    let mut session = timeout(Duration::from_secs(20), sessions.recv())
        .await
        .expect("a session within 20 s")
        .unwrap();
    assert_eq!(session.event.as_str(), "ev1");
    assert!(hub.is_live(&session.event));
    let collect = async {
        let mut msgs = Vec::new();
        while let Some(m) = session.messages.recv().await {
            msgs.push(m);
        }
        msgs
    };
    let msgs = timeout(Duration::from_secs(30), collect)
        .await
        .expect("the session ends when ffmpeg does");
    let status = timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "ffmpeg failed: {status}");

    let SessionMessage::Config(config) = &msgs[0] else {
        panic!("first message is not the config: {:?}", msgs[0]);
    };
    let VideoConfig::H264 { avcc } = &config.video else {
        panic!("H.264 expected: {:?}", config.video);
    };
    validate_avcc(avcc).unwrap();
    match &config.audio {
        Some(AudioConfig::Aac { asc }) => assert!(asc.len() >= 2),
        other => panic!("expected AAC, got {other:?}"),
    }

    let frames: Vec<_> = msgs[1..]
        .iter()
        .map(|m| match m {
            SessionMessage::Frame(f) => f,
            SessionMessage::Config(_) => panic!("a second config"),
        })
        .collect();
    let video: Vec<_> = frames
        .iter()
        .filter(|f| matches!(f.kind, FrameKind::Video { .. }))
        .collect();
    let audio: Vec<_> = frames
        .iter()
        .filter(|f| f.kind == FrameKind::Audio)
        .collect();
    assert!(video.len() >= 60, "{} video frames", video.len());
    assert!(audio.len() >= 50, "{} audio frames", audio.len());
    assert_eq!(video[0].kind, FrameKind::Video { keyframe: true });
    let keyframes: Vec<usize> = video
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind == FrameKind::Video { keyframe: true })
        .map(|(i, _)| i)
        .collect();
    assert!(keyframes.len() >= 2, "keyframes at {keyframes:?}");
    for gap in keyframes.windows(2).map(|w| w[1] - w[0]) {
        assert!((30..=60).contains(&gap), "keyframes at {keyframes:?}");
    }
    assert!(
        video.windows(2).all(|w| w[0].dts < w[1].dts),
        "video dts increase"
    );
    assert!(
        audio.windows(2).all(|w| w[0].dts <= w[1].dts),
        "audio dts never go back"
    );
    // 30 fps: 3000 ticks of 90 kHz between frames on average.
    let span = (video.last().unwrap().dts - video[0].dts).ticks();
    let per_frame = span / (video.len() as i64 - 1);
    assert!(
        (2900..=3100).contains(&per_frame),
        "{per_frame} ticks per frame"
    );
    for f in &video {
        assert!(f.pts >= f.dts);
        assert!(!f.data.is_empty());
    }
    assert!(
        !hub.is_live(&session.event),
        "event released after ffmpeg left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_with_a_wrong_key_is_refused() {
    if !ffmpeg_available() {
        eprintln!("SKIPPED: ffmpeg is not installed");
        return;
    }
    let (port, hub, mut sessions) = start_server().await;
    let status = timeout(
        Duration::from_secs(20),
        ffmpeg(port, "wrong-key").stderr(Stdio::null()).status(),
    )
    .await
    .expect("ffmpeg gives up within 20 s")
    .unwrap();
    assert!(!status.success(), "ffmpeg should fail");
    assert!(sessions.try_recv().is_err(), "no session");
    assert!(hub.live_events().is_empty());
}
