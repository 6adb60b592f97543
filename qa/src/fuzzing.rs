//! Entry point for the fuzz target in `fuzz/` and for the stable test that replays its
//! corpus (`tests/fuzz_corpus.rs`). Panics only when an invariant breaks. Not an API.

use crate::model::{self, EventQaSettings, ModAction, PostQuestionBody};

/// A posted question as the API receives it: the first line is the viewer header, the
/// second the event name from the URL, the rest the JSON body (also tried as a
/// moderator's answer text). What validation accepts is trimmed, within its limits,
/// free of control characters, and survives JSON.
pub fn qa_post_body(data: &[u8]) {
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let viewer = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let event = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let body = lines.next().unwrap_or_default();
    if let Some(action) = ModAction::parse(&viewer) {
        for status in [
            model::Status::Pending,
            model::Status::Approved,
            model::Status::Hidden,
            model::Status::Answered,
        ] {
            if let Ok(t) = model::transition(action, status, true) {
                let again = model::transition(action, t.status, t.pinned);
                assert_eq!(
                    again.ok().map(|a| (a.status, a.pinned)),
                    Some((t.status, t.pinned))
                );
            }
        }
    }
    if model::validate_viewer(&viewer).is_ok() {
        assert!(model::VIEWER_ID_LEN.contains(&viewer.len()));
    }
    if model::validate_event_name(&event).is_ok() {
        assert!(model::EVENT_NAME_LEN.contains(&event.len()));
    }
    // The same bytes as a moderator's answer text.
    if let Ok(Some(answer)) = model::validate_answer(&String::from_utf8_lossy(body)) {
        assert_eq!(answer, answer.trim());
        assert!(!answer.is_empty() && answer.chars().count() <= model::MAX_ANSWER_CHARS);
        assert!(!answer.chars().any(|c| c.is_control() && c != '\n'));
    }
    let Ok(parsed) = serde_json::from_slice::<PostQuestionBody>(body) else {
        return;
    };
    let program_time = parsed.program_time;
    let Ok(new) = model::validate_question(&event, &viewer, parsed) else {
        return;
    };
    let text = new.text.as_str();
    assert_eq!(text, text.trim());
    assert!(!text.is_empty() && text.chars().count() <= model::MAX_TEXT_CHARS);
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'));
    if let Some(name) = &new.name {
        assert!(!name.is_empty() && name == name.trim());
        assert!(name.chars().count() <= model::MAX_NAME_CHARS);
        assert!(!name.chars().any(char::is_control));
    }
    assert_eq!(new.program_time, program_time);
    if let Some(t) = new.program_time {
        assert!(model::program_time_in_range(t));
    }
    let json = serde_json::to_string(&new.text).expect("a string serialises");
    assert_eq!(
        serde_json::from_str::<String>(&json).ok().as_deref(),
        Some(text)
    );
    let named = EventQaSettings {
        require_name: true,
        ..EventQaSettings::default()
    };
    assert_eq!(
        model::check_name_required(&new, &named).is_ok(),
        new.name.is_some()
    );
}
