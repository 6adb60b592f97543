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

/// Renders the multivariant playlist (highest bandwidth first).
pub fn render_master(variants: &[Variant]) -> String {
    let _ = variants;
    todo!("implemented by the hls crate")
}
