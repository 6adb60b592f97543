//! The HTTP connection budget against hostile clients, with real sockets and a real
//! RTMP publisher keeping an event live:
//! - silent, trickling and idle keep-alive connections are closed at their deadlines
//!   while the event keeps advancing;
//! - a flood of 2,000 connections at a 1,024 open-file limit leaves `/healthz` and the
//!   live playlist answering (and measures `/healthz` latency meanwhile);
//! - blocking playlist requests beyond the per-client and per-process caps get 503 with
//!   `Retry-After` at once, and `X-Forwarded-For` counts only from a trusted proxy.
//!
//! Loopback has a whole /8: clients bind 127.0.0.x source addresses to be different
//! clients.

mod common;

use common::{Amphi, Publisher, KEY};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const EVENT: &str = "lecture";

fn lo(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn http_addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("amphi's HTTP address")
}

async fn connect_from(src: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(src, 0))?;
    socket.connect(server).await
}

#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
    elapsed: Duration,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One `GET` on a new connection from `src` (`Connection: close`), with extra header
/// lines (each ending in CRLF).
async fn get(src: IpAddr, server: SocketAddr, path: &str, extra: &str) -> std::io::Result<Reply> {
    let started = Instant::now();
    let mut s = connect_from(src, server).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: amphi\r\n{extra}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {head:?}")))?;
    Ok(Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
        elapsed: started.elapsed(),
    })
}

/// The event's first rendition playlist path, once it has a preload hint.
async fn live_playlist(server: SocketAddr) -> (String, (u64, u32)) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        assert!(Instant::now() < deadline, "the event never went live");
        if let Ok(r) = get(lo(1), server, &format!("/live/{EVENT}/master.m3u8"), "").await {
            if let Some(uri) = r
                .body
                .lines()
                .find(|l| !l.is_empty() && !l.starts_with('#'))
            {
                let path = format!("/live/{EVENT}/{uri}");
                if let Some(edge) = edge(server, &path).await {
                    return (path, edge);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The preload hint (next part) of a media playlist.
async fn edge(server: SocketAddr, path: &str) -> Option<(u64, u32)> {
    let r = get(lo(1), server, path, "").await.ok()?;
    (r.status == 200).then_some(())?;
    common::preload_hint(&r.body)
}

/// Waits until the server closes `s` (EOF or reset), reading whatever it sends.
async fn closed(s: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[test]
fn silent_trickling_and_idle_connections_are_closed_at_their_deadlines() {
    let amphi = Amphi::start_with(
        &[&format!("{EVENT}:{KEY}")],
        &["--http-header-timeout", "2", "--http-idle-timeout", "3"],
    );
    let _publisher = Publisher::start(&amphi.rtmp, KEY, 320, 240, 60);
    let server = http_addr(&amphi.http);
    runtime().block_on(async move {
        let (playlist, before) = live_playlist(server).await;

        let silent = tokio::spawn(async move {
            let mut s = connect_from(lo(2), server).await.expect("connect");
            let t = Instant::now();
            closed(&mut s).await;
            t.elapsed()
        });
        let trickle = tokio::spawn(async move {
            let s = connect_from(lo(3), server).await.expect("connect");
            let t = Instant::now();
            let (mut r, mut w) = s.into_split();
            let writer = tokio::spawn(async move {
                for b in b"GET /healthz HTTP/1.1\r\nHost: amphi\r\nUser-Agent: slow\r\n\r\n" {
                    if w.write_all(&[*b]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            });
            let mut buf = [0u8; 256];
            let mut answered = false;
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => answered = true,
                }
            }
            writer.abort();
            (t.elapsed(), answered)
        });
        let idle = tokio::spawn(async move {
            let mut s = connect_from(lo(4), server).await.expect("connect");
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: amphi\r\n\r\n")
                .await
                .expect("write");
            let mut buf = [0u8; 512];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).ends_with("ok") {
                let n = s.read(&mut buf).await.expect("response");
                assert!(n > 0, "closed before answering");
                got.extend_from_slice(&buf[..n]);
            }
            let t = Instant::now();
            closed(&mut s).await;
            t.elapsed()
        });

        // Meanwhile the viewers' requests keep being answered.
        let mut healthy = 0;
        for _ in 0..8 {
            let r = get(lo(1), server, "/healthz", "").await.expect("healthz");
            assert_eq!(r.status, 200);
            healthy += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        let silent = silent.await.expect("silent task");
        let (trickle, answered) = trickle.await.expect("trickle task");
        let idle = idle.await.expect("idle task");
        eprintln!(
            "closed after: silent {silent:?}, trickling {trickle:?}, idle keep-alive {idle:?}"
        );
        let within = |d: Duration, limit: f64| {
            d.as_secs_f64() >= limit - 0.1 && d.as_secs_f64() < limit + 1.0
        };
        assert!(
            within(silent, 2.0),
            "silent connection closed after {silent:?}"
        );
        assert!(
            within(trickle, 2.0),
            "trickling connection closed after {trickle:?}"
        );
        assert!(
            !answered,
            "a head trickled past the deadline was not served"
        );
        assert!(within(idle, 3.0), "idle keep-alive closed after {idle:?}");

        let after = edge(server, &playlist)
            .await
            .expect("playlist still served");
        assert!(
            after > before,
            "the event advanced: {before:?} -> {after:?}"
        );
        assert!(healthy == 8);
    });
}

/// An amphi started under `prlimit --nofile=N:N` (hard and soft: it cannot raise it).
struct Limited {
    child: Child,
    http: String,
    rtmp: String,
    log: Arc<Mutex<String>>,
    _data: common::tempdir::TempDir,
}

impl Limited {
    fn start(nofile: u32, event: &str) -> Limited {
        let data = common::tempdir::TempDir::new("budget");
        let mut child = Command::new("prlimit")
            .arg(format!("--nofile={nofile}:{nofile}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_amphi"))
            .args(["serve", "--http", "127.0.0.1:0", "--rtmp", "127.0.0.1:0"])
            .args(["--webrtc-udp", "127.0.0.1:0", "--no-demo", "--event", event])
            .arg("--data-dir")
            .arg(data.path())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn prlimit amphi");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[amphi] {line}");
                log2.lock().expect("log").push_str(&(line + "\n"));
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("AMPHI_READY ") {
                    let _ = tx.send(line);
                }
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("amphi printed AMPHI_READY");
        let field = |name: &str| {
            ready
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .expect("field")
                .to_owned()
        };
        Limited {
            http: field("http"),
            rtmp: field("rtmp"),
            child,
            log,
            _data: data,
        }
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Room for this test's own 2,000 sockets.
fn raise_own_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointers to an rlimit for the duration of each call.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < want as _ {
            lim.rlim_cur = (want as libc::rlim_t).min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[test]
fn flood_of_2000_connections_at_1024_open_files_leaves_viewers_served() {
    const FLOOD: usize = 2000;
    raise_own_nofile(FLOOD as u64 + 1024);
    let amphi = Limited::start(1024, &format!("{EVENT}:{KEY}"));
    let _publisher = Publisher::start(&amphi.rtmp, KEY, 320, 240, 90);
    let server = http_addr(&amphi.http);
    let log = amphi.log.clone();
    runtime().block_on(async move {
        let (playlist, before) = live_playlist(server).await;

        // The flood: 2,000 connections from eight addresses, each sending the start of
        // a request head and never finishing it; reconnecting a second after being
        // closed, so the pressure lasts.
        let stop = Arc::new(AtomicBool::new(false));
        let opened = Arc::new(AtomicUsize::new(0));
        let closed_by_server = Arc::new(AtomicUsize::new(0));
        let mut flood = Vec::new();
        for i in 0..FLOOD {
            let (stop, opened, closed_by_server) =
                (stop.clone(), opened.clone(), closed_by_server.clone());
            flood.push(tokio::spawn(async move {
                let src = lo(10 + (i % 8) as u8);
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(mut s) = connect_from(src, server).await {
                        opened.fetch_add(1, Ordering::Relaxed);
                        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: fl").await;
                        tokio::select! {
                            _ = closed(&mut s) => { closed_by_server.fetch_add(1, Ordering::Relaxed); }
                            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }));
        }
        // Let the flood build up: every connection attempted at least once.
        let deadline = Instant::now() + Duration::from_secs(20);
        while opened.load(Ordering::Relaxed) < FLOOD && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!(
            "flood: {} connections opened, {} closed by the server",
            opened.load(Ordering::Relaxed),
            closed_by_server.load(Ordering::Relaxed)
        );

        // Viewers meanwhile: /healthz and the live playlist on new connections.
        let mut health = Vec::new();
        let mut playlist_ok = 0;
        let probe_until = Instant::now() + Duration::from_secs(12);
        while Instant::now() < probe_until {
            let r = get(lo(1), server, "/healthz", "").await.expect("healthz answered");
            assert_eq!(r.status, 200, "healthz during the flood: {}", r.head);
            health.push(r.elapsed);
            let p = get(lo(1), server, &playlist, "").await.expect("playlist answered");
            assert_eq!(p.status, 200, "playlist during the flood: {}", p.head);
            playlist_ok += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let after = edge(server, &playlist).await.expect("playlist after the flood");
        let total_opened = opened.load(Ordering::Relaxed);
        let total_closed = closed_by_server.load(Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
        for t in flood {
            t.abort();
        }

        health.sort();
        let (p50, p95, max) = (
            percentile(&health, 0.5),
            percentile(&health, 0.95),
            percentile(&health, 1.0),
        );
        eprintln!(
            "/healthz during a {FLOOD}-connection flood at 1024 open files: {} probes, p50 {p50:?}, p95 {p95:?}, max {max:?}; {playlist_ok} playlists served; flood opened {total_opened} connections, {total_closed} closed by the server",
            health.len()
        );
        assert!(total_opened >= FLOOD, "the flood reached {FLOOD} connections");
        assert!(
            total_closed >= FLOOD - 1024,
            "connections beyond the budget were closed ({total_closed})"
        );
        assert!(p95 < Duration::from_millis(500), "p95 {p95:?}");
        assert!(max < Duration::from_secs(2), "max {max:?}");
        assert!(after > before, "the event advanced: {before:?} -> {after:?}");
    });
    let log = log.lock().expect("log").clone();
    assert!(!log.contains("panicked"), "amphi panicked:\n{log}");
    assert!(
        log.contains("open-file limit"),
        "amphi logged its open-file limit"
    );
}

#[test]
fn held_blocking_requests_beyond_their_caps_get_503_and_retry_after() {
    let amphi = Amphi::start_with(
        &[&format!("{EVENT}:{KEY}")],
        &[
            "--max-held-requests",
            "12",
            "--max-held-requests-per-client",
            "4",
            "--trusted-proxy",
            "127.0.0.3",
        ],
    );
    let _publisher = Publisher::start(&amphi.rtmp, KEY, 320, 240, 60);
    let server = http_addr(&amphi.http);
    runtime().block_on(async move {
        let (playlist, _) = live_playlist(server).await;

        // Requests that wait: two segments beyond the edge (held ~4-6 s).
        let blocking = |src: IpAddr, xff: Option<String>| {
            let playlist = playlist.clone();
            async move {
                let (msn, _) = edge(server, &playlist).await.expect("edge");
                let path = format!("{playlist}?_HLS_msn={}", msn + 2);
                let extra = xff
                    .map(|a| format!("X-Forwarded-For: {a}\r\n"))
                    .unwrap_or_default();
                get(src, server, &path, &extra)
                    .await
                    .expect("blocking reply")
            }
        };
        let refused_at_once = |r: &Reply| {
            r.status == 503
                && r.elapsed < Duration::from_millis(800)
                && r.header("retry-after") == Some("2")
        };

        // 1. An untrusted client rotating X-Forwarded-For is still one client: 4 held,
        //    the other 2 refused at once.
        let mut tasks = Vec::new();
        for i in 0..6 {
            tasks.push(tokio::spawn(blocking(
                lo(1),
                Some(format!("198.51.100.{i}")),
            )));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut replies = Vec::new();
        for t in tasks {
            replies.push(t.await.expect("task"));
        }
        let refused: Vec<&Reply> = replies.iter().filter(|r| refused_at_once(r)).collect();
        for r in &replies {
            eprintln!("untrusted: {} after {:?}", r.status, r.elapsed);
        }
        assert_eq!(refused.len(), 2, "per-client cap of 4 out of 6");
        assert!(
            refused[0].body.contains("client address"),
            "{}",
            refused[0].body
        );
        assert_eq!(refused[0].header("x-content-type-options"), Some("nosniff"));
        for r in replies.iter().filter(|r| !refused_at_once(r)) {
            assert!(r.elapsed > Duration::from_millis(800), "held: {r:?}");
        }

        // 2. Behind a trusted proxy, X-Forwarded-For tells clients apart: 3 clients x 4
        //    fill the process cap of 12; one more (a fourth client) is refused.
        let mut tasks = Vec::new();
        for client in 0..3 {
            for _ in 0..4 {
                tasks.push(tokio::spawn(blocking(
                    lo(3),
                    Some(format!("203.0.113.{client}")),
                )));
            }
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        let extra = blocking(lo(3), Some("203.0.113.99".into())).await;
        eprintln!(
            "13th held request: {} after {:?}: {}",
            extra.status,
            extra.elapsed,
            extra.body.trim()
        );
        assert!(refused_at_once(&extra), "{extra:?}");
        assert!(extra.body.contains("this server"), "{}", extra.body);
        for t in tasks {
            let r = t.await.expect("task");
            assert!(
                !refused_at_once(&r),
                "a proxied client within its cap was refused: {r:?}"
            );
        }
        // Held places are given back: a new blocking request waits again.
        let again = blocking(lo(1), None).await;
        assert!(!refused_at_once(&again), "{again:?}");
    });
}
