//! Figures of one publish session, measured from the frames the ingest hands to the
//! packager (sans-IO: every call takes the arrival time).
//!
//! - bitrate: payload bytes that arrived in the last [`WINDOW`] (all tracks), and the
//!   audio track's alone;
//! - frame rate: video frames per second of *media* time over the window (what the
//!   encoder produces, whatever the network's jitter);
//! - keyframe interval: media time between the last two keyframes, or since the last
//!   one when that is longer already (a 10 s interval shows before the second arrives);
//! - audio: whether the session announced an audio track and frames of it arrive, and
//!   its level in dBFS: the tap decodes the audio on the side
//!   ([`amphi_packager::audio_level`]) and hands each 500 ms level in
//!   ([`IngestMeter::on_level`]); the figures give the RMS over the window (power mean
//!   of the levels) and the highest peak. When no level is known (the probe could not
//!   run), silence is inferred from the encoded frame sizes instead — an AAC or Opus
//!   encoder fed silence writes frames of a few bytes (ffmpeg's AAC at 128 kb/s: 6
//!   bytes of payload; a tone or a voice: 300+).
//! - A/V drift: how far the audio's media clock runs ahead of the video's, measured
//!   against arrival: per track, the largest `pts − (arrival − first arrival)` in the
//!   window (the frame that waited least), audio minus video. A publisher whose audio
//!   and video were captured in step reads about 0; a Sync Offset or a drifting capture
//!   card shows as a steady value.

use amphi_ingest::frame::{EncodedFrame, FrameKind, MediaTime, StreamConfig};
use amphi_packager::audio_level::Level;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Window over which rates are measured.
pub const WINDOW: Duration = Duration::from_secs(4);
/// Mean encoded audio frame below this many bytes: the audio is (almost) silent.
pub const SILENT_FRAME_BYTES: f64 = 32.0;
/// RMS level below this over the window: the audio is silent (a muted or missing
/// microphone; a quiet room through a live one reads about −50 dBFS or more).
pub const SILENT_DBFS: f64 = -60.0;
/// How the level is known.
pub const LEVEL_DECODED: &str = "decoded samples";
pub const LEVEL_FRAME_SIZES: &str = "encoded frame sizes";
/// Levels remembered (a bound whatever happens to the arrival times).
const MAX_LEVELS: usize = 64;
/// Frames remembered per track (a bound whatever the frame rate a publisher claims).
const MAX_FRAMES: usize = 2048;

/// What the health page shows of a publisher's stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestFigures {
    /// Seconds since the session's first frame.
    pub connected_secs: f64,
    pub bitrate_bps: Option<f64>,
    pub frame_rate: Option<f64>,
    /// Media seconds between keyframes (at least; see the module notes).
    pub keyframe_interval_secs: Option<f64>,
    pub audio: AudioFigures,
    /// Audio ahead of video, in milliseconds (negative: audio late).
    pub av_drift_ms: Option<f64>,
    /// Source picture size (width, height), from the stream configuration.
    pub resolution: Option<[u32; 2]>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AudioFigures {
    /// The session announced an audio track.
    pub track: bool,
    /// Audio frames arrived in the last window.
    pub present: bool,
    pub bitrate_bps: Option<f64>,
    /// Mean encoded frame size in the window, bytes.
    pub mean_frame_bytes: Option<f64>,
    /// RMS level over the window, dBFS (−100: digital silence); `None` when the audio
    /// could not be decoded.
    pub level_dbfs: Option<f64>,
    /// Highest sample over the window, dBFS.
    pub peak_dbfs: Option<f64>,
    /// From the level ([`SILENT_DBFS`]) when known, else inferred from the frame sizes
    /// ([`SILENT_FRAME_BYTES`]).
    pub silent: Option<bool>,
    /// How `silent` is known: [`LEVEL_DECODED`] or [`LEVEL_FRAME_SIZES`].
    pub level_source: &'static str,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    arrival: Instant,
    pts: MediaTime,
    dts: MediaTime,
    bytes: usize,
}

/// The meter of one publish session.
#[derive(Debug)]
pub struct IngestMeter {
    first_arrival: Option<Instant>,
    audio_track: bool,
    resolution: Option<[u32; 2]>,
    video: VecDeque<Seen>,
    audio: VecDeque<Seen>,
    /// The last two keyframes' presentation times, older first.
    keyframes: [Option<MediaTime>; 2],
    last_video_pts: Option<MediaTime>,
    /// Audio levels by arrival, older first.
    levels: VecDeque<(Instant, Level)>,
}

impl Default for IngestMeter {
    fn default() -> Self {
        IngestMeter::new()
    }
}

fn secs(d: amphi_ingest::frame::MediaDuration) -> f64 {
    d.as_secs_f64()
}

impl IngestMeter {
    pub fn new() -> IngestMeter {
        IngestMeter {
            first_arrival: None,
            audio_track: false,
            resolution: None,
            video: VecDeque::new(),
            audio: VecDeque::new(),
            keyframes: [None, None],
            last_video_pts: None,
            levels: VecDeque::new(),
        }
    }

    /// One window's audio level, measured at `now`.
    pub fn on_level(&mut self, now: Instant, level: Level) {
        self.levels.push_back((now, level));
        while self.levels.len() > MAX_LEVELS
            || self
                .levels
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > WINDOW)
        {
            self.levels.pop_front();
        }
    }

    pub fn on_config(&mut self, config: &StreamConfig) {
        self.audio_track = config.audio.is_some();
        self.resolution = amphi_ingest::codec::video_info(&config.video)
            .ok()
            .map(|v| [v.width, v.height]);
    }

    pub fn on_frame(&mut self, now: Instant, frame: &EncodedFrame) {
        self.first_arrival.get_or_insert(now);
        let seen = Seen {
            arrival: now,
            pts: frame.pts,
            dts: frame.dts,
            bytes: frame.data.len(),
        };
        let track = match frame.kind {
            FrameKind::Video { keyframe } => {
                if keyframe {
                    self.keyframes = [self.keyframes[1], Some(frame.pts)];
                }
                self.last_video_pts = Some(match self.last_video_pts {
                    Some(p) if p > frame.pts => p,
                    _ => frame.pts,
                });
                &mut self.video
            }
            FrameKind::Audio => &mut self.audio,
        };
        track.push_back(seen);
        while track.len() > MAX_FRAMES
            || track
                .front()
                .is_some_and(|f| now.duration_since(f.arrival) > WINDOW)
        {
            track.pop_front();
        }
    }

    /// The figures at `now` (frames older than the window no longer count).
    pub fn figures(&mut self, now: Instant) -> IngestFigures {
        while self
            .levels
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > WINDOW)
        {
            self.levels.pop_front();
        }
        for track in [&mut self.video, &mut self.audio] {
            while track
                .front()
                .is_some_and(|f| now.duration_since(f.arrival) > WINDOW)
            {
                track.pop_front();
            }
        }
        let Some(first) = self.first_arrival else {
            return IngestFigures {
                audio: AudioFigures {
                    track: self.audio_track,
                    level_source: LEVEL_FRAME_SIZES,
                    ..AudioFigures::default()
                },
                resolution: self.resolution,
                ..IngestFigures::default()
            };
        };
        let connected = now.duration_since(first);
        // Rates over the window, or over the time since the first frame when shorter
        // (at least one second, so the first frames do not read as a huge rate).
        let span = connected
            .min(WINDOW)
            .max(Duration::from_secs(1))
            .as_secs_f64();
        let bytes = |t: &VecDeque<Seen>| t.iter().map(|f| f.bytes).sum::<usize>() as f64;
        let has_media = !self.video.is_empty() || !self.audio.is_empty();
        let bitrate_bps = has_media.then(|| (bytes(&self.video) + bytes(&self.audio)) * 8.0 / span);
        let frame_rate = frame_rate(&self.video);
        let keyframe_interval_secs = match (self.keyframes, self.last_video_pts) {
            ([_, None], _) => None,
            ([before, Some(last)], newest) => {
                let closed = before.map(|b| secs(last - b));
                let open = newest.map(|n| secs(n - last));
                match (closed, open) {
                    (Some(c), Some(o)) => Some(c.max(o)),
                    (c, o) => c.or(o).filter(|_| before.is_some() || open_long(o)),
                }
            }
        };
        let audio_bytes = bytes(&self.audio);
        let n_audio = self.audio.len();
        let mean = (n_audio > 0).then(|| audio_bytes / n_audio as f64);
        // Levels count only while audio arrives (a stopped decoder's last word is old).
        let (level_dbfs, peak_dbfs) = match n_audio > 0 {
            true => self.level(),
            false => (None, None),
        };
        let audio = AudioFigures {
            track: self.audio_track,
            present: n_audio > 0,
            bitrate_bps: (n_audio > 0).then(|| audio_bytes * 8.0 / span),
            mean_frame_bytes: mean,
            level_dbfs,
            peak_dbfs,
            silent: match level_dbfs {
                Some(l) => Some(l < SILENT_DBFS),
                None => mean.map(|m| m < SILENT_FRAME_BYTES),
            },
            level_source: match level_dbfs {
                Some(_) => LEVEL_DECODED,
                None => LEVEL_FRAME_SIZES,
            },
        };
        IngestFigures {
            connected_secs: connected.as_secs_f64(),
            bitrate_bps,
            frame_rate,
            keyframe_interval_secs,
            audio,
            av_drift_ms: self.drift_ms(first),
            resolution: self.resolution,
        }
    }

    /// RMS over the window's levels (mean of their powers) and the highest peak.
    fn level(&self) -> (Option<f64>, Option<f64>) {
        if self.levels.is_empty() {
            return (None, None);
        }
        let power = self
            .levels
            .iter()
            .map(|(_, l)| 10f64.powf(l.rms_dbfs / 10.0))
            .sum::<f64>()
            / self.levels.len() as f64;
        let peak = self
            .levels
            .iter()
            .map(|(_, l)| l.peak_dbfs)
            .fold(amphi_packager::audio_level::FLOOR_DBFS, f64::max);
        (
            Some(amphi_packager::audio_level::dbfs(power.sqrt())),
            Some(peak),
        )
    }

    fn drift_ms(&self, first: Instant) -> Option<f64> {
        let lead = |t: &VecDeque<Seen>| {
            t.iter()
                .map(|f| f.pts.as_secs_f64() - f.arrival.duration_since(first).as_secs_f64())
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
        };
        Some((lead(&self.audio)? - lead(&self.video)?) * 1000.0)
    }
}

/// A first keyframe followed by more than the red threshold of media without another.
fn open_long(open: Option<f64>) -> bool {
    open.is_some_and(|o| o > super::checks::KEYFRAME_RED_SECS)
}

/// Frames per second of media time over the window: (n − 1) intervals between the
/// first and last decode times.
fn frame_rate(video: &VecDeque<Seen>) -> Option<f64> {
    let (first, last) = (video.front()?, video.back()?);
    let span = secs(last.dts - first.dts);
    (video.len() >= 2 && span > 0.0).then(|| (video.len() - 1) as f64 / span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use amphi_ingest::frame::{AudioConfig, VideoConfig};
    use bytes::Bytes;

    fn video(ms: i64, keyframe: bool, bytes: usize) -> EncodedFrame {
        EncodedFrame {
            kind: FrameKind::Video { keyframe },
            dts: MediaTime::from_millis(ms),
            pts: MediaTime::from_millis(ms),
            data: Bytes::from(vec![0u8; bytes]),
        }
    }

    fn audio(ms: i64, bytes: usize) -> EncodedFrame {
        EncodedFrame {
            kind: FrameKind::Audio,
            dts: MediaTime::from_millis(ms),
            pts: MediaTime::from_millis(ms),
            data: Bytes::from(vec![0u8; bytes]),
        }
    }

    fn config() -> StreamConfig {
        StreamConfig {
            video: VideoConfig::H264 { avcc: Bytes::new() },
            audio: Some(AudioConfig::Aac { asc: Bytes::new() }),
        }
    }

    /// `secs` of 30 fps video with a keyframe every `gop` frames and 48 kHz AAC
    /// (1024 samples a frame) of `audio_bytes` a frame, audio `skew_ms` ahead.
    fn feed(
        m: &mut IngestMeter,
        t0: Instant,
        secs: u64,
        gop: u64,
        audio_bytes: usize,
        skew_ms: i64,
    ) {
        let mut events = Vec::new();
        for i in 0..secs * 30 {
            let ms = (i * 1000 / 30) as i64;
            events.push((ms, video(ms, i % gop == 0, 4000)));
        }
        let mut k = 0i64;
        while k * 1024 * 1000 / 48_000 < (secs * 1000) as i64 {
            let ms = k * 1024 * 1000 / 48_000;
            events.push((ms, audio(ms + skew_ms, audio_bytes)));
            k += 1;
        }
        events.sort_by_key(|(ms, _)| *ms);
        for (ms, f) in events {
            m.on_frame(t0 + Duration::from_millis(ms as u64), &f);
        }
    }

    #[test]
    fn a_good_publisher() {
        let t0 = Instant::now();
        let mut m = IngestMeter::new();
        m.on_config(&config());
        feed(&mut m, t0, 10, 60, 340, 0);
        let f = m.figures(t0 + Duration::from_millis(10_000));
        let fps = f.frame_rate.expect("fps");
        assert!((fps - 30.0).abs() < 0.5, "{fps}");
        assert_eq!(f.keyframe_interval_secs, Some(2.0));
        // 4000 B × 30/s + 340 B × 46.9/s ≈ 1.09 Mb/s.
        let bps = f.bitrate_bps.expect("bitrate");
        assert!((bps - 1_087_000.0).abs() < 30_000.0, "{bps}");
        assert!(f.audio.track && f.audio.present);
        assert_eq!(f.audio.silent, Some(false));
        let drift = f.av_drift_ms.expect("drift");
        assert!(drift.abs() < 40.0, "{drift}");
    }

    #[test]
    fn a_long_gop_shows_before_its_second_keyframe() {
        let t0 = Instant::now();
        let mut m = IngestMeter::new();
        m.on_config(&config());
        feed(&mut m, t0, 3, 300, 340, 0);
        // 3 s without a second keyframe: not yet beyond the red threshold.
        assert_eq!(
            m.figures(t0 + Duration::from_secs(3))
                .keyframe_interval_secs,
            None
        );
        let mut m = IngestMeter::new();
        feed(&mut m, t0, 9, 300, 340, 0);
        let k = m
            .figures(t0 + Duration::from_secs(9))
            .keyframe_interval_secs
            .expect("at least 8.9 s");
        assert!(k > 8.9, "{k}");
        let mut m = IngestMeter::new();
        feed(&mut m, t0, 25, 300, 340, 0);
        let k = m
            .figures(t0 + Duration::from_secs(25))
            .keyframe_interval_secs
            .expect("10 s");
        assert!((k - 10.0).abs() < 0.01, "{k}");
    }

    #[test]
    fn silence_drift_and_missing_audio() {
        let t0 = Instant::now();
        let mut m = IngestMeter::new();
        m.on_config(&config());
        feed(&mut m, t0, 6, 60, 6, 250);
        let f = m.figures(t0 + Duration::from_secs(6));
        assert_eq!(f.audio.silent, Some(true));
        let drift = f.av_drift_ms.expect("drift");
        assert!((drift - 250.0).abs() < 40.0, "{drift}");
        // Audio announced but none arrives any more.
        let later = t0 + Duration::from_secs(6);
        for i in 0..150u64 {
            let ms = 6000 + (i * 1000 / 30) as i64;
            m.on_frame(
                later + Duration::from_millis(i * 1000 / 30),
                &video(ms, i % 60 == 0, 4000),
            );
        }
        let f = m.figures(later + Duration::from_secs(5));
        assert!(f.audio.track && !f.audio.present);
        assert_eq!(f.av_drift_ms, None);
        // Nothing at all yet.
        let mut m = IngestMeter::new();
        let f = m.figures(t0);
        assert_eq!(f.bitrate_bps, None);
        assert_eq!(f.audio.level_source, LEVEL_FRAME_SIZES);
    }

    #[test]
    fn measured_level_beats_the_frame_size_inference() {
        let t0 = Instant::now();
        let mut m = IngestMeter::new();
        m.on_config(&config());
        // Tiny frames (the inference would say silent) but a measured -21 dBFS tone.
        feed(&mut m, t0, 3, 60, 6, 0);
        let tone = Level {
            rms_dbfs: -21.07,
            peak_dbfs: -18.06,
        };
        for k in 0..6u64 {
            m.on_level(t0 + Duration::from_millis(k * 500), tone);
        }
        let f = m.figures(t0 + Duration::from_secs(3));
        let level = f.audio.level_dbfs.expect("a level");
        assert!((level + 21.07).abs() < 0.01, "{level}");
        assert_eq!(f.audio.peak_dbfs, Some(-18.06));
        assert_eq!(f.audio.silent, Some(false));
        assert_eq!(f.audio.level_source, LEVEL_DECODED);
        // Half the window silent, half at -20 dBFS: the power mean is 3 dB under.
        let mut m = IngestMeter::new();
        m.on_config(&config());
        feed(&mut m, t0, 4, 60, 340, 0);
        for k in 0..8u64 {
            let rms_dbfs = if k < 4 { -100.0 } else { -20.0 };
            let level = Level {
                rms_dbfs,
                peak_dbfs: rms_dbfs + 3.0,
            };
            m.on_level(t0 + Duration::from_millis(k * 500), level);
        }
        let f = m.figures(t0 + Duration::from_secs(4));
        let level = f.audio.level_dbfs.expect("a level");
        assert!((level + 23.01).abs() < 0.05, "{level}");
        assert_eq!(f.audio.peak_dbfs, Some(-17.0));
        // Only silence left in the window: silent, from the level.
        let later = t0 + Duration::from_secs(4);
        for k in 0..9u64 {
            let at = later + Duration::from_millis(k * 500);
            m.on_frame(at, &audio(4000 + (k * 500) as i64, 340));
            m.on_level(
                at,
                Level {
                    rms_dbfs: -100.0,
                    peak_dbfs: -100.0,
                },
            );
        }
        let f = m.figures(later + Duration::from_secs(4));
        assert_eq!(f.audio.level_dbfs, Some(-100.0));
        assert_eq!(f.audio.silent, Some(true));
        // No audio arrives any more: no level either.
        let f = m.figures(later + Duration::from_secs(20));
        assert_eq!((f.audio.level_dbfs, f.audio.peak_dbfs), (None, None));
    }
}
