// Glass-to-glass from the picture: a paced 1080p30 publisher whose frames carry their
// index as a barcode (bench/barcode/source.mjs), read back from the frames the <video>
// presents in headless Chromium (bench/barcode/reader.mjs). The figure includes the
// whole path: ingest, the ladder, packaging, delivery, the player's buffer, decoding
// and display; it trusts no server timestamp. Only the publisher's own encoding is
// left out (pre-encoded: a real-time x264 zerolatency adds about one frame).
//
// Rows, one after the other on the same live event (each viewer joins mid-lecture in a
// fresh browser): Amphi's /watch player, plain hls.js (lowLatencyMode: true, its
// defaults otherwise) and plain hls.js allowed to catch up (maxLiveSyncPlaybackRate
// 1.5), on the top and the lowest rendition, from the origin directly
// and through Varnish (infra/varnish/amphi.vcl); then nginx-rtmp's classic HLS (1 s
// fragments) with plain hls.js on the same paced source, as the baseline. Each row
// prints the median and p90 of the barcode figure, the program date-time figure beside
// it (what the server's own clock claims), hls.js's latency, and the stalls.
//
// Usage: node bench/g2g.mjs [seconds per row = 30]
//   AMPHI_BIN (default target/release/amphi), G2G_SETTLE (s, default 12),
//   G2G_ROWS (comma-separated filter on row names, e.g. "hls.js,nginx"),
//   G2G_AMPHI_ARGS (more `amphi serve` arguments, e.g. "--part-duration 0.333"),
//   G2G_VIEWER_LINK (a fault on the viewer's network, as `scripts/netns.sh fault` takes
//   it, e.g. "loss-jitter 2 50 100" or "cap 4000"): Chromium runs in a network
//   namespace behind that link, amphi listens on the link's host end; only the direct
//   rows run (Varnish and nginx listen on loopback). Needs root.
//   G2G_BFRAMES (default 0): a source with that many B-frames, as OBS sends by default
//   (x264 without the zerolatency tune, NVENC), instead of x264 zerolatency.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup, get, launchBrowser, repoRoot, sleep, startAmphi, waitFor } from '../tests/browser/harness.mjs';
import { BAND_ROWS, BLOCKS, CHECK_MOD, INDEX_BITS, ensureSource, startPacedPublisher } from './barcode/source.mjs';
import { drainReader, installReader } from './barcode/reader.mjs';

process.env.AMPHI_BIN ||= 'target/release/amphi';
const SECONDS = Number(process.argv[2] || 30);
const SETTLE = Number(process.env.G2G_SETTLE || 12);
const ROWS = (process.env.G2G_ROWS || '').split(',').filter(Boolean);
const EXTRA_ARGS = (process.env.G2G_AMPHI_ARGS || '').split(/\s+/).filter(Boolean);
const VIEWER_LINK = (process.env.G2G_VIEWER_LINK || '').split(/\s+/).filter(Boolean);
const BFRAMES = Number(process.env.G2G_BFRAMES || 0);
const VIEWER_NETNS = 'amphi-view';
const LINK_HOST = '10.213.0.1';

// The viewer's network: a namespace behind a faulty link (scripts/netns.sh), and a
// Chromium that runs inside it.
function viewerLink() {
  const netns = (...args) =>
    execFileSync('bash', [join(repoRoot, 'scripts/netns.sh'), ...args], {
      env: { ...process.env, AMPHI_NETNS: VIEWER_NETNS },
      encoding: 'utf8',
    });
  netns('up');
  netns('fault', ...VIEWER_LINK);
  const dir = mkdtempSync(join(tmpdir(), 'amphi-g2g-netns-'));
  const chromium = join(dir, 'chromium');
  writeFileSync(chromium, `#!/bin/sh\nexec ip netns exec ${VIEWER_NETNS} ${process.env.CHROMIUM_BIN || '/usr/bin/chromium'} "$@"\n`, { mode: 0o755 });
  return { chromium, down: () => netns('down') };
}
const link = VIEWER_LINK.length ? viewerLink() : null;
if (link) process.on('exit', () => link.down());
const HLS_JS = (() => {
  for (const p of ['player/dist/hls.min.js', 'player/node_modules/hls.js/dist/hls.min.js']) {
    if (existsSync(join(repoRoot, p))) return readFileSync(join(repoRoot, p), 'utf8');
  }
  throw new Error('hls.min.js not found: build the player first (make player)');
})();
const READER_ARGS = { blocks: BLOCKS, bandRows: BAND_ROWS, indexBits: INDEX_BITS, checkMod: CHECK_MOD };

const median = (xs) => pct(xs, 0.5);
function pct(xs, p) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}
const f = (x) => (x == null ? '  n/a ' : `${x.toFixed(2)} s`);

// The plain hls.js pages measured, by row name: stock hls.js (lowLatencyMode is its
// default; set explicitly), and the same with the one setting a page embedding its own
// hls.js should add. Stock hls.js never plays faster than 1x (maxLiveSyncPlaybackRate
// 1), so whatever it loses after aiming at PART-HOLD-BACK (the time from its first
// playlist to its first frame, a media clock running slow on a loaded machine) stays
// in its latency for the whole lecture; with catch-up it comes back while more than a
// second is buffered ahead.
const STOCK_PAGES = {
  'hls.js': { lowLatencyMode: true },
  'hls.js 1.5x': { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 },
};

// A page with nothing but a <video> and hls.js configured as `config`, served at
// `base` so every request is same-origin.
function hlsPage(src, level, config) {
  return `<!doctype html><meta charset=utf-8><body style="margin:0;background:#000">
<video id=v muted autoplay playsinline style="width:1280px;height:720px"></video>
<script>${HLS_JS}</script><script>
const video = document.getElementById('v');
const hls = new Hls(${JSON.stringify(config)});
window.hls = hls;
hls.on(Hls.Events.MANIFEST_PARSED, () => {
  const hs = hls.levels.map((l) => l.height || 0);
  const pick = ${JSON.stringify(level)} === 'lowest' ? Math.min(...hs) : Math.max(...hs);
  if (hls.levels.length > 1) hls.loadLevel = hs.indexOf(pick);
  video.play().catch(() => {});
});
hls.loadSource(${JSON.stringify(src)});
hls.attachMedia(video);
</script>`;
}

// Fixes the /watch player's level as soon as its hls.js has the levels.
function pinWatchLevel(level) {
  const t = setInterval(() => {
    const hls = window.amphiPlayer && window.amphiPlayer.hls;
    if (!hls || !hls.levels || !hls.levels.length) return;
    clearInterval(t);
    const hs = hls.levels.map((l) => l.height || 0);
    const pick = level === 'lowest' ? Math.min(...hs) : Math.max(...hs);
    hls.loadLevel = hs.indexOf(pick);
  }, 20);
}

async function waitPlaying(page, timeoutMs = 40000) {
  let prev = null;
  await waitFor(
    async () => {
      const t = await page.evaluate(() => {
        const v = document.querySelector('video');
        return v && !v.paused ? v.currentTime : null;
      });
      const ok = t != null && prev != null && t > prev + 0.1;
      prev = t;
      return ok;
    },
    timeoutMs,
    { intervalMs: 500, what: 'the video to play' },
  );
}

// One viewer: joins, settles, measures `SECONDS`; returns the row's figures.
async function measure({ url, player, level, source }) {
  const browser = await launchBrowser({
    viewport: { width: 1280, height: 720 },
    ...(link ? { executablePath: link.chromium } : {}),
  });
  try {
    const page = browser.page;
    if (STOCK_PAGES[player]) {
      const origin = new URL(url).origin;
      await page.route(`${origin}/__g2g/page.html`, (route) =>
        route.fulfill({ status: 200, contentType: 'text/html', body: hlsPage(url, level, STOCK_PAGES[player]) }),
      );
      await page.goto(`${origin}/__g2g/page.html`);
    } else {
      await page.addInitScript(pinWatchLevel, level);
      await page.goto(url);
    }
    await waitPlaying(page);
    await page.evaluate(installReader, READER_ARGS);
    await sleep(SETTLE * 1000);
    await page.evaluate(drainReader);
    const from = Date.now();
    await sleep(SECONDS * 1000);
    const r = await page.evaluate(drainReader);
    const until = Date.now();
    const g2g = [];
    const pdt = [];
    const hlsLat = [];
    const heights = new Map();
    for (const [shownAt, index, pdtMs, lat, height] of r.samples) {
      g2g.push((shownAt - source.capturedAt(index, shownAt)) / 1000);
      if (pdtMs != null) pdt.push((shownAt - pdtMs) / 1000);
      if (lat != null) hlsLat.push(lat);
      heights.set(height, (heights.get(height) || 0) + 1);
    }
    const stalls = r.stalls
      .filter(([start, end]) => (end ?? until) > from)
      .map(([start, end]) => ((end ?? until) - Math.max(start, from)) / 1000);
    return {
      g2g,
      pdt,
      hlsLat,
      frames: r.samples.length,
      unread: r.unread,
      stalls,
      height: [...heights.entries()].sort((a, b) => b[1] - a[1])[0]?.[0],
      errors: browser.errors.length,
    };
  } finally {
    await browser.close();
  }
}

function report(name, r) {
  if (!r) return console.log(`  ${name.padEnd(34)} failed`);
  const stallTotal = r.stalls.reduce((a, b) => a + b, 0);
  const under = r.pdt.length ? median(r.g2g) - median(r.pdt) : null;
  console.log(
    `  ${name.padEnd(34)} ${f(median(r.g2g))}  ${f(pct(r.g2g, 0.9))}   ${f(median(r.pdt))}  ${
      under == null ? '  n/a ' : `${under >= 0 ? '+' : ''}${under.toFixed(2)} s`
    }   ${f(median(r.hlsLat))}   ${String(r.stalls.length).padStart(2)} (${stallTotal.toFixed(1)} s)   ${
      r.height ?? '?'
    }p  ${r.frames}/${r.unread}`,
  );
}

function header() {
  console.log(
    `  ${'row'.padEnd(34)} g2g med  g2g p90   PDT med  PDT under  hls.js lat  stalls (time)  played frames/unread`,
  );
}

function shouldRun(name) {
  return !ROWS.length || ROWS.some((r) => name.includes(r));
}

async function amphiRows(file) {
  const amphi = await startAmphi({ extraArgs: EXTRA_ARGS, ...(link ? { http: `${LINK_HOST}:0` } : {}) });
  const source = startPacedPublisher(file, `${amphi.rtmp}/secretkey`);
  let varnishDir = null;
  let varnish = null;
  const rows = [];
  try {
    const master = `${amphi.http}/live/lecture/master.m3u8`;
    await waitFor(async () => (await get(master)).status === 200, 40000, { what: 'the master playlist' });
    try {
      if (link) throw new Error('the viewer is behind a link: direct rows only');
      varnishDir = mkdtempSync(join(tmpdir(), 'amphi-g2g-varnish-'));
      const port = 20000 + Math.floor(Math.random() * 20000);
      varnish = execFileSync('bash', [join(repoRoot, 'scripts/varnish-test.sh'), 'start', varnishDir, String(port), new URL(amphi.http).port], { encoding: 'utf8' }).trim();
      await waitFor(async () => (await get(`${varnish}/live/lecture/master.m3u8`)).status === 200, 20000, { what: 'Varnish' });
    } catch (e) {
      console.log(`  (Varnish unavailable, its rows are skipped: ${String(e.message).split('\n')[0]})`);
      varnish = null;
    }
    for (const via of ['direct', 'varnish']) {
      const base = via === 'direct' ? amphi.http : varnish;
      if (!base) continue;
      for (const player of ['/watch', ...Object.keys(STOCK_PAGES)]) {
        for (const level of ['top', 'lowest']) {
          const name = `amphi ${player} ${level} ${via}`;
          if (!shouldRun(name)) continue;
          const url = STOCK_PAGES[player] ? `${base}/live/lecture/master.m3u8` : `${base}/watch/lecture`;
          let r = null;
          try {
            r = await measure({ url, player, level, source });
          } catch (e) {
            console.log(`  ${name}: ${e.message.split('\n')[0]}`);
            const why = [source.stderr().trim(), amphi.stderr().split('\n').filter((l) => /WARN|ERROR/.test(l)).slice(-5).join('\n')];
            console.log(`    publisher: ${why[0] || '(nothing)'}\n    amphi warnings:\n${why[1]}`);
          }
          report(name, r);
          rows.push([name, r]);
        }
      }
    }
  } finally {
    await source.stop();
    if (varnishDir) {
      try {
        execFileSync('bash', [join(repoRoot, 'scripts/varnish-test.sh'), 'stop', varnishDir]);
      } catch (_) {
        /* gone */
      }
    }
    await cleanup(amphi);
  }
  return rows;
}

async function nginxRow(file) {
  const mod = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
  if (!existsSync(mod) || !existsSync('/usr/sbin/nginx')) {
    console.log('  nginx with libnginx-mod-rtmp not installed: baseline skipped');
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'amphi-g2g-nginx-'));
  mkdirSync(join(dir, 'www', 'hls'), { recursive: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const rtmpPort = 19350 + Math.floor(Math.random() * 500);
  const httpPort = 18080 + Math.floor(Math.random() * 500);
  writeFileSync(join(dir, 'nginx.conf'), `load_module ${mod};
worker_processes 1; daemon off; master_process off; pid ${dir}/nginx.pid; error_log ${dir}/logs/error.log;
events { worker_connections 256; }
rtmp { server { listen 127.0.0.1:${rtmpPort}; chunk_size 4096;
  application live { live on; record off; hls on; hls_path ${dir}/www/hls; hls_fragment 1s; hls_playlist_length 6s; } } }
http { access_log off; server { listen 127.0.0.1:${httpPort}; root ${dir}/www;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  location /hls/ { add_header Cache-Control no-cache; } } }
`);
  const nginx = spawn('/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
  await sleep(500);
  const source = startPacedPublisher(file, `rtmp://127.0.0.1:${rtmpPort}/live/lecture`);
  const name = 'nginx-rtmp HLS 1 s, hls.js';
  let r = null;
  try {
    const url = `http://127.0.0.1:${httpPort}/hls/lecture.m3u8`;
    await waitFor(async () => (await get(url)).status === 200, 30000, { what: 'the nginx playlist' });
    r = await measure({ url, player: 'hls.js', level: 'top', source });
  } catch (e) {
    console.log(`  ${name}: ${e.message.split('\n')[0]}`);
  } finally {
    await source.stop();
    nginx.kill('SIGKILL');
  }
  report(name, r);
  return r;
}

const file = await ensureSource(undefined, { bframes: BFRAMES });
console.log(
  `\nGlass-to-glass from the picture: ${SECONDS} s per row after ${SETTLE} s settling, paced 1080p30 source ` +
    `(2 s keyframes, AAC), each row a fresh viewer joining the live event${EXTRA_ARGS.length ? `; amphi ${EXTRA_ARGS.join(' ')}` : ''}` +
    `${link ? `; the viewer behind a link with ${VIEWER_LINK.join(' ')}` : ''}`,
);
header();
if (!ROWS.length || ROWS.some((r) => !r.includes('nginx'))) await amphiRows(file);
if (!link && shouldRun('nginx')) await nginxRow(file);
