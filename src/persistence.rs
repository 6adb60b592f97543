//! `amphi serve` settings for what the packager keeps: the recording's length, and the
//! queue of writes a failing store refused (memory, then a local spool).

use crate::roles::StoreKind;
use clap::Args;
use std::path::{Path, PathBuf};
use tracing::info;

/// Recording kept by the memory store when `--record-minutes` is not given.
pub const MEMORY_RECORD_MINUTES: u64 = 10;
/// Sub-directory of the data dir for the spool, without `--spool-dir`.
pub const DEFAULT_SPOOL_SUBDIR: &str = "spool";

#[derive(Args, Debug)]
pub struct PersistenceArgs {
    /// Minutes of each event kept as its recording (VOD after the live); 0 keeps only
    /// the live window. Default: the whole event with --store fs or s3, the last 10
    /// minutes with the memory store (whose memory use grows with it).
    #[arg(long, env = "AMPHI_RECORD_MINUTES")]
    record_minutes: Option<u64>,
    /// MiB of writes the store refused kept in memory per event; past it they spill
    /// to the spool directory (bounded by its free space) and drain in order.
    #[arg(long, default_value_t = (amphi_packager::RetryLimits::default().max_bytes >> 20) as u64)]
    retry_memory_mib: u64,
    /// Spool for writes the store refused (default: DATA_DIR/spool).
    #[arg(long, env = "AMPHI_SPOOL_DIR")]
    spool_dir: Option<PathBuf>,
}

impl PersistenceArgs {
    /// Sets the recording length and the retry queue of `config`, and says what the
    /// recording keeps.
    pub fn configure(
        &self,
        config: &mut amphi_packager::PackagerConfig,
        store: StoreKind,
        data_dir: &Path,
    ) {
        let segment = config.playlist.segment_duration.as_secs().max(1);
        let minutes = match (self.record_minutes, store) {
            (Some(m), _) => Some(m),
            (None, StoreKind::Memory) => Some(MEMORY_RECORD_MINUTES),
            (None, _) => None,
        };
        config.playlist.retain_segments = match minutes {
            Some(m) => config
                .playlist
                .window_segments
                .max((m.saturating_mul(60) / segment) as usize),
            None => usize::MAX,
        };
        match (minutes, store) {
            (None, _) => info!("recordings keep the whole event (every segment from the first publish on)"),
            (Some(m), StoreKind::Memory) => info!(
                minutes = m,
                "memory store: recordings keep only the last {m} minutes of each event (use --store fs or s3 for whole recordings)"
            ),
            (Some(m), _) => info!(minutes = m, "recordings keep the last {m} minutes of each event"),
        }
        config.retry_limits.max_bytes = (self.retry_memory_mib.saturating_mul(1 << 20))
            .try_into()
            .unwrap_or(usize::MAX);
        config.spool_dir = self
            .spool_dir
            .clone()
            .unwrap_or_else(|| data_dir.join(DEFAULT_SPOOL_SUBDIR));
        match amphi_packager::free_bytes(config.spool_dir.parent().unwrap_or(data_dir)) {
            Ok(free) => info!(
                dir = %config.spool_dir.display(),
                free_mib = free >> 20,
                "writes the store refuses spill here past {} MiB per event",
                self.retry_memory_mib
            ),
            Err(e) => {
                tracing::warn!(dir = %config.spool_dir.display(), reason = %e, "spool directory not usable yet")
            }
        }
    }
}
