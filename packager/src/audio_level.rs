//! The level of a publisher's audio in dBFS, for the live health page.
//!
//! Two parts, kept apart:
//! - [`LevelMeter`] (sans-IO): interleaved `f32` samples in, one [`Level`] (RMS and
//!   peak in dBFS over all channels) per [`WINDOW`] of media out. Digital silence reads
//!   [`FLOOR_DBFS`], never `-inf`. Time is the samples' own: a window closes after
//!   `rate × WINDOW` sample frames, whatever the wall clock does.
//! - [`AudioLevelProbe`]: the GStreamer glue, `appsrc ! <decoder> ! audioconvert !
//!   audio/x-raw,format=F32LE,layout=interleaved ! appsink`, the decoder being
//!   `aacparse ! avdec_aac` (RTMP's AAC, which passes through the ladder undecoded) or
//!   `opusdec` (WHIP). Its appsrc caps are the ladder's ([`crate::pipeline::audio_caps`]),
//!   so the probe reads the audio exactly as the ladder does. [`AudioLevelProbe::push`]
//!   never blocks and holds at most [`MAX_QUEUED_BYTES`] of encoded audio: a frame
//!   arriving over that bound is skipped (the level is a sample, not a recording).

use crate::codec;
use amphi_ingest::{AudioConfig, EncodedFrame};
use amphi_time::sync::lock;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Media time over which one level is measured.
pub const WINDOW: Duration = Duration::from_millis(500);
/// The level of digital silence (and the lowest value ever reported).
pub const FLOOR_DBFS: f64 = -100.0;
/// Encoded audio queued in the probe's appsrc beyond which frames are skipped (about
/// 1 s of 128 kb/s AAC).
pub const MAX_QUEUED_BYTES: u64 = 16 * 1024;

/// One window's level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// Root mean square of every sample of every channel, dBFS (a full-scale sine:
    /// −3.01).
    pub rms_dbfs: f64,
    /// Largest absolute sample, dBFS.
    pub peak_dbfs: f64,
}

/// `20 log10(amplitude)`, floored at [`FLOOR_DBFS`].
pub fn dbfs(amplitude: f64) -> f64 {
    if amplitude.is_finite() && amplitude > 0.0 {
        (20.0 * amplitude.log10()).max(FLOOR_DBFS)
    } else {
        FLOOR_DBFS
    }
}

/// Sums the samples of the current window (sans-IO).
#[derive(Debug, Clone)]
pub struct LevelMeter {
    window: Duration,
    /// Format of the samples in the current window: (channels, rate).
    format: Option<(u16, u32)>,
    sum_squares: f64,
    peak: f64,
    /// Samples (all channels) in the current window.
    samples: u64,
    /// Samples (all channels) that make a window in `format`.
    per_window: u64,
}

impl Default for LevelMeter {
    fn default() -> Self {
        LevelMeter::new(WINDOW)
    }
}

impl LevelMeter {
    pub fn new(window: Duration) -> LevelMeter {
        LevelMeter {
            window,
            format: None,
            sum_squares: 0.0,
            peak: 0.0,
            samples: 0,
            per_window: 0,
        }
    }

    /// Takes interleaved samples of `channels` channels at `rate` Hz; returns the level
    /// of the last window these samples completed, if any. A change of format starts a
    /// new window (the partial one is dropped). Non-finite samples count as silence.
    pub fn push(&mut self, samples: &[f32], channels: u16, rate: u32) -> Option<Level> {
        if channels == 0 || rate == 0 {
            return None;
        }
        if self.format != Some((channels, rate)) {
            self.format = Some((channels, rate));
            let frames = (rate as f64 * self.window.as_secs_f64()).round().max(1.0) as u64;
            self.per_window = frames * u64::from(channels);
            self.reset();
        }
        let mut done = None;
        for &s in samples {
            let s = if s.is_finite() { f64::from(s) } else { 0.0 };
            self.sum_squares += s * s;
            self.peak = self.peak.max(s.abs());
            self.samples += 1;
            if self.samples >= self.per_window {
                done = Some(self.close());
            }
        }
        done
    }

    fn close(&mut self) -> Level {
        let level = Level {
            rms_dbfs: dbfs((self.sum_squares / self.samples.max(1) as f64).sqrt()),
            peak_dbfs: dbfs(self.peak),
        };
        self.reset();
        level
    }

    fn reset(&mut self) {
        self.sum_squares = 0.0;
        self.peak = 0.0;
        self.samples = 0;
    }
}

#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum AudioLevelError {
    #[error("audio level probe: unreadable audio configuration: {0}")]
    Config(String),
    #[error("audio level probe: building `{description}`: {reason}")]
    Build { description: String, reason: String },
    #[error("audio level probe: the decoder failed: {0}")]
    Failed(String),
}

/// The newest level a probe measured; `seq` counts the windows, so a reader can tell a
/// new level from the one it already saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub seq: u64,
    pub level: Level,
}

#[derive(Default)]
struct Shared {
    meter: LevelMeter,
    scratch: Vec<f32>,
    latest: Option<Reading>,
}

/// Decodes one session's audio to measure its level (see the module notes).
pub struct AudioLevelProbe {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    shared: Arc<Mutex<Shared>>,
    failed: Arc<AtomicBool>,
    skipped: AtomicU64,
}

/// The decoding part of the probe's pipeline for `config`.
fn decoder(config: &AudioConfig) -> &'static str {
    match config {
        AudioConfig::Aac { .. } => "aacparse ! avdec_aac",
        AudioConfig::Opus { .. } => "opusdec",
    }
}

impl AudioLevelProbe {
    /// Starts a probe for audio of `config` (GStreamer must be initialised:
    /// [`crate::init`]).
    pub fn start(config: &AudioConfig) -> Result<AudioLevelProbe, AudioLevelError> {
        let info = match config {
            AudioConfig::Aac { asc } => codec::parse_asc(asc),
            AudioConfig::Opus { channels } => codec::opus_to_aac(*channels),
        }
        .map_err(|e| AudioLevelError::Config(e.to_string()))?;
        let description = format!(
            "appsrc name=src ! {} ! audioconvert ! \
             audio/x-raw,format=F32LE,layout=interleaved ! appsink name=sink sync=false",
            decoder(config)
        );
        let build = |reason: String| AudioLevelError::Build {
            description: description.clone(),
            reason,
        };
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| build(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| build("not a pipeline".into()))?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| build("no appsrc".into()))?;
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| build("no appsink".into()))?;
        src.set_caps(Some(&crate::pipeline::audio_caps(config, &info)));
        src.set_format(gst::Format::Time);
        src.set_is_live(false);
        src.set_block(false);
        // Bounded here and by `push`'s check of the queued bytes.
        src.set_max_bytes(MAX_QUEUED_BYTES);
        sink.set_max_buffers(4);
        sink.set_drop(true);

        let shared = Arc::new(Mutex::new(Shared::default()));
        let failed = Arc::new(AtomicBool::new(false));
        let into = shared.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    measure(&sample, &into);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        let bus = pipeline
            .bus()
            .ok_or_else(|| build("pipeline without a bus".into()))?;
        let flag = failed.clone();
        let span = tracing::Span::current();
        bus.set_sync_handler(move |_, msg| {
            if let gst::MessageView::Error(e) = msg.view() {
                if !flag.swap(true, Ordering::Relaxed) {
                    let _g = span.enter();
                    tracing::warn!(reason = %e.error(), "audio level probe stopped: the level is no longer measured");
                }
            }
            gst::BusSyncReply::Drop
        });
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| build(format!("starting: {e}")))?;
        Ok(AudioLevelProbe {
            pipeline,
            src,
            shared,
            failed,
            skipped: AtomicU64::new(0),
        })
    }

    /// Queues one encoded audio frame for decoding; never blocks. Returns whether the
    /// frame was taken (`false`: skipped, the decoder is behind).
    pub fn push(&self, frame: &EncodedFrame) -> Result<bool, AudioLevelError> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(AudioLevelError::Failed("see the warning logged".into()));
        }
        if self.src.current_level_bytes() > MAX_QUEUED_BYTES {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        let mut buffer = gst::Buffer::from_slice(frame.data.clone());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(
                frame.pts.as_nanos().max(0) as u64
            ));
        }
        self.src
            .push_buffer(buffer)
            .map(|_| true)
            .map_err(|e| AudioLevelError::Failed(format!("pushing a frame: {e:?}")))
    }

    /// The newest level measured, if any.
    pub fn latest(&self) -> Option<Reading> {
        lock(&self.shared).latest
    }

    /// Frames skipped because the decoder was behind.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}

impl Drop for AudioLevelProbe {
    fn drop(&mut self) {
        if let Some(bus) = self.pipeline.bus() {
            bus.unset_sync_handler();
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Feeds one decoded buffer to the meter.
fn measure(sample: &gst::Sample, shared: &Mutex<Shared>) {
    let Some(s) = sample.caps().and_then(|c| c.structure(0)) else {
        return;
    };
    let (Ok(channels), Ok(rate)) = (s.get::<i32>("channels"), s.get::<i32>("rate")) else {
        return;
    };
    let (Ok(channels), Ok(rate)) = (u16::try_from(channels), u32::try_from(rate)) else {
        return;
    };
    let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) else {
        return;
    };
    let mut guard = lock(shared);
    let Shared {
        meter,
        scratch,
        latest,
    } = &mut *guard;
    scratch.clear();
    scratch.extend(
        map.as_slice()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
    );
    if let Some(level) = meter.push(scratch, channels, rate) {
        let seq = latest.map_or(1, |r| r.seq + 1);
        *latest = Some(Reading { seq, level });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amphi_ingest::{FrameKind, MediaTime};
    use bytes::Bytes;

    /// `secs` of a sine of `amplitude` at 440 Hz, interleaved over `channels`.
    fn sine(amplitude: f32, rate: u32, channels: u16, secs: f64) -> Vec<f32> {
        let frames = (rate as f64 * secs) as usize;
        let mut out = Vec::with_capacity(frames * channels as usize);
        for n in 0..frames {
            let v = amplitude
                * (2.0 * std::f64::consts::PI * 440.0 * n as f64 / rate as f64).sin() as f32;
            out.extend(std::iter::repeat_n(v, channels as usize));
        }
        out
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.05
    }

    #[test]
    fn full_scale_sine_eighth_amplitude_and_silence() {
        let mut m = LevelMeter::default();
        let l = m
            .push(&sine(1.0, 48_000, 2, 0.5), 2, 48_000)
            .expect("a window");
        assert!(close(l.rms_dbfs, -3.01), "{l:?}");
        assert!(close(l.peak_dbfs, 0.0), "{l:?}");
        let l = m
            .push(&sine(0.125, 48_000, 2, 0.5), 2, 48_000)
            .expect("a window");
        assert!(close(l.rms_dbfs, -21.07), "{l:?}");
        assert!(close(l.peak_dbfs, -18.06), "{l:?}");
        let l = m.push(&[0.0; 48_000], 2, 48_000).expect("a window");
        assert_eq!((l.rms_dbfs, l.peak_dbfs), (FLOOR_DBFS, FLOOR_DBFS));
    }

    #[test]
    fn windows_close_on_media_time_whatever_the_buffer_sizes() {
        let mut m = LevelMeter::default();
        let signal = sine(0.5, 44_100, 1, 1.25);
        let levels: Vec<Level> = signal
            .chunks(1024)
            .filter_map(|c| m.push(c, 1, 44_100))
            .collect();
        // 1.25 s: two whole windows, a quarter second still open.
        assert_eq!(levels.len(), 2);
        assert!(
            levels.iter().all(|l| close(l.rms_dbfs, -9.03)),
            "{levels:?}"
        );
        // A change of format starts over; NaN reads as silence; nonsense is ignored.
        assert_eq!(
            m.push(&[f32::NAN; 8_000], 1, 16_000),
            Some(Level {
                rms_dbfs: FLOOR_DBFS,
                peak_dbfs: FLOOR_DBFS
            })
        );
        assert_eq!(m.push(&[1.0; 10], 0, 48_000), None);
        assert_eq!(dbfs(f64::INFINITY), FLOOR_DBFS);
    }

    /// Encodes `secs` of `audiotestsrc` with `encoder` into frames and the caps.
    fn encode(encoder: &str, volume: f64, secs: u64) -> (Vec<EncodedFrame>, gst::Caps) {
        crate::init().expect("GStreamer");
        let buffers = secs * 48_000 / 1024;
        let p = gst::parse::launch(&format!(
            "audiotestsrc wave=sine freq=440 volume={volume} num-buffers={buffers} \
             samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 ! {encoder} ! \
             appsink name=sink sync=false"
        ))
        .expect("encoder pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
        let sink = p
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .expect("appsink");
        p.set_state(gst::State::Playing).expect("playing");
        let mut frames = Vec::new();
        let mut caps = None;
        while let Ok(s) = sink.pull_sample() {
            caps = caps.or_else(|| s.caps_owned());
            let b = s.buffer().expect("a buffer");
            let pts = b.pts().map_or(0, |t| t.mseconds() as i64);
            let data = b.map_readable().expect("readable").to_vec();
            frames.push(EncodedFrame {
                kind: FrameKind::Audio,
                pts: MediaTime::from_millis(pts),
                dts: MediaTime::from_millis(pts),
                data: Bytes::from(data),
            });
        }
        let _ = p.set_state(gst::State::Null);
        (frames, caps.expect("caps"))
    }

    /// Pushes `frames` and waits (on the readings, not a fixed time) for the level.
    fn level_of(config: &AudioConfig, frames: &[EncodedFrame]) -> Level {
        let probe = AudioLevelProbe::start(config).expect("probe");
        let mut last = None;
        for f in frames {
            while !probe.push(f).expect("push") {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            last = probe.latest();
            if last.is_some_and(|r| r.seq >= 3) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        last.expect("a level within 10 s").level
    }

    #[test]
    fn probe_measures_aac_as_the_ladder_reads_it() {
        let (frames, caps) = encode(
            "avenc_aac ! aacparse ! audio/mpeg,stream-format=raw",
            0.125,
            2,
        );
        let asc = codec_data(&caps);
        let level = level_of(
            &AudioConfig::Aac {
                asc: Bytes::from(asc),
            },
            &frames,
        );
        assert!((level.rms_dbfs + 21.07).abs() < 1.0, "{level:?}");
        assert!((level.peak_dbfs + 18.06).abs() < 1.5, "{level:?}");
    }

    /// The AudioSpecificConfig an AAC encoder put in its caps.
    fn codec_data(caps: &gst::Caps) -> Vec<u8> {
        caps.structure(0)
            .and_then(|s| s.get::<gst::Buffer>("codec_data").ok())
            .expect("codec_data")
            .map_readable()
            .expect("readable")
            .to_vec()
    }

    /// Process CPU time (user + system), seconds.
    fn cpu_secs() -> f64 {
        let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is given; it is zeroed already.
        let u = unsafe {
            libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr());
            u.assume_init()
        };
        let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
        t(u.ru_utime) + t(u.ru_stime)
    }

    /// The probe's CPU cost per second of 128 kb/s stereo AAC. A measurement: run it
    /// on a release build (`cargo test --release -p amphi-packager --lib probe_cost --
    /// --ignored --nocapture`).
    #[test]
    #[ignore = "measurement, for a release build"]
    fn probe_cost_per_media_second() {
        const SECS: u64 = 60;
        let (frames, caps) = encode(
            "avenc_aac bitrate=128000 ! aacparse ! audio/mpeg,stream-format=raw",
            0.125,
            SECS,
        );
        let asc = codec_data(&caps);
        let before = cpu_secs();
        let started = std::time::Instant::now();
        let probe = AudioLevelProbe::start(&AudioConfig::Aac {
            asc: Bytes::from(asc),
        })
        .expect("probe");
        for f in &frames {
            while !probe.push(f).expect("push") {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let windows = (SECS * 1000 / WINDOW.as_millis() as u64) - 1;
        while probe.latest().is_none_or(|r| r.seq < windows) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{:?}",
                probe.latest()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let cpu = cpu_secs() - before;
        drop(probe);
        let per_media_sec = cpu / SECS as f64;
        println!(
            "audio level probe: {cpu:.3} CPU s for {SECS} s of AAC ({} frames) in {:?}: {:.2} ms CPU per media second ({:.2} % of one core)",
            frames.len(),
            started.elapsed(),
            per_media_sec * 1000.0,
            per_media_sec * 100.0
        );
        assert!(per_media_sec < 0.05, "{per_media_sec}");
    }

    #[test]
    fn probe_measures_opus_and_refuses_a_bad_configuration() {
        let (frames, _) = encode("opusenc", 0.5, 2);
        let level = level_of(&AudioConfig::Opus { channels: 2 }, &frames);
        assert!((level.rms_dbfs + 9.03).abs() < 1.0, "{level:?}");
        let bad = AudioLevelProbe::start(&AudioConfig::Aac {
            asc: Bytes::from_static(&[0]),
        });
        assert!(
            matches!(bad, Err(AudioLevelError::Config(_))),
            "{:?}",
            bad.err()
        );
    }
}
