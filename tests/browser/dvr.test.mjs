// DVR during the live: a viewer of a 360p lecture goes back 60 s from the seek bar (with
// the keyboard), beyond the 24 s live window: the player switches to the DVR playlist and
// shows the lecture as it was a minute earlier (program date-time), the Live button says how far behind; one click
// on it returns to the low-latency live playlist, under 2 s behind the live edge again.
// Ten seconds back stays on the live playlist, where the viewer chose, until Live.
// Prints the requests the viewer made per minute on each playlist (the extra load of
// DVR on the origin or CDN).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cleanup, dumpDiagnostics, get, launchBrowser, playerStats, sleep, startAmphi, startPublisher,
  waitFor, waitForPlaying,
} from './harness.mjs';

const BACK_S = 60;
const MEASURE_MS = 12000;

// What a request asked for, by URL.
function kind(url) {
  const path = new URL(url).pathname;
  if (!path.startsWith('/live/')) return null;
  if (/\/dvr\.m3u8$/.test(path)) return path.split('/').length > 4 ? 'dvr playlist' : 'dvr master';
  if (/\/index(\.delta)?\.m3u8$/.test(path)) return 'live playlist';
  if (/\/master\.m3u8$/.test(path)) return 'master';
  if (/\/part\d+\.\d+\.m4s$/.test(path)) return 'part';
  if (/\/seg\d+\.m4s$/.test(path)) return 'segment';
  if (/\/init(-\d+)?\.mp4$/.test(path)) return 'init';
  return 'other';
}

async function countRequests(page, ms) {
  const counts = {};
  const on = (req) => {
    const k = kind(req.url());
    if (k) counts[k] = (counts[k] || 0) + 1;
  };
  page.on('request', on);
  await sleep(ms);
  page.off('request', on);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return { counts, perMinute: (total * 60000) / ms };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

test('a viewer goes back 60 s during the live and returns to live', { timeout: 300000 }, async () => {
  let amphi, publisher, browser;
  try {
    amphi = await startAmphi();
    publisher = startPublisher(amphi.rtmp, 'secretkey', { size: '640x360', bitrate: 600 });
    const master = `${amphi.http}/live/lecture/master.m3u8`;
    await waitFor(async () => (await get(master)).status === 200, 30000, { intervalMs: 500, what: `${master} to exist` });

    browser = await launchBrowser({ viewport: { width: 960, height: 720 } });
    const { page } = browser;
    await page.goto(`${amphi.http}/watch/lecture`);
    await waitForPlaying(page, 30000);

    // The seek bar and the Live button have accessible names.
    const seekName = await page.$eval('#seek', (el) => (el.labels && el.labels[0] ? el.labels[0].textContent : ''));
    assert.equal(seekName, 'Position in the lecture');

    // Requests per minute of a viewer on the live playlist.
    const live = await countRequests(page, MEASURE_MS);

    // The lecture must be older than the seek back plus the live window.
    await sleep(Math.max(0, publisher.startedAt + (BACK_S + 15) * 1000 - Date.now()));
    const dvrPlaylist = await get(`${amphi.http}/live/lecture/360p/dvr.m3u8`);
    assert.equal(dvrPlaylist.status, 200);
    assert.match(dvrPlaylist.text, /#EXT-X-PLAYLIST-TYPE:EVENT/);
    assert.match(dvrPlaylist.text, /#EXT-X-MEDIA-SEQUENCE:0\n/);

    const before = await playerStats(page);
    assert.equal(before.view, 'live');
    assert.ok(before.lectureStart != null, 'the player read the lecture start from the DVR playlist');
    const seekMax = Number(await page.$eval('#seek', (el) => el.max));
    assert.ok(seekMax >= BACK_S + 10, `the seek bar covers the lecture so far (max ${seekMax} s)`);

    // Page Down on the focused seek bar: one minute back.
    await page.focus('#seek');
    const focusVisible = await page.$eval('#seek', (el) => el.matches(':focus-visible') || getComputedStyle(el).outlineStyle !== 'none');
    assert.ok(focusVisible, 'the focused seek bar shows its focus');
    await page.keyboard.press('PageDown');
    // The moment chosen: the seek bar's value, in seconds from the lecture's start.
    const value = Number(await page.$eval('#seek', (el) => el.value));
    const target = before.lectureStart + value * 1000;
    assert.ok(Math.abs(target - (before.playingDate - BACK_S * 1000)) < 2500, 'Page Down goes one minute back');
    await waitFor(async () => (await playerStats(page)).view === 'dvr', 10000, { what: 'the player to switch to the DVR playlist' });
    const dvr = await waitForPlaying(page, 20000, 'the DVR playlist to play');

    // Program time on screen: the moment chosen (playback restarted there a moment ago).
    const fromTarget = dvr.playingDate - target;
    await sleep(2000);
    const s1 = await playerStats(page);
    console.log(
      `DVR: ${dvr.height}p, program time ${new Date(dvr.playingDate).toISOString()}, ` +
        `${(fromTarget / 1000).toFixed(2)} s after the moment chosen, ${s1.behind.toFixed(1)} s behind live`,
    );
    assert.ok(fromTarget > -2000 && fromTarget < 4000, `DVR plays ${(fromTarget / 1000).toFixed(2)} s from the moment chosen`);
    assert.ok(s1.behind > BACK_S - 5 && s1.behind < BACK_S + 8, `behind live by ${s1.behind} s`);
    const button = await page.$eval('#golive', (el) => ({ text: el.textContent, label: el.getAttribute('aria-label') }));
    const shown = /^Live \u2212(\d+):(\d\d)$/.exec(button.text);
    assert.ok(shown, `Live button: ${button.text}`);
    const shownS = Number(shown[1]) * 60 + Number(shown[2]);
    assert.ok(Math.abs(shownS - s1.behind) < 3, `Live button says ${button.text} for ${s1.behind.toFixed(1)} s behind`);
    assert.ok(button.label.startsWith(button.text), `Live button label: ${button.label}`);
    assert.match(button.label, /behind, go back to live/);

    // Requests per minute of a viewer on the DVR playlist; it keeps playing in real time.
    const a = await playerStats(page);
    const dvrLoad = await countRequests(page, MEASURE_MS);
    const b = await playerStats(page);
    assert.equal(b.view, 'dvr');
    assert.ok(b.playingDate - a.playingDate > MEASURE_MS - 4000, 'the DVR playlist plays on');

    // One click: back to the live playlist, under 2 s behind the live edge.
    const clickedAt = Date.now();
    await page.click('#golive');
    await waitFor(async () => (await playerStats(page)).view === 'live', 10000, { what: 'the live playlist' });
    await waitForPlaying(page, 20000, 'the live playlist to play again');
    console.log(`back to live: playing ${((Date.now() - clickedAt) / 1000).toFixed(1)} s after the click`);
    await sleep(3000);
    const samples = [];
    for (let i = 0; i < 8; i++) {
      samples.push(await playerStats(page));
      await sleep(500);
    }
    const latency = median(samples.map((s) => s.latency));
    const pdt = median(samples.map((s) => s.pdtLatency));
    console.log(`live again: hls.js latency ${latency.toFixed(2)} s, program-date-time ${(pdt / 1000).toFixed(2)} s`);
    assert.ok(latency < 2, `hls.js latency back to ${latency} s`);
    assert.ok(pdt < 2500, `program-date-time latency back to ${pdt} ms`);
    assert.equal(await page.$eval('#golive', (el) => el.textContent), 'Live');

    // Ten seconds back (inside the live window): the live playlist keeps playing there,
    // past the delay after which the latency policy would jump to the edge, until Live.
    await page.focus('#seek');
    await page.keyboard.press('ArrowLeft');
    await sleep(2000);
    const w1 = await playerStats(page);
    assert.equal(w1.view, 'live', 'a seek inside the window stays on the live playlist');
    assert.ok(w1.behind > 7 && w1.behind < 15, `10 s back: ${w1.behind} s behind`);
    await sleep(9000);
    const w2 = await playerStats(page);
    assert.ok(w2.view === 'live' && w2.behind > 7, `still behind by choice: ${w2.behind} s`);
    assert.ok(w2.currentTime - w1.currentTime > 7, 'and playing');
    // Live: a jump to the edge of the window hls.js already has (it rebuffers there, then
    // catches up).
    const jumpedAt = Date.now();
    await page.click('#golive');
    const w3 = await waitFor(
      async () => {
        const st = await playerStats(page);
        return st.behind < 2.5 ? st : false;
      },
      10000,
      { what: 'the live edge again after a seek inside the window' },
    );
    console.log(
      `inside the window: ${w1.behind.toFixed(1)} s then ${w2.behind.toFixed(1)} s behind; ` +
        `${w3.behind.toFixed(1)} s ${((Date.now() - jumpedAt) / 1000).toFixed(1)} s after Live`,
    );

    const fmt = (r) =>
      `${r.perMinute.toFixed(0)}/min (${Object.entries(r.counts).map(([k, v]) => `${k} ${v}`).join(', ')})`;
    console.log(`requests per viewer: live ${fmt(live)}; DVR ${fmt(dvrLoad)}; switching to DVR costs 2 playlist reads before hls.js starts`);
    assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    await cleanup(browser, publisher, amphi);
  }
});
