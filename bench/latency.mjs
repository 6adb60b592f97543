// Latency benchmark: a 1080p30 publisher with 2 s keyframes (OBS's usual setting)
// through Amphi to hls.js in headless Chromium, and the same publisher through nginx's
// RTMP module (classic HLS) as the baseline, measured in the same run.
//
// Amphi: glass-to-glass = Date.now() − hls.playingDate, where playingDate is the
// EXT-X-PROGRAM-DATE-TIME of the frame on screen, stamped when the frame reached the
// server (so it excludes the publisher's own encode and network time, a few tens of ms
// for ffmpeg on loopback). nginx writes no program date-time; for both we also report
// hls.js's own `latency` (distance behind the live edge it sees), which is comparable
// between the two.
//
// Usage: node bench/latency.mjs [seconds=60]   (AMPHI_BIN defaults to target/release/amphi)
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, copyFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cleanup, launchBrowser, playerStats, repoRoot, sleep, startAmphi, startPublisher, waitFor, waitForPlaying, get,
} from '../tests/browser/harness.mjs';
import { measureAmphiViewer, median, pct, secs as f } from './viewer.mjs';

process.env.AMPHI_BIN ||= 'target/release/amphi';
const SECONDS = Number(process.argv[2] || 60);

async function sample(page, seconds, read) {
  const out = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const v = await read(page);
    if (v != null && Number.isFinite(v)) out.push(v);
    await sleep(500);
  }
  return out;
}

async function amphiRun() {
  const amphi = await startAmphi();
  const pub = startPublisher(amphi.rtmp, 'secretkey', { size: '1920x1080' });
  try {
    return await measureAmphiViewer(amphi.http, SECONDS);
  } finally {
    await cleanup(pub, amphi);
  }
}

async function nginxRun() {
  const mod = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
  if (!existsSync(mod) || !existsSync('/usr/sbin/nginx')) return null;
  const dir = mkdtempSync(join(tmpdir(), 'amphi-bench-nginx-'));
  mkdirSync(join(dir, 'www', 'hls'), { recursive: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  copyFileSync(join(repoRoot, 'player', 'node_modules', 'hls.js', 'dist', 'hls.min.js'), join(dir, 'www', 'hls.min.js'));
  writeFileSync(join(dir, 'www', 'index.html'), `<!doctype html><video id=v muted autoplay playsinline></video>
<script src="/hls.min.js"></script><script>
const hls = new Hls(); hls.loadSource('/hls/lecture.m3u8'); hls.attachMedia(document.getElementById('v'));
window.amphiPlayer = { hls, stats: () => ({ latency: hls.latency, currentTime: document.getElementById('v').currentTime, paused: document.getElementById('v').paused }) };
</script>`);
  const rtmpPort = 19350 + Math.floor(Math.random() * 500);
  const httpPort = 18080 + Math.floor(Math.random() * 500);
  writeFileSync(join(dir, 'nginx.conf'), `load_module ${mod};
worker_processes 1; daemon off; master_process off; user root; pid ${dir}/nginx.pid; error_log ${dir}/logs/error.log;
events { worker_connections 256; }
rtmp { server { listen 127.0.0.1:${rtmpPort}; chunk_size 4096;
  application live { live on; record off; hls on; hls_path ${dir}/www/hls; hls_fragment 1s; hls_playlist_length 6s; } } }
http { access_log off; server { listen 127.0.0.1:${httpPort}; root ${dir}/www;
  types { text/html html; application/javascript js; application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  location /hls/ { add_header Cache-Control no-cache; } } }
`);
  const nginx = spawn('/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
  await sleep(500);
  const pub = startPublisher(`rtmp://127.0.0.1:${rtmpPort}/live`, 'lecture', { size: '1920x1080' });
  const browser = await launchBrowser();
  try {
    await waitFor(async () => (await get(`http://127.0.0.1:${httpPort}/hls/lecture.m3u8`)).status === 200, 30000, { what: 'nginx playlist' });
    await browser.page.goto(`http://127.0.0.1:${httpPort}/`);
    await waitForPlaying(browser.page, 30000);
    await sleep(8000);
    const hlsLat = await sample(browser.page, SECONDS, async (p) => (await playerStats(p))?.latency);
    return { hlsLat };
  } finally {
    await cleanup(browser, pub);
    nginx.kill('SIGKILL');
  }
}

const a = await amphiRun();
const n = await nginxRun();
console.log(`\nLatency over ${SECONDS} s, 1080p30 source, 2 s keyframes`);
console.log(`  Amphi glass-to-glass (PDT): median ${f(median(a.g2g))}, p90 ${f(pct(a.g2g, 0.9))}  (${a.g2g.length} samples, playing ${a.height}p)`);
console.log(`  Amphi hls.js latency:       median ${f(median(a.hlsLat))}`);
if (n) {
  console.log(`  nginx-rtmp HLS (1 s fragments) hls.js latency: median ${f(median(n.hlsLat))}`);
  console.log(`  ratio Amphi/nginx (hls.js latency): ${(median(a.hlsLat) / median(n.hlsLat)).toFixed(2)}`);
} else {
  console.log('  nginx with libnginx-mod-rtmp not installed: baseline skipped');
}
