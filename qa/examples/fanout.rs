//! Fan-out benchmark: 1,000 SSE panels on a local server (SQLite backend);
//! time from a moderator's approval to its receipt in each panel, and memory
//! per connected panel (process RSS delta / panels; clients run in the same
//! process, so this is an upper bound for the server side).
//!
//! `cargo run --release -p amphi-qa --example fanout [-- PANELS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use amphi_qa::{router, EventQaSettings, QaEvents, QaState, TokenClaims};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "bench-moderator-token";
const EVENT: &str = "bench";

struct Events;
impl QaEvents for Events {
    fn moderator_token(&self, _: &str) -> Option<String> {
        Some(TOKEN.to_owned())
    }
    fn settings(&self, _: &str) -> Option<EventQaSettings> {
        Some(EventQaSettings {
            premoderated: true,
            ..Default::default()
        })
    }
    fn check_viewer_token(&self, _: &str, _: &str, _: amphi_time::WallTime) -> Option<TokenClaims> {
        None
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn request(addr: std::net::SocketAddr, req: String) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// One panel: connects, signals once the snapshot arrived, then returns when
/// it sees `marker`.
async fn panel(
    addr: std::net::SocketAddr,
    ready: tokio::sync::mpsc::Sender<()>,
    marker: Arc<tokio::sync::watch::Receiver<Option<String>>>,
) -> std::io::Result<Instant> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(format!("GET /api/qa/{EVENT}/stream HTTP/1.1\r\nHost: bench\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut announced = false;
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if !announced && text.contains("\"type\":\"snapshot\"") {
            announced = true;
            let _ = ready.send(()).await;
            buf.clear();
            continue;
        }
        if let Some(m) = marker.borrow().as_deref() {
            if text.contains(m) {
                return Ok(Instant::now());
            }
        }
        if buf.len() > 1 << 20 {
            buf.clear();
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let panels: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir()?;
    let state = QaState::sqlite(dir.path().join("qa.sqlite3"), Arc::new(Events)).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(state)).await;
    });

    // A viewer id, then a pending question to approve later.
    let minted = request(
        addr,
        format!("POST /api/qa/{EVENT}/viewer HTTP/1.1\r\nHost: b\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
    )
    .await?;
    let viewer = minted
        .split("\"viewer\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .ok_or("no viewer id in the response")?
        .to_owned();
    let body = r#"{"text":"Will this be on the exam?"}"#;
    let resp = request(
        addr,
        format!(
            "POST /api/qa/{EVENT}/questions HTTP/1.1\r\nHost: b\r\nConnection: close\r\nAuthorization: Bearer {viewer}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await?;
    let id: i64 = resp
        .split("\"id\":")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .ok_or("no question id in the response")?;

    let rss0 = rss_kib();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(panels);
    let (marker_tx, marker_rx) = tokio::sync::watch::channel(None);
    let marker_rx = Arc::new(marker_rx);
    let mut tasks = Vec::with_capacity(panels);
    let t_connect = Instant::now();
    for _ in 0..panels {
        tasks.push(tokio::spawn(panel(
            addr,
            ready_tx.clone(),
            Arc::clone(&marker_rx),
        )));
    }
    for _ in 0..panels {
        tokio::time::timeout(Duration::from_secs(60), ready_rx.recv())
            .await?
            .ok_or("panel failed before its snapshot")?;
    }
    let connect_time = t_connect.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss1 = rss_kib();

    marker_tx.send(Some(format!("\"id\":{id},\"event\":\"{EVENT}\"")))?;
    let t0 = Instant::now();
    let resp = request(
        addr,
        format!(
            "POST /api/qa/{EVENT}/questions/{id}/approve HTTP/1.1\r\nHost: b\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\n\r\n"
        ),
    )
    .await?;
    if !resp.starts_with("HTTP/1.1 200") {
        return Err(format!("approve failed: {resp}").into());
    }
    let mut lat: Vec<Duration> = Vec::with_capacity(panels);
    for t in tasks {
        let at = tokio::time::timeout(Duration::from_secs(30), t).await???;
        lat.push(at.saturating_duration_since(t0));
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!("panels:            {panels}");
    println!("connect+snapshot:  {connect_time:?} for all");
    println!(
        "approval -> panel: median {:?}, p99 {:?}, max {:?}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "memory per panel:  {:.1} KiB (RSS {} -> {} KiB, clients included)",
        (rss1.saturating_sub(rss0)) as f64 / panels as f64,
        rss0,
        rss1
    );
    Ok(())
}
