// The soak's observer (bench/soak.sh starts it): for the whole lecture it
//  - plays /watch/{event} in headless Chromium (the player, hls.js) and counts stalls:
//    the video's `waiting` events and every stretch of 1 s or more in which
//    currentTime did not advance while playing. Its window is SOAK_VIEWER_SIZE (default
//    640x360, a lecture watched beside its Q&A or in a MOOC page): the player asks for the
//    rendition its window needs (360p). The browser shares this machine's CPU with the
//    server, where a student's has a machine of its own: decoding 1080p in software here
//    takes the CPU the ladder needs, and the stalls counted would be this machine's;
//    SOAK_VIEWER_SIZE=1280x720 measures that case;
//  - follows the lowest rendition's live edge with blocking reloads and samples
//    wall clock − EXT-X-PROGRAM-DATE-TIME at the end of each new part (the server's
//    program time against the wall clock: its drift over the lecture is what counts);
//  - samples the amphi process's RSS and open file descriptors every 10 s.
// Prints one SOAK_SAMPLE line per minute and a SOAK_REPORT line (JSON) at the end.
// SOAK_TRACE=FILE also writes, for every stall, a JSON line with hls.js's own log lines
// and the page's requests (start, end, status) from 4 s before the picture froze until
// it moved again, and each SourceBuffer's ranges in the stall's state; the parts loaded
// meanwhile and their init segment go to FILE.media/{time}/ (`ffprobe -show_packets`
// reads their timestamps).
//
// Usage: node bench/soak-viewer.mjs HTTP_BASE AMPHI_PID MINUTES [EVENT]
import { appendFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { launchBrowser, sleep, waitFor, waitForPlaying } from '../tests/browser/harness.mjs';
import { median } from './viewer.mjs';

const [http, pidArg, minutesArg, event = 'lecture'] = process.argv.slice(2);
if (!http || !pidArg || !minutesArg) {
  console.error('usage: node bench/soak-viewer.mjs HTTP_BASE AMPHI_PID MINUTES [EVENT]');
  process.exit(2);
}
const pid = Number(pidArg);
const [viewW, viewH] = (process.env.SOAK_VIEWER_SIZE || '640x360').split('x').map(Number);
const endAt = Date.now() + Number(minutesArg) * 60_000;
const traceFile = process.env.SOAK_TRACE || '';

function procSample() {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    return { t: Date.now(), rss, fds };
  } catch (_) {
    return null;
  }
}

// `#EXT-X-PROGRAM-DATE-TIME` + durations: the program time at the end of each part.
function partEnds(text) {
  const ends = [];
  let pdt = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(line.slice(25).trim());
    else if (line.startsWith('#EXT-X-PART:') && pdt != null) {
      const uri = /URI="([^"]+)"/.exec(line)[1];
      const d = Number(/DURATION=([\d.]+)/.exec(line)[1]);
      // Parts of the segment that follows this PDT line, in order.
      const before = ends.filter((e) => e.pdtBase === pdt).reduce((s, e) => s + e.d, 0);
      ends.push({ uri, d, pdtBase: pdt, end: pdt + (before + d) * 1000 });
    } else if (line.startsWith('#EXTINF:') && pdt != null) {
      // The segment is complete; the next PDT line starts the next one.
      const d = Number(line.slice(8).split(',')[0]);
      pdt += d * 1000;
    }
  }
  return ends;
}

async function followEdge(samples) {
  const master = await (await fetch(`${http}/live/${event}/master.m3u8`)).text();
  const uris = master.split('\n').filter((l) => l && !l.startsWith('#'));
  const url = `${http}/live/${event}/${uris[uris.length - 1]}`;
  let next = null;
  const seen = new Set();
  let first = true;
  while (Date.now() < endAt) {
    const q = next ? `?_HLS_msn=${next[0]}&_HLS_part=${next[1]}` : '';
    let text;
    try {
      const r = await fetch(url + q, { signal: AbortSignal.timeout(15000) });
      if (!r.ok) throw new Error(String(r.status));
      text = await r.text();
    } catch (_) {
      next = null;
      await sleep(500);
      continue;
    }
    const now = Date.now();
    for (const p of partEnds(text)) {
      if (seen.has(p.uri)) continue;
      seen.add(p.uri);
      if (!first) samples.push({ t: now, lag: now - p.end });
    }
    first = false;
    const hint = /#EXT-X-PRELOAD-HINT:.*URI="part(\d+)\.(\d+)\.m4s"/.exec(text);
    next = hint ? [Number(hint[1]), Number(hint[2])] : null;
    if (!next) await sleep(500);
  }
}

// The player's state when the picture freezes (runs in the page).
function playbackState() {
  const v = document.querySelector('video');
  const ranges = [];
  for (let i = 0; i < v.buffered.length; i++) ranges.push([+v.buffered.start(i).toFixed(3), +v.buffered.end(i).toFixed(3)]);
  const hls = window.amphiPlayer && window.amphiPlayer.hls;
  const details = hls && hls.levels && hls.levels[hls.currentLevel] && hls.levels[hls.currentLevel].details;
  const perBuffer = (window.__sourceBuffers || []).map(({ mime, sb }) => {
    const r = [];
    try {
      for (let i = 0; i < sb.buffered.length; i++) r.push([+sb.buffered.start(i).toFixed(4), +sb.buffered.end(i).toFixed(4)]);
    } catch (_) {
      return [mime.split(';')[0], 'removed'];
    }
    return [mime.split(';')[0], r.slice(-3)];
  });
  return {
    ct: +v.currentTime.toFixed(3),
    sourceBuffers: perBuffer,
    buffered: ranges.slice(-3),
    readyState: v.readyState,
    rate: v.playbackRate,
    latency: hls ? +(hls.latency || 0).toFixed(3) : null,
    target: hls ? hls.targetLatency : null,
    edge: details ? +details.edge.toFixed(3) : null,
    partTarget: details ? details.partTarget : null,
  };
}

// Runs in the page before its scripts: hls.js is built with a logger that keeps its
// last lines (wall-clock ms, level, text) in window.__hlsTrace.
function traceHls() {
  const lines = [];
  window.__hlsTrace = lines;
  const keep = (level) => (...args) => {
    lines.push([Date.now(), level, args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')]);
    if (lines.length > 6000) lines.splice(0, 2000);
  };
  // Each SourceBuffer, for its own buffered ranges (hls.js appends muxed parts to one,
  // separate audio and video to one each).
  window.__sourceBuffers = [];
  const add = MediaSource.prototype.addSourceBuffer;
  MediaSource.prototype.addSourceBuffer = function (mime) {
    const sb = add.call(this, mime);
    window.__sourceBuffers.push({ mime, sb });
    if (window.__sourceBuffers.length > 8) window.__sourceBuffers.shift();
    return sb;
  };
  const logger = { trace: keep('trace'), debug: keep('debug'), log: keep('log'), info: keep('info'), warn: keep('warn'), error: keep('error') };
  let Real;
  Object.defineProperty(window, 'Hls', {
    configurable: true,
    get: () => Real,
    set: (H) => {
      Real = class extends H {
        constructor(config) {
          super({ ...config, debug: logger });
        }
      };
    },
  });
}

// The page's requests (wall-clock start and end, status), the last few thousand.
function traceRequests(page) {
  const open = new Map();
  const done = [];
  page.on('request', (r) => open.set(r, Date.now()));
  const end = (r, status) => {
    const start = open.get(r);
    open.delete(r);
    done.push({ url: r.url().replace(http, ''), start, end: Date.now(), status });
    if (done.length > 6000) done.splice(0, 2000);
  };
  page.on('requestfinished', async (r) => end(r, (await r.response().catch(() => null))?.status() ?? 0));
  page.on('requestfailed', (r) => end(r, r.failure()?.errorText || 'failed'));
  return { done, open };
}

async function watch(stalls) {
  const browser = await launchBrowser({ viewport: { width: viewW, height: viewH } });
  let requests = null;
  if (traceFile) {
    await browser.context.addInitScript(traceHls);
    requests = traceRequests(browser.page);
  }
  try {
    await waitFor(async () => (await fetch(`${http}/live/${event}/master.m3u8`)).ok, 60000, { what: 'master' });
    await browser.page.goto(`${http}/watch/${event}`);
    await waitForPlaying(browser.page, 60000);
    await browser.page.evaluate(() => {
      window.__soakWaiting = 0;
      document.querySelector('video').addEventListener('waiting', () => (window.__soakWaiting += 1));
    });
    let last = null;
    let frozenSince = null;
    let logsAt = 0;
    // The page's console lines (with the failing URL for a failed load), for the stalls.
    const pageLines = [];
    browser.page.on('console', (m) => {
      const url = m.type() === 'error' ? m.location()?.url : '';
      pageLines.push(`[${m.type()}] ${m.text()}${url ? ` (${url})` : ''}`);
      if (pageLines.length > 2000) {
        pageLines.splice(0, 1000);
        logsAt = Math.max(0, logsAt - 1000);
      }
    });
    let frozenState = null;
    while (Date.now() < endAt) {
      await sleep(250);
      const s = await browser.page.evaluate(() => {
        const v = document.querySelector('video');
        return { ct: v.currentTime, paused: v.paused, waiting: window.__soakWaiting, height: v.videoHeight };
      });
      const now = Date.now();
      stalls.waitingEvents = s.waiting;
      if (s.height) stalls.heights[s.height] = (stalls.heights[s.height] || 0) + 1;
      if (last && !s.paused && s.ct <= last.ct + 0.01) {
        if (frozenSince == null) {
          frozenSince = now - 250;
          logsAt = pageLines.length;
          frozenState = await browser.page.evaluate(playbackState).catch((e) => String(e));
        }
      } else if (frozenSince != null) {
        const ms = now - frozenSince;
        if (ms >= 1000) {
          // What the player saw: where the buffer ended against the playhead when the
          // picture froze and when it moved again (a second buffered range starting past
          // the first one's end is a hole it had to be nudged over), and what the page
          // logged in between.
          const after = await browser.page.evaluate(playbackState).catch((e) => String(e));
          const logs = pageLines.slice(logsAt).slice(-12);
          const stall = { at: new Date(frozenSince).toISOString(), ms, state: frozenState, after, logs };
          stalls.frozen.push(stall);
          console.log(`SOAK_STALL ${JSON.stringify(stall)}`);
          if (traceFile) {
            const from = frozenSince - 4000;
            const hlsLines = await browser.page
              .evaluate((t) => (window.__hlsTrace || []).filter((l) => l[0] >= t), from)
              .catch(() => []);
            const reqs = requests.done.filter((r) => r.end >= from);
            const pending = [...requests.open].map(([r, t]) => ({ url: r.url().replace(http, ''), start: t }));
            appendFileSync(traceFile, JSON.stringify({ stall, hls: hlsLines, requests: reqs, pending }) + '\n');
            // The parts and init segments the player loaded meanwhile, kept beside the
            // trace for a look at their timestamps.
            const dir = `${traceFile}.media/${stall.at.replace(/[:.]/g, '-')}`;
            mkdirSync(dir, { recursive: true });
            const media = reqs.filter((r) => /\.(m4s|mp4)(\?|$)/.test(r.url));
            if (media.length) media.push({ url: media[0].url.replace(/[^/]*$/, 'init.mp4') });
            for (const r of media) {
              const name = r.url.replace(/^\/live\//, '').replace(/[/?&=]/g, '_');
              try {
                const res = await fetch(http + r.url);
                if (res.ok) writeFileSync(`${dir}/${name}`, Buffer.from(await res.arrayBuffer()));
              } catch (_) {
                /* gone from the window: left out */
              }
            }
          }
        }
        frozenSince = null;
      }
      last = s;
    }
    stalls.pageErrors = browser.errors.length;
  } finally {
    await browser.close();
  }
}

const proc = [];
const lags = [];
const stalls = { waitingEvents: 0, frozen: [], pageErrors: 0, heights: {} };
const sampler = (async () => {
  let n = 0;
  while (Date.now() < endAt) {
    const s = procSample();
    if (s) proc.push(s);
    if (++n % 6 === 0 && s) {
      const recent = lags.filter((l) => l.t > Date.now() - 60000).map((l) => l.lag);
      console.log(
        `SOAK_SAMPLE t=${((Date.now() - (endAt - Number(minutesArg) * 60000)) / 60000).toFixed(1)}min` +
          ` rss=${(s.rss / 1048576).toFixed(1)}MiB fds=${s.fds}` +
          ` pdt_lag_median=${recent.length ? Math.round(median(recent)) : 'n/a'}ms` +
          ` stalls=${stalls.frozen.length} waiting=${stalls.waitingEvents}`,
      );
    }
    await sleep(10000);
  }
})();

await Promise.all([followEdge(lags), watch(stalls), sampler]);

// Drift: median lag over the first and the last tenth of the run (at least a minute).
const span = Math.max(60000, (Number(minutesArg) * 60000) / 10);
const t0 = lags.length ? lags[0].t : 0;
const t1 = lags.length ? lags[lags.length - 1].t : 0;
const head = lags.filter((l) => l.t <= t0 + span).map((l) => l.lag);
const tail = lags.filter((l) => l.t >= t1 - span).map((l) => l.lag);
// Growth: the process's median over the tenth after warm-up (the first tenth) against
// its median over the last tenth. Medians, as for the drift: one sample of open files
// counts the viewers' requests in flight at that instant (±10 on a 60-file process).
const pt0 = proc[0].t;
const pt1 = proc[proc.length - 1].t;
const warmWindow = proc.filter((p) => p.t >= pt0 + span && p.t < pt0 + 2 * span);
const lastWindow = proc.filter((p) => p.t >= pt1 - span);
const mid = (ps, key) => median(ps.map((p) => p[key]));
const base = warmWindow.length ? { rss: mid(warmWindow, 'rss'), fds: mid(warmWindow, 'fds') } : proc[0];
const lastP = lastWindow.length ? { rss: mid(lastWindow, 'rss'), fds: mid(lastWindow, 'fds') } : proc[proc.length - 1];
const report = {
  minutes: Number(minutesArg),
  pdt_lag_ms_start: head.length ? Math.round(median(head)) : null,
  pdt_lag_ms_end: tail.length ? Math.round(median(tail)) : null,
  pdt_drift_ms: head.length && tail.length ? Math.round(median(tail) - median(head)) : null,
  pdt_samples: lags.length,
  rss_mib_after_warmup: +(base.rss / 1048576).toFixed(1),
  rss_mib_end: +(lastP.rss / 1048576).toFixed(1),
  rss_mib_max: +(Math.max(...proc.map((p) => p.rss)) / 1048576).toFixed(1),
  rss_growth_pct: +(((lastP.rss - base.rss) / base.rss) * 100).toFixed(1),
  fds_after_warmup: base.fds,
  fds_end: lastP.fds,
  fds_max: Math.max(...proc.map((p) => p.fds)),
  fd_growth_pct: +(((lastP.fds - base.fds) / base.fds) * 100).toFixed(1),
  hls_stalls: stalls.frozen.length,
  hls_stall_ms_total: stalls.frozen.reduce((s, f) => s + f.ms, 0),
  hls_stalls_list: stalls.frozen.slice(0, 20),
  video_waiting_events: stalls.waitingEvents,
  page_errors: stalls.pageErrors,
  viewer_window: `${viewW}x${viewH}`,
  // Seconds the viewer played each picture height (sampled every 250 ms).
  viewer_heights_s: Object.fromEntries(Object.entries(stalls.heights).map(([h, n]) => [h, n / 4])),
};
console.log(`SOAK_REPORT ${JSON.stringify(report)}`);
