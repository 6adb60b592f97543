//! Sits between the ingest hub and the packager: every publish session passes through
//! a forwarder that shows each message to the session's [`IngestMeter`] and hands it on
//! unchanged. Back-pressure and endings pass through as they are: the forwarder waits
//! for the packager's queue, the packager sees the session end when the hub ends it,
//! and the hub sees the packager gone when the packager drops the session.
//!
//! A session with audio also gets an [`AudioLevelProbe`], which decodes the audio on
//! the side to measure its level in dBFS; each new level goes to the meter. The probe
//! never blocks the forwarder (it skips frames when behind); if it cannot start or its
//! decoder fails, the meter falls back to inferring silence from the frame sizes.

use super::meter::IngestMeter;
use super::HealthBoard;
use amphi_ingest::frame::{FrameKind, SessionMessage, StreamConfig};
use amphi_ingest::PublishSession;
use amphi_packager::audio_level::AudioLevelProbe;
use amphi_time::sync::lock;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tracing::Instrument;

/// Messages held between the forwarder and the packager (the hub's queue before it
/// holds the rest).
pub const FORWARD_QUEUE: usize = 64;

/// Forwards `sessions` to the returned receiver, metering each into `board`.
pub fn tap(
    mut sessions: mpsc::Receiver<PublishSession>,
    board: HealthBoard,
) -> mpsc::Receiver<PublishSession> {
    let (out, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(session) = sessions.recv().await {
            let PublishSession {
                event,
                protocol,
                epoch,
                messages,
            } = session;
            let (tx, forwarded) = mpsc::channel(FORWARD_QUEUE);
            let meter = Arc::new(Mutex::new(IngestMeter::new()));
            let id = board.begin_session(event.as_str(), meter.clone());
            let span = tracing::debug_span!("health.tap", event = %event);
            tokio::spawn(
                forward(messages, tx, meter, board.clone(), event.to_string(), id).instrument(span),
            );
            let session = PublishSession {
                event,
                protocol,
                epoch,
                messages: forwarded,
            };
            if out.send(session).await.is_err() {
                // The packager is gone: dropping `sessions` tells the hub.
                return;
            }
        }
    });
    rx
}

async fn forward(
    mut from: mpsc::Receiver<SessionMessage>,
    to: mpsc::Sender<SessionMessage>,
    meter: Arc<Mutex<IngestMeter>>,
    board: HealthBoard,
    event: String,
    id: u64,
) {
    let mut probe: Option<AudioLevelProbe> = None;
    let mut seen_level = 0u64;
    while let Some(message) = from.recv().await {
        let now = std::time::Instant::now();
        let mut level = None;
        match &message {
            SessionMessage::Config(c) => {
                probe = start_probe(c);
                seen_level = 0;
            }
            SessionMessage::Frame(f) if f.kind == FrameKind::Audio => {
                if let Some(p) = &probe {
                    match p.push(f) {
                        Ok(_) => {
                            level = p.latest().filter(|r| r.seq > seen_level);
                        }
                        Err(e) => {
                            tracing::debug!(reason = %e, "audio level no longer measured");
                            probe = None;
                        }
                    }
                }
            }
            SessionMessage::Frame(_) => {}
        }
        {
            let mut m = lock(&meter);
            match &message {
                SessionMessage::Config(c) => m.on_config(c),
                SessionMessage::Frame(f) => m.on_frame(now, f),
            }
            if let Some(r) = level {
                seen_level = r.seq;
                m.on_level(now, r.level);
            }
        }
        if to.send(message).await.is_err() {
            tracing::debug!("the packager dropped the session");
            break;
        }
    }
    board.end_session(&event, id);
}

/// A level probe for `config`'s audio, if it has audio and the probe can run.
fn start_probe(config: &StreamConfig) -> Option<AudioLevelProbe> {
    let audio = config.audio.as_ref()?;
    let started = amphi_packager::init()
        .map_err(|e| e.to_string())
        .and_then(|()| AudioLevelProbe::start(audio).map_err(|e| e.to_string()));
    match started {
        Ok(p) => Some(p),
        Err(reason) => {
            tracing::warn!(%reason, "audio level not measured: silence is inferred from the frame sizes");
            None
        }
    }
}
