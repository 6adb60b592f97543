//! `amphi serve`: wires ingest → packager → store → origin in one process.

use crate::events::{Catalog, Directory, EventRecord, EventsFileStore, DEMO_EVENT};
use crate::roles::{Role, ScaleArgs, StoreKind};
use amphi_hls::store::Store;
use amphi_ingest::{EventId, Hub};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing::info;

pub const DEFAULT_HTTP: &str = "0.0.0.0:8080";
pub const DEFAULT_RTMP: &str = "0.0.0.0:1935";
pub const DEFAULT_EVENT: &str = "lecture";
pub const QA_SQLITE_FILE: &str = "qa.sqlite3";

#[derive(Args)]
pub struct ServeArgs {
    /// HTTP address for viewers (player, playlists, media, API).
    #[arg(long, default_value = DEFAULT_HTTP)]
    http: SocketAddr,
    /// RTMP address for publishers (OBS "Custom" service).
    #[arg(long, default_value = DEFAULT_RTMP)]
    rtmp: SocketAddr,
    /// Directory for events.json.
    #[arg(long, default_value = crate::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Run the demo event (a GStreamer test pattern through the full ladder).
    #[arg(long, overrides_with = "no_demo")]
    demo: bool,
    #[arg(long)]
    no_demo: bool,
    /// Extra event for this process only, as ID:STREAM_KEY (repeatable); ID:KEY:private
    /// needs viewer tokens signed with $AMPHI_VIEWER_SECRET (or a generated secret); a
    /// `:preview` suffix starts it in the green room (viewers wait until Go live).
    #[arg(long = "event", value_name = "ID:KEY")]
    events: Vec<String>,
    /// Create a first event named "lecture" when none exists, and print its key.
    #[arg(long)]
    first_event: bool,
    /// Q&A database: a PostgreSQL URL (several origins) or, by default, SQLite in the data dir.
    #[arg(long, env = "AMPHI_QA_DATABASE")]
    qa_database: Option<String>,
    /// Host name to print in URLs (defaults to the bound address or localhost).
    #[arg(long)]
    public_host: Option<String>,
    /// Recording length and the spool of writes the store refused.
    #[command(flatten)]
    persistence: crate::persistence::PersistenceArgs,
    /// Seconds an event stays live after its publisher leaves (a reconnecting encoder
    /// continues it); then its playlists become the recording.
    #[arg(long, default_value_t = amphi_packager::DEFAULT_END_AFTER.as_secs())]
    end_after: u64,
    /// LL-HLS part duration in seconds, 0.2 to 1, default 0.2 (segments stay 2 s;
    /// PART-HOLD-BACK is three parts). Longer parts mean fewer requests per viewer and
    /// more latency.
    #[arg(long, value_name = "SECONDS", value_parser = amphi_packager::pipeline::parse_part_duration)]
    part_duration: Option<std::time::Duration>,
    /// Never shed a rendition under CPU overload (by default the costliest encoded one
    /// becomes a 6 fps slide show and leaves the multivariant playlist until the CPU is
    /// back; frames are dropped at the encoders either way).
    #[arg(long)]
    no_shed_renditions: bool,
    /// Role of this process and its store (scale out: one packager, many origins).
    #[command(flatten)]
    scale: ScaleArgs,
    /// RTSP pull from IP cameras.
    #[command(flatten)]
    rtsp: crate::rtsp_sources::RtspArgs,
    /// WebRTC (WHIP) ingest.
    #[command(flatten)]
    whip: crate::whip_http::WhipArgs,
    /// SRT ingest.
    #[command(flatten)]
    srt: crate::srt_ingest::SrtArgs,
    /// The operator's console (/admin): session timeouts.
    #[command(flatten)]
    console: crate::admin::ConsoleArgs,
    /// Publisher limits (source size, frame rate, bitrate; RTMP connection budget).
    #[command(flatten)]
    ingest_limits: crate::ingest_limits::IngestLimitArgs,
    /// HTTP connection budget (timeouts, connection and held-request caps).
    #[command(flatten)]
    http_limits: crate::http_limits::HttpLimitArgs,
    /// Print stream keys, moderator tokens and viewer secrets even when stdout is not a
    /// terminal (for scripts that start amphi and read them: keep that output private).
    #[arg(long)]
    print_secrets: bool,
}

fn packager_config(args: &ServeArgs) -> amphi_packager::PackagerConfig {
    let mut config = amphi_packager::PackagerConfig::default();
    args.persistence
        .configure(&mut config, args.scale.store, &args.data_dir);
    config.end_after = std::time::Duration::from_secs(args.end_after.max(1));
    config.mux.shed_renditions = !args.no_shed_renditions;
    if let Some(part) = args.part_duration {
        config.set_part_duration(part);
    }
    config
}

pub fn run(args: ServeArgs, nofile: std::io::Result<crate::rlimit::NoFile>) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let fd_room = log_nofile(&nofile);
    amphi_packager::init().context("initialising GStreamer")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(serve(args, fd_room))
}

/// Logs the open-file limit; returns how many HTTP connections fit in it.
fn log_nofile(nofile: &std::io::Result<crate::rlimit::NoFile>) -> Option<usize> {
    match nofile {
        Ok(l) => {
            let room = crate::rlimit::connections_within(l.soft);
            if l.soft < crate::rlimit::RECOMMENDED_NOFILE {
                tracing::warn!(
                    soft = l.soft,
                    hard = l.hard,
                    http_connections = room,
                    "open-file limit is low for a large cohort: raise the hard limit (systemd LimitNOFILE={}, or ulimit -n)",
                    crate::rlimit::RECOMMENDED_NOFILE
                );
            } else {
                info!(
                    soft = l.soft,
                    was = l.was,
                    http_connections = room,
                    "open-file limit (RLIMIT_NOFILE)"
                );
            }
            Some(room)
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read the open-file limit");
            None
        }
    }
}

/// Viewer secret of private events given on the command line (else one is generated).
pub const VIEWER_SECRET_ENV: &str = "AMPHI_VIEWER_SECRET";

/// `ID:KEY`, or `ID:KEY:private` for an event that needs viewer tokens; a `:preview`
/// suffix starts the event in the green room (viewers wait until Go live).
fn parse_cli_event(s: &str) -> Result<EventRecord> {
    let (s, preview) = match s.strip_suffix(":preview") {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    let (s, private) = match s.strip_suffix(":private") {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    let Some((id, key)) = s.split_once(':') else {
        bail!("--event takes ID:KEY or ID:KEY:private, got {s:?}");
    };
    let event = EventId::parse(id).with_context(|| format!("event id {id:?}"))?;
    if key.is_empty() {
        bail!("--event {id}: empty stream key");
    }
    let mut record = EventRecord::new(&event, id.to_owned());
    record.stream_key = key.to_owned();
    record.private = private;
    record.preview = preview;
    if let Some(secret) = std::env::var(VIEWER_SECRET_ENV)
        .ok()
        .filter(|s| !s.is_empty())
    {
        record.viewer_secret = secret;
    }
    Ok(record)
}

async fn serve(args: ServeArgs, fd_room: Option<usize>) -> Result<()> {
    let file = EventsFileStore::new(&args.data_dir);
    let mut records = file.load()?;
    if !records.is_empty() {
        // Persists moderator tokens generated for events that had none.
        file.save(&records)?;
    }
    if args.first_event && records.is_empty() {
        records.push(file.create(DEFAULT_EVENT, Some("Lecture".into()), None)?);
    }
    for e in &args.events {
        let rec = parse_cli_event(e)?;
        records.retain(|r| r.id != rec.id);
        records.push(rec);
    }
    crate::rtsp_sources::add_cli_sources(&args.rtsp, &mut records)?;
    if args.demo && !records.iter().any(|r| r.id == DEMO_EVENT) {
        let demo = EventId::parse(DEMO_EVENT).expect("the demo event id is valid");
        records.push(EventRecord::new(&demo, "Demo (test pattern)".into()));
    }
    let directory = Arc::new(Directory::new(records));
    let (hub, sessions) = Hub::with_limits(directory.clone(), args.ingest_limits.source());
    // Live health per event: every session passes the health meter on its way.
    let health = crate::health::HealthBoard::default();
    let sessions = crate::health::tap::tap(sessions, health.clone());
    let role = args.scale.role;
    let store: Arc<dyn Store> = args.scale.open_store(&args.data_dir).await?;
    // Counters of the origin and gauges of the ingest and packager stages: `/metrics`.
    let metrics: Arc<amphi_origin::metrics::Metrics> = Arc::default();

    let http_listener = TcpListener::bind(args.http)
        .await
        .with_context(|| format!("binding HTTP on {}", args.http))?;
    let http_addr = http_listener.local_addr()?;
    // Sockets get TCP_NODELAY there: blocking playlist answers are small writes.
    let http_limits = args.http_limits.listener(fd_room);

    let config = packager_config(&args);
    let markers = config.markers.clone();
    // Cues go to the packager's buffer: the captions API is served where the packager runs.
    let captions_routes = match &config.captions {
        Some(c) if role != Role::Origin => {
            crate::captions_api::router(directory.clone(), c.inbox.clone())
        }
        _ => axum::Router::new(),
    };
    let mut packager_stats = None;
    let (packager_task, rtmp_task, rtmp_addr) = if role == Role::Origin {
        (None, None, None)
    } else {
        let stats = amphi_packager::stats::PackagerStats::default();
        packager_stats = Some(stats.clone());
        let parts = directory.clone();
        let packager = amphi_packager::Packager::new(store.clone(), config)
            .with_stats(stats.clone())
            .with_events(directory.list().into_iter().map(|e| e.id).collect())
            .with_part_durations(Arc::new(move |event: &str| parts.part_duration(event)));
        let packager_task = tokio::spawn(packager.run(sessions));
        crate::telemetry::spawn(hub.clone(), stats, metrics.clone());
        let rtmp_listener = TcpListener::bind(args.rtmp)
            .await
            .with_context(|| format!("binding RTMP on {}", args.rtmp))?;
        let rtmp_addr = rtmp_listener.local_addr()?;
        let rtmp_task = tokio::spawn(amphi_ingest::rtmp::serve_with_limits(
            rtmp_listener,
            hub.clone(),
            args.ingest_limits.rtmp(),
        ));
        (Some(packager_task), Some(rtmp_task), Some(rtmp_addr))
    };
    let whip = match role {
        Role::Origin => None,
        _ => {
            let public_host = args.public_host.as_deref();
            Some(crate::whip_http::start(&args.whip, hub.clone(), public_host).await?)
        }
    };
    let srt = match role {
        Role::Origin => None,
        _ => crate::srt_ingest::start(&args.srt, hub.clone(), args.ingest_limits.rtmp()).await?,
    };
    let whip_routes = whip.as_ref().map(|w| w.router.clone()).unwrap_or_default();
    if let Some(w) = &whip {
        let public_host = args.public_host.as_deref();
        crate::whip_http::print_banner(
            public_host,
            http_addr,
            &w.server,
            &directory.list(),
            show_secrets(&args),
        );
    }
    if let Some(srt) = srt {
        let public_host = args.public_host.as_deref();
        crate::srt_ingest::print_banner(public_host, srt, &directory.list(), show_secrets(&args));
    }

    if args.demo && role != Role::Origin {
        let demo_id = EventId::parse(DEMO_EVENT).expect("the demo event id is valid");
        tokio::spawn(amphi_packager::demo::run_demo(
            hub.clone(),
            demo_id,
            1280,
            720,
        ));
    }
    if role != Role::Origin {
        crate::rtsp_sources::spawn(&args.rtsp, &hub, &directory.list())?;
    }

    let catalog = Arc::new(Catalog {
        directory: directory.clone(),
        hub: hub.clone(),
        // An origin has no publishers: it tells live events by the parts being put.
        liveness: (role == Role::Origin).then(|| crate::liveness::StoreLiveness::follow(&store)),
    });
    // Other processes (origins) follow this store's announcements.
    let notify = (role != Role::Origin && args.scale.store != StoreKind::Memory)
        .then(|| amphi_origin::notify::routes(store.clone()));
    if role == Role::Packager {
        // No Q&A service here: the markers come from the shared Q&A database, if any.
        let _markers_task = match &args.qa_database {
            Some(url) => {
                let qa = amphi_qa::QaState::postgres(url, directory.clone())
                    .await
                    .context("opening the Q&A database for the markers")?;
                let events = directory.clone();
                Some(crate::chapters::follow(
                    qa,
                    markers,
                    move || {
                        events
                            .list()
                            .into_iter()
                            .map(|e| e.id.to_string())
                            .collect()
                    },
                    crate::chapters::POLL,
                ))
            }
            None => None,
        };
        let app = axum::Router::new()
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .route("/metrics", crate::telemetry::metrics_route(metrics.clone()))
            .merge(notify.unwrap_or_default())
            .merge(whip_routes)
            .merge(captions_routes);
        print_banner(&args, http_addr, rtmp_addr, &directory.list());
        info!(%http_addr, ?rtmp_addr, "amphi packager is running");
        let http = amphi_origin::serve(http_listener, app, http_limits, shutdown_signal());
        return run_until_stopped(http, packager_task, rtmp_task).await;
    }
    let qa = match &args.qa_database {
        Some(url) => amphi_qa::QaState::postgres(url, directory.clone()).await,
        None => {
            std::fs::create_dir_all(&args.data_dir)
                .with_context(|| format!("creating {}", args.data_dir.display()))?;
            amphi_qa::QaState::sqlite(args.data_dir.join(QA_SQLITE_FILE), directory.clone()).await
        }
    }
    .context("opening the Q&A database")?
    // One rule for the client address (trusted proxies' X-Forwarded-For): the listener's.
    .with_client_addr(|parts| {
        parts
            .extensions
            .get::<amphi_origin::ClientAddr>()
            .map(|c| c.0)
    })
    // Chapters and answered questions reach the playlists as EXT-X-DATERANGE.
    .with_chapter_listener(crate::chapters::listener(markers.clone()));
    let events = directory
        .list()
        .into_iter()
        .map(|e| e.id.to_string())
        .collect();
    crate::chapters::load(qa.clone(), markers, events);
    let mut app = amphi_origin::router_with_metrics(
        store.clone(),
        catalog,
        args.http_limits.origin(),
        metrics.clone(),
    )
    .merge(amphi_qa::router(qa.clone()))
    .merge(whip_routes)
    .merge(captions_routes);
    if let Some(notify) = notify {
        app = app.merge(notify);
    }
    // The operator's console (/admin, /api/admin/…): its own cookies, on its routes only.
    let console = crate::admin::state(crate::admin::ConsoleConfig {
        args: &args.console,
        data_dir: &args.data_dir,
        http: http_addr,
        rtmp: rtmp_addr,
        directory: directory.clone(),
        hub: (role != Role::Origin).then(|| hub.clone()),
        store: store.clone(),
    });
    app = app.merge(crate::admin::router_with(console.clone(), &args.data_dir));

    // Health per event and the green room's Go live (/api/events/{event}/…).
    crate::health::spawn_sampler(
        health.clone(),
        directory.clone(),
        packager_stats,
        metrics.clone(),
    );
    let health_api = Arc::new(crate::health::http::HealthApi {
        board: health,
        directory: directory.clone(),
        data_dir: args.data_dir.clone(),
        console: Some(console),
        qa: Some(qa),
    });
    app = app
        .merge(crate::health::http::routes(health_api.clone()))
        .layer(axum::middleware::from_fn_with_state(
            health_api,
            crate::health::http::cmcd_tap,
        ));

    // LTI 1.3: MOOC platforms open events from course pages (/lti/…).
    app = app.merge(crate::lti::router(&args.data_dir, directory.clone()));
    print_banner(&args, http_addr, rtmp_addr, &directory.list());
    info!(%http_addr, ?rtmp_addr, ?role, "amphi is running");

    let http = amphi_origin::serve(http_listener, app, http_limits, shutdown_signal());
    run_until_stopped(http, packager_task, rtmp_task).await
}

/// Runs until the HTTP server stops (a signal) or a stage this process runs fails.
async fn run_until_stopped(
    http: impl std::future::IntoFuture<Output = std::io::Result<()>>,
    packager_task: Option<tokio::task::JoinHandle<()>>,
    rtmp_task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
) -> Result<()> {
    let rtmp = async {
        match rtmp_task {
            Some(t) => t.await,
            None => std::future::pending().await,
        }
    };
    let packager = async {
        match packager_task {
            Some(t) => t.await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = http.into_future() => r.context("HTTP server")?,
        r = rtmp => { r.context("RTMP task")?.context("RTMP server")?; }
        _ = packager => bail!("the packager stopped"),
    }
    info!("amphi stopped");
    Ok(())
}

/// Whether secrets go to stdout: a person at a terminal (an interactive first run), or
/// a script that asked with `--print-secrets`. Under systemd or Kubernetes stdout is a
/// log that many can read and that is kept: the banner says where to read them instead.
fn show_secrets(args: &ServeArgs) -> bool {
    use std::io::IsTerminal;
    args.print_secrets || std::io::stdout().is_terminal()
}

impl ServeArgs {
    /// Whether `id` was given with `--event` (not saved in the data directory).
    fn cli_event(&self, id: &str) -> bool {
        self.events.iter().any(|e| e.split(':').next() == Some(id))
    }
}

fn print_banner(
    args: &ServeArgs,
    http: SocketAddr,
    rtmp: Option<SocketAddr>,
    events: &[EventRecord],
) {
    let host = |a: SocketAddr| -> String {
        match &args.public_host {
            Some(h) => h.clone(),
            None if a.ip().is_unspecified() => "localhost".into(),
            None => a.ip().to_string(),
        }
    };
    let web = format!("http://{}:{}", host(http), http.port());
    let Some(rtmp) = rtmp else {
        // Origin role: viewers only.
        println!("AMPHI_READY http={web} rtmp=none role=origin");
        println!();
        println!("Amphi origin is running (store: {:?}).", args.scale.store);
        for e in events {
            println!("  Watch \"{}\"  {web}/watch/{}", e.title, e.id);
        }
        println!();
        use std::io::Write;
        let _ = std::io::stdout().flush();
        return;
    };
    let rtmp_url = format!("rtmp://{}:{}/live", host(rtmp), rtmp.port());
    let show = show_secrets(args);
    // Machine-readable lines for scripts and tests (secrets: see `show_secrets`).
    for e in events.iter().filter(|_| show) {
        println!("AMPHI_MODERATOR event={} token={}", e.id, e.moderator_token);
        if e.private {
            println!(
                "AMPHI_VIEWER_SECRET event={} secret={}",
                e.id, e.viewer_secret
            );
        }
    }
    println!("AMPHI_READY http={web} rtmp={rtmp_url}");
    println!();
    println!("Amphi is running.");
    println!("  Status page      {web}/");
    for e in events {
        println!();
        println!("  Event \"{}\" ({})", e.title, e.id);
        println!("    Watch          {web}/watch/{}", e.id);
        println!("    Embed          <iframe src=\"{web}/embed/{}\" allow=\"autoplay; fullscreen\" width=\"960\" height=\"540\"></iframe>", e.id);
        if show {
            println!(
                "    Moderate       {web}/moderate/{}#token={}",
                e.id, e.moderator_token
            );
        } else {
            println!("    Moderate       {web}/moderate/{}#token=…", e.id);
        }
        if e.preview {
            let token = if show {
                e.moderator_token.as_str()
            } else {
                "…"
            };
            println!(
                "    Green room     {web}/preview/{}#token={token}  (viewers wait until Go live)",
                e.id
            );
        }
        if e.id != DEMO_EVENT {
            println!("    OBS server     {rtmp_url}");
            if show {
                println!("    OBS stream key {}", e.stream_key);
                println!("    or ffmpeg      ffmpeg -re -i lecture.mp4 -c:v libx264 -g 60 -c:a aac -f flv {rtmp_url}/{}", e.stream_key);
            } else {
                println!("    OBS stream key (not shown)");
            }
        }
    }
    if !show {
        println!();
        println!("  Stream keys and moderator tokens are not shown: stdout is not a terminal, and");
        println!("  logs (journald, kubectl logs) keep what is printed. To read them:");
        let in_file: Vec<String> = EventsFileStore::new(&args.data_dir)
            .load()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.id)
            .collect();
        let saved = |e: &&EventRecord| in_file.contains(&e.id) && !args.cli_event(&e.id);
        for e in events.iter().filter(saved) {
            println!(
                "    amphi event --data-dir {} show {}",
                args.data_dir.display(),
                e.id
            );
        }
        if events.iter().any(|e| !saved(&e)) {
            println!(
                "    events given with --event (and the demo) live in this process only: start"
            );
            println!("    with --print-secrets (scripts), or save them with `amphi event create`");
        }
    }
    println!();
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
