//! `amphi serve --srt ADDR`: the SRT listener's flags and its start.

use amphi_ingest::rtmp::RtmpLimits;
use amphi_ingest::srt::{SrtServer, SrtSettings, DEFAULT_LATENCY};
use amphi_ingest::{EventId, Hub};
use anyhow::{Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Args, Clone, Default)]
pub struct SrtArgs {
    /// SRT listen address (UDP) for encoders in caller mode, e.g. 0.0.0.0:8890; off
    /// when not given. Callers set streamid=#!::r=EVENT,s=STREAM_KEY,m=publish.
    #[arg(long = "srt", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// SRT receive latency in milliseconds (time to recover lost packets).
    #[arg(long = "srt-latency", value_name = "MS", default_value_t = DEFAULT_LATENCY.as_millis() as u64)]
    pub latency_ms: u64,
    /// Passphrase (10 to 79 characters) every SRT caller must use to encrypt, unless
    /// its event has its own.
    #[arg(
        long = "srt-passphrase",
        env = "AMPHI_SRT_PASSPHRASE",
        hide_env_values = true
    )]
    pub passphrase: Option<String>,
    /// Passphrase of one event, as EVENT:PASSPHRASE (repeatable).
    #[arg(long = "srt-event-passphrase", value_name = "EVENT:PASSPHRASE")]
    pub event_passphrases: Vec<String>,
}

impl SrtArgs {
    fn settings(&self, limits: RtmpLimits) -> Result<SrtSettings> {
        let mut settings = SrtSettings {
            latency: Duration::from_millis(self.latency_ms),
            passphrase: self.passphrase.clone().filter(|p| !p.is_empty()),
            ..SrtSettings::default()
        };
        // The RTMP budget's caps and rates; SRT keeps its own time to the first keyframe.
        settings.limits = RtmpLimits {
            establish: settings.limits.establish.max(limits.establish),
            ..limits
        };
        for e in &self.event_passphrases {
            let (event, passphrase) = e
                .split_once(':')
                .context("--srt-event-passphrase takes EVENT:PASSPHRASE")?;
            let event = EventId::parse(event)
                .with_context(|| format!("--srt-event-passphrase: event {event:?}"))?;
            settings
                .event_passphrases
                .insert(event, passphrase.to_owned());
        }
        Ok(settings)
    }
}

/// Binds the SRT listener when asked and serves it on a task; returns its address.
pub async fn start(args: &SrtArgs, hub: Hub, limits: RtmpLimits) -> Result<Option<SocketAddr>> {
    let Some(addr) = args.listen else {
        return Ok(None);
    };
    let server = SrtServer::bind(addr, args.settings(limits)?).await?;
    let local = server.local_addr()?;
    tracing::info!(srt = %local, latency_ms = args.latency_ms, "SRT listener ready");
    tokio::spawn(async move {
        if let Err(e) = server.serve(hub).await {
            tracing::error!("SRT listener failed: {e}");
        }
    });
    Ok(Some(local))
}

/// Prints the SRT address, and each event's caller URL (its key only where secrets
/// are shown).
pub fn print_banner(
    public_host: Option<&str>,
    srt: SocketAddr,
    events: &[crate::events::EventRecord],
    show_secrets: bool,
) {
    let host = match public_host {
        Some(h) => h.to_owned(),
        None if srt.ip().is_unspecified() => "localhost".into(),
        None => srt.ip().to_string(),
    };
    let base = format!("srt://{host}:{}", srt.port());
    println!("AMPHI_SRT url={base}");
    for e in events.iter().filter(|e| e.id != crate::events::DEMO_EVENT) {
        let key = if show_secrets {
            e.stream_key.as_str()
        } else {
            "STREAM_KEY"
        };
        println!(
            "  SRT (OBS, vMix, ffmpeg) \"{}\": {base}?streamid=#!::r={},s={key},m=publish",
            e.title, e.id
        );
    }
    println!("  SRT: UDP {srt} (open this port to publishers)");
}
