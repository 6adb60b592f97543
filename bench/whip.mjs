// WHIP glass-to-glass bench: aiortc publishes H.264 + Opus over WHIP (tests/whip/publish.py,
// 640x360 test pattern, WHIP_BENCH_SIZE to change), hls.js plays the event in headless Chromium.
// Glass-to-glass = Date.now() − hls.playingDate, as in bench/latency.mjs for RTMP:
// playingDate is the EXT-X-PROGRAM-DATE-TIME of the frame on screen, stamped when the
// media reached the server (it excludes the publisher's own encode and network time).
//
// Usage: node bench/whip.mjs [seconds=30]   (AMPHI_BIN defaults to target/release/amphi,
// AMPHI_VENV to ~/.cache/amphi-venv)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  cleanup, get, launchBrowser, playerStats, repoRoot, sleep, startAmphi, waitFor, waitForPlaying,
} from '../tests/browser/harness.mjs';

process.env.AMPHI_BIN ||= 'target/release/amphi';
const SECONDS = Number(process.argv[2] || 30);
const SIZE = process.env.WHIP_BENCH_SIZE || '640x360';
const python = join(process.env.AMPHI_VENV || join(homedir(), '.cache', 'amphi-venv'), 'bin', 'python');
if (!existsSync(python)) throw new Error(`${python} missing: run scripts/install-deps.sh bench`);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };

const amphi = await startAmphi({ extraArgs: ['--webrtc-udp', '127.0.0.1:0'] });
const pub = spawn(python, [
  join(repoRoot, 'tests/whip/publish.py'), `${amphi.http}/whip/lecture`, 'secretkey',
  '--seconds', String(SECONDS + 60), '--size', SIZE,
], { stdio: ['ignore', 'pipe', 'inherit'] });
let pubOut = '';
pub.stdout.on('data', (d) => { pubOut += d; });
const browser = await launchBrowser();
let result;
try {
  await waitFor(async () => (await get(`${amphi.http}/live/lecture/master.m3u8`)).status === 200, 30000, { what: 'master' });
  await browser.page.goto(`${amphi.http}/watch/lecture`);
  await waitForPlaying(browser.page, 30000);
  await sleep(8000); // let hls.js's latency controller settle
  const g2g = [];
  const hlsLat = [];
  const end = Date.now() + SECONDS * 1000;
  while (Date.now() < end) {
    const s = await playerStats(browser.page);
    if (s && s.pdtLatency != null) g2g.push(s.pdtLatency / 1000);
    if (s && s.latency != null) hlsLat.push(s.latency);
    await sleep(500);
  }
  const s = await playerStats(browser.page);
  result = { g2g, hlsLat, height: s && s.height };
} finally {
  pub.kill('SIGTERM');
  await cleanup(browser, amphi);
}
const f = (x) => (x == null ? 'n/a' : x.toFixed(2) + ' s');
const connected = /WHIP_CONNECTED (\d+)/.exec(pubOut);
console.log(`\nWHIP latency over ${SECONDS} s, ${SIZE} aiortc publisher (connected ${connected ? connected[1] + ' ms' : '?'} after POST)`);
console.log(`  glass-to-glass (PDT): median ${f(median(result.g2g))}, p90 ${f(pct(result.g2g, 0.9))}  (${result.g2g.length} samples, playing ${result.height}p)`);
console.log(`  hls.js latency:       median ${f(median(result.hlsLat))}`);
