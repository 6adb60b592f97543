//! Multivariant (master) playlist writer.

#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// URI relative to the multivariant playlist, e.g. `720p/index.m3u8`.
    pub uri: String,
    /// Peak bits per second (BANDWIDTH).
    pub bandwidth: u64,
    /// AVERAGE-BANDWIDTH.
    pub average_bandwidth: u64,
    pub width: u32,
    pub height: u32,
    /// RFC 6381 codecs, e.g. `avc1.64001f,mp4a.40.2`.
    pub codecs: String,
    pub frame_rate: f64,
    /// Human label for the quality menu (NAME attribute is not standard on variants;
    /// kept for our player in a comment-free way via the URI folder name).
    pub name: String,
}

/// The event's subtitles rendition (`EXT-X-MEDIA:TYPE=SUBTITLES`), referenced by every
/// variant with `SUBTITLES="{group}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtitlesGroup {
    pub group_id: String,
    /// NAME shown in players' menus.
    pub name: String,
    /// BCP 47 language tag (LANGUAGE).
    pub language: String,
    /// URI relative to the multivariant playlist, e.g. `subs/index.m3u8`.
    pub uri: String,
}

/// Group id of the subtitles rendition.
pub const SUBTITLES_GROUP: &str = "subs";

/// Renders the multivariant playlist (highest bandwidth first).
pub fn render_master(variants: &[Variant]) -> String {
    render_master_with(variants, None)
}

/// [`render_master`] with a subtitles rendition: AUTOSELECT=YES, DEFAULT=NO (captions
/// stay off until the viewer asks for them).
pub fn render_master_with(variants: &[Variant], subtitles: Option<&SubtitlesGroup>) -> String {
    use std::fmt::Write;
    let mut sorted: Vec<&Variant> = variants.iter().collect();
    sorted.sort_by_key(|v| std::cmp::Reverse(v.bandwidth));
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    if let Some(s) = subtitles {
        let _ = writeln!(
            out,
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{}\",NAME=\"{}\",LANGUAGE=\"{}\",AUTOSELECT=YES,DEFAULT=NO,URI=\"{}\"",
            quoted(&s.group_id),
            quoted(&s.name),
            quoted(&s.language),
            quoted(&s.uri)
        );
    }
    for v in sorted {
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},CODECS=\"{}\",FRAME-RATE={:.3}",
            v.bandwidth, v.average_bandwidth, v.width, v.height, v.codecs, v.frame_rate
        );
        if let Some(s) = subtitles {
            let _ = write!(out, ",SUBTITLES=\"{}\"", quoted(&s.group_id));
        }
        out.push('\n');
        let _ = writeln!(out, "{}", v.uri);
    }
    out
}

/// A quoted-string attribute value: no `"`, CR or LF (rfc8216bis 4.2).
fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '"' | '\r' | '\n'))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn variant(name: &str, bandwidth: u64, height: u32) -> Variant {
        Variant {
            uri: format!("{name}/index.m3u8"),
            bandwidth,
            average_bandwidth: bandwidth * 8 / 10,
            width: height * 16 / 9,
            height,
            codecs: "avc1.64001f,mp4a.40.2".into(),
            frame_rate: 30.0,
            name: name.into(),
        }
    }

    #[test]
    fn lists_every_variant_highest_first() {
        let text = render_master(&[
            variant("360p", 700_000, 360),
            variant("720p", 2_600_000, 720),
        ]);
        assert!(text.starts_with("#EXTM3U\n"));
        let first = text.find("720p/index.m3u8").unwrap();
        let second = text.find("360p/index.m3u8").unwrap();
        assert!(first < second);
        assert!(text.contains(
            "#EXT-X-STREAM-INF:BANDWIDTH=2600000,AVERAGE-BANDWIDTH=2080000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000\n720p/index.m3u8\n"
        ));
        let parsed = m3u8_rs::parse_master_playlist_res(text.as_bytes()).unwrap();
        assert_eq!(parsed.variants.len(), 2);
        assert_eq!(parsed.variants[1].bandwidth, 700_000);
    }

    #[test]
    fn subtitles_group_on_every_variant() {
        let subs = SubtitlesGroup {
            group_id: SUBTITLES_GROUP.into(),
            name: "English \"live\"".into(),
            language: "en".into(),
            uri: "subs/index.m3u8".into(),
        };
        let text = render_master_with(
            &[
                variant("360p", 700_000, 360),
                variant("720p", 2_600_000, 720),
            ],
            Some(&subs),
        );
        assert!(text.contains(
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English live\",LANGUAGE=\"en\",AUTOSELECT=YES,DEFAULT=NO,URI=\"subs/index.m3u8\"\n"
        ));
        assert_eq!(text.matches(",SUBTITLES=\"subs\"\n").count(), 2, "{text}");
        let parsed = m3u8_rs::parse_master_playlist_res(text.as_bytes()).unwrap();
        assert_eq!(parsed.alternatives.len(), 1);
        let alt = &parsed.alternatives[0];
        assert_eq!(alt.media_type, m3u8_rs::AlternativeMediaType::Subtitles);
        assert_eq!(alt.uri.as_deref(), Some("subs/index.m3u8"));
        assert!(alt.autoselect && !alt.default);
        for v in &parsed.variants {
            assert_eq!(v.subtitles.as_deref(), Some("subs"));
        }
        // Without the group, nothing changes.
        assert_eq!(
            render_master_with(&[variant("360p", 700_000, 360)], None),
            render_master(&[variant("360p", 700_000, 360)])
        );
    }
}
