//! What the console's handlers share: the event file and the live directory, accounts,
//! sessions, the login limiter, and how this server is reached.

use crate::events::{Directory, EventRecord, EventsFileStore};
use amphi_console::accounts::AccountsFile;
use amphi_console::ratelimit::{LimitConfig, LoginLimiter};
use amphi_console::session::{CookieMode, SessionConfig, SessionTable};
use amphi_hls::store::Store;
use amphi_ingest::Hub;
use amphi_time::sync::lock;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

pub struct ConsoleState {
    pub events: EventsFileStore,
    pub accounts: AccountsFile,
    pub directory: Arc<Directory>,
    /// Events of this process only (`--event`, the demo): kept when the file is re-read.
    pub process_only: Vec<EventRecord>,
    /// The ingest hub (`None` in an origin-only process: no live control).
    pub hub: Option<Hub>,
    pub store: Arc<dyn Store>,
    pub sessions: Mutex<SessionTable>,
    pub limiter: Mutex<LoginLimiter>,
    pub cookie: CookieMode,
    /// RTMP port publishers use (the host is the one the console is reached by).
    pub rtmp_port: Option<u16>,
}

/// `amphi serve` options of the console.
#[derive(clap::Args, Debug, Clone)]
pub struct ConsoleArgs {
    /// Seconds a console session stays open without a request.
    #[arg(long, value_name = "SECONDS", default_value_t = amphi_console::session::DEFAULT_IDLE_TIMEOUT.as_secs())]
    pub console_idle_timeout: u64,
    /// Seconds a console session lasts at most, however active.
    #[arg(long, value_name = "SECONDS", default_value_t = amphi_console::session::DEFAULT_LIFETIME.as_secs())]
    pub console_session_lifetime: u64,
}

impl ConsoleArgs {
    fn sessions(&self) -> SessionConfig {
        SessionConfig {
            idle_timeout: std::time::Duration::from_secs(self.console_idle_timeout.max(1)),
            lifetime: std::time::Duration::from_secs(self.console_session_lifetime.max(1)),
            ..SessionConfig::default()
        }
    }
}

/// How the console is wired into `amphi serve`.
pub struct ConsoleConfig<'a> {
    pub args: &'a ConsoleArgs,
    pub data_dir: &'a Path,
    pub http: SocketAddr,
    pub rtmp: Option<SocketAddr>,
    pub directory: Arc<Directory>,
    pub hub: Option<Hub>,
    pub store: Arc<dyn Store>,
}

impl ConsoleState {
    pub fn new(c: ConsoleConfig<'_>) -> ConsoleState {
        let events = EventsFileStore::new(c.data_dir);
        let saved: Vec<String> = events
            .load()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.id)
            .collect();
        let process_only = c
            .directory
            .list()
            .into_iter()
            .filter(|e| !saved.contains(&e.id))
            .collect();
        // Browsers keep `Secure` cookies only over HTTPS: a loopback server reached over
        // plain HTTP gets the non-`__Host-` name without `Secure`; any other address is
        // assumed to sit behind an HTTPS proxy.
        let cookie = if c.http.ip().is_loopback() {
            CookieMode::LoopbackPlain
        } else {
            CookieMode::Secure
        };
        ConsoleState {
            events,
            accounts: AccountsFile::new(c.data_dir),
            directory: c.directory,
            process_only,
            hub: c.hub,
            store: c.store,
            sessions: Mutex::new(SessionTable::new(c.args.sessions())),
            limiter: Mutex::new(LoginLimiter::new(LimitConfig::default())),
            cookie,
            rtmp_port: c.rtmp.map(|a| a.port()),
        }
    }

    /// The scheme browsers use to reach the console.
    pub fn scheme(&self) -> &'static str {
        match self.cookie {
            CookieMode::Secure => "https",
            CookieMode::LoopbackPlain => "http",
        }
    }

    /// Re-reads `events.json` into the live directory after a change, so a new key or
    /// privacy setting applies to the next publish or request without a restart.
    pub fn reload(&self) -> anyhow::Result<()> {
        let mut records = self.events.load()?;
        for e in &self.process_only {
            if !records.iter().any(|r| r.id == e.id) {
                records.push(e.clone());
            }
        }
        self.directory.replace(records);
        Ok(())
    }

    pub fn sessions(&self) -> MutexGuard<'_, SessionTable> {
        lock(&self.sessions)
    }

    pub fn limiter(&self) -> MutexGuard<'_, LoginLimiter> {
        lock(&self.limiter)
    }
}
