// A private event in Chromium: /watch/{event}?token=VALID plays (the player turns the
// query parameter into the /live/{event}/t/{token}/ path), and without a token it does not.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import {
  assertAdvances, cleanup, dumpDiagnostics, get, launchBrowser, playerStats, sleep, startAmphi, startPublisher,
  waitFor, waitForPlaying,
} from './harness.mjs';

const EVENT = 'seminar';
const SECRET = 'browser-viewer-secret';

// What a course platform does with the event's viewer secret.
function viewerToken(secret, event, expiresUnix) {
  const mac = createHmac('sha256', secret).update(`${event}|${expiresUnix}`).digest('base64url');
  return `${expiresUnix}.${mac}`;
}

test('a private event plays with a viewer token and not without', { timeout: 120000 }, async () => {
  let amphi, publisher, browser;
  try {
    // amphi inherits it and signs with it (`--event ID:KEY:private`).
    process.env.AMPHI_VIEWER_SECRET = SECRET;
    amphi = await startAmphi({ events: [`${EVENT}:secretkey:private`] });
    publisher = startPublisher(amphi.rtmp, 'secretkey', { size: '640x360' });
    const token = viewerToken(SECRET, EVENT, Math.floor(Date.now() / 1000) + 600);
    const master = `${amphi.http}/live/${EVENT}/t/${token}/master.m3u8`;
    await waitFor(async () => (await get(master)).status === 200, 30000, { intervalMs: 500, what: `${master} to exist` });
    assert.equal((await get(`${amphi.http}/live/${EVENT}/master.m3u8`)).status, 401);

    browser = await launchBrowser();
    const { page } = browser;

    // Without a token: the page loads but the video never plays.
    await page.goto(`${amphi.http}/watch/${EVENT}`);
    await sleep(6000);
    const denied = await playerStats(page);
    assert.ok(!denied || denied.currentTime === 0, `no playback without a token (currentTime ${denied && denied.currentTime})`);

    // With a token: it plays, and currentTime advances in real time.
    await page.goto(`${amphi.http}/watch/${EVENT}?token=${encodeURIComponent(token)}`);
    await waitForPlaying(page, 25000);
    await assertAdvances(page);
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    delete process.env.AMPHI_VIEWER_SECRET;
    await cleanup(browser, publisher, amphi);
  }
});
