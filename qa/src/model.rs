//! The Q&A data model and its pure rules: input validation, moderation state
//! transitions and what a viewer may see. No I/O here.

pub use amphi_time::ProgramTime;
use serde::{Deserialize, Serialize};

use crate::error::QaError;

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 60;
/// Longest question text, in characters (after trimming).
pub const MAX_TEXT_CHARS: usize = 500;
/// Longest answer a moderator may give, in characters.
pub const MAX_ANSWER_CHARS: usize = 1000;
/// Viewer ids are 8..=64 characters of `[A-Za-z0-9_-]`.
pub const VIEWER_ID_LEN: std::ops::RangeInclusive<usize> = 8..=64;
/// Event names are 1..=64 characters of `[A-Za-z0-9_-]`.
pub const EVENT_NAME_LEN: std::ops::RangeInclusive<usize> = 1..=64;
/// Questions per viewer per minute when the event does not say otherwise.
pub const DEFAULT_QUESTIONS_PER_MINUTE: u32 = 5;
/// Program times must lie between 2000-01-01 and 2200-01-01 (ms since epoch).
pub const PROGRAM_TIME_RANGE: std::ops::RangeInclusive<i64> = 946_684_800_000..=7_258_118_400_000;

/// Whether `t` lies in [`PROGRAM_TIME_RANGE`].
pub fn program_time_in_range(t: ProgramTime) -> bool {
    PROGRAM_TIME_RANGE.contains(&t.unix_millis())
}

/// Refuses a program time out of [`PROGRAM_TIME_RANGE`] (the one check for questions,
/// moderator actions and chapters).
pub fn check_program_time(t: ProgramTime) -> Result<ProgramTime, QaError> {
    if program_time_in_range(t) {
        Ok(t)
    } else {
        Err(QaError::InvalidInput {
            field: "program_time",
            reason: "out of range".to_owned(),
        })
    }
}

/// Where a question is in moderation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Approved,
    Hidden,
    Answered,
}

impl Status {
    /// Stable name used in the database and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Hidden => "hidden",
            Status::Answered => "answered",
        }
    }

    /// Parses the database name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "pending" => Some(Status::Pending),
            "approved" => Some(Status::Approved),
            "hidden" => Some(Status::Hidden),
            "answered" => Some(Status::Answered),
            _ => None,
        }
    }

    /// Whether viewers (not moderators) see a question in this state.
    pub fn visible_to_viewers(self) -> bool {
        matches!(self, Status::Approved | Status::Answered)
    }
}

/// One question, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: i64,
    pub event: String,
    /// Opaque viewer id of the asker. Only moderators see it.
    pub viewer: String,
    pub name: Option<String>,
    pub text: String,
    /// Wall clock, ms since the Unix epoch.
    pub created_at: i64,
    /// EXT-X-PROGRAM-DATE-TIME (ms since epoch) the asker was watching.
    pub program_time: Option<ProgramTime>,
    pub status: Status,
    pub pinned: bool,
    pub votes: u32,
    /// The moderator's answer, given when marking it answered (plain text).
    pub answer: Option<String>,
}

/// A question as viewers receive it: everything but the asker's viewer id.
#[derive(Debug, Clone, Serialize)]
pub struct PublicQuestion<'a> {
    pub id: i64,
    pub event: &'a str,
    pub name: Option<&'a str>,
    pub text: &'a str,
    pub created_at: i64,
    pub program_time: Option<ProgramTime>,
    pub status: Status,
    pub pinned: bool,
    pub votes: u32,
    pub answer: Option<&'a str>,
}

impl Question {
    /// The viewer-facing form of this question.
    pub fn public(&self) -> PublicQuestion<'_> {
        PublicQuestion {
            id: self.id,
            event: &self.event,
            name: self.name.as_deref(),
            text: &self.text,
            created_at: self.created_at,
            program_time: self.program_time,
            status: self.status,
            pinned: self.pinned,
            votes: self.votes,
            answer: self.answer.as_deref(),
        }
    }
}

/// Per-event Q&A settings, provided by the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventQaSettings {
    /// New questions wait for a moderator's approval.
    pub premoderated: bool,
    /// Questions one viewer id may post per rolling minute.
    pub questions_per_minute: u32,
    /// Viewers must be named to ask (named, not anonymous, events): by their viewer
    /// token when it carries a name, else by the name they type.
    pub require_name: bool,
    /// Only holders of the event's viewer token may read or use the Q&A.
    pub private: bool,
    /// Limits per viewer id and per client address beyond `questions_per_minute`.
    pub limits: Limits,
}

impl Default for EventQaSettings {
    fn default() -> Self {
        EventQaSettings {
            premoderated: false,
            questions_per_minute: DEFAULT_QUESTIONS_PER_MINUTE,
            require_name: false,
            private: false,
            limits: Limits::default(),
        }
    }
}

/// Rate limits per rolling minute. Per-address limits are higher than per-id ones
/// because a lecture hall shares one address behind its NAT; they stop one client
/// from escaping the per-id limits with many ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Votes one viewer id may cast.
    pub votes_per_minute: u32,
    /// Questions from every viewer behind one client address.
    pub address_questions_per_minute: u32,
    /// Votes from every viewer behind one client address.
    pub address_votes_per_minute: u32,
    /// Fresh viewer ids minted for one client address (renewals are not counted).
    pub address_mints_per_minute: u32,
    /// How long (ms) an address a banned viewer used may not mint fresh ids.
    pub address_ban_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            votes_per_minute: 60,
            address_questions_per_minute: 30,
            address_votes_per_minute: 600,
            address_mints_per_minute: 60,
            address_ban_ms: 10 * 60_000,
        }
    }
}

/// JSON body of `POST /api/qa/{event}/questions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostQuestionBody {
    pub text: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub program_time: Option<ProgramTime>,
}

/// A validated new question, ready for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuestion {
    pub event: String,
    pub viewer: String,
    pub name: Option<String>,
    pub text: String,
    pub program_time: Option<ProgramTime>,
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Checks the shape of a viewer id named by a moderator (a ban).
pub fn validate_viewer(raw: &str) -> Result<(), QaError> {
    if VIEWER_ID_LEN.contains(&raw.len()) && raw.chars().all(is_id_char) {
        Ok(())
    } else {
        Err(invalid("viewer", "8..64 characters of A-Z a-z 0-9 _ -"))
    }
}

/// Checks an event name taken from the URL.
pub fn validate_event_name(raw: &str) -> Result<(), QaError> {
    if EVENT_NAME_LEN.contains(&raw.len()) && raw.chars().all(is_id_char) {
        Ok(())
    } else {
        Err(QaError::UnknownEvent)
    }
}

fn invalid(field: &'static str, reason: &str) -> QaError {
    QaError::InvalidInput {
        field,
        reason: reason.to_owned(),
    }
}

/// Validates a posted question: trims the text, enforces lengths and rejects
/// control characters (newline excepted in the text, none in the name).
pub fn validate_question(
    event: &str,
    viewer: &str,
    body: PostQuestionBody,
) -> Result<NewQuestion, QaError> {
    let text = body.text.trim();
    let count = text.chars().count();
    if count == 0 {
        return Err(invalid("text", "empty"));
    }
    if count > MAX_TEXT_CHARS {
        return Err(invalid("text", "longer than 500 characters"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid("text", "control characters are not allowed"));
    }
    let name = match body.name {
        None => None,
        Some(n) => {
            let n = n.trim();
            if n.chars().count() > MAX_NAME_CHARS {
                return Err(invalid("name", "longer than 60 characters"));
            }
            if n.chars().any(char::is_control) {
                return Err(invalid("name", "control characters are not allowed"));
            }
            (!n.is_empty()).then(|| n.to_owned())
        }
    };
    if let Some(t) = body.program_time {
        check_program_time(t)?;
    }
    Ok(NewQuestion {
        event: event.to_owned(),
        viewer: viewer.to_owned(),
        name,
        text: text.to_owned(),
        program_time: body.program_time,
    })
}

/// Validates a moderator's answer: trimmed, at most [`MAX_ANSWER_CHARS`], no control
/// characters but newlines; blank is no answer.
pub fn validate_answer(raw: &str) -> Result<Option<String>, QaError> {
    let text = raw.trim();
    if text.chars().count() > MAX_ANSWER_CHARS {
        return Err(invalid("answer", "longer than 1000 characters"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid("answer", "control characters are not allowed"));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// Refuses an anonymous question on an event whose viewers must be named.
pub fn check_name_required(new: &NewQuestion, settings: &EventQaSettings) -> Result<(), QaError> {
    if settings.require_name && new.name.is_none() {
        return Err(invalid("name", "this event asks for a display name"));
    }
    Ok(())
}

/// A moderator's action on one question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModAction {
    Approve,
    Hide,
    Answer,
    Pin,
    Unpin,
}

impl ModAction {
    /// Parses the last path segment of a moderator action URL.
    pub fn parse(s: &str) -> Option<ModAction> {
        match s {
            "approve" => Some(ModAction::Approve),
            "hide" => Some(ModAction::Hide),
            "answer" => Some(ModAction::Answer),
            "pin" => Some(ModAction::Pin),
            "unpin" => Some(ModAction::Unpin),
            _ => None,
        }
    }
}

/// The result of applying a [`ModAction`] to a question's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub status: Status,
    pub pinned: bool,
    /// Every other pinned question of the event must be unpinned (one pin per event).
    pub unpin_others: bool,
}

impl Transition {
    /// Whether anything changes for the question itself.
    pub fn changes(&self, status: Status, pinned: bool) -> bool {
        self.status != status || self.pinned != pinned
    }
}

/// Moderation rules. Idempotent: repeating an action yields the same state.
///
/// - approve: pending/hidden/answered → approved (answered → approved reopens it)
/// - hide: anything → hidden, unpinned
/// - answer: pending/approved → answered, unpinned; hidden questions must be approved first
/// - pin: only approved or answered questions; unpins every other question of the event
/// - unpin: always allowed
pub fn transition(action: ModAction, status: Status, pinned: bool) -> Result<Transition, QaError> {
    let t = |status, pinned, unpin_others| Transition {
        status,
        pinned,
        unpin_others,
    };
    match action {
        ModAction::Approve => Ok(t(Status::Approved, pinned, false)),
        ModAction::Hide => Ok(t(Status::Hidden, false, false)),
        ModAction::Answer => match status {
            Status::Hidden => Err(QaError::Conflict {
                reason: "a hidden question must be approved before it is answered",
            }),
            _ => Ok(t(Status::Answered, false, false)),
        },
        ModAction::Pin => {
            if status.visible_to_viewers() {
                Ok(t(status, true, true))
            } else {
                Err(QaError::Conflict {
                    reason: "only approved or answered questions can be pinned",
                })
            }
        }
        ModAction::Unpin => Ok(t(status, false, false)),
    }
}

/// Status of a new question.
pub fn initial_status(settings: &EventQaSettings) -> Status {
    if settings.premoderated {
        Status::Pending
    } else {
        Status::Approved
    }
}

/// Viewer-facing ordering: pinned first, then most votes, then oldest first.
pub fn sort_for_display(questions: &mut [Question]) {
    questions.sort_by(|a, b| {
        b.pinned
            .cmp(&a.pinned)
            .then(b.votes.cmp(&a.votes))
            .then(a.id.cmp(&b.id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> PostQuestionBody {
        PostQuestionBody {
            text: text.to_owned(),
            name: None,
            program_time: None,
        }
    }

    #[test]
    fn viewer_ids() {
        assert!(validate_viewer("abcdEFGH").is_ok());
        assert!(validate_viewer("a_b-c_d-0123").is_ok());
        assert!(validate_viewer(&"x".repeat(64)).is_ok());
        assert!(validate_viewer("short").is_err());
        assert!(validate_viewer(&"x".repeat(65)).is_err());
        assert!(validate_viewer("abcd efgh").is_err());
        assert!(validate_viewer("abcdéfgh").is_err());
        assert!(validate_viewer("").is_err());
    }

    #[test]
    fn event_names() {
        assert!(validate_event_name("cs101").is_ok());
        assert!(validate_event_name("").is_err());
        assert!(validate_event_name("../etc").is_err());
        assert!(validate_event_name(&"e".repeat(65)).is_err());
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        let q = validate_question("e", "viewer01", body("  why?\n ")).expect("valid");
        assert_eq!(q.text, "why?");
        assert!(validate_question("e", "viewer01", body("   \n\t ")).is_err());
        assert!(validate_question("e", "viewer01", body(&"é".repeat(500))).is_ok());
        assert!(validate_question("e", "viewer01", body(&"é".repeat(501))).is_err());
        assert!(validate_question("e", "viewer01", body("line one\nline two")).is_ok());
        assert!(validate_question("e", "viewer01", body("bell\u{7}")).is_err());
        assert!(validate_question("e", "viewer01", body("a\rb")).is_err());
        assert!(validate_question("e", "viewer01", body("a\u{0}b")).is_err());
    }

    #[test]
    fn names_and_program_time() {
        let mut b = body("q");
        b.name = Some(" Ada ".into());
        b.program_time = Some(ProgramTime::from_unix_millis(1_700_000_000_000));
        let q = validate_question("e", "viewer01", b).expect("valid");
        assert_eq!(q.name.as_deref(), Some("Ada"));
        let mut b = body("q");
        b.name = Some("   ".into());
        assert_eq!(
            validate_question("e", "viewer01", b).expect("ok").name,
            None
        );
        let mut b = body("q");
        b.name = Some("n".repeat(61));
        assert!(validate_question("e", "viewer01", b).is_err());
        let mut b = body("q");
        b.name = Some("a\nb".into());
        assert!(validate_question("e", "viewer01", b).is_err());
        let mut b = body("q");
        b.program_time = Some(ProgramTime::from_unix_millis(-1));
        assert!(validate_question("e", "viewer01", b).is_err());
    }

    #[test]
    fn html_is_kept_verbatim() {
        let xss = "<script>alert(1)</script><img src=x onerror=alert(2)>";
        let q = validate_question("e", "viewer01", body(xss)).expect("valid");
        assert_eq!(q.text, xss);
    }

    #[test]
    fn transitions() {
        use ModAction::*;
        use Status::*;
        let ok = |a, s, p| transition(a, s, p).expect("allowed");
        assert_eq!(ok(Approve, Pending, false).status, Approved);
        assert_eq!(ok(Approve, Hidden, false).status, Approved);
        assert_eq!(ok(Approve, Answered, false).status, Approved);
        let t = ok(Approve, Approved, true);
        assert!(!t.changes(Approved, true));
        let t = ok(Hide, Approved, true);
        assert_eq!((t.status, t.pinned), (Hidden, false));
        let t = ok(Answer, Approved, true);
        assert_eq!((t.status, t.pinned), (Answered, false));
        assert!(transition(Answer, Hidden, false).is_err());
        assert_eq!(ok(Answer, Pending, false).status, Answered);
        let t = ok(Pin, Approved, false);
        assert!(t.pinned && t.unpin_others);
        assert!(transition(Pin, Pending, false).is_err());
        assert!(transition(Pin, Hidden, false).is_err());
        assert!(!ok(Unpin, Approved, true).pinned);
        assert_eq!(ModAction::parse("pin"), Some(Pin));
        assert_eq!(ModAction::parse("delete"), None);
    }

    #[test]
    fn status_names_round_trip() {
        for s in [
            Status::Pending,
            Status::Approved,
            Status::Hidden,
            Status::Answered,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("deleted"), None);
    }

    #[test]
    fn premoderation() {
        let mut s = EventQaSettings::default();
        assert_eq!(initial_status(&s), Status::Approved);
        s.premoderated = true;
        assert_eq!(initial_status(&s), Status::Pending);
    }
}
