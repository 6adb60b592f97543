//! The ladder as a `gst-launch` description, and the muxer settings it is built with
//! (pure: a plan and settings in, text out).

use super::*;
use crate::codec::VideoCodec;

/// Longest hole in a grid-cut session's video that is filled by repeating the last
/// picture (a publisher silent for longer is ended by ingest first).
pub const MAX_FILLED_GAP: Duration = Duration::from_secs(10);

/// AAC bitrate of audio transcoded from Opus (bits/s).
pub const TRANSCODED_AAC_BITRATE: u64 = crate::ladder::AUDIO_BITRATE;

/// Muxer settings shared by every rendition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MuxSettings {
    pub segment_duration: Duration,
    pub part_duration: Duration,
    /// x264 speed preset name.
    pub x264_preset: &'static str,
    /// Whether the overload governor may shed renditions (on by default; a shed
    /// rendition comes back when the CPU does). Frame drops are measured either way.
    pub shed_renditions: bool,
}

/// Shortest part duration an event may choose (6 frames at 30 fps).
pub const MIN_PART_DURATION: Duration = Duration::from_millis(200);
/// Longest part duration an event may choose.
pub const MAX_PART_DURATION: Duration = Duration::from_secs(1);

/// Reads a part duration in seconds, [`MIN_PART_DURATION`] to [`MAX_PART_DURATION`]
/// (e.g. `0.2`, `0.333`, `0.5`), as given on the command line.
pub fn parse_part_duration(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    let d = Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))?;
    check_part_duration(d)
}

/// `d` if it is within [`MIN_PART_DURATION`] to [`MAX_PART_DURATION`].
pub fn check_part_duration(d: Duration) -> Result<Duration, String> {
    if !(MIN_PART_DURATION..=MAX_PART_DURATION).contains(&d) {
        return Err(format!(
            "part duration {} s is outside {} s to {} s",
            d.as_secs_f64(),
            MIN_PART_DURATION.as_secs_f64(),
            MAX_PART_DURATION.as_secs_f64()
        ));
    }
    Ok(d)
}

impl crate::PackagerConfig {
    /// Sets the part duration of the muxers and the playlists' PART-TARGET (the
    /// playlist writer derives PART-HOLD-BACK, 3 × PART-TARGET, from it). Segments keep
    /// their duration; the muxer rounds the part to a whole fraction of it.
    pub fn set_part_duration(&mut self, part: Duration) {
        let part = part.clamp(MIN_PART_DURATION, MAX_PART_DURATION);
        self.mux.part_duration = part;
        let (_, chunk) = mux_durations(&self.mux);
        // Announced in whole milliseconds, never below a real part.
        self.playlist.part_target = Duration::from_millis((chunk as u64).div_ceil(1_000_000));
    }
}

/// Fragment and chunk durations in nanoseconds. The fragment is a whole number of
/// chunks: with 333,333,333 ns chunks and a 2 s fragment, the sixth chunk would stop
/// a nanosecond short of the fragment end and the muxer would run the segment on to
/// the next keyframe.
pub fn mux_durations(settings: &MuxSettings) -> (u128, u128) {
    let frag = settings.segment_duration.as_nanos().max(1);
    let part = settings.part_duration.as_nanos().clamp(1, frag);
    let parts = ((frag as f64 / part as f64).round() as u128).max(1);
    let chunk = frag / parts;
    (chunk * parts, chunk)
}

/// Caps of the audio appsrc (and, for Opus, the transcoding elements after it).
fn audio_branch(audio: &AudioConfig) -> String {
    match audio {
        AudioConfig::Aac { .. } => "appsrc name=asrc format=time ! aacparse".into(),
        AudioConfig::Opus { channels } => format!(
            "appsrc name=asrc format=time ! opusdec ! audioconvert ! audioresample ! \
             audio/x-raw,rate=48000,channels={channels} ! avenc_aac bitrate={TRANSCODED_AAC_BITRATE} ! aacparse"
        ),
    }
}

/// The parser and the decoder of the source's codec (Debian 12's GStreamer: `av1dec`
/// is libaom's, `avdec_h265` libavcodec's).
pub fn source_elements(codec: VideoCodec) -> (&'static str, &'static str) {
    match codec {
        VideoCodec::H264 => ("h264parse", "avdec_h264"),
        VideoCodec::H265 => ("h265parse", "avdec_h265"),
        VideoCodec::Av1 => ("av1parse", "av1dec"),
    }
}

/// The encoded rung that rung `i` is scaled from: the smallest encoded rung above it
/// that is at least as large, `None` for the decoded picture. Scaling 720p to 480p to
/// 360p rather than 1080p to each reads a fraction of the pixels (about a tenth less CPU
/// for the paced 1080p ladder in `bench/ladder.sh`: 0.87–0.96 against 0.98–1.06 CPU s per
/// media s), and the step-wise downscale aliases less.
/// A shed rung keeps scaling for the rungs below it; only its encoder rests.
pub fn cascade_source(plan: &Plan, i: usize) -> Option<usize> {
    let r = plan.renditions.get(i)?;
    plan.renditions
        .iter()
        .enumerate()
        .take(i)
        .filter(|(_, a)| {
            matches!(a.kind, RenditionKind::Encoded { .. })
                && a.width >= r.width
                && a.height >= r.height
        })
        .min_by_key(|(_, a)| u64::from(a.width) * u64::from(a.height))
        .map(|(k, _)| k)
}

pub fn launch_description(
    plan: &Plan,
    audio: Option<&AudioConfig>,
    settings: &MuxSettings,
) -> String {
    let (frag, chunk) = mux_durations(settings);
    // Queues: compressed branches (a muxer's inputs, the decoder's input) hold a few
    // seconds and never drop: a compressed frame dropped before a muxer is a hole in
    // its input (a GOP missing its references, a frame spanning a fragment boundary),
    // and isofmp4mux wedges on such a hole for good, holding every buffer it gets from
    // then on. A muxer that stops taking frames holds its branch of the tee back
    // instead, for as long as it stops ([`super::hoard`] cuts off one that is wedged).
    // For an encoder that keeps its own cadence (RTMP, RTSP: keyframes follow the
    // source), each encoder reads a raw queue one part long that drops its oldest frame
    // when full (the shed feed repeats a picture over such a loss where a part would
    // stop short): a ladder short of CPU loses raw frames, not time. A browser session
    // (keyframes forced on a grid) sends bursts after loss: there, a leaking raw queue
    // lost the frame after a forced keyframe request, so its raw queues block (one
    // second).
    let q = "queue max-size-buffers=0 max-size-bytes=0 max-size-time=5000000000";
    let qraw = match plan.keyframes {
        KeyframePolicy::FollowSource => format!(
            "queue leaky=downstream max-size-buffers=0 max-size-bytes=0 max-size-time={chunk}"
        ),
        KeyframePolicy::Grid(_) => {
            "queue max-size-buffers=0 max-size-bytes=0 max-size-time=1000000000".to_owned()
        }
    };
    // The source is decoded once, whatever its codec (H.265 and AV1 arrive over
    // Enhanced RTMP); only H.264 is ever passed through.
    let (parser, decoder) = source_elements(plan.source.codec);
    let mut d = format!("appsrc name=vsrc format=time ! {parser} ! tee name=vt ");
    let encoded = plan
        .renditions
        .iter()
        .any(|r| matches!(r.kind, RenditionKind::Encoded { .. }));
    if encoded {
        // `decoded` is where keyframes are forced: the decoder's output, or for a
        // grid-cut session the gap filler after it (see the module docs).
        let decoded = match plan.keyframes {
            KeyframePolicy::FollowSource => format!("{decoder} name=decoded"),
            KeyframePolicy::Grid(_) => format!(
                "{decoder} ! videorate name=decoded skip-to-first=true max-duplication-time={}",
                MAX_FILLED_GAP.as_nanos()
            ),
        };
        d += &format!("vt. ! {q} ! {decoded} ! tee name=dt ");
    }
    for (i, r) in plan.renditions.iter().enumerate() {
        d += &format!(
            "isofmp4mux name=mux{i} fragment-duration={frag} chunk-duration={chunk} send-force-keyunit=false ! appsink name=sink{i} sync=false async=false "
        );
        match r.kind {
            RenditionKind::Passthrough => d += &format!("vt. ! {q} name=vq{i} ! mux{i}. "),
            RenditionKind::Encoded { bitrate } => {
                let kbps = (bitrate / 1000).max(100);
                let profile = if r.height > 720 { "high" } else { "main" };
                // Scaled from the rung just above when there is one (cascade), else
                // from the decoded picture; each scaled picture passes a tee `st{i}`
                // the rung below reads.
                let from = cascade_source(plan, i).map_or("dt.".to_owned(), |k| format!("st{k}."));
                d += &format!(
                    "{from} ! {qraw} name=rawq{i} ! videoscale ! videoconvert ! video/x-raw,format=I420,width={w},height={h},pixel-aspect-ratio=1/1 ! \
                     tee name=st{i} ! x264enc name=enc{i} tune=zerolatency speed-preset={preset} bitrate={kbps} vbv-buf-capacity=1000 key-int-max=1200 \
                     bframes=0 b-adapt=false option-string=scenecut=0 ! video/x-h264,profile={profile} ! h264parse ! {q} name=vq{i} ! mux{i}. ",
                    w = r.width,
                    h = r.height,
                    preset = settings.x264_preset,
                );
            }
        }
    }
    if let (Some(audio), Some(_)) = (audio, plan.audio) {
        d += &audio_branch(audio);
        d += " ! tee name=at ";
        for i in 0..plan.renditions.len() {
            d += &format!("at. ! {q} name=aq{i} ! mux{i}. ");
        }
    }
    d
}
