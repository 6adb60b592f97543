//! Who publishes where: event identifiers, the key directory that maps publisher
//! credentials to events, and the protocols publishers use.

use std::collections::HashMap;
use std::fmt;

/// An event's identifier: 1 to 64 characters of `[a-z0-9_-]`, safe in paths and URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(String);

impl EventId {
    pub fn parse(s: &str) -> Result<Self, InvalidEventId> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(EventId(s.to_owned()))
        } else {
            Err(InvalidEventId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event ids are 1 to 64 characters of a-z, 0-9, '-' and '_'")]
pub struct InvalidEventId;

/// Maps publisher credentials (RTMP stream keys, WHIP bearer tokens) to events.
pub trait KeyDirectory: Send + Sync + 'static {
    fn event_for_key(&self, key: &str) -> Option<EventId>;

    /// Whether a new publish with the event's credentials takes a live event over
    /// from its current publisher (the default) or is refused while it is live.
    fn takeover(&self, _event: &EventId) -> bool {
        true
    }
}

/// Which protocol a publisher used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Rtmp,
    Whip,
    Rtsp,
    Demo,
    Srt,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Whip => "whip",
            Protocol::Rtsp => "rtsp",
            Protocol::Demo => "demo",
            Protocol::Srt => "srt",
        })
    }
}

impl PartialOrd for Protocol {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Protocol {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

/// A key directory backed by a fixed map, for tests and simple set-ups.
#[derive(Debug, Default, Clone)]
pub struct StaticKeys(pub HashMap<String, EventId>);

impl KeyDirectory for StaticKeys {
    fn event_for_key(&self, key: &str) -> Option<EventId> {
        self.0.get(key).cloned()
    }
}
