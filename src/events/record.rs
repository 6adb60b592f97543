//! An event's record as `events.json` keeps it (id, title, secrets, settings), the
//! changes the console and the command line make to it, checked all before any is
//! applied, and the secret-free summary the console shows.

use amphi_ingest::EventId;
use anyhow::{bail, Context, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The demo event the server publishes itself (a synthetic lecture): listed like any
/// other, but it takes no publisher, so no RTMP or WHIP instructions are printed for it.
pub const DEMO_EVENT: &str = "demo";
/// Length of generated stream keys (alphanumeric, ~190 bits).
pub const STREAM_KEY_LEN: usize = 32;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EventRecord {
    pub id: String,
    pub title: String,
    /// What the lecture is about, shown to viewers and in the console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// RTMP stream key (also the WHIP bearer token).
    pub stream_key: String,
    /// Secret for the moderator and lecturer Q&A pages.
    #[serde(default = "generate_key")]
    pub moderator_token: String,
    /// New questions wait for a moderator's approval.
    #[serde(default)]
    pub premoderated: bool,
    /// Scheduled start, shown in the waiting room (RFC 3339), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// Playlists and media need a viewer token signed with `viewer_secret`.
    #[serde(default)]
    pub private: bool,
    /// Key of the HMAC that signs viewer tokens (shared with the course platform).
    #[serde(default = "generate_key")]
    pub viewer_secret: String,
    /// Viewers must give a display name to ask questions (else anonymous is fine).
    #[serde(default)]
    pub named_viewers: bool,
    /// Sites allowed to embed the player (CSP frame-ancestors); empty: any site.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub embed_on: Vec<String>,
    /// IP camera the event is pulled from (`rtsp://user:password@host/path`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtsp_url: Option<String>,
    /// A second publish with the key is refused while the event is live, instead of
    /// taking the event over from the current publisher (the default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_takeover: bool,
    /// In the green room: the stream is ingested and packaged for the lecturer and the
    /// moderators (`/preview/{event}`), viewers see the waiting room until Go live.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
    /// Program date-time (RFC 3339) of the last Go live: where the lecture starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub went_live_at: Option<String>,
    /// LL-HLS part duration in milliseconds (200 to 1000) for this event; `None`: the
    /// server's (`amphi serve --part-duration`). Read when the event's packager starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_duration_ms: Option<u32>,
}

impl EventRecord {
    /// A public event with fresh secrets (stream key, moderator token, viewer secret)
    /// and default settings.
    pub fn new(id: &EventId, title: String) -> EventRecord {
        EventRecord {
            id: id.to_string(),
            title,
            description: None,
            stream_key: generate_key(),
            moderator_token: generate_key(),
            premoderated: false,
            starts_at: None,
            private: false,
            viewer_secret: generate_key(),
            named_viewers: false,
            embed_on: Vec::new(),
            rtsp_url: None,
            no_takeover: false,
            preview: false,
            went_live_at: None,
            part_duration_ms: None,
        }
    }
}

/// Longest title and description accepted.
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 4000;

/// Whether a second publish with the key takes a live event over or is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TakeoverPolicy {
    /// The new publish replaces the live one (the lecturer's OBS reconnecting).
    TakeOver,
    /// Refused while the event is live.
    Refuse,
}

/// Settings of an event to create or change; `None` leaves a setting as it is. An
/// empty string clears `description`, `starts_at` and `rtsp_url`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    /// Scheduled start, RFC 3339 (`2026-12-01T14:00:00+01:00`).
    pub starts_at: Option<String>,
    /// Viewers need a signed token.
    pub private: Option<bool>,
    /// Viewers give a name to ask questions.
    pub named_viewers: Option<bool>,
    /// New questions wait for a moderator.
    pub premoderated: Option<bool>,
    pub takeover: Option<TakeoverPolicy>,
    /// Sites that may embed the player (empty: any site).
    pub embed_on: Option<Vec<String>>,
    /// IP camera to pull from (`rtsp://user:password@host/path`).
    pub rtsp_url: Option<String>,
    /// In the green room (viewers wait until Go live).
    pub preview: Option<bool>,
    /// LL-HLS part duration in milliseconds, 200 to 1000; 0 goes back to the server's.
    pub part_duration_ms: Option<u32>,
}

/// An event's settings as the console shows them (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventSummary {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub starts_at: Option<String>,
    pub private: bool,
    pub named_viewers: bool,
    pub premoderated: bool,
    pub takeover: TakeoverPolicy,
    pub embed_on: Vec<String>,
    /// The camera's URL with its password hidden.
    pub rtsp_url: Option<String>,
    /// In the green room.
    pub preview: bool,
    /// The event's own part duration (ms), if it has one.
    pub part_duration_ms: Option<u32>,
}

impl From<&EventRecord> for EventSummary {
    fn from(e: &EventRecord) -> Self {
        EventSummary {
            id: e.id.clone(),
            title: e.title.clone(),
            description: e.description.clone(),
            starts_at: e.starts_at.clone(),
            private: e.private,
            named_viewers: e.named_viewers,
            premoderated: e.premoderated,
            takeover: if e.no_takeover {
                TakeoverPolicy::Refuse
            } else {
                TakeoverPolicy::TakeOver
            },
            embed_on: e.embed_on.clone(),
            rtsp_url: e
                .rtsp_url
                .as_deref()
                .map(amphi_ingest::rtsp::redact_password),
            preview: e.preview,
            part_duration_ms: e.part_duration_ms,
        }
    }
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl EventChanges {
    /// Checks every setting first, then applies them all (or none).
    pub fn apply(self, e: &mut EventRecord) -> Result<()> {
        if let Some(t) = &self.title {
            let n = t.trim().chars().count();
            if n == 0 || n > MAX_TITLE_CHARS {
                bail!("title: 1 to {MAX_TITLE_CHARS} characters");
            }
        }
        if let Some(d) = &self.description {
            if d.chars().count() > MAX_DESCRIPTION_CHARS {
                bail!("description: at most {MAX_DESCRIPTION_CHARS} characters");
            }
        }
        if let Some(s) = self
            .starts_at
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .with_context(|| {
                    format!(
                        "scheduled start {s:?}: expected RFC 3339, e.g. 2026-12-01T14:00:00+01:00"
                    )
                })?;
        }
        if let Some(bad) = self
            .embed_on
            .iter()
            .flatten()
            .find(|s| !amphi_origin::valid_frame_ancestor(s))
        {
            bail!("{bad:?} is not a site such as https://moodle.example.edu");
        }
        if let Some(u) = self.rtsp_url.as_deref().filter(|u| !u.trim().is_empty()) {
            amphi_ingest::rtsp::SourceUrl::parse(u)
                .with_context(|| format!("RTSP URL {}", amphi_ingest::rtsp::redact_password(u)))?;
        }
        if let Some(ms) = self.part_duration_ms.filter(|&ms| ms != 0) {
            amphi_packager::pipeline::check_part_duration(std::time::Duration::from_millis(
                u64::from(ms),
            ))
            .map_err(|e| anyhow::anyhow!("part duration: {e}"))?;
        }
        if let Some(t) = self.title {
            e.title = t.trim().to_owned();
        }
        if let Some(d) = self.description {
            e.description = non_empty(d);
        }
        if let Some(s) = self.starts_at {
            e.starts_at = non_empty(s);
        }
        if let Some(p) = self.private {
            e.private = p;
        }
        if let Some(n) = self.named_viewers {
            e.named_viewers = n;
        }
        if let Some(p) = self.premoderated {
            e.premoderated = p;
        }
        if let Some(t) = self.takeover {
            e.no_takeover = t == TakeoverPolicy::Refuse;
        }
        if let Some(sites) = self.embed_on {
            e.embed_on = sites;
        }
        if let Some(u) = self.rtsp_url {
            e.rtsp_url = non_empty(u);
        }
        if let Some(p) = self.preview {
            e.preview = p;
        }
        if let Some(ms) = self.part_duration_ms {
            e.part_duration_ms = (ms != 0).then_some(ms);
        }
        Ok(())
    }
}

/// A fresh secret (stream key, moderator token, viewer secret): [`STREAM_KEY_LEN`]
/// characters of an alphabet without look-alikes.
pub fn generate_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..STREAM_KEY_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
