//! The tokio glue: one task per camera runs `retina` sessions one after another,
//! feeds their frames to a [`Publisher`], and waits with [`Backoff`] between them.
//!
//! Every camera runs in an `rtsp` span (event id, URL without password). Each ended
//! attempt logs one `warn!` line with the reason and the next wait.

use super::backoff::Backoff;
use super::timeline::{Placement, Timeline};
use super::{RtspSource, Transport};
use crate::frame::{AudioConfig, EncodedFrame, FrameKind, StreamConfig, VideoConfig};
use crate::hub::{Hub, Protocol, PublishError, Publisher};
use bytes::Bytes;
use futures::StreamExt;
use retina::client::{
    Demuxed, InitialTimestampPolicy, PlayOptions, Session, SessionOptions, SetupOptions,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use tokio::time::timeout;
use tracing::{debug, warn, Instrument};

/// Time allowed for each of DESCRIBE, SETUP and PLAY.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A camera that sends nothing for this long is dropped and pulled again.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// While another publisher has the event, the puller looks again this often.
pub const LIVE_ELSEWHERE_RETRY: Duration = Duration::from_secs(5);
/// A jump of the camera's clock larger than this ends the session.
const MAX_TIMESTAMP_JUMP_SECS: u32 = 10;
/// Longest error text kept from `retina` (its messages add packet context lines).
const MAX_DETAIL: usize = 300;

#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{step} timed out after {} s", REQUEST_TIMEOUT.as_secs())]
    Timeout { step: &'static str },
    #[error("the camera refused the credentials ({step} answered 401 Unauthorized): check the user name and password in the RTSP URL")]
    Unauthorized { step: &'static str },
    #[error("{step} failed: {detail}")]
    Rtsp { step: &'static str, detail: String },
    #[error("the camera offers no H.264 video (it offers: {0})")]
    NoH264Video(String),
    #[error("no media from the camera for {} s", STALL_TIMEOUT.as_secs())]
    Stalled,
    #[error("the camera ended the stream")]
    Ended,
    #[error("{0}")]
    Publish(#[from] PublishError),
}

impl PullError {
    fn rtsp(step: &'static str, e: retina::Error) -> PullError {
        if e.status_code() == Some(401) {
            return PullError::Unauthorized { step };
        }
        // The first line says what happened; the rest is connection and packet context.
        let text = e.to_string();
        let mut detail: String = text.lines().next().unwrap_or("").to_owned();
        if detail.len() > MAX_DETAIL {
            let mut end = MAX_DETAIL;
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
            detail.push('…');
        }
        debug!(step, error = %text, "rtsp error in full");
        PullError::Rtsp { step, detail }
    }
}

/// Pulls `source` into its event for as long as the task runs: reconnects after any
/// failure with exponential backoff, and waits while another publisher has the event.
pub async fn run(hub: Hub, source: RtspSource) {
    let span = tracing::info_span!("rtsp", event = %source.event, url = %source.url);
    pull_forever(hub, source).instrument(span).await
}

async fn pull_forever(hub: Hub, source: RtspSource) {
    let mut backoff = Backoff::default();
    let mut waiting = false;
    debug!(transport = %source.transport, "pulling the event from an RTSP camera");
    loop {
        if hub.is_live(&source.event) {
            if !waiting {
                warn!("event is live from another publisher; the camera waits");
                waiting = true;
            }
            tokio::time::sleep(LIVE_ELSEWHERE_RETRY).await;
            continue;
        }
        let mut published_at = None;
        let result = pull_once(&hub, &source, &mut published_at).await;
        let ran = published_at.map_or(Duration::ZERO, |t: Instant| t.elapsed());
        match result {
            Err(PullError::Publish(PublishError::AlreadyLive(_))) => {
                if !waiting {
                    warn!("event is live from another publisher; the camera waits");
                    waiting = true;
                }
                tokio::time::sleep(LIVE_ELSEWHERE_RETRY).await;
            }
            Err(PullError::Publish(PublishError::TakenOver(_))) => {
                // An encoder published to the event: it has the event until it leaves,
                // then the camera takes it again.
                warn!("an encoder took the event over; the camera waits until it leaves");
                waiting = true;
                tokio::time::sleep(LIVE_ELSEWHERE_RETRY).await;
            }
            Err(reason) => {
                waiting = false;
                let wait = backoff.after_attempt(ran);
                warn!(
                    event = %source.event,
                    url = %source.url,
                    published_s = ran.as_secs(),
                    retry_in_s = wait.as_secs_f32(),
                    "rtsp camera failed: {reason}"
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// What one publish session needs from the camera's parameters.
struct Codecs {
    video_stream: usize,
    audio_stream: Option<usize>,
    avcc: Option<Bytes>,
    asc: Option<Bytes>,
}

/// One camera session, from DESCRIBE until it fails (it never ends well: a camera
/// stream has no end). `published_at` is set when the first frame is published.
async fn pull_once(
    hub: &Hub,
    source: &RtspSource,
    published_at: &mut Option<Instant>,
) -> Result<std::convert::Infallible, PullError> {
    let (mut demuxed, mut codecs) = start(source).await?;
    let mut timeline = Timeline::new();
    let mut publisher: Option<Publisher> = None;
    loop {
        let item = match timeout(STALL_TIMEOUT, demuxed.next()).await {
            Err(_) => return Err(PullError::Stalled),
            Ok(None) => return Err(PullError::Ended),
            Ok(Some(Err(e))) => return Err(PullError::rtsp("PLAY", e)),
            Ok(Some(Ok(item))) => item,
        };
        match item {
            CodecItem::VideoFrame(frame) if frame.stream_id() == codecs.video_stream => {
                if frame.has_new_parameters() || codecs.avcc.is_none() {
                    let avcc = video_avcc(&demuxed, codecs.video_stream);
                    if publisher.is_some() && avcc != codecs.avcc {
                        // The packager's configuration is fixed per session: start a
                        // new one at the next keyframe.
                        debug!("the camera changed its video parameters; new session");
                        publisher = None;
                        timeline = Timeline::new();
                    }
                    codecs.avcc = avcc;
                }
                let Some(avcc) = codecs.avcc.clone() else {
                    continue; // no SPS/PPS yet: nothing is decodable
                };
                let ts = frame.timestamp();
                let keyframe = frame.is_random_access_point();
                let Placement::At { dts, pts } =
                    timeline.video(ts.elapsed(), ts.clock_rate().get(), keyframe)
                else {
                    continue;
                };
                let p = match &mut publisher {
                    Some(p) => p,
                    None => {
                        let mut p =
                            hub.begin_publish_event(source.event.clone(), Protocol::Rtsp)?;
                        p.configure(StreamConfig {
                            video: VideoConfig::H264 { avcc },
                            audio: codecs.asc.clone().map(|asc| AudioConfig::Aac { asc }),
                        });
                        debug!(audio = codecs.asc.is_some(), "publishing from the camera");
                        published_at.get_or_insert_with(Instant::now);
                        publisher.insert(p)
                    }
                };
                p.send(EncodedFrame {
                    kind: FrameKind::Video { keyframe },
                    dts,
                    pts,
                    data: Bytes::from(frame.into_data()),
                })
                .await?;
            }
            CodecItem::AudioFrame(frame) if Some(frame.stream_id()) == codecs.audio_stream => {
                let Some(p) = &mut publisher else { continue };
                let ts = frame.timestamp();
                if let Placement::At { dts, pts } =
                    timeline.audio(ts.elapsed(), ts.clock_rate().get())
                {
                    p.send(EncodedFrame {
                        kind: FrameKind::Audio,
                        dts,
                        pts,
                        data: Bytes::copy_from_slice(frame.data()),
                    })
                    .await?;
                }
            }
            _ => {}
        }
    }
}

/// DESCRIBE, SETUP of the H.264 stream and the first AAC stream, PLAY.
async fn start(source: &RtspSource) -> Result<(Demuxed, Codecs), PullError> {
    let credentials = source
        .url
        .credentials
        .as_ref()
        .map(|c| retina::client::Credentials {
            username: c.username.clone(),
            password: c.password.clone(),
        });
    let options = SessionOptions::default()
        .creds(credentials)
        .user_agent(format!("Amphi/{}", env!("CARGO_PKG_VERSION")));
    let mut session = timeout(
        REQUEST_TIMEOUT,
        Session::describe(source.url.url.clone(), options),
    )
    .await
    .map_err(|_| PullError::Timeout { step: "DESCRIBE" })?
    .map_err(|e| PullError::rtsp("DESCRIBE", e))?;

    let streams = session.streams();
    let video_stream = streams
        .iter()
        .position(|s| s.media() == "video" && s.encoding_name() == "h264")
        .ok_or_else(|| {
            let offered: Vec<String> = streams
                .iter()
                .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                .collect();
            PullError::NoH264Video(offered.join(", "))
        })?;
    let audio_stream = streams
        .iter()
        .position(|s| s.media() == "audio" && s.encoding_name() == "mpeg4-generic");
    if audio_stream.is_none() {
        if let Some(other) = streams.iter().find(|s| s.media() == "audio") {
            warn!(
                codec = other.encoding_name(),
                "the camera's audio is not AAC; publishing video only"
            );
        }
    }

    let transport = match source.transport {
        Transport::Tcp => retina::client::Transport::default(),
        Transport::Udp => retina::client::Transport::Udp(Default::default()),
    };
    for i in std::iter::once(video_stream).chain(audio_stream) {
        let setup = SetupOptions::default()
            .transport(transport.clone())
            .frame_format(FrameFormat::MP4);
        timeout(REQUEST_TIMEOUT, session.setup(i, setup))
            .await
            .map_err(|_| PullError::Timeout { step: "SETUP" })?
            .map_err(|e| PullError::rtsp("SETUP", e))?;
    }
    let play = PlayOptions::default()
        .initial_timestamp(InitialTimestampPolicy::Permissive)
        .enforce_timestamps_with_max_jump_secs(
            NonZeroU32::new(MAX_TIMESTAMP_JUMP_SECS).unwrap_or(NonZeroU32::MIN),
        );
    let playing = timeout(REQUEST_TIMEOUT, session.play(play))
        .await
        .map_err(|_| PullError::Timeout { step: "PLAY" })?
        .map_err(|e| PullError::rtsp("PLAY", e))?;
    let demuxed = playing.demuxed().map_err(|e| PullError::rtsp("PLAY", e))?;

    let avcc = video_avcc(&demuxed, video_stream);
    let asc = audio_stream.and_then(|i| match demuxed.streams().get(i)?.parameters()? {
        ParametersRef::Audio(a) if !a.extra_data().is_empty() => {
            Some(Bytes::copy_from_slice(a.extra_data()))
        }
        _ => None,
    });
    if audio_stream.is_some() && asc.is_none() {
        warn!("the camera's AAC stream has no AudioSpecificConfig; publishing video only");
    }
    let codecs = Codecs {
        video_stream,
        audio_stream: audio_stream.filter(|_| asc.is_some()),
        avcc,
        asc,
    };
    debug!(
        video_stream,
        audio_stream = ?codecs.audio_stream,
        "camera session playing"
    );
    Ok((demuxed, codecs))
}

/// The H.264 stream's current avcC (AVCDecoderConfigurationRecord), once known.
fn video_avcc(demuxed: &Demuxed, stream: usize) -> Option<Bytes> {
    match demuxed.streams().get(stream)?.parameters()? {
        ParametersRef::Video(v) if !v.extra_data().is_empty() => {
            Some(Bytes::copy_from_slice(v.extra_data()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{EventId, StaticKeys};
    use crate::rtsp::SourceUrl;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn source(port: u16) -> RtspSource {
        RtspSource {
            event: EventId::parse("cam").expect("valid"),
            url: SourceUrl::parse(&format!("rtsp://u:pw@127.0.0.1:{port}/cam")).expect("valid"),
            transport: Transport::Tcp,
        }
    }

    /// A "camera" that answers every request with `reply` (`{cseq}` replaced by the
    /// request's CSeq).
    async fn fake_camera(reply: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let req = String::from_utf8_lossy(&buf[..n]);
                        let cseq = req
                            .lines()
                            .find_map(|l| l.strip_prefix("CSeq: "))
                            .unwrap_or("1")
                            .trim()
                            .to_owned();
                        let out = reply.replace("{cseq}", &cseq);
                        if s.write_all(out.as_bytes()).await.is_err() || reply.is_empty() {
                            break;
                        }
                    }
                });
            }
        });
        port
    }

    async fn attempt(port: u16) -> PullError {
        let (hub, _sessions) = Hub::new(Arc::new(StaticKeys::default()));
        let mut at = None;
        match pull_once(&hub, &source(port), &mut at).await {
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn garbage_and_refusals_are_errors_not_panics() {
        for reply in [
            "\u{0}\u{ff} garbage \r\n\r\n",
            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Length: 99999999999\r\n\r\n",
            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\nContent-Length: 12\r\n\r\nv=0\r\nbogus\r\n",
            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\nContent-Length: 62\r\n\r\nv=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n",
            "RTSP/1.0 404 Not Found\r\nCSeq: {cseq}\r\n\r\n",
            "",
        ] {
            let e = attempt(fake_camera(reply).await).await;
            assert!(!e.to_string().contains("pw@"), "{e}");
        }
    }

    #[tokio::test]
    async fn wrong_credentials_have_a_clear_reason() {
        let port = fake_camera(
            "RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Basic realm=\"cam\"\r\n\r\n",
        )
        .await;
        let e = attempt(port).await;
        assert!(matches!(e, PullError::Unauthorized { .. }), "{e}");
        assert!(e.to_string().contains("user name and password"), "{e}");
    }

    #[tokio::test]
    async fn nothing_listening_is_a_connect_error() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            l.local_addr().expect("addr").port()
        };
        let e = attempt(port).await;
        assert!(
            matches!(
                e,
                PullError::Rtsp {
                    step: "DESCRIBE",
                    ..
                }
            ),
            "{e}"
        );
    }
}
