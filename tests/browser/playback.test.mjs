// A 1080p publisher through amphi to Chromium: the video plays, the quality menu lists the
// ladder and the live latency (hls.js's and the program-date-time one) stays under 4 s.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertAdvances, cleanup, dumpDiagnostics, get, launchBrowser, playerStats, sleep, startAmphi, startPublisher,
  waitFor, waitForPlaying,
} from './harness.mjs';

const LADDER = [1080, 720, 480, 360];

test('1080p publish plays in Chromium with the full ladder and < 4 s latency', { timeout: 120000 }, async () => {
  let amphi, publisher, browser;
  try {
    amphi = await startAmphi();
    publisher = startPublisher(amphi.rtmp, 'secretkey', { preEncoded: true });
    const master = `${amphi.http}/live/lecture/master.m3u8`;
    await waitFor(async () => (await get(master)).status === 200, 30000, { intervalMs: 500, what: `${master} to exist` });

    browser = await launchBrowser();
    const { page } = browser;
    await page.goto(`${amphi.http}/watch/lecture`);
    await waitForPlaying(page, 25000);

    // currentTime advances in real time (after a moment to settle from the start).
    const b = await assertAdvances(page);

    // The quality menu lists Auto plus every rendition at or below the source height.
    const expected = LADDER.filter((h) => h <= publisher.height);
    const options = await page.$$eval('#quality option', (os) => os.map((o) => ({ value: o.value, text: o.textContent })));
    assert.equal(options[0].value, '-1', 'first option is Auto');
    const heights = options.slice(1).map((o) => Number(/(\d+)p/.exec(o.text)?.[1]));
    assert.deepEqual(heights, expected, `quality menu: ${options.map((o) => o.text).join(' | ')}`);
    assert.deepEqual([...b.levels].sort((x, y) => y - x), expected, 'hls.js levels');

    // Let the latency controller settle, then take the median of a few seconds of samples.
    await sleep(8000);
    const samples = [];
    for (let i = 0; i < 8; i++) {
      samples.push(await playerStats(page));
      await sleep(500);
    }
    const median = (xs) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    const latency = median(samples.map((s) => s.latency));
    const pdt = samples.every((s) => s.pdtLatency != null) ? median(samples.map((s) => s.pdtLatency)) : null;
    const last = samples.at(-1);
    console.log(
      `latency: hls.js ${latency.toFixed(2)} s (target ${last.targetLatency}), ` +
        `program-date-time (glass-to-glass) ${pdt == null ? 'n/a' : (pdt / 1000).toFixed(2) + ' s'}, ` +
        `playing ${last.height}p, recoveries ${last.recoveries}`,
    );
    assert.ok(latency > 0 && latency < 4, `hls.js latency ${latency} s`);
    assert.ok(pdt != null, 'hls.playingDate is available (EXT-X-PROGRAM-DATE-TIME)');
    assert.ok(pdt < 4000, `program-date-time latency ${pdt} ms`);
    assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    await cleanup(browser, publisher, amphi);
  }
});
