//! Sits between the ingest hub and the packager: every publish session passes through
//! a forwarder that shows each message to the session's [`IngestMeter`] and hands it on
//! unchanged. Back-pressure and endings pass through as they are: the forwarder waits
//! for the packager's queue, the packager sees the session end when the hub ends it,
//! and the hub sees the packager gone when the packager drops the session.

use super::meter::IngestMeter;
use super::HealthBoard;
use amphi_ingest::frame::SessionMessage;
use amphi_ingest::PublishSession;
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
    while let Some(message) = from.recv().await {
        {
            let mut m = meter.lock().unwrap_or_else(|p| p.into_inner());
            match &message {
                SessionMessage::Config(c) => m.on_config(c),
                SessionMessage::Frame(f) => m.on_frame(std::time::Instant::now(), f),
            }
        }
        if to.send(message).await.is_err() {
            tracing::debug!("the packager dropped the session");
            break;
        }
    }
    board.end_session(&event, id);
}
