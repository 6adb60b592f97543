//! Chapters and markers in program time: a moderator adds a chapter ("Part 2 —
//! Entropy") at the program time they choose, and a question marked answered becomes
//! a marker at the program time the moderator answered it (else the asker's).
//!
//! Model and invariants:
//! - a marker is dated on the stream's `EXT-X-PROGRAM-DATE-TIME` clock, never on the
//!   server's wall clock, so every viewer sees it at the same moment of the lecture;
//! - its id is stable and unique in the event: `chapter-{n}` (n counted under the
//!   event's lock) or `question-{question id}` (one marker per question, however many
//!   times it is answered);
//! - markers are durable with the event's Q&A (table `qa_chapters`, both stores);
//! - the media side learns of them through [`ChapterListener`]: the Q&A service tells
//!   the listener the event's whole list after every change, so the packager holds no
//!   Q&A state of its own — a fresh list replaces the old one.

use serde::{Deserialize, Serialize};

use crate::core::finish;
use crate::error::QaError;
use crate::model::{check_program_time, program_time_in_range, ProgramTime, Question};
use crate::store::QaStore;

/// Longest chapter title, in characters (after trimming).
pub const MAX_CHAPTER_CHARS: usize = 120;
/// Longest marker text taken from a question, in characters.
pub const MAX_QUESTION_MARKER_CHARS: usize = 120;

/// What a marker stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkerKind {
    Chapter,
    Question,
}

impl MarkerKind {
    /// Stable name used in the database, in JSON and in playlists (`X-AMPHI-KIND`).
    pub fn as_str(self) -> &'static str {
        match self {
            MarkerKind::Chapter => "chapter",
            MarkerKind::Question => "question",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<MarkerKind> {
        match s {
            "chapter" => Some(MarkerKind::Chapter),
            "question" => Some(MarkerKind::Question),
            _ => None,
        }
    }
}

/// One marker, as stored and as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chapter {
    /// Stable, unique in the event (`chapter-3`, `question-17`).
    pub id: String,
    pub event: String,
    pub kind: MarkerKind,
    pub text: String,
    /// EXT-X-PROGRAM-DATE-TIME of the marker, ms since the Unix epoch.
    pub program_time: ProgramTime,
    /// Wall clock when it was added, ms since the Unix epoch.
    pub created_at: i64,
}

/// JSON body of `POST /api/events/{event}/chapters`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostChapterBody {
    pub text: String,
    pub program_time: ProgramTime,
}

/// Told the whole list of an event's markers after each change (implemented by the
/// binary, which hands them to the packager).
pub trait ChapterListener: Send + Sync + 'static {
    fn chapters_changed(&self, event: &str, chapters: &[Chapter]);
}

fn invalid(field: &'static str, reason: &str) -> QaError {
    QaError::InvalidInput {
        field,
        reason: reason.to_owned(),
    }
}

/// Checks a moderator's chapter: trimmed title of 1..=120 characters with no control
/// character, program time in range.
pub fn validate(body: &PostChapterBody) -> Result<(String, ProgramTime), QaError> {
    let text = body.text.trim();
    let count = text.chars().count();
    if count == 0 {
        return Err(invalid("text", "empty"));
    }
    if count > MAX_CHAPTER_CHARS {
        return Err(invalid("text", "longer than 120 characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid("text", "control characters are not allowed"));
    }
    Ok((text.to_owned(), check_program_time(body.program_time)?))
}

/// The marker an answered question becomes: at the moderator's program time when the
/// action carried one, else at the asker's; none without either.
pub fn answered_marker(
    q: &Question,
    moderator_time: Option<ProgramTime>,
    now_ms: i64,
) -> Option<Chapter> {
    let program_time = moderator_time
        .or(q.program_time)
        .filter(|t| program_time_in_range(*t))?;
    let flat: String = q
        .text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut text: String = flat
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_QUESTION_MARKER_CHARS)
        .collect();
    if q.text.chars().count() > MAX_QUESTION_MARKER_CHARS {
        text.push('…');
    }
    Some(Chapter {
        id: format!("question-{}", q.id),
        event: q.event.clone(),
        kind: MarkerKind::Question,
        text,
        program_time,
        created_at: now_ms,
    })
}

/// Adds a moderator's chapter to the event; returns it.
pub async fn add(
    store: &dyn QaStore,
    event: &str,
    body: &PostChapterBody,
    now_ms: i64,
) -> Result<Chapter, QaError> {
    let (text, program_time) = validate(body)?;
    let mut tx = store.begin(event, true).await?;
    let result = async {
        // Under the event's lock: the count is exact across origins.
        let n = tx.count_chapters(event, MarkerKind::Chapter).await? + 1;
        let chapter = Chapter {
            id: format!("chapter-{n}"),
            event: event.to_owned(),
            kind: MarkerKind::Chapter,
            text,
            program_time,
            created_at: now_ms,
        };
        if !tx.insert_chapter(&chapter).await? {
            return Err(QaError::Conflict {
                reason: "a chapter with this id exists",
            });
        }
        Ok::<_, QaError>((chapter, Vec::new()))
    }
    .await;
    finish(tx, result, now_ms).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    fn question(text: &str, program_time: Option<ProgramTime>) -> Question {
        Question {
            id: 7,
            event: "ev".into(),
            viewer: "viewer01".into(),
            name: None,
            text: text.into(),
            created_at: 0,
            program_time,
            status: Status::Answered,
            pinned: false,
            votes: 0,
            answer: None,
        }
    }

    const T: ProgramTime = ProgramTime::from_unix_millis(1_764_000_000_000);

    fn later(ms: u64) -> ProgramTime {
        T + std::time::Duration::from_millis(ms)
    }

    #[test]
    fn chapter_titles_are_checked() {
        let body = |text: &str, program_time| PostChapterBody {
            text: text.into(),
            program_time,
        };
        assert_eq!(
            validate(&body("  Part 2 — Entropy ", T)).ok(),
            Some(("Part 2 — Entropy".to_owned(), T))
        );
        assert!(validate(&body(" ", T)).is_err());
        assert!(validate(&body("a\nb", T)).is_err());
        assert!(validate(&body(&"é".repeat(121), T)).is_err());
        assert!(validate(&body(&"é".repeat(120), T)).is_ok());
        assert!(validate(&body("x", ProgramTime::from_unix_millis(5))).is_err());
    }

    #[test]
    fn answered_questions_become_markers() {
        let q = question("Why\nis entropy  \"always\" growing?", Some(T));
        let m = answered_marker(&q, Some(later(5_000)), 1).expect("a marker");
        assert_eq!(m.id, "question-7");
        assert_eq!(m.kind, MarkerKind::Question);
        assert_eq!(m.program_time, later(5_000));
        assert_eq!(m.text, "Why is entropy \"always\" growing?");
        // The asker's time without the moderator's; nothing without either.
        assert_eq!(
            answered_marker(&q, None, 1).map(|m| m.program_time),
            Some(T)
        );
        assert_eq!(answered_marker(&question("q", None), None, 1), None);
        let long = answered_marker(&question(&"a".repeat(300), Some(T)), None, 1);
        assert_eq!(long.map(|m| m.text.chars().count()), Some(121));
    }

    #[test]
    fn kinds_round_trip() {
        for k in [MarkerKind::Chapter, MarkerKind::Question] {
            assert_eq!(MarkerKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(MarkerKind::parse("x"), None);
    }
}
