//! The SRT `streamid` a caller sends, read as "which event, with which key, to do
//! what". Pure.
//!
//! Accepted forms (the key is the event's stream key, as for RTMP):
//! - the SRT Access Control convention: `#!::r=EVENT,s=KEY,m=publish` (keys in any
//!   order; `m` defaults to `publish`; `u=` and other keys are ignored);
//! - the same with the key in the resource: `#!::r=EVENT/KEY,m=publish`;
//! - plain `EVENT/KEY`, or `KEY` alone (what many OBS users type).
//!
//! Where an event is named, the key must be that event's key.

use crate::pii::Redacted;
use std::fmt;

/// Longest streamid read (SRT allows 512 bytes).
pub const MAX_STREAM_ID: usize = 512;

/// What the caller asked for.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamRequest {
    /// The event named, if any (not yet validated).
    pub event: Option<String>,
    pub key: String,
    pub mode: Mode,
}

impl fmt::Debug for StreamRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamRequest")
            .field("event", &self.event)
            .field("key", &Redacted::new(&self.key))
            .field("mode", &self.mode)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Publish,
    /// `m=request` (play) or `m=bidirectional`: not offered.
    Other,
}

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamIdError {
    #[error("no streamid: set streamid=#!::r=EVENT,s=KEY,m=publish")]
    Missing,
    #[error("streamid of {0} bytes is longer than {MAX_STREAM_ID}")]
    TooLong(usize),
    #[error("streamid has no stream key: set s=KEY or r=EVENT/KEY")]
    NoKey,
    #[error("streamid item {0:?} is not key=value")]
    BadItem(String),
}

/// Reads a streamid.
pub fn parse(sid: Option<&str>) -> Result<StreamRequest, StreamIdError> {
    let sid = sid.map(str::trim).filter(|s| !s.is_empty());
    let Some(sid) = sid else {
        return Err(StreamIdError::Missing);
    };
    if sid.len() > MAX_STREAM_ID {
        return Err(StreamIdError::TooLong(sid.len()));
    }
    let (resource, mut key, mode) = match sid.strip_prefix("#!::") {
        Some(items) => {
            let (mut r, mut s, mut m) = (None, None, Mode::Publish);
            for item in items.split(',').filter(|i| !i.is_empty()) {
                let Some((k, v)) = item.split_once('=') else {
                    // Only the item's name, so that a key typed there is not logged.
                    let name = item.chars().take(8).collect::<String>();
                    return Err(StreamIdError::BadItem(format!("{name}…")));
                };
                match k.trim() {
                    "r" => r = Some(v.trim().to_owned()),
                    "s" => s = Some(v.trim().to_owned()),
                    "m" => {
                        m = if v.trim().eq_ignore_ascii_case("publish") {
                            Mode::Publish
                        } else {
                            Mode::Other
                        }
                    }
                    _ => {}
                }
            }
            (r, s, m)
        }
        None => (Some(sid.to_owned()), None, Mode::Publish),
    };
    let mut event = None;
    if let Some(r) = resource {
        let r = r.trim_start_matches('/');
        // `live/EVENT/KEY` as some encoders prefix an application name.
        let r = r.strip_prefix("live/").unwrap_or(r);
        match r.rsplit_once('/') {
            Some((e, k)) if key.is_none() => {
                event = Some(e.to_owned());
                key = Some(k.to_owned());
            }
            _ if key.is_none() => key = Some(r.to_owned()),
            _ => event = Some(r.to_owned()),
        }
    }
    let key = key.filter(|k| !k.is_empty()).ok_or(StreamIdError::NoKey)?;
    Ok(StreamRequest {
        event: event.filter(|e| !e.is_empty()),
        key,
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(event: Option<&str>, key: &str) -> StreamRequest {
        StreamRequest {
            event: event.map(str::to_owned),
            key: key.to_owned(),
            mode: Mode::Publish,
        }
    }

    #[test]
    fn the_common_forms() {
        let ok = |s: &str| parse(Some(s)).expect(s);
        assert_eq!(ok("#!::r=ev1,s=k1,m=publish"), req(Some("ev1"), "k1"));
        assert_eq!(ok("#!::m=publish,s=k1,r=ev1"), req(Some("ev1"), "k1"));
        assert_eq!(ok("#!::r=ev1/k1,m=publish"), req(Some("ev1"), "k1"));
        assert_eq!(ok("#!::r=ev1/k1"), req(Some("ev1"), "k1"));
        assert_eq!(ok("#!::s=k1"), req(None, "k1"));
        assert_eq!(ok("#!::r=k1,m=publish"), req(None, "k1"));
        assert_eq!(ok("ev1/k1"), req(Some("ev1"), "k1"));
        assert_eq!(ok("live/ev1/k1"), req(Some("ev1"), "k1"));
        assert_eq!(ok(" k1 "), req(None, "k1"));
        assert_eq!(ok("#!::r=ev1,s=k1,m=request").mode, Mode::Other);
        assert_eq!(
            ok("#!::u=alice,r=ev1,s=k1,m=publish"),
            req(Some("ev1"), "k1")
        );
    }

    #[test]
    fn refusals_name_what_is_missing_without_the_key() {
        assert_eq!(parse(None), Err(StreamIdError::Missing));
        assert_eq!(parse(Some("  ")), Err(StreamIdError::Missing));
        assert_eq!(parse(Some("#!::m=publish")), Err(StreamIdError::NoKey));
        assert_eq!(
            parse(Some("#!::r=ev1/,m=publish")),
            Err(StreamIdError::NoKey)
        );
        let e = parse(Some("#!::r=ev1,supersecretkey")).expect_err("bad item");
        assert!(!e.to_string().contains("supersecretkey"), "{e}");
        assert!(matches!(
            parse(Some(&"k".repeat(600))),
            Err(StreamIdError::TooLong(600))
        ));
        let dbg = format!("{:?}", req(Some("ev1"), "supersecretkey"));
        assert!(!dbg.contains("supersecretkey"), "{dbg}");
    }
}
