//! ffprobe's reading of a media file: what a player other than ours would decode.

use std::process::Command;

/// Format duration and the codec names of the streams of a media file, as ffprobe reads
/// them.
pub fn probe_duration_and_codecs(path: &std::path::Path) -> (f64, Vec<String>) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
        ])
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(path)
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let duration = text
        .lines()
        .find_map(|l| l.strip_prefix("duration="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("ffprobe read no duration from {}: {out:?}", path.display()));
    let codecs = text
        .lines()
        .filter_map(|l| l.strip_prefix("codec_name="))
        .map(str::to_owned)
        .collect();
    (duration, codecs)
}

/// Runs ffprobe on a file and returns (codec, width, height) of its video stream.
pub fn probe_video(path: &std::path::Path) -> Option<(String, u32, u32)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.trim().split(',');
    Some((
        it.next()?.to_owned(),
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    ))
}

/// Decodes every frame of a file with ffmpeg; returns (video frames, audio frames) or the error text.
pub fn decode_counts(path: &std::path::Path) -> Result<(u64, u64), String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let (mut v, mut a) = (0, 0);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut it = line.split(',');
        match (
            it.next(),
            it.next().and_then(|n| n.trim().parse::<u64>().ok()),
        ) {
            (Some("video"), Some(n)) => v += n,
            (Some("audio"), Some(n)) => a += n,
            _ => {}
        }
    }
    Ok((v, a))
}
