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
}
