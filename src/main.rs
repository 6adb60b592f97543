//! `amphi`: the one binary. `amphi serve` runs ingest, packager and origin in one
//! process; `amphi event …` manages events and their stream keys.

mod events;
mod serve;

use anyhow::Result;
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
    Serve(serve::ServeArgs),
    /// Manage events and their stream keys.
    Event {
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[command(subcommand)]
        action: EventAction,
    },
}

#[derive(Subcommand)]
enum EventAction {
    /// Create an event and print its stream key.
    Create {
        id: String,
        #[arg(long)]
        title: Option<String>,
    },
    /// List events (keys are not shown; use `show`).
    List,
    /// Show one event with its stream key and the URLs to use.
    Show { id: String },
    /// Replace an event's stream key.
    RotateKey { id: String },
    /// Delete an event.
    Delete { id: String },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Event { data_dir, action } => event_command(&data_dir, action),
    }
}

fn event_command(data_dir: &std::path::Path, action: EventAction) -> Result<()> {
    let store = events::EventsFileStore::new(data_dir);
    match action {
        EventAction::Create { id, title } => {
            let e = store.create(&id, title, None)?;
            println!("created event {}\nstream key: {}", e.id, e.stream_key);
        }
        EventAction::List => {
            for e in store.load()? {
                println!("{}\t{}", e.id, e.title);
            }
        }
        EventAction::Show { id } => {
            let Some(e) = store.load()?.into_iter().find(|e| e.id == id) else {
                anyhow::bail!("no event {id}");
            };
            println!(
                "event:      {}\ntitle:      {}\nstream key: {}",
                e.id, e.title, e.stream_key
            );
        }
        EventAction::RotateKey { id } => {
            let e = store.rotate_key(&id)?;
            println!("new stream key for {}: {}", e.id, e.stream_key);
        }
        EventAction::Delete { id } => {
            store.delete(&id)?;
            println!("deleted event {id}");
        }
    }
    Ok(())
}
