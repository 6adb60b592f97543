//! Reading what the origin serves in end-to-end tests: LL-HLS playlists, through the
//! server's own reader (`amphi_hls::playlist`) where it has one.

/// The value of `NAME=` in a tag line's attribute list (`#TAG:A=1,B="x"`, quotes
/// stripped), read with the server's own attribute-list reader.
pub fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let (_, list) = line.split_once(':')?;
    amphi_hls::playlist::attribute(list, name)
}

/// Last `(msn, part)` announced by the preload hint of a media playlist.
pub fn preload_hint(playlist: &str) -> Option<(u64, u32)> {
    amphi_hls::playlist::read_media(playlist).ok()?.hint
}

pub fn media_sequence(playlist: &str) -> Option<u64> {
    amphi_hls::playlist::read_media(playlist)
        .ok()
        .map(|l| l.media_sequence)
}

/// Segment URIs (the non-tag lines) of a media playlist.
pub fn segment_uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Sum of a media playlist's `EXTINF` durations, in seconds.
pub fn extinf_total(playlist: &str) -> f64 {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|v| v.trim_end_matches(',').parse::<f64>().ok())
        .sum()
}
