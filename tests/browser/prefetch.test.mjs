// The player's preload-hint loaders: parts named by EXT-X-PRELOAD-HINT are requested as
// soon as the playlist names them (by fetch, before hls.js asks), and hls.js gets those
// bytes instead of downloading the part again. Prints the latency with and without them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cleanup, dumpDiagnostics, get, launchBrowser, playerStats, sleep, startAmphi, startPublisher,
  waitFor, waitForPlaying,
} from './harness.mjs';

const PART = /\/part\d+\.\d+\.m4s$/;

async function watch(browser, url, seconds) {
  const page = await browser.context.newPage();
  const requests = [];
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (PART.test(path)) requests.push({ path, by: r.resourceType() });
  });
  await page.goto(url);
  await waitForPlaying(page, 25000);
  await sleep(seconds * 1000);
  const samples = [];
  for (let i = 0; i < 6; i++) {
    samples.push((await playerStats(page)).latency);
    await sleep(500);
  }
  await page.close();
  const latency = samples.sort((a, b) => a - b)[3];
  return { requests, latency };
}

test('hinted parts are fetched early, once, and played', { timeout: 150000 }, async () => {
  let amphi, publisher, browser;
  try {
    amphi = await startAmphi();
    publisher = startPublisher(amphi.rtmp, 'secretkey', { size: '640x360' });
    const master = `${amphi.http}/live/lecture/master.m3u8`;
    await waitFor(async () => (await get(master)).status === 200, 30000, { intervalMs: 500, what: `${master} to exist` });
    browser = await launchBrowser();

    const plain = await watch(browser, `${amphi.http}/watch/lecture?prefetch=0`, 10);
    const hinted = await watch(browser, `${amphi.http}/watch/lecture`, 10);

    const count = (reqs, by) => reqs.filter((r) => r.by === by).length;
    const perPath = new Map();
    for (const r of hinted.requests) perPath.set(r.path, (perPath.get(r.path) || 0) + 1);
    const twice = [...perPath.values()].filter((n) => n > 1).length;
    console.log(
      `prefetch: ${count(hinted.requests, 'fetch')} hinted parts fetched early, ${count(hinted.requests, 'xhr')} by hls.js, ` +
        `${twice} of ${perPath.size} parts downloaded twice; latency ${hinted.latency.toFixed(2)} s ` +
        `(without the loaders: ${plain.latency.toFixed(2)} s, ${count(plain.requests, 'fetch')} early)`,
    );
    assert.equal(count(plain.requests, 'fetch'), 0, 'prefetch=0 turns the loaders off');
    assert.ok(count(hinted.requests, 'fetch') >= 10, 'hinted parts are fetched early');
    assert.ok(
      count(hinted.requests, 'fetch') > count(hinted.requests, 'xhr'),
      'most parts come from the early requests',
    );
    assert.ok(twice <= Math.max(2, perPath.size * 0.1), `${twice} parts downloaded twice`);
    assert.ok(hinted.latency > 0 && hinted.latency < 4, `latency ${hinted.latency} s with the loaders`);
    assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    await cleanup(browser, publisher, amphi);
  }
});
