//! One SSE panel: a snapshot or a replay from `Last-Event-ID`, then the live
//! changes of its event, then keep-alive comments. The frames come from the
//! [`crate::store::Hub`] already serialised; a panel only clones `Bytes`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, Interval};

use crate::error::{QaError, StoreError};
use crate::events::{sse_frame, Change, ChangeRecord, SSE_KEEPALIVE};
use crate::model::{sort_for_display, PublicQuestion, Question};
use crate::store::QaStore;

/// Interval of `: keep-alive` comments.
pub const KEEPALIVE: Duration = Duration::from_secs(15);
/// Most changes replayed on resume; further behind, a fresh snapshot is sent.
pub const MAX_REPLAY: u32 = 1000;
/// Reconnection delay suggested to EventSource, ms.
pub const RETRY_MS: u32 = 2000;

/// Who the panel is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Viewer,
    Moderator,
}

#[derive(Serialize)]
struct SnapshotMsg<Q> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: i64,
    questions: Vec<Q>,
}

/// JSON of the questions a view may see, in display order.
pub fn questions_json(
    view: View,
    seq: i64,
    mut questions: Vec<Question>,
    kind: &'static str,
) -> Result<String, StoreError> {
    sort_for_display(&mut questions);
    Ok(match view {
        View::Moderator => serde_json::to_string(&SnapshotMsg {
            kind,
            seq,
            questions,
        })?,
        View::Viewer => {
            let visible: Vec<PublicQuestion<'_>> = questions
                .iter()
                .filter(|q| q.status.visible_to_viewers())
                .map(Question::public)
                .collect();
            serde_json::to_string(&SnapshotMsg {
                kind,
                seq,
                questions: visible,
            })?
        }
    })
}

fn frame_for(view: View, c: &Change) -> Option<Bytes> {
    match view {
        View::Moderator => Some(c.moderator.clone()),
        View::Viewer => c.viewer.clone(),
    }
}

struct Panel {
    store: Arc<dyn QaStore>,
    event: String,
    view: View,
    last_seq: i64,
    rx: broadcast::Receiver<Arc<Change>>,
    queue: VecDeque<Bytes>,
    keepalive: Interval,
    done: bool,
}

impl Panel {
    fn push_records(&mut self, records: Vec<ChangeRecord>) {
        for r in records {
            if r.seq <= self.last_seq {
                continue;
            }
            self.last_seq = r.seq;
            let c = Change::from(r);
            if let Some(f) = frame_for(self.view, &c) {
                self.queue.push_back(f);
            }
        }
    }

    async fn snapshot(&mut self) -> Result<(), QaError> {
        let snap = self.store.snapshot(&self.event).await?;
        let json = questions_json(self.view, snap.seq, snap.questions, "snapshot")?;
        self.last_seq = snap.seq;
        self.queue.push_back(sse_frame(snap.seq, &json));
        Ok(())
    }

    async fn next(mut self) -> Option<(Bytes, Panel)> {
        loop {
            if let Some(b) = self.queue.pop_front() {
                return Some((b, self));
            }
            if self.done {
                return None;
            }
            tokio::select! {
                r = self.rx.recv() => match r {
                    Ok(c) => {
                        if c.seq <= self.last_seq {
                            continue;
                        }
                        self.last_seq = c.seq;
                        if let Some(f) = frame_for(self.view, &c) {
                            self.keepalive.reset();
                            return Some((f, self));
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::debug!(event = %self.event, skipped = n, "sse panel lagged; replaying from the database");
                        match self.store.changes_since(&self.event, self.last_seq, MAX_REPLAY).await {
                            Ok(records) => self.push_records(records),
                            // Let the client reconnect with Last-Event-ID.
                            Err(_) => self.done = true,
                        }
                    }
                    Err(RecvError::Closed) => self.done = true,
                },
                _ = self.keepalive.tick() => {
                    return Some((Bytes::from_static(SSE_KEEPALIVE), self));
                }
            }
        }
    }
}

/// Opens a panel stream for `event`. Subscribes before reading the database so
/// nothing committed in between is lost; duplicates are dropped by sequence.
pub async fn open(
    store: Arc<dyn QaStore>,
    event: String,
    view: View,
    last_event_id: Option<i64>,
) -> Result<impl Stream<Item = Bytes> + Send + 'static, QaError> {
    let rx = store.hub().subscribe(&event);
    let mut panel = Panel {
        store,
        event,
        view,
        last_seq: 0,
        rx,
        queue: VecDeque::new(),
        keepalive: tokio::time::interval_at(Instant::now() + KEEPALIVE, KEEPALIVE),
        done: false,
    };
    panel
        .queue
        .push_back(Bytes::from(format!("retry: {RETRY_MS}\n\n")));
    match last_event_id {
        Some(last) if last >= 0 => {
            let records = panel
                .store
                .changes_since(&panel.event, last, MAX_REPLAY)
                .await?;
            if records.len() >= MAX_REPLAY as usize {
                panel.snapshot().await?;
            } else {
                panel.last_seq = last;
                panel.push_records(records);
            }
        }
        _ => panel.snapshot().await?,
    }
    Ok(futures_util::stream::unfold(panel, Panel::next))
}
