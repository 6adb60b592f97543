//! Entry points for the fuzz targets in `fuzz/` and for the stable tests that replay
//! their corpora (`tests/fuzz_corpus.rs`). Each takes untrusted bytes and panics only
//! when an invariant breaks. Not an API.

use crate::edge::Awaited;
use crate::{query, token};

/// The playlist request's delivery directives: whatever parses re-renders to a query
/// that parses to the same directives.
pub fn playlist_query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(d) = query::parse(Some(&text)) else {
        return;
    };
    let mut again = Vec::new();
    if let Some(Awaited { msn, part }) = d.awaited {
        again.push(format!("_HLS_msn={msn}"));
        if let Some(part) = part {
            again.push(format!("_HLS_part={part}"));
        }
    }
    if d.skip {
        again.push("_HLS_skip=YES".to_owned());
    }
    assert_eq!(query::parse(Some(&again.join("&"))), Ok(d), "{text:?}");
}

/// Viewer tokens: input is `secret \n event \n token \n now`. A token that verifies is
/// exactly the one `sign` writes for its expiry (one text per grant, so a cohort's URL
/// stays one cache key); a freshly signed token verifies until it expires.
pub fn viewer_token(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.splitn(4, '\n');
    let secret = fields.next().unwrap_or_default().as_bytes();
    let event = fields.next().unwrap_or_default();
    let candidate = fields.next().unwrap_or_default();
    let now = amphi_time::WallTime::from_unix_secs(
        fields
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(1_800_000_000),
    );
    if let Ok(expiry) = token::verify(secret, event, candidate, now) {
        assert!(expiry > now);
        assert_eq!(candidate, token::sign(secret, event, expiry));
    }
    let expiry = now + std::time::Duration::from_secs(u64::from(data.len() as u16));
    let fresh = token::sign(secret, event, expiry);
    assert!(fresh.len() <= token::MAX_TOKEN_LEN);
    assert!(fresh
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
    let checked = token::verify(secret, event, &fresh, now);
    // A token carries whole seconds: what it grants is the expiry rounded down.
    let granted = amphi_time::WallTime::from_unix_secs(expiry.unix_secs_unsigned());
    if granted > now {
        assert_eq!(checked, Ok(granted));
    } else {
        assert_eq!(
            checked,
            Err(token::TokenError::Expired { expires: granted })
        );
    }
    if !event.is_empty() {
        let other = format!("{event}x");
        assert_eq!(
            token::verify(secret, &other, &fresh, now).err(),
            Some(token::TokenError::BadSignature)
        );
    }
}

/// The LL-HLS playlist reader the origin answers blocking requests from: the edge it
/// reads agrees with the full listing, and the other readers take any text.
pub fn edge_playlist(data: &[u8]) {
    use amphi_hls::playlist::{attribute, parse_edge, part_position, read_media};
    let text = String::from_utf8_lossy(data);
    let listing = read_media(&text);
    let edge = parse_edge(&text);
    match (&listing, &edge) {
        (Ok(listing), Some(edge)) => {
            assert_eq!(Some(edge.target_duration), listing.target_duration);
            assert_eq!((edge.next_msn, edge.next_part), listing.next());
            assert!((edge.next_msn, edge.next_part) >= listing.after_listed);
            assert_eq!(edge.ended, listing.ended);
            assert_eq!(edge.has(edge.next_msn, Some(edge.next_part)), edge.ended);
            if edge.next_part > 0 {
                assert!(edge.has(edge.next_msn, Some(edge.next_part - 1)));
            }
        }
        (Ok(listing), None) => assert_eq!(listing.target_duration, None),
        (Err(_), edge) => assert!(edge.is_none()),
    }
    for line in text.lines() {
        let (_, value) = line.split_once(':').unwrap_or(("", line));
        for name in ["URI", "DURATION", "TYPE", "BANDWIDTH"] {
            if let Some(v) = attribute(value, name) {
                assert!(value.contains(v));
            }
        }
        if let Some((msn, part)) = part_position(value) {
            assert!(value.contains(&format!("{msn}")) && value.contains(&format!("{part}")));
        }
    }
    let _ = amphi_hls::playlist::read_multivariant(&text);
}

/// CMCD from a query and headers: input is `query \n header value`. Never panics, and
/// what it keeps stays within the bounds (a session id of at most `MAX_SID_CHARS`
/// printable characters).
pub fn cmcd(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (query, header) = text.split_once('\n').unwrap_or((&text, ""));
    let mut headers = axum::http::HeaderMap::new();
    if let Ok(v) = axum::http::HeaderValue::from_str(header) {
        headers.insert("cmcd-session", v);
    }
    for c in [
        crate::cmcd::from_request(Some(query), &headers),
        Some(crate::cmcd::parse(&text)),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(sid) = &c.sid {
            assert!(!sid.is_empty() && sid.chars().count() <= crate::cmcd::MAX_SID_CHARS);
            assert!(sid.chars().all(|ch| ch.is_ascii_graphic() && ch != '"'));
        }
    }
}

/// A WebVTT part or segment of the subtitles rendition as the captions stream reads it
/// from the store: the reader takes any text within its bounds; the cues it reads, once
/// written again, read back the same; the feed pushes each at most once.
pub fn caption_vtt(data: &[u8]) {
    use amphi_hls::vtt::{cue_payload, parse_segment, render_segment, VttCue};
    use amphi_time::ProgramTime;
    let text = String::from_utf8_lossy(data);
    let Ok(parsed) = parse_segment(&text) else {
        return;
    };
    assert!(parsed.cues.len() <= amphi_hls::vtt::MAX_PARSED_CUES);
    let (mpegts, local) = parsed.timestamp_map.unwrap_or_default();
    let cues: Vec<VttCue<'_>> = parsed
        .cues
        .iter()
        .map(|c| VttCue {
            start: c.start,
            end: c.end,
            text: &c.text,
        })
        .collect();
    let written = render_segment(mpegts, local, &cues);
    let again = parse_segment(&written).expect("our own WebVTT reads back");
    assert_eq!(again.timestamp_map, Some((mpegts, local)));
    // Blank text is left out when written; the rest keeps its times, and its text as
    // far as the written payload allows (trimmed lines, no blank line, escaped).
    let kept: Vec<_> = parsed
        .cues
        .iter()
        .filter(|c| !cue_payload(&c.text).is_empty())
        .collect();
    assert_eq!(kept.len(), again.cues.len(), "{written:?}");
    for (a, b) in kept.iter().zip(&again.cues) {
        assert_eq!((a.start, a.end), (b.start, b.end));
    }
    let mut feed = crate::caption_feed::CaptionFeed::new();
    let fetch = crate::caption_feed::Fetch {
        msn: 0,
        part: Some(0),
        program_date_time: ProgramTime::from_unix_millis(1_764_000_000_000),
    };
    let first = feed.on_vtt(fetch, &text).map(|c| c.len()).unwrap_or(0);
    assert!(first <= parsed.cues.len());
    let twice = feed.on_vtt(fetch, &text).map(|c| c.len()).unwrap_or(0);
    assert!(twice == 0 || first > crate::caption_feed::MAX_RECENT);
}
