//! Audio and video messages of a publish: codec configuration (AVC, or with Enhanced
//! RTMP HEVC or AV1, and AAC sequence headers) into one [`StreamConfig`], frames onto
//! the session's media clock.

use super::*;
use crate::rtmp::ertmp::{ExVideoTag, FourCc};

/// Media of the current publish, up to and after its configuration.
#[derive(Debug, Default)]
pub(super) struct Media {
    video: Option<VideoConfig>,
    asc: Option<Bytes>,
    configured: Option<StreamConfig>,
    /// Milliseconds of the last media message, and its position on the session clock.
    clock: Option<(u32, i64)>,
    warned_late_audio: bool,
    warned_config_change: bool,
    warned_codec_mismatch: bool,
}

impl Media {
    /// Milliseconds since the session's first media message (signed deltas between
    /// messages, so audio slightly behind video and 32-bit wrap-around are fine).
    fn millis(&mut self, timestamp: u32) -> i64 {
        let now = match self.clock {
            None => 0,
            Some((last, pos)) => pos + i64::from(timestamp.wrapping_sub(last) as i32),
        };
        self.clock = Some((timestamp, now));
        now
    }

    /// The video configuration frames must match: the one sent, or the one pending.
    fn video_codec(&self) -> Option<&'static str> {
        match &self.configured {
            Some(c) => Some(c.video.codec_name()),
            None => self.video.as_ref().map(VideoConfig::codec_name),
        }
    }
}

/// The configuration an Enhanced RTMP sequence start stands for.
fn ex_config(fourcc: FourCc, record: Bytes) -> VideoConfig {
    match fourcc {
        FourCc::HEVC => VideoConfig::H265 { hvcc: record },
        FourCc::AV1 => VideoConfig::Av1 { av1c: record },
        _ => VideoConfig::H264 { avcc: record },
    }
}

/// The codec name ([`VideoConfig::codec_name`]) of a FourCC.
fn fourcc_codec(fourcc: FourCc) -> &'static str {
    match fourcc {
        FourCc::HEVC => "h265",
        FourCc::AV1 => "av1",
        _ => "h264",
    }
}

impl Session {
    pub(super) fn handle_video(&mut self, msg: &Message) -> Result<(), SessionError> {
        if !self.is_publishing() {
            return Err(SessionError::MediaBeforePublish { what: "video" });
        }
        if msg.payload.is_empty() {
            return Ok(());
        }
        let tag = flv::parse_video(&msg.payload).map_err(|source| SessionError::Media {
            what: "video",
            timestamp: msg.timestamp,
            source,
        })?;
        let dts = self.media.millis(msg.timestamp);
        let (codec, keyframe, cts, data) = match tag {
            VideoTag::AvcSequenceHeader(avcc) => {
                self.on_video_config(VideoConfig::H264 { avcc });
                return Ok(());
            }
            VideoTag::Enhanced(ExVideoTag::SequenceStart { fourcc, record }) => {
                self.on_video_config(ex_config(fourcc, record));
                return Ok(());
            }
            VideoTag::AvcNalus {
                keyframe,
                cts,
                data,
            } => ("h264", keyframe, cts, data),
            VideoTag::Enhanced(ExVideoTag::CodedFrames {
                fourcc,
                keyframe,
                cts,
                data,
            }) => (fourcc_codec(fourcc), keyframe, cts, data),
            VideoTag::AvcEndOfSequence | VideoTag::Command | VideoTag::Enhanced(_) => return Ok(()),
        };
        if self.media.video_codec() != Some(codec) {
            if self.media.video_codec().is_some() && !self.media.warned_codec_mismatch {
                self.media.warned_codec_mismatch = true;
                warn!(
                    frame_codec = codec,
                    configured = self.media.video_codec(),
                    "video frames of another codec than the sequence header's dropped"
                );
            }
            debug!(
                keyframe,
                "video frame without a matching configuration dropped"
            );
            return Ok(());
        }
        if self.media.configured.is_none() {
            if !keyframe {
                debug!(
                    keyframe,
                    "video frame before the stream configuration dropped"
                );
                return Ok(());
            }
            // No AAC header by the first keyframe: video only.
            self.configure();
        }
        if data.is_empty() {
            return Ok(());
        }
        self.events.push_back(Event::Frame(EncodedFrame {
            kind: FrameKind::Video { keyframe },
            dts: MediaTime::from_millis(dts),
            pts: MediaTime::from_millis(dts + i64::from(cts)),
            data,
        }));
        Ok(())
    }

    /// A video sequence header: kept until the stream is configured; afterwards a
    /// different one is ignored (with one warning).
    fn on_video_config(&mut self, video: VideoConfig) {
        match &self.media.configured {
            None => {
                self.media.video = Some(video);
                if self.media.asc.is_some() {
                    self.configure();
                }
            }
            Some(StreamConfig { video: current, .. }) => {
                if *current != video && !self.media.warned_config_change {
                    self.media.warned_config_change = true;
                    warn!(
                        codec = video.codec_name(),
                        "video sequence header changed mid-session; the new one is ignored"
                    );
                }
            }
        }
    }

    pub(super) fn handle_audio(&mut self, msg: &Message) -> Result<(), SessionError> {
        if !self.is_publishing() {
            return Err(SessionError::MediaBeforePublish { what: "audio" });
        }
        if msg.payload.is_empty() {
            return Ok(());
        }
        let tag = flv::parse_audio(&msg.payload).map_err(|source| SessionError::Media {
            what: "audio",
            timestamp: msg.timestamp,
            source,
        })?;
        let dts = self.media.millis(msg.timestamp);
        match tag {
            AudioTag::AacSequenceHeader(asc) => match &self.media.configured {
                None => {
                    self.media.asc = Some(asc);
                    if self.media.video.is_some() {
                        self.configure();
                    }
                }
                Some(config) => {
                    let same =
                        matches!(&config.audio, Some(AudioConfig::Aac { asc: a }) if *a == asc);
                    if !same && !self.media.warned_late_audio {
                        self.media.warned_late_audio = true;
                        warn!("AAC sequence header after the stream started (or changed); ignored");
                    }
                }
            },
            AudioTag::AacRaw(data) => {
                if self.media.configured.is_none()
                    && self.media.video.is_none()
                    && dts >= AUDIO_ONLY_LIMIT_MS
                {
                    if let State::Publishing { stream_id } = self.state {
                        self.on_status(
                            stream_id,
                            "error",
                            PUBLISH_REJECTED,
                            "No H.264 video: a video track is required.",
                        );
                    }
                    return Err(SessionError::AudioOnly);
                }
                let audio = self
                    .media
                    .configured
                    .as_ref()
                    .and_then(|c| c.audio.as_ref());
                if audio.is_none() || data.is_empty() {
                    debug!("audio frame without an audio configuration dropped");
                    return Ok(());
                }
                self.events.push_back(Event::Frame(EncodedFrame {
                    kind: FrameKind::Audio,
                    dts: MediaTime::from_millis(dts),
                    pts: MediaTime::from_millis(dts),
                    data,
                }));
            }
        }
        Ok(())
    }

    fn configure(&mut self) {
        let Some(video) = self.media.video.clone() else {
            return;
        };
        let config = StreamConfig {
            video,
            audio: self.media.asc.clone().map(|asc| AudioConfig::Aac { asc }),
        };
        self.media.configured = Some(config.clone());
        self.events.push_back(Event::Configure(config));
    }
}
