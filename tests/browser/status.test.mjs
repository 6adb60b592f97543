// The status page lists the configured event, shows it going live without a reload, and
// its link opens a playing watch page.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cleanup, dumpDiagnostics, launchBrowser, startAmphi, startPublisher, waitFor, waitForPlaying,
} from './harness.mjs';

const SIZE = process.env.AMPHI_TEST_SIZE || '640x360';

test('status page lists the live event with a working link', { timeout: 90000 }, async () => {
  let amphi, publisher, browser;
  try {
    amphi = await startAmphi();
    browser = await launchBrowser();
    const { page } = browser;
    await page.goto(`${amphi.http}/`);

    const item = page.locator('#events li[data-id="lecture"]');
    await waitFor(async () => (await item.count()) === 1, 10000, { what: 'the event in the list' });
    assert.equal((await item.locator('.badge').textContent()).trim(), 'Not live');

    // Publish; the page refreshes itself every 3 s.
    publisher = startPublisher(amphi.rtmp, 'secretkey', { size: SIZE });
    await waitFor(async () => (await item.locator('.badge').textContent()).trim() === 'Live', 30000, {
      what: 'the event to show as live',
    });

    const link = item.locator('a.event-link');
    assert.equal(await link.getAttribute('href'), '/watch/lecture');
    await link.click();
    await page.waitForURL(`${amphi.http}/watch/lecture`);
    await waitForPlaying(page, 25000, 'the linked watch page to play');
    assert.deepEqual(browser.errors, [], 'no JavaScript errors on the page');
  } catch (e) {
    dumpDiagnostics({ amphi, publishers: [publisher], browser });
    throw e;
  } finally {
    await cleanup(browser, publisher, amphi);
  }
});
