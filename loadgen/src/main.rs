//! `amphi-loadgen URL`: N LL-HLS viewers for D seconds, then a report.
//!
//! Prints per-viewer errors, request counts, request latency percentiles and the
//! latency behind the live edge, then one `LOADGEN_SUMMARY {json}` line for scripts.
//! Exits 1 if any viewer saw an error (transport error, non-2xx status, bad playlist).

use amphi_hls::playlist::{read_media, read_multivariant, ListedPart, MediaListing};
use amphi_loadgen::{behind_ms, percentile, pick, Pick};
use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use reqwest::{Client, Url};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

#[derive(Parser, Debug, Clone)]
#[command(name = "amphi-loadgen", about = "Simulated LL-HLS viewers")]
struct Args {
    /// Multivariant playlist URL, e.g. http://127.0.0.1:6081/live/lecture/master.m3u8
    url: String,
    /// Number of viewers.
    #[arg(short = 'n', long, default_value_t = 100)]
    viewers: usize,
    /// Seconds each run lasts (from the first viewer's start).
    #[arg(short = 'd', long, default_value_t = 20.0)]
    duration: f64,
    /// Seconds over which viewer starts are spread.
    #[arg(long, default_value_t = 5.0)]
    ramp: f64,
    /// Rendition: lowest, highest, or text the variant URI contains.
    #[arg(long, default_value = "lowest")]
    rendition: Pick,
    /// Per-request timeout, seconds (a blocking reload may be held ~3 target durations).
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Fetch at most this many new parts per reload (a late viewer skips ahead).
    #[arg(long, default_value_t = 6)]
    max_parts: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Master,
    Playlist,
    Blocking,
    Init,
    Part,
}

#[derive(Default)]
struct ViewerStats {
    /// (kind, microseconds) of every successful request.
    requests: Vec<(Kind, u32)>,
    /// Milliseconds behind the live edge at each part received.
    behind_ms: Vec<i64>,
    errors: Vec<String>,
    parts: u64,
    bytes: u64,
    retries: u64,
}

struct Viewer<'a> {
    client: &'a Client,
    stats: ViewerStats,
}

impl Viewer<'_> {
    async fn get(&mut self, kind: Kind, url: &Url) -> Result<Bytes> {
        let t = Instant::now();
        // Like a browser, retry once when a kept-alive connection was closed under us
        // (no response at all); any answer, even an error status, is final.
        let res = match self.client.get(url.clone()).send().await {
            Ok(res) => res,
            Err(e) if e.status().is_none() => {
                self.stats.retries += 1;
                self.client
                    .get(url.clone())
                    .send()
                    .await
                    .with_context(|| format!("GET {url} (retried after: {e})"))?
            }
            Err(e) => return Err(e).with_context(|| format!("GET {url}")),
        };
        let status = res.status();
        let body = res
            .bytes()
            .await
            .with_context(|| format!("GET {url}: body"))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            bail!("GET {url}: {status}: {}", text.trim());
        }
        let micros = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
        self.stats.requests.push((kind, micros));
        self.stats.bytes += body.len() as u64;
        Ok(body)
    }

    async fn playlist(&mut self, kind: Kind, url: &Url) -> Result<MediaListing> {
        let body = self.get(kind, url).await?;
        let text = std::str::from_utf8(&body).map_err(|_| anyhow!("GET {url}: not UTF-8"))?;
        read_media(text).map_err(|e| anyhow!("GET {url}: {e}"))
    }

    async fn part(&mut self, base: &Url, part: &ListedPart) -> Result<()> {
        let url = base.join(&part.uri)?;
        self.get(Kind::Part, &url).await?;
        self.stats.parts += 1;
        if let Some(pdt) = part.program_date_time {
            self.stats.behind_ms.push(behind_ms(SystemTime::now(), pdt));
        }
        Ok(())
    }

    /// One session: from the master playlist until `end` or the stream ends.
    async fn session(&mut self, args: &Args, master: &Url, end: Instant) -> Result<()> {
        let body = self.get(Kind::Master, master).await?;
        let variants = read_multivariant(&String::from_utf8_lossy(&body));
        let variant = pick(&variants, &args.rendition)
            .ok_or_else(|| anyhow!("{master}: no variant matches {:?}", args.rendition))?;
        let media = master.join(&variant.uri)?;
        let mut pl = self.playlist(Kind::Playlist, &media).await?;
        if let Some(map) = &pl.map_uri {
            self.get(Kind::Init, &media.join(map)?).await?;
        }
        let mut last = None;
        if let Some(newest) = pl.parts.last().cloned() {
            self.part(&media, &newest).await?;
            last = Some((newest.msn, newest.index));
        }
        while Instant::now() < end && !pl.ended {
            let (msn, part) = pl.next();
            let mut url = media.clone();
            url.set_query(Some(&format!("_HLS_msn={msn}&_HLS_part={part}")));
            pl = self.playlist(Kind::Blocking, &url).await?;
            let fresh: Vec<_> = pl
                .parts
                .iter()
                .filter(|p| last.is_none_or(|l| (p.msn, p.index) > l))
                .cloned()
                .collect();
            let skip = fresh.len().saturating_sub(args.max_parts.max(1));
            for p in &fresh[skip..] {
                self.part(&media, p).await?;
                last = Some((p.msn, p.index));
            }
        }
        Ok(())
    }
}

async fn run_viewer(
    client: Client,
    args: Args,
    master: Url,
    start: Instant,
    end: Instant,
) -> ViewerStats {
    tokio::time::sleep_until(start.into()).await;
    let mut v = Viewer {
        client: &client,
        stats: ViewerStats::default(),
    };
    while Instant::now() < end {
        match v.session(&args, &master, end).await {
            Ok(()) => break,
            Err(e) => {
                v.stats.errors.push(format!("{e:#}"));
                // Start over like a player recovering, after a pause.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    v.stats
}

fn ms(micros: Option<u32>) -> f64 {
    micros.map(|m| f64::from(m) / 1000.0).unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let master = Url::parse(&args.url).with_context(|| format!("URL {:?}", args.url))?;
    let client = Client::builder()
        .timeout(Duration::from_secs_f64(args.timeout))
        .pool_max_idle_per_host(usize::MAX)
        // Shorter than Varnish's `timeout_idle` (5 s) and hyper's server default.
        .pool_idle_timeout(Duration::from_secs(3))
        .tcp_nodelay(true)
        .build()?;
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(args.duration);
    let n = args.viewers.max(1);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let start = t0 + Duration::from_secs_f64(args.ramp * i as f64 / n as f64);
        tasks.push(tokio::spawn(run_viewer(
            client.clone(),
            args.clone(),
            master.clone(),
            start,
            end,
        )));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.push(t.await?);
    }
    let elapsed = t0.elapsed().as_secs_f64();

    let mut by_kind: BTreeMap<Kind, Vec<u32>> = BTreeMap::new();
    let mut behind = Vec::new();
    let (mut parts, mut bytes, mut errors, mut viewers_with_errors) = (0, 0, 0, 0);
    let mut retries = 0;
    for (i, s) in all.iter().enumerate() {
        for (k, us) in &s.requests {
            by_kind.entry(*k).or_default().push(*us);
        }
        behind.extend_from_slice(&s.behind_ms);
        parts += s.parts;
        retries += s.retries;
        bytes += s.bytes;
        errors += s.errors.len();
        if !s.errors.is_empty() {
            viewers_with_errors += 1;
            if viewers_with_errors <= 20 {
                println!(
                    "viewer {i}: {} error(s), first: {}",
                    s.errors.len(),
                    s.errors[0]
                );
            }
        }
    }
    let mut every: Vec<u32> = by_kind.values().flatten().copied().collect();
    every.sort_unstable();
    for v in by_kind.values_mut() {
        v.sort_unstable();
    }
    behind.sort_unstable();
    let total = every.len();
    println!(
        "{n} viewers, {elapsed:.1} s: {total} requests ({:.0}/s), {parts} parts, {:.1} MB, {retries} retries, {errors} errors in {viewers_with_errors} viewers",
        total as f64 / elapsed,
        bytes as f64 / 1e6
    );
    for (k, v) in &by_kind {
        println!(
            "  {:<9} {:>8} requests  p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
            format!("{k:?}"),
            v.len(),
            ms(percentile(v, 50.0)),
            ms(percentile(v, 90.0)),
            ms(percentile(v, 99.0)),
            ms(v.last().copied())
        );
    }
    let b = |p| percentile(&behind, p).unwrap_or(-1);
    println!(
        "  behind live edge (now − PDT of part received): p10 {} ms  p50 {} ms  p90 {} ms  p99 {} ms  max {} ms",
        b(10.0),
        b(50.0),
        b(90.0),
        b(99.0),
        behind.last().copied().unwrap_or(-1)
    );
    let kind_json: serde_json::Map<String, serde_json::Value> = by_kind
        .iter()
        .map(|(k, v)| {
            (
                format!("{k:?}").to_lowercase(),
                serde_json::json!({
                    "count": v.len(),
                    "p50_ms": ms(percentile(v, 50.0)),
                    "p99_ms": ms(percentile(v, 99.0)),
                }),
            )
        })
        .collect();
    let summary = serde_json::json!({
        "viewers": n,
        "seconds": elapsed,
        "requests": total,
        "parts": parts,
        "bytes": bytes,
        "errors": errors,
        "retries": retries,
        "viewers_with_errors": viewers_with_errors,
        "latency_p50_ms": ms(percentile(&every, 50.0)),
        "latency_p90_ms": ms(percentile(&every, 90.0)),
        "latency_p99_ms": ms(percentile(&every, 99.0)),
        "behind_p50_ms": b(50.0),
        "behind_p90_ms": b(90.0),
        "behind_p99_ms": b(99.0),
        "by_kind": kind_json,
    });
    println!("LOADGEN_SUMMARY {summary}");
    if viewers_with_errors > 0 || total == 0 {
        std::process::exit(1);
    }
    Ok(())
}
