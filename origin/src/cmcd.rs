//! Common Media Client Data (CTA-5004) from players: the keys the health page uses —
//! `sid` (session id), `br` (encoded bitrate, kb/s) and `bl` (buffer length, ms) — read
//! from the `CMCD` query parameter or the `CMCD-Session`/`CMCD-Object`/`CMCD-Request`/
//! `CMCD-Status` headers, and the distinct sessions per event over a window.
//!
//! hls.js sends CMCD with `cmcd: {}` as a query parameter, which makes every media URL
//! unique to a viewer and defeats a CDN (see DESIGN, "HTTP contract"); players behind a
//! CDN should send it as headers (`cmcd: { useHeaders: true }`), which the cache key
//! ignores. Behind a CDN the origin sees only cache misses: the count here is then a
//! floor, and the CDN's own CMCD logs give the audience.
//!
//! Bounded: the value is parsed only up to [`MAX_VALUE_BYTES`], a session id up to
//! [`MAX_SID_CHARS`], at most [`MAX_SESSIONS`] sessions per event and [`MAX_EVENTS`]
//! events are tracked (beyond, new sessions are not counted and the count says so).

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const MAX_VALUE_BYTES: usize = 1024;
pub const MAX_SID_CHARS: usize = 64;
pub const MAX_SESSIONS: usize = 20_000;
pub const MAX_EVENTS: usize = 256;
/// A session counts while it made a request within this window.
pub const WINDOW: Duration = Duration::from_secs(30);

/// The keys of one request that the health page uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cmcd {
    pub sid: Option<String>,
    pub br: Option<u64>,
    pub bl: Option<u64>,
}

/// Reads `sid`, `br` and `bl` from one CMCD value (`bl=21300,br=3200,sid="6e2f…"`).
/// Keys it does not use, and malformed pairs, are skipped.
pub fn parse(value: &str) -> Cmcd {
    let mut end = value.len().min(MAX_VALUE_BYTES);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let value = &value[..end];
    let mut out = Cmcd::default();
    for pair in split_pairs(value) {
        let (key, val) = match pair.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            // A bare key is a boolean true: none of ours.
            None => continue,
        };
        match key {
            "sid" => {
                if let Some(s) = val.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                    let ok = !s.is_empty()
                        && s.chars().count() <= MAX_SID_CHARS
                        && s.chars()
                            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
                    if ok {
                        out.sid = Some(s.to_owned());
                    }
                }
            }
            "br" => out.br = integer(val),
            "bl" => out.bl = integer(val),
            _ => {}
        }
    }
    out
}

fn integer(v: &str) -> Option<u64> {
    (!v.is_empty() && v.len() <= 12 && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse().ok())
        .flatten()
}

/// Splits on commas outside quoted strings.
fn split_pairs(value: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut quoted = false;
    let mut cuts = Vec::new();
    for (i, b) in value.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                cuts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    cuts.push(&value[start..]);
    cuts.into_iter().filter(|s| !s.is_empty())
}

/// The CMCD of a request: its `CMCD` query parameter (percent-encoded) and its
/// `CMCD-*` headers, merged (the query wins for keys both carry).
pub fn from_request(query: Option<&str>, headers: &axum::http::HeaderMap) -> Option<Cmcd> {
    let mut found = None::<Cmcd>;
    for name in ["cmcd-session", "cmcd-object", "cmcd-request", "cmcd-status"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            let c = parse(v);
            let f = found.get_or_insert_with(Cmcd::default);
            f.sid = f.sid.take().or(c.sid);
            f.br = f.br.or(c.br);
            f.bl = f.bl.or(c.bl);
        }
    }
    if let Some(q) = query {
        for pair in q.split('&').take(64) {
            if let Some(raw) = pair.strip_prefix("CMCD=") {
                let decoded = percent_decode(raw)?;
                let c = parse(&decoded);
                let f = found.get_or_insert_with(Cmcd::default);
                f.sid = c.sid.or(f.sid.take());
                f.br = c.br.or(f.br);
                f.bl = c.bl.or(f.bl);
            }
        }
    }
    found
}

/// `%XX` and `+` decoding of a query value (bounded by [`MAX_VALUE_BYTES`] × 3).
fn percent_decode(s: &str) -> Option<String> {
    let s = s.as_bytes();
    let s = &s[..s.len().min(MAX_VALUE_BYTES * 3)];
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[derive(Debug, Clone, Copy)]
struct Session {
    seen: Instant,
    br: Option<u64>,
    bl: Option<u64>,
}

/// What the health page shows of the CMCD sessions of one event.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CmcdSummary {
    /// Distinct session ids seen within [`WINDOW`].
    pub sessions: usize,
    /// The cap was reached: more sessions exist than counted.
    pub capped: bool,
    /// Means over the sessions that reported them.
    pub mean_bitrate_kbps: Option<f64>,
    pub mean_buffer_ms: Option<f64>,
}

/// Distinct CMCD sessions per event (sans-IO: `now` is given).
#[derive(Debug, Default)]
pub struct CmcdSessions {
    events: HashMap<String, (HashMap<String, Session>, bool)>,
}

impl CmcdSessions {
    pub fn record(&mut self, event: &str, cmcd: Cmcd, now: Instant) {
        let Some(sid) = cmcd.sid else {
            return;
        };
        if !self.events.contains_key(event) && self.events.len() >= MAX_EVENTS {
            self.expire(now);
            if self.events.len() >= MAX_EVENTS {
                return;
            }
        }
        let (sessions, capped) = self.events.entry(event.to_owned()).or_default();
        if !sessions.contains_key(&sid) && sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| now.duration_since(s.seen) <= WINDOW);
            if sessions.len() >= MAX_SESSIONS {
                *capped = true;
                return;
            }
        }
        let s = sessions.entry(sid).or_insert(Session {
            seen: now,
            br: None,
            bl: None,
        });
        s.seen = now;
        s.br = cmcd.br.or(s.br);
        s.bl = cmcd.bl.or(s.bl);
    }

    /// Forgets sessions older than the window, and events without any.
    pub fn expire(&mut self, now: Instant) {
        for (sessions, capped) in self.events.values_mut() {
            let before = sessions.len();
            sessions.retain(|_, s| now.duration_since(s.seen) <= WINDOW);
            if sessions.len() < before {
                *capped = false;
            }
        }
        self.events.retain(|_, (s, _)| !s.is_empty());
    }

    pub fn summary(&self, event: &str, now: Instant) -> CmcdSummary {
        let Some((sessions, capped)) = self.events.get(event) else {
            return CmcdSummary::default();
        };
        let live: Vec<&Session> = sessions
            .values()
            .filter(|s| now.duration_since(s.seen) <= WINDOW)
            .collect();
        let mean =
            |v: Vec<u64>| (!v.is_empty()).then(|| v.iter().sum::<u64>() as f64 / v.len() as f64);
        CmcdSummary {
            sessions: live.len(),
            capped: *capped,
            mean_bitrate_kbps: mean(live.iter().filter_map(|s| s.br).collect()),
            mean_buffer_ms: mean(live.iter().filter_map(|s| s.bl).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_keys_it_uses() {
        let c = parse(
            r#"bl=21300,br=3200,bs,cid="faec5fc2-ac30-11eabb37-0242ac130002",d=4004,mtp=25400,ot=v,rtp=15000,sf=d,sid="6e2fb550-c457-11e9-bb97-0800200c9a66,x",st=v,tb=6000"#,
        );
        assert_eq!(c.bl, Some(21300));
        assert_eq!(c.br, Some(3200));
        assert_eq!(
            c.sid.as_deref(),
            Some("6e2fb550-c457-11e9-bb97-0800200c9a66,x")
        );
        // Malformed values are skipped, not errors.
        let c = parse(r#"br=abc,bl=-5,sid=unquoted,sid"#);
        assert_eq!(c, Cmcd::default());
        let c = parse(&format!(r#"sid="{}""#, "a".repeat(65)));
        assert_eq!(c.sid, None);
        assert_eq!(parse("br=99999999999999999999").br, None);
        // Only the first MAX_VALUE_BYTES are read, whatever the length, even in UTF-8.
        let long = format!("br=1,{}", "é".repeat(100_000));
        assert_eq!(parse(&long).br, Some(1));
        assert_eq!(parse("").sid, None);
    }

    #[test]
    fn from_query_or_headers() {
        let mut h = axum::http::HeaderMap::new();
        let q = "_HLS_msn=3&CMCD=bl%3D2000%2Cbr%3D800%2Csid%3D%22abc%22";
        let c = from_request(Some(q), &h).expect("cmcd");
        assert_eq!(
            c,
            Cmcd {
                sid: Some("abc".into()),
                br: Some(800),
                bl: Some(2000)
            }
        );
        assert_eq!(from_request(Some("_HLS_msn=3"), &h), None);
        assert_eq!(from_request(Some("CMCD=%zz"), &h), None);
        h.insert("cmcd-session", "sid=\"s1\"".parse().expect("header"));
        h.insert("cmcd-object", "br=1200".parse().expect("header"));
        h.insert("cmcd-request", "bl=900".parse().expect("header"));
        let c = from_request(None, &h).expect("cmcd");
        assert_eq!(
            (c.sid.as_deref(), c.br, c.bl),
            (Some("s1"), Some(1200), Some(900))
        );
    }

    #[test]
    fn counts_distinct_sessions_in_the_window_and_is_bounded() {
        let t0 = Instant::now();
        let mut s = CmcdSessions::default();
        let c = |sid: &str, br: u64| Cmcd {
            sid: Some(sid.into()),
            br: Some(br),
            bl: None,
        };
        s.record("ev", c("a", 800), t0);
        s.record("ev", c("a", 1200), t0 + Duration::from_secs(1));
        s.record("ev", c("b", 400), t0 + Duration::from_secs(2));
        s.record("ev", Cmcd::default(), t0);
        let sum = s.summary("ev", t0 + Duration::from_secs(2));
        assert_eq!(sum.sessions, 2);
        assert_eq!(sum.mean_bitrate_kbps, Some(800.0));
        assert_eq!(s.summary("other", t0).sessions, 0);
        // "a" leaves the window first.
        let later = t0 + WINDOW + Duration::from_millis(1500);
        assert_eq!(s.summary("ev", later).sessions, 1);
        s.expire(t0 + WINDOW * 3);
        assert_eq!(s.summary("ev", t0).sessions, 0);

        // The cap: sessions beyond it are not counted, and the summary says so.
        let mut s = CmcdSessions::default();
        for i in 0..MAX_SESSIONS + 10 {
            s.record("ev", c(&format!("s{i}"), 1), t0);
        }
        let sum = s.summary("ev", t0);
        assert_eq!(sum.sessions, MAX_SESSIONS);
        assert!(sum.capped);
        for i in 0..MAX_EVENTS + 5 {
            s.record(&format!("e{i}"), c("x", 1), t0);
        }
        assert!(s.events.len() <= MAX_EVENTS);
    }
}
