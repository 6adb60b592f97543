//! Markers in program time (chapters, answered questions) for the playlists' date
//! ranges.
//!
//! The packager keeps no Q&A state: the [`MarkerBoard`] holds, per event, the last
//! whole list of markers someone posted (the binary posts the Q&A service's list after
//! every change, and once per event at start from the Q&A database). Each playlist
//! write of an event reads its current list and hands it to the rendition's playlist
//! model, whose writer lists the markers within the playlist (see
//! `amphi_hls::playlist::daterange`). A list replaces the previous one whole, so a
//! marker deleted or renamed on the Q&A side is deleted or renamed in the next
//! playlist, and nothing needs replaying after a packager restart but the list.

use amphi_hls::playlist::DateRange;
use amphi_time::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Every event's current markers, shared by whoever posts them and the packager.
#[derive(Debug, Clone, Default)]
pub struct MarkerBoard {
    events: Arc<Mutex<HashMap<String, Arc<[DateRange]>>>>,
}

impl MarkerBoard {
    /// Replaces `event`'s markers.
    pub fn post(&self, event: &str, ranges: Vec<DateRange>) {
        let mut map = lock(&self.events);
        map.insert(event.to_owned(), Arc::from(ranges));
    }

    /// `event`'s current markers (empty when none were posted).
    pub fn current(&self, event: &str) -> Arc<[DateRange]> {
        let map = lock(&self.events);
        map.get(event)
            .cloned()
            .unwrap_or_else(|| Arc::from(Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn a_list_replaces_the_previous_one() {
        let board = MarkerBoard::default();
        assert!(board.current("ev").is_empty());
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        board.post(
            "ev",
            vec![DateRange::marker("chapter-1", at, "chapter", "One")],
        );
        let shared = board.clone();
        assert_eq!(shared.current("ev").len(), 1);
        board.post(
            "ev",
            vec![
                DateRange::marker("chapter-1", at, "chapter", "One"),
                DateRange::marker("chapter-2", at, "chapter", "Two"),
            ],
        );
        assert_eq!(shared.current("ev").len(), 2);
        assert!(shared.current("other").is_empty());
    }
}
