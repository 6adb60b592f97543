//! `POST /api/events/{event}/captions`: cues for the event's subtitles rendition, from
//! the captioner page or an external speech-to-text service.
//!
//! Bearer token: the event's moderator token. Body (at most [`MAX_BODY`] bytes):
//! `{"cues": [{"id": "l-12", "start": …, "end": …, "text": "…"}]}` where `start` and
//! `end` are program time — Unix milliseconds on the clock of EXT-X-PROGRAM-DATE-TIME,
//! as the Q&A API's `program_time` — or RFC 3339 strings (the same clock: the program
//! date-time of a frame is when it reached the server). `id` is optional: with it a
//! cue can be corrected by sending it again until it is published (one to two LL-HLS
//! parts after it first came, about half a second); without it
//! duplicates are recognised by `(start, end, text)`. Out-of-order cues are fine.
//!
//! Answers 200 with one result per cue (`held`, `corrected`, `duplicate`, each with the
//! times the cue got — later than asked when it came after its segment was written),
//! 409 when a cue's id names one already written with other text, 503 when the event's
//! buffer is full, 400 for an invalid body (naming the cue and field), 401/403 for a
//! missing or wrong token, 404 for an unknown event, 413 past the body limit.

use crate::events::Directory;
use amphi_packager::captions::{Cue, Inbox, Offer, ProgramTime};
use amphi_qa::http::bearer;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Largest request body.
pub const MAX_BODY: usize = 64 * 1024;
/// Most cues in one request.
pub const MAX_CUES: usize = 200;
/// Longest cue text, in characters.
pub const MAX_TEXT: usize = 500;
/// Longest client id.
pub const MAX_ID: usize = 64;
/// Longest cue.
pub const MAX_DURATION: Duration = amphi_packager::captions::cues::MAX_CUE_DURATION;
/// How far from the server's clock a cue may start: behind (a late service) and ahead.
pub const MAX_BEHIND: Duration = Duration::from_secs(600);
pub const MAX_AHEAD: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct CaptionsState {
    directory: Arc<Directory>,
    inbox: Inbox,
}

pub fn router(directory: Arc<Directory>, inbox: Inbox) -> Router {
    Router::new()
        .route("/api/events/{event}/captions", post(post_captions))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(CaptionsState { directory, inbox })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    cues: Vec<CueBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CueBody {
    #[serde(default)]
    id: Option<String>,
    start: TimeValue,
    end: TimeValue,
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TimeValue {
    Millis(i64),
    Rfc3339(String),
}

impl TimeValue {
    fn program_time(&self) -> Option<ProgramTime> {
        match self {
            TimeValue::Millis(ms) => Some(ProgramTime::from_unix_millis(*ms)),
            TimeValue::Rfc3339(s) => {
                let t =
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .ok()?;
                let nanos = i64::try_from(t.unix_timestamp_nanos()).ok()?;
                Some(ProgramTime::from_unix_millis(nanos / 1_000_000))
            }
        }
    }
}

/// Validates a request body against the server's clock `now`.
fn parse(body: &[u8], now: ProgramTime) -> Result<Vec<Cue>, String> {
    let body: Body = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    if body.cues.is_empty() || body.cues.len() > MAX_CUES {
        return Err(format!("cues: 1 to {MAX_CUES} cues per request"));
    }
    let earliest = now - MAX_BEHIND;
    let latest = now + MAX_AHEAD;
    body.cues
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let bad = |field: &str, why: &str| format!("cues[{i}].{field}: {why}");
            let start = c
                .start
                .program_time()
                .ok_or_else(|| bad("start", "Unix milliseconds or an RFC 3339 date-time"))?;
            let end = c
                .end
                .program_time()
                .ok_or_else(|| bad("end", "Unix milliseconds or an RFC 3339 date-time"))?;
            if start < earliest || start > latest {
                return Err(bad(
                    "start",
                    "more than 10 minutes behind or 1 minute ahead of the server's clock",
                ));
            }
            let length = (end - start).to_std().filter(|d| !d.is_zero());
            match length {
                Some(d) if d <= MAX_DURATION => {}
                _ => return Err(bad("end", "after start, at most 30 s later")),
            }
            let text = c.text.trim();
            if text.is_empty() {
                return Err(bad("text", "empty"));
            }
            if text.chars().count() > MAX_TEXT {
                return Err(bad("text", "longer than 500 characters"));
            }
            if let Some(id) = &c.id {
                let ok = !id.is_empty()
                    && id.len() <= MAX_ID
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
                if !ok {
                    return Err(bad("id", "1 to 64 characters of A-Z a-z 0-9 - _ . :"));
                }
            }
            Ok(Cue {
                start,
                end,
                text: text.to_owned(),
                id: c.id,
            })
        })
        .collect()
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

async fn post_captions(
    State(st): State<CaptionsState>,
    Path(event): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(record) = st.directory.list().into_iter().find(|e| e.id == event) else {
        return error(StatusCode::NOT_FOUND, "no such event");
    };
    let Some(given) = bearer(&headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "Authorization: Bearer <moderator token> required",
        );
    };
    if record.moderator_token.is_empty()
        || !crate::events::constant_time_eq(given.as_bytes(), record.moderator_token.as_bytes())
    {
        return error(StatusCode::FORBIDDEN, "wrong token for this event");
    }
    let now = ProgramTime::from_system(SystemTime::now());
    let cues = match parse(&body, now) {
        Ok(c) => c,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    let offers = st.inbox.offer(&event, cues);
    let mut status = StatusCode::OK;
    let results: Vec<serde_json::Value> = offers
        .iter()
        .map(|o| match o {
            Offer::Held { start, end, late } => serde_json::json!({
                "status": "held", "start": start.unix_millis(), "end": end.unix_millis(), "late": late
            }),
            Offer::Corrected { start, end } => serde_json::json!({
                "status": "corrected", "start": start.unix_millis(), "end": end.unix_millis()
            }),
            Offer::Duplicate => serde_json::json!({ "status": "duplicate" }),
            Offer::AlreadyWritten => {
                status = StatusCode::CONFLICT;
                serde_json::json!({ "status": "already_written" })
            }
            Offer::Full => {
                status = StatusCode::SERVICE_UNAVAILABLE;
                serde_json::json!({ "status": "buffer_full" })
            }
        })
        .collect();
    tracing::debug!(%event, cues = results.len(), status = status.as_u16(), "captions received");
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({ "results": results })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> ProgramTime {
        ProgramTime::from_unix_millis(1_764_000_000_000)
    }

    #[test]
    fn accepts_program_time_and_rfc3339() {
        let body = br#"{"cues":[
            {"start":1764000000000,"end":1764000002000,"text":"  Entropy  "},
            {"id":"l-1","start":"2025-11-24T16:00:01.500Z","end":"2025-11-24T16:00:03Z","text":"x"}
        ]}"#;
        let cues = parse(body, now()).expect("valid");
        assert_eq!(cues[0].text, "Entropy");
        assert_eq!(cues[0].start, now());
        assert_eq!(cues[1].start.unix_millis(), 1_764_000_001_500);
        assert_eq!(cues[1].end.unix_millis(), 1_764_000_003_000);
        assert_eq!(cues[1].id.as_deref(), Some("l-1"));
    }

    #[test]
    fn refuses_what_it_cannot_place() {
        let cases: &[(&str, &str)] = &[
            ("{}", "invalid JSON"),
            (r#"{"cues":[]}"#, "cues: 1 to"),
            (
                r#"{"cues":[{"start":1764000002000,"end":1764000001000,"text":"x"}]}"#,
                "cues[0].end",
            ),
            (
                r#"{"cues":[{"start":1764000000000,"end":1764000031000,"text":"x"}]}"#,
                "cues[0].end",
            ),
            (
                r#"{"cues":[{"start":1763000000000,"end":1763000001000,"text":"x"}]}"#,
                "cues[0].start",
            ),
            (
                r#"{"cues":[{"start":"yesterday","end":1764000001000,"text":"x"}]}"#,
                "cues[0].start",
            ),
            (
                r#"{"cues":[{"start":1764000000000,"end":1764000001000,"text":"  "}]}"#,
                "cues[0].text",
            ),
            (
                r#"{"cues":[{"id":"a b","start":1764000000000,"end":1764000001000,"text":"x"}]}"#,
                "cues[0].id",
            ),
            (
                r#"{"cues":[{"start":1764000000000,"end":1764000001000,"text":"x","style":1}]}"#,
                "invalid JSON",
            ),
        ];
        for (body, expected) in cases {
            let err = parse(body.as_bytes(), now()).expect_err(body);
            assert!(err.starts_with(expected), "{body}: {err}");
        }
        let long = format!(
            r#"{{"cues":[{{"start":1764000000000,"end":1764000001000,"text":"{}"}}]}}"#,
            "a".repeat(MAX_TEXT + 1)
        );
        assert!(parse(long.as_bytes(), now())
            .expect_err("too long")
            .starts_with("cues[0].text"));
        let many: Vec<String> = (0..=MAX_CUES)
            .map(|i| {
                format!(
                    r#"{{"start":{},"end":1764000005000,"text":"x"}}"#,
                    1_764_000_000_000u64 + i as u64
                )
            })
            .collect();
        let body = format!(r#"{{"cues":[{}]}}"#, many.join(","));
        assert!(parse(body.as_bytes(), now())
            .expect_err("too many")
            .starts_with("cues: 1 to"));
    }
}
