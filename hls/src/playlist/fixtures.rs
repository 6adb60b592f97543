//! Playlists for the model, writer and reader tests.

#![allow(clippy::unwrap_used)]

use super::model::{MediaPlaylist, PlaylistConfig};
use std::time::{Duration, SystemTime};

pub const PART: Duration = Duration::from_micros(333_333);

pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000)
}

/// Writes `segments` complete 2 s segments of six parts each, then `open` parts.
pub fn playlist(segments: usize, open: usize) -> MediaPlaylist {
    let mut p = MediaPlaylist::new(PlaylistConfig::default());
    for s in 0..segments {
        p.begin_segment(t0() + Duration::from_secs(2 * s as u64));
        for n in 0..6 {
            p.push_part(PART, n == 0).unwrap();
        }
    }
    if open > 0 {
        p.begin_segment(t0() + Duration::from_secs(2 * segments as u64));
        for n in 0..open {
            p.push_part(PART, n == 0).unwrap();
        }
    } else {
        p.close_segment();
    }
    p
}
