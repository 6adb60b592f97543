//! Live-update events ([`QaEvent`]) and the change records the database keeps
//! for them. Every change is serialised once, when it is made, into a moderator
//! form and (when viewers may see it) a viewer form; the SSE frames built from
//! those strings are shared by every connected panel.

use bytes::Bytes;
use serde::Serialize;

use crate::model::{ProgramTime, PublicQuestion, Question};

/// What changed. Serialised with a `type` tag, e.g. `{"type":"votes_changed",..}`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum QaEventKind<Q> {
    QuestionCreated {
        question: Q,
    },
    QuestionUpdated {
        question: Q,
    },
    VotesChanged {
        id: i64,
        votes: u32,
    },
    PinnedChanged {
        id: i64,
        pinned: bool,
    },
    /// Viewers only: a question they could see is no longer visible.
    QuestionRemoved {
        id: i64,
    },
}

/// One live update as sent to panels.
#[derive(Debug, Clone, Serialize)]
pub struct QaEvent<Q> {
    /// Per-event change sequence (also the SSE `id:`).
    pub seq: i64,
    /// Wall clock of the change, ms since epoch.
    pub at: i64,
    /// Program time (EXT-X-PROGRAM-DATE-TIME, ms) the change relates to, when known:
    /// the asker's for new questions, the moderator's for moderator actions.
    pub program_time: Option<ProgramTime>,
    #[serde(flatten)]
    pub kind: QaEventKind<Q>,
}

/// A change as stored in `qa_changes`: JSON for moderators and, when viewers may
/// see it, for viewers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    pub event: String,
    pub seq: i64,
    pub moderator: String,
    pub viewer: Option<String>,
}

/// A change ready to fan out: SSE frames built once.
#[derive(Debug, Clone)]
pub struct Change {
    pub event: String,
    pub seq: i64,
    pub moderator: Bytes,
    pub viewer: Option<Bytes>,
}

impl From<ChangeRecord> for Change {
    fn from(r: ChangeRecord) -> Change {
        Change {
            moderator: sse_frame(r.seq, &r.moderator),
            viewer: r.viewer.as_deref().map(|v| sse_frame(r.seq, v)),
            event: r.event,
            seq: r.seq,
        }
    }
}

/// One SSE message: `id: <seq>\ndata: <json>\n\n`. The JSON is a single line
/// (serde_json escapes newlines inside strings), so one `data:` line suffices.
pub fn sse_frame(seq: i64, json: &str) -> Bytes {
    Bytes::from(format!("id: {seq}\ndata: {json}\n\n"))
}

/// The keep-alive comment sent every 15 s.
pub const SSE_KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// Context shared by the events of one change.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub seq: i64,
    pub at: i64,
    pub program_time: Option<ProgramTime>,
}

fn to_json<Q: Serialize>(stamp: Stamp, kind: QaEventKind<Q>) -> Result<String, serde_json::Error> {
    serde_json::to_string(&QaEvent {
        seq: stamp.seq,
        at: stamp.at,
        program_time: stamp.program_time,
        kind,
    })
}

/// A question was created (`created`) or changed state. `was_visible` tells
/// whether viewers could see it before, so they learn when it disappears.
pub fn question_change(
    stamp: Stamp,
    q: &Question,
    created: bool,
    was_visible: bool,
) -> Result<ChangeRecord, serde_json::Error> {
    fn kind<Q>(created: bool, question: Q) -> QaEventKind<Q> {
        if created {
            QaEventKind::QuestionCreated { question }
        } else {
            QaEventKind::QuestionUpdated { question }
        }
    }
    let moderator = to_json(stamp, kind(created, q))?;
    let viewer = if q.status.visible_to_viewers() {
        Some(to_json::<PublicQuestion<'_>>(
            stamp,
            kind(created, q.public()),
        )?)
    } else if was_visible {
        Some(to_json::<()>(
            stamp,
            QaEventKind::QuestionRemoved { id: q.id },
        )?)
    } else {
        None
    };
    Ok(ChangeRecord {
        event: q.event.clone(),
        seq: stamp.seq,
        moderator,
        viewer,
    })
}

/// The vote count of a question changed.
pub fn votes_change(stamp: Stamp, q: &Question) -> Result<ChangeRecord, serde_json::Error> {
    let kind = QaEventKind::VotesChanged {
        id: q.id,
        votes: q.votes,
    };
    same_for_all(stamp, q, kind)
}

/// A question was pinned or unpinned (alone: without another state change).
pub fn pinned_change(stamp: Stamp, q: &Question) -> Result<ChangeRecord, serde_json::Error> {
    let kind = QaEventKind::PinnedChanged {
        id: q.id,
        pinned: q.pinned,
    };
    same_for_all(stamp, q, kind)
}

/// A change of `q` that reads the same for moderators and viewers; viewers get it
/// while they can see `q`.
fn same_for_all(
    stamp: Stamp,
    q: &Question,
    kind: QaEventKind<()>,
) -> Result<ChangeRecord, serde_json::Error> {
    let json = to_json(stamp, kind)?;
    Ok(ChangeRecord {
        event: q.event.clone(),
        seq: stamp.seq,
        viewer: q.status.visible_to_viewers().then(|| json.clone()),
        moderator: json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    fn q(status: Status) -> Question {
        Question {
            id: 7,
            event: "ev".into(),
            viewer: "viewer-secret-id".into(),
            name: None,
            text: "why\n\"<b>\"".into(),
            created_at: 1,
            program_time: Some(ProgramTime::from_unix_millis(2)),
            status,
            pinned: false,
            votes: 3,
            answer: None,
        }
    }

    fn stamp() -> Stamp {
        Stamp {
            seq: 42,
            at: 1000,
            program_time: Some(ProgramTime::from_unix_millis(999)),
        }
    }

    #[test]
    fn viewers_never_see_viewer_ids_or_pending() {
        let c = question_change(stamp(), &q(Status::Approved), true, false).expect("json");
        assert!(c.moderator.contains("viewer-secret-id"));
        let v = c.viewer.expect("visible");
        assert!(!v.contains("viewer-secret-id"));
        assert!(v.contains("\"type\":\"question_created\""));
        assert!(v.contains("\"seq\":42"));
        let c = question_change(stamp(), &q(Status::Pending), true, false).expect("json");
        assert_eq!(c.viewer, None);
    }

    #[test]
    fn hiding_a_visible_question_tells_viewers() {
        let c = question_change(stamp(), &q(Status::Hidden), false, true).expect("json");
        let v = c.viewer.expect("removal");
        assert!(v.contains("question_removed"));
        assert!(!v.contains("why"));
    }

    #[test]
    fn frames_are_single_line_json() {
        let c: Change = question_change(stamp(), &q(Status::Approved), false, true)
            .expect("json")
            .into();
        let frame = std::str::from_utf8(&c.moderator).expect("utf8");
        assert!(frame.starts_with("id: 42\ndata: {"));
        assert!(frame.ends_with("}\n\n"));
        assert_eq!(frame.matches('\n').count(), 3);
    }

    #[test]
    fn votes_of_hidden_questions_stay_with_moderators() {
        let c = votes_change(stamp(), &q(Status::Hidden)).expect("json");
        assert_eq!(c.viewer, None);
        let c = pinned_change(stamp(), &q(Status::Answered)).expect("json");
        assert!(c.viewer.expect("visible").contains("pinned_changed"));
    }
}
