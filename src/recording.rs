//! `amphi event recording ID --mp4 FILE`: one MP4 of an event's whole recording,
//! without re-encoding, ready to upload to a video platform (PeerTube, a LMS).
//!
//! The recording playlist (`recording.m3u8`, or the ended `index.m3u8`) of one
//! rendition is read from the store. Each run of segments between discontinuities
//! shares one init segment, so `init + segments` is one fragmented MP4 per run; ffmpeg's
//! concat demuxer then joins the runs (shifting each run's timestamps after the
//! previous one's) and writes one progressive MP4 with `-c copy -movflags +faststart`.

use crate::roles::ScaleArgs;
use amphi_hls::names;
use amphi_hls::store::Store;
use amphi_packager::resume::{listed_segments, RestoredSegment};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// Writes the recording of `event` (rendition `rendition`, or the best one) to `out`.
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
            None => best_rendition(&*store, event).await?,
        };
        let text = recording_text(&*store, event, &rendition).await?;
        let segments = listed_segments(&text);
        if segments.is_empty() {
            bail!("the recording of {event}/{rendition} lists no segment yet");
        }
        let work = tempdir(event)?;
        let result = remux(&*store, event, &rendition, &segments, work.path(), out).await;
        drop(work);
        let (runs, seconds) = result?;
        println!(
            "wrote {}: {} segments of {rendition} ({:.1} s) in {runs} part(s) joined without re-encoding",
            out.display(),
            segments.len(),
            seconds
        );
        Ok(())
    })
}

/// The highest rendition the multivariant playlist lists (its first variant).
async fn best_rendition(store: &dyn Store, event: &str) -> Result<String> {
    let master = store
        .get(&names::master_key(event))
        .await?
        .with_context(|| format!("no recording of event {event} in this store (is it the store amphi serve used? see --store)"))?;
    let text = String::from_utf8_lossy(&master.data).into_owned();
    text.lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|uri| uri.split('/').next())
        .map(str::to_owned)
        .with_context(|| format!("the multivariant playlist of {event} lists no rendition"))
}

async fn recording_text(store: &dyn Store, event: &str, rendition: &str) -> Result<String> {
    for key in [
        names::recording_key(event, rendition),
        names::playlist_key(event, rendition),
    ] {
        if let Some(o) = store.get(&key).await? {
            return Ok(String::from_utf8_lossy(&o.data).into_owned());
        }
    }
    bail!("no recording of {event}/{rendition} in this store")
}

/// Consecutive segments with one init segment and no discontinuity between them.
fn runs(segments: &[RestoredSegment]) -> Vec<&[RestoredSegment]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=segments.len() {
        let cut = i == segments.len()
            || segments[i].discontinuity
            || segments[i].generation != segments[i - 1].generation
            || segments[i].msn != segments[i - 1].msn + 1;
        if cut {
            out.push(&segments[start..i]);
            start = i;
        }
    }
    out
}

async fn remux(
    store: &dyn Store,
    event: &str,
    rendition: &str,
    segments: &[RestoredSegment],
    work: &Path,
    out: &Path,
) -> Result<(usize, f64)> {
    let runs = runs(segments);
    let mut list = String::new();
    let mut seconds = 0.0;
    for (i, run) in runs.iter().enumerate() {
        let path = work.join(format!("run{i}.mp4"));
        let mut file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let generation = run.first().map_or(0, |s| s.generation);
        let mut names_in_run = vec![names::init_name(generation)];
        names_in_run.extend(run.iter().map(|s| names::segment_name(s.msn)));
        for name in names_in_run {
            let key = names::rendition_key(event, rendition, &name);
            let obj = store
                .get(&key)
                .await?
                .with_context(|| format!("{key} is listed in the recording but not stored"))?;
            file.write_all(&obj.data)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        seconds += run
            .iter()
            .filter_map(|s| s.duration)
            .map(|d| d.as_secs_f64())
            .sum::<f64>();
        list.push_str(&format!("file '{}'\n", path.display()));
    }
    let list_path = work.join("runs.txt");
    std::fs::write(&list_path, list).context("writing the concat list")?;
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "concat", "-safe", "0", "-i"])
        .arg(&list_path)
        .args(["-c", "copy", "-movflags", "+faststart"])
        .arg(out)
        .status()
        .context("running ffmpeg (is it installed?)")?;
    if !status.success() {
        bail!("ffmpeg failed to remux the recording ({status})");
    }
    Ok((runs.len(), seconds))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn seg(msn: u64, generation: u64, discontinuity: bool) -> RestoredSegment {
        RestoredSegment {
            msn,
            program_date_time: None,
            generation,
            discontinuity,
            parts: Vec::new(),
            duration: Some(Duration::from_secs(2)),
        }
    }

    #[test]
    fn runs_split_at_discontinuities() {
        let segs = [
            seg(0, 0, false),
            seg(1, 0, false),
            seg(2, 1, true),
            seg(3, 1, false),
            seg(4, 2, true),
        ];
        let r = runs(&segs);
        let msns: Vec<Vec<u64>> = r
            .iter()
            .map(|run| run.iter().map(|s| s.msn).collect())
            .collect();
        assert_eq!(msns, vec![vec![0, 1], vec![2, 3], vec![4]]);
        assert!(runs(&[]).is_empty());
    }
}
