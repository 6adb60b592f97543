//! LL-HLS media playlists: the model the packager drives ([`model`]), the writer that
//! renders it ([`write`]) and the one reader of playlist text ([`read`]) that the
//! origin, the load generator and the tests share.

pub mod daterange;
pub mod model;
pub mod read;
pub(crate) mod tags;
pub mod write;

#[cfg(test)]
mod fixtures;

pub use daterange::DateRange;
pub use model::{
    ClosedSegment, MediaPlaylist, Part, PlaylistConfig, PlaylistError, RenditionReport, Segment,
    DEFAULT_PART_TARGET, DEFAULT_RETAIN_SEGMENTS, DEFAULT_SEGMENT_DURATION,
    DEFAULT_WINDOW_SEGMENTS,
};
pub use read::{
    attribute, parse_edge, parse_pdt, part_position, read_media, read_multivariant, ListedPart,
    ListedVariant, MediaListing, PlaylistEdge, ReadError,
};
pub use write::format_pdt;
