//! One event's packaging task: takes its publish sessions one after the other, runs a
//! ladder pipeline per session, and writes what the segmenters produce to the store.
//! The event outlives its sessions: media sequence numbers continue and a new session
//! starts a new discontinuity, so an encoder that reconnects never ends the event.
//! It also outlives the process: the task starts by resuming what the store holds
//! (see [`crate::resume`]), so a restart or a crash continues the numbering too.
//!
//! Here: the sessions and what they produce. Writing to the store through the retry
//! queue and the spool is in [`writes`]; continuing from the store in [`restart`].

use crate::alignment::AlignmentWatch;
use crate::codec::{self, AudioInfo};
use crate::ladder::{self, KeyframePolicy, Plan};
use crate::pipeline::{LadderPipeline, MuxOutput, PipelineEvent};
use crate::retry::RetryQueue;
use crate::segmenter::{RenditionWriter, StoreOp};
use crate::spool::Spool;
use crate::stats::PackagerStats;
use crate::PackagerConfig;
use amphi_hls::master::{render_master_with, Variant};
use amphi_hls::names;
use amphi_hls::playlist::RenditionReport;
use amphi_hls::store::{ContentType, Object, Store};
use amphi_ingest::frame::{FrameKind, SessionEpoch, WallTime};
use amphi_ingest::{AudioConfig, PublishSession, SessionMessage};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use tracing::{debug, info, warn, Instrument};

mod restart;
mod writes;

/// How long a finished session may take to drain its pipeline.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a finished session keeps retrying writes the store refused.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a backlog of refused writes is drained in one go, so new media keeps
/// being queued (and spilled) while an outage's backlog drains.
pub const DRAIN_SLICE: Duration = Duration::from_millis(50);
/// How often queued writes are retried while nothing else happens.
pub const IDLE_RETRY: Duration = Duration::from_millis(200);

pub(crate) struct EventPackager {
    event: String,
    store: Arc<dyn Store>,
    config: PackagerConfig,
    writers: BTreeMap<String, RenditionWriter>,
    sessions_seen: u64,
    master: Option<String>,
    /// Store errors are logged once per burst, not per write.
    store_failing: bool,
    /// Writes not stored yet, retried in order (memory, then the spool).
    retry: RetryQueue,
    spool: Spool,
    /// The spool holds writes (warned once per outage).
    spilling: bool,
    stats: PackagerStats,
    /// Wall clock of the current session's media time zero.
    epoch: Option<SessionEpoch>,
    /// The subtitles rendition, when captions are on.
    captions: Option<crate::captions::EventCaptions>,
    /// The current session's segment starts per rendition (one timeline for all).
    alignment: AlignmentWatch,
}

impl EventPackager {
    pub(crate) fn new(
        event: String,
        store: Arc<dyn Store>,
        config: PackagerConfig,
        stats: PackagerStats,
    ) -> Self {
        let retry = RetryQueue::new(config.retry_limits);
        let spool = Spool::new(&config.spool_dir, &event);
        let captions = config
            .captions
            .as_ref()
            .map(|c| crate::captions::EventCaptions::new(&event, c, &config.playlist));
        EventPackager {
            event,
            store,
            config,
            writers: BTreeMap::new(),
            sessions_seen: 0,
            master: None,
            store_failing: false,
            retry,
            spool,
            spilling: false,
            stats,
            epoch: None,
            captions,
            alignment: AlignmentWatch::new(),
        }
    }

    pub(crate) async fn run(mut self, mut sessions: mpsc::Receiver<PublishSession>) {
        // After a session, the event stays live for `end_after` so that an encoder
        // that reconnects continues it; then its playlists become the recording. An
        // event the store shows live (a restart or crash cut it) waits the same way.
        self.replay_spool().await;
        let mut live = self.resume().await;
        let mut idle_since = tokio::time::Instant::now();
        loop {
            let end_at = idle_since + self.config.end_after;
            let next = tokio::select! {
                next = sessions.recv() => next,
                _ = tokio::time::sleep_until(end_at), if live => {
                    self.end_live().await;
                    live = false;
                    continue;
                }
                _ = tokio::time::sleep(IDLE_RETRY), if !self.retry.is_empty() => {
                    self.apply(Vec::new()).await;
                    continue;
                }
            };
            let Some(session) = next else { break };
            let span = tracing::info_span!("session", event = %self.event, protocol = %session.protocol, generation = self.sessions_seen);
            self.run_session(session).instrument(span).await;
            live = true;
            idle_since = tokio::time::Instant::now();
        }
        if live {
            self.end_live().await;
        }
    }

    /// No publisher came back: every rendition's playlist becomes a VOD playlist of
    /// the recorded segments (EXT-X-ENDLIST), which the same player plays.
    async fn end_live(&mut self) {
        info!(event = %self.event, "live ended; playlists now list the recording");
        let names: Vec<String> = self.writers.keys().cloned().collect();
        for name in names {
            let ops = match self.writers.get_mut(&name) {
                Some(w) => {
                    let mut ops = match self.captions.as_mut() {
                        Some(c) => c.before_finish(&name, w.playlist()),
                        None => Vec::new(),
                    };
                    ops.extend(w.end());
                    ops
                }
                None => continue,
            };
            self.apply(ops).await;
            self.write_playlists(&name).await;
        }
        if let Some(c) = self.captions.as_mut() {
            let ops = c.end();
            self.apply(ops).await;
        }
    }

    async fn run_session(&mut self, mut session: PublishSession) {
        let Some(SessionMessage::Config(config)) = session.messages.recv().await else {
            warn!("session ended before its configuration");
            return;
        };
        let source = match codec::video_info(&config.video) {
            Ok(v) => v,
            Err(e) => {
                let codec = config.video.codec_name();
                warn!(reason = %e, codec, "refusing session: unreadable video configuration");
                return;
            }
        };
        // `audio_info` is what the renditions carry: AAC as sent, or Opus transcoded.
        let (audio_info, audio): (Option<AudioInfo>, Option<&AudioConfig>) = match &config.audio {
            Some(a @ AudioConfig::Aac { asc }) => match codec::parse_asc(asc) {
                Ok(info) => (Some(info), Some(a)),
                Err(e) => {
                    warn!(reason = %e, "ignoring unreadable AAC configuration: video only");
                    (None, None)
                }
            },
            Some(a @ AudioConfig::Opus { channels }) => match codec::opus_to_aac(*channels) {
                Ok(info) => (Some(info), Some(a)),
                Err(e) => {
                    warn!(reason = %e, "ignoring Opus audio: video only");
                    (None, None)
                }
            },
            None => (None, None),
        };
        let keyframes =
            KeyframePolicy::for_protocol(session.protocol, self.config.mux.segment_duration);
        let plan = ladder::plan(source, audio_info, &self.config.ladder, keyframes);
        info!(
            codec = config.video.codec_name(),
            width = source.width,
            height = source.height,
            frame_rate = ?source.frame_rate,
            keyframes = ?plan.keyframes,
            audio = ?config.audio.as_ref().map(|a| match a {
                AudioConfig::Aac { .. } => "aac",
                AudioConfig::Opus { .. } => "opus→aac",
            }),
            renditions = ?plan.renditions.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            "publish session started"
        );
        self.open_renditions(&plan, session.epoch);

        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut pipeline =
            match LadderPipeline::build(&plan, &config.video, audio, &self.config.mux, tx) {
                Ok(p) => p,
                Err(e) => {
                    warn!(reason = %e, "could not start the ladder");
                    while session.messages.recv().await.is_some() {}
                    return;
                }
            };
        let names: Vec<String> = plan.renditions.iter().map(|r| r.name.clone()).collect();
        let mut inits: Vec<Option<Bytes>> = vec![None; names.len()];
        let mut publishing = true;
        let mut failed = false;
        // A rendition was cut off: a new ladder from the source's next keyframe.
        let mut rebuild = false;
        loop {
            tokio::select! {
                msg = session.messages.recv(), if publishing => match msg {
                    Some(SessionMessage::Frame(frame)) => {
                        if rebuild && !failed && matches!(frame.kind, FrameKind::Video { keyframe: true }) {
                            rebuild = false;
                            let (tx, new_rx) = mpsc::unbounded_channel();
                            match LadderPipeline::build(&plan, &config.video, audio, &self.config.mux, tx) {
                                Ok(p) => {
                                    // What the old ladder put out goes first, in its own
                                    // session; the new one starts a discontinuity.
                                    self.drain_outputs(&mut rx, &plan, &names, &mut inits).await;
                                    drop(std::mem::replace(&mut pipeline, p));
                                    rx = new_rx;
                                    inits = vec![None; names.len()];
                                    self.close_renditions(&names).await;
                                    self.open_renditions(&plan, session.epoch);
                                    info!(pts_ms = frame.pts.as_nanos() / 1_000_000, "ladder rebuilt at a keyframe: every rendition back");
                                }
                                Err(e) => warn!(reason = %e, "could not rebuild the ladder; the cut-off rendition stays out"),
                            }
                        }
                        if !failed {
                            if let Err(e) = pipeline.push(&frame) {
                                warn!(reason = %e, "ladder stopped accepting frames");
                                failed = true;
                            }
                        }
                    }
                    Some(SessionMessage::Config(_)) => debug!("ignoring a repeated configuration"),
                    None => {
                        info!("publisher left; draining");
                        publishing = false;
                        pipeline.end();
                    }
                },
                ev = rx.recv() => match ev {
                    Some(PipelineEvent::Output { rendition, output }) => {
                        self.on_output(&plan, &names, &mut inits, rendition, output).await;
                    }
                    Some(PipelineEvent::Load(load)) => {
                        self.on_load(&plan, &names, &inits, load).await;
                    }
                    Some(PipelineEvent::CutOff(i)) => {
                        let rendition = names.get(i).map(String::as_str).unwrap_or("?");
                        warn!(rendition, "a hole in the source wedged this rendition's muxer: rebuilding the ladder at the source's next keyframe");
                        rebuild = true;
                    }
                    Some(PipelineEvent::Eos) => break,
                    Some(PipelineEvent::Error(e)) => {
                        warn!(reason = %e, "ladder pipeline error; waiting for the publisher to leave");
                        failed = true;
                        if !publishing { break; }
                    }
                    None => break,
                },
                _ = tokio::time::sleep(DRAIN_TIMEOUT), if !publishing => {
                    warn!("ladder did not drain in time");
                    break;
                }
            }
            if failed && !publishing {
                break;
            }
        }
        // Drain whatever is already queued, then close open segments.
        self.drain_outputs(&mut rx, &plan, &names, &mut inits).await;
        drop(pipeline);
        self.close_renditions(&names).await;
        self.flush(FLUSH_TIMEOUT).await;
        info!("publish session ended");
    }

    /// Writes the outputs a ladder already queued (other events it queued are moot).
    async fn drain_outputs(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<PipelineEvent>,
        plan: &Plan,
        names: &[String],
        inits: &mut [Option<Bytes>],
    ) {
        while let Ok(ev) = rx.try_recv() {
            if let PipelineEvent::Output { rendition, output } = ev {
                self.on_output(plan, names, inits, rendition, output).await;
            }
        }
    }

    /// Starts a new generation of every rendition of `plan` (a discontinuity in its
    /// playlist, a new init segment name) on the session's clock.
    fn open_renditions(&mut self, plan: &Plan, epoch: SessionEpoch) {
        let generation = self.sessions_seen;
        self.sessions_seen += 1;
        for r in &plan.renditions {
            let w = self.writers.entry(r.name.clone()).or_insert_with(|| {
                RenditionWriter::new(&self.event, &r.name, self.config.playlist.clone())
            });
            w.begin_session(generation, epoch);
        }
        self.epoch = Some(epoch);
        self.alignment = AlignmentWatch::new();
        if let Some(c) = self.captions.as_mut() {
            c.begin_session(plan.renditions.first().map(|r| r.name.as_str()));
        }
    }

    /// Closes the open segment of each rendition in `names` and writes its playlist.
    async fn close_renditions(&mut self, names: &[String]) {
        for name in names {
            let ops = match self.writers.get_mut(name) {
                Some(w) => {
                    let mut ops = match self.captions.as_mut() {
                        Some(c) => c.before_finish(name, w.playlist()),
                        None => Vec::new(),
                    };
                    ops.extend(w.finish());
                    ops
                }
                None => continue,
            };
            self.apply(ops).await;
            self.write_playlists(name).await;
        }
    }

    async fn on_output(
        &mut self,
        plan: &Plan,
        names: &[String],
        inits: &mut [Option<Bytes>],
        rendition: usize,
        output: MuxOutput,
    ) {
        let Some(name) = names.get(rendition) else {
            return;
        };
        let ops = match output {
            MuxOutput::Init(data) => {
                if let Some(slot) = inits.get_mut(rendition) {
                    *slot = Some(data.clone());
                }
                let ops = match self.writers.get_mut(name) {
                    Some(w) => {
                        if let Some(c) = self.captions.as_mut() {
                            c.on_init(name, &data);
                        }
                        w.on_init(data)
                    }
                    None => return,
                };
                self.apply(ops).await;
                if inits.iter().all(Option::is_some) {
                    self.write_master(plan, inits).await;
                }
                return;
            }
            MuxOutput::Chunk(chunk) => {
                let opens = chunk.fragment_start.then_some(chunk.pts);
                if let Some(epoch) = self.epoch {
                    let end = chunk.pts + chunk.duration;
                    self.stats.record_chunk(
                        &self.event,
                        name,
                        epoch,
                        end,
                        Instant::now(),
                        WallTime::from(SystemTime::now()),
                    );
                }
                match self.writers.get_mut(name) {
                    Some(w) => {
                        // Captions first: the chunk may close the segment they follow.
                        let mut ops = match self.captions.as_mut() {
                            Some(c) => c.before_chunk(name, w.playlist(), &chunk),
                            None => Vec::new(),
                        };
                        ops.extend(w.on_chunk(chunk));
                        if let Some(c) = self.captions.as_mut() {
                            ops.extend(c.after_chunk(name, w.playlist()));
                        }
                        if let (Some(start), Some((msn, 0))) = (opens, w.playlist().last_part()) {
                            if let Some(m) = self.alignment.on_segment(name, msn, start) {
                                warn!(
                                    rendition = %m.rendition,
                                    msn = m.msn,
                                    start_ms = m.start.as_millis() as u64,
                                    other = %m.other,
                                    other_start_ms = m.other_start.as_millis() as u64,
                                    "segment timelines differ: a player switching renditions will jump"
                                );
                            }
                        }
                        ops
                    }
                    None => return,
                }
            }
        };
        self.apply(ops).await;
        self.write_playlists(name).await;
    }

    /// The ladder's load (graceful overload): figures for `/metrics`; a rendition shed
    /// or restored leaves or rejoins the multivariant playlist (its own playlist goes
    /// on without a gap).
    async fn on_load(
        &mut self,
        plan: &Plan,
        names: &[String],
        inits: &[Option<Bytes>],
        load: crate::shedding::LadderLoad,
    ) {
        self.stats
            .record_load(&self.event, names, &load, Instant::now());
        if load.changed.is_some() && inits.iter().all(Option::is_some) {
            let (listed, inits) = crate::shedding::listed(plan, inits, &load.running);
            self.write_master(&listed, &inits).await;
        }
    }

    async fn write_master(&mut self, plan: &Plan, inits: &[Option<Bytes>]) {
        let audio_codec = plan.audio.map(|a| a.codec_string());
        let variants: Vec<Variant> = plan
            .renditions
            .iter()
            .zip(inits)
            .map(|(r, init)| {
                let video_codec = init
                    .as_deref()
                    .and_then(codec::codec_string_from_init)
                    .unwrap_or_else(|| plan.source.codec_string());
                let codecs = match &audio_codec {
                    Some(a) => format!("{video_codec},{a}"),
                    None => video_codec,
                };
                Variant {
                    uri: format!("{}/index.m3u8", r.name),
                    bandwidth: r.peak_bandwidth(plan.audio.is_some()),
                    average_bandwidth: r.average_bandwidth(plan.audio.is_some()),
                    width: r.width,
                    height: r.height,
                    codecs,
                    frame_rate: r.frame_rate,
                    name: r.name.clone(),
                }
            })
            .collect();
        let subtitles = self.config.captions.as_ref().map(|c| c.group());
        let text = render_master_with(&variants, subtitles.as_ref());
        if self.master.as_deref() == Some(text.as_str()) {
            return;
        }
        self.master = Some(text.clone());
        self.apply(vec![StoreOp::Put {
            key: names::master_key(&self.event),
            object: Object {
                data: Bytes::from(text),
                content_type: ContentType::Playlist,
            },
        }])
        .await;
    }

    async fn write_playlists(&mut self, name: &str) {
        let reports: Vec<RenditionReport> = self
            .writers
            .iter()
            .filter(|(n, _)| n.as_str() != name)
            .filter_map(|(_, w)| w.report_from(name))
            .collect();
        let markers = self.config.markers.current(&self.event);
        let ops = match self.writers.get_mut(name) {
            Some(w) if w.playlist().last_part().is_some() => {
                w.set_date_ranges(markers);
                w.playlists(&reports)
            }
            _ => return,
        };
        self.apply(ops).await;
    }
}
