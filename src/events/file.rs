//! `events.json` in the data directory: the saved events and the operations the
//! command line (`amphi event …`) and the console share on it. Every change reads the
//! file, checks and applies, then replaces the file whole (written aside, renamed, and
//! readable by its owner only).

use super::record::{generate_key, EventChanges, EventRecord};
use amphi_ingest::EventId;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const EVENTS_FILE: &str = "events.json";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsFile {
    events: Vec<EventRecord>,
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
