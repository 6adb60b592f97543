// The operator's console in Chromium: an admin made with `amphi user add` logs in at
// /admin, creates an event with the form, shows and copies its stream key (read back
// from the clipboard), an ffmpeg publisher goes live with that key (no restart: the
// server's directory follows the console); the event was made in preview, so the
// console's event page shows the stream's live checks (green for this OBS-like publisher),
// its green room link opens the preview page on the console session (no token asked),
// and Go live opens the event: the console shows it live, and a viewer plays it. No page
// error and no CSP violation on the way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addConsoleUser, cleanup, dumpDiagnostics, launchBrowser, startAmphi, startPublisher, waitFor, waitForPlaying,
} from './harness.mjs';

const SIZE = process.env.AMPHI_TEST_SIZE || '640x360';
const PASSWORD = 'a long console password';

test('admin logs in, creates an event, copies its key; the lecture goes live and plays', { timeout: 120000 }, async () => {
  let amphi, publisher, browser;
  try {
    amphi = await startAmphi({ events: [] });
    // Accounts are read at each login: adding one to a running server works.
    await addConsoleUser(amphi.dataDir, 'ada', 'admin', PASSWORD);
    browser = await launchBrowser();
    const { page, context } = browser;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: amphi.http });
    const cspViolations = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });

    await page.goto(`${amphi.http}/admin`);
    await page.getByLabel('User name').fill('ada');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await waitFor(async () => /Login refused/.test(await page.locator('#message').textContent()), 10000, {
      what: 'the wrong password to be refused',
    });
    await page.getByLabel('Password').fill(PASSWORD);
    await page.keyboard.press('Enter');
    await page.locator('#events-section').waitFor({ state: 'visible' });

    await page.getByRole('button', { name: 'New event' }).click();
    await page.getByLabel('Id (a-z, 0-9, - and _)').fill('physics');
    await page.getByLabel('Title').fill('Physics 101');
    await page.getByLabel('Description').fill('Waves and optics');
    await page.getByLabel('Start in preview: students wait until Go live').check();
    await page.getByRole('button', { name: 'Save' }).click();
    const row = page.locator('#events-body tr[data-id="physics"]');
    await row.waitFor();
    assert.equal((await row.locator('.status').textContent()).trim(), 'In preview');

    await page.getByRole('button', { name: 'Open Physics 101' }).click();
    await page.locator('#detail-section').waitFor({ state: 'visible' });
    assert.equal((await page.locator('#d-key').textContent()).trim(), '••••••••', 'key hidden until asked');
    await page.getByRole('button', { name: 'Copy key' }).click();
    await waitFor(async () => /copied/.test(await page.locator('#message').textContent()), 5000, {
      what: 'the key to be copied',
    });
    const key = await page.evaluate(() => navigator.clipboard.readText());
    assert.match(key, /^[A-Za-z0-9]{32}$/);
    await page.getByRole('button', { name: 'Show key' }).click();
    await waitFor(async () => (await page.locator('#d-key').textContent()).trim() === key, 5000, {
      what: 'the shown key to be the copied one',
    });
    assert.equal(await page.getByRole('button', { name: 'Hide key' }).getAttribute('aria-expanded'), 'true');
    const rtmpShown = (await page.locator('#d-rtmp').textContent()).trim();
    assert.equal(rtmpShown, amphi.rtmp, 'the OBS server shown is the one amphi listens on');
    assert.match(await page.locator('#d-iframe').textContent(), /\/embed\/physics"/);

    // OBS (ffmpeg here) publishes with the copied key: the event page shows its checks,
    // refreshed every second, and Go live.
    const published = Date.now();
    publisher = startPublisher(amphi.rtmp, key, { size: SIZE });
    // Green once measured: two keyframes 2 s apart.
    await page
      .locator('#d-checks li[data-check="keyframe_interval"][data-level="green"]', { hasText: '2.0 s' })
      .waitFor({ timeout: 30000 });
    await page.locator('#d-checks li[data-check="frame_rate"][data-level="green"]').waitFor({ timeout: 5000 });
    console.log(`console checks green ${Date.now() - published} ms after the publisher started`);
    assert.match(await page.locator('#d-stage').textContent(), /In preview/);
    // The green room opened from the console works with the console session (no token).
    const [greenRoom] = await Promise.all([
      context.waitForEvent('page'),
      page.getByRole('link', { name: 'Watch the preview in the green room' }).click(),
    ]);
    await greenRoom.locator('#pv-checks li[data-check="keyframe_interval"]').waitFor({ timeout: 10000 });
    assert.equal(await greenRoom.locator('#pv-token-form').isHidden(), true, 'no token asked for');
    await greenRoom.close();
    const waiting = await fetch(`${amphi.http}/live/physics/master.m3u8`);
    assert.equal(waiting.status, 404, 'students wait while the event is in preview');
    await page.getByRole('button', { name: 'Go live' }).click();
    await waitFor(async () => /Live since/.test(await page.locator('#d-live-note').textContent()), 5000, {
      what: 'Go live to be confirmed',
    });
    await waitFor(async () => /Open to students/.test(await page.locator('#d-stage').textContent()), 5000, {
      what: 'the stage to say the event is open',
    });
    await page.getByRole('button', { name: 'Back to events' }).click();
    await waitFor(
      async () => {
        const r = page.locator('#events-body tr[data-id="physics"] .status');
        return (await r.count()) === 1 && (await r.textContent()).trim() === 'Live';
      },
      30000,
      { intervalMs: 500, what: 'the console to show the event live' },
    );

    const viewer = await context.newPage();
    await viewer.goto(`${amphi.http}/watch/physics`);
    await waitForPlaying(viewer, 40000, 'a viewer to play the lecture');
    assert.deepEqual(browser.errors, [], 'no JavaScript errors');
    assert.deepEqual(cspViolations, [], 'no CSP violation on the console');
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    await cleanup(browser, publisher, amphi);
  }
});
