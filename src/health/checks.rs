//! The checks of the health page: figures in, a verdict per check out (green, orange,
//! red), each not-green one with what the lecturer should change in OBS. Pure: the
//! sampler gathers the figures; tests inject them.

use super::meter::IngestFigures;
use serde::Serialize;

/// Keyframe interval up to this is green (segments are 2 s; a little jitter allowed).
pub const KEYFRAME_GREEN_SECS: f64 = 2.1;
/// Beyond this it is red: parts cannot start on keyframes and latency grows.
pub const KEYFRAME_RED_SECS: f64 = 4.1;
/// Bits per pixel per frame below which the picture is starved (red) or soft (orange).
pub const BPP_RED: f64 = 0.012;
pub const BPP_ORANGE: f64 = 0.03;
/// Above this the lecturer's upload is at risk (orange).
pub const BITRATE_HIGH_BPS: f64 = 9_000_000.0;
/// A/V drift (either way) beyond these, in milliseconds.
pub const DRIFT_ORANGE_MS: f64 = 100.0;
pub const DRIFT_RED_MS: f64 = 300.0;
/// Audio peak at or above this (dBFS) within the window: the microphone clips.
pub const CLIP_PEAK_DBFS: f64 = -0.5;
/// Encoder real-time factor below these: the ladder falls behind the lecturer.
pub const RTF_ORANGE: f64 = 0.97;
pub const RTF_RED: f64 = 0.9;
/// Encoder lag (arrival → chunk out) beyond these, seconds.
pub const LAG_ORANGE_SECS: f64 = 1.5;
pub const LAG_RED_SECS: f64 = 3.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Green,
    Orange,
    Red,
}

impl Level {
    /// For `/metrics`: 0 green, 1 orange, 2 red.
    pub fn gauge(self) -> f64 {
        match self {
            Level::Green => 0.0,
            Level::Orange => 1.0,
            Level::Red => 2.0,
        }
    }
}

/// One check as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Stable id (`keyframe_interval`, `encoder:720p`, …).
    pub id: String,
    pub label: String,
    pub level: Level,
    /// The figure, as shown ("10.0 s").
    pub value: String,
    /// What is wrong, in a sentence; empty when green.
    pub message: String,
    /// The setting to change (in OBS, or on the server); `None` when green.
    pub fix: Option<String>,
}

impl Check {
    fn new(id: impl Into<String>, label: impl Into<String>, value: String) -> Check {
        Check {
            id: id.into(),
            label: label.into(),
            level: Level::Green,
            value,
            message: String::new(),
            fix: None,
        }
    }

    fn set(mut self, level: Level, message: String, fix: &str) -> Check {
        if level > self.level {
            self.level = level;
            self.message = message;
            self.fix = Some(fix.to_owned());
        }
        self
    }

    /// "keyframe interval 10.0 s: set Keyframe Interval 2 s in OBS (…)".
    pub fn warning(&self) -> String {
        match &self.fix {
            Some(fix) => format!("{}: {fix}", self.message),
            None => self.message.clone(),
        }
    }
}

/// One rendition of the ladder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenditionFigures {
    pub name: String,
    pub realtime_factor: Option<f64>,
    pub lag_secs: Option<f64>,
    pub dropped_frames: u64,
    pub shed: bool,
}

/// Everything the checks look at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// `None`: no publisher.
    pub ingest: Option<IngestFigures>,
    pub renditions: Vec<RenditionFigures>,
}

const FIX_KEYFRAME: &str =
    "set Keyframe Interval to 2 s in OBS (Settings → Output → Streaming, Output Mode: Advanced)";
const FIX_BITRATE_LOW: &str =
    "raise Video Bitrate in OBS (Settings → Output → Streaming): about 2500 Kbps for 720p, 4500 Kbps for 1080p";
const FIX_BITRATE_HIGH: &str =
    "lower Video Bitrate to 4500 Kbps or less in OBS (Settings → Output → Streaming)";
const FIX_FPS: &str = "set Common FPS Values to 30 in OBS (Settings → Video)";
const FIX_FPS_LOW: &str = "set Common FPS Values to 30 in OBS (Settings → Video); if it already is, OBS is short of CPU: lower Output (Scaled) Resolution or choose a faster encoder preset";
const FIX_NO_AUDIO: &str =
    "add a microphone in OBS (Settings → Audio → Mic/Auxiliary Audio) and check its meter moves";
const FIX_SILENT: &str =
    "unmute the microphone in OBS's Audio Mixer, and check Settings → Audio → Mic/Auxiliary Audio names it";
const FIX_LOUD: &str =
    "lower the microphone's level: drag its fader down in OBS's Audio Mixer (or lower the gain on the microphone or its interface) until its peaks stay below −6 dB";
const FIX_DRIFT: &str =
    "set the microphone's Sync Offset in OBS (Edit → Advanced Audio Properties) to bring sound and picture together";
const FIX_ENCODER: &str = "the server cannot encode the ladder in real time: lower Output (Scaled) Resolution in OBS (Settings → Video), or give the server more CPU";
const FIX_DROPPED: &str =
    "the server dropped frames to keep up: lower Output (Scaled) Resolution or FPS in OBS (Settings → Video)";
const FIX_NO_STREAM: &str = "start streaming in OBS (Start Streaming), with Server and Stream Key from the console (Settings → Stream, Service: Custom)";

fn fmt_bps(bps: f64) -> String {
    if bps >= 1_000_000.0 {
        format!("{:.2} Mb/s", bps / 1_000_000.0)
    } else {
        format!("{:.0} kb/s", bps / 1000.0)
    }
}

/// The checks for these figures, in display order.
pub fn evaluate(f: &Figures) -> Vec<Check> {
    let Some(ingest) = &f.ingest else {
        return vec![Check::new("stream", "Stream", "not connected".into()).set(
            Level::Red,
            "no stream reaches the server".into(),
            FIX_NO_STREAM,
        )];
    };
    let mut checks = vec![Check::new(
        "stream",
        "Stream",
        format!("connected for {:.0} s", ingest.connected_secs),
    )];
    checks.push(bitrate(ingest));
    checks.push(frame_rate(ingest));
    checks.push(keyframes(ingest));
    checks.push(audio(ingest));
    checks.push(drift(ingest));
    for r in &f.renditions {
        checks.push(encoder(r));
    }
    checks
}

fn bitrate(i: &IngestFigures) -> Check {
    let Some(bps) = i.bitrate_bps else {
        return Check::new("bitrate", "Bitrate", "—".into()).set(
            Level::Red,
            "no media arrived in the last seconds".into(),
            FIX_NO_STREAM,
        );
    };
    let mut c = Check::new("bitrate", "Bitrate", fmt_bps(bps));
    if bps > BITRATE_HIGH_BPS {
        c = c.set(
            Level::Orange,
            format!(
                "bitrate {}: viewers' connections and the lecturer's upload may not keep up",
                fmt_bps(bps)
            ),
            FIX_BITRATE_HIGH,
        );
    }
    let video_bps = bps - i.audio.bitrate_bps.unwrap_or(0.0);
    if let (Some([w, h]), Some(fps)) = (i.resolution, i.frame_rate) {
        let pixels = f64::from(w) * f64::from(h) * fps;
        if pixels > 0.0 {
            let bpp = video_bps / pixels;
            let what = format!("video bitrate {} is low for {w}x{h}", fmt_bps(video_bps));
            if bpp < BPP_RED {
                c = c.set(Level::Red, what, FIX_BITRATE_LOW);
            } else if bpp < BPP_ORANGE {
                c = c.set(Level::Orange, what, FIX_BITRATE_LOW);
            }
        }
    }
    c
}

fn frame_rate(i: &IngestFigures) -> Check {
    let Some(fps) = i.frame_rate else {
        return Check::new("frame_rate", "Frame rate", "—".into()).set(
            Level::Red,
            "no video frames arrive".into(),
            FIX_NO_STREAM,
        );
    };
    let c = Check::new("frame_rate", "Frame rate", format!("{fps:.1} fps"));
    if fps < 15.0 {
        c.set(
            Level::Red,
            format!("frame rate {fps:.1} fps: motion stutters"),
            FIX_FPS_LOW,
        )
    } else if fps < 23.5 {
        c.set(
            Level::Orange,
            format!("frame rate {fps:.1} fps"),
            FIX_FPS_LOW,
        )
    } else if fps > 61.0 {
        c.set(
            Level::Orange,
            format!("frame rate {fps:.0} fps: more than a lecture needs"),
            FIX_FPS,
        )
    } else {
        c
    }
}

fn keyframes(i: &IngestFigures) -> Check {
    let Some(k) = i.keyframe_interval_secs else {
        return Check::new(
            "keyframe_interval",
            "Keyframe interval",
            "measuring…".into(),
        );
    };
    let c = Check::new(
        "keyframe_interval",
        "Keyframe interval",
        format!("{k:.1} s"),
    );
    let what = format!("keyframe interval {k:.0} s");
    if k > KEYFRAME_RED_SECS {
        c.set(Level::Red, what, FIX_KEYFRAME)
    } else if k > KEYFRAME_GREEN_SECS {
        c.set(Level::Orange, what, FIX_KEYFRAME)
    } else {
        c
    }
}

fn audio(i: &IngestFigures) -> Check {
    let a = &i.audio;
    let value = match (a.present, a.level_dbfs, a.bitrate_bps, a.silent) {
        (false, ..) => "none".to_owned(),
        (true, Some(level), _, _) => match a.peak_dbfs {
            Some(peak) => format!("{level:.0} dBFS (peak {peak:.0} dBFS)"),
            None => format!("{level:.0} dBFS"),
        },
        (true, None, Some(bps), Some(true)) => format!("{} (silent?)", fmt_bps(bps)),
        (true, None, Some(bps), _) => fmt_bps(bps),
        (true, None, None, _) => "present".to_owned(),
    };
    let c = Check::new("audio", "Audio", value);
    if !a.track {
        c.set(
            Level::Red,
            "the stream has no audio track".into(),
            FIX_NO_AUDIO,
        )
    } else if !a.present {
        c.set(Level::Red, "no audio arrives".into(), FIX_NO_AUDIO)
    } else if let (Some(level), Some(true)) = (a.level_dbfs, a.silent) {
        c.set(
            Level::Orange,
            format!("the audio is silent ({level:.0} dBFS)"),
            FIX_SILENT,
        )
    } else if a.silent == Some(true) {
        c.set(Level::Orange, "the audio seems silent".into(), FIX_SILENT)
    } else if let Some(peak) = a.peak_dbfs.filter(|p| *p >= CLIP_PEAK_DBFS) {
        c.set(
            Level::Orange,
            format!("the audio clips (peak {peak:.1} dBFS): loud passages distort"),
            FIX_LOUD,
        )
    } else {
        c
    }
}

fn drift(i: &IngestFigures) -> Check {
    let Some(ms) = i.av_drift_ms else {
        return Check::new("av_drift", "A/V sync", "—".into());
    };
    let c = Check::new("av_drift", "A/V sync", format!("{ms:+.0} ms"));
    let what = if ms > 0.0 {
        format!("sound {ms:.0} ms ahead of the picture")
    } else {
        format!("sound {:.0} ms behind the picture", -ms)
    };
    if ms.abs() > DRIFT_RED_MS {
        c.set(Level::Red, what, FIX_DRIFT)
    } else if ms.abs() > DRIFT_ORANGE_MS {
        c.set(Level::Orange, what, FIX_DRIFT)
    } else {
        c
    }
}

fn encoder(r: &RenditionFigures) -> Check {
    let value = match (r.realtime_factor, r.lag_secs) {
        _ if r.shed => "shed".to_owned(),
        (Some(rtf), Some(lag)) => format!("×{rtf:.2}, lag {lag:.1} s"),
        (None, Some(lag)) => format!("lag {lag:.1} s"),
        (Some(rtf), None) => format!("×{rtf:.2}"),
        (None, None) => "starting".to_owned(),
    };
    let mut c = Check::new(
        format!("encoder:{}", r.name),
        format!("Encoder {}", r.name),
        value,
    );
    if r.shed {
        c = c.set(
            Level::Red,
            format!("rendition {} was stopped for want of CPU", r.name),
            FIX_ENCODER,
        );
    }
    if let Some(rtf) = r.realtime_factor {
        let what = format!("encoder {} runs at {rtf:.2}× real time", r.name);
        if rtf < RTF_RED {
            c = c.set(Level::Red, what, FIX_ENCODER);
        } else if rtf < RTF_ORANGE {
            c = c.set(Level::Orange, what, FIX_ENCODER);
        }
    }
    if let Some(lag) = r.lag_secs {
        let what = format!("encoder {} is {lag:.1} s behind", r.name);
        if lag > LAG_RED_SECS {
            c = c.set(Level::Red, what, FIX_ENCODER);
        } else if lag > LAG_ORANGE_SECS {
            c = c.set(Level::Orange, what, FIX_ENCODER);
        }
    }
    if r.dropped_frames > 0 {
        c = c.set(
            Level::Orange,
            format!("encoder {} dropped {} frames", r.name, r.dropped_frames),
            FIX_DROPPED,
        );
    }
    c
}

/// The worst level of `checks` (green when there are none).
pub fn overall(checks: &[Check]) -> Level {
    checks.iter().map(|c| c.level).max().unwrap_or(Level::Green)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::meter::AudioFigures;

    fn good() -> Figures {
        Figures {
            ingest: Some(IngestFigures {
                connected_secs: 12.0,
                bitrate_bps: Some(2_628_000.0),
                frame_rate: Some(30.0),
                keyframe_interval_secs: Some(2.0),
                audio: AudioFigures {
                    track: true,
                    present: true,
                    bitrate_bps: Some(128_000.0),
                    mean_frame_bytes: Some(340.0),
                    level_dbfs: Some(-21.07),
                    peak_dbfs: Some(-18.06),
                    silent: Some(false),
                    level_source: crate::health::meter::LEVEL_DECODED,
                },
                av_drift_ms: Some(12.0),
                resolution: Some([1280, 720]),
            }),
            renditions: vec![RenditionFigures {
                name: "720p".into(),
                realtime_factor: Some(1.0),
                lag_secs: Some(0.4),
                dropped_frames: 0,
                shed: false,
            }],
        }
    }

    fn ingest(f: &mut Figures) -> &mut IngestFigures {
        f.ingest.as_mut().expect("a publisher")
    }

    fn find<'a>(checks: &'a [Check], id: &str) -> &'a Check {
        checks.iter().find(|c| c.id == id).expect("check present")
    }

    #[test]
    fn a_good_stream_is_green() {
        let checks = evaluate(&good());
        assert_eq!(overall(&checks), Level::Green, "{checks:#?}");
        assert!(checks
            .iter()
            .all(|c| c.fix.is_none() && c.message.is_empty()));
    }

    #[test]
    fn a_ten_second_keyframe_interval_is_red_with_the_obs_fix() {
        let mut f = good();
        ingest(&mut f).keyframe_interval_secs = Some(10.0);
        let checks = evaluate(&f);
        let k = find(&checks, "keyframe_interval");
        assert_eq!(k.level, Level::Red);
        assert_eq!(k.value, "10.0 s");
        assert_eq!(
            k.warning(),
            "keyframe interval 10 s: set Keyframe Interval to 2 s in OBS (Settings → Output → Streaming, Output Mode: Advanced)"
        );
        assert_eq!(overall(&checks), Level::Red);
        ingest(&mut f).keyframe_interval_secs = Some(3.0);
        assert_eq!(
            find(&evaluate(&f), "keyframe_interval").level,
            Level::Orange
        );
        ingest(&mut f).keyframe_interval_secs = None;
        assert_eq!(find(&evaluate(&f), "keyframe_interval").level, Level::Green);
    }

    #[test]
    fn starved_bitrate_low_fps_audio_and_drift() {
        let mut f = good();
        // 720p30 at 250 kb/s of video: 0.009 bits per pixel.
        ingest(&mut f).bitrate_bps = Some(378_000.0);
        let c = evaluate(&f);
        assert_eq!(find(&c, "bitrate").level, Level::Red);
        assert!(find(&c, "bitrate")
            .fix
            .as_deref()
            .is_some_and(|s| s.contains("Video Bitrate")));
        let mut f = good();
        ingest(&mut f).bitrate_bps = Some(12_000_000.0);
        assert_eq!(find(&evaluate(&f), "bitrate").level, Level::Orange);

        let mut f = good();
        ingest(&mut f).frame_rate = Some(12.0);
        assert_eq!(find(&evaluate(&f), "frame_rate").level, Level::Red);
        ingest(&mut f).frame_rate = Some(20.0);
        assert_eq!(find(&evaluate(&f), "frame_rate").level, Level::Orange);

        let mut f = good();
        assert_eq!(
            find(&evaluate(&f), "audio").value,
            "-21 dBFS (peak -18 dBFS)"
        );
        ingest(&mut f).audio.level_dbfs = Some(-84.0);
        ingest(&mut f).audio.silent = Some(true);
        let c = evaluate(&f);
        assert_eq!(find(&c, "audio").level, Level::Orange);
        assert!(
            find(&c, "audio")
                .warning()
                .starts_with("the audio is silent (-84 dBFS): unmute"),
            "{c:?}"
        );
        ingest(&mut f).audio.silent = Some(false);
        ingest(&mut f).audio.level_dbfs = Some(-9.0);
        ingest(&mut f).audio.peak_dbfs = Some(-0.1);
        let c = evaluate(&f);
        assert_eq!(find(&c, "audio").level, Level::Orange);
        assert!(find(&c, "audio").message.contains("clips"), "{c:?}");
        // Not decoded: silence inferred from the frame sizes.
        let mut f = good();
        ingest(&mut f).audio.level_dbfs = None;
        ingest(&mut f).audio.peak_dbfs = None;
        assert_eq!(find(&evaluate(&f), "audio").value, "128 kb/s");
        ingest(&mut f).audio.silent = Some(true);
        assert_eq!(find(&evaluate(&f), "audio").level, Level::Orange);
        ingest(&mut f).audio.present = false;
        assert_eq!(find(&evaluate(&f), "audio").level, Level::Red);
        ingest(&mut f).audio.track = false;
        let c = evaluate(&f);
        assert!(find(&c, "audio").message.contains("no audio track"));

        let mut f = good();
        ingest(&mut f).av_drift_ms = Some(-180.0);
        let c = evaluate(&f);
        assert_eq!(find(&c, "av_drift").level, Level::Orange);
        assert!(find(&c, "av_drift").message.contains("behind"), "{c:?}");
        ingest(&mut f).av_drift_ms = Some(450.0);
        assert_eq!(find(&evaluate(&f), "av_drift").level, Level::Red);
    }

    #[test]
    fn encoder_falling_behind_dropping_or_shed() {
        let mut f = good();
        f.renditions[0].realtime_factor = Some(0.8);
        let c = evaluate(&f);
        assert_eq!(find(&c, "encoder:720p").level, Level::Red);
        let mut f = good();
        f.renditions[0].lag_secs = Some(2.0);
        assert_eq!(find(&evaluate(&f), "encoder:720p").level, Level::Orange);
        f.renditions[0].dropped_frames = 3;
        let c = evaluate(&f);
        assert!(
            find(&c, "encoder:720p").message.contains("lag")
                || find(&c, "encoder:720p").message.contains("behind")
        );
        let mut f = good();
        f.renditions[0].shed = true;
        assert_eq!(find(&evaluate(&f), "encoder:720p").value, "shed");
    }

    #[test]
    fn no_publisher_is_red_with_how_to_start() {
        let c = evaluate(&Figures::default());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].level, Level::Red);
        assert!(c[0]
            .fix
            .as_deref()
            .is_some_and(|s| s.contains("Start Streaming")));
    }
}
