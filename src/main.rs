//! `amphi`: the one binary. `amphi serve` runs ingest, packager and origin in one
//! process; `amphi event …` manages events and their stream keys.

mod admin;
mod captions_api;
mod chapters;
mod events;
mod health;
mod http_limits;
mod ingest_limits;
mod liveness;
mod lti;
mod oidc;
mod oidc_routes;
mod persistence;
mod recording;
mod rlimit;
mod roles;
mod rtsp_sources;
mod serve;
mod srt_ingest;
mod telemetry;
mod whip_http;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Default directory for events.json and stored media.
pub const DEFAULT_DATA_DIR: &str = "data";

#[derive(Parser)]
#[command(
    name = "amphi",
    version,
    about = "Live lectures to large cohorts: RTMP in, low-latency HLS out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run ingest, packager and origin in one process.
    Serve(Box<serve::ServeArgs>),
    /// Manage events and their stream keys.
    Event {
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[command(subcommand)]
        action: EventAction,
    },
    /// Manage the accounts of the operator's console (`/admin`).
    User {
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[command(subcommand)]
        action: admin::cli::UserAction,
    },
    /// Register LTI 1.3 platforms (Moodle, Open edX) that open events from course pages.
    Lti {
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[command(subcommand)]
        action: lti::LtiAction,
    },
    /// Log in to the console with the institution's OpenID Connect provider.
    Oidc {
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[command(subcommand)]
        action: oidc::OidcAction,
    },
}

#[derive(Subcommand)]
enum EventAction {
    /// Create an event and print its stream key.
    Create {
        id: String,
        #[arg(long)]
        title: Option<String>,
        /// Viewers need a token (`amphi event token`) to watch.
        #[arg(long)]
        private: bool,
        /// Viewers must give a display name to ask questions.
        #[arg(long)]
        named_viewers: bool,
        /// Pull the event from an IP camera: rtsp://user:password@host:554/path.
        #[arg(long, value_name = "URL")]
        rtsp: Option<String>,
        /// What the lecture is about.
        #[arg(long)]
        description: Option<String>,
        /// Scheduled start, RFC 3339 (2026-12-01T14:00:00+01:00).
        #[arg(long, value_name = "TIME")]
        starts_at: Option<String>,
        /// Refuse a second publish with the key while the event is live (default: it
        /// takes the event over, as when OBS reconnects).
        #[arg(long)]
        no_takeover: bool,
        /// Start in the green room: the lecturer and moderators check the stream at
        /// /preview/{id}, viewers wait until Go live.
        #[arg(long)]
        preview: bool,
        /// This event's LL-HLS part duration in seconds, 0.2 to 1 (default: the
        /// server's, `amphi serve --part-duration`); shorter parts, lower latency.
        #[arg(long, value_name = "SECONDS", value_parser = amphi_packager::pipeline::parse_part_duration)]
        part_duration: Option<std::time::Duration>,
    },
    /// Restrict which sites may embed the player (e.g. https://moodle.example.edu);
    /// with no site, any site may.
    EmbedOn { id: String, sites: Vec<String> },
    /// Print a signed viewer token for a private event, with its watch URL and embed code.
    Token {
        id: String,
        /// How long the token is valid: 90s, 45m, 2h, 7d.
        #[arg(long, default_value = "2h", value_parser = parse_ttl)]
        ttl: std::time::Duration,
        /// The server's public URL, as viewers reach it.
        #[arg(long, default_value = DEFAULT_BASE_URL)]
        base_url: String,
        /// A token for one named viewer: the Q&A of a named-viewer event asks under
        /// this name (the media URLs keep the cohort part of the token).
        #[arg(long)]
        name: Option<String>,
    },
    /// Print the code that embeds an event's player in a web page.
    Embed {
        id: String,
        /// The server's public URL, as viewers reach it.
        #[arg(long, default_value = DEFAULT_BASE_URL)]
        base_url: String,
    },
    /// List events (keys are not shown; use `show`).
    List,
    /// Show one event with its secrets: stream key (also the WHIP bearer token),
    /// moderator token, and the viewer secret of a private event.
    Show { id: String },
    /// Pull an event from an IP camera (rtsp://user:password@host/path), or stop with --clear.
    SetRtsp {
        id: String,
        #[arg(required_unless_present = "clear")]
        url: Option<String>,
        #[arg(long, conflicts_with = "url")]
        clear: bool,
    },
    /// Replace an event's stream key.
    RotateKey { id: String },
    /// Delete an event.
    Delete { id: String },
    /// Write an event's whole recording as one MP4 (no re-encoding), e.g. for PeerTube.
    /// Reads the store `amphi serve` wrote to: give the same --store options.
    Recording {
        id: String,
        /// The MP4 file to write.
        #[arg(long, value_name = "FILE")]
        mp4: PathBuf,
        /// Rendition to export (default: the highest).
        #[arg(long)]
        rendition: Option<String>,
        #[command(flatten)]
        scale: Box<roles::ScaleArgs>,
    },
}

/// Base URL printed in embed code when `--base-url` is not given.
pub const DEFAULT_BASE_URL: &str = "http://localhost:8080";

/// A duration such as `90s`, `45m`, `2h` or `7d` (a bare number is seconds).
fn parse_ttl(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit, e.g. 2h"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("unknown unit {other:?}: use s, m, h or d")),
    };
    n.checked_mul(scale)
        .filter(|&secs| secs > 0)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{s:?}: out of range"))
}

use events::{embed_iframe, embed_snippets, EventChanges, TakeoverPolicy};

fn main() -> Result<()> {
    // First of all, before any socket or file is opened: logged once tracing is up.
    let nofile = rlimit::raise_nofile();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(*args, nofile),
        Command::Event { data_dir, action } => event_command(&data_dir, action),
        Command::User { data_dir, action } => admin::cli::user_command(&data_dir, action),
        Command::Lti { data_dir, action } => lti::lti_command(&data_dir, action),
        Command::Oidc { data_dir, action } => oidc::oidc_command(&data_dir, action),
    }
}

fn event_command(data_dir: &std::path::Path, action: EventAction) -> Result<()> {
    let store = events::EventsFileStore::new(data_dir);
    match action {
        EventAction::Create {
            id,
            title,
            private,
            named_viewers,
            rtsp,
            description,
            starts_at,
            no_takeover,
            preview,
            part_duration,
        } => {
            let changes = EventChanges {
                title,
                description,
                starts_at,
                private: private.then_some(true),
                named_viewers: named_viewers.then_some(true),
                takeover: no_takeover.then_some(TakeoverPolicy::Refuse),
                rtsp_url: rtsp,
                preview: preview.then_some(true),
                part_duration_ms: part_duration.map(|d| d.as_millis() as u32),
                ..EventChanges::default()
            };
            let e = store.create_with(&id, changes, None)?;
            println!("created event {}\nstream key: {}", e.id, e.stream_key);
            if e.private {
                println!("private: viewers need a token (amphi event token {})", e.id);
            }
            if let Some(url) = &e.rtsp_url {
                println!("pulls from: {}", amphi_ingest::rtsp::redact_password(url));
            }
        }
        EventAction::EmbedOn { id, sites } => {
            let changes = EventChanges {
                embed_on: Some(sites),
                ..EventChanges::default()
            };
            let e = store.edit(&id, changes)?;
            if e.embed_on.is_empty() {
                println!("event {}: any site may embed the player", e.id);
            } else {
                println!(
                    "event {}: the player may be embedded on {}",
                    e.id,
                    e.embed_on.join(", ")
                );
            }
        }
        EventAction::Token {
            id,
            ttl,
            base_url,
            name,
        } => {
            // Persists a generated viewer secret, so later tokens share it.
            let e = store.secrets(&id)?;
            if !e.private {
                eprintln!("note: event {id} is public; the token is accepted but not needed");
            }
            let expires = amphi_time::WallTime::from(std::time::SystemTime::now()) + ttl;
            let secret = e.viewer_secret.as_bytes();
            let token = match &name {
                None => amphi_origin::token::sign(secret, &e.id, expires),
                Some(n) => amphi_origin::token::sign_named(secret, &e.id, expires, n.trim())
                    .with_context(|| {
                        format!(
                            "--name: 1 to {} bytes of text",
                            amphi_origin::token::MAX_NAME_BYTES
                        )
                    })?,
            };
            let base = base_url.trim_end_matches('/');
            println!("token:   {token}");
            println!(
                "expires: {} (unix time, in {}s)",
                expires.unix_secs(),
                ttl.as_secs()
            );
            println!("watch:   {base}/watch/{id}?token={token}");
            println!("embed:   {}", embed_iframe(base, &id, Some(&token)));
        }
        EventAction::Embed { id, base_url } => {
            let Some(e) = store.load()?.into_iter().find(|e| e.id == id) else {
                anyhow::bail!("no event {id}");
            };
            let snippets = embed_snippets(&base_url, &e.id, None);
            println!("{}", snippets.iframe);
            println!();
            println!("or, with the script tag:");
            println!("{}", snippets.script);
            if e.private {
                println!();
                println!("event {id} is private: add ?token=… to the iframe URL, or token=\"…\" to <amphi-player>; `amphi event token {id}` mints one");
            }
        }
        EventAction::List => {
            for e in store.load()? {
                println!("{}\t{}", e.id, e.title);
            }
        }
        EventAction::Show { id } => {
            let e = store.secrets(&id)?;
            println!(
                "event:      {}\ntitle:      {}\nstream key: {}",
                e.id, e.title, e.stream_key
            );
            println!("WHIP token: {} (the stream key)", e.stream_key);
            println!("moderator:  {}", e.moderator_token);
            if e.private {
                println!("viewer secret: {}", e.viewer_secret);
            }
            if let Some(url) = &e.rtsp_url {
                println!("rtsp:       {}", amphi_ingest::rtsp::redact_password(url));
            }
        }
        EventAction::SetRtsp { id, url, clear } => {
            let e = store.set_rtsp_url(&id, if clear { None } else { url })?;
            match &e.rtsp_url {
                Some(url) => println!(
                    "event {} pulls from {} (amphi serve starts the pull)",
                    e.id,
                    amphi_ingest::rtsp::redact_password(url)
                ),
                None => println!("event {} no longer pulls from a camera", e.id),
            }
        }
        EventAction::RotateKey { id } => {
            let e = store.rotate_key(&id)?;
            println!("new stream key for {}: {}", e.id, e.stream_key);
        }
        EventAction::Recording {
            id,
            mp4,
            rendition,
            scale,
        } => recording::export_mp4(data_dir, &scale, &id, rendition.as_deref(), &mp4)?,
        EventAction::Delete { id } => {
            store.delete(&id)?;
            println!("deleted event {id}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl() {
        assert_eq!(parse_ttl("2h"), Ok(std::time::Duration::from_secs(7200)));
        assert_eq!(parse_ttl("90"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(parse_ttl("45m"), Ok(std::time::Duration::from_secs(2700)));
        assert_eq!(parse_ttl("7d"), Ok(std::time::Duration::from_secs(604_800)));
        for bad in ["", "h", "0s", "2w", "-1h", "99999999999999999999d", "2hh"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn embed_code() {
        assert_eq!(
            embed_iframe("https://a.example", "cs101", Some("1.x")),
            "<iframe src=\"https://a.example/embed/cs101?token=1.x\" allow=\"autoplay; fullscreen\" width=\"960\" height=\"540\"></iframe>"
        );
    }
}
