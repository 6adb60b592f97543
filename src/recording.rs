//! `amphi event recording ID --mp4 FILE`: one MP4 of an event's whole recording,
//! without re-encoding, ready to upload to a video platform (PeerTube, a LMS).
//!
//! The remux is the origin's download ([`amphi_hls::recording::Export`]: the
//! recording's fragments joined onto one timeline); ffmpeg then rewrites that
//! fragmented file as a progressive one with the index first (`-c copy -movflags
//! +faststart`), which some platforms and editors prefer.

use crate::roles::ScaleArgs;
use amphi_hls::recording::{top_rendition, Export};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// Writes the recording of `event` (rendition `rendition`, or the top one) to `out`.
pub fn export_mp4(
    data_dir: &Path,
    scale: &ScaleArgs,
    event: &str,
    rendition: Option<&str>,
    out: &Path,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        let store = scale.open_store(data_dir).await?;
        let rendition = match rendition {
            Some(r) => r.to_owned(),
            None => top_rendition(&*store, event)
                .await
                .context("is it the store amphi serve used? see --store")?,
        };
        let mut export = Export::open(store.clone(), event, &rendition).await?;
        let plan = export.plan().clone();
        let work = tempdir(event)?;
        let fragmented = work.path().join("recording.mp4");
        let mut file = std::fs::File::create(&fragmented)
            .with_context(|| format!("creating {}", fragmented.display()))?;
        while let Some(chunk) = export.next_chunk().await? {
            file.write_all(&chunk)
                .with_context(|| format!("writing {}", fragmented.display()))?;
        }
        file.flush()
            .with_context(|| format!("writing {}", fragmented.display()))?;
        drop(file);
        faststart(&fragmented, out)?;
        drop(work);
        println!(
            "wrote {}: {} segments of {rendition} ({:.1} s) in {} part(s) joined without re-encoding",
            out.display(),
            plan.segment_count(),
            plan.duration().as_secs_f64(),
            plan.runs.len(),
        );
        if export.truncated() > 0 {
            eprintln!(
                "warning: {} later segments use another codec setup and were left out",
                export.truncated()
            );
        }
        Ok(())
    })
}

/// The fragmented MP4 at `input` as a progressive one, index first.
fn faststart(input: &Path, out: &Path) -> Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(input)
        .args(["-map", "0", "-c", "copy", "-movflags", "+faststart"])
        .arg(out)
        .status()
        .context("running ffmpeg (is it installed?)")?;
    if !status.success() {
        bail!("ffmpeg failed to remux the recording ({status})");
    }
    Ok(())
}

struct WorkDir(std::path::PathBuf);

impl WorkDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir(event: &str) -> Result<WorkDir> {
    let dir = std::env::temp_dir().join(format!("amphi-recording-{event}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(WorkDir(dir))
}
