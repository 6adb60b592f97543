// The encoder drops (SIGKILL, like OBS losing its network) and comes back with the same
// key 3 s later: the open page plays again within 10 s of the new publish, without reload.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cleanup, dumpDiagnostics, get, launchBrowser, playerStats, sleep, startAmphi, startPublisher,
  waitFor, waitForPlaying,
} from './harness.mjs';

// 720p is enough to exercise a ladder and cheaper on small machines.
const SIZE = process.env.AMPHI_TEST_SIZE || '1280x720';

test('player recovers from a publisher reconnect without a page reload', { timeout: 150000 }, async () => {
  let amphi, first, second, browser;
  try {
    amphi = await startAmphi();
    first = startPublisher(amphi.rtmp, 'secretkey', { size: SIZE });
    const master = `${amphi.http}/live/lecture/master.m3u8`;
    await waitFor(async () => (await get(master)).status === 200, 30000, { intervalMs: 500, what: `${master} to exist` });

    browser = await launchBrowser();
    const { page } = browser;
    let navigations = 0;
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations++;
    });
    await page.goto(`${amphi.http}/watch/lecture`);
    await waitForPlaying(page, 25000);
    await sleep(2000);
    const marker = `m${Math.random().toString(36).slice(2)}`;
    await page.evaluate((m) => {
      window.__amphiMarker = m;
    }, marker);
    const navigationsBefore = navigations;
    const before = await playerStats(page);

    // Encoder gone.
    await first.kill('SIGKILL');
    const killedAt = Date.now();
    await sleep(3000);
    const during = await playerStats(page);
    console.log(`3 s after the publisher died: state ${during.state}, currentTime ${during.currentTime.toFixed(2)}`);

    // Encoder back with the same key.
    second = startPublisher(amphi.rtmp, 'secretkey', { size: SIZE });
    const publishAt = second.startedAt;

    // Recovered = the frame on screen comes from the new publish (its program date-time is
    // after the publish started, give or take a second of clock rounding) and time advances.
    let prev = null;
    const recovered = await waitFor(
      async () => {
        const s = await playerStats(page);
        const advancing = prev && s.currentTime > prev.currentTime + 0.1 && !s.paused;
        const fromNewPublish = s.playingDate == null ? s.currentTime > during.currentTime + 1 : s.playingDate >= publishAt - 1000;
        prev = s;
        return advancing && fromNewPublish ? { ...s, at: Date.now() } : false;
      },
      20000,
      { intervalMs: 250, what: 'playback of the new publish' },
    );
    const recoveryMs = recovered.at - publishAt;

    // And it keeps playing.
    const a = await playerStats(page);
    await sleep(2000);
    const b = await playerStats(page);
    const after = b.currentTime - a.currentTime;

    console.log(
      `recovery: playing again ${(recoveryMs / 1000).toFixed(2)} s after the new publish ` +
        `(${((recovered.at - killedAt) / 1000).toFixed(2)} s after the encoder died), ` +
        `player recoveries ${before.recoveries} -> ${b.recoveries}, state ${b.state}, ` +
        `latency ${b.latency?.toFixed(2)} s, glass-to-glass ${b.pdtLatency == null ? 'n/a' : (b.pdtLatency / 1000).toFixed(2) + ' s'}`,
    );
    assert.ok(recoveryMs <= 10000, `recovered ${recoveryMs} ms after the new publish`);
    assert.ok(after >= 1.2, `currentTime advanced ${after.toFixed(2)} s in 2 s after recovery`);
    assert.equal(await page.evaluate(() => window.__amphiMarker), marker, 'page was not reloaded (marker kept)');
    assert.equal(navigations, navigationsBefore, 'no navigation happened');
    assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), 1);
    assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [first, second], browser });
    throw e;
  } finally {
    await cleanup(browser, second, first, amphi);
  }
});
