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
import { cleanup, repoRoot, startAmphi } from '../tests/browser/harness.mjs';
import { measureAmphiViewer, median, pct, secs as f } from './viewer.mjs';

process.env.AMPHI_BIN ||= 'target/release/amphi';
const SECONDS = Number(process.argv[2] || 30);
const SIZE = process.env.WHIP_BENCH_SIZE || '640x360';
const python = join(process.env.AMPHI_VENV || join(homedir(), '.cache', 'amphi-venv'), 'bin', 'python');
if (!existsSync(python)) throw new Error(`${python} missing: run scripts/install-deps.sh bench`);

const amphi = await startAmphi({ extraArgs: ['--webrtc-udp', '127.0.0.1:0'] });
const pub = spawn(python, [
  join(repoRoot, 'tests/whip/publish.py'), `${amphi.http}/whip/lecture`, 'secretkey',
  '--seconds', String(SECONDS + 60), '--size', SIZE,
], { stdio: ['ignore', 'pipe', 'inherit'] });
let pubOut = '';
pub.stdout.on('data', (d) => { pubOut += d; });
let result;
try {
  result = await measureAmphiViewer(amphi.http, SECONDS);
} finally {
  pub.kill('SIGTERM');
  await cleanup(amphi);
}
const connected = /WHIP_CONNECTED (\d+)/.exec(pubOut);
console.log(`\nWHIP latency over ${SECONDS} s, ${SIZE} aiortc publisher (connected ${connected ? connected[1] + ' ms' : '?'} after POST)`);
console.log(`  glass-to-glass (PDT): median ${f(median(result.g2g))}, p90 ${f(pct(result.g2g, 0.9))}  (${result.g2g.length} samples, playing ${result.height}p)`);
console.log(`  hls.js latency:       median ${f(median(result.hlsLat))}`);
