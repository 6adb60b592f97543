//! WebVTT text (pure): the segments of the subtitles rendition and the whole-lecture
//! file of the replay.
//!
//! A subtitles segment is tied to the media timeline by its `X-TIMESTAMP-MAP`: the
//! packager gives the 90 kHz time of the video segment's first sample as found in the
//! fMP4 (`MPEGTS`) and that segment's start on the session's media clock (`LOCAL`), and
//! writes every cue on that media clock. A cue longer than one segment is repeated, with
//! the same times and text, in each segment it overlaps (players merge identical cues).

use std::fmt::Write;
use std::time::Duration;

/// Longest cue text written, in bytes (longer text is cut at a character boundary).
pub const MAX_CUE_TEXT: usize = 1000;

/// One cue, its times on the clock the file is written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VttCue<'a> {
    pub start: Duration,
    pub end: Duration,
    pub text: &'a str,
}

/// `HH:MM:SS.mmm` (hours grow past 99 if they must).
pub fn format_timestamp(t: Duration) -> String {
    let ms = t.as_millis();
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// Cue text as a WebVTT cue payload: `&`, `<` and `>` escaped, no blank line (it would
/// end the cue), no `-->` (it would start a timing line), at most [`MAX_CUE_TEXT`] bytes.
pub fn cue_payload(text: &str) -> String {
    let mut cut = text;
    if cut.len() > MAX_CUE_TEXT {
        let mut end = MAX_CUE_TEXT;
        while !cut.is_char_boundary(end) {
            end -= 1;
        }
        cut = &cut[..end];
    }
    let lines: Vec<String> = cut
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        })
        .collect();
    lines.join("\n")
}

fn write_cues(out: &mut String, cues: &[VttCue<'_>]) {
    for cue in cues {
        let payload = cue_payload(cue.text);
        if payload.is_empty() || cue.end <= cue.start {
            continue;
        }
        let _ = write!(
            out,
            "\n{} --> {}\n{}\n",
            format_timestamp(cue.start),
            format_timestamp(cue.end),
            payload
        );
    }
}

/// One segment of the subtitles rendition: `mpegts` is the 90 kHz media time at which
/// the media clock reads `local`; cue times are on that media clock. A segment without
/// cues is a valid empty WebVTT file.
pub fn render_segment(mpegts: u64, local: Duration, cues: &[VttCue<'_>]) -> String {
    let mut out = String::with_capacity(96 + 64 * cues.len());
    let _ = writeln!(
        out,
        "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:{}",
        format_timestamp(local)
    );
    write_cues(&mut out, cues);
    out
}

/// A whole file (the replay's captions): cue times from the start of the recording.
pub fn render_document(cues: &[VttCue<'_>]) -> String {
    let mut out = String::from("WEBVTT\n");
    write_cues(&mut out, cues);
    out
}

/// Largest WebVTT text [`parse_segment`] reads (a subtitles part or segment is a few
/// hundred bytes; the replay's whole file is not read with it).
pub const MAX_PARSED_BYTES: usize = 256 * 1024;
/// Most cues [`parse_segment`] returns from one text.
pub const MAX_PARSED_CUES: usize = 2000;

/// Why a WebVTT text could not be read; lines count from 1.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VttError {
    #[error("WebVTT text of {0} bytes, more than {MAX_PARSED_BYTES}")]
    TooLarge(usize),
    #[error("not WebVTT: line 1 does not start with WEBVTT")]
    NoHeader,
    #[error("bad X-TIMESTAMP-MAP at line {line}")]
    BadTimestampMap { line: usize },
    #[error("bad cue timing at line {line}")]
    BadTiming { line: usize },
    #[error("more than {MAX_PARSED_CUES} cues")]
    TooManyCues,
}

/// What [`parse_segment`] reads: the `X-TIMESTAMP-MAP` (when present) and the cues,
/// their times on the clock the file is written in, their text unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedVtt {
    /// `MPEGTS` (90 kHz) and `LOCAL` of the header's `X-TIMESTAMP-MAP`.
    pub timestamp_map: Option<(u64, Duration)>,
    pub cues: Vec<ParsedCue>,
}

/// One cue read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCue {
    pub start: Duration,
    pub end: Duration,
    pub text: String,
}

/// `HH:MM:SS.mmm` or `MM:SS.mmm` (hours of 1 to 9 digits, minutes and seconds of two).
pub fn parse_timestamp(s: &str) -> Option<Duration> {
    let (clock, ms) = s.split_once('.')?;
    if ms.len() != 3 || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fields: Vec<&str> = clock.split(':').collect();
    let (h, m, sec) = match fields.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [m, s] => ("0", *m, *s),
        _ => return None,
    };
    let num = |f: &str, len: std::ops::RangeInclusive<usize>| -> Option<u64> {
        if !len.contains(&f.len()) || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        f.parse().ok()
    };
    let (h, m, sec, ms) = (
        num(h, 1..=9)?,
        num(m, 2..=2)?,
        num(sec, 2..=2)?,
        num(ms, 3..=3)?,
    );
    if m > 59 || sec > 59 {
        return None;
    }
    Some(Duration::from_millis(((h * 60 + m) * 60 + sec) * 1000 + ms))
}

/// The reverse of [`cue_payload`]'s escaping (`&amp;`, `&lt;`, `&gt;`, `&nbsp;`);
/// markup tags are removed.
pub fn unescape_payload(payload: &str) -> String {
    let mut out = String::with_capacity(payload.len());
    let mut rest = payload;
    while let Some(i) = rest.find(['&', '<']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('<') {
            // A tag (`<v Speaker>`, `<i>`): dropped, up to its `>` (or the end).
            rest = rest.find('>').map_or("", |e| &rest[e + 1..]);
            continue;
        }
        let (entity, c) = [
            ("&amp;", '&'),
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&nbsp;", '\u{a0}'),
        ]
        .into_iter()
        .find(|(e, _)| rest.starts_with(e))
        .unwrap_or(("&", '&'));
        out.push(c);
        rest = &rest[entity.len()..];
    }
    out.push_str(rest);
    out
}

fn parse_timestamp_map(value: &str) -> Option<(u64, Duration)> {
    let mut mpegts = None;
    let mut local = None;
    for field in value.split(',') {
        match field.trim().split_once(':') {
            Some(("MPEGTS", v)) => mpegts = Some(v.parse::<u64>().ok()?),
            Some(("LOCAL", v)) => local = Some(parse_timestamp(v)?),
            _ => return None,
        }
    }
    Some((mpegts?, local?))
}

/// Reads a WebVTT segment or part (bounded: at most [`MAX_PARSED_BYTES`] of text and
/// [`MAX_PARSED_CUES`] cues). Comment, style and region blocks are skipped; a cue whose
/// end is not after its start, or whose text is empty, is left out.
pub fn parse_segment(text: &str) -> Result<ParsedVtt, VttError> {
    if text.len() > MAX_PARSED_BYTES {
        return Err(VttError::TooLarge(text.len()));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().peekable();
    match lines.next() {
        Some((_, l)) if l == "WEBVTT" || l.starts_with("WEBVTT ") || l.starts_with("WEBVTT\t") => {}
        _ => return Err(VttError::NoHeader),
    }
    let mut out = ParsedVtt::default();
    // The header runs to the first blank line.
    for (n, line) in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("X-TIMESTAMP-MAP=") {
            out.timestamp_map =
                Some(parse_timestamp_map(v).ok_or(VttError::BadTimestampMap { line: n + 1 })?);
        }
    }
    // Blocks, separated by blank lines.
    while lines.peek().is_some() {
        let mut block: Vec<(usize, &str)> = Vec::new();
        for (n, line) in lines.by_ref() {
            if line.trim().is_empty() {
                if block.is_empty() {
                    continue;
                }
                break;
            }
            block.push((n, line));
        }
        let Some(timing) = block.iter().position(|(_, l)| l.contains("-->")) else {
            continue; // NOTE, STYLE, REGION, or stray text
        };
        if timing > 1 {
            continue; // the timing line is the first or follows an identifier
        }
        let (n, line) = block[timing];
        let bad = VttError::BadTiming { line: n + 1 };
        let (start, rest) = line.split_once("-->").ok_or(bad.clone())?;
        let end = rest.split_whitespace().next().ok_or(bad.clone())?;
        let start = parse_timestamp(start.trim()).ok_or(bad.clone())?;
        let end = parse_timestamp(end).ok_or(bad)?;
        let payload: Vec<&str> = block[timing + 1..].iter().map(|(_, l)| *l).collect();
        let text = unescape_payload(&payload.join("\n"));
        if end <= start || text.trim().is_empty() {
            continue;
        }
        if out.cues.len() >= MAX_PARSED_CUES {
            return Err(VttError::TooManyCues);
        }
        out.cues.push(ParsedCue { start, end, text });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(Duration::ZERO), "00:00:00.000");
        assert_eq!(
            format_timestamp(Duration::from_millis(3_723_004)),
            "01:02:03.004"
        );
        assert_eq!(
            format_timestamp(Duration::from_secs(100 * 3600)),
            "100:00:00.000"
        );
    }

    #[test]
    fn segment_with_a_timestamp_map_and_escaped_cues() {
        let cues = [
            VttCue {
                start: Duration::from_millis(10_500),
                end: Duration::from_millis(13_000),
                text: "x < y & y > z",
            },
            VttCue {
                start: Duration::from_millis(12_000),
                end: Duration::from_millis(14_000),
                text: "one\n\n--> two",
            },
        ];
        let text = render_segment(900_000, Duration::from_secs(10), &cues);
        assert_eq!(
            text,
            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:10.000\n\
             \n00:00:10.500 --> 00:00:13.000\nx &lt; y &amp; y &gt; z\n\
             \n00:00:12.000 --> 00:00:14.000\none\n--&gt; two\n"
        );
    }

    #[test]
    fn empty_segment_is_still_webvtt() {
        let text = render_segment(0, Duration::ZERO, &[]);
        assert_eq!(
            text,
            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n"
        );
        // Blank or backwards cues are left out rather than written invalid.
        let skipped = render_segment(
            0,
            Duration::ZERO,
            &[
                VttCue {
                    start: Duration::from_secs(1),
                    end: Duration::from_secs(2),
                    text: " \n ",
                },
                VttCue {
                    start: Duration::from_secs(2),
                    end: Duration::from_secs(1),
                    text: "x",
                },
            ],
        );
        assert_eq!(skipped, text);
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_CUE_TEXT);
        let p = cue_payload(&long);
        assert!(p.len() <= MAX_CUE_TEXT);
        assert!(p.chars().all(|c| c == 'é'));
    }

    #[test]
    fn document() {
        let doc = render_document(&[VttCue {
            start: Duration::from_secs(61),
            end: Duration::from_secs(63),
            text: "Hello",
        }]);
        assert_eq!(doc, "WEBVTT\n\n00:01:01.000 --> 00:01:03.000\nHello\n");
    }

    #[test]
    fn reads_back_what_it_writes() {
        let cues = [
            VttCue {
                start: Duration::from_millis(10_500),
                end: Duration::from_millis(13_000),
                text: "x < y & y > z",
            },
            VttCue {
                start: Duration::from_millis(3_600_000 + 12_000),
                end: Duration::from_millis(3_600_000 + 14_000),
                text: "one\n\n--> two",
            },
        ];
        let text = render_segment(900_000, Duration::from_secs(10), &cues);
        let parsed = parse_segment(&text).unwrap();
        assert_eq!(
            parsed.timestamp_map,
            Some((900_000, Duration::from_secs(10)))
        );
        assert_eq!(
            parsed.cues,
            vec![
                ParsedCue {
                    start: Duration::from_millis(10_500),
                    end: Duration::from_millis(13_000),
                    text: "x < y & y > z".into()
                },
                ParsedCue {
                    start: Duration::from_millis(3_612_000),
                    end: Duration::from_millis(3_614_000),
                    text: "one\n--> two".into()
                },
            ]
        );
        let empty = parse_segment(&render_segment(0, Duration::ZERO, &[])).unwrap();
        assert!(empty.cues.is_empty());
        assert_eq!(empty.timestamp_map, Some((0, Duration::ZERO)));
    }

    #[test]
    fn reads_other_writers_webvtt() {
        let text = "\u{feff}WEBVTT - a title\r\nKind: captions\r\n\r\nNOTE a comment\r\nover two lines\r\n\r\n\
            STYLE\r\n::cue { color: red }\r\n\r\ncue-1\r\n01:02.500 --> 01:04.000 align:start\r\n<v Ann>Hello</v> &amp; bye&nbsp;now\r\n\r\n\
            00:00:05.000 --> 00:00:04.000\r\nbackwards\r\n";
        let parsed = parse_segment(text).unwrap();
        assert_eq!(parsed.timestamp_map, None);
        assert_eq!(
            parsed.cues,
            vec![ParsedCue {
                start: Duration::from_millis(62_500),
                end: Duration::from_millis(64_000),
                text: "Hello & bye\u{a0}now".into()
            }]
        );
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert_eq!(parse_segment(""), Err(VttError::NoHeader));
        assert_eq!(parse_segment("WEBVTTX\n"), Err(VttError::NoHeader));
        assert_eq!(
            parse_segment("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:x,LOCAL:00:00:00.000\n"),
            Err(VttError::BadTimestampMap { line: 2 })
        );
        assert_eq!(
            parse_segment("WEBVTT\n\n00:00:01.000 --> soon\nx\n"),
            Err(VttError::BadTiming { line: 3 })
        );
        let big = format!("WEBVTT\n{}", "x".repeat(MAX_PARSED_BYTES));
        assert!(matches!(parse_segment(&big), Err(VttError::TooLarge(_))));
        let many = format!(
            "WEBVTT\n{}",
            "\n00:00:01.000 --> 00:00:02.000\nx\n".repeat(MAX_PARSED_CUES + 1)
        );
        assert_eq!(parse_segment(&many), Err(VttError::TooManyCues));
        for t in [
            "1:2.000",
            "00:60.000",
            "00:00:01.0000",
            "aa:00.000",
            "00:00:01,000",
            "",
        ] {
            assert_eq!(parse_timestamp(t), None, "{t}");
        }
        assert_eq!(unescape_payload("a &b <unclosed"), "a &b ");
    }
}
