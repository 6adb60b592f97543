//! The event directory: which events exist, their titles and publisher stream keys.
//! Persisted as `events.json` in the data directory (managed by `amphi event …` and the
//! console's `/api/admin/…`, which share the operations below: [`EventsFileStore::create`],
//! [`EventsFileStore::edit`], [`EventsFileStore::rotate_key`], [`EventsFileStore::delete`],
//! [`EventsFileStore::secrets`], [`embed_snippets`]); events given on the command line
//! live only as long as the process.

use amphi_ingest::{EventId, Hub, KeyDirectory};
use anyhow::{bail, Context, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

pub const EVENTS_FILE: &str = "events.json";
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
        Ok(())
    }
}

/// The code that embeds an event's player in a web page (`token`: a private event's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbedSnippets {
    pub iframe: String,
    pub script: String,
}

pub fn embed_iframe(base: &str, id: &str, token: Option<&str>) -> String {
    let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
    format!("<iframe src=\"{base}/embed/{id}{query}\" allow=\"autoplay; fullscreen\" width=\"960\" height=\"540\"></iframe>")
}

pub fn embed_snippets(base: &str, id: &str, token: Option<&str>) -> EmbedSnippets {
    let base = base.trim_end_matches('/');
    let attr = token.map(|t| format!(" token=\"{t}\"")).unwrap_or_default();
    EmbedSnippets {
        iframe: embed_iframe(base, id, token),
        script: format!(
            "<script src=\"{base}/assets/amphi-player.js\"></script><amphi-player event=\"{id}\"{attr}></amphi-player>"
        ),
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsFile {
    events: Vec<EventRecord>,
}

pub fn generate_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..STREAM_KEY_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Reads and writes `events.json`.
pub struct EventsFileStore {
    path: PathBuf,
}

impl EventsFileStore {
    pub fn new(data_dir: &Path) -> Self {
        EventsFileStore {
            path: data_dir.join(EVENTS_FILE),
        }
    }

    pub fn load(&self) -> Result<Vec<EventRecord>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                let file: EventsFile = serde_json::from_slice(&bytes)
                    .with_context(|| format!("reading {}", self.path.display()))?;
                for e in &file.events {
                    EventId::parse(&e.id).with_context(|| {
                        format!("event id {:?} in {}", e.id, self.path.display())
                    })?;
                }
                Ok(file.events)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("reading {}", self.path.display())),
        }
    }

    pub fn save(&self, events: &[EventRecord]) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(&EventsFile {
            events: events.to_vec(),
        })?;
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        restrict_permissions(&tmp);
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }

    /// Creates an event with fresh secrets, titled `title` (default: its id).
    pub fn create(
        &self,
        id: &str,
        title: Option<String>,
        key: Option<String>,
    ) -> Result<EventRecord> {
        let changes = EventChanges {
            title,
            ..EventChanges::default()
        };
        self.create_with(id, changes, key)
    }

    /// Creates an event with fresh secrets (`key`: a given stream key instead).
    pub fn create_with(
        &self,
        id: &str,
        changes: EventChanges,
        key: Option<String>,
    ) -> Result<EventRecord> {
        let id = EventId::parse(id).with_context(|| format!("event id {id:?}"))?;
        let mut events = self.load()?;
        if events.iter().any(|e| e.id == id.as_str()) {
            bail!("event {id} already exists");
        }
        let mut record = EventRecord::new(&id, id.to_string());
        changes.apply(&mut record)?;
        if let Some(key) = key {
            record.stream_key = key;
        }
        events.push(record.clone());
        self.save(&events)?;
        Ok(record)
    }

    /// Changes an event's settings; all are checked before any is saved.
    pub fn edit(&self, id: &str, changes: EventChanges) -> Result<EventRecord> {
        let mut events = self.load()?;
        let Some(e) = events.iter_mut().find(|e| e.id == id) else {
            bail!("no event {id}");
        };
        changes.apply(e)?;
        let record = e.clone();
        self.save(&events)?;
        Ok(record)
    }

    /// One event with its secrets (stream key, moderator token, viewer secret), after
    /// saving secrets generated for an older file that had none.
    pub fn secrets(&self, id: &str) -> Result<EventRecord> {
        let events = self.load()?;
        if !events.is_empty() {
            self.save(&events)?;
        }
        events
            .into_iter()
            .find(|e| e.id == id)
            .with_context(|| format!("no event {id}"))
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        let mut events = self.load()?;
        let before = events.len();
        events.retain(|e| e.id != id);
        if events.len() == before {
            bail!("no event {id}");
        }
        self.save(&events)
    }

    /// Changes one event on disk and returns it as saved.
    fn update(&self, id: &str, change: impl FnOnce(&mut EventRecord)) -> Result<EventRecord> {
        let mut events = self.load()?;
        let Some(e) = events.iter_mut().find(|e| e.id == id) else {
            bail!("no event {id}");
        };
        change(e);
        let record = e.clone();
        self.save(&events)?;
        Ok(record)
    }

    /// Go live for a saved event: out of preview, with the program date-time it opened.
    pub fn go_live(&self, id: &str, at: &str) -> Result<EventRecord> {
        self.update(id, |e| {
            e.preview = false;
            e.went_live_at = Some(at.to_owned());
        })
    }

    /// Sets (or, with `None`, removes) the IP camera the event is pulled from.
    pub fn set_rtsp_url(&self, id: &str, url: Option<String>) -> Result<EventRecord> {
        let changes = EventChanges {
            rtsp_url: Some(url.unwrap_or_default()),
            ..EventChanges::default()
        };
        self.edit(id, changes)
    }

    pub fn rotate_key(&self, id: &str) -> Result<EventRecord> {
        self.update(id, |e| e.stream_key = generate_key())
    }
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}
#[cfg(not(unix))]
fn restrict_permissions(_: &Path) {}

/// The events this process serves; answers key look-ups for the ingest hub and the
/// event list for the origin.
pub struct Directory {
    events: RwLock<Vec<EventRecord>>,
}

impl Directory {
    pub fn new(events: Vec<EventRecord>) -> Self {
        Directory {
            events: RwLock::new(events),
        }
    }

    /// Reads one event's record, if it exists.
    fn with_event<T>(&self, event: &str, read: impl FnOnce(&EventRecord) -> T) -> Option<T> {
        let events = self
            .events
            .read()
            .expect("directory lock is never poisoned");
        events.iter().find(|e| e.id == event).map(read)
    }

    /// Sites allowed to embed the event's player; `None`: any site.
    pub fn frame_ancestors(&self, event: &str) -> Option<Vec<String>> {
        self.with_event(event, |e| e.embed_on.clone())
            .filter(|v| !v.is_empty())
    }

    /// Whether the origin asks viewers of `event` for a token.
    pub fn access(&self, event: &str) -> amphi_origin::Access {
        match self.with_event(event, |e| e.private.then(|| e.viewer_secret.clone())) {
            Some(Some(viewer_secret)) => amphi_origin::Access::Private { viewer_secret },
            _ => amphi_origin::Access::Public,
        }
    }

    /// The event's green room: whether viewers wait, and its preview key.
    pub fn preview(&self, event: &str) -> amphi_origin::preview::Preview {
        self.with_event(event, |e| amphi_origin::preview::Preview {
            in_preview: e.preview,
            key: Some(amphi_origin::preview::preview_key(
                &e.moderator_token,
                &e.id,
            )),
        })
        .unwrap_or_default()
    }

    /// Opens the event to viewers (Go live) at program date-time `at` (RFC 3339); the
    /// record as it is now, or `None` for an unknown event.
    pub fn go_live(&self, event: &str, at: &str) -> Option<EventRecord> {
        let mut events = self
            .events
            .write()
            .expect("directory lock is never poisoned");
        let e = events.iter_mut().find(|e| e.id == event)?;
        e.preview = false;
        e.went_live_at = Some(at.to_owned());
        Some(e.clone())
    }

    /// Replaces the events this process serves (after the console changed the file):
    /// keys, privacy and takeover take effect for the next publish or request.
    pub fn replace(&self, events: Vec<EventRecord>) {
        *self
            .events
            .write()
            .expect("directory lock is never poisoned") = events;
    }

    pub fn list(&self) -> Vec<EventRecord> {
        self.events
            .read()
            .expect("directory lock is never poisoned")
            .clone()
    }
}

/// Compares without an early exit, so timing does not reveal how much of a key matched.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl KeyDirectory for Directory {
    fn event_for_key(&self, key: &str) -> Option<EventId> {
        let events = self
            .events
            .read()
            .expect("directory lock is never poisoned");
        events
            .iter()
            .find(|e| constant_time_eq(e.stream_key.as_bytes(), key.as_bytes()))
            .and_then(|e| EventId::parse(&e.id).ok())
    }

    fn takeover(&self, event: &EventId) -> bool {
        !self
            .with_event(event.as_str(), |e| e.no_takeover)
            .unwrap_or(false)
    }
}

impl amphi_qa::QaEvents for Directory {
    fn moderator_token(&self, event: &str) -> Option<String> {
        self.with_event(event, |e| e.moderator_token.clone())
    }

    fn settings(&self, event: &str) -> Option<amphi_qa::EventQaSettings> {
        self.with_event(event, |e| amphi_qa::EventQaSettings {
            premoderated: e.premoderated,
            require_name: e.named_viewers,
            private: e.private,
            ..Default::default()
        })
    }

    fn check_viewer_token(
        &self,
        event: &str,
        token: &str,
        now: amphi_time::WallTime,
    ) -> Option<amphi_qa::TokenClaims> {
        let secret = self.with_event(event, |e| e.viewer_secret.clone())?;
        amphi_origin::token::verify_claims(secret.as_bytes(), event, token, now)
            .ok()
            .map(|c| amphi_qa::TokenClaims {
                expires: c.expires,
                name: c.name,
            })
    }
}

/// The origin's view of events: the directory plus live state from the hub, or, in a
/// process without ingest (`--role origin`), from the parts its store announces.
pub struct Catalog {
    pub directory: std::sync::Arc<Directory>,
    pub hub: Hub,
    pub liveness: Option<std::sync::Arc<crate::liveness::StoreLiveness>>,
}

impl amphi_origin::EventCatalog for Catalog {
    fn events(&self) -> Vec<amphi_origin::EventInfo> {
        if let Some(liveness) = &self.liveness {
            let now = std::time::Instant::now();
            return self
                .directory
                .list()
                .into_iter()
                .map(|e| amphi_origin::EventInfo {
                    // Viewers wait while the event is in preview (the green room).
                    live: liveness.is_live(&e.id, now) && !e.preview,
                    protocol: None,
                    id: e.id,
                    title: e.title,
                    starts_at: e.starts_at,
                })
                .collect();
        }
        let live = self.hub.live_events();
        self.directory
            .list()
            .into_iter()
            .map(|e| {
                let protocol = live
                    .iter()
                    .find(|(id, _)| id.as_str() == e.id)
                    .map(|(_, p)| p.to_string());
                amphi_origin::EventInfo {
                    live: protocol.is_some() && !e.preview,
                    protocol,
                    id: e.id,
                    title: e.title,
                    starts_at: e.starts_at,
                }
            })
            .collect()
    }

    fn access(&self, event: &str) -> amphi_origin::Access {
        self.directory.access(event)
    }

    fn frame_ancestors(&self, event: &str) -> Option<Vec<String>> {
        self.directory.frame_ancestors(event)
    }

    fn preview(&self, event: &str) -> amphi_origin::preview::Preview {
        self.directory.preview(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_list_rotate_delete() {
        let dir = std::env::temp_dir().join(format!("amphi-events-{}", std::process::id()));
        let store = EventsFileStore::new(&dir);
        let e = store
            .create("lecture", Some("Physics 101".into()), None)
            .expect("create");
        assert_eq!(e.stream_key.len(), STREAM_KEY_LEN);
        assert!(store.create("lecture", None, None).is_err());
        assert!(store.create("Bad Id", None, None).is_err());
        // Embedding restricted to one site, then opened again; hostile values refused.
        let sites = vec!["https://moodle.example.edu".to_owned()];
        let embed_on = |sites: Vec<String>| EventChanges {
            embed_on: Some(sites),
            ..EventChanges::default()
        };
        store
            .edit("lecture", embed_on(sites.clone()))
            .expect("embed-on");
        let d = Directory::new(store.load().expect("load"));
        assert_eq!(d.frame_ancestors("lecture"), Some(sites));
        assert!(store
            .edit(
                "lecture",
                embed_on(vec!["https://a.edu; script-src *".into()])
            )
            .is_err());
        store
            .edit("lecture", embed_on(Vec::new()))
            .expect("embed anywhere");
        let d = Directory::new(store.load().expect("load"));
        assert_eq!(d.frame_ancestors("lecture"), None);
        let rotated = store.rotate_key("lecture").expect("rotate");
        assert_ne!(rotated.stream_key, e.stream_key);
        let d = Directory::new(store.load().expect("load"));
        assert_eq!(
            d.event_for_key(&rotated.stream_key).map(|e| e.to_string()),
            Some("lecture".into())
        );
        assert_eq!(d.event_for_key(&e.stream_key), None);
        assert_eq!(d.access("lecture"), amphi_origin::Access::Public);
        let changes = EventChanges {
            private: Some(true),
            ..EventChanges::default()
        };
        let private = store.edit("lecture", changes).expect("private");
        assert_eq!(private.viewer_secret, e.viewer_secret);
        let d = Directory::new(store.load().expect("load"));
        assert_eq!(
            d.access("lecture"),
            amphi_origin::Access::Private {
                viewer_secret: e.viewer_secret.clone()
            }
        );
        assert_eq!(d.access("unknown"), amphi_origin::Access::Public);
        store.delete("lecture").expect("delete");
        assert!(store.load().expect("load").is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn changes_are_checked_before_any_is_applied() {
        let dir = std::env::temp_dir().join(format!("amphi-changes-{}", std::process::id()));
        let store = EventsFileStore::new(&dir);
        let changes = EventChanges {
            title: Some("  Optics  ".into()),
            description: Some("Lenses and mirrors".into()),
            starts_at: Some("2026-12-01T14:00:00+01:00".into()),
            takeover: Some(TakeoverPolicy::Refuse),
            named_viewers: Some(true),
            ..EventChanges::default()
        };
        let e = store.create_with("optics", changes, None).expect("create");
        assert_eq!(e.title, "Optics");
        assert!(e.no_takeover && e.named_viewers);
        let summary = EventSummary::from(&e);
        assert_eq!(summary.takeover, TakeoverPolicy::Refuse);
        for bad in [
            EventChanges {
                title: Some(" ".into()),
                ..EventChanges::default()
            },
            EventChanges {
                starts_at: Some("tomorrow at two".into()),
                private: Some(true),
                ..EventChanges::default()
            },
            EventChanges {
                rtsp_url: Some("ftp://cam/x".into()),
                ..EventChanges::default()
            },
        ] {
            assert!(store.edit("optics", bad).is_err());
        }
        assert_eq!(store.secrets("optics").expect("show"), e, "nothing applied");
        let cleared = EventChanges {
            description: Some(String::new()),
            starts_at: Some(String::new()),
            ..EventChanges::default()
        };
        let e = store.edit("optics", cleared).expect("clear");
        assert_eq!((e.description, e.starts_at), (None, None));
        let snippets = embed_snippets("https://a.example/", "optics", Some("1.x"));
        assert_eq!(
            snippets.iframe,
            "<iframe src=\"https://a.example/embed/optics?token=1.x\" allow=\"autoplay; fullscreen\" width=\"960\" height=\"540\"></iframe>"
        );
        assert!(snippets
            .script
            .contains("<amphi-player event=\"optics\" token=\"1.x\">"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
