// Live captions end to end: a publisher (ffmpeg, RTMP, 640x360), a captioner typing on
// /caption/{event} in one Chromium, a viewer on /watch/{event} in another with captions
// turned on (CC). Each typed line is shown by the viewer's player (an active cue of the
// stream's subtitles track, loaded by hls.js from the WebVTT rendition) within 1 s of
// the line's program time, as measured on the viewer's own program time (hls.js
// playingDate) when the cue became active. Also: a correction of the last line
// (Up arrow, Enter) reaches the viewer instead of the first text; the captions API
// refuses a wrong token; the replay's whole captions.vtt holds the lines; and the extra
// requests captions cost a viewer are counted per media segment (none while CC is off).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cleanup,
  dumpDiagnostics,
  get,
  launchBrowser,
  sleep,
  startAmphi,
  startPublisher,
  waitFor,
  waitForPlaying,
} from './harness.mjs';

const EVENT = 'lecture';
const SEGMENT_S = 2;

// In the viewer page: logs every cue of every text track when it becomes active, with
// the program time then on screen.
function installCueLog(page) {
  return page.evaluate(() => {
    window.__cues = [];
    const seen = new Set();
    const watch = (track) => {
      if (seen.has(track)) return;
      seen.add(track);
      track.addEventListener('cuechange', () => {
        const hls = window.amphiPlayer && window.amphiPlayer.hls;
        const d = hls && hls.playingDate;
        for (const c of Array.from(track.activeCues || [])) {
          if (window.__cues.some((x) => x.text === c.text)) continue;
          window.__cues.push({ text: c.text, pdt: d ? d.getTime() : null, wall: Date.now(), cueStart: c.startTime, currentTime: document.getElementById('video').currentTime });
        }
      });
    };
    const v = document.getElementById('video');
    Array.from(v.textTracks).forEach(watch);
    v.textTracks.addEventListener('addtrack', (e) => watch(e.track));
  });
}

// In the viewer page: a short log of hls.js's subtitle loading (what it requested,
// what it parsed, each playlist's range), for the failure message.
function installSubtitleLog(page) {
  return page.evaluate(() => {
    const hls = window.amphiPlayer && window.amphiPlayer.hls;
    if (!hls) return;
    const log = (window.__subsLog = []);
    const add = (s) => {
      log.push(`${(performance.now() / 1000).toFixed(2)} ${s}`);
      // The first entries (how loading began) and the latest.
      if (log.length > 70) log.splice(40, 1);
    };
    const E = hls.constructor.Events;
    const fp = (frag, part) => `${frag.sn}${part ? '.' + part.index : ''}@${(part || frag).start.toFixed(3)}+${(part || frag).duration.toFixed(3)} cc${frag.cc}`;
    hls.on(E.SUBTITLE_TRACK_LOADED, (_, d) => {
      const x = d.details;
      add(`playlist [${x.startSN},${x.endSN}] hint ${x.fragmentHint ? x.fragmentHint.sn + '@' + x.fragmentHint.start.toFixed(3) : '-'} parts ${x.partList ? x.partList.length : 0} live ${x.live}`);
    });
    hls.on(E.FRAG_LOADING, (_, d) => d.frag.type === 'subtitle' && add(`loading ${fp(d.frag, d.part)}`));
    hls.on(E.FRAG_LOADED, (_, d) => d.frag.type === 'subtitle' && add(`loaded ${fp(d.frag, d.part)} ${d.payload ? d.payload.byteLength : '-'} bytes`));
    hls.on(E.INIT_PTS_FOUND, (_, d) => add(`initPTS ${d.id} cc${d.frag.cc}`));
    hls.on(E.SUBTITLE_FRAG_PROCESSED, (_, d) => add(`processed ${fp(d.frag, d.part)} ${d.success ? 'ok' : 'FAILED ' + (d.error && d.error.message)}`));
    hls.on(E.ERROR, (_, d) => d.frag && d.frag.type === 'subtitle' && add(`error ${d.details} ${fp(d.frag, d.part)}`));
  });
}

// The subtitle stream controller's state, read from hls.js's internals (diagnostics only).
function subtitleControllerState(page) {
  return page.evaluate(() => {
    const hls = window.amphiPlayer && window.amphiPlayer.hls;
    const c = hls && (hls.networkControllers || []).find((n) => n && 'tracksBuffered' in n);
    if (!c) return null;
    const f = c.fragCurrent;
    return {
      state: c.state,
      loadingParts: c.loadingParts,
      fragCurrent: f ? `${f.sn}@${f.start}` : null,
      fragPrevious: c.fragPrevious ? c.fragPrevious.sn : null,
      buffered: JSON.stringify(c.tracksBuffered),
      playhead: document.getElementById('video').currentTime,
      log: window.__subsLog,
    };
  });
}

// Types a line on the captioner page; returns the cue times the server gave it.
async function typeLine(cap, text) {
  const before = await cap.evaluate(() => document.querySelectorAll('#cap-sent li').length);
  await cap.type('#cap-line', text, { delay: 5 });
  await cap.keyboard.press('Enter');
  return waitFor(
    () =>
      cap.evaluate(
        ({ text, before }) => {
          const items = Array.from(document.querySelectorAll('#cap-sent li'));
          if (items.length <= before) return null;
          const li = items.find((l) => l.textContent === text && l.dataset.start);
          return li ? { start: Number(li.dataset.start), end: Number(li.dataset.end), status: li.dataset.status } : null;
        },
        { text, before },
      ),
    10000,
    { intervalMs: 50, what: `the server to take "${text}"` },
  );
}

// Types `typo` and Enter on the captioner page, then, once the server took it, Up arrow,
// `fixed` and Enter, with the page's own handlers; returns both lines' server times.
function typoCorrected(cap, typo, fixed) {
  return cap.evaluate(
    async ({ typo, fixed }) => {
      const line = document.getElementById('cap-line');
      const taken = async (text, status) => {
        for (let i = 0; i < 2000; i++) {
          const li = Array.from(document.querySelectorAll('#cap-sent li')).find(
            (l) => l.textContent === text && l.dataset.start && (!status || l.dataset.status === status),
          );
          if (li) return { start: Number(li.dataset.start), end: Number(li.dataset.end), status: li.dataset.status };
          await new Promise((r) => setTimeout(r, 5));
        }
        return null;
      };
      line.value = typo;
      line.form.requestSubmit();
      const first = await taken(typo);
      const t0 = performance.now();
      line.focus();
      line.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowUp', bubbles: true, cancelable: true }));
      line.value = fixed;
      line.form.requestSubmit();
      const second = await taken(fixed, 'corrected');
      return { typo: first, fixed: second, tookMs: Math.round(performance.now() - t0) };
    },
    { typo, fixed },
  );
}

// How a line reaches the viewer: the packager publishes it in the next WebVTT part of
// the subtitles rendition once it has been held for one part (the grace in which the
// captioner may still correct it), and hls.js, in low-latency mode, loads that part as
// soon as a blocking reload of the subtitles playlist lists it. Requests: one blocking
// subtitles playlist reload and one WebVTT part per part (about 12 per segment per
// viewer, all cacheable, so behind a cache the origin's count does not grow with viewers).
test('captions typed on the captioner page are shown by a viewer within 1 s of their program time', {
  timeout: 240000,
}, async () => {
  let amphi, pub, viewer, captioner;
  try {
    amphi = await startAmphi({ events: [`${EVENT}:secretkey`] });
    const token = await amphi.moderatorToken(EVENT);
    pub = startPublisher(amphi.rtmp, 'secretkey', { size: '640x360' });

    // The multivariant playlist names the subtitles rendition on every variant.
    const master = await waitFor(async () => {
      const r = await get(`${amphi.http}/live/${EVENT}/master.m3u8`);
      return r.status === 200 && r.text;
    }, 30000, { what: 'the multivariant playlist' });
    assert.match(master, /#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",[^\n]*URI="subs\/index.m3u8"/);
    const variants = master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF:'));
    assert.ok(variants.length > 0 && variants.every((l) => l.includes('SUBTITLES="subs"')), master);

    // A wrong token is refused, nothing is held.
    const refused = await fetch(`${amphi.http}/api/events/${EVENT}/captions`, {
      method: 'POST',
      headers: { Authorization: 'Bearer not-the-token', 'Content-Type': 'application/json' },
      body: JSON.stringify({ cues: [{ start: Date.now(), end: Date.now() + 2000, text: 'intruder' }] }),
    });
    assert.equal(refused.status, 403);

    viewer = await launchBrowser();
    const subsRequests = [];
    viewer.page.on('request', (r) => {
      if (r.url().includes('/subs/')) subsRequests.push({ url: r.url(), at: Date.now() });
    });
    // The player restarts a stalled subtitles loading (captions.js) and says so.
    const restarts = [];
    viewer.page.on('console', (m) => {
      if (m.text().includes('subtitles loading restarted')) restarts.push(m.text());
    });
    viewer.page.on('response', (r) => {
      if (r.status() >= 400) console.log(`viewer: ${r.status()} ${r.url()}`);
    });
    await viewer.page.goto(`${amphi.http}/watch/${EVENT}`);
    await waitForPlaying(viewer.page, 60000, 'the viewer to play');
    await installCueLog(viewer.page);

    // CC off: captions cost the viewer nothing.
    await sleep(3 * SEGMENT_S * 1000);
    assert.equal(subsRequests.length, 0, `requests for subtitles while captions are off: ${subsRequests.map((r) => r.url).join(', ')}`);

    await viewer.page.waitForSelector('#cc:not([hidden])', { timeout: 10000 });
    await installSubtitleLog(viewer.page);
    await viewer.page.click('#cc');
    await waitFor(() => viewer.page.evaluate(() => Array.from(document.getElementById('video').textTracks).some((t) => t.mode === 'showing')), 5000, { what: 'a showing text track' });
    const ccOnAt = Date.now();

    captioner = await launchBrowser();
    const cap = captioner.page;
    await cap.goto(`${amphi.http}/caption/${EVENT}#token=${token}`);
    assert.ok(!cap.url().includes('token='), 'the token leaves the address bar');
    await waitFor(() => cap.evaluate(() => /^Program time \d/.test(document.getElementById('cap-time').textContent)), 60000, {
      what: 'the captioner page to play',
    });

    // The captioner starts typing once their player has caught up with the live edge as
    // the viewer's has (a line is stamped with the program time on the captioner's
    // screen: a captioner further behind stamps it at a moment viewers have passed).
    const viewerLatency = () =>
      viewer.page.evaluate(() => {
        const d = window.amphiPlayer && window.amphiPlayer.hls && window.amphiPlayer.hls.playingDate;
        return d ? Date.now() - d.getTime() : null;
      });
    // The captioner page shows its program time every 250 ms: the least of a few readings.
    const captionerLatency = () =>
      cap.evaluate(async () => {
        let best = Infinity;
        for (let i = 0; i < 6; i++) {
          const m = /(\d\d):(\d\d):(\d\d)\.(\d\d\d)/.exec(document.getElementById('cap-time').textContent);
          if (m) {
            const now = new Date();
            const t = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), +m[1], +m[2], +m[3], +m[4]);
            best = Math.min(best, Date.now() - t);
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        return best;
      });
    const settleFrom = Date.now();
    const latencies = await waitFor(
      async () => {
        const [v, c] = [await viewerLatency(), await captionerLatency()];
        return v != null && c <= v + 200 ? { v, c } : null;
      },
      15000,
      { intervalMs: 100, what: 'the captioner to catch up with the live edge as the viewer has' },
    ).catch(async () => ({ v: await viewerLatency(), c: await captionerLatency(), late: true }));
    console.log(
      `latency: viewer ${latencies.v} ms, captioner ${latencies.c} ms${latencies.late ? ' (not caught up)' : ''}, after ${Date.now() - settleFrom} ms`,
    );

    const lines = ['Today: entropy and information', 'A fair coin carries one bit', 'Two coins carry two bits'];
    const sent = [];
    for (const text of lines) {
      sent.push({ text, ...(await typeLine(cap, text)) });
      await sleep(2500);
    }
    // A typo, corrected at once (Up arrow, fix, Enter, within the line's correction
    // grace of one to two parts, so driven in the page): the viewer gets the corrected
    // text only.
    const { typo, fixed, tookMs } = await typoCorrected(cap, 'Shannon, 1984', 'Shannon, 1948');
    console.log(`typo corrected ${tookMs} ms after the server took it`);
    assert.ok(typo && fixed, `typo ${JSON.stringify(typo)}, correction ${JSON.stringify(fixed)}`);
    assert.equal(fixed.status, 'corrected', 'the correction replaced the held line');
    assert.equal(fixed.start, typo.start);
    sent.push({ text: 'Shannon, 1948', ...fixed });

    let lastLog = [];
    const shown = await waitFor(
      async () => {
        lastLog = await viewer.page.evaluate(() => window.__cues);
        return sent.every((s) => lastLog.some((c) => c.text === s.text)) ? lastLog : null;
      },
      30000,
      { what: 'the viewer to show every line' },
    ).catch((e) => {
      const tracks = subsRequests.slice(-8).map((r) => r.url.replace(/^.*\/subs\//, ''));
      const vtts = subsRequests.filter((r) => r.url.endsWith('.vtt')).length;
      return viewer.page
        .evaluate(() => {
          const hls = window.amphiPlayer && window.amphiPlayer.hls;
          const v = document.getElementById('video');
          return {
            subtitleTrack: hls ? hls.subtitleTrack : null,
            modes: Array.from(v.textTracks).map((t) => `${t.kind}:${t.mode}:${t.cues ? t.cues.length : '-'}`),
          };
        })
        .then(async (state) => {
          console.log(`subtitle controller: ${JSON.stringify(await subtitleControllerState(viewer.page), null, 1)}`);
          throw new Error(
            `${e.message}; sent ${JSON.stringify(sent)}; shown ${JSON.stringify(lastLog)}; ${vtts} WebVTT requests in all, last subtitles requests ${tracks.join(' ')}; player ${JSON.stringify(state)}`,
          );
        });
    });
    const report = [];
    const delays = sent.map((s) => {
      const c = shown.find((x) => x.text === s.text);
      assert.ok(c.pdt, `program time on screen when "${s.text}" showed`);
      const delay = c.pdt - s.start;
      report.push(`${s.text}: shown at program time ${delay >= 0 ? '+' : ''}${delay} ms (${s.status}; cue at ${c.cueStart.toFixed(3)} s, video at ${c.currentTime.toFixed(3)} s)`);
      return delay;
    });
    console.log(report.join('\n'));
    assert.ok(!shown.some((c) => c.text === 'Shannon, 1984'), 'the typo never reached the viewer');

    // Extra requests while captions are on, per media segment of viewing.
    await sleep(4 * SEGMENT_S * 1000);
    const onWindow = subsRequests.filter((r) => r.at >= ccOnAt);
    const segments = (Date.now() - ccOnAt) / 1000 / SEGMENT_S;
    const playlists = onWindow.filter((r) => r.url.includes('index.m3u8')).length;
    const vtts = onWindow.filter((r) => r.url.endsWith('.vtt')).length;
    const perSegment = onWindow.length / segments;
    report.push(`subtitles loading restarted by the player ${restarts.length} time(s)${restarts.length ? ': ' + restarts.join('; ') : ''}`);
    report.push(
      `captions on for ${segments.toFixed(1)} segments: ${playlists} subtitles playlist requests, ${vtts} WebVTT segments (${perSegment.toFixed(2)} requests per segment per viewer)`,
    );
    // Every one is cacheable: immutable .vtt, blocking playlists cached by their URL.
    const sample = onWindow.find((r) => r.url.endsWith('.vtt'));
    assert.ok(sample, 'the viewer fetched WebVTT segments');
    const head = await fetch(sample.url);
    assert.match(head.headers.get('cache-control') || '', /immutable/);
    assert.equal(head.headers.get('content-type'), 'text/vtt');
    assert.ok(perSegment < 16, `captions cost ${perSegment.toFixed(2)} requests per segment per viewer`);

    // The replay's whole file (written every few segments while live).
    const whole = await waitFor(async () => {
      const r = await get(`${amphi.http}/live/${EVENT}/subs/captions.vtt`);
      return r.status === 200 && sent.every((s) => r.text.includes(s.text)) && r.text;
    }, 30000, { what: 'captions.vtt to hold every line' });
    assert.ok(whole.startsWith('WEBVTT\n'));
    assert.ok(!whole.includes('Shannon, 1984'));
    console.log(report.join('\n'));
    delays.forEach((d, i) => assert.ok(Math.abs(d) <= 1000, `"${sent[i].text}" shown ${d} ms from its program time`));
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [pub], browser: viewer });
    throw e;
  } finally {
    await cleanup(captioner, viewer, pub, amphi);
  }
});
