//! `amphi serve --role … --store …`: which stages this process runs and where media goes.
//!
//! - `all` (default): ingest, packager and origin in one process; any store.
//! - `packager`: RTMP ingest and the packager, writing to a shared store (fs or S3); its
//!   HTTP listener serves `/healthz` and the store announcements at `/internal/notify`.
//! - `origin`: HTTP only (player, playlists, media, Q&A), reading the shared store;
//!   `--notify-url` points at a packager's `/internal/notify` so blocking requests wake
//!   when a part is put (without it, they poll the store about every part).

use amphi_hls::store::{FsStore, MemoryStore, S3Config, S3Store, Store};
use amphi_origin::notify::{NotifyConfig, NotifyingStore};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::{info, warn};

/// Sub-directory of the data dir used by `--store fs` without `--store-dir`.
pub const DEFAULT_STORE_SUBDIR: &str = "media";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    All,
    Packager,
    Origin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    Memory,
    Fs,
    S3,
}

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// Which stages to run: all (one process), packager (ingest + packager), origin (HTTP).
    #[arg(long, value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// Where media goes: memory (role all only), fs (a directory), s3 (a bucket).
    #[arg(long, value_enum, default_value_t = StoreKind::Memory)]
    pub store: StoreKind,
    /// Directory of `--store fs` (default: DATA_DIR/media).
    #[arg(long, env = "AMPHI_STORE_DIR")]
    pub store_dir: Option<PathBuf>,
    /// S3 endpoint URL (default: AWS for the region), e.g. http://minio:9000.
    #[arg(long, env = "AMPHI_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 bucket (required with --store s3).
    #[arg(long, env = "AMPHI_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    #[arg(long, env = "AMPHI_S3_REGION", default_value = amphi_hls::store::s3::DEFAULT_REGION)]
    pub s3_region: String,
    /// Path-style S3 URLs (most self-hosted S3 servers need them).
    #[arg(long, env = "AMPHI_S3_PATH_STYLE")]
    pub s3_path_style: bool,
    /// Origin role: the packager's announcements, http://packager:8080/internal/notify.
    #[arg(long, env = "AMPHI_NOTIFY_URL")]
    pub notify_url: Option<String>,
}

impl ScaleArgs {
    pub fn check(&self) -> Result<()> {
        if self.store == StoreKind::Memory && self.role != Role::All {
            bail!("--store memory is only valid with --role all: a separate packager and origin need a shared store (--store fs or --store s3)");
        }
        if self.notify_url.is_some() && self.role != Role::Origin {
            bail!("--notify-url is for --role origin");
        }
        if self.store == StoreKind::S3 && self.s3_bucket.is_none() {
            bail!("--store s3 needs --s3-bucket (or AMPHI_S3_BUCKET)");
        }
        Ok(())
    }

    /// The store this process reads and writes, wrapped for notifications in an origin.
    pub async fn open_store(&self, data_dir: &Path) -> Result<Arc<dyn Store>> {
        self.check()?;
        let store: Arc<dyn Store> = match self.store {
            StoreKind::Memory => return Ok(Arc::new(MemoryStore::new())),
            StoreKind::Fs => {
                let dir = self
                    .store_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join(DEFAULT_STORE_SUBDIR));
                info!(dir = %dir.display(), "filesystem store");
                Arc::new(FsStore::new(&dir).with_context(|| format!("opening {}", dir.display()))?)
            }
            StoreKind::S3 => {
                let mut config = S3Config::new(self.s3_bucket.clone().unwrap_or_default());
                config.endpoint = self.s3_endpoint.clone();
                config.region = self.s3_region.clone();
                config.path_style = self.s3_path_style;
                let s3 = S3Store::new(&config).await;
                // Not fatal: the bucket may come back; the store logs and retries.
                match s3.check().await {
                    Ok(()) => {
                        info!(bucket = %config.bucket, endpoint = ?config.endpoint, "S3 store")
                    }
                    Err(e) => warn!(reason = %e, "S3 bucket not reachable yet"),
                }
                Arc::new(s3)
            }
        };
        if self.role != Role::Origin {
            return Ok(store);
        }
        let url = match &self.notify_url {
            Some(u) => u.clone(),
            None => {
                warn!("no --notify-url: blocking requests poll the store about every part");
                String::new()
            }
        };
        Ok(Arc::new(NotifyingStore::new(store, NotifyConfig::new(url))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        scale: ScaleArgs,
    }

    fn parse(args: &[&str]) -> ScaleArgs {
        Cli::try_parse_from(std::iter::once("amphi").chain(args.iter().copied()))
            .expect("valid arguments")
            .scale
    }

    #[test]
    fn defaults_are_one_process_in_memory() {
        let a = parse(&[]);
        assert_eq!((a.role, a.store), (Role::All, StoreKind::Memory));
        a.check().expect("valid");
    }

    #[test]
    fn separate_roles_need_a_shared_store() {
        assert!(parse(&["--role", "origin"]).check().is_err());
        assert!(parse(&["--role", "packager", "--store", "memory"])
            .check()
            .is_err());
        assert!(parse(&["--role", "packager", "--store", "s3"])
            .check()
            .is_err());
        parse(&["--role", "packager", "--store", "s3", "--s3-bucket", "b"])
            .check()
            .expect("valid");
        parse(&[
            "--role",
            "origin",
            "--store",
            "fs",
            "--notify-url",
            "http://p/x",
        ])
        .check()
        .expect("valid");
        assert!(parse(&["--store", "fs", "--notify-url", "http://p/x"])
            .check()
            .is_err());
    }
}
