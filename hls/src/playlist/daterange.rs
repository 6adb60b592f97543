//! `EXT-X-DATERANGE`: markers in program time (chapters, answered questions) carried
//! in media playlists.
//!
//! A [`DateRange`] is dated on the playlist's `EXT-X-PROGRAM-DATE-TIME` clock, so
//! every viewer sees it at the same moment of the lecture whatever their own latency.
//! Rules the writer keeps (RFC 8216bis 4.4.5.1):
//! - `ID` is unique in the playlist and stable: the same marker keeps its id in every
//!   playlist it appears in, live or recorded;
//! - a live playlist lists a marker only while its `START-DATE` lies within the
//!   playlist (from the first listed segment's date to the end of the last listed
//!   part), see [`DateRange::within`]; the recording lists every marker within it;
//! - client attributes are `X-` names with quoted-string values; a quoted string
//!   cannot hold `"`, CR or LF, so [`quoted_string_safe`] replaces them.

use std::time::SystemTime;

/// Longest text kept in a client attribute, in characters.
pub const MAX_ATTRIBUTE_CHARS: usize = 200;

/// One `EXT-X-DATERANGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateRange {
    /// Unique and stable within the playlist (`[A-Za-z0-9._-]`, see [`safe_id`]).
    pub id: String,
    /// `CLASS`, when set.
    pub class: Option<String>,
    /// `START-DATE` in program time.
    pub start: SystemTime,
    /// Client attributes, names starting with `X-`, values written as quoted strings.
    pub attributes: Vec<(String, String)>,
}

/// Client attribute naming what kind of marker a date range is (`chapter`, `question`).
pub const KIND_ATTRIBUTE: &str = "X-AMPHI-KIND";
/// Client attribute with the marker's text.
pub const TEXT_ATTRIBUTE: &str = "X-AMPHI-TEXT";
/// `CLASS` of Amphi's markers.
pub const MARKER_CLASS: &str = "org.amphi.marker";

impl DateRange {
    /// An Amphi marker: `CLASS`, `X-AMPHI-KIND` and `X-AMPHI-TEXT`.
    pub fn marker(id: &str, start: SystemTime, kind: &str, text: &str) -> DateRange {
        DateRange {
            id: safe_id(id),
            class: Some(MARKER_CLASS.to_owned()),
            start,
            attributes: vec![
                (KIND_ATTRIBUTE.to_owned(), kind.to_owned()),
                (TEXT_ATTRIBUTE.to_owned(), text.to_owned()),
            ],
        }
    }

    /// The value of client attribute `name`, as written.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `START-DATE` lies in `[from, to]`.
    pub fn within(&self, from: SystemTime, to: SystemTime) -> bool {
        from <= self.start && self.start <= to
    }

    /// The tag line, without its newline.
    pub fn to_tag(&self) -> String {
        let mut out = format!(
            "#EXT-X-DATERANGE:ID=\"{}\"",
            quoted_string_safe(&self.id, MAX_ATTRIBUTE_CHARS)
        );
        if let Some(class) = &self.class {
            out.push_str(",CLASS=\"");
            out.push_str(&quoted_string_safe(class, MAX_ATTRIBUTE_CHARS));
            out.push('"');
        }
        out.push_str(",START-DATE=\"");
        out.push_str(&super::write::format_pdt(self.start));
        out.push('"');
        for (name, value) in &self.attributes {
            if !is_client_attribute_name(name) {
                continue;
            }
            out.push(',');
            out.push_str(name);
            out.push_str("=\"");
            out.push_str(&quoted_string_safe(value, MAX_ATTRIBUTE_CHARS));
            out.push('"');
        }
        out
    }
}

/// Client attribute names: `X-` then `[A-Z0-9-]` (RFC 8216bis 4.2 attribute names).
pub fn is_client_attribute_name(name: &str) -> bool {
    name.len() > 2
        && name.starts_with("X-")
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

/// `text` fit for a quoted string: `"` becomes `'`, CR, LF and other control
/// characters become spaces (runs collapse), trimmed, at most `max_chars` characters.
pub fn quoted_string_safe(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(4 * max_chars));
    let mut space = false;
    for c in text.chars() {
        let c = match c {
            '"' => '\'',
            c if c.is_control() => ' ',
            c => c,
        };
        if c == ' ' {
            if space {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        out.push(c);
    }
    out.trim().chars().take(max_chars).collect()
}

/// An id of `[A-Za-z0-9._-]` only (anything else becomes `_`), never empty.
pub fn safe_id(id: &str) -> String {
    let out: String = id
        .chars()
        .take(MAX_ATTRIBUTE_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        "_".to_owned()
    } else {
        out
    }
}

/// Writes the ranges of `ranges` whose START-DATE lies in `[from, to]`, once per ID
/// (the first wins), in START-DATE order.
pub(super) fn write_within(
    out: &mut String,
    ranges: &[DateRange],
    from: SystemTime,
    to: SystemTime,
) {
    let mut listed: Vec<&DateRange> = ranges.iter().filter(|r| r.within(from, to)).collect();
    listed.sort_by_key(|r| r.start);
    let mut ids = std::collections::HashSet::new();
    for r in listed {
        if ids.insert(r.id.as_str()) {
            out.push_str(&r.to_tag());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::fixtures::{playlist, t0, PART};
    use super::super::model::{MediaPlaylist, PlaylistConfig};
    use super::super::read::read_media;
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn ids(text: &str) -> Vec<String> {
        read_media(text)
            .unwrap()
            .date_ranges
            .into_iter()
            .map(|r| r.id)
            .collect()
    }

    #[test]
    fn round_trip_through_the_writer_and_the_reader() {
        let mut p = playlist(3, 2);
        let at = t0() + Duration::from_millis(2500);
        let chapter = DateRange::marker("chapter-1", at, "chapter", "Part 2 — \"Entropy\"\n");
        p.set_date_ranges(Arc::from(vec![chapter]));
        for skip in [false, true] {
            let text = p.render(skip, &[]);
            let listing = read_media(&text).unwrap();
            assert_eq!(listing.date_ranges.len(), 1, "{text}");
            let r = &listing.date_ranges[0];
            assert_eq!(r.id, "chapter-1");
            assert_eq!(r.start, at);
            assert_eq!(r.class.as_deref(), Some(MARKER_CLASS));
            assert_eq!(r.attribute(KIND_ATTRIBUTE), Some("chapter"));
            assert_eq!(r.attribute(TEXT_ATTRIBUTE), Some("Part 2 — 'Entropy'"));
            // The parts and segments read the same with the tag in.
            assert_eq!(listing.segment_uris.len(), 3);
            assert_eq!(listing.next(), (3, 2));
            // An independent reader takes it too.
            let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
            let found = parsed.segments.iter().any(|s| {
                s.daterange.as_ref().is_some_and(|d| {
                    d.id == "chapter-1" && d.class.as_deref() == Some(MARKER_CLASS)
                })
            });
            assert!(found, "{text}");
        }
    }

    #[test]
    fn live_playlists_list_markers_within_their_window_only() {
        let config = PlaylistConfig {
            retain_segments: 100,
            ..PlaylistConfig::default()
        };
        let mut p = MediaPlaylist::new(config);
        let s = |ms: u64| t0() + Duration::from_millis(ms);
        let ranges = vec![
            DateRange::marker("early", s(1_000), "chapter", "Intro"),
            DateRange::marker("mid", s(30_000), "question", "Why?"),
            DateRange::marker("ahead", s(60_000), "chapter", "Not yet"),
        ];
        p.set_date_ranges(Arc::from(ranges));
        for seg in 0..20u64 {
            p.begin_segment(s(2_000 * seg));
            for n in 0..6 {
                p.push_part(PART, n == 0).unwrap();
            }
        }
        // Window: segments 7..=19 (14 s to 40 s): "early" slid out, "ahead" is not due.
        let live = p.render(false, &[]);
        assert_eq!(ids(&live), ["mid"], "{live}");
        assert_eq!(ids(&p.render(true, &[])), ["mid"]);
        // The recording lists every marker within it.
        p.end();
        let vod = p.render_vod();
        assert_eq!(ids(&vod), ["early", "mid"], "{vod}");
        // A marker at the very end of the listed media is within.
        let mut q = playlist(1, 0);
        q.set_date_ranges(Arc::from(vec![DateRange::marker(
            "end",
            t0() + PART * 6,
            "chapter",
            "x",
        )]));
        assert_eq!(ids(&q.render(false, &[])), ["end"]);
        // No segment, no marker.
        let mut empty = MediaPlaylist::new(PlaylistConfig::default());
        empty.set_date_ranges(Arc::from(vec![DateRange::marker(
            "x",
            s(0),
            "chapter",
            "x",
        )]));
        assert!(ids(&empty.render(false, &[])).is_empty());
    }

    #[test]
    fn reader_refuses_a_date_range_without_id_or_with_a_bad_date() {
        let head = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n";
        for bad in [
            "#EXT-X-DATERANGE:START-DATE=\"2025-11-24T16:00:00Z\"\n",
            "#EXT-X-DATERANGE:ID=\"a\",START-DATE=\"soon\"\n",
        ] {
            assert!(read_media(&format!("{head}{bad}")).is_err(), "{bad}");
        }
        let no_date = read_media(&format!("{head}#EXT-X-DATERANGE:ID=\"a\"\n")).unwrap();
        assert!(no_date.date_ranges.is_empty());
        let other = read_media(&format!(
            "{head}#EXT-X-DATERANGE:ID=\"ad\",START-DATE=\"2025-11-24T16:00:00Z\",DURATION=30.0,X-COM-FOO=\"a,b\",X-N=0x12\n"
        ))
        .unwrap();
        let r = &other.date_ranges[0];
        assert_eq!(r.class, None);
        assert_eq!(r.attribute("X-COM-FOO"), Some("a,b"));
        assert_eq!(r.attribute("X-N"), Some("0x12"));
    }

    #[test]
    fn marker_tag() {
        let r = DateRange::marker(
            "chapter-7",
            t0() + Duration::from_millis(1500),
            "chapter",
            "Part 2 — Entropy",
        );
        assert_eq!(
            r.to_tag(),
            "#EXT-X-DATERANGE:ID=\"chapter-7\",CLASS=\"org.amphi.marker\",START-DATE=\"2025-11-24T16:00:01.500Z\",X-AMPHI-KIND=\"chapter\",X-AMPHI-TEXT=\"Part 2 — Entropy\""
        );
    }

    #[test]
    fn quoted_strings_hold_no_quote_nor_line_break() {
        assert_eq!(
            quoted_string_safe("say \"hi\"\r\n\n  then\tgo ", 100),
            "say 'hi' then go"
        );
        assert_eq!(quoted_string_safe("ééé", 2), "éé");
        assert_eq!(quoted_string_safe("\u{7}\u{0}", 10), "");
        let evil = DateRange::marker("a\"b\n", t0(), "chapter", "x\",X-EVIL=\"1\nseg9.m4s");
        let tag = evil.to_tag();
        assert!(!tag.contains('\n') && !tag.contains('\r'), "{tag}");
        assert_eq!(tag.matches('"').count(), 10, "{tag}");
        assert!(tag.starts_with("#EXT-X-DATERANGE:ID=\"a_b_\","), "{tag}");
        // Bad client attribute names are left out.
        let mut r = DateRange::marker("i", t0(), "chapter", "t");
        r.attributes.push(("X-lower".into(), "v".into()));
        r.attributes.push(("Y-OTHER".into(), "v".into()));
        assert!(!r.to_tag().contains("lower") && !r.to_tag().contains("Y-OTHER"));
    }

    #[test]
    fn ids_are_safe_and_never_empty() {
        assert_eq!(safe_id("chapter-1.2_x"), "chapter-1.2_x");
        assert_eq!(safe_id("a b\"c"), "a_b_c");
        assert_eq!(safe_id(""), "_");
    }

    #[test]
    fn window_rule() {
        let r = DateRange::marker("m", t0() + Duration::from_secs(10), "chapter", "t");
        let s = |n| t0() + Duration::from_secs(n);
        assert!(r.within(s(10), s(20)));
        assert!(r.within(s(0), s(10)));
        assert!(!r.within(s(11), s(20)));
        assert!(!r.within(s(0), s(9)));
    }

    #[test]
    fn duplicate_ids_are_written_once_in_date_order() {
        let s = |n| t0() + Duration::from_secs(n);
        let ranges = [
            DateRange::marker("b", s(5), "chapter", "second"),
            DateRange::marker("a", s(2), "chapter", "first"),
            DateRange::marker("a", s(3), "chapter", "again"),
            DateRange::marker("c", s(50), "chapter", "later"),
        ];
        let mut out = String::new();
        write_within(&mut out, &ranges, s(0), s(10));
        let ids: Vec<_> = out
            .lines()
            .map(|l| super::super::read::attribute(l.split_once(':').unwrap().1, "ID").unwrap())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(out.contains("first") && !out.contains("again"));
    }
}
