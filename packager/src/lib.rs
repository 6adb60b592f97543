//! Amphi packager: turns each event's publish sessions into LL-HLS.
//!
//! Model: one task per event, which survives publisher reconnects; per session one
//! GStreamer ladder pipeline (`pipeline`, kept thin) whose CMAF chunks are turned into
//! parts, segments and playlists by plain Rust (`segmenter`, `amphi_hls::playlist`)
//! and written to a `Store`. Invariants: media before the playlists that list them;
//! a segment is the exact concatenation of its parts; every rendition's segments start
//! at the same source keyframes; one event's failure never touches another's.
//!
//! Persistence: an event's task starts by reading back what the store holds for it
//! (`resume`), so numbering continues after a restart or a crash and no name served
//! `immutable` is ever written again; writes the store refuses are retried in order,
//! spilling to a local spool past a memory bound (`retry`, `spool`).

pub mod alignment;
pub mod audio_level;
pub mod captions;
pub mod codec;
pub mod demo;
mod event;
pub mod ladder;
pub mod markers;
pub mod moof;
pub mod overload;
pub mod pipeline;
pub mod resume;
mod retry;
pub mod segmenter;
pub mod shedding;
mod spool;
pub mod stats;
pub mod timing;

use amphi_hls::playlist::PlaylistConfig;
use amphi_hls::store::Store;
use amphi_ingest::PublishSession;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;
use tracing::warn;

pub use retry::Limits as RetryLimits;
pub use spool::free_bytes;

#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum PackagerError {
    #[error("GStreamer initialisation failed: {0}")]
    Init(String),
    #[error("ladder pipeline: {0}")]
    Pipeline(String),
}

/// Settings of the whole packager (static; runtime state lives in the event tasks).
#[derive(Debug, Clone)]
pub struct PackagerConfig {
    pub playlist: PlaylistConfig,
    pub mux: pipeline::MuxSettings,
    pub ladder: Vec<ladder::Rung>,
    /// How long an event stays live without a publisher before its playlists become
    /// the recording (an encoder reconnecting within this time continues the live).
    pub end_after: std::time::Duration,
    /// How much of the store retry queue stays in memory before spilling to disk.
    pub retry_limits: RetryLimits,
    /// Where writes the store refuses go past `retry_limits` (one folder per event).
    pub spool_dir: std::path::PathBuf,
    /// The subtitles rendition and where its cues come from; `None`: no captions.
    pub captions: Option<captions::CaptionsConfig>,
    /// Every event's markers (chapters, answered questions), listed in the playlists
    /// as EXT-X-DATERANGE (see [`markers`]).
    pub markers: markers::MarkerBoard,
}

/// Default for [`PackagerConfig::end_after`].
pub const DEFAULT_END_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// x264 preset for the encoded rungs.
pub const DEFAULT_X264_PRESET: &str = "veryfast";
/// Part duration: 6 frames at 30 fps, 5 at 25, ten parts to a 2 s segment. Measured
/// from the picture through Varnish with Amphi's player, it brings glass-to-glass from
/// 1.23 s (0.333 s parts) to 0.76 s: a viewer sits three parts behind the edge.
pub const DEFAULT_PART_DURATION: std::time::Duration = std::time::Duration::from_millis(200);

impl Default for PackagerConfig {
    fn default() -> Self {
        let playlist = PlaylistConfig::default();
        let mut config = PackagerConfig {
            mux: pipeline::MuxSettings {
                segment_duration: playlist.segment_duration,
                part_duration: DEFAULT_PART_DURATION,
                x264_preset: DEFAULT_X264_PRESET,
                shed_renditions: true,
            },
            playlist,
            ladder: ladder::DEFAULT_LADDER.to_vec(),
            end_after: DEFAULT_END_AFTER,
            retry_limits: RetryLimits::default(),
            spool_dir: std::env::temp_dir().join("amphi-spool"),
            captions: Some(captions::CaptionsConfig::default()),
            markers: markers::MarkerBoard::default(),
        };
        // One place for the part duration: the muxers' and the playlists' PART-TARGET.
        config.set_part_duration(DEFAULT_PART_DURATION);
        config
    }
}

/// Initialises GStreamer and registers the fMP4 muxers; safe to call many times.
pub fn init() -> Result<(), PackagerError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        gstreamer::init().map_err(|e| e.to_string())?;
        gstfmp4::plugin_register_static().map_err(|e| e.to_string())?;
        for needed in [
            "appsrc",
            "appsink",
            "h264parse",
            "avdec_h264",
            "x264enc",
            "aacparse",
            "videoscale",
            "isofmp4mux",
        ] {
            if gstreamer::ElementFactory::find(needed).is_none() {
                return Err(format!(
                    "GStreamer element {needed} is missing (install the GStreamer plugin packages)"
                ));
            }
        }
        Ok(())
    })
    .clone()
    .map_err(PackagerError::Init)
}

/// An event's own part duration, if it has one (read when the event's task starts).
pub type PartDurations = Arc<dyn Fn(&str) -> Option<std::time::Duration> + Send + Sync>;

pub struct Packager {
    store: Arc<dyn Store>,
    config: PackagerConfig,
    stats: stats::PackagerStats,
    /// Events whose stored state is resumed at start, before any publisher comes back.
    known_events: Vec<String>,
    part_durations: Option<PartDurations>,
}

impl Packager {
    pub fn new(store: Arc<dyn Store>, config: PackagerConfig) -> Self {
        Packager {
            store,
            config,
            stats: stats::PackagerStats::default(),
            known_events: Vec::new(),
            part_durations: None,
        }
    }

    /// Events with their own part duration: each event's task reads it when it starts
    /// (the first publish after the server starts, or a resume), and keeps it for as
    /// long as it runs, so one playlist never changes its PART-TARGET.
    pub fn with_part_durations(mut self, part_durations: PartDurations) -> Self {
        self.part_durations = Some(part_durations);
        self
    }

    /// Events to resume at start: each one the store shows live (a crash or restart
    /// cut it) continues its numbering and, if no publisher returns within
    /// `end_after`, ends as a recording.
    pub fn with_events(mut self, events: Vec<String>) -> Self {
        self.known_events = events;
        self
    }

    fn spawn_event(&self, id: &str) -> mpsc::Sender<PublishSession> {
        let (tx, rx) = mpsc::channel(4);
        let mut config = self.config.clone();
        if let Some(part) = self.part_durations.as_ref().and_then(|f| f(id)) {
            config.set_part_duration(part);
        }
        let task = event::EventPackager::new(
            id.to_owned(),
            self.store.clone(),
            config,
            self.stats.clone(),
        );
        tokio::spawn(task.run(rx));
        tx
    }

    /// Records the ladder's figures (real-time factor, lag) into `stats`.
    pub fn with_stats(mut self, stats: stats::PackagerStats) -> Self {
        self.stats = stats;
        self
    }

    /// Runs until `sessions` closes: one task per event.
    pub async fn run(self, mut sessions: mpsc::Receiver<PublishSession>) {
        let mut events: HashMap<String, mpsc::Sender<PublishSession>> = HashMap::new();
        for id in &self.known_events {
            events.insert(id.clone(), self.spawn_event(id));
        }
        while let Some(session) = sessions.recv().await {
            let id = session.event.to_string();
            let tx = events
                .entry(id.clone())
                .or_insert_with(|| self.spawn_event(&id));
            if let Err(e) = tx.send(session).await {
                // A new task resumes from the store where the lost one stopped.
                warn!(event = %id, "event task is gone; restarting it");
                let tx2 = self.spawn_event(&id);
                let _ = tx2.send(e.0).await;
                events.insert(id, tx2);
            }
        }
    }
}
