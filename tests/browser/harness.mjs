// Shared harness for the browser tests: starts `amphi serve` on loopback, publishes with
// ffmpeg exactly as OBS would (RTMP, H.264 + AAC in FLV), drives Debian's Chromium through
// playwright-core, and always cleans up its child processes.
//
// playwright-core is resolved from player/node_modules (run `npm ci` in player/ first), so
// the browser tests need no package of their own.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const requireFromPlayer = createRequire(join(repoRoot, 'player', 'package.json'));

export { sleep };

// A wait that does not keep Node alive: for races against a process's or a browser's
// exit, so the test file ends as soon as its test does, not when the longest timer fires.
export const grace = (ms) => sleep(ms, undefined, { ref: false });

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

// Every child process, browser and temp dir we create, so cleanup() can always get rid
// of them (a browser left open keeps the test file's Node process alive forever).
const children = new Set();
const browsers = new Set();
const tempDirs = new Set();

function track(proc) {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}

function exited(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((res) => proc.once('exit', () => res()));
}

async function stopProcess(proc, graceMs = 3000) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    proc.kill('SIGTERM');
  } catch (_) {
    return;
  }
  const done = await Promise.race([exited(proc).then(() => true), grace(graceMs).then(() => false)]);
  if (!done) {
    try {
      proc.kill('SIGKILL');
    } catch (_) {
      /* already gone */
    }
    await Promise.race([exited(proc), grace(2000)]);
  }
}

// Last resort if a test process dies without running its hooks.
process.on('exit', () => {
  for (const proc of children) {
    try {
      proc.kill('SIGKILL');
    } catch (_) {
      /* already gone */
    }
  }
});

// Keeps the last `limit` characters of a stream, for failure messages.
class TailBuffer {
  constructor(limit = 64 * 1024) {
    this.limit = limit;
    this.text = '';
  }
  push(chunk) {
    this.text += chunk.toString();
    if (this.text.length > this.limit) this.text = this.text.slice(-this.limit);
  }
  toString() {
    return this.text;
  }
}

export function amphiBin() {
  return resolve(repoRoot, process.env.AMPHI_BIN || 'target/debug/amphi');
}

// `amphi user add NAME --role ROLE` on a data directory, the password on stdin (as a
// person would type it; never on the command line).
export function addConsoleUser(dataDir, name, role, password) {
  return new Promise((resolve, reject) => {
    const p = spawn(amphiBin(), ['user', '--data-dir', dataDir, 'add', name, '--role', role], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`amphi user add: ${code} ${err}`))));
    p.stdin.end(`${password}\n`);
  });
}

// Starts `amphi serve` with ephemeral ports; resolves once it printed its READY line.
// `moderatorTokens` maps event ids to the moderator tokens amphi prints on stdout when
// asked with `--print-secrets` (`AMPHI_MODERATOR event=<id> token=<token>`), filled as
// the lines arrive;
// `moderatorToken(event)` waits for one.
//
// `http` fixes the HTTP address (to restart a process on the same port), `extraArgs` are
// more `amphi serve` arguments (`--role`, `--store`, …), `env` more environment variables.
export async function startAmphi({
  events = ['lecture:secretkey'],
  timeoutMs = 30000,
  http = '127.0.0.1:0',
  extraArgs = [],
  env = {},
} = {}) {
  const bin = amphiBin();
  if (!existsSync(bin)) throw new Error(`amphi binary not found at ${bin} (build it, or set AMPHI_BIN)`);
  const dataDir = mkdtempSync(join(tmpdir(), 'amphi-browser-data-'));
  tempDirs.add(dataDir);
  // --print-secrets: stdout is a pipe here, and the tests read the moderator tokens.
  const args = ['serve', '--http', http, '--rtmp', '127.0.0.1:0', '--no-demo', '--data-dir', dataDir, '--print-secrets'];
  // WebRTC (WHIP) media on an ephemeral loopback port, so tests never collide on the
  // default port with another amphi on the machine (unless the test chooses one).
  if (!extraArgs.includes('--webrtc-udp')) args.push('--webrtc-udp', '127.0.0.1:0');
  args.push(...extraArgs);
  for (const e of events) args.push('--event', e);
  const proc = track(
    spawn(bin, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }),
  );
  const stderr = new TailBuffer();
  const stdout = new TailBuffer(16 * 1024);
  proc.stderr.on('data', (d) => stderr.push(d));
  const moderatorTokens = {};
  const tokenWaiters = new Set();

  const ready = new Promise((res, rej) => {
    const lines = createInterface({ input: proc.stdout });
    lines.on('line', (line) => {
      stdout.push(line + '\n');
      const t = /^AMPHI_MODERATOR event=(\S+) token=(\S+)/.exec(line);
      if (t) {
        moderatorTokens[t[1]] = t[2];
        for (const w of tokenWaiters) w();
        return;
      }
      const m = /^AMPHI_READY http=(\S+) rtmp=(\S+)/.exec(line);
      if (m) res({ http: m[1].replace(/\/$/, ''), rtmp: m[2].replace(/\/$/, '') });
    });
    proc.once('error', rej);
    proc.once('exit', (code, signal) =>
      rej(new Error(`amphi exited before it was ready (code ${code}, signal ${signal})`)),
    );
  });
  let timer;
  const timeout = new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error(`amphi did not print AMPHI_READY within ${timeoutMs} ms`)), timeoutMs);
  });
  let urls;
  try {
    urls = await Promise.race([ready, timeout]);
  } catch (e) {
    await stopProcess(proc);
    throw new Error(`${e.message}\n--- amphi stdout ---\n${stdout}\n--- amphi stderr ---\n${stderr}`);
  } finally {
    clearTimeout(timer);
  }

  const moderatorToken = async (event, waitMs = 5000) => {
    if (moderatorTokens[event]) return moderatorTokens[event];
    let wake;
    const woke = new Promise((res) => {
      wake = res;
    });
    tokenWaiters.add(wake);
    try {
      const deadline = Date.now() + waitMs;
      while (!moderatorTokens[event] && Date.now() < deadline) {
        await Promise.race([woke, sleep(Math.min(250, Math.max(0, deadline - Date.now())))]);
      }
    } finally {
      tokenWaiters.delete(wake);
    }
    if (!moderatorTokens[event]) {
      throw new Error(`amphi printed no "AMPHI_MODERATOR event=${event} token=…" line within ${waitMs} ms\n--- amphi stdout ---\n${stdout}`);
    }
    return moderatorTokens[event];
  };

  return {
    ...urls,
    proc,
    dataDir,
    moderatorTokens,
    moderatorToken,
    stdout: () => stdout.toString(),
    stderr: () => stderr.toString(),
    stop: () => stopProcess(proc),
  };
}

// A small static HTTP server on another loopback port (a "host page" of a different
// origin, for embedding tests). `pages` maps paths to HTML strings.
export async function startStaticServer(pages) {
  const http = await import('node:http');
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const body = pages[path];
    if (body === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(body);
  });
  await new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', res);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise((res) => {
        server.closeAllConnections?.();
        server.close(() => res());
        setTimeout(res, 2000).unref();
      }),
  };
}

// The test source encoded once per machine (10 s: five 2 s GOPs), kept in the temp dir.
function encodedClip(encode, wxh, kbps) {
  const dir = join(tmpdir(), 'amphi-test-media');
  const file = join(dir, `testsrc2-${wxh}-${kbps}k.flv`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const partial = `${file}.${process.pid}.part`;
  const r = spawnSync(process.env.FFMPEG_BIN || 'ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...encode, '-t', '10', '-f', 'flv', partial], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`encoding the test clip failed: ${r.stderr}`);
  renameSync(partial, file);
  return file;
}

// Publishes a test pattern + tone the way OBS does: x264 zerolatency, 2 s GOP, AAC, FLV
// over RTMP. `size` defaults to AMPHI_TEST_SIZE or 1920x1080; `preEncoded` sends a clip
// encoded once in a loop instead of encoding live.
export function startPublisher(rtmpBase, key, { size, bitrate, preEncoded = false } = {}) {
  const wxh = size || process.env.AMPHI_TEST_SIZE || '1920x1080';
  const height = Number(wxh.split('x')[1]) || 1080;
  const kbps = bitrate || Math.max(600, Math.round((4500 * height) / 1080));
  const url = `${rtmpBase}/${key}`;
  // prettier-ignore
  const encode = [
    '-f', 'lavfi', '-i', `testsrc2=size=${wxh}:rate=30`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'high',
    '-g', '60', '-keyint_min', '60', '-sc_threshold', '0', '-b:v', `${kbps}k`, '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '128k', '-ar', '48000',
  ];
  // A pre-encoded clip sent in a loop, as OBS sends what its encoder made: the machine's
  // cores go to amphi and the browser instead of encoding the source live.
  const args = preEncoded
    ? ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', encodedClip(encode, wxh, kbps), '-c', 'copy', '-f', 'flv', url]
    : ['-hide_banner', '-loglevel', 'error', '-re', ...encode, '-f', 'flv', url];
  const proc = track(spawn(process.env.FFMPEG_BIN || 'ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  const stderr = new TailBuffer(16 * 1024);
  proc.stderr.on('data', (d) => stderr.push(d));
  const startedAt = Date.now();
  return {
    proc,
    size: wxh,
    height,
    startedAt,
    stderr: () => stderr.toString(),
    exited: () => exited(proc),
    // SIGKILL is what OBS losing its network looks like to the server: no FCUnpublish.
    kill: async (signal = 'SIGKILL') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await Promise.race([exited(proc), grace(5000)]);
    },
    stop: () => stopProcess(proc),
  };
}

// Chromium flags for pages that capture media: a synthetic camera and microphone, and
// permission prompts accepted (pass as `launchBrowser({ args: FAKE_MEDIA_ARGS })`).
export const FAKE_MEDIA_ARGS = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

// Launches Chromium with a fresh profile. Collects page errors so tests can assert none.
// `args` are Chromium flags added to the usual ones.
export async function launchBrowser({ viewport = { width: 1280, height: 720 }, args = [], executablePath = CHROMIUM } = {}) {
  const { chromium } = requireFromPlayer('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'amphi-chromium-'));
  tempDirs.add(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
    viewport,
    timeout: 30000,
  });
  const errors = [];
  const logs = [];
  const watch = (page) => {
    page.on('pageerror', (e) => errors.push(String(e && e.stack ? e.stack : e)));
    page.on('console', (m) => {
      logs.push(`[${m.type()}] ${m.text()}`);
      if (logs.length > 500) logs.shift();
    });
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  const browser = {
    context,
    errors,
    logs,
    close: async () => {
      browsers.delete(browser);
      await Promise.race([context.close().catch(() => {}), grace(10000)]);
    },
  };
  browsers.add(browser);
  browser.page = context.pages()[0] || (await context.newPage());
  browser.page.setDefaultTimeout(15000);
  return browser;
}

// Polls `fn` (sync or async) every `intervalMs` until it returns a truthy value, which is
// returned; throws after `timeoutMs` with the last value (or error) in the message.
export async function waitFor(fn, timeoutMs, { intervalMs = 250, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

// The player's own view of itself (window.amphiPlayer.stats()) plus the PDT on screen.
export function playerStats(page) {
  return page.evaluate(() => {
    const p = window.amphiPlayer;
    if (!p) return null;
    const s = p.stats();
    const d = p.hls && p.hls.playingDate;
    s.playingDate = d ? d.getTime() : null;
    return s;
  });
}

// Waits until the page's video is playing: currentTime moved forward between two polls.
export async function waitForPlaying(page, timeoutMs, what = 'the video to play') {
  let prev = null;
  return waitFor(
    async () => {
      const s = await playerStats(page);
      const ok = s && prev && !s.paused && s.currentTime > prev.currentTime + 0.1;
      prev = s;
      return ok ? s : false;
    },
    timeoutMs,
    { intervalMs: 500, what },
  );
}

// Asserts that the page plays in real time: after `settleMs` (to settle from the start),
// currentTime advances at least `minS` in `windowMs`. Resolves to the stats at the end.
export async function assertAdvances(page, { settleMs = 2000, windowMs = 3000, minS = 2 } = {}) {
  await sleep(settleMs);
  const a = await playerStats(page);
  await sleep(windowMs);
  const b = await playerStats(page);
  const moved = b.currentTime - a.currentTime;
  assert.ok(moved >= minS, `currentTime advanced ${moved.toFixed(2)} s in ${windowMs / 1000} s`);
  return b;
}

// A request to amphi's HTTP API from Node (`url` absolute): `bearer` goes as the
// Authorization header, `body` as JSON, `headers` are more headers. Resolves to
// { status, data, text, retryAfter }: `data` is the parsed JSON answer (its text when it
// is not JSON, null when empty). Never throws on HTTP errors.
export async function apiRequest(method, url, { bearer, body, headers: extra, timeoutMs = 15000 } = {}) {
  const headers = Object.assign({ Accept: 'application/json' }, extra);
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = text;
  }
  return { status: res.status, data, text, retryAfter: res.headers.get('retry-after') };
}

// HTTP GET from Node; resolves to { status, text } (never throws on HTTP errors).
export async function get(url, timeoutMs = 5000) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text() };
}

// Tears everything down; safe to call more than once and from `after` hooks on failure.
export async function cleanup(...things) {
  for (const t of things) {
    if (!t) continue;
    try {
      if (typeof t.close === 'function') await t.close();
      else if (typeof t.stop === 'function') await t.stop();
    } catch (_) {
      /* keep going */
    }
  }
  await Promise.all([...browsers].map((b) => b.close()));
  await Promise.all([...children].map((p) => stopProcess(p)));
  for (const d of tempDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch (_) {
      /* best effort */
    }
  }
  tempDirs.clear();
}

// Prints what a failing test needs to be understood: the server's and publisher's stderr
// and the page's console.
export function dumpDiagnostics({ amphi, publishers = [], browser } = {}) {
  const out = [];
  if (amphi) out.push(`--- amphi stderr (tail) ---\n${amphi.stderr().slice(-8000)}`);
  for (const p of publishers) if (p) out.push(`--- ffmpeg ${p.size} stderr (tail) ---\n${p.stderr().slice(-2000)}`);
  if (browser) {
    out.push(`--- page errors ---\n${browser.errors.join('\n') || '(none)'}`);
    out.push(`--- page console (tail) ---\n${browser.logs.slice(-60).join('\n')}`);
  }
  console.error(out.join('\n'));
}
