//! Audio and video messages of a publish: codec configuration (AVC and AAC sequence
//! headers) into one [`StreamConfig`], frames onto the session's media clock.

use super::*;

/// Media of the current publish, up to and after its configuration.
#[derive(Debug, Default)]
pub(super) struct Media {
    avcc: Option<Bytes>,
    asc: Option<Bytes>,
    configured: Option<StreamConfig>,
    /// Milliseconds of the last media message, and its position on the session clock.
    clock: Option<(u32, i64)>,
    warned_late_audio: bool,
    warned_config_change: bool,
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
        match tag {
            VideoTag::AvcSequenceHeader(avcc) => match &self.media.configured {
                None => {
                    self.media.avcc = Some(avcc);
                    if self.media.asc.is_some() {
                        self.configure();
                    }
                }
                Some(StreamConfig {
                    video: VideoConfig::H264 { avcc: current },
                    ..
                }) => {
                    if *current != avcc && !self.media.warned_config_change {
                        self.media.warned_config_change = true;
                        warn!("AVC sequence header changed mid-session; the new one is ignored");
                    }
                }
            },
            VideoTag::AvcNalus {
                keyframe,
                cts,
                data,
            } => {
                if self.media.configured.is_none() {
                    if !keyframe || self.media.avcc.is_none() {
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
            }
            VideoTag::AvcEndOfSequence | VideoTag::Command => {}
        }
        Ok(())
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
                    if self.media.avcc.is_some() {
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
                    && self.media.avcc.is_none()
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
        let Some(avcc) = self.media.avcc.clone() else {
            return;
        };
        let config = StreamConfig {
            video: VideoConfig::H264 { avcc },
            audio: self.media.asc.clone().map(|asc| AudioConfig::Aac { asc }),
        };
        self.media.configured = Some(config.clone());
        self.events.push_back(Event::Configure(config));
    }
}
